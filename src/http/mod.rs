//! The HTTP pieces both sides share, so that neither the IdP sources nor the SCIM target
//! imports the other: one client builder, the retry policy, one OAuth client-credentials
//! token source (used by Genesys Cloud and by Microsoft Graph), and one redaction of secrets.
//!
//! - [`retry`]: which failures are retried, how long to wait (Retry-After, backoff), the
//!   total time a request may take, and the capped read of every answer
//! - [`auth`]: credentials and the access-token cache
//! - [`redact`]: the live secrets, taken out of every text a server sent before it is shown
//!
//! What every client built here does, whoever it talks to (README, "Security"):
//! - **follows no redirect** ([`reqwest::redirect::Policy::none`]): a 3xx is an answer,
//!   refused by its caller with the status and the `Location`'s origin
//!   ([`redirect_refusal`]), never its path or query; and sends no `Referer`;
//! - **uses a proxy only for `https://` URLs** (`HTTPS_PROXY`, else `ALL_PROXY`, honouring
//!   `NO_PROXY`): plaintext, allowed only to loopback, never goes to `HTTP_PROXY`, so a
//!   proxy never sees a credential in clear;
//! - **bounds time**: [`CONNECT_TIMEOUT`] to connect, a per-attempt timeout (30 s, or
//!   `SCIMSYNC_TIMEOUT_MS`), and [`retry::RetryPolicy::budget`] for all the attempts of one
//!   request;
//! - **caps every answer** at [`MAX_BODY_BYTES`], read as a stream.

pub mod auth;
pub mod redact;
pub mod retry;

pub use self::retry::MAX_BODY_BYTES;

use std::time::Duration;

/// The HTTP client could not be built (TLS setup, or a proxy URL that does not parse).
#[derive(Debug, thiserror::Error)]
#[error("could not set up the HTTP client: {0}")]
pub struct ClientError(pub String);

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variable that sets the per-attempt timeout, in milliseconds.
pub const ENV_TIMEOUT_MS: &str = "SCIMSYNC_TIMEOUT_MS";

/// The per-attempt timeout: `default`, or `SCIMSYNC_TIMEOUT_MS` from `env` when set.
pub fn attempt_timeout(default: Duration, env: &dyn Fn(&str) -> Option<String>) -> Duration {
    env(ENV_TIMEOUT_MS)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(default, Duration::from_millis)
}

/// The reqwest client all of scimsync uses: rustls, a per-attempt timeout
/// ([`attempt_timeout`] of `timeout`), no redirects, no `Referer`, proxies for https only.
/// One per process: each one made loads and parses the root certificates.
pub fn build_client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let timeout = attempt_timeout(timeout, &env);
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(CONNECT_TIMEOUT))
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        // reqwest's own proxy rules would send http:// requests to HTTP_PROXY: none here.
        .no_proxy()
        .user_agent(concat!("scimsync/", env!("CARGO_PKG_VERSION")));
    if let Some(proxy) = https_proxy(&env) {
        let proxy = reqwest::Proxy::https(proxy.as_str())
            .map_err(|_| {
                ClientError(
                    "HTTPS_PROXY (or ALL_PROXY) is not a proxy URL; fix or unset it".to_owned(),
                )
            })?
            .no_proxy(reqwest::NoProxy::from_env());
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| ClientError(retry::describe(&e)))
}

/// The proxy for https URLs: `HTTPS_PROXY` / `https_proxy`, else `ALL_PROXY` / `all_proxy`.
fn https_proxy(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .into_iter()
        .find_map(env)
}

/// A 3xx answer as the error text its caller shows after the status (`HTTP 307 …`): where
/// it pointed, as an origin only (`https://host:port`; a path or query may carry a token or a user's key), and
/// that scimsync follows no redirect. `None` for any other status.
pub fn redirect_refusal(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    asked: &url::Url,
) -> Option<String> {
    if !status.is_redirection() {
        return None;
    }
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok());
    let target = match location.map(|l| asked.join(l)) {
        None => "no Location".to_owned(),
        Some(Err(_)) => "a Location that is not a URL".to_owned(),
        Some(Ok(to)) if to.origin() == asked.origin() => {
            format!("{} (the same origin)", to.origin().ascii_serialization())
        }
        Some(Ok(to)) => to.origin().ascii_serialization(),
    };
    Some(format!(
        "redirect to {target}, not followed (scimsync follows no redirect: check the configured URL, or what sits in front of the server)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, LOCATION};

    #[test]
    fn a_redirect_is_named_by_its_origin_only() {
        let asked = url::Url::parse("https://api.example.com/scim/groups/g0").unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            LOCATION,
            HeaderValue::from_static("http://evil.example:8080/steal?token=abc"),
        );
        let text = redirect_refusal(reqwest::StatusCode::TEMPORARY_REDIRECT, &h, &asked).unwrap();
        assert!(
            text.starts_with("redirect to http://evil.example:8080,"),
            "{text}"
        );
        assert!(!text.contains("steal") && !text.contains("abc"), "{text}");
        h.insert(LOCATION, HeaderValue::from_static("/groups/g1"));
        let text = redirect_refusal(reqwest::StatusCode::SEE_OTHER, &h, &asked).unwrap();
        assert!(
            text.contains("(the same origin)") && !text.contains("g1"),
            "{text}"
        );
        assert_eq!(redirect_refusal(reqwest::StatusCode::OK, &h, &asked), None);
    }

    #[test]
    fn only_an_https_proxy_is_taken() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(https_proxy(&env(&[("HTTP_PROXY", "http://p:1")])), None);
        assert_eq!(
            https_proxy(&env(&[
                ("HTTP_PROXY", "http://p:1"),
                ("ALL_PROXY", "http://a:2")
            ])),
            Some("http://a:2".to_owned())
        );
        assert_eq!(
            https_proxy(&env(&[
                ("HTTPS_PROXY", "http://s:3"),
                ("ALL_PROXY", "http://a:2")
            ])),
            Some("http://s:3".to_owned())
        );
    }
}
