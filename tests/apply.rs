//! `scimsync apply` and `scimsync demo`: the real binary against the emulator.

use std::collections::BTreeMap;

use scimsync::emulator::{FaultAction, Route};
use scimsync::plan::file;
use scimsync::state::{State, StateLock};
use serde_json::Value;

use crate::scenario::{Group, STATE_FILE, Scenario, read};

fn patches(s: &Scenario) -> Vec<scimsync::emulator::Record> {
    s.emu()
        .journal()
        .into_iter()
        .filter(|r| r.route == Route::GroupPatch)
        .collect()
}

/// IdP `sales` adds u010 and u011 to g-sales (u000..u004).
async fn planned() -> (Scenario, String) {
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u010", "u011"]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    let sha = s.plan_at("plan.json").sha256;
    (s, sha.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn applies_the_plan_under_if_match_and_advances_the_cursor() {
    let (s, sha) = planned().await;
    let plan = s.plan_at("plan.json");
    s.run(&["apply", "plan.json", "--expect-sha256", &sha])
        .await
        .expect(
            0,
            &["applied    sales → Sales (g-sales) +2 −0 (1 PATCH)"],
            &[],
        );
    let sent = patches(&s);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].if_match.as_deref(), Some("\"1\""));
    assert_eq!(s.emu().members("g-sales").len(), 7);
    let st = s.saved_state();
    let rec = &st.groups["sales"];
    assert_eq!(rec.cursor, plan.groups[0].source.cursor_to);
    assert_eq!(rec.etag.as_ref().unwrap().as_str(), "\"2\"");
    assert_eq!(
        rec.plan_sha256
            .as_ref()
            .map(scimsync::model::Sha256Hex::as_str),
        Some(sha.as_str())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.path(STATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn applying_the_same_plan_twice_converges_without_a_request() {
    let (s, _) = planned().await;
    s.run(&["apply", "plan.json"]).await.code(0);
    s.emu().clear_journal();
    let again = s.run(&["apply", "plan.json"]).await;
    again.code(0);
    assert!(
        again.stdout.contains("converged") && again.stdout.contains("already applied by this plan"),
        "{}",
        again.stdout
    );
    assert_eq!(patches(&s).len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_before_any_write() {
    let (s, sha) = planned().await;
    let text = read(&s.path("plan.json"));

    std::fs::write(
        s.path("tampered.json"),
        text.replace("\"u010\"", "\"u150\""),
    )
    .unwrap();
    s.run(&["apply", "tampered.json"])
        .await
        .expect(1, &[], &["was modified after it was made"]);

    let wrong = "0".repeat(64);
    let run = s
        .run(&["apply", "plan.json", "--expect-sha256", &wrong])
        .await;
    run.code(1);
    assert!(
        run.stderr.contains("not the plan that was approved") && run.stderr.contains(&sha),
        "{}",
        run.stderr
    );

    std::fs::write(
        s.path("newer.json"),
        text.replace("\"format_version\": 2", "\"format_version\": 3"),
    )
    .unwrap();
    let run = s.run(&["apply", "newer.json"]).await;
    run.code(1);
    assert!(run.stderr.contains("upgrade scimsync"), "{}", run.stderr);

    std::fs::write(s.path("cut.json"), &text[..200]).unwrap();
    s.run(&["apply", "cut.json"]).await.code(1);
    std::fs::write(s.path("garbled.json"), b"\x00\xff{{{").unwrap();
    s.run(&["apply", "garbled.json"]).await.code(1);

    // A plan made against another target.
    let other = Scenario::new().await.idp("sales", &["u010"]);
    other.run(&["plan", "--out", "other.json"]).await.code(0);
    std::fs::copy(other.path("other.json"), s.path("other.json")).unwrap();
    let run = s.run(&["apply", "other.json"]).await;
    run.code(1);
    assert!(
        run.stderr.contains(&other.running.base_url())
            && run.stderr.contains(&s.running.base_url()),
        "{}",
        run.stderr
    );

    assert_eq!(
        patches(&s).len(),
        0,
        "nothing may be written before verification"
    );
    assert!(s.saved_state().groups.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moved_group_is_refused_replanned_and_diffed() {
    let (s, _) = planned().await;
    s.emu().write_behind("g-sales", &["u150"], &["u004"]);
    let before = s.emu().members("g-sales");
    let run = s.run(&["apply", "plan.json"]).await;
    run.code(3);
    assert!(run.stdout.contains("stale      sales"), "{}", run.stdout);
    assert!(
        run.stdout.contains("+  + u010") || run.stdout.contains("ETag \"2\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("plan.replan.json"), "{}", run.stdout);
    crate::snapshot!("apply_stale", s.redact(&run.stdout));
    // Nothing was written; the cursor did not move.
    assert_eq!(s.emu().members("g-sales"), before);
    assert_eq!(patches(&s).len(), 1);
    assert!(
        s.saved_state()
            .groups
            .get("sales")
            .and_then(|g| g.cursor.clone())
            .is_none()
    );

    let replan = s.plan_at("plan.replan.json");
    file::verify(&replan, "replan").unwrap();
    let g = &replan.groups[0];
    assert_eq!(g.precondition.etag.as_ref().unwrap().as_str(), "\"2\"");
    assert_eq!(g.changes.add.len(), 2);
    // The re-plan goes back for approval, and then applies.
    s.run(&[
        "apply",
        "plan.replan.json",
        "--expect-sha256",
        replan.sha256.as_str(),
    ])
    .await
    .code(0);
    assert!(s.emu().members("g-sales").contains(&"u011".to_string()));
    assert!(s.saved_state().groups["sales"].cursor.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moved_group_that_already_holds_the_changes_is_converged() {
    let (s, _) = planned().await;
    s.emu().write_behind("g-sales", &["u010", "u011"], &[]);
    s.run(&["apply", "plan.json", "--replan-out", "custom.json"])
        .await
        .expect(0, &["converged", "already holds"], &[]);
    assert!(!s.path("custom.json").exists());
    assert!(s.saved_state().groups["sales"].cursor.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replan_that_is_a_subset_of_the_approved_changes_can_be_applied_at_once() {
    let (s, _) = planned().await;
    s.emu().write_behind("g-sales", &["u010"], &[]);
    let run = s
        .run(&["apply", "plan.json", "--apply-replan-if-subset"])
        .await;
    run.code(0);
    assert!(
        run.stdout.contains("applied (re-plan subset)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("what was left of the approved changes was applied"),
        "{}",
        run.stdout
    );
    assert!(s.emu().members("g-sales").contains(&"u011".to_string()));

    // Not a subset (the re-plan would add u150's removal): refused as usual.
    let (s, _) = planned().await;
    let s = s.groups([Group::id("sales", "g-sales").full()]);
    s.run(&["plan", "--out", "full.json", "--allow-removals", "5"])
        .await
        .code(0);
    s.emu().write_behind("g-sales", &["u150"], &[]);
    s.run(&["apply", "full.json", "--apply-replan-if-subset"])
        .await
        .code(3);
    assert!(!s.emu().members("g-sales").contains(&"u010".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_group_does_not_stop_the_others() {
    let s = Scenario::new()
        .await
        .idp("sales", &["u010"])
        .idp("ops", &["u020"]);
    s.emu().add_group("g-ops", "Ops", &[]);
    let s = s.groups([Group::id("sales", "g-sales"), Group::id("ops", "g-ops")]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu().remove_group("g-ops");
    let run = s.run(&["apply", "plan.json", "--format", "json"]).await;
    run.code(1);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let outcomes: BTreeMap<String, String> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["idp_group"].as_str().unwrap().to_owned(),
                g["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(outcomes["sales"], "applied");
    assert_eq!(outcomes["ops"], "failed");
    let detail = report["groups"][1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("HTTP 404") && detail.contains("g-ops"),
        "{detail}"
    );
    assert_eq!(report["exit_code"], 1);
    let st = s.saved_state();
    assert!(st.groups["sales"].cursor.is_some());
    assert!(
        !st.groups.contains_key("ops"),
        "a failed group's cursor stays"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_group_that_goes_stale_part_way_is_replanned_to_what_is_left() {
    let s = Scenario::new().await;
    let adds: Vec<String> = (10..130).map(crate::harness::user).collect();
    let adds: Vec<&str> = adds.iter().map(String::as_str).collect();
    s.emu().idp_change("sales", &adds, &[]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu().write_after_patches("g-sales", 1, &["u199"], &[]);
    let run = s.run(&["apply", "plan.json"]).await;
    run.code(3);
    let replan = s.plan_at("plan.replan.json");
    let g = &replan.groups[0];
    let left: Vec<String> = g
        .changes
        .add
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    let want: Vec<String> = (60..130).map(crate::harness::user).collect();
    assert_eq!(left, want, "exactly the chunks not sent");
    // The story, told right: what landed, what is left, and a diff of changes only.
    assert!(
        run.stdout.contains("stale      sales → Sales (g-sales) +50 −0 landed")
            && run.stdout.contains(
                "50 of its 120 approved changes landed before it moved, the re-plan holds the 70 still to make"
            ),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("nothing was applied"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("-  + u010@example.com (u010)  granted by the IdP")
            && run
                .stdout
                .contains("+sales → Sales (g-sales), ETag \"3\", 56 members")
            && !run.stdout.contains("pending")
            && !run
                .stdout
                .contains("The re-plan makes exactly the approved changes"),
        "{}",
        run.stdout
    );
    assert!(
        s.saved_state()
            .groups
            .get("sales")
            .and_then(|r| r.cursor.clone())
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_apply_on_the_same_state_file_is_refused() {
    let (s, _) = planned().await;
    let _held = StateLock::acquire(&s.path(STATE_FILE)).unwrap();
    s.run(&["apply", "plan.json"])
        .await
        .expect(1, &[], &["another scimsync apply"]);
    assert_eq!(patches(&s).len(), 0);
}

/// Kill apply after its first PATCH landed; plan and apply again converge with no change lost
/// and none repeated.
#[tokio::test(flavor = "multi_thread")]
async fn killed_after_the_first_patch_then_plan_and_apply_converge() {
    let s = Scenario::new().await;
    let adds: Vec<String> = (10..130).map(crate::harness::user).collect();
    let adds: Vec<&str> = adds.iter().map(String::as_str).collect();
    s.emu().idp_change("sales", &adds, &[]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    // The second PATCH hangs until the process is gone.
    s.emu().inject(
        Route::GroupPatch,
        1,
        FaultAction::Delay(std::time::Duration::ZERO),
    );
    s.emu().inject(
        Route::GroupPatch,
        1,
        FaultAction::Delay(std::time::Duration::from_mins(10)),
    );
    let mut child = s.spawn(&["apply", "plan.json"]);
    // Killed once the second PATCH is in flight (the first one has then landed).
    s.emu().wait_arrived(Route::GroupPatch, 2).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert_eq!(
        s.emu().members("g-sales").len(),
        55,
        "one chunk of 50 landed"
    );
    State::load_file(&s.path(STATE_FILE)).expect("the state file is never corrupt");

    s.run(&["plan", "--out", "again.json"]).await.code(0);
    s.run(&["apply", "again.json"]).await.code(0);
    let members = s.emu().members("g-sales");
    assert_eq!(members.len(), 125, "no change lost");
    // Each user was added by exactly one committed PATCH.
    let mut added: BTreeMap<String, usize> = BTreeMap::new();
    for p in patches(&s).iter().filter(|p| p.status == 200) {
        let body: Value = serde_json::from_str(p.body.as_deref().unwrap()).unwrap();
        for op in body["Operations"].as_array().unwrap() {
            for v in op["value"].as_array().unwrap() {
                *added
                    .entry(v["value"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
    }
    assert_eq!(added.len(), 120);
    assert!(added.values().all(|n| *n == 1), "no change repeated");
    assert!(patches(&s).iter().all(|p| p.if_match.is_some()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_tells_the_whole_story() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimsync"))
        .arg("demo")
        .env_clear()
        .env("GENESYSCLOUD_OAUTHCLIENT_SECRET", "must-not-be-used")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in 1..=9 {
        assert!(stdout.contains(&format!("Step {step}/9")), "{stdout}");
    }
    // Step 8: a privileged group's grants in its plan; a role added after approval refused
    // as stale, with the grants' difference in the re-plan.
    assert!(
        stdout.contains("support [privileged]")
            && stdout.contains("  [privileged] grants Supervisor in Home, User Administrator in all divisions (privileged: directory:user:add)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("it now also grants Master Admin in all divisions (privileged: *:*:*)")
            && stdout.contains("+  [privileged] grants Master Admin in all divisions"),
        "{stdout}"
    );
    // erin (inactive) and frank (no account) are pending, then added once they can be.
    assert!(
        stdout.contains("erin@example.com pending (inactive-user)")
            && stdout.contains("frank@example.com pending (unknown-user)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ frank@example.com (e9a1c3b5…)  a pending user, now found in Genesys"),
        "{stdout}"
    );
    assert!(
        stdout.contains("exit 3") && stdout.contains("stale      sales"),
        "{stdout}"
    );
    assert!(stdout.contains("0 without If-Match"), "{stdout}");
    // Every member line of every plan and diff names the user.
    let members: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            ["  + ", "  − ", "+  + ", "+  − ", "-  + ", "-  − "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert!(members.len() >= 6, "{stdout}");
    for line in members {
        assert!(line.contains("@example.com ("), "{line}");
    }
    assert!(
        stdout.contains("+  − bob@example.com (5d2e7a90…)  not in the IdP group"),
        "{stdout}"
    );
    assert!(!stdout.contains("must-not-be-used"));
}
