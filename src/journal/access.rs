//! `scimsync report access`: for each mapped group, who is in it by scimsync's hand, since
//! when, and under which approved plan and approver — the quarterly access review. Pure:
//! [`review`] folds the journal, [`markdown`] and [`csv`] render it (snapshot-tested).
//!
//! The fold takes the change records in `seq` order: an add puts the user in the group with
//! its time, plan and approver (a later add of a user already in, such as a restore after a
//! removal by hand, starts a new "since"); a remove takes them out. What is left is who
//! scimsync added and has not removed. It is not the group's membership: members added by
//! hand, and members added before the journal's first record (pruned), are not in it. A
//! group is reported as the Genesys group its newest record names: after a `[[group]]` is
//! mapped to another Genesys group, the members scimsync added to the old one are not
//! listed under it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;

use super::query::Entry;
use super::{Approval, GroupRef, Op, UserRef};
use crate::model::{GroupTarget, Mapping};
use crate::plan::escape::{code, md};

/// A user scimsync put in a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The user, as the add named them.
    pub user: UserRef,
    /// When they were added.
    pub since: Timestamp,
    /// The add's record.
    pub seq: u64,
    /// The approval it was made under.
    pub approval: Approval,
}

/// One mapped group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupAccess {
    /// The config's name.
    pub idp: String,
    /// The Genesys group as the newest record of it names it (`None`: no record yet).
    pub genesys: Option<GroupRef>,
    /// How the config names it (for a group with no record).
    pub target: GroupTarget,
    /// Its members by scimsync's hand, by label (then id).
    pub members: Vec<Member>,
}

/// The review: each mapped group, by config name.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// The journal's first and last records read (seq and time), if any.
    pub span: Option<((u64, Timestamp), (u64, Timestamp))>,
    /// The groups.
    pub groups: Vec<GroupAccess>,
}

/// Fold `entries` (the whole journal, oldest first) for the groups of `mappings`.
pub fn review(entries: &[Entry<'_>], mappings: &[Mapping]) -> Review {
    // idp group → its newest GroupRef, and (Genesys group id, user id) → member.
    let mut groups: BTreeMap<&str, &GroupRef> = BTreeMap::new();
    let mut members: BTreeMap<(&str, &str, &str), Member> = BTreeMap::new();
    let mut ordered: Vec<&Entry<'_>> = entries.iter().collect();
    ordered.sort_by_key(|e| e.record.seq);
    for e in &ordered {
        let Some(c) = e.record.change() else {
            continue;
        };
        groups.insert(&c.group.idp, &c.group);
        let key = (
            c.group.idp.as_str(),
            c.group.id.as_str(),
            c.user.id.as_str(),
        );
        match c.op {
            Op::Add => {
                members.insert(
                    key,
                    Member {
                        user: c.user.clone(),
                        since: e.record.time,
                        seq: e.record.seq,
                        approval: c.approval.clone(),
                    },
                );
            }
            Op::Remove => {
                members.remove(&key);
            }
        }
    }
    let mut out: Vec<GroupAccess> = mappings
        .iter()
        .map(|m| {
            let genesys = groups.get(m.idp_group.as_str()).map(|g| (*g).clone());
            let mut list: Vec<Member> = members
                .iter()
                .filter(|((idp, gid, _), _)| {
                    *idp == m.idp_group && genesys.as_ref().is_some_and(|g| g.id.as_str() == *gid)
                })
                .map(|(_, member)| member.clone())
                .collect();
            list.sort_by(|a, b| {
                (a.user.label.to_lowercase(), &a.user.id)
                    .cmp(&(b.user.label.to_lowercase(), &b.user.id))
            });
            GroupAccess {
                idp: m.idp_group.clone(),
                genesys,
                target: m.target.clone(),
                members: list,
            }
        })
        .collect();
    out.sort_by(|a, b| a.idp.cmp(&b.idp));
    let span = ordered
        .first()
        .zip(ordered.last())
        .map(|(f, l)| ((f.record.seq, f.record.time), (l.record.seq, l.record.time)));
    Review { span, groups: out }
}

fn genesys_cells(g: &GroupAccess) -> (String, String) {
    match (&g.genesys, &g.target) {
        (Some(r), _) => (r.name.clone(), r.id.to_string()),
        (None, GroupTarget::Id(id)) => (String::new(), id.to_string()),
        (None, GroupTarget::Name(name)) => (name.clone(), String::new()),
    }
}

/// The review as CSV: one row per member, a header row, formulas neutralized as in
/// `scimsync log --format csv`.
///
/// # Panics
///
/// Never: the CSV is written to a `Vec`.
pub fn csv(review: &Review) -> String {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let header = [
        "group",
        "genesys_group_name",
        "genesys_group_id",
        "user_label",
        "user_id",
        "user_key",
        "member_since",
        "seq",
        "plan_sha256",
        "replaces_plan_sha256",
        "approved_by",
        "change_ref",
        "ran_by",
        "run_url",
    ];
    w.write_record(header).expect("a Vec takes any write");
    for g in &review.groups {
        let (name, id) = genesys_cells(g);
        for m in &g.members {
            let a = &m.approval;
            let row = [
                g.idp.clone(),
                name.clone(),
                id.clone(),
                m.user.label.clone(),
                m.user.id.to_string(),
                m.user
                    .key
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                m.since.to_string(),
                m.seq.to_string(),
                a.plan_sha256.to_string(),
                a.replaces_plan_sha256
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                a.actor.approved_by.clone().unwrap_or_default(),
                a.actor.change_ref.clone().unwrap_or_default(),
                a.actor.ran_by.clone().unwrap_or_default(),
                a.actor.run_url.clone().unwrap_or_default(),
            ];
            w.write_record(
                row.iter()
                    .map(|c| super::export::neutralize(c).into_owned()),
            )
            .expect("a Vec takes any write");
        }
    }
    String::from_utf8(w.into_inner().expect("a Vec takes any write"))
        .expect("CSV of UTF-8 strings is UTF-8")
}

/// The review as markdown: a section per group, a table of its members. `journal` names
/// where the journal is.
pub fn markdown(review: &Review, journal: &str) -> String {
    let mut out = String::from("# Access review: members added by scimsync\n\n");
    match review.span {
        Some(((first, from), (last, to))) => {
            let _ = writeln!(
                out,
                "From the journal {}, records {first} to {last} ({from} to {to}).",
                md(journal)
            );
        }
        None => {
            let _ = writeln!(out, "The journal {} has no records.", md(journal));
        }
    }
    out.push_str(
        "Each user below was added by scimsync under an approved plan and has not been removed by it since. \
         Members added by hand in Genesys, and members added before the journal's first record, are not listed.\n",
    );
    for g in &review.groups {
        let (name, id) = genesys_cells(g);
        let genesys = match (name.is_empty(), id.is_empty()) {
            (false, false) => format!("{} ({})", md(&name), code(&id)),
            (false, true) => md(&name).into_owned(),
            _ => code(&id),
        };
        let _ = writeln!(out, "\n## {} → {genesys}\n", md(&g.idp));
        if g.members.is_empty() {
            out.push_str("No member added by scimsync.\n");
            continue;
        }
        let _ = writeln!(out, "{} member(s) added by scimsync.\n", g.members.len());
        out.push_str(
            "| User | Genesys user id | IdP key | Member since (UTC) | Plan | Approved by | Change |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for m in &g.members {
            let a = &m.approval;
            let opt = |v: Option<&str>| v.map_or_else(|| "—".to_owned(), |v| md(v).into_owned());
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                md(&m.user.label),
                md(m.user.id.as_str()),
                opt(m.user.key.as_ref().map(crate::model::IdpKey::as_str)),
                m.since.strftime("%Y-%m-%d %H:%M:%S"),
                md(a.plan_sha256.short()),
                opt(a.actor.approved_by.as_deref()),
                opt(a.actor.change_ref.as_deref()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::query::parse;
    use crate::journal::query::tests::journal;
    use crate::model::{GroupId, Mode};

    fn mappings() -> Vec<Mapping> {
        let map = |name: &str, target: GroupTarget| Mapping {
            idp_group: name.into(),
            target,
            mode: Mode::Delta,
        };
        vec![
            map("support", GroupTarget::Name("Support".into())),
            map("sales", GroupTarget::Id(GroupId("g-sales-0001".into()))),
            map("finance", GroupTarget::Name("Finance".into())),
        ]
    }

    fn the_review() -> Review {
        let lines = journal();
        review(&parse(&lines, "j").unwrap(), &mappings())
    }

    #[test]
    fn adds_put_users_in_and_removes_take_them_out() {
        let r = the_review();
        let names: Vec<(&str, Vec<&str>)> = r
            .groups
            .iter()
            .map(|g| {
                (
                    g.idp.as_str(),
                    g.members.iter().map(|m| m.user.label.as_str()).collect(),
                )
            })
            .collect();
        // Sorted by group; bob was removed by the second plan.
        assert_eq!(
            names,
            [
                ("finance", vec![]),
                ("sales", vec!["alice"]),
                ("support", vec!["carol", "dave"])
            ]
        );
        let alice = &r.groups[1].members[0];
        assert_eq!(alice.seq, 2);
        assert_eq!(alice.approval.actor.approved_by.as_deref(), Some("maria"));
    }

    #[test]
    fn markdown_snapshot() {
        snapshot!(
            "access_markdown",
            markdown(&the_review(), "state.journal.jsonl")
        );
    }

    #[test]
    fn csv_snapshot() {
        snapshot!("access_csv", csv(&the_review()));
    }
}
