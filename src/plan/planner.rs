//! Reconciliation: the IdP's intent against a group's current members, under the safety
//! policy. Pure and deterministic: inputs and outputs are sorted sets.
//!
//! - An add of a current member is skipped (`already-member`); a remove of a non-member is
//!   skipped (`not-a-member`); users that do not exist are skipped (`unknown-user`); protected
//!   members are never removed (`protected`).
//! - `full` intent also removes current members the IdP lacks.
//! - The removal guard: at most `min(max_removals_per_group, max(1, ⌊max_removal_ratio ×
//!   members⌋))` removals per group (at least one removal is always allowed, so that a small
//!   group can lose a member), or exactly `--allow-removals N` when given.
//! - An empty full-state answer for a group with members is refused unless
//!   `allow_empty_source`: an IdP outage must not empty a group.

use std::collections::BTreeSet;

use super::{Guard, Intent, SkipReason, Skipped};
use crate::model::{MemberChanges, MemberSet, UserId};

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
        match self.allow_removals {
            Some(n) => (n, true),
            None => {
                let by_ratio = ((self.max_ratio * members as f64).floor() as usize).max(1);
                (self.max_removals.min(by_ratio), false)
            }
        }
    }
}

/// A group's reconciled changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// What will be sent.
    pub changes: MemberChanges,
    /// What will not, and why; sorted.
    pub skipped: Vec<Skipped>,
    /// The guard's count and limit.
    pub guard: Guard,
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
    /// A full-state answer with no members, for a group that has some.
    EmptySource {
        /// The group's member count.
        members: usize,
    },
}

/// Reconcile `intent` with `current` under `policy`. `unknown` holds the users (Genesys ids
/// or unresolved IdP keys) known not to exist: they are skipped, never added.
pub fn reconcile(
    current: &MemberSet,
    intent: &Intent,
    unknown: &BTreeSet<String>,
    policy: &Policy,
) -> Result<Reconciled, GuardTrip> {
    let mut changes = MemberChanges::default();
    let mut skipped: BTreeSet<Skipped> = unknown
        .iter()
        .map(|u| Skipped {
            user: u.clone(),
            reason: SkipReason::UnknownUser,
        })
        .collect();
    let skip = |skipped: &mut BTreeSet<Skipped>, user: &UserId, reason| {
        skipped.insert(Skipped {
            user: user.0.clone(),
            reason,
        });
    };
    let mut remove_candidates = Vec::new();
    match intent {
        Intent::Delta { add, remove } => {
            for user in add {
                if unknown.contains(&user.0) {
                    continue;
                }
                if current.contains(user) {
                    skip(&mut skipped, user, SkipReason::AlreadyMember);
                } else {
                    changes.add.insert(user.clone());
                }
            }
            for user in remove {
                if current.contains(user) {
                    remove_candidates.push(user);
                } else {
                    skip(&mut skipped, user, SkipReason::NotAMember);
                }
            }
        }
        Intent::Full { members } => {
            if members.is_empty() && !current.is_empty() && !policy.allow_empty_source {
                return Err(GuardTrip::EmptySource {
                    members: current.len(),
                });
            }
            changes.add = members
                .iter()
                .filter(|u| !current.contains(*u) && !unknown.contains(&u.0))
                .cloned()
                .collect();
            remove_candidates.extend(current.iter().filter(|u| !members.contains(*u)));
        }
    }
    for user in remove_candidates {
        if policy.protected.contains(user) {
            skip(&mut skipped, user, SkipReason::Protected);
        } else {
            changes.remove.insert(user.clone());
        }
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
    Ok(Reconciled {
        changes,
        skipped: skipped.into_iter().collect(),
        guard: Guard {
            removals,
            limit,
            overridden,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(ids: &[&str]) -> MemberSet {
        ids.iter().map(|s| UserId::from(*s)).collect()
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

    fn strings(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn delta_skips_members_non_members_unknown_and_protected() {
        let current = set(&["a", "b", "c", "d", "e", "f", "g", "h"]);
        let intent = Intent::Delta {
            add: set(&["a", "x", "ghost"]),
            remove: set(&["b", "zz", "p"]),
        };
        let mut p = policy();
        p.protected = set(&["b"]);
        let r = reconcile(&current, &intent, &strings(&["ghost"]), &p).unwrap();
        assert_eq!(r.changes.add, set(&["x"]));
        assert!(r.changes.remove.is_empty());
        let reasons: Vec<_> = r
            .skipped
            .iter()
            .map(|s| (s.user.as_str(), s.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("a", SkipReason::AlreadyMember),
                ("b", SkipReason::Protected),
                ("ghost", SkipReason::UnknownUser),
                ("p", SkipReason::NotAMember),
                ("zz", SkipReason::NotAMember),
            ]
        );
    }

    #[test]
    fn full_removes_what_the_idp_lacks_within_the_guard() {
        let current = set(&["a", "b", "c", "d"]);
        let r = reconcile(
            &current,
            &Intent::Full {
                members: set(&["a", "b", "c", "n"]),
            },
            &BTreeSet::new(),
            &policy(),
        )
        .unwrap();
        assert_eq!(r.changes.add, set(&["n"]));
        assert_eq!(r.changes.remove, set(&["d"]));
        assert_eq!(
            r.guard,
            Guard {
                removals: 1,
                limit: 1,
                overridden: false
            }
        );
        let trip = reconcile(
            &current,
            &Intent::Full {
                members: set(&["a", "b"]),
            },
            &BTreeSet::new(),
            &policy(),
        )
        .unwrap_err();
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
        p.allow_removals = Some(2);
        let r = reconcile(
            &current,
            &Intent::Full {
                members: set(&["a", "b"]),
            },
            &BTreeSet::new(),
            &p,
        )
        .unwrap();
        assert_eq!(
            r.guard,
            Guard {
                removals: 2,
                limit: 2,
                overridden: true
            }
        );
    }

    #[test]
    fn an_empty_full_answer_is_refused_unless_allowed() {
        let current = set(&["a"]);
        let empty = Intent::Full {
            members: BTreeSet::new(),
        };
        assert_eq!(
            reconcile(&current, &empty, &BTreeSet::new(), &policy()).unwrap_err(),
            GuardTrip::EmptySource { members: 1 }
        );
        let mut p = policy();
        p.allow_empty_source = true;
        let r = reconcile(&current, &empty, &BTreeSet::new(), &p).unwrap();
        assert_eq!(r.changes.remove, set(&["a"]));
        // An empty answer for an empty group is just nothing to do.
        assert!(
            reconcile(&MemberSet::new(), &empty, &BTreeSet::new(), &policy())
                .unwrap()
                .changes
                .is_empty()
        );
    }

    #[test]
    fn limits() {
        let p = policy();
        assert_eq!(p.limit(0), (1, false));
        assert_eq!(p.limit(10), (2, false));
        assert_eq!(p.limit(1000), (25, false));
    }

    fn ids() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec("[a-f][0-9]", 0..40)
    }

    fn to_set(v: &[String]) -> MemberSet {
        v.iter().map(|s| UserId(s.clone())).collect()
    }

    fn lenient() -> Policy {
        Policy {
            allow_removals: Some(usize::MAX),
            allow_empty_source: true,
            ..policy()
        }
    }

    proptest! {
        #[test]
        fn planning_a_state_against_itself_changes_nothing(current in ids()) {
            let current = to_set(&current);
            let full = reconcile(&current, &Intent::Full { members: current.clone() }, &BTreeSet::new(), &policy()).unwrap();
            prop_assert!(full.changes.is_empty());
            let delta = Intent::Delta { add: current.clone(), remove: BTreeSet::new() };
            prop_assert!(reconcile(&current, &delta, &BTreeSet::new(), &policy()).unwrap().changes.is_empty());
        }

        #[test]
        fn in_full_mode_current_plus_changes_is_desired(current in ids(), desired in ids()) {
            let (current, desired) = (to_set(&current), to_set(&desired));
            let r = reconcile(&current, &Intent::Full { members: desired.clone() }, &BTreeSet::new(), &lenient()).unwrap();
            prop_assert_eq!(r.changes.applied_to(&current), desired);
            prop_assert!(r.changes.add.is_disjoint(&current));
            prop_assert!(r.changes.remove.is_subset(&current));
        }

        #[test]
        fn the_result_does_not_depend_on_input_order(
            current in ids(), add in ids(), remove in ids(), seed in any::<u64>()
        ) {
            let remove: Vec<String> = remove.into_iter().filter(|r| !add.contains(r)).collect();
            let shuffle = |v: &[String]| {
                let mut v = v.to_vec();
                let n = v.len();
                for i in 0..n {
                    let j = (seed.wrapping_mul(i as u64 + 7) % n as u64) as usize;
                    v.swap(i, j);
                }
                v
            };
            let intent = |a: &[String], r: &[String]| Intent::Delta { add: to_set(a), remove: to_set(r) };
            let one = reconcile(&to_set(&current), &intent(&add, &remove), &BTreeSet::new(), &lenient()).unwrap();
            let two = reconcile(
                &to_set(&shuffle(&current)),
                &intent(&shuffle(&add), &shuffle(&remove)),
                &BTreeSet::new(),
                &lenient(),
            ).unwrap();
            prop_assert_eq!(one, two);
        }

        #[test]
        fn protected_members_are_never_removed(current in ids(), desired in ids(), protected in ids()) {
            let mut p = lenient();
            p.protected = to_set(&protected);
            let r = reconcile(&to_set(&current), &Intent::Full { members: to_set(&desired) }, &BTreeSet::new(), &p).unwrap();
            prop_assert!(r.changes.remove.is_disjoint(&p.protected));
        }
    }
}
