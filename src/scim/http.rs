//! The HTTP policy every SCIM request goes through: authentication, pacing, a bound on
//! requests in flight, and retries (the retry rules themselves are in [`crate::http::retry`]).
//!
//! - **429** waits for `Retry-After` (seconds or an HTTP date), else `inin-ratelimit-reset`,
//!   else the "`[N] seconds`" of Genesys' error text, else exponential backoff; a wait over
//!   [`RetryPolicy::max_retry_after`] is not waited out (the Go SDK gives up past 180 s too).
//! - **5xx** (not 501), **408**, connection resets and timeouts back off exponentially with
//!   jitter, at most [`RetryPolicy::max_retries`] times. A PATCH is retried too: it carries
//!   `If-Match`, so a retry can never apply twice over a change made in between. Its reply is
//!   marked [`Reply::uncertain`] so the caller knows that an earlier attempt may have landed.
//! - **401** refreshes the token once and repeats the request.
//! - **Pacing**: requests go out evenly at `requests_per_minute`; when the server's
//!   `inin-ratelimit-count` / `-allowed` / `-reset` headers show its window nearly full, the
//!   next requests wait for its reset (the limit Genesys enforces can be lower than 300).
//! - **3xx** is never followed (no client of scimsync follows redirects): a GET's fails as
//!   [`ScimError::Redirected`], naming the status and the `Location`'s origin; a PATCH's
//!   goes back to the caller, which settles the write by a re-read.
//! - Every answer is read capped at [`crate::http::MAX_BODY_BYTES`] ([`ScimError::TooLarge`]),
//!   and all attempts of one request together within [`RetryPolicy::budget`].
//! - Everything else is handed back to the caller as a [`Reply`] to interpret.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, IF_MATCH};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;
use url::Url;

use super::error::ScimError;
use super::wire::SCIM_JSON;
use crate::http::auth::{Token, TokenSource, Tried};
use crate::http::retry::{AttemptError, RetryPolicy, exchange, verdict, with_retries};

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
            timeout: Duration::from_secs(30),
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
    /// A JSON body.
    pub body: Option<Bytes>,
    /// The body's media type: SCIM's (`application/scim+json`), or `application/json` for
    /// the Platform API (what its SDKs send).
    pub content_type: &'static str,
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
            body: None,
            content_type: SCIM_JSON,
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

/// The SCIM HTTP client: token, pacing, concurrency bound, retries.
pub struct Http {
    client: reqwest::Client,
    tokens: TokenSource,
    retry: RetryPolicy,
    pacer: Pacer,
    permits: Semaphore,
    concurrency: usize,
    /// No request before this instant: set when the server's `inin-ratelimit-*` headers say
    /// its window is (nearly) used up.
    not_before: std::sync::Mutex<Option<tokio::time::Instant>>,
}

/// Requests evenly spaced, one every `period` (a burst of one): what keeps a server-side
/// sliding window from ever seeing more than the configured rate.
///
/// Each request takes the next free slot (now, or one period after the last slot taken) and
/// sleeps on tokio's timer until it: no clock or timer thread of its own (the `governor`
/// crate's `until_ready` ran on `futures-timer`'s thread, a wake-up and a context switch
/// per request), and no polling.
///
/// tokio's timer wakes on millisecond ticks, so a shorter wait lasts until the next tick.
/// At rates over 60,000 a minute (a period under one tick: servers without a limit), a slot
/// less than a tick away therefore goes at once instead of costing each burst a wake-up
/// for nothing (a third of a small request's client CPU at 20 ms latency); the slots stay
/// where they were, so a window then sees at most one tick's worth of requests more than
/// the rate. At any slower rate, every wait is kept.
#[derive(Debug)]
struct Pacer {
    period: Duration,
    next: std::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(period: Duration) -> Self {
        Self {
            period,
            next: std::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Wait for this request's slot.
    async fn ready(&self) {
        if let Some(slot) = self.take_slot(tokio::time::Instant::now()) {
            tokio::time::sleep_until(slot).await;
        }
    }

    /// Take the next free slot as of `now`: the instant to wait for, or `None` to go at once.
    fn take_slot(&self, now: tokio::time::Instant) -> Option<tokio::time::Instant> {
        let slot = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = (*next).max(now);
            *next = slot + self.period;
            slot
        };
        let below_tick = self.period < TICK && slot.saturating_duration_since(now) < TICK;
        (slot > now && !below_tick).then_some(slot)
    }
}

/// The resolution of tokio's timer.
const TICK: Duration = Duration::from_millis(1);

/// What the `inin-ratelimit-*` headers say: requests counted in the window, allowed, and
/// seconds until the window resets.
fn window(headers: &HeaderMap) -> Option<(u64, u64, u64)> {
    let num = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    Some((
        num("inin-ratelimit-count")?,
        num("inin-ratelimit-allowed")?,
        num("inin-ratelimit-reset")?,
    ))
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
    /// A client with these settings, authenticating with `tokens`, sending through `client`
    /// (made by `http::build_client`; one per process: each one made loads and parses the
    /// system's root certificates again).
    pub fn new(settings: &HttpSettings, tokens: TokenSource, client: reqwest::Client) -> Self {
        let rpm = settings.requests_per_minute.max(1);
        let period = Duration::from_secs_f64(60.0 / f64::from(rpm));
        Self {
            client,
            tokens,
            retry: settings.retry.clone(),
            pacer: Pacer::new(period),
            permits: Semaphore::new(settings.concurrency.max(1)),
            concurrency: settings.concurrency.max(1),
            not_before: std::sync::Mutex::new(None),
        }
    }

    /// Send `call` under the policy; any final status comes back as a [`Reply`].
    pub async fn send(&self, call: &Call<'_>) -> Result<Reply, ScimError> {
        let uncertain = AtomicBool::new(false);
        with_retries(&self.retry, call.context, || self.attempt(call, &uncertain))
            .await
            .map_err(|f| f.into_scim(call.context))
    }

    async fn attempt(
        &self,
        call: &Call<'_>,
        uncertain: &AtomicBool,
    ) -> Result<Reply, AttemptError<ScimError>> {
        self.tokens
            .with_fresh_token(&self.client, &self.retry, call.context, async |token| {
                self.attempt_with(call, uncertain, token).await
            })
            .await
            .map_err(|e| AttemptError::Fatal(e.into()))?
            .into_inner()
    }

    /// One try of `call` with `token`: paced, within the server's window and `concurrency`.
    async fn attempt_with(
        &self,
        call: &Call<'_>,
        uncertain: &AtomicBool,
        token: &Token,
    ) -> Tried<Result<Reply, AttemptError<ScimError>>> {
        self.pacer.ready().await;
        let wait = *self
            .not_before
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(at) = wait.filter(|at| *at > tokio::time::Instant::now()) {
            tracing::debug!(
                "{}: the server's rate-limit window is full; waiting",
                call.context
            );
            tokio::time::sleep_until(at).await;
        }
        let permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        crate::http::redact::remember(token.secret.expose_secret());
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
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, call.content_type)
                .body(body.clone());
        }
        let started = std::time::Instant::now();
        let exchanged = exchange(request, |cap| ScimError::TooLarge {
            context: call.context.to_owned(),
            cap,
        })
        .await;
        drop(permit);
        log_request(
            call,
            exchanged.as_ref().ok().map(|(s, h, _)| (*s, h)),
            started,
        );
        let (status, headers, body) = match exchanged {
            Ok(answer) => answer,
            Err(e) => {
                uncertain.store(true, Ordering::Relaxed);
                return Tried::Answered(Err(e));
            }
        };
        // Genesys reports its own window (its limit may be lower than the configured rate,
        // e.g. 180 or 200 a minute): when the requests in flight could fill it, wait for its
        // reset instead of drawing a 429.
        if let Some((count, allowed, reset)) = window(&headers)
            && count + self.concurrency as u64 >= allowed
        {
            let at = tokio::time::Instant::now() + Duration::from_secs(reset.max(1));
            *self
                .not_before
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(at);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Tried::Unauthorized(Err(AttemptError::Fatal(ScimError::Auth(
                self.tokens.refused(call.context),
            ))));
        }
        if let Some(refusal) = crate::http::redirect_refusal(status, &headers, &call.url) {
            // No redirect is followed. A PATCH's goes back to the caller, whose re-read
            // settles what the write did; any other request fails here.
            tracing::warn!("{}: HTTP {} {refusal}", call.context, status.as_u16());
            if call.method != Method::PATCH {
                return Tried::Answered(Err(AttemptError::Fatal(ScimError::Redirected {
                    context: call.context.to_owned(),
                    status: status.as_u16(),
                    refusal,
                })));
            }
        }
        if let Some(retry) = verdict(status, &headers, &body) {
            // A 5xx may have come after the change was made; a 429 was never processed.
            if matches!(retry, AttemptError::Transient(_)) {
                uncertain.store(true, Ordering::Relaxed);
            }
            return Tried::Answered(Err(retry));
        }
        Tried::Answered(Ok(Reply {
            status,
            headers,
            body,
            uncertain: uncertain.load(Ordering::Relaxed),
        }))
    }
}

/// One line per request at `-vv`: method, path (never the query: it can hold user keys),
/// status, milliseconds and Genesys' correlation id. Never a header value that is a secret.
fn log_request(
    call: &Call<'_>,
    answer: Option<(StatusCode, &HeaderMap)>,
    started: std::time::Instant,
) {
    let ms = started.elapsed().as_millis();
    let (method, path) = (&call.method, call.url.path());
    if let Some((status, headers)) = answer {
        let correlation = headers
            .get("inin-correlation-id")
            .and_then(|v| v.to_str().ok())
            .map(|id| format!(" ININ-Correlation-Id {id}"))
            .unwrap_or_default();
        tracing::trace!("{method} {path} {} {ms} ms{correlation}", status.as_u16());
    } else {
        tracing::trace!("{method} {path} no response {ms} ms");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots under a tick apart go at once (their rate still holds to a tick's worth of
    /// requests); a slot a tick or more away is waited for, and so is every slot of a rate
    /// of one tick a request (60,000 a minute) or slower.
    #[test]
    fn the_pacer_waits_for_every_slot_a_tick_or_more_away() {
        let fast = Pacer::new(Duration::from_micros(100));
        let t0 = tokio::time::Instant::now();
        for _ in 0..10 {
            assert_eq!(fast.take_slot(t0), None, "ten slots within one tick");
        }
        assert_eq!(fast.take_slot(t0), Some(t0 + TICK));

        for period in [TICK, Duration::from_millis(10)] {
            let slow = Pacer::new(period);
            let t0 = tokio::time::Instant::now();
            assert_eq!(slow.take_slot(t0), None);
            assert_eq!(slow.take_slot(t0), Some(t0 + period));
            assert_eq!(slow.take_slot(t0), Some(t0 + period * 2));
        }
    }
}
