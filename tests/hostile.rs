//! Believe nothing a server says (issue 20, the transport findings): a server, proxy or
//! gateway answering what real ones answer when misconfigured or hostile — a redirect,
//! another group's body, a listing that never ends, a self link, an echo of the request's
//! headers, a huge body, no answer at all, an absurd token lifetime — never makes scimsync
//! follow, believe, loop, hang or print a secret. One test per finding, each failing
//! before its fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use scimsync::emulator::{FaultAction, PatchResponse, Route};
use scimsync::model::UserKey;
use scimsync::scim::ScimError;

use crate::harness::{self, CLIENT_ID, CLIENT_SECRET};
use crate::scenario::{Run, Scenario};

/// The whole run of a test that would hang or loop before its fix is bounded by this: a
/// bound on a failure, not a synchronization (every passing run ends by itself).
const BOUND: Duration = Duration::from_mins(1);

async fn bounded(s: &Scenario, args: &[&str]) -> Run {
    tokio::time::timeout(BOUND, s.run(args))
        .await
        .expect("the run ends by itself, in bounded time")
}

fn output(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

/// Finding 2 (and 16): the Entra token endpoint answering 307 to another origin. A client
/// that follows it re-POSTs the form — `client_secret` included — there (RFC 9110 §15.4.8:
/// a 307 keeps the method and body). None follows it: the other origin sees no request, and
/// the error names the status and the origin, never the path.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_endpoint_redirected_elsewhere_receives_no_secret() {
    let elsewhere = harness::start().await;
    let s = Scenario::new().await;
    let base = s.running.base_url();
    s.emu()
        .idp_change("sales", &["2e58a1c4-0f6d-4b8e-9a31-5c7d2b1e0a10"], &[]);
    s.emu().inject(
        Route::GraphToken,
        5,
        FaultAction::Redirect {
            status: 307,
            location: format!(
                "{}/contoso.onmicrosoft.com/oauth2/v2.0/token?stolen=1",
                elsewhere.base_url()
            ),
        },
    );
    let s = s
        .source(&format!(
            "kind = \"graph\"\nbase_url = \"{base}/v1.0\"\nlogin_base = \"{base}\"\ntenant = \"contoso.onmicrosoft.com\"\n"
        ))
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET);
    let run = bounded(&s, &["plan"]).await;
    assert_eq!(
        elsewhere.emulator.count(Route::GraphToken),
        0,
        "the redirect target received the token request"
    );
    assert_ne!(run.code, 0, "{}", output(&run));
    let text = output(&run);
    assert!(
        text.contains(&format!("HTTP 307 redirect to {}", elsewhere.base_url()))
            && text.contains("not followed"),
        "{text}"
    );
    assert!(
        !text.contains("stolen") && !text.contains(CLIENT_SECRET),
        "{text}"
    );
}

/// Finding 2: a PATCH to g-sales answered 307 to another group's URL writes nothing there,
/// and a group GET redirected to another origin is not believed (finding 16: that origin
/// receives nothing, so no `Referer` either).
#[tokio::test(flavor = "multi_thread")]
async fn a_redirected_write_or_read_is_not_followed() {
    let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
    s.emu().add_group(
        "g-other",
        "Other",
        &["u000", "u001", "u002", "u003", "u004"],
    );
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu().inject(
        Route::GroupPatch,
        10,
        FaultAction::Redirect {
            status: 307,
            location: "/api/v2/scim/v2/groups/g-other".to_owned(),
        },
    );
    let run = bounded(&s, &["apply", "plan.json"]).await;
    assert_ne!(run.code, 0, "{}", output(&run));
    assert_eq!(
        s.emu().count(Route::GroupPatch),
        1,
        "one PATCH, not followed"
    );
    assert!(
        !s.emu().members("g-other").iter().any(|m| m == "u010"),
        "the redirect's target was written"
    );
    assert!(!s.emu().members("g-sales").iter().any(|m| m == "u010"));

    let elsewhere = harness::start().await;
    s.emu().inject(
        Route::GroupGet,
        10,
        FaultAction::Redirect {
            status: 302,
            location: format!(
                "{}/api/v2/scim/v2/groups/g-sales?x=secret-path",
                elsewhere.base_url()
            ),
        },
    );
    let run = bounded(&s, &["plan"]).await;
    run.code(1);
    let text = output(&run);
    assert!(
        text.contains(&format!("HTTP 302 redirect to {}", elsewhere.base_url()))
            && !text.contains("secret-path"),
        "{text}"
    );
    assert!(
        elsewhere.emulator.journal().is_empty(),
        "the other origin was asked"
    );
}

/// Finding 3: a group GET for g-sales answered with another group's body is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_answer_with_another_id_is_refused() {
    let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
    s.emu().inject(
        Route::GroupGet,
        10,
        FaultAction::WrongId("g-other".to_owned()),
    );
    let run = bounded(&s, &["plan", "--out", "plan.json"]).await;
    run.code(1);
    let text = output(&run);
    assert!(
        text.contains(r#"the server answered group "g-other" when group "g-sales" was asked for"#),
        "{text}"
    );
    assert!(
        !s.path("plan.json").exists()
            || !std::fs::read_to_string(s.path("plan.json"))
                .unwrap()
                .contains("g-other")
    );
}

/// Finding 4: a SCIM listing whose `totalResults` lies and whose pages repeat (the server
/// ignores `startIndex`) stops at the first repeated page, for users and groups alike.
#[tokio::test(flavor = "multi_thread")]
async fn a_listing_that_repeats_its_pages_stops() {
    let running = harness::start().await;
    let client = harness::client(&running);
    running
        .emulator
        .inject(Route::UserList, 1000, FaultAction::LyingList);
    let found = tokio::time::timeout(
        BOUND,
        client.find_user(UserKey::UserName, "u000@example.com"),
    )
    .await
    .expect("the listing ends");
    // One user matches: the emulator's single page repeats it, claiming a million results.
    let e = found.expect_err("a listing that repeats is not believed");
    assert!(matches!(e, ScimError::Paging { .. }), "{e}");
    assert!(
        e.to_string().contains("repeats resources already listed"),
        "{e}"
    );
    assert!(
        running.emulator.count(Route::UserList) <= 2,
        "stopped at once"
    );

    running
        .emulator
        .inject(Route::GroupList, 1000, FaultAction::LyingList);
    let found = tokio::time::timeout(BOUND, client.find_group_by_name("Sales"))
        .await
        .expect("the listing ends");
    let e = found.expect_err("a listing that repeats is not believed");
    assert!(matches!(e, ScimError::Paging { .. }), "{e}");
    assert!(running.emulator.count(Route::GroupList) <= 2);
}

/// Finding 9: with `HTTP_PROXY` set, plaintext traffic (loopback only) never goes to the
/// proxy: no client secret or token in clear to it.
#[tokio::test(flavor = "multi_thread")]
async fn plaintext_traffic_never_goes_to_http_proxy() {
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    let proxying = tokio::spawn(async move {
        // Accept and hang up at once: a proxy that would see whatever is sent to it.
        while let Ok((conn, _)) = proxy.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u010"])
        .env("HTTP_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .env("ALL_PROXY", &proxy_url);
    let run = bounded(&s, &["plan"]).await;
    proxying.abort();
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "{}", output(&run));
    run.code(0);
}

/// Finding 10: Okta and Graph next links that point to the page just read stop the read at
/// once, instead of asking the same page again until the deadline.
#[tokio::test(flavor = "multi_thread")]
async fn self_pointing_next_links_stop_the_read() {
    let s = Scenario::new().await;
    let base = s.running.base_url();
    s.emu()
        .okta_user("00u1a2b3c4", "alice", "u020@example.com", "ACTIVE");
    s.emu().idp_change("sales", &["00u1a2b3c4"], &[]);
    s.emu()
        .inject(Route::OktaUsers, 1000, FaultAction::SelfNext);
    let s = s.source(&format!(
        "kind = \"okta\"\nbase_url = \"{base}\"\ntoken_env = \"IDP_API_TOKEN\"\n"
    ));
    let run = bounded(&s, &["plan"]).await;
    run.code(1);
    assert!(
        output(&run).contains("points to a page already read"),
        "{}",
        output(&run)
    );
    // The link names the page just read: it is not asked for again.
    assert_eq!(s.emu().count(Route::OktaUsers), 1);

    let s = Scenario::new().await;
    let base = s.running.base_url();
    s.emu().entra_user(
        "2e58a1c4-0f6d-4b8e-9a31-5c7d2b1e0a10",
        "u010@example.com",
        "Alice",
        true,
    );
    s.emu()
        .idp_change("sales", &["2e58a1c4-0f6d-4b8e-9a31-5c7d2b1e0a10"], &[]);
    s.emu()
        .inject(Route::GraphDelta, 1000, FaultAction::SelfNext);
    let s = s
        .source(&format!(
            "kind = \"graph\"\nbase_url = \"{base}/v1.0\"\nlogin_base = \"{base}\"\ntenant = \"contoso.onmicrosoft.com\"\n"
        ))
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET);
    let run = bounded(&s, &["plan"]).await;
    run.code(1);
    assert!(
        output(&run).contains("@odata.nextLink points to a page already read"),
        "{}",
        output(&run)
    );
    assert_eq!(s.emu().count(Route::GraphDelta), 1);
}

/// Finding 11: a 500 MB group answer is not read whole: the read stops at the one cap of
/// every answer (64 MiB), with an error saying so.
#[tokio::test(flavor = "multi_thread")]
async fn a_huge_answer_is_not_read_whole() {
    let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
    s.emu().inject(
        Route::GroupGet,
        10,
        FaultAction::HugeBody(500 * 1024 * 1024),
    );
    let run = bounded(&s, &["plan"]).await;
    run.code(1);
    assert!(
        output(&run).contains("larger than 64 MiB"),
        "{}",
        output(&run)
    );
    let sent = s.emu().idp_bytes_sent();
    assert!(
        sent < 100 * 1024 * 1024,
        "{} MiB were produced: the answer was read past the cap",
        sent / (1024 * 1024)
    );
}

/// Finding 12: a server that accepts and never answers costs the retry budget, not every
/// attempt's timeout times every retry (before: 60 s an attempt, about 7 minutes).
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_fails_within_the_retry_budget() {
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u010"])
        .env("SCIMSYNC_TIMEOUT_MS", "400")
        .env("SCIMSYNC_RETRY_BUDGET_MS", "2000");
    s.emu().inject(Route::GroupGet, 1000, FaultAction::Stall);
    let started = std::time::Instant::now();
    let run = bounded(&s, &["plan"]).await;
    run.code(1);
    let text = output(&run);
    assert!(
        text.contains("timed out") || text.contains("no answer within 2 s"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// Finding 13: a token answer with `expires_in` = 2^64 − 1 is a long-lived token, not a
/// panic (exit 101).
#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_lives_for_ever_does_not_panic() {
    let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
    s.emu()
        .configure(|o| o.token_lifetime = Duration::from_secs(u64::MAX));
    bounded(&s, &["plan", "--out", "plan.json"]).await.code(0);
    bounded(&s, &["apply", "plan.json"]).await.code(0);
}

/// Finding 14: a 400 whose detail echoes the request's headers prints no live token.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_echoing_the_authorization_header_prints_no_token() {
    let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu()
        .inject(Route::GroupGet, 10, FaultAction::EchoHeaders);
    s.emu()
        .inject(Route::GroupPatch, 10, FaultAction::EchoHeaders);
    for args in [&["plan"][..], &["apply", "plan.json"], &["plan", "-vv"]] {
        let run = bounded(&s, args).await;
        assert_ne!(run.code, 0, "{args:?}: {}", output(&run));
        let text = output(&run);
        assert!(
            text.contains("received headers"),
            "{args:?}: the echo is shown: {text}"
        );
        assert!(text.contains("Bearer [REDACTED]"), "{args:?}: {text}");
        for token in s.emu().issued_tokens() {
            assert!(
                !text.contains(&token),
                "{args:?}: the live token was printed: {text}"
            );
        }
    }
}

/// Finding 1's fourth no-op 2xx (the emulator mode the lead's verification needs beside
/// 200-unchanged, 200-HTML and 303): a 204 whose ETag did not move, nothing applied, is not
/// recorded as done; once the server writes again, the re-plan applies.
#[tokio::test(flavor = "multi_thread")]
async fn a_204_that_changed_nothing_is_not_recorded_as_done() {
    let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu()
        .configure(|o| o.patch_response = PatchResponse::IgnoredNoContent);
    let run = bounded(&s, &["apply", "plan.json"]).await;
    run.code(3);
    assert!(run.stdout.contains("not added: u010"), "{}", output(&run));
    assert!(!s.emu().members("g-sales").iter().any(|m| m == "u010"));
    s.emu()
        .configure(|o| o.patch_response = PatchResponse::Body);
    bounded(&s, &["apply", "plan.replan.json"]).await.code(0);
    assert!(s.emu().members("g-sales").iter().any(|m| m == "u010"));
}
