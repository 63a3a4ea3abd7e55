//! Microsoft Graph (Entra ID): `GET {base}/groups/delta?$select=members&$filter=id eq '<id>'`,
//! following `@odata.nextLink` until a page carries `@odata.deltaLink`, which is the cursor
//! to keep. Members with `@removed` are removals, others additions; one group's
//! `members@delta` is merged across pages.
//!
//! Authentication is app-only: client credentials against the Microsoft identity platform
//! (`POST {login_base}/{tenant}/oauth2/v2.0/token`, scope `https://graph.microsoft.com/.default`).
//!
//! A delta link expires after about 7 days: Graph then answers `syncStateNotFound` (410),
//! which fails the group's read with the way out: `scimsync state reset --group NAME`, after
//! which the next plan reads the whole membership (as additions only in delta mode).

use std::collections::BTreeSet;

use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::fetch::{self, Auth};
use super::{Answer, MAX_USERS_PER_ANSWER, Source, SourceError, SourceRead};
use crate::endpoint::Endpoint;
use crate::model::{Cursor, Mode};
use crate::retry::RetryPolicy;

/// Where and how to authenticate.
#[derive(Debug, Clone)]
pub struct GraphAuth {
    /// The identity platform (`https://login.microsoftonline.com`).
    pub login_base: Endpoint,
    /// The tenant id or domain.
    pub tenant: String,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: SecretString,
}

/// A Graph group-delta reader.
#[derive(Debug)]
pub struct Graph {
    client: reqwest::Client,
    base: Endpoint,
    auth: GraphAuth,
    retry: RetryPolicy,
    token: Mutex<Option<SecretString>>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    value: Vec<GroupDelta>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

#[derive(Deserialize)]
struct GroupDelta {
    id: String,
    #[serde(rename = "members@delta", default)]
    members: Vec<MemberDelta>,
}

#[derive(Deserialize)]
struct MemberDelta {
    id: String,
    #[serde(rename = "@odata.type", default)]
    kind: Option<String>,
    #[serde(rename = "@removed", default)]
    removed: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<String>,
}

impl Graph {
    /// A reader of Graph at `base` (e.g. `https://graph.microsoft.com/v1.0`).
    pub fn new(base: Endpoint, auth: GraphAuth, retry: RetryPolicy) -> Result<Self, SourceError> {
        let client = fetch::client()?;
        Ok(Self {
            client,
            base,
            auth,
            retry,
            token: Mutex::new(None),
        })
    }

    async fn token(&self, group: &str) -> Result<SecretString, SourceError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            return Ok(t.clone());
        }
        let url = self
            .auth
            .login_base
            .join(&[&self.auth.tenant, "oauth2", "v2.0", "token"]);
        let response = self
            .client
            .post(url.clone())
            .form(&[
                ("client_id", self.auth.client_id.as_str()),
                ("client_secret", self.auth.client_secret.expose_secret()),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .map_err(|e| SourceError::Unreachable {
                group: group.to_owned(),
                detail: format!("the token endpoint {url}: {}", crate::retry::describe(&e)),
                attempts: 1,
            })?;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        let token = serde_json::from_slice::<TokenBody>(&body)
            .ok()
            .and_then(|b| b.access_token)
            .filter(|_| status.is_success())
            .ok_or_else(|| SourceError::Status {
                group: group.to_owned(),
                url: url.to_string(),
                status: status.as_u16(),
                detail: format!(
                    ": the Microsoft identity platform refused app {} in tenant {}; check the app's client id and secret, and that it has the GroupMember.Read.All application permission",
                    self.auth.client_id, self.auth.tenant
                ),
            })?;
        let token = SecretString::from(token);
        *cached = Some(token.clone());
        Ok(token)
    }

    async fn fetch(
        &self,
        group: &str,
        since: Option<&Cursor>,
        mode: Mode,
    ) -> Result<SourceRead, SourceError> {
        let token = self.token(group).await?;
        let since = match mode {
            Mode::Delta => since,
            Mode::Full => None,
        };
        let mut url = match since {
            Some(link) => {
                let url = Url::parse(link.as_str()).map_err(|e| SourceError::Unreadable {
                    group: group.to_owned(),
                    url: self.base.to_string(),
                    detail: format!("the stored delta link is not a URL ({e})"),
                })?;
                fetch::same_origin(&url, self.base.url(), group)?;
                url
            }
            None => {
                let mut url = self.base.join(&["groups", "delta"]);
                url.query_pairs_mut()
                    .append_pair("$select", "members")
                    .append_pair("$filter", &format!("id eq '{}'", group.replace('\'', "''")));
                url
            }
        };
        let (mut add, mut remove) = (BTreeSet::new(), BTreeSet::new());
        loop {
            let (_, body) = fetch::get(
                &self.client,
                &url,
                Auth::Bearer(token.expose_secret()),
                &self.retry,
                group,
                since.map(Cursor::as_str),
            )
            .await?;
            let page: Page =
                serde_json::from_slice(&body).map_err(|e| SourceError::Unreadable {
                    group: group.to_owned(),
                    url: self.base.to_string(),
                    detail: e.to_string(),
                })?;
            for g in page.value.into_iter().filter(|g| g.id == group) {
                for m in g.members {
                    if m.kind
                        .as_deref()
                        .is_some_and(|k| k != "#microsoft.graph.user")
                    {
                        continue;
                    }
                    if m.removed.is_some() {
                        add.remove(&m.id);
                        remove.insert(m.id);
                    } else {
                        remove.remove(&m.id);
                        add.insert(m.id);
                    }
                }
            }
            if add.len() + remove.len() > MAX_USERS_PER_ANSWER {
                return Err(SourceError::TooLarge {
                    group: group.to_owned(),
                    count: add.len() + remove.len(),
                });
            }
            match (page.next_link, page.delta_link) {
                (Some(next), _) => {
                    let next = Url::parse(&next).map_err(|e| SourceError::Unreadable {
                        group: group.to_owned(),
                        url: self.base.to_string(),
                        detail: format!("@odata.nextLink is not a URL ({e})"),
                    })?;
                    fetch::same_origin(&next, self.base.url(), group)?;
                    url = next;
                }
                (None, Some(delta)) => {
                    let answer = match mode {
                        Mode::Delta => Answer::Delta { add, remove },
                        Mode::Full => {
                            if let Some(user) = remove.into_iter().next() {
                                return Err(SourceError::Unreadable {
                                    group: group.to_owned(),
                                    url: self.base.to_string(),
                                    detail: format!("a full read lists {user:?} as removed"),
                                });
                            }
                            Answer::Full { members: add }
                        }
                    };
                    return Ok(SourceRead {
                        answer,
                        cursor_to: Some(Cursor(delta)),
                    });
                }
                (None, None) => {
                    return Err(SourceError::Unreadable {
                        group: group.to_owned(),
                        url: self.base.to_string(),
                        detail: "a page with neither @odata.nextLink nor @odata.deltaLink".into(),
                    });
                }
            }
        }
    }
}

impl Source for Graph {
    fn kind(&self) -> &'static str {
        "graph"
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
