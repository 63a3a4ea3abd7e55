//! Labels for the users a plan names that nothing has named yet: the state's resolution
//! cache, the IdP key, then Genesys reads — in bulk through the Platform API, 100 users a
//! request, or, without it, through SCIM. Shared by `plan` and apply's re-plan.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};

use crate::model::{TargetUser, UserId, UserKey};
use crate::plan::GroupPlan;
use crate::scim::platform::{PER_REQUEST, PlatformUser, UserState};
use crate::scim::{PAGE, ScimClient};
use crate::state::State;

/// The label a plan shows for a user that no longer exists in Genesys.
pub const DELETED_USER: &str = "(deleted user)";

/// Labels for users `groups` change that nothing has named yet, without a request where the
/// plan already knows: the state's resolution cache (the label a user was last seen with),
/// then the IdP key when keys are userNames. The rest — added and removed users alike — are
/// read in bulk through the Platform API (`GET /api/v2/users?id=…&state=any`, 100 a request,
/// `concurrency` at a time): a user it does not return, or returns as deleted, is labelled a
/// deleted user.
///
/// Without the Platform API (the OAuth client lacks its scope, or `kind = "scim"`), users to
/// be removed only get a SCIM read: one user GET each (a 404 is a deleted user), or, when more
/// than [`PAGE`] users are left, the list of active users, [`PAGE`] a page, if its pages are
/// fewer than the users left; those the list does not hold still get their GET. Labels are
/// display only: a failed request leaves the id, and the plan goes on.
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
        .filter(|u| !u.label.is_empty() && u.label != u.id.0)
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
                    labels.entry(id.clone()).or_insert_with(|| k.to_string());
                }
            }
        }
    }
    let named =
        |labels: &BTreeMap<UserId, String>, id: &UserId| labels.get(id).is_some_and(|l| *l != id.0);
    if client.has_platform() {
        let unnamed: Vec<&str> = groups
            .iter()
            .flat_map(|g| g.changes.add.iter().chain(&g.changes.remove))
            .filter(|id| !named(labels, id))
            .map(UserId::as_str)
            .collect::<BTreeSet<&str>>()
            .into_iter()
            .collect();
        let mut reads = stream::iter(unnamed.chunks(PER_REQUEST))
            .map(|chunk| async move { (chunk, client.users_by_id(chunk).await) })
            .buffer_unordered(concurrency.max(1));
        let mut denied = false;
        while let Some((chunk, found)) = reads.next().await {
            match found {
                Ok(found) => {
                    let mut found: BTreeMap<UserId, PlatformUser> =
                        found.into_iter().map(|u| (u.user.id.clone(), u)).collect();
                    for id in chunk {
                        let label = match found.remove(&UserId::from(*id)) {
                            Some(u) if u.state == UserState::Deleted => {
                                format!("{} {DELETED_USER}", u.user.label)
                            }
                            Some(u) => u.user.label,
                            None => DELETED_USER.to_owned(),
                        };
                        if label != *id {
                            labels.insert(UserId::from(*id), label);
                        }
                    }
                }
                Err(e) if e.is_denied() => denied = true,
                Err(e) => tracing::debug!("no labels for {} users: {e}", chunk.len()),
            }
        }
        if !denied {
            return;
        }
    }
    label_through_scim(client, groups, labels, concurrency).await;
}

/// [`label_unnamed`]'s SCIM reads, for users to be removed only (see there).
async fn label_through_scim(
    client: &ScimClient,
    groups: &[GroupPlan],
    labels: &mut BTreeMap<UserId, String>,
    concurrency: usize,
) {
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
