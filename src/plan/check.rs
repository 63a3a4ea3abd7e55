//! What apply holds a plan against before any write (DESIGN rule 8): today's config.
//!
//! A plan was approved for one mapping, one mode, one set of protected members and one set of
//! guards. If the config says otherwise by the time it is applied, the plan no longer means
//! what the reviewer read, and the group is refused with what differs. A plan whose digest
//! was recomputed after an edit is caught here too: its removals must still fit the guards
//! (or the override it recorded) and its own counts.

use std::fmt::Write as _;

use super::GroupPlan;
use crate::model::Mapping;
use crate::model::Policy;

/// Why group `g` of a plan may not be applied under `configured` (the config's mapping of
/// its IdP group, if it still has one) and `policy` (the config's guards, no override).
pub fn against_config(
    g: &GroupPlan,
    configured: Option<&Mapping>,
    policy: &Policy,
) -> Result<(), String> {
    let planned = &g.mapping;
    let Some(configured) = configured else {
        return Err(format!(
            "the config no longer maps IdP group {:?}",
            planned.idp_group
        ));
    };
    let mut why = String::new();
    if configured.target != planned.target {
        let _ = write!(
            why,
            "planned for {}, but the config now maps it to {}; ",
            planned.target, configured.target
        );
    }
    if configured.mode != planned.mode {
        let _ = write!(
            why,
            "planned in {:?} mode, but the config now says {:?}; ",
            planned.mode, configured.mode
        );
    }
    let protected: Vec<&str> = g
        .changes
        .remove
        .intersection(&policy.protected)
        .map(super::super::model::UserId::as_str)
        .collect();
    if !protected.is_empty() {
        let _ = write!(
            why,
            "it removes {} which safety.protected_members now protects; ",
            protected.join(", ")
        );
    }
    let removals = g.changes.remove.len();
    if removals != g.guard.removals {
        let _ = write!(
            why,
            "it removes {removals} members but its guard records {}: the plan was edited; ",
            g.guard.removals
        );
    }
    if g.guard.overridden {
        if removals > g.guard.limit {
            let _ = write!(
                why,
                "it removes {removals} members, over the --allow-removals {} it was planned with; ",
                g.guard.limit
            );
        }
    } else {
        let (limit, _) = policy.limit(g.precondition.member_count);
        if removals > limit {
            let _ = write!(
                why,
                "it removes {removals} of {} members, over the config's limit of {limit} (re-plan with --allow-removals {removals} if intended); ",
                g.precondition.member_count
            );
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        why.truncate(why.len() - 2);
        Err(format!("the config changed since the plan: {why}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupId, GroupTarget, Mode, UserId};
    use crate::plan::file::tests::sample;

    fn policy() -> Policy {
        Policy {
            protected: std::collections::BTreeSet::default(),
            max_removals: 25,
            max_ratio: 0.25,
            allow_removals: None,
            allow_empty_source: false,
        }
    }

    #[test]
    fn the_same_config_passes_and_each_difference_is_named() {
        let plan = sample();
        let g = &plan.groups[0];
        against_config(g, Some(&g.mapping), &policy()).unwrap();
        assert!(
            against_config(g, None, &policy())
                .unwrap_err()
                .contains("no longer maps")
        );
        let mut moved = g.mapping.clone();
        moved.target = GroupTarget::Id(GroupId::from("g0"));
        moved.mode = Mode::Full;
        let e = against_config(g, Some(&moved), &policy()).unwrap_err();
        assert!(e.contains("target_id g0") && e.contains("Full"), "{e}");
        let mut p = policy();
        p.protected.insert(UserId::from("u3"));
        let e = against_config(g, Some(&g.mapping), &p).unwrap_err();
        assert!(e.contains("u3") && e.contains("protect"), "{e}");
        let mut p = policy();
        p.max_removals = 0;
        let e = against_config(g, Some(&g.mapping), &p).unwrap_err();
        assert!(e.contains("over the config's limit of 0"), "{e}");
    }

    #[test]
    fn an_edited_plan_is_caught_even_if_resealed() {
        let mut plan = sample();
        let g = &mut plan.groups[0];
        g.changes.remove.insert(UserId::from("u9"));
        let e = against_config(g, Some(&g.mapping.clone()), &policy()).unwrap_err();
        assert!(e.contains("edited"), "{e}");
    }
}
