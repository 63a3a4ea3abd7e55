//! One group's apply: its admission, the PATCHes, and the re-plan of a group that moved.
//! Every decision is in [`crate::plan::settle`] and [`crate::plan::basis`]; this file reads,
//! calls and writes.

use std::fmt::Write as _;

use crate::commands::GroupFailure;
use crate::config::Config;
use std::collections::BTreeMap;

use crate::model::{ETag, MemberChanges, Moved, Policy, UserId};
use crate::plan::GroupPlan;
use crate::plan::basis::{Basis, Known, group_input};
use crate::plan::check;
use crate::plan::grants::GroupGrants;
use crate::plan::planner::plan;
use crate::plan::report::{GroupReport, Outcome};
use crate::plan::settle::{self, Admission, Moving, Settlement};
use crate::scim::PatchError;
use crate::scim::ScimClient;
use crate::state::ledger::{Advance, Ledger};

use super::journal::RunJournal;

/// What `apply` needs of one run.
pub(super) struct ApplyRun<'a> {
    pub(super) client: &'a ScimClient,
    pub(super) config: &'a Config,
    pub(super) ledger: &'a Ledger<'a>,
    /// The config's guards, without any override: what each group is held against.
    pub(super) policy: Policy,
    /// The plan's labels, to name users in what the report says.
    pub(super) labels: &'a BTreeMap<UserId, String>,
    /// Where every change made and every group outcome is recorded.
    pub(super) journal: &'a RunJournal<'a>,
}

impl ApplyRun<'_> {
    /// Why a PATCH left group `g` to be re-planned, naming by label the users Genesys
    /// accepted and did not add or remove.
    fn why_stale(&self, e: &PatchError) -> String {
        let mut why = e.to_string();
        if let Some((not_added, not_removed)) = e.error.not_applied() {
            let name = |id: &UserId| match self.labels.get(id) {
                Some(label) => format!("{label} ({id})"),
                None => id.to_string(),
            };
            let names: Vec<String> = not_removed.iter().chain(not_added).map(name).collect();
            let _ = write!(why, " [{}]", names.join(", "));
        }
        why
    }
}

pub(super) fn report(
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

/// A group after its first attempt.
pub(super) enum Attempt {
    /// Done: its line in the report.
    Done(GroupReport),
    /// The ETag moved: re-plan from the same intent. Why, and what landed before it moved.
    Stale(Box<GroupPlan>, Box<PatchError>),
    /// Another plan was applied since: re-plan from the state.
    Superseded(Box<GroupPlan>, Moved),
    /// The roles it grants moved since the plan: re-plan with these, and why.
    GrantsMoved(Box<GroupPlan>, Box<GroupGrants>, String),
}

/// A group after its attempt and, if it moved, its re-plan.
pub(super) enum GroupResult {
    /// Its line in the report.
    Done(GroupReport),
    /// Refused: its line, the approved group plan and its re-plan.
    Replanned(GroupReport, Box<GroupPlan>, Box<GroupPlan>),
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

impl ApplyRun<'_> {
    /// Journal the changes of `g` that landed.
    fn journal_changes(
        &self,
        g: &GroupPlan,
        landed: &MemberChanges,
        correlation: &BTreeMap<UserId, String>,
    ) {
        if landed.is_empty() {
            return;
        }
        let journal = self.journal;
        let state = journal.state_ref(&g.mapping.idp_group);
        journal.record(crate::journal::entry::changes(
            g,
            landed,
            correlation,
            &journal.approval,
            &state,
            journal.naming(),
        ));
    }

    pub(super) async fn apply_group(&self, g: &GroupPlan) -> Attempt {
        let name = &g.mapping.idp_group;
        let configured = self.config.groups.iter().find(|c| &c.idp_group == name);
        let user_key = self.config.source.user_key();
        let itself = || {
            self.ledger.read(|state| {
                let known = Known {
                    mirror: state.mirror(name),
                    cursor: state.cursor(name),
                    base: &g.base,
                    cache: state,
                    user_key,
                };
                check::against_itself(g, known, &self.policy)
            })
        };
        let admission = settle::admit(
            g,
            self.ledger.already_applied(name),
            configured,
            &self.policy,
            self.ledger.moved(name, &g.base),
            itself,
        );
        match admission {
            Admission::AlreadyApplied => {
                let detail = "already applied by this plan".to_owned();
                return Attempt::Done(report(g, Outcome::Converged, None, 0, Some(detail)));
            }
            Admission::Refused(why) => {
                let detail = format!("{why}; nothing was applied to it: re-plan with this config");
                return Attempt::Done(report(g, Outcome::Failed, None, 0, Some(detail)));
            }
            Admission::Superseded(moved) => return Attempt::Superseded(Box::new(g.clone()), moved),
            Admission::NothingToSend => {
                self.ledger
                    .note(advance(g, g.precondition.etag.as_ref()), g.found());
                return Attempt::Done(report(g, Outcome::Converged, None, 0, None));
            }
            Admission::Send => {}
        }
        if let Some(attempt) = self.recheck_grants(g).await {
            return attempt;
        }
        match self
            .client
            .patch_members(&g.group_id, &g.precondition, &g.changes)
            .await
        {
            Ok(out) => {
                self.ledger.note(advance(g, out.etag.as_ref()), g.found());
                self.journal_changes(g, &g.changes, &out.correlation);
                let (outcome, detail) = match self.ledger.commit().await {
                    Ok(()) => (Outcome::Applied, None),
                    Err(e) => (
                        Outcome::Failed,
                        Some(format!(
                            "changes applied, but the state could not be saved ({e}); the next plan will find them already applied"
                        )),
                    ),
                };
                Attempt::Done(report(g, outcome, Some(&g.changes), out.patches, detail))
            }
            Err(e) if e.is_stale() => {
                self.journal_changes(g, &e.applied, &e.correlation);
                Attempt::Stale(Box::new(g.clone()), Box::new(e))
            }
            Err(e) => {
                self.journal_changes(g, &e.applied, &e.correlation);
                let mut detail = e.to_string();
                if e.error.refuses_a_user() {
                    // One of the users to add no longer exists or is inactive: the cache must
                    // not vouch for them again.
                    if let Err(save) = self.ledger.forget(g.keys_of_adds()).await {
                        let _ = write!(detail, " (and the state could not be saved: {save})");
                    } else {
                        detail.push_str(
                            "; its users are looked up again by the next plan, which holds back any that no longer exist or are inactive",
                        );
                    }
                }
                Attempt::Done(report(
                    g,
                    Outcome::Failed,
                    Some(&e.applied),
                    0,
                    Some(detail),
                ))
            }
        }
    }

    /// Re-plan a group that moved ([`Basis::Stale`] or [`Basis::Superseded`]) against a
    /// fresh read of it and the state as it is now.
    async fn replan(
        &self,
        g: &GroupPlan,
        moving: Moving,
        fresh: Option<GroupGrants>,
        landed: &MemberChanges,
    ) -> Result<GroupPlan, GroupFailure> {
        let live = self.client.get_group(&g.group_id).await?;
        if moving == Moving::Stale {
            // A PATCH whose answer was lost and whose re-read failed may have landed: what
            // the fresh read shows of the approved changes, beyond what the answers showed,
            // is journaled as found (the re-plan no longer holds it).
            let found = crate::journal::entry::found_made(g, landed, &live.members);
            if !found.is_empty() {
                let journal = self.journal;
                let state = journal.state_ref(&g.mapping.idp_group);
                journal.record(crate::journal::entry::found(
                    g,
                    &found,
                    &journal.approval,
                    &state,
                    journal.naming(),
                    journal.run_id(),
                    crate::model::now_to_the_second(),
                ));
            }
        }
        let name = &g.mapping.idp_group;
        let basis = match moving {
            Moving::Stale => Basis::Stale(g),
            Moving::Superseded => Basis::Superseded(g),
        };
        let policy = &self.policy;
        let user_key = self.config.source.user_key();
        let new = self.ledger.read(|state| {
            let base = state.base(name);
            let known = Known {
                mirror: state.mirror(name),
                cursor: state.cursor(name),
                base: &base,
                cache: state,
                user_key,
            };
            plan(group_input(basis, known, &live, &g.mapping, policy)).map_err(GroupFailure::from)
        })?;
        self.replan_grants(new, fresh).await
    }

    /// Settle one group's attempt: a group that moved is re-planned, and the re-plan decides
    /// what it becomes ([`settle::settle`]).
    pub(super) async fn settle(&self, attempt: Attempt, apply_subset: bool) -> GroupResult {
        let (old, why, landed, moving, fresh) = match attempt {
            Attempt::Done(r) => return GroupResult::Done(r),
            Attempt::Stale(g, e) => {
                let why = self.why_stale(&e);
                (g, why, e.applied, Moving::Stale, None)
            }
            Attempt::Superseded(g, moved) => (
                g,
                moved.to_string(),
                MemberChanges::default(),
                Moving::Superseded,
                None,
            ),
            Attempt::GrantsMoved(g, now, why) => {
                (g, why, MemberChanges::default(), Moving::Stale, Some(*now))
            }
        };
        let new = match self.replan(&old, moving, fresh, &landed).await {
            Ok(new) => new,
            Err(e) => {
                let detail = format!("{why}; re-planning it failed: {e}");
                return GroupResult::Done(report(
                    &old,
                    Outcome::Failed,
                    Some(&landed),
                    0,
                    Some(detail),
                ));
            }
        };
        let outcome = match moving {
            Moving::Stale => Outcome::Stale,
            Moving::Superseded => Outcome::Superseded,
        };
        match settle::settle(&old, &new, moving, apply_subset) {
            Settlement::NothingToDo => {
                let detail = format!("{why}; nothing to do");
                return GroupResult::Done(report(&old, Outcome::Converged, None, 0, Some(detail)));
            }
            Settlement::NoneLeft => {
                let detail = format!(
                    "{why}. None of its changes were applied, and the state's mirror calls for none: run `scimsync plan` for the IdP's changes since"
                );
                return GroupResult::Done(report(&old, outcome, None, 0, Some(detail)));
            }
            Settlement::AlreadyHeld => {
                self.ledger
                    .note(advance(&old, new.precondition.etag.as_ref()), old.found());
                return GroupResult::Done(match self.ledger.commit().await {
                    Ok(()) => report(
                        &old,
                        Outcome::Converged,
                        Some(&landed),
                        0,
                        Some(
                            "moved since the plan, but already holds the intended membership"
                                .into(),
                        ),
                    ),
                    Err(e) => report(&old, Outcome::Failed, Some(&landed), 0, Some(e.to_string())),
                });
            }
            Settlement::ApplySubset => match self.apply_group(&new).await {
                Attempt::Done(mut r) if r.outcome == Outcome::Applied => {
                    r.outcome = Outcome::AppliedReplan;
                    r.added += landed.add.len();
                    r.removed += landed.remove.len();
                    r.detail = Some(
                        "moved since the plan; what was left of the approved changes was applied"
                            .into(),
                    );
                    return GroupResult::Done(r);
                }
                Attempt::Done(r) => return GroupResult::Done(r),
                Attempt::Stale(..) | Attempt::Superseded(..) | Attempt::GrantsMoved(..) => {}
            },
            Settlement::Replan => {}
        }
        let detail = if moving == Moving::Stale && settle::refused_its_own_etag(&old, &new) {
            let etag = old.precondition.etag.as_ref().map_or("", |e| e.as_str());
            format!(
                "{why}; nothing was applied to it. A fresh read shows the group as the plan found it (ETag {etag}, the same members): the server refused If-Match {etag}, the ETag it sends itself, and will refuse every re-plan alike. It may compare weak ETags strictly (RFC 9110 §13.1.1); check with `curl -X PATCH -H 'If-Match: {etag}'` on the group, and ask its operator to accept the ETags it issues"
            )
        } else if landed.is_empty() {
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
        GroupResult::Replanned(r, old, Box::new(new))
    }
}
