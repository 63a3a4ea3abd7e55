//! The journal: one record per change `apply` made in Genesys and one per group outcome, with
//! the approval behind it, hash-chained (schema and guarantees in `docs/journal.md`).
//!
//! Pure: the record types ([`Record`], the native schema, JSON Lines), the chain
//! ([`chain`]: sealing new records after the head, checking a journal against the state's
//! [`JournalHead`](crate::model::JournalHead)), who and where an apply ran ([`actor`]), the
//! queries and exports of `scimsync log` ([`query`], [`export`]) and the access review of
//! `scimsync report access` ([`access`]). The store that keeps the lines (a file beside the
//! state, or immutable segments in object storage) is `crate::state::journal_store`; apply
//! writes through it.
//!
//! A record is self-contained, so that an auditor who samples one change needs nothing else:
//! when, which group (IdP name, Genesys id and name), which user (Genesys id, IdP key,
//! label), add or remove and why, the plan it applied (and the plan that plan re-planned),
//! the state's lineage and serial, Genesys's correlation id of the PATCH, and who approved
//! and ran it, from where.

pub mod access;
pub mod actor;
pub mod chain;
pub mod entry;
pub mod export;
pub mod query;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::{GroupId, IdpKey, Lineage, Sha256Hex, UserId};
use crate::plan::ChangeReason;
use crate::plan::report::Outcome;

pub use self::actor::Actor;

/// The native schema's version, `v` in every record.
pub const SCHEMA_VERSION: u32 = 1;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// [`SCHEMA_VERSION`].
    pub v: u32,
    /// 1, 2, 3, … with no gap: a missing number is a removed record.
    pub seq: u64,
    /// sha256 of the previous record's line (64 zeros before record 1).
    pub prev: Sha256Hex,
    /// When it was written (UTC, to the second).
    pub time: Timestamp,
    /// The apply run that wrote it.
    pub run: RunRef,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// Which apply run wrote a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    /// A random id, one per `scimsync apply`.
    pub id: String,
    /// The sequence number of the run's `run_started` record: where to read the run from.
    pub started_seq: u64,
}

/// What a record says happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// An apply began: the plan, who approved it, and the changes it is about to send
    /// (what the next run settles if this one is killed before journaling them), the first
    /// groups' here and the rest in `intents` records after it.
    RunStarted(Box<RunStarted>),
    /// More of the run's intents: a large apply's are written a few thousand changes a
    /// record, so that none is held whole in memory.
    Intents {
        /// Per group, what it is about to send.
        intents: Vec<Intent>,
    },
    /// A change scimsync made in Genesys: one user added to or removed from one group.
    Change(Box<Change>),
    /// How a group of the plan ended.
    Outcome(Box<GroupOutcome>),
    /// The apply ended.
    RunEnded {
        /// Its exit code.
        exit_code: u8,
    },
    /// Records older than the retention were removed; the journal now starts after them.
    Pruned {
        /// Records older than this were removed.
        before: Timestamp,
        /// The last sequence number removed.
        through_seq: u64,
        /// How many records were removed.
        records: u64,
    },
}

/// An apply began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    /// The approval: the plan applied, who approved it, where the run is.
    pub approval: Approval,
    /// scimsync's version.
    pub tool_version: String,
    /// Groups of the plan with changes, in all.
    pub groups: usize,
    /// Changes the plan sends, in all.
    pub changes: usize,
    /// Per group with changes, what it is about to send: the first groups' (the rest are in
    /// the `intents` records that follow).
    pub intents: Vec<Intent>,
}

/// The changes apply is about to send to one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// The group.
    pub group: GroupRef,
    /// Its changes, adds first.
    pub changes: Vec<PlannedChange>,
}

/// One change as planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedChange {
    /// The user.
    pub user: UserRef,
    /// Add or remove.
    pub op: Op,
    /// Why.
    pub reason: ChangeReason,
}

/// What every change and outcome record carries of the approval and the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// sha256 of the plan applied (the one a human approved).
    pub plan_sha256: Sha256Hex,
    /// For a re-plan: the sha256 of the plan it replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces_plan_sha256: Option<Sha256Hex>,
    /// Who approved it and where it ran.
    pub actor: Actor,
}

/// A change made in Genesys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The group.
    pub group: GroupRef,
    /// The user.
    pub user: UserRef,
    /// Add or remove.
    pub op: Op,
    /// Why.
    pub reason: ChangeReason,
    /// The plan and the approval.
    pub approval: Approval,
    /// The group's state record the change belongs to.
    pub state: StateRef,
    /// Genesys's `ININ-Correlation-Id` of the PATCH that made it (absent when its answer was
    /// lost and a re-read showed the change made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Set when the run that made the change was killed before journaling it, and a later
    /// run found it made in Genesys and journaled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<Settled>,
}

/// A change journaled because a read found it made, not because an answer showed it: by a
/// later run, when the run that sent it was stopped first; or by the run itself, when the
/// PATCH's answer and its re-read were both lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    /// The run that sent it.
    pub made_by_run: String,
    /// When a read found it made.
    pub found_at: Timestamp,
    /// The run whose read found it (absent in records of scimsync before this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_by_run: Option<String>,
}

/// How one group of the plan ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupOutcome {
    /// The group.
    pub group: GroupRef,
    /// Applied, converged, stale, superseded, failed; `interrupted` for a group of a killed
    /// run, written by the run that settled it.
    pub outcome: OutcomeKind,
    /// Users added and removed by this run in this group.
    pub added: usize,
    /// See `added`.
    pub removed: usize,
    /// Why it failed or went stale, or what converged means here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The plan and the approval.
    pub approval: Approval,
    /// The group's state record after the outcome.
    pub state: StateRef,
}

/// A group's outcome in the journal: apply's, or `interrupted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Its approved changes were applied.
    Applied,
    /// It needed nothing.
    Converged,
    /// It moved since the plan; its re-plan awaits approval.
    Stale,
    /// Another plan was applied to it since; re-planned from the state.
    Superseded,
    /// It moved, and the rest of its approved changes (a subset) were applied.
    AppliedReplan,
    /// It failed.
    Failed,
    /// The run was killed before it recorded this group; a later run settled what landed.
    Interrupted,
}

impl From<Outcome> for OutcomeKind {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Applied => Self::Applied,
            Outcome::Converged => Self::Converged,
            Outcome::Stale => Self::Stale,
            Outcome::Superseded => Self::Superseded,
            Outcome::AppliedReplan => Self::AppliedReplan,
            Outcome::Failed => Self::Failed,
        }
    }
}

impl OutcomeKind {
    /// The word, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Converged => "converged",
            Self::Stale => "stale",
            Self::Superseded => "superseded",
            Self::AppliedReplan => "applied_replan",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// A group, as the journal names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    /// The config's (IdP) group name.
    pub idp: String,
    /// The Genesys group id.
    pub id: GroupId,
    /// Its display name in Genesys at plan time.
    pub name: String,
}

/// A user, as the journal names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// The Genesys user id.
    pub id: UserId,
    /// The IdP key that resolved to it, where the plan knows it (a member removed in `full`
    /// mode who was never granted by the IdP has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<IdpKey>,
    /// A human label (userName, email or display name).
    pub label: String,
}

/// Add or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// The user was added to the group.
    Add,
    /// The user was removed from it.
    Remove,
}

impl Op {
    /// `add` or `remove`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
        }
    }
}

/// The group's state record a change or outcome belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRef {
    /// The state's lineage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Lineage>,
    /// The group's serial after this apply wrote it (the serial the plan was made at, for
    /// a group it did not write).
    pub serial: u64,
}

impl Record {
    /// The change it records, if it is one.
    pub fn change(&self) -> Option<&Change> {
        match &self.event {
            Event::Change(c) => Some(c),
            _ => None,
        }
    }

    /// The group it is about, if any.
    pub fn group(&self) -> Option<&GroupRef> {
        match &self.event {
            Event::Change(c) => Some(&c.group),
            Event::Outcome(o) => Some(&o.group),
            _ => None,
        }
    }

    /// The kind, as in the JSON (`change`, `outcome`, …).
    pub fn kind(&self) -> &'static str {
        match &self.event {
            Event::RunStarted(_) => "run_started",
            Event::Intents { .. } => "intents",
            Event::Change(_) => "change",
            Event::Outcome(_) => "outcome",
            Event::RunEnded { .. } => "run_ended",
            Event::Pruned { .. } => "pruned",
        }
    }
}
