//! A local Genesys Cloud SCIM server, OAuth token endpoint and IdP delta endpoint, in memory,
//! with fault injection and observation for tests.
//!
//! It behaves as genesys-scim-api.md says the real API does: the ETag is `meta.version`;
//! `If-None-Match` on a current version answers 304; an `If-Match` mismatch answers 400 with
//! scimType `invalidVers` (or 409, or 412: [`StaleStatus`]); a group list needs a `filter`
//! and answers 429 to a `count` over 25; PATCH takes `Operations` (capital O) with `add`,
//! `remove` (value list or `members[value eq "…"]`) and `replace` of members, is atomic,
//! refuses an unknown user with 400 `invalidValue` and too many values with 400 `tooMany`;
//! the version moves only when the membership changes; PATCH answers 200 with the group or
//! 204 with only the ETag ([`PatchResponse`]).
//!
//! The IdP side also speaks Microsoft Graph (`POST /{tenant}/oauth2/v2.0/token`,
//! `GET /v1.0/groups/delta`, paged with `@odata.nextLink`, ending in `@odata.deltaLink`,
//! `syncStateNotFound` for an expired link) and Okta (`GET /api/v1/groups/{id}/users`, paged
//! with `Link: rel="next"`, `SSWS` tokens), over the same IdP groups.
//!
//! The same resources are also served at `/scim/v2/Groups` and `/scim/v2/Users`, as an RFC
//! 7644 server would; with [`Options::etags`] off and [`Options::strict_rfc`] on, it is a
//! strict RFC server without versioning (for `target.kind = "scim"`).
//!
//! Tests hold an `Arc<Emulator>`, [`serve`] it on `127.0.0.1:0` (or [`spawn`] it), script
//! faults ([`Emulator::inject`]), make changes behind scimsync's back
//! ([`Emulator::write_behind`]) and read what it saw ([`Emulator::journal`]).
//!
//! - [`org`]: users, groups, PATCH semantics
//! - [`idp`]: the IdP's memberships and deltas
//! - [`faults`]: scripted faults, rate limit, journal
//! - [`filter`]: SCIM filter and member-path parsing
//! - [`seed`]: the seed file
//! - `routes`: the router and the SCIM and OAuth handlers
//! - `observe`: the middleware (auth, rate limit, faults, journal)
//! - `idp_routes`: the delta, Graph and Okta endpoints

pub mod faults;
pub mod filter;
pub mod idp;
mod idp_routes;
mod observe;
pub mod org;
mod routes;
pub mod seed;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use self::faults::Faults;
pub use self::faults::{Fault, FaultAction, ForeignWrite, RandomFaults, RateLimit, Record, Route};
pub use self::idp::EntraKind;
use self::idp::Idp;
use self::org::{Org, User};
pub use self::seed::{Seed, SeedError};

/// How an `If-Match` mismatch is answered (the sources disagree; all three are seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StaleStatus {
    /// 400 with scimType `invalidVers` (Genesys' parameter docs).
    #[default]
    InvalidVers400,
    /// 409 (Genesys' response table).
    Conflict409,
    /// 412 Precondition Failed (RFC 7232).
    PreconditionFailed412,
}

/// How a successful PATCH is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatchResponse {
    /// 200 with the group (and its ETag header).
    #[default]
    Body,
    /// 204 with only the ETag header.
    NoContent,
    /// 204 with no body and no ETag header, although the group has versions (RFC 7644
    /// §3.5.2 lets a server answer a PATCH with 204 and nothing else).
    NoContentNoEtag,
}

/// The emulator's behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// How an `If-Match` mismatch is answered.
    pub stale_status: StaleStatus,
    /// How a successful PATCH is answered.
    pub patch_response: PatchResponse,
    /// Member values per PATCH, at most (more: 400 `tooMany`).
    pub max_values_per_patch: usize,
    /// Page size of list calls, at most (more: 429).
    pub max_page_size: u64,
    /// `expires_in` of issued tokens.
    pub token_lifetime: Duration,
    /// Send `W/"7"` instead of `"7"`.
    pub weak_etags: bool,
    /// Per-token rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// Send ETags (`ETag` header, `meta.version`) and honour `If-Match`. Off: a plain RFC 7644
    /// server without versioning.
    pub etags: bool,
    /// Strict RFC 7644 (§3.5.2.2): a `remove` of `members` without a filter removes the
    /// attribute and **all** its values, whatever value list it carries (a literal server
    /// empties the group); only `members[value eq "…"]` removes one member.
    pub strict_rfc: bool,
    /// Members per page of the Graph delta and Okta listing endpoints.
    pub idp_page_size: usize,
    /// PATCH bodies over this many bytes answer 413 (Genesys: 512,000).
    pub max_patch_bytes: usize,
    /// `expires_in` of Graph app tokens (Entra issues about an hour).
    pub graph_token_lifetime: Duration,
    /// Answer every IdP read (delta, Graph, Okta) with 200 and a streamed body of this many
    /// bytes that never ends as JSON: a runaway IdP answer.
    pub idp_huge_body: Option<u64>,
    /// Every request (SCIM, OAuth, IdP) is answered this much later, as a real service's
    /// round trip would be: the benchmark's wall-time target is set at 20 ms.
    pub latency: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            stale_status: StaleStatus::default(),
            patch_response: PatchResponse::default(),
            max_values_per_patch: 50,
            max_page_size: 25,
            token_lifetime: Duration::from_secs(86_400),
            weak_etags: false,
            rate_limit: None,
            etags: true,
            strict_rfc: false,
            idp_page_size: 100,
            max_patch_bytes: 512_000,
            graph_token_lifetime: Duration::from_secs(3599),
            idp_huge_body: None,
            latency: Duration::ZERO,
        }
    }
}

/// Everything the emulator holds, behind one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) options: Options,
    pub(crate) org: Org,
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
    seen: tokio::sync::watch::Sender<usize>,
    busy_nanos: std::sync::atomic::AtomicU64,
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
        let mut idp = Idp::default();
        for (name, members) in &seed.idp.groups {
            idp.set_members(name, members.iter().cloned());
        }
        Ok(Arc::new(Self {
            state: Mutex::new(State {
                options,
                org,
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
    pub fn empty() -> Arc<Self> {
        Self::from_seed(&Seed::default(), "(none)").expect("the empty seed is valid")
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug in a test; the data is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Change the emulator's behaviour.
    pub fn configure(&self, f: impl FnOnce(&mut Options)) {
        f(&mut self.lock().options);
    }

    /// Accept this OAuth client.
    pub fn add_client(&self, id: &str, secret: &str) {
        self.lock().clients.insert(id.to_owned(), secret.to_owned());
    }

    /// Add a user.
    pub fn add_user(&self, id: &str, user_name: &str, external_id: Option<&str>) {
        self.lock().org.add_user(User {
            id: id.to_owned(),
            user_name: user_name.to_owned(),
            external_id: external_id.map(str::to_owned),
            active: true,
        });
    }

    /// Add a user with a display name and an active flag (late provisioning and
    /// deactivation are modelled by adding or changing users while the emulator runs).
    pub fn put_user(&self, id: &str, user_name: &str, active: bool) {
        let mut state = self.lock();
        let external_id = state.org.users.get(id).and_then(|u| u.external_id.clone());
        state.org.add_user(User {
            id: id.to_owned(),
            user_name: user_name.to_owned(),
            external_id,
            active,
        });
    }

    /// Make user `id` active or inactive; false when there is no such user.
    pub fn set_user_active(&self, id: &str, active: bool) -> bool {
        match self.lock().org.users.get_mut(id) {
            Some(user) => {
                user.active = active;
                true
            }
            None => false,
        }
    }

    /// Delete user `id` (it stays in groups only as a dangling reference, as after a
    /// deletion in Genesys).
    pub fn remove_user(&self, id: &str) {
        self.lock().org.users.remove(id);
    }

    /// Add a group with these members.
    pub fn add_group(&self, id: &str, display_name: &str, members: &[&str]) {
        self.lock()
            .org
            .add_group(id, display_name, members.iter().map(|m| m.to_string()));
    }

    /// Fail a share of all requests at random, from a seed (`None`: stop).
    pub fn random_faults(&self, random: Option<RandomFaults>) {
        self.lock().faults.set_random(random);
    }

    /// Delete a group (as an admin would in Genesys Cloud: SCIM cannot).
    pub fn remove_group(&self, id: &str) {
        self.lock().org.groups.remove(id);
    }

    /// Script a fault for the next `times` requests of `route`.
    pub fn inject(&self, route: Route, times: u32, action: FaultAction) {
        self.lock().faults.push(Fault {
            route,
            times,
            action,
        });
    }

    /// Change group `group` as another writer would (the version moves if membership does).
    pub fn write_behind(&self, group: &str, add: &[&str], remove: &[&str]) {
        let mut state = self.lock();
        let g = state
            .org
            .groups
            .get_mut(group)
            .expect("write_behind: no such group");
        let before = g.members.clone();
        g.members.extend(add.iter().map(|s| s.to_string()));
        for r in remove {
            g.members.remove(*r);
        }
        if g.members != before {
            g.version += 1;
            g.last_modified = jiff::Timestamp::now();
        }
    }

    /// Have another writer change `group` right after the `after_patches`-th PATCH to it commits.
    pub fn write_after_patches(
        &self,
        group: &str,
        after_patches: u32,
        add: &[&str],
        remove: &[&str],
    ) {
        self.lock().faults.foreign.push(ForeignWrite {
            group: group.to_owned(),
            after_patches,
            add: add.iter().map(|s| s.to_string()).collect(),
            remove: remove.iter().map(|s| s.to_string()).collect(),
        });
    }

    /// Accept `token` as a bearer token (a ready token, as a generic SCIM server hands out).
    pub fn issue_token(&self, token: &str) {
        let expiry = Instant::now() + Duration::from_secs(86_400);
        self.lock().tokens.insert(token.to_owned(), expiry);
    }

    /// Every access token issued so far (for tests that check no secret leaks).
    pub fn issued_tokens(&self) -> Vec<String> {
        let state = self.lock();
        state
            .tokens
            .keys()
            .chain(state.expired.iter())
            .cloned()
            .collect()
    }

    /// Make every issued token expired: the next API call with one answers 401.
    pub fn expire_tokens(&self) {
        let mut state = self.lock();
        let issued: Vec<String> = state.tokens.keys().cloned().collect();
        state.expired.extend(issued);
        state.tokens.clear();
    }

    /// The IdP's bearer token.
    pub fn set_idp_token(&self, token: &str) {
        self.lock().idp_token = Some(token.to_owned());
    }

    /// Change an IdP group's membership (creating the group if new).
    pub fn idp_change(&self, group: &str, add: &[&str], remove: &[&str]) {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        self.lock().idp.change(group, &s(add), &s(remove));
    }

    /// The IdP's current cursor (what a delta read now would return as `idp_etag`).
    pub fn idp_cursor(&self) -> String {
        self.lock().idp.cursor()
    }

    /// The members of IdP group `group`, sorted.
    pub fn idp_members(&self, group: &str) -> Vec<String> {
        self.lock()
            .idp
            .members(group)
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Put an Entra user in the directory: object id, `userPrincipalName`, display name and
    /// `accountEnabled`.
    pub fn entra_user(&self, id: &str, upn: &str, display_name: &str, enabled: bool) {
        self.lock().idp.entra.insert(
            id.to_ascii_lowercase(),
            idp::EntraObject {
                id: id.to_owned(),
                kind: idp::EntraKind::User,
                user_principal_name: Some(upn.to_owned()),
                display_name: display_name.to_owned(),
                account_enabled: enabled,
            },
        );
    }

    /// Put a directory object that is not a user (a group, device or service principal).
    pub fn entra_object(&self, id: &str, kind: idp::EntraKind, display_name: &str) {
        self.lock().idp.entra.insert(
            id.to_ascii_lowercase(),
            idp::EntraObject {
                id: id.to_owned(),
                kind,
                user_principal_name: None,
                display_name: display_name.to_owned(),
                account_enabled: true,
            },
        );
    }

    /// Put an Okta user: id, `profile.login`, `profile.email` and `status`.
    pub fn okta_user(&self, id: &str, login: &str, email: &str, status: &str) {
        self.lock().idp.okta.insert(
            id.to_owned(),
            idp::OktaUser {
                id: id.to_owned(),
                login: login.to_owned(),
                email: email.to_owned(),
                status: status.to_owned(),
            },
        );
    }

    /// Have Graph and Okta answer 429 for `for_how_long` from now: Graph with `Retry-After`,
    /// Okta with only `X-Rate-Limit-*` headers, as each really does.
    pub fn idp_throttle(&self, for_how_long: Duration) {
        let until = jiff::Timestamp::now()
            + jiff::SignedDuration::try_from(for_how_long).expect("a short duration");
        self.lock().idp_throttled_until = Some(until);
    }

    /// The scopes Graph token requests asked for.
    pub fn graph_scopes(&self) -> Vec<String> {
        self.lock().graph_scopes.clone()
    }

    /// Bytes of huge IdP bodies produced so far ([`Options::idp_huge_body`]).
    pub fn idp_bytes_sent(&self) -> u64 {
        self.idp_bytes_sent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Make every IdP cursor issued so far expired (the delta endpoint answers 410).
    pub fn idp_expire_cursors(&self) {
        self.lock().idp.expire_cursors();
    }

    /// The members of Genesys group `group`, sorted.
    pub fn members(&self, group: &str) -> Vec<String> {
        self.lock()
            .org
            .groups
            .get(group)
            .map(|g| g.members.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The current ETag of Genesys group `group`.
    pub fn etag(&self, group: &str) -> Option<String> {
        let state = self.lock();
        state.org.groups.get(group).map(|g| state.etag(g.version))
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

    /// Wait until `n` requests of `route` have arrived (answered or not).
    pub async fn wait_arrived(&self, route: Route, n: usize) {
        let mut seen = self.seen.subscribe();
        loop {
            if self.lock().faults.arrived.get(&route).copied().unwrap_or(0) >= n {
                return;
            }
            if seen.changed().await.is_err() {
                return;
            }
        }
    }

    /// Every request seen so far.
    pub fn journal(&self) -> Vec<Record> {
        self.lock().faults.journal.clone()
    }

    /// How many requests of `route` were seen.
    pub fn count(&self, route: Route) -> usize {
        self.lock()
            .faults
            .journal
            .iter()
            .filter(|r| r.route == route)
            .count()
    }

    /// How many requests of `route` were answered `status`.
    pub fn count_status(&self, route: Route, status: u16) -> usize {
        self.lock()
            .faults
            .journal
            .iter()
            .filter(|r| r.route == route && r.status == status && !r.dropped)
            .count()
    }

    /// Forget the journal (counts start again from zero) and the busy time.
    pub fn clear_journal(&self) {
        self.lock().faults.journal.clear();
        self.busy_nanos
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn add_busy(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.busy_nanos
            .fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
    }

    /// Time spent in the emulator's handlers since the journal was last cleared: the
    /// emulator's own share of a benchmark's time.
    pub fn busy(&self) -> Duration {
        Duration::from_nanos(self.busy_nanos.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// A per-connection signal: notified, the connection is closed without an answer.
#[derive(Clone, Debug)]
pub(crate) struct ConnKill(pub(crate) Arc<Notify>);

/// Serve `emulator` on `listener` until `shutdown` completes.
///
/// Each connection runs in its own task, so that a fault can close one connection (a lost
/// response) without touching the others.
pub async fn serve(
    listener: TcpListener,
    emulator: Arc<Emulator>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let router = routes::router(emulator);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("emulator: accept failed: {e}");
                        continue;
                    }
                };
                let router = router.clone();
                connections.spawn(async move {
                    let kill = Arc::new(Notify::new());
                    let signal = ConnKill(kill.clone());
                    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                        req.extensions_mut().insert(signal.clone());
                        router.clone().oneshot(req)
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        () = kill.notified() => {}
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    Ok(())
}

/// An emulator served on a free loopback port, stopped when dropped.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The emulator, to script and observe.
    pub emulator: Arc<Emulator>,
    stop: Option<oneshot::Sender<()>>,
}

impl Running {
    /// `http://127.0.0.1:<port>`: the API base, login base and IdP base alike.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serve `emulator` on `127.0.0.1:0` in a background task.
pub async fn spawn(emulator: Arc<Emulator>) -> std::io::Result<Running> {
    spawn_on(emulator, 0).await
}

/// Serve `emulator` on `127.0.0.1:port` in a background task.
pub async fn spawn_on(emulator: Arc<Emulator>, port: u16) -> std::io::Result<Running> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let served = emulator.clone();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = serve(listener, served, shutdown).await {
            tracing::error!("emulator stopped: {e}");
        }
    });
    Ok(Running {
        addr,
        emulator,
        stop: Some(stop),
    })
}
