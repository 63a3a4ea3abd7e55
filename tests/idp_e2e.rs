//! End to end, first contact: an Entra tenant and an Okta org as the real services shape them
//! (object ids, UPNs and emails that are not Genesys ids, disabled and deactivated users,
//! nested groups, an expired delta link), each planned and applied by the real binary on the
//! first run, with no unknown user for users that exist in Genesys.

use scimsync::emulator::EntraKind;
use scimsync::plan::file;

use crate::harness::{CLIENT_ID, CLIENT_SECRET};
use crate::scenario::Scenario;

/// The members the emulator's `g-sales` starts with (`harness::start`).
const START: [&str; 5] = ["u000", "u001", "u002", "u003", "u004"];

fn members_plus(extra: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = START
        .iter()
        .chain(extra)
        .map(std::string::ToString::to_string)
        .collect();
    all.sort();
    all
}

/// Entra object ids (GUIDs) of the tenant's members.
const ALICE: &str = "2e58a1c4-0f6d-4b8e-9a31-5c7d2b1e0a10";
const BOB: &str = "37de5b2f-1a7e-4c9f-8b42-6d8e3c2f1b11";
const CAROL: &str = "48ef6c30-2b8f-4dab-9c53-7e9f4d301c12";
const DAN: &str = "59f07d41-3c90-4ebc-ad64-8fa05e412d13";
const NESTED: &str = "6a018e52-4da1-4fcd-be75-90b16f523e14";

// Waits on the lead's planner calling `Source::describe_users`: until then the object ids
// are looked up in Genesys as they are and found by nobody.
#[tokio::test(flavor = "multi_thread")]
async fn an_entra_tenant_plans_and_applies_the_right_members_on_the_first_run() {
    let s = Scenario::new().await;
    let emu = s.emu().clone();
    // Genesys userName is the UPN (Entra's Genesys Cloud app), in any case.
    emu.entra_user(ALICE, "u010@example.com", "Alice Smith", true);
    emu.entra_user(BOB, "U012@Example.com", "Bob Jones", true);
    emu.entra_user(CAROL, "u011@example.com", "Carol (disabled)", false);
    emu.entra_user(DAN, "u013@example.com", "Dan Late", true);
    emu.entra_object(NESTED, EntraKind::Group, "Sales EMEA");
    emu.configure(|o| o.idp_page_size = 2);
    emu.idp_change("sales", &[ALICE, BOB, CAROL, NESTED], &[]);
    let base = s.running.base_url();
    let s = s
        .source(&format!(
            "kind = \"graph\"\nbase_url = \"{base}/v1.0\"\nlogin_base = \"{base}\"\ntenant = \"contoso.onmicrosoft.com\"\n"
        ))
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET);

    let (text, adds) = plan_adds(&s, "p1.json").await;
    assert_eq!(
        adds,
        ["u010", "u012"],
        "the disabled user and the nested group are not added"
    );
    assert!(
        !text.contains(NESTED),
        "a nested group is no user to reconcile"
    );
    s.run(&["apply", "p1.json"]).await.code(0);
    assert_eq!(emu.members("g-sales"), members_plus(&["u010", "u012"]));

    // Seven days later the delta link has expired (Graph: syncStateNotFound); the next plan
    // resyncs from a full read and still grants what the IdP granted since.
    emu.idp_change("sales", &[DAN], &[]);
    emu.idp_expire_cursors();
    let run = s.run(&["plan", "--out", "p2.json"]).await;
    run.code(0);
    s.run(&["apply", "p2.json"]).await.code(0);
    assert_eq!(
        emu.members("g-sales"),
        members_plus(&["u010", "u012", "u013"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_okta_org_plans_and_applies_the_right_members_on_the_first_run() {
    let s = Scenario::new().await;
    let emu = s.emu().clone();
    // Genesys's Okta app uses the email as username; logins differ.
    emu.okta_user("00u1a2b3c4", "alice", "u020@example.com", "ACTIVE");
    emu.okta_user(
        "00u5d6e7f8",
        "bob.okta",
        "u021@example.com",
        "DEPROVISIONED",
    );
    emu.okta_user(
        "00u9g0h1i2",
        "carol",
        "U022@Example.com",
        "PASSWORD_EXPIRED",
    );
    emu.configure(|o| o.idp_page_size = 2);
    emu.idp_change("sales", &["00u1a2b3c4", "00u5d6e7f8", "00u9g0h1i2"], &[]);
    let base = s.running.base_url();
    let s = s.source(&format!(
        "kind = \"okta\"\nbase_url = \"{base}\"\ntoken_env = \"IDP_API_TOKEN\"\n"
    ));

    let (_, adds) = plan_adds(&s, "p.json").await;
    assert_eq!(adds, ["u020", "u022"], "the deactivated user is not added");
    s.run(&["apply", "p.json"]).await.code(0);
    assert_eq!(emu.members("g-sales"), members_plus(&["u020", "u022"]));
    s.run(&["plan", "--detailed-exitcode"]).await.code(0);
}

/// Plan into `out` (exit 0, no user unknown): the plan file's text and the ids its first
/// group adds.
async fn plan_adds(s: &Scenario, out: &str) -> (String, Vec<String>) {
    let run = s.run(&["plan", "--out", out]).await;
    run.code(0);
    let text = std::fs::read_to_string(s.path(out)).unwrap();
    assert!(!text.contains("unknown"), "no unknown user: {text}");
    let plan = file::read(&s.path(out)).unwrap();
    let adds = plan.groups[0]
        .changes
        .add
        .iter()
        .map(|u| u.as_str().to_owned())
        .collect();
    (text, adds)
}
