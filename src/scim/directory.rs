//! Users looked up in the target, once each per run: IdP keys → Genesys users (id, label,
//! whether active).
//!
//! When IdP keys are Genesys ids, users seen as members of a group read in the same run are
//! known to exist and cost no lookup, so people moving between groups cost nothing. Lookups
//! run concurrently, bounded by the client's concurrency; concurrent resolutions of the same
//! key share one lookup.
//!
//! Keys not known are read in bulk through the Platform API ([`super::platform`]): ids by
//! `GET /api/v2/users?id=…`, userNames by `POST /api/v2/users/search`, 100 a request; a
//! client without the scope, a `kind = "scim"` target and externalId keys (the Platform
//! API has no externalId criterion) look each up through SCIM, as before.
//!
//! Known members are kept as 128-bit fingerprints, not as entries: a run over 1,000 groups
//! of 1,000 members knows a million users, and an entry each (key, id, label, cell) cost
//! about 250 bytes apiece, a quarter of a GB; a fingerprint costs 16. Two different ids
//! share a fingerprint with a probability of about n²/2¹²⁹ (10⁻²⁶ for a million members
//! and a million keys): it could only make a user that does not exist look known, and a
//! PATCH naming it would be refused (400 `invalidValue`), never applied.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt, stream};
use tokio::sync::OnceCell;

use super::platform::{PER_REQUEST, PlatformUser, UserState, by_username};
use super::{ScimClient, ScimError};
use crate::model::{TargetUser, UserId, UserKey};

/// A user as the directory has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The user.
    pub user: TargetUser,
    /// True when known without a lookup (a member of a group read in this run).
    pub known: bool,
}

type Slot = Arc<OnceCell<Option<Entry>>>;

/// A cache of user lookups for one run.
#[derive(Debug)]
pub struct Directory {
    key: UserKey,
    /// Fingerprints of the ids of members of groups read in this run.
    members: Mutex<HashSet<u128>>,
    cache: Mutex<HashMap<String, Slot>>,
}

/// A 128-bit fingerprint of `id`: two SipHash runs with different prefixes.
fn fingerprint(id: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = std::hash::DefaultHasher::new();
        salt.hash(&mut h);
        id.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

impl Directory {
    /// A directory resolving IdP keys of kind `key`.
    pub fn new(key: UserKey) -> Self {
        Self {
            key,
            members: Mutex::new(HashSet::new()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// How IdP users are keyed.
    pub fn key(&self) -> UserKey {
        self.key
    }

    /// Record that these Genesys users exist (they are members of a group just read).
    /// Only meaningful when IdP keys are Genesys ids.
    pub fn known<'a>(&self, members: impl IntoIterator<Item = &'a UserId>) {
        if self.key != UserKey::Id {
            return;
        }
        let mut known = self
            .members
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        known.extend(members.into_iter().map(|m| fingerprint(m.as_str())));
    }

    /// True when `key` is a user known to exist without a lookup (a member of a group read
    /// so far in this run).
    pub fn is_known(&self, key: &str) -> bool {
        self.key == UserKey::Id
            && self
                .members
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(&fingerprint(key))
    }

    fn slot(&self, key: &str) -> Slot {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.entry(key.to_owned()).or_default().clone()
    }

    /// Resolve `keys` (values of the target's `key` attribute): each to its user, or `None`
    /// when no user has it. Keys not cached are read in bulk ([`Directory::prefetch`]), and
    /// those a bulk read could not answer are looked up one by one, `concurrency` at a time.
    pub async fn resolve(
        &self,
        client: &ScimClient,
        keys: &BTreeSet<String>,
        concurrency: usize,
    ) -> Result<BTreeMap<String, Option<Entry>>, ScimError> {
        self.prefetch(client, keys, concurrency).await;
        stream::iter(keys.iter().cloned())
            .map(|k| async move {
                if self.is_known(&k) {
                    let user = TargetUser {
                        id: UserId(k.clone()),
                        label: k.clone(),
                        active: true,
                    };
                    return Ok((k, Some(Entry { user, known: true })));
                }
                let slot = self.slot(&k);
                let entry = slot
                    .get_or_try_init(|| async {
                        let found = client.find_user(self.key, &k).await?;
                        Ok::<_, ScimError>(found.map(|user| Entry { user, known: false }))
                    })
                    .await?
                    .clone();
                Ok::<_, ScimError>((k, entry))
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await
    }

    /// Read the keys of `keys` that are neither known nor cached in bulk, [`PER_REQUEST`] a
    /// request, `concurrency` requests at a time, and cache what they say (a key the answer
    /// lacks has no user). Ids are read in any state (an inactive user is found and held back,
    /// a deleted one is no user); userNames by an exact search over active and inactive
    /// users. Without the Platform API (its scope refused, `kind = "scim"`, externalId keys)
    /// nothing is read, and [`Directory::resolve`] looks each key up through SCIM; any other
    /// error leaves that chunk to the same.
    pub async fn prefetch(&self, client: &ScimClient, keys: &BTreeSet<String>, concurrency: usize) {
        if self.key == UserKey::ExternalId || !client.has_platform() {
            return;
        }
        let todo: Vec<&str> = keys
            .iter()
            .filter(|k| !self.is_known(k) && self.slot(k).get().is_none())
            .map(String::as_str)
            .collect();
        let key = self.key;
        let mut reads = stream::iter(todo.chunks(PER_REQUEST))
            .map(|chunk| async move {
                let found = match key {
                    UserKey::Id => client.users_by_id(chunk).await,
                    _ => client.search_users("username", chunk).await,
                };
                (chunk, found)
            })
            .buffer_unordered(concurrency.max(1));
        while let Some((chunk, found)) = reads.next().await {
            let found = match found {
                Ok(found) => found,
                Err(e) => {
                    if !e.is_denied() {
                        tracing::warn!("{e}; looking these users up through SCIM instead");
                    }
                    continue;
                }
            };
            let found: HashMap<String, PlatformUser> = match key {
                UserKey::Id => found
                    .into_iter()
                    .map(|u| (u.user.id.0.clone(), u))
                    .collect(),
                _ => by_username(found).into_iter().collect(),
            };
            for k in chunk {
                let lookup = match key {
                    UserKey::Id => (*k).to_owned(),
                    _ => k.to_lowercase(),
                };
                let entry = found
                    .get(&lookup)
                    .filter(|u| u.state != UserState::Deleted)
                    .map(|u| Entry {
                        user: u.user.clone(),
                        known: false,
                    });
                // Another resolution may have filled it meanwhile: either answer is as good.
                let _ = self.slot(k).set(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_known_only_when_keys_are_ids() {
        let members: Vec<UserId> = (0..1000).map(|i| UserId(format!("u{i:04}"))).collect();
        let ids = Directory::new(UserKey::Id);
        ids.known(&members);
        assert!(members.iter().all(|m| ids.is_known(m.as_str())));
        assert!(!ids.is_known("u1000") && !ids.is_known(""));
        let names = Directory::new(UserKey::UserName);
        names.known(&members);
        assert!(!names.is_known("u0001"), "a userName is not a member id");
    }
}
