//! `target.kind = "scim"`: any RFC 7644 server, here the emulator in strict-RFC mode without
//! ETags, answering 204 and 412.

use scimsync::emulator::{PatchResponse, Route, StaleStatus};
use scimsync::plan::file;

use crate::scenario::Scenario;

async fn strict() -> Scenario {
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u001", "u002", "u003", "u010"])
        .groups(&["name = \"sales\"\ntarget_id = \"g-sales\"\nmode = \"full\""])
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
    // The member digest was checked by a re-read just before the PATCH.
    let gets = journal
        .iter()
        .filter(|r| r.route == Route::GroupGet)
        .count();
    assert_eq!(
        gets, 2,
        "one GET at plan time, one re-read before the PATCH"
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
async fn value_list_removal_is_refused_by_a_strict_server() {
    let s = strict().await.target("remove_style = \"value-list\"");
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    let run = s.run(&["apply", "plan.json"]).await;
    run.code(1);
    assert!(run.stdout.contains("invalidValue"), "{}", run.stdout);
    assert!(
        s.emu().members("g-sales").contains(&"u004".to_string()),
        "nothing changed"
    );
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
