//! The middleware around every route: authentication, the per-token rate limit, scripted
//! and random faults (answer, delay, drop before or after commit), and the journal.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::faults::{FaultAction, Record, Route};
use super::lies;
use super::paths::route_of;
use super::reply::{bearer, platform_error};
use super::state::Emu;

/// A per-connection signal: notified, the connection is closed without an answer.
#[derive(Clone, Debug)]
pub(crate) struct ConnKill(pub(crate) Arc<Notify>);

/// Authentication, rate limit, scripted faults and the journal, around every route.
#[allow(
    clippy::too_many_lines,
    reason = "the order of the gates is the behaviour: auth, rate limit, faults, journal"
)]
pub(super) async fn observe(State(emu): State<Emu>, mut request: Request, next: Next) -> Response {
    let route = route_of(
        request.method(),
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    emu.arrive(route);
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let if_match = request
        .headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let kill = request.extensions().get::<ConnKill>().cloned();
    let token = bearer(request.headers());
    let at = emu.lock().faults.elapsed();
    let mut record = Pending {
        emu: emu.clone(),
        record: Some(Record {
            route,
            path,
            query,
            status: 0,
            dropped: false,
            ignored: false,
            if_match,
            etag: None,
            body: None,
            at,
        }),
    };

    let latency = emu.lock().options.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = emu.lock().faults.take(route);
    let mut drop_after = false;
    let mut rewrite = None;
    match fault {
        Some(FaultAction::Redirect { status, location }) => {
            return finish(record, lies::redirect(status, &location));
        }
        Some(FaultAction::EchoHeaders) => {
            return finish(record, lies::echo_headers(request.headers()));
        }
        Some(FaultAction::HugeBody(bytes)) => return finish(record, lies::huge_body(&emu, bytes)),
        Some(FaultAction::Stall) => {
            // Accepted and never answered: the client's own timeouts are what ends this.
            return std::future::pending().await;
        }
        Some(FaultAction::WrongId(id)) => rewrite = Some(lies::Rewrite::Id(id)),
        Some(FaultAction::LyingList) => {
            *request.uri_mut() = lies::without_start_index(request.uri());
            rewrite = Some(lies::Rewrite::Total);
        }
        Some(FaultAction::SelfNext) => {
            let self_url = lies::own_url(request.headers(), request.uri());
            rewrite = Some(lies::Rewrite::SelfNext { self_url });
        }
        Some(FaultAction::Status {
            status,
            retry_after,
        }) => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response =
                platform_error(code, "injected.fault", "fault injected by the emulator");
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return finish(record, response);
        }
        Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultAction::Drop) => {
            record.push(|r| r.dropped = true);
            return hang_up(kill).await;
        }
        Some(FaultAction::CommitThenDrop) => drop_after = true,
        Some(FaultAction::ExpireTokens) => emu.expire_tokens(),
        Some(FaultAction::IgnoreWrite) => {
            request.extensions_mut().insert(super::faults::IgnoreWrite);
            record.edit(|r| r.ignored = true);
        }
        None => {}
    }

    let mut limit_headers = None;
    if route.is_api() {
        let mut state = emu.lock();
        let valid = token
            .as_ref()
            .and_then(|t| state.tokens.get(t))
            .is_some_and(|expiry| Instant::now() < *expiry);
        if !valid {
            drop(state);
            let response = platform_error(
                StatusCode::UNAUTHORIZED,
                "bad.credentials",
                "Invalid login credentials.",
            );
            return finish(record, response);
        }
        if let Some(limit) = state.options.rate_limit {
            let window = state
                .faults
                .check_rate(token.as_deref().unwrap_or(""), limit);
            limit_headers = Some(window);
            if window.limited {
                drop(state);
                let mut response = platform_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too.many.requests.retry.after",
                    format!(
                        "Rate limit exceeded the maximum. Retry the request in [{}] seconds",
                        window.reset_secs
                    ),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(window.reset_secs));
                add_limit_headers(&mut response, window);
                return finish(record, response);
            }
        }
    }

    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    if route == Route::GroupPatch {
        record.edit(|r| r.body = Some(String::from_utf8_lossy(&body).into_owned()));
    }
    let request = Request::from_parts(parts, axum::body::Body::from(body));
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    emu.add_busy(started.elapsed());
    if let Some(how) = rewrite {
        response = lies::rewrite(response, how).await;
    }
    if let Some(window) = limit_headers {
        add_limit_headers(&mut response, window);
    }
    if drop_after {
        let (status, etag) = (response.status().as_u16(), etag_header(&response));
        record.push(|r| {
            r.status = status;
            r.etag = etag;
            r.dropped = true;
        });
        return hang_up(kill).await;
    }
    finish(record, response)
}

fn etag_header(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A request's journal entry, written when it is answered, or (with `dropped`) when the
/// client went away first and the handler's future was dropped.
struct Pending {
    emu: Emu,
    record: Option<Record>,
}

impl Pending {
    fn edit(&mut self, f: impl FnOnce(&mut Record)) {
        if let Some(r) = self.record.as_mut() {
            f(r);
        }
    }

    fn push(&mut self, f: impl FnOnce(&mut Record)) {
        if let Some(mut r) = self.record.take() {
            f(&mut r);
            self.emu.record(r);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.push(|r| r.dropped = true);
    }
}

fn finish(mut record: Pending, mut response: Response) -> Response {
    let (status, etag) = (response.status().as_u16(), etag_header(&response));
    record.push(|r| {
        r.status = status;
        r.etag = etag;
    });
    let correlation = format!("emu-{:08x}", rand::random::<u32>());
    if let Ok(v) = HeaderValue::from_str(&correlation) {
        response.headers_mut().insert("inin-correlation-id", v);
    }
    response
}

fn add_limit_headers(response: &mut Response, window: super::faults::Window) {
    let h = response.headers_mut();
    h.insert("inin-ratelimit-count", HeaderValue::from(window.count));
    h.insert("inin-ratelimit-allowed", HeaderValue::from(window.allowed));
    h.insert("inin-ratelimit-reset", HeaderValue::from(window.reset_secs));
}

/// Close this request's connection without an answer.
async fn hang_up(kill: Option<ConnKill>) -> Response {
    match kill {
        Some(ConnKill(notify)) => {
            notify.notify_one();
            std::future::pending().await
        }
        // Served without `serve` (no connection to close): the closest is an empty 502.
        None => StatusCode::BAD_GATEWAY.into_response(),
    }
}
