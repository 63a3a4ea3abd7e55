//! The ledger of one apply: the state as it moves forward, group by group.
//!
//! Shared by apply's concurrent group tasks. A group's cursor, mirror and serial change
//! together, in one [`Ledger::note`], only once its changes are applied (rule 3).
//!
//! Writes are a **group commit**: [`Ledger::commit`] writes everything noted so far only when
//! the last write is [`COMMIT_INTERVAL`] old, so a thousand applied groups cost a few writes a
//! second, not a thousand writes of an ever larger state (quadratic, with the mirror hundreds
//! of MB for a 1,000-group apply); [`Ledger::save`] always writes, and apply calls it before
//! it exits, on every path (done, failed, interrupted). This is safe because a group whose
//! state was not yet written when the run died re-plans to nothing: its live members already
//! hold its changes and the IdP answer since the old cursor says the same again, so the next
//! plan finds nothing to do and the next apply advances the state (tests/resilience.rs kills
//! apply at random moments and checks that no change is lost or repeated).
//!
//! Each write serializes the state once, straight into the file or the object's payload,
//! under the ledger's lock: no clone of the state is made. Writes are serialized and each
//! carries everything noted so far, conditional on the version last read or written
//! (compare-and-swap on object storage).

use crate::model::IdpKey;
use crate::model::Moved;
use crate::model::Sha256Hex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use super::object::Version;
use super::{CachedUser, State, StateError, Store};
use crate::model::{Base, Cursor, ETag, Intent, JournalHead, UserId};

/// What a group's applied plan moves its state to.
#[derive(Debug, Clone, Copy)]
pub struct Advance<'p> {
    /// The group (config name).
    pub group: &'p str,
    /// The IdP cursor after the plan's read.
    pub cursor: Option<&'p Cursor>,
    /// The IdP's membership as of that cursor, as a difference against the group's mirror
    /// (the one the plan was made from: apply refuses a group whose state moved). The new
    /// mirror is [`Intent::advance`] of it.
    pub intent: &'p Intent<IdpKey>,
    /// The group's ETag after the apply, if known.
    pub etag: Option<&'p ETag>,
}

/// How old the last write must be before [`Ledger::commit`] writes again: at most two
/// writes a second, whatever the number of groups applied; and at least ten times as long
/// as the last write took, so that writing a large state never takes more than a tenth of
/// an apply (a 1,000-group state with its mirrors is tens of MB).
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(500);

/// The state of one apply run, and where to save it.
#[derive(Debug)]
pub struct Ledger<'a> {
    state: Mutex<State>,
    /// Something was noted since the last write.
    dirty: AtomicBool,
    /// Writes made.
    writes: AtomicUsize,
    /// When the last write finished (or the ledger was made), and how long it took.
    last_write: Mutex<(Instant, Duration)>,
    /// The groups this run has written, with the serial each had before.
    written: Mutex<BTreeMap<String, u64>>,
    /// Groups another run wrote in between (a lost compare-and-swap race).
    lost: Mutex<BTreeSet<String>>,
    version: tokio::sync::Mutex<Option<Version>>,
    store: &'a Store,
    plan_sha256: &'a Sha256Hex,
    labels: &'a BTreeMap<UserId, String>,
    /// Where `applied_at` and `confirmed_at` come from.
    clock: fn() -> Timestamp,
}

impl<'a> Ledger<'a> {
    /// A ledger over `state` (read from `store` at `version`) for the plan `plan_sha256`.
    pub fn new(
        state: State,
        version: Option<Version>,
        store: &'a Store,
        plan_sha256: &'a Sha256Hex,
        labels: &'a BTreeMap<UserId, String>,
    ) -> Self {
        let mut state = state;
        state.prune_users(crate::model::now_to_the_second());
        // Made now rather than at the first write: the journal's records name it.
        if state.lineage.is_none() {
            state.lineage = Some(crate::model::Lineage::new_random());
        }
        Self {
            state: Mutex::new(state),
            dirty: AtomicBool::new(false),
            writes: AtomicUsize::new(0),
            last_write: Mutex::new((Instant::now(), Duration::ZERO)),
            written: Mutex::new(BTreeMap::new()),
            lost: Mutex::new(BTreeSet::new()),
            version: tokio::sync::Mutex::new(version),
            store,
            plan_sha256,
            labels,
            clock: crate::model::now_to_the_second,
        }
    }

    /// The same ledger, stamping `applied_at` and `confirmed_at` with `clock` (tests pass a
    /// fixed one; the default is now, to the second).
    pub fn with_clock(mut self, clock: fn() -> Timestamp) -> Self {
        self.clock = clock;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `f` of the state as it stands (under the ledger's lock: keep it short). A whole copy
    /// of a state with its mirrors would be tens of MB; take only what is needed.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.lock())
    }

    /// True when this very plan was already applied to `group`.
    pub fn already_applied(&self, group: &str) -> bool {
        self.lock()
            .groups
            .get(group)
            .and_then(|r| r.plan_sha256.as_ref())
            == Some(self.plan_sha256)
    }

    /// Why a plan of `group` made at `base` no longer fits the state, if so.
    pub fn moved(&self, group: &str, base: &Base) -> Option<Moved> {
        self.lock().moved_since(group, base)
    }

    /// Record, in memory, that a group's plan is done: its cursor, mirror and serial move
    /// together; `found` (IdP key → user, found by the plan's lookups) joins the cache.
    pub fn note<'k>(
        &self,
        to: Advance<'_>,
        found: impl IntoIterator<Item = (&'k IdpKey, &'k UserId)>,
    ) {
        let now = (self.clock)();
        let mut state = self.lock();
        for (key, id) in found {
            let label = self
                .labels
                .get(id)
                .cloned()
                .unwrap_or_else(|| key.to_string());
            state.users.insert(
                key.clone(),
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
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(to.group.to_owned())
            .or_insert(record.serial);
        record.serial += 1;
        record.cursor = to.cursor.cloned();
        // In place: a steady-state group's mirror is left as it is, whatever its size.
        to.intent
            .advance(record.idp_members.get_or_insert_with(BTreeSet::new));
        if let Some(etag) = to.etag {
            record.etag = Some(etag.clone());
        }
        record.applied_at = Some(now);
        record.plan_sha256 = Some(self.plan_sha256.clone());
        self.dirty.store(true, Ordering::Release);
    }

    /// The journal's ends after this run's latest append: written with the next state write.
    pub fn journal(&self, head: JournalHead) {
        self.lock().journal = Some(head);
        self.dirty.store(true, Ordering::Release);
    }

    /// Where the journal stood as of the state (as read, or as this run moved it).
    pub fn journal_head(&self) -> Option<JournalHead> {
        self.lock().journal.clone()
    }

    /// The state's lineage and group `group`'s serial, as they stand.
    pub fn serial(&self, group: &str) -> (Option<crate::model::Lineage>, u64) {
        let state = self.lock();
        let serial = state.groups.get(group).map_or(0, |g| g.serial);
        (state.lineage.clone(), serial)
    }

    /// Drop `keys` from the resolution cache (a PATCH naming their users was refused as
    /// invalid: one of them no longer exists or is inactive), so that the next plan looks
    /// them up again instead of trusting the cache. Saved at once.
    pub async fn forget<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k IdpKey>,
    ) -> Result<(), StateError> {
        {
            let mut state = self.lock();
            for key in keys {
                state.users.remove(key);
            }
        }
        self.dirty.store(true, Ordering::Release);
        self.save().await
    }

    /// Group commit: write everything noted so far if the last write is [`COMMIT_INTERVAL`]
    /// old or more; otherwise leave it to a later commit or to the final [`Ledger::save`].
    pub async fn commit(&self) -> Result<(), StateError> {
        if !self.due() {
            return Ok(());
        }
        let version = self.version.lock().await;
        // Another task may have written while this one waited for the lock.
        if !self.due() {
            return Ok(());
        }
        self.write(version).await
    }

    fn due(&self) -> bool {
        let (at, took) = *self
            .last_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.dirty.load(Ordering::Acquire) && at.elapsed() >= COMMIT_INTERVAL.max(took * 10)
    }

    /// Write everything noted so far, now, conditional on the version last read or written.
    ///
    /// A lost race (another run wrote the state in between, e.g. after a forced unlock) is
    /// never retried blindly: the state is read again, this run's groups are laid over it
    /// where the other run left them alone, and groups the other run also wrote are dropped
    /// from this write and reported by [`Ledger::lost`]. Then one more conditional write.
    pub async fn save(&self) -> Result<(), StateError> {
        let version = self.version.lock().await;
        self.write(version).await
    }

    async fn write(
        &self,
        mut version: tokio::sync::MutexGuard<'_, Option<Version>>,
    ) -> Result<(), StateError> {
        // Cleared before serializing: a note made during the write marks it dirty again.
        self.dirty.store(false, Ordering::Release);
        self.writes.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        // Serialized under the state's lock, straight into the file or payload: notes wait
        // for the write's serialization, never for its I/O to an object store.
        let saved = self
            .store
            .save_with(|w| self.lock().write_to(w), version.as_ref())
            .await;
        match saved {
            Ok(v) => *version = v,
            Err(StateError::Conflict { .. }) => {
                let fresh = self.store.load().await?;
                let mut merged = fresh.state;
                let written = self
                    .written
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                let already = self.lost();
                let mut newly_lost = Vec::new();
                {
                    let ours = self.lock();
                    for (group, before) in &written {
                        let theirs = merged.groups.get(group).map_or(0, |g| g.serial);
                        match ours.groups.get(group) {
                            Some(record) if theirs == *before && !already.contains(group) => {
                                merged.groups.insert(group.clone(), record.clone());
                            }
                            _ => newly_lost.push(group.clone()),
                        }
                    }
                    for (key, user) in &ours.users {
                        merged
                            .users
                            .entry(key.clone())
                            .or_insert_with(|| user.clone());
                    }
                    // Both runs appended to one journal: the head further along holds both.
                    if ours.journal.as_ref().map(|h| h.last_seq)
                        > merged.journal.as_ref().map(|h| h.last_seq)
                    {
                        merged.journal.clone_from(&ours.journal);
                    }
                }
                self.lost
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(newly_lost);
                *version = self.store.save(&mut merged, fresh.version.as_ref()).await?;
                // Notes made since the merge was built are laid over it too (and are dirty:
                // the next write carries them).
                let lost = self.lost();
                let mut ours = self.lock();
                for group in self
                    .written
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .keys()
                    .filter(|g| !lost.contains(*g))
                {
                    if let Some(record) = ours.groups.get(group) {
                        merged.groups.insert(group.clone(), record.clone());
                    }
                }
                for (key, user) in &ours.users {
                    merged
                        .users
                        .entry(key.clone())
                        .or_insert_with(|| user.clone());
                }
                *ours = merged;
            }
            Err(e) => {
                self.dirty.store(true, Ordering::Release);
                return Err(e);
            }
        }
        *self
            .last_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            (Instant::now(), started.elapsed());
        Ok(())
    }

    /// How many writes this ledger has made (or tried).
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::Relaxed)
    }

    /// Groups whose state another run wrote while this one was applying: this run's record
    /// of them was not saved, and they are to be re-planned.
    pub fn lost(&self) -> BTreeSet<String> {
        self.lost
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thousand groups applied in a burst: group commit writes none of them until the
    /// interval has passed, and the final save writes them all, once.
    #[tokio::test]
    async fn group_commit_batches_writes_and_the_final_save_writes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::File(dir.path().join("s.json"));
        let labels = BTreeMap::new();
        let sha = Sha256Hex::from("plan-sha");
        let ledger = Ledger::new(State::default(), None, &store, &sha, &labels)
            .with_clock(|| "2026-11-29T03:00:00Z".parse().unwrap());
        let intent = Intent::new(&[IdpKey::from("alice")].into(), None);
        for g in 0..1000 {
            let name = format!("group-{g:04}");
            ledger.note(
                Advance {
                    group: &name,
                    cursor: None,
                    intent: &intent,
                    etag: None,
                },
                [],
            );
            ledger.commit().await.unwrap();
        }
        // Only a stall of COMMIT_INTERVAL in this loop could have let one write through.
        assert!(ledger.writes() <= 1, "{} writes", ledger.writes());
        ledger.save().await.unwrap();
        let saved = State::load_file(&dir.path().join("s.json")).unwrap();
        assert_eq!(saved.groups.len(), 1000);
        assert!(saved.groups.values().all(|g| g.serial == 1));
        let at: Timestamp = "2026-11-29T03:00:00Z".parse().unwrap();
        assert!(saved.groups.values().all(|g| g.applied_at == Some(at)));
        let alice = BTreeSet::from([IdpKey::from("alice")]);
        assert!(
            saved
                .groups
                .values()
                .all(|g| g.idp_members.as_ref() == Some(&alice))
        );
        assert!(saved.lineage.is_some());
        // Nothing new: a commit writes nothing, whenever it comes.
        let before = ledger.writes();
        ledger.commit().await.unwrap();
        assert_eq!(ledger.writes(), before);
    }
}
