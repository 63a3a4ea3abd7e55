//! What was approved is what is applied, roles included: before a group's PATCHes, apply
//! re-reads the roles it grants when the plan recorded some (every group with
//! `[review] recheck_all = true`), and refuses the group as stale when they moved: a role
//! added to a group after approval changes what the approval gave. The re-plan records the
//! grants read now, and its diff shows how they differ. The rules are in
//! [`crate::plan::grants`]; this file reads and hands over.

use super::group::{ApplyRun, Attempt, report};
use crate::commands::GroupFailure;
use crate::plan::GroupPlan;
use crate::plan::grants::{self, GroupGrants};
use crate::plan::report::Outcome;

impl ApplyRun<'_> {
    /// Before group `g` is written: `None` to go on, or the attempt it ends as (stale when
    /// its grants moved; failed when they could not be read).
    pub(super) async fn recheck_grants(&self, g: &GroupPlan) -> Option<Attempt> {
        let review = &self.config.review;
        if !grants::needs_recheck(g.grants.as_ref(), review) {
            return None;
        }
        let now = match crate::commands::grants::read(self.client, &g.group_id, review).await {
            Ok(Some(now)) => now,
            // `[review] grants = "off"` since the plan: the config now says roles are not
            // read, and apply follows it (as it follows the config's guards).
            Ok(None) => return None,
            Err(e) => {
                let detail = format!(
                    "the roles it grants could not be re-read before writing it ({e}); nothing was applied to it: run apply again"
                );
                return Some(Attempt::Done(report(
                    g,
                    Outcome::Failed,
                    None,
                    0,
                    Some(detail),
                )));
            }
        };
        let planned = g.grants.as_ref()?;
        let moved = grants::moved(planned, &now)?;
        let why = format!(
            "the roles group {} ({}) grants changed since the plan: it {moved}",
            g.display_name, g.group_id
        );
        Some(Attempt::GrantsMoved(
            Box::new(g.clone()),
            Box::new(now),
            why,
        ))
    }

    /// The re-plan `new` with the grants it gives: `fresh` (read by [`Self::recheck_grants`]) or
    /// one read now, for a re-plan with changes (it goes back to a reviewer).
    pub(super) async fn replan_grants(
        &self,
        new: GroupPlan,
        fresh: Option<GroupGrants>,
    ) -> Result<GroupPlan, GroupFailure> {
        if new.changes.is_empty() {
            return Ok(new);
        }
        let grants = match fresh {
            Some(g) => Some(g),
            None => {
                crate::commands::grants::read(self.client, &new.group_id, &self.config.review)
                    .await?
            }
        };
        Ok(match grants {
            Some(g) => new.with_grants(g),
            None => new,
        })
    }
}
