//! The Genesys Cloud OAuth token endpoint: the client-credentials grant with HTTP basic
//! authentication, issuing bearer tokens that the SCIM routes accept.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use tokio::time::Instant;

use super::state::Emu;

/// `POST /oauth/token`.
pub(super) async fn token(State(emu): State<Emu>, headers: HeaderMap, body: Bytes) -> Response {
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
    // A test may issue tokens "for ever" (`expires_in` = 2^64 - 1): saturate.
    let now = Instant::now();
    let expiry = now
        .checked_add(lifetime)
        .unwrap_or_else(|| now + std::time::Duration::from_hours(100 * 365 * 24));
    state.tokens.insert(token.clone(), expiry);
    axum::Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs(),
    }))
    .into_response()
}
