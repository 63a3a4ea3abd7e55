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

mod grants;
mod group;
mod journal;
mod replan;

use crate::model::Sha256Hex;
use std::path::{Path, PathBuf};

use futures::{StreamExt, stream};

use super::{Env, connect};
use crate::cli::{ApplyArgs, ReportFormat};
use crate::config::Config;
use crate::events::{Event, Events, Level};
use crate::exit_code::ExitCode;
use crate::journal::Actor;
use crate::model::TargetKind;
use crate::plan::report::{ApplyReport, ApplySummary, GroupReport, Outcome, text_report};
use crate::plan::{Plan, check, file};
use crate::state::ledger::Ledger;

use self::journal::RunJournal;

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
        actual: Sha256Hex,
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

/// Read and check a plan before any write: its digest, `--expect-sha256`, its target, the
/// source settings it was read with, and its age (`max_age`: `--max-plan-age`).
pub fn load_checked(
    path: &Path,
    config: &Config,
    expect: Option<&str>,
    max_age: Option<jiff::SignedDuration>,
) -> anyhow::Result<Plan> {
    let shown = path.display().to_string();
    let plan = file::read(path)?;
    file::verify(&plan, &shown)?;
    if let Some(expected) = expect
        && !expected.trim().eq_ignore_ascii_case(plan.sha256.as_str())
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
    let settings = super::source_settings(config);
    if let Err(why) = check::against_source(
        plan.source.as_ref(),
        &settings,
        &plan.config_sha256,
        &config.sha256,
    ) {
        anyhow::bail!(
            "plan {shown} may not be applied with config {}: {why}; nothing was applied: re-plan with this config",
            config.path.display()
        );
    }
    match check::age(plan.created_at, jiff::Timestamp::now(), max_age) {
        check::Age::Fresh => {}
        check::Age::Old(age) => tracing::warn!(
            "plan {shown} was made {} ago (at {}): an old approval may no longer describe the org; --max-plan-age refuses such plans",
            friendly(age),
            plan.created_at
        ),
        check::Age::TooOld(age) => anyhow::bail!(
            "plan {shown} was made {} ago (at {}), more than --max-plan-age allows; nothing was applied: plan again and have the new plan approved",
            friendly(age),
            plan.created_at
        ),
    }
    Ok(plan)
}

/// `3d 4h`: an age in days and hours (minutes under an hour).
fn friendly(age: jiff::SignedDuration) -> String {
    let minutes = age.as_secs() / 60;
    let (days, hours) = (minutes / (24 * 60), (minutes / 60) % 24);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, h) => format!("{h}h"),
        (d, 0) => format!("{d}d"),
        (d, h) => format!("{d}d {h}h"),
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
    let max_age = args
        .max_plan_age
        .map(|span| {
            span.to_duration(jiff::SpanRelativeTo::days_are_24_hours())
                .map_err(|e| anyhow::anyhow!("--max-plan-age {span}: {e}"))
        })
        .transpose()?;
    let plan = load_checked(&args.plan, &config, args.expect_sha256.as_deref(), max_age)?;
    let replan_path = args
        .replan_out
        .clone()
        .unwrap_or_else(|| default_replan_path(&args.plan));
    super::refuse_clobber(
        "--replan-out",
        &replan_path,
        &config,
        Some(("the plan being applied", &args.plan)),
    )?;
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
        let actor = Actor::of_run(
            args.approved_by.as_deref(),
            args.change_ref.as_deref(),
            |name| env(name),
        );
        let ids_are_keys = config.source.user_key() == crate::model::UserKey::Id;
        let journal = RunJournal::new(
            config.state.journal(),
            &ledger,
            &plan,
            actor,
            ids_are_keys,
        );
        tokio::select! {
            result = apply_locked(args, env, events, &config, &plan, &journal, &replan_path) => {
                if result.is_err() {
                    // What landed before the error is journaled now; the run stays open, and
                    // the next apply settles the rest of it.
                    if let Err(e) = journal.flush().await {
                        tracing::error!("{e}; the next apply journals this run's changes from its intent");
                    }
                    if let Err(e) = ledger.save().await {
                        tracing::error!("{e}; the next plan finds the groups applied so far already done");
                    }
                }
                result
            }
            _ = tokio::signal::ctrl_c() => {
                // Changes and groups finished since the last write are recorded before exit
                // (what is cut off is settled by the next apply).
                if let Err(e) = journal.flush().await {
                    tracing::error!("{e}; the next apply journals this run's changes from its intent");
                }
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
    journal: &RunJournal<'_>,
    replan_path: &Path,
) -> anyhow::Result<ExitCode> {
    let ledger = journal.ledger();
    let client = connect(config, env, &super::http_client()?)?;
    let newest = journal.check_tail().await?;
    journal
        .settle_unfinished(newest.as_deref(), &client)
        .await?;
    journal.start(plan).await?;
    let run = group::ApplyRun {
        client: &client,
        config,
        ledger,
        policy: config.safety.policy(None),
        labels: &plan.labels,
        journal,
    };

    let bar = super::progress(plan.groups.len(), "apply");
    // Unordered: a slow group (a large PATCH, a grants re-check, retries) must not hold
    // back the groups behind it; the attempts are put back in plan order after.
    let mut attempts: Vec<(usize, group::Attempt)> = stream::iter(plan.groups.iter().enumerate())
        .map(|(i, g)| {
            let (bar, run) = (&bar, &run);
            async move {
                let attempt = run.apply_group(g).await;
                run.journal.commit().await;
                bar.inc(1);
                (i, attempt)
            }
        })
        .buffer_unordered(config.target.concurrency)
        .collect()
        .await;
    bar.finish_and_clear();
    attempts.sort_by_key(|(i, _)| *i);
    let attempts = attempts.into_iter().map(|(_, a)| a);

    let mut reports = Vec::new();
    let mut stale = Vec::new();
    for attempt in attempts {
        match run.settle(attempt, args.apply_replan_if_subset).await {
            group::GroupResult::Done(r) => reports.push(r),
            group::GroupResult::Replanned(r, old, new) => {
                reports.push(r);
                stale.push((*old, *new));
            }
        }
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

    let (replan_ref, diff_text) = if stale.is_empty() {
        (None, String::new())
    } else {
        let (approved, replanned) = stale.into_iter().unzip();
        let written =
            replan::write(&run, plan, approved, replanned, &args.plan, replan_path).await?;
        (Some(written.0), written.1)
    };

    // Report in plan order.
    let order = |r: &GroupReport| {
        plan.groups
            .iter()
            .position(|g| g.mapping.idp_group == r.idp_group)
    };
    reports.sort_by_key(order);
    let summary = ApplySummary::of(&reports);
    let mut code = ExitCode::of_apply(summary.failed, summary.stale);
    let journaled = journal_outcomes(config, plan, journal, &reports, code).await;
    ledger.save().await?;
    if let Err(e) = journaled {
        tracing::error!(
            "{e}; what landed in Genesys stays, and the next apply journals it from this run's intent"
        );
        code = ExitCode::Error;
    }
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

/// Journal each group's outcome, prune by the retention, and close the run.
async fn journal_outcomes(
    config: &Config,
    plan: &Plan,
    journal: &RunJournal<'_>,
    reports: &[GroupReport],
    code: ExitCode,
) -> Result<(), crate::state::StateError> {
    for r in reports {
        if let Some(g) = plan
            .groups
            .iter()
            .find(|g| g.mapping.idp_group == r.idp_group)
        {
            let state = journal.state_ref(&r.idp_group);
            journal.record(vec![crate::journal::entry::outcome(
                g,
                r,
                &journal.approval,
                &state,
            )]);
        }
    }
    journal.flush().await?;
    if let Some(days) = config.journal_retention_days {
        journal.prune(days).await?;
    }
    journal.finish(code.code()).await
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
