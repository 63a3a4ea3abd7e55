//! SCIM list paging: `startIndex` and `count` checked as Genesys checks them, and the
//! `ListResponse` of one page.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;

use super::reply::{platform_error, scim_error, scim_json};
use crate::scim::wire::{self, ListResponse};

/// `startIndex`, `count` and the checks Genesys makes on them.
pub(super) fn page(
    query: &HashMap<String, String>,
    max: u64,
) -> Result<(usize, usize), Box<Response>> {
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
            format!("count {count} exceeds internal resource limits; use at most {max}"),
        )));
    }
    let index = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Ok((index(start - 1), index(count)))
}

/// One page of `all`: `count` resources after the first `skip`.
pub(super) fn list<T: serde::Serialize>(all: Vec<T>, skip: usize, count: usize) -> Response {
    let total = all.len() as u64;
    let resources: Vec<T> = all.into_iter().skip(skip).take(count).collect();
    page_of(resources, total, skip)
}

/// The `ListResponse` of `resources`, the page after the first `skip` of `total`.
pub(super) fn page_of<T: serde::Serialize>(resources: Vec<T>, total: u64, skip: usize) -> Response {
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
