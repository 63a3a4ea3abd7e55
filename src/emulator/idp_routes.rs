//! The IdP side of the emulator: the generic delta endpoint, Microsoft Graph (token and
//! group deltas) and Okta (group listings), all over the same IdP groups.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::time::Instant;

use super::routes::{Emu, bearer};

pub(super) async fn idp_delta(
    State(emu): State<Emu>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
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

/// The Microsoft identity platform's client-credentials grant (form-encoded client id and
/// secret), for the Graph source.
pub(super) async fn graph_token(State(emu): State<Emu>, body: Bytes) -> Response {
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
    let token = format!("emu-graph-{:032x}", rand::random::<u128>());
    state.tokens.insert(
        token.clone(),
        Instant::now() + std::time::Duration::from_secs(3599),
    );
    axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": token}))
        .into_response()
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `GET /v1.0/groups/delta?$select=members&$filter=id eq 'G'` (and its next and delta links).
pub(super) async fn graph_delta(
    State(emu): State<Emu>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let state = emu.lock();
    if !bearer(&headers).is_some_and(|t| state.tokens.contains_key(&t)) {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        );
    }
    let Some(group) = query
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
    let entries: Vec<serde_json::Value> = delta
        .additions
        .iter()
        .map(|u| json!({"@odata.type": "#microsoft.graph.user", "id": u}))
        .chain(delta.removals.iter().map(|u| {
            json!({"@odata.type": "#microsoft.graph.user", "id": u, "@removed": {"reason": "deleted"}})
        }))
        .collect();
    let page_size = state.options.idp_page_size.max(1);
    let page: Vec<_> = entries
        .iter()
        .skip(offset)
        .take(page_size)
        .cloned()
        .collect();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut link = url::Url::parse(&format!("http://{host}/v1.0/groups/delta")).expect("valid URL");
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

/// `GET /api/v1/groups/{id}/users?limit=N&after=<id>` with `Authorization: SSWS <token>`.
pub(super) async fn okta_users(
    State(emu): State<Emu>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
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
        .map(|m| json!({"id": m, "status": "ACTIVE", "profile": {"login": format!("{m}@example.com"), "email": format!("{m}@example.com")}}))
        .collect();
    let mut response = axum::Json(users).into_response();
    if let Some(last) = page
        .last()
        .filter(|last| members.iter().next_back() != Some(*last))
    {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1");
        let mut next =
            url::Url::parse(&format!("http://{host}/api/v1/groups/{id}/users")).expect("valid URL");
        next.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("after", last);
        if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    response
}
