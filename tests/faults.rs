//! The fault matrix: for each fault, plan → fault → apply with the real binary, then check
//! that Genesys holds what was approved (or is unchanged), that no change was lost or repeated,
//! and that the exit code and the cursor are right.

use std::collections::BTreeMap;
use std::time::Duration;

use scimsync::emulator::{FaultAction, Route};
use scimsync::plan::file;
use scimsync::state::State;

use crate::harness::user;
use crate::scenario::{Group, STATE_FILE, Scenario};

/// What the world looks like after the fault.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// All approved changes applied, cursor advanced, exit 0.
    Applied,
    /// Nothing applied by us, cursor unchanged, exit `code`.
    Unchanged(i32),
    /// Refused as stale (exit 3), cursor unchanged, a re-plan written; some chunks may have landed.
    Stale,
}

struct Case {
    name: &'static str,
    /// Make the fault happen (called after plan, before apply).
    fault: fn(&Scenario),
    expect: Expect,
}

fn status(s: &Scenario, route: Route, times: u32, status: u16, retry_after: Option<u64>) {
    s.emu().inject(
        route,
        times,
        FaultAction::Status {
            status,
            retry_after,
        },
    );
}

const CASES: &[Case] = &[
    Case {
        name: "429 storm with Retry-After",
        fault: |s| status(s, Route::GroupPatch, 3, 429, Some(0)),
        expect: Expect::Applied,
    },
    Case {
        name: "5xx burst",
        fault: |s| status(s, Route::GroupPatch, 3, 503, None),
        expect: Expect::Applied,
    },
    Case {
        name: "5xx on every attempt",
        fault: |s| status(s, Route::GroupPatch, 100, 500, None),
        expect: Expect::Unchanged(1),
    },
    Case {
        name: "connection resets",
        fault: |s| s.emu().inject(Route::GroupPatch, 2, FaultAction::Drop),
        expect: Expect::Applied,
    },
    Case {
        name: "PATCH committed, response lost",
        fault: |s| {
            s.emu()
                .inject(Route::GroupPatch, 1, FaultAction::CommitThenDrop);
        },
        expect: Expect::Applied,
    },
    Case {
        name: "response lost on a later chunk",
        fault: |s| {
            s.emu()
                .inject(Route::GroupPatch, 1, FaultAction::Delay(Duration::ZERO));
            s.emu()
                .inject(Route::GroupPatch, 1, FaultAction::CommitThenDrop);
        },
        expect: Expect::Applied,
    },
    Case {
        name: "token expires mid-apply",
        fault: |s| {
            s.emu()
                .inject(Route::GroupPatch, 1, FaultAction::Delay(Duration::ZERO));
            s.emu()
                .inject(Route::GroupPatch, 1, FaultAction::ExpireTokens);
        },
        expect: Expect::Applied,
    },
    Case {
        name: "token endpoint down, then up",
        fault: |s| status(s, Route::Token, 2, 503, None),
        expect: Expect::Applied,
    },
    Case {
        name: "token endpoint down",
        fault: |s| status(s, Route::Token, 100, 503, None),
        expect: Expect::Unchanged(1),
    },
    Case {
        name: "concurrent writer between plan and apply",
        fault: |s| s.emu().write_behind("g-sales", &["u010"], &[]),
        expect: Expect::Stale,
    },
    Case {
        name: "concurrent writer between two chunks",
        fault: |s| s.emu().write_after_patches("g-sales", 1, &[], &["u000"]),
        expect: Expect::Stale,
    },
    Case {
        name: "rate limit on the API",
        fault: |s| status(s, Route::GroupGet, 2, 429, Some(0)),
        expect: Expect::Applied,
    },
];

/// Committed PATCHes: for each user, how many times it was added or removed.
fn committed(s: &Scenario) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for (_, _, user) in s.committed() {
        *seen.entry(user).or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_matrix() {
    for case in CASES {
        let s = Scenario::new().await;
        // 120 additions and 2 removals: three chunks of at most 50.
        let adds: Vec<String> = (10..130).map(user).collect();
        let adds: Vec<&str> = adds.iter().map(String::as_str).collect();
        s.emu().idp_change("sales", &adds, &[]);
        let s = s.groups([Group::id("sales", "g-sales").full()]);
        s.emu().idp_change("sales", &["u000", "u001", "u002"], &[]);
        s.run(&["plan", "--out", "plan.json", "--allow-removals", "2"])
            .await
            .code(0);
        let plan = file::read(&s.path("plan.json")).unwrap();
        let approved = &plan.groups[0].changes;
        assert_eq!(
            (approved.add.len(), approved.remove.len()),
            (120, 2),
            "{}",
            case.name
        );
        let before = s.emu().members("g-sales");
        s.emu().clear_journal();

        (case.fault)(&s);
        let run = s.run(&["apply", "plan.json"]).await;
        let cursor = State::load_file(&s.path(STATE_FILE))
            .unwrap()
            .groups
            .get("sales")
            .and_then(|g| g.cursor.clone());
        let after = s.emu().members("g-sales");
        let sent = committed(&s);
        let journal = s.emu().journal();
        assert!(
            journal
                .iter()
                .filter(|r| r.route == Route::GroupPatch)
                .all(|r| r.if_match.is_some()),
            "{}: a PATCH without If-Match",
            case.name
        );
        assert!(
            sent.values().all(|n| *n == 1),
            "{}: a change was sent twice: {sent:?}",
            case.name
        );
        let in_plan = |u: &String| {
            approved.add.iter().any(|a| a.as_str() == u)
                || approved.remove.iter().any(|r| r.as_str() == u)
        };
        assert!(
            sent.keys().all(in_plan),
            "{}: a change nobody approved",
            case.name
        );
        match case.expect {
            Expect::Applied => {
                run.code(0);
                let want: Vec<String> = approved
                    .applied_to(&before.iter().map(|m| m.as_str().into()).collect())
                    .into_iter()
                    .map(|u| u.0)
                    .collect();
                assert_eq!(after, want, "{}", case.name);
                assert_eq!(
                    cursor, plan.groups[0].source.cursor_to,
                    "{}: cursor",
                    case.name
                );
                assert_eq!(
                    sent.len(),
                    122,
                    "{}: every approved change exactly once",
                    case.name
                );
            }
            Expect::Unchanged(code) => {
                run.code(code);
                assert_eq!(after, before, "{}", case.name);
                assert!(cursor.is_none(), "{}: cursor moved", case.name);
                assert!(sent.is_empty(), "{}", case.name);
            }
            Expect::Stale => {
                run.code(3);
                assert!(cursor.is_none(), "{}: cursor moved", case.name);
                assert!(s.path("plan.replan.json").exists(), "{}", case.name);
                // Whatever landed was approved; the re-plan holds exactly the rest.
                let replan = file::read(&s.path("plan.replan.json")).unwrap();
                let left = &replan.groups[0].changes;
                for u in &approved.add {
                    let landed = after.contains(&u.0);
                    assert!(
                        landed != left.add.contains(u),
                        "{}: {u} lost or repeated",
                        case.name
                    );
                }
                // And applying the re-plan converges to the IdP.
                s.run(&["apply", "plan.replan.json"]).await.code(0);
                let mut want: Vec<String> = (0..3).map(user).chain((10..130).map(user)).collect();
                want.sort();
                assert_eq!(s.emu().members("g-sales"), want, "{}", case.name);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idp_faults_at_plan_time_fail_closed() {
    for (name, fault, code) in [
        (
            "IdP 5xx",
            FaultAction::Status {
                status: 503,
                retry_after: None,
            },
            1,
        ),
        ("IdP reset", FaultAction::Drop, 1),
    ] {
        let s = Scenario::new()
            .await
            .groups([Group::id("sales", "g-sales").full()]);
        s.emu().idp_change("sales", &["u000"], &[]);
        s.emu().inject(Route::IdpDelta, 100, fault);
        let run = s.run(&["plan", "--out", "p.json"]).await;
        run.code(code);
        assert!(!s.path("p.json").exists(), "{name}");
        assert!(
            run.stderr.contains("IdP group \"sales\""),
            "{name}: {}",
            run.stderr
        );
    }
    // An empty list in full mode is a guard; in delta mode it is simply nothing to do.
    let s = Scenario::new()
        .await
        .groups([Group::id("sales", "g-sales").full()]);
    s.emu().idp_change("sales", &["u000"], &["u000"]);
    s.run(&["plan", "--out", "p.json"]).await.code(4);
    let s = Scenario::new().await;
    s.emu().idp_change("sales", &["u000"], &["u000"]);
    let run = s
        .run(&["plan", "--out", "p.json", "--detailed-exitcode"])
        .await;
    run.code(0);
    assert_eq!(file::read(&s.path("p.json")).unwrap().summary.remove, 0);
}
