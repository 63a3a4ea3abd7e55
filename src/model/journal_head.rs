//! Where the journal stands, as the state last saw it: the one piece of the journal that the
//! state keeps, so that a journal edited, cut short or pruned by hand is caught (the chain
//! itself is in `crate::journal`).

use serde::{Deserialize, Serialize};

use super::Sha256Hex;

/// The journal's ends as of the state's last write.
///
/// `first_*` say where the kept journal starts: record 1 after the all-zero hash, or, once
/// records were pruned, the first record kept and the hash of the last one pruned.
/// `last_*` name the newest record the state knows of, by its sequence number and the sha256
/// of its line. A journal may hold records after it (written by a run that stopped before
/// its next state write); it may never hold fewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalHead {
    /// Sequence number of the first record kept.
    pub first_seq: u64,
    /// The `prev` of that record: the hash of the record before it (zeros for record 1).
    pub first_prev: Sha256Hex,
    /// Sequence number of the newest record the state knows of.
    pub last_seq: u64,
    /// sha256 of that record's line.
    pub last_sha256: Sha256Hex,
}

/// A point of the journal's chain: a record's sequence number and the sha256 of its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLink {
    /// The record's `seq` (0: before the first record).
    pub seq: u64,
    /// sha256 of its line (the all-zero hash before the first record).
    pub sha256: Sha256Hex,
}

impl JournalLink {
    /// Before any record: sequence 0 and the all-zero hash (the `prev` of record 1).
    pub fn start() -> Self {
        Self {
            seq: 0,
            sha256: Sha256Hex::from("0".repeat(64)),
        }
    }

    /// The link of `line`, a record's JSON line without its newline, if it has a `seq`.
    pub fn of_line(line: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Seq {
            seq: u64,
        }
        let Seq { seq } = serde_json::from_str(line).ok()?;
        Some(Self {
            seq,
            sha256: super::sha256_hex(line.as_bytes()),
        })
    }

    /// The `prev` of `line`: the hash of the record before it.
    pub fn prev_of_line(line: &str) -> Option<Sha256Hex> {
        #[derive(Deserialize)]
        struct Prev {
            prev: Sha256Hex,
        }
        serde_json::from_str::<Prev>(line).ok().map(|p| p.prev)
    }
}
