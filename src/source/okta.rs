//! Okta: `GET {base}/api/v1/groups/{id}/users?limit=200`, following the `Link: <…>;
//! rel="next"` header until there is none, with `Authorization: SSWS <token>`.
//!
//! Okta has no membership delta: a listing is the whole membership (read as additions only in
//! `delta` mode, as the desired membership in `full` mode). The key of each user is its
//! `profile.login` when `user_key = "userName"`, else its Okta `id` (which Okta's own SCIM
//! provisioning writes to Genesys' `externalId`).

use std::collections::BTreeSet;

use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::fetch::{self, Auth};
use super::{Answer, MAX_USERS_PER_ANSWER, Source, SourceError, SourceRead};
use crate::endpoint::Endpoint;
use crate::model::{Cursor, Mode};
use crate::retry::RetryPolicy;
use crate::target::UserKey;

/// An Okta group reader.
#[derive(Debug)]
pub struct Okta {
    client: reqwest::Client,
    base: Endpoint,
    token: SecretString,
    user_key: UserKey,
    retry: RetryPolicy,
}

#[derive(Deserialize)]
struct OktaUser {
    id: String,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    login: Option<String>,
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(header: &str) -> Option<Url> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            p.trim()
                .replace(' ', "")
                .eq_ignore_ascii_case("rel=\"next\"")
        });
        let url = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| Url::parse(url).ok()).flatten()
    })
}

impl Okta {
    /// A reader of the Okta org at `base` with API token `token`.
    pub fn new(
        base: Endpoint,
        token: SecretString,
        user_key: UserKey,
        retry: RetryPolicy,
    ) -> Result<Self, SourceError> {
        let client = fetch::client()?;
        Ok(Self {
            client,
            base,
            token,
            user_key,
            retry,
        })
    }

    async fn fetch(&self, group: &str, mode: Mode) -> Result<SourceRead, SourceError> {
        let mut url = self.base.join(&["api", "v1", "groups", group, "users"]);
        url.query_pairs_mut().append_pair("limit", "200");
        let mut members = BTreeSet::new();
        loop {
            let (headers, body) = fetch::get(
                &self.client,
                &url,
                Auth::Ssws(self.token.expose_secret()),
                &self.retry,
                group,
                None,
            )
            .await?;
            let users: Vec<OktaUser> =
                serde_json::from_slice(&body).map_err(|e| SourceError::Unreadable {
                    group: group.to_owned(),
                    url: self.base.to_string(),
                    detail: e.to_string(),
                })?;
            for u in users {
                let key = match self.user_key {
                    UserKey::UserName => u.profile.and_then(|p| p.login).unwrap_or(u.id),
                    UserKey::Id | UserKey::ExternalId => u.id,
                };
                members.insert(key);
            }
            if members.len() > MAX_USERS_PER_ANSWER {
                return Err(SourceError::TooLarge {
                    group: group.to_owned(),
                    count: members.len(),
                });
            }
            let next = headers
                .get_all(reqwest::header::LINK)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_link);
            match next {
                Some(next) => {
                    fetch::same_origin(&next, self.base.url(), group)?;
                    url = next;
                }
                None => break,
            }
        }
        let answer = match mode {
            Mode::Full => Answer::Full { members },
            Mode::Delta => Answer::Delta {
                add: members,
                remove: BTreeSet::new(),
            },
        };
        Ok(SourceRead {
            answer,
            cursor_to: None,
        })
    }
}

impl Source for Okta {
    fn kind(&self) -> &'static str {
        "okta"
    }

    fn read<'a>(
        &'a self,
        group: &'a str,
        _since: Option<&'a Cursor>,
        mode: Mode,
    ) -> BoxFuture<'a, Result<SourceRead, SourceError>> {
        self.fetch(group, mode).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        let h = r#"<https://x.okta.com/api/v1/groups/g/users?limit=200>; rel="self", <https://x.okta.com/api/v1/groups/g/users?after=00u2&limit=200>; rel="next""#;
        assert_eq!(
            next_link(h).unwrap().as_str(),
            "https://x.okta.com/api/v1/groups/g/users?after=00u2&limit=200"
        );
        assert_eq!(next_link(r#"<https://x/a>; rel="self""#), None);
    }
}
