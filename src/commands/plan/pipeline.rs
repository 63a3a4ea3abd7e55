//! The plan's reads, as one pipeline: each group's GET, IdP read and user resolution.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};

use crate::commands::GroupFailure;
use crate::config::Config;
use crate::model::{GroupId, GroupSnapshot, GroupTarget, IdpKey, Mapping, Policy, UserId, UserKey};
use crate::plan::basis::{self, Basis, IdpIntent, Known, ReadRequest, group_input, intent_of};
use crate::plan::planner::plan;
use crate::plan::{GroupPlan, Resolution, SkipReason};
use crate::scim::directory::Directory;
use crate::scim::{ScimClient, ScimError};
use crate::source::{Source, SourceError};
use crate::state::State;

/// One group's plan and the labels of the users it names.
pub struct PlannedGroup {
    /// The plan.
    pub plan: GroupPlan,
    /// Labels of the users it names, learned while planning it.
    pub labels: BTreeMap<UserId, String>,
}

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
pub struct Mirrors(std::sync::Mutex<BTreeMap<String, BTreeSet<IdpKey>>>);

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
    fn take(&self, name: &str) -> Option<BTreeSet<IdpKey>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name)
    }
}

/// One group as read in the first stage: its live state, the IdP's answer, and how far its
/// users are resolved.
struct GroupRead {
    live: GroupSnapshot,
    idp: IdpIntent,
    resolved: Resolved,
}

/// A group after the first stage: planned, or waiting for every GET before its lookups.
enum AfterRead {
    Planned(Box<PlannedGroup>),
    WaitingForLookups(Box<GroupRead>),
}

/// Users resolved so far, and the lookups still to make.
#[derive(Default)]
pub(super) struct Resolved {
    pub(super) resolution: BTreeMap<IdpKey, Resolution>,
    pub(super) labels: BTreeMap<UserId, String>,
    /// IdP key → the target key to look up.
    pub(super) lookups: BTreeMap<IdpKey, String>,
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
    ) -> Vec<(String, Result<PlannedGroup, GroupFailure>)> {
        let concurrency = self.config.target.concurrency;
        let bar = crate::commands::progress(groups.len(), "plan");
        let bar = &bar;
        let mut firsts: Vec<(usize, &Mapping, Result<AfterRead, GroupFailure>)> =
            stream::iter(groups.iter().copied().enumerate())
                .map(|(i, g)| async move {
                    let stage = match self.read_group(g).await {
                        Ok(read) if read.resolved.lookups.is_empty() => self
                            .plan_group(g, read)
                            .await
                            .map(|p| AfterRead::Planned(Box::new(p))),
                        Ok(read) => Ok(AfterRead::WaitingForLookups(Box::new(read))),
                        Err(e) => Err(e),
                    };
                    if matches!(stage, Ok(AfterRead::Planned(_)) | Err(_)) {
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
                Ok(AfterRead::Planned(planned)) => {
                    (&planned.plan.group_id, &planned.plan.display_name)
                }
                Ok(AfterRead::WaitingForLookups(read)) => (&read.live.id, &read.live.display_name),
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
                Ok(AfterRead::WaitingForLookups(read)) => {
                    Some(read.resolved.lookups.values().cloned())
                }
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
                    Ok(AfterRead::Planned(planned)) => return (g.idp_group.clone(), Ok(*planned)),
                    Ok(AfterRead::WaitingForLookups(read)) => self.plan_group(g, *read).await,
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
    async fn read_group(&self, group: &Mapping) -> Result<GroupRead, GroupFailure> {
        let (live, idp) = tokio::join!(self.read_live(group), async {
            let idp = self.read_intent(group).await?;
            let desired = idp.desired.as_ref().unwrap_or(&idp.intent.granted);
            let resolved = self.resolve_known(desired).await?;
            Ok::<_, GroupFailure>((idp, resolved))
        });
        let (live, (idp, mut resolved)) = (live?, idp?);
        // Its members are users that exist, for the lookups of every group still to come.
        self.directory.known(&live.members);
        let key = self.directory.key();
        if key == UserKey::Id {
            // Members of this group, and of the groups read so far, are users that exist:
            // their keys resolve to themselves (`Resolution::derived`).
            resolved.lookups.retain(|k, _| {
                !(live.members.contains(k.as_str()) || self.directory.is_known(k.as_str()))
            });
        } else {
            // Members of other groups do not help: look up now.
            self.look_up(&mut resolved).await?;
        }
        Ok(GroupRead {
            live,
            idp,
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
    async fn plan_group(
        &self,
        group: &Mapping,
        read: GroupRead,
    ) -> Result<PlannedGroup, GroupFailure> {
        let GroupRead {
            live,
            idp,
            mut resolved,
        } = read;
        self.look_up(&mut resolved).await?;
        let Resolved {
            resolution, labels, ..
        } = resolved;
        let base = self.state.base(&group.idp_group);
        let known = Known {
            mirror: None,
            cursor: None,
            base: &base,
            cache: self.state,
            user_key: self.directory.key(),
        };
        let input = group_input(
            Basis::Read(&idp, &resolution),
            known,
            &live,
            group,
            &self.policy,
        );
        drop((idp, resolution));
        let plan = plan(input)?;
        for twin in plan
            .skipped
            .iter()
            .filter(|s| s.reason == SkipReason::CaseTwin)
        {
            tracing::warn!(
                "group {}: the IdP revoked key {}, but still grants a key that differs from it only in case: treated as one person and not removed; check the IdP's keys for that user",
                group.idp_group,
                twin.user
            );
        }
        basis::strict(&plan, self.strict)?;
        // What the changes give: one read for a group with changes, none for the others.
        let plan = if plan.changes.is_empty() {
            plan
        } else {
            match crate::commands::grants::read(self.client, &plan.group_id, &self.config.review)
                .await?
            {
                Some(grants) => plan.with_grants(grants),
                None => plan,
            }
        };
        Ok(PlannedGroup { plan, labels })
    }

    /// What the IdP wants of `group`: the mirror plus the delta since the cursor, or a
    /// whole listing ([`ReadRequest`] decides which; an expired cursor is read again whole).
    async fn read_intent(&self, group: &Mapping) -> Result<IdpIntent, GroupFailure> {
        let name = &group.idp_group;
        let record = self.state.groups.get(name);
        let mirror = self.mirrors.take(name);
        let cursor = record.and_then(|r| r.cursor.as_ref());
        let mut request = ReadRequest::new(group.mode, record.is_some(), mirror.is_some(), cursor);
        let read = match self.source.read(name, request.since, group.mode).await {
            Err(SourceError::CursorExpired { cursor, .. }) if request.since.is_some() => {
                tracing::warn!(
                    "group {name}: the IdP cursor {cursor} has expired; reading the whole membership to resync"
                );
                request = request.after_expiry().unwrap_or(request);
                self.source.read(name, None, group.mode).await?
            }
            other => other?,
        };
        Ok(intent_of(
            read.answer,
            read.cursor_to,
            request,
            mirror,
            self.source.kind(),
            self.directory.key(),
        ))
    }
}
