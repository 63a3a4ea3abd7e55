//! What compares an approved plan with its re-plan: the member changes as plain lines, and
//! the unified diff between two renderings.

use similar::TextDiff;
use std::fmt::Write as _;

use super::{change_lines, etag_text, grants_line, group_title};
use crate::plan::Plan;
use crate::plan::escape::text;

/// The member changes of `plan` as plain lines, one group after another: what the diff
/// between an approved plan and its re-plan compares: each group's title, the roles it
/// grants, and its changes. Changes only: pending and skipped users are not changes, and
/// would bury the lines that differ.
pub fn changes_text(plan: &Plan) -> String {
    let mut out = String::new();
    for g in &plan.groups {
        let _ = writeln!(
            out,
            "{}, ETag {}, {} members",
            group_title(g),
            text(etag_text(g)),
            g.precondition.member_count
        );
        if let Some(line) = grants_line(g) {
            let _ = writeln!(out, "{line}");
        }
        change_lines(plan, g, &mut out, false);
    }
    out
}

/// A unified diff between two renderings (e.g. the approved plan's table and its re-plan's).
pub fn diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&text(old_name), &text(new_name))
        .to_string()
}
