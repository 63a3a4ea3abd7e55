//! What every IdP reader answers and how it fails: the vocabulary the readers share, apart
//! from the [`super::Source`] that dispatches among them.

use crate::model::{Answer, Cursor};

/// The most users one IdP answer may hold for one group. Genesys recommends at most 1,000
/// individually added members per group; an answer a hundred times larger is a broken or
/// misdirected IdP, and planning it would cost a lookup per user.
pub const MAX_USERS_PER_ANSWER: usize = 100_000;

/// One group's read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRead {
    /// What the IdP said.
    pub answer: Answer,
    /// The cursor to store once this read's changes are applied.
    pub cursor_to: Option<Cursor>,
}

/// A failed IdP read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The IdP's token variable is not set.
    #[error(
        "the IdP token variable {name} (source.token_env) is not set; export it before running scimsync"
    )]
    MissingToken {
        /// The variable.
        name: String,
    },
    /// An error status.
    #[error(
        "IdP group {group:?}: {url} answered HTTP {status}{detail}; no change is planned for this group"
    )]
    Status {
        /// The IdP group.
        group: String,
        /// The URL, without query.
        url: String,
        /// The status.
        status: u16,
        /// `: <detail>` or nothing.
        detail: String,
    },
    /// 410: the cursor is too old.
    #[error(
        "IdP group {group:?}: the IdP cursor {cursor} has expired (HTTP 410); drop the group's cursor with `scimsync state reset --group {group}` (or delete its entry in the state file): the next plan reads the whole membership as additions"
    )]
    CursorExpired {
        /// The IdP group.
        group: String,
        /// The expired cursor.
        cursor: String,
    },
    /// Not the JSON expected.
    #[error(
        "IdP group {group:?}: the answer from {url} is not the JSON expected ({detail}); no change is planned from it"
    )]
    Unreadable {
        /// The IdP group.
        group: String,
        /// The URL, without query.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// Could not be reached, every time.
    #[error(
        "IdP group {group:?}: {detail} (gave up after {attempts} attempts); check that the IdP is reachable"
    )]
    Unreachable {
        /// The IdP group.
        group: String,
        /// The last failure.
        detail: String,
        /// Attempts made.
        attempts: usize,
    },
    /// Rate limited, every time.
    #[error(
        "IdP group {group:?}: the IdP rate-limited every attempt (HTTP 429) {reason}; run again later"
    )]
    RateLimited {
        /// The IdP group.
        group: String,
        /// Why scimsync stopped waiting.
        reason: crate::http::retry::RateLimitReason,
    },
    /// An answer too large to be a group's membership.
    #[error(
        "IdP group {group:?}: the answer lists {count} users, over scimsync's limit of {MAX_USERS_PER_ANSWER} per group; check that source.base_url and the group name point at the right IdP group"
    )]
    TooLarge {
        /// The IdP group.
        group: String,
        /// How many users it listed.
        count: usize,
    },
    /// One answer (page) larger than `fetch::MAX_ANSWER_BYTES`.
    #[error(
        "IdP group {group:?}: the answer from {url} is larger than scimsync's limit of {} MiB for one page and was not read further; check that source.base_url points at the IdP's API and not at a file or another service",
        cap / (1024 * 1024)
    )]
    AnswerTooLarge {
        /// The IdP group.
        group: String,
        /// The URL, without query.
        url: String,
        /// The cap, in bytes.
        cap: u64,
    },
    /// The group's read did not finish within the deadline.
    #[error(
        "IdP group {group:?}: the IdP did not finish answering within {secs} s (source.read_deadline_secs); no change is planned for this group: check the IdP's status, or raise read_deadline_secs for a very large group"
    )]
    Deadline {
        /// The IdP group.
        group: String,
        /// The deadline, in seconds.
        secs: f64,
    },
    /// The same user both added and removed.
    #[error(
        "IdP group {group:?}: user {user:?} is listed both as added and as removed; the IdP answer is contradictory and no change is planned from it"
    )]
    Contradiction {
        /// The IdP group.
        group: String,
        /// The user.
        user: String,
    },
    /// The file source's file is unusable.
    #[error("source file {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// The file source has no entry for this group.
    #[error(
        "source file {path} has no [groups.{group}]: add it (members = [...]) or remove the [[group]] from the config"
    )]
    FileGroupMissing {
        /// The file.
        path: String,
        /// The group.
        group: String,
    },
    /// The HTTP client could not be built.
    #[error("could not set up the HTTP client: {0}")]
    Client(String),
}

/// What the IdP says of one of its users, for finding it in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpUser {
    /// The value to look up in the target's `user_key` attribute (for Graph, the
    /// `userPrincipalName` of an object id; for the other sources, the key itself).
    pub target_key: String,
    /// A human label for plans, when the IdP gives one.
    pub label: Option<String>,
    /// False for a disabled or suspended account: not desired, whatever its groups say.
    pub enabled: bool,
}
