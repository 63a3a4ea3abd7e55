//! serde types of the SCIM JSON that scimsync and its emulator exchange.
//!
//! These are our own rather than the `scim_v2` crate's: that crate models RFC 7643 resources
//! in full (users with names, emails, enterprise extensions) while scimsync needs four shapes,
//! and it needs them to carry Genesys' JSON unchanged: a group whose `members` key may be
//! absent (not an empty list), PATCH operations whose `op` arrives capitalised from Entra
//! (`Add`, `Remove`), a SCIM error whose `status` is a string, and list responses with a
//! capital-R `Resources`. Owning ~100 lines keeps those facts visible, testable and free of a
//! second model to map through. The emulator shares exactly these types with the client.

use serde::{Deserialize, Serialize};

/// Schema URN of a Group resource.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Schema URN of a User resource.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Schema URN of a PATCH request.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Schema URN of a list response.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// Schema URN of an error response.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The media type SCIM servers produce and consume.
pub const SCIM_JSON: &str = "application/scim+json";

/// A SCIM Group (`ScimV2Group`). `M` is how its members are held: a list of
/// [`MemberRef`]s by default; the emulator writes them from its store through a sequence
/// of its own (of `MemberRef`s too), so that what it sends has exactly these keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group<M = Vec<MemberRef>> {
    /// Schema URNs.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// The group's id.
    pub id: String,
    /// The group's display name (read-only in Genesys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// An id given by the provisioning client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The members; `None` when the key is absent, which is how a group without members
    /// (or a response with `excludedAttributes=members`) looks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<M>,
    /// Resource metadata, holding the version (= ETag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// A group as scimsync reads it: only what a snapshot needs, each member's id borrowed from
/// the body where no JSON escape forces a copy. `$ref`, `display` and any other key are
/// skipped, not copied: a 1,000-member answer is two strings fewer per member than
/// [`Group`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRead<'a> {
    /// The group's id.
    pub id: String,
    /// The group's display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The members; `None` when the key is absent.
    #[serde(default, borrow)]
    pub members: Option<Vec<MemberRead<'a>>>,
    /// Resource metadata, holding the version (= ETag).
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// A member as scimsync reads it ([`GroupRead`]).
#[derive(Debug, Deserialize)]
pub struct MemberRead<'a> {
    /// The member's id.
    #[serde(borrow)]
    pub value: std::borrow::Cow<'a, str>,
    /// `User` or `Group`.
    #[serde(rename = "type", default, borrow)]
    pub kind: Option<std::borrow::Cow<'a, str>>,
}

/// A member of a group (`ScimV2MemberReference`). `V` is how its id and type are held, `R`
/// its URI: owned strings by default; the emulator borrows them and writes the URI as it
/// serialises, without a string per member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberRef<V = String, R = String> {
    /// The member's id: a user id (or, in Genesys, possibly a group id).
    pub value: V,
    /// The member's URI (read-only; built by the server).
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<R>,
    /// `User` or `Group` (read-only).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<V>,
    /// A display name (some servers send one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl MemberRef {
    /// A reference that carries only the member's id, as scimsync sends them.
    pub fn id(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            ..Self::default()
        }
    }
}

/// Resource metadata (`ScimMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `Group` or `User`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// ISO-8601 time of the last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// The resource's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The version; matches the ETag response header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A SCIM User, reduced to the attributes scimsync matches on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Schema URNs.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// The user's id.
    pub id: String,
    /// The user's login (in Genesys, the main email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// An id given by the provisioning client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The name shown for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether the user is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Resource metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// A list response (`ScimGroupListResponse`, `ScimUserListResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    /// Schema URNs.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// How many resources match the filter, over all pages.
    pub total_results: u64,
    /// The 1-based index of this page's first resource.
    #[serde(default)]
    pub start_index: Option<u64>,
    /// How many resources this page holds.
    #[serde(default)]
    pub items_per_page: Option<u64>,
    /// This page's resources; absent when there are none.
    #[serde(rename = "Resources", default = "Vec::new")]
    pub resources: Vec<T>,
}

/// A PATCH request body (`ScimV2PatchRequest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchRequest {
    /// Always [`PATCH_OP_SCHEMA`].
    pub schemas: Vec<String>,
    /// The operations, applied in order and atomically.
    #[serde(rename = "Operations")]
    pub operations: Vec<PatchOperation>,
}

impl PatchRequest {
    /// A request with the PatchOp schema and these operations.
    pub fn new(operations: Vec<PatchOperation>) -> Self {
        Self {
            schemas: vec![PATCH_OP_SCHEMA.to_owned()],
            operations,
        }
    }
}

/// One PATCH operation (`ScimV2PatchOperation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    /// `add`, `remove` or `replace` (servers compare it case-insensitively).
    pub op: String,
    /// The attribute path: `members`, or `members[value eq "<id>"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value: for members, a list of [`MemberRef`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// A SCIM error response (`ScimError`). `status` is a string, as RFC 7644 and Genesys send it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Schema URNs.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// The HTTP status, as a string (some servers send a number: both are read).
    #[serde(default, deserialize_with = "string_or_number")]
    pub status: Option<String>,
    /// The SCIM error type: `invalidVers`, `invalidValue`, `tooMany`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ErrorBody {
    /// An error body for `status` with an optional scimType and a detail.
    pub fn new(status: u16, scim_type: Option<&str>, detail: impl Into<String>) -> Self {
        Self {
            schemas: vec![ERROR_SCHEMA.to_owned()],
            status: Some(status.to_string()),
            scim_type: scim_type.map(str::to_owned),
            detail: Some(detail.into()),
        }
    }
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_without_members_key_reads_as_none() {
        let g: Group =
            serde_json::from_str(r#"{"id":"g1","displayName":"Sales","meta":{"version":"\"3\""}}"#)
                .unwrap();
        assert_eq!(g.members, None);
        assert_eq!(g.meta.unwrap().version.as_deref(), Some("\"3\""));
    }

    #[test]
    fn patch_request_uses_capital_operations() {
        let body = PatchRequest::new(vec![PatchOperation {
            op: "add".into(),
            path: Some("members".into()),
            value: Some(serde_json::json!([{"value": "u1"}])),
        }]);
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["Operations"][0]["op"], "add");
        assert_eq!(json["schemas"][0], PATCH_OP_SCHEMA);
    }

    #[test]
    fn list_response_reads_capital_resources_and_missing_resources() {
        let l: ListResponse<Group> =
            serde_json::from_str(r#"{"totalResults":1,"Resources":[{"id":"g"}]}"#).unwrap();
        assert_eq!(l.resources.len(), 1);
        let empty: ListResponse<Group> = serde_json::from_str(r#"{"totalResults":0}"#).unwrap();
        assert!(empty.resources.is_empty());
    }

    #[test]
    fn error_status_reads_string_or_number() {
        let a: ErrorBody =
            serde_json::from_str(r#"{"status":"400","scimType":"invalidVers"}"#).unwrap();
        let b: ErrorBody = serde_json::from_str(r#"{"status":409}"#).unwrap();
        assert_eq!(a.status.as_deref(), Some("400"));
        assert_eq!(a.scim_type.as_deref(), Some("invalidVers"));
        assert_eq!(b.status.as_deref(), Some("409"));
    }
}

pub mod authz;
pub mod platform;
