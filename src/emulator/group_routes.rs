//! The SCIM group routes (Genesys' `/groups` and RFC 7644's `/Groups`): get with
//! `If-None-Match`, list by filter, and PATCH with `If-Match`, its limits and its answers.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::options::{PatchResponse, StaleStatus};
use super::org::Group;
use super::paging::{list, page};
use super::paths::SCIM;
use super::reply::{scim_error, scim_json};
use super::state::{Emu, State as EmuState};
use crate::scim::wire::{self, Meta, PatchRequest};

/// The base URL the client used, for `$ref` and `meta.location`.
fn base_of(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}{SCIM}")
}

/// A group as SCIM JSON, through [`wire::Group`] (the type the client reads), its members
/// serialised straight from the store: a 10,000-member group answers every PATCH, so no
/// string per member is built.
fn group_json<'a>(
    state: &'a EmuState,
    group: &'a Group,
    base: &'a str,
    with_members: bool,
) -> wire::Group<MembersJson<'a>> {
    wire::Group {
        schemas: vec![wire::GROUP_SCHEMA.to_owned()],
        id: group.id.clone(),
        display_name: Some(group.display_name.clone()),
        external_id: None,
        members: (with_members && !group.members.is_empty()).then_some(MembersJson {
            state,
            group,
            base,
        }),
        meta: Some(Meta {
            resource_type: Some("Group".into()),
            last_modified: Some(
                group
                    .last_modified
                    .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string(),
            ),
            location: Some(format!("{base}/groups/{}", group.id)),
            version: state.options.etags.then(|| state.etag(group.version)),
        }),
    }
}

/// A group's members, as [`wire::MemberRef`]s written from the store.
struct MembersJson<'a> {
    state: &'a EmuState,
    group: &'a Group,
    base: &'a str,
}

/// A member's URI, written as it is serialised.
struct UserUri<'a>(&'a str, &'a str);

impl serde::Serialize for UserUri<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}/users/{}", self.0, self.1))
    }
}

impl serde::Serialize for MembersJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.group.members.len()))?;
        for m in &self.group.members {
            let kind = if self.state.org.groups.contains_key(m) {
                "Group"
            } else {
                "User"
            };
            seq.serialize_element(&wire::MemberRef {
                value: m.as_str(),
                reference: Some(UserUri(self.base, m)),
                kind: Some(kind),
                display: None,
            })?;
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

pub(super) async fn get_group(
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

pub(super) async fn list_groups(
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
    let matches: Vec<wire::Group<MembersJson<'_>>> = state
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

pub(super) async fn patch_group(
    State(emu): State<Emu>,
    uri: axum::http::Uri,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    ignore: Option<axum::Extension<super::faults::IgnoreWrite>>,
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
    let strong = state.options.strong_if_match;
    if let Some(sent) =
        if_match.filter(|s| *s != "*" && (*s != current || (strong && s.starts_with("W/"))))
    {
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
    let answer = if ignore.is_some() {
        PatchResponse::Ignored
    } else {
        state.options.patch_response
    };
    if let Some(response) = dropped_write(&state, &id, answer, &headers, &query, &uri) {
        return response;
    }
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
        PatchResponse::Ignored
        | PatchResponse::IgnoredNoContent
        | PatchResponse::IgnoredHtml
        | PatchResponse::SeeOther => {
            unreachable!("answered before the write")
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

/// The answer of a PATCH that is dropped, not applied ([`PatchResponse::Ignored`] and its
/// kin); `None` when `answer` applies the write.
fn dropped_write(
    state: &EmuState,
    id: &str,
    answer: PatchResponse,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    uri: &axum::http::Uri,
) -> Option<Response> {
    let group = &state.org.groups[id];
    let etag = state.options.etags.then(|| state.etag(group.version));
    match answer {
        PatchResponse::Ignored => {
            let base = base_of(headers);
            let body = group_json(state, group, &base, wants_members(query));
            Some(with_etag(scim_json(StatusCode::OK, &body), etag.as_deref()))
        }
        PatchResponse::IgnoredNoContent => Some(with_etag(
            StatusCode::NO_CONTENT.into_response(),
            etag.as_deref(),
        )),
        PatchResponse::IgnoredHtml => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>OK</body></html>",
            )
                .into_response(),
        ),
        PatchResponse::SeeOther => {
            let location = uri.path().to_owned();
            Some((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
        }
        PatchResponse::Body | PatchResponse::NoContent | PatchResponse::NoContentNoEtag => None,
    }
}
