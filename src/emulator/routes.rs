//! The emulator's router, its SCIM and OAuth handlers, and the helpers its other handlers
//! share. The middleware is in `observe`, the IdP-side handlers in `idp_routes`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::json;
use tokio::time::Instant;

use super::faults::Route;
use super::org::Group;
use super::{Emulator, PatchResponse, StaleStatus, State as EmuState};
use crate::target::wire::{self, ErrorBody, ListResponse, Meta, PatchRequest, SCIM_JSON};

pub(super) type Emu = Arc<Emulator>;

/// The SCIM base path, as Genesys serves it.
pub(super) const SCIM: &str = "/api/v2/scim/v2";
/// The SCIM base path of a generic RFC 7644 server.
pub(super) const RFC: &str = "/scim/v2";

pub(crate) fn router(emulator: Emu) -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .route(&format!("{SCIM}/groups"), get(list_groups))
        .route(
            &format!("{SCIM}/groups/{{id}}"),
            get(get_group).patch(patch_group),
        )
        .route(&format!("{SCIM}/users"), get(list_users))
        .route(&format!("{SCIM}/users/{{id}}"), get(get_user))
        .route(&format!("{RFC}/Groups"), get(list_groups))
        .route(
            &format!("{RFC}/Groups/{{id}}"),
            get(get_group).patch(patch_group),
        )
        .route(&format!("{RFC}/Users"), get(list_users))
        .route(&format!("{RFC}/Users/{{id}}"), get(get_user))
        .route("/delta/groups/members", get(super::idp_routes::idp_delta))
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(super::idp_routes::graph_token),
        )
        .route("/v1.0/groups/delta", get(super::idp_routes::graph_delta))
        .route(
            "/v1.0/directoryObjects/getByIds",
            post(super::idp_routes::graph_get_by_ids),
        )
        .route(
            "/api/v1/groups/{id}/users",
            get(super::idp_routes::okta_users),
        )
        .layer(middleware::from_fn_with_state(
            emulator.clone(),
            super::observe::observe,
        ))
        .with_state(emulator)
}

pub(super) fn route_of(method: &Method, path: Option<&str>) -> Route {
    let Some(path) = path else {
        return Route::Other;
    };
    let rest = path
        .strip_prefix(SCIM)
        .or_else(|| path.strip_prefix(RFC))
        .unwrap_or(path)
        .to_ascii_lowercase();
    match (method.as_str(), rest.as_str()) {
        ("POST", "/oauth/token") => Route::Token,
        ("GET", "/groups") => Route::GroupList,
        ("GET", "/groups/{id}") => Route::GroupGet,
        ("PATCH", "/groups/{id}") => Route::GroupPatch,
        ("GET", "/users") => Route::UserList,
        ("GET", "/users/{id}") => Route::UserGet,
        ("GET", "/delta/groups/members") => Route::IdpDelta,
        ("POST", "/{tenant}/oauth2/v2.0/token") => Route::GraphToken,
        ("GET", "/v1.0/groups/delta") => Route::GraphDelta,
        ("POST", "/v1.0/directoryobjects/getbyids") => Route::GraphGetByIds,
        ("GET", "/api/v1/groups/{id}/users") => Route::OktaUsers,
        _ => Route::Other,
    }
}

pub(super) fn scim_error(
    status: u16,
    scim_type: Option<&str>,
    detail: impl Into<String>,
) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody::new(status, scim_type, detail);
    scim_json(code, &body)
}

pub(super) fn scim_json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).expect("emulator bodies serialise");
    (status, [(header::CONTENT_TYPE, SCIM_JSON)], bytes).into_response()
}

/// A platform (non-SCIM) error body, as Genesys sends for auth and rate limits.
pub(super) fn platform_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"message": message, "code": code, "status": status.as_u16()});
    (status, axum::Json(body)).into_response()
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

async fn token(State(emu): State<Emu>, headers: HeaderMap, body: Bytes) -> Response {
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            axum::Json(json!({"error": error, "description": description})),
        )
            .into_response()
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some((id, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "basic authentication required",
        );
    };
    let mut state = emu.lock();
    if state.clients.get(id).map(String::as_str) != Some(secret) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client not found or secret mismatch",
        );
    }
    let token = format!("emu-{:032x}", rand::random::<u128>());
    let lifetime = state.options.token_lifetime;
    state
        .tokens
        .insert(token.clone(), Instant::now() + lifetime);
    axum::Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs(),
    }))
    .into_response()
}

/// The base URL the client used, for `$ref` and `meta.location`.
pub(super) fn base_of(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}{SCIM}")
}

/// A group as SCIM JSON, serialized straight from the store: a 10,000-member group answers
/// every PATCH, so no intermediate `wire::Group` (and no string per member) is built. Keys
/// and shapes are those of [`wire::Group`].
struct GroupJson<'a> {
    state: &'a EmuState,
    group: &'a Group,
    base: &'a str,
    with_members: bool,
}

fn group_json<'a>(
    state: &'a EmuState,
    group: &'a Group,
    base: &'a str,
    with_members: bool,
) -> GroupJson<'a> {
    GroupJson {
        state,
        group,
        base,
        with_members,
    }
}

impl serde::Serialize for GroupJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let g = self.group;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("schemas", &[wire::GROUP_SCHEMA])?;
        map.serialize_entry("id", &g.id)?;
        map.serialize_entry("displayName", &g.display_name)?;
        if self.with_members && !g.members.is_empty() {
            map.serialize_entry("members", &MembersJson(self))?;
        }
        let meta = Meta {
            resource_type: Some("Group".into()),
            last_modified: Some(
                g.last_modified
                    .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string(),
            ),
            location: Some(format!("{}/groups/{}", self.base, g.id)),
            version: self.state.options.etags.then(|| self.state.etag(g.version)),
        };
        map.serialize_entry("meta", &meta)?;
        map.end()
    }
}

struct MembersJson<'a, 'b>(&'b GroupJson<'a>);

impl serde::Serialize for MembersJson<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct Ref<'a>(&'a str, &'a str);
        impl serde::Serialize for Ref<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&format_args!("{}/users/{}", self.0, self.1))
            }
        }
        struct Member<'a>(&'a str, &'a str, &'static str);
        impl serde::Serialize for Member<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(3))?;
                map.serialize_entry("value", self.0)?;
                map.serialize_entry("$ref", &Ref(self.1, self.0))?;
                map.serialize_entry("type", self.2)?;
                map.end()
            }
        }
        let view = self.0;
        let mut seq = s.serialize_seq(Some(view.group.members.len()))?;
        for m in &view.group.members {
            let kind = if view.state.org.groups.contains_key(m) {
                "Group"
            } else {
                "User"
            };
            seq.serialize_element(&Member(m, view.base, kind))?;
        }
        seq.end()
    }
}

fn wants_members(query: &HashMap<String, String>) -> bool {
    let lists = |key: &str| {
        query.get(key).map(|v| {
            v.split(',').any(|a| {
                a.trim()
                    .rsplit(':')
                    .next()
                    .unwrap_or("")
                    .eq_ignore_ascii_case("members")
            })
        })
    };
    match (lists("attributes"), lists("excludedAttributes")) {
        (Some(included), _) => included,
        (None, Some(excluded)) => !excluded,
        (None, None) => true,
    }
}

fn with_etag(mut response: Response, etag: Option<&str>) -> Response {
    if let Some(Ok(v)) = etag.map(HeaderValue::from_str) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

async fn get_group(
    State(emu): State<Emu>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let state = emu.lock();
    let Some(group) = state.org.groups.get(&id) else {
        return scim_error(404, Some("noTarget"), format!("group {id} not found"));
    };
    let etag = state.options.etags.then(|| state.etag(group.version));
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if etag.is_some() && if_none_match == etag.as_deref() {
        return with_etag(StatusCode::NOT_MODIFIED.into_response(), etag.as_deref());
    }
    let base = base_of(&headers);
    let body = group_json(&state, group, &base, wants_members(&query));
    with_etag(scim_json(StatusCode::OK, &body), etag.as_deref())
}

/// `startIndex`, `count` and the checks Genesys makes on them.
fn page(query: &HashMap<String, String>, max: u64) -> Result<(usize, usize), Box<Response>> {
    let number = |key: &str, default: u64| match query.get(key) {
        None => Ok(default),
        Some(v) => v.parse::<u64>().map_err(|_| {
            Box::new(scim_error(
                400,
                Some("invalidValue"),
                format!("{key} must be a number"),
            ))
        }),
    };
    let start = number("startIndex", 1)?.max(1);
    let count = number("count", 25)?;
    if count > max {
        return Err(Box::new(platform_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too.many.requests",
            &format!("count {count} exceeds internal resource limits; use at most {max}"),
        )));
    }
    Ok(((start - 1) as usize, count as usize))
}

fn list<T: serde::Serialize>(all: Vec<T>, skip: usize, count: usize) -> Response {
    let total = all.len() as u64;
    let resources: Vec<T> = all.into_iter().skip(skip).take(count).collect();
    scim_json(
        StatusCode::OK,
        &ListResponse {
            schemas: vec![wire::LIST_RESPONSE_SCHEMA.to_owned()],
            total_results: total,
            start_index: Some(skip as u64 + 1),
            items_per_page: Some(resources.len() as u64),
            resources,
        },
    )
}

async fn list_groups(
    State(emu): State<Emu>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let state = emu.lock();
    let Some(filter) = query.get("filter") else {
        return scim_error(
            400,
            Some("invalidFilter"),
            "the filter parameter is required",
        );
    };
    let eq = match super::filter::parse_eq(filter) {
        Ok(eq) => eq,
        Err(e) => return scim_error(400, Some("invalidFilter"), e),
    };
    let (skip, count) = match page(&query, state.options.max_page_size) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let base = base_of(&headers);
    let members = wants_members(&query);
    let matches: Vec<GroupJson<'_>> = state
        .org
        .groups
        .values()
        .filter(|g| match eq.attribute.as_str() {
            "id" => g.id == eq.value,
            "displayname" => g.display_name.eq_ignore_ascii_case(&eq.value),
            _ => false,
        })
        .map(|g| group_json(&state, g, &base, members))
        .collect();
    if !matches!(eq.attribute.as_str(), "id" | "displayname") {
        return scim_error(
            400,
            Some("invalidFilter"),
            format!("cannot filter groups by {}", eq.attribute),
        );
    }
    list(matches, skip, count)
}

fn user_json(user: &super::org::User) -> wire::User {
    wire::User {
        schemas: vec![wire::USER_SCHEMA.to_owned()],
        id: user.id.clone(),
        user_name: Some(user.user_name.clone()),
        external_id: user.external_id.clone(),
        display_name: None,
        active: Some(user.active),
        meta: Some(Meta {
            resource_type: Some("User".into()),
            ..Meta::default()
        }),
    }
}

async fn list_users(
    State(emu): State<Emu>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = emu.lock();
    let (skip, count) = match page(&query, state.options.max_page_size) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let users = state.org.users.values();
    let matches: Vec<wire::User> = match query.get("filter") {
        // Without a filter, only active users are listed.
        None => users.filter(|u| u.active).map(user_json).collect(),
        Some(filter) => {
            let eq = match super::filter::parse_eq(filter) {
                Ok(eq) => eq,
                Err(e) => return scim_error(400, Some("invalidFilter"), e),
            };
            if eq.attribute == "id" {
                // By key, as a real directory would: the benchmark looks up thousands.
                let found: Vec<wire::User> = state
                    .org
                    .users
                    .get(&eq.value)
                    .map(user_json)
                    .into_iter()
                    .collect();
                return list(found, skip, count);
            }
            let pick: fn(&super::org::User, &str) -> bool = match eq.attribute.as_str() {
                // userName is caseExact: false (RFC 7643 §4.1.1): Unicode case folding, not ASCII.
                "username" => |u, v| u.user_name.to_lowercase() == v.to_lowercase(),
                "externalid" => |u, v| u.external_id.as_deref() == Some(v),
                other => {
                    return scim_error(
                        400,
                        Some("invalidFilter"),
                        format!("cannot filter users by {other}"),
                    );
                }
            };
            users
                .filter(|u| pick(u, &eq.value))
                .map(user_json)
                .collect()
        }
    };
    list(matches, skip, count)
}

async fn get_user(State(emu): State<Emu>, Path(id): Path<String>) -> Response {
    let state = emu.lock();
    match state.org.users.get(&id) {
        Some(user) => scim_json(StatusCode::OK, &user_json(user)),
        None => scim_error(404, Some("noTarget"), format!("user {id} not found")),
    }
}

async fn patch_group(
    State(emu): State<Emu>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = emu.lock();
    // Genesys caps request bodies at 512,000 bytes (genesys-scim-api.md §11; 413 is in its
    // response table, §6).
    if body.len() > state.options.max_patch_bytes {
        return scim_error(
            413,
            None,
            format!(
                "the request body is {} bytes; at most {} are accepted",
                body.len(),
                state.options.max_patch_bytes
            ),
        );
    }
    let Some(group) = state.org.groups.get(&id) else {
        return scim_error(404, Some("noTarget"), format!("group {id} not found"));
    };
    let current = state.etag(group.version);
    let if_match = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .filter(|_| state.options.etags);
    if let Some(sent) = if_match.filter(|s| *s != "*" && *s != current) {
        let detail = format!("Version {sent} does not match the current version {current}.");
        return match state.options.stale_status {
            StaleStatus::InvalidVers400 => scim_error(400, Some("invalidVers"), detail),
            StaleStatus::Conflict409 => scim_error(409, None, detail),
            StaleStatus::PreconditionFailed412 => scim_error(412, None, detail),
        };
    }
    let request: PatchRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return scim_error(
                400,
                Some("invalidSyntax"),
                format!("not a PatchOp request: {e}"),
            );
        }
    };
    let max = state.options.max_values_per_patch;
    let strict = state.options.strict_rfc;
    if let Err((status, body)) = state.org.patch(&id, &request, max, strict) {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return scim_json(code, &body);
    }
    let group = &state.org.groups[&id];
    let etag = state.options.etags.then(|| state.etag(group.version));
    let response = match state.options.patch_response {
        PatchResponse::Body => scim_json(
            StatusCode::OK,
            // `excludedAttributes=members` (RFC 7644 §3.9) is honoured, as on GET.
            &group_json(&state, group, &base_of(&headers), wants_members(&query)),
        ),
        PatchResponse::NoContent => StatusCode::NO_CONTENT.into_response(),
        PatchResponse::NoContentNoEtag => {
            foreign_writes(&mut state, &id);
            return StatusCode::NO_CONTENT.into_response();
        }
    };
    foreign_writes(&mut state, &id);
    with_etag(response, etag.as_deref())
}

/// After a committed PATCH to `id`: make the foreign writes that were waiting for it.
fn foreign_writes(state: &mut EmuState, id: &str) {
    let mut due = Vec::new();
    state.faults.foreign.retain_mut(|w| {
        if w.group != id {
            return true;
        }
        w.after_patches = w.after_patches.saturating_sub(1);
        if w.after_patches == 0 {
            due.push(w.clone());
            false
        } else {
            true
        }
    });
    for w in due {
        if let Some(g) = state.org.groups.get_mut(id) {
            let before = g.members.clone();
            g.members.extend(w.add);
            for r in &w.remove {
                g.members.remove(r);
            }
            if g.members != before {
                g.version += 1;
            }
        }
    }
}
