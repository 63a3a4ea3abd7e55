//! What apply journals, built from the plan and what landed: pure, so that every record's
//! content is decided here and `commands/apply` only writes it.
//!
//! Crash rule ("nothing lost, nothing doubled"): a run journals, before its first PATCH,
//! every change it is about to send ([`intents`], in its `run_started` record). A run killed
//! before it journaled a group leaves that group's intent without an outcome. The next
//! apply finds that run ([`unfinished`]), reads each such group live, and journals, once,
//! the intended changes the group shows made ([`made`]): the lost-response rule of a PATCH,
//! applied to the journal. A change journaled already is never journaled again.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::{
    Approval, Change, Event, GroupOutcome, GroupRef, Intent, Op, OutcomeKind, PlannedChange,
    Record, Settled, StateRef, UserRef,
};
use crate::model::{GroupId, IdpKey, MemberChanges, MemberSet, UserId};
use crate::plan::report::GroupReport;
use crate::plan::{ChangeReason, GroupPlan, Plan};

/// What every record of a run shares: the approval, and how users are named.
#[derive(Debug, Clone, Copy)]
pub struct Naming<'a> {
    /// The plan's labels.
    pub labels: &'a BTreeMap<UserId, String>,
    /// The IdP key of each user whose key is not its id, where known (the plan's
    /// look-ups, the state's cache).
    pub keys: &'a BTreeMap<UserId, IdpKey>,
    /// The IdP names users by their Genesys id (`user_key = "id"`): a user's key is its id,
    /// and `keys` holds only the exceptions (none, usually).
    pub ids_are_keys: bool,
}

impl Naming<'_> {
    fn user(&self, id: &UserId) -> UserRef {
        UserRef {
            id: id.clone(),
            key: self
                .keys
                .get(id)
                .cloned()
                .or_else(|| self.ids_are_keys.then(|| IdpKey::from(id.as_str()))),
            label: self
                .labels
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_string()),
        }
    }
}

/// The group as the journal names it.
pub fn group_ref(g: &GroupPlan) -> GroupRef {
    GroupRef {
        idp: g.mapping.idp_group.clone(),
        id: g.group_id.clone(),
        name: g.display_name.clone(),
    }
}

/// The users `plan` changes, for [`keys_of`].
pub fn changed(plan: &Plan) -> BTreeSet<&UserId> {
    plan.groups
        .iter()
        .flat_map(|g| g.changes.add.iter().chain(&g.changes.remove))
        .collect()
}

/// The IdP keys of the users `plan` changes, from its resolutions and then `cached` (the
/// state's resolution cache, key → id), leaving out keys that are the user's id: a journal
/// names only who it changes, and a first apply of a million memberships keyed by id
/// should not copy a million keys for nothing.
pub fn keys_of<'c>(
    plan: &'c Plan,
    cached: impl IntoIterator<Item = (&'c IdpKey, &'c UserId)>,
) -> BTreeMap<UserId, IdpKey> {
    let changed = changed(plan);
    let resolved = plan
        .groups
        .iter()
        .flat_map(|g| g.resolution.iter())
        .filter_map(|(key, r)| r.id().map(|id| (key, id)));
    let mut keys = BTreeMap::new();
    for (key, id) in resolved.chain(cached) {
        if key.as_str() != id.as_str() && changed.contains(id) {
            keys.entry(id.clone()).or_insert_with(|| key.clone());
        }
    }
    keys
}

fn reason(g: &GroupPlan, id: &UserId, op: Op) -> ChangeReason {
    g.reasons.get(id).copied().unwrap_or(match op {
        Op::Add => ChangeReason::Granted,
        Op::Remove => ChangeReason::Revoked,
    })
}

/// `changes` of group `g`, adds first, as planned changes.
fn planned(g: &GroupPlan, changes: &MemberChanges, naming: Naming<'_>) -> Vec<PlannedChange> {
    let ops = changes
        .add
        .iter()
        .map(|id| (id, Op::Add))
        .chain(changes.remove.iter().map(|id| (id, Op::Remove)));
    ops.map(|(id, op)| PlannedChange {
        user: naming.user(id),
        op,
        reason: reason(g, id, op),
    })
    .collect()
}

/// Per group of `plan` with changes, what apply is about to send, in chunks of whole
/// groups of about `per_chunk` changes (a larger group is a chunk of its own): built one
/// chunk at a time, so that a large plan's intents are never all in memory.
pub fn intents<'p>(
    plan: &'p Plan,
    naming: Naming<'p>,
    per_chunk: usize,
) -> impl Iterator<Item = Vec<Intent>> + 'p {
    let mut groups = plan
        .groups
        .iter()
        .filter(|g| !g.changes.is_empty())
        .peekable();
    std::iter::from_fn(move || {
        let mut chunk = Vec::new();
        let mut size = 0;
        while let Some(g) = groups.peek() {
            if !chunk.is_empty() && size + g.changes.len() > per_chunk {
                break;
            }
            size += g.changes.len();
            chunk.push(Intent {
                group: group_ref(g),
                changes: planned(g, &g.changes, naming),
            });
            groups.next();
        }
        (!chunk.is_empty()).then_some(chunk)
    })
}

/// The change record of `c` in `group`: every change record is made here.
fn change_record(
    group: &GroupRef,
    c: PlannedChange,
    approval: &Approval,
    state: &StateRef,
    correlation_id: Option<String>,
    settled: Option<Settled>,
) -> Event {
    Event::Change(Box::new(Change {
        group: group.clone(),
        user: c.user,
        op: c.op,
        reason: c.reason,
        approval: approval.clone(),
        state: state.clone(),
        correlation_id,
        settled,
    }))
}

/// Whether `live` (a group's members) shows `op` on `user` made.
fn shows_made(live: &MemberSet, user: &UserId, op: Op) -> bool {
    match op {
        Op::Add => live.contains(user),
        Op::Remove => !live.contains(user),
    }
}

/// One change record per change of `landed` (changes of group `g` that Genesys shows made),
/// with the correlation id of the PATCH that carried each.
pub fn changes(
    g: &GroupPlan,
    landed: &MemberChanges,
    correlation: &BTreeMap<UserId, String>,
    approval: &Approval,
    state: &StateRef,
    naming: Naming<'_>,
) -> Vec<Event> {
    let group = group_ref(g);
    planned(g, landed, naming)
        .into_iter()
        .map(|c| {
            let id = correlation.get(&c.user.id).cloned();
            change_record(&group, c, approval, state, id, None)
        })
        .collect()
}

/// The changes of group `g`'s plan that a fresh read (`live`) shows made, beyond `landed`
/// (those its PATCH answers showed): a PATCH whose answer was lost, and whose re-read
/// failed, may have landed all the same. Journaled as found ([`Settled`]), once.
pub fn found_made(g: &GroupPlan, landed: &MemberChanges, live: &MemberSet) -> MemberChanges {
    let beyond = |planned: &MemberSet, shown: &MemberSet, op| {
        planned
            .iter()
            .filter(|u| shows_made(live, u, op) && !shown.contains(*u))
            .cloned()
            .collect()
    };
    MemberChanges {
        add: beyond(&g.changes.add, &landed.add, Op::Add),
        remove: beyond(&g.changes.remove, &landed.remove, Op::Remove),
    }
}

/// [`changes`] of `found` (see [`found_made`]), marked as found by `run` at `now` rather
/// than shown by an answer.
pub fn found(
    g: &GroupPlan,
    found: &MemberChanges,
    approval: &Approval,
    state: &StateRef,
    naming: Naming<'_>,
    run: &str,
    now: Timestamp,
) -> Vec<Event> {
    let group = group_ref(g);
    let settled = Settled {
        made_by_run: run.to_owned(),
        found_at: now,
        found_by_run: Some(run.to_owned()),
    };
    planned(g, found, naming)
        .into_iter()
        .map(|c| change_record(&group, c, approval, state, None, Some(settled.clone())))
        .collect()
}

/// The outcome record of group `g`, from its line in the apply report.
pub fn outcome(
    g: &GroupPlan,
    report: &GroupReport,
    approval: &Approval,
    state: &StateRef,
) -> Event {
    Event::Outcome(Box::new(GroupOutcome {
        group: group_ref(g),
        outcome: report.outcome.into(),
        added: report.added,
        removed: report.removed,
        detail: report.detail.clone(),
        approval: approval.clone(),
        state: state.clone(),
    }))
}

/// A run that ended without journaling some of its groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Unfinished {
    /// The run's id.
    pub run: String,
    /// Its approval.
    pub approval: Approval,
    /// Its groups with no outcome record, each with the changes not journaled yet.
    pub intents: Vec<Intent>,
}

/// The run that `records` (the whole journal) leave unfinished: its last run, if it has no
/// `run_ended` record, with its intents that have no outcome, less every change already
/// journaled under the same plan, by that run or an earlier one (a plan applied again finds
/// its groups done and sends nothing: what an earlier apply of it made is journaled once).
pub fn unfinished(records: &[Record]) -> Option<Unfinished> {
    let last = records.last()?;
    let run = &last.run.id;
    let of_run: Vec<&Record> = records.iter().filter(|r| &r.run.id == run).collect();
    if of_run
        .iter()
        .any(|r| matches!(r.event, super::Event::RunEnded { .. }))
    {
        return None;
    }
    let started = of_run.iter().find_map(|r| match &r.event {
        Event::RunStarted(s) => Some(s),
        _ => None,
    })?;
    let more = of_run.iter().filter_map(|r| match &r.event {
        Event::Intents { intents } => Some(intents),
        _ => None,
    });
    let ended: BTreeSet<&GroupId> = of_run
        .iter()
        .filter_map(|r| match &r.event {
            Event::Outcome(o) => Some(&o.group.id),
            _ => None,
        })
        .collect();
    let plan = &started.approval.plan_sha256;
    let journaled: BTreeSet<(&GroupId, &UserId, Op)> = records
        .iter()
        .filter_map(Record::change)
        .filter(|c| &c.approval.plan_sha256 == plan)
        .map(|c| (&c.group.id, &c.user.id, c.op))
        .collect();
    let intents: Vec<Intent> = std::iter::once(&started.intents)
        .chain(more)
        .flatten()
        .filter(|i| !ended.contains(&i.group.id))
        .map(|i| Intent {
            group: i.group.clone(),
            changes: i
                .changes
                .iter()
                .filter(|c| !journaled.contains(&(&i.group.id, &c.user.id, c.op)))
                .cloned()
                .collect(),
        })
        .collect();
    Some(Unfinished {
        run: run.clone(),
        approval: started.approval.clone(),
        intents,
    })
}

/// The changes of `intent` that the group's live members show made: an add whose user is a
/// member, a removal whose user is not. (A change made by hand in between looks the same;
/// the record says it was found, not sent, by its `settled` field.)
pub fn made<'i>(intent: &'i Intent, live: &MemberSet) -> Vec<&'i PlannedChange> {
    intent
        .changes
        .iter()
        .filter(|c| shows_made(live, &c.user.id, c.op))
        .collect()
}

/// The records that settle one group of an unfinished run: a change record for each change
/// found `made`, and an `interrupted` outcome.
pub fn settlement(
    unfinished: &Unfinished,
    intent: &Intent,
    made: &[&PlannedChange],
    state: &StateRef,
    now: Timestamp,
    by_run: &str,
) -> Vec<Event> {
    let settled = Settled {
        made_by_run: unfinished.run.clone(),
        found_at: now,
        found_by_run: Some(by_run.to_owned()),
    };
    let mut events: Vec<Event> = made
        .iter()
        .map(|c| {
            let (approval, settled) = (&unfinished.approval, Some(settled.clone()));
            change_record(&intent.group, (*c).clone(), approval, state, None, settled)
        })
        .collect();
    let count = |op| made.iter().filter(|c| c.op == op).count();
    events.push(Event::Outcome(Box::new(GroupOutcome {
        group: intent.group.clone(),
        outcome: OutcomeKind::Interrupted,
        added: count(Op::Add),
        removed: count(Op::Remove),
        detail: Some(format!(
            "run {} was stopped before it journaled this group; {} of its {} changes were found made in Genesys and journaled by a later run",
            unfinished.run,
            made.len(),
            intent.changes.len()
        )),
        approval: unfinished.approval.clone(),
        state: state.clone(),
    })));
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::chain::{self, seal};
    use crate::journal::{Actor, RunRef, RunStarted};
    use crate::model::JournalLink;

    fn user(id: &str) -> UserRef {
        UserRef {
            id: UserId::from(id),
            key: None,
            label: id.into(),
        }
    }

    fn group(id: &str) -> GroupRef {
        GroupRef {
            idp: id.into(),
            id: GroupId::from(id),
            name: id.into(),
        }
    }

    fn approval() -> Approval {
        Approval {
            plan_sha256: "ab".repeat(32).into(),
            replaces_plan_sha256: None,
            actor: Actor::default(),
        }
    }

    fn intent(g: &str, adds: &[&str], removes: &[&str]) -> Intent {
        let change = |id: &&str, op| PlannedChange {
            user: user(id),
            op,
            reason: ChangeReason::Granted,
        };
        Intent {
            group: group(g),
            changes: adds
                .iter()
                .map(|u| change(u, Op::Add))
                .chain(removes.iter().map(|u| change(u, Op::Remove)))
                .collect(),
        }
    }

    fn records(events: Vec<Event>) -> Vec<Record> {
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let run = RunRef {
            id: "run-1".into(),
            started_seq: 0,
        };
        let (lines, _) = seal(
            &events.into_iter().map(|e| (now, e)).collect::<Vec<_>>(),
            &run,
            &JournalLink::start(),
        );
        assert!(chain::verify(lines.iter().map(String::as_str), None).is_ok());
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn started(intents: Vec<Intent>) -> Event {
        Event::RunStarted(Box::new(RunStarted {
            approval: approval(),
            tool_version: "test".into(),
            groups: intents.len(),
            changes: intents.iter().map(|i| i.changes.len()).sum(),
            intents,
        }))
    }

    #[test]
    fn a_finished_run_leaves_nothing_to_settle() {
        let journal = records(vec![
            started(vec![intent("g1", &["a"], &[])]),
            Event::RunEnded { exit_code: 0 },
        ]);
        assert_eq!(unfinished(&journal), None);
    }

    #[test]
    fn a_killed_run_leaves_its_unjournaled_groups_and_changes() {
        let state = StateRef {
            lineage: None,
            serial: 1,
        };
        let g2 = intent("g2", &["b", "c"], &["d"]);
        // g2's intent is in an `intents` record after `run_started`, as a large run's are.
        let mut events = vec![
            started(vec![intent("g1", &["a"], &[])]),
            Event::Intents {
                intents: vec![g2.clone()],
            },
        ];
        // g1 finished; g2 had one change journaled, then the run was killed.
        events.extend(settlement(
            &Unfinished {
                run: "run-1".into(),
                approval: approval(),
                intents: vec![],
            },
            &intent("g1", &["a"], &[]),
            &[],
            &state,
            "2026-12-01T00:00:00Z".parse().unwrap(),
            "run-2",
        ));
        if let Event::Change(c) = &settlement(
            &Unfinished {
                run: "run-1".into(),
                approval: approval(),
                intents: vec![],
            },
            &g2,
            &[&g2.changes[0]],
            &state,
            "2026-12-01T00:00:00Z".parse().unwrap(),
            "run-2",
        )[0]
        {
            events.push(Event::Change(c.clone()));
        }
        let left = unfinished(&records(events)).unwrap();
        assert_eq!(left.run, "run-1");
        assert_eq!(left.intents.len(), 1);
        let ids: Vec<&str> = left.intents[0]
            .changes
            .iter()
            .map(|c| c.user.id.as_str())
            .collect();
        assert_eq!(ids, ["c", "d"], "b was journaled already: never twice");
    }

    /// Intents come in chunks of whole groups: a group larger than a chunk is one of its
    /// own, and every changed group is in exactly one chunk.
    #[test]
    fn intents_are_chunked_by_whole_groups() {
        let mut plan = crate::plan::file::tests::sample();
        let changed = plan.groups.iter().find(|g| !g.changes.is_empty()).unwrap();
        let mut other = changed.clone();
        other.group_id = GroupId::from("g-other");
        plan.groups.push(other);
        let naming = Naming {
            labels: &plan.labels,
            keys: &BTreeMap::new(),
            ids_are_keys: true,
        };
        let changed = plan.groups.iter().filter(|g| !g.changes.is_empty()).count();
        assert!(changed >= 2, "the sample plan changes two groups or more");
        let one_each: Vec<Vec<Intent>> = intents(&plan, naming, 1).collect();
        assert_eq!(one_each.len(), changed);
        assert!(one_each.iter().all(|c| c.len() == 1));
        let all: Vec<Vec<Intent>> = intents(&plan, naming, usize::MAX).collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].len(), changed);
        let total: usize = all[0].iter().map(|i| i.changes.len()).sum();
        let planned: usize = plan.groups.iter().map(|g| g.changes.len()).sum();
        assert_eq!(total, planned);
    }

    /// A plan applied again (its groups already done) and killed: what the earlier apply of
    /// the same plan journaled is not journaled again.
    #[test]
    fn what_an_earlier_apply_of_the_plan_journaled_is_not_settled_again() {
        let state = StateRef {
            lineage: None,
            serial: 1,
        };
        let g = intent("g1", &["a", "b"], &[]);
        let earlier = Unfinished {
            run: "run-0".into(),
            approval: approval(),
            intents: vec![],
        };
        // run-0 journaled a; then run-1 (the same plan) started and was killed.
        let mut events = settlement(
            &earlier,
            &g,
            &[&g.changes[0]],
            &state,
            "2026-12-01T00:00:00Z".parse().unwrap(),
            "run-2",
        );
        events.truncate(1);
        events.push(started(vec![g.clone()]));
        let mut journal = records(events);
        // The first record is run-0's (sealed in one batch here; unfinished reads no hash).
        journal[0].run.id = "run-0".into();
        let left = unfinished(&journal).unwrap();
        assert_eq!(left.run, "run-1");
        let ids: Vec<&str> = left.intents[0]
            .changes
            .iter()
            .map(|c| c.user.id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["b"],
            "a was journaled by the earlier apply of this plan"
        );
    }

    #[test]
    fn made_means_the_live_group_shows_it() {
        let i = intent("g", &["a", "b"], &["c", "d"]);
        let live: MemberSet = ["a", "d"].into_iter().map(UserId::from).collect();
        let made: Vec<(&str, Op)> = made(&i, &live)
            .iter()
            .map(|c| (c.user.id.as_str(), c.op))
            .collect();
        assert_eq!(made, [("a", Op::Add), ("c", Op::Remove)]);
    }
}
