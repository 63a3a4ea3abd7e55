//! Users looked up in the target, once each per run: IdP keys → Genesys users (id, label,
//! whether active).
//!
//! When IdP keys are Genesys ids, users seen as members of a group read in the same run are
//! known to exist and cost no lookup, so people moving between groups cost nothing. Lookups
//! run concurrently, bounded by the client's concurrency; concurrent resolutions of the same
//! key share one lookup.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt, stream};
use tokio::sync::OnceCell;

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
    cache: Mutex<HashMap<String, Slot>>,
}

impl Directory {
    /// A directory resolving IdP keys of kind `key`.
    pub fn new(key: UserKey) -> Self {
        Self {
            key,
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
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for m in members {
            let entry = Entry {
                user: TargetUser {
                    id: m.clone(),
                    label: m.0.clone(),
                    active: true,
                },
                known: true,
            };
            cache.insert(m.0.clone(), Arc::new(OnceCell::new_with(Some(Some(entry)))));
        }
    }

    /// True when `key` is a user known to exist without a lookup (a member of a group read
    /// so far in this run).
    pub fn is_known(&self, key: &str) -> bool {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .and_then(|slot| slot.get())
            .is_some_and(|entry| entry.as_ref().is_some_and(|e| e.known))
    }

    fn slot(&self, key: &str) -> Slot {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.entry(key.to_owned()).or_default().clone()
    }

    /// Resolve `keys` (values of the target's `key` attribute): each to its user, or `None`
    /// when no user has it. Keys not cached are looked up, `concurrency` at a time.
    pub async fn resolve(
        &self,
        client: &ScimClient,
        keys: &BTreeSet<String>,
        concurrency: usize,
    ) -> Result<BTreeMap<String, Option<Entry>>, ScimError> {
        stream::iter(keys.iter().cloned())
            .map(|k| async move {
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
}
