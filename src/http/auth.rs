//! Credentials and the access-token cache.
//!
//! OAuth client credentials is one form POST to `{login_base}/oauth/token` with HTTP basic
//! auth and `grant_type=client_credentials` (genesys-scim-api.md §7). The token is cached
//! until 60 s before its `expires_in` (as the Genesys SDKs do), fetched by one task at a time,
//! and dropped when the API answers 401 so that the next request fetches a fresh one.
//! A ready token from `GENESYSCLOUD_ACCESS_TOKEN` is used as is and cannot be refreshed.
//!
//! The same grant serves the Microsoft Graph source ([`TokenSource::oauth`]): there the client
//! id and secret go in the form body with a `scope`, as the Microsoft identity platform
//! documents (<https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow>).
//!
//! Secrets are [`SecretString`]s: their `Debug` is redacted and they are exposed only to
//! build the `Authorization` header.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::retry::{AttemptError, Failure, RetryPolicy, exchange, verdict, with_retries};
use crate::endpoint::Endpoint;

/// Environment variable holding the OAuth client id.
pub const ENV_CLIENT_ID: &str = "GENESYSCLOUD_OAUTHCLIENT_ID";
/// Environment variable holding the OAuth client secret.
pub const ENV_CLIENT_SECRET: &str = "GENESYSCLOUD_OAUTHCLIENT_SECRET";
/// Environment variable holding a ready access token.
pub const ENV_ACCESS_TOKEN: &str = "GENESYSCLOUD_ACCESS_TOKEN";

/// How scimsync authenticates to the SCIM server.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// OAuth client credentials, exchanged for tokens at the login service.
    ClientCredentials {
        /// The OAuth client id (not a secret; shown in messages).
        client_id: String,
        /// The OAuth client secret.
        client_secret: SecretString,
    },
    /// A ready bearer token, used as is.
    Bearer {
        /// The token.
        token: SecretString,
        /// Where it came from (an environment variable name), for messages.
        source: String,
    },
}

impl Credentials {
    /// Genesys credentials from the environment: client id + secret, else a ready token.
    pub fn genesys_from_env() -> Result<Self, AuthError> {
        Self::genesys_from(|name| std::env::var(name).ok())
    }

    /// Genesys credentials from `lookup` (the environment, or a map in tests).
    pub fn genesys_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AuthError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        match (
            get(ENV_CLIENT_ID),
            get(ENV_CLIENT_SECRET),
            get(ENV_ACCESS_TOKEN),
        ) {
            (Some(id), Some(secret), _) => Ok(Self::ClientCredentials {
                client_id: id.trim().to_owned(),
                client_secret: SecretString::from(secret),
            }),
            (Some(_), None, None) => Err(AuthError::Missing {
                hint: format!("{ENV_CLIENT_ID} is set but {ENV_CLIENT_SECRET} is not"),
            }),
            (None, Some(_), None) => Err(AuthError::Missing {
                hint: format!("{ENV_CLIENT_SECRET} is set but {ENV_CLIENT_ID} is not"),
            }),
            (_, _, Some(token)) => Ok(Self::Bearer {
                token: SecretString::from(token),
                source: ENV_ACCESS_TOKEN.to_owned(),
            }),
            (None, None, None) => Err(AuthError::Missing {
                hint: format!(
                    "none of {ENV_CLIENT_ID}, {ENV_CLIENT_SECRET} or {ENV_ACCESS_TOKEN} is set"
                ),
            }),
        }
    }
}

/// Why no usable token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials in the environment.
    #[error(
        "no Genesys Cloud credentials: {hint}; set {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} (an OAuth client-credentials grant), or {ENV_ACCESS_TOKEN}"
    )]
    Missing {
        /// What exactly is missing.
        hint: String,
    },
    /// The login service refused the client credentials.
    #[error(
        "the login service {url} refused OAuth client {client_id:?} (HTTP {status}{}): check {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}, and that target.region is the region of the client's org",
        .error.as_deref().map(|e| format!(", {e}")).unwrap_or_default()
    )]
    Rejected {
        /// The token URL.
        url: String,
        /// The client id used.
        client_id: String,
        /// The status answered.
        status: u16,
        /// The OAuth `error` / `description`, if any.
        error: Option<String>,
    },
    /// The login service answered 200 with something that is not a token.
    #[error("the login service {url} answered without a usable access_token ({detail})")]
    BadResponse {
        /// The token URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// A ready token was refused by the API.
    #[error(
        "{context}: the access token from {origin} was refused (HTTP 401): it has expired or been revoked; get a fresh one, or set {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} so that scimsync can refresh tokens itself"
    )]
    BearerRefused {
        /// What was being done.
        context: String,
        /// Where the token came from.
        origin: String,
    },
    /// A freshly fetched token was refused by the API.
    #[error(
        "{context}: a freshly issued token was refused (HTTP 401): the OAuth client may lack the scim scope, or target.api_base and login_base belong to different regions"
    )]
    FreshTokenRefused {
        /// What was being done.
        context: String,
    },
}

/// Why a token could not be had: refused, or the token endpoint failed on every attempt.
#[derive(Debug)]
pub struct TokenError {
    /// The request that was made (`POST <token url>`).
    pub context: String,
    /// What happened.
    pub failure: Failure<AuthError>,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.failure {
            Failure::Fatal(e) => e.fmt(f),
            Failure::GaveUp { detail, attempts } => write!(
                f,
                "{}: {detail} (gave up after {attempts} attempts)",
                self.context
            ),
            Failure::RateLimited(reason) => {
                write!(f, "{}: rate limited (HTTP 429) {reason}", self.context)
            }
        }
    }
}

impl std::error::Error for TokenError {}

/// An access token and the cache generation it belongs to.
#[derive(Clone)]
pub struct Token {
    /// The token itself.
    pub secret: SecretString,
    /// Which fetch produced it: a 401 invalidates only that generation, so that many
    /// concurrent 401s cause one refresh, not one each.
    pub generation: u64,
}

/// One try of a request sent with a token ([`TokenSource::with_fresh_token`]): its outcome,
/// and whether the server refused the token.
#[derive(Debug)]
pub enum Tried<R> {
    /// Any answer but a 401.
    Answered(R),
    /// HTTP 401.
    Unauthorized(R),
}

impl<R> Tried<R> {
    /// The outcome, whichever it was.
    pub fn into_inner(self) -> R {
        match self {
            Self::Answered(r) | Self::Unauthorized(r) => r,
        }
    }
}

struct Cached {
    token: Token,
    fresh_until: Instant,
}

/// How a client presents its id and secret to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP basic authentication (Genesys Cloud).
    Basic,
    /// `client_id` and `client_secret` in the form body (the Microsoft identity platform).
    Form,
}

/// Hands out access tokens: cached, refreshed before expiry and after a 401.
pub struct TokenSource {
    credentials: Credentials,
    token_url: url::Url,
    client_auth: ClientAuth,
    scope: Option<String>,
    cache: Mutex<Option<Cached>>,
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("credentials", &self.credentials)
            .field("token_url", &self.token_url.as_str())
            .field("client_auth", &self.client_auth)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    /// A number, by RFC 6749 §5.1; read leniently (a numeric string, a float), since a
    /// hostile or sloppy answer must give a bounded lifetime, not a refusal or a panic.
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: Option<String>,
    description: Option<String>,
    error_description: Option<String>,
}

/// Tokens are treated as stale this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_mins(1);

/// The longest a token is believed fresh, whatever its `expires_in` claims (Genesys issues
/// tokens for at most 48 hours; Entra for about an hour): a lifetime beyond is a server's
/// mistake, and a token is fetched again after this at the latest.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_hours(48);

/// Until when a token fetched at `now`, said to live `expires_in` seconds, is used: its
/// lifetime (at most [`MAX_TOKEN_LIFETIME`]) less [`EXPIRY_MARGIN`], or half its life when
/// shorter than the margin. Saturating: no `expires_in` overflows (issue 20, finding 13).
pub fn fresh_until(now: Instant, expires_in: u64) -> Instant {
    let lifetime = Duration::from_secs(expires_in).min(MAX_TOKEN_LIFETIME);
    // A token living less than the margin is used for half its life instead.
    let usable = lifetime.checked_sub(EXPIRY_MARGIN).unwrap_or(lifetime / 2);
    now.checked_add(usable).unwrap_or(now)
}

impl TokenSource {
    /// A token source for `credentials`, fetching from `{login_base}/oauth/token`.
    pub fn new(credentials: Credentials, login_base: &Endpoint) -> Self {
        Self::oauth(
            credentials,
            login_base.join(&["oauth", "token"]),
            ClientAuth::Basic,
            None,
        )
    }

    /// A token source for any OAuth client-credentials endpoint `token_url`, presenting the
    /// client as `client_auth` and asking for `scope` when given.
    pub fn oauth(
        credentials: Credentials,
        token_url: url::Url,
        client_auth: ClientAuth,
        scope: Option<String>,
    ) -> Self {
        Self {
            credentials,
            token_url,
            client_auth,
            scope,
            cache: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &url::Url {
        &self.token_url
    }

    /// True when a refused token can be replaced by fetching a new one.
    pub fn can_refresh(&self) -> bool {
        matches!(self.credentials, Credentials::ClientCredentials { .. })
    }

    /// Send a request with a token (`send`, which says whether the server answered 401);
    /// on a 401, drop that token and send once more with a fresh one, when these
    /// credentials can fetch one (a fixed bearer token cannot). The one rule of the SCIM
    /// client and the Graph source: many concurrent 401s cause one refresh
    /// (`Token::generation`); a 401 a fresh token does not cure comes back as
    /// `Tried::Unauthorized`, for the caller to report. `context` names the request in
    /// the log.
    pub async fn with_fresh_token<R>(
        &self,
        client: &reqwest::Client,
        retry: &RetryPolicy,
        context: &str,
        mut send: impl AsyncFnMut(&Token) -> Tried<R>,
    ) -> Result<Tried<R>, TokenError> {
        let mut refreshed = false;
        loop {
            let token = self.token(client, retry).await?;
            match send(&token).await {
                Tried::Unauthorized(_) if !refreshed && self.can_refresh() => {
                    tracing::info!("{context}: HTTP 401; fetching a fresh token");
                    self.invalidate(token.generation).await;
                    refreshed = true;
                }
                tried => return Ok(tried),
            }
        }
    }

    /// A valid token: the cached one, or a fresh one.
    pub async fn token(
        &self,
        client: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Token, TokenError> {
        let (client_id, client_secret) = match &self.credentials {
            Credentials::Bearer { token, .. } => {
                return Ok(Token {
                    secret: token.clone(),
                    generation: 0,
                });
            }
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => (client_id, client_secret),
        };
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref().filter(|c| Instant::now() < c.fresh_until) {
            return Ok(cached.token.clone());
        }
        let context = format!("POST {}", self.token_url);
        let (secret, expires_in) = with_retries(retry, &context, || {
            self.fetch(client, client_id, client_secret)
        })
        .await
        .map_err(|failure| TokenError { context, failure })?;
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        crate::http::redact::remember(secret.expose_secret());
        let token = Token { secret, generation };
        *cache = Some(Cached {
            token: token.clone(),
            fresh_until: fresh_until(Instant::now(), expires_in),
        });
        tracing::debug!("fetched an access token valid for {expires_in} s");
        Ok(token)
    }

    /// Forget the token of `generation` after the API refused it.
    pub async fn invalidate(&self, generation: u64) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|c| c.token.generation == generation)
        {
            *cache = None;
        }
    }

    /// The error for a 401 that a refresh could not cure.
    pub fn refused(&self, context: &str) -> AuthError {
        match &self.credentials {
            Credentials::Bearer { source, .. } => AuthError::BearerRefused {
                context: context.to_owned(),
                origin: source.clone(),
            },
            Credentials::ClientCredentials { .. } => AuthError::FreshTokenRefused {
                context: context.to_owned(),
            },
        }
    }

    async fn fetch(
        &self,
        client: &reqwest::Client,
        client_id: &str,
        client_secret: &SecretString,
    ) -> Result<(SecretString, u64), AttemptError<AuthError>> {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        let request = match self.client_auth {
            ClientAuth::Basic => client
                .post(self.token_url.clone())
                .basic_auth(client_id, Some(client_secret.expose_secret())),
            ClientAuth::Form => {
                form.push(("client_id", client_id));
                form.push(("client_secret", client_secret.expose_secret()));
                client.post(self.token_url.clone())
            }
        };
        crate::http::redact::remember(client_secret.expose_secret());
        let request = request.form(&form);
        let (status, headers, body) = exchange(request, |cap| AuthError::BadResponse {
            url: self.token_url.to_string(),
            detail: format!("the answer is over {} MiB", cap / (1024 * 1024)),
        })
        .await?;
        if let Some(refusal) = crate::http::redirect_refusal(status, &headers, &self.token_url) {
            // Never followed: a redirected POST would carry the client secret elsewhere.
            return Err(AttemptError::Fatal(AuthError::BadResponse {
                url: self.token_url.to_string(),
                detail: format!("HTTP {} {refusal}", status.as_u16()),
            }));
        }
        if let Some(retry) = verdict(status, &headers, &body) {
            return Err(retry);
        }
        if !status.is_success() {
            let parsed: Option<TokenErrorBody> = serde_json::from_slice(&body).ok();
            let error = parsed
                .map(|b| {
                    [b.error, b.description.or(b.error_description)]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(": ")
                })
                .map(|e| crate::http::redact::redact(&e));
            // The token endpoint's own rate limit answers 400 invalid_request "rate limit
            // exceeded" (the Genesys Terraform provider retries it too).
            if error
                .as_deref()
                .is_some_and(|e| e.contains("rate limit exceeded"))
            {
                return Err(AttemptError::RateLimited(None));
            }
            return Err(AttemptError::Fatal(AuthError::Rejected {
                url: self.token_url.to_string(),
                client_id: client_id.to_owned(),
                status: status.as_u16(),
                error: error.filter(|e| !e.is_empty()),
            }));
        }
        read_token_answer(&body).map_err(|detail| {
            AttemptError::Fatal(AuthError::BadResponse {
                url: self.token_url.to_string(),
                detail: detail.to_owned(),
            })
        })
    }
}

/// A 2xx token answer's access token and lifetime in seconds (86,400 when absent; negative
/// or unreadable lifetimes are 0, so the token is fetched again at its next use). Any bytes
/// give a token or an error, never a panic (proptested).
pub fn read_token_answer(body: &[u8]) -> Result<(SecretString, u64), &'static str> {
    let parsed: TokenResponse =
        serde_json::from_slice(body).map_err(|_| "the body is not a JSON token answer")?;
    let token = parsed
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or("no access_token key")?;
    let expires_in = match parsed.expires_in {
        None => 86_400,
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or_else(|| {
            // A float or a negative number: saturate into 0..=u64::MAX.
            n.as_f64()
                .filter(|f| f.is_finite() && *f > 0.0)
                .map_or(0, |f| {
                    format!("{:.0}", f.floor()).parse().unwrap_or(u64::MAX)
                })
        }),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(0),
        Some(_) => 0,
    };
    Ok((SecretString::from(token), expires_in))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    proptest::proptest! {
        /// Whatever a token endpoint answers, reading it and computing the token's freshness
        /// never panics, and a token is never believed fresh past the cap.
        #[test]
        fn hostile_token_answers_never_panic(
            expires in proptest::prop_oneof![
                proptest::num::u64::ANY.prop_map(|n| n.to_string()),
                proptest::num::i64::ANY.prop_map(|n| n.to_string()),
                proptest::num::f64::ANY.prop_map(|f| format!("{f:e}")),
                "\\PC{0,12}".prop_map(|s| serde_json::Value::String(s).to_string()),
                proptest::strategy::Just("18446744073709551615".to_owned()),
                proptest::strategy::Just("1e400".to_owned()),
                proptest::strategy::Just("null".to_owned()),
            ],
            token in "\\PC{0,20}",
        ) {
            let token_json = serde_json::Value::String(token).to_string();
            let body = format!(r#"{{"access_token":{token_json},"expires_in":{expires}}}"#);
            let now = Instant::now();
            if let Ok((_, secs)) = read_token_answer(body.as_bytes()) {
                let until = fresh_until(now, secs);
                prop_assert!(until >= now);
                prop_assert!(until <= now + MAX_TOKEN_LIFETIME);
            }
            let _ = read_token_answer(body.as_bytes().get(..body.len() / 2).unwrap_or_default());
        }
    }

    #[test]
    fn the_largest_lifetime_saturates() {
        let now = Instant::now();
        let (_, secs) =
            read_token_answer(br#"{"access_token":"t","expires_in":18446744073709551615}"#)
                .unwrap();
        assert_eq!(secs, u64::MAX);
        assert_eq!(
            fresh_until(now, secs),
            now + MAX_TOKEN_LIFETIME - EXPIRY_MARGIN
        );
        assert_eq!(fresh_until(now, 30), now + Duration::from_secs(15));
    }

    #[test]
    fn credentials_from_env_prefer_client_credentials_and_redact() {
        let c = Credentials::genesys_from(env(&[
            (ENV_CLIENT_ID, "cid"),
            (ENV_CLIENT_SECRET, "s3cr3t-value"),
            (ENV_ACCESS_TOKEN, "tok-value"),
        ]))
        .unwrap();
        assert!(matches!(c, Credentials::ClientCredentials { .. }));
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cr3t-value"), "{debug}");

        let c = Credentials::genesys_from(env(&[(ENV_ACCESS_TOKEN, "tok-value")])).unwrap();
        assert!(!format!("{c:?}").contains("tok-value"));

        let e = Credentials::genesys_from(env(&[(ENV_CLIENT_ID, "cid")])).unwrap_err();
        assert!(e.to_string().contains(ENV_CLIENT_SECRET), "{e}");
        let e = Credentials::genesys_from(env(&[])).unwrap_err();
        assert!(e.to_string().contains(ENV_ACCESS_TOKEN), "{e}");
    }
}
