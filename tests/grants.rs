//! What a change gives (issue 23), end to end with the real binary against the emulator:
//! the roles each changed group grants in the plan, privileged groups first and marked,
//! apply refusing a group whose roles moved since approval (the grants' difference in the
//! re-plan), "roles unknown" without the permission (and `validate` naming it), and what
//! it costs, counted per route.

use scimsync::emulator::{PlatformGrants, Route};
use scimsync::plan::grants::GroupGrants;

use crate::scenario::{Group, Scenario};

const HOME: &str = "d-home";
const SUPERVISOR: &str = "r-sup";
const ADMIN: &str = "r-admin";

/// The harness's org (group `g-sales` holding u000…u004), a Home division, a plain role and
/// a privileged one, and `g-sales` granting Supervisor in Home; the IdP adds u010 to sales.
async fn org() -> Scenario {
    let s = Scenario::new().await;
    let e = s.emu();
    e.define_division(HOME, "Home");
    e.define_role(SUPERVISOR, "Supervisor", &["quality:evaluation:view"]);
    e.define_role(ADMIN, "Master Admin", &["*:*:*"]);
    assert!(e.grant_role("g-sales", SUPERVISOR, HOME));
    s.idp("sales", &["u000", "u001", "u002", "u003", "u004", "u010"])
}

fn grants(s: &Scenario) -> usize {
    s.emu().count(Route::AuthzSubject)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_added_after_approval_refuses_the_group_and_the_re_plan_shows_it() {
    let s = org().await;
    s.run(&["plan", "--out", "plan.json"]).await.expect(
        0,
        &[
            "  grants Supervisor in Home",
            "+ u010@example.com (u010)  granted by the IdP; grants Supervisor in Home",
        ],
        &[],
    );
    let plan = s.plan_at("plan.json");
    let g = &plan.groups[0];
    assert!(!g.privileged && plan.summary.privileged == 0);
    let Some(GroupGrants::Known(read)) = &g.grants else {
        panic!("grants recorded: {:?}", g.grants);
    };
    assert_eq!(
        read.iter()
            .map(|g| (g.role.as_str(), g.role_id.as_str(), g.division.as_str()))
            .collect::<Vec<_>>(),
        [("Supervisor", SUPERVISOR, "Home")]
    );
    assert_eq!(grants(&s), 1, "one read for the one group with changes");

    // An admin gives the group a privileged role before the approved plan is applied.
    assert!(s.emu().grant_role("g-sales", ADMIN, "*"));
    let before = s.emu().members("g-sales");
    let run = s.run(&["apply", "plan.json"]).await;
    run.expect(
        3,
        &[
            "stale      sales",
            "the roles group Sales (g-sales) grants changed since the plan: it now also grants Master Admin in all divisions (privileged: *:*:*)",
            "The roles these groups grant changed since the plan was approved",
            "-  grants Supervisor in Home",
            "+  [privileged] grants Master Admin in all divisions (privileged: *:*:*), Supervisor in Home",
        ],
        &[],
    );
    assert!(
        !run.stdout.contains("only the groups' versions moved"),
        "{}",
        run.stdout
    );
    assert_eq!(s.emu().members("g-sales"), before, "nothing was written");
    assert_eq!(s.emu().count(Route::GroupPatch), 0);
    assert_eq!(
        grants(&s),
        2,
        "one re-check at apply, reused by the re-plan"
    );

    // The re-plan is privileged: marked, first, counted; applying it re-checks once more.
    let replan = s.plan_at("plan.replan.json");
    assert!(replan.groups[0].privileged);
    assert_eq!(replan.summary.privileged, 1);
    let shown = s.run(&["show", "plan.replan.json"]).await;
    shown.expect(0, &["sales [privileged]", "1 privileged."], &[]);
    let sha = replan.sha256.to_string();
    s.run(&["apply", "plan.replan.json", "--expect-sha256", &sha])
        .await
        .code(0);
    assert!(s.emu().members("g-sales").contains(&"u010".to_owned()));
    assert_eq!(grants(&s), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_permission_roles_are_unknown_said_once_and_validate_names_what_to_add() {
    let s = org().await;
    s.emu().add_group("g-support", "Support", &[]);
    let s = s.idp("support", &["u020"]).groups([
        Group::id("sales", "g-sales"),
        Group::id("support", "g-support"),
    ]);
    s.emu()
        .configure(|o| o.platform_grants = PlatformGrants::MissingPermission);
    let run = s.run(&["plan", "--out", "plan.json"]).await;
    run.expect(
        0,
        &[
            "  roles unknown",
            "granted by the IdP; roles unknown",
            "Roles unknown for 2 group(s)",
        ],
        &["missing.any.permissions", "authorization:grant:view"],
    );
    assert_eq!(
        run.stderr
            .matches("Genesys refused to say which roles")
            .count(),
        1,
        "said once per run:\n{}",
        run.stderr
    );
    // Both groups' reads may be in flight when the first 403 lands; none is sent after it.
    let asked = grants(&s);
    assert!((1..=2).contains(&asked), "{asked} grant reads");
    let plan = s.plan_at("plan.json");
    assert!(
        plan.groups
            .iter()
            .all(|g| g.grants == Some(GroupGrants::Unknown) && !g.privileged)
    );
    // Unknown roles are not re-checked (there is nothing to compare): the plan applies.
    s.run(&["apply", "plan.json"]).await.code(0);
    assert_eq!(grants(&s), asked);

    s.emu()
        .configure(|o| o.platform_grants = PlatformGrants::MissingScope);
    s.run(&["validate"]).await.expect(
        0,
        &[
            "! group grants:",
            "app.not.authorized.for.scope",
            "the permission authorization:grant:view and the scope authorization:readonly",
        ],
        &[],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_cost_one_read_per_changed_group_and_none_when_off() {
    // An unchanged group costs nothing; a group granting nothing is not re-checked.
    let s = Scenario::new().await;
    s.emu().add_group("g-quiet", "Quiet", &["u050"]);
    let s = s
        .idp("sales", &["u000", "u001", "u002", "u003", "u004", "u010"])
        .idp("quiet", &["u050"])
        .groups([Group::id("sales", "g-sales"), Group::id("quiet", "g-quiet")]);
    s.run(&["plan", "--out", "plan.json"])
        .await
        .expect(0, &["  grants no role"], &[]);
    assert_eq!(grants(&s), 1);
    let plan = s.plan_at("plan.json");
    assert_eq!(plan.groups[0].grants, Some(GroupGrants::Known(Vec::new())));
    assert_eq!(plan.groups[1].grants, None, "unchanged: not read");
    s.run(&["apply", "plan.json"]).await.code(0);
    assert_eq!(grants(&s), 1, "granted nothing at plan: not re-checked");

    // recheck_all re-checks it; grants = "off" reads nothing at all.
    s.emu().idp_change("sales", &["u011"], &[]);
    let s = s.review("recheck_all = true");
    s.run(&["plan", "--out", "plan2.json"]).await.code(0);
    s.run(&["apply", "plan2.json"]).await.code(0);
    assert_eq!(grants(&s), 3);
    s.emu().idp_change("sales", &["u012"], &[]);
    let s = s.review("grants = \"off\"");
    s.run(&["plan", "--out", "plan3.json"]).await.code(0);
    assert_eq!(s.plan_at("plan3.json").groups[0].grants, None);
    s.run(&["apply", "plan3.json"]).await.code(0);
    assert_eq!(grants(&s), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn privileged_roles_named_in_the_config_mark_the_group_first() {
    let s = org().await;
    s.emu().add_group("g-agents", "Agents", &[]);
    let s = s
        .idp("agents", &["u030"])
        .groups([
            Group::id("agents", "g-agents"),
            Group::id("sales", "g-sales"),
        ])
        .review("privileged_roles = [\"supervisor\"]");
    let run = s.run(&["plan", "--format", "markdown"]).await;
    run.code(0);
    let at = |t: &str| {
        run.stdout
            .find(t)
            .unwrap_or_else(|| panic!("{t}: {}", run.stdout))
    };
    // Sales grants the named role: first, though agents comes first in the config.
    assert!(at("<summary>[privileged] sales → Sales") < at("<summary>agents → Agents"));
    assert!(at("| sales **\\[privileged\\]** |") < at("| agents |"));
    assert!(
        run.stdout.contains("**1 privileged change(s)**"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Supervisor in Home (privileged: named in the config)"),
        "{}",
        run.stdout
    );
}

/// The recipes' privileged-change check, in Rust terms, on a real plan's `show --format json`.
#[tokio::test(flavor = "multi_thread")]
async fn the_documented_privileged_policy_reads_a_real_plan() {
    const JQ: &str = "(.summary.privileged // 0) == 0";
    let root = env!("CARGO_MANIFEST_DIR");
    for doc in [
        "README.md",
        "docs/plan-format.md",
        "examples/github/scimsync-plan.yml",
    ] {
        let text = crate::scenario::read(&std::path::Path::new(root).join(doc));
        assert!(text.contains(JQ), "{doc} holds the policy expression");
    }
    let s = org().await;
    // `(.summary.privileged // 0) == 0`
    let policy = |shown: &str| {
        let plan: serde_json::Value = serde_json::from_str(shown).unwrap();
        plan["summary"]["privileged"].as_u64().unwrap_or(0) == 0
    };
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    let shown = s.run(&["show", "p.json", "--format", "json"]).await;
    assert!(policy(&shown.stdout), "Supervisor is not privileged");
    assert!(
        !shown.stdout.contains("\"privileged\""),
        "absent when false"
    );
    s.emu().grant_role("g-sales", ADMIN, "*");
    s.run(&["plan", "--out", "p2.json"]).await.code(0);
    let shown = s.run(&["show", "p2.json", "--format", "json"]).await;
    assert!(!policy(&shown.stdout), "Master Admin is");
    let plan: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(plan["summary"]["privileged"], 1);
    assert_eq!(plan["groups"][0]["privileged"], true);
    let admin = &plan["groups"][0]["grants"]["known"][0];
    assert_eq!(admin["role"], "Master Admin");
    assert_eq!(admin["division_id"], "*");
    assert_eq!(admin["division"], "all divisions");
    assert_eq!(admin["privileged"]["permission"], "*:*:*");
}

/// `plan --json`: each planned change says what it grants, and whether it is privileged.
#[tokio::test(flavor = "multi_thread")]
async fn events_say_what_each_change_grants() {
    let s = org().await;
    s.emu().grant_role("g-sales", ADMIN, "*");
    let run = s.run(&["plan", "--json"]).await;
    run.code(0);
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let change = events
        .iter()
        .find(|e| e["type"] == "planned_change")
        .unwrap();
    assert_eq!(change["privileged"], true);
    assert_eq!(
        change["grants"],
        "grants Master Admin in all divisions (privileged: *:*:*), Supervisor in Home"
    );
    let summary = events
        .iter()
        .find(|e| e["type"] == "change_summary")
        .unwrap();
    assert_eq!(summary["privileged"], 1);
}

/// A grant read that fails for another reason than access (here a 400 every time) is not
/// "roles unknown": the group cannot be planned blind, so no plan is written; and at apply,
/// a failed re-check writes nothing to the group.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_grant_read_is_an_error_not_unknown_roles() {
    use scimsync::emulator::FaultAction;
    let s = org().await;
    let refuse = || FaultAction::Status {
        status: 400,
        retry_after: None,
    };
    s.emu().inject(Route::AuthzSubject, 1, refuse());
    s.run(&["plan", "--out", "plan.json"]).await.expect(
        1,
        &[],
        &[
            "group sales",
            "GET /api/v2/authorization/subjects/g-sales: HTTP 400",
            "no plan was written",
        ],
    );
    assert!(!s.path("plan.json").exists());
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu().inject(Route::AuthzSubject, 1, refuse());
    let run = s.run(&["apply", "plan.json"]).await;
    run.expect(
        1,
        &[
            "failed",
            "the roles it grants could not be re-read before writing it",
        ],
        &[],
    );
    assert_eq!(s.emu().count(Route::GroupPatch), 0);
}
