//! `scimsync plan`, `show` and `validate`: the real binary against the emulator.

use scimsync::emulator::{FaultAction, Route};
use scimsync::model::UserKey;
use scimsync::plan::{ChangeReason, PendingReason, Plan, ReadKind, SkipReason, file};
use scimsync::state::{GroupRecord, State};

use crate::harness::{names, pending};
use crate::scenario::{Group, STATE_FILE, Safety, Scenario, read};
use crate::snapshot;

/// IdP `sales` = u000..u002 (members already) + u010, u011 (new).
async fn sales() -> Scenario {
    Scenario::new()
        .await
        .idp("sales", &["u000", "u001", "u002", "u010", "u011"])
}

/// A state holding `sales`'s current IdP cursor and mirror (the IdP's members, plus u001
/// which the IdP granted earlier), so the next plan reads a delta.
fn at_current_cursor(s: &Scenario) {
    let cursor = s.emu().idp_cursor();
    let mut mirror: std::collections::BTreeSet<scimsync::model::IdpKey> = s
        .emu()
        .idp_members("sales")
        .into_iter()
        .map(Into::into)
        .collect();
    mirror.insert("u001".into());
    let mut state = State::default();
    state.groups.insert(
        "sales".into(),
        GroupRecord {
            cursor: Some(cursor.into()),
            idp_members: Some(mirror),
            ..GroupRecord::default()
        },
    );
    state.save_file(&s.path(STATE_FILE)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_plan_adds_the_idp_members_and_skips_current_ones() {
    let s = sales().await;
    let run = s.run(&["plan", "--out", "plan.json"]).await;
    run.code(0);
    snapshot!("plan_first_table", s.redact(&run.stdout));
    let plan = s.plan_at("plan.json");
    let g = &plan.groups[0];
    assert_eq!(names(&g.changes.add), ["u010", "u011"]);
    assert!(g.changes.remove.is_empty());
    assert!(g.skipped.is_empty() && g.pending.is_empty());
    assert_eq!(g.intent.desired_count, 5);
    assert_eq!(g.intent.granted.len(), 5, "a first read grants everyone");
    assert!(!g.intent.mirror_known, "a first read knows no mirror");
    assert_eq!(g.precondition.etag.as_ref().unwrap().as_str(), "\"1\"");
    assert_eq!(g.precondition.member_count, 5);
    assert_eq!(g.source.cursor_from, None);
    assert!(g.source.cursor_to.is_some());
    assert!(
        run.stderr.contains("Plan written to plan.json"),
        "{}",
        run.stderr
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.path("plan.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Nothing was written to Genesys.
    assert_eq!(s.emu().count(Route::GroupPatch), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delta_since_the_cursor_adds_and_removes() {
    let s = sales().await;
    at_current_cursor(&s);
    s.emu().idp_change("sales", &["u020"], &["u001", "u010"]);
    let run = s
        .run(&["plan", "--format", "markdown", "--out", "p.json"])
        .await;
    run.code(0);
    snapshot!("plan_delta_markdown", s.redact(&run.stdout));
    let g = &s.plan_at("p.json").groups[0];
    // u020 granted; u011 granted earlier but not in the group: restored. u001 revoked.
    assert_eq!(names(&g.changes.add), ["u011", "u020"]);
    assert_eq!(names(&g.changes.remove), ["u001"]);
    assert_eq!(g.reasons["u011"], ChangeReason::Restored);
    assert_eq!(g.reasons["u001"], ChangeReason::Revoked);
    assert_eq!(g.source.read, ReadKind::Delta);
    assert!(g.source.cursor_from.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn json_format_is_the_plan_file() {
    let s = sales().await;
    let run = s
        .run(&["plan", "--format", "json", "--out", "p.json"])
        .await;
    run.code(0);
    assert_eq!(run.stdout, read(&s.path("p.json")));
    let parsed: Plan = serde_json::from_str(&run.stdout).unwrap();
    file::verify(&parsed, "stdout").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn detailed_exitcode_is_2_with_changes_and_0_without() {
    let s = sales().await;
    s.run(&["plan", "--detailed-exitcode"]).await.code(2);
    let same = Scenario::new().await.idp("sales", &["u000", "u001"]);
    let run = same.run(&["plan", "--detailed-exitcode"]).await;
    run.code(0);
    assert!(run.stdout.contains("No changes"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn show_renders_warns_on_tampering_and_refuses_newer_formats() {
    let s = sales().await;
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    let shown = s.run(&["show", "p.json"]).await;
    shown.code(0);
    assert!(shown.stdout.contains("+ u010"));
    let md = s.run(&["show", "p.json", "--format", "markdown"]).await;
    md.code(0);
    assert!(md.stdout.starts_with("### scimsync plan"));

    let text = read(&s.path("p.json"));
    std::fs::write(s.path("t.json"), text.replace("\"u010\"", "\"u099\"")).unwrap();
    let tampered = s.run(&["show", "t.json"]).await;
    tampered.code(0);
    assert!(
        tampered.stderr.contains("modified after it was made"),
        "{}",
        tampered.stderr
    );

    std::fs::write(
        s.path("old.json"),
        text.replace(
            "\"created_at\": \"",
            "\"created_at\": \"2020-01-01T00:00:00Z\", \"x\": \"",
        ),
    )
    .unwrap();
    let mut plan: Plan = serde_json::from_str(&text).unwrap();
    plan.created_at = "2020-01-01T00:00:00Z".parse().unwrap();
    file::seal(&mut plan);
    file::write(&s.path("old.json"), &plan).unwrap();
    let old = s.run(&["show", "old.json"]).await;
    old.code(0);
    assert!(old.stderr.contains("hours ago"), "{}", old.stderr);

    std::fs::write(
        s.path("n.json"),
        text.replace("\"format_version\": 2", "\"format_version\": 7"),
    )
    .unwrap();
    let newer = s.run(&["show", "n.json"]).await;
    newer.code(1);
    snapshot!("show_newer_format", s.redact(&newer.stderr));

    std::fs::write(s.path("cut.json"), &text[..text.len() / 3]).unwrap();
    let cut = s.run(&["show", "cut.json"]).await;
    cut.code(1);
    assert!(
        cut.stderr.contains("cut.json is not a scimsync plan file"),
        "{}",
        cut.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn full_mode_removes_what_the_idp_lacks_and_the_guard_stops_mass_removals() {
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u001", "u002", "u003"])
        .groups([Group::id("sales", "g-sales").full()]);
    let run = s.run(&["plan", "--out", "p.json"]).await;
    run.code(0);
    let g = &s.plan_at("p.json").groups[0];
    assert_eq!(names(&g.changes.remove), ["u004"]);
    assert_eq!(g.source.read, ReadKind::Full);

    // The IdP now lacks three of five: over the limit of max(1, ⌊0.25 × 5⌋) = 1.
    s.emu().idp_change("sales", &[], &["u001", "u002"]);
    std::fs::remove_file(s.path("p.json")).unwrap();
    let guarded = s.run(&["plan", "--out", "p.json"]).await;
    guarded.code(4);
    snapshot!("plan_guard_removals", s.redact(&guarded.stderr));
    assert!(!s.path("p.json").exists(), "no plan file after a guard");

    let allowed = s
        .run(&["plan", "--out", "p.json", "--allow-removals", "3"])
        .await;
    allowed.code(0);
    let g = &s.plan_at("p.json").groups[0];
    assert_eq!(g.guard.removals, 3);
    assert_eq!(g.guard.limit, 3);
    assert!(g.guard.overridden);
    s.run(&["plan", "--allow-removals", "2"]).await.code(4);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_full_answer_is_a_guard_unless_allowed() {
    let s = Scenario::new()
        .await
        .groups([Group::id("sales", "g-sales").full()]);
    s.emu().idp_change("sales", &["u000"], &["u000"]);
    s.run(&["plan", "--out", "p.json"]).await.expect(
        4,
        &[],
        &["empty membership", "allow_empty_source"],
    );
    assert!(!s.path("p.json").exists());
    let s = s.safety(Safety::default().allow_empty_source());
    s.run(&["plan", "--out", "p.json", "--allow-removals", "5"])
        .await
        .code(0);
    assert_eq!(s.plan_at("p.json").summary.remove, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn protected_members_are_never_removed() {
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u001", "u002", "u003"])
        .groups([Group::id("sales", "g-sales").full()])
        .safety(Safety::default().protect("u004"));
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    let g = &s.plan_at("p.json").groups[0];
    assert!(g.changes.remove.is_empty());
    assert_eq!(g.skipped[0].reason, SkipReason::Protected);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_users_are_pending_or_with_strict_an_error() {
    let s = Scenario::new().await.idp("sales", &["u010", "ghost-1"]);
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    let g = &s.plan_at("p.json").groups[0];
    assert_eq!(g.changes.add.len(), 1);
    assert_eq!(g.pending[0].key, "ghost-1");
    assert_eq!(g.pending[0].reason, PendingReason::UnknownUser);
    let strict = s.run(&["plan", "--strict", "--out", "strict.json"]).await;
    strict.code(1);
    assert!(
        strict.stderr.contains("ghost-1") && strict.stderr.contains("--strict"),
        "{}",
        strict.stderr
    );
    assert!(!s.path("strict.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn user_keys_are_resolved_through_scim_filters() {
    let s = Scenario::new()
        .await
        .idp(
            "sales",
            &["u000@example.com", "u030@example.com", "nobody@example.com"],
        )
        .user_key(UserKey::UserName);
    // Without the Platform API's scope: SCIM reads (tests/platform_users.rs has the bulk reads).
    s.emu()
        .configure(|o| o.platform_users = scimsync::emulator::PlatformUsers::MissingScope);
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    let g = &s.plan_at("p.json").groups[0];
    assert_eq!(names(&g.changes.add), ["u030"]);
    assert_eq!(
        pending(g),
        [("nobody@example.com", PendingReason::UnknownUser)]
    );
    assert_eq!(s.emu().count(Route::UserList), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_get_per_group_and_one_lookup_per_distinct_new_user() {
    let s = Scenario::new().await;
    // Without the Platform API's scope: SCIM reads (tests/platform_users.rs has the bulk reads).
    s.emu()
        .configure(|o| o.platform_users = scimsync::emulator::PlatformUsers::MissingScope);
    s.emu().add_group("g-support", "Support", &["u050", "u051"]);
    s.emu().add_group("g-ops", "Ops", &[]);
    s.emu()
        .idp_change("sales", &["u000", "u050", "u060", "u061"], &[]);
    s.emu()
        .idp_change("support", &["u050", "u060", "u000"], &[]);
    s.emu().idp_change("ops", &["u060", "u061", "u062"], &[]);
    let s = s.groups([
        Group::id("sales", "g-sales"),
        Group::named("support", "Support"),
        Group::id("ops", "g-ops"),
    ]);
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    assert_eq!(s.emu().count(Route::GroupGet), 3);
    assert_eq!(
        s.emu().count(Route::GroupList),
        1,
        "one lookup for the group named by target_name"
    );
    // Only users never seen as members of a group read in this plan are looked up, once each:
    // u060, u061, u062. u000 and u050 (members of sales and support) cost nothing.
    assert_eq!(s.emu().count(Route::UserList), 3);
    assert_eq!(s.plan_at("p.json").summary.groups, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn group_selection() {
    let s = sales().await;
    s.emu().add_group("g-ops", "Ops", &[]);
    s.emu().idp_change("ops", &["u070"], &[]);
    let s = s.groups([Group::id("sales", "g-sales"), Group::id("ops", "g-ops")]);
    s.run(&["plan", "--group", "ops", "--out", "p.json"])
        .await
        .code(0);
    let plan = s.plan_at("p.json");
    assert_eq!(plan.groups.len(), 1);
    assert_eq!(plan.groups[0].mapping.idp_group, "ops");
    let bad = s.run(&["plan", "--group", "nope"]).await;
    bad.code(1);
    assert!(
        bad.stderr.contains("no [[group]] is named \"nope\"") && bad.stderr.contains("sales, ops"),
        "{}",
        bad.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn file_source_in_full_mode() {
    let s = Scenario::new()
        .await
        .source("kind = \"file\"\npath = \"members.toml\"\n")
        .groups([Group::id("sales", "g-sales").full()]);
    std::fs::write(
        s.path("members.toml"),
        "[groups.sales]\nmembers = [\"u000\", \"u001\", \"u002\", \"u003\", \"u090\"]\n",
    )
    .unwrap();
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    let g = &s.plan_at("p.json").groups[0];
    assert_eq!(names(&g.changes.add), ["u090"]);
    assert_eq!(names(&g.changes.remove), ["u004"]);
    assert_eq!(g.source.kind, "file");
}

/// Each bad IdP answer: its message, exit 1, no plan file, and never a removal.
#[tokio::test(flavor = "multi_thread")]
async fn bad_idp_answers_fail_closed() {
    let s = sales().await;
    at_current_cursor(&s);
    s.emu().idp_change("sales", &[], &["u000"]);

    s.emu().inject(
        Route::IdpDelta,
        100,
        FaultAction::Status {
            status: 500,
            retry_after: None,
        },
    );
    s.run(&["plan", "--out", "p.json"])
        .await
        .expect(1, &[], &["IdP group \"sales\"", "HTTP 500"]);
    assert!(!s.path("p.json").exists());

    let s = Scenario::new().await;
    s.emu().idp_change("sales", &["u000"], &[]);
    s.emu().inject(
        Route::IdpDelta,
        1,
        FaultAction::Status {
            status: 403,
            retry_after: None,
        },
    );
    let run = s.run(&["plan", "--out", "p.json"]).await;
    run.code(1);
    snapshot!("plan_idp_403", s.redact(&run.stderr));

    // An expired cursor is no failure: the group resyncs from the whole membership.
    let s = sales().await;
    at_current_cursor(&s);
    s.emu().idp_expire_cursors();
    let run = s.run(&["plan", "--out", "p.json"]).await;
    run.code(0);
    assert!(run.stderr.contains("has expired"), "{}", run.stderr);
    assert_eq!(s.plan_at("p.json").groups[0].source.read, ReadKind::Resync);

    let s = sales().await.env("IDP_API_TOKEN", "wrong");
    let run = s.run(&["plan", "--out", "p.json"]).await;
    run.code(1);
    assert!(run.stderr.contains("HTTP 401"), "{}", run.stderr);

    let missing = Scenario::new().await;
    let run = missing.run(&["plan", "--out", "p.json"]).await;
    run.code(1);
    assert!(
        run.stderr.contains("HTTP 404") && run.stderr.contains("no IdP group"),
        "{}",
        run.stderr
    );
}

/// A stub IdP on loopback whose delta endpoint always answers `body`; its base URL.
async fn stub_idp(body: Vec<u8>) -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/delta/groups/members",
        get(move || async move { body.clone() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let idp = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    idp
}

/// A scenario whose source is the stub IdP at `idp`.
async fn with_idp(idp: &str) -> Scenario {
    Scenario::new().await.source(&format!(
        "kind = \"delta-http\"\nbase_url = \"{idp}\"\ntoken_env = \"IDP_API_TOKEN\"\n"
    ))
}

/// An IdP that answers garbage, JSON without the expected keys, or contradictions: a stub IdP
/// on loopback serving each body.
#[tokio::test(flavor = "multi_thread")]
async fn unreadable_idp_answers_fail_closed() {
    for (body, expect) in [
        ("<html>oops</html>", "not the JSON expected"),
        ("{\"additions\": []}", "missing field `removals`"),
        (
            "{\"additions\": [\"u1\"], \"removals\": [\"u1\"], \"idp_etag\": \"c9\"}",
            "both as added and as removed",
        ),
        (
            "{\"additions\": [], \"removals\": [], \"idp_etag\": \"\"}",
            "idp_etag is empty",
        ),
    ] {
        let s = with_idp(&stub_idp(body.as_bytes().to_vec()).await).await;
        let run = s.run(&["plan", "--out", "p.json"]).await;
        run.code(1);
        assert!(run.stderr.contains(expect), "{expect}: {}", run.stderr);
        assert!(!s.path("p.json").exists());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configs_name_file_and_key() {
    type Edit = Box<dyn Fn(String) -> String>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "unknown_key",
            Box::new(|c: String| c.replace("[target]", "[target]\ncolour = \"red\"")),
            "colour",
        ),
        (
            "wrong_type",
            Box::new(|c: String| c.replace("[target]", "[target]\nconcurrency = \"four\"")),
            "concurrency",
        ),
        (
            "plaintext",
            Box::new(|c: String| {
                c.replace(
                    "[source]\nkind = \"delta-http\"\nbase_url = \"http://127.0.0.1",
                    "[source]\nkind = \"delta-http\"\nbase_url = \"http://10.1.2.3",
                )
            }),
            "source.base_url",
        ),
        (
            "no_groups",
            Box::new(|c: String| c[..c.find("[[group]]").unwrap()].to_owned()),
            "[[group]]",
        ),
        (
            "bad_mode",
            Box::new(|c: String| c + "mode = \"sometimes\"\n"),
            "sometimes",
        ),
        ("not_toml", Box::new(|_| "[target\n".to_owned()), "line 1"),
    ];
    for (name, edit, expect) in cases {
        let s = sales().await;
        let text = edit(s.config_text());
        std::fs::write(s.path("scimsync.toml"), text).unwrap();
        let run = s.run_raw(&["plan", "--out", "p.json"]).await;
        run.code(1);
        assert!(
            run.stderr.contains("scimsync.toml") && run.stderr.contains(expect),
            "{name}: {}",
            run.stderr
        );
        assert!(!s.path("p.json").exists(), "{name}");
        if name == "unknown_key" {
            snapshot!("config_unknown_key", s.redact(&run.stderr));
        }
    }
    let s = sales().await;
    std::fs::write(s.path("scimsync.toml"), b"\xff\xfe[target]").unwrap();
    let run = s.run_raw(&["plan"]).await;
    run.code(1);
    assert!(run.stderr.contains("not UTF-8"), "{}", run.stderr);
    let run = s.run_raw(&["plan", "--config", "missing.toml"]).await;
    run.code(1);
    assert!(run.stderr.contains("missing.toml"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_credentials_are_named() {
    let s = sales().await.without_credentials();
    let run = s.run(&["plan"]).await;
    run.code(1);
    snapshot!("plan_no_credentials", s.redact(&run.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_genesys_group_fails_the_plan() {
    let s = sales().await.groups([Group::named("sales", "Saless")]);
    s.run(&["plan", "--out", "p.json"])
        .await
        .expect(1, &[], &["SCIM cannot create groups"]);
    assert!(!s.path("p.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_prints_a_checklist() {
    let s = sales().await;
    let ok = s.run(&["validate"]).await;
    ok.code(0);
    snapshot!("validate_ok", s.redact(&ok.stdout));
    let s = s.groups([Group::id("sales", "g-sales"), Group::id("ops", "g-nope")]);
    let bad = s.run(&["validate"]).await;
    bad.code(1);
    assert!(
        bad.stdout.contains("✗ group ops") && bad.stdout.contains("✗ IdP"),
        "{}",
        bad.stdout
    );
}

/// Bodies no IdP should send: a million ids (a 20 MB body, heavy), and bytes that are not UTF-8.
#[tokio::test(flavor = "multi_thread")]
async fn a_1m_id_answer_and_non_utf8_bytes_are_refused() {
    let ids: Vec<String> = (0..1_000_000).map(|i| format!("user-{i:07}")).collect();
    let huge = serde_json::json!({"additions": ids, "removals": [], "idp_etag": "c1"})
        .to_string()
        .into_bytes();
    let not_utf8 =
        b"{\"additions\": [\"\xff\xfe\"], \"removals\": [], \"idp_etag\": \"c1\"}".to_vec();
    for (body, expect) in [(huge, "1000000 users"), (not_utf8, "not the JSON expected")] {
        let s = with_idp(&stub_idp(body).await).await;
        let run = s.run(&["plan", "--out", "p.json"]).await;
        run.code(1);
        assert!(run.stderr.contains(expect), "{expect}: {}", run.stderr);
        assert!(!s.path("p.json").exists());
        assert_eq!(
            s.emu().count(Route::UserList),
            0,
            "no lookups for a refused answer"
        );
    }
}

/// A member that is a group (`type: "Group"`) is never removed, added or counted, and is
/// shown apart; an IdP key holding a control character is a skipped user, not a failed plan.
#[tokio::test(flavor = "multi_thread")]
async fn group_members_are_left_alone_and_control_character_keys_are_skipped() {
    let s = Scenario::new()
        .await
        .idp(
            "sales",
            &["u000", "u001", "u002", "u003", "u004", "bad\u{7}key"],
        )
        .groups([Group::id("sales", "g-sales").full()]);
    s.emu().add_group("g-nested", "Nested", &["u100"]);
    s.emu().write_behind("g-sales", &["g-nested"], &[]);
    let run = s.run(&["plan", "--out", "p.json"]).await;
    run.code(0);
    let g = &s.plan_at("p.json").groups[0];
    assert!(g.changes.is_empty(), "{:?}", g.changes);
    assert_eq!(g.precondition.member_count, 5, "groups are not counted");
    assert_eq!(
        g.member_groups
            .iter()
            .map(scimsync::model::GroupId::as_str)
            .collect::<Vec<_>>(),
        ["g-nested"]
    );
    assert_eq!(g.skipped[0].reason, SkipReason::InvalidKey);
    assert!(
        run.stdout.contains("member(s) that are groups, left alone"),
        "{}",
        run.stdout
    );
}

/// Members to be removed that nothing named get a label from one user GET each (a deleted
/// user is labelled so); members staying cost no request.
#[tokio::test(flavor = "multi_thread")]
async fn removals_are_labelled_with_one_user_get_each() {
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u001", "u002"])
        .groups([Group::id("sales", "g-sales").full()]);
    // Without the Platform API's scope: SCIM reads (tests/platform_users.rs has the bulk reads).
    s.emu()
        .configure(|o| o.platform_users = scimsync::emulator::PlatformUsers::MissingScope);
    s.emu().remove_user("u004");
    let run = s
        .run(&["plan", "--out", "p.json", "--allow-removals", "2"])
        .await;
    run.code(0);
    assert_eq!(
        s.emu().count(Route::UserGet),
        2,
        "one GET per removal, none per member staying"
    );
    assert_eq!(
        s.emu().count(Route::UserList),
        0,
        "two GETs cost less than listing the org's users"
    );
    let plan = s.plan_at("p.json");
    assert_eq!(plan.label(&"u003".into()), "u003@example.com");
    assert_eq!(plan.label(&"u004".into()), "(deleted user)");
    assert!(
        run.stdout
            .contains("− u003@example.com (u003)  not in the IdP group")
            && run.stdout.contains("− (deleted user) (u004)"),
        "{}",
        run.stdout
    );
}

/// Many removals nothing names are labelled from the list of active users, 25 a page,
/// where that costs fewer requests than a GET each; the users the list leaves out (inactive,
/// deleted) still get their GET.
#[tokio::test(flavor = "multi_thread")]
async fn many_removals_are_labelled_from_the_user_list() {
    let s = Scenario::new()
        .await
        .idp("big", &["u000", "u001", "u002"])
        .groups([Group::id("big", "g-big").full()]);
    // Without the Platform API's scope: SCIM reads (tests/platform_users.rs has the bulk reads).
    s.emu()
        .configure(|o| o.platform_users = scimsync::emulator::PlatformUsers::MissingScope);
    let members: Vec<String> = (0..60).map(|i| format!("u{i:03}")).collect();
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    s.emu().add_group("g-big", "Big", &members);
    assert!(s.emu().set_user_active("u010", false));
    s.emu().remove_user("u011");
    s.run(&["plan", "--out", "p.json", "--allow-removals", "57"])
        .await
        .code(0);
    // 198 active users of the harness's 200: 8 pages, against 57 GETs.
    assert_eq!(s.emu().count(Route::UserList), 8);
    assert_eq!(
        s.emu().count(Route::UserGet),
        2,
        "the inactive and the deleted user, whom the list leaves out"
    );
    let plan = s.plan_at("p.json");
    assert_eq!(plan.groups[0].changes.remove.len(), 57);
    for id in &plan.groups[0].changes.remove {
        let want = match id.as_str() {
            "u011" => "(deleted user)".to_owned(),
            other => format!("{other}@example.com"),
        };
        assert_eq!(plan.label(id), want, "{id}");
    }

    // A refused list (here its first page) costs nothing but the request: GETs label all.
    s.emu().clear_journal();
    s.emu().inject(
        Route::UserList,
        1,
        FaultAction::Status {
            status: 400,
            retry_after: None,
        },
    );
    s.run(&["plan", "--out", "p2.json", "--allow-removals", "57"])
        .await
        .code(0);
    assert_eq!(s.emu().count(Route::UserList), 1);
    assert_eq!(s.emu().count(Route::UserGet), 57);
    assert_eq!(s.plan_at("p2.json").labels, plan.labels);
}

/// A plan file saved with a UTF-8 byte-order mark (some Windows editors add one) is read.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_file_with_a_byte_order_mark_is_shown_and_applied() {
    let s = sales().await;
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(read(&s.path("p.json")).as_bytes());
    std::fs::write(s.path("bom.json"), bytes).unwrap();
    let shown = s.run(&["show", "bom.json"]).await;
    shown.code(0);
    assert!(
        shown.stdout.contains("+ u010@example.com (u010)"),
        "{}",
        shown.stdout
    );
    s.run(&["apply", "bom.json"]).await.code(0);
}

/// An I/O error states its cause once, not "(os error 2): … (os error 2)".
#[tokio::test(flavor = "multi_thread")]
async fn io_errors_state_their_cause_once() {
    let s = sales().await;
    let missing = s.run(&["show", "missing.json"]).await;
    missing.code(1);
    assert_eq!(
        missing.stderr.matches("os error 2").count(),
        1,
        "{}",
        missing.stderr
    );
    assert!(
        missing
            .stderr
            .contains("cannot read plan file missing.json"),
        "{}",
        missing.stderr
    );
    let config = s
        .run(&["plan", "--config", "/nonexistent/scimsync.toml"])
        .await;
    config.code(1);
    assert_eq!(
        config.stderr.matches("os error 2").count(),
        1,
        "{}",
        config.stderr
    );
    // A state path that is a folder.
    std::fs::create_dir(s.path(STATE_FILE)).unwrap();
    let state = s.run(&["plan"]).await;
    state.code(1);
    assert!(
        state.stderr.contains("cannot read state"),
        "{}",
        state.stderr
    );
    assert_eq!(
        state.stderr.matches("os error").count(),
        1,
        "{}",
        state.stderr
    );
}

/// `-vv` logs one line per request (method, path, status, ms, correlation id) and nothing
/// of the HTTP stack's internals, nor a secret.
#[tokio::test(flavor = "multi_thread")]
async fn very_verbose_logs_one_line_per_request() {
    let s = sales().await;
    let run = s.run(&["plan", "-vv"]).await;
    run.code(0);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("GET /api/v2/scim/v2/groups/g-sales "))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].contains(" 200 ")
            && lines[0].contains(" ms")
            && lines[0].contains("ININ-Correlation-Id emu-"),
        "{}",
        lines[0]
    );
    for internal in [
        "hyper",
        "rustls",
        "reqwest",
        "h2::",
        "connecting to",
        "pooling",
    ] {
        assert!(!run.stderr.contains(internal), "{internal}: {}", run.stderr);
    }
    assert!(!run.stderr.contains(crate::harness::CLIENT_SECRET));
    assert!(!run.stderr.contains("Bearer"), "{}", run.stderr);
}

/// The policy check of the recipes and docs/plan-format.md, in Rust terms, on a real plan's
/// `show --format json`: the jq expression sums `.groups[].changes.remove | length`.
#[tokio::test(flavor = "multi_thread")]
async fn the_documented_policy_check_reads_a_real_plan() {
    const JQ: &str = "([.groups[].changes.remove | length] | add // 0) <= $max";
    let root = env!("CARGO_MANIFEST_DIR");
    for doc in ["docs/plan-format.md", "examples/github/scimsync-plan.yml"] {
        let text = read(&std::path::Path::new(root).join(doc));
        assert!(text.contains(JQ), "{doc} holds the policy expression");
    }
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u001", "u002", "u010"])
        .groups([Group::id("sales", "g-sales").full()]);
    s.run(&["plan", "--out", "p.json", "--allow-removals", "2"])
        .await
        .code(0);
    let shown = s.run(&["show", "p.json", "--format", "json"]).await;
    shown.code(0);
    let plan: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    // `[.groups[].changes.remove | length] | add // 0`
    let removals: usize = plan["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["changes"]["remove"].as_array().unwrap().len())
        .sum();
    assert_eq!(removals, 2);
    assert_eq!(plan["summary"]["remove"], 2);
    let policy = |max: usize| removals <= max;
    assert!(policy(2) && !policy(1));
    // The documented fields a policy reads are there, labels included.
    let g = &plan["groups"][0];
    for field in [
        "changes",
        "reasons",
        "pending",
        "resolution",
        "guard",
        "mapping",
    ] {
        assert!(g.get(field).is_some(), "{field}");
    }
    assert_eq!(plan["labels"]["u003"], "u003@example.com");
    assert_eq!(g["reasons"]["u003"], "not-desired");
}
