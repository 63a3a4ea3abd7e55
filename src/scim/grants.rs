//! The roles a Genesys group grants its members, and in which divisions:
//! `GET /api/v2/authorization/subjects/{groupId}?includeFullRoles=true`, one request a group.
//!
//! - The subject is a user or a group (SDK `AuthorizationApi.md`, `get_authorization_subject`:
//!   "Subject ID (user or group)"); the answer is an `AuthzSubject` whose `grants` each
//!   name a `role` (id, name, and with `includeFullRoles=true` its permission `policies`) in
//!   a `division` (id `*`: all divisions). Grants whose `subjectId` is another subject are
//!   not the group's own and are left out, as Genesys's Terraform provider does
//!   (`genesyscloud_group_roles`: "filters out inherited grants").
//! - It requires the permission [`PERMISSION`] (`authorization:grant:view`) and the OAuth
//!   scope [`SCOPE`] (`authorization:readonly`). Without either, Genesys answers 403
//!   (`missing.any.permissions`, `app.not.authorized.for.scope`: the Authorization API's 403
//!   codes in Genesys's API definition): the first such answer of a run is logged once, and
//!   every later read of the run is [`GrantsError::DeniedBefore`] without a request, so the
//!   plan says "roles unknown" for each group, never guesses. Other users reads are not
//!   affected (a separate flag from [`super::platform`]'s).
//! - An unknown subject is 404 `not.found`: an error for the group, not an empty grant list.
//! - `rolesEnabled` (`GET /api/v2/groups/{groupId}`) is not read: a group that may not carry
//!   roles has none, and its subject answers none (**unverified**; it costs no request).
//!
//! Sources: MyPureCloud/platform-client-sdk-python `build/docs/AuthorizationApi.md`,
//! `GroupsApi.md`, and the models of [`super::wire::authz`]; docs/real-api-notes.md.

use std::sync::atomic::Ordering;

use super::http::Call;
use super::wire::authz::{AuthzSubject, PERMISSION, SCOPE};
use super::wire::platform::ErrorBody;
use super::{ScimClient, ScimError};
use crate::model::{ALL_DIVISIONS, GroupId, PermissionPolicy, RoleGrant};

/// A grant read that did not give grants.
#[derive(Debug, thiserror::Error)]
pub enum GrantsError {
    /// The target has no Platform API (`kind = "scim"`).
    #[error("the target has no Genesys Platform API, so no roles")]
    Unavailable,
    /// Genesys refused for want of a permission or scope (403).
    #[error(
        "{context}: HTTP 403 {code}: {message}; the OAuth client needs the permission {PERMISSION} (a role holding it) and the scope {SCOPE}"
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
    #[error(
        "Genesys refused this run's OAuth client a grant read earlier (permission {PERMISSION}, scope {SCOPE})"
    )]
    DeniedBefore,
    /// Any other error answer, as its `ErrorBody` said.
    #[error("{context}: HTTP {status} {code}: {message}{}", correlation.as_ref().map(|c| format!(" (ININ-Correlation-Id {c})")).unwrap_or_default())]
    Status {
        /// The read.
        context: String,
        /// The HTTP status.
        status: u16,
        /// The `ErrorBody` code.
        code: String,
        /// The `ErrorBody` message.
        message: String,
        /// Genesys's correlation id, for its support.
        correlation: Option<String>,
    },
    /// Transport, token or rate-limit failures, as for SCIM reads.
    #[error(transparent)]
    Transport(#[from] ScimError),
    /// An answer that is not an `AuthzSubject`.
    #[error("{context}: unreadable answer: {detail}")]
    Decode {
        /// The read.
        context: String,
        /// What serde said.
        detail: String,
    },
}

impl GrantsError {
    /// True when the roles are unknown for want of access (not an error of the group).
    pub fn is_denied(&self) -> bool {
        matches!(
            self,
            Self::Unavailable | Self::Denied { .. } | Self::DeniedBefore
        )
    }
}

impl ScimClient {
    /// The roles group `id` grants, each in its division, with their permission policies.
    pub async fn group_grants(&self, id: &GroupId) -> Result<Vec<RoleGrant>, GrantsError> {
        let base = self
            .settings
            .platform_base
            .as_ref()
            .ok_or(GrantsError::Unavailable)?;
        if self.grants_denied.load(Ordering::Relaxed) {
            return Err(GrantsError::DeniedBefore);
        }
        let context = format!("GET /api/v2/authorization/subjects/{id}");
        let mut url = base.join(&["api", "v2", "authorization", "subjects", id.as_str()]);
        url.query_pairs_mut()
            .append_pair("includeFullRoles", "true");
        let reply = self.http.send(&Call::get(url, &context)).await?;
        if !reply.status.is_success() {
            return Err(self.refusal(&reply, context));
        }
        let subject: AuthzSubject =
            serde_json::from_slice(&reply.body).map_err(|e| GrantsError::Decode {
                context: context.clone(),
                detail: crate::http::redact::redact(&e.to_string()),
            })?;
        Ok(role_grants(subject, id))
    }

    fn refusal(&self, reply: &super::Reply, context: String) -> GrantsError {
        let body: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
        // A server's text is shown only redacted (it may echo the request's Authorization).
        let redact = crate::http::redact::redact;
        let code = redact(&body.code.unwrap_or_else(|| "(none)".into()));
        let message = redact(&body.message.unwrap_or_default());
        if reply.status == reqwest::StatusCode::FORBIDDEN {
            if !self.grants_denied.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "Genesys refused to say which roles groups grant ({context}: HTTP 403 {code}: {message}); this run's plans say \"roles unknown\" for every group: give the OAuth client the permission {PERMISSION} and the scope {SCOPE} (`scimsync validate` checks them)"
                );
            }
            return GrantsError::Denied {
                context,
                code,
                message,
            };
        }
        GrantsError::Status {
            context,
            status: reply.status.as_u16(),
            code,
            message,
            correlation: reply.header("inin-correlation-id").map(str::to_owned),
        }
    }
}

/// The group's own grants of `subject`, in model terms; a grant without a role or division
/// id is not one.
fn role_grants(subject: AuthzSubject, id: &GroupId) -> Vec<RoleGrant> {
    subject
        .grants
        .into_iter()
        .filter(|g| g.subject_id.as_deref().is_none_or(|s| s == id.as_str()))
        .filter_map(|g| {
            let role = g.role?;
            let division = g.division?;
            let division_id = division.id?;
            let role_id = role.id?;
            Some(RoleGrant {
                role: role.name.unwrap_or_else(|| role_id.clone()),
                role_id,
                division: division.name.unwrap_or_else(|| {
                    if division_id == ALL_DIVISIONS {
                        "all divisions".into()
                    } else {
                        division_id.clone()
                    }
                }),
                division_id,
                policies: role
                    .policies
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| PermissionPolicy {
                        domain: p.domain.unwrap_or_default(),
                        entity: p.entity_name.unwrap_or_default(),
                        actions: p.actions,
                    })
                    .collect(),
            })
        })
        .collect()
}
