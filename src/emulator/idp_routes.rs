//! The IdP side of the emulator: the generic delta endpoint, Microsoft Graph (token, group
//! deltas, `getByIds`) and Okta (group listings), all over the same IdP groups. Each behaviour
//! follows the public documentation cited beside it, and is no kinder than the real service.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::time::Instant;

use super::idp::EntraKind;
use super::reply::bearer;
use super::state::Emu;

/// With [`super::Options::idp_huge_body`] set: a 200 whose body streams that many bytes (no
/// `Content-Length`, produced only as fast as the client reads), a runaway answer.
fn huge_body(emu: &Emu) -> Option<Response> {
    const CHUNK: usize = 64 * 1024;
    let total = emu.lock().options.idp_huge_body?;
    let emu = emu.clone();
    let stream = futures::stream::unfold(0u64, move |sent| {
        let emu = emu.clone();
        async move {
            if sent >= total {
                return None;
            }
            let n = (total - sent).min(CHUNK as u64);
            let len = usize::try_from(n).unwrap_or(CHUNK);
            let chunk = if sent == 0 {
                let mut c = b"{\"additions\": [".to_vec();
                c.resize(len, b' ');
                c
            } else {
                vec![b' '; len]
            };
            emu.idp_bytes_sent
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), sent + n))
        }
    });
    let mut response = axum::body::Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Some(response)
}

/// Seconds left of an [`super::Emulator::idp_throttle`] window, rounded up; `None` when not
/// throttled.
fn throttled(emu: &Emu) -> Option<(u64, jiff::Timestamp)> {
    let until = emu.lock().idp_throttled_until?;
    let left = until.as_millisecond() - jiff::Timestamp::now().as_millisecond();
    (left > 0).then(|| (left.cast_unsigned().div_ceil(1000), until))
}

pub(super) async fn idp_delta(
    State(emu): State<Emu>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(huge) = huge_body(&emu) {
        return huge;
    }
    let state = emu.lock();
    let error = |status: StatusCode, message: &str| {
        (status, axum::Json(json!({"error": message}))).into_response()
    };
    if state.idp_token.is_none() || bearer(&headers) != state.idp_token {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    let Some(group) = query.get("group_id") else {
        return error(StatusCode::BAD_REQUEST, "group_id is required");
    };
    match state
        .idp
        .delta(group, query.get("since").map(String::as_str))
    {
        Ok(delta) => axum::Json(delta).into_response(),
        Err((status, message)) => error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            &message,
        ),
    }
}

/// The Microsoft identity platform's client-credentials grant: client id and secret in the
/// form, and a `scope` that must be `<resource>/.default` of the Graph host being called
/// (<https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow>;
/// national clouds have other hosts: <https://learn.microsoft.com/en-us/graph/deployments>).
/// Here Graph is this emulator, so the scope must name the host the request came to.
pub(super) async fn graph_token(
    State(emu): State<Emu>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut state = emu.lock();
    let id = form.get("client_id").cloned().unwrap_or_default();
    let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && state
            .clients
            .get(&id)
            .is_some_and(|s| Some(s) == form.get("client_secret"));
    if !ok {
        let body = json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let scope = form.get("scope").cloned().unwrap_or_default();
    state.graph_scopes.push(scope.clone());
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    if scope != format!("http://{host}/.default") {
        let body = json!({"error": "invalid_scope", "error_description": format!("AADSTS500011: The resource principal named {scope} was not found in the tenant.")});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let token = format!("emu-graph-{:032x}", rand::random::<u128>());
    let lifetime = state.options.graph_token_lifetime;
    state
        .tokens
        .insert(token.clone(), Instant::now() + lifetime);
    axum::Json(
        json!({"token_type": "Bearer", "expires_in": lifetime.as_secs(), "access_token": token}),
    )
    .into_response()
}

/// `path` on the host the request came to (its `Host` header), for next and delta links; a
/// message naming the header when it makes no URL, for a 400 rather than a panic.
fn link_on_host(headers: &HeaderMap, path: &str) -> Result<url::Url, String> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    url::Url::parse(&format!("http://{host}{path}")).map_err(|e| {
        format!("the Host header {host:?} is not a host[:port] that makes a URL ({e})")
    })
}

/// Graph's checks before any API answer: the bearer token, then throttling (429 with
/// `Retry-After`, <https://learn.microsoft.com/en-us/graph/throttling>).
fn graph_gate(emu: &Emu, headers: &HeaderMap) -> Option<Response> {
    let known = bearer(headers).is_some_and(|t| emu.lock().tokens.contains_key(&t));
    if !known {
        return Some(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        ));
    }
    let (secs, _) = throttled(emu)?;
    let mut response = graph_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests.",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    Some(response)
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `GET /v1.0/groups/delta?$select=members&$filter=id eq 'G'` (and its next and delta links),
/// as <https://learn.microsoft.com/en-us/graph/api/group-delta?view=graph-rest-1.0> shows it:
/// `members@delta` names each member by `id` and `@odata.type` only (users, nested groups,
/// devices, service principals alike), removals carry `@removed`, and a first read also lists
/// former members as `@removed`. The group id is matched without regard to case and answered
/// as the IdP spells it. An expired delta link answers 410 `syncStateNotFound`
/// (<https://learn.microsoft.com/en-us/graph/delta-query-overview#synchronization-reset>).
pub(super) async fn graph_delta(
    State(emu): State<Emu>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = graph_gate(&emu, &headers) {
        return refused;
    }
    if let Some(huge) = huge_body(&emu) {
        return huge;
    }
    let state = emu.lock();
    let Some(asked) = query
        .get("$filter")
        .and_then(|f| f.strip_prefix("id eq '"))
        .and_then(|f| f.strip_suffix('\''))
        .map(|g| g.replace("''", "'"))
    else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "$filter=id eq '<id>' is required",
        );
    };
    let group = state
        .idp
        .group_name_ignoring_case(&asked)
        .unwrap_or(&asked)
        .to_owned();
    // $skiptoken = "<since>|<offset>"; $deltatoken = "<since>".
    let (since, offset) = match (query.get("$skiptoken"), query.get("$deltatoken")) {
        (Some(skip), _) => {
            let (since, offset) = skip.split_once('|').unwrap_or((skip, "0"));
            (since.to_owned(), offset.parse::<usize>().unwrap_or(0))
        }
        (None, Some(delta)) => (delta.clone(), 0),
        (None, None) => (String::new(), 0),
    };
    let delta = match state.idp.delta(
        &group,
        Some(&since).filter(|s| !s.is_empty()).map(String::as_str),
    ) {
        Ok(d) => d,
        Err((410, _)) => {
            return graph_error(
                StatusCode::GONE,
                "syncStateNotFound",
                "The delta token has expired; start a new full synchronization.",
            );
        }
        Err((404, m)) => return graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", &m),
        Err((_, m)) => return graph_error(StatusCode::BAD_REQUEST, "BadRequest", &m),
    };
    let kind = |id: &str| state.idp.entra_object(id).kind.odata_type();
    // A first read (no since) lists former members as removed too, as Graph may.
    let removals = if since.is_empty() {
        state.idp.former_members(&group)
    } else {
        delta.removals.clone()
    };
    let entries: Vec<serde_json::Value> =
        delta
            .additions
            .iter()
            .map(|u| json!({"@odata.type": kind(u), "id": u}))
            .chain(removals.iter().map(
                |u| json!({"@odata.type": kind(u), "id": u, "@removed": {"reason": "deleted"}}),
            ))
            .collect();
    let page_size = state.options.idp_page_size.max(1);
    let page: Vec<_> = entries
        .iter()
        .skip(offset)
        .take(page_size)
        .cloned()
        .collect();
    let mut link = match link_on_host(&headers, "/v1.0/groups/delta") {
        Ok(link) => link,
        Err(message) => return graph_error(StatusCode::BAD_REQUEST, "BadRequest", &message),
    };
    let filter = format!("id eq '{}'", group.replace('\'', "''"));
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups(members)",
        "value": [{"id": group, "members@delta": page}],
    });
    if offset + page_size < entries.len() {
        link.query_pairs_mut()
            .append_pair("$filter", &filter)
            .append_pair("$skiptoken", &format!("{since}|{}", offset + page_size));
        body["@odata.nextLink"] = json!(link.as_str());
    } else {
        link.query_pairs_mut()
            .append_pair("$filter", &filter)
            .append_pair("$deltatoken", &delta.idp_etag);
        body["@odata.deltaLink"] = json!(link.as_str());
    }
    axum::Json(body).into_response()
}

/// `POST /v1.0/directoryObjects/getByIds` with `{"ids": [...], "types": [...]}`
/// (<https://learn.microsoft.com/en-us/graph/api/directoryobject-getbyids?view=graph-rest-1.0>):
/// at most 1,000 ids; objects of other types and unknown ids are simply absent; in v1.0 a
/// user carries only a default subset of properties (not `accountEnabled`) unless `$select`
/// names them.
pub(super) async fn graph_get_by_ids(
    State(emu): State<Emu>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    #[derive(serde::Deserialize)]
    struct Ask {
        ids: Vec<String>,
        #[serde(default)]
        types: Vec<String>,
    }
    if let Some(refused) = graph_gate(&emu, &headers) {
        return refused;
    }
    let Ok(ask) = serde_json::from_slice::<Ask>(&body) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "ids is required",
        );
    };
    if ask.ids.len() > 1000 {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "The number of ids must not exceed 1000.",
        );
    }
    let select: Option<Vec<String>> = query
        .get("$select")
        .map(|s| s.split(',').map(|p| p.trim().to_owned()).collect());
    let state = emu.lock();
    let value: Vec<serde_json::Value> = ask
        .ids
        .iter()
        .filter_map(|id| {
            let known = state.idp.entra.contains_key(&id.to_ascii_lowercase())
                || state.idp.former_or_current_member(id);
            known.then(|| state.idp.entra_object(id))
        })
        .filter(|o| {
            ask.types.is_empty()
                || ask
                    .types
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(o.kind.type_name()))
        })
        .map(|o| {
            let mut all = serde_json::Map::new();
            all.insert("@odata.type".into(), json!(o.kind.odata_type()));
            all.insert("id".into(), json!(o.id));
            all.insert("displayName".into(), json!(o.display_name));
            if o.kind == EntraKind::User {
                all.insert("userPrincipalName".into(), json!(o.user_principal_name));
                all.insert("accountEnabled".into(), json!(o.account_enabled));
            }
            let default = ["@odata.type", "id", "displayName", "userPrincipalName"];
            all.retain(|k, _| {
                k == "@odata.type"
                    || match &select {
                        Some(fields) => fields.iter().any(|f| f == k),
                        None => default.contains(&k.as_str()),
                    }
            });
            serde_json::Value::Object(all)
        })
        .collect();
    axum::Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects",
        "value": value,
    }))
    .into_response()
}

/// `GET /api/v1/groups/{id}/users?limit=N&after=<id>` with `Authorization: SSWS <token>`
/// (<https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Group/#tag/Group/operation/listGroupUsers>):
/// every member whatever its `status` (a deactivated user stays in its groups as
/// `DEPROVISIONED`), `profile.login` and `profile.email` as the directory holds them, paged
/// with `Link: <…>; rel="next"` (<https://developer.okta.com/docs/api/#pagination>). When
/// throttled it answers 429 with `X-Rate-Limit-Limit/-Remaining/-Reset` (the reset in UTC
/// epoch seconds) and no `Retry-After`
/// (<https://developer.okta.com/docs/reference/rl-best-practices/>).
pub(super) async fn okta_users(
    State(emu): State<Emu>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(huge) = huge_body(&emu) {
        return huge;
    }
    if let Some((_, until)) = throttled(&emu) {
        let reset = until.as_second() + i64::from(until.subsec_nanosecond() > 0);
        let body = json!({"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit due to too many requests.", "errorCauses": []});
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        let h = response.headers_mut();
        h.insert("x-rate-limit-limit", HeaderValue::from(600));
        h.insert("x-rate-limit-remaining", HeaderValue::from(0));
        h.insert("x-rate-limit-reset", HeaderValue::from(reset));
        return response;
    }
    let state = emu.lock();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("SSWS "));
    if state.idp_token.is_none() || token != state.idp_token.as_deref() {
        let body = json!({"errorCode": "E0000011", "errorSummary": "Invalid token provided"});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let Some(members) = state.idp.members(&id) else {
        let body = json!({"errorCode": "E0000007", "errorSummary": format!("Not found: Resource not found: {id} (UserGroup)")});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(200)
        .min(state.options.idp_page_size.max(1));
    let after = query.get("after");
    let page: Vec<&String> = members
        .iter()
        .filter(|m| after.is_none_or(|a| *m > a))
        .take(limit)
        .collect();
    let users: Vec<serde_json::Value> = page
        .iter()
        .map(|m| {
            let u = state.idp.okta_user(m);
            json!({"id": u.id, "status": u.status, "type": {"id": "oty1"},
                   "profile": {"login": u.login, "email": u.email, "firstName": "Emu", "lastName": u.id}})
        })
        .collect();
    let mut response = axum::Json(users).into_response();
    if let Some(last) = page
        .last()
        .filter(|last| members.iter().next_back() != Some(*last))
    {
        let mut next = match link_on_host(&headers, &format!("/api/v1/groups/{id}/users")) {
            Ok(next) => next,
            Err(message) => {
                let body = json!({"errorCode": "E0000003", "errorSummary": message});
                return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
            }
        };
        next.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("after", last);
        if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    response
}
