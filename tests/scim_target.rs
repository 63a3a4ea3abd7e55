//! `target.kind = "scim"`: any RFC 7644 server, here the emulator in strict-RFC mode without
//! ETags, answering 204 and 412.

use scimsync::emulator::{PatchResponse, Route, StaleStatus};
use scimsync::endpoint::Endpoint;
use scimsync::model::{MemberChanges, MemberSet, UserId};
use scimsync::model::{Precondition, RemoveStyle};
use scimsync::plan::file;
use scimsync::scim::{Credentials, TargetSettings};

use crate::harness::{self, GROUP, emu, gid};
use crate::scenario::{Group, Scenario};

/// A client of the emulator's `/scim/v2` face with a ready bearer token, its settings as
/// `kind = "scim"` makes them, then changed by `tweak`.
fn scim_client(
    r: &scimsync::emulator::Running,
    tweak: impl FnOnce(&mut TargetSettings),
) -> scimsync::scim::ScimClient {
    let token = "scim-token-9f8e";
    emu(r).issue_token(token);
    let base = Endpoint::parse(&format!("{}/scim/v2", r.base_url()), "test").unwrap();
    let mut settings = TargetSettings::scim(&base);
    settings.http = harness::settings(r).http;
    tweak(&mut settings);
    harness::client_with(
        r,
        settings,
        Credentials::Bearer {
            token: token.into(),
            source: "test".into(),
        },
    )
}

async fn strict() -> Scenario {
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u001", "u002", "u003", "u010"])
        .groups([Group::id("sales", "g-sales").full()])
        .scim_target();
    s.emu().configure(|o| {
        o.etags = false;
        o.strict_rfc = true;
        o.stale_status = StaleStatus::PreconditionFailed412;
        o.patch_response = PatchResponse::NoContent;
    });
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn plans_and_applies_against_a_strict_server_without_etags() {
    let s = strict().await;
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    let plan = file::read(&s.path("plan.json")).unwrap();
    assert_eq!(plan.target.kind, "scim");
    assert_eq!(plan.groups[0].precondition.etag, None);
    let run = s.run(&["apply", "plan.json"]).await;
    run.code(0);
    let mut want: Vec<String> = ["u000", "u001", "u002", "u003", "u010"]
        .map(String::from)
        .to_vec();
    want.sort();
    assert_eq!(s.emu().members("g-sales"), want);
    let journal = s.emu().journal();
    let patch = journal
        .iter()
        .find(|r| r.route == Route::GroupPatch)
        .unwrap();
    assert!(patch.path.starts_with("/scim/v2/Groups/"), "{}", patch.path);
    assert_eq!(patch.status, 204);
    assert!(patch.if_match.is_none(), "the server has no ETags");
    assert!(
        patch
            .body
            .as_deref()
            .unwrap()
            .contains(r#"members[value eq \"u004\"]"#),
        "filter-path removal by default"
    );
    // The member digest was checked by a re-read just before the PATCH, and the 204 (which
    // shows nothing: no version, no members) by a re-read after it.
    let gets = journal
        .iter()
        .filter(|r| r.route == Route::GroupGet)
        .count();
    assert_eq!(
        gets, 3,
        "one GET at plan time, one re-read before the PATCH, one after"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_etags_a_moved_group_is_still_refused() {
    let s = strict().await;
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu().write_behind("g-sales", &[], &["u000"]);
    let run = s.run(&["apply", "plan.json"]).await;
    run.code(3);
    assert_eq!(
        s.emu().count(Route::GroupPatch),
        0,
        "nothing sent to a moved group"
    );
    assert!(s.path("plan.replan.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn value_list_removal_is_refused_by_the_config_check() {
    let s = strict().await.remove_style(RemoveStyle::ValueList);
    s.run(&["plan", "--out", "plan.json"]).await.expect(
        1,
        &[],
        &["target.remove_style", "3.5.2.2", "filter-path"],
    );
    assert_eq!(
        s.emu().count(Route::GroupGet),
        0,
        "refused before any request"
    );
}

/// Why the config check refuses it: a literal RFC 7644 server reads an unfiltered remove as
/// "remove every member" (§3.5.2.2), so removing one member empties the group.
#[tokio::test]
async fn a_strict_server_empties_the_group_on_a_value_list_remove() {
    let r = harness::start().await;
    emu(&r).configure(|o| {
        o.etags = false;
        o.strict_rfc = true;
    });
    let client = scim_client(&r, |s| s.remove_style = RemoveStyle::ValueList);
    let group = client.get_group(&gid(GROUP)).await.unwrap();
    let pre = Precondition::of(None, &group.members);
    let changes = MemberChanges {
        add: MemberSet::new(),
        remove: [UserId("u004".into())].into(),
    };
    // The 204 shows nothing; the re-read after it shows more gone than was asked: the
    // write is not taken as done.
    let e = client
        .patch_members(&gid(GROUP), &pre, &changes)
        .await
        .unwrap_err();
    assert!(e.is_stale(), "{e}");
    assert!(
        emu(&r).members(GROUP).is_empty(),
        "one removal emptied the group: {:?}",
        emu(&r).members(GROUP)
    );
}

/// A 204 answer without an ETag from a server that has ETags: the next chunk must still carry
/// If-Match, learnt from the re-read that verifies the chunk.
#[tokio::test]
async fn a_204_without_an_etag_keeps_if_match_on_every_chunk() {
    let r = harness::start().await;
    emu(&r).configure(|o| o.patch_response = PatchResponse::NoContentNoEtag);
    let client = scim_client(&r, |s| s.max_members_per_patch = 1);
    let group = client.get_group(&gid(GROUP)).await.unwrap();
    let pre = Precondition::of(group.etag.clone(), &group.members);
    assert!(pre.etag.is_some());
    client
        .patch_members(&gid(GROUP), &pre, &harness::adds(harness::users(10..13)))
        .await
        .unwrap();
    let patches: Vec<_> = emu(&r)
        .journal()
        .into_iter()
        .filter(|r| r.route == Route::GroupPatch)
        .collect();
    assert_eq!(patches.len(), 3);
    for p in &patches {
        assert_eq!(p.status, 204);
        assert!(p.if_match.is_some(), "a chunk went without If-Match: {p:?}");
    }
    assert_eq!(emu(&r).members(GROUP).len(), 8);
}

/// Genesys answers 413 to a PATCH body over 512,000 bytes; the error says what to do.
#[tokio::test]
async fn a_patch_body_over_the_cap_answers_413() {
    let r = harness::start().await;
    emu(&r).configure(|o| o.max_patch_bytes = 200);
    let mut settings = harness::settings(&r);
    settings.max_members_per_patch = 50;
    let client = harness::client_with(&r, settings, harness::credentials());
    let pre = Precondition::of(Some(harness::etag(&r, GROUP)), &harness::users(0..5));
    let e = client
        .patch_members(&gid(GROUP), &pre, &harness::adds(harness::users(10..40)))
        .await
        .unwrap_err();
    assert_eq!(e.error.status(), Some(413), "{e}");
    assert!(e.to_string().contains("max_members_per_patch"), "{e}");
    assert_eq!(emu(&r).members(GROUP).len(), 5, "nothing applied");
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_says_up_front_that_a_genesys_group_sends_no_etag() {
    let s = Scenario::new().await.idp("sales", &["u000"]);
    s.emu().configure(|o| o.etags = false);
    s.run(&["validate"])
        .await
        .expect(1, &["sent no ETag", "g-sales"], &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_412_from_a_server_with_etags_is_stale() {
    let s = strict().await;
    s.emu().configure(|o| o.etags = true);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu().write_behind("g-sales", &[], &["u000"]);
    s.run(&["apply", "plan.json"]).await.code(3);
    let patch = s
        .emu()
        .journal()
        .into_iter()
        .find(|r| r.route == Route::GroupPatch)
        .unwrap();
    assert_eq!(patch.status, 412);
}

/// `excludedAttributes=members` on PATCH (RFC 7644 §3.9): sent by default to a `scim` target,
/// only when asked for to Genesys; the emulator then answers the group without its members,
/// and the apply goes on with the ETag alone.
#[tokio::test(flavor = "multi_thread")]
async fn patch_answers_leave_out_members_where_the_target_is_told_to() {
    for excluded in [false, true] {
        let s = Scenario::new()
            .await
            .idp("sales", &["u000", "u001", "u002", "u003", "u010"])
            .groups([Group::id("sales", "g-sales").full()])
            .target_setting("max_members_per_patch", 1);
        let s = if excluded {
            s.target_setting("patch_excludes_members", true)
        } else {
            s
        };
        s.run(&["plan", "--out", "plan.json"]).await.code(0);
        s.run(&["apply", "plan.json"]).await.code(0);
        let patches: Vec<_> = s
            .emu()
            .journal()
            .into_iter()
            .filter(|r| r.route == Route::GroupPatch)
            .collect();
        assert!(patches.len() > 1, "chunks chain ETags: {}", patches.len());
        for p in &patches {
            assert_eq!(
                p.query.as_deref() == Some("excludedAttributes=members"),
                excluded,
                "excluded {excluded}: {:?}",
                p.query
            );
            assert!(p.if_match.is_some());
        }
        let mut want: Vec<String> = ["u000", "u001", "u002", "u003", "u010"]
            .map(String::from)
            .to_vec();
        want.sort();
        assert_eq!(s.emu().members("g-sales"), want, "excluded {excluded}");
    }
    let s = strict().await;
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.run(&["apply", "plan.json"]).await.code(0);
    let journal = s.emu().journal();
    let patch = journal
        .iter()
        .find(|r| r.route == Route::GroupPatch)
        .unwrap();
    assert_eq!(patch.query.as_deref(), Some("excludedAttributes=members"));
}
