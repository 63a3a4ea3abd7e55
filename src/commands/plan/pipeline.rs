//! The plan's reads, as one pipeline: each group's GET, IdP read and user resolution.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};

use crate::commands::GroupFailure;
use crate::config::Config;
use crate::model::{GroupId, GroupSnapshot, GroupTarget, Mapping, Mode, Policy, UserId, UserKey};
use crate::plan::planner::{GroupInput, plan};
use crate::plan::{GroupPlan, Intent, PendingReason, ReadKind, Resolution, SourceRef};
use crate::scim::directory::Directory;
use crate::scim::{ScimClient, ScimError};
use crate::source::{Answer, Source, SourceError};
use crate::state::State;

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
pub(super) fn delta_intent(
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
    /// `None`: the mirror was unknown, and the desired set is `intent.granted`.
    desired: Option<BTreeSet<String>>,
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
pub(super) struct Resolved {
    pub(super) resolution: BTreeMap<String, Resolution>,
    pub(super) labels: BTreeMap<UserId, String>,
    /// IdP key → the target key to look up.
    pub(super) lookups: BTreeMap<String, String>,
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
        groups: &[&Mapping],
    ) -> Vec<(String, Result<Planned, GroupFailure>)> {
        let concurrency = self.config.target.concurrency;
        let bar = crate::commands::progress(groups.len(), "plan");
        let bar = &bar;
        let mut firsts: Vec<(usize, &Mapping, Result<Stage, GroupFailure>)> =
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
            if let Some(other) = owners.insert(id.clone(), &g.idp_group) {
                *stage = Err(GroupFailure::DoubleMapping {
                    first: other.to_owned(),
                    second: g.idp_group.clone(),
                    id: id.clone(),
                    display_name: display_name.clone(),
                });
            }
        }
        // Every waiting group's lookups in one bulk read (100 users a request), not one read
        // per group: the groups' own look-ups below then find them cached.
        let waiting: BTreeSet<String> = firsts
            .iter()
            .filter_map(|(_, _, stage)| match stage {
                Ok(Stage::Waiting(read)) => Some(read.resolved.lookups.values().cloned()),
                _ => None,
            })
            .flatten()
            .collect();
        self.directory
            .prefetch(self.client, &waiting, concurrency)
            .await;
        let results = stream::iter(firsts)
            .map(|(_, g, stage)| async move {
                let result = match stage {
                    Ok(Stage::Planned(planned)) => return (g.idp_group.clone(), Ok(*planned)),
                    Ok(Stage::Waiting(read)) => self.plan_group(g, *read).await,
                    Err(e) => Err(e),
                };
                bar.inc(1);
                (g.idp_group.clone(), result)
            })
            .buffered(concurrency)
            .collect()
            .await;
        bar.finish_and_clear();
        results
    }

    /// The first stage of a group: its GET and its IdP read at once, then its users resolved
    /// as far as can be without waiting for other groups.
    async fn read_group(&self, group: &Mapping) -> Result<Read, GroupFailure> {
        let (live, intent) = tokio::join!(self.read_live(group), async {
            let (desired, intent, source) = self.read_intent(group).await?;
            let resolved = self
                .resolve_known(desired.as_ref().unwrap_or(&intent.granted))
                .await?;
            Ok::<_, GroupFailure>((desired, intent, source, resolved))
        });
        let (live, (desired, intent, source, mut resolved)) = (live?, intent?);
        // Its members are users that exist, for the lookups of every group still to come.
        self.directory.known(&live.members);
        let key = self.directory.key();
        if key == UserKey::Id {
            // Members of this group, and of the groups read so far, are users that exist:
            // their keys resolve to themselves (`Resolution::derived`).
            resolved
                .lookups
                .retain(|k, _| !(live.members.contains(k.as_str()) || self.directory.is_known(k)));
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
    async fn read_live(&self, group: &Mapping) -> Result<GroupSnapshot, GroupFailure> {
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
    async fn plan_group(&self, group: &Mapping, read: Read) -> Result<Planned, GroupFailure> {
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
        let key = self.directory.key();
        let derive = |k: &str| Resolution::derived(k, self.state.users.get(k).map(|c| &c.id), key);
        let plan = plan(GroupInput {
            live: &live,
            mapping: Mapping {
                idp_group: group.idp_group.clone(),
                target: group.target.clone(),
                mode: group.mode,
            },
            base: self.state.base(&group.idp_group),
            source,
            desired: desired.as_ref(),
            intent,
            resolution,
            derive: &derive,
            policy: &self.policy,
        })?;
        if self.strict {
            let unknown: Vec<&str> = plan
                .pending
                .iter()
                .filter(|p| p.reason == PendingReason::UnknownUser)
                .map(|p| p.key.as_str())
                .collect();
            if !unknown.is_empty() {
                return Err(GroupFailure::Strict {
                    count: unknown.len(),
                    list: unknown[..unknown.len().min(10)].join(", "),
                });
            }
        }
        Ok((plan, labels))
    }

    /// What the IdP wants of `group`: the mirror plus the delta since the cursor, or a
    /// whole listing (full mode, a listing source, a first read, a resync); as a desired set
    /// (what the planner reconciles) and as a difference against the mirror (what the plan
    /// records).
    async fn read_intent(
        &self,
        group: &Mapping,
    ) -> Result<(Option<BTreeSet<String>>, Intent<String>, SourceRef), GroupFailure> {
        let record = self.state.groups.get(&group.idp_group);
        let mirror = self.mirrors.take(&group.idp_group);
        let cursor = record.and_then(|r| r.cursor.as_ref());
        // A delta is read only on top of a known mirror; otherwise the whole membership.
        let since = match group.mode {
            Mode::Delta if mirror.is_some() => cursor,
            _ => None,
        };
        let mut resync = group.mode == Mode::Delta && record.is_some() && since.is_none();
        let read = match self.source.read(&group.idp_group, since, group.mode).await {
            Err(SourceError::CursorExpired { cursor, .. }) if since.is_some() => {
                tracing::warn!(
                    "group {}: the IdP cursor {cursor} has expired; reading the whole membership to resync",
                    group.idp_group
                );
                resync = true;
                self.source.read(&group.idp_group, None, group.mode).await?
            }
            other => other?,
        };
        let since = if resync { None } else { since };
        let key = self.directory.key();
        let normalize = |keys: BTreeSet<String>| -> BTreeSet<String> {
            keys.into_iter().map(|k| key.normalize_owned(k)).collect()
        };
        // A read without a cursor is a whole listing, whatever its shape (a first delta read:
        // every member as an addition).
        let listed = |desired: BTreeSet<String>, mirror: Option<&BTreeSet<String>>| match mirror {
            Some(mirror) => {
                let intent = Intent::new(&desired, Some(mirror));
                (Some(desired), intent)
            }
            None => (None, Intent::unmirrored(desired)),
        };
        let ((desired, intent), kind) = match read.answer {
            Answer::Delta { add, remove } if since.is_some() && read.cursor_to.is_some() => {
                let (desired, intent) = delta_intent(
                    mirror.unwrap_or_default(),
                    normalize(add),
                    normalize(remove),
                );
                ((Some(desired), intent), ReadKind::Delta)
            }
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
}
