//! What apply does with each group of a plan, decided without I/O: whether it may be sent
//! at all ([`admit`]), and what a group that moved becomes once re-planned ([`settle`]).
//! `commands/apply` reads the state and Genesys, calls these, and writes.

use super::GroupPlan;
use super::check;
use crate::model::{Mapping, MemberChanges, Moved, Policy};

/// What apply does with a group before any write.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// This very plan was applied to it already (the state records its digest): converged.
    AlreadyApplied,
    /// Today's config does not hold the plan (DESIGN rule 8): refused, with what differs.
    Refused(String),
    /// Another plan moved its state since: superseded, to be re-planned from the state.
    Superseded(Moved),
    /// No change to send: its state moves forward with the plan's intent.
    NothingToSend,
    /// Send its changes.
    Send,
}

/// The admission of group `g`: `already_applied` when the state records this plan as the
/// group's last, `configured` the config's mapping of its IdP group today, `policy` the
/// config's guards (no override), `moved` why its state no longer fits the plan's base, and
/// `itself` whether its changes follow from its own intent ([`check::against_itself`],
/// asked only of a group whose state has not moved).
/// The checks go in this order: a plan applied twice is harmless; a config that changed
/// refuses before anything else is read; a moved state supersedes; a plan that does not
/// agree with itself is refused.
pub fn admit(
    g: &GroupPlan,
    already_applied: bool,
    configured: Option<&Mapping>,
    policy: &Policy,
    moved: Option<Moved>,
    itself: impl FnOnce() -> Result<(), String>,
) -> Admission {
    if already_applied {
        return Admission::AlreadyApplied;
    }
    if let Err(why) = check::against_config(g, configured, policy) {
        return Admission::Refused(why);
    }
    if let Some(moved) = moved {
        return Admission::Superseded(moved);
    }
    if let Err(why) = itself() {
        return Admission::Refused(why);
    }
    if g.changes.is_empty() {
        Admission::NothingToSend
    } else {
        Admission::Send
    }
}

/// Why a group is re-planned at apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moving {
    /// Its ETag moved (someone wrote the group in Genesys): the same intent, a fresh read.
    Stale,
    /// Another plan moved its state: the state's mirror, a fresh read.
    Superseded,
}

/// What a re-planned group becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Superseded, and neither the plan nor the re-plan has changes: nothing to do.
    NothingToDo,
    /// Superseded, the plan had changes, the state's mirror calls for none: none applied;
    /// the IdP's changes since are the next plan's.
    NoneLeft,
    /// Stale, and the group already holds the intended membership: the state moves forward
    /// as if applied (converged).
    AlreadyHeld,
    /// Stale, every change of the re-plan was approved, and `--apply-replan-if-subset`:
    /// apply the re-plan now.
    ApplySubset,
    /// Refused: the re-plan goes back for approval (exit 3).
    Replan,
}

/// What group `old` becomes, re-planned as `new` because it was `moving`; `apply_subset`
/// is `--apply-replan-if-subset`. Only a stale re-plan may be applied at once: a
/// superseded one rests on a state the reviewer never saw.
pub fn settle(old: &GroupPlan, new: &GroupPlan, moving: Moving, apply_subset: bool) -> Settlement {
    match (moving, new.changes.is_empty()) {
        (Moving::Superseded, true) if old.changes.is_empty() => Settlement::NothingToDo,
        (Moving::Superseded, true) => Settlement::NoneLeft,
        (Moving::Stale, true) => Settlement::AlreadyHeld,
        (Moving::Stale, false)
            if apply_subset && is_subset(&new.changes, &old.changes) && same_grants(old, new) =>
        {
            Settlement::ApplySubset
        }
        (_, false) => Settlement::Replan,
    }
}

/// Whether group `old`, refused as stale, is by its re-plan `new` (a fresh read) exactly as
/// `old` found it: the same ETag and the same members. Then nobody moved it: the server
/// refused an `If-Match` holding the very ETag it sends, and every re-plan will be refused
/// alike. A server that sends weak ETags (`W/"…"`) and compares `If-Match` strongly, as
/// RFC 9110 §13.1.1 prescribes, does so.
pub fn refused_its_own_etag(old: &GroupPlan, new: &GroupPlan) -> bool {
    old.precondition.etag.is_some()
        && old.precondition.etag == new.precondition.etag
        && old.precondition.members_sha256 == new.precondition.members_sha256
        && same_grants(old, new)
}

/// Whether the re-plan `new` gives what `old` gave: the same grants, by
/// [`grants::moved`](super::grants::moved) (both unread counts as the same). A re-plan whose
/// grants moved goes back to a reviewer whatever its changes.
pub fn same_grants(old: &GroupPlan, new: &GroupPlan) -> bool {
    match (&old.grants, &new.grants) {
        (Some(a), Some(b)) => super::grants::moved(a, b).is_none(),
        (None, None) => true,
        _ => false,
    }
}

/// Whether every change of `replanned` was among the `approved`.
///
/// ```
/// use scimsync::model::{MemberChanges, UserId};
/// use scimsync::plan::settle::is_subset;
/// let c = |add: &[&str], remove: &[&str]| MemberChanges {
///     add: add.iter().map(|s| UserId::from(*s)).collect(),
///     remove: remove.iter().map(|s| UserId::from(*s)).collect(),
/// };
/// assert!(is_subset(&c(&["a"], &[]), &c(&["a", "b"], &["x"])));
/// assert!(!is_subset(&c(&["a"], &["y"]), &c(&["a", "b"], &["x"])));
/// ```
pub fn is_subset(replanned: &MemberChanges, approved: &MemberChanges) -> bool {
    replanned.add.is_subset(&approved.add) && replanned.remove.is_subset(&approved.remove)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserId;
    use crate::plan::file::tests::sample;

    fn policy() -> Policy {
        Policy::default()
    }

    #[test]
    fn admission_checks_in_order() {
        let plan = sample();
        let g = &plan.groups[0];
        let m = Some(&g.mapping);
        let ok = || Ok(());
        let moved = || {
            Some(Moved::Written {
                planned: 1,
                current: 2,
                by_plan: None,
            })
        };
        assert_eq!(
            admit(g, true, None, &policy(), moved(), ok),
            Admission::AlreadyApplied
        );
        assert!(matches!(
            admit(g, false, None, &policy(), moved(), ok),
            Admission::Refused(why) if why.contains("no longer maps")
        ));
        assert!(matches!(
            admit(g, false, m, &policy(), moved(), || Err("not asked".into())),
            Admission::Superseded(Moved::Written { current: 2, .. })
        ));
        assert_eq!(admit(g, false, m, &policy(), None, ok), Admission::Send);
        assert_eq!(
            admit(g, false, m, &policy(), None, || Err("edited".into())),
            Admission::Refused("edited".into())
        );
        let mut empty = g.clone();
        empty.changes = MemberChanges::default();
        empty.guard.removals = 0;
        assert_eq!(
            admit(&empty, false, m, &policy(), None, ok),
            Admission::NothingToSend
        );
    }

    #[test]
    fn a_re_read_as_the_plan_found_it_means_the_server_refused_its_own_etag() {
        let plan = sample();
        let old = &plan.groups[0];
        assert!(refused_its_own_etag(old, old));
        let mut moved = old.clone();
        moved.precondition.etag = Some(crate::model::ETag::from("W/\"9\""));
        assert!(!refused_its_own_etag(old, &moved));
        let mut other = old.clone();
        other.precondition.members_sha256 = "00".into();
        assert!(!refused_its_own_etag(old, &other));
    }

    #[test]
    fn a_moved_group_settles_by_its_re_plan() {
        use crate::plan::grants::{Grant, GroupGrants};
        use Moving::{Stale, Superseded};
        let plan = sample();
        let old = &plan.groups[0];
        let mut none = old.clone();
        none.changes = MemberChanges::default();
        let mut fewer = old.clone();
        let first = fewer.changes.add.iter().next().cloned().unwrap();
        fewer.changes.add.remove(&first);
        let mut other = old.clone();
        other.changes.add.insert(UserId::from("u-new"));
        assert_eq!(
            settle(&none, &none, Superseded, true),
            Settlement::NothingToDo
        );
        assert_eq!(settle(old, &none, Superseded, true), Settlement::NoneLeft);
        assert_eq!(settle(old, &none, Stale, false), Settlement::AlreadyHeld);
        assert_eq!(settle(old, &fewer, Stale, true), Settlement::ApplySubset);
        assert_eq!(settle(old, &fewer, Stale, false), Settlement::Replan);
        assert_eq!(settle(old, &fewer, Superseded, true), Settlement::Replan);
        assert_eq!(settle(old, &other, Stale, true), Settlement::Replan);
        // The same changes, but the group now grants another role: back to a reviewer.
        let granted = |roles: &[&str]| {
            GroupGrants::Known(
                roles
                    .iter()
                    .map(|r| Grant {
                        role: (*r).into(),
                        role_id: format!("r-{r}"),
                        division: "Home".into(),
                        division_id: "d-home".into(),
                        privileged: None,
                    })
                    .collect(),
            )
        };
        let before = fewer.clone().with_grants(granted(&["Agent"]));
        let after = fewer.clone().with_grants(granted(&["Agent", "Admin"]));
        assert_eq!(settle(&before, &after, Stale, true), Settlement::Replan);
        assert_eq!(
            settle(&before, &before, Stale, true),
            Settlement::ApplySubset
        );
        assert!(!refused_its_own_etag(&before, &after));
        assert!(refused_its_own_etag(&before, &before));
    }
}
