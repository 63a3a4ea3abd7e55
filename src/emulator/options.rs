//! What a test can change about the emulator's behaviour: how it answers a stale `If-Match`
//! and a successful PATCH, its limits, ETags, strictness and latency.

use std::time::Duration;

use super::faults::RateLimit;

/// How an `If-Match` mismatch is answered (the sources disagree; all three are seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StaleStatus {
    /// 400 with scimType `invalidVers` (Genesys' parameter docs).
    #[default]
    InvalidVers400,
    /// 409 (Genesys' response table).
    Conflict409,
    /// 412 Precondition Failed (RFC 7232).
    PreconditionFailed412,
}

/// How a successful PATCH is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatchResponse {
    /// 200 with the group (and its ETag header).
    #[default]
    Body,
    /// 204 with only the ETag header.
    NoContent,
    /// 204 with no body and no ETag header, although the group has versions (RFC 7644
    /// §3.5.2 lets a server answer a PATCH with 204 and nothing else).
    NoContentNoEtag,
    /// Not applied, and 200 with the group as it is (same version): a server, proxy or
    /// gateway that accepts a write and drops it. A 2xx proves nothing by itself.
    Ignored,
    /// Not applied, and 200 with an HTML page (a captive portal or a misrouted gateway
    /// answering every request "OK").
    IgnoredHtml,
    /// Not applied, and 204 with the group's ETag as it was (RFC 7644 §3.5.2 lets a PATCH
    /// answer 204): a 2xx whose version did not move.
    IgnoredNoContent,
    /// Not applied, and 303 See Other to the group's own URL: a client that follows it
    /// turns the PATCH into a GET (RFC 9110 §15.4.4) and reads 200 with the unchanged group.
    SeeOther,
}

/// What the Platform API's user routes (`GET /api/v2/users`, `POST /api/v2/users/search`)
/// answer an OAuth client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlatformUsers {
    /// The client holds the scope (`users:readonly`): the routes answer.
    #[default]
    Allowed,
    /// It does not: both answer 403 `app.not.authorized.for.scope`, as Genesys does
    /// (`platform_routes`).
    MissingScope,
}

/// What the Platform API's grant read (`GET /api/v2/authorization/subjects/{id}`) answers
/// an OAuth client (`authz_routes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlatformGrants {
    /// The client holds the permission and scope: the route answers.
    #[default]
    Allowed,
    /// Its role lacks `authorization:grant:view`: 403 `missing.any.permissions`.
    MissingPermission,
    /// It lacks the scope `authorization:readonly`: 403 `app.not.authorized.for.scope`.
    MissingScope,
}

/// The emulator's behaviour.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent switches a test flips one at a time, not a state machine"
)]
pub struct Options {
    /// How an `If-Match` mismatch is answered.
    pub stale_status: StaleStatus,
    /// How a successful PATCH is answered.
    pub patch_response: PatchResponse,
    /// Member values per PATCH, at most (more: 400 `tooMany`).
    pub max_values_per_patch: usize,
    /// Page size of list calls, at most (more: 429).
    pub max_page_size: u64,
    /// `expires_in` of issued tokens.
    pub token_lifetime: Duration,
    /// Send `W/"7"` instead of `"7"`.
    pub weak_etags: bool,
    /// Compare `If-Match` strongly, as RFC 9110 §13.1.1 says: a weak ETag never matches, so
    /// with `weak_etags` every conditional write is refused (a server or proxy that sends
    /// weak ETags and then holds If-Match to the letter).
    pub strong_if_match: bool,
    /// Per-token rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// Send ETags (`ETag` header, `meta.version`) and honour `If-Match`. Off: a plain RFC 7644
    /// server without versioning.
    pub etags: bool,
    /// Strict RFC 7644 (§3.5.2.2): a `remove` of `members` without a filter removes the
    /// attribute and **all** its values, whatever value list it carries (a literal server
    /// empties the group); only `members[value eq "…"]` removes one member.
    pub strict_rfc: bool,
    /// Members per page of the Graph delta and Okta listing endpoints.
    pub idp_page_size: usize,
    /// PATCH bodies over this many bytes answer 413 (Genesys: 512,000).
    pub max_patch_bytes: usize,
    /// `expires_in` of Graph app tokens (Entra issues about an hour).
    pub graph_token_lifetime: Duration,
    /// Answer every IdP read (delta, Graph, Okta) with 200 and a streamed body of this many
    /// bytes that never ends as JSON: a runaway IdP answer.
    pub idp_huge_body: Option<u64>,
    /// Every request (SCIM, OAuth, IdP) is answered this much later, as a real service's
    /// round trip would be: the benchmark's wall-time target is set at 20 ms.
    pub latency: Duration,
    /// Whether OAuth clients may read users through the Platform API.
    pub platform_users: PlatformUsers,
    /// Whether OAuth clients may read what groups grant.
    pub platform_grants: PlatformGrants,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            stale_status: StaleStatus::default(),
            patch_response: PatchResponse::default(),
            max_values_per_patch: 50,
            max_page_size: 25,
            token_lifetime: Duration::from_hours(24),
            weak_etags: false,
            strong_if_match: false,
            rate_limit: None,
            etags: true,
            strict_rfc: false,
            idp_page_size: 100,
            max_patch_bytes: 512_000,
            graph_token_lifetime: Duration::from_secs(3599),
            idp_huge_body: None,
            latency: Duration::ZERO,
            platform_users: PlatformUsers::default(),
            platform_grants: PlatformGrants::default(),
        }
    }
}
