//! `scimsync plan`: read IdP intent and live group state, reconcile, write a plan.
//!
//! Groups are planned concurrently (bounded by `target.concurrency`), each with one group GET
//! and at most one cached lookup per distinct user being added. A plan is all or nothing: if
//! any group fails (IdP error, unknown group, …) or trips a safety guard, no plan is written.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use futures::{StreamExt, stream};

use super::{Env, connect, open_source};
use crate::cli::PlanArgs;
use crate::config::{Config, GroupConfig, GroupTarget};
use crate::events::Events;
use crate::exit_code::ExitCode;
use crate::model::{GroupSnapshot as GroupState, UserKey};
use crate::model::{MemberSet, Mode, UserId, members_sha256};
use crate::plan::planner::{GuardTrip, Policy, reconcile};
use crate::plan::render::{RenderOptions, render};
use crate::plan::{
    FORMAT_VERSION, GroupPlan, Intent, Plan, Precondition, SourceRef, Summary, TargetRef, file,
};
use crate::source::{Answer, Source, SourceError};
use crate::state::State;
use crate::target::directory::Directory;
use crate::target::{ScimClient, ScimError};

/// Why one group could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum GroupFailure {
    /// The IdP read failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A SCIM call failed.
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// `--strict` and some users do not exist.
    #[error(
        "{count} user(s) in the IdP's answer do not exist in Genesys Cloud ({list}); without --strict they are skipped as unknown-user"
    )]
    Strict {
        /// How many.
        count: usize,
        /// The first few.
        list: String,
    },
    /// A safety guard stopped it.
    #[error("{0}")]
    Guard(String),
}

/// The safety policy of `config`, with `--allow-removals`.
pub fn policy(config: &Config, allow_removals: Option<usize>) -> Policy {
    Policy {
        protected: config.safety.protected_members.clone(),
        max_removals: config.safety.max_removals_per_group,
        max_ratio: config.safety.max_removal_ratio,
        allow_removals,
        allow_empty_source: config.safety.allow_empty_source,
    }
}

/// A group's plan from its state, intent and policy: what `plan` and apply's re-plan share.
pub fn assemble(
    current: &GroupState,
    intent: Intent,
    unknown: &BTreeSet<String>,
    source: SourceRef,
    policy: &Policy,
) -> Result<GroupPlan, GroupFailure> {
    let reconciled = reconcile(&current.members, &intent, unknown, policy).map_err(|trip| {
        GroupFailure::Guard(guard_message(&source.idp_group, current, &trip, policy))
    })?;
    Ok(GroupPlan {
        group_id: current.id.clone(),
        display_name: current.display_name.clone(),
        precondition: Precondition {
            etag: current.etag.clone(),
            members_sha256: members_sha256(&current.members),
            member_count: current.members.len(),
        },
        source,
        intent,
        changes: reconciled.changes,
        skipped: reconciled.skipped,
        guard: reconciled.guard,
    })
}

fn guard_message(name: &str, group: &GroupState, trip: &GuardTrip, policy: &Policy) -> String {
    match trip {
        GuardTrip::TooManyRemovals {
            removals,
            limit,
            overridden: true,
            ..
        } => format!(
            "safety guard: group {name} ({}) would lose {removals} members, over --allow-removals {limit}; raise it to {removals} if these removals are intended",
            group.display_name
        ),
        GuardTrip::TooManyRemovals {
            removals,
            limit,
            members,
            ..
        } => format!(
            "safety guard: group {name} ({}) would lose {removals} of its {members} members, over the limit of {limit} (safety.max_removals_per_group = {}, max_removal_ratio = {}); if these removals are intended, re-run with --allow-removals {removals}",
            group.display_name, policy.max_removals, policy.max_ratio
        ),
        GuardTrip::EmptySource { members } => format!(
            "safety guard: the IdP answered an empty membership for group {name} ({}), which has {members} members; an IdP outage must not empty a group. If the group really is to be emptied, set safety.allow_empty_source = true",
            group.display_name
        ),
    }
}

/// Plans groups: one run's shared client, source, directory and policy.
pub struct Planner<'a> {
    /// The config.
    pub config: &'a Config,
    /// The SCIM client.
    pub client: &'a ScimClient,
    /// The IdP.
    pub source: &'a dyn Source,
    /// The cursors.
    pub state: &'a State,
    /// The safety policy.
    pub policy: Policy,
    /// Unknown users are an error.
    pub strict: bool,
    /// User lookups, cached for the run.
    pub directory: Directory,
}

impl Planner<'_> {
    /// Plan `groups`, concurrently; results in the same order.
    ///
    /// Two phases: every group's current state is read first, so that every member of any
    /// group is known to exist before users to add are looked up (people moving between
    /// groups cost no lookup at all); then each group's IdP answer is read and reconciled.
    /// Reading the IdP in the second phase keeps at most `concurrency` answers in memory.
    pub async fn plan_all(
        &self,
        groups: &[&GroupConfig],
    ) -> Vec<(String, Result<GroupPlan, GroupFailure>)> {
        let concurrency = self.config.target.concurrency;
        let bar = super::progress(groups.len() * 2, "plan");
        let bar = &bar;
        let states: Vec<_> = stream::iter(groups.iter().copied())
            .map(|g| async move {
                let state = self.read_state(g).await;
                bar.inc(1);
                (g, state)
            })
            .buffered(concurrency)
            .collect()
            .await;
        for (_, state) in &states {
            if let Ok(current) = state {
                self.directory.known(&current.members);
            }
        }
        let results = stream::iter(states)
            .map(|(g, state)| async move {
                let result = match state {
                    Ok(current) => self.finish_group(g, current).await,
                    Err(e) => Err(e),
                };
                bar.inc(1);
                (g.name.clone(), result)
            })
            .buffered(concurrency)
            .collect()
            .await;
        bar.finish_and_clear();
        results
    }

    /// The group's current state (one GET; a displayName lookup first for target_name).
    async fn read_state(&self, group: &GroupConfig) -> Result<GroupState, GroupFailure> {
        let id = match &group.target {
            GroupTarget::Id(id) => id.clone(),
            GroupTarget::Name(name) => self.client.find_group_by_name(name).await?.id,
        };
        Ok(self.client.get_group(&id).await?)
    }

    fn since(&self, group: &GroupConfig) -> Option<&crate::model::Cursor> {
        match group.mode {
            Mode::Delta => self.state.cursor(&group.name),
            Mode::Full => None,
        }
    }

    /// Read the IdP, resolve users and reconcile.
    async fn finish_group(
        &self,
        group: &GroupConfig,
        current: GroupState,
    ) -> Result<GroupPlan, GroupFailure> {
        let read = self
            .source
            .read(&group.name, self.since(group), group.mode)
            .await?;
        let (intent, unknown) = self.resolve(read.answer, &current.members).await?;
        if self.strict && !unknown.is_empty() {
            let list: Vec<&str> = unknown.iter().take(10).map(String::as_str).collect();
            return Err(GroupFailure::Strict {
                count: unknown.len(),
                list: list.join(", "),
            });
        }
        let source = SourceRef {
            kind: self.source.kind().to_owned(),
            idp_group: group.name.clone(),
            cursor_from: self.since(group).cloned(),
            cursor_to: read.cursor_to,
        };
        assemble(&current, intent, &unknown, source, &self.policy)
    }

    /// The intent in Genesys ids, and the users that do not exist (ids or IdP keys). The
    /// answer is consumed: its strings move into the intent rather than being copied.
    async fn resolve(
        &self,
        answer: Answer,
        current: &MemberSet,
    ) -> Result<(Intent, BTreeSet<String>), ScimError> {
        let concurrency = self.config.target.concurrency;
        let ids = |keys: BTreeSet<String>| keys.into_iter().map(UserId).collect::<BTreeSet<_>>();
        if self.directory.key() == UserKey::Id {
            // Only users about to be added need checking: members exist by definition.
            let candidates = match &answer {
                Answer::Delta { add, .. } => add,
                Answer::Full { members } => members,
            };
            let check: BTreeSet<String> = candidates
                .iter()
                .filter(|k| !current.contains(k.as_str()))
                .cloned()
                .collect();
            let found = self
                .directory
                .resolve(self.client, &check, concurrency)
                .await?;
            let unknown = found
                .into_iter()
                .filter(|(_, id)| id.is_none())
                .map(|(k, _)| k)
                .collect();
            let intent = match answer {
                Answer::Delta { add, remove } => Intent::Delta {
                    add: ids(add),
                    remove: ids(remove),
                },
                Answer::Full { members } => Intent::Full {
                    members: ids(members),
                },
            };
            return Ok((intent, unknown));
        }
        let keys: BTreeSet<String> = match &answer {
            Answer::Delta { add, remove } => add.union(remove).cloned().collect(),
            Answer::Full { members } => members.clone(),
        };
        let found = self
            .directory
            .resolve(self.client, &keys, concurrency)
            .await?;
        let map = |set: BTreeSet<String>| -> BTreeSet<UserId> {
            set.iter()
                .filter_map(|k| found.get(k).cloned().flatten())
                .collect()
        };
        let unknown = found
            .iter()
            .filter(|(_, id)| id.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        let intent = match answer {
            Answer::Delta { add, remove } => Intent::Delta {
                add: map(add),
                remove: map(remove),
            },
            Answer::Full { members } => Intent::Full {
                members: map(members),
            },
        };
        Ok((intent, unknown))
    }
}

/// One `planned_change` per member change, then the `change_summary`.
fn emit_plan(events: Events, plan: &Plan) {
    for g in &plan.groups {
        let changes = g
            .changes
            .add
            .iter()
            .map(|u| ("add", u))
            .chain(g.changes.remove.iter().map(|u| ("remove", u)));
        for (action, user) in changes {
            events.emit(
                "info",
                "planned_change",
                &format!("{}: {action} {user}", g.source.idp_group),
                serde_json::json!({
                    "group": g.source.idp_group, "group_id": g.group_id, "display_name": g.display_name,
                    "action": action, "user": user, "etag": g.precondition.etag,
                }),
            );
        }
        for s in &g.skipped {
            events.emit(
                "warn",
                "diagnostic",
                &format!("{}: {} skipped ({})", g.source.idp_group, s.user, s.reason.as_str()),
                serde_json::json!({"group": g.source.idp_group, "user": s.user, "reason": s.reason}),
            );
        }
    }
    events.emit(
        "info",
        "change_summary",
        &crate::plan::render::summary_line(plan),
        serde_json::json!({
            "operation": "plan", "add": plan.summary.add, "remove": plan.summary.remove,
            "groups": plan.summary.groups, "groups_changed": plan.summary.groups_changed,
            "sha256": plan.sha256,
        }),
    );
}

/// A sealed plan of `groups` for `config`.
pub fn seal_plan(config: &Config, groups: Vec<GroupPlan>) -> Plan {
    let mut plan = Plan {
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        target: TargetRef {
            kind: config.target.kind.as_str().to_owned(),
            api_base: config.target.api_base.as_str().to_owned(),
        },
        config_sha256: config.sha256.clone(),
        summary: Summary::of(&groups),
        groups,
        sha256: String::new(),
    };
    file::seal(&mut plan);
    plan
}

/// Run `scimsync plan`.
pub async fn run(args: &PlanArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let events = Events::new(args.json);
    events.version("plan");
    events.finish(plan(args, env, events).await)
}

async fn plan(args: &PlanArgs, env: Env<'_>, events: Events) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let groups = config.select(&args.group)?;
    let state = config.state.load().await?.state;
    let client = connect(&config, env)?;
    let source = open_source(&config, env)?;
    let planner = Planner {
        config: &config,
        client: &client,
        source: source.as_ref(),
        state: &state,
        policy: policy(&config, args.allow_removals),
        strict: args.strict,
        directory: Directory::new(config.source.user_key()),
    };
    let results = planner.plan_all(&groups).await;
    let mut planned = Vec::new();
    let (mut failed, mut guarded) = (0, 0);
    let mut messages = String::new();
    for (name, result) in results {
        match result {
            Ok(g) => planned.push(g),
            Err(GroupFailure::Guard(message)) => {
                guarded += 1;
                events.diagnostic("error", Some(&name), &message);
                let _ = writeln!(messages, "{message}");
            }
            Err(e) => {
                failed += 1;
                events.diagnostic("error", Some(&name), &e.to_string());
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
    let plan = seal_plan(&config, planned);
    if events.enabled() {
        emit_plan(events, &plan);
    } else {
        print!("{}", render(&plan, args.format, &RenderOptions::default()));
    }
    if let Some(out) = &args.out {
        file::write(out, &plan)?;
        tracing::info!("Plan written to {} (sha256 {})", out.display(), plan.sha256);
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitCode::Changes
    } else {
        ExitCode::Success
    })
}
