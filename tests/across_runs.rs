//! Nothing lost across runs: the sequences of plans and applies that lose access or grant it
//! wrongly when the state remembers only a cursor, each converging now that it remembers the
//! IdP's membership (the mirror) and who each IdP key is (the resolution cache).

use scimsync::model::UserKey;
use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scimsync::emulator::Route;
use scimsync::plan::{ChangeReason, PendingReason, Plan, ReadKind, file};
use scimsync::state::State;

use crate::harness::{names, pending};
use crate::scenario::{Group, STATE_FILE, Safety, Scenario};

fn member(s: &Scenario, group: &str, user: &str) -> bool {
    s.emu().members(group).iter().any(|m| m == user)
}

/// Plan into `out` and apply it; both must succeed.
async fn cycle(s: &Scenario, out: &str) -> Plan {
    s.run(&["plan", "--out", out]).await.code(0);
    s.run(&["apply", out]).await.code(0);
    s.plan_at(out)
}

/// 1. A user assigned in the IdP before their Genesys account exists is pending, not lost:
/// the first plan after the account appears adds them. So is a `userName` key that differs
/// from Genesys only by non-ASCII case.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_whose_account_appears_late_is_added_then() {
    let s = Scenario::new().await.user_key(UserKey::UserName).idp(
        "sales",
        &[
            "u010@example.com",
            "late@example.com",
            "ÜNÏCØDÉ@EXAMPLE.COM",
        ],
    );
    let p1 = cycle(&s, "p1.json").await;
    let g = &p1.groups[0];
    assert_eq!(names(&g.changes.add), ["u010"]);
    assert_eq!(
        pending(g),
        [
            ("late@example.com", PendingReason::UnknownUser),
            ("ünïcødé@example.com", PendingReason::UnknownUser)
        ]
    );
    // The mirror keeps them, and apply advanced the cursor all the same.
    let mirror = s.saved_state().mirror("sales").cloned().unwrap();
    assert!(mirror.contains("late@example.com") && mirror.contains("ünïcødé@example.com"));

    // User provisioning catches up.
    s.emu().put_user("u250", "late@example.com", true);
    s.emu().put_user("u251", "Ünïcødé@Example.com", true);
    let p2 = cycle(&s, "p2.json").await;
    let g = &p2.groups[0];
    assert_eq!(names(&g.changes.add), ["u250", "u251"]);
    assert_eq!(g.reasons["u250"], ChangeReason::PendingResolved);
    assert!(g.pending.is_empty());
    assert!(member(&s, "g-sales", "u250") && member(&s, "g-sales", "u251"));

    // Everyone is in the resolution cache now: a steady plan looks nobody up.
    s.emu().clear_journal();
    s.run(&["plan", "--detailed-exitcode"]).await.code(0);
    assert_eq!(s.emu().count(Route::UserList), 0);
    assert_eq!(
        s.saved_state().users["late@example.com"].id.as_str(),
        "u250"
    );

    // Revoked, a user is shown by the label Genesys gave them (the cache), not by the key.
    s.emu().idp_change("sales", &[], &["ÜNÏCØDÉ@EXAMPLE.COM"]);
    s.run(&["plan", "--out", "p3.json"]).await.code(0);
    let p3 = s.plan_at("p3.json");
    assert_eq!(names(&p3.groups[0].changes.remove), ["u251"]);
    assert_eq!(p3.label(&"u251".into()), "Ünïcødé@Example.com");
}

/// 2. An inactive Genesys user in an IdP delta is pending (no 400 is ever drawn), the group's
/// other adds land, and the user is added once active. A cached user deactivated later
/// costs one failed apply at most: the 400 drops it from the cache.
#[tokio::test(flavor = "multi_thread")]
async fn an_inactive_user_is_pending_until_active_and_a_wrong_cache_entry_is_dropped() {
    let s = Scenario::new()
        .await
        .user_key(UserKey::UserName)
        .idp("sales", &["u030@example.com", "u031@example.com"]);
    s.emu().set_user_active("u030", false);
    let p1 = cycle(&s, "p1.json").await;
    let g = &p1.groups[0];
    assert_eq!(names(&g.changes.add), ["u031"]);
    assert_eq!(g.pending[0].reason, PendingReason::InactiveUser);
    assert_eq!(s.emu().count_status(Route::GroupPatch, 400), 0);
    assert!(member(&s, "g-sales", "u031") && !member(&s, "g-sales", "u030"));

    s.emu().set_user_active("u030", true);
    let p2 = cycle(&s, "p2.json").await;
    assert_eq!(names(&p2.groups[0].changes.add), ["u030"]);
    assert!(member(&s, "g-sales", "u030"));

    // u031 is cached. Someone removes it by hand and deactivates it: the next plan trusts
    // the cache and restores it; Genesys refuses; the cache entry goes.
    s.emu().write_behind("g-sales", &[], &["u031"]);
    s.emu().set_user_active("u031", false);
    s.run(&["plan", "--out", "p3.json"]).await.code(0);
    assert_eq!(
        s.plan_at("p3.json").groups[0].reasons["u031"],
        ChangeReason::Restored
    );
    let failed = s.run(&["apply", "p3.json"]).await;
    failed.code(1);
    assert!(
        failed.stdout.contains("looked up again"),
        "{}",
        failed.stdout
    );
    assert!(!s.saved_state().users.contains_key("u031@example.com"));
    // One run later it blocks nothing: pending, and the group's state moves on.
    let p4 = cycle(&s, "p4.json").await;
    assert!(p4.groups[0].changes.is_empty());
    assert_eq!(p4.groups[0].pending[0].reason, PendingReason::InactiveUser);
}

/// 3. Plans applied out of order: P1 adds x; the IdP revokes x; P2 is planned and applied;
/// then P1 is applied. It is refused as superseded, x stays out, the cursor stays P2's.
#[tokio::test(flavor = "multi_thread")]
async fn a_superseded_plan_is_refused_and_never_regrants() {
    let s = Scenario::new().await.idp("sales", &["u000"]);
    cycle(&s, "p0.json").await;
    s.emu().idp_change("sales", &["u040"], &[]);
    s.run(&["plan", "--out", "p1.json"]).await.code(0);
    assert_eq!(names(&s.plan_at("p1.json").groups[0].changes.add), ["u040"]);
    s.emu().idp_change("sales", &["u041"], &["u040"]);
    let p2 = cycle(&s, "p2.json").await;
    assert_eq!(names(&p2.groups[0].changes.add), ["u041"]);
    let after_p2 = s.saved_state().groups["sales"].clone();

    s.emu().clear_journal();
    let late = s.run(&["apply", "p1.json"]).await;
    late.code(3);
    assert!(
        late.stdout.contains("superseded") && late.stdout.contains("another plan was applied"),
        "{}",
        late.stdout
    );
    assert!(
        !member(&s, "g-sales", "u040"),
        "the revoked user is not re-added"
    );
    assert_eq!(s.emu().count(Route::GroupPatch), 0);
    assert_eq!(
        s.saved_state().groups["sales"],
        after_p2,
        "nothing moved backwards"
    );
}

/// 4. An expired cursor resyncs by itself, and the users the IdP revoked in the gap are
/// removed (against the mirror), within the guards.
#[tokio::test(flavor = "multi_thread")]
async fn after_an_expired_cursor_the_gaps_revocations_are_removed() {
    let s = Scenario::new()
        .await
        .idp("sales", &["u010", "u011", "u012"])
        .safety(Safety::default().max_removals(5).max_ratio(1.0));
    cycle(&s, "p1.json").await;
    s.emu().idp_change("sales", &["u013"], &["u010", "u011"]);
    s.emu().idp_expire_cursors();
    let run = s.run(&["plan", "--out", "p2.json"]).await;
    run.code(0);
    let g = &s.plan_at("p2.json").groups[0];
    assert_eq!(g.source.read, ReadKind::Resync);
    assert_eq!(names(&g.changes.remove), ["u010", "u011"]);
    assert_eq!(names(&g.changes.add), ["u013"]);
    assert!(run.stdout.contains("resync"), "{}", run.stdout);
    s.run(&["apply", "p2.json"]).await.code(0);
    let members = s.emu().members("g-sales");
    assert!(!members.contains(&"u010".into()) && members.contains(&"u013".into()));
}

/// 5. apply holds the plan against today's config: another mapping, a member protected since,
/// and an edited plan (digest recomputed) are each refused with what differs, before any write.
#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_a_plan_the_config_no_longer_matches() {
    // Another mapping of the same IdP group.
    let s = Scenario::new().await.idp("sales", &["u010"]);
    s.emu().add_group("g-other", "Other", &[]);
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    let s = s.groups([Group::id("sales", "g-other")]);
    s.run(&["apply", "p.json"]).await.expect(
        1,
        &["planned for target_id g-sales", "target_id g-other"],
        &[],
    );
    assert_eq!(s.emu().count(Route::GroupPatch), 0);
    assert!(
        !s.saved_state().groups.contains_key("sales"),
        "no cursor moved"
    );

    // A member protected after the plan was made.
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u001", "u002", "u003"])
        .groups([Group::id("sales", "g-sales").full()]);
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    assert_eq!(
        names(&s.plan_at("p.json").groups[0].changes.remove),
        ["u004"]
    );
    let s = s.safety(Safety::default().protect("u004"));
    s.run(&["apply", "p.json"])
        .await
        .expect(1, &["u004", "protect"], &[]);
    assert!(member(&s, "g-sales", "u004"));

    // A plan edited to remove more, its digest recomputed to pass verification.
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u001", "u002", "u003"])
        .groups([Group::id("sales", "g-sales").full()]);
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    let mut plan = s.plan_at("p.json");
    let g = &mut plan.groups[0];
    for u in ["u000", "u001", "u002"] {
        g.changes.remove.insert(u.into());
    }
    g.guard.removals = g.changes.remove.len();
    file::seal(&mut plan);
    file::write(&s.path("edited.json"), &plan).unwrap();
    s.run(&["apply", "edited.json"])
        .await
        .expect(1, &["over the config's limit"], &[]);
    assert_eq!(s.emu().members("g-sales").len(), 5);
}

/// 5b. One Genesys group mapped twice (by id and by name) is refused by plan and validate.
#[tokio::test(flavor = "multi_thread")]
async fn one_genesys_group_mapped_twice_is_refused() {
    let s = Scenario::new().await.idp("sales", &["u010"]).groups([
        Group::id("sales", "g-sales"),
        Group::named("sales-too", "Sales"),
    ]);
    s.emu().idp_change("sales-too", &["u011"], &[]);
    s.run(&["plan", "--out", "p.json"]).await.expect(
        1,
        &[],
        &["\"sales\" and \"sales-too\" both map to Genesys group Sales"],
    );
    assert!(!s.path("p.json").exists());
    let validate = s.run(&["validate"]).await;
    validate.code(1);
    assert!(validate.stdout.contains("both map"), "{}", validate.stdout);
}

/// A member added by hand survives any number of delta runs; an IdP-granted member removed by
/// hand is added back by the next plan.
#[tokio::test(flavor = "multi_thread")]
async fn hand_added_members_survive_and_hand_removed_grants_are_restored() {
    let s = Scenario::new().await.idp("sales", &["u010", "u011"]);
    cycle(&s, "p0.json").await;
    s.emu().write_behind("g-sales", &["u150"], &["u010"]);
    for i in 0..5 {
        let u = format!("u{:03}", 20 + i);
        s.emu().idp_change("sales", &[u.as_str()], &[]);
        if i == 3 {
            s.emu().idp_change("sales", &[], &["u020"]);
        }
        let p = cycle(&s, &format!("p{}.json", i + 1)).await;
        if i == 0 {
            let g = &p.groups[0];
            assert_eq!(g.reasons["u010"], ChangeReason::Restored, "{g:?}");
        }
        assert!(
            member(&s, "g-sales", "u150"),
            "run {i}: the hand-added member stays"
        );
    }
    let members = s.emu().members("g-sales");
    for u in ["u010", "u011", "u021", "u022", "u023", "u024", "u150"] {
        assert!(members.contains(&u.to_owned()), "{u} in {members:?}");
    }
    assert!(!members.contains(&"u020".to_owned()), "revoked by the IdP");
}

/// A format 1 state (cursors only) is read: the group's next plan reads the whole membership
/// once, adds only, and says so; apply writes format 2.
#[tokio::test(flavor = "multi_thread")]
async fn a_format_1_state_is_read_and_upgraded() {
    let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
    let cursor = s.emu().idp_cursor();
    std::fs::write(
        s.path(STATE_FILE),
        format!(
            r#"{{"format_version": 1, "groups": {{"sales": {{"cursor": "{cursor}", "etag": "\"1\"", "applied_at": "2026-11-29T03:00:00Z"}}}}}}"#
        ),
    )
    .unwrap();
    let run = s.run(&["plan", "--out", "p.json"]).await;
    run.code(0);
    assert!(run.stdout.contains("nothing is removed"), "{}", run.stdout);
    let g = &s.plan_at("p.json").groups[0];
    assert_eq!(g.source.read, ReadKind::Resync);
    assert!(!g.intent.mirror_known && g.changes.remove.is_empty());
    assert_eq!(names(&g.changes.add), ["u010"]);
    s.run(&["apply", "p.json"]).await.code(0);
    let st = s.saved_state();
    assert_eq!(st.format_version, scimsync::state::FORMAT_VERSION);
    assert!(
        st.journal.is_some(),
        "the apply journaled its changes and the state names the head"
    );
    assert!(st.lineage.is_some());
    assert_eq!(st.groups["sales"].serial, 1);
    assert_eq!(st.mirror("sales").unwrap().len(), 2);
}

/// The soak across runs (60 seeded plan/apply cycles over two groups, one in each mode):
/// IdP churn, accounts that appear late, deactivations, changes by hand, expired cursors,
/// plans applied out of order and applies killed mid-flight. At the end, after plans and
/// applies until nothing is left to do, every group is what its mode says it must be: nothing
/// the IdP revoked is granted, nothing it granted is missing, and hand-added members of the
/// delta group are still there.
#[tokio::test(flavor = "multi_thread")]
async fn soak_across_60_runs_converges_to_what_the_modes_say() {
    let mut rng = StdRng::seed_from_u64(20261201);
    let s = Scenario::new()
        .await
        .groups([
            Group::id("sales", "g-sales"),
            Group::id("ops", "g-ops").full(),
        ])
        .safety(Safety::unguarded().allow_empty_source());
    s.emu().add_group("g-ops", "Ops", &["u170", "u171"]);
    s.emu().idp_change("sales", &["u100", "u101"], &[]);
    s.emu().idp_change("ops", &["u100", "u170"], &[]);
    // IdP users: u100..u139 exist; n000..n009 have no Genesys account yet.
    let mut pool: Vec<String> = (100..140).map(|i| format!("u{i}")).collect();
    pool.extend((0..10).map(|i| format!("n{i:03}")));
    let mut created = BTreeSet::new();
    let mut inactive = BTreeSet::new();
    let mut hand_added = BTreeSet::new();
    let mut plans = Vec::new();
    let (mut kills, mut refused, mut resyncs) = (0, 0, 0);
    for run in 0..60 {
        for group in ["sales", "ops"] {
            for _ in 0..rng.random_range(0..4) {
                let u = pool[rng.random_range(0..pool.len())].clone();
                if rng.random_bool(0.6) {
                    s.emu().idp_change(group, &[u.as_str()], &[]);
                } else {
                    s.emu().idp_change(group, &[], &[u.as_str()]);
                }
            }
        }
        match rng.random_range(0..10) {
            0 => {
                let n = format!("n{:03}", rng.random_range(0..10));
                if created.insert(n.clone()) {
                    s.emu().put_user(&n, &format!("{n}@example.com"), true);
                }
            }
            1 => {
                let u = format!("u{}", rng.random_range(100..140));
                if inactive.insert(u.clone()) {
                    s.emu().set_user_active(&u, false);
                } else {
                    inactive.remove(&u);
                    s.emu().set_user_active(&u, true);
                }
            }
            2 => {
                let u = format!("u{}", rng.random_range(180..190));
                s.emu().write_behind("g-sales", &[u.as_str()], &[]);
                hand_added.insert(u);
            }
            3 => {
                let members = s.emu().members("g-sales");
                if let Some(m) = members
                    .iter()
                    .find(|m| m.starts_with("u1") && m.as_str() < "u140")
                {
                    s.emu().write_behind("g-sales", &[], &[m.as_str()]);
                }
            }
            4 => s.emu().idp_expire_cursors(),
            _ => {}
        }
        let out = format!("p{run}.json");
        let planned = s.run(&["plan", "--out", &out]).await;
        assert!(planned.code == 0, "run {run}: plan\n{}", planned.stderr);
        if s.plan_at(&out)
            .groups
            .iter()
            .any(|g| g.source.read == ReadKind::Resync)
        {
            resyncs += 1;
        }
        plans.push(out.clone());
        let which = match rng.random_range(0..10) {
            // An older plan, out of order.
            0 | 1 => plans[rng.random_range(0..plans.len())].clone(),
            _ => out,
        };
        if rng.random_range(0..10) == 0 {
            let mut child = s.spawn(&["apply", &which]);
            let patches = s.emu().count(Route::GroupPatch);
            tokio::select! {
                () = s.emu().wait_arrived(Route::GroupPatch, patches + 1) => {}
                _ = child.wait() => {}
            }
            let _ = child.start_kill();
            child.wait().await.unwrap();
            kills += 1;
        } else {
            let applied = s.run(&["apply", &which]).await;
            assert!(
                [0, 1, 3].contains(&applied.code),
                "run {run}: apply {which} exited {}\n{}\n{}",
                applied.code,
                applied.stdout,
                applied.stderr
            );
            refused += usize::from(applied.code == 3);
        }
        State::load_file(&s.path(STATE_FILE))
            .unwrap_or_else(|e| panic!("run {run}: corrupt state: {e}"));
    }
    // The seed exercises what the soak is about.
    assert!(
        kills > 0 && refused > 0 && resyncs > 0,
        "kills {kills}, refused {refused}, resyncs {resyncs}"
    );
    // Everyone reactivated, then plan and apply until nothing is left to do.
    for u in &inactive {
        s.emu().set_user_active(u, true);
    }
    let mut settled = false;
    for _ in 0..4 {
        let last = s
            .run(&["plan", "--out", "last.json", "--detailed-exitcode"])
            .await;
        if last.code == 0 {
            settled = true;
            break;
        }
        last.code(2);
        s.run(&["apply", "last.json"]).await.code(0);
    }
    assert!(settled, "plans still had changes after 4 rounds");
    let exists = |u: &String| !u.starts_with('n') || created.contains(u);
    for (group, id) in [("sales", "g-sales"), ("ops", "g-ops")] {
        let granted: BTreeSet<String> = s
            .emu()
            .idp_members(group)
            .into_iter()
            .filter(exists)
            .collect();
        let members: BTreeSet<String> = s.emu().members(id).into_iter().collect();
        let want: BTreeSet<String> = if group == "sales" {
            // Delta: the IdP's users, plus members it never granted (the first five and
            // those added by hand).
            granted
                .iter()
                .cloned()
                .chain((0..5).map(|i| format!("u{i:03}")))
                .chain(hand_added.iter().cloned())
                .collect()
        } else {
            granted
        };
        assert_eq!(members, want, "group {group}");
    }
    // Through kills, hand changes and re-plans: every change scimsync made has one journal
    // record, and the chain verifies (`journaled` checks it).
    let mut journaled = s.journaled();
    let mut made = s.committed();
    journaled.sort();
    made.sort();
    assert_eq!(journaled, made, "journal vs the changes made");
}
