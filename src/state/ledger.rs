//! The ledger of one apply: the state as it moves forward, group by group.
//!
//! Shared by apply's concurrent group tasks. A group's cursor, mirror and serial change
//! together, in one [`Ledger::note`], only once its changes are applied (rule 3). Applied
//! groups are saved at once; groups that needed nothing are saved once at the end (a thousand
//! unchanged groups are one write, not a thousand; if the run dies first, their next plan
//! simply finds nothing to do again). Writes are serialized and each carries everything
//! noted so far, conditional on the version last read or written (compare-and-swap on
//! object storage).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use jiff::Timestamp;

use super::{CachedUser, State, StateError, Store, Version};
use crate::model::{Base, Cursor, ETag, UserId};

/// What a group's applied plan moves its state to.
#[derive(Debug, Clone, Copy)]
pub struct Advance<'p> {
    /// The group (config name).
    pub group: &'p str,
    /// The IdP cursor after the plan's read.
    pub cursor: Option<&'p Cursor>,
    /// The IdP's membership as of that cursor: the new mirror.
    pub mirror: &'p BTreeSet<String>,
    /// The group's ETag after the apply, if known.
    pub etag: Option<&'p ETag>,
}

/// The state of one apply run, and where to save it.
#[derive(Debug)]
pub struct Ledger<'a> {
    state: Mutex<State>,
    /// The groups this run has written, with the serial each had before.
    written: Mutex<BTreeMap<String, u64>>,
    /// Groups another run wrote in between (a lost compare-and-swap race).
    lost: Mutex<BTreeSet<String>>,
    version: tokio::sync::Mutex<Option<Version>>,
    store: &'a Store,
    plan_sha256: &'a str,
    labels: &'a BTreeMap<UserId, String>,
}

impl<'a> Ledger<'a> {
    /// A ledger over `state` (read from `store` at `version`) for the plan `plan_sha256`.
    pub fn new(
        state: State,
        version: Option<Version>,
        store: &'a Store,
        plan_sha256: &'a str,
        labels: &'a BTreeMap<UserId, String>,
    ) -> Self {
        Self {
            state: Mutex::new(state),
            written: Mutex::new(BTreeMap::new()),
            lost: Mutex::new(BTreeSet::new()),
            version: tokio::sync::Mutex::new(version),
            store,
            plan_sha256,
            labels,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the state as it stands.
    pub fn snapshot(&self) -> State {
        self.lock().clone()
    }

    /// True when this very plan was already applied to `group`.
    pub fn already_applied(&self, group: &str) -> bool {
        self.lock()
            .groups
            .get(group)
            .and_then(|r| r.plan_sha256.as_deref())
            == Some(self.plan_sha256)
    }

    /// Why a plan of `group` made at `base` no longer fits the state, if so.
    pub fn moved(&self, group: &str, base: &Base) -> Option<String> {
        self.lock().moved_since(group, base)
    }

    /// Record, in memory, that a group's plan is done: its cursor, mirror and serial move
    /// together; `found` (IdP key → user, found by the plan's lookups) joins the cache.
    pub fn note<'k>(
        &self,
        to: Advance<'_>,
        found: impl IntoIterator<Item = (&'k str, &'k UserId)>,
    ) {
        let now = Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| Timestamp::now());
        let mut state = self.lock();
        for (key, id) in found {
            let label = self
                .labels
                .get(id)
                .cloned()
                .unwrap_or_else(|| key.to_owned());
            state.users.insert(
                key.to_owned(),
                CachedUser {
                    id: id.clone(),
                    label,
                    confirmed_at: now,
                },
            );
        }
        let record = state.groups.entry(to.group.to_owned()).or_default();
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(to.group.to_owned())
            .or_insert(record.serial);
        record.serial += 1;
        record.cursor = to.cursor.cloned();
        record.idp_members = Some(to.mirror.clone());
        if let Some(etag) = to.etag {
            record.etag = Some(etag.clone());
        }
        record.applied_at = Some(now);
        record.plan_sha256 = Some(self.plan_sha256.to_owned());
    }

    /// Drop `keys` from the resolution cache (a PATCH naming their users was refused as
    /// invalid: one of them no longer exists or is inactive), so that the next plan looks
    /// them up again instead of trusting the cache. Saved at once.
    pub async fn forget<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<(), StateError> {
        {
            let mut state = self.lock();
            for key in keys {
                state.users.remove(key);
            }
        }
        self.save().await
    }

    /// Write everything noted so far, conditional on the version last read or written.
    ///
    /// A lost race (another run wrote the state in between, e.g. after a forced unlock) is
    /// never retried blindly: the state is read again, this run's groups are laid over it
    /// where the other run left them alone, and groups the other run also wrote are dropped
    /// from this write and reported by [`Ledger::lost`]. Then one more conditional write.
    pub async fn save(&self) -> Result<(), StateError> {
        let mut version = self.version.lock().await;
        let mut state = self.snapshot();
        match self.store.save(&mut state, version.as_ref()).await {
            Ok(v) => *version = v,
            Err(StateError::Conflict { .. }) => {
                let fresh = self.store.load().await?;
                let mut merged = fresh.state;
                let written = self
                    .written
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let already = self.lost();
                let mut newly_lost = Vec::new();
                for (group, before) in &written {
                    let theirs = merged.groups.get(group).map_or(0, |g| g.serial);
                    match state.groups.get(group) {
                        Some(ours) if theirs == *before && !already.contains(group) => {
                            merged.groups.insert(group.clone(), ours.clone());
                        }
                        _ => newly_lost.push(group.clone()),
                    }
                }
                self.lost
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(newly_lost);
                for (key, user) in &state.users {
                    merged
                        .users
                        .entry(key.clone())
                        .or_insert_with(|| user.clone());
                }
                *version = self.store.save(&mut merged, fresh.version.as_ref()).await?;
                state = merged;
                *self.lock() = state.clone();
            }
            Err(e) => return Err(e),
        }
        // The first write makes the lineage: keep it, so later writes carry the same one.
        let mut current = self.lock();
        if current.lineage.is_none() {
            current.lineage = state.lineage;
        }
        Ok(())
    }

    /// Groups whose state another run wrote while this one was applying: this run's record
    /// of them was not saved, and they are to be re-planned.
    pub fn lost(&self) -> BTreeSet<String> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
