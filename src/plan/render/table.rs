//! The table for terminals: a summary row per group, then each changed group's member lines.

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use std::fmt::Write as _;

use super::{
    PRIVILEGED, Rank, RenderOptions, UNCHANGED_NAMED, change_lines, cursor_text, etag_text,
    grants_line, group_title, pending_label, rank, reviewer_order, roles_unknown_line,
    summary_line, target_column, unchanged_line, who,
};
use crate::model::UserId;
use crate::plan::escape::text;
use crate::plan::{GroupPlan, Plan};

/// [`change_lines`], then `  ? key pending (reason)`, `  · user (reason)` and member groups.
fn member_lines(plan: &Plan, g: &GroupPlan, out: &mut String) {
    change_lines(plan, g, out, true);
    for p in &g.pending {
        let name = match pending_label(plan, g, &p.key) {
            Some(label) => format!("{} ({})", text(label), text(p.key.as_str())),
            None => text(p.key.as_str()).into_owned(),
        };
        let _ = writeln!(out, "  ? {name} pending ({})", p.reason.as_str());
    }
    for s in &g.skipped {
        let user = UserId(s.user.clone());
        let _ = writeln!(out, "  · {} ({})", who(plan, &user), s.reason.as_str());
    }
    if !g.member_groups.is_empty() {
        let _ = writeln!(
            out,
            "  · {} member(s) that are groups, left alone",
            g.member_groups.len()
        );
    }
}

pub(super) fn table(plan: &Plan, opts: &RenderOptions) -> String {
    let order = reviewer_order(plan);
    let split = order
        .iter()
        .position(|g| rank(g) == Rank::Unchanged)
        .unwrap_or(order.len());
    let (listed, unchanged) = order.split_at(split);
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(opts.width)
        .set_header([
            "Group",
            target_column(plan),
            "+ add",
            "− remove",
            "pending",
            "ETag",
        ]);
    let rows = if unchanged.len() <= UNCHANGED_NAMED {
        &order[..]
    } else {
        listed
    };
    for g in rows {
        let mark = if g.privileged {
            format!(" {PRIVILEGED}")
        } else {
            String::new()
        };
        t.add_row([
            format!("{}{mark}", text(&g.mapping.idp_group)),
            format!("{} ({})", text(&g.display_name), text(g.group_id.as_str())),
            g.changes.add.len().to_string(),
            g.changes.remove.len().to_string(),
            g.pending.len().to_string(),
            text(etag_text(g)).into_owned(),
        ]);
    }
    if unchanged.len() > UNCHANGED_NAMED {
        t.add_row([
            format!("{} unchanged", unchanged.len()),
            String::new(),
            "0".into(),
            "0".into(),
            "0".into(),
            String::new(),
        ]);
    }
    for i in 2..=4 {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = format!("{t}\n");
    for g in listed {
        let _ = write!(out, "\n{}, {}\n", group_title(g), text(&cursor_text(g)));
        if let Some(line) = grants_line(g) {
            let _ = writeln!(out, "{line}");
        }
        member_lines(plan, g, &mut out);
        if g.guard.overridden {
            let _ = writeln!(
                out,
                "  ! removal limit overridden: {} of {} allowed",
                g.guard.removals, g.guard.limit
            );
        }
    }
    if let Some(line) = unchanged_line(unchanged, |n| text(n).into_owned()) {
        let _ = write!(out, "\n{line}\n");
    }
    if let Some(line) = roles_unknown_line(plan) {
        let _ = write!(out, "\n{line}\n");
    }
    let _ = write!(
        out,
        "\n{}\nsha256 {}\n",
        summary_line(plan),
        text(plan.sha256.as_str())
    );
    out
}
