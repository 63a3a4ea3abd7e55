//! Retrying a request: which failures are worth another try, how long to wait, and when to
//! give up. Shared by the SCIM client, the token fetch and the IdP sources.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
    /// The default policy, tuned by `SCIMSYNC_MAX_RETRIES`, `SCIMSYNC_MIN_BACKOFF_MS` and
    /// `SCIMSYNC_MAX_BACKOFF_MS` when set (the tests use short backoffs; so can an impatient
    /// operator).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut p = Self::default();
        let num = |name: &str| env(name).and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(n) = num("SCIMSYNC_MAX_RETRIES") {
            p.max_retries = n as usize;
        }
        if let Some(ms) = num("SCIMSYNC_MIN_BACKOFF_MS") {
            p.min_backoff = Duration::from_millis(ms);
        }
        if let Some(ms) = num("SCIMSYNC_MAX_BACKOFF_MS") {
            p.max_backoff = Duration::from_millis(ms);
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

/// Send `request` and read its whole answer; a failure to send or to read the body (reset,
/// timeout) is [`AttemptError::Transient`]. Any status comes back, for [`verdict`] and the
/// caller to read.
pub async fn exchange<E>(
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, HeaderMap, bytes::Bytes), AttemptError<E>> {
    let response = request
        .send()
        .await
        .map_err(|e| AttemptError::Transient(describe(&e)))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| AttemptError::Transient(describe(&e)))?;
    Ok((status, headers, body))
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

/// How long a 429 asks to wait: `Retry-After` (seconds or HTTP date), else
/// `inin-ratelimit-reset` (seconds), else "`[N] seconds`" in the body.
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
