//! A small harness: an emulator with a known org on a free loopback port, and clients for it.

use scimsync::retry::RetryPolicy;
use std::sync::Arc;
use std::time::Duration;

use scimsync::emulator::{self, Emulator, Running};
use scimsync::endpoint::Endpoint;
use scimsync::model::{ETag, GroupId, MemberChanges, MemberSet, UserId};
use scimsync::scim::{Credentials, ScimClient, TargetSettings, TokenSource};
use secrecy::SecretString;

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-secret-0f9e8d7c";
pub const GROUP: &str = "g-sales";

/// `u000` … `u{n-1}`: ids of seeded users.
pub fn user(i: usize) -> String {
    format!("u{i:03}")
}

pub fn users(range: std::ops::Range<usize>) -> MemberSet {
    range.map(|i| UserId(user(i))).collect()
}

/// An emulator with 200 users (`u000`…`u199`, userName `u000@example.com`, externalId
/// `ext-000`) and group `g-sales` ("Sales") holding `u000`…`u004`, served on 127.0.0.1:0.
pub async fn start() -> Running {
    let emu = Emulator::empty();
    emu.add_client(CLIENT_ID, CLIENT_SECRET);
    for i in 0..200 {
        let id = user(i);
        emu.add_user(
            &id,
            &format!("{id}@example.com"),
            Some(&format!("ext-{i:03}")),
        );
    }
    let members: Vec<String> = (0..5).map(user).collect();
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    emu.add_group(GROUP, "Sales", &members);
    emulator::spawn(emu).await.expect("emulator starts")
}

pub fn emu(running: &Running) -> &Arc<Emulator> {
    &running.emulator
}

/// Settings for the running emulator, with fast retries.
pub fn settings(running: &Running) -> TargetSettings {
    let base = Endpoint::parse(&running.base_url(), "test").unwrap();
    let mut s = TargetSettings::genesys(&base).unwrap();
    s.http.requests_per_minute = 60_000;
    s.http.retry = RetryPolicy {
        max_retries: 4,
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
        ..RetryPolicy::default()
    };
    s.http.timeout = Duration::from_secs(10);
    s
}

pub fn credentials() -> Credentials {
    Credentials::ClientCredentials {
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from(CLIENT_SECRET),
    }
}

pub fn client_with(
    running: &Running,
    settings: TargetSettings,
    credentials: Credentials,
) -> ScimClient {
    let login = Endpoint::parse(&running.base_url(), "test").unwrap();
    ScimClient::new(settings, TokenSource::new(credentials, &login)).unwrap()
}

pub fn client(running: &Running) -> ScimClient {
    client_with(running, settings(running), credentials())
}

pub fn gid(id: &str) -> GroupId {
    GroupId(id.to_owned())
}

pub fn etag(running: &Running, group: &str) -> ETag {
    ETag(emu(running).etag(group).unwrap())
}

pub fn adds(set: MemberSet) -> MemberChanges {
    MemberChanges {
        add: set,
        remove: MemberSet::new(),
    }
}

/// The ids of a member set, as strings, for assertions.
pub fn names(set: &MemberSet) -> Vec<&str> {
    set.iter().map(scimsync::model::UserId::as_str).collect()
}

/// A group plan's pending users, as (key, reason), for assertions.
pub fn pending(g: &scimsync::plan::GroupPlan) -> Vec<(&str, scimsync::plan::PendingReason)> {
    g.pending
        .iter()
        .map(|p| (p.key.as_str(), p.reason))
        .collect()
}
