//! `scimsync log --format ocsf` against the published OCSF schema, not a copy of it: every
//! event is validated by `tests/ocsf_validate.py` with the JSON Schema that the
//! `ocsf-json-schema` package (the published schemas 1.0–1.8, offline) makes of its class,
//! in the version it declares and in the newest one shipped, by `jsonschema`; both are
//! installed from PyPI into `target/ocsf-venv` on first use (`.ci/run` does it ahead).
//! A negative control checks that the validator refuses an event without a required field.

use std::path::PathBuf;

use jiff::Timestamp;
use scimsync::journal::chain::seal;
use scimsync::journal::{
    Actor, Approval, Change, Event, GroupRef, Op, RunRef, RunStarted, Settled, StateRef, UserRef,
};
use scimsync::model::{GroupId, JournalLink, Sha256Hex, UserId};
use scimsync::plan::ChangeReason;
use scimsync::state::journal_store::file_beside;

use crate::scenario::{STATE_FILE, Scenario};

/// What the validator needs, bounded to the major versions it was written against.
const REQUIREMENTS: &[&str] = &["ocsf-json-schema>=1.2,<2", "jsonschema>=4.18,<5"];

async fn venv() -> PathBuf {
    tokio::task::spawn_blocking(|| crate::python_venv::venv_with("ocsf-venv", REQUIREMENTS))
        .await
        .unwrap()
}

/// Validate `events` (JSON Lines): whether all are valid, and what the validator said.
async fn validate(events: &str) -> (bool, String) {
    let venv = venv().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, events).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ocsf_validate.py");
    let out = tokio::process::Command::new(venv.join("bin/python"))
        .arg(script)
        .arg(&file)
        .arg("--also-newest")
        .output()
        .await
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

async fn assert_valid(events: &str, count: usize) {
    assert_eq!(events.lines().count(), count, "{events}");
    let (valid, said) = validate(events).await;
    assert!(valid, "not valid OCSF:\n{said}");
    assert!(
        said.contains(&format!(
            "{count} event(s) valid against OCSF 1.4.0 group_management, 1.8.0 group_management"
        )),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_events_of_real_applies_are_valid_ocsf() {
    let (s, _, _) = crate::journal_log::two_applies().await;
    let out = s.run(&["log", "--format", "ocsf"]).await;
    out.code(0);
    assert_valid(&out.stdout, 8).await;
}

/// A journal whose one change has every optional field: a re-plan, a settled change, the
/// host, no correlation id (its answer was lost), no CI actor.
fn every_optional_field() -> String {
    let time: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
    let approval = Approval {
        plan_sha256: Sha256Hex::from("ab".repeat(32)),
        replaces_plan_sha256: Some(Sha256Hex::from("cd".repeat(32))),
        actor: Actor {
            approved_by: Some("Maria Núñez <maria@example.com>".into()),
            change_ref: Some("CHG0012345".into()),
            ran_by: None,
            system: "local".into(),
            repository: None,
            run_id: None,
            run_url: None,
            commit: Some("0123abcd".into()),
            host: Some("deploy-01".into()),
        },
    };
    let change = |op, settled: Option<Settled>| {
        Event::Change(Box::new(Change {
            group: GroupRef {
                idp: "sales".into(),
                id: GroupId("5f4bc742-0000-4000-8000-000000000001".into()),
                name: "Sales \"EMEA\" & <Partners>".into(),
            },
            user: UserRef {
                id: UserId("3b8c0000-0000-4000-8000-000000000002".into()),
                key: None,
                label: "=HYPERLINK(\"x\")".into(),
            },
            op,
            reason: ChangeReason::NotDesired,
            approval: approval.clone(),
            state: StateRef {
                lineage: None,
                serial: 12,
            },
            correlation_id: None,
            settled,
        }))
    };
    let events = vec![
        (
            time,
            Event::RunStarted(Box::new(RunStarted {
                approval: approval.clone(),
                tool_version: "0.1.0".into(),
                groups: 0,
                changes: 0,
                intents: Vec::new(),
            })),
        ),
        (time, change(Op::Remove, None)),
        (
            time,
            change(
                Op::Add,
                Some(Settled {
                    made_by_run: "run-killed".into(),
                    found_at: time,
                    found_by_run: Some("run-3".into()),
                }),
            ),
        ),
    ];
    let run = RunRef {
        id: "run-9".into(),
        started_seq: 0,
    };
    let (lines, _) = seal(&events, &run, &JournalLink::start());
    lines.join("\n") + "\n"
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_with_every_optional_field_is_valid_ocsf() {
    let s = Scenario::new().await;
    std::fs::write(file_beside(&s.path(STATE_FILE)), every_optional_field()).unwrap();
    let out = s.run(&["log", "--format", "ocsf"]).await;
    out.code(0);
    assert!(out.stdout.contains("\"status_detail\""), "{}", out.stdout);
    assert!(out.stdout.contains("\"src_endpoint\""), "{}", out.stdout);
    assert_valid(&out.stdout, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_validator_refuses_an_event_without_a_required_field_or_with_an_unknown_one() {
    let s = Scenario::new().await;
    std::fs::write(file_beside(&s.path(STATE_FILE)), every_optional_field()).unwrap();
    let out = s
        .run(&["log", "--format", "ocsf", "--user", "=hyperlink(\"x\")"])
        .await;
    let event: serde_json::Value =
        serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    let broken = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut e = event.clone();
        f(&mut e);
        format!("{e}\n")
    };
    for (what, events, says) in [
        (
            "no type_uid",
            broken(&|e| {
                e.as_object_mut().unwrap().remove("type_uid");
            }),
            "'type_uid' is a required property",
        ),
        (
            "no metadata.product",
            broken(&|e| {
                e["metadata"].as_object_mut().unwrap().remove("product");
            }),
            "'product' is a required property",
        ),
        (
            "a plan sha outside unmapped",
            broken(&|e| {
                e["plan_sha256"] = "ab".into();
            }),
            "Additional properties are not allowed",
        ),
        (
            "a string time",
            broken(&|e| {
                e["time"] = "2026-12-01T09:00:00Z".into();
            }),
            "is not of type 'integer'",
        ),
    ] {
        let (valid, said) = validate(&events).await;
        assert!(!valid, "{what}: accepted\n{said}");
        assert!(said.contains(says), "{what}:\n{said}");
    }
}

/// The demo's own journal: its OCSF export validates, and `report access` names every member
/// its applies added (and did not take away again) with the plan that added them.
#[tokio::test(flavor = "multi_thread")]
async fn the_demos_journal_exports_valid_ocsf_and_its_access_report_names_every_member_added() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let scimsync = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scimsync"));
        cmd.args(args).env_clear().env("NO_COLOR", "1");
        cmd.output().unwrap()
    };
    let demo = scimsync(&["demo", "--dir", demo_dir.to_str().unwrap()]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let config = demo_dir.join("scimsync.toml");
    let config = config.to_str().unwrap();
    let ocsf = scimsync(&["log", "--format", "ocsf", "--config", config]);
    assert!(ocsf.status.success());
    let events = String::from_utf8(ocsf.stdout).unwrap();
    // What the journal says the applies did, folded: who is in each group by their hand.
    let journal = std::fs::read_to_string(file_beside(&demo_dir.join(STATE_FILE))).unwrap();
    let mut added: std::collections::BTreeMap<(String, String), String> =
        std::collections::BTreeMap::new();
    let mut changes = 0;
    for line in journal.lines() {
        let record: scimsync::journal::Record = serde_json::from_str(line).unwrap();
        if let Some(c) = record.change() {
            changes += 1;
            let at = (c.group.id.to_string(), c.user.id.to_string());
            match c.op {
                Op::Add => added.insert(at, c.approval.plan_sha256.to_string()),
                Op::Remove => added.remove(&at),
            };
        }
    }
    assert!(changes >= 8, "the demo's applies made {changes} changes");
    assert_valid(&events, changes).await;
    let report = scimsync(&["report", "access", "--format", "csv", "--config", config]);
    assert!(report.status.success());
    let csv = String::from_utf8(report.stdout).unwrap();
    assert_eq!(csv.lines().count(), added.len() + 1, "{csv}");
    for ((group, user), plan) in &added {
        assert!(
            csv.lines().any(|l| l.contains(group.as_str())
                && l.contains(user.as_str())
                && l.contains(plan.as_str())),
            "{user} in {group} by plan {plan} is not in the report:\n{csv}"
        );
    }
}
