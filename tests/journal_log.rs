//! `scimsync log`, `log verify` and `report access` through the real binary, on journals
//! written by real applies: filters, every format, a chain that holds and one edited by
//! hand, and the access review.

use crate::scenario::{Group, STATE_FILE, Safety, Scenario};
use scimsync::state::journal_store::file_beside;

/// The scenario after `two_applies`, with the state saved after the first apply put back:
/// its head names record `seq` of the first run.
fn state_after_first_apply(s: &Scenario) -> String {
    std::fs::read_to_string(s.path("state.after-first.json")).unwrap()
}

/// Two applies to `sales` (g-sales holds u000..u004 by hand; full mode), from GitHub
/// Actions: plan 1, approved by maria, adds u010 and u011 and removes u001..u004; plan 2,
/// approved by li.wei, adds u012 and removes u010. Returns the scenario and both plans'
/// sha256.
pub async fn two_applies() -> (Scenario, String, String) {
    let s = Scenario::new()
        .await
        .groups([Group::id("sales", "g-sales").full()])
        .safety(Safety::unguarded())
        .idp("sales", &["u000", "u010", "u011"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_ACTOR", "octocat")
        .env("GITHUB_REPOSITORY", "acme/idp-groups")
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_SERVER_URL", "https://github.com");
    let mut plans = Vec::new();
    for (approver, pr) in [
        ("maria", "acme/idp-groups#7"),
        ("li.wei", "acme/idp-groups#8"),
    ] {
        if approver == "li.wei" {
            s.emu().idp_change("sales", &["u012"], &["u010"]);
        }
        s.run(&["plan", "--out", "plan.json"]).await.code(0);
        plans.push(s.plan_at("plan.json").sha256.to_string());
        s.run(&[
            "apply",
            "plan.json",
            "--approved-by",
            approver,
            "--change-ref",
            pr,
        ])
        .await
        .code(0);
        if approver == "maria" {
            std::fs::copy(s.path(STATE_FILE), s.path("state.after-first.json")).unwrap();
        }
    }
    let second = plans.pop().unwrap();
    (s, plans.pop().unwrap(), second)
}

fn journal_text(s: &Scenario) -> String {
    std::fs::read_to_string(file_beside(&s.path(STATE_FILE))).unwrap()
}

/// The user ids of the change rows a `--format csv` output holds, in order.
fn csv_users(csv: &str) -> Vec<String> {
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == "user_id").unwrap();
    rows.map(|r| r.split(',').nth(at).unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn log_filters_and_formats() {
    let (s, plan1, plan2) = two_applies().await;

    let table = s.run(&["log"]).await;
    table.expect(
        0,
        &[
            "u010",
            "maria",
            "li.wei",
            "granted",
            "revoked",
            "8 change(s): 3 added, 5 removed.",
        ],
        &[],
    );

    // JSON: the stored lines, byte for byte, every record.
    let json = s.run(&["log", "--format", "json"]).await;
    json.code(0);
    assert_eq!(json.stdout, journal_text(&s));

    // CSV: a header row, a row per change.
    let csv = s.run(&["log", "--format", "csv"]).await;
    csv.code(0);
    assert!(
        csv.stdout.starts_with("seq,time,kind,run_id,group,"),
        "{}",
        csv.stdout
    );
    assert_eq!(csv_users(&csv.stdout).len(), 8);

    // --user: an id, in any case; --group: the Genesys display name.
    let bob = s
        .run(&[
            "log", "--format", "csv", "--user", "U010", "--group", "sales",
        ])
        .await;
    bob.code(0);
    assert_eq!(
        csv_users(&bob.stdout),
        ["u010", "u010"],
        "added, then removed"
    );
    let by_label = s
        .run(&["log", "--format", "csv", "--user", "u012@example.com"])
        .await;
    assert_eq!(csv_users(&by_label.stdout), ["u012"], "{}", by_label.stdout);
    let other_group = s.run(&["log", "--group", "Support"]).await;
    other_group.expect(0, &["No journal records match."], &[]);

    // --plan: a prefix; the second plan's two changes.
    let second = s
        .run(&["log", "--format", "csv", "--plan", &plan2[..8]])
        .await;
    let mut users = csv_users(&second.stdout);
    users.sort();
    assert_eq!(users, ["u010", "u012"]);
    let first = s.run(&["log", "--format", "csv", "--plan", &plan1]).await;
    assert_eq!(csv_users(&first.stdout).len(), 6);
    s.run(&["log", "--plan", "3b8c"]).await.expect(
        1,
        &[],
        &["--plan 3b8c", "at least its first 8 hex digits"],
    );

    // --since: a span, a date; and a time to come.
    let recent = s.run(&["log", "--format", "csv", "--since", "1h"]).await;
    assert_eq!(csv_users(&recent.stdout).len(), 8);
    s.run(&["log", "--since", "2999-01-01"])
        .await
        .expect(0, &["No journal records match."], &[]);
    s.run(&["log", "--since", "last tuesday"]).await.expect(
        1,
        &[],
        &["--since last tuesday", "30d"],
    );

    // --all adds the run and outcome records.
    let all = s.run(&["log", "--all", "--format", "csv"]).await;
    assert_eq!(
        all.stdout.lines().count() - 1,
        journal_text(&s).lines().count()
    );

    // OCSF and ECS: one event per change, and no --all.
    for format in ["ocsf", "ecs"] {
        let out = s.run(&["log", "--format", format]).await;
        out.code(0);
        assert_eq!(out.stdout.lines().count(), 8, "{format}");
        for line in out.stdout.lines() {
            let _: serde_json::Value = serde_json::from_str(line).unwrap();
        }
        s.run(&["log", "--format", format, "--all"]).await.expect(
            1,
            &[],
            &["--all with --format", "change records only"],
        );
    }
    let ecs = s.run(&["log", "--format", "ecs", "--user", "u012"]).await;
    let doc: serde_json::Value = serde_json::from_str(ecs.stdout.trim()).unwrap();
    assert_eq!(doc["event"]["action"], "added-member-to-group");
    assert_eq!(doc["user"]["target"]["id"], "u012");
    assert_eq!(doc["user"]["name"], "octocat");
    assert_eq!(doc["labels"]["approved_by"], "li.wei");
    assert_eq!(doc["labels"]["plan_sha256"], plan2.as_str());
    assert!(
        doc["trace"]["id"]
            .as_str()
            .is_some_and(|c| c.starts_with("emu-"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_passes_on_the_journal_apply_wrote_and_names_an_edited_record() {
    let (s, _, _) = two_applies().await;
    let records = journal_text(&s).lines().count();
    s.run(&["log", "verify"]).await.expect(
        0,
        &[
            &format!("{records} record(s) checked, records 1 to {records}; the chain holds"),
            "0 records after the state's head",
        ],
        &[],
    );

    // A state written before the second run (restored from a backup): the second run's
    // records are after its head, allowed and counted.
    let now = std::fs::read(s.path(STATE_FILE)).unwrap();
    std::fs::write(s.path(STATE_FILE), state_after_first_apply(&s)).unwrap();
    let first_run = records - 5;
    s.run(&["log", "verify"]).await.expect(
        0,
        &[&format!(
            "5 record(s) after the state's head (record {first_run}): written by an apply that stopped before its state write"
        )],
        &[],
    );
    std::fs::write(s.path(STATE_FILE), now).unwrap();

    // Someone turns a removal into nothing much: record 3's user is changed.
    let path = file_beside(&s.path(STATE_FILE));
    let mut lines: Vec<String> = journal_text(&s).lines().map(str::to_owned).collect();
    assert!(lines[2].contains("\"kind\":\"change\""), "{}", lines[2]);
    lines[2] = lines[2].replacen("\"label\":\"", "\"label\":\"x", 1);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let broken = s.run(&["log", "verify"]).await;
    // The message, with the two hashes it names (of the edited line, and the one the next
    // record holds) made stable.
    let edited = scimsync::model::sha256_hex(lines[2].as_bytes());
    let held = scimsync::model::JournalLink::prev_of_line(&lines[3]).unwrap();
    crate::snapshot!(
        "log_verify_edited",
        s.redact(&broken.stderr)
            .replace(edited.short(), "[EDITED]")
            .replace(held.short(), "[HELD]")
    );
    broken.expect(
        1,
        &[],
        &[
            "scimsync.state.journal.jsonl",
            "record 3 (line 3)",
            "record 3 was edited",
            "keep this copy as evidence",
        ],
    );

    // A line that is not JSON: log names it.
    lines[4] = "{\"seq\": 5, torn".into();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    s.run(&["log"]).await.expect(
        1,
        &[],
        &["scimsync.state.journal.jsonl, line 5: not a journal record"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_journal_log_and_report_say_where_and_what_writes_it() {
    let s = Scenario::new().await;
    for args in [&["log"][..], &["report", "access"]] {
        s.run(args).await.expect(
            1,
            &[],
            &[
                "scimsync.state.journal.jsonl has no records",
                "scimsync apply",
            ],
        );
    }
    s.run(&["log", "verify"])
        .await
        .expect(0, &["no records, and the state names none"], &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn report_access_lists_who_scimsync_added_and_under_whose_approval() {
    let (s, plan1, plan2) = two_applies().await;
    let md = s.run(&["report", "access"]).await;
    md.expect(
        0,
        &[
            "# Access review: members added by scimsync",
            "## sales → Sales",
            "2 member(s) added by scimsync.",
            &plan1[..12],
            &plan2[..12],
        ],
        &[],
    );
    // u000 was a member by hand: not listed; u010 was added, then removed.
    assert!(!md.stdout.contains("u000"), "{}", md.stdout);
    assert!(!md.stdout.contains("| u010"), "{}", md.stdout);

    let csv = s.run(&["report", "access", "--format", "csv"]).await;
    csv.code(0);
    let rows: Vec<Vec<&str>> = csv.stdout.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0][..5],
        [
            "group",
            "genesys_group_name",
            "genesys_group_id",
            "user_label",
            "user_id"
        ]
    );
    let members: Vec<(&str, &str, &str)> = rows[1..].iter().map(|r| (r[4], r[8], r[10])).collect();
    assert_eq!(
        members,
        [
            ("u011", plan1.as_str(), "maria"),
            ("u012", plan2.as_str(), "li.wei")
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn log_reads_and_verifies_a_journal_kept_in_a_bucket() {
    let moto = crate::moto::Moto::start().await;
    let s = Scenario::new()
        .await
        .s3_state(&moto, "team/scimsync.state.json")
        .idp("sales", &["u000", "u010", "u011"]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.run(&["apply", "plan.json", "--approved-by", "maria"])
        .await
        .code(0);
    let dir = tempfile::tempdir().unwrap();
    let store = scimsync::state::Store::parse_in(
        &moto.s3("team/scimsync.state.json"),
        dir.path(),
        &moto.env(),
    )
    .unwrap();
    let stored = store.journal().lines().await.unwrap();
    assert!(stored.len() > 1, "{stored:?}");
    let json = s.run(&["log", "--format", "json"]).await;
    json.code(0);
    assert_eq!(
        json.stdout,
        stored.join("\n") + "\n",
        "the stored lines of every segment, unchanged"
    );
    s.run(&["log", "--user", "u011"]).await.expect(
        0,
        &["u011", "maria", "1 change(s): 1 added, 0 removed."],
        &[],
    );
    s.run(&["log", "verify"]).await.expect(
        0,
        &["scimsync.state.json.journal/: ", "the chain holds"],
        &[],
    );
    s.run(&["report", "access", "--format", "csv"])
        .await
        .expect(0, &["sales,Sales,g-sales,u010@example.com,u010,"], &[]);
}
