//! The answers and request pieces every handler shares: SCIM and platform error bodies, SCIM
//! JSON, and the bearer token a request carries. A leaf: it imports no route module.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::scim::wire::{ErrorBody, SCIM_JSON};

/// A SCIM error body (RFC 7644 §3.12) with `status` and, when given, `scimType`.
pub(super) fn scim_error(
    status: u16,
    scim_type: Option<&str>,
    detail: impl Into<String>,
) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody::new(status, scim_type, detail);
    scim_json(code, &body)
}

/// `body` as `application/scim+json` with `status`.
pub(super) fn scim_json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).expect("emulator bodies serialise");
    (status, [(header::CONTENT_TYPE, SCIM_JSON)], bytes).into_response()
}

/// A platform (non-SCIM) error: an `ErrorBody` (`message`, `code`, `status`, `contextId`),
/// as Genesys answers outside SCIM (auth, rate limits, the Platform API's routes).
pub(super) fn platform_error(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
) -> Response {
    let body = crate::scim::wire::platform::ErrorBody {
        message: Some(message.into()),
        code: Some(code.to_owned()),
        status: Some(i32::from(status.as_u16())),
        context_id: Some(format!("{:032x}", rand::random::<u128>())),
        message_params: None,
    };
    (status, axum::Json(body)).into_response()
}

/// The token of an `Authorization: Bearer …` header.
pub(super) fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}
