//! Who each IdP key is: the IdP's description of its users, the state's resolution cache,
//! the members of groups read, and lookups for the rest; and labels for the users a plan
//! removes that nothing named.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};

use super::GroupFailure;
use super::pipeline::{PlanRun, Resolved};
use crate::model::{TargetUser, UserId, UserKey};
use crate::plan::{GroupPlan, Resolution};
use crate::scim::directory::Entry;
use crate::scim::{PAGE, ScimClient};
use crate::state::State;

impl PlanRun<'_> {
    /// How the keys of `desired` resolve where [`Resolution::derived`] cannot tell (what the
    /// IdP says of them), the labels the IdP gives, and the keys left to look up.
    ///
    /// The IdP describes each key first (a disabled account is not desired; Graph turns
    /// object ids into userPrincipalNames); a key the state's resolution cache knows then
    /// needs nothing more: the planner derives it. The rest are looked up (ids: unless a
    /// member of a group read in this run). Revoked keys need only the cache, and the
    /// planner derives them too: a user never resolved was never added by scimsync.
    pub(super) async fn resolve_known(
        &self,
        desired: &BTreeSet<String>,
    ) -> Result<Resolved, GroupFailure> {
        let key = self.directory.key();
        let mut out = Resolved::default();
        let cached = |k: &str| self.state.users.get(k);
        let invalid = |k: &String| k.chars().any(char::is_control) || k.trim().is_empty();
        // Keys that cannot name a user are not described: copy the others only if any is.
        let valid: Option<BTreeSet<String>> = desired.iter().any(invalid).then(|| {
            desired
                .iter()
                .filter(|k| {
                    let bad = invalid(k);
                    if bad {
                        out.resolution.insert((*k).clone(), Resolution::Invalid);
                    }
                    !bad
                })
                .cloned()
                .collect()
        });
        let valid = valid.as_ref().unwrap_or(desired);
        let Some(described) = self.source.describe_users(valid).await? else {
            // Every key is an enabled user and its own target key.
            for k in valid.iter().filter(|k| cached(k).is_none()) {
                out.lookups.insert(k.clone(), key.normalize(k));
            }
            return Ok(out);
        };
        for k in valid {
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
            } else if cached(k).is_none() {
                out.lookups
                    .insert(k.clone(), key.normalize(&user.target_key));
            }
        }
        Ok(out)
    }

    /// Make the lookups `resolved` still holds (none when all its users were known).
    pub(super) async fn look_up(&self, resolved: &mut Resolved) -> Result<(), GroupFailure> {
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

/// The label a plan shows for a user that no longer exists in Genesys.
pub const DELETED_USER: &str = "(deleted user)";

/// Labels for users `groups` change that nothing has named yet, without a request where the
/// plan already knows: the state's resolution cache (the label a user was last seen with),
/// then the IdP key when keys are userNames. Then, for users to be removed only, one user
/// GET each (a 404 is a deleted user), or, when more than [`PAGE`] users are left, the list
/// of active users, [`PAGE`] a page: its first page tells how many pages there are, and
/// the rest are read if they are fewer than the users left (a first plan of a large org);
/// the users the list does not hold (inactive, deleted) still get their GET. When the GETs
/// win, that first page is one request more. The requests are bounded by the removal
/// guard, never one per existing member. Labels are display only: a failed request leaves
/// the id, and the plan goes on.
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
    // The state's cache first: the label a user was last seen with.
    let cached: BTreeMap<&UserId, &str> = state
        .users
        .values()
        .filter(|u| !u.label.is_empty())
        .map(|u| (&u.id, u.label.as_str()))
        .collect();
    for g in groups {
        for id in g.changes.add.iter().chain(&g.changes.remove) {
            if !labels.contains_key(id)
                && let Some(label) = cached.get(id)
            {
                labels.insert(id.clone(), (*label).to_owned());
            }
        }
    }
    // Then the IdP key, when keys are userNames.
    if key == UserKey::UserName {
        for g in groups {
            for (k, r) in &g.resolution {
                if let Some(id) = r.id()
                    && (g.changes.add.contains(id) || g.changes.remove.contains(id))
                {
                    labels.entry(id.clone()).or_insert_with(|| k.clone());
                }
            }
        }
    }
    let mut unnamed: BTreeSet<UserId> = groups
        .iter()
        .flat_map(|g| &g.changes.remove)
        .filter(|id| !labels.contains_key(*id))
        .cloned()
        .collect();
    if unnamed.len() as u64 > PAGE {
        label_from_listing(client, &mut unnamed, labels, concurrency).await;
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

/// Label the users of `unnamed` from the list of active users, if its pages are fewer than
/// `unnamed`'s users (its first page tells how many there are); the users labelled leave
/// `unnamed`. Any error leaves the rest to the GETs.
async fn label_from_listing(
    client: &ScimClient,
    unnamed: &mut BTreeSet<UserId>,
    labels: &mut BTreeMap<UserId, String>,
    concurrency: usize,
) {
    let before = unnamed.len() as u64;
    let mut take = |users: Vec<TargetUser>| {
        for user in users {
            if unnamed.remove(&user.id) && user.label != user.id.0 {
                labels.insert(user.id, user.label);
            }
        }
    };
    let (first, total) = match client.active_users_page(1).await {
        Ok(page) => page,
        Err(e) => {
            tracing::debug!("no labels from the user list: {e}");
            return;
        }
    };
    let pages = total.div_ceil(PAGE);
    take(first);
    let worth_it = pages < before;
    if !worth_it {
        return;
    }
    let mut rest = stream::iter(1..pages)
        .map(|p| client.active_users_page(p * PAGE + 1))
        .buffer_unordered(concurrency.max(1));
    while let Some(page) = rest.next().await {
        match page {
            Ok((users, _)) => take(users),
            Err(e) => {
                // Deep pages may be refused (a server's own limit): the rest get GETs.
                tracing::debug!("no labels from the rest of the user list: {e}");
                return;
            }
        }
    }
}
