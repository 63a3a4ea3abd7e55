//! The generic delta endpoint (genesys-scim-api.md §10):
//! `GET {base}/delta/groups/members?group_id=G&since=CURSOR` with a bearer token answers
//! `{"additions": […], "removals": […], "idp_etag": "<next cursor>"}`.
//!
//! In full mode no `since` is sent: the additions are then the whole membership, and a
//! removal in such an answer is a contradiction.

use crate::model::IdpKey;
use std::collections::BTreeSet;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::fetch;
use super::read::{MAX_USERS_PER_ANSWER, SourceError, SourceRead};
use crate::endpoint::Endpoint;
use crate::http::retry::RetryPolicy;
use crate::model::Answer;
use crate::model::{Cursor, Mode};

/// A delta-endpoint reader.
#[derive(Debug)]
pub struct DeltaHttp {
    client: reqwest::Client,
    base: Endpoint,
    token: SecretString,
    retry: RetryPolicy,
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
        Ok(Self::with_client(fetch::client()?, base, token, retry))
    }

    /// [`DeltaHttp::new`] sending through `client` (the process's one HTTP client).
    pub fn with_client(
        client: reqwest::Client,
        base: Endpoint,
        token: SecretString,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            client,
            base,
            token,
            retry,
        }
    }

    /// Read group `group`: the changes since `since` (everything, as additions, when `None`).
    pub async fn read(
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
        let mut url = url;
        url.query_pairs_mut().extend_pairs(&query);
        let (_, body) = fetch::get(
            &self.client,
            &url,
            fetch::Auth::Bearer(self.token.expose_secret()),
            &self.retry,
            group,
            since.map(Cursor::as_str),
        )
        .await?;
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
        if count > MAX_USERS_PER_ANSWER {
            return Err(SourceError::TooLarge {
                group: group.to_owned(),
                count,
            });
        }
        let add: BTreeSet<IdpKey> = parsed.additions.into_iter().map(IdpKey).collect();
        let remove: BTreeSet<IdpKey> = parsed.removals.into_iter().map(IdpKey).collect();
        if let Some(user) = add.intersection(&remove).next() {
            return Err(SourceError::Contradiction {
                group: group.to_owned(),
                user: user.to_string(),
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
