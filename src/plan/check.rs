//! What apply holds a plan against before any write (DESIGN rule 8): today's config.
//!
//! A plan was approved for one mapping, one mode, one set of protected members and one set of
//! guards. If the config says otherwise by the time it is applied, the plan no longer means
//! what the reviewer read, and the group is refused with what differs. A plan whose digest
//! was recomputed after an edit is caught here too: its removals must still fit the guards
//! (or the override it recorded) and its own counts.

use crate::model::Sha256Hex;
use std::fmt::Write as _;

use super::basis::{Basis, Known, group_input};
use super::planner::plan_group;
use super::{GroupPlan, Resolution, SourceSettings};
use crate::model::Mapping;
use crate::model::Policy;
use crate::model::{GroupSnapshot, UserId};

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

/// Why group `g`'s changes do not follow from its own intent, resolutions and the state's
/// mirror (`known`: the state has not moved since the plan, or apply would have refused the
/// group as superseded): a plan edited and resealed by hand, whose changes add someone no
/// desired key names or remove someone the IdP never revoked, is refused whatever its
/// digest. The planner runs again on the members the plan tells of — those it removes, and
/// every desired user it names and does not add — with the guards left out (they are
/// checked by [`against_config`]); its changes must be the plan's, with the same reasons.
pub fn against_itself(g: &GroupPlan, known: Known<'_>, policy: &Policy) -> Result<(), String> {
    let desired = g.intent.desired(known.mirror);
    let mut members = g.changes.remove.clone();
    for k in &desired {
        let r = g
            .resolution
            .get(k)
            .cloned()
            .unwrap_or_else(|| Resolution::derived(k, known.cache.user_of(k), known.user_key));
        if let Resolution::User(id) | Resolution::Found(id) = r
            && !g.changes.add.contains(&id)
        {
            members.insert(id);
        }
    }
    let live = GroupSnapshot {
        id: g.group_id.clone(),
        display_name: g.display_name.clone(),
        members,
        member_groups: g.member_groups.clone(),
        etag: g.precondition.etag.clone(),
    };
    let unguarded = Policy {
        allow_removals: Some(usize::MAX),
        allow_empty_source: true,
        ..policy.clone()
    };
    let input = group_input(Basis::Stale(g), known, &live, &g.mapping, &unguarded);
    let again =
        plan_group(input).map_err(|trip| format!("its own intent trips a guard: {trip:?}"))?;
    let show = |ids: &std::collections::BTreeSet<UserId>| {
        ids.iter()
            .map(UserId::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut why = Vec::new();
    let extra_adds = &g.changes.add - &again.changes.add;
    let extra_removes = &g.changes.remove - &again.changes.remove;
    let missing_adds = &again.changes.add - &g.changes.add;
    if !extra_adds.is_empty() {
        why.push(format!(
            "it adds {} whom no desired key names",
            show(&extra_adds)
        ));
    }
    if !extra_removes.is_empty() {
        why.push(format!(
            "it removes {} whom its intent does not revoke",
            show(&extra_removes)
        ));
    }
    if !missing_adds.is_empty() {
        why.push(format!("it leaves out the adds of {}", show(&missing_adds)));
    }
    if why.is_empty() && again.reasons != g.reasons {
        why.push("its reasons are not the ones its intent gives".into());
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the plan does not agree with itself (edited by hand?): {}",
            why.join("; ")
        ))
    }
}

/// A plan older than this is warned about at apply (`--max-plan-age` refuses): an approval
/// a week old rarely still describes the org, even where no group moved.
pub const OLD_PLAN: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);

/// How old a plan is, held against `--max-plan-age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    /// Younger than [`OLD_PLAN`] (and than the maximum).
    Fresh,
    /// Older than [`OLD_PLAN`]: warned about.
    Old(jiff::SignedDuration),
    /// Older than `--max-plan-age`: refused.
    TooOld(jiff::SignedDuration),
}

/// The age of a plan made at `created`, at `now`, against `max` (`--max-plan-age`).
pub fn age(
    created: jiff::Timestamp,
    now: jiff::Timestamp,
    max: Option<jiff::SignedDuration>,
) -> Age {
    let age = now.duration_since(created);
    match max {
        Some(max) if age > max => Age::TooOld(age),
        _ if age > OLD_PLAN => Age::Old(age),
        _ => Age::Fresh,
    }
}

/// Why a plan read with the source settings `planned` (made with a config of digest
/// `planned_sha256`) may not be applied under today's `current` ones: another source kind,
/// `user_key` or location reads other people under the same keys. A plan that does not
/// record its settings is held to the whole config's digest.
pub fn against_source(
    planned: Option<&SourceSettings>,
    current: &SourceSettings,
    planned_sha256: &Sha256Hex,
    current_sha256: &Sha256Hex,
) -> Result<(), String> {
    let Some(planned) = planned else {
        return if planned_sha256 == current_sha256 {
            Ok(())
        } else {
            Err(format!(
                "it was made with another config (sha256 {}) and does not record its source settings",
                planned_sha256.short()
            ))
        };
    };
    let mut why = Vec::new();
    if planned.kind != current.kind {
        why.push(format!(
            "source.kind was \"{}\", the config now says \"{}\"",
            planned.kind, current.kind
        ));
    }
    if planned.user_key != current.user_key {
        why.push(format!(
            "source.user_key was \"{}\", the config now says \"{}\"",
            planned.user_key.attribute(),
            current.user_key.attribute()
        ));
    }
    if planned.location != current.location {
        why.push(format!(
            "the source was {}, the config now reads {}",
            planned.location, current.location
        ));
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the config changed since the plan: {}",
            why.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupId, GroupTarget, Mode, UserId};
    use crate::plan::file::tests::sample;

    fn policy() -> Policy {
        Policy::default()
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
