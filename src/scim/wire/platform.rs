//! serde types of the Genesys Cloud Platform API's user reads (not SCIM): the bulk read
//! `GET /api/v2/users?id=…` and the search `POST /api/v2/users/search`, and the Platform
//! error body. Shared with the emulator, which serialises its answers through them.
//!
//! Source for every field: the official Python SDK `purecloudplatformclientv2` (PyPI; its
//! `models/user.py`, `user_entity_listing.py`, `user_search_request.py`,
//! `user_search_criteria.py`, `users_search_response.py`, `error_body.py`, whose
//! `attribute_map`s give the JSON keys), the same text as MyPureCloud/platform-client-sdk-python
//! `build/docs/User.md`, `UserEntityListing.md`, `UserSearchRequest.md`,
//! `UserSearchCriteria.md`, `UsersSearchResponse.md`, `ErrorBody.md`. Only the fields
//! scimsync reads or sends are modelled; unknown keys are ignored, so a richer answer from
//! Genesys decodes the same. `tests/sdk_contract.rs` checks the emulator's answers against the
//! SDK's own models and our requests against the SDK's.

use serde::{Deserialize, Serialize};

/// A Platform API `User` (the fields scimsync reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The globally unique identifier for the object.
    pub id: String,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's login name (the SCIM `userName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `active`, `inactive` or `deleted` (SDK: "The current state for this user").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The version of this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The URI for this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// A `UserEntityListing`: one page of `GET /api/v2/users`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntityListing {
    /// The users of this page.
    #[serde(default)]
    pub entities: Vec<User>,
    /// The page size asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i64>,
    /// The page number (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_number: Option<i64>,
    /// How many users match in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// How many pages there are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_count: Option<i64>,
    /// This page's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    /// The next page's URI, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_uri: Option<String>,
}

/// One criterion of a user search (`UserSearchCriteria`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSearchCriteria {
    /// Search type: `EXACT` here (also `CONTAINS`, `STARTS_WITH`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Field names to search against: `id`, `username`, `email`, `state`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// A list of values for the search to match against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// A single value to match against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// How to apply this criterion against the others: `AND`, `OR`, `NOT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

/// The body of `POST /api/v2/users/search` (`UserSearchRequest`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSearchRequest {
    /// The number of results per page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// The page wanted (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_number: Option<u32>,
    /// The criteria, all of which must hold (`AND`, the default operator).
    #[serde(default)]
    pub query: Vec<UserSearchCriteria>,
}

/// The answer to a user search (`UsersSearchResponse`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsersSearchResponse {
    /// How many users match in all.
    pub total: i64,
    /// How many pages there are.
    pub page_count: i32,
    /// The page size.
    pub page_size: i32,
    /// This page's number.
    pub page_number: i32,
    /// The resource types searched (`users`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// The users of this page.
    #[serde(default)]
    pub results: Vec<User>,
}

/// A Platform API error (`ErrorBody`): not the SCIM error of [`super::ErrorBody`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// What went wrong, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The error code: `app.not.authorized.for.scope`, `missing.any.permissions`,
    /// `bad.request`, `too.many.requests.retry.after`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The HTTP status, as a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// Genesys's id of the request, for its support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
    /// Parameters of the message (the scope or permission that is missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_params: Option<std::collections::BTreeMap<String, String>>,
}

/// The OAuth scope the Platform API's user reads need (read-only; `users` also grants it):
/// the scope Genesys's own tools name for user reads (GenesysCloudBlueprints and Professional
/// Services tools: "Must have users:readonly"; Terraform `genesyscloud_oauth_client` examples).
pub const SCOPE: &str = "users:readonly";

/// The `state` values a user has (SDK `User.state`).
pub const USER_STATES: [&str; 3] = ["active", "inactive", "deleted"];
