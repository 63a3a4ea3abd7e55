//! The SCIM user routes (Genesys' `/users` and RFC 7644's `/Users`): get by id, and list all
//! active users or those matching a filter on `id`, `userName` or `externalId`.
//!
//! No kinder than Genesys: a list without a filter holds **only active users** ("With no
//! filter, only active users are returned": `get_scim_v2_users` in
//! MyPureCloud/platform-client-sdk-python `build/docs/SCIMApi.md`; our notes,
//! `genesys-scim-api.md` §5), and pages are at most 25. That cap is documented for the
//! group list ("a page size over 25 may exceed internal resource limits and return a 429
//! error", §1) and applied to users by inference. Unverified, and not emulated: a limit on
//! how deep a list may be paged (`filter.maxResults`); scimsync stops reading a list at its
//! first refused page.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::org::User;
use super::paging::{list, page, page_of};
use super::reply::{scim_error, scim_json};
use super::state::Emu;
use crate::scim::wire::{self, Meta};

fn user_json(user: &User) -> wire::User {
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

pub(super) async fn list_users(
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
        // Without a filter, only active users are listed (source in the module doc); only
        // the page asked for is built: a plan may read every page of a large org.
        None => {
            let active = || users.clone().filter(|u| u.active);
            let total = active().count() as u64;
            let page = active().skip(skip).take(count).map(user_json).collect();
            return page_of(page, total, skip);
        }
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
            let pick: fn(&User, &str) -> bool = match eq.attribute.as_str() {
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

pub(super) async fn get_user(State(emu): State<Emu>, Path(id): Path<String>) -> Response {
    let state = emu.lock();
    match state.org.users.get(&id) {
        Some(user) => scim_json(StatusCode::OK, &user_json(user)),
        None => scim_error(404, Some("noTarget"), format!("user {id} not found")),
    }
}
