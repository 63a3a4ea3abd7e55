//! One IdP GET with retries: what every HTTP source shares. 429 waits (Retry-After), 5xx and
//! resets back off, 410 is an expired cursor, other errors fail the group's read.

use bytes::Bytes;
use reqwest::header::HeaderMap;
use url::Url;

use super::SourceError;
use crate::retry::{AttemptError, Failure, RetryPolicy, exchange, verdict, with_retries};

/// The HTTP client of an IdP source.
pub fn client() -> Result<reqwest::Client, SourceError> {
    crate::target::http::build_client(std::time::Duration::from_secs(60))
        .map_err(|e| SourceError::Client(e.to_string()))
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
    // Never show a query string: it may hold a cursor or skip token, not needed to act.
    let mut shown = url.clone();
    shown.set_query(None);
    let shown = shown.to_string();
    let context = format!("IdP group {group:?}");
    with_retries(retry, &context, || async {
        let request = client.get(url.clone());
        let request = match auth {
            Auth::Bearer(t) => request.bearer_auth(t),
            Auth::Ssws(t) => request.header(reqwest::header::AUTHORIZATION, format!("SSWS {t}")),
        };
        let (status, headers, body) = exchange(request).await?;
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
            let detail: String = text.chars().take(200).collect();
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
