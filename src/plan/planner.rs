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
//!   members⌋))` removals per group (at least one removal is always allowed, so that a small
//!   group can lose a member), or exactly `--allow-removals N` when given.
//! - Fail closed: a whole-membership read (first read, full, resync) that is empty, for a
//!   group that would lose members by it, is refused unless `allow_empty_source`.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    ChangeReason, GroupPlan, Guard, Intent, Mapping, Pending, PendingReason, Precondition,
    ReadKind, Resolution, SkipReason, Skipped, SourceRef,
};
use crate::model::Base;
use crate::model::{GroupSnapshot, MemberChanges, Mode, UserId, members_sha256};

/// The safety policy a group is planned under.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Never removed.
    pub protected: BTreeSet<UserId>,
    /// `safety.max_removals_per_group`.
    pub max_removals: usize,
    /// `safety.max_removal_ratio`.
    pub max_ratio: f64,
    /// `--allow-removals N`: replaces both limits.
    pub allow_removals: Option<usize>,
    /// `safety.allow_empty_source`.
    pub allow_empty_source: bool,
}

impl Policy {
    /// The removal limit for a group of `members` members, and whether it was overridden.
    pub fn limit(&self, members: usize) -> (usize, bool) {
        if let Some(n) = self.allow_removals {
            (n, true)
        } else {
            // A ratio in [0, 1] of a member count: the float is exact enough and in range.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let by_ratio = ((self.max_ratio * members as f64).floor() as usize).max(1);
            (self.max_removals.min(by_ratio), false)
        }
    }
}

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
                "safety guard: the IdP answered an empty membership for group {name} ({display}), which has {members} members; an IdP outage must not empty a group. If the group really is to be emptied, set safety.allow_empty_source = true"
            ),
        }
    }
}

/// Everything one group's plan is made of.
#[derive(Debug, Clone)]
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
    pub desired: &'a BTreeSet<String>,
    /// The same, as a difference against the mirror: what the plan records.
    pub intent: Intent<String>,
    /// How each key of `desired` and `intent.revoked` resolved (a missing key counts as
    /// [`Resolution::Unknown`]). The plan keeps only the entries that carry information
    /// ([`Resolution::is_kept`]).
    pub resolution: BTreeMap<String, Resolution>,
    /// The safety policy.
    pub policy: &'a Policy,
}

/// Plan one group.
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
        policy,
    } = input;
    let current = &live.members;
    let resolved = |key: &str| resolution.get(key).unwrap_or(&Resolution::Unknown);
    let mut changes = MemberChanges::default();
    let mut reasons = BTreeMap::new();
    let mut pending = BTreeSet::new();
    let mut skipped = BTreeSet::new();
    // Every user a desired key names, active or not: never removed.
    let mut desired_ids = BTreeSet::new();
    let mut candidates: BTreeMap<UserId, ChangeReason> = BTreeMap::new();

    for key in desired {
        match resolved(key) {
            Resolution::User(id) | Resolution::Found(id) => {
                desired_ids.insert(id.clone());
                if !current.contains(id) {
                    let reason = if intent.granted.contains(key) {
                        ChangeReason::Granted
                    } else if matches!(resolved(key), Resolution::Found(_)) {
                        ChangeReason::PendingResolved
                    } else {
                        ChangeReason::Restored
                    };
                    changes.add.insert(id.clone());
                    reasons.insert(id.clone(), reason);
                }
            }
            Resolution::Inactive(id) => {
                desired_ids.insert(id.clone());
                if !current.contains(id) {
                    pending.insert(pending_of(key, PendingReason::InactiveUser));
                }
            }
            Resolution::Unknown => {
                pending.insert(pending_of(key, PendingReason::UnknownUser));
            }
            Resolution::Disabled(id) => match id {
                Some(id) if current.contains(id) => {
                    candidates.insert(id.clone(), ChangeReason::DisabledInIdp);
                }
                _ => {
                    skipped.insert(skip(key, SkipReason::DisabledInIdp));
                }
            },
            Resolution::NotAUser => {
                skipped.insert(skip(key, SkipReason::NotAUser));
            }
            Resolution::Invalid => {
                skipped.insert(skip(key, SkipReason::InvalidKey));
            }
        }
    }
    for key in &intent.revoked {
        if let Some(id) = resolved(key).id()
            && current.contains(id)
        {
            candidates.insert(id.clone(), ChangeReason::Revoked);
        }
    }
    if mapping.mode == Mode::Full {
        for id in current {
            candidates
                .entry(id.clone())
                .or_insert(ChangeReason::NotDesired);
        }
    }
    for (id, reason) in candidates {
        if desired_ids.contains(&id) {
            continue;
        }
        if policy.protected.contains(&id) {
            skipped.insert(skip(id.as_str(), SkipReason::Protected));
        } else {
            changes.remove.insert(id.clone());
            reasons.insert(id, reason);
        }
    }

    let listing = source.read != ReadKind::Delta;
    if listing && desired.is_empty() && !changes.remove.is_empty() && !policy.allow_empty_source {
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
    })
}

fn pending_of(key: &str, reason: PendingReason) -> Pending {
    Pending {
        key: key.to_owned(),
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
mod tests {
    use super::*;
    use crate::model::{GroupId, GroupTarget};
    use proptest::prelude::*;

    fn keys(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn ids(v: &[&str]) -> BTreeSet<UserId> {
        v.iter().map(|s| UserId::from(*s)).collect()
    }

    fn policy() -> Policy {
        Policy {
            protected: BTreeSet::new(),
            max_removals: 25,
            max_ratio: 0.25,
            allow_removals: None,
            allow_empty_source: false,
        }
    }

    fn lenient() -> Policy {
        Policy {
            allow_removals: Some(usize::MAX),
            allow_empty_source: true,
            ..policy()
        }
    }

    fn live(members: &[&str]) -> GroupSnapshot {
        GroupSnapshot {
            id: GroupId::from("g"),
            display_name: "G".into(),
            members: ids(members),
            ..GroupSnapshot::default()
        }
    }

    /// Key `kX` resolves to user `X` (known before), except where `extra` says otherwise.
    fn resolution(
        keys_: &BTreeSet<String>,
        extra: &[(&str, Resolution)],
    ) -> BTreeMap<String, Resolution> {
        let mut map: BTreeMap<String, Resolution> = keys_
            .iter()
            .map(|k| (k.clone(), Resolution::User(UserId(k[1..].to_owned()))))
            .collect();
        for (k, r) in extra {
            map.insert((*k).to_owned(), r.clone());
        }
        map
    }

    fn input<'a>(
        live: &'a GroupSnapshot,
        mode: Mode,
        read: ReadKind,
        desired: &'a BTreeSet<String>,
        intent: Intent<String>,
        resolution: BTreeMap<String, Resolution>,
        policy: &'a Policy,
    ) -> GroupInput<'a> {
        GroupInput {
            live,
            mapping: Mapping {
                idp_group: "g".into(),
                target: GroupTarget::Id(GroupId::from("g")),
                mode,
            },
            base: Base {
                lineage: None,
                serial: 0,
            },
            source: SourceRef {
                kind: crate::model::SourceKind::File,
                read,
                cursor_from: None,
                cursor_to: None,
            },
            desired,
            intent,
            resolution,
            policy,
        }
    }

    fn plan(
        live: &GroupSnapshot,
        mode: Mode,
        desired: &[&str],
        mirror: Option<&[&str]>,
        extra: &[(&str, Resolution)],
        policy: &Policy,
    ) -> Result<GroupPlan, GuardTrip> {
        let mirror = mirror.map(keys);
        let desired = keys(desired);
        let intent = Intent::new(&desired, mirror.as_ref());
        let all: BTreeSet<String> = desired.union(&intent.revoked).cloned().collect();
        let read = if mode == Mode::Full {
            ReadKind::Full
        } else {
            ReadKind::Delta
        };
        plan_group(input(
            live,
            mode,
            read,
            &desired,
            intent,
            resolution(&all, extra),
            policy,
        ))
    }

    #[test]
    fn delta_removes_only_what_the_idp_granted_and_revoked() {
        // h was added by hand: the IdP never granted it. b was granted and revoked.
        let g = live(&["a", "b", "h"]);
        let p = plan(
            &g,
            Mode::Delta,
            &["ka", "kc"],
            Some(&["ka", "kb"]),
            &[],
            &policy(),
        )
        .unwrap();
        assert_eq!(p.changes.add, ids(&["c"]));
        assert_eq!(p.changes.remove, ids(&["b"]));
        assert_eq!(p.reasons[&UserId::from("c")], ChangeReason::Granted);
        assert_eq!(p.reasons[&UserId::from("b")], ChangeReason::Revoked);
    }

    #[test]
    fn drift_is_restored_and_a_resolved_pending_user_says_so() {
        // a was granted and removed by hand; p was pending and now exists.
        let g = live(&["b"]);
        let p = plan(
            &g,
            Mode::Delta,
            &["ka", "kb", "kp"],
            Some(&["ka", "kb", "kp"]),
            &[("kp", Resolution::Found("p".into()))],
            &policy(),
        )
        .unwrap();
        assert_eq!(p.changes.add, ids(&["a", "p"]));
        assert_eq!(p.reasons[&UserId::from("a")], ChangeReason::Restored);
        assert_eq!(p.reasons[&UserId::from("p")], ChangeReason::PendingResolved);
    }

    #[test]
    fn unknown_and_inactive_users_are_pending_not_added() {
        let g = live(&[]);
        let p = plan(
            &g,
            Mode::Delta,
            &["ka", "kx", "ki"],
            None,
            &[
                ("kx", Resolution::Unknown),
                ("ki", Resolution::Inactive("i".into())),
            ],
            &policy(),
        )
        .unwrap();
        assert_eq!(p.changes.add, ids(&["a"]));
        let pending: Vec<_> = p
            .pending
            .iter()
            .map(|x| (x.key.as_str(), x.reason))
            .collect();
        assert_eq!(
            pending,
            [
                ("ki", PendingReason::InactiveUser),
                ("kx", PendingReason::UnknownUser)
            ]
        );
    }

    #[test]
    fn an_unknown_mirror_removes_nothing_in_delta_mode() {
        let g = live(&["a", "b", "c", "d"]);
        let p = plan(&g, Mode::Delta, &["ka"], None, &[], &policy()).unwrap();
        assert!(p.changes.is_empty());
        assert!(!p.intent.mirror_known);
    }

    #[test]
    fn full_mode_removes_the_undesired_within_the_guard_but_never_protected() {
        let g = live(&["a", "b", "c", "d"]);
        let p = plan(
            &g,
            Mode::Full,
            &["ka", "kb", "kc", "kn"],
            None,
            &[],
            &policy(),
        )
        .unwrap();
        assert_eq!(p.changes.add, ids(&["n"]));
        assert_eq!(p.changes.remove, ids(&["d"]));
        assert_eq!(p.reasons[&UserId::from("d")], ChangeReason::NotDesired);
        assert_eq!(
            p.guard,
            Guard {
                removals: 1,
                limit: 1,
                overridden: false
            }
        );
        let trip = plan(&g, Mode::Full, &["ka", "kb"], None, &[], &policy()).unwrap_err();
        assert_eq!(
            trip,
            GuardTrip::TooManyRemovals {
                removals: 2,
                limit: 1,
                overridden: false,
                members: 4
            }
        );
        let mut p = policy();
        p.protected = ids(&["c"]);
        p.allow_removals = Some(1);
        let r = plan(&g, Mode::Full, &["ka", "kb"], None, &[], &p).unwrap();
        assert_eq!(r.changes.remove, ids(&["d"]));
        assert_eq!(r.skipped, vec![skip("c", SkipReason::Protected)]);
        assert!(r.guard.overridden);
    }

    #[test]
    fn disabled_idp_accounts_are_removed_if_members_and_others_are_skipped() {
        let g = live(&["a", "b", "c", "d", "e", "f", "g", "h"]);
        let p = plan(
            &g,
            Mode::Delta,
            &["ka", "kb", "kz", "kq", "k\n"],
            Some(&["ka", "kb"]),
            &[
                ("kb", Resolution::Disabled(Some("b".into()))),
                ("kz", Resolution::Disabled(None)),
                ("kq", Resolution::NotAUser),
                ("k\n", Resolution::Invalid),
            ],
            &policy(),
        )
        .unwrap();
        assert_eq!(p.changes.remove, ids(&["b"]));
        assert_eq!(p.reasons[&UserId::from("b")], ChangeReason::DisabledInIdp);
        let skipped: Vec<_> = p.skipped.iter().map(|s| s.reason).collect();
        assert_eq!(
            skipped,
            [
                SkipReason::InvalidKey,
                SkipReason::NotAUser,
                SkipReason::DisabledInIdp
            ]
        );
    }

    #[test]
    fn an_empty_listing_never_empties_a_group_unless_allowed() {
        let g = live(&["a"]);
        let trip = plan(&g, Mode::Full, &[], None, &[], &policy()).unwrap_err();
        assert_eq!(trip, GuardTrip::EmptySource { members: 1 });
        let nobody = BTreeSet::new();
        let intent = Intent::new(&nobody, Some(&keys(&["ka"])));
        let strict = policy();
        let resync = input(
            &g,
            Mode::Delta,
            ReadKind::Resync,
            &nobody,
            intent,
            resolution(&keys(&["ka"]), &[]),
            &strict,
        );
        assert_eq!(
            plan_group(resync).unwrap_err(),
            GuardTrip::EmptySource { members: 1 }
        );
        let mut p = policy();
        p.allow_empty_source = true;
        let r = plan(&g, Mode::Full, &[], None, &[], &p).unwrap();
        assert_eq!(r.changes.remove, ids(&["a"]));
        // An empty answer that removes nobody is just nothing to do.
        assert!(
            plan(&live(&[]), Mode::Full, &[], None, &[], &policy())
                .unwrap()
                .changes
                .is_empty()
        );
    }

    /// A steady-state group stores neither its IdP answer nor its members' resolutions:
    /// however large, its plan is a few hundred bytes.
    #[test]
    fn an_unchanged_group_serializes_small_whatever_its_size() {
        let keys_: Vec<String> = (0..1000).map(|i| format!("k{i:05}")).collect();
        let refs: Vec<&str> = keys_.iter().map(String::as_str).collect();
        let members: Vec<&str> = refs.iter().map(|k| &k[1..]).collect();
        let mut g = live(&members);
        g.etag = Some(crate::model::ETag::from("W/\"42\""));
        for mode in [Mode::Delta, Mode::Full] {
            let p = plan(&g, mode, &refs, Some(&refs), &[], &policy()).unwrap();
            assert!(p.changes.is_empty() && p.pending.is_empty());
            assert!(p.intent.is_unchanged());
            assert_eq!(p.intent.desired_count, 1000);
            assert!(p.resolution.is_empty(), "{:?}", p.resolution.len());
            let bytes = serde_json::to_vec(&p).unwrap();
            assert!(bytes.len() < 600, "{} bytes", bytes.len());
        }
        // One change keeps only the resolutions that carry information.
        let p = plan(
            &g,
            Mode::Delta,
            &refs[1..],
            Some(&refs),
            &[("k00001", Resolution::Found("00001".into()))],
            &policy(),
        )
        .unwrap();
        assert_eq!(p.changes.remove, ids(&["00000"]));
        assert_eq!(
            p.resolution.keys().map(String::as_str).collect::<Vec<_>>(),
            ["k00000", "k00001"]
        );
    }

    #[test]
    fn limits() {
        let p = policy();
        assert_eq!(p.limit(0), (1, false));
        assert_eq!(p.limit(10), (2, false));
        assert_eq!(p.limit(1000), (25, false));
    }

    fn some_keys() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec("k[a-f][0-9]", 0..30)
    }

    fn as_ids(v: &[String]) -> BTreeSet<UserId> {
        v.iter().map(|k| UserId(k[1..].to_owned())).collect()
    }

    proptest! {
        #[test]
        fn planning_a_group_against_its_own_membership_changes_nothing(members in some_keys()) {
            let refs: Vec<&str> = members.iter().map(String::as_str).collect();
            let current: Vec<String> = members.iter().map(|k| k[1..].to_owned()).collect();
            let current: Vec<&str> = current.iter().map(String::as_str).collect();
            let g = live(&current);
            for mode in [Mode::Delta, Mode::Full] {
                let p = plan(&g, mode, &refs, Some(&refs), &[], &policy()).unwrap();
                prop_assert!(p.changes.is_empty());
            }
        }

        #[test]
        fn in_full_mode_current_plus_changes_is_desired(current in some_keys(), desired in some_keys()) {
            let cur: Vec<String> = current.iter().map(|k| k[1..].to_owned()).collect();
            let cur: Vec<&str> = cur.iter().map(String::as_str).collect();
            let g = live(&cur);
            let want: Vec<&str> = desired.iter().map(String::as_str).collect();
            let p = plan(&g, Mode::Full, &want, None, &[], &lenient()).unwrap();
            prop_assert_eq!(p.changes.applied_to(&g.members), as_ids(&desired));
            prop_assert!(p.changes.add.is_disjoint(&g.members));
            prop_assert!(p.changes.remove.is_subset(&g.members));
        }

        #[test]
        fn delta_never_removes_what_the_mirror_did_not_hold(
            current in some_keys(), desired in some_keys(), mirror in some_keys()
        ) {
            let cur: Vec<String> = current.iter().map(|k| k[1..].to_owned()).collect();
            let cur: Vec<&str> = cur.iter().map(String::as_str).collect();
            let g = live(&cur);
            let want: Vec<&str> = desired.iter().map(String::as_str).collect();
            let had: Vec<&str> = mirror.iter().map(String::as_str).collect();
            let p = plan(&g, Mode::Delta, &want, Some(&had), &[], &lenient()).unwrap();
            let revoked = as_ids(&mirror);
            prop_assert!(p.changes.remove.is_subset(&revoked));
            prop_assert!(p.changes.remove.is_disjoint(&as_ids(&desired)));
            // And every desired user ends up a member.
            let after = p.changes.applied_to(&g.members);
            prop_assert!(as_ids(&desired).is_subset(&after));
        }

        #[test]
        fn protected_members_are_never_removed(current in some_keys(), desired in some_keys(), protected in some_keys()) {
            let cur: Vec<String> = current.iter().map(|k| k[1..].to_owned()).collect();
            let cur: Vec<&str> = cur.iter().map(String::as_str).collect();
            let g = live(&cur);
            let mut p = lenient();
            p.protected = as_ids(&protected);
            let want: Vec<&str> = desired.iter().map(String::as_str).collect();
            let r = plan(&g, Mode::Full, &want, None, &[], &p).unwrap();
            prop_assert!(r.changes.remove.is_disjoint(&p.protected));
        }
    }
}
