//! The Platform API's user reads: `GET /api/v2/users` (users by id, in bulk) and
//! `POST /api/v2/users/search` (criteria `EXACT` on `id`, `username`, `email`, `state`).
//!
//! No kinder than Genesys, each behaviour beside its source (MyPureCloud/
//! platform-client-sdk-python `build/docs/UsersApi.md` `get_users`, `SearchApi.md`
//! `post_users_search`, the models `UserEntityListing`, `UserSearchRequest`,
//! `UserSearchCriteria`, `UsersSearchResponse`, `ErrorBody`; the 403 codes of the Users API in
//! Genesys's API definition as split by api-evangelist/genesys
//! `openapi/genesys-users-api-openapi.yml`; our `docs/real-api-notes.md`):
//!
//! - `pageSize` defaults to 25 and `pageNumber` to 1 (SDK defaults): a client that sends 100
//!   ids without `pageSize=100` gets 25 of them back.
//! - `state` defaults to `active` ("Only list users of this state", values active,
//!   inactive, deleted, any): inactive and deleted users are answered only when asked for.
//! - At most 100 ids, 100 per page, 100 values per criterion; more is 400 `bad.request`.
//!   **Unverified**: no public source gives these limits (see the client's `platform` module);
//!   enforcing the figure scimsync relies on keeps it honest.
//! - A search without a `state` criterion answers active users only (**unverified**: the
//!   states it answers are not documented; the narrower answer is the one to survive).
//! - Without the scope ([`PlatformUsers::MissingScope`](super::PlatformUsers)): 403
//!   `app.not.authorized.for.scope`, "App not authorized to use scope users:readonly".
//! - Errors are `ErrorBody` (`message`, `code`, `status`, `contextId`), not SCIM errors.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::options::PlatformUsers;
use super::org::User;
use super::state::Emu;
use crate::scim::wire::platform::{self, UserEntityListing, UsersSearchResponse};

/// Ids, page size and values per criterion, at most (module doc).
const MAX: usize = 100;

/// A Platform `ErrorBody` answer with `status`.
fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    super::reply::platform_error(status, code, message)
}

/// A count as the SDK's `int` fields carry it.
fn n(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn no_scope() -> Response {
    error(
        403,
        "app.not.authorized.for.scope",
        format!("App not authorized to use scope {}", platform::SCOPE),
    )
}

fn user_json(user: &User, state: &str) -> platform::User {
    platform::User {
        id: user.id.clone(),
        name: None,
        email: Some(user.user_name.clone()),
        username: Some(user.user_name.clone()),
        state: Some(state.to_owned()),
        version: Some(1),
        self_uri: Some(format!("/api/v2/users/{}", user.id)),
    }
}

/// Every user of the org with its state, active first, then inactive, then deleted.
fn all_users(org: &super::org::Org) -> impl Iterator<Item = (&User, &'static str)> {
    org.users
        .values()
        .map(|u| (u, if u.active { "active" } else { "inactive" }))
        .chain(org.deleted.values().map(|u| (u, "deleted")))
}

fn page_numbers(size: Option<&str>, number: Option<&str>) -> Result<(usize, usize), Box<Response>> {
    let parse = |v: Option<&str>, default: usize, name: &str| match v {
        None => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| {
            Box::new(error(
                400,
                "invalid.query.param.value",
                format!("Value [{v}] is not valid for parameter [{name}]"),
            ))
        }),
    };
    let size = parse(size, 25, "pageSize")?;
    let number = parse(number, 1, "pageNumber")?.max(1);
    if size == 0 || size > MAX {
        return Err(Box::new(error(
            400,
            "bad.request",
            format!("pageSize must be between 1 and {MAX}"),
        )));
    }
    Ok((size, number))
}

/// `GET /api/v2/users?id=…&pageSize=…&pageNumber=…&state=…`.
pub(super) async fn users(State(emu): State<Emu>, RawQuery(query): RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let one = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    // `id` is a comma-separated list, as the SDK sends it (`csv`); repeated `id`s are read too.
    let ids: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "id")
        .flat_map(|(_, v)| v.split(','))
        .filter(|v| !v.is_empty())
        .collect();
    let state = emu.lock();
    if state.options.platform_users == PlatformUsers::MissingScope {
        return no_scope();
    }
    if ids.len() > MAX {
        return error(
            400,
            "bad.request",
            format!("At most {MAX} ids may be given; {} were", ids.len()),
        );
    }
    let (size, number) = match page_numbers(one("pageSize"), one("pageNumber")) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let wanted = one("state").unwrap_or("active");
    if !matches!(wanted, "active" | "inactive" | "deleted" | "any") {
        return error(
            400,
            "invalid.query.param.value",
            format!(
                "Value [{wanted}] is not valid for parameter [state]. Allowable values are: active, inactive, deleted, any"
            ),
        );
    }
    let org = &state.org;
    let matching: Vec<(&User, &str)> = if ids.is_empty() {
        all_users(org)
            .filter(|(_, s)| wanted == "any" || *s == wanted)
            .collect()
    } else {
        // By key, as a real directory would: the benchmark reads thousands.
        ids.iter()
            .filter_map(|id| {
                org.users
                    .get(*id)
                    .map(|u| (u, if u.active { "active" } else { "inactive" }))
                    .or_else(|| org.deleted.get(*id).map(|u| (u, "deleted")))
            })
            .filter(|(_, s)| wanted == "any" || *s == wanted)
            .collect()
    };
    let total = matching.len();
    let entities = matching
        .into_iter()
        .skip((number - 1) * size)
        .take(size)
        .map(|(u, s)| user_json(u, s))
        .collect();
    let pages = total.div_ceil(size);
    let listing = UserEntityListing {
        entities,
        page_size: Some(n(size)),
        page_number: Some(n(number)),
        total: Some(n(total)),
        page_count: Some(n(pages)),
        self_uri: Some(format!("/api/v2/users?pageSize={size}&pageNumber={number}")),
        next_uri: (number < pages)
            .then(|| format!("/api/v2/users?pageSize={size}&pageNumber={}", number + 1)),
    };
    axum::Json(listing).into_response()
}

/// `POST /api/v2/users/search`.
#[allow(
    clippy::too_many_lines,
    reason = "one route: its checks in the order of the module doc, then the answer"
)]
pub(super) async fn search(State(emu): State<Emu>, headers: HeaderMap, body: Bytes) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return error(
            415,
            "unsupported.media.type",
            "Unsupported Media Type - Unsupported or incorrect media type, such as an incorrect Content-Type value in the header.",
        );
    }
    let request: platform::UserSearchRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                400,
                "bad.request",
                format!("unreadable search request: {e}"),
            );
        }
    };
    let state = emu.lock();
    if state.options.platform_users == PlatformUsers::MissingScope {
        return no_scope();
    }
    let size = request.page_size.map(|s| s.to_string());
    let number = request.page_number.map(|n| n.to_string());
    let (size, number) = match page_numbers(size.as_deref(), number.as_deref()) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    // Each criterion: EXACT on a known field over its value or values; all must hold.
    let mut criteria: Vec<(String, Vec<String>)> = Vec::new();
    for c in &request.query {
        if !c.kind.eq_ignore_ascii_case("EXACT") {
            return error(
                400,
                "bad.request",
                format!("the emulator serves EXACT searches only, not {}", c.kind),
            );
        }
        if c.operator
            .as_deref()
            .is_some_and(|o| !o.eq_ignore_ascii_case("AND"))
        {
            return error(400, "bad.request", "the emulator serves AND criteria only");
        }
        let mut values: Vec<String> = c.values.clone();
        values.extend(c.value.clone());
        if values.len() > MAX {
            return error(
                400,
                "bad.request",
                format!(
                    "At most {MAX} values per criterion; {} were given",
                    values.len()
                ),
            );
        }
        for field in &c.fields {
            if !matches!(field.as_str(), "id" | "username" | "email" | "state") {
                return error(
                    400,
                    "bad.request",
                    format!("cannot search users by {field}"),
                );
            }
            criteria.push((field.clone(), values.clone()));
        }
    }
    if !criteria.iter().any(|(f, _)| f == "state") {
        criteria.push(("state".into(), vec!["active".into()]));
    }
    let lowered: Vec<(String, HashSet<String>)> = criteria
        .into_iter()
        .map(|(f, vs)| (f, vs.into_iter().map(|v| v.to_lowercase()).collect()))
        .collect();
    let matching: Vec<(&User, &str)> = all_users(&state.org)
        .filter(|(u, s)| {
            lowered.iter().all(|(field, values)| {
                let have = match field.as_str() {
                    "id" => u.id.to_lowercase(),
                    "username" | "email" => u.user_name.to_lowercase(),
                    _ => (*s).to_owned(),
                };
                values.contains(&have)
            })
        })
        .collect();
    let total = matching.len();
    let results = matching
        .into_iter()
        .skip((number - 1) * size)
        .take(size)
        .map(|(u, s)| user_json(u, s))
        .collect();
    axum::Json(UsersSearchResponse {
        total: n(total),
        page_count: i32::try_from(total.div_ceil(size)).unwrap_or(i32::MAX),
        page_size: i32::try_from(size).unwrap_or(i32::MAX),
        page_number: i32::try_from(number).unwrap_or(i32::MAX),
        types: vec!["users".into()],
        results,
    })
    .into_response()
}
