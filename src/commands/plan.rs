//! `scimsync plan`: read IdP intent and live group state, reconcile, write a plan.
//!
//! Groups are planned concurrently (bounded by `target.concurrency`), each with one group GET,
//! one IdP read, and a lookup only for users the state's resolution cache does not hold and
//! no group read shows (see [`PlanRun::plan_all`] for the pipeline). A plan is all or nothing: if
//! any group fails (IdP error, unknown group, …) or trips a safety guard, no plan is written.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use futures::{StreamExt, stream};

use super::{Env, connect, open_source};
use crate::cli::PlanArgs;
use crate::config::{Config, GroupConfig, GroupTarget};
use crate::events::{Action, Event, Events, Level, UserReason};
use crate::exit_code::ExitCode;
use crate::model::{GroupId, GroupSnapshot, Mode, UserId, UserKey};
use crate::plan::planner::{GroupInput, Policy, Stopped, plan_group};
use crate::plan::render::{RenderOptions, render};
use crate::plan::{
    GroupPlan, Intent, Mapping, Plan, ReadKind, Resolution, SourceRef, TargetRef, file,
};
use crate::source::{Answer, Source, SourceError};
use crate::state::State;
use crate::target::directory::{Directory, Entry};
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
    #[error(transparent)]
    Guard(Stopped),
    /// Two config entries name the same Genesys group.
    #[error(
        "groups {first:?} and {second:?} both map to Genesys group {display_name} ({id}); two mappings of one group would undo each other's changes: keep one [[group]] for it"
    )]
    DoubleMapping {
        /// The first entry's name.
        first: String,
        /// The second entry's name.
        second: String,
        /// The Genesys group.
        id: GroupId,
        /// Its display name.
        display_name: String,
    },
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

/// A group's plan, or the guard message that stopped it: what `plan` and apply's re-plan share.
pub fn assemble(input: GroupInput<'_>) -> Result<GroupPlan, GroupFailure> {
    let name = input.mapping.idp_group.clone();
    let live = input.live;
    let policy = input.policy;
    plan_group(input).map_err(|trip| {
        GroupFailure::Guard(Stopped {
            group: name,
            display_name: live.display_name.clone(),
            trip,
            max_removals: policy.max_removals,
            max_ratio: policy.max_ratio,
        })
    })
}

/// One group's plan and the labels of the users it names.
type Planned = (GroupPlan, BTreeMap<UserId, String>);

/// One `plan` run's I/O: the shared client, source, state, directory and policy.
pub struct PlanRun<'a> {
    /// The config.
    pub config: &'a Config,
    /// The SCIM client.
    pub client: &'a ScimClient,
    /// The IdP.
    pub source: &'a Source,
    /// Cursors and the resolution cache (the mirrors are in `mirrors`).
    pub state: &'a State,
    /// The state's mirrors, moved out of it: each group's becomes its desired set without a
    /// copy (a 1,000 × 1,000 state's mirrors are a million keys).
    pub mirrors: Mirrors,
    /// The safety policy.
    pub policy: Policy,
    /// Unknown users are an error.
    pub strict: bool,
    /// User lookups, shared by the run's groups.
    pub directory: Directory,
}

/// The state's mirrors, taken out of it for one plan run: each is handed out once, to its
/// group's IdP read.
#[derive(Debug, Default)]
pub struct Mirrors(std::sync::Mutex<BTreeMap<String, BTreeSet<String>>>);

impl Mirrors {
    /// Move every known mirror out of `state` (it keeps cursors, serials and the cache).
    pub fn take_from(state: &mut State) -> Self {
        let mirrors = state
            .groups
            .iter_mut()
            .filter_map(|(name, record)| Some((name.clone(), record.idp_members.take()?)))
            .collect();
        Self(std::sync::Mutex::new(mirrors))
    }

    /// Group `name`'s mirror, if known; once.
    fn take(&self, name: &str) -> Option<BTreeSet<String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name)
    }
}

/// The desired set and intent of a delta (`add`, `remove`) on top of `mirror`: the same as
/// `mirror ∪ add − remove` and `Intent::new(&that, Some(&mirror))`, but the mirror is moved
/// into the desired set instead of copied, and grants and revocations are found from the
/// delta alone.
fn delta_intent(
    mut mirror: BTreeSet<String>,
    add: BTreeSet<String>,
    remove: BTreeSet<String>,
) -> (BTreeSet<String>, Intent<String>) {
    let mut granted = BTreeSet::new();
    let mut revoked = BTreeSet::new();
    for k in add {
        if !mirror.contains(&k) {
            mirror.insert(k.clone());
            granted.insert(k);
        }
    }
    for k in remove {
        if granted.remove(&k) {
            mirror.remove(&k);
        } else if mirror.remove(&k) {
            revoked.insert(k);
        }
    }
    let intent = Intent {
        granted,
        revoked,
        mirror_known: true,
        desired_count: mirror.len(),
    };
    (mirror, intent)
}

/// One group as read in the first stage: its live state, the IdP's answer, and how far its
/// users are resolved.
struct Read {
    live: GroupSnapshot,
    desired: BTreeSet<String>,
    intent: Intent<String>,
    source: SourceRef,
    resolved: Resolved,
}

/// A group after the first stage: planned, or waiting for every GET before its lookups.
enum Stage {
    Planned(Box<Planned>),
    Waiting(Box<Read>),
}

/// Users resolved so far, and the lookups still to make.
#[derive(Default)]
struct Resolved {
    resolution: BTreeMap<String, Resolution>,
    labels: BTreeMap<UserId, String>,
    /// IdP key → the target key to look up.
    lookups: BTreeMap<String, String>,
}

impl PlanRun<'_> {
    /// Plan `groups`, concurrently; results in the same order.
    ///
    /// One pipeline of reads, `concurrency` groups at a time: each group's GET and its IdP
    /// read (with the IdP's description of its users) go out together, and its users are
    /// resolved from the state's resolution cache and the group's own members; where the
    /// IdP's keys are not Genesys ids, the few lookups left go out at once too. A group with
    /// nothing left to look up is reconciled (pure) at once, and its live members dropped.
    /// Nothing waits for another group except what correctness needs:
    ///
    /// - when IdP keys are Genesys ids, a member of *any* group read is known to exist and
    ///   costs no lookup (people moving between groups cost nothing), so a group with keys
    ///   left to look up waits until every group's GET is in; on a steady-state run none do;
    /// - two config entries naming one Genesys group are caught once every GET is in, before
    ///   any plan is returned (no request depends on it).
    pub async fn plan_all(
        &self,
        groups: &[&GroupConfig],
    ) -> Vec<(String, Result<Planned, GroupFailure>)> {
        let concurrency = self.config.target.concurrency;
        let bar = super::progress(groups.len(), "plan");
        let bar = &bar;
        let mut firsts: Vec<(usize, &GroupConfig, Result<Stage, GroupFailure>)> =
            stream::iter(groups.iter().copied().enumerate())
                .map(|(i, g)| async move {
                    let stage = match self.read_group(g).await {
                        Ok(read) if read.resolved.lookups.is_empty() => self
                            .plan_group(g, read)
                            .await
                            .map(|p| Stage::Planned(Box::new(p))),
                        Ok(read) => Ok(Stage::Waiting(Box::new(read))),
                        Err(e) => Err(e),
                    };
                    if matches!(stage, Ok(Stage::Planned(_)) | Err(_)) {
                        bar.inc(1);
                    }
                    (i, g, stage)
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        firsts.sort_by_key(|(i, ..)| *i);
        let mut owners: BTreeMap<GroupId, &str> = BTreeMap::new();
        for (_, g, stage) in &mut firsts {
            let (id, display_name) = match stage {
                Ok(Stage::Planned(planned)) => (&planned.0.group_id, &planned.0.display_name),
                Ok(Stage::Waiting(read)) => (&read.live.id, &read.live.display_name),
                Err(_) => continue,
            };
            if let Some(other) = owners.insert(id.clone(), &g.name) {
                *stage = Err(GroupFailure::DoubleMapping {
                    first: other.to_owned(),
                    second: g.name.clone(),
                    id: id.clone(),
                    display_name: display_name.clone(),
                });
            }
        }
        let results = stream::iter(firsts)
            .map(|(_, g, stage)| async move {
                let result = match stage {
                    Ok(Stage::Planned(planned)) => return (g.name.clone(), Ok(*planned)),
                    Ok(Stage::Waiting(read)) => self.plan_group(g, *read).await,
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

    /// The first stage of a group: its GET and its IdP read at once, then its users resolved
    /// as far as can be without waiting for other groups.
    async fn read_group(&self, group: &GroupConfig) -> Result<Read, GroupFailure> {
        let (live, intent) = tokio::join!(self.read_live(group), async {
            let (desired, intent, source) = self.read_intent(group).await?;
            let resolved = self.resolve_known(&desired, &intent).await?;
            Ok::<_, GroupFailure>((desired, intent, source, resolved))
        });
        let (live, (desired, intent, source, mut resolved)) = (live?, intent?);
        // Its members are users that exist, for the lookups of every group still to come.
        self.directory.known(&live.members);
        let key = self.directory.key();
        if key == UserKey::Id {
            // Members of this group, and of the groups read so far, are users that exist.
            resolved.lookups.retain(|k, _| {
                let member = live.members.contains(k.as_str()) || self.directory.is_known(k);
                if member {
                    resolved
                        .resolution
                        .insert(k.clone(), Resolution::User(UserId(k.clone())));
                }
                !member
            });
        } else {
            // Members of other groups do not help: look up now.
            self.look_up(&mut resolved).await?;
        }
        Ok(Read {
            live,
            desired,
            intent,
            source,
            resolved,
        })
    }

    /// The group's live state (one GET; a displayName lookup first for target_name).
    async fn read_live(&self, group: &GroupConfig) -> Result<GroupSnapshot, GroupFailure> {
        let id = match &group.target {
            GroupTarget::Id(id) => id.clone(),
            GroupTarget::Name(name) => self.client.find_group_by_name(name).await?.id,
        };
        let live = self.client.get_group(&id).await?;
        if live.etag.is_none() && !self.client.settings().allow_etagless {
            return Err(ScimError::GenesysWithoutEtag {
                context: format!("GET group {id}"),
                group: format!("{} ({id})", live.display_name),
            }
            .into());
        }
        Ok(live)
    }

    /// The lookups left (members of every group read are known by now), then reconcile.
    async fn plan_group(&self, group: &GroupConfig, read: Read) -> Result<Planned, GroupFailure> {
        let Read {
            live,
            desired,
            intent,
            source,
            mut resolved,
        } = read;
        self.look_up(&mut resolved).await?;
        let Resolved {
            resolution, labels, ..
        } = resolved;
        if self.strict {
            let unknown: Vec<&str> = desired
                .iter()
                .filter(|k| matches!(resolution.get(*k), Some(Resolution::Unknown) | None))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(GroupFailure::Strict {
                    count: unknown.len(),
                    list: unknown
                        .iter()
                        .take(10)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let plan = assemble(GroupInput {
            live: &live,
            mapping: Mapping {
                idp_group: group.name.clone(),
                target: group.target.clone(),
                mode: group.mode,
            },
            base: self.state.base(&group.name),
            source,
            desired: &desired,
            intent,
            resolution,
            policy: &self.policy,
        })?;
        Ok((plan, labels))
    }

    /// What the IdP wants of `group`: the mirror plus the delta since the cursor, or a
    /// whole listing (full mode, a listing source, a first read, a resync); as a desired set
    /// (what the planner reconciles) and as a difference against the mirror (what the plan
    /// records).
    async fn read_intent(
        &self,
        group: &GroupConfig,
    ) -> Result<(BTreeSet<String>, Intent<String>, SourceRef), GroupFailure> {
        let record = self.state.groups.get(&group.name);
        let mirror = self.mirrors.take(&group.name);
        let cursor = record.and_then(|r| r.cursor.as_ref());
        // A delta is read only on top of a known mirror; otherwise the whole membership.
        let since = match group.mode {
            Mode::Delta if mirror.is_some() => cursor,
            _ => None,
        };
        let mut resync = group.mode == Mode::Delta && record.is_some() && since.is_none();
        let read = match self.source.read(&group.name, since, group.mode).await {
            Err(SourceError::CursorExpired { cursor, .. }) if since.is_some() => {
                tracing::warn!(
                    "group {}: the IdP cursor {cursor} has expired; reading the whole membership to resync",
                    group.name
                );
                resync = true;
                self.source.read(&group.name, None, group.mode).await?
            }
            other => other?,
        };
        let since = if resync { None } else { since };
        let key = self.directory.key();
        let normalize = |keys: BTreeSet<String>| -> BTreeSet<String> {
            keys.iter().map(|k| key.normalize(k)).collect()
        };
        // A read without a cursor is a whole listing (Okta, a file), whatever its shape.
        let listed = |desired: BTreeSet<String>, mirror: Option<&BTreeSet<String>>| {
            let intent = Intent::new(&desired, mirror);
            (desired, intent)
        };
        let ((desired, intent), kind) = match read.answer {
            Answer::Delta { add, remove } if since.is_some() && read.cursor_to.is_some() => (
                delta_intent(
                    mirror.unwrap_or_default(),
                    normalize(add),
                    normalize(remove),
                ),
                ReadKind::Delta,
            ),
            Answer::Delta { add, .. } => (listed(normalize(add), mirror.as_ref()), ReadKind::Full),
            Answer::Full { members } => {
                (listed(normalize(members), mirror.as_ref()), ReadKind::Full)
            }
        };
        let kind = if resync { ReadKind::Resync } else { kind };
        let source = SourceRef {
            kind: self.source.kind(),
            read: kind,
            cursor_from: since.cloned(),
            cursor_to: read.cursor_to,
        };
        Ok((desired, intent, source))
    }

    /// How each key of `intent` resolves without a lookup, and the labels of the users
    /// found; the keys left to look up.
    ///
    /// Desired keys: the IdP describes them first (a disabled account is not desired; Graph
    /// turns object ids into userPrincipalNames); then the state's resolution cache; the
    /// rest are looked up (ids: unless a member of a group read in this run). Revoked keys
    /// need only the cache: a user never resolved was never added by scimsync.
    async fn resolve_known(
        &self,
        desired: &BTreeSet<String>,
        intent: &Intent<String>,
    ) -> Result<Resolved, GroupFailure> {
        let key = self.directory.key();
        let mut out = Resolved::default();
        let cached = |k: &str| self.state.users.get(k);
        let valid: BTreeSet<String> = desired
            .iter()
            .filter(|k| {
                let ok = !k.chars().any(char::is_control) && !k.trim().is_empty();
                if !ok {
                    out.resolution.insert((*k).clone(), Resolution::Invalid);
                }
                ok
            })
            .cloned()
            .collect();
        let described = self.source.describe_users(&valid).await?;
        for k in &valid {
            let Some(user) = described.get(k) else {
                out.resolution.insert(k.clone(), Resolution::NotAUser);
                continue;
            };
            if let Some(label) = &user.label
                && let Some(c) = cached(k)
            {
                out.labels.insert(c.id.clone(), label.clone());
            }
            if !user.enabled {
                out.resolution.insert(
                    k.clone(),
                    Resolution::Disabled(cached(k).map(|c| c.id.clone())),
                );
            } else if let Some(c) = cached(k) {
                out.labels
                    .entry(c.id.clone())
                    .or_insert_with(|| c.label.clone());
                out.resolution
                    .insert(k.clone(), Resolution::User(c.id.clone()));
            } else {
                out.lookups
                    .insert(k.clone(), key.normalize(&user.target_key));
            }
        }
        for k in &intent.revoked {
            let r = match cached(k) {
                Some(c) => {
                    out.labels
                        .entry(c.id.clone())
                        .or_insert_with(|| c.label.clone());
                    Resolution::User(c.id.clone())
                }
                None if key == UserKey::Id => Resolution::User(UserId(k.clone())),
                None => Resolution::Unknown,
            };
            out.resolution.insert(k.clone(), r);
        }
        Ok(out)
    }

    /// Make the lookups `resolved` still holds (none when all its users were known).
    async fn look_up(&self, resolved: &mut Resolved) -> Result<(), GroupFailure> {
        if resolved.lookups.is_empty() {
            return Ok(());
        }
        let key = self.directory.key();
        let targets: BTreeSet<String> = resolved.lookups.values().cloned().collect();
        let found = self
            .directory
            .resolve(self.client, &targets, self.config.target.concurrency)
            .await?;
        for (k, target_key) in std::mem::take(&mut resolved.lookups) {
            let r = match found.get(&target_key).cloned().flatten() {
                Some(Entry { user, known: true }) => Resolution::User(user.id),
                Some(Entry { user, .. }) => {
                    resolved.labels.insert(user.id.clone(), user.label);
                    match (user.active, key) {
                        (false, _) => Resolution::Inactive(user.id),
                        // An id is its own resolution: nothing to cache.
                        (true, UserKey::Id) => Resolution::User(user.id),
                        (true, _) => Resolution::Found(user.id),
                    }
                }
                None => Resolution::Unknown,
            };
            resolved.resolution.insert(k, r);
        }
        Ok(())
    }
}

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
                },
            );
        }
        for p in &g.pending {
            events.emit(
                Level::Warn,
                &format!("{name}: {} pending ({})", p.key, p.reason.as_str()),
                &Event::Diagnostic {
                    group: Some(name),
                    user: Some(&p.key),
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
            sha256: &plan.sha256,
        },
    );
}

/// The label a plan shows for a user that no longer exists in Genesys.
pub const DELETED_USER: &str = "(deleted user)";

/// Labels for users `groups` change that nothing has named yet, without a request where the
/// plan already knows: the IdP key when keys are userNames, then the state's resolution
/// cache; then, for users to be removed only, one user GET each (a 404 is a deleted user).
/// The GETs are bounded by the removal guard, never one per existing member. Labels are
/// display only: a failed GET leaves the id, and the plan goes on.
///
/// A post-pass over the planned groups, so that however the groups are planned, this stays
/// one call before the plan is sealed.
pub async fn label_unnamed(
    client: &ScimClient,
    state: &State,
    key: UserKey,
    groups: &[GroupPlan],
    labels: &mut BTreeMap<UserId, String>,
    concurrency: usize,
) {
    for g in groups {
        for (k, r) in &g.resolution {
            if let Some(id) = r.id()
                && key == UserKey::UserName
                && (g.changes.add.contains(id) || g.changes.remove.contains(id))
            {
                labels.entry(id.clone()).or_insert_with(|| k.clone());
            }
        }
    }
    let cached: BTreeMap<&UserId, &str> = state
        .users
        .values()
        .filter(|u| !u.label.is_empty())
        .map(|u| (&u.id, u.label.as_str()))
        .collect();
    let mut unnamed = BTreeSet::new();
    for g in groups {
        for id in g.changes.add.iter().chain(&g.changes.remove) {
            if labels.contains_key(id) {
                continue;
            }
            if let Some(label) = cached.get(id) {
                labels.insert(id.clone(), (*label).to_owned());
            } else if g.changes.remove.contains(id) {
                unnamed.insert(id.clone());
            }
        }
    }
    let found: Vec<(UserId, Option<String>)> = stream::iter(unnamed)
        .map(|id| async move {
            let label = match client.get_user(&id).await {
                Ok(Some(user)) => Some(user.label),
                Ok(None) => Some(DELETED_USER.to_owned()),
                Err(e) => {
                    tracing::debug!("no label for user {id}: {e}");
                    None
                }
            };
            (id, label)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (id, label) in found {
        if let Some(label) = label.filter(|l| *l != id.0) {
            labels.insert(id, label);
        }
    }
}

/// A sealed plan of `groups` for `config`.
pub fn seal_plan(
    config: &Config,
    groups: Vec<GroupPlan>,
    labels: &BTreeMap<UserId, String>,
) -> Plan {
    Plan::new(
        TargetRef {
            kind: config.target.kind,
            api_base: config.target.api_base.as_str().to_owned(),
        },
        config.sha256.clone(),
        now(),
        groups,
        labels,
    )
}

/// Now, to the second: plans and states name times a person reads.
pub fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
}

/// Run `scimsync plan`.
pub async fn run(args: &PlanArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let events = Events::new(args.json);
    events.version("plan");
    events.finish(plan(args, env, events).await)
}

async fn plan(args: &PlanArgs, env: Env<'_>, events: Events) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config.path)?;
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
        policy: policy(&config, args.allow_removals),
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
            Ok((g, l)) => {
                planned.push(g);
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> impl Strategy<Value = BTreeSet<String>> {
        proptest::collection::btree_set("[a-f]", 0..6)
    }

    proptest! {
        /// Moving the mirror into the delta's intent gives exactly the intent computed by
        /// copying it.
        #[test]
        fn delta_intent_is_intent_new(mirror in keys(), add in keys(), remove in keys()) {
            let mut desired = mirror.clone();
            desired.extend(add.iter().cloned());
            for k in &remove {
                desired.remove(k);
            }
            let intent = Intent::new(&desired, Some(&mirror));
            prop_assert_eq!(&intent.desired(Some(&mirror)), &desired);
            prop_assert_eq!(delta_intent(mirror.clone(), add, remove), (desired, intent));
        }
    }
}
