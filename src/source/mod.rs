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
mod read;

use crate::model::IdpKey;

pub use self::read::{IdpUser, MAX_USERS_PER_ANSWER, SourceError, SourceRead};
use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Cursor, Mode, SourceKind};
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
