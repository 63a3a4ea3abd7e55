//! The SCIM side: reading groups and users, and patching members, right about the real API.
//!
//! [`ScimClient`] is the one way scimsync reaches Genesys Cloud (or any SCIM 2.0 server).
//! It knows nothing of plans: it reads a group's members and ETag, finds groups and users,
//! and sends member changes in chunks under a precondition.
//!
//! - [`wire`]: serde types of SCIM JSON, shared with the emulator
//! - [`directory`]: user lookups, cached per run
//! - [`platform`]: the Platform API's bulk user reads (`GET /api/v2/users?id=…`,
//!   `POST /api/v2/users/search`), 100 users a request, and its errors
//! - [`grants`]: the roles a group grants, in which divisions
//!   (`GET /api/v2/authorization/subjects/{groupId}`), one request a group
//! - `http`: pacing, concurrency bound, retries, 429 handling
//! - `error`: the errors, [`ScimError`]

pub mod directory;
mod error;
pub mod grants;
mod http;
mod patch;
pub mod platform;
pub mod wire;

use crate::model::{GroupSnapshot, RemoveStyle, UserKey};
use bytes::Bytes;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

pub use self::error::ScimError;
pub use self::http::{Call, HttpSettings, Reply};
pub use self::patch::{PatchError, PatchOutcome};
use crate::endpoint::Endpoint;
pub use crate::http::auth::{AuthError, Credentials, TokenSource};
use crate::model::{ETag, GroupId, TargetUser, UserId};

/// Where the SCIM resources live and how they are written to.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// The SCIM base: `https://api.<domain>/api/v2/scim/v2` for Genesys.
    pub scim_base: Endpoint,
    /// The API base for the Platform API's bulk user reads (`https://api.<domain>`): Genesys
    /// only; `None` for `kind = "scim"`, which keeps SCIM reads.
    pub platform_base: Option<Endpoint>,
    /// The groups collection below the base: `groups` (Genesys) or `Groups` (RFC).
    pub groups_path: String,
    /// The users collection below the base: `users` (Genesys) or `Users` (RFC).
    pub users_path: String,
    /// How removals are written.
    pub remove_style: RemoveStyle,
    /// Member values per PATCH, at most.
    pub max_members_per_patch: usize,
    /// Bytes per PATCH body, at most (Genesys answers 413 above 512,000).
    pub max_patch_bytes: usize,
    /// Pacing, concurrency, retries.
    pub http: HttpSettings,
    /// Allow PATCHes without `If-Match` to a group for which the server sends no ETag, after
    /// a re-read shows its members unchanged (a weaker check: a write can slip in between).
    /// Off for Genesys, which always sends ETags; on for `kind = "scim"`.
    pub allow_etagless: bool,
    /// Ask for the group without its members in PATCH answers (`excludedAttributes=members`,
    /// RFC 7644 §3.9): only the ETag of an answer is used. Off for Genesys until verified
    /// there; on for `kind = "scim"`.
    pub patch_excludes_members: bool,
}

impl TargetSettings {
    /// Genesys Cloud settings for an API base such as `https://api.mypurecloud.com`.
    pub fn genesys(api_base: &Endpoint) -> Result<Self, ScimError> {
        let scim_base = Endpoint::parse(
            api_base.join(&["api", "v2", "scim", "v2"]).as_str(),
            "target.api_base",
        )?;
        Ok(Self {
            groups_path: "groups".into(),
            users_path: "users".into(),
            platform_base: Some(api_base.clone()),
            ..Self::defaults(scim_base)
        })
    }

    /// Settings for any RFC 7644 server whose SCIM base is `scim_base` (resources at
    /// `/Groups` and `/Users`): removals by filter path, and ETags optional.
    pub fn scim(scim_base: &Endpoint) -> Self {
        Self {
            remove_style: RemoveStyle::FilterPath,
            allow_etagless: true,
            patch_excludes_members: true,
            ..Self::defaults(scim_base.clone())
        }
    }

    /// What every target starts from: RFC resource names, value-list removals, 50 values and
    /// 500,000 bytes per PATCH (Genesys answers 413 over 512,000), ETags required.
    fn defaults(scim_base: Endpoint) -> Self {
        Self {
            scim_base,
            platform_base: None,
            groups_path: "Groups".into(),
            users_path: "Users".into(),
            remove_style: RemoveStyle::ValueList,
            max_members_per_patch: 50,
            max_patch_bytes: 500_000,
            http: HttpSettings::default(),
            allow_etagless: false,
            patch_excludes_members: false,
        }
    }
}

/// The page size of SCIM list calls: Genesys' default, and the most it serves without a
/// risk of 429 ("a page size over 25 may exceed internal resource limits").
pub const PAGE: u64 = 25;

/// The most pages one filtered listing may take (a filter `eq` matches a handful of
/// resources; 400 pages are 10,000 of them).
pub const MAX_LIST_PAGES: u64 = 400;

/// The longest one filtered listing may take, all its pages and retries included.
pub const LISTING_DEADLINE: std::time::Duration = std::time::Duration::from_mins(5);

/// A resource with a SCIM `id`: what tells one listed page from a repeat of another.
trait Identified {
    fn id(&self) -> &str;
}

impl Identified for wire::Group {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Identified for wire::User {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A group answer must be the group asked for (ids compared without regard to ASCII case:
/// Genesys ids are GUIDs, which some gateways upper-case).
fn same_group(asked: &GroupId, answered: &GroupId, context: &str) -> Result<(), ScimError> {
    if asked.as_str().eq_ignore_ascii_case(answered.as_str()) {
        Ok(())
    } else {
        Err(ScimError::WrongGroup {
            context: context.to_owned(),
            asked: asked.as_str().to_owned(),
            answered: answered.as_str().chars().take(80).collect(),
        })
    }
}

/// A group found by name (without its members).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    /// The group's id.
    pub id: GroupId,
    /// Its display name.
    pub display_name: String,
}

/// A SCIM client for one target.
#[derive(Debug)]
pub struct ScimClient {
    http: http::Http,
    settings: TargetSettings,
    /// Set once Genesys refused a Platform API read for a missing scope (403): the rest of
    /// the run reads users through SCIM, and says so once ([`platform`]).
    platform_denied: std::sync::atomic::AtomicBool,
    /// Set once Genesys refused a grant read (403): the rest of the run's grants are
    /// unknown, said once ([`grants`]).
    grants_denied: std::sync::atomic::AtomicBool,
}

impl ScimClient {
    /// A client for `settings`, authenticating with `tokens`.
    pub fn new(settings: TargetSettings, tokens: TokenSource) -> Result<Self, ScimError> {
        let client =
            crate::http::build_client(settings.http.timeout).map_err(|e| ScimError::Client(e.0))?;
        Ok(Self::with_client(settings, tokens, client))
    }

    /// [`ScimClient::new`] sending through `client` (the process's one HTTP client, shared
    /// with the IdP source).
    pub fn with_client(
        settings: TargetSettings,
        tokens: TokenSource,
        client: reqwest::Client,
    ) -> Self {
        let http = http::Http::new(&settings.http, tokens, client);
        Self {
            http,
            settings,
            platform_denied: std::sync::atomic::AtomicBool::new(false),
            grants_denied: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The settings this client was made with.
    pub fn settings(&self) -> &TargetSettings {
        &self.settings
    }

    /// Read a group: its members and ETag.
    ///
    /// The attributes are asked for explicitly (`attributes=id,displayName,members,meta`):
    /// whether Genesys returns members by default is not documented, and a group read
    /// without them would look empty.
    pub async fn get_group(&self, id: &GroupId) -> Result<GroupSnapshot, ScimError> {
        let context = format!("GET group {id}");
        let mut url = self.group_url(id);
        url.query_pairs_mut()
            .append_pair("attributes", "id,displayName,members,meta");
        let reply = self.http.send(&Call::get(url, &context)).await?;
        let reply = check(reply, &context)?;
        let group = parse_group(&reply.body, etag_header(&reply), &context)?;
        same_group(id, &group.id, &context)?;
        Ok(group)
    }

    /// Find a group by its exact display name (`excludedAttributes=members`, pages of 25).
    pub async fn find_group_by_name(&self, name: &str) -> Result<GroupSummary, ScimError> {
        let filter = filter_eq("displayName", name, "group display name")?;
        let context = format!("find group {name:?}");
        let found: Vec<wire::Group> = self
            .list(
                &self.settings.groups_path,
                &filter,
                &[("excludedAttributes", "members")],
                &context,
            )
            .await?;
        let exact: Vec<_> = found
            .into_iter()
            .filter(|g| g.display_name.as_deref() == Some(name))
            .collect();
        match exact.as_slice() {
            [] => Err(ScimError::GroupNotFound {
                name: name.to_owned(),
            }),
            [one] => Ok(GroupSummary {
                id: GroupId(one.id.clone()),
                display_name: name.to_owned(),
            }),
            many => Err(ScimError::AmbiguousGroup {
                name: name.to_owned(),
                count: many.len(),
                ids: many
                    .iter()
                    .map(|g| g.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Find the user whose `key` attribute equals `value` (for `userName`, without regard to
    /// case): `None` when there is none. The user's `active` flag is read: an inactive user
    /// is found, and it is the caller's to hold it back (Genesys refuses to add one).
    pub async fn find_user(
        &self,
        key: UserKey,
        value: &str,
    ) -> Result<Option<TargetUser>, ScimError> {
        let filter = filter_eq(key.attribute(), value, "user key")?;
        let context = format!("find user {} {value:?}", key.attribute());
        let found: Vec<wire::User> = self
            .list(&self.settings.users_path, &filter, &[], &context)
            .await?;
        let exact: Vec<_> = found
            .into_iter()
            .filter(|u| match key {
                UserKey::Id => u.id == value,
                UserKey::UserName => u
                    .user_name
                    .as_deref()
                    .is_some_and(|n| key.matches(value, n)),
                UserKey::ExternalId => u.external_id.as_deref() == Some(value),
            })
            .collect();
        match <[wire::User; 1]>::try_from(exact) {
            Ok([one]) => Ok(Some(target_user(one))),
            Err(v) if v.is_empty() => Ok(None),
            Err(many) => Err(ScimError::AmbiguousUser {
                attribute: key.attribute(),
                value: value.to_owned(),
                count: many.len(),
            }),
        }
    }

    /// Read one user by id: `None` when there is none (404: deleted, or never existed).
    pub async fn get_user(&self, id: &UserId) -> Result<Option<TargetUser>, ScimError> {
        let context = format!("GET user {id}");
        let url = self
            .settings
            .scim_base
            .join(&[&self.settings.users_path, id.as_str()]);
        let reply = self.http.send(&Call::get(url, &context)).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let reply = check(reply, &context)?;
        let user: wire::User = decode(&reply.body, &context)?;
        Ok(Some(target_user(user)))
    }

    /// One page of the users Genesys lists without a filter (the active ones), from
    /// `start` (1-based), [`PAGE`] at a time: the users, and how many there are in all.
    /// A plan reads these to label many removals at once ([`PAGE`] users a request, where
    /// a GET per user costs one each).
    pub async fn active_users_page(&self, start: u64) -> Result<(Vec<TargetUser>, u64), ScimError> {
        let context = format!("list users from {start}");
        let page: wire::ListResponse<wire::User> = self
            .page(&self.settings.users_path, None, start, &[], &context)
            .await?;
        let users = page.resources.into_iter().map(target_user).collect();
        Ok((users, page.total_results))
    }

    /// All resources of `collection` matching `filter`, following pages of [`PAGE`], within
    /// [`LISTING_DEADLINE`]. A listing is not believed blindly: a page that brings no resource
    /// not seen before (a server that ignores `startIndex`), or more pages than
    /// [`MAX_LIST_PAGES`] (a `totalResults` that lies), stops it with
    /// [`ScimError::Paging`].
    async fn list<T: DeserializeOwned + Identified>(
        &self,
        collection: &str,
        filter: &str,
        extra: &[(&str, &str)],
        context: &str,
    ) -> Result<Vec<T>, ScimError> {
        let listing = async {
            let mut out: Vec<T> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            let mut start = 1u64;
            for pages in 1.. {
                let page: wire::ListResponse<T> = self
                    .page(collection, Some(filter), start, extra, context)
                    .await?;
                let got = page.resources.len() as u64;
                let before = seen.len();
                seen.extend(page.resources.iter().map(|r| r.id().to_owned()));
                if got > 0 && seen.len() == before {
                    return Err(ScimError::Paging {
                        context: context.to_owned(),
                        detail: format!(
                            "the page from startIndex {start} repeats resources already listed (totalResults {})",
                            page.total_results
                        ),
                    });
                }
                if pages >= MAX_LIST_PAGES && got > 0 && start + got <= page.total_results {
                    return Err(ScimError::Paging {
                        context: context.to_owned(),
                        detail: format!(
                            "{pages} pages and still not at totalResults {}",
                            page.total_results
                        ),
                    });
                }
                out.extend(page.resources);
                start += got;
                if got == 0 || start > page.total_results {
                    break;
                }
            }
            Ok(out)
        };
        tokio::time::timeout(LISTING_DEADLINE, listing)
            .await
            .unwrap_or_else(|_| {
                Err(ScimError::Paging {
                    context: context.to_owned(),
                    detail: format!(
                        "the listing did not end within {} s",
                        LISTING_DEADLINE.as_secs()
                    ),
                })
            })
    }

    /// One page of `collection` from `start` (1-based), matching `filter` if any.
    async fn page<T: DeserializeOwned>(
        &self,
        collection: &str,
        filter: Option<&str>,
        start: u64,
        extra: &[(&str, &str)],
        context: &str,
    ) -> Result<wire::ListResponse<T>, ScimError> {
        let mut url = self.settings.scim_base.join(&[collection]);
        {
            let mut query = url.query_pairs_mut();
            if let Some(filter) = filter {
                query.append_pair("filter", filter);
            }
            query
                .append_pair("startIndex", &start.to_string())
                .append_pair("count", &PAGE.to_string())
                .extend_pairs(extra);
        }
        let reply = check(self.http.send(&Call::get(url, context)).await?, context)?;
        decode(&reply.body, context)
    }

    fn group_url(&self, id: &GroupId) -> url::Url {
        self.settings
            .scim_base
            .join(&[&self.settings.groups_path, id.as_str()])
    }

    /// The body of a PATCH, sent once per attempt.
    async fn send_patch(
        &self,
        id: &GroupId,
        if_match: Option<&ETag>,
        body: Bytes,
        context: &str,
    ) -> Result<Reply, ScimError> {
        let mut url = self.group_url(id);
        if self.settings.patch_excludes_members {
            url.query_pairs_mut()
                .append_pair("excludedAttributes", "members");
        }
        let call = Call {
            method: reqwest::Method::PATCH,
            url,
            if_match: if_match.map(ETag::as_str),
            body: Some(body),
            content_type: wire::SCIM_JSON,
            context,
        };
        self.http.send(&call).await
    }
}

/// The model of a SCIM user: its label is its userName, else its display name, else its id.
fn target_user(user: wire::User) -> TargetUser {
    TargetUser {
        label: user
            .user_name
            .clone()
            .or_else(|| user.display_name.clone())
            .unwrap_or_else(|| user.id.clone()),
        id: UserId(user.id),
        // SCIM: `active` absent means the server does not say; Genesys always does.
        active: user.active.unwrap_or(true),
    }
}

/// A `attr eq "value"` filter with the value quoted and escaped (RFC 7644 §3.4.2.2), so that
/// no value can change the filter's meaning. Control characters are refused outright.
///
/// ```
/// use scimsync::scim::filter_eq;
/// assert_eq!(filter_eq("userName", "a@b.c", "user").unwrap(), r#"userName eq "a@b.c""#);
/// assert_eq!(filter_eq("id", r#"x" or "1"#, "user").unwrap(), r#"id eq "x\" or \"1""#);
/// assert!(filter_eq("id", "line\nbreak", "user").is_err());
/// ```
pub fn filter_eq(attribute: &str, value: &str, what: &'static str) -> Result<String, ScimError> {
    if value.chars().any(char::is_control) {
        return Err(ScimError::UnsafeFilterValue {
            what,
            value: value.escape_default().to_string(),
        });
    }
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    Ok(format!("{attribute} eq \"{escaped}\""))
}

/// Turn error statuses into [`ScimError`]s: stale answers into [`ScimError::Stale`].
fn check(reply: Reply, context: &str) -> Result<Reply, ScimError> {
    if reply.status.is_success() {
        return Ok(reply);
    }
    let body: wire::ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
    let status = reply.status.as_u16();
    // The server's text is shown only redacted: it may echo the request's Authorization.
    let detail = body
        .detail
        .or_else(|| {
            // Platform errors (not SCIM-shaped) carry `message`.
            serde_json::from_slice::<serde_json::Value>(&reply.body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        })
        .map(|d| crate::http::redact::redact(&d));
    if is_stale(reply.status, body.scim_type.as_deref(), detail.as_deref()) {
        return Err(ScimError::Stale {
            context: context.to_owned(),
            status,
            scim_type: body.scim_type.map(|t| crate::http::redact::redact(&t)),
        });
    }
    let correlation_id = reply.header("inin-correlation-id").map(str::to_owned);
    if let Some(id) = &correlation_id {
        tracing::warn!("{context}: HTTP {status}, ININ-Correlation-Id {id}");
    }
    Err(ScimError::Status {
        context: context.to_owned(),
        status,
        scim_type: body.scim_type.map(|t| crate::http::redact::redact(&t)),
        detail,
        correlation_id,
    })
}

/// The three forms of "your ETag is no longer current": 400 with scimType `invalidVers`
/// (Genesys' parameter docs), 409 (Genesys' response table) and 412 (RFC 7232). A 400 whose
/// text says the version does not match is read the same way, as the Genesys Terraform
/// provider does.
fn is_stale(status: StatusCode, scim_type: Option<&str>, detail: Option<&str>) -> bool {
    match status.as_u16() {
        409 | 412 => true,
        400 => {
            scim_type.is_some_and(|t| t.eq_ignore_ascii_case("invalidVers"))
                || detail.is_some_and(|d| d.contains("does not match the current version"))
        }
        _ => false,
    }
}

/// The ETag of a reply: the header, exactly as sent.
fn etag_header(reply: &Reply) -> Option<ETag> {
    reply
        .header("etag")
        .filter(|e| !e.is_empty())
        .map(|e| ETag(e.to_owned()))
}

/// The ETag of a reply carrying a group: the header first, else `meta.version`.
fn etag_of(reply: &Reply) -> Option<ETag> {
    etag_header(reply).or_else(|| {
        serde_json::from_slice::<wire::Group>(&reply.body)
            .ok()
            .and_then(|g| g.meta.and_then(|m| m.version))
            .map(ETag)
    })
}

/// Parse a group response body into its state; `etag` is the ETag header if there was one
/// (it wins over `meta.version`). Any bytes give a group or a [`ScimError::Decode`], never a
/// panic (fuzzed in the tests).
pub fn parse_group(
    body: &[u8],
    etag: Option<ETag>,
    context: &str,
) -> Result<GroupSnapshot, ScimError> {
    let group: wire::GroupRead = decode(body, context)?;
    Ok(group_state(group, etag))
}

fn group_state(group: wire::GroupRead, etag: Option<ETag>) -> GroupSnapshot {
    let etag = etag.or_else(|| {
        group
            .meta
            .as_ref()
            .and_then(|m| m.version.clone())
            .map(ETag)
    });
    let (mut users, mut groups) = (Vec::new(), Vec::new());
    for member in group.members.unwrap_or_default() {
        // Genesys groups can hold groups (`type: "Group"`); they are not users to sync.
        if member
            .kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("Group"))
        {
            groups.push(GroupId(member.value.into_owned()));
        } else {
            users.push(UserId(member.value.into_owned()));
        }
    }
    GroupSnapshot {
        id: GroupId(group.id),
        display_name: group.display_name.unwrap_or_default(),
        etag,
        // Collected, not inserted one by one: a sorted answer is one bulk step.
        members: users.into_iter().collect(),
        member_groups: groups.into_iter().collect(),
    }
}

fn decode<'a, T: serde::Deserialize<'a>>(body: &'a [u8], context: &str) -> Result<T, ScimError> {
    serde_json::from_slice(body).map_err(|e| ScimError::Decode {
        context: context.to_owned(),
        // serde quotes the values it refused: redacted like any text from a server.
        detail: crate::http::redact::redact(&e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_quoted_escaped_or_refused() {
        assert_eq!(
            filter_eq("userName", "a@b.c", "u").unwrap(),
            r#"userName eq "a@b.c""#
        );
        assert_eq!(
            filter_eq("displayName", r#"x"] or id pr \"#, "g").unwrap(),
            r#"displayName eq "x\"] or id pr \\""#
        );
        assert!(filter_eq("id", "a\nb", "u").is_err());
    }

    #[test]
    fn stale_forms() {
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert!(is_stale(s(409), None, None));
        assert!(is_stale(s(412), None, None));
        assert!(is_stale(s(400), Some("invalidVers"), None));
        assert!(is_stale(
            s(400),
            None,
            Some("Version 3 does not match the current version 4")
        ));
        assert!(!is_stale(s(400), Some("invalidValue"), None));
        assert!(!is_stale(s(404), None, None));
    }
}
