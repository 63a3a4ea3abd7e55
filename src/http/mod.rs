//! The HTTP pieces both sides share, so that neither the IdP sources nor the SCIM target
//! imports the other: one client builder, the retry policy, and one OAuth
//! client-credentials token source (used by Genesys Cloud and by Microsoft Graph).
//!
//! - [`retry`]: which failures are retried, how long to wait (Retry-After, backoff)
//! - [`auth`]: credentials and the access-token cache

pub mod auth;
pub mod retry;

use std::time::Duration;

/// The HTTP client could not be built (TLS setup).
#[derive(Debug, thiserror::Error)]
#[error("could not set up the HTTP client: {0}")]
pub struct ClientError(pub String);

/// The reqwest client all of scimsync uses: rustls, a per-attempt timeout, no proxy
/// surprises. One per process: each one made loads and parses the root certificates.
pub fn build_client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("scimsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError(retry::describe(&e)))
}
