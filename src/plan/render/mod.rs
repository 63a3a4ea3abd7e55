//! Renderings of a plan: a table for terminals, markdown for a pull-request comment, JSON
//! for machines, and the unified diff between a plan and its re-plan. Pure: each is a
//! function of the plan and fixed options, so each is snapshot-tested.
//!
//! Text and markdown follow the reviewer's order: privileged groups with changes first (their
//! changes grant or take away a privileged role), then groups with removals, then groups
//! with adds, then groups with only pending or skipped users, then unchanged groups (one line
//! or a count). A group whose grants were read says what it grants, and each of its changes
//! what it grants or takes away ([`super::grants`]). Every user is shown by its label with its id beside it. Every string from
//! outside goes through [`escape`](super::escape) for the format it lands in.

use std::fmt::Write as _;
mod diff;
mod format;
mod markdown;
mod table;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use super::escape::text;
use super::grants::{self, GroupGrants};
use super::{GroupPlan, Plan, ReadKind};
use crate::model::{IdpKey, Mode, UserId};

pub use self::diff::{changes_text, diff};
pub use self::format::{Format, render};

/// GitHub refuses comments over 65,536 characters; stay under with room for a header.
pub const MARKDOWN_LIMIT: usize = 65_000;

/// At most this many unchanged groups are named one by one; more are a count.
const UNCHANGED_NAMED: usize = 10;

/// Rendering options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Table width in columns.
    pub width: u16,
    /// The plan file's path, for the apply command that markdown ends with.
    pub plan_file: Option<String>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            width: 100,
            plan_file: None,
        }
    }
}

/// One line: what the plan does in total.
pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    let skipped = if s.pending > 0 {
        format!(", {} pending", s.pending)
    } else {
        String::new()
    };
    let privileged = if s.privileged > 0 {
        format!(", {} privileged", s.privileged)
    } else {
        String::new()
    };
    if s.groups_changed == 0 {
        format!(
            "No changes: {} group(s) already match the IdP{skipped}.",
            s.groups
        )
    } else {
        format!(
            "Plan: {} to add, {} to remove, in {} of {} group(s){privileged}{skipped}.",
            s.add, s.remove, s.groups_changed, s.groups
        )
    }
}

/// The mark of a privileged group, in every format.
pub const PRIVILEGED: &str = "[privileged]";

/// One line for a plan some of whose groups' roles Genesys would not say, or `None`.
pub fn roles_unknown_line(plan: &Plan) -> Option<String> {
    let n = plan
        .groups
        .iter()
        .filter(|g| g.grants == Some(GroupGrants::Unknown))
        .count();
    (n > 0).then(|| {
        format!(
            "Roles unknown for {n} group(s): Genesys would not say which roles they grant (scimsync validate names the permission and scope to add); nothing about their access is guessed."
        )
    })
}

/// Where a group comes in the reviewer's order: what can hurt first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    /// It loses members.
    Removes,
    /// It gains members only.
    Adds,
    /// No change, but pending or skipped users to note.
    Notes,
    /// Nothing at all.
    Unchanged,
}

fn rank(g: &GroupPlan) -> Rank {
    if !g.changes.remove.is_empty() {
        Rank::Removes
    } else if !g.changes.add.is_empty() {
        Rank::Adds
    } else if !g.pending.is_empty() || !g.skipped.is_empty() {
        Rank::Notes
    } else {
        Rank::Unchanged
    }
}

/// The groups in the reviewer's order: privileged first, then by rank; config order within.
fn reviewer_order(plan: &Plan) -> Vec<&GroupPlan> {
    let mut groups: Vec<&GroupPlan> = plan.groups.iter().collect();
    groups.sort_by_key(|g| (!g.privileged, rank(g)));
    groups
}

/// `  grants Supervisor in Home, …` (or `roles unknown`) under a group's title, when read.
fn grants_line(g: &GroupPlan) -> Option<String> {
    let text = grants::group_text(g.grants.as_ref())?;
    let mark = if g.privileged {
        format!("{PRIVILEGED} ")
    } else {
        String::new()
    };
    Some(format!("  {mark}{}", super::escape::text(&text)))
}

/// "Target group" unless the target is Genesys.
fn target_column(plan: &Plan) -> &'static str {
    if plan.target.kind == crate::model::TargetKind::Genesys {
        "Genesys group"
    } else {
        "Target group"
    }
}

fn etag_text(g: &GroupPlan) -> &str {
    g.precondition
        .etag
        .as_ref()
        .map_or("(none)", |e| e.0.as_str())
}

fn cursor_text(g: &GroupPlan) -> String {
    let from = g
        .source
        .cursor_from
        .as_ref()
        .map_or("(start)", |c| c.as_str());
    let cursor = match &g.source.cursor_to {
        Some(to) => format!("cursor {from} → {to}"),
        None => format!("cursor {from}"),
    };
    let read = match g.source.read {
        ReadKind::Delta => "IdP changes since the cursor",
        ReadKind::Full if g.mapping.mode == Mode::Full => "whole IdP membership (full mode)",
        ReadKind::Full => "whole IdP membership",
        ReadKind::Resync => "resync: whole IdP membership against the mirror",
        ReadKind::State => "re-planned from the state's mirror",
    };
    let mirror = if g.intent.mirror_known || g.mapping.mode == Mode::Full {
        ""
    } else {
        "; first read of this group: adds only, nothing is removed"
    };
    format!("{cursor}, {read}{mirror}")
}

/// An id shortened for a terminal line (`8f4a2c1d…`); the full id is in JSON and markdown.
fn short_id(id: &str) -> Cow<'_, str> {
    if id.chars().count() > 13 {
        Cow::Owned(format!("{}…", id.chars().take(8).collect::<String>()))
    } else {
        Cow::Borrowed(id)
    }
}

/// `label (8f4a2c1d…)`, or the id alone when no label is known; escaped for a terminal.
fn who(plan: &Plan, id: &UserId) -> String {
    let label = plan.label(id);
    if label == id.as_str() {
        text(id.as_str()).into_owned()
    } else {
        format!("{} ({})", text(label), text(&short_id(id.as_str())))
    }
}

/// The Genesys label of a pending user, when the key names one (an inactive user) and the
/// label says more than the key.
fn pending_label<'a>(plan: &'a Plan, g: &GroupPlan, key: &IdpKey) -> Option<&'a str> {
    let id = g.resolution.get(key).and_then(super::Resolution::id)?;
    let label = plan.labels.get(id)?;
    (label != key.as_str()).then_some(label.as_str())
}

fn reason_of(g: &GroupPlan, id: &UserId) -> &'static str {
    g.reasons.get(id).map_or("", |r| r.describe())
}

/// `sales → Sales (5f4b…)`: the mapping a group's lines are under, escaped for a terminal.
fn group_title(g: &GroupPlan) -> String {
    format!(
        "{} → {} ({})",
        text(&g.mapping.idp_group),
        text(&g.display_name),
        text(g.group_id.as_str())
    )
}

/// `; grants …` / `; takes away …` after a change's reason, escaped for a terminal.
fn gives(g: &GroupPlan, add: bool) -> String {
    grants::change_text(g.grants.as_ref(), add)
        .map(|t| format!("; {}", text(&t)))
        .unwrap_or_default()
}

/// `  − name (id)  reason` then `  + …` lines of a group, each saying what it grants or
/// takes away when `with_grants` (the diff leaves that to the group's grants line).
fn change_lines(plan: &Plan, g: &GroupPlan, out: &mut String, with_grants: bool) {
    let (remove, add) = if with_grants {
        (gives(g, false), gives(g, true))
    } else {
        (String::new(), String::new())
    };
    for u in &g.changes.remove {
        let _ = writeln!(out, "  − {}  {}{remove}", who(plan, u), reason_of(g, u));
    }
    for u in &g.changes.add {
        let _ = writeln!(out, "  + {}  {}{add}", who(plan, u), reason_of(g, u));
    }
}

/// The unchanged groups as one line: their names, or a count when there are many.
fn unchanged_line(unchanged: &[&GroupPlan], name: impl Fn(&str) -> String) -> Option<String> {
    match unchanged.len() {
        0 => None,
        n if n <= UNCHANGED_NAMED => Some(format!(
            "Unchanged ({n}): {}.",
            unchanged
                .iter()
                .map(|g| name(&g.mapping.idp_group))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        n => Some(format!("Unchanged: {n} group(s) already match the IdP.")),
    }
}
