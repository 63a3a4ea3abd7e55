//! Everything the emulator holds ([`State`], behind one lock) and the [`Emulator`] that owns
//! it: built from a seed, locked by the handlers, told of each request by the middleware.
//! What tests do with it is in `control`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::authz::Authz;
use super::faults::{Faults, Record, Route};
use super::idp::Idp;
use super::options::Options;
use super::org::{Org, User};
use super::seed::{Seed, SeedError};

/// The emulator as the handlers hold it.
pub(super) type Emu = Arc<Emulator>;

/// Everything the emulator holds, behind one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) options: Options,
    pub(crate) org: Org,
    pub(crate) authz: Authz,
    pub(crate) idp: Idp,
    pub(crate) idp_token: Option<String>,
    pub(crate) clients: BTreeMap<String, String>,
    pub(crate) tokens: HashMap<String, Instant>,
    /// Tokens expired by a test, remembered for [`Emulator::issued_tokens`].
    pub(crate) expired: Vec<String>,
    pub(crate) faults: Faults,
    /// The IdP (Graph or Okta) answers 429 until then ([`Emulator::idp_throttle`]).
    pub(crate) idp_throttled_until: Option<jiff::Timestamp>,
    /// Scopes asked for in Graph token requests, in order.
    pub(crate) graph_scopes: Vec<String>,
}

impl State {
    pub(crate) fn etag(&self, version: u64) -> String {
        if self.options.weak_etags {
            format!("W/\"{version}\"")
        } else {
            format!("\"{version}\"")
        }
    }
}

/// The emulator: shared by its server and the tests that drive it.
#[derive(Debug)]
pub struct Emulator {
    state: Mutex<State>,
    /// The journal's length, published after each request is recorded.
    pub(super) seen: tokio::sync::watch::Sender<usize>,
    pub(super) busy_nanos: std::sync::atomic::AtomicU64,
    /// Bytes of huge IdP bodies actually produced ([`Options::idp_huge_body`]).
    pub(crate) idp_bytes_sent: std::sync::atomic::AtomicU64,
}

impl Emulator {
    /// An emulator holding `seed`.
    pub fn from_seed(seed: &Seed, path: &str) -> Result<Arc<Self>, SeedError> {
        let options = seed.options(path)?;
        let mut org = Org::default();
        for u in &seed.users {
            org.add_user(User {
                id: u.id.clone(),
                user_name: u.user_name.clone(),
                external_id: u.external_id.clone(),
                active: u.active.unwrap_or(true),
            });
        }
        for g in &seed.groups {
            org.add_group(&g.id, &g.display_name, g.members.iter().cloned());
        }
        let authz = seed.authz(path)?;
        let mut idp = Idp::default();
        for (name, members) in &seed.idp.groups {
            idp.set_members(name, members.iter().cloned());
        }
        Ok(Arc::new(Self {
            state: Mutex::new(State {
                options,
                org,
                authz,
                idp,
                idp_token: seed.idp.token.clone(),
                clients: seed
                    .clients
                    .iter()
                    .map(|c| (c.id.clone(), c.secret.clone()))
                    .collect(),
                tokens: HashMap::new(),
                expired: Vec::new(),
                faults: Faults::default(),
                idp_throttled_until: None,
                graph_scopes: Vec::new(),
            }),
            idp_bytes_sent: std::sync::atomic::AtomicU64::new(0),
            seen: tokio::sync::watch::channel(0).0,
            busy_nanos: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// An empty emulator with default options.
    ///
    /// # Panics
    ///
    /// Never: the empty seed is valid.
    pub fn empty() -> Arc<Self> {
        Self::from_seed(&Seed::default(), "(none)").expect("the empty seed is valid")
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug in a test; the data is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Record a request in the journal and wake whoever waits on it.
    pub(crate) fn record(&self, record: Record) {
        let len = {
            let mut state = self.lock();
            state.faults.journal.push(record);
            state.faults.journal.len()
        };
        self.seen.send_replace(len);
    }

    /// Count a request's arrival and wake whoever waits on it.
    pub(crate) fn arrive(&self, route: Route) {
        *self.lock().faults.arrived.entry(route).or_default() += 1;
        self.seen.send_modify(|_| {});
    }

    pub(crate) fn add_busy(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.busy_nanos
            .fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
    }
}
