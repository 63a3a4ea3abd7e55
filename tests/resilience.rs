//! Crash safety and soak: apply killed at seeded random moments; many plan/apply cycles
//! against an emulator failing a seeded share of requests, with IdP churn in between.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use scimsync::emulator::{FaultAction, RandomFaults, Route};
use scimsync::plan::{Plan, file};
use scimsync::state::State;

use crate::harness::user;
use crate::scenario::{Group, STATE_FILE, Safety, Scenario};

/// Three groups, 60 additions each: 9 PATCHes in all.
async fn three_groups() -> Scenario {
    let s = Scenario::new().await;
    let mut groups = Vec::new();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        s.emu()
            .add_group(&format!("g-{name}"), &format!("Group {name}"), &[]);
        let adds: Vec<String> = (i * 60..i * 60 + 60).map(user).collect();
        let adds: Vec<&str> = adds.iter().map(String::as_str).collect();
        s.emu().idp_change(name, &adds, &[]);
        groups.push(Group::id(name, &format!("g-{name}")));
    }
    s.groups(groups).target_setting("max_members_per_patch", 25)
}

/// apply SIGKILLed at 20 moments (after the k-th PATCH arrives: each of the 9 in turn, then
/// seeded random ones): the state file is never corrupt, and plan + apply again converge with
/// no change lost or repeated, in Genesys and in the journal: every change made has exactly
/// one journal record, those the killed run could not journal settled by the next apply.
///
/// apply writes the state by group commit (a few writes a second, and before exit), so most
/// kills here leave groups applied in Genesys whose state was never written: the test counts
/// them, and checks that each re-plans to nothing, which is what makes the batching safe.
#[tokio::test(flavor = "multi_thread")]
async fn apply_killed_at_20_random_moments_converges() {
    let mut rng = StdRng::seed_from_u64(20261129);
    let mut unrecorded = 0;
    let mut settled = 0;
    for moment in 0..20 {
        let s = three_groups().await;
        s.run(&["plan", "--out", "plan.json"]).await.code(0);
        // The first PATCH is answered 200 and dropped: a write that did not happen.
        s.emu()
            .inject(Route::GroupPatch, 1, FaultAction::IgnoreWrite);
        let k = if moment < 9 {
            moment + 1
        } else {
            rng.random_range(1..=9)
        };
        let mut child = s.spawn(&["apply", "plan.json"]);
        tokio::select! {
            () = s.emu().wait_arrived(Route::GroupPatch, k) => {}
            _ = child.wait() => {}
        }
        let _ = child.start_kill();
        child.wait().await.unwrap();
        let state = State::load_file(&s.path(STATE_FILE))
            .unwrap_or_else(|e| panic!("moment {moment} (PATCH {k}): corrupt state: {e}"));
        s.run(&["plan", "--out", "again.json"]).await.code(0);
        let again = file::read(&s.path("again.json")).unwrap();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let want: Vec<String> = (i * 60..i * 60 + 60).map(user).collect();
            let applied = s.emu().members(&format!("g-{name}")) == want;
            if applied && state.groups.get(*name).is_none_or(|g| g.serial == 0) {
                unrecorded += 1;
                let g = again
                    .groups
                    .iter()
                    .find(|g| g.mapping.idp_group == *name)
                    .unwrap();
                assert!(
                    g.changes.is_empty(),
                    "moment {moment} (PATCH {k}): group {name} was applied but not recorded, and re-plans to {:?}",
                    g.changes
                );
            }
        }
        s.run(&["apply", "again.json"]).await.code(0);
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let want: Vec<String> = (i * 60..i * 60 + 60).map(user).collect();
            assert_eq!(
                s.emu().members(&format!("g-{name}")),
                want,
                "moment {moment} (PATCH {k}): group {name}"
            );
        }
        let sent = s.committed();
        let distinct: BTreeSet<_> = sent.iter().collect();
        assert_eq!(
            sent.len(),
            distinct.len(),
            "moment {moment} (PATCH {k}): a change was repeated"
        );
        assert_eq!(sent.len(), 180, "moment {moment} (PATCH {k})");
        // The journal: the chain holds, and each change made is recorded once.
        let mut journaled = s.journaled();
        let mut made = sent.clone();
        journaled.sort();
        made.sort();
        let missing: Vec<_> = made.iter().filter(|c| !journaled.contains(c)).collect();
        assert!(
            journaled == made,
            "moment {moment} (PATCH {k}): {} changes journaled for {} made; not journaled: {missing:?}",
            journaled.len(),
            made.len()
        );
        settled += s
            .journal()
            .iter()
            .filter_map(|r| r.change())
            .filter(|c| c.settled.is_some())
            .count();
        // Plan again: nothing left.
        s.run(&["plan", "--detailed-exitcode"]).await.code(0);
    }
    assert!(
        unrecorded > 0,
        "no kill fell between a group's apply and its state write: the batching went untested"
    );
    assert!(
        settled > 0,
        "no kill fell between a change and its journal record: settlement went untested"
    );
}

/// The soak: `groups` groups, 10 % of requests failing at random, plan/apply cycles with IdP
/// churn between them, until Genesys equals the IdP. Every PATCH carried If-Match and held
/// only changes of an approved plan, and every change made has exactly one journal record.
async fn soak(groups: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let s = Scenario::new().await;
    let users: Vec<String> = (0..200).map(user).collect();
    let mut config = Vec::new();
    for g in 0..groups {
        let members: Vec<&str> = users
            .choose_multiple(&mut rng, 8)
            .map(String::as_str)
            .collect();
        s.emu()
            .add_group(&format!("g-{g:03}"), &format!("Group {g}"), &members);
        let desired: Vec<&str> = users
            .choose_multiple(&mut rng, 10)
            .map(String::as_str)
            .collect();
        s.emu().idp_change(&format!("idp-{g:03}"), &desired, &[]);
        config.push(Group::id(&format!("idp-{g:03}"), &format!("g-{g:03}")).full());
    }
    let s = s
        .groups(config)
        .safety(Safety::unguarded())
        .target_setting("concurrency", 8);
    s.emu()
        .random_faults(Some(RandomFaults { rate: 0.10, seed }));

    let mut approved: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    let mut record = |plan: &Plan| {
        for g in &plan.groups {
            let e = approved.entry(g.group_id.to_string()).or_default();
            e.0.extend(g.changes.add.iter().map(std::string::ToString::to_string));
            e.1.extend(
                g.changes
                    .remove
                    .iter()
                    .map(std::string::ToString::to_string),
            );
        }
    };
    let mut converged = false;
    for cycle in 0..40 {
        if cycle < 4 {
            for _ in 0..groups / 5 {
                let g = rng.random_range(0..groups);
                let add: Vec<&str> = users
                    .choose_multiple(&mut rng, 2)
                    .map(String::as_str)
                    .collect();
                let desired = s.emu().idp_members(&format!("idp-{g:03}"));
                let remove: Vec<&str> = desired.iter().take(1).map(String::as_str).collect();
                s.emu().idp_change(&format!("idp-{g:03}"), &add, &remove);
            }
        }
        let planned = s
            .run(&["plan", "--out", "plan.json", "--detailed-exitcode"])
            .await;
        match planned.code {
            0 if cycle >= 4 => {
                converged = true;
                break;
            }
            0 | 2 => {}
            // Retries ran out on some request: nothing was written; plan again.
            1 => continue,
            other => panic!("plan exited {other}: {}", planned.stderr),
        }
        let plan = file::read(&s.path("plan.json")).unwrap();
        record(&plan);
        let applied = s.run(&["apply", "plan.json"]).await;
        assert!(
            [0, 1, 3].contains(&applied.code),
            "apply exited {}: {}",
            applied.code,
            applied.stderr
        );
        if applied.code == 3 {
            record(&file::read(&s.path("plan.replan.json")).unwrap());
            let again = s.run(&["apply", "plan.replan.json"]).await;
            assert!([0, 1, 3].contains(&again.code), "{}", again.stderr);
        }
    }
    assert!(converged, "did not converge");
    s.emu().random_faults(None);
    for g in 0..groups {
        let want: Vec<String> = s
            .emu()
            .idp_members(&format!("idp-{g:03}"))
            .into_iter()
            .collect();
        assert_eq!(s.emu().members(&format!("g-{g:03}")), want, "group {g}");
    }
    let journal = s.emu().journal();
    let unconditional = journal
        .iter()
        .filter(|r| r.route == Route::GroupPatch && r.if_match.is_none())
        .count();
    assert_eq!(unconditional, 0, "PATCHes without If-Match");
    for (group, op, user) in s.committed() {
        let (adds, removes) = &approved[&group];
        let ok = if op == "add" {
            adds.contains(&user)
        } else {
            removes.contains(&user)
        };
        assert!(ok, "{op} {user} in {group} was in no approved plan");
    }
    // The journal, through every fault: each change made has exactly one record.
    let mut journaled = s.journaled();
    let mut made = s.committed();
    journaled.sort();
    made.sort();
    let missing: Vec<_> = made.iter().filter(|c| !journaled.contains(c)).collect();
    let extra: Vec<_> = journaled.iter().filter(|c| !made.contains(c)).collect();
    assert!(
        journaled == made,
        "{} changes journaled for {} made; not journaled: {missing:?}; journaled, not made: {extra:?}",
        journaled.len(),
        made.len()
    );
    let failures = journal
        .iter()
        .filter(|r| r.dropped || r.status >= 429)
        .count();
    let ignored = journal.iter().filter(|r| r.ignored).count();
    eprintln!(
        "soak: {groups} groups, {} requests, {failures} failed or dropped, {ignored} writes answered 200 and dropped",
        journal.len()
    );
    assert!(failures > 0, "the soak injected no faults");
    assert!(ignored > 0, "the soak dropped no write behind a 2xx");
}

/// Full size (200 groups): it takes a few seconds, so CI runs it as is.
#[tokio::test(flavor = "multi_thread")]
async fn soak_200_groups_with_10_percent_faults() {
    soak(200, 11).await;
}
