//! State stores through the real binary: the state in an S3 bucket (a moto server on
//! 127.0.0.1, reached by the real `object_store` client), its apply lock, compare-and-swap
//! writes, `state unlock/push/pull`, `validate`, and that no credential is ever printed.

use std::time::Duration;

use scimsync::emulator::{FaultAction, Route};
use scimsync::state::State;

use crate::moto::{Moto, SECRET_KEY};
use crate::scenario::{Run, STATE_FILE, Scenario};

const KEY: &str = "team/scimsync.state.json";
const LOCK: &str = "team/scimsync.state.json.lock";

/// Every output of every run, checked for the secret key.
#[track_caller]
fn no_secret(runs: &[&Run]) {
    for r in runs {
        assert!(
            !r.stdout.contains(SECRET_KEY) && !r.stderr.contains(SECRET_KEY),
            "the secret key was printed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

async fn bucket_state(moto: &Moto) -> State {
    State::decode(&moto.get(KEY).await.expect("a state object"), KEY).unwrap()
}

/// IdP `sales` adds u010 and u011 to g-sales (u000..u004), state in the bucket.
async fn s3_scenario(moto: &Moto) -> Scenario {
    Scenario::new()
        .await
        .s3_state(moto, KEY)
        .idp("sales", &["u000", "u010", "u011"])
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_and_apply_keep_the_state_in_the_bucket() {
    let moto = Moto::start().await;
    let s = s3_scenario(&moto).await;
    let validate = s.run(&["validate"]).await;
    validate.code(0);
    assert!(
        validate.stdout.contains(&format!(
            "✓ state store (S3) s3://scimsync-test/{KEY}: reachable and writable"
        )),
        "{}",
        validate.stdout
    );
    let plan = s.run(&["plan", "--out", "plan.json"]).await;
    plan.code(0);
    assert!(moto.get(KEY).await.is_none(), "plan writes no state");
    let apply = s.run(&["apply", "plan.json"]).await;
    apply.code(0);
    assert_eq!(s.emu().members("g-sales").len(), 7);
    let st = bucket_state(&moto).await;
    assert_eq!(st.groups["sales"].serial, 1);
    assert_eq!(st.groups["sales"].idp_members.as_ref().unwrap().len(), 3);
    assert!(st.groups["sales"].cursor.is_some() && st.lineage.is_some());
    assert!(moto.get(LOCK).await.is_none(), "the lock is released");
    assert!(!s.path(STATE_FILE).exists(), "no local state file");
    // The next plan reads the cursor from the bucket: nothing to do.
    let again = s.run(&["plan", "--detailed-exitcode"]).await;
    again.code(0);
    let show = s.run(&["state", "show"]).await;
    show.code(0);
    assert!(show.stdout.contains(&format!("s3://scimsync-test/{KEY}")));
    no_secret(&[&validate, &plan, &apply, &again, &show]);
}

/// Two applies at once: the second is refused at once, naming the first (host, pid, CI
/// run). The first is then SIGKILLed: its lock stays, `state unlock` without a terminal
/// refuses and points at --force, `--force` frees it, and the next apply converges.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_apply_is_refused_and_a_dead_holder_is_unlocked() {
    let moto = Moto::start().await;
    let s = s3_scenario(&moto).await.env("GITHUB_RUN_ID", "777001");
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu().inject(
        Route::GroupPatch,
        1,
        FaultAction::Delay(Duration::from_mins(10)),
    );
    let mut first = s.spawn(&["apply", "plan.json"]);
    s.emu().wait_arrived(Route::GroupPatch, 1).await;
    let pid = first.id().unwrap();

    let second = s.run_raw(&["apply", "plan.json"]).await;
    second.code(1);
    for want in [
        "another scimsync apply is using state s3://scimsync-test/team/scimsync.state.json",
        &format!("pid {pid} on host"),
        "GitHub Actions run 777001",
        "scimsync state unlock",
    ] {
        assert!(
            second.stderr.contains(want),
            "{want:?} in {}",
            second.stderr
        );
    }

    first.start_kill().unwrap();
    first.wait().await.unwrap();
    assert!(
        moto.get(LOCK).await.is_some(),
        "a killed apply leaves its lock"
    );
    let refused = s.run_raw(&["apply", "plan.json"]).await;
    refused.code(1);

    let ask = s.run_raw(&["state", "unlock"]).await;
    ask.code(1);
    assert!(
        ask.stderr.contains("--force") && ask.stderr.contains(&format!("pid {pid}")),
        "{}",
        ask.stderr
    );
    assert!(moto.get(LOCK).await.is_some());
    let forced = s.run_raw(&["state", "unlock", "--force"]).await;
    forced.code(0);
    assert!(
        forced.stdout.contains("removed the lock"),
        "{}",
        forced.stdout
    );
    assert!(moto.get(LOCK).await.is_none());
    let none = s.run_raw(&["state", "unlock"]).await;
    none.code(0);
    assert!(none.stdout.contains("not locked"), "{}", none.stdout);

    s.run_raw(&["plan", "--out", "again.json"]).await.code(0);
    s.run_raw(&["apply", "again.json"]).await.code(0);
    assert_eq!(s.emu().members("g-sales").len(), 7);
    assert!(bucket_state(&moto).await.groups["sales"].cursor.is_some());
    s.run_raw(&["plan", "--detailed-exitcode"]).await.code(0);
    no_secret(&[&second, &refused, &ask, &forced, &none]);
}

/// Another writer replaces the state between apply's read and its write (as a run that
/// ignored the lock would): apply's conditional write loses, says so, and overwrites
/// nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_compare_and_swap_race_overwrites_nothing() {
    for theirs_is_ours in [false, true] {
        let moto = Moto::start().await;
        let s = s3_scenario(&moto).await;
        // A state exists before the plan (so apply reads a version to write against).
        let mut before = State::default();
        before.groups.entry("other".into()).or_default().serial = 1;
        moto.put(KEY, &before.encode()).await;
        s.run(&["plan", "--out", "plan.json"]).await.code(0);

        s.emu().inject(
            Route::GroupPatch,
            1,
            FaultAction::Delay(Duration::from_secs(3)),
        );
        let apply = s.run_raw(&["apply", "plan.json"]);
        // Another writer (one that ignored the lock) writes between apply's read and write:
        // another group, or this very group.
        let written = if theirs_is_ours { "sales" } else { "other" };
        let foreign = async {
            // apply has read the state by the time its PATCH arrives.
            s.emu().wait_arrived(Route::GroupPatch, 1).await;
            let mut theirs = before.clone();
            theirs.groups.entry(written.into()).or_default().serial = 5;
            moto.put(KEY, &theirs.encode()).await;
        };
        let (apply, ()) = tokio::join!(apply, foreign);
        let stored = State::decode(&moto.get(KEY).await.unwrap(), KEY).unwrap();
        assert_eq!(
            stored.groups[written].serial, 5,
            "the other writer's record is intact"
        );
        if theirs_is_ours {
            // This group moved under us: its record is not overwritten, and it is stale.
            apply.code(3);
            assert!(
                apply.stdout.contains("lost compare-and-swap race"),
                "{}\n{}",
                apply.stdout,
                apply.stderr
            );
            assert!(stored.groups["sales"].idp_members.is_none());
        } else {
            // Another group moved: the state is read again and this run's group laid over it.
            apply.code(0);
            assert_eq!(stored.groups["sales"].serial, 1);
            assert!(stored.groups["sales"].idp_members.is_some());
        }
        assert!(moto.get(LOCK).await.is_none(), "the lock is released");
        no_secret(&[&apply]);
    }
}

/// `state push` moves a team from the local file to a bucket; `state pull` copies back;
/// neither overwrites another lineage or a newer state.
#[tokio::test(flavor = "multi_thread")]
async fn push_and_pull_between_the_file_and_the_bucket() {
    let moto = Moto::start().await;
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u010"])
        .envs(moto.env());
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.run(&["apply", "plan.json"]).await.code(0);
    let local = State::load_file(&s.path(STATE_FILE)).unwrap();

    let url = moto.s3(KEY);
    let push = s.run(&["state", "push", "--to", &url]).await;
    push.code(0);
    assert!(push.stdout.contains("copied state"), "{}", push.stdout);
    assert_eq!(bucket_state(&moto).await, local);
    // The journal went with it: the bucket's state and journal verify together, and an
    // apply from the bucket appends to it.
    let journal = || async {
        let dir = tempfile::tempdir().unwrap();
        let store = scimsync::state::Store::parse_in(&url, dir.path(), &moto.env()).unwrap();
        let lines = store.journal().lines().await.unwrap();
        let head = store.load().await.unwrap().state.journal;
        scimsync::journal::chain::verify(lines.iter().map(String::as_str), head.as_ref())
            .unwrap_or_else(|e| panic!("the bucket's journal: {e}"))
            .records
    };
    let local_records = s.journal().len() as u64;
    assert_eq!(journal().await, local_records);
    // Again: the same state, so allowed; nothing more is copied.
    s.run(&["state", "push", "--to", &url]).await.code(0);
    assert_eq!(journal().await, local_records);

    // A newer state in the bucket (an apply wrote it since) is never overwritten.
    let mut newer = local.clone();
    newer.groups.get_mut("sales").unwrap().serial += 1;
    moto.put(KEY, &newer.clone().encode()).await;
    let refused = s.run(&["state", "push", "--to", &url]).await;
    refused.code(1);
    assert!(
        refused.stderr.contains("refusing to overwrite state s3://")
            && refused.stderr.contains("newer for group(s) sales"),
        "{}",
        refused.stderr
    );
    assert_eq!(bucket_state(&moto).await, newer);

    // Pull brings the newer one back into the file.
    let pull = s.run(&["state", "pull", "--from", &url]).await;
    pull.code(0);
    assert_eq!(State::load_file(&s.path(STATE_FILE)).unwrap(), newer);

    // Another lineage is refused both ways.
    let mut other = State::default();
    other.encode();
    moto.put(KEY, &other.encode()).await;
    let refused = s.run(&["state", "pull", "--from", &url]).await;
    refused.code(1);
    assert!(
        refused.stderr.contains("another state"),
        "{}",
        refused.stderr
    );
    no_secret(&[&push, &refused, &pull]);
}

/// Wrong credentials, a missing bucket, an unreachable store: each error names the store
/// and never the secret, even with trace logging.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_never_printed() {
    let moto = Moto::start().await;
    let s = Scenario::new().await.s3_state(&moto, KEY);
    let mut runs = Vec::new();
    let show = s.run(&["-vv", "state", "show"]).await;
    show.code(0);
    runs.push(show);
    let missing = Scenario::new()
        .await
        .envs(moto.env())
        .state("url = \"s3://no-such-bucket/s.json\"");
    let r = missing.run(&["-vv", "validate"]).await;
    r.code(1);
    assert!(
        r.stdout.contains("✗ state") && r.stdout.contains("s3://no-such-bucket/s.json"),
        "{}",
        r.stdout
    );
    runs.push(r);
    let port = moto.addr.port();
    drop(moto);
    let r = s.run(&["-vv", "state", "show"]).await;
    r.code(1);
    assert!(
        r.stderr.contains(&format!("s3://scimsync-test/{KEY}")),
        "{}",
        r.stderr
    );
    runs.push(r);
    let r = s.run(&["-vv", "plan"]).await;
    r.code(1);
    runs.push(r);
    // An http endpoint off loopback is refused before any request.
    let off = Scenario::new()
        .await
        .s3_state_at(&format!("http://s3.example.com:{port}"), KEY);
    let r = off.run(&["state", "show"]).await;
    r.code(1);
    assert!(
        r.stderr.contains("AWS_ENDPOINT_URL") && r.stderr.contains("loopback"),
        "{}",
        r.stderr
    );
    runs.push(r);
    no_secret(&runs.iter().collect::<Vec<_>>());
}

/// The local file store behaves as before: a file beside the config, its OS lock, and
/// `state unlock` has nothing to remove.
#[tokio::test(flavor = "multi_thread")]
async fn the_local_file_store_is_unchanged() {
    let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
    let v = s.run(&["validate"]).await;
    v.code(0);
    assert!(
        v.stdout.contains("✓ state store (local file) ")
            && v.stdout
                .contains("scimsync.state.json: reachable and writable"),
        "{}",
        v.stdout
    );
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    {
        let _held = scimsync::state::StateLock::acquire(&s.path(STATE_FILE)).unwrap();
        let r = s.run(&["apply", "plan.json"]).await;
        r.code(1);
        assert!(
            r.stderr.contains("is held by a running process"),
            "{}",
            r.stderr
        );
        let r = s.run(&["state", "unlock", "--force"]).await;
        r.code(1);
        assert!(r.stderr.contains("OS lock"), "{}", r.stderr);
    }
    s.run(&["apply", "plan.json"]).await.code(0);
    assert!(
        State::load_file(&s.path(STATE_FILE)).unwrap().groups["sales"]
            .cursor
            .is_some()
    );
    let r = s.run(&["state", "unlock"]).await;
    r.code(0);
    assert!(r.stdout.contains("not locked"), "{}", r.stdout);
}

/// Ctrl-C during an apply: it stops, says so, and releases the lock object.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_releases_the_lock() {
    let moto = Moto::start().await;
    let s = s3_scenario(&moto).await;
    s.run(&["plan", "--out", "plan.json"]).await.code(0);
    s.emu().inject(
        Route::GroupPatch,
        1,
        FaultAction::Delay(Duration::from_mins(10)),
    );
    let mut apply = s.spawn(&["apply", "plan.json"]);
    s.emu().wait_arrived(Route::GroupPatch, 1).await;
    assert!(moto.get(LOCK).await.is_some());
    let pid = apply.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(30), apply.wait())
        .await
        .expect("apply stops on Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(moto.get(LOCK).await.is_none(), "the lock is released");
}
