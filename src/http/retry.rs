//! Retrying a request: which failures are worth another try, how long to wait, and when to
//! give up. Shared by the SCIM client, the token fetch and the IdP sources.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The most bytes one answer may have, on both sides (a SCIM group or page, a token, an IdP
/// page). A Graph delta page naming 100,000 members is about 10 MB, a Genesys group of
/// 100,000 members about 8 MB, an Okta page of 200 full user profiles well under 1 MB:
/// 64 MiB is far beyond any real answer and still bounds memory. An answer over it fails at
/// once when its `Content-Length` says so, else as soon as the stream passes it.
pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

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
    /// The longest all attempts of one request may take, waits included: past it the
    /// request fails (a server that accepts and never answers costs this, not every
    /// attempt's timeout times every retry).
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 6,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_mins(3),
            budget: Duration::from_mins(4),
        }
    }
}

impl RetryPolicy {
    /// The default policy, tuned by `SCIMSYNC_MAX_RETRIES`, `SCIMSYNC_MIN_BACKOFF_MS` and
    /// `SCIMSYNC_MAX_BACKOFF_MS` and `SCIMSYNC_RETRY_BUDGET_MS` when set (the tests use short
    /// backoffs; so can an impatient operator).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut p = Self::default();
        let num = |name: &str| env(name).and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(n) = num("SCIMSYNC_MAX_RETRIES") {
            p.max_retries = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(ms) = num("SCIMSYNC_MIN_BACKOFF_MS") {
            p.min_backoff = Duration::from_millis(ms);
        }
        if let Some(ms) = num("SCIMSYNC_MAX_BACKOFF_MS") {
            p.max_backoff = Duration::from_millis(ms);
        }
        if let Some(ms) = num("SCIMSYNC_RETRY_BUDGET_MS") {
            p.budget = Duration::from_millis(ms);
        }
        p
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.max_retries)
    }
}

/// One attempt's failure, as the retry loop sees it.
#[derive(Debug)]
pub enum AttemptError<E> {
    /// Worth retrying after backoff: transport failure, 5xx, 408.
    Transient(String),
    /// 429: wait this long if known, else backoff.
    RateLimited(Option<Duration>),
    /// Not worth retrying.
    Fatal(E),
}

/// Why a request with retries failed in the end.
#[derive(Debug)]
pub enum Failure<E> {
    /// Transient failures on every attempt; the last one's description.
    GaveUp {
        /// The last failure.
        detail: String,
        /// How many attempts were made.
        attempts: usize,
    },
    /// 429 answers that could not be waited out.
    RateLimited(RateLimitReason),
    /// A failure not worth retrying.
    Fatal(E),
}

/// Why scimsync stopped waiting out 429 answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitReason {
    /// Every retry drew another 429.
    Exhausted {
        /// How many attempts were made.
        attempts: usize,
    },
    /// The server asked for a wait longer than scimsync's cap.
    WaitTooLong {
        /// The wait asked for.
        asked: Duration,
        /// The cap.
        cap: Duration,
    },
}

impl std::fmt::Display for RateLimitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exhausted { attempts } => write!(f, "on each of {attempts} attempts"),
            Self::WaitTooLong { asked, cap } => write!(
                f,
                "and asked to wait {}s, over the {}s cap",
                asked.as_secs(),
                cap.as_secs()
            ),
        }
    }
}

/// Run `attempt` with `policy`'s retries; `context` names the request in logs.
pub async fn with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    context: &str,
    mut attempt: F,
) -> Result<T, Failure<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AttemptError<E>>>,
{
    let attempts = AtomicUsize::new(0);
    let cap = policy.max_retry_after;
    let retried = (|| {
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
            tracing::warn!("{context}: {detail}; retrying in {} ms", wait.as_millis());
        }
        AttemptError::RateLimited(_) => {
            tracing::info!("{context}: HTTP 429; waiting {} ms", wait.as_millis());
        }
        AttemptError::Fatal(_) => {}
    });
    let result = tokio::time::timeout(policy.budget, retried).await;
    let attempts = attempts.load(Ordering::Relaxed);
    let Ok(result) = result else {
        return Err(Failure::GaveUp {
            detail: format!(
                "no answer within {} s, all attempts included (SCIMSYNC_RETRY_BUDGET_MS)",
                policy.budget.as_secs_f64()
            ),
            attempts,
        });
    };
    result.map_err(|e| match e {
        AttemptError::Transient(detail) => Failure::GaveUp { detail, attempts },
        AttemptError::RateLimited(Some(asked)) if asked > cap => {
            Failure::RateLimited(RateLimitReason::WaitTooLong { asked, cap })
        }
        AttemptError::RateLimited(_) => {
            Failure::RateLimited(RateLimitReason::Exhausted { attempts })
        }
        AttemptError::Fatal(e) => Failure::Fatal(e),
    })
}

/// Send `request` and read its answer as a stream, capped at [`MAX_BODY_BYTES`]: an answer
/// over it is `too_large(cap)` ([`AttemptError::Fatal`], never retried), at once when its
/// `Content-Length` says so, else as soon as the stream passes it, so a runaway answer is
/// never held whole. A failure to send or to read the body (reset, timeout) is
/// [`AttemptError::Transient`]. Any status comes back, 3xx included (no client follows a
/// redirect: `crate::http::redirect_refusal`), for [`verdict`] and the caller to read.
pub async fn exchange<E>(
    request: reqwest::RequestBuilder,
    too_large: impl FnOnce(u64) -> E,
) -> Result<(StatusCode, HeaderMap, bytes::Bytes), AttemptError<E>> {
    let mut response = request
        .send()
        .await
        .map_err(|e| AttemptError::Transient(describe(&e)))?;
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES)
    {
        return Err(AttemptError::Fatal(too_large(MAX_BODY_BYTES)));
    }
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| AttemptError::Transient(describe(&e)))?
    {
        if (body.len() + chunk.len()) as u64 > MAX_BODY_BYTES {
            return Err(AttemptError::Fatal(too_large(MAX_BODY_BYTES)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body.freeze()))
}

/// The retry verdict on an answer: 429 waits (for its Retry-After), 408 and 5xx (not 501)
/// back off, naming the `ININ-Correlation-Id` when there is one; `None` for any other
/// status, which the caller reads.
pub fn verdict<E>(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<AttemptError<E>> {
    if status == StatusCode::TOO_MANY_REQUESTS {
        Some(AttemptError::RateLimited(retry_after(headers, body)))
    } else if is_transient(status) {
        let correlation = headers
            .get("inin-correlation-id")
            .and_then(|v| v.to_str().ok())
            .map(|c| format!(" (ININ-Correlation-Id {c})"))
            .unwrap_or_default();
        Some(AttemptError::Transient(format!(
            "HTTP {status}{correlation}"
        )))
    } else {
        None
    }
}

/// True for statuses worth retrying: 408 and 5xx except 501.
pub fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
}

/// How long a 429 asks to wait, from the first of:
/// - `Retry-After` (seconds or an HTTP date; Microsoft Graph sends it on throttling:
///   <https://learn.microsoft.com/en-us/graph/throttling>);
/// - `inin-ratelimit-reset` (seconds, Genesys);
/// - `X-Rate-Limit-Reset` (UTC epoch seconds, Okta, which sends no `Retry-After`:
///   <https://developer.okta.com/docs/reference/rl-best-practices/>): the wait until then;
/// - a hint in the body, wherever it is: a `retryAfter` / `retry_after` / `Retry-After` key
///   at any depth of a JSON body (a number or a numeric string, in seconds), or "`[N] seconds`"
///   anywhere in the text (Genesys' `too.many.requests.retry.after`).
pub fn retry_after(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
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
            return Some(until(at.timestamp()));
        }
    }
    if let Some(secs) = header("inin-ratelimit-reset").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if let Some(at) = header("x-rate-limit-reset")
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
    {
        // Epoch seconds are whole: wait at least a second, so that a reset "now" is not
        // retried inside the same second and refused again.
        return Some(until(at).max(Duration::from_secs(1)));
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(wait) = json_hint(&json, 0)
    {
        return Some(wait);
    }
    seconds_in_text(&String::from_utf8_lossy(body))
}

/// The wait until `at` (zero when it has passed).
fn until(at: jiff::Timestamp) -> Duration {
    let wait = at.as_millisecond() - jiff::Timestamp::now().as_millisecond();
    Duration::from_millis(wait.max(0).unsigned_abs())
}

/// A `retryAfter`-like key anywhere in a JSON value (depth-bounded: bodies are untrusted).
fn json_hint(value: &serde_json::Value, depth: usize) -> Option<Duration> {
    use serde_json::Value;
    if depth > 16 {
        return None;
    }
    match value {
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| {
                let key: String = k
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect::<String>()
                    .to_ascii_lowercase();
                if !matches!(key.as_str(), "retryafter" | "retryafterseconds") {
                    return None;
                }
                match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                }
                .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
                .map(|s| Duration::from_secs_f64(s.ceil()))
            })
            .or_else(|| map.values().find_map(|v| json_hint(v, depth + 1))),
        Value::Array(items) => items.iter().find_map(|v| json_hint(v, depth + 1)),
        Value::String(s) => seconds_in_text(s),
        _ => None,
    }
}

/// "`[N] seconds`" anywhere in `text` (not only after its first `[`).
fn seconds_in_text(text: &str) -> Option<Duration> {
    text.match_indices('[').find_map(|(start, _)| {
        let rest = &text[start + 1..];
        let end = rest.find(']')?;
        let secs: u64 = rest[..end].trim().parse().ok()?;
        rest[end + 1..]
            .trim_start()
            .starts_with("second")
            .then(|| Duration::from_secs(secs))
    })
}

/// A reqwest error as one line: its kind and its innermost cause, without the URL's query.
pub fn describe(e: &reqwest::Error) -> String {
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
        // The hint is found wherever it is, not only after the body's first '['.
        let body = br#"{"errors":[{"code":"x"}],"message":"Retry the request in [9] seconds"}"#;
        assert_eq!(
            retry_after(&HeaderMap::new(), body),
            Some(Duration::from_secs(9))
        );
        let body =
            br#"{"error":{"code":"TooManyRequests","innerError":{"retryAfterSeconds":"12"}}}"#;
        assert_eq!(
            retry_after(&HeaderMap::new(), body),
            Some(Duration::from_secs(12))
        );
        let body = br#"[{"detail":{"retry_after":3}}]"#;
        assert_eq!(
            retry_after(&HeaderMap::new(), body),
            Some(Duration::from_secs(3))
        );
        assert_eq!(retry_after(&HeaderMap::new(), b"nothing"), None);

        // Okta: X-Rate-Limit-Reset is an epoch second, not a duration.
        let mut h = HeaderMap::new();
        let at = jiff::Timestamp::now().as_second() + 30;
        h.insert("x-rate-limit-reset", HeaderValue::from(at));
        let wait = retry_after(&h, b"").unwrap();
        assert!(
            wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-reset", HeaderValue::from_static("1"));
        assert_eq!(retry_after(&h, b""), Some(Duration::from_secs(1)));
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
