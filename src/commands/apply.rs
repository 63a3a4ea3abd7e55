//! `scimsync apply PLAN`: replay exactly the approved plan, each PATCH under the ETag read at
//! plan time; refuse, re-plan and show the difference for groups that moved.
//!
//! Before any write: the plan's sha256 is recomputed, its format version checked, its target
//! compared with the configured one, and `--expect-sha256` (the digest a human approved)
//! matched. Then, per group (concurrently, bounded by `target.concurrency`):
//!
//! - the group is held against today's config (mapping, mode, protected members, guards):
//!   a mismatch refuses it, saying what differs (exit 1);
//! - the group's state must be where the plan found it (lineage + serial): if another plan
//!   was applied since, this one is superseded: refused, re-planned from the current state;
//! - applied → the group's cursor, mirror and serial move forward together (state, atomic);
//!   users found by the plan's lookups join the resolution cache;
//! - stale (the ETag moved) → not retried; once the others are done it is re-planned from the
//!   same IdP intent against a fresh read, into `--replan-out`, and the difference is printed
//!   (exit 3);
//! - failed → the others go on; its state stays (exit 1). A 400 `invalidValue` (a user that
//!   does not exist or is inactive) also drops the group's cached users, so the next plan
//!   looks them up again.
//!
//! Applying a plan twice is harmless: the state remembers which plan each group last
//! applied, and a group that already holds its changes re-plans to nothing ("converged").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use futures::{StreamExt, stream};

use super::plan::{GroupFailure, assemble, label_unnamed, policy, seal_plan};
use super::{Env, connect};
use crate::cli::{ApplyArgs, ReportFormat};
use crate::config::Config;
use crate::events::{Event, Events, Level};
use crate::exit_code::ExitCode;
use crate::model::{ETag, MemberChanges, TargetKind, UserId, UserKey};
use crate::plan::planner::{GroupInput, Policy};
use crate::plan::render::{changes_text, diff};
use crate::plan::report::{
    ApplyReport, ApplySummary, GroupReport, Outcome, ReplanRef, text_report,
};
use crate::plan::{GroupPlan, Intent, Mapping, Plan, ReadKind, Resolution, SourceRef, check, file};
use crate::state::State;
use crate::state::ledger::{Advance, Ledger};
use crate::target::{Precondition, ScimClient};

/// Why a plan was refused before any write.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// `--expect-sha256` differs.
    #[error(
        "plan {path} has sha256 {actual}, but --expect-sha256 is {expected}: this is not the plan that was approved; nothing was applied"
    )]
    NotApproved {
        /// The plan file.
        path: String,
        /// Its digest.
        actual: String,
        /// The approved digest.
        expected: String,
    },
    /// The plan is for another target.
    #[error(
        "plan {path} is for target {plan_kind} {plan_base}, but the config {config} targets {config_kind} {config_base}; nothing was applied"
    )]
    OtherTarget {
        /// The plan file.
        path: String,
        /// The plan's target kind.
        plan_kind: TargetKind,
        /// The plan's target base.
        plan_base: String,
        /// The config file.
        config: String,
        /// The config's target kind.
        config_kind: TargetKind,
        /// The config's target base.
        config_base: String,
    },
}

/// `plan.json` → `plan.replan.json`.
///
/// ```
/// use std::path::Path;
/// use scimsync::commands::apply::default_replan_path;
/// assert_eq!(default_replan_path(Path::new("out/plan.json")), Path::new("out/plan.replan.json"));
/// assert_eq!(default_replan_path(Path::new("plan")), Path::new("plan.replan"));
/// ```
pub fn default_replan_path(plan: &Path) -> PathBuf {
    let stem = plan
        .file_stem()
        .map_or_else(|| "plan".into(), |s| s.to_string_lossy().into_owned());
    let name = match plan.extension() {
        Some(ext) => format!("{stem}.replan.{}", ext.to_string_lossy()),
        None => format!("{stem}.replan"),
    };
    plan.with_file_name(name)
}

/// Read and check a plan before any write.
pub fn load_checked(path: &Path, config: &Config, expect: Option<&str>) -> anyhow::Result<Plan> {
    let shown = path.display().to_string();
    let plan = file::read(path)?;
    file::verify(&plan, &shown)?;
    if let Some(expected) = expect
        && !expected.trim().eq_ignore_ascii_case(&plan.sha256)
    {
        return Err(Refusal::NotApproved {
            path: shown,
            actual: plan.sha256.clone(),
            expected: expected.trim().to_owned(),
        }
        .into());
    }
    let kind = config.target.kind;
    let base = config.target.api_base.as_str();
    if plan.target.kind != kind || plan.target.api_base.trim_end_matches('/') != base {
        return Err(Refusal::OtherTarget {
            path: shown,
            plan_kind: plan.target.kind,
            plan_base: plan.target.api_base.clone(),
            config: config.path.display().to_string(),
            config_kind: kind,
            config_base: base.to_owned(),
        }
        .into());
    }
    Ok(plan)
}

/// What `apply` needs of one run.
struct Run<'a> {
    client: &'a ScimClient,
    config: &'a Config,
    ledger: &'a Ledger<'a>,
    /// The config's guards, without any override: what each group is held against.
    policy: Policy,
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
enum Pass {
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

/// The users `g`'s lookups found: they join the resolution cache once it is applied.
fn found(g: &GroupPlan) -> impl Iterator<Item = (&str, &UserId)> {
    g.resolution.iter().filter_map(|(k, r)| match r {
        Resolution::Found(id) => Some((k.as_str(), id)),
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

impl Run<'_> {
    async fn apply_group(&self, g: &GroupPlan) -> Pass {
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
        let configured = self
            .config
            .groups
            .iter()
            .find(|c| &c.name == name)
            .map(|c| Mapping {
                idp_group: c.name.clone(),
                target: c.target.clone(),
                mode: c.mode,
            });
        if let Err(why) = check::against_config(g, configured.as_ref(), &self.policy) {
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
        let pre = Precondition {
            etag: g.precondition.etag.clone(),
            members_sha256: Some(g.precondition.members_sha256.clone()),
        };
        match self
            .client
            .patch_members(&g.group_id, &pre, &g.changes)
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
                        detail.push_str(&format!(" (and the state could not be saved: {save})"));
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
        assemble(GroupInput {
            live: &live,
            mapping: g.mapping.clone(),
            base: g.base.clone(),
            source: g.source.clone(),
            desired: &desired,
            intent: g.intent.clone(),
            resolution,
            policy: &policy(self.config, allow),
        })
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
        assemble(GroupInput {
            live: &live,
            mapping: g.mapping.clone(),
            base,
            source: SourceRef {
                kind: g.source.kind,
                read: ReadKind::State,
                cursor_from: cursor.clone(),
                cursor_to: cursor,
            },
            desired: &mirror,
            intent: Intent::new(&mirror, Some(&mirror)),
            resolution,
            policy: &policy(self.config, allow),
        })
    }
}

/// Run `scimsync apply`.
pub async fn run(args: &ApplyArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let events = Events::new(args.json);
    events.version("apply");
    events.finish(apply(args, env, events).await)
}

async fn apply(args: &ApplyArgs, env: Env<'_>, events: Events) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config.path)?;
    let plan = load_checked(&args.plan, &config, args.expect_sha256.as_deref())?;
    let replan_path = args
        .replan_out
        .clone()
        .unwrap_or_else(|| default_replan_path(&args.plan));
    if same_file(&replan_path, &args.plan) {
        anyhow::bail!(
            "--replan-out {} is the plan being applied; the re-plan must never overwrite the approved plan: choose another path",
            replan_path.display()
        );
    }
    let lock = config.state.lock().await?;
    // The lock is released on every exit path: done, failed, or interrupted (Ctrl-C).
    let result = async {
        let loaded = config.state.load().await?;
        let ledger = Ledger::new(
            loaded.state,
            loaded.version,
            &config.state,
            &plan.sha256,
            &plan.labels,
        );
        tokio::select! {
            result = apply_locked(args, env, events, &config, &plan, &ledger, &replan_path) => result,
            _ = tokio::signal::ctrl_c() => {
                // Groups applied since the last group commit are written before exit.
                let saved = match ledger.save().await {
                    Ok(()) => "groups finished so far are recorded in the state".to_owned(),
                    Err(e) => format!("the state could not be saved ({e}); the next plan finds the groups applied so far already done"),
                };
                Err(anyhow::anyhow!(
                    "interrupted: {saved}; a group cut off mid-way is re-planned by the next plan"
                ))
            }
        }
    }
    .await;
    lock.release().await;
    result
}

async fn apply_locked(
    args: &ApplyArgs,
    env: Env<'_>,
    events: Events,
    config: &Config,
    plan: &Plan,
    ledger: &Ledger<'_>,
    replan_path: &Path,
) -> anyhow::Result<ExitCode> {
    let client = connect(config, env, &super::http_client()?)?;
    let run = Run {
        client: &client,
        config,
        ledger,
        policy: policy(config, None),
    };

    let bar = super::progress(plan.groups.len(), "apply");
    let passes: Vec<Pass> = stream::iter(&plan.groups)
        .map(|g| {
            let (bar, run) = (&bar, &run);
            async move {
                let pass = run.apply_group(g).await;
                bar.inc(1);
                pass
            }
        })
        .buffered(config.target.concurrency)
        .collect()
        .await;
    bar.finish_and_clear();

    let mut reports = Vec::new();
    let mut replanned: Vec<GroupPlan> = Vec::new();
    let mut approved: Vec<GroupPlan> = Vec::new();
    for pass in passes {
        let (old, why, landed, superseded) = match pass {
            Pass::Done(r) => {
                reports.push(r);
                continue;
            }
            Pass::Stale(g, why, landed) => (g, why, landed, false),
            Pass::Superseded(g, why) => (g, why, MemberChanges::default(), true),
        };
        let new = if superseded {
            run.replan_superseded(&old).await
        } else {
            run.replan_stale(&old).await
        };
        let new = match new {
            Ok(new) => new,
            Err(e) => {
                reports.push(report(
                    &old,
                    Outcome::Failed,
                    Some(&landed),
                    0,
                    Some(format!("{why}; re-planning it failed: {e}")),
                ));
                continue;
            }
        };
        let outcome = if superseded {
            Outcome::Superseded
        } else {
            Outcome::Stale
        };
        if new.changes.is_empty() {
            if superseded {
                let r = if old.changes.is_empty() {
                    report(
                        &old,
                        Outcome::Converged,
                        None,
                        0,
                        Some(format!("{why}; nothing to do")),
                    )
                } else {
                    report(
                        &old,
                        outcome,
                        None,
                        0,
                        Some(format!(
                            "{why}. None of its changes were applied, and the state's mirror calls for none: run `scimsync plan` for the IdP's changes since"
                        )),
                    )
                };
                reports.push(r);
                continue;
            }
            ledger.note(advance(&old, new.precondition.etag.as_ref()), found(&old));
            let r = match ledger.commit().await {
                Ok(()) => report(
                    &old,
                    Outcome::Converged,
                    Some(&landed),
                    0,
                    Some("moved since the plan, but already holds the intended membership".into()),
                ),
                Err(e) => report(&old, Outcome::Failed, Some(&landed), 0, Some(e.to_string())),
            };
            reports.push(r);
            continue;
        }
        let subset = new.changes.add.is_subset(&old.changes.add)
            && new.changes.remove.is_subset(&old.changes.remove);
        if args.apply_replan_if_subset && subset && !superseded {
            match run.apply_group(&new).await {
                Pass::Done(mut r) if r.outcome == Outcome::Applied => {
                    r.outcome = Outcome::AppliedReplan;
                    r.added += landed.add.len();
                    r.removed += landed.remove.len();
                    r.detail = Some(
                        "moved since the plan; what was left of the approved changes was applied"
                            .into(),
                    );
                    reports.push(r);
                    continue;
                }
                Pass::Done(r) => {
                    reports.push(r);
                    continue;
                }
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
        reports.push(report(&old, outcome, Some(&landed), 0, Some(detail)));
        approved.push(*old);
        replanned.push(new);
    }

    // Everything noted and not yet written by a group commit, before any exit.
    ledger.save().await?;
    let lost = ledger.lost();
    for r in reports.iter_mut().filter(|r| lost.contains(&r.idp_group)) {
        r.outcome = Outcome::Stale;
        r.detail = Some(
            "another run wrote this group's state while this apply ran (a lost compare-and-swap race): what landed in Genesys stays, but this run's record of it was not saved; run `scimsync plan` again for this group".into(),
        );
    }

    let mut replan_ref = None;
    let mut diff_text = String::new();
    if !replanned.is_empty() {
        let mut labels = plan.labels.clone();
        // A re-plan is rare and small: a copy of the state for its labels is fine.
        let users = ledger.read(State::clone);
        for (k, u) in &users.users {
            labels.entry(u.id.clone()).or_insert_with(|| {
                if u.label.is_empty() {
                    k.clone()
                } else {
                    u.label.clone()
                }
            });
        }
        let key = config.source.user_key();
        let n = config.target.concurrency;
        label_unnamed(&client, &users, key, &replanned, &mut labels, n).await;
        let replan = seal_plan(config, replanned, &labels);
        file::write(replan_path, &replan)?;
        let old = Plan {
            groups: approved,
            ..plan.clone()
        };
        diff_text = diff(
            &changes_text(&old),
            &changes_text(&replan),
            &format!("{} (approved)", args.plan.display()),
            &format!("{} (re-plan)", replan_path.display()),
        );
        let same = old
            .groups
            .iter()
            .zip(&replan.groups)
            .all(|(a, b)| a.changes == b.changes);
        if same {
            diff_text.insert_str(
                0,
                "The re-plan makes exactly the approved changes: only the groups' versions moved (--apply-replan-if-subset applies such a re-plan at once).\n",
            );
        }
        replan_ref = Some(ReplanRef {
            path: replan_path.display().to_string(),
            sha256: replan.sha256.clone(),
        });
    }

    // Report in plan order.
    let order = |r: &GroupReport| {
        plan.groups
            .iter()
            .position(|g| g.mapping.idp_group == r.idp_group)
    };
    reports.sort_by_key(order);
    let mut summary = ApplySummary::default();
    for r in &reports {
        match r.outcome {
            Outcome::Applied | Outcome::AppliedReplan => summary.applied += 1,
            Outcome::Converged => summary.converged += 1,
            Outcome::Stale | Outcome::Superseded => summary.stale += 1,
            Outcome::Failed => summary.failed += 1,
        }
    }
    let code = if summary.failed > 0 {
        ExitCode::Error
    } else if summary.stale > 0 {
        ExitCode::Stale
    } else {
        ExitCode::Success
    };
    let report = ApplyReport {
        plan_sha256: plan.sha256.clone(),
        groups: reports,
        summary,
        replan: replan_ref,
        exit_code: code.code(),
    };
    if events.enabled() {
        emit_report(events, &report);
        return Ok(code);
    }
    match args.format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Text => print!("{}", text_report(&report, &diff_text)),
    }
    Ok(code)
}

/// Whether two paths name one file (the same path, or the same file once resolved).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// One `apply_progress` per group, then the `change_summary`.
fn emit_report(events: Events, report: &ApplyReport) {
    for r in &report.groups {
        let level = match r.outcome {
            Outcome::Failed => Level::Error,
            Outcome::Stale | Outcome::Superseded => Level::Warn,
            _ => Level::Info,
        };
        events.emit(
            level,
            &format!("{}: {}", r.idp_group, r.outcome.word()),
            &Event::ApplyProgress(r),
        );
    }
    let s = &report.summary;
    events.emit(
        Level::Info,
        &format!(
            "Apply: {} applied, {} converged, {} stale, {} failed.",
            s.applied, s.converged, s.stale, s.failed
        ),
        &Event::ApplySummary {
            operation: "apply",
            applied: s.applied,
            converged: s.converged,
            stale: s.stale,
            failed: s.failed,
            replan: report.replan.as_ref(),
            exit_code: report.exit_code,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Base, GroupId, GroupSnapshot, GroupTarget, Intent, Lineage, MemberSet, Mode, SourceKind,
    };
    use crate::plan::planner::plan_group;
    use crate::plan::{TargetRef, file};
    use crate::state::{CachedUser, GroupRecord};

    fn keys(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// A plan keeps only a difference and the resolutions that carry information; through the
    /// file and apply's rebuild, the state's mirror and that difference give back exactly the
    /// desired set and resolutions the planner saw, and re-planning gives the same plan.
    #[test]
    fn a_plan_round_trips_through_the_rebuild() {
        let at: jiff::Timestamp = "2026-11-29T03:00:00Z".parse().unwrap();
        let cached = |id: &str| CachedUser {
            id: UserId::from(id),
            label: id.to_uppercase(),
            confirmed_at: at,
        };
        // The mirror: a, b, c, x (x pending); the IdP now: b, c, x, n (new), f (found now).
        let mirror = keys(&["a@x", "b@x", "c@x", "x@x"]);
        let desired = keys(&["b@x", "c@x", "f@x", "n@x", "x@x"]);
        let mut state = State {
            lineage: Some(Lineage::from("0a1b")),
            ..State::default()
        };
        for (k, id) in [("a@x", "ua"), ("b@x", "ub"), ("c@x", "uc"), ("n@x", "un")] {
            state.users.insert(k.to_owned(), cached(id));
        }
        state.groups.insert(
            "sales".into(),
            GroupRecord {
                serial: 4,
                idp_members: Some(mirror.clone()),
                ..GroupRecord::default()
            },
        );
        let user = |id: &str| Resolution::User(UserId::from(id));
        let resolution: BTreeMap<String, Resolution> = [
            ("a@x", user("ua")),
            ("b@x", user("ub")),
            ("c@x", user("uc")),
            ("n@x", user("un")),
            ("f@x", Resolution::Found(UserId::from("uf"))),
            ("x@x", Resolution::Unknown),
        ]
        .into_iter()
        .map(|(k, r)| (k.to_owned(), r))
        .collect();
        let live = GroupSnapshot {
            id: GroupId::from("g1"),
            display_name: "Sales".into(),
            members: ["ua", "ub", "uc"].into_iter().map(UserId::from).collect(),
            ..GroupSnapshot::default()
        };
        let policy = Policy {
            protected: BTreeSet::new(),
            max_removals: 25,
            max_ratio: 1.0,
            allow_removals: None,
            allow_empty_source: false,
        };
        let input = |desired, intent, resolution| GroupInput {
            live: &live,
            mapping: Mapping {
                idp_group: "sales".into(),
                target: GroupTarget::Id(GroupId::from("g1")),
                mode: Mode::Delta,
            },
            base: Base {
                lineage: state.lineage.clone(),
                serial: 4,
            },
            source: SourceRef {
                kind: SourceKind::DeltaHttp,
                read: ReadKind::Delta,
                cursor_from: None,
                cursor_to: None,
            },
            desired,
            intent,
            resolution,
            policy: &policy,
        };
        let intent = Intent::new(&desired, Some(&mirror));
        let planned = plan_group(input(&desired, intent.clone(), resolution.clone())).unwrap();
        let ids = |v: &[&str]| -> MemberSet { v.iter().map(|s| UserId::from(*s)).collect() };
        assert_eq!(planned.changes.add, ids(&["uf", "un"]));
        assert_eq!(planned.changes.remove, ids(&["ua"]));
        // b and c are known and unchanged: not stored.
        assert_eq!(
            planned
                .resolution
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["a@x", "f@x", "n@x", "x@x"]
        );
        let plan = Plan::new(
            TargetRef {
                kind: TargetKind::Genesys,
                api_base: "https://api.mypurecloud.com".into(),
            },
            "00".into(),
            at,
            vec![planned],
            &BTreeMap::new(),
        );
        let back = file::parse(&file::to_bytes(&plan), "p.json").unwrap();
        file::verify(&back, "p.json").unwrap();
        let g = &back.groups[0];
        let (rebuilt, rebuilt_resolution) = rebuild(g, &state, UserKey::UserName);
        assert_eq!(rebuilt, desired);
        assert_eq!(rebuilt_resolution, resolution);
        let replanned = plan_group(input(&rebuilt, g.intent.clone(), rebuilt_resolution)).unwrap();
        assert_eq!(&replanned, g);

        // Applied, the mirror becomes the desired set.
        let mut advanced = mirror.clone();
        g.intent.advance(&mut advanced);
        assert_eq!(advanced, desired);

        // With ids for keys, a key neither stored nor cached is its own resolution.
        assert_eq!(
            Resolution::derived("u7", None, UserKey::Id),
            Resolution::User(UserId::from("u7"))
        );
        assert_eq!(
            Resolution::derived("u7", None, UserKey::UserName),
            Resolution::Unknown
        );
    }
}
