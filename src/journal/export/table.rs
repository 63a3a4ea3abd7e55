//! The table for a person: one row per record, oldest first, at a fixed width (like the plan
//! renderers), and a count of the changes shown. Strings from outside are escaped for a
//! terminal ([`text`]).

use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets};
use std::fmt::Write as _;

use super::Context;
use crate::journal::query::Entry;
use crate::journal::{Approval, Event, GroupRef, Op};
use crate::plan::escape::text;

/// An id shortened for a terminal (`8f4a2c1d…`); the full id is in every other format.
fn short_id(id: &str) -> String {
    if id.chars().count() > 13 {
        format!("{}…", id.chars().take(8).collect::<String>())
    } else {
        id.to_owned()
    }
}

fn group_cell(g: &GroupRef) -> String {
    if g.name.eq_ignore_ascii_case(&g.idp) {
        text(&g.idp).into_owned()
    } else {
        format!("{} ({})", text(&g.idp), text(&g.name))
    }
}

fn plan_cells(a: &Approval) -> [String; 2] {
    // The plan it re-planned is in every other format; here, that it is a re-plan.
    let plan = match &a.replaces_plan_sha256 {
        Some(_) => format!("{} (re-plan)", a.plan_sha256.short()),
        None => a.plan_sha256.short().to_owned(),
    };
    let approver = a
        .actor
        .approved_by
        .as_deref()
        .map_or_else(|| "—".to_owned(), |who| text(who).into_owned());
    [plan, approver]
}

/// The cells after `#` and the time: group, ±, user (or what the record says), reason,
/// plan, approver.
fn cells(e: &Entry<'_>) -> [String; 6] {
    let r = &e.record;
    match &r.event {
        Event::Change(c) => {
            let op = match c.op {
                Op::Add => "+",
                Op::Remove => "−",
            };
            let reason = if c.settled.is_some() {
                format!("{} (settled)", c.reason.as_str())
            } else {
                c.reason.as_str().to_owned()
            };
            let [plan, approver] = plan_cells(&c.approval);
            [
                group_cell(&c.group),
                op.into(),
                format!(
                    "{} ({})",
                    text(&c.user.label),
                    text(&short_id(c.user.id.as_str()))
                ),
                reason,
                plan,
                approver,
            ]
        }
        Event::Outcome(o) => {
            let detail = o
                .detail
                .as_deref()
                .map_or_else(String::new, |d| text(d).into_owned());
            let [plan, approver] = plan_cells(&o.approval);
            [
                group_cell(&o.group),
                "=".into(),
                format!("{}: +{} −{}", o.outcome.as_str(), o.added, o.removed),
                detail,
                plan,
                approver,
            ]
        }
        Event::RunStarted(s) => {
            let [plan, approver] = plan_cells(&s.approval);
            [
                String::new(),
                "▶".into(),
                format!(
                    "run {} started: {} change(s) in {} group(s)",
                    text(&short_id(&r.run.id)),
                    s.changes,
                    s.groups
                ),
                String::new(),
                plan,
                approver,
            ]
        }
        Event::Intents { intents } => [
            String::new(),
            "▶".into(),
            format!(
                "run {}: the intents of {} more group(s)",
                text(&short_id(&r.run.id)),
                intents.len()
            ),
            String::new(),
            String::new(),
            String::new(),
        ],
        Event::RunEnded { exit_code } => [
            String::new(),
            "■".into(),
            format!(
                "run {} ended: exit code {exit_code}",
                text(&short_id(&r.run.id))
            ),
            String::new(),
            String::new(),
            String::new(),
        ],
        Event::Pruned {
            before,
            through_seq,
            records,
        } => [
            String::new(),
            "✂".into(),
            format!("{records} record(s) older than {before} pruned (through #{through_seq})"),
            String::new(),
            String::new(),
            String::new(),
        ],
    }
}

pub(super) fn table(entries: &[&Entry<'_>], ctx: &Context) -> String {
    if entries.is_empty() {
        return "No journal records match.\n".into();
    }
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(ctx.width)
        .set_header([
            "#",
            "Time (UTC)",
            "Group",
            "±",
            "User",
            "Reason",
            "Plan",
            "Approved by",
        ]);
    // `#`, the time and `±` never wrap: the text columns take what is left.
    for at in [0, 1, 3] {
        if let Some(column) = t.column_mut(at) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    let (mut added, mut removed) = (0usize, 0usize);
    for e in entries {
        match e.record.change().map(|c| c.op) {
            Some(Op::Add) => added += 1,
            Some(Op::Remove) => removed += 1,
            None => {}
        }
        let [group, op, user, reason, plan, approver] = cells(e);
        t.add_row([
            e.record.seq.to_string(),
            e.record.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            group,
            op,
            user,
            reason,
            plan,
            approver,
        ]);
    }
    let mut out = t.to_string();
    let _ = writeln!(
        out,
        "\n{} change(s): {added} added, {removed} removed.",
        added + removed
    );
    out
}
