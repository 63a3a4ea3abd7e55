//! Plans: what will be sent to each group, and why. Pure: no HTTP, no files but its own.
//!
//! - [`planner`]: intent + current members + policy → changes, skipped entries, guard
//! - [`file`](mod@file): the plan file: canonical JSON, sha256, verification, atomic write
//! - [`render`]: table, markdown, json, and the diff between a plan and its re-plan

pub mod file;
pub mod planner;
pub mod render;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{Cursor, ETag, GroupId, MemberChanges, UserId};

/// The plan file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// A plan: per group, the changes reconciled against the group's state at plan time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// [`FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// The scimsync version that wrote it.
    pub tool_version: String,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// Where it applies.
    pub target: TargetRef,
    /// sha256 of the config file it was made with.
    pub config_sha256: String,
    /// One entry per planned group, in config order.
    pub groups: Vec<GroupPlan>,
    /// Totals.
    pub summary: Summary,
    /// sha256 of the canonical serialization of every other field.
    #[serde(default)]
    pub sha256: String,
}

/// The target a plan applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRef {
    /// `genesys` or `scim`.
    pub kind: String,
    /// The API base (Genesys) or SCIM base URL.
    pub api_base: String,
}

/// One group's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPlan {
    /// The Genesys group id.
    pub group_id: GroupId,
    /// Its display name at plan time.
    pub display_name: String,
    /// What the group must still be for the changes to apply.
    pub precondition: Precondition,
    /// Where the intent came from.
    pub source: SourceRef,
    /// What the IdP asked for (resolved to Genesys ids).
    pub intent: Intent,
    /// What will be sent.
    pub changes: MemberChanges,
    /// What was asked for but will not be sent, and why; sorted.
    pub skipped: Vec<Skipped>,
    /// The removal guard's count and limit.
    pub guard: Guard,
}

/// The group's state when the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Precondition {
    /// The ETag read; sent in `If-Match`. `None` when the server sent none.
    pub etag: Option<ETag>,
    /// [`crate::model::members_sha256`] of the members read.
    pub members_sha256: String,
    /// How many members it had.
    pub member_count: usize,
}

/// Where a group's intent came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// `delta-http`, `file`, …
    pub kind: String,
    /// The IdP group (the config's group name; keys the state file).
    pub idp_group: String,
    /// The cursor the changes were read from (`None`: a full read).
    pub cursor_from: Option<Cursor>,
    /// The cursor to store once the changes are applied.
    pub cursor_to: Option<Cursor>,
}

/// What the IdP asked for.
///
/// Serialized untagged (`{"add": […], "remove": […]}` or `{"members": […]}`), but read
/// through a plain struct (`RawIntent`): serde's untagged reading buffers the whole value first, which costs
/// seconds on a plan of a million memberships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, try_from = "RawIntent")]
pub enum Intent {
    /// `mode = "delta"`: users to add and remove.
    Delta {
        /// Users to add.
        add: BTreeSet<UserId>,
        /// Users to remove.
        remove: BTreeSet<UserId>,
    },
    /// `mode = "full"`: the desired membership.
    Full {
        /// Every desired member.
        members: BTreeSet<UserId>,
    },
}

/// The wire shape of an [`Intent`], read directly.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntent {
    add: Option<Vec<UserId>>,
    remove: Option<Vec<UserId>>,
    members: Option<Vec<UserId>>,
}

impl TryFrom<RawIntent> for Intent {
    type Error = &'static str;

    fn try_from(raw: RawIntent) -> Result<Self, Self::Error> {
        match (raw.add, raw.remove, raw.members) {
            (Some(add), Some(remove), None) => Ok(Self::Delta {
                add: add.into_iter().collect(),
                remove: remove.into_iter().collect(),
            }),
            (None, None, Some(members)) => Ok(Self::Full {
                members: members.into_iter().collect(),
            }),
            _ => Err("intent must be {\"add\": [...], \"remove\": [...]} or {\"members\": [...]}"),
        }
    }
}

/// A user asked for but not changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    /// The Genesys id, or the IdP key when it resolved to no user.
    pub user: String,
    /// Why.
    pub reason: SkipReason,
}

/// Why a user was not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Asked to be added, but already a member.
    AlreadyMember,
    /// Asked to be removed, but not a member.
    NotAMember,
    /// No such user in Genesys Cloud.
    UnknownUser,
    /// A protected member (`safety.protected_members`), never removed.
    Protected,
}

impl SkipReason {
    /// `already-member`, … as in plan files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlreadyMember => "already-member",
            Self::NotAMember => "not-a-member",
            Self::UnknownUser => "unknown-user",
            Self::Protected => "protected",
        }
    }
}

/// The removal guard as applied to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    /// Removals planned.
    pub removals: usize,
    /// Removals allowed.
    pub limit: usize,
    /// True when `--allow-removals` set the limit.
    pub overridden: bool,
}

/// Totals over a plan's groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Groups planned.
    pub groups: usize,
    /// Groups with changes.
    pub groups_changed: usize,
    /// Users added, over all groups.
    pub add: usize,
    /// Users removed, over all groups.
    pub remove: usize,
}

impl Summary {
    /// The totals of `groups`.
    pub fn of(groups: &[GroupPlan]) -> Self {
        Self {
            groups: groups.len(),
            groups_changed: groups.iter().filter(|g| !g.changes.is_empty()).count(),
            add: groups.iter().map(|g| g.changes.add.len()).sum(),
            remove: groups.iter().map(|g| g.changes.remove.len()).sum(),
        }
    }
}

impl Plan {
    /// True when some group has changes.
    pub fn has_changes(&self) -> bool {
        self.groups.iter().any(|g| !g.changes.is_empty())
    }
}
