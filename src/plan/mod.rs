//! Plans: what will be sent to each group, and why. Pure: no HTTP, no files but its own.
//!
//! - [`planner`]: intent + current members + policy → changes, skipped entries, guard
//! - [`file`](mod@file): the plan file: canonical JSON, sha256, verification, atomic write
//! - [`grants`]: what a change grants (roles in divisions), the privileged rule, how grants
//!   read at apply differ from the plan's
//! - [`render`]: table, markdown, json, and the diff between a plan and its re-plan
//! - [`escape`]: strings from outside, escaped for the terminal, markdown, HTML and JSON

pub mod basis;
pub mod check;
pub mod escape;
pub mod file;
pub mod grants;
pub mod planner;
pub mod render;
pub mod report;
pub mod settle;

use crate::model::IdpKey;
use crate::model::Sha256Hex;
use crate::model::{Base, Intent, Precondition};
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::{
    Cursor, GroupId, Mapping, MemberChanges, SourceKind, TargetKind, UserId, UserKey,
};

/// The plan file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;

/// A plan: per group, the changes reconciled against the group's state at plan time.
///
/// Format 2, per group: the Genesys group and the config mapping it was planned for; the
/// precondition (ETag, members digest, count); the state `base` (lineage + serial) it was
/// made from; where the IdP answer came from and how it was read; the IdP's answer in IdP
/// keys as a difference against the state's mirror (`intent`: apply turns the mirror into the
/// new one with it, a re-plan rebuilds the desired set from it); how the keys resolved, where
/// that cannot be derived again (see [`Resolution::is_kept`]); the changes in Genesys ids with a reason each; pending and skipped users;
/// the guard; for a group with changes, the roles it grants and whether one is privileged.
/// `labels` gives a human label for every user id the plan names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// [`FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// The scimsync version that wrote it.
    pub tool_version: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// Where it applies.
    pub target: TargetRef,
    /// The source settings it was read with; apply refuses a plan whose settings the config
    /// no longer has. Absent in plans of scimsync before 0.1 of this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceSettings>,
    /// sha256 of the config file it was made with.
    pub config_sha256: Sha256Hex,
    /// One entry per planned group, in config order.
    pub groups: Vec<GroupPlan>,
    /// A human label (userName or display name) for user ids the plan names. Display only.
    #[serde(default)]
    pub labels: BTreeMap<UserId, String>,
    /// Totals.
    pub summary: Summary,
    /// For a re-plan written by apply: the sha256 of the plan it replaces (the journal
    /// records both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Sha256Hex>,
    /// sha256 of the canonical serialization of every other field.
    #[serde(default)]
    pub sha256: Sha256Hex,
}

/// The target a plan applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRef {
    /// `genesys` or `scim`.
    pub kind: TargetKind,
    /// The API base (Genesys) or SCIM base URL.
    pub api_base: String,
}

/// The source settings a plan was read with: what, besides the mappings, decides which
/// Genesys user an IdP key is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// `source.kind`.
    pub kind: SourceKind,
    /// `source.user_key`.
    pub user_key: UserKey,
    /// Where the source is: its base URL, or its file's path.
    pub location: String,
}

/// One group's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPlan {
    /// The Genesys group id.
    pub group_id: GroupId,
    /// Its display name at plan time.
    pub display_name: String,
    /// The config's mapping this group was planned under; apply refuses the group if the
    /// config maps it differently by then.
    pub mapping: Mapping,
    /// What the group must still be for the changes to apply.
    pub precondition: Precondition,
    /// The state the plan was made from; apply refuses the group if it has moved.
    pub base: Base,
    /// Where the intent came from.
    pub source: SourceRef,
    /// The IdP's answer, in IdP keys, as a difference against the state's mirror at `base`:
    /// the desired set is [`Intent::desired`] of that mirror.
    pub intent: Intent<IdpKey>,
    /// How the IdP keys of the desired set and of `intent.revoked` resolved, for the keys
    /// whose resolution cannot be derived again ([`Resolution::is_kept`]); every other key is
    /// [`Resolution::derived`]. A re-plan reuses it; apply adds the users found by a lookup to
    /// the state's resolution cache.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resolution: BTreeMap<IdpKey, Resolution>,
    /// What will be sent.
    pub changes: MemberChanges,
    /// Why each change is made.
    pub reasons: BTreeMap<UserId, ChangeReason>,
    /// Desired users who cannot be added yet, and why; kept in the mirror and looked up
    /// again by every plan.
    pub pending: Vec<Pending>,
    /// Users left alone, and why; sorted.
    pub skipped: Vec<Skipped>,
    /// Members of the group that are groups: never added, removed or counted.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub member_groups: BTreeSet<GroupId>,
    /// The removal guard's count and limit.
    pub guard: Guard,
    /// The roles the group grants its members, read for a group with changes (absent when
    /// not read: no changes, `[review] grants = "off"`, or a target without the Platform API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<grants::GroupGrants>,
    /// True when the group has changes and grants a privileged role
    /// ([`grants::privilege`]): shown first, marked, and counted in the summary.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
}

/// How an IdP key resolved to a Genesys user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// An active user, known before this plan (the state's cache, or a member of a group
    /// read in this run).
    User(UserId),
    /// An active user found by a lookup in this plan.
    Found(UserId),
    /// A user that exists but is inactive: pending, never added.
    Inactive(UserId),
    /// No user has this key (yet): pending.
    Unknown,
    /// The IdP account is disabled or suspended: not desired. The id when known.
    Disabled(Option<UserId>),
    /// The IdP member is not a user (a group, a device, a service principal).
    NotAUser,
    /// The key cannot name a user (it holds control characters).
    Invalid,
}

impl Resolution {
    /// Whether a plan whose changes are `changes` keeps this resolution.
    ///
    /// The rule: a plan stores a key's resolution only where apply or a re-plan could not
    /// derive it again. Kept: a user found by a lookup in this plan ([`Found`](Self::Found):
    /// apply adds it to the state's cache), [`Inactive`](Self::Inactive),
    /// [`Unknown`](Self::Unknown), [`Disabled`](Self::Disabled),
    /// [`NotAUser`](Self::NotAUser), [`Invalid`](Self::Invalid) (what the IdP or a lookup
    /// said in this plan), and any key whose user a change names (apply drops those keys from
    /// the cache when Genesys refuses the user; labels name them). Dropped: a key resolved
    /// as an active [`User`](Self::User) already known — from the state's resolution cache,
    /// or, with `user_key = "id"`, the key itself — that no change names; a re-plan rebuilds
    /// it with [`Resolution::derived`]. An unchanged group thus stores no resolution at all.
    pub fn is_kept(&self, changes: &MemberChanges) -> bool {
        match self {
            Self::User(id) => changes.add.contains(id) || changes.remove.contains(id),
            _ => true,
        }
    }

    /// The resolution of a key the plan did not keep: the state's cache entry for it
    /// (`cached`), else, when IdP keys are Genesys ids, the key itself; else
    /// [`Unknown`](Self::Unknown) (the cache entry was dropped since: the user is pending,
    /// and the next plan looks it up again).
    pub fn derived(key: &IdpKey, cached: Option<UserId>, user_key: UserKey) -> Self {
        match cached {
            Some(id) => Self::User(id),
            None if user_key == UserKey::Id => Self::User(UserId::from(key.as_str())),
            None => Self::Unknown,
        }
    }

    /// The Genesys user, if the key names one.
    pub fn id(&self) -> Option<&UserId> {
        match self {
            Self::User(id) | Self::Found(id) | Self::Inactive(id) => Some(id),
            Self::Disabled(id) => id.as_ref(),
            Self::Unknown | Self::NotAUser | Self::Invalid => None,
        }
    }
}

/// Where a group's intent came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// `delta-http`, `file`, …
    pub kind: SourceKind,
    /// How the IdP was read.
    pub read: ReadKind,
    /// The cursor the changes were read from (`None`: a full read).
    pub cursor_from: Option<Cursor>,
    /// The cursor to store once the changes are applied.
    pub cursor_to: Option<Cursor>,
}

/// How a group's IdP membership was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadKind {
    /// The changes since the cursor, on top of the mirror.
    Delta,
    /// The whole membership: `full` mode, a listing source, or a first read.
    Full,
    /// The whole membership because the cursor expired or the mirror was unknown: removals
    /// are the mirror's members the IdP no longer has.
    Resync,
    /// Not read: a re-plan of a superseded plan, from the state's mirror.
    State,
}

impl ReadKind {
    /// `delta`, `full`, … as in plan files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delta => "delta",
            Self::Full => "full",
            Self::Resync => "resync",
            Self::State => "state",
        }
    }
}

/// Why a change is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeReason {
    /// Add: the IdP granted it.
    Granted,
    /// Add: the IdP granted it earlier and it was removed in Genesys by hand (drift).
    Restored,
    /// Add: the IdP granted it while the user could not be added; now it can.
    PendingResolved,
    /// Remove: the IdP revoked it.
    Revoked,
    /// Remove: the IdP account is disabled or suspended.
    DisabledInIdp,
    /// Remove (`full` mode): not in the IdP's membership.
    NotDesired,
}

impl ChangeReason {
    /// `granted`, … as in plan files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::Restored => "restored",
            Self::PendingResolved => "pending-resolved",
            Self::Revoked => "revoked",
            Self::DisabledInIdp => "disabled-in-idp",
            Self::NotDesired => "not-desired",
        }
    }

    /// What it means, for a reviewer.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Granted => "granted by the IdP",
            Self::Restored => "restored after a change made by hand in Genesys",
            Self::PendingResolved => "a pending user, now found in Genesys",
            Self::Revoked => "revoked by the IdP",
            Self::DisabledInIdp => "disabled in the IdP",
            Self::NotDesired => "not in the IdP group (full mode)",
        }
    }
}

/// A desired user who cannot be added yet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// The IdP key.
    pub key: IdpKey,
    /// Why.
    pub reason: PendingReason,
}

/// Why a desired user is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PendingReason {
    /// No Genesys user has this key (yet: user provisioning may run later).
    UnknownUser,
    /// The Genesys user is inactive (Genesys refuses to add it to a group).
    InactiveUser,
}

impl PendingReason {
    /// `unknown-user`, … as in plan files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown-user",
            Self::InactiveUser => "inactive-user",
        }
    }
}

/// A user left alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    /// The Genesys id, or the IdP key when it resolved to no user.
    pub user: String,
    /// Why.
    pub reason: SkipReason,
}

/// Why a user was left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// A protected member (`safety.protected_members`), never removed.
    Protected,
    /// The IdP key cannot name a user (it holds control characters).
    InvalidKey,
    /// The IdP member is not a user (a group, a device, a service principal).
    NotAUser,
    /// The IdP account is disabled or suspended, and not a member: nothing to do.
    DisabledInIdp,
    /// A revoked key another desired key equals but for case: the same person, kept.
    CaseTwin,
}

impl SkipReason {
    /// `protected`, … as in plan files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Protected => "protected",
            Self::InvalidKey => "invalid-key",
            Self::NotAUser => "not-a-user",
            Self::DisabledInIdp => "disabled-in-idp",
            Self::CaseTwin => "case-twin",
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

impl GroupPlan {
    /// This plan with the grants read for it, and marked privileged when it has changes and
    /// one of them is.
    #[must_use]
    pub fn with_grants(mut self, grants: grants::GroupGrants) -> Self {
        self.privileged = !self.changes.is_empty() && grants.is_privileged();
        self.grants = Some(grants);
        self
    }

    /// The IdP keys of the users this plan adds.
    pub fn keys_of_adds(&self) -> impl Iterator<Item = &IdpKey> {
        self.resolution
            .iter()
            .filter(|(_, r)| r.id().is_some_and(|id| self.changes.add.contains(id)))
            .map(|(k, _)| k)
    }

    /// The users this plan's look-ups found, and every user its changes name: they join (or
    /// refresh) the resolution cache once it is applied, with the plan's label, so that a
    /// later plan names them without a request (ids as keys too), and a user who leaves every
    /// group keeps their entry for the cache's retention from this change
    /// (`state::USER_RETENTION`).
    pub fn found(&self) -> impl Iterator<Item = (&IdpKey, &UserId)> {
        self.resolution.iter().filter_map(|(k, r)| match r {
            Resolution::Found(id) => Some((k, id)),
            Resolution::User(id)
                if self.changes.add.contains(id) || self.changes.remove.contains(id) =>
            {
                Some((k, id))
            }
            _ => None,
        })
    }
}

impl Guard {
    /// The `--allow-removals` the plan was made with, if any: a re-plan keeps it.
    pub fn recorded_override(&self) -> Option<usize> {
        self.overridden.then_some(self.limit)
    }
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
    /// Pending users, over all groups.
    #[serde(default)]
    pub pending: usize,
    /// Changes (adds and removes) to privileged groups, over all groups: a policy check can
    /// ask for a second approver when it is not 0. Absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub privileged: usize,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    /// The totals of `groups`.
    pub fn of(groups: &[GroupPlan]) -> Self {
        Self {
            groups: groups.len(),
            groups_changed: groups.iter().filter(|g| !g.changes.is_empty()).count(),
            add: groups.iter().map(|g| g.changes.add.len()).sum(),
            remove: groups.iter().map(|g| g.changes.remove.len()).sum(),
            pending: groups.iter().map(|g| g.pending.len()).sum(),
            privileged: groups
                .iter()
                .filter(|g| g.privileged)
                .map(|g| g.changes.len())
                .sum(),
        }
    }
}

impl Plan {
    /// The label of `id`, or the id itself.
    pub fn label<'a>(&'a self, id: &'a UserId) -> &'a str {
        self.labels.get(id).map_or(id.as_str(), String::as_str)
    }

    /// True when some group has changes.
    pub fn has_changes(&self) -> bool {
        self.groups.iter().any(|g| !g.changes.is_empty())
    }
}
