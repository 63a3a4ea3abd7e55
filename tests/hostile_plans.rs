//! Plans that a careless answer or config would make dangerous (issue 20, findings 7, 8 and
//! 18): each is refused, guarded or kept safe, and says why.

use scimsync::model::UserKey;
use scimsync::plan::file;

use crate::scenario::{Group, STATE_FILE, Safety, Scenario};

fn full_mode() -> Group {
    Group::id("sales", "g-sales").full()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_whose_keys_resolve_to_nobody_empties_no_group() {
    // Guards wide open but the empty-source one: a listing of unknown keys must not count
    // as a membership.
    let s = Scenario::new()
        .await
        .groups([full_mode()])
        .safety(Safety::unguarded())
        .idp("sales", &["ghost-1", "ghost-2"]);
    s.run(&["plan", "--out", "plan.json"]).await.expect(
        4,
        &[],
        &["names no Genesys user", "source.user_key"],
    );
    assert!(!s.path("plan.json").exists());
    assert_eq!(s.emu().members("g-sales").len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removal_ratio_of_zero_allows_no_removal() {
    let s = Scenario::new()
        .await
        .groups([full_mode()])
        .safety(Safety::default().max_ratio(0.0))
        .idp("sales", &["u000", "u001", "u002", "u003"]);
    s.run(&["plan", "--out", "plan.json"]).await.expect(
        4,
        &[],
        &["would lose 1 of its 5 members, over the limit of 0"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_id_that_is_not_an_id_is_refused() {
    for bad in [
        "..",
        ".",
        "g-sales/../g-other",
        "g sales",
        "g-sales?x=1",
        "%2e%2e",
    ] {
        let s = Scenario::new().await.groups([Group::id("sales", bad)]);
        s.run(&["plan"])
            .await
            .expect(1, &[], &["group[0].target_id", "is not a group id"]);
        assert_eq!(s.emu().journal().len(), 0, "{bad}: a request was sent");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_whose_case_changed_removes_nobody_it_still_grants() {
    // Keys are externalIds, which Genesys matches case-exactly (RFC 7643 §3.1).
    let s = Scenario::new()
        .await
        .user_key(UserKey::ExternalId)
        .idp("sales", &["ext-000", "ext-010"]);
    s.run(&["plan", "--out", "p0.json"]).await.code(0);
    s.run(&["apply", "p0.json"]).await.code(0);
    assert!(s.emu().members("g-sales").iter().any(|m| m == "u010"));
    // The IdP now spells the key in upper case: the same person, another key.
    s.emu().idp_change("sales", &["EXT-010"], &["ext-010"]);
    let run = s.run(&["plan", "--out", "p1.json"]).await;
    run.code(0);
    let p1 = file::read(&s.path("p1.json")).unwrap();
    let g = &p1.groups[0];
    assert!(g.changes.remove.is_empty(), "{:?}", g.changes);
    assert!(
        g.skipped
            .iter()
            .any(|k| k.user == "ext-010" && k.reason.as_str() == "case-twin"),
        "{:?}",
        g.skipped
    );
    assert!(run.stdout.contains("ext-010 (case-twin)"), "{}", run.stdout);
}

/// Plan `sales` (IdP adds u010 and u011) into `plan.json`.
async fn planned() -> Scenario {
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u010", "u011"]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s
}

/// Edit `plan.json` with `edit`, then reseal it as someone covering their tracks would.
fn reseal(s: &Scenario, edit: impl FnOnce(&mut scimsync::plan::Plan)) {
    let mut plan = file::read(&s.path("plan.json")).unwrap();
    edit(&mut plan);
    plan.summary = scimsync::plan::Summary::of(&plan.groups);
    file::seal(&mut plan);
    file::write(&s.path("plan.json"), &plan).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resealed_plan_whose_changes_do_not_follow_from_its_intent_is_refused() {
    let s = planned().await;
    reseal(&s, |plan| {
        let g = &mut plan.groups[0];
        let extra = scimsync::model::UserId::from("u150");
        g.changes.add.insert(extra.clone());
        g.reasons
            .insert(extra, scimsync::plan::ChangeReason::Granted);
    });
    s.run(&["apply", "plan.json"]).await.expect(
        1,
        &[
            "does not agree with itself",
            "it adds u150 whom no desired key names",
        ],
        &[],
    );
    assert_eq!(s.emu().members("g-sales").len(), 5, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_never_overwrite_the_state_the_config_or_the_plan() {
    let s = planned().await;
    s.run(&["apply", "plan.json"]).await.code(0);
    let state_before = std::fs::read(s.path(STATE_FILE)).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(s.path(STATE_FILE), s.path("link.json")).unwrap();
    for (args, what) in [
        (vec!["plan", "--out", "scimsync.toml"], "is the config"),
        (vec!["plan", "--out", "scimsync.state.json"], "is the state"),
        (
            vec!["plan", "--out", "./sub/../scimsync.state.json"],
            "is the state",
        ),
        #[cfg(unix)]
        (vec!["plan", "--out", "link.json"], "is the state"),
        (
            vec!["apply", "plan.json", "--replan-out", "scimsync.state.json"],
            "is the state",
        ),
        (
            vec!["apply", "plan.json", "--replan-out", "plan.json"],
            "is the plan being applied",
        ),
    ] {
        std::fs::create_dir_all(s.path("sub")).unwrap();
        let run = s.run(&args).await;
        run.code(1);
        assert!(run.stderr.contains(what), "{args:?}: {}", run.stderr);
    }
    assert_eq!(std::fs::read(s.path(STATE_FILE)).unwrap(), state_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_made_with_other_source_settings_is_refused() {
    let s = planned().await;
    let s = s.user_key(UserKey::UserName);
    s.run(&["apply", "plan.json"]).await.expect(
        1,
        &[],
        &["source.user_key was \"id\", the config now says \"userName\""],
    );
    assert_eq!(s.emu().members("g-sales").len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_plan_warns_and_max_plan_age_refuses_it() {
    let s = planned().await;
    reseal(&s, |plan| {
        plan.created_at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(10 * 24);
    });
    s.run(&["apply", "plan.json", "--max-plan-age", "7d"])
        .await
        .expect(1, &[], &["was made 10d ago", "--max-plan-age"]);
    assert_eq!(s.emu().members("g-sales").len(), 5);
    let run = s.run(&["apply", "plan.json"]).await;
    run.code(0);
    assert!(run.stderr.contains("was made 10d ago"), "{}", run.stderr);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_linked_state_is_written_through_and_a_shared_one_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let s = planned().await;
    let shared = s.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(
        shared.join("state.json"),
        b"{\"format_version\": 2, \"groups\": {}}",
    )
    .unwrap();
    std::os::unix::fs::symlink(shared.join("state.json"), s.path(STATE_FILE)).unwrap();
    s.run(&["apply", "plan.json"]).await.code(0);
    let link = s.path(STATE_FILE);
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    let state = scimsync::state::State::load_file(&shared.join("state.json")).unwrap();
    assert_eq!(
        state.groups["sales"].serial, 1,
        "the link's target holds the apply"
    );
    std::fs::set_permissions(
        shared.join("state.json"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    s.run(&["plan"]).await.expect(
        0,
        &[],
        &["is writable by every user of this machine", "chmod 600"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_refuses_its_own_weak_etag_is_diagnosed() {
    let s = Scenario::new().await;
    s.emu().configure(|o| {
        o.weak_etags = true;
        o.strong_if_match = true;
    });
    let s = s.idp("sales", &["u000", "u010"]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.run(&["apply", "plan.json"]).await.expect(
        3,
        &[
            "refused If-Match W/\"1\", the ETag it sends itself",
            "RFC 9110",
        ],
        &[],
    );
}
