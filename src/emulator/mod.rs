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
//! - `idp`: the IdP's memberships and deltas
//! - `faults`: scripted faults, rate limit, journal
//! - [`filter`]: SCIM filter and member-path parsing
//! - `seed`: the seed file
//! - `options`: what a test can change about its behaviour ([`Options`])
//! - `state`: what it holds, behind one lock, and the [`Emulator`] that owns it
//! - `control`: the API tests drive ([`Emulator::inject`], [`Emulator::journal`], …)
//! - `paths`: the paths it serves and their [`Route`]
//! - `reply`: error bodies, SCIM JSON and bearer tokens, shared by every handler (a leaf)
//! - `paging`: SCIM list paging
//! - `token_route`, `group_routes`, `user_routes`: the OAuth and SCIM handlers
//! - `platform_routes`: the Platform API's user reads (`GET /api/v2/users`,
//!   `POST /api/v2/users/search`), with their limits and `ErrorBody` errors
//! - `authz`: roles, divisions and the grants groups carry
//!   ([`Emulator::grant_role`] changes them behind a plan's back)
//! - `authz_routes`: the grant reads (`GET /api/v2/authorization/subjects/{id}`,
//!   `GET /api/v2/groups/{id}`), with their 403 and 404 `ErrorBody` errors
//! - `idp_routes`: the delta, Graph and Okta endpoints
//! - `observe`: the middleware (auth, rate limit, faults, journal)
//! - `lies`: the answers of the hostile faults (redirects, another group's body, lying
//!   lists, self links, echoed headers, huge bodies)
//!
//! This file builds the router from those handlers and serves it. Only it names the route
//! modules, and they import only the leaves (`state`, `reply`, `paths`, `paging`, …), never
//! each other, so the emulator's modules form no cycle.

mod authz;
mod authz_routes;
mod control;
mod faults;
pub mod filter;
mod group_routes;
mod idp;
mod idp_routes;
mod lies;
mod observe;
mod options;
pub mod org;
mod paging;
mod paths;
mod platform_routes;
mod reply;
mod seed;
mod state;
mod token_route;
mod user_routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tower::ServiceExt;

pub use self::faults::{Fault, FaultAction, ForeignWrite, RandomFaults, RateLimit, Record, Route};
pub use self::idp::EntraKind;
use self::observe::ConnKill;
pub use self::options::{Options, PatchResponse, PlatformGrants, PlatformUsers, StaleStatus};
use self::paths::{RFC, SCIM};
pub use self::seed::{SAMPLE, Seed, SeedError};
pub use self::state::Emulator;

/// Every route, inside the middleware of [`observe`].
fn router(emulator: Arc<Emulator>) -> Router {
    use self::group_routes::{get_group, list_groups, patch_group};
    use self::idp_routes::{graph_delta, graph_get_by_ids, graph_token, idp_delta, okta_users};
    use self::user_routes::{get_user, list_users};
    Router::new()
        .route("/oauth/token", post(token_route::token))
        .route(&format!("{SCIM}/groups"), get(list_groups))
        .route(
            &format!("{SCIM}/groups/{{id}}"),
            get(get_group).patch(patch_group),
        )
        .route(&format!("{SCIM}/users"), get(list_users))
        .route(&format!("{SCIM}/users/{{id}}"), get(get_user))
        .route("/api/v2/users", get(platform_routes::users))
        .route("/api/v2/users/search", post(platform_routes::search))
        .route(
            "/api/v2/authorization/subjects/{id}",
            get(authz_routes::subject),
        )
        .route("/api/v2/groups/{id}", get(authz_routes::group))
        .route(&format!("{RFC}/Groups"), get(list_groups))
        .route(
            &format!("{RFC}/Groups/{{id}}"),
            get(get_group).patch(patch_group),
        )
        .route(&format!("{RFC}/Users"), get(list_users))
        .route(&format!("{RFC}/Users/{{id}}"), get(get_user))
        .route("/delta/groups/members", get(idp_delta))
        .route("/{tenant}/oauth2/v2.0/token", post(graph_token))
        .route("/v1.0/groups/delta", get(graph_delta))
        .route("/v1.0/directoryObjects/getByIds", post(graph_get_by_ids))
        .route("/api/v1/groups/{id}/users", get(okta_users))
        .layer(middleware::from_fn_with_state(
            emulator.clone(),
            observe::observe,
        ))
        .with_state(emulator)
}

/// Serve `emulator` on `listener` until `shutdown` completes.
///
/// Each connection runs in its own task, so that a fault can close one connection (a lost
/// response) without touching the others.
pub async fn serve(
    listener: TcpListener,
    emulator: Arc<Emulator>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let router = router(emulator);
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
