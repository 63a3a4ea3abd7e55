//! The official Genesys Cloud SDK (`PureCloudPlatformClientV2` from PyPI, in
//! `target/genesys-sdk-venv`) against the emulator's Platform user and grant routes: its
//! models (`UserEntityListing`, `User`, `UsersSearchResponse`, `ErrorBody`; `AuthzSubject`,
//! `AuthzGrant`, `AuthzGrantRole`, `AuthzGrantPolicy`, `AuthzDivision`, `Group`) read the
//! emulator's answers, and scimsync's client sends the requests the SDK sends for the same
//! calls.
//! `tests/sdk_contract.py` is the SDK's side.

use std::collections::BTreeSet;

use scimsync::emulator::Route;
use serde_json::Value;

use crate::harness;

/// The SDK release our notes were read from (docs/real-api-notes.md).
const SDK: &str = "PureCloudPlatformClientV2==269.0.0";

fn query_pairs(q: Option<&str>) -> BTreeSet<(String, String)> {
    url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_sdk_reads_the_emulator_and_sends_what_scimsync_sends() {
    let venv = tokio::task::spawn_blocking(|| crate::python_venv::venv("genesys-sdk-venv", SDK))
        .await
        .unwrap();
    let running = harness::start().await;
    let emu = harness::emu(&running);
    emu.issue_token("sdk-contract-token");
    emu.delete_user("u005");
    assert!(emu.set_user_active("u006", false));
    emu.define_division("d-home", "Home");
    emu.define_role(
        "r-sup",
        "Supervisor",
        &["quality:evaluation:view", "quality:evaluation:edit"],
    );
    emu.define_role("r-admin", "User Administrator", &["directory:user:edit"]);
    emu.grant_role(harness::GROUP, "r-sup", "d-home");
    emu.grant_role(harness::GROUP, "r-admin", "*");
    let ids = ["u000", "u005", "u006", "nobody"];
    let names = ["u001@example.com", "U002@Example.com", "u006@example.com"];
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk_contract.py");
    let out = tokio::process::Command::new(venv.join("bin/python"))
        .arg(script)
        .arg(running.base_url())
        .arg("sdk-contract-token")
        .arg(ids.join(","))
        .arg(names.join(","))
        .arg(harness::GROUP)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the SDK script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();

    // The SDK's models read every answer, with the values the emulator meant.
    assert_eq!(got["listing"]["total"], 3);
    assert_eq!(got["listing"]["page_size"], 100);
    assert_eq!(
        got["listing"]["users"],
        serde_json::json!([
            ["u000", "u000@example.com", "active", "/api/v2/users/u000"],
            ["u005", "u005@example.com", "deleted", "/api/v2/users/u005"],
            ["u006", "u006@example.com", "inactive", "/api/v2/users/u006"]
        ])
    );
    assert_eq!(got["search"]["total"], 3);
    assert_eq!(got["search"]["page_count"], 1);
    assert_eq!(got["search"]["types"], serde_json::json!(["users"]));
    assert_eq!(
        got["search"]["users"],
        serde_json::json!([
            ["u001", "u001@example.com", "active"],
            ["u002", "u002@example.com", "active"],
            ["u006", "u006@example.com", "inactive"]
        ])
    );
    assert_eq!(got["error"]["status"], 400);
    assert_eq!(got["error"]["body_status"], 400);
    assert_eq!(got["error"]["code"], "bad.request");
    assert!(got["error"]["context_id"].is_string(), "{got}");

    // The grant routes, as the SDK's models read them.
    assert_eq!(
        got["subject"],
        serde_json::json!({
            "id": "g-sales", "name": "Sales",
            "grants": [
                ["g-sales", "r-admin", "User Administrator", "*", "All divisions", true,
                 [["directory", "user", ["edit"]]]],
                ["g-sales", "r-sup", "Supervisor", "d-home", "Home", true,
                 [["quality", "evaluation", ["edit", "view"]]]]
            ]
        })
    );
    assert_eq!(
        got["group"],
        serde_json::json!({"id": "g-sales", "name": "Sales", "roles_enabled": true,
                           "member_count": 5, "state": "active", "type": "official"})
    );
    assert_eq!(
        got["subject_error"],
        serde_json::json!({"status": 404, "code": "not.found", "body_status": 404})
    );

    // What the SDK sent, and what scimsync sends for the same two calls.
    let journal = emu.journal();
    let sdk_get = journal
        .iter()
        .find(|r| r.route == Route::PlatformUsers)
        .unwrap()
        .clone();
    let sdk_search = journal
        .iter()
        .find(|r| r.route == Route::PlatformUserSearch)
        .unwrap()
        .clone();
    let sdk_subject = journal
        .iter()
        .find(|r| r.route == Route::AuthzSubject)
        .unwrap()
        .clone();
    assert!(journal.iter().any(|r| r.route == Route::PlatformGroupGet));
    emu.clear_journal();
    let client = harness::client(&running);
    let read = client
        .group_grants(&harness::gid(harness::GROUP))
        .await
        .unwrap();
    assert_eq!(read.len(), 2);
    let found = client.users_by_id(&ids).await.unwrap();
    assert_eq!(found.len(), 3);
    let searched = client.search_users("username", &names).await.unwrap();
    assert_eq!(searched.len(), 3);
    let journal = emu.journal();
    let ours_get = journal
        .iter()
        .find(|r| r.route == Route::PlatformUsers)
        .unwrap();
    let ours_search = journal
        .iter()
        .find(|r| r.route == Route::PlatformUserSearch)
        .unwrap();
    assert_eq!(ours_get.path, sdk_get.path);
    assert_eq!(
        query_pairs(ours_get.query.as_deref()),
        query_pairs(sdk_get.query.as_deref()),
        "ours {:?}, the SDK's {:?}",
        ours_get.query,
        sdk_get.query
    );
    assert_eq!(ours_search.path, sdk_search.path);
    let body = |r: &scimsync::emulator::Record| -> Value {
        serde_json::from_str(r.body.as_deref().unwrap_or("null")).unwrap()
    };
    assert_eq!(body(ours_search), body(&sdk_search));
    // The SDK sends Python's `True`; Genesys reads booleans without regard to case.
    let ours_subject = journal
        .iter()
        .find(|r| r.route == Route::AuthzSubject)
        .unwrap();
    assert_eq!(ours_subject.path, sdk_subject.path);
    let lowered = |q: Option<&str>| -> BTreeSet<(String, String)> {
        query_pairs(q)
            .into_iter()
            .map(|(k, v)| (k, v.to_lowercase()))
            .collect()
    };
    assert_eq!(
        lowered(ours_subject.query.as_deref()),
        lowered(sdk_subject.query.as_deref()),
        "ours {:?}, the SDK's {:?}",
        ours_subject.query,
        sdk_subject.query
    );
}
