//! Fault injection and observation: what tests script and what they read back.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// The emulator's routes, as counted and as targeted by faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// `POST /oauth/token`
    Token,
    /// `GET /api/v2/scim/v2/groups`
    GroupList,
    /// `GET /api/v2/scim/v2/groups/{id}`
    GroupGet,
    /// `PATCH /api/v2/scim/v2/groups/{id}`
    GroupPatch,
    /// `GET /api/v2/scim/v2/users`
    UserList,
    /// `GET /api/v2/scim/v2/users/{id}`
    UserGet,
    /// `GET /api/v2/users` (Platform API: users by id, in bulk)
    PlatformUsers,
    /// `POST /api/v2/users/search` (Platform API)
    PlatformUserSearch,
    /// `GET /api/v2/authorization/subjects/{id}` (Platform API: what a group grants)
    AuthzSubject,
    /// `GET /api/v2/groups/{id}` (Platform API: the group, with `rolesEnabled`)
    PlatformGroupGet,
    /// `GET /delta/groups/members`
    IdpDelta,
    /// `POST /{tenant}/oauth2/v2.0/token` (Microsoft identity platform)
    GraphToken,
    /// `GET /v1.0/groups/delta` (Microsoft Graph)
    GraphDelta,
    /// `POST /v1.0/directoryObjects/getByIds` (Microsoft Graph)
    GraphGetByIds,
    /// `GET /api/v1/groups/{id}/users` (Okta)
    OktaUsers,
    /// Anything else.
    Other,
}

impl Route {
    /// True for the SCIM API routes (those behind a Genesys token and its rate limit).
    pub fn is_api(self) -> bool {
        matches!(
            self,
            Self::GroupList
                | Self::GroupGet
                | Self::GroupPatch
                | Self::UserList
                | Self::UserGet
                | Self::PlatformUsers
                | Self::PlatformUserSearch
                | Self::AuthzSubject
                | Self::PlatformGroupGet
        )
    }
}

/// What a scripted fault does to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer this status at once (the request is not processed); a 429 carries
    /// `Retry-After` when given.
    Status {
        /// The status to answer.
        status: u16,
        /// `Retry-After` seconds to send.
        retry_after: Option<u64>,
    },
    /// Wait this long, then process the request normally.
    Delay(Duration),
    /// Close the connection without processing the request.
    Drop,
    /// Process the request (commit it), then close the connection without answering.
    CommitThenDrop,
    /// Expire every issued token, then process the request (which then answers 401): a token
    /// that expires mid-run.
    ExpireTokens,
    /// A PATCH accepted and dropped: answered 200 with the group as it is, nothing applied
    /// (see [`super::PatchResponse::Ignored`]). Other routes are processed normally.
    IgnoreWrite,
    /// Answer a redirect at once (not processed): `status` (301, 302, 303, 307, 308) with
    /// `Location: location` (absolute, or a path on this origin). RFC 9110 §15.4: a client
    /// that follows a 307/308 repeats the method and body at the new place (a POSTed client
    /// secret included); a 303 turns any method into a GET (§15.4.4), so a followed PATCH
    /// reads 200 and looks done.
    Redirect {
        /// The 3xx status.
        status: u16,
        /// Where it points.
        location: String,
    },
    /// Process the request, then answer its JSON with `id` set to this one: a gateway or
    /// cache that serves one group's answer for another's URL.
    WrongId(String),
    /// A list answer (SCIM `ListResponse`) that ignores `startIndex` (every page is the
    /// first) and claims a `totalResults` of a million: a listing that never ends.
    LyingList,
    /// A next link that points to the request itself: an Okta `Link: rel="next"` header
    /// (<https://developer.okta.com/docs/api/#pagination>) or a Graph `@odata.nextLink`
    /// (<https://learn.microsoft.com/en-us/graph/paging>) naming the page just read.
    SelfNext,
    /// 400 with a SCIM error whose `detail` echoes every request header, `Authorization`
    /// included (as debugging gateways and some error pages do).
    EchoHeaders,
    /// 200 with a streamed body of this many bytes (no `Content-Length`), produced only as
    /// fast as the client reads: a runaway answer.
    HugeBody(u64),
    /// Accept the request and never answer (the connection stays open): a hung server. The
    /// handler waits on a future that never resolves, not on a timer.
    Stall,
}

/// Set on a request whose write is to be dropped ([`FaultAction::IgnoreWrite`]).
#[derive(Debug, Clone, Copy)]
pub struct IgnoreWrite;

/// Faults at random, from a seed: for soak tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomFaults {
    /// The share of requests that fail (0.0..=1.0).
    pub rate: f64,
    /// The seed: the same seed and requests give the same faults.
    pub seed: u64,
}

/// A fault for the next `times` requests of `route`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// The route it applies to.
    pub route: Route,
    /// How many requests it applies to.
    pub times: u32,
    /// What it does.
    pub action: FaultAction,
}

/// A change by another writer, made to a group right after one of our PATCHes to it commits.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignWrite {
    /// The group.
    pub group: String,
    /// Made after this many committed PATCHes to the group (counted from when it was set).
    pub after_patches: u32,
    /// Users to add.
    pub add: Vec<String>,
    /// Users to remove.
    pub remove: Vec<String>,
}

/// A per-token sliding-window rate limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests allowed per window and token.
    pub requests: u32,
    /// The window (Genesys: a minute).
    pub window: Duration,
}

/// One request as the emulator saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its route.
    pub route: Route,
    /// Its path.
    pub path: String,
    /// Its query string, if any.
    pub query: Option<String>,
    /// The status answered (0 when the connection was dropped before an answer existed).
    pub status: u16,
    /// True when the connection was dropped instead of answering.
    pub dropped: bool,
    /// True when a write was answered 2xx and dropped ([`FaultAction::IgnoreWrite`]).
    pub ignored: bool,
    /// `If-Match` as received.
    pub if_match: Option<String>,
    /// The `ETag` answered.
    pub etag: Option<String>,
    /// The request body, for PATCHes.
    pub body: Option<String>,
    /// When it arrived (from the emulator's start).
    pub at: Duration,
}

/// Scripted faults, rate-limit windows and the request journal.
#[derive(Debug)]
pub struct Faults {
    scripted: Vec<Fault>,
    /// Foreign writes waiting for their PATCH count.
    pub foreign: Vec<ForeignWrite>,
    windows: HashMap<String, VecDeque<Instant>>,
    /// Every request so far, recorded when answered (or dropped).
    pub journal: Vec<Record>,
    /// Requests that arrived, by route, counted before any fault or handler.
    pub arrived: HashMap<Route, usize>,
    random: Option<(f64, rand::rngs::StdRng)>,
    started: Instant,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            scripted: Vec::new(),
            foreign: Vec::new(),
            windows: HashMap::new(),
            journal: Vec::new(),
            arrived: HashMap::new(),
            random: None,
            started: Instant::now(),
        }
    }
}

/// The outcome of a rate-limit check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Requests counted in the window, this one included.
    pub count: u32,
    /// Allowed per window.
    pub allowed: u32,
    /// Seconds until the window has room again.
    pub reset_secs: u64,
    /// Whether this request is over the limit.
    pub limited: bool,
}

impl Faults {
    /// Script `fault`; faults for the same route are used in the order scripted.
    pub fn push(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.scripted.push(fault);
        }
    }

    /// Fail a share of requests at random, from a seed (`None`: stop).
    pub fn set_random(&mut self, random: Option<RandomFaults>) {
        use rand::SeedableRng;
        self.random = random.map(|r| (r.rate, rand::rngs::StdRng::seed_from_u64(r.seed)));
    }

    /// The fault that applies to this request of `route`, if any, counting it as used:
    /// a scripted one first, else maybe a random one.
    pub fn take(&mut self, route: Route) -> Option<FaultAction> {
        self.take_scripted(route)
            .or_else(|| self.take_random(route))
    }

    fn take_random(&mut self, route: Route) -> Option<FaultAction> {
        use rand::Rng;
        let (rate, rng) = self.random.as_mut()?;
        if route == Route::Other || rng.random::<f64>() >= *rate {
            return None;
        }
        Some(match (route, rng.random_range(0..4)) {
            (_, 0) => FaultAction::Status {
                status: 503,
                retry_after: None,
            },
            (_, 1) => FaultAction::Status {
                status: 429,
                retry_after: Some(0),
            },
            (Route::GroupPatch, 2) => FaultAction::CommitThenDrop,
            (Route::GroupPatch, 3) => FaultAction::IgnoreWrite,
            (_, 2) => FaultAction::Status {
                status: 502,
                retry_after: None,
            },
            _ => FaultAction::Drop,
        })
    }

    fn take_scripted(&mut self, route: Route) -> Option<FaultAction> {
        let i = self.scripted.iter().position(|f| f.route == route)?;
        let fault = &mut self.scripted[i];
        fault.times -= 1;
        let action = fault.action.clone();
        if fault.times == 0 {
            self.scripted.remove(i);
        }
        Some(action)
    }

    /// Count a request of `key` (a token) against `limit`.
    pub fn check_rate(&mut self, key: &str, limit: RateLimit) -> Window {
        let now = Instant::now();
        let window = self.windows.entry(key.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= limit.window)
        {
            window.pop_front();
        }
        let reset = |oldest: Option<&Instant>| {
            oldest.map_or(0, |t| {
                let left = limit.window.saturating_sub(now.duration_since(*t));
                left.as_secs() + u64::from(left.subsec_nanos() > 0)
            })
        };
        let count = |w: &std::collections::VecDeque<_>| u32::try_from(w.len()).unwrap_or(u32::MAX);
        if count(window) >= limit.requests {
            return Window {
                count: count(window),
                allowed: limit.requests,
                reset_secs: reset(window.front()).max(1),
                limited: true,
            };
        }
        window.push_back(now);
        Window {
            count: count(window),
            allowed: limit.requests,
            reset_secs: reset(window.front()),
            limited: false,
        }
    }

    /// Time since the emulator started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_in_order_and_counted_down() {
        let mut f = Faults::default();
        f.push(Fault {
            route: Route::GroupGet,
            times: 2,
            action: FaultAction::Drop,
        });
        f.push(Fault {
            route: Route::GroupGet,
            times: 1,
            action: FaultAction::CommitThenDrop,
        });
        assert_eq!(f.take(Route::GroupPatch), None);
        assert_eq!(f.take(Route::GroupGet), Some(FaultAction::Drop));
        assert_eq!(f.take(Route::GroupGet), Some(FaultAction::Drop));
        assert_eq!(f.take(Route::GroupGet), Some(FaultAction::CommitThenDrop));
        assert_eq!(f.take(Route::GroupGet), None);
    }

    #[test]
    fn rate_window_limits_per_key() {
        let mut f = Faults::default();
        let limit = RateLimit {
            requests: 2,
            window: Duration::from_mins(1),
        };
        assert!(!f.check_rate("t", limit).limited);
        assert!(!f.check_rate("t", limit).limited);
        let w = f.check_rate("t", limit);
        assert!(w.limited);
        assert_eq!(w.reset_secs, 60);
        assert!(!f.check_rate("other", limit).limited);
    }
}
