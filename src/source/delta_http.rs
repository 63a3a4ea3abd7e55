//! The generic delta endpoint (genesys-scim-api.md §10):
//! `GET {base}/delta/groups/members?group_id=G&since=CURSOR` with a bearer token answers
//! `{"additions": […], "removals": […], "idp_etag": "<next cursor>"}`.
//!
//! In full mode no `since` is sent: the additions are then the whole membership, and a
//! removal in such an answer is a contradiction.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{Answer, Source, SourceError, SourceRead};
use crate::endpoint::Endpoint;
use crate::model::{Cursor, Mode};
use crate::retry::{
    AttemptError, Failure, RetryPolicy, describe, is_transient, retry_after, with_retries,
};

/// A delta-endpoint reader.
pub struct DeltaHttp {
    client: reqwest::Client,
    base: Endpoint,
    token: SecretString,
    retry: RetryPolicy,
}

impl std::fmt::Debug for DeltaHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaHttp")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct DeltaBody {
    additions: Vec<String>,
    removals: Vec<String>,
    idp_etag: String,
}

impl DeltaHttp {
    /// A reader of `base` authenticating with `token`.
    pub fn new(
        base: Endpoint,
        token: SecretString,
        retry: RetryPolicy,
    ) -> Result<Self, SourceError> {
        let client = crate::target::http::build_client(Duration::from_secs(60))
            .map_err(|e| SourceError::Client(e.to_string()))?;
        Ok(Self {
            client,
            base,
            token,
            retry,
        })
    }

    async fn fetch(
        &self,
        group: &str,
        since: Option<&Cursor>,
        mode: Mode,
    ) -> Result<SourceRead, SourceError> {
        let url = self.base.join(&["delta", "groups", "members"]);
        let shown = url.to_string();
        let mut query = vec![("group_id", group.to_owned())];
        let since = match mode {
            Mode::Delta => since,
            Mode::Full => None,
        };
        if let Some(c) = since {
            query.push(("since", c.as_str().to_owned()));
        }
        let context = format!("IdP group {group:?}");
        let body = with_retries(&self.retry, &context, || async {
            let response = self
                .client
                .get(url.clone())
                .query(&query)
                .bearer_auth(self.token.expose_secret())
                .send()
                .await
                .map_err(|e| AttemptError::Transient(describe(&e)))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| AttemptError::Transient(describe(&e)))?;
            if status.as_u16() == 429 {
                return Err(AttemptError::RateLimited(retry_after(&headers, &body)));
            }
            if is_transient(status) {
                return Err(AttemptError::Transient(format!("HTTP {status}")));
            }
            if status.as_u16() == 410 {
                return Err(AttemptError::Fatal(SourceError::CursorExpired {
                    group: group.to_owned(),
                    cursor: since.map(|c| c.to_string()).unwrap_or_default(),
                }));
            }
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body);
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
            Ok(body)
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
        })?;
        let parsed: DeltaBody =
            serde_json::from_slice(&body).map_err(|e| SourceError::Unreadable {
                group: group.to_owned(),
                url: shown.clone(),
                detail: e.to_string(),
            })?;
        if parsed.idp_etag.is_empty() {
            return Err(SourceError::Unreadable {
                group: group.to_owned(),
                url: shown,
                detail: "idp_etag is empty".into(),
            });
        }
        let count = parsed.additions.len() + parsed.removals.len();
        if count > super::MAX_USERS_PER_ANSWER {
            return Err(SourceError::TooLarge {
                group: group.to_owned(),
                count,
            });
        }
        let add: BTreeSet<String> = parsed.additions.into_iter().collect();
        let remove: BTreeSet<String> = parsed.removals.into_iter().collect();
        if let Some(user) = add.intersection(&remove).next() {
            return Err(SourceError::Contradiction {
                group: group.to_owned(),
                user: user.clone(),
            });
        }
        let answer = match mode {
            Mode::Delta => Answer::Delta { add, remove },
            Mode::Full => {
                if let Some(user) = remove.into_iter().next() {
                    return Err(SourceError::Unreadable {
                        group: group.to_owned(),
                        url: shown,
                        detail: format!("a full read (no since) lists {user:?} as removed"),
                    });
                }
                Answer::Full { members: add }
            }
        };
        Ok(SourceRead {
            answer,
            cursor_to: Some(Cursor(parsed.idp_etag)),
        })
    }
}

impl Source for DeltaHttp {
    fn kind(&self) -> &'static str {
        "delta-http"
    }

    fn read<'a>(
        &'a self,
        group: &'a str,
        since: Option<&'a Cursor>,
        mode: Mode,
    ) -> BoxFuture<'a, Result<SourceRead, SourceError>> {
        self.fetch(group, since, mode).boxed()
    }
}
