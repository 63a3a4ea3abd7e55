//! The HTTP policy every SCIM request goes through: authentication, pacing, a bound on
//! requests in flight, and retries.
//!
//! - **429** waits for `Retry-After` (seconds or an HTTP date), else `inin-ratelimit-reset`,
//!   else the "[N] seconds" of Genesys' error text, else exponential backoff; a wait over
//!   [`RetryPolicy::max_retry_after`] is not waited out (the Go SDK gives up past 180 s too).
//! - **5xx** (not 501), **408**, connection resets and timeouts back off exponentially with
//!   jitter, at most [`RetryPolicy::max_retries`] times. A PATCH is retried too: it carries
//!   `If-Match`, so a retry can never apply twice over a change made in between. Its reply is
//!   marked [`Reply::uncertain`] so the caller knows that an earlier attempt may have landed.
//! - **401** refreshes the token once and repeats the request.
//! - Everything else is handed back to the caller as a [`Reply`] to interpret.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, IF_MATCH, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;
use url::Url;

use super::auth::TokenSource;
use super::error::{RateLimitReason, ScimError};
use super::wire::SCIM_JSON;

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for transient failures and 429s alike.
    pub max_retries: usize,
    /// The first backoff delay.
    pub min_backoff: Duration,
    /// The longest backoff delay.
    pub max_backoff: Duration,
    /// The longest `Retry-After` scimsync waits out; a longer one fails the request.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 6,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.max_retries)
    }
}

/// How requests are paced and bounded.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    /// Requests per minute sent, at most (Genesys allows about 300 per token).
    pub requests_per_minute: u32,
    /// Requests in flight at once, at most.
    pub concurrency: usize,
    /// How failures are retried.
    pub retry: RetryPolicy,
    /// How long one attempt may take before it counts as lost.
    pub timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            requests_per_minute: 300,
            concurrency: 4,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// One request to send: rebuilt for each attempt.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// GET, PATCH, …
    pub method: Method,
    /// The full URL.
    pub url: Url,
    /// `If-Match` to send (PATCH).
    pub if_match: Option<&'a str>,
    /// `If-None-Match` to send (GET).
    pub if_none_match: Option<&'a str>,
    /// A JSON body.
    pub body: Option<Bytes>,
    /// What is being done, for errors and logs: `PATCH group 5f4b…`.
    pub context: &'a str,
}

impl<'a> Call<'a> {
    /// A GET of `url`.
    pub fn get(url: Url, context: &'a str) -> Self {
        Self {
            method: Method::GET,
            url,
            if_match: None,
            if_none_match: None,
            body: None,
            context,
        }
    }
}

/// The final answer to a [`Call`]: any status but 401, 429 and retryable ones.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// True when an earlier attempt of the same call failed in a way that may have left it
    /// applied (lost response, 5xx): a stale answer now may be our own change.
    pub uncertain: bool,
}

impl Reply {
    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One attempt's failure, as the retry loop sees it.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// Worth retrying after backoff: transport failure, 5xx, 408.
    Transient(String),
    /// 429: wait this long if known, else backoff.
    RateLimited(Option<Duration>),
    /// Not worth retrying.
    Fatal(ScimError),
}

/// Run `attempt` with `policy`'s retries, turning the last failure into a [`ScimError`].
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    context: &str,
    mut attempt: F,
) -> Result<T, ScimError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let attempts = AtomicUsize::new(0);
    let cap = policy.max_retry_after;
    let result = (|| {
        attempts.fetch_add(1, Ordering::Relaxed);
        attempt()
    })
    .retry(policy.backoff())
    .sleep(tokio::time::sleep)
    .when(|e| match e {
        AttemptError::Transient(_) => true,
        AttemptError::RateLimited(wait) => wait.is_none_or(|w| w <= cap),
        AttemptError::Fatal(_) => false,
    })
    .adjust(|e, next| match (e, next) {
        (AttemptError::RateLimited(Some(wait)), Some(_)) => Some(*wait),
        (_, next) => next,
    })
    .notify(|e, wait| match e {
        AttemptError::Transient(detail) => {
            tracing::warn!("{context}: {detail}; retrying in {} ms", wait.as_millis())
        }
        AttemptError::RateLimited(_) => {
            tracing::info!("{context}: HTTP 429; waiting {} ms", wait.as_millis())
        }
        AttemptError::Fatal(_) => {}
    })
    .await;
    let attempts = attempts.load(Ordering::Relaxed);
    result.map_err(|e| match e {
        AttemptError::Transient(detail) => ScimError::Transport {
            context: context.to_owned(),
            detail,
            attempts,
        },
        AttemptError::RateLimited(Some(asked)) if asked > cap => ScimError::RateLimited {
            context: context.to_owned(),
            reason: RateLimitReason::WaitTooLong { asked, cap },
        },
        AttemptError::RateLimited(_) => ScimError::RateLimited {
            context: context.to_owned(),
            reason: RateLimitReason::Exhausted { attempts },
        },
        AttemptError::Fatal(e) => e,
    })
}

/// True for statuses worth retrying: 408 and 5xx except 501.
pub(crate) fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
}

/// How long a 429 asks to wait: `Retry-After` (seconds or HTTP date), else
/// `inin-ratelimit-reset` (seconds), else "[N] seconds" in the body.
pub(crate) fn retry_after(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(value) = header("retry-after") {
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(at) = jiff::fmt::rfc2822::parse(value) {
            let now = jiff::Timestamp::now();
            let wait = at.timestamp().as_millisecond() - now.as_millisecond();
            return Some(Duration::from_millis(wait.max(0).unsigned_abs()));
        }
    }
    if let Some(secs) = header("inin-ratelimit-reset").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let text = String::from_utf8_lossy(body);
    let start = text.find('[')?;
    let rest = &text[start + 1..];
    let end = rest.find(']')?;
    let secs: u64 = rest[..end].trim().parse().ok()?;
    rest[end..]
        .trim_start_matches(']')
        .trim_start()
        .starts_with("second")
        .then(|| Duration::from_secs(secs))
}

/// The SCIM HTTP client: token, pacing, concurrency bound, retries.
pub struct Http {
    client: reqwest::Client,
    tokens: TokenSource,
    retry: RetryPolicy,
    pacer: DefaultDirectRateLimiter,
    permits: Semaphore,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("tokens", &self.tokens)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// A client with these settings, authenticating with `tokens`.
    pub fn new(settings: &HttpSettings, tokens: TokenSource) -> Result<Self, ScimError> {
        let client = build_client(settings.timeout)?;
        let rpm = settings.requests_per_minute.max(1);
        let period = Duration::from_secs_f64(60.0 / f64::from(rpm));
        // Burst of one: requests go out evenly spaced, which is what keeps a server-side
        // sliding window from ever seeing more than the configured rate.
        let quota = Quota::with_period(period).expect("period is positive");
        Ok(Self {
            client,
            tokens,
            retry: settings.retry.clone(),
            pacer: RateLimiter::direct(quota),
            permits: Semaphore::new(settings.concurrency.max(1)),
        })
    }

    /// Send `call` under the policy; any final status comes back as a [`Reply`].
    pub async fn send(&self, call: &Call<'_>) -> Result<Reply, ScimError> {
        let uncertain = AtomicBool::new(false);
        with_retries(&self.retry, call.context, || self.attempt(call, &uncertain)).await
    }

    async fn attempt(
        &self,
        call: &Call<'_>,
        uncertain: &AtomicBool,
    ) -> Result<Reply, AttemptError> {
        let mut refreshed = false;
        loop {
            let token = self
                .tokens
                .token(&self.client, &self.retry)
                .await
                .map_err(AttemptError::Fatal)?;
            self.pacer.until_ready().await;
            let permit = self
                .permits
                .acquire()
                .await
                .expect("semaphore never closed");
            let mut request = self
                .client
                .request(call.method.clone(), call.url.clone())
                .header(ACCEPT, format!("{SCIM_JSON}, application/json"))
                .header(
                    AUTHORIZATION,
                    format!("Bearer {}", token.secret.expose_secret()),
                );
            if let Some(etag) = call.if_match {
                request = request.header(IF_MATCH, etag);
            }
            if let Some(etag) = call.if_none_match {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(body) = &call.body {
                request = request.header(CONTENT_TYPE, SCIM_JSON).body(body.clone());
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    uncertain.store(true, Ordering::Relaxed);
                    return Err(AttemptError::Transient(describe(&e)));
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let body = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    uncertain.store(true, Ordering::Relaxed);
                    return Err(AttemptError::Transient(describe(&e)));
                }
            };
            drop(permit);
            let correlation = headers
                .get("inin-correlation-id")
                .and_then(|v| v.to_str().ok())
                .map(|c| format!(" (ININ-Correlation-Id {c})"))
                .unwrap_or_default();
            if status == StatusCode::UNAUTHORIZED {
                if !refreshed && self.tokens.can_refresh() {
                    tracing::info!("{}: HTTP 401; fetching a fresh token", call.context);
                    self.tokens.invalidate(token.generation).await;
                    refreshed = true;
                    continue;
                }
                return Err(AttemptError::Fatal(ScimError::Auth(
                    self.tokens.refused(call.context),
                )));
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                return Err(AttemptError::RateLimited(retry_after(&headers, &body)));
            }
            if is_transient(status) {
                uncertain.store(true, Ordering::Relaxed);
                return Err(AttemptError::Transient(format!(
                    "HTTP {status}{correlation}"
                )));
            }
            return Ok(Reply {
                status,
                headers,
                body,
                uncertain: uncertain.load(Ordering::Relaxed),
            });
        }
    }
}

/// The reqwest client all of scimsync uses: rustls, a per-attempt timeout, no proxy surprises.
pub(crate) fn build_client(timeout: Duration) -> Result<reqwest::Client, ScimError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("scimsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ScimError::Client(describe(&e)))
}

/// A reqwest error as one line: its kind and its innermost cause, without the URL's query.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response body was cut off"
    } else {
        "the connection failed"
    };
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    format!("{kind} ({source})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_dates_headers_and_text() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, b""), Some(Duration::from_secs(7)));

        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h, b""), Some(Duration::ZERO));

        let mut h = HeaderMap::new();
        h.insert("inin-ratelimit-reset", HeaderValue::from_static("12"));
        assert_eq!(retry_after(&h, b""), Some(Duration::from_secs(12)));

        let body =
            br#"{"message":"Rate limit exceeded the maximum. Retry the request in [34] seconds"}"#;
        assert_eq!(
            retry_after(&HeaderMap::new(), body),
            Some(Duration::from_secs(34))
        );
        assert_eq!(retry_after(&HeaderMap::new(), b"[x] seconds"), None);
        assert_eq!(retry_after(&HeaderMap::new(), b"nothing"), None);
    }

    #[test]
    fn transient_statuses() {
        for s in [408, 500, 502, 503, 504] {
            assert!(is_transient(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 404, 409, 412, 429, 501] {
            assert!(!is_transient(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}
