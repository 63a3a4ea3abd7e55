//! Microsoft Graph (Entra ID): `GET {base}/groups/delta?$select=members&$filter=id eq '<id>'`,
//! following `@odata.nextLink` until a page carries `@odata.deltaLink`, which is the cursor
//! to keep (<https://learn.microsoft.com/en-us/graph/api/group-delta?view=graph-rest-1.0>).
//! One group's `members@delta` is merged across pages.
//!
//! **Keys.** `members@delta` names members by object id only (`id`, `@odata.type`,
//! `@removed`). The IdP keys stay those object ids: the state's mirror and resolution cache
//! are keyed by them, so a later delta naming only an object id still finds its user.
//! [`super::Source::describe_users`] turns them into what Genesys knows: Entra's Genesys Cloud app
//! provisions Genesys `userName` from `userPrincipalName` and maps no `externalId`
//! (<https://learn.microsoft.com/en-us/entra/identity/saas-apps/purecloud-by-genesys-provisioning-tutorial>),
//! so it asks `POST {base}/directoryObjects/getByIds` (`types: ["user"]`, at most 1,000 ids a
//! call, `$select` for `accountEnabled`, which v1.0 leaves out by default:
//! <https://learn.microsoft.com/en-us/graph/api/directoryobject-getbyids?view=graph-rest-1.0>).
//! Ids that are not users (groups, devices, service principals) are absent from its answer
//! and so not desired; disabled accounts (`accountEnabled: false`) are described as disabled.
//!
//! **Members that are not users** (`@odata.type` other than `#microsoft.graph.user`: nested
//! groups, devices, service principals, org contacts) are ignored and counted in an info log
//! line (the source's answer has no place for notes).
//!
//! **`@removed`** means "not a member". In a first or full read (no delta link) it can appear
//! too (Graph reports members removed while the initial sync was paged); there it is simply
//! not a member, never an error. After a delta link it is a removal.
//!
//! **Authentication** is app-only client credentials against the Microsoft identity platform
//! (`POST {login_base}/{tenant}/oauth2/v2.0/token`), through the same [`TokenSource`] as the
//! Genesys side: refreshed before `expires_in`, and once after a 401. The scope is
//! `https://<graph host>/.default` of the configured base URL, so national clouds
//! (`graph.microsoft.us`, `microsoftgraph.chinacloudapi.cn`) work
//! (<https://learn.microsoft.com/en-us/graph/deployments>).
//!
//! **Group ids** are GUIDs and compare without regard to case.
//!
//! **Expiry and throttling.** A delta link expires after 7 days for identity resources
//! (<https://devblogs.microsoft.com/microsoft365dev/duration-of-change-tracking-tokens-for-identity-and-education-resources/>):
//! Graph answers `syncStateNotFound` (400 or 410,
//! <https://learn.microsoft.com/en-us/graph/delta-query-overview#synchronization-reset>), which
//! fails the group's read with the way out. A 429 waits its `Retry-After`
//! (<https://learn.microsoft.com/en-us/graph/throttling>).

use crate::model::IdpKey;
use std::collections::{BTreeMap, BTreeSet};

use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::fetch::{self, Auth};
use super::read::{IdpUser, MAX_USERS_PER_ANSWER, SourceError, SourceRead};
use crate::endpoint::Endpoint;
use crate::http::auth::{AuthError, ClientAuth, Credentials, TokenError, TokenSource, Tried};
use crate::http::retry::Failure;
use crate::http::retry::RetryPolicy;
use crate::model::Answer;
use crate::model::{Cursor, Mode, UserKey};

/// Ids per `getByIds` call, at most (Graph's limit).
pub const GET_BY_IDS_BATCH: usize = 1_000;

/// The `@odata.type` of a user.
const USER_TYPE: &str = "#microsoft.graph.user";

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
    tenant: String,
    client_id: String,
    user_key: UserKey,
    retry: RetryPolicy,
    tokens: TokenSource,
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
struct Objects {
    #[serde(default)]
    value: Vec<DirectoryObject>,
}

#[derive(Deserialize)]
struct DirectoryObject {
    id: String,
    #[serde(rename = "@odata.type", default)]
    kind: Option<String>,
    #[serde(rename = "userPrincipalName", default)]
    user_principal_name: Option<String>,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
    #[serde(rename = "accountEnabled", default)]
    account_enabled: Option<bool>,
}

/// One request to Graph, rebuilt after a token refresh.
enum Request<'a> {
    Get {
        url: &'a Url,
        cursor: Option<&'a str>,
    },
    Post {
        url: &'a Url,
        body: &'a serde_json::Value,
    },
}

impl Graph {
    /// A reader of Graph at `base` (e.g. `https://graph.microsoft.com/v1.0`), finding users in
    /// the target by `user_key` (`userName`: their `userPrincipalName`; `externalId`: their
    /// object id).
    pub fn new(
        base: Endpoint,
        auth: GraphAuth,
        user_key: UserKey,
        retry: RetryPolicy,
    ) -> Result<Self, SourceError> {
        Ok(Self::with_client(
            fetch::client()?,
            base,
            auth,
            user_key,
            retry,
        ))
    }

    /// [`Graph::new`] sending through `client` (the process's one HTTP client).
    pub fn with_client(
        client: reqwest::Client,
        base: Endpoint,
        auth: GraphAuth,
        user_key: UserKey,
        retry: RetryPolicy,
    ) -> Self {
        let token_url = auth
            .login_base
            .join(&[&auth.tenant, "oauth2", "v2.0", "token"]);
        // The resource of a client-credentials token is the Graph host the app calls.
        let scope = format!("{}/.default", base.url().origin().ascii_serialization());
        let credentials = Credentials::ClientCredentials {
            client_id: auth.client_id.clone(),
            client_secret: auth.client_secret,
        };
        Self {
            client,
            base,
            tenant: auth.tenant,
            client_id: auth.client_id,
            user_key,
            retry,
            tokens: TokenSource::oauth(credentials, token_url, ClientAuth::Form, Some(scope)),
        }
    }

    /// The token failure, said for the Microsoft identity platform.
    fn token_error(&self, group: &str, e: TokenError) -> SourceError {
        let url = self.tokens.token_url().to_string();
        match e.failure {
            Failure::Fatal(AuthError::Rejected { status, .. }) => SourceError::Status {
                group: group.to_owned(),
                url,
                status,
                detail: format!(
                    ": the Microsoft identity platform refused app {} in tenant {}; check the app's client id and secret, and that it has the GroupMember.Read.All and Directory.Read.All application permissions (getByIds needs the latter)",
                    self.client_id, self.tenant
                ),
            },
            Failure::GaveUp { detail, attempts } => SourceError::Unreachable {
                group: group.to_owned(),
                detail: format!("the token endpoint {url}: {detail}"),
                attempts,
            },
            Failure::RateLimited(reason) => SourceError::RateLimited {
                group: group.to_owned(),
                reason,
            },
            Failure::Fatal(other) => SourceError::Unreadable {
                group: group.to_owned(),
                url,
                detail: other.to_string(),
            },
        }
    }

    /// Send `request` with the app token; a 401 fetches a fresh token once and repeats it.
    async fn send(
        &self,
        request: &Request<'_>,
        group: &str,
    ) -> Result<(HeaderMap, bytes::Bytes), SourceError> {
        let context = format!("IdP group {group:?} (Graph)");
        self.tokens
            .with_fresh_token(&self.client, &self.retry, &context, async |token| {
                let auth = Auth::Bearer(token.secret.expose_secret());
                let answer = match request {
                    Request::Get { url, cursor } => {
                        fetch::get(&self.client, url, auth, &self.retry, group, *cursor).await
                    }
                    Request::Post { url, body } => {
                        fetch::post_json(&self.client, url, body, auth, &self.retry, group).await
                    }
                };
                if matches!(answer, Err(SourceError::Status { status: 401, .. })) {
                    Tried::Unauthorized(answer)
                } else {
                    Tried::Answered(answer)
                }
            })
            .await
            .map_err(|e| self.token_error(group, e))?
            .into_inner()
    }

    fn unreadable(&self, group: &str, detail: impl AsRef<str>) -> SourceError {
        SourceError::Unreadable {
            group: group.to_owned(),
            url: self.base.to_string(),
            // Often a parser's complaint, which quotes the server's text.
            detail: crate::http::redact::redact(detail.as_ref()),
        }
    }

    /// Read group `group`: its delta since `since`, or (without) its whole membership.
    pub async fn read(
        &self,
        group: &str,
        since: Option<&Cursor>,
        mode: Mode,
    ) -> Result<SourceRead, SourceError> {
        let since = match mode {
            Mode::Delta => since,
            Mode::Full => None,
        };
        let mut url = if let Some(link) = since {
            let url = Url::parse(link.as_str()).map_err(|e| {
                self.unreadable(group, format!("the stored delta link is not a URL ({e})"))
            })?;
            fetch::same_origin(&url, self.base.url(), group)?;
            url
        } else {
            let mut url = self.base.join(&["groups", "delta"]);
            url.query_pairs_mut()
                .append_pair("$select", "members")
                .append_pair("$filter", &format!("id eq '{}'", group.replace('\'', "''")));
            url
        };
        let (mut add, mut remove) = (BTreeSet::new(), BTreeSet::new());
        let mut not_users = BTreeMap::<String, BTreeSet<String>>::new();
        let mut pages = fetch::Pages::default();
        loop {
            pages.follow(&url, "@odata.nextLink", group)?;
            let request = Request::Get {
                url: &url,
                cursor: since.map(Cursor::as_str),
            };
            let (_, body) = self.send(&request, group).await?;
            let page: Page =
                serde_json::from_slice(&body).map_err(|e| self.unreadable(group, e.to_string()))?;
            // Group ids are GUIDs: Graph may spell them in another case than the config.
            for g in page
                .value
                .into_iter()
                .filter(|g| g.id.eq_ignore_ascii_case(group))
            {
                for m in g.members {
                    if let Some(kind) = m.kind.as_deref().filter(|k| *k != USER_TYPE) {
                        let kind = kind.trim_start_matches("#microsoft.graph.").to_owned();
                        not_users.entry(kind).or_default().insert(m.id);
                        continue;
                    }
                    add.remove(m.id.as_str());
                    remove.remove(m.id.as_str());
                    match (m.removed.is_some(), since.is_some()) {
                        (false, _) => {
                            add.insert(IdpKey(m.id));
                        }
                        (true, true) => {
                            remove.insert(IdpKey(m.id));
                        }
                        // A first or full read: removed means not a member, nothing more.
                        (true, false) => {}
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
                    let next = Url::parse(&next).map_err(|e| {
                        self.unreadable(group, format!("@odata.nextLink is not a URL ({e})"))
                    })?;
                    fetch::same_origin(&next, self.base.url(), group)?;
                    url = next;
                }
                (None, Some(delta)) => {
                    if !not_users.is_empty() {
                        let counts: Vec<String> = not_users
                            .iter()
                            .map(|(kind, ids)| format!("{} {kind}", ids.len()))
                            .collect();
                        tracing::info!(
                            "IdP group {group:?}: ignored members that are not users: {}",
                            counts.join(", ")
                        );
                    }
                    let answer = match mode {
                        Mode::Delta => Answer::Delta { add, remove },
                        Mode::Full => Answer::Full { members: add },
                    };
                    return Ok(SourceRead {
                        answer,
                        cursor_to: Some(Cursor(delta)),
                    });
                }
                (None, None) => {
                    return Err(self.unreadable(
                        group,
                        "a page with neither @odata.nextLink nor @odata.deltaLink",
                    ));
                }
            }
        }
    }

    /// `getByIds` in batches of [`GET_BY_IDS_BATCH`]: object id → user.
    /// Describe object ids: their userPrincipalName, display name and whether enabled;
    /// ids that are not users are left out.
    pub async fn describe_users(
        &self,
        keys: &BTreeSet<IdpKey>,
    ) -> Result<BTreeMap<IdpKey, IdpUser>, SourceError> {
        const WHAT: &str = "(user lookup)";
        // Answers name ids as Graph spells them; the map is keyed by the keys asked for.
        let asked: BTreeMap<String, &IdpKey> = keys
            .iter()
            .map(|k| (k.as_str().to_ascii_lowercase(), k))
            .collect();
        let mut url = self.base.join(&["directoryObjects", "getByIds"]);
        url.query_pairs_mut()
            .append_pair("$select", "id,userPrincipalName,displayName,accountEnabled");
        let ids: Vec<&str> = keys.iter().map(IdpKey::as_str).collect();
        let mut described = BTreeMap::new();
        for batch in ids.chunks(GET_BY_IDS_BATCH) {
            let body = serde_json::json!({"ids": batch, "types": ["user"]});
            let (_, answer) = self
                .send(
                    &Request::Post {
                        url: &url,
                        body: &body,
                    },
                    WHAT,
                )
                .await?;
            let objects: Objects = serde_json::from_slice(&answer)
                .map_err(|e| self.unreadable(WHAT, format!("getByIds: {e}")))?;
            for o in objects.value {
                if o.kind.as_deref().is_some_and(|k| k != USER_TYPE) {
                    continue;
                }
                let Some(key) = asked.get(&o.id.to_ascii_lowercase()) else {
                    continue;
                };
                let target_key = match self.user_key {
                    UserKey::ExternalId | UserKey::Id => Some(o.id.clone()),
                    UserKey::UserName => o.user_principal_name.clone(),
                };
                let Some(target_key) = target_key.filter(|k| !k.is_empty()) else {
                    tracing::warn!(
                        "Entra user {} has no userPrincipalName in the getByIds answer; it is left out",
                        o.id
                    );
                    continue;
                };
                let user = IdpUser {
                    target_key,
                    label: o.display_name.or(o.user_principal_name),
                    // Asked for with $select; absent only without permission to read it.
                    enabled: o.account_enabled.unwrap_or(true),
                };
                described.insert((*key).clone(), user);
            }
        }
        Ok(described)
    }
}
