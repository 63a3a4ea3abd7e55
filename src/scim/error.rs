//! The errors of the SCIM side: each names what was being done, the HTTP status and
//! scimType when there was one, and what to do about it.

use crate::endpoint::EndpointError;
use crate::http::auth::AuthError;
use crate::http::retry::Failure;
use crate::http::retry::RateLimitReason;

/// An error talking to a SCIM server.
#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// The ETag sent in `If-Match` is no longer the group's: someone changed it since the plan
    /// was made. Never retried with a fresh ETag (that would apply what nobody approved).
    #[error(
        "{context}: the group changed since the plan was made (HTTP {status}{}): the approved plan no longer applies; re-plan and approve again",
        scim_type_suffix(.scim_type.as_deref())
    )]
    Stale {
        /// What was being done (e.g. `PATCH group 5f4b… (Sales)`).
        context: String,
        /// 400 (scimType invalidVers), 409 or 412.
        status: u16,
        /// The scimType, if any.
        scim_type: Option<String>,
    },
    /// The server accepted a PATCH (or redirected it) and a re-read shows it did not apply
    /// all of it: a removal a group's membership rule undoes, a gateway that drops writes.
    #[error(
        "{context}: HTTP {status}, but a re-read shows the group without the change: {}; nothing else moved. The group's state stays where it was, so every later plan asks again; if a Genesys membership rule holds these members, change the rule or the users' profiles",
        not_applied_list(.not_added, .not_removed)
    )]
    NotApplied {
        /// What was being done.
        context: String,
        /// The answer's status (2xx or 3xx).
        status: u16,
        /// Users the chunk added that are not members.
        not_added: Vec<crate::model::UserId>,
        /// Users the chunk removed that are still members.
        not_removed: Vec<crate::model::UserId>,
    },
    /// The server answered with an error status that retrying will not fix.
    #[error("{context}: HTTP {status}{}{}{}", scim_type_suffix(.scim_type.as_deref()), detail_suffix(.detail.as_deref()), hint(*.status, .scim_type.as_deref(), .context, .detail.as_deref()))]
    Status {
        /// What was being done.
        context: String,
        /// The HTTP status.
        status: u16,
        /// The SCIM error type, if the body had one.
        scim_type: Option<String>,
        /// The server's explanation, if any.
        detail: Option<String>,
        /// `ININ-Correlation-Id` of the response: Genesys support asks for it.
        correlation_id: Option<String>,
    },
    /// 429 answers kept coming, or the server asked for a wait longer than the cap.
    #[error(
        "{context}: rate limited (HTTP 429) {reason}; lower target.requests_per_minute or target.concurrency, or run again later"
    )]
    RateLimited {
        /// What was being done.
        context: String,
        /// Why scimsync stopped waiting.
        reason: RateLimitReason,
    },
    /// The request failed in transport (connection reset, timeout) or with 5xx, every time.
    /// For a PATCH, it may have been applied: the caller re-reads the group to tell.
    #[error(
        "{context}: {detail} (gave up after {attempts} attempts); check the network and the service status, then run again"
    )]
    Transport {
        /// What was being done.
        context: String,
        /// The last failure.
        detail: String,
        /// How many times it was tried.
        attempts: usize,
    },
    /// A response body that is not the JSON expected.
    #[error("{context}: the response is not the SCIM JSON expected ({detail})")]
    Decode {
        /// What was being done.
        context: String,
        /// The parser's complaint.
        detail: String,
    },
    /// The server answered a redirect (3xx), which no client of scimsync follows.
    #[error("{context}: HTTP {status} {refusal}")]
    Redirected {
        /// What was being done.
        context: String,
        /// The 3xx status.
        status: u16,
        /// The status and the Location's origin (`http::redirect_refusal`).
        refusal: String,
    },
    /// A group read answered another group's body.
    #[error(
        "{context}: the server answered group {answered:?} when group {asked:?} was asked for; refusing to plan or write one group from another's answer: check target.api_base and what sits in front of Genesys Cloud"
    )]
    WrongGroup {
        /// What was being done.
        context: String,
        /// The id asked for.
        asked: String,
        /// The id the answer carries.
        answered: String,
    },
    /// An answer larger than [`crate::http::MAX_BODY_BYTES`].
    #[error(
        "{context}: the answer is larger than {} MiB (scimsync's cap on any answer); stopped reading it: check target.api_base and what sits in front of Genesys Cloud",
        .cap / (1024 * 1024)
    )]
    TooLarge {
        /// What was being done.
        context: String,
        /// The cap, in bytes.
        cap: u64,
    },
    /// A listing that does not end: a page repeated, or more pages than its own count.
    #[error(
        "{context}: {detail}; stopped listing (a listing that does not end is not believed): check target.api_base and what sits in front of Genesys Cloud"
    )]
    Paging {
        /// What was being done.
        context: String,
        /// What was wrong.
        detail: String,
    },
    /// No group has this display name.
    #[error(
        "no Genesys Cloud group is named {name:?}: SCIM cannot create groups; create it in Genesys Cloud (Admin > Groups) with exactly this name, or set target_id to the group's id"
    )]
    GroupNotFound {
        /// The display name looked for.
        name: String,
    },
    /// More than one group has this display name.
    #[error(
        "{count} Genesys Cloud groups are named {name:?} (ids: {ids}): set target_id to the one meant"
    )]
    AmbiguousGroup {
        /// The display name looked for.
        name: String,
        /// How many matched.
        count: usize,
        /// Their ids, comma-separated.
        ids: String,
    },
    /// More than one user matches an IdP key.
    #[error(
        "{count} Genesys Cloud users have {attribute} {value:?}: user keys must be unique; use user_key = \"id\" or fix the duplicates"
    )]
    AmbiguousUser {
        /// The SCIM attribute.
        attribute: &'static str,
        /// The value looked for.
        value: String,
        /// How many matched.
        count: usize,
    },
    /// A value that cannot be put in a SCIM filter safely.
    #[error(
        "{what} {value:?} holds a control character (newline, tab, …) and cannot be used in a SCIM filter: fix the value at its source"
    )]
    UnsafeFilterValue {
        /// Which kind of value (user id, display name, …).
        what: &'static str,
        /// The value, escaped for display.
        value: String,
    },
    /// A Genesys group read answered without an ETag (header and `meta.version`): a plan of it
    /// could never be applied, since every Genesys PATCH carries `If-Match`.
    #[error(
        "{context}: Genesys Cloud sent no ETag (neither an ETag header nor meta.version) for group {group}, so no PATCH to it can carry If-Match and scimsync will not write to it; check that target.api_base is Genesys Cloud's API (https://api.<region domain>) and not a proxy that strips headers, or use kind = \"scim\" for a server without versioning"
    )]
    GenesysWithoutEtag {
        /// What was being done.
        context: String,
        /// The group.
        group: String,
    },
    /// A PATCH needs a precondition the server never gave.
    #[error(
        "{context}: the server sent no ETag for this group, so a PATCH cannot carry If-Match; scimsync never writes blind"
    )]
    NoEtag {
        /// What was being done.
        context: String,
    },
    /// Credentials could not be obtained or were refused.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A configured URL was refused.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The HTTP client could not be built (TLS setup).
    #[error("could not set up the HTTP client: {0}")]
    Client(String),
}

impl ScimError {
    /// True for the stale answer: the group moved since the plan.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::Stale { .. })
    }

    /// The answer's SCIM `scimType` (`invalidValue`, …), when it had one.
    pub fn scim_type(&self) -> Option<&str> {
        match self {
            Self::Stale { scim_type, .. } | Self::Status { scim_type, .. } => scim_type.as_deref(),
            _ => None,
        }
    }

    /// Whether Genesys refused a user of the request as such (400 `invalidValue`: a user that
    /// does not exist or is inactive), so that the resolution cache must not vouch for the
    /// users it was asked to add again.
    pub fn refuses_a_user(&self) -> bool {
        self.scim_type() == Some("invalidValue")
    }

    /// The users a [`ScimError::NotApplied`] names: those not added, then those not removed.
    pub fn not_applied(&self) -> Option<(&[crate::model::UserId], &[crate::model::UserId])> {
        match self {
            Self::NotApplied {
                not_added,
                not_removed,
                ..
            } => Some((not_added, not_removed)),
            _ => None,
        }
    }

    /// The HTTP status of the answer, when the error came from one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Stale { status, .. } | Self::Status { status, .. } => Some(*status),
            Self::RateLimited { .. } => Some(429),
            _ => None,
        }
    }
}

impl From<crate::http::auth::TokenError> for ScimError {
    fn from(e: crate::http::auth::TokenError) -> Self {
        match e.failure {
            Failure::Fatal(auth) => Self::Auth(auth),
            Failure::GaveUp { detail, attempts } => Self::Transport {
                context: e.context,
                detail,
                attempts,
            },
            Failure::RateLimited(reason) => Self::RateLimited {
                context: e.context,
                reason,
            },
        }
    }
}

impl Failure<ScimError> {
    /// The [`ScimError`] for a request (named by `context`) that failed after retries.
    pub fn into_scim(self, context: &str) -> ScimError {
        match self {
            Failure::GaveUp { detail, attempts } => ScimError::Transport {
                context: context.to_owned(),
                detail,
                attempts,
            },
            Failure::RateLimited(reason) => ScimError::RateLimited {
                context: context.to_owned(),
                reason,
            },
            Failure::Fatal(e) => e,
        }
    }
}

fn scim_type_suffix(scim_type: Option<&str>) -> String {
    scim_type
        .map(|t| format!(", scimType {t}"))
        .unwrap_or_default()
}

fn detail_suffix(detail: Option<&str>) -> String {
    detail
        .filter(|d| !d.is_empty())
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

/// What to do, by status (and, for a 404, by what was asked): the README's troubleshooting
/// table in short.
fn hint(status: u16, scim_type: Option<&str>, context: &str, detail: Option<&str>) -> &'static str {
    let about_user = |text: &str| {
        let text = text.to_ascii_lowercase();
        text.contains("user ") || text.starts_with("user")
    };
    match (status, scim_type) {
        (400, Some("invalidValue")) => {
            " (a user in the request does not exist in Genesys Cloud or is inactive; re-plan to skip unknown users)"
        }
        (400, Some("tooMany")) => {
            " (too many values in one PATCH; lower target.max_members_per_patch)"
        }
        (400, Some("invalidFilter")) => " (the server refused the filter)",
        (401, _) => " (the token was refused; check the OAuth client's credentials and region)",
        (403, _) => {
            " (the OAuth client lacks permission: its role needs directory:group:edit and its scopes scim / scim:readonly)"
        }
        (404, _) if about_user(context) => {
            " (no such user in Genesys Cloud: it is not provisioned yet, or was deleted; the plan treats it as unknown and looks it up again next time)"
        }
        (404, _) if detail.is_some_and(about_user) => {
            " (the PATCH names a user that does not exist in Genesys Cloud; re-plan: unknown users are left out of the changes)"
        }
        (404, _) => " (no such resource: check target_id, or that the group was not deleted)",
        (413, _) => " (request too large; lower target.max_members_per_patch)",
        _ => "",
    }
}

/// `not removed: u1, u2; not added: u3`.
fn not_applied_list(
    not_added: &[crate::model::UserId],
    not_removed: &[crate::model::UserId],
) -> String {
    let list = |v: &[crate::model::UserId]| {
        v.iter()
            .map(crate::model::UserId::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (not_added.is_empty(), not_removed.is_empty()) {
        (true, _) => format!("not removed: {}", list(not_removed)),
        (_, true) => format!("not added: {}", list(not_added)),
        _ => format!(
            "not removed: {}; not added: {}",
            list(not_removed),
            list(not_added)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_status_type_and_what_to_do() {
        let e = ScimError::Status {
            context: "PATCH group g1 (Sales)".into(),
            status: 403,
            scim_type: None,
            detail: Some("missing.permissions".into()),
            correlation_id: None,
        };
        let text = e.to_string();
        assert!(text.contains("HTTP 403"), "{text}");
        assert!(text.contains("directory:group:edit"), "{text}");
        let stale = ScimError::Stale {
            context: "PATCH group g1".into(),
            status: 400,
            scim_type: Some("invalidVers".into()),
        };
        assert!(stale.is_stale());
        assert!(stale.to_string().contains("scimType invalidVers"));
    }

    #[test]
    fn a_404_about_a_user_says_so_not_check_target_id() {
        let status = |context: &str, detail: Option<&str>| {
            ScimError::Status {
                context: context.into(),
                status: 404,
                scim_type: Some("noTarget".into()),
                detail: detail.map(str::to_owned),
                correlation_id: None,
            }
            .to_string()
        };
        let lookup = status("GET user 3b8c", Some("user 3b8c not found"));
        assert!(
            lookup.contains("no such user") && !lookup.contains("target_id"),
            "{lookup}"
        );
        let lookup = status("find user userName \"a@b.c\"", None);
        assert!(lookup.contains("no such user"), "{lookup}");
        let patch = status(
            "PATCH group g1 (chunk 1 of 1)",
            Some("User 3b8c does not exist"),
        );
        assert!(
            patch.contains("names a user that does not exist") && !patch.contains("target_id"),
            "{patch}"
        );
        let group = status("PATCH group g1 (chunk 1 of 1)", Some("group g1 not found"));
        assert!(group.contains("check target_id"), "{group}");
    }
}
