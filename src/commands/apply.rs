//! `scimsync apply PLAN`: replay exactly the approved plan, each PATCH under the ETag read at
//! plan time; refuse, re-plan and show the difference for groups that moved.
//!
//! Before any write: the plan's sha256 is recomputed, its format version checked, its target
//! compared with the configured one, and `--expect-sha256` (the digest a human approved)
//! matched. Then, per group with changes (concurrently, bounded by `target.concurrency`):
//!
//! - applied → the group's IdP cursor moves to the plan's `cursor_to` (state file, atomic);
//! - stale → not retried; once the others are done it is re-planned from the same intent
//!   against a fresh read, into `--replan-out`, and the difference is printed (exit 3);
//! - failed → the others go on; its cursor stays (exit 1).
//!
//! Applying a plan twice is harmless: the state file remembers which plan each group last
//! applied, and a group that already holds its changes re-plans to nothing ("converged").

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::{StreamExt, stream};
use serde::Serialize;

use super::plan::{GroupFailure, assemble, policy, seal_plan};
use super::{Env, connect};
use crate::cli::{ApplyArgs, ReportFormat};
use crate::config::Config;
use crate::events::Events;
use crate::exit_code::ExitCode;
use crate::model::MemberChanges;
use crate::plan::render::{changes_text, diff};
use crate::plan::{GroupPlan, Plan, SkipReason, file};
use crate::state::State;
use crate::target::{Precondition, ScimClient};

/// What happened to one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Its approved changes were applied.
    Applied,
    /// It needed nothing (no changes, already applied, or a re-plan with no changes).
    Converged,
    /// It moved since the plan; its re-plan awaits approval.
    Stale,
    /// It moved since the plan; its re-plan was a subset of the approved changes and was
    /// applied (`--apply-replan-if-subset`).
    AppliedReplan,
    /// It failed for another reason; its cursor stays.
    Failed,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Converged => "converged",
            Self::Stale => "stale",
            Self::AppliedReplan => "applied (re-plan subset)",
            Self::Failed => "failed",
        }
    }
}

/// One group's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    /// The config's group name.
    pub idp_group: String,
    /// The Genesys group id.
    pub group_id: String,
    /// Its display name.
    pub display_name: String,
    /// What happened.
    pub outcome: Outcome,
    /// Users added by this run.
    pub added: usize,
    /// Users removed by this run.
    pub removed: usize,
    /// PATCH requests that succeeded.
    pub patches: usize,
    /// Why it failed or went stale, or what converged means here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Counts by outcome.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ApplySummary {
    /// Groups applied (including re-plan subsets).
    pub applied: usize,
    /// Groups that needed nothing.
    pub converged: usize,
    /// Groups refused as stale, awaiting approval of their re-plan.
    pub stale: usize,
    /// Groups that failed.
    pub failed: usize,
}

/// The whole run, for `--format json`.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// The applied plan's sha256.
    pub plan_sha256: String,
    /// Per group.
    pub groups: Vec<GroupReport>,
    /// Totals.
    pub summary: ApplySummary,
    /// The re-plan written, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replan: Option<ReplanRef>,
    /// The exit code.
    pub exit_code: u8,
}

/// Where the re-plan went.
#[derive(Debug, Clone, Serialize)]
pub struct ReplanRef {
    /// Its path.
    pub path: String,
    /// Its sha256 (to approve with `--expect-sha256`).
    pub sha256: String,
}

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
        plan_kind: String,
        /// The plan's target base.
        plan_base: String,
        /// The config file.
        config: String,
        /// The config's target kind.
        config_kind: String,
        /// The config's target base.
        config_base: String,
    },
    /// A group in the plan is not in the config.
    #[error(
        "plan {path} holds group {group:?}, which the config {config} does not map; nothing was applied"
    )]
    UnknownGroup {
        /// The plan file.
        path: String,
        /// The group.
        group: String,
        /// The config file.
        config: String,
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
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plan".into());
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
    let kind = config.target.kind.as_str();
    let base = config.target.api_base.as_str();
    if plan.target.kind != kind || plan.target.api_base.trim_end_matches('/') != base {
        return Err(Refusal::OtherTarget {
            path: shown,
            plan_kind: plan.target.kind.clone(),
            plan_base: plan.target.api_base.clone(),
            config: config.path.display().to_string(),
            config_kind: kind.to_owned(),
            config_base: base.to_owned(),
        }
        .into());
    }
    for g in &plan.groups {
        if !config.groups.iter().any(|c| c.name == g.source.idp_group) {
            return Err(Refusal::UnknownGroup {
                path: shown,
                group: g.source.idp_group.clone(),
                config: config.path.display().to_string(),
            }
            .into());
        }
    }
    Ok(plan)
}

/// The state file, shared by concurrent group tasks: saved at once after each group whose
/// changes were applied, and once at the end for groups that needed nothing (a thousand
/// unchanged groups are one write, not a thousand; if the run dies first, their next plan
/// simply finds nothing to do again).
struct Ledger<'a> {
    state: Mutex<State>,
    /// The version the state was read at (moved by each write), held across a write so that
    /// writes go one at a time, each conditional on the one before.
    version: tokio::sync::Mutex<Option<crate::state::Version>>,
    store: &'a crate::state::Store,
    plan_sha256: &'a str,
}

impl Ledger<'_> {
    /// Record that `group`'s work is done (its cursor moves to `cursor_to`) and save.
    async fn done(
        &self,
        group: &GroupPlan,
        etag: Option<String>,
    ) -> Result<(), crate::state::StateError> {
        self.note(group, etag);
        self.save().await
    }

    /// Write the state, conditional on the version read (a lost race is a conflict, never
    /// retried: nothing of another run's is overwritten).
    async fn save(&self) -> Result<(), crate::state::StateError> {
        let mut version = self.version.lock().await;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        *version = self.store.save(&mut state, version.as_ref()).await?;
        Ok(())
    }

    /// Record that `group`'s work is done, in memory only (see [`Ledger`]).
    fn note(&self, group: &GroupPlan, etag: Option<String>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let record = state
            .groups
            .entry(group.source.idp_group.clone())
            .or_default();
        if group.source.cursor_to.is_some() {
            record.cursor = group.source.cursor_to.clone();
        }
        record.etag = etag.map(Into::into).or_else(|| record.etag.clone());
        record.applied_at = Some(jiff::Timestamp::now());
        record.plan_sha256 = Some(self.plan_sha256.to_owned());
    }

    fn already_applied(&self, group: &GroupPlan) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .groups
            .get(&group.source.idp_group)
            .and_then(|r| r.plan_sha256.as_deref())
            == Some(self.plan_sha256)
    }
}

fn report(
    g: &GroupPlan,
    outcome: Outcome,
    changes: Option<&MemberChanges>,
    patches: usize,
    detail: Option<String>,
) -> GroupReport {
    GroupReport {
        idp_group: g.source.idp_group.clone(),
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
    Stale(Box<GroupPlan>, String),
}

async fn apply_group(client: &ScimClient, ledger: &Ledger<'_>, g: &GroupPlan) -> Pass {
    if ledger.already_applied(g) {
        return Pass::Done(report(
            g,
            Outcome::Converged,
            None,
            0,
            Some("already applied by this plan".into()),
        ));
    }
    if g.changes.is_empty() {
        ledger.note(g, g.precondition.etag.as_ref().map(|e| e.0.clone()));
        return Pass::Done(report(g, Outcome::Converged, None, 0, None));
    }
    let pre = Precondition {
        etag: g.precondition.etag.clone(),
        members_sha256: Some(g.precondition.members_sha256.clone()),
    };
    match client.patch_members(&g.group_id, &pre, &g.changes).await {
        Ok(out) => match ledger.done(g, out.etag.map(|e| e.0)).await {
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
                    "changes applied, but the cursor could not be saved ({e}); the next plan will find them already applied"
                )),
            )),
        },
        Err(e) if e.is_stale() => Pass::Stale(Box::new(g.clone()), e.to_string()),
        Err(e) => Pass::Done(report(
            g,
            Outcome::Failed,
            Some(&e.applied),
            0,
            Some(e.to_string()),
        )),
    }
}

/// Re-plan a stale group: a fresh read, the same intent, the same policy.
async fn replan_group(
    client: &ScimClient,
    config: &Config,
    g: &GroupPlan,
) -> Result<GroupPlan, GroupFailure> {
    let current = client.get_group(&g.group_id).await?;
    let unknown: BTreeSet<String> = g
        .skipped
        .iter()
        .filter(|s| s.reason == SkipReason::UnknownUser)
        .map(|s| s.user.clone())
        .collect();
    let allow = g.guard.overridden.then_some(g.guard.limit);
    assemble(
        &current,
        g.intent.clone(),
        &unknown,
        g.source.clone(),
        &policy(config, allow),
    )
}

/// Run `scimsync apply`.
pub async fn run(args: &ApplyArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let events = Events::new(args.json);
    events.version("apply");
    events.finish(apply(args, env, events).await)
}

async fn apply(args: &ApplyArgs, env: Env<'_>, events: Events) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let plan = load_checked(&args.plan, &config, args.expect_sha256.as_deref())?;
    let lock = config.state.lock().await?;
    // The lock is released on every exit path: done, failed, or interrupted (Ctrl-C).
    let result = tokio::select! {
        result = apply_locked(args, env, events, config, plan) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!(
            "interrupted: groups finished so far are recorded in the state; a group cut off mid-way is re-planned by the next plan"
        )),
    };
    lock.release().await;
    result
}

async fn apply_locked(
    args: &ApplyArgs,
    env: Env<'_>,
    events: Events,
    config: Config,
    plan: Plan,
) -> anyhow::Result<ExitCode> {
    let loaded = config.state.load().await?;
    let ledger = Ledger {
        state: Mutex::new(loaded.state),
        version: tokio::sync::Mutex::new(loaded.version),
        store: &config.state,
        plan_sha256: &plan.sha256,
    };
    let client = connect(&config, env)?;

    let bar = super::progress(plan.groups.len(), "apply");
    let passes: Vec<Pass> = stream::iter(&plan.groups)
        .map(|g| {
            let bar = &bar;
            let (client, ledger) = (&client, &ledger);
            async move {
                let pass = apply_group(client, ledger, g).await;
                bar.inc(1);
                pass
            }
        })
        .buffered(config.target.concurrency)
        .collect()
        .await;
    bar.finish_and_clear();

    let mut reports = Vec::new();
    let mut stale = Vec::new();
    for pass in passes {
        match pass {
            Pass::Done(r) => reports.push(r),
            Pass::Stale(g, why) => stale.push((*g, why)),
        }
    }

    let mut replanned: Vec<(GroupPlan, GroupPlan)> = Vec::new();
    for (old, why) in stale {
        let new = match replan_group(&client, &config, &old).await {
            Ok(new) => new,
            Err(e) => {
                reports.push(report(
                    &old,
                    Outcome::Failed,
                    None,
                    0,
                    Some(format!("{why}; re-planning it failed: {e}")),
                ));
                continue;
            }
        };
        if new.changes.is_empty() {
            let r = match ledger
                .done(&old, new.precondition.etag.as_ref().map(|e| e.0.clone()))
                .await
            {
                Ok(()) => report(
                    &old,
                    Outcome::Converged,
                    None,
                    0,
                    Some("moved since the plan, but already holds the intended membership".into()),
                ),
                Err(e) => report(&old, Outcome::Failed, None, 0, Some(e.to_string())),
            };
            reports.push(r);
            continue;
        }
        let subset = new.changes.add.is_subset(&old.changes.add)
            && new.changes.remove.is_subset(&old.changes.remove);
        if args.apply_replan_if_subset && subset {
            match apply_group(&client, &ledger, &new).await {
                Pass::Done(mut r) if r.outcome == Outcome::Applied => {
                    r.outcome = Outcome::AppliedReplan;
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
                Pass::Stale(..) => {}
            }
        }
        reports.push(report(&old, Outcome::Stale, None, 0, Some(why)));
        replanned.push((old, new));
    }

    // The cursors of groups that needed nothing.
    ledger.save().await?;

    let mut replan_ref = None;
    let mut diff_text = String::new();
    if !replanned.is_empty() {
        let path = args
            .replan_out
            .clone()
            .unwrap_or_else(|| default_replan_path(&args.plan));
        let (old, new): (Vec<GroupPlan>, Vec<GroupPlan>) = replanned.into_iter().unzip();
        let replan = seal_plan(&config, new.clone());
        file::write(&path, &replan)?;
        diff_text = diff(
            &changes_text(&old),
            &changes_text(&new),
            &format!("{} (approved)", args.plan.display()),
            &format!("{} (re-plan)", path.display()),
        );
        replan_ref = Some(ReplanRef {
            path: path.display().to_string(),
            sha256: replan.sha256.clone(),
        });
    }

    // Report in plan order.
    let order = |r: &GroupReport| {
        plan.groups
            .iter()
            .position(|g| g.source.idp_group == r.idp_group)
    };
    reports.sort_by_key(order);
    let mut summary = ApplySummary::default();
    for r in &reports {
        match r.outcome {
            Outcome::Applied | Outcome::AppliedReplan => summary.applied += 1,
            Outcome::Converged => summary.converged += 1,
            Outcome::Stale => summary.stale += 1,
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
        for r in &report.groups {
            let level = match r.outcome {
                Outcome::Failed => "error",
                Outcome::Stale => "warn",
                _ => "info",
            };
            events.emit(
                level,
                "apply_progress",
                &format!("{}: {}", r.idp_group, r.outcome.word()),
                serde_json::to_value(r)?,
            );
        }
        let s = &report.summary;
        events.emit(
            "info",
            "change_summary",
            &format!("Apply: {} applied, {} converged, {} stale, {} failed.", s.applied, s.converged, s.stale, s.failed),
            serde_json::json!({
                "operation": "apply", "applied": s.applied, "converged": s.converged, "stale": s.stale,
                "failed": s.failed, "replan": report.replan, "exit_code": report.exit_code,
            }),
        );
        return Ok(code);
    }
    match args.format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Text => print!("{}", text_report(&report, &diff_text)),
    }
    Ok(code)
}

/// The human-readable report: a line per group, the diff of any re-plan, a summary.
pub fn text_report(report: &ApplyReport, diff_text: &str) -> String {
    let mut out = String::new();
    for r in &report.groups {
        let counts = if r.added + r.removed > 0 {
            format!(
                " +{} −{} ({} PATCH{})",
                r.added,
                r.removed,
                r.patches,
                if r.patches == 1 { "" } else { "es" }
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{:<10} {} → {} ({}){counts}\n",
            r.outcome.word(),
            r.idp_group,
            r.display_name,
            r.group_id
        ));
        if let Some(d) = &r.detail {
            out.push_str(&format!("           {d}\n"));
        }
    }
    if let Some(replan) = &report.replan {
        out.push_str(&format!(
            "\nThe groups marked stale changed since the plan was approved: nothing was applied to them.\nTheir re-plan (same IdP intent, fresh Genesys state) is in {}. What changed:\n\n{diff_text}\nApprove it, then apply it with:\n  scimsync apply {} --expect-sha256 {}\n",
            replan.path, replan.path, replan.sha256
        ));
    }
    let s = &report.summary;
    out.push_str(&format!(
        "\nApply: {} applied, {} converged, {} stale, {} failed.\n",
        s.applied, s.converged, s.stale, s.failed
    ));
    out
}
