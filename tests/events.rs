//! `--json`: NDJSON events of plan and apply, checked against docs/events.md.

use serde_json::Value;

use crate::scenario::Scenario;

fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn check_common(e: &Value) {
    for key in ["@level", "@message", "@timestamp", "type"] {
        assert!(e[key].is_string(), "{key} missing in {e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_and_apply_stream_documented_events() {
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u010", "ghost"]);
    let run = s.run(&["plan", "--json", "--out", "plan.json"]).await;
    run.code(0);
    let plan = events(&run.stdout);
    plan.iter().for_each(check_common);
    assert_eq!(plan[0]["type"], "version");
    assert_eq!(plan[0]["command"], "plan");
    let changes: Vec<_> = plan
        .iter()
        .filter(|e| e["type"] == "planned_change")
        .collect();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["action"], "add");
    assert_eq!(changes[0]["user"], "u010");
    assert_eq!(changes[0]["group_id"], "g-sales");
    let pending: Vec<_> = plan.iter().filter(|e| e["type"] == "diagnostic").collect();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["user"], "ghost");
    assert_eq!(pending[0]["reason"], "unknown-user");
    let summary = plan.last().unwrap();
    assert_eq!(summary["type"], "change_summary");
    assert_eq!(summary["add"], 1);
    let sha = summary["sha256"].as_str().unwrap().to_owned();

    s.emu().write_behind("g-sales", &[], &["u001"]);
    let run = s
        .run(&["apply", "plan.json", "--json", "--expect-sha256", &sha])
        .await;
    run.code(3);
    let apply = events(&run.stdout);
    apply.iter().for_each(check_common);
    assert_eq!(apply[0]["command"], "apply");
    let progress: Vec<_> = apply
        .iter()
        .filter(|e| e["type"] == "apply_progress")
        .collect();
    assert_eq!(progress[0]["outcome"], "stale");
    assert_eq!(progress[0]["@level"], "warn");
    let summary = apply.last().unwrap();
    assert_eq!(summary["stale"], 1);
    assert_eq!(summary["exit_code"], 3);
    assert!(summary["replan"]["sha256"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_diagnostics() {
    let s = Scenario::new().await.idp("sales", &["u010"]);
    let run = s.run(&["apply", "missing.json", "--json"]).await;
    run.code(1);
    let all = events(&run.stdout);
    let last = all.last().unwrap();
    assert_eq!(last["type"], "diagnostic");
    assert_eq!(last["@level"], "error");
    assert!(last["@message"].as_str().unwrap().contains("missing.json"));
}
