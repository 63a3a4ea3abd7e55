//! The roles a Genesys group grants its members, and in which divisions:
//! `GET /api/v2/authorization/subjects/{groupId}?includeFullRoles=true`, one request a group.
//!
//! - The subject is a user or a group (SDK `AuthorizationApi.md`, `get_authorization_subject`:
//!   "Subject ID (user or group)"); the answer is an `AuthzSubject` whose `grants` each
//!   name a `role` (id, name, and with `includeFullRoles=true` its permission `policies`) in
//!   a `division` (id `*`: all divisions). Grants whose `subjectId` is another subject are
//!   not the group's own and are left out, as Genesys's Terraform provider does
//!   (`genesyscloud_group_roles`: "filters out inherited grants").
//! - It requires the permission [`PERMISSION`](super::wire::authz::PERMISSION) (`authorization:grant:view`) and the OAuth
//!   scope [`SCOPE`](super::wire::authz::SCOPE) (`authorization:readonly`). Without either, Genesys answers 403
//!   (`missing.any.permissions`, `app.not.authorized.for.scope`: the Authorization API's 403
//!   codes in Genesys's API definition): the first such answer of a run is logged once, and
//!   every later read of the run is [`PlatformError::DeniedBefore`] without a request, so the
//!   plan says "roles unknown" for each group, never guesses. Other users reads are not
//!   affected (a separate flag from [`super::platform`]'s).
//! - An unknown subject is 404 `not.found`: an error for the group, not an empty grant list.
//! - `rolesEnabled` (`GET /api/v2/groups/{groupId}`) is not read: a group that may not carry
//!   roles has none, and its subject answers none (**unverified**; it costs no request).
//!
//! Sources: MyPureCloud/platform-client-sdk-python `build/docs/AuthorizationApi.md`,
//! `GroupsApi.md`, and the models of [`super::wire::authz`]; docs/real-api-notes.md.

use std::sync::atomic::Ordering;

use super::ScimClient;
use super::http::Call;
use super::platform::{PlatformApi, PlatformError};
use super::wire::authz::AuthzSubject;
use crate::model::{ALL_DIVISIONS, GroupId, PermissionPolicy, RoleGrant};

impl ScimClient {
    /// The roles group `id` grants, each in its division, with their permission policies.
    pub async fn group_grants(&self, id: &GroupId) -> Result<Vec<RoleGrant>, PlatformError> {
        let base = self
            .settings
            .platform_base
            .as_ref()
            .ok_or(PlatformError::Unavailable)?;
        if self.grants_denied.load(Ordering::Relaxed) {
            return Err(PlatformError::DeniedBefore(PlatformApi::Grants));
        }
        let context = format!("GET /api/v2/authorization/subjects/{id}");
        let mut url = base.join(&["api", "v2", "authorization", "subjects", id.as_str()]);
        url.query_pairs_mut()
            .append_pair("includeFullRoles", "true");
        let reply = self
            .platform_send(&Call::get(url, &context), &context, PlatformApi::Grants)
            .await?;
        let subject: AuthzSubject =
            serde_json::from_slice(&reply.body).map_err(|e| PlatformError::Decode {
                context: context.clone(),
                detail: crate::http::redact::redact(&e.to_string()),
            })?;
        Ok(role_grants(subject, id))
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
