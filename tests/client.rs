//! The SCIM client against the emulator: every behaviour of the foundation issue.

use scimsync::model::{Precondition, RemoveStyle, UserKey};
use std::time::Duration;

use scimsync::emulator::{FaultAction, PatchResponse, Route, StaleStatus};
use scimsync::model::{MemberChanges, UserId};
use scimsync::retry::RateLimitReason;
use scimsync::scim::{Credentials, ScimError};
use secrecy::SecretString;

use crate::harness::*;

fn pre(running: &scimsync::emulator::Running) -> Precondition {
    let members: scimsync::model::MemberSet = emu(running)
        .members(GROUP)
        .into_iter()
        .map(UserId)
        .collect();
    Precondition::of(Some(etag(running, GROUP)), &members)
}

#[tokio::test]
async fn reads_a_group_with_members_and_etag() {
    let r = start().await;
    let g = client(&r).get_group(&gid(GROUP)).await.unwrap();
    assert_eq!(g.display_name, "Sales");
    assert_eq!(g.members, users(0..5));
    assert_eq!(g.etag.unwrap().0, "\"1\"");
}

#[tokio::test]
async fn a_group_without_members_key_has_no_members() {
    let r = start().await;
    emu(&r).add_group("g-empty", "Empty", &[]);
    let g = client(&r).get_group(&gid("g-empty")).await.unwrap();
    assert!(g.members.is_empty());
    assert!(g.etag.is_some());
}

#[tokio::test]
async fn one_token_serves_many_requests_and_expiry_mid_run_refreshes_once() {
    let r = start().await;
    let c = client(&r);
    for _ in 0..3 {
        c.get_group(&gid(GROUP)).await.unwrap();
    }
    assert_eq!(emu(&r).count(Route::Token), 1);
    emu(&r).expire_tokens();
    c.get_group(&gid(GROUP)).await.unwrap();
    assert_eq!(emu(&r).count(Route::Token), 2);
    assert_eq!(emu(&r).count_status(Route::GroupGet, 401), 1);
    assert_eq!(emu(&r).count_status(Route::GroupGet, 200), 4);
}

#[tokio::test]
async fn wrong_client_secret_is_a_clear_error_without_the_secret() {
    let r = start().await;
    let creds = Credentials::ClientCredentials {
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from("wrong-secret-7a6b5c"),
    };
    let c = client_with(&r, settings(&r), creds);
    let e = c.get_group(&gid(GROUP)).await.unwrap_err().to_string();
    assert!(
        e.contains("HTTP 401") && e.contains("GENESYSCLOUD_OAUTHCLIENT_SECRET"),
        "{e}"
    );
    assert!(!e.contains("wrong-secret-7a6b5c"), "{e}");
    // Refused credentials are not retried.
    assert_eq!(emu(&r).count(Route::Token), 1);
}

#[tokio::test]
async fn a_refused_ready_token_says_so_and_is_not_retried() {
    let r = start().await;
    let creds = Credentials::Bearer {
        token: SecretString::from("stale-token-1234"),
        source: "GENESYSCLOUD_ACCESS_TOKEN".into(),
    };
    let e = client_with(&r, settings(&r), creds)
        .get_group(&gid(GROUP))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("GENESYSCLOUD_ACCESS_TOKEN was refused (HTTP 401)"),
        "{e}"
    );
    assert!(!e.contains("stale-token-1234"));
    assert_eq!(emu(&r).count(Route::GroupGet), 1);
}

#[tokio::test]
async fn token_endpoint_down_then_up() {
    let r = start().await;
    emu(&r).inject(
        Route::Token,
        2,
        FaultAction::Status {
            status: 503,
            retry_after: None,
        },
    );
    client(&r).get_group(&gid(GROUP)).await.unwrap();
    assert_eq!(emu(&r).count_status(Route::Token, 503), 2);
    assert_eq!(emu(&r).count_status(Route::Token, 200), 1);
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let r = start().await;
    emu(&r).inject(
        Route::GroupGet,
        1,
        FaultAction::Status {
            status: 429,
            retry_after: Some(1),
        },
    );
    client(&r).get_group(&gid(GROUP)).await.unwrap();
    let gets: Vec<_> = emu(&r)
        .journal()
        .into_iter()
        .filter(|x| x.route == Route::GroupGet)
        .collect();
    assert_eq!(
        gets.iter().map(|g| g.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let waited = gets[1].at.checked_sub(gets[0].at).unwrap();
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
}

#[tokio::test]
async fn a_retry_after_over_the_cap_fails_at_once() {
    let r = start().await;
    emu(&r).inject(
        Route::GroupGet,
        1,
        FaultAction::Status {
            status: 429,
            retry_after: Some(3600),
        },
    );
    let e = client(&r).get_group(&gid(GROUP)).await.unwrap_err();
    match &e {
        ScimError::RateLimited {
            reason: RateLimitReason::WaitTooLong { asked, .. },
            ..
        } => {
            assert_eq!(asked.as_secs(), 3600);
        }
        other => panic!("expected WaitTooLong, got {other:?}"),
    }
    assert!(e.to_string().contains("requests_per_minute"), "{e}");
    assert_eq!(emu(&r).count(Route::GroupGet), 1);
}

#[tokio::test]
async fn a_5xx_burst_then_success() {
    let r = start().await;
    emu(&r).inject(
        Route::GroupGet,
        3,
        FaultAction::Status {
            status: 503,
            retry_after: None,
        },
    );
    client(&r).get_group(&gid(GROUP)).await.unwrap();
    assert_eq!(emu(&r).count_status(Route::GroupGet, 503), 3);
    assert_eq!(emu(&r).count_status(Route::GroupGet, 200), 1);
}

#[tokio::test]
async fn endless_5xx_gives_up_after_the_retry_budget_and_501_is_not_retried() {
    let r = start().await;
    emu(&r).inject(
        Route::GroupGet,
        100,
        FaultAction::Status {
            status: 502,
            retry_after: None,
        },
    );
    let e = client(&r).get_group(&gid(GROUP)).await.unwrap_err();
    assert!(
        matches!(e, ScimError::Transport { attempts: 5, .. }),
        "{e:?}"
    );
    assert_eq!(emu(&r).count(Route::GroupGet), 5);

    let r = start().await;
    emu(&r).inject(
        Route::GroupGet,
        1,
        FaultAction::Status {
            status: 501,
            retry_after: None,
        },
    );
    let e = client(&r).get_group(&gid(GROUP)).await.unwrap_err();
    assert_eq!(e.status(), Some(501));
    assert_eq!(emu(&r).count(Route::GroupGet), 1);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let r = start().await;
    emu(&r).inject(Route::GroupGet, 1, FaultAction::Drop);
    client(&r).get_group(&gid(GROUP)).await.unwrap();
    assert_eq!(emu(&r).count(Route::GroupGet), 2);
}

#[tokio::test]
async fn a_slow_answer_past_the_timeout_is_retried() {
    let r = start().await;
    emu(&r).inject(
        Route::GroupGet,
        1,
        FaultAction::Delay(Duration::from_secs(3)),
    );
    let mut s = settings(&r);
    s.http.timeout = Duration::from_millis(300);
    client_with(&r, s, credentials())
        .get_group(&gid(GROUP))
        .await
        .unwrap();
    assert_eq!(emu(&r).count(Route::GroupGet), 2);
}

#[tokio::test]
async fn adds_and_removes_in_both_remove_styles() {
    for style in [RemoveStyle::ValueList, RemoveStyle::FilterPath] {
        let r = start().await;
        let mut s = settings(&r);
        s.remove_style = style;
        let c = client_with(&r, s, credentials());
        let changes = MemberChanges {
            add: users(10..12),
            remove: users(0..2),
        };
        let out = c
            .patch_members(&gid(GROUP), &pre(&r), &changes)
            .await
            .unwrap();
        assert_eq!(out.patches, 1);
        assert_eq!(out.etag.unwrap().0, "\"2\"");
        let want: Vec<String> = ["u002", "u003", "u004", "u010", "u011"]
            .map(String::from)
            .to_vec();
        assert_eq!(emu(&r).members(GROUP), want, "{style:?}");
    }
}

#[tokio::test]
async fn one_hundred_twenty_adds_go_in_three_patches_chaining_etags() {
    for mode in [PatchResponse::Body, PatchResponse::NoContent] {
        let r = start().await;
        emu(&r).configure(|o| o.patch_response = mode);
        let planned = etag(&r, GROUP);
        let out = client(&r)
            .patch_members(&gid(GROUP), &pre(&r), &adds(users(10..130)))
            .await
            .unwrap();
        let patches: Vec<_> = emu(&r)
            .journal()
            .into_iter()
            .filter(|x| x.route == Route::GroupPatch)
            .collect();
        assert_eq!(patches.len(), 3, "{mode:?}");
        assert_eq!(patches[0].if_match.as_deref(), Some(planned.as_str()));
        assert_eq!(patches[1].if_match, patches[0].etag);
        assert_eq!(patches[2].if_match, patches[1].etag);
        assert_eq!(out.etag.map(|e| e.0), patches[2].etag);
        assert_eq!(emu(&r).members(GROUP).len(), 125);
        let status = if mode == PatchResponse::Body {
            200
        } else {
            204
        };
        assert!(patches.iter().all(|p| p.status == status));
    }
}

#[tokio::test]
async fn each_stale_form_is_refused_and_never_retried() {
    for form in [
        StaleStatus::InvalidVers400,
        StaleStatus::Conflict409,
        StaleStatus::PreconditionFailed412,
    ] {
        let r = start().await;
        emu(&r).configure(|o| o.stale_status = form);
        let planned = pre(&r);
        emu(&r).write_behind(GROUP, &["u100"], &[]);
        let e = client(&r)
            .patch_members(&gid(GROUP), &planned, &adds(users(10..11)))
            .await
            .unwrap_err();
        assert!(e.is_stale(), "{form:?}: {e}");
        assert!(e.applied.is_empty());
        assert_eq!(
            emu(&r).count(Route::GroupPatch),
            1,
            "{form:?}: stale was retried"
        );
        assert!(!emu(&r).members(GROUP).contains(&"u010".to_string()));
    }
}

#[tokio::test]
async fn weak_etags_go_back_byte_for_byte() {
    let r = start().await;
    emu(&r).configure(|o| o.weak_etags = true);
    let c = client(&r);
    let g = c.get_group(&gid(GROUP)).await.unwrap();
    assert_eq!(g.etag.as_ref().unwrap().0, "W/\"1\"");
    let p = Precondition::of(g.etag, &g.members);
    c.patch_members(&gid(GROUP), &p, &adds(users(20..21)))
        .await
        .unwrap();
    let patch = emu(&r)
        .journal()
        .into_iter()
        .find(|x| x.route == Route::GroupPatch)
        .unwrap();
    assert_eq!(patch.if_match.as_deref(), Some("W/\"1\""));
    assert_eq!(patch.status, 200);
}

#[tokio::test]
async fn a_response_lost_after_commit_counts_as_applied() {
    let r = start().await;
    emu(&r).inject(Route::GroupPatch, 1, FaultAction::CommitThenDrop);
    let out = client(&r)
        .patch_members(&gid(GROUP), &pre(&r), &adds(users(10..12)))
        .await
        .unwrap();
    assert_eq!(out.recovered, 1);
    assert_eq!(out.etag.unwrap().0, "\"2\"");
    let statuses: Vec<_> = emu(&r)
        .journal()
        .into_iter()
        .filter(|x| x.route == Route::GroupPatch)
        .map(|x| (x.status, x.dropped))
        .collect();
    // Committed and dropped; the retry came back stale (our own change); a re-read settled it.
    assert_eq!(statuses, [(200, true), (400, false)]);
    assert_eq!(emu(&r).members(GROUP).len(), 7);
}

#[tokio::test]
async fn a_lost_response_with_a_concurrent_writer_is_stale() {
    let r = start().await;
    emu(&r).inject(Route::GroupPatch, 1, FaultAction::CommitThenDrop);
    emu(&r).write_after_patches(GROUP, 1, &["u150"], &[]);
    let e = client(&r)
        .patch_members(&gid(GROUP), &pre(&r), &adds(users(10..12)))
        .await
        .unwrap_err();
    assert!(e.is_stale(), "{e}");
}

#[tokio::test]
async fn a_lost_response_on_a_later_chunk_is_settled_against_the_chunks_sent() {
    let r = start().await;
    emu(&r).configure(|o| o.patch_response = PatchResponse::NoContent);
    // The second PATCH commits and its answer is lost.
    emu(&r).inject(Route::GroupPatch, 1, FaultAction::Delay(Duration::ZERO));
    emu(&r).inject(Route::GroupPatch, 1, FaultAction::CommitThenDrop);
    let out = client(&r)
        .patch_members(&gid(GROUP), &pre(&r), &adds(users(10..130)))
        .await
        .unwrap();
    assert_eq!(out.recovered, 1);
    assert_eq!(out.patches, 3);
    assert_eq!(emu(&r).members(GROUP).len(), 125);
}

#[tokio::test]
async fn a_writer_between_two_chunks_makes_the_rest_stale() {
    let r = start().await;
    emu(&r).write_after_patches(GROUP, 1, &["u199"], &[]);
    let e = client(&r)
        .patch_members(&gid(GROUP), &pre(&r), &adds(users(10..70)))
        .await
        .unwrap_err();
    assert!(e.is_stale());
    assert_eq!(e.applied, adds(users(10..60)));
    assert_eq!(emu(&r).count(Route::GroupPatch), 2);
}

#[tokio::test]
async fn an_unknown_user_fails_the_patch_and_changes_nothing() {
    let r = start().await;
    let mut changes = adds(users(10..12));
    changes.add.insert(UserId("ghost".into()));
    let e = client(&r)
        .patch_members(&gid(GROUP), &pre(&r), &changes)
        .await
        .unwrap_err();
    assert_eq!(e.error.status(), Some(400));
    let text = e.to_string();
    assert!(
        text.contains("invalidValue") && text.contains("ghost"),
        "{text}"
    );
    assert_eq!(emu(&r).members(GROUP).len(), 5);
    assert_eq!(emu(&r).etag(GROUP).unwrap(), "\"1\"");
}

#[tokio::test]
async fn finds_groups_by_display_name() {
    let r = start().await;
    let c = client(&r);
    assert_eq!(c.find_group_by_name("Sales").await.unwrap().id, gid(GROUP));
    emu(&r).add_group("g-q", r#"Team "A"] or id pr"#, &[]);
    assert_eq!(
        c.find_group_by_name(r#"Team "A"] or id pr"#)
            .await
            .unwrap()
            .id,
        gid("g-q")
    );
    let e = c.find_group_by_name("Marketing").await.unwrap_err();
    assert!(e.to_string().contains("SCIM cannot create groups"), "{e}");
    for i in 0..30 {
        emu(&r).add_group(&format!("dup-{i:02}"), "Dup", &[]);
    }
    match c.find_group_by_name("Dup").await.unwrap_err() {
        ScimError::AmbiguousGroup { count, .. } => assert_eq!(count, 30),
        other => panic!("{other:?}"),
    }
    // 30 matches take two pages of 25, without members.
    let lists: Vec<_> = emu(&r)
        .journal()
        .into_iter()
        .filter(|x| x.route == Route::GroupList && x.path.contains("groups"))
        .collect();
    assert!(lists.len() >= 5);
    assert!(c.find_group_by_name("line\nbreak").await.is_err());
}

#[tokio::test]
async fn finds_users_by_each_key() {
    let r = start().await;
    let c = client(&r);
    let u7 = Some(UserId(user(7)));
    assert_eq!(
        c.find_user(UserKey::Id, "u007")
            .await
            .unwrap()
            .map(|u| u.id),
        u7
    );
    assert_eq!(
        c.find_user(UserKey::UserName, "U007@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        u7
    );
    assert_eq!(
        c.find_user(UserKey::ExternalId, "ext-007")
            .await
            .unwrap()
            .map(|u| u.id),
        u7
    );
    assert_eq!(
        c.find_user(UserKey::UserName, "nobody@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        None
    );
    assert_eq!(
        c.find_user(UserKey::Id, r#"u007" or "1" eq "1"#)
            .await
            .unwrap()
            .map(|u| u.id),
        None
    );
    assert!(matches!(
        c.find_user(UserKey::Id, "a\nb").await.unwrap_err(),
        ScimError::UnsafeFilterValue { .. }
    ));
}

#[tokio::test]
async fn a_missing_group_is_a_404_with_advice() {
    let r = start().await;
    let e = client(&r)
        .get_group(&gid("nope"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("HTTP 404") && e.contains("target_id"), "{e}");
}

/// The server's own window (inin-ratelimit-* headers) is honoured even when the configured
/// rate is far above it: no 429 is drawn.
#[tokio::test]
async fn paces_from_the_servers_rate_limit_headers() {
    let r = start().await;
    emu(&r).configure(|o| {
        o.rate_limit = Some(scimsync::emulator::RateLimit {
            requests: 6,
            window: Duration::from_secs(1),
        });
    });
    let mut s = settings(&r);
    s.http.concurrency = 1;
    let c = client_with(&r, s, credentials());
    for _ in 0..10 {
        c.get_group(&gid(GROUP)).await.unwrap();
    }
    assert_eq!(emu(&r).count_status(Route::GroupGet, 429), 0);
    assert_eq!(emu(&r).count_status(Route::GroupGet, 200), 10);
    let gets: Vec<_> = emu(&r)
        .journal()
        .into_iter()
        .filter(|x| x.route == Route::GroupGet)
        .collect();
    let took = gets.last().unwrap().at.checked_sub(gets[0].at).unwrap();
    assert!(
        took >= Duration::from_secs(1),
        "10 requests at 6 per second took only {took:?}"
    );
}
