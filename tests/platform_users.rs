//! Users read by the hundred through the Platform API, counted per route: the review
//! scenario of issue 21 scaled down, its steady state, a first plan of 10,000 userNames, the
//! missing-scope fallback (and `validate` reporting it), and `ErrorBody` errors.

use scimsync::emulator::{FaultAction, Route};
use scimsync::model::UserKey;
use scimsync::plan::Plan;
use scimsync::scim::platform::PlatformError;

use crate::harness;
use crate::scenario::{Group, Safety, Scenario, read};

fn plan_at(s: &Scenario, name: &str) -> Plan {
    serde_json::from_str(&read(&s.path(name))).unwrap()
}

/// Requests per user route: (Platform by id, Platform search, SCIM list, SCIM GET).
fn user_requests(s: &Scenario) -> [usize; 4] {
    let e = s.emu();
    [
        e.count(Route::PlatformUsers),
        e.count(Route::PlatformUserSearch),
        e.count(Route::UserList),
        e.count(Route::UserGet),
    ]
}

const GROUPS: usize = 10;
const MEMBERS: usize = 20;

fn member(g: usize, i: usize) -> String {
    harness::user((g % GROUPS) * MEMBERS + i)
}

fn hire(g: usize, i: usize) -> String {
    format!("hire-{g:02}-{i}")
}

/// Issue 21's scenario at 10 groups × 20 members (the harness's 200 users), delta mode, ids
/// as IdP keys: after a first plan and apply, each group receives 8 members of the next
/// group and 2 new hires and loses 10 leavers. Counted per route, exactly.
#[tokio::test(flavor = "multi_thread")]
async fn the_review_scenario_names_everyone_at_the_request_floor() {
    let mut groups = Vec::new();
    let s = Scenario::new()
        .await
        .safety(Safety::default().max_ratio(1.0));
    for g in 0..GROUPS {
        let members: Vec<String> = (0..MEMBERS).map(|i| member(g, i)).collect();
        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
        s.emu()
            .add_group(&format!("g-{g:02}"), &format!("Group {g}"), &refs);
        s.emu().idp_change(&format!("idp-{g:02}"), &refs, &[]);
        groups.push(Group::id(&format!("idp-{g:02}"), &format!("g-{g:02}")));
    }
    let s = s.groups(groups);
    // The warm-up: nothing to change; the state gets every mirror.
    s.run(&["plan", "--out", "warm.json"]).await.code(0);
    s.run(&["apply", "warm.json"]).await.code(0);

    for g in 0..GROUPS {
        let mut add: Vec<String> = (0..8).map(|i| member(g + 1, i)).collect();
        for i in 0..2 {
            let id = hire(g, i);
            s.emu().add_user(&id, &format!("{id}@example.com"), None);
            add.push(id);
        }
        let remove: Vec<String> = (MEMBERS - 10..MEMBERS).map(|i| member(g, i)).collect();
        let add: Vec<&str> = add.iter().map(String::as_str).collect();
        let remove: Vec<&str> = remove.iter().map(String::as_str).collect();
        s.emu().idp_change(&format!("idp-{g:02}"), &add, &remove);
    }
    s.emu().clear_journal();
    let run = s.run(&["plan", "--out", "p.json"]).await;
    run.code(0);
    assert_eq!(s.emu().count(Route::GroupGet), GROUPS);
    assert_eq!(s.emu().count(Route::IdpDelta), GROUPS);
    // The 20 hires resolved in one bulk read (which names them too); the 80 movers and 100
    // leavers named in two more: 180 ids, 100 a request. Nothing through SCIM.
    assert_eq!(user_requests(&s), [3, 0, 0, 0]);
    let plan = plan_at(&s, "p.json");
    assert_eq!(plan.summary.add, GROUPS * 10);
    assert_eq!(plan.summary.remove, GROUPS * 10);
    for g in &plan.groups {
        for id in g.changes.add.iter().chain(&g.changes.remove) {
            assert_eq!(plan.label(id), format!("{id}@example.com"), "{id}");
        }
    }
    let bare = |l: &&str| {
        let l = l.trim_start();
        (l.starts_with("+ ") || l.starts_with("− ")) && !l.contains('@')
    };
    assert!(
        !run.stdout.lines().any(|l| bare(&l)),
        "a bare id:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("+ hire-00-0@example.com (hire-00-0)"),
        "{}",
        run.stdout
    );
    let md = s.run(&["show", "p.json", "--format", "markdown"]).await;
    assert!(md.stdout.contains("hire-00-0@example.com"), "{}", md.stdout);

    s.emu().clear_journal();
    s.run(&["apply", "p.json"]).await.code(0);
    assert_eq!(s.emu().count(Route::GroupPatch), GROUPS);
    assert_eq!(user_requests(&s), [0, 0, 0, 0], "apply reads no user");

    // Steady state: the hires leave every group, then come back. Their cache entries (with
    // labels) name and resolve them: no user request in either plan.
    for (leave, step) in [(true, "leave"), (false, "back")] {
        for g in 0..GROUPS {
            let hires = [hire(g, 0), hire(g, 1)];
            let hires: Vec<&str> = hires.iter().map(String::as_str).collect();
            let (add, remove) = if leave {
                (&[][..], &hires[..])
            } else {
                (&hires[..], &[][..])
            };
            s.emu().idp_change(&format!("idp-{g:02}"), add, remove);
        }
        s.emu().clear_journal();
        let out = format!("{step}.json");
        s.run(&["plan", "--out", &out]).await.code(0);
        assert_eq!(user_requests(&s), [0, 0, 0, 0], "{step}");
        let plan = plan_at(&s, &out);
        assert_eq!(plan.summary.add + plan.summary.remove, GROUPS * 2, "{step}");
        for g in &plan.groups {
            for id in g.changes.add.iter().chain(&g.changes.remove) {
                assert_eq!(plan.label(id), format!("{id}@example.com"), "{step} {id}");
            }
        }
        s.run(&["apply", &out]).await.code(0);
    }
}

/// A first plan of one group whose 10,000 members are keyed by userName: 100 searches of 100
/// values each, and no other user request.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_plan_of_ten_thousand_usernames_costs_a_hundred_searches() {
    let s = Scenario::new()
        .await
        .user_key(UserKey::UserName)
        .groups([Group::id("big", "g-big")]);
    let names: Vec<String> = (0..10_000)
        .map(|i| format!("Person.{i:05}@Example.com"))
        .collect();
    for (i, n) in names.iter().enumerate() {
        s.emu().add_user(&format!("p-{i:05}"), n, None);
    }
    s.emu().add_group("g-big", "Big", &[]);
    // The IdP writes them in another case: userName is caseExact false.
    let keys: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    s.emu().idp_change("big", &keys, &[]);
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    assert_eq!(user_requests(&s), [0, 100, 0, 0]);
    let plan = plan_at(&s, "p.json");
    assert_eq!(plan.summary.add, 10_000);
    assert!(plan.groups[0].pending.is_empty());
    assert!(
        plan.groups[0]
            .changes
            .add
            .iter()
            .all(|id| plan.label(id).to_lowercase().ends_with("@example.com"))
    );
}

/// Without the Platform API's scope, Genesys answers 403: the plan says so once, asks once,
/// and reads users through SCIM; `validate` names the scope and what it would save.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_scope_falls_back_to_scim_once_and_validate_says_so() {
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u001", "u002", "u010", "u011", "u012"])
        .groups([Group::id("sales", "g-sales").full()]);
    let ok = s.run(&["validate"]).await;
    ok.code(0);
    assert!(
        ok.stdout
            .contains("✓ Platform API user reads (scope users:readonly)"),
        "{}",
        ok.stdout
    );

    s.emu()
        .configure(|o| o.platform_users = scimsync::emulator::PlatformUsers::MissingScope);
    s.emu().clear_journal();
    let run = s
        .run(&["plan", "--out", "p.json", "--allow-removals", "2"])
        .await;
    run.code(0);
    assert_eq!(
        run.stderr.matches("reading users through SCIM").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("users:readonly"), "{}", run.stderr);
    // One Platform request drew the 403; then the three new users are looked up (SCIM
    // filters) and the two removals get a GET each.
    assert_eq!(user_requests(&s), [1, 0, 3, 2]);
    let plan = plan_at(&s, "p.json");
    assert_eq!(plan.label(&"u010".into()), "u010@example.com");
    assert_eq!(plan.label(&"u003".into()), "u003@example.com");

    let v = s.run(&["validate"]).await;
    v.code(0);
    assert!(
        v.stdout.contains("! Platform API user reads:")
            && v.stdout.contains("HTTP 403 app.not.authorized.for.scope")
            && v.stdout.contains("Add the scope users:readonly"),
        "{}",
        v.stdout
    );
}

/// Platform errors are `ErrorBody`s: the client reports their status, code and message;
/// the emulator refuses more than 100 ids with one.
#[tokio::test]
async fn platform_errors_are_error_bodies() {
    let running = harness::start().await;
    let client = harness::client(&running);
    let found = client
        .users_by_id(&["u000", "u001", "nobody"])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    harness::emu(&running).inject(
        Route::PlatformUsers,
        1,
        FaultAction::Status {
            status: 400,
            retry_after: None,
        },
    );
    let err = client.users_by_id(&["u000"]).await.unwrap_err();
    assert!(
        matches!(&err, PlatformError::Status { status: 400, code, .. } if code == "injected.fault"),
        "{err:?}"
    );
    assert!(err.to_string().contains("HTTP 400 injected.fault"), "{err}");

    // 101 ids: more than the limit, refused with an ErrorBody.
    let token = harness::emu(&running).issued_tokens().pop().unwrap();
    let ids: Vec<String> = (0..101).map(|i| format!("u{i:03}")).collect();
    let ids = format!("&id={}", ids.join(","));
    let answer = reqwest::Client::new()
        .get(format!(
            "{}/api/v2/users?pageSize=100{ids}",
            running.base_url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: scimsync::scim::wire::platform::ErrorBody = answer.json().await.unwrap();
    assert_eq!(body.code.as_deref(), Some("bad.request"));
    assert_eq!(body.status, Some(400));
}
