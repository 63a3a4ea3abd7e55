//! One group's apply: the checks, the PATCHes, and what a group that moved becomes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::commands::GroupFailure;
use crate::config::Config;
use crate::model::{ETag, MemberChanges, Policy, UserId, UserKey};
use crate::plan::planner::{GroupInput, plan};
use crate::plan::report::{GroupReport, Outcome};
use crate::plan::{GroupPlan, Intent, ReadKind, Resolution, SourceRef, check};
use crate::scim::ScimClient;
use crate::state::State;
use crate::state::ledger::{Advance, Ledger};

/// What `apply` needs of one run.
pub(super) struct Run<'a> {
    pub(super) client: &'a ScimClient,
    pub(super) config: &'a Config,
    pub(super) ledger: &'a Ledger<'a>,
    /// The config's guards, without any override: what each group is held against.
    pub(super) policy: Policy,
}

fn report(
    g: &GroupPlan,
    outcome: Outcome,
    changes: Option<&MemberChanges>,
    patches: usize,
    detail: Option<String>,
) -> GroupReport {
    GroupReport {
        idp_group: g.mapping.idp_group.clone(),
        group_id: g.group_id.to_string(),
        display_name: g.display_name.clone(),
        outcome,
        added: changes.map_or(0, |c| c.add.len()),
        removed: changes.map_or(0, |c| c.remove.len()),
        patches,
        detail,
    }
}

/// The first pass's result for one group.
pub(super) enum Pass {
    Done(GroupReport),
    /// The ETag moved: re-plan from the same intent. What landed before it moved.
    Stale(Box<GroupPlan>, String, MemberChanges),
    /// Another plan was applied since: re-plan from the state.
    Superseded(Box<GroupPlan>, String),
}

/// The state a group's applied plan moves to.
fn advance<'p>(g: &'p GroupPlan, etag: Option<&'p ETag>) -> Advance<'p> {
    Advance {
        group: &g.mapping.idp_group,
        cursor: g.source.cursor_to.as_ref(),
        intent: &g.intent,
        etag,
    }
}

/// The users `g`'s lookups found, and every user its changes name: they join (or refresh)
/// the resolution cache once it is applied, with the plan's label, so that a later plan
/// names them without a request (ids as keys too) and a user who leaves every group keeps
/// their entry for the cache's retention from this change ([`crate::state::USER_RETENTION`]).
fn found(g: &GroupPlan) -> impl Iterator<Item = (&str, &UserId)> {
    g.resolution.iter().filter_map(|(k, r)| match r {
        Resolution::Found(id) => Some((k.as_str(), id)),
        Resolution::User(id) if g.changes.add.contains(id) || g.changes.remove.contains(id) => {
            Some((k.as_str(), id))
        }
        _ => None,
    })
}

/// What `g`'s planner saw, rebuilt from `state` (whose group has not moved since the plan):
/// the desired set (the mirror and the plan's difference) and how each of its keys and of
/// the revoked ones resolved (the plan's entry where it kept one, else derived again).
fn rebuild(
    g: &GroupPlan,
    state: &State,
    user_key: UserKey,
) -> (BTreeSet<String>, BTreeMap<String, Resolution>) {
    let desired = g.intent.desired(state.mirror(&g.mapping.idp_group));
    let resolution = desired
        .iter()
        .chain(&g.intent.revoked)
        .map(|k| {
            let r = g.resolution.get(k).cloned().unwrap_or_else(|| {
                Resolution::derived(k, state.users.get(k).map(|c| &c.id), user_key)
            });
            (k.clone(), r)
        })
        .collect();
    (desired, resolution)
}

/// A group after the first pass and, if it moved, its re-plan.
pub(super) enum Settled {
    /// Its line in the report.
    Done(GroupReport),
    /// Refused: its line, the approved group plan and its re-plan.
    Replanned(GroupReport, Box<GroupPlan>, Box<GroupPlan>),
}

impl Run<'_> {
    pub(super) async fn apply_group(&self, g: &GroupPlan) -> Pass {
        let name = &g.mapping.idp_group;
        if self.ledger.already_applied(name) {
            return Pass::Done(report(
                g,
                Outcome::Converged,
                None,
                0,
                Some("already applied by this plan".into()),
            ));
        }
        let configured = self.config.groups.iter().find(|c| &c.idp_group == name);
        if let Err(why) = check::against_config(g, configured, &self.policy) {
            return Pass::Done(report(
                g,
                Outcome::Failed,
                None,
                0,
                Some(format!(
                    "{why}; nothing was applied to it: re-plan with this config"
                )),
            ));
        }
        if let Some(why) = self.ledger.moved(name, &g.base) {
            return Pass::Superseded(Box::new(g.clone()), why);
        }
        if g.changes.is_empty() {
            self.ledger
                .note(advance(g, g.precondition.etag.as_ref()), found(g));
            return Pass::Done(report(g, Outcome::Converged, None, 0, None));
        }
        match self
            .client
            .patch_members(&g.group_id, &g.precondition, &g.changes)
            .await
        {
            Ok(out) => {
                self.ledger.note(advance(g, out.etag.as_ref()), found(g));
                match self.ledger.commit().await {
                    Ok(()) => Pass::Done(report(
                        g,
                        Outcome::Applied,
                        Some(&g.changes),
                        out.patches,
                        None,
                    )),
                    Err(e) => Pass::Done(report(
                        g,
                        Outcome::Failed,
                        Some(&g.changes),
                        out.patches,
                        Some(format!(
                            "changes applied, but the state could not be saved ({e}); the next plan will find them already applied"
                        )),
                    )),
                }
            }
            Err(e) if e.is_stale() => Pass::Stale(Box::new(g.clone()), e.to_string(), e.applied),
            Err(e) => {
                let mut detail = e.to_string();
                if e.error.scim_type() == Some("invalidValue") {
                    // One of the users to add no longer exists or is inactive: the cache must
                    // not vouch for them again.
                    let keys = g
                        .resolution
                        .iter()
                        .filter(|(_, r)| r.id().is_some_and(|id| g.changes.add.contains(id)))
                        .map(|(k, _)| k.as_str());
                    if let Err(save) = self.ledger.forget(keys).await {
                        let _ = write!(detail, " (and the state could not be saved: {save})");
                    } else {
                        detail.push_str(
                            "; its users are looked up again by the next plan, which holds back any that no longer exist or are inactive",
                        );
                    }
                }
                Pass::Done(report(
                    g,
                    Outcome::Failed,
                    Some(&e.applied),
                    0,
                    Some(detail),
                ))
            }
        }
    }

    /// Re-plan a group whose ETag moved: a fresh read, the same intent and resolution, the
    /// same state base, the same policy (with the override the plan recorded).
    ///
    /// The desired set is rebuilt from the state's mirror and the plan's difference (the
    /// state has not moved: a group whose state moved is superseded, not stale), and each
    /// key's resolution is the plan's where it kept one, else derived again
    /// ([`Resolution::derived`]).
    async fn replan_stale(&self, g: &GroupPlan) -> Result<GroupPlan, GroupFailure> {
        let live = self.client.get_group(&g.group_id).await?;
        let user_key = self.config.source.user_key();
        let (desired, resolution) = self.ledger.read(|state| rebuild(g, state, user_key));
        let allow = g.guard.overridden.then_some(g.guard.limit);
        Ok(plan(GroupInput {
            live: &live,
            mapping: g.mapping.clone(),
            base: g.base.clone(),
            source: g.source.clone(),
            desired: Some(&desired),
            intent: g.intent.clone(),
            resolution,
            // `rebuild` resolved every key.
            derive: &|_| Resolution::Unknown,
            policy: &self.config.safety.policy(allow),
        })?)
    }

    /// Re-plan a superseded group from the state as it is now: its mirror (the IdP's
    /// membership as last applied) against a fresh read. The IdP's changes since the state's
    /// cursor are for the next `scimsync plan`: nothing the superseded plan read is lost,
    /// since the state's cursor never moved past it.
    async fn replan_superseded(&self, g: &GroupPlan) -> Result<GroupPlan, GroupFailure> {
        let live = self.client.get_group(&g.group_id).await?;
        let name = &g.mapping.idp_group;
        let user_key = self.config.source.user_key();
        let (mirror, cursor, resolution, base) = self.ledger.read(|state: &State| {
            let mirror = state.mirror(name).cloned().unwrap_or_default();
            let resolution: BTreeMap<String, Resolution> = mirror
                .iter()
                .map(|k| {
                    let r = match (state.users.get(k), g.resolution.get(k)) {
                        (Some(c), _) => Resolution::User(c.id.clone()),
                        (None, Some(r)) => r.clone(),
                        (None, None) => Resolution::derived(k, None, user_key),
                    };
                    (k.clone(), r)
                })
                .collect();
            (
                mirror,
                state.cursor(name).cloned(),
                resolution,
                state.base(name),
            )
        });
        let allow = g.guard.overridden.then_some(g.guard.limit);
        Ok(plan(GroupInput {
            live: &live,
            mapping: g.mapping.clone(),
            base,
            source: SourceRef {
                kind: g.source.kind,
                read: ReadKind::State,
                cursor_from: cursor.clone(),
                cursor_to: cursor,
            },
            desired: Some(&mirror),
            intent: Intent::new(&mirror, Some(&mirror)),
            resolution,
            // Every key of the mirror is resolved above.
            derive: &|_| Resolution::Unknown,
            policy: &self.config.safety.policy(allow),
        })?)
    }
}

impl Run<'_> {
    /// Settle one group's first pass: a group that moved is re-planned (from the same intent
    /// when only its ETag moved, from the state when another plan superseded it); a re-plan
    /// with nothing to do converges; with `apply_subset`, a re-plan whose changes were all
    /// approved is applied at once.
    pub(super) async fn settle(&self, pass: Pass, apply_subset: bool) -> Settled {
        let (old, why, landed, superseded) = match pass {
            Pass::Done(r) => return Settled::Done(r),
            Pass::Stale(g, why, landed) => (g, why, landed, false),
            Pass::Superseded(g, why) => (g, why, MemberChanges::default(), true),
        };
        let new = if superseded {
            self.replan_superseded(&old).await
        } else {
            self.replan_stale(&old).await
        };
        let new = match new {
            Ok(new) => new,
            Err(e) => {
                return Settled::Done(report(
                    &old,
                    Outcome::Failed,
                    Some(&landed),
                    0,
                    Some(format!("{why}; re-planning it failed: {e}")),
                ));
            }
        };
        let outcome = if superseded {
            Outcome::Superseded
        } else {
            Outcome::Stale
        };
        if new.changes.is_empty() {
            if superseded {
                let detail = if old.changes.is_empty() {
                    return Settled::Done(report(
                        &old,
                        Outcome::Converged,
                        None,
                        0,
                        Some(format!("{why}; nothing to do")),
                    ));
                } else {
                    format!(
                        "{why}. None of its changes were applied, and the state's mirror calls for none: run `scimsync plan` for the IdP's changes since"
                    )
                };
                return Settled::Done(report(&old, outcome, None, 0, Some(detail)));
            }
            self.ledger
                .note(advance(&old, new.precondition.etag.as_ref()), found(&old));
            return Settled::Done(match self.ledger.commit().await {
                Ok(()) => report(
                    &old,
                    Outcome::Converged,
                    Some(&landed),
                    0,
                    Some("moved since the plan, but already holds the intended membership".into()),
                ),
                Err(e) => report(&old, Outcome::Failed, Some(&landed), 0, Some(e.to_string())),
            });
        }
        let subset = new.changes.add.is_subset(&old.changes.add)
            && new.changes.remove.is_subset(&old.changes.remove);
        if apply_subset && subset && !superseded {
            match self.apply_group(&new).await {
                Pass::Done(mut r) if r.outcome == Outcome::Applied => {
                    r.outcome = Outcome::AppliedReplan;
                    r.added += landed.add.len();
                    r.removed += landed.remove.len();
                    r.detail = Some(
                        "moved since the plan; what was left of the approved changes was applied"
                            .into(),
                    );
                    return Settled::Done(r);
                }
                Pass::Done(r) => return Settled::Done(r),
                Pass::Stale(..) | Pass::Superseded(..) => {}
            }
        }
        let detail = if landed.is_empty() {
            format!("{why}; nothing was applied to it")
        } else {
            format!(
                "{why}; {} of its {} approved changes landed before it moved, the re-plan holds the {} still to make",
                landed.len(),
                old.changes.len(),
                new.changes.len()
            )
        };
        let r = report(&old, outcome, Some(&landed), 0, Some(detail));
        Settled::Replanned(r, old, Box::new(new))
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
