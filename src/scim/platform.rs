//! The Platform API's bulk user reads: Genesys Cloud users by the hundred, outside SCIM.
//!
//! SCIM finds one user a request (`filter=userName eq …`). The Platform API reads many:
//!
//! - `GET /api/v2/users?id=a,b,…` — "A list of user IDs to fetch by bulk" (SDK
//!   `UsersApi.get_users`, `id` a comma-separated list: `tests/sdk_contract.rs` checks it); with `state=any` it answers inactive
//!   and deleted users too ("Only list users of this state", default `active`); answer
//!   `UserEntityListing`. "Requires no permissions" beyond the OAuth scope.
//! - `POST /api/v2/users/search` — criteria of type `EXACT` on `username` (or `id`,
//!   `email`) with a `values` list, and one on `state`; answer `UsersSearchResponse`.
//!   Requires the permission `directory:user:view`.
//!
//! Sources: MyPureCloud/platform-client-sdk-python `build/docs/UsersApi.md` (`get_users`),
//! `build/docs/SearchApi.md` (`post_users_search`), the models named in
//! [`crate::scim::wire::platform`]; `docs/real-api-notes.md` holds what is known and what
//! is not. Limits: no public source gives the most ids per `GET /api/v2/users` or values
//! per criterion; the SDK's own text caps one related case at 100 users a request ("the
//! maximum number of users that can be returned is 100", `integrationPresenceSource`), and
//! 100 is the page size Genesys's search examples use. scimsync sends at most
//! [`PER_REQUEST`] ids or values a request, with `pageSize` [`PER_REQUEST`], so one request
//! answers all of them; the emulator refuses more (400 `bad.request`).
//!
//! Both routes need the OAuth scope `SCOPE` (`users:readonly`, or `users`). A client
//! without it draws 403 (`app.not.authorized.for.scope`, "App not authorized to use scope
//! %s": the 403 codes of the Users API in Genesys's API definition); the first such answer
//! of a run is logged once, with what adding the scope would save, and every later read
//! of the run goes through SCIM without asking again. Platform errors are
//! `ErrorBody`s (`message`, `code`, `status`,
//! `contextId`), not SCIM errors: [`PlatformError`] reports them as such.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::http::Call;
use super::wire::platform::{
    ErrorBody, User, UserEntityListing, UserSearchCriteria, UserSearchRequest, UsersSearchResponse,
};
use super::{ScimClient, ScimError};
use crate::model::{TargetUser, UserId};

/// Ids (or search values) per request, and the page size asked for: one request answers
/// them all (see the module doc for the source of 100).
pub const PER_REQUEST: usize = 100;

/// The most pages one search is read for: ≤ [`PER_REQUEST`] exact values match a page or
/// two; a server that answers more (or the same page again) is not believed.
const MAX_SEARCH_PAGES: u32 = 10;

use super::wire::platform::SCOPE;

/// A user's state in Genesys (`User.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    /// Can be added to groups.
    Active,
    /// Exists, but Genesys refuses to add them to a group.
    Inactive,
    /// Deleted: kept by Genesys for a while, never a member again.
    Deleted,
}

impl UserState {
    fn parse(state: Option<&str>) -> Self {
        match state {
            Some(s) if s.eq_ignore_ascii_case("inactive") => Self::Inactive,
            Some(s) if s.eq_ignore_ascii_case("deleted") => Self::Deleted,
            // The SDK documents three states; one it does not name is read as active, as
            // SCIM's absent `active` is.
            _ => Self::Active,
        }
    }
}

/// A user read through the Platform API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformUser {
    /// The user, as lookups give it (`active` is false unless the state is active).
    pub user: TargetUser,
    /// Its state.
    pub state: UserState,
    /// Its login name (the SCIM `userName`), if the answer carried one.
    pub username: Option<String>,
}

impl From<User> for PlatformUser {
    fn from(u: User) -> Self {
        let state = UserState::parse(u.state.as_deref());
        let label = u
            .username
            .clone()
            .or_else(|| u.name.clone())
            .or_else(|| u.email.clone())
            .unwrap_or_else(|| u.id.clone());
        Self {
            user: TargetUser {
                id: UserId(u.id),
                label,
                active: state == UserState::Active,
            },
            state,
            username: u.username,
        }
    }
}

/// A Platform API read that did not give users.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The target has no Platform API (`kind = "scim"`).
    #[error("the target has no Genesys Platform API")]
    Unavailable,
    /// Genesys refused for want of a scope or permission (403); the run reads through SCIM.
    #[error(
        "{context}: HTTP 403 {code}: {message}; the OAuth client needs the scope {SCOPE} (and, for searches, the permission directory:user:view)"
    )]
    Denied {
        /// The read.
        context: String,
        /// The `ErrorBody` code.
        code: String,
        /// The `ErrorBody` message.
        message: String,
    },
    /// Denied earlier in this run: not asked again.
    #[error("the Platform API refused this run's OAuth client earlier (scope {SCOPE})")]
    DeniedBefore,
    /// Any other error answer, as its `ErrorBody` said.
    #[error("{context}: HTTP {status} {code}: {message}{}", correlation.as_ref().map(|c| format!(" (ININ-Correlation-Id {c})")).unwrap_or_default())]
    Status {
        /// The read.
        context: String,
        /// The HTTP status.
        status: u16,
        /// The `ErrorBody` code (`(none)` when the body had none).
        code: String,
        /// The `ErrorBody` message.
        message: String,
        /// Genesys's correlation id, for its support.
        correlation: Option<String>,
    },
    /// Transport, token or rate-limit failures, as for SCIM reads.
    #[error(transparent)]
    Transport(#[from] ScimError),
    /// An answer that is not the documented shape.
    #[error("{context}: unreadable answer: {detail}")]
    Decode {
        /// The read.
        context: String,
        /// What serde said.
        detail: String,
    },
}

impl PlatformError {
    /// True when the reads should go through SCIM instead: no Platform API, or no scope.
    pub fn is_denied(&self) -> bool {
        matches!(
            self,
            Self::Unavailable | Self::Denied { .. } | Self::DeniedBefore
        )
    }
}

impl ScimClient {
    /// True when this client may try Platform API reads (a Genesys target not refused yet).
    pub fn has_platform(&self) -> bool {
        self.settings.platform_base.is_some() && !self.platform_denied.load(Ordering::Relaxed)
    }

    /// The users with these ids, in any state (`state=any`), at most [`PER_REQUEST`] of them
    /// in one request (`GET /api/v2/users?id=…&pageSize=100&state=any`). Ids Genesys does
    /// not know are absent from the answer.
    ///
    /// # Panics
    ///
    /// When given more than [`PER_REQUEST`] ids: callers chunk.
    pub async fn users_by_id(&self, ids: &[&str]) -> Result<Vec<PlatformUser>, PlatformError> {
        assert!(ids.len() <= PER_REQUEST, "chunk ids by PER_REQUEST");
        let base = self.platform_base()?;
        let context = format!("GET /api/v2/users ({} ids)", ids.len());
        let mut url = base.join(&["api", "v2", "users"]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("pageSize", &PER_REQUEST.to_string())
                .append_pair("pageNumber", "1");
            // One comma-separated `id`, as the SDK sends it (`collection_formats['id'] = 'csv'`).
            if !ids.is_empty() {
                q.append_pair("id", &ids.join(","));
            }
            q.append_pair("state", "any");
        }
        let reply = self
            .platform_send(&Call::get(url, &context), &context)
            .await?;
        let listing: UserEntityListing = decode(&reply, &context)?;
        Ok(listing
            .entities
            .into_iter()
            .map(PlatformUser::from)
            .collect())
    }

    /// The active and inactive users whose `field` (`username`, `email`, `id`) is one of
    /// `values` (at most [`PER_REQUEST`]), by `POST /api/v2/users/search` with `EXACT`
    /// criteria; every page is read (one, for distinct values).
    ///
    /// # Panics
    ///
    /// When given more than [`PER_REQUEST`] values: callers chunk.
    pub async fn search_users(
        &self,
        field: &str,
        values: &[&str],
    ) -> Result<Vec<PlatformUser>, PlatformError> {
        assert!(values.len() <= PER_REQUEST, "chunk values by PER_REQUEST");
        let base = self.platform_base()?;
        let context = format!("POST /api/v2/users/search ({} {field}s)", values.len());
        let url = base.join(&["api", "v2", "users", "search"]);
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let body = UserSearchRequest {
                page_size: Some(u32::try_from(PER_REQUEST).expect("100 fits")),
                page_number: Some(page),
                query: search_query(field, values),
            };
            let call = Call {
                method: reqwest::Method::POST,
                url: url.clone(),
                if_match: None,
                body: Some(Bytes::from(
                    serde_json::to_vec(&body).expect("a search request serialises"),
                )),
                content_type: "application/json",
                context: &context,
            };
            let reply = self.platform_send(&call, &context).await?;
            let answer: UsersSearchResponse = decode(&reply, &context)?;
            let got = answer.results.len();
            // A listing that does not end is not believed (issue 20, finding 4): the page
            // answered must be the page asked, and ≤ 100 exact values match a few pages.
            if i64::from(answer.page_number) != i64::from(page)
                || (page >= MAX_SEARCH_PAGES && i64::from(page) < i64::from(answer.page_count))
            {
                return Err(PlatformError::Decode {
                    context: context.clone(),
                    detail: format!(
                        "page {} answered when page {page} was asked (pageCount {}, at most {MAX_SEARCH_PAGES} pages are read); stopped",
                        answer.page_number, answer.page_count
                    ),
                });
            }
            out.extend(answer.results.into_iter().map(PlatformUser::from));
            if got == 0 || i64::from(answer.page_number) >= i64::from(answer.page_count) {
                return Ok(out);
            }
            page += 1;
        }
    }

    fn platform_base(&self) -> Result<&crate::endpoint::Endpoint, PlatformError> {
        let base = self
            .settings
            .platform_base
            .as_ref()
            .ok_or(PlatformError::Unavailable)?;
        if self.platform_denied.load(Ordering::Relaxed) {
            return Err(PlatformError::DeniedBefore);
        }
        Ok(base)
    }

    /// Send `call`; a 403 marks the Platform API refused for the rest of the run (said once).
    async fn platform_send(
        &self,
        call: &Call<'_>,
        context: &str,
    ) -> Result<super::Reply, PlatformError> {
        let reply = self.http.send(call).await?;
        if reply.status.is_success() {
            return Ok(reply);
        }
        let body: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
        // A server's text is shown only redacted (it may echo the request's Authorization).
        let redact = crate::http::redact::redact;
        let code = redact(&body.code.unwrap_or_else(|| "(none)".into()));
        let message = redact(&body.message.unwrap_or_default());
        if reply.status == reqwest::StatusCode::FORBIDDEN {
            if !self.platform_denied.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "Genesys refused the Platform API's bulk user reads ({context}: HTTP 403 {code}: {message}); reading users through SCIM for the rest of this run, one request per user instead of one per {PER_REQUEST}: add the scope {SCOPE} to the OAuth client (`scimsync validate` says what it would save)"
                );
            }
            return Err(PlatformError::Denied {
                context: context.to_owned(),
                code,
                message,
            });
        }
        Err(PlatformError::Status {
            context: context.to_owned(),
            status: reply.status.as_u16(),
            code,
            message,
            correlation: reply.header("inin-correlation-id").map(str::to_owned),
        })
    }
}

/// `EXACT` on `field` over `values`, and on `state` over active and inactive (deleted
/// users are never resolved; an inactive one is found, and held back as pending).
fn search_query(field: &str, values: &[&str]) -> Vec<UserSearchCriteria> {
    vec![
        UserSearchCriteria {
            kind: "EXACT".into(),
            fields: vec![field.to_owned()],
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            ..UserSearchCriteria::default()
        },
        UserSearchCriteria {
            kind: "EXACT".into(),
            fields: vec!["state".into()],
            values: vec!["active".into(), "inactive".into()],
            operator: Some("AND".into()),
            ..UserSearchCriteria::default()
        },
    ]
}

fn decode<T: serde::de::DeserializeOwned>(
    reply: &super::Reply,
    context: &str,
) -> Result<T, PlatformError> {
    serde_json::from_slice(&reply.body).map_err(|e| PlatformError::Decode {
        context: context.to_owned(),
        detail: crate::http::redact::redact(&e.to_string()),
    })
}

/// The users of `found` by their login name, folded to lower case (userName is
/// `caseExact: false`).
pub fn by_username(found: Vec<PlatformUser>) -> BTreeMap<String, PlatformUser> {
    found
        .into_iter()
        .filter_map(|u| Some((u.username.as_deref()?.to_lowercase(), u)))
        .collect()
}
