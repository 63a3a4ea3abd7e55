//! `scimsync plan`: read IdP intent and live group state, reconcile, write a plan.
//!
//! Groups are planned concurrently (bounded by `target.concurrency`), each with one group GET,
//! one IdP read, a lookup only for users the state's resolution cache does not hold and
//! no group read shows (see [`PlanRun::plan_all`] for the pipeline), and, for a group with
//! changes, one read of the roles it grants (`[review] grants`). A plan is all or nothing: if
//! any group fails (IdP error, unknown group, …) or trips a safety guard, no plan is written.

mod pipeline;
mod resolve;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Env, GroupFailure, connect, label_unnamed, open_source, seal_plan};
use crate::cli::PlanArgs;
use crate::config::Config;
use crate::events::{Action, Event, Events, Level, UserReason};
use crate::exit_code::ExitCode;
use crate::plan::render::{RenderOptions, render};
use crate::plan::{Plan, file};
use crate::scim::directory::Directory;

/// One `planned_change` per member change, a `diagnostic` per pending or skipped user, then
/// the `change_summary`.
fn emit_plan(events: Events, plan: &Plan) {
    for g in &plan.groups {
        let changes = g
            .changes
            .remove
            .iter()
            .map(|u| (Action::Remove, u))
            .chain(g.changes.add.iter().map(|u| (Action::Add, u)));
        let name = g.mapping.idp_group.as_str();
        for (action, user) in changes {
            let verb = match action {
                Action::Add => "add",
                Action::Remove => "remove",
            };
            events.emit(
                Level::Info,
                &format!("{name}: {verb} {} ({user})", plan.label(user)),
                &Event::PlannedChange {
                    group: name,
                    group_id: &g.group_id,
                    display_name: &g.display_name,
                    action,
                    user,
                    label: plan.label(user),
                    reason: g.reasons.get(user).copied(),
                    etag: g.precondition.etag.as_ref(),
                    grants: crate::plan::grants::change_text(
                        g.grants.as_ref(),
                        matches!(action, Action::Add),
                    ),
                    privileged: g.privileged,
                },
            );
        }
        for p in &g.pending {
            events.emit(
                Level::Warn,
                &format!("{name}: {} pending ({})", p.key, p.reason.as_str()),
                &Event::Diagnostic {
                    group: Some(name),
                    user: Some(p.key.as_str()),
                    reason: Some(UserReason::Pending(p.reason)),
                    pending: true,
                },
            );
        }
        for s in &g.skipped {
            events.emit(
                Level::Warn,
                &format!("{name}: {} skipped ({})", s.user, s.reason.as_str()),
                &Event::Diagnostic {
                    group: Some(name),
                    user: Some(&s.user),
                    reason: Some(UserReason::Skipped(s.reason)),
                    pending: false,
                },
            );
        }
    }
    let summary = &plan.summary;
    events.emit(
        Level::Info,
        &crate::plan::render::summary_line(plan),
        &Event::PlanSummary {
            operation: "plan",
            add: summary.add,
            remove: summary.remove,
            pending: summary.pending,
            groups: summary.groups,
            groups_changed: summary.groups_changed,
            privileged: summary.privileged,
            sha256: &plan.sha256,
        },
    );
}

/// Run `scimsync plan`.
pub async fn run(args: &PlanArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let events = Events::new(args.json);
    events.version("plan");
    events.finish(plan(args, env, events).await)
}

async fn plan(args: &PlanArgs, env: Env<'_>, events: Events) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config.path)?;
    if let Some(out) = &args.out {
        super::refuse_clobber("--out", out, &config, None)?;
    }
    let groups = config.select(&args.group)?;
    // plan reads without locking: it writes nothing to the state.
    let mut state = config.state.load().await?.state;
    let mirrors = Mirrors::take_from(&mut state);
    let http = super::http_client()?;
    let client = connect(&config, env, &http)?;
    let source = open_source(&config, env, &http)?;
    let run = PlanRun {
        config: &config,
        client: &client,
        source: &source,
        state: &state,
        mirrors,
        policy: config.safety.policy(args.allow_removals),
        strict: args.strict,
        directory: Directory::new(config.source.user_key()),
    };
    let results = run.plan_all(&groups).await;
    let mut planned = Vec::new();
    let mut labels = BTreeMap::new();
    let (mut failed, mut guarded) = (0, 0);
    let mut messages = String::new();
    for (name, result) in results {
        match result {
            Ok(PlannedGroup { plan, labels: l }) => {
                planned.push(plan);
                labels.extend(l);
            }
            Err(GroupFailure::Guard(stopped)) => {
                guarded += 1;
                events.diagnostic(Level::Error, Some(&name), &stopped.to_string());
                let _ = writeln!(messages, "{stopped}");
            }
            Err(e) => {
                failed += 1;
                events.diagnostic(Level::Error, Some(&name), &e.to_string());
                let _ = writeln!(messages, "error: group {name}: {e}");
            }
        }
    }
    if failed > 0 || guarded > 0 {
        eprint!("{messages}");
        if failed > 0 {
            anyhow::bail!(
                "{failed} of {} group(s) could not be planned; no plan was written",
                groups.len()
            );
        }
        eprintln!("{guarded} group(s) stopped by a safety guard; no plan was written");
        return Ok(ExitCode::Guard);
    }
    label_unnamed(
        &client,
        &state,
        config.source.user_key(),
        &planned,
        &mut labels,
        config.target.concurrency,
    )
    .await;
    let plan = seal_plan(&config, planned, &labels);
    if events.enabled() {
        emit_plan(events, &plan);
    } else {
        let opts = RenderOptions {
            plan_file: args.out.as_ref().map(|p| p.display().to_string()),
            ..RenderOptions::default()
        };
        print!("{}", render(&plan, args.format.into(), &opts));
    }
    if let Some(out) = &args.out {
        file::write(out, &plan)?;
        tracing::info!("Plan written to {} (sha256 {})", out.display(), plan.sha256);
    }
    // Pending users alone are not changes: nothing would be sent.
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitCode::Changes
    } else {
        ExitCode::Success
    })
}

pub use self::pipeline::{Mirrors, PlanRun, PlannedGroup};
