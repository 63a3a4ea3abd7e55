//! The journal, written by the real binary: one record per change with its approval, one per
//! group outcome, the chain anchored in the state, a re-plan naming the plan it replaced, a
//! journal cut short refused, retention pruning that keeps the chain verifiable, and appends
//! to a bucket (moto, through the real `object_store` client) by two writers at once.

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use scimsync::journal::chain::{self, seal};
use scimsync::journal::{Event, OutcomeKind, Record, RunRef};
use scimsync::model::JournalLink;
use scimsync::state::Store;
use scimsync::state::journal_store::file_beside;

use crate::moto::Moto;
use crate::scenario::{STATE_FILE, Scenario};

const GITHUB: &[(&str, &str)] = &[
    ("GITHUB_ACTIONS", "true"),
    ("GITHUB_ACTOR", "octocat"),
    ("GITHUB_REPOSITORY", "acme/idp-groups"),
    ("GITHUB_RUN_ID", "4242"),
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_SHA", "0123abcd"),
];

fn github(s: Scenario) -> Scenario {
    GITHUB.iter().fold(s, |s, (k, v)| s.env(k, v))
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_journals_each_change_with_its_approval_and_each_outcome() {
    // g-sales holds u000..u004; the IdP (full mode) wants u000, u010, u011.
    let s = github(
        Scenario::new()
            .await
            .groups([crate::scenario::Group::id("sales", "g-sales").full()])
            .safety(crate::scenario::Safety::unguarded())
            .idp("sales", &["u000", "u010", "u011"]),
    );
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    let plan = s.plan_at("plan.json");
    s.run(&[
        "apply",
        "plan.json",
        "--approved-by",
        "maria@example.com",
        "--change-ref",
        "acme/idp-groups#7",
    ])
    .await
    .code(0);
    let journal = s.journal();
    let kinds: Vec<&str> = journal.iter().map(Record::kind).collect();
    assert_eq!(
        kinds,
        [
            "run_started",
            "change",
            "change",
            "change",
            "change",
            "change",
            "change",
            "outcome",
            "run_ended"
        ]
    );
    let Event::RunStarted(started) = &journal[0].event else {
        unreachable!()
    };
    assert_eq!(started.intents[0].changes.len(), 6);
    let state = s.saved_state();
    let made = s.committed();
    let mut journaled = s.journaled();
    let mut sorted = made.clone();
    sorted.sort();
    journaled.sort();
    assert_eq!(journaled, sorted, "one record per change made");
    for change in journal.iter().filter_map(Record::change) {
        assert_eq!(change.approval.plan_sha256, plan.sha256);
        assert_eq!(change.approval.replaces_plan_sha256, None);
        let actor = &change.approval.actor;
        assert_eq!(actor.approved_by.as_deref(), Some("maria@example.com"));
        assert_eq!(actor.change_ref.as_deref(), Some("acme/idp-groups#7"));
        assert_eq!(actor.ran_by.as_deref(), Some("octocat"));
        assert_eq!(
            actor.run_url.as_deref(),
            Some("https://github.com/acme/idp-groups/actions/runs/4242")
        );
        assert_eq!(actor.commit.as_deref(), Some("0123abcd"));
        assert_eq!(
            (change.group.idp.as_str(), change.group.id.as_str()),
            ("sales", "g-sales")
        );
        assert_eq!(change.state.lineage, state.lineage);
        assert_eq!(change.state.serial, 1);
        assert!(
            change
                .correlation_id
                .as_deref()
                .is_some_and(|c| c.starts_with("emu-")),
            "the PATCH's ININ-Correlation-Id: {change:?}"
        );
        assert!(!change.user.label.is_empty());
        let reason = plan.groups[0].reasons[&change.user.id];
        assert_eq!(change.reason, reason);
    }
    // An added user's IdP key is known (ids are the keys here).
    let added = journal
        .iter()
        .filter_map(Record::change)
        .find(|c| c.user.id.as_str() == "u010")
        .unwrap();
    assert_eq!(
        added.user.key.as_ref().map(scimsync::model::IdpKey::as_str),
        Some("u010")
    );
    let Event::Outcome(outcome) = &journal[7].event else {
        unreachable!()
    };
    assert_eq!(outcome.outcome, OutcomeKind::Applied);
    assert_eq!((outcome.added, outcome.removed), (2, 4));
    // The state names the journal's head: the last record.
    let head = state.journal.unwrap();
    let text = std::fs::read_to_string(file_beside(&s.path(STATE_FILE))).unwrap();
    let last = JournalLink::of_line(text.lines().last().unwrap()).unwrap();
    assert_eq!((head.first_seq, head.last_seq), (1, last.seq));
    assert_eq!(head.last_sha256, last.sha256);
    // The journal holds no secret.
    for secret in [crate::scenario::CLIENT_SECRET, crate::scenario::IDP_TOKEN] {
        assert!(!text.contains(secret), "a secret in the journal");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replan_names_the_plan_it_replaced_and_stale_groups_are_journaled() {
    let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    let first = s.plan_at("plan.json");
    s.emu().write_behind("g-sales", &["u020"], &[]);
    s.run(&["apply", "plan.json"]).await.code(3);
    let replan = s.plan_at("plan.replan.json");
    assert_eq!(replan.replaces.as_ref(), Some(&first.sha256));
    s.run(&["apply", "plan.replan.json"]).await.code(0);
    let journal = s.journal();
    let outcomes: Vec<OutcomeKind> = journal
        .iter()
        .filter_map(|r| match &r.event {
            Event::Outcome(o) => Some(o.outcome),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, [OutcomeKind::Stale, OutcomeKind::Applied]);
    let change = journal.iter().find_map(Record::change).unwrap();
    assert_eq!(change.approval.plan_sha256, replan.sha256);
    assert_eq!(change.approval.replaces_plan_sha256, Some(first.sha256));
    assert_eq!(
        s.journaled(),
        [("g-sales".into(), "add".into(), "u010".into())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_cut_short_is_refused_before_any_write() {
    let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.run(&["apply", "plan.json"]).await.code(0);
    let path = file_beside(&s.path(STATE_FILE));
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&path, format!("{}\n", kept.join("\n"))).unwrap();
    s.emu().idp_change("sales", &["u011"], &[]);
    s.run(&["plan", "--out", "plan2.json"]).await.code(0);
    let before = s.committed().len();
    s.run(&["apply", "plan2.json"]).await.expect(
        1,
        &[],
        &[
            "ends at record 2, but the state knows of record",
            "nothing was applied",
            "restore it from a backup",
        ],
    );
    assert_eq!(
        s.committed().len(),
        before,
        "nothing was written to Genesys"
    );
    // validate says so before any apply.
    s.run(&["validate"]).await.expect(
        1,
        &["✗ journal scimsync.state.journal.jsonl: ends at record 2, but the state knows of record"],
        &[],
    );
}

/// Records older than the retention are pruned at apply; the journal then starts at the
/// first record kept, a `pruned` record says what went, and the chain verifies from there.
#[tokio::test(flavor = "multi_thread")]
async fn retention_prunes_old_records_and_the_chain_still_verifies() {
    let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.run(&["apply", "plan.json"]).await.code(0);
    // Make the first apply's records 400 days old: re-sealed, and the state's head moved.
    let path = file_beside(&s.path(STATE_FILE));
    let old: Vec<Record> = s.journal();
    let aged: Vec<_> = old
        .iter()
        .map(|r| {
            (
                r.time - jiff::SignedDuration::from_hours(400 * 24),
                r.event.clone(),
            )
        })
        .collect();
    let (lines, last) = seal(&aged, &old[0].run, &JournalLink::start());
    std::fs::write(&path, format!("{}\n", lines.join("\n"))).unwrap();
    let mut state = s.saved_state();
    let head = state.journal.as_mut().unwrap();
    head.last_seq = last.seq;
    head.last_sha256 = last.sha256;
    state.save_file(&s.path(STATE_FILE)).unwrap();
    let old_count = lines.len() as u64;
    // The next apply, with a retention of 30 days.
    let s = s.journal_setting("retention_days", 30);
    s.emu().idp_change("sales", &["u011"], &[]);
    s.run(&["plan", "--out", "plan2.json"]).await.code(0);
    s.run(&["apply", "plan2.json"]).await.code(0);
    let journal = s.journal(); // verified against the state's head
    assert_eq!(journal[0].seq, old_count + 1, "the old records are gone");
    let pruned = journal
        .iter()
        .find_map(|r| match r.event {
            Event::Pruned {
                through_seq,
                records,
                ..
            } => Some((through_seq, records)),
            _ => None,
        })
        .expect("a pruned record");
    assert_eq!(pruned, (old_count, old_count));
    let state = s.saved_state().journal.unwrap();
    assert_eq!(state.first_seq, old_count + 1);
    assert_eq!(
        s.journaled(),
        [("g-sales".into(), "add".into(), "u011".into())]
    );
}

/// Two writers appending to one journal in a bucket at once: every batch of both lands, in
/// one chain, each once: create-only segments lose no one's records.
#[tokio::test(flavor = "multi_thread")]
async fn two_writers_appending_to_a_bucket_lose_nothing() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = moto.s3("team/state.json");
    let open = || {
        Store::parse_in(&url, dir.path(), &moto.env())
            .unwrap()
            .journal()
    };
    let write = |name: &'static str| {
        let store = open();
        async move {
            let run = RunRef {
                id: name.into(),
                started_seq: 0,
            };
            for batch in 0..8u8 {
                let events: Vec<_> = (0..3)
                    .map(|_| (jiff::Timestamp::now(), Event::RunEnded { exit_code: batch }))
                    .collect();
                store
                    .append(|after| seal(&events, &run, after))
                    .await
                    .unwrap();
            }
        }
    };
    tokio::join!(write("writer-a"), write("writer-b"));
    let lines = open().lines().await.unwrap();
    let verified = chain::verify(lines.iter().map(String::as_str), None).unwrap();
    assert_eq!(verified.records, 48, "both writers' 8 batches of 3");
    let records: Vec<Record> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for writer in ["writer-a", "writer-b"] {
        assert_eq!(records.iter().filter(|r| r.run.id == writer).count(), 24);
    }
}

/// The journal of a state in a bucket lives beside it, as segments, and the state names
/// its head.
#[tokio::test(flavor = "multi_thread")]
async fn apply_with_the_state_in_a_bucket_journals_beside_it() {
    let moto = Moto::start().await;
    let s = Scenario::new()
        .await
        .s3_state(&moto, "team/scimsync.state.json")
        .idp("sales", &["u000", "u010", "u011"]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.run(&["apply", "plan.json"]).await.code(0);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::parse_in(
        &moto.s3("team/scimsync.state.json"),
        dir.path(),
        &moto.env(),
    )
    .unwrap();
    let lines = store.journal().lines().await.unwrap();
    let state = store.load().await.unwrap().state;
    let verified = chain::verify(lines.iter().map(String::as_str), state.journal.as_ref()).unwrap();
    assert_eq!(verified.after_head, 0);
    let changes = lines
        .iter()
        .filter(|l| l.contains("\"kind\":\"change\""))
        .count();
    assert_eq!(changes, 2);
    assert!(
        moto.get("team/scimsync.state.json.journal/00000000000000000001.jsonl")
            .await
            .is_some(),
        "segments are named by their first record"
    );
}

/// Retention in a bucket: whole segments older than the retention are deleted, the state's
/// start moves to the first one kept, and the chain verifies from there.
#[tokio::test(flavor = "multi_thread")]
async fn retention_in_a_bucket_deletes_whole_old_segments() {
    const KEY: &str = "team/scimsync.state.json";
    let moto = Moto::start().await;
    let s = Scenario::new()
        .await
        .s3_state(&moto, KEY)
        .idp("sales", &["u000", "u010"]);
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.run(&["apply", "plan.json"]).await.code(0);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::parse_in(&moto.s3(KEY), dir.path(), &moto.env()).unwrap();
    let journal = store.journal();
    // Age the first apply's records by 400 days: one segment, re-sealed, and the state's
    // head moved to it (what a journal written 400 days ago would look like).
    let records: Vec<Record> = journal
        .lines()
        .await
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let aged: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r.time - jiff::SignedDuration::from_hours(400 * 24),
                r.event.clone(),
            )
        })
        .collect();
    let (lines, last) = seal(&aged, &records[0].run, &JournalLink::start());
    let client = moto.client();
    let prefix = object_store::path::Path::from(format!("{KEY}.journal"));
    let old: Vec<_> = client.list(Some(&prefix)).try_collect().await.unwrap();
    for meta in old {
        client.delete(&meta.location).await.unwrap();
    }
    let first = format!("{KEY}.journal/00000000000000000001.jsonl");
    moto.put(&first, format!("{}\n", lines.join("\n")).as_bytes())
        .await;
    let mut state = store.load().await.unwrap().state;
    let head = state.journal.as_mut().unwrap();
    head.last_seq = last.seq;
    head.last_sha256 = last.sha256;
    moto.put(KEY, &state.encode()).await;
    // The next apply, with a retention of 30 days.
    let s = s.journal_setting("retention_days", 30);
    s.emu().idp_change("sales", &["u011"], &[]);
    s.run(&["plan", "--out", "plan2.json"]).await.code(0);
    s.run(&["apply", "plan2.json"]).await.code(0);
    assert!(
        moto.get(&first).await.is_none(),
        "the old segment is deleted"
    );
    let lines = store.journal().lines().await.unwrap();
    let state = store.load().await.unwrap().state;
    let verified = chain::verify(lines.iter().map(String::as_str), state.journal.as_ref()).unwrap();
    let kept_from = records.len() as u64 + 1;
    assert_eq!(verified.ends.unwrap().0, kept_from);
    assert_eq!(state.journal.unwrap().first_seq, kept_from);
    assert!(lines.iter().any(|l| l.contains("\"kind\":\"pruned\"")));
}

fn sorted(mut v: Vec<(String, String, String)>) -> Vec<(String, String, String)> {
    v.sort();
    v
}

/// Two groups of three adds each, applied one group at a time.
async fn two_groups() -> Scenario {
    let s = Scenario::new().await;
    for (name, from) in [("a", 0), ("b", 10)] {
        s.emu()
            .add_group(&format!("g-{name}"), &format!("Group {name}"), &[]);
        let users: Vec<String> = (from..from + 3).map(crate::harness::user).collect();
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        s.emu().idp_change(name, &users, &[]);
    }
    s.groups([
        crate::scenario::Group::id("a", "g-a"),
        crate::scenario::Group::id("b", "g-b"),
    ])
    .target_setting("concurrency", 1)
}

/// A plan applied in part (one group fails), applied again and killed: the next apply
/// settles the killed run without journaling again what the first apply journaled.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_applied_again_and_killed_is_settled_without_doubling_records() {
    use scimsync::emulator::{FaultAction, Route};
    let s = two_groups().await;
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    // Run 1: g-a applied; g-b's PATCH refused (400): one group done.
    s.emu().inject(
        Route::GroupPatch,
        1,
        FaultAction::Delay(std::time::Duration::ZERO),
    );
    s.emu().inject(
        Route::GroupPatch,
        1,
        FaultAction::Status {
            status: 400,
            retry_after: None,
        },
    );
    s.run(&["apply", "plan.json"]).await.code(1);
    assert_eq!(s.journaled().len(), 3);
    // Run 2: the same plan; g-a is already applied, g-b's PATCH hangs; killed.
    s.emu().inject(
        Route::GroupPatch,
        1,
        FaultAction::Delay(std::time::Duration::from_mins(10)),
    );
    let sent = s
        .emu()
        .journal()
        .iter()
        .filter(|r| r.route == Route::GroupPatch)
        .count();
    let mut child = s.spawn(&["apply", "plan.json"]);
    s.emu().wait_arrived(Route::GroupPatch, sent + 1).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    // Run 3 settles run 2 first, then applies.
    s.run(&["plan", "--out", "again.json"]).await.code(0);
    s.run(&["apply", "again.json"]).await.code(0);
    assert_eq!(
        sorted(s.journaled()),
        sorted(s.committed()),
        "one record per change made"
    );
}

/// A PATCH that lands, whose answer is lost and whose re-read fails: the group goes stale,
/// the fresh read shows the changes made, and they are journaled as found, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_whose_answer_and_re_read_were_lost_is_journaled_as_found() {
    use scimsync::emulator::{FaultAction, Route};
    let s = two_groups().await;
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu()
        .inject(Route::GroupPatch, 1, FaultAction::CommitThenDrop);
    s.emu().inject(
        Route::GroupGet,
        1,
        FaultAction::Status {
            status: 404,
            retry_after: None,
        },
    );
    s.run(&["apply", "plan.json"]).await;
    s.run(&["plan", "--out", "again.json"]).await;
    s.run(&["apply", "again.json"]).await.code(0);
    assert_eq!(s.emu().members("g-a").len(), 3);
    let journaled = sorted(s.journaled());
    let mut made: Vec<(String, String, String)> = ["g-a", "g-b"]
        .iter()
        .flat_map(|g| {
            s.emu()
                .members(g)
                .into_iter()
                .map(move |u| ((*g).to_owned(), "add".to_owned(), u))
        })
        .collect();
    made.sort();
    assert_eq!(journaled, made, "every member added has one record");
    assert!(
        s.journal()
            .iter()
            .filter_map(Record::change)
            .any(|c| c.settled.is_some()),
        "the lost one is marked as found"
    );
}

/// A stopped run's group deleted in Genesys since: settling it finds nothing made, and the
/// next apply goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_runs_deleted_group_does_not_block_later_applies() {
    use scimsync::emulator::{FaultAction, Route};
    let s = two_groups().await;
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu().inject(
        Route::GroupPatch,
        1,
        FaultAction::Delay(std::time::Duration::from_mins(10)),
    );
    let mut child = s.spawn(&["apply", "plan.json"]);
    s.emu().wait_arrived(Route::GroupPatch, 1).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    s.emu().remove_group("g-a");
    let s = s.groups([crate::scenario::Group::id("b", "g-b")]);
    s.run(&["plan", "--out", "b.json"]).await.code(0);
    s.run(&["apply", "b.json"])
        .await
        .expect(0, &[], &["no longer exists in Genesys"]);
    let interrupted = s
        .journal()
        .iter()
        .filter(|r| matches!(&r.event, Event::Outcome(o) if o.outcome == OutcomeKind::Interrupted))
        .count();
    assert_eq!(interrupted, 2, "both groups of the stopped run are settled");
}
