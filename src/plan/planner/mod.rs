//! Reconciliation: a group's intent (in IdP keys), how each key resolved, and the group's
//! live members, under the safety policy → the group's plan. Pure and deterministic: inputs
//! and outputs are sorted sets and maps.
//!
//! The rules (DESIGN.md, "Modes"):
//!
//! - **Adds** are the desired users that resolve to an active Genesys user and are not
//!   members, in both modes — also a user the IdP granted and someone removed by hand
//!   (drift is corrected). The reason says which: granted, restored, a pending user resolved.
//! - **Pending**: desired users that resolve to no Genesys user, or to an inactive one. They
//!   stay in the intent (so in the mirror) and every later plan looks them up again.
//! - **Removes** in `delta` mode: members the IdP granted and has since revoked (the
//!   mirror's keys missing from the desired set, `Intent::revoked`), and members whose IdP
//!   account is disabled; never a member the IdP never granted. With an unknown mirror
//!   nothing is revoked, so nothing is removed. In `full` mode: also every member whose id
//!   no desired key resolves to.
//! - Protected members are never removed (`protected`); members that are groups are never
//!   touched or counted (they are not in [`GroupSnapshot::members`]).
//! - The removal guard: at most `min(max_removals_per_group, max(1, ⌊max_removal_ratio ×
//!   members⌋))` removals per group (at least one removal is allowed, so that a small group
//!   can lose a member; a ratio of 0 allows none), or exactly `--allow-removals N` when given.
//! - Fail closed: a whole-membership read (first read, full, resync) that names no Genesys
//!   user — empty, or only keys that resolve to nobody — for a group that would lose members
//!   by it, is refused unless `allow_empty_source`.

use crate::model::IdpKey;
use crate::model::{Intent, Precondition};
use std::collections::{BTreeMap, BTreeSet};

use super::{
    ChangeReason, GroupPlan, Guard, Pending, PendingReason, ReadKind, Resolution, SkipReason,
    Skipped, SourceRef,
};
use crate::model::{Base, Mapping, Policy, ResolutionCache, UserKey};
use crate::model::{GroupSnapshot, MemberChanges, Mode, UserId, members_sha256};

/// Why a safety guard stopped a group's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardTrip {
    /// More removals than allowed.
    TooManyRemovals {
        /// Removals the plan would make.
        removals: usize,
        /// Removals allowed.
        limit: usize,
        /// Whether the limit came from `--allow-removals`.
        overridden: bool,
        /// The group's member count.
        members: usize,
    },
    /// A whole-membership answer with no members, for a group that would lose some.
    EmptySource {
        /// The group's member count.
        members: usize,
    },
}

/// A group whose plan a guard stopped: what the message needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Stopped {
    /// The IdP group (config name).
    pub group: String,
    /// The Genesys group's display name.
    pub display_name: String,
    /// Which guard, and its figures.
    pub trip: GuardTrip,
    /// `safety.max_removals_per_group`.
    pub max_removals: usize,
    /// `safety.max_removal_ratio`.
    pub max_ratio: f64,
}

impl std::error::Error for Stopped {}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, display) = (&self.group, &self.display_name);
        match self.trip {
            GuardTrip::TooManyRemovals {
                removals,
                limit,
                overridden: true,
                ..
            } => write!(
                f,
                "safety guard: group {name} ({display}) would lose {removals} members, over --allow-removals {limit}; raise it to {removals} if these removals are intended"
            ),
            GuardTrip::TooManyRemovals {
                removals,
                limit,
                members,
                ..
            } => write!(
                f,
                "safety guard: group {name} ({display}) would lose {removals} of its {members} members, over the limit of {limit} (safety.max_removals_per_group = {}, max_removal_ratio = {}); if these removals are intended, re-run with --allow-removals {removals}",
                self.max_removals, self.max_ratio
            ),
            GuardTrip::EmptySource { members } => write!(
                f,
                "safety guard: the IdP's membership for group {name} ({display}) names no Genesys user (an empty membership, or keys none of which resolves: check source.user_key), and the group has {members} members; an IdP outage or a broken mapping must not empty a group. If the group really is to be emptied, set safety.allow_empty_source = true"
            ),
        }
    }
}

/// Everything one group's plan is made of. Built by [`super::basis::group_input`] for each
/// of the three cases a group is planned in.
#[derive(Clone)]
pub struct GroupInput<'a> {
    /// The group as read now.
    pub live: &'a GroupSnapshot,
    /// The config's mapping.
    pub mapping: Mapping,
    /// The state it is planned from.
    pub base: Base,
    /// Where the intent came from.
    pub source: SourceRef,
    /// Every member the IdP grants now, in IdP keys: built from what was read at plan time,
    /// and from the mirror and the plan's difference ([`Intent::desired`]) at re-plan time.
    /// `None` when the mirror was unknown: the desired set is then `intent.granted`, and is
    /// not held twice (a first plan of a million memberships).
    pub desired: Option<BTreeSet<IdpKey>>,
    /// The same, as a difference against the mirror: what the plan records.
    pub intent: Intent<IdpKey>,
    /// How the keys of the desired set and of `intent.revoked` resolved where that cannot be
    /// derived again (a lookup's answer, the IdP's description); every other key is
    /// [`Resolution::derived`] from `cache`. The plan keeps only the entries that carry
    /// information ([`Resolution::is_kept`]), and adds the derived ones a change names.
    pub resolution: BTreeMap<IdpKey, Resolution>,
    /// The state's resolution cache, for the keys `resolution` has no entry for.
    pub cache: &'a dyn ResolutionCache,
    /// What the IdP's keys are in Genesys.
    pub user_key: UserKey,
    /// The safety policy.
    pub policy: Policy,
}

impl std::fmt::Debug for GroupInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupInput")
            .field("live", &self.live)
            .field("mapping", &self.mapping)
            .field("base", &self.base)
            .field("source", &self.source)
            .field("desired", &self.desired)
            .field("intent", &self.intent)
            .field("resolution", &self.resolution)
            .field("user_key", &self.user_key)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Plan one group; a guard that trips is the [`Stopped`] message naming the group and the
/// limits it went over. What `plan` and apply's re-plan both call.
pub fn plan(input: GroupInput<'_>) -> Result<GroupPlan, Stopped> {
    let group = input.mapping.idp_group.clone();
    let display_name = input.live.display_name.clone();
    let (max_removals, max_ratio) = (input.policy.max_removals, input.policy.max_ratio);
    plan_group(input).map_err(|trip| Stopped {
        group,
        display_name,
        trip,
        max_removals,
        max_ratio,
    })
}

/// Plan one group: the changes, or the guard that stopped them.
#[allow(
    clippy::too_many_lines,
    reason = "the rules of DESIGN.md Modes in one place, in the order the module doc gives them"
)]
pub fn plan_group(input: GroupInput<'_>) -> Result<GroupPlan, GuardTrip> {
    let GroupInput {
        live,
        mapping,
        base,
        source,
        desired,
        intent,
        mut resolution,
        cache,
        user_key,
        policy,
    } = input;
    let current = &live.members;
    let desired = desired.as_ref().unwrap_or(&intent.granted);
    // A key's resolution: the one given, else derived (`true`).
    let resolved = |key: &IdpKey| -> (Resolution, bool) {
        match resolution.get(key) {
            Some(r) => (r.clone(), false),
            None => (Resolution::derived(key, cache.user_of(key), user_key), true),
        }
    };
    // Derived resolutions the plan may keep ([`Resolution::is_kept`], as if given): a
    // desired key's when it adds its user or names none; every revoked key's (few),
    // `Unknown` included, so that a re-plan from this plan resolves them as this plan did.
    let mut derived: Vec<(&IdpKey, Resolution)> = Vec::new();
    let mut changes = MemberChanges::default();
    let mut reasons = BTreeMap::new();
    let mut pending = BTreeSet::new();
    let mut skipped = BTreeSet::new();
    // Every user a desired key names, active or not: never removed.
    let mut desired_ids = BTreeSet::new();
    let mut candidates: BTreeMap<UserId, ChangeReason> = BTreeMap::new();

    for key in desired {
        let (r, was_derived) = resolved(key);
        if was_derived && !matches!(r, Resolution::User(_)) {
            derived.push((key, r.clone()));
        }
        let found = matches!(r, Resolution::Found(_));
        match r {
            Resolution::User(id) | Resolution::Found(id) => {
                if !current.contains(&id) {
                    if was_derived {
                        derived.push((key, Resolution::User(id.clone())));
                    }
                    let reason = if intent.granted.contains(key) {
                        ChangeReason::Granted
                    } else if found {
                        ChangeReason::PendingResolved
                    } else {
                        ChangeReason::Restored
                    };
                    changes.add.insert(id.clone());
                    reasons.insert(id.clone(), reason);
                }
                desired_ids.insert(id);
            }
            Resolution::Inactive(id) => {
                if !current.contains(&id) {
                    pending.insert(pending_of(key, PendingReason::InactiveUser));
                }
                desired_ids.insert(id);
            }
            Resolution::Unknown => {
                pending.insert(pending_of(key, PendingReason::UnknownUser));
            }
            Resolution::Disabled(id) => match id {
                Some(id) if current.contains(&id) => {
                    candidates.insert(id, ChangeReason::DisabledInIdp);
                }
                _ => {
                    skipped.insert(skip(key.as_str(), SkipReason::DisabledInIdp));
                }
            },
            Resolution::NotAUser => {
                skipped.insert(skip(key.as_str(), SkipReason::NotAUser));
            }
            Resolution::Invalid => {
                skipped.insert(skip(key.as_str(), SkipReason::InvalidKey));
            }
        }
    }
    // Desired keys in lower case, built only if a revocation would remove someone: a revoked
    // key whose case-twin is still desired names the same person (an IdP that changed the
    // key's case), and that person keeps the access.
    let mut desired_folded: Option<BTreeSet<String>> = None;
    for key in &intent.revoked {
        let (r, was_derived) = resolved(key);
        if let Some(id) = r.id()
            && current.contains(id)
        {
            let folded = desired_folded
                .get_or_insert_with(|| desired.iter().map(|k| k.as_str().to_lowercase()).collect());
            if folded.contains(&key.as_str().to_lowercase()) {
                skipped.insert(skip(key.as_str(), SkipReason::CaseTwin));
            } else {
                candidates.insert(id.clone(), ChangeReason::Revoked);
            }
        }
        if was_derived {
            derived.push((key, r));
        }
    }
    // In full mode, every member no desired key names too (one pass over two sorted sets).
    let not_desired: Vec<(UserId, ChangeReason)> = if mapping.mode == Mode::Full {
        current
            .difference(&desired_ids)
            .filter(|id| !candidates.contains_key(*id))
            .map(|id| (id.clone(), ChangeReason::NotDesired))
            .collect()
    } else {
        Vec::new()
    };
    let candidates = candidates
        .into_iter()
        .filter(|(id, _)| !desired_ids.contains(id))
        .chain(not_desired);
    for (id, reason) in candidates {
        if policy.protected.contains(&id) {
            skipped.insert(skip(id.as_str(), SkipReason::Protected));
        } else {
            changes.remove.insert(id.clone());
            reasons.insert(id, reason);
        }
    }

    let listing = source.read != ReadKind::Delta;
    // What the guard counts is users, not keys: a listing of keys none of which resolve (a
    // broken attribute mapping) empties a group as surely as an empty one.
    if listing && desired_ids.is_empty() && !changes.remove.is_empty() && !policy.allow_empty_source
    {
        return Err(GuardTrip::EmptySource {
            members: current.len(),
        });
    }
    let (limit, overridden) = policy.limit(current.len());
    let removals = changes.remove.len();
    if removals > limit {
        return Err(GuardTrip::TooManyRemovals {
            removals,
            limit,
            overridden,
            members: current.len(),
        });
    }
    resolution.retain(|_, r| r.is_kept(&changes));
    for (key, r) in derived {
        if r.is_kept(&changes) {
            resolution.insert(key.clone(), r);
        }
    }
    Ok(GroupPlan {
        group_id: live.id.clone(),
        display_name: live.display_name.clone(),
        mapping,
        precondition: Precondition {
            etag: live.etag.clone(),
            members_sha256: members_sha256(current),
            member_count: current.len(),
        },
        base,
        source,
        intent,
        resolution,
        changes,
        reasons,
        pending: pending.into_iter().collect(),
        skipped: skipped.into_iter().collect(),
        member_groups: live.member_groups.clone(),
        guard: Guard {
            removals,
            limit,
            overridden,
        },
        grants: None,
        privileged: false,
    })
}

fn pending_of(key: &IdpKey, reason: PendingReason) -> Pending {
    Pending {
        key: key.clone(),
        reason,
    }
}

fn skip(user: &str, reason: SkipReason) -> Skipped {
    Skipped {
        user: user.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests;
