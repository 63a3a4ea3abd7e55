//! serde types of the Genesys Cloud Platform API's grant reads:
//! `GET /api/v2/authorization/subjects/{subjectId}` (an `AuthzSubject`: the roles a user or
//! group holds, each in a division) and `GET /api/v2/groups/{groupId}` (a `Group`, whose
//! `rolesEnabled` says whether it may carry roles). Shared with the emulator.
//!
//! Source for every field: the official Python SDK `purecloudplatformclientv2` 269.0.0
//! (`models/authz_subject.py`, `authz_grant.py`, `authz_grant_role.py`,
//! `authz_grant_policy.py`, `authz_division.py`, `group.py`, whose `attribute_map`s give the
//! JSON keys; the same text as MyPureCloud/platform-client-sdk-python `build/docs/AuthzSubject.md`,
//! `AuthzGrant.md`, `AuthzGrantRole.md`, `AuthzGrantPolicy.md`, `AuthzDivision.md`,
//! `Group.md`). A role's `policies` are `AuthzGrantPolicy`s (`actions`, `condition`,
//! `domain`, `entityName`), sent only with `includeFullRoles=true`. Only the fields scimsync
//! reads or the emulator sends are modelled; unknown keys are ignored.
//! `tests/sdk_contract.rs` reads the emulator's answers with the SDK's own models.

use serde::{Deserialize, Serialize};

/// The division id of a grant in all divisions (Genesys's Terraform provider,
/// `genesyscloud_group_roles.division_ids`: "'*' may be set for all divisions").
pub const ALL_DIVISIONS: &str = "*";

/// The permission `GET /api/v2/authorization/subjects/{subjectId}` requires (SDK
/// `AuthorizationApi.md`, `get_authorization_subject`: "Requires ANY permissions:
/// authorization:grant:view").
pub const PERMISSION: &str = "authorization:grant:view";

/// The OAuth scope it needs: `authorization:readonly` (or `authorization`), the scopes
/// Genesys's API definition gives every grant read (`getAuthorizationDivisionGrants`,
/// `getUserRoles`, both "authorization:grant:view"; api-evangelist/genesys
/// `openapi/genesys-authorization-api-openapi.yml`). No public copy we found lists the
/// subjects path itself: docs/real-api-notes.md.
pub const SCOPE: &str = "authorization:readonly";

/// An `AuthzSubject`: a user or group and its grants.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzSubject {
    /// The subject's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its grants.
    #[serde(default)]
    pub grants: Vec<AuthzGrant>,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The URI for this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// An `AuthzGrant`: a role in a division, held by `subjectId`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzGrant {
    /// Who holds it (for a user: the user, or a group the user is in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<String>,
    /// Where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<AuthzDivision>,
    /// What.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<AuthzGrantRole>,
    /// When it was made (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_made_at: Option<String>,
}

/// An `AuthzGrantRole`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzGrantRole {
    /// The role's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its permission policies (with `includeFullRoles=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<AuthzGrantPolicy>>,
    /// Whether it is one of Genesys's default roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
    /// The URI for this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// An `AuthzGrantPolicy`: actions on an entity of a permission domain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzGrantPolicy {
    /// `view`, `add`, `edit`, `delete`, `*`, …
    #[serde(default)]
    pub actions: Vec<String>,
    /// A condition on the policy, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The permission domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_name: Option<String>,
}

/// An `AuthzDivision`; the id `*` stands for all divisions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzDivision {
    /// The division's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its description (the SDK marks it required).
    #[serde(default)]
    pub description: String,
    /// Whether it is the org's Home division.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_division: Option<bool>,
    /// The URI for this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// A Platform API `Group` (the fields the emulator sends).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The group's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// How many members it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_count: Option<i64>,
    /// `active`, `inactive` or `deleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// `official` or `social`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `public`, `owners` or `members`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// Whether the group may carry roles ("Allow roles to be assigned to this group").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_enabled: Option<bool>,
    /// The URI for this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}
