//! Okta: `GET {base}/api/v1/groups/{id}/users?limit=200`, following the `Link: <…>;
//! rel="next"` header until there is none, with `Authorization: SSWS <token>`
//! (<https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Group/#tag/Group/operation/listGroupUsers>,
//! paging: <https://developer.okta.com/docs/api/#pagination>).
//!
//! Okta has no membership delta: a listing is the whole membership (read as additions only in
//! `delta` mode, as the desired membership in `full` mode).
//!
//! **Keys.** Genesys Cloud's Okta app sets "Application username format: Email", so a user's
//! Genesys `userName` is its Okta `profile.email`, which may differ from `profile.login`. The
//! key is `profile.email` by default; `user_attribute = "login" | "id"` chooses another.
//!
//! **Status.** A deactivated user stays in its Okta groups with status `DEPROVISIONED`
//! (<https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/>, user
//! `status`). Only `ACTIVE`, `PASSWORD_EXPIRED`, `LOCKED_OUT` and `RECOVERY` are working
//! accounts and desired; `DEPROVISIONED`, `SUSPENDED`, `STAGED`, `PROVISIONED` (and any status
//! Okta may add) are left out of the answer.
//!
//! **Rate limits.** Okta's 429 carries `X-Rate-Limit-Reset` (UTC epoch seconds) and no
//! `Retry-After` (<https://developer.okta.com/docs/reference/rl-best-practices/>):
//! [`crate::http::retry::retry_after`] waits until the reset, within the retry policy's cap.

use crate::model::IdpKey;
use std::collections::BTreeSet;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::fetch::{self, Auth};
use super::read::{MAX_USERS_PER_ANSWER, SourceError, SourceRead};
use crate::endpoint::Endpoint;
use crate::http::retry::RetryPolicy;
use crate::model::Answer;
use crate::model::OktaUserAttribute;

/// An Okta group reader.
#[derive(Debug)]
pub struct Okta {
    client: reqwest::Client,
    base: Endpoint,
    token: SecretString,
    attribute: OktaUserAttribute,
    retry: RetryPolicy,
}

#[derive(Deserialize)]
struct OktaUser {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    login: Option<String>,
    email: Option<String>,
}

/// Whether an Okta user `status` is a working account: `ACTIVE`, and the states of an active
/// account needing attention (`PASSWORD_EXPIRED`, `LOCKED_OUT`, `RECOVERY`).
pub fn is_working(status: &str) -> bool {
    matches!(
        status,
        "ACTIVE" | "PASSWORD_EXPIRED" | "LOCKED_OUT" | "RECOVERY"
    )
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
        attribute: OktaUserAttribute,
        retry: RetryPolicy,
    ) -> Result<Self, SourceError> {
        Ok(Self::with_client(
            fetch::client()?,
            base,
            token,
            attribute,
            retry,
        ))
    }

    /// [`Okta::new`] sending through `client` (the process's one HTTP client).
    pub fn with_client(
        client: reqwest::Client,
        base: Endpoint,
        token: SecretString,
        attribute: OktaUserAttribute,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            client,
            base,
            token,
            attribute,
            retry,
        }
    }

    /// Read group `group`'s whole membership (Okta has no membership delta).
    pub async fn read(&self, group: &str) -> Result<SourceRead, SourceError> {
        let mut url = self.base.join(&["api", "v1", "groups", group, "users"]);
        url.query_pairs_mut().append_pair("limit", "200");
        let mut members = BTreeSet::new();
        let mut left_out = std::collections::BTreeMap::<String, usize>::new();
        let mut pages = fetch::Pages::default();
        loop {
            pages.follow(&url, "Link rel=\"next\"", group)?;
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
                let status = u.status.unwrap_or_default();
                if !is_working(&status) {
                    *left_out.entry(status).or_default() += 1;
                    continue;
                }
                let profile = u.profile.unwrap_or(Profile {
                    login: None,
                    email: None,
                });
                let key = match self.attribute {
                    OktaUserAttribute::Email => profile.email,
                    OktaUserAttribute::Login => profile.login,
                    OktaUserAttribute::Id => Some(u.id.clone()),
                };
                match key.filter(|k| !k.trim().is_empty()) {
                    Some(key) => {
                        members.insert(IdpKey(key));
                    }
                    None => {
                        return Err(SourceError::Unreadable {
                            group: group.to_owned(),
                            url: self.base.to_string(),
                            detail: format!(
                                "user {} has no profile.{} (source.user_attribute = {:?})",
                                u.id,
                                self.attribute.as_str(),
                                self.attribute.as_str()
                            ),
                        });
                    }
                }
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
        if !left_out.is_empty() {
            let counts: Vec<String> = left_out
                .iter()
                .map(|(status, n)| format!("{n} {status}"))
                .collect();
            tracing::info!(
                "IdP group {group:?}: left out users that are not working Okta accounts: {}",
                counts.join(", ")
            );
        }
        Ok(SourceRead {
            answer: Answer::Full { members },
            cursor_to: None,
        })
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

    #[test]
    fn only_working_accounts_are_desired() {
        for s in ["ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"] {
            assert!(is_working(s), "{s}");
        }
        for s in [
            "DEPROVISIONED",
            "SUSPENDED",
            "STAGED",
            "PROVISIONED",
            "",
            "active",
        ] {
            assert!(!is_working(s), "{s}");
        }
    }
}
