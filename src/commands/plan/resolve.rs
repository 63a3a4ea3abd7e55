//! Who each IdP key is: the IdP's description of its users, the state's resolution cache,
//! the members of groups read, and lookups for the rest; and labels for the users a plan
//! removes that nothing named.

use crate::model::IdpKey;
use std::collections::BTreeSet;

use super::pipeline::{PlanRun, Resolved};
use crate::commands::GroupFailure;
use crate::model::UserKey;
use crate::plan::Resolution;
use crate::scim::directory::Entry;

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
        desired: &BTreeSet<IdpKey>,
    ) -> Result<Resolved, GroupFailure> {
        let key = self.directory.key();
        let mut out = Resolved::default();
        let cached = |k: &IdpKey| self.state.users.get(k);
        let invalid = |k: &IdpKey| !k.can_name_a_user();
        // Keys that cannot name a user are not described: copy the others only if any is.
        let valid: Option<BTreeSet<IdpKey>> = desired.iter().any(invalid).then(|| {
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
                out.lookups.insert(k.clone(), key.normalize(k.as_str()));
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
