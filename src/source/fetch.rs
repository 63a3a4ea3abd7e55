//! One IdP request with retries: what every HTTP source shares. 429 waits (Retry-After, or
//! Okta's X-Rate-Limit-Reset), 5xx and resets back off, 410 is an expired cursor, other errors
//! fail the group's read.
//!
//! Answers are read as a stream with a byte cap ([`MAX_ANSWER_BYTES`], the one limit of
//! both sides): a runaway answer fails as soon as it passes the cap (at once when its
//! `Content-Length` says so), and memory stays bounded. The whole read of a group is bounded
//! in time by [`with_deadline`]. A redirect is never followed (it is refused, naming its
//! origin); a server's text is shown only through [`crate::http::redact`]; a paging loop
//! stops on a link it already followed ([`Pages`]).

use bytes::Bytes;
use reqwest::header::HeaderMap;
use url::Url;

use std::time::Duration;

use super::read::SourceError;
use crate::http::redact;
use crate::http::retry::{AttemptError, Failure, RetryPolicy, exchange, verdict, with_retries};

/// The most bytes one IdP answer (one page) may have: [`crate::http::MAX_BODY_BYTES`], the
/// one cap of every answer scimsync reads.
pub const MAX_ANSWER_BYTES: u64 = crate::http::MAX_BODY_BYTES;

/// Run `read`, the whole read of IdP group `group`, within `deadline`: a hung IdP fails the
/// group in bounded time instead of 60 s per attempt times every retry.
pub async fn with_deadline<T>(
    deadline: Duration,
    group: &str,
    read: impl Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or_else(|_| {
            Err(SourceError::Deadline {
                group: group.to_owned(),
                secs: deadline.as_secs_f64(),
            })
        })
}

/// The HTTP client of an IdP source.
pub fn client() -> Result<reqwest::Client, SourceError> {
    crate::http::build_client(std::time::Duration::from_secs(30))
        .map_err(|e| SourceError::Client(e.0))
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `Authorization: SSWS <token>` (Okta API tokens).
    Ssws(&'a str),
}

/// GET `url` for IdP group `group`; `cursor` names the cursor sent, for a 410's message.
/// Returns the headers and body of a 2xx answer.
pub async fn get(
    client: &reqwest::Client,
    url: &Url,
    auth: Auth<'_>,
    retry: &RetryPolicy,
    group: &str,
    cursor: Option<&str>,
) -> Result<(HeaderMap, Bytes), SourceError> {
    send(client, url, None, auth, retry, group, cursor).await
}

/// POST `body` (JSON) to `url` for IdP group `group` (a lookup such as Graph's `getByIds`).
pub async fn post_json(
    client: &reqwest::Client,
    url: &Url,
    body: &serde_json::Value,
    auth: Auth<'_>,
    retry: &RetryPolicy,
    group: &str,
) -> Result<(HeaderMap, Bytes), SourceError> {
    send(client, url, Some(body), auth, retry, group, None).await
}

async fn send(
    client: &reqwest::Client,
    url: &Url,
    json: Option<&serde_json::Value>,
    auth: Auth<'_>,
    retry: &RetryPolicy,
    group: &str,
    cursor: Option<&str>,
) -> Result<(HeaderMap, Bytes), SourceError> {
    // Never show a query string: it may hold a cursor or skip token, not needed to act.
    let mut shown = url.clone();
    shown.set_query(None);
    let shown = shown.to_string();
    let context = format!("IdP group {group:?}");
    with_retries(retry, &context, || async {
        let request = match json {
            Some(body) => client.post(url.clone()).json(body),
            None => client.get(url.clone()),
        };
        let request = match auth {
            Auth::Bearer(t) => {
                redact::remember(t);
                request.bearer_auth(t)
            }
            Auth::Ssws(t) => {
                redact::remember(t);
                request.header(reqwest::header::AUTHORIZATION, format!("SSWS {t}"))
            }
        };
        let (status, headers, body) = exchange(request, |cap| SourceError::AnswerTooLarge {
            group: group.to_owned(),
            url: shown.clone(),
            cap,
        })
        .await?;
        if let Some(refusal) = crate::http::redirect_refusal(status, &headers, url) {
            return Err(AttemptError::Fatal(SourceError::Status {
                group: group.to_owned(),
                url: shown.clone(),
                status: status.as_u16(),
                detail: format!(" {refusal}"),
            }));
        }
        if let Some(retry) = verdict(status, &headers, &body) {
            return Err(retry);
        }
        let text = String::from_utf8_lossy(&body);
        // 410, or an error answer carrying Graph's code for an expired delta link. Only error
        // answers: a page of members may hold any text.
        let expired =
            status.as_u16() == 410 || (!status.is_success() && text.contains("syncStateNotFound"));
        if expired {
            return Err(AttemptError::Fatal(SourceError::CursorExpired {
                group: group.to_owned(),
                cursor: cursor.unwrap_or("(none)").chars().take(80).collect(),
            }));
        }
        if !status.is_success() {
            let detail: String = redact::redact(&text.chars().take(200).collect::<String>());
            return Err(AttemptError::Fatal(SourceError::Status {
                group: group.to_owned(),
                url: shown.clone(),
                status: status.as_u16(),
                detail: if detail.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", detail.trim())
                },
            }));
        }
        Ok((headers, body))
    })
    .await
    .map_err(|f| match f {
        Failure::GaveUp { detail, attempts } => SourceError::Unreachable {
            group: group.to_owned(),
            detail,
            attempts,
        },
        Failure::RateLimited(reason) => SourceError::RateLimited {
            group: group.to_owned(),
            reason,
        },
        Failure::Fatal(e) => e,
    })
}

/// A next-page URL must stay on the IdP's origin: a token is never sent anywhere else.
pub fn same_origin(next: &Url, base: &Url, group: &str) -> Result<(), SourceError> {
    if next.origin() == base.origin() {
        Ok(())
    } else {
        Err(SourceError::Unreadable {
            group: group.to_owned(),
            url: base.to_string(),
            detail: format!(
                "a next-page link points to another origin ({}); refusing to send the token there",
                next.origin().ascii_serialization()
            ),
        })
    }
}

/// The links a paging loop has followed: a next link it already followed (a self-pointing
/// `next`, a cycle) stops the read instead of asking again until the deadline.
#[derive(Debug, Default)]
pub struct Pages {
    followed: std::collections::HashSet<String>,
}

impl Pages {
    /// Note `next` as followed; an error naming the link's kind (`what`) when it was before.
    pub fn follow(&mut self, next: &Url, what: &str, group: &str) -> Result<(), SourceError> {
        if self.followed.insert(next.as_str().to_owned()) {
            return Ok(());
        }
        let mut shown = next.clone();
        shown.set_query(None);
        Err(SourceError::Unreadable {
            group: group.to_owned(),
            url: shown.to_string(),
            detail: format!(
                "the {what} points to a page already read (after {} pages); a listing that does not end is not believed",
                self.followed.len()
            ),
        })
    }
}
