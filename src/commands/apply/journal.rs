//! apply's journal: the records [`crate::journal::entry`] builds, written through the
//! state's [`JournalStore`], the journal's head handed to the ledger so that the next state
//! write records it.
//!
//! Order, and why nothing is lost or doubled (docs/journal.md, "Crashes"):
//! 1. before anything else, a run that a killed apply left unfinished is settled: each of
//!    its groups without an outcome is read live, and the intended changes it shows made
//!    are journaled once, as `settled`;
//! 2. `run_started`, with every change this run is about to send, is written before the
//!    first PATCH: if it cannot be written, nothing is applied;
//! 3. each group's change records are buffered as its PATCHes land, and its outcome once it
//!    is settled; buffers are written every [`COMMIT_INTERVAL`] or [`FLUSH_RECORDS`]
//!    records, and before every exit, like the state's group commit;
//! 4. retention pruning, then `run_ended`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use tokio::time::Instant;

use crate::journal::chain::{self, seal};
use crate::journal::entry::{self, Naming};
use crate::journal::{Actor, Approval, Event, Record, RunRef, RunStarted, StateRef};
use crate::model::{IdpKey, JournalHead, JournalLink, UserId, now_to_the_second};
use crate::plan::Plan;
use crate::scim::ScimClient;
use crate::state::StateError;
use crate::state::journal_store::JournalStore;
use crate::state::ledger::{COMMIT_INTERVAL, Ledger};

/// Buffered records are written at most every [`COMMIT_INTERVAL`] (the state's group
/// commit's), unless this many wait: what a burst of large groups buffers stays bounded.
pub const FLUSH_RECORDS: usize = 5_000;

/// The journal of one apply run.
pub(super) struct RunJournal<'a> {
    store: JournalStore,
    ledger: &'a Ledger<'a>,
    /// This run's id.
    run_id: String,
    /// The `seq` of this run's `run_started` record, once written (0 before).
    started_seq: AtomicU64,
    /// The plan and approval every record of this run carries.
    pub(super) approval: Approval,
    labels: &'a BTreeMap<UserId, String>,
    keys: BTreeMap<UserId, IdpKey>,
    ids_are_keys: bool,
    pending: Mutex<Vec<(Timestamp, Event)>>,
    last_flush: Mutex<Instant>,
    writing: tokio::sync::Mutex<()>,
}

impl<'a> RunJournal<'a> {
    /// The journal beside the state `ledger` writes, for `plan` applied by `actor`.
    pub(super) fn new(
        store: JournalStore,
        ledger: &'a Ledger<'a>,
        plan: &'a Plan,
        actor: Actor,
        ids_are_keys: bool,
    ) -> Self {
        let keys = ledger.read(|state| {
            entry::keys_of(plan, state.users.iter().map(|(key, user)| (key, &user.id)))
        });
        Self {
            store,
            ledger,
            run_id: crate::model::hex(&rand::random::<[u8; 16]>()),
            started_seq: AtomicU64::new(0),
            approval: Approval {
                plan_sha256: plan.sha256.clone(),
                replaces_plan_sha256: plan.replaces.clone(),
                actor,
            },
            labels: &plan.labels,
            keys,
            ids_are_keys,
            pending: Mutex::new(Vec::new()),
            last_flush: Mutex::new(Instant::now()),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// The ledger whose state names this journal's head.
    pub(super) fn ledger(&self) -> &'a Ledger<'a> {
        self.ledger
    }

    /// This run's id.
    pub(super) fn run_id(&self) -> &str {
        &self.run_id
    }

    /// How users are named in this run's records.
    pub(super) fn naming(&self) -> Naming<'_> {
        Naming {
            labels: self.labels,
            keys: &self.keys,
            ids_are_keys: self.ids_are_keys,
        }
    }

    /// The state's lineage and `group`'s serial, as records name them.
    pub(super) fn state_ref(&self, group: &str) -> StateRef {
        let (lineage, serial) = self.ledger.serial(group);
        StateRef { lineage, serial }
    }

    /// The journal's newest record (its line; `None` before the first), refusing a journal
    /// the state knows to be longer (cut short, or replaced by an older copy): appending to
    /// it would fork the chain.
    pub(super) async fn check_tail(&self) -> anyhow::Result<Option<String>> {
        let last = self.store.last().await?;
        let newest = last
            .as_ref()
            .map_or_else(JournalLink::start, |(link, _)| link.clone());
        if let Err(cut) = chain::cut_short(newest.seq, self.ledger.journal_head().as_ref()) {
            anyhow::bail!(
                "journal {} {cut}; nothing was applied: restore it from a backup (`scimsync log verify` checks it)",
                self.store.describe()
            );
        }
        Ok(last.map(|(_, line)| line))
    }

    /// Settle the run a killed apply left unfinished, if any: journal the changes of its
    /// unrecorded groups that Genesys shows made, once, and close that run. Returns how
    /// many changes were settled.
    pub(super) async fn settle_unfinished(
        &self,
        last: Option<&str>,
        client: &ScimClient,
    ) -> anyhow::Result<usize> {
        let Some(last) = last else {
            return Ok(0);
        };
        let last: Record = self.parse(last)?;
        if matches!(last.event, Event::RunEnded { .. }) {
            return Ok(0);
        }
        // The whole journal, only after a run was stopped: what was journaled under the
        // same plan by any run is not journaled again.
        let records = self
            .store
            .lines()
            .await?
            .iter()
            .map(|l| self.parse(l))
            .collect::<anyhow::Result<Vec<Record>>>()?;
        let Some(unfinished) = entry::unfinished(&records) else {
            return Ok(0);
        };
        let mut events = Vec::new();
        let mut settled = 0;
        let now = now_to_the_second();
        for intent in &unfinished.intents {
            let live = match client.get_group(&intent.group.id).await {
                Ok(live) => Some(live.members),
                // Deleted since: nothing of it can be found made, and no apply may be held
                // up by it.
                Err(e) if e.status() == Some(404) => {
                    tracing::warn!(
                        "group {} ({}) of stopped run {} no longer exists in Genesys: nothing of its changes can be found made",
                        intent.group.idp,
                        intent.group.id,
                        unfinished.run
                    );
                    None
                }
                Err(e) => anyhow::bail!(
                    "run {} was stopped before it journaled group {} ({}), and reading the group to settle it failed: {e}; nothing was applied: run apply again once Genesys answers",
                    unfinished.run,
                    intent.group.idp,
                    intent.group.id
                ),
            };
            let made = live.map_or_else(Vec::new, |members| entry::made(intent, &members));
            settled += made.len();
            let state = self.state_ref(&intent.group.idp);
            events.extend(entry::settlement(
                &unfinished,
                intent,
                &made,
                &state,
                now,
                self.run_id(),
            ));
        }
        tracing::warn!(
            "the last apply (run {}) was stopped before it journaled {} group(s): {settled} of their changes were found made in Genesys and are journaled now",
            unfinished.run,
            unfinished.intents.len()
        );
        // Closed under its own id, so that no later run settles it again.
        events.push(Event::RunEnded { exit_code: 1 });
        let run = RunRef {
            id: unfinished.run.clone(),
            started_seq: last.run.started_seq,
        };
        let events: Vec<_> = events.into_iter().map(|e| (now, e)).collect();
        self.append(&run, &events).await?;
        Ok(settled)
    }

    fn parse(&self, line: &str) -> anyhow::Result<Record> {
        serde_json::from_str(line).map_err(|e| {
            anyhow::anyhow!(
                "journal {} holds a line that is not a record ({e}); nothing was applied: check it with `scimsync log verify`",
                self.store.describe()
            )
        })
    }

    /// Write `run_started`, and `intents` records after it, with every change about to be
    /// sent, a chunk of about [`FLUSH_RECORDS`] changes at a time. Nothing may be applied
    /// unless this succeeds.
    pub(super) async fn start(&self, plan: &Plan) -> anyhow::Result<()> {
        let with_changes = plan.groups.iter().filter(|g| !g.changes.is_empty());
        let (groups, changes) =
            with_changes.fold((0, 0), |(g, c), group| (g + 1, c + group.changes.len()));
        let mut chunks = entry::intents(plan, self.naming(), FLUSH_RECORDS);
        self.record(vec![Event::RunStarted(Box::new(RunStarted {
            approval: self.approval.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            groups,
            changes,
            intents: chunks.next().unwrap_or_default(),
        }))]);
        let unwritable = |e: StateError| {
            anyhow::anyhow!(
                "{e}; nothing was applied: the journal must be writable before any change is made"
            )
        };
        self.flush().await.map_err(unwritable)?;
        for intents in chunks {
            self.record(vec![Event::Intents { intents }]);
            self.flush().await.map_err(unwritable)?;
        }
        Ok(())
    }

    /// Buffer `events`, written by the next flush.
    pub(super) fn record(&self, events: Vec<Event>) {
        let now = now_to_the_second();
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(events.into_iter().map(|e| (now, e)));
    }

    /// Write what is buffered if the last write is [`COMMIT_INTERVAL`] old; a failure is
    /// kept for the end of the run (the records stay buffered and the next flush retries).
    pub(super) async fn commit(&self) {
        let waiting = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        let due = waiting >= FLUSH_RECORDS
            || self
                .last_flush
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .elapsed()
                >= COMMIT_INTERVAL;
        if due && let Err(e) = self.flush().await {
            tracing::error!("{e}; the journal is written again before apply exits");
        }
    }

    /// Write everything buffered, now.
    pub(super) async fn flush(&self) -> Result<(), StateError> {
        let _one_at_a_time = self.writing.lock().await;
        let events = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if events.is_empty() {
            return Ok(());
        }
        let run = RunRef {
            id: self.run_id.clone(),
            started_seq: self.run_started_seq(),
        };
        let started_at = events
            .iter()
            .position(|(_, e)| matches!(e, Event::RunStarted(_)));
        match self.append(&run, &events).await {
            Ok(after) => {
                if let Some(i) = started_at {
                    self.started_seq
                        .store(after.seq + 1 + i as u64, Ordering::Relaxed);
                }
                *self
                    .last_flush
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
                Ok(())
            }
            Err(e) => {
                let mut pending = self
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let later = std::mem::replace(&mut *pending, events);
                pending.extend(later);
                Err(e)
            }
        }
    }

    /// Append `events` as records of `run`; the ledger gets the new head. Returns the link
    /// they were chained after.
    async fn append(
        &self,
        run: &RunRef,
        events: &[(Timestamp, Event)],
    ) -> Result<JournalLink, StateError> {
        let mut after = JournalLink::start();
        let last = self
            .store
            .append(|link| {
                after = link.clone();
                seal(events, run, link)
            })
            .await?;
        let (first_seq, first_prev) = match self.ledger.journal_head() {
            Some(h) => (h.first_seq, h.first_prev),
            None if after.seq == 0 => (1, JournalLink::start().sha256),
            // The state knows no head, the journal has records: anchor at its first one.
            None => self.first().await?,
        };
        self.ledger.journal(JournalHead {
            first_seq,
            first_prev,
            last_seq: last.seq,
            last_sha256: last.sha256,
        });
        Ok(after)
    }

    /// The journal's first record: its seq and prev.
    async fn first(&self) -> Result<(u64, crate::model::Sha256Hex), StateError> {
        let lines = self.store.lines().await?;
        Ok(lines
            .first()
            .and_then(|l| JournalLink::of_line(l).zip(JournalLink::prev_of_line(l)))
            .map_or_else(|| (1, JournalLink::start().sha256), |(l, p)| (l.seq, p)))
    }

    /// Prune records older than `days` days (a prefix, never this run's). In this order,
    /// so that a run stopped anywhere leaves a journal that verifies: a `pruned` record says
    /// what goes; the state records the journal's new start (a journal may start before the
    /// state's start, never after it); then the records are removed.
    pub(super) async fn prune(&self, days: u32) -> Result<(), StateError> {
        let cutoff = now_to_the_second() - jiff::SignedDuration::from_hours(24 * i64::from(days));
        let Some(prune) = self.store.prunable(cutoff, self.run_started_seq()).await? else {
            return Ok(());
        };
        self.record(vec![Event::Pruned {
            before: cutoff,
            through_seq: prune.keep - 1,
            records: prune.keep - prune.first,
        }]);
        self.flush().await?;
        if let Some(mut head) = self.ledger.journal_head() {
            head.first_seq = prune.keep;
            head.first_prev = prune.keep_prev;
            self.ledger.journal(head);
            self.ledger.save().await?;
        }
        self.store.prune(prune.keep).await?;
        Ok(())
    }

    fn run_started_seq(&self) -> u64 {
        self.started_seq.load(Ordering::Relaxed)
    }

    /// Write `run_ended` and everything still buffered; an earlier write failure is
    /// reported now.
    pub(super) async fn finish(&self, exit_code: u8) -> Result<(), StateError> {
        self.record(vec![Event::RunEnded { exit_code }]);
        self.flush().await
    }
}
