//! The re-plan of the groups that moved: labelled, sealed, written beside the approved plan,
//! and the difference a reviewer reads.

use std::path::Path;

use super::group::ApplyRun;
use crate::commands::{label_unnamed, seal_plan};
use crate::plan::render::{changes_text, diff};
use crate::plan::report::ReplanRef;
use crate::plan::{GroupPlan, Plan, file};
use crate::state::State;

/// Write the re-plan of `replanned` (the groups `approved` became) to `replan_path`; where it
/// went, and the diff against the approved plan at `plan_path`.
pub(super) async fn write(
    run: &ApplyRun<'_>,
    plan: &Plan,
    approved: Vec<GroupPlan>,
    replanned: Vec<GroupPlan>,
    plan_path: &Path,
    replan_path: &Path,
) -> anyhow::Result<(ReplanRef, String)> {
    let (config, client, ledger) = (run.config, run.client, run.ledger);
    let mut labels = plan.labels.clone();
    // A re-plan is rare and small: a copy of the state for its labels is fine.
    let users = ledger.read(State::clone);
    for (k, u) in &users.users {
        labels.entry(u.id.clone()).or_insert_with(|| {
            if u.label.is_empty() {
                k.to_string()
            } else {
                u.label.clone()
            }
        });
    }
    let key = config.source.user_key();
    let n = config.target.concurrency;
    label_unnamed(client, &users, key, &replanned, &mut labels, n).await;
    let mut replan = seal_plan(config, replanned, &labels);
    replan.replaces = Some(plan.sha256.clone());
    file::seal(&mut replan);
    file::write(replan_path, &replan)?;
    let old = Plan {
        groups: approved,
        ..plan.clone()
    };
    let mut diff_text = diff(
        &changes_text(&old),
        &changes_text(&replan),
        &format!("{} (approved)", plan_path.display()),
        &format!("{} (re-plan)", replan_path.display()),
    );
    let same = old
        .groups
        .iter()
        .zip(&replan.groups)
        .all(|(a, b)| a.changes == b.changes);
    let regranted = old
        .groups
        .iter()
        .zip(&replan.groups)
        .any(|(a, b)| !crate::plan::settle::same_grants(a, b));
    if regranted {
        diff_text.insert_str(
            0,
            "The roles these groups grant changed since the plan was approved: the approved changes would now give other access than was approved (the `grants` lines below). Review the re-plan before applying it.\n",
        );
    } else if same {
        diff_text.insert_str(
                0,
                "The re-plan makes exactly the approved changes: only the groups' versions moved (--apply-replan-if-subset applies such a re-plan at once).\n",
            );
    }
    Ok((
        ReplanRef {
            path: replan_path.display().to_string(),
            sha256: replan.sha256.clone(),
        },
        diff_text,
    ))
}
