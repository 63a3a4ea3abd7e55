//! Identity-provider readers, a closed enum ([`Source`]) dispatched by `match`: each answers, for one IdP group, either the
//! changes since a cursor (a delta) or the whole membership (a full state).
//!
//! A source never turns a failure into an empty answer: an error status, unreadable JSON,
//! missing keys or an expired cursor fail that group's read with a [`SourceError`], and the
//! plan fails with it (rule 2: fail closed).
//!
//! - [`delta_http`]: the generic delta endpoint (`GET {base}/delta/groups/members`)
//! - [`file`](mod@file): a declarative TOML file of desired members
//! - [`graph`]: Microsoft Graph group deltas (Entra ID)
//! - [`okta`]: Okta group listings
//! - [`fetch`]: the GET with retries they share

pub mod delta_http;
pub mod fetch;
pub mod file;
pub mod graph;
pub mod okta;

use crate::model::{Answer, IdpKey};
use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Cursor, Mode, SourceKind};

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
    /// One answer (page) larger than [`fetch::MAX_ANSWER_BYTES`].
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

/// The identity providers scimsync reads: a closed set, dispatched with a `match`.
#[derive(Debug)]
pub enum Reader {
    /// The generic delta endpoint.
    DeltaHttp(delta_http::DeltaHttp),
    /// A declarative file.
    File(file::FileSource),
    /// Microsoft Graph (boxed: its token cache makes it several times larger than the rest,
    /// and there is one reader per run).
    Graph(Box<graph::Graph>),
    /// Okta.
    Okta(okta::Okta),
}

/// An identity provider: its reader, and the deadline each group's read must meet (a hung IdP
/// fails the plan in bounded time, not after every retry of every page).
#[derive(Debug)]
pub struct Source {
    reader: Reader,
    deadline: Option<std::time::Duration>,
}

impl Source {
    /// A source reading with `reader`, each group's read bounded by `deadline`.
    pub fn new(reader: Reader, deadline: Option<std::time::Duration>) -> Self {
        Self { reader, deadline }
    }

    /// Which identity provider it reads.
    pub fn kind(&self) -> SourceKind {
        match self.reader {
            Reader::DeltaHttp(_) => SourceKind::DeltaHttp,
            Reader::File(_) => SourceKind::File,
            Reader::Graph(_) => SourceKind::Graph,
            Reader::Okta(_) => SourceKind::Okta,
        }
    }

    /// Read group `group`: from a delta source (the generic endpoint, Graph) in
    /// `Mode::Delta`, the changes since `since` (everything, as additions, when `None`);
    /// otherwise the whole membership (Okta and a file always list it). A read without a
    /// cursor in its answer (`cursor_to: None`) is a whole listing, whatever its shape.
    pub async fn read(
        &self,
        group: &str,
        since: Option<&Cursor>,
        mode: Mode,
    ) -> Result<SourceRead, SourceError> {
        let read = async {
            match &self.reader {
                Reader::DeltaHttp(s) => s.read(group, since, mode).await,
                Reader::File(s) => s.read(group),
                Reader::Graph(s) => s.read(group, since, mode).await,
                Reader::Okta(s) => s.read(group).await,
            }
        };
        match self.deadline {
            Some(deadline) => fetch::with_deadline(deadline, group, read).await,
            None => read.await,
        }
    }

    /// Describe `keys` (IdP keys from this source's answers) for matching in the target.
    /// A key absent from the result is not a user (a group, a device, a service principal)
    /// and is not desired. Graph turns object ids into userPrincipalNames. `None`: this
    /// source says nothing more of its keys (every source but Graph): each is an enabled
    /// user, its own target key, with no label — and a million keys cost no copy.
    pub async fn describe_users(
        &self,
        keys: &BTreeSet<IdpKey>,
    ) -> Result<Option<BTreeMap<IdpKey, IdpUser>>, SourceError> {
        match (&self.reader, self.deadline) {
            (Reader::Graph(g), Some(deadline)) => {
                fetch::with_deadline(deadline, "(user lookup)", g.describe_users(keys))
                    .await
                    .map(Some)
            }
            (Reader::Graph(g), None) => g.describe_users(keys).await.map(Some),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint;
    use crate::http::retry::RetryPolicy;

    #[test]
    fn debug_output_of_sources_never_shows_a_secret() {
        let base = Endpoint::parse("https://idp.example.com", "t").unwrap();
        let retry = RetryPolicy::default();
        let delta =
            delta_http::DeltaHttp::new(base.clone(), "s3cr3t-delta".into(), retry.clone()).unwrap();
        let okta = okta::Okta::new(
            base.clone(),
            "s3cr3t-okta".into(),
            crate::model::OktaUserAttribute::Email,
            retry.clone(),
        )
        .unwrap();
        let auth = graph::GraphAuth {
            login_base: base.clone(),
            tenant: "t".into(),
            client_id: "c".into(),
            client_secret: "s3cr3t-graph".into(),
        };
        let graph = graph::Graph::new(base, auth, crate::model::UserKey::UserName, retry).unwrap();
        for debug in [
            format!("{delta:?}"),
            format!("{okta:?}"),
            format!("{graph:?}"),
        ] {
            assert!(!debug.contains("s3cr3t"), "{debug}");
        }
    }
}
