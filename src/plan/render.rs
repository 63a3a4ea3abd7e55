//! Renderings of a plan: a table for terminals, markdown for a pull-request comment, JSON
//! for machines, and the unified diff between a plan and its re-plan. Pure: each is a
//! function of the plan and fixed options, so each is snapshot-tested.
//!
//! Text and markdown follow the reviewer's order: groups with removals first, then groups
//! with adds, then groups with only pending or skipped users, then unchanged groups (one line
//! or a count). Every user is shown by its label with its id beside it. Every string from
//! outside goes through [`escape`](super::escape) for the format it lands in.

use std::borrow::Cow;

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use similar::TextDiff;

use super::escape::{code, html, md, text};
use super::{GroupPlan, Plan, ReadKind, file};
use crate::model::{Mode, UserId};

/// GitHub refuses comments over 65,536 characters; stay under with room for a header.
pub const MARKDOWN_LIMIT: usize = 65_000;

/// At most this many unchanged groups are named one by one; more are a count.
const UNCHANGED_NAMED: usize = 10;

/// The summary table of a markdown plan takes at most this much of the budget; the rest goes
/// to member lists.
const MARKDOWN_TABLE_MAX: usize = 16_000;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A table and the member changes of each group.
    #[default]
    Table,
    /// Markdown for a pull-request comment.
    Markdown,
    /// The plan file's JSON.
    Json,
}

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

/// Render `plan` as `format`.
pub fn render(plan: &Plan, format: Format, opts: &RenderOptions) -> String {
    match format {
        Format::Table => table(plan, opts),
        Format::Markdown => markdown(plan, opts),
        Format::Json => {
            let json = String::from_utf8(file::to_bytes(plan)).expect("JSON is UTF-8");
            match super::escape::json(&json) {
                Cow::Borrowed(_) => json,
                Cow::Owned(escaped) => escaped,
            }
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
    if s.groups_changed == 0 {
        format!(
            "No changes: {} group(s) already match the IdP{skipped}.",
            s.groups
        )
    } else {
        format!(
            "Plan: {} to add, {} to remove, in {} of {} group(s){skipped}.",
            s.add, s.remove, s.groups_changed, s.groups
        )
    }
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

/// The groups in the reviewer's order; config order within each rank.
fn reviewer_order(plan: &Plan) -> Vec<&GroupPlan> {
    let mut groups: Vec<&GroupPlan> = plan.groups.iter().collect();
    groups.sort_by_key(|g| rank(g));
    groups
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

/// `  − name (id)  reason` then `  + …` lines of a group: what the diff compares.
fn change_lines(plan: &Plan, g: &GroupPlan, out: &mut String) {
    for u in &g.changes.remove {
        out.push_str(&format!("  − {}  {}\n", who(plan, u), reason_of(g, u)));
    }
    for u in &g.changes.add {
        out.push_str(&format!("  + {}  {}\n", who(plan, u), reason_of(g, u)));
    }
}

/// [`change_lines`], then `  ? key pending (reason)`, `  · user (reason)` and member groups.
fn member_lines(plan: &Plan, g: &GroupPlan, out: &mut String) {
    change_lines(plan, g, out);
    for p in &g.pending {
        out.push_str(&format!(
            "  ? {} pending ({})\n",
            text(&p.key),
            p.reason.as_str()
        ));
    }
    for s in &g.skipped {
        let user = UserId(s.user.clone());
        out.push_str(&format!(
            "  · {} ({})\n",
            who(plan, &user),
            s.reason.as_str()
        ));
    }
    if !g.member_groups.is_empty() {
        out.push_str(&format!(
            "  · {} member(s) that are groups, left alone\n",
            g.member_groups.len()
        ));
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

fn table(plan: &Plan, opts: &RenderOptions) -> String {
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
        t.add_row([
            text(&g.mapping.idp_group).into_owned(),
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
        out.push_str(&format!(
            "\n{}, {}\n",
            group_title(g),
            text(&cursor_text(g))
        ));
        member_lines(plan, g, &mut out);
        if g.guard.overridden {
            out.push_str(&format!(
                "  ! removal limit overridden: {} of {} allowed\n",
                g.guard.removals, g.guard.limit
            ));
        }
    }
    if let Some(line) = unchanged_line(unchanged, |n| text(n).into_owned()) {
        out.push_str(&format!("\n{line}\n"));
    }
    out.push_str(&format!(
        "\n{}\nsha256 {}\n",
        summary_line(plan),
        text(&plan.sha256)
    ));
    out
}

fn markdown_header(plan: &Plan) -> String {
    format!(
        "### scimsync plan\n\n{}\n\nTarget {} ({}), made {} by scimsync {}.\n\n",
        summary_line(plan),
        code(&plan.target.api_base),
        plan.target.kind,
        plan.created_at,
        md(&plan.tool_version)
    )
}

/// A path as one shell word: as is when it holds only safe characters, else single-quoted.
fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-+:@%=,".contains(c));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn markdown_footer(plan: &Plan, opts: &RenderOptions) -> String {
    let file = opts
        .plan_file
        .as_deref()
        .map_or_else(|| "<plan file>".to_owned(), shell_word);
    let command = text(&format!(
        "scimsync apply {file} --expect-sha256 {}",
        plan.sha256
    ))
    .into_owned();
    // A fence longer than any run of backticks in the command.
    let fence = "`".repeat(3.max(longest_run(&command, '`') + 1));
    format!(
        "\nPlan sha256: {}. Apply exactly this plan with:\n\n{fence}sh\n{command}\n{fence}\n",
        code(&plan.sha256)
    )
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for x in s.chars() {
        run = if x == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

fn markdown_table_head(plan: &Plan) -> String {
    format!(
        "| Group | {} | + add | − remove | pending | ETag |\n|---|---|--:|--:|--:|---|\n",
        target_column(plan)
    )
}

fn markdown_row(g: &GroupPlan) -> String {
    format!(
        "| {} | {} ({}) | {} | {} | {} | {} |\n",
        md(&g.mapping.idp_group),
        md(&g.display_name),
        md(g.group_id.as_str()),
        g.changes.add.len(),
        g.changes.remove.len(),
        g.pending.len(),
        md(etag_text(g))
    )
}

/// The summary table within `budget` bytes: a row per group in the reviewer's order while
/// they fit, then one row counting the rest (and their totals), unchanged groups as a count
/// when there are many.
fn markdown_table(plan: &Plan, order: &[&GroupPlan], budget: usize) -> String {
    let mut out = markdown_table_head(plan);
    let changed: Vec<&GroupPlan> = order
        .iter()
        .copied()
        .filter(|g| rank(g) != Rank::Unchanged)
        .collect();
    let unchanged = order.len() - changed.len();
    // Room for the two closing rows.
    let budget = budget.saturating_sub(out.len() + 200);
    let all: usize = order.iter().map(|g| markdown_row(g).len()).sum();
    if unchanged <= UNCHANGED_NAMED && all <= budget {
        for g in order {
            out.push_str(&markdown_row(g));
        }
        return out;
    }
    let mut used = 0;
    let mut rest = changed.len();
    for g in &changed {
        let row = markdown_row(g);
        if used + row.len() > budget {
            break;
        }
        used += row.len();
        out.push_str(&row);
        rest -= 1;
    }
    if rest > 0 {
        let more = &changed[changed.len() - rest..];
        out.push_str(&format!(
            "| … {rest} more changed group(s) |  | {} | {} | {} |  |\n",
            more.iter().map(|g| g.changes.add.len()).sum::<usize>(),
            more.iter().map(|g| g.changes.remove.len()).sum::<usize>(),
            more.iter().map(|g| g.pending.len()).sum::<usize>(),
        ));
    }
    if unchanged > 0 {
        out.push_str(&format!(
            "| {unchanged} unchanged group(s) |  | 0 | 0 | 0 |  |\n"
        ));
    }
    out
}

/// `Alice Smith (`8f4a2c1d-…`)`, or the id alone when no label is known.
fn md_who(plan: &Plan, id: &UserId) -> String {
    let label = plan.label(id);
    if label == id.as_str() {
        code(id.as_str())
    } else {
        format!("{} ({})", md(label), code(id.as_str()))
    }
}

/// One list of a group's markdown section: a title, its lines, and how many of them fit.
struct List {
    /// `Remove`, `Add`, …
    title: &'static str,
    /// After the count in the title: `of 25 allowed`.
    note: String,
    lines: Vec<String>,
    shown: usize,
}

impl List {
    fn new(title: &'static str, note: String, lines: Vec<String>) -> Self {
        Self {
            title,
            note,
            lines,
            shown: 0,
        }
    }

    fn render(&self, out: &mut String) {
        if self.lines.is_empty() {
            return;
        }
        let total = self.lines.len();
        let count = if self.shown == total {
            total.to_string()
        } else {
            format!("first {} of {total}", self.shown)
        };
        out.push_str(&format!("**{}** ({count}{})\n\n", self.title, self.note));
        for line in &self.lines[..self.shown] {
            out.push_str(line);
        }
        if self.shown < total {
            out.push_str(&format!(
                "- … and {} more, listed by `scimsync show` of the plan file\n",
                total - self.shown
            ));
        }
        out.push('\n');
    }

    /// The bytes of its title and "more" line, without any member line.
    fn frame(&self) -> usize {
        if self.lines.is_empty() {
            0
        } else {
            let mut out = String::new();
            Self {
                title: self.title,
                note: self.note.clone(),
                lines: vec![String::new(); self.lines.len() + 1],
                shown: self.lines.len(),
            }
            .render(&mut out);
            // The "first N of M" and "… and N more" a shortened list adds.
            out.len() + 90 + 2 * self.lines.len().to_string().len()
        }
    }
}

/// A group's collapsible markdown section, its lists filled later within the budget.
struct Section<'a> {
    group: &'a GroupPlan,
    remove: List,
    add: List,
    pending: List,
    skipped: List,
}

impl<'a> Section<'a> {
    fn new(plan: &Plan, g: &'a GroupPlan) -> Self {
        let line = |u: &UserId| format!("- {}: {}\n", md_who(plan, u), reason_of(g, u));
        Self {
            group: g,
            remove: List::new(
                "Remove",
                format!(
                    "; the guard allows {}{}",
                    g.guard.limit,
                    if g.guard.overridden {
                        ", limit overridden"
                    } else {
                        ""
                    }
                ),
                g.changes.remove.iter().map(line).collect(),
            ),
            add: List::new(
                "Add",
                String::new(),
                g.changes.add.iter().map(line).collect(),
            ),
            pending: List::new(
                "Pending",
                "; kept, looked up again by the next plan".into(),
                g.pending
                    .iter()
                    .map(|p| format!("- {}: {}\n", code(&p.key), p.reason.as_str()))
                    .collect(),
            ),
            skipped: List::new(
                "Skipped",
                String::new(),
                g.skipped
                    .iter()
                    .map(|s| {
                        format!(
                            "- {}: {}\n",
                            md_who(plan, &UserId(s.user.clone())),
                            s.reason.as_str()
                        )
                    })
                    .collect(),
            ),
        }
    }

    fn head(&self) -> String {
        let g = self.group;
        let pending = if g.pending.is_empty() {
            String::new()
        } else {
            format!(", {} pending", g.pending.len())
        };
        let open = if g.changes.remove.is_empty() {
            ""
        } else {
            " open"
        };
        let groups = if g.member_groups.is_empty() {
            String::new()
        } else {
            format!(
                " {} member(s) that are groups, left alone.",
                g.member_groups.len()
            )
        };
        format!(
            "\n<details{open}><summary>{} → {}: −{} +{}{pending}</summary>\n\n{}; group {}; ETag {}.{groups}\n\n",
            html(&g.mapping.idp_group),
            html(&g.display_name),
            g.changes.remove.len(),
            g.changes.add.len(),
            md(&cursor_text(g)),
            code(g.group_id.as_str()),
            code(etag_text(g)),
        )
    }

    fn lists(&self) -> [&List; 4] {
        [&self.remove, &self.add, &self.pending, &self.skipped]
    }

    /// Its bytes without any member line.
    fn frame(&self) -> usize {
        self.head().len() + self.lists().iter().map(|l| l.frame()).sum::<usize>() + 12
    }

    fn render(&self, out: &mut String) {
        out.push_str(&self.head());
        for list in self.lists() {
            list.render(out);
        }
        out.push_str("</details>\n");
    }
}

/// Show up to `most` lines of `list` in all, as many as `budget` allows; what they take comes
/// off it.
fn fill(list: &mut List, budget: &mut usize, most: usize) {
    while let Some(line) = list.lines.get(list.shown) {
        if list.shown >= most || line.len() > *budget {
            break;
        }
        *budget -= line.len();
        list.shown += 1;
    }
}

/// Add lines each group's section shows before any group gets more.
const MARKDOWN_FIRST_ADDS: usize = 10;

/// Markdown for a pull-request comment, never longer than [`MARKDOWN_LIMIT`], hiding
/// nothing: the budget is filled in the reviewer's order. Every group with removals gets its
/// section with every removal; then the groups with adds get theirs, group by group (the
/// first few adds of each, then more of each while room is left), then the groups with only
/// pending or skipped users. A list cut short says "first N of M"; groups left without a
/// section are counted, and the summary table (whose rest is a count when it is very long)
/// has their numbers. The plan's sha256 and the apply command end it.
fn markdown(plan: &Plan, opts: &RenderOptions) -> String {
    let order = reviewer_order(plan);
    let header = markdown_header(plan);
    let footer = markdown_footer(plan, opts);
    let unchanged: Vec<&GroupPlan> = order
        .iter()
        .copied()
        .filter(|g| rank(g) == Rank::Unchanged)
        .collect();
    let unchanged = unchanged_line(&unchanged, |n| md(n).into_owned())
        .map(|l| format!("\n{l}\n"))
        .unwrap_or_default();
    let mut sections: Vec<Section> = order
        .iter()
        .filter(|g| rank(g) != Rank::Unchanged)
        .map(|g| Section::new(plan, g))
        .collect();
    // What is never left out: header, footer, and every group losing members in full.
    let removing = sections
        .iter()
        .take_while(|s| rank(s.group) == Rank::Removes)
        .count();
    let mandatory = header.len()
        + footer.len()
        + unchanged.len()
        + MORE_GROUPS_RESERVE
        + sections[..removing]
            .iter()
            .map(|s| s.frame() + s.remove.lines.iter().map(String::len).sum::<usize>())
            .sum::<usize>();
    let table_min = markdown_table_head(plan).len() + 400;
    let table_budget = MARKDOWN_LIMIT
        .saturating_sub(mandatory)
        .clamp(table_min, MARKDOWN_TABLE_MAX);
    let table = markdown_table(plan, &order, table_budget);
    let mut budget = MARKDOWN_LIMIT.saturating_sub(
        mandatory + table.len()
            - sections[..removing]
                .iter()
                .map(|s| s.remove.lines.iter().map(String::len).sum::<usize>())
                .sum::<usize>(),
    );
    // Removals first; only a plan whose removals alone exceed a comment shortens them.
    for s in &mut sections[..removing] {
        fill(&mut s.remove, &mut budget, usize::MAX);
    }
    // Then a section for each further group while one fits, with its first few adds.
    let mut shown = removing;
    for s in &mut sections[removing..] {
        let frame = s.frame();
        if frame > budget {
            break;
        }
        budget -= frame;
        fill(&mut s.add, &mut budget, MARKDOWN_FIRST_ADDS);
        shown += 1;
    }
    for s in &mut sections[..shown] {
        fill(&mut s.add, &mut budget, usize::MAX);
    }
    for s in &mut sections[..shown] {
        fill(&mut s.pending, &mut budget, usize::MAX);
    }
    for s in &mut sections[..shown] {
        fill(&mut s.skipped, &mut budget, usize::MAX);
    }
    let mut out = header;
    out.push_str(&table);
    for s in &sections[..shown] {
        s.render(&mut out);
    }
    let rest = &sections[shown..];
    if !rest.is_empty() {
        out.push_str(&format!(
            "\n{} more group(s) with {} to add and {} pending have no section here (a comment holds 65,000 characters); `scimsync show` of the plan file lists them.\n",
            rest.len(),
            rest.iter().map(|s| s.group.changes.add.len()).sum::<usize>(),
            rest.iter().map(|s| s.group.pending.len()).sum::<usize>(),
        ));
    }
    out.push_str(&unchanged);
    out.push_str(&footer);
    out
}

/// Room kept for the line that counts the groups left without a section.
const MORE_GROUPS_RESERVE: usize = 250;

/// The member changes of `plan` as plain lines, one group after another: what the diff
/// between an approved plan and its re-plan compares. Changes only: pending and skipped
/// users are not changes, and would bury the lines that differ.
pub fn changes_text(plan: &Plan) -> String {
    let mut out = String::new();
    for g in &plan.groups {
        out.push_str(&format!(
            "{}, ETag {}, {} members\n",
            group_title(g),
            text(etag_text(g)),
            g.precondition.member_count
        ));
        change_lines(plan, g, &mut out);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::file::tests::sample;

    /// Snapshots live in the top-level `snapshots/`, named without the module path.
    macro_rules! snapshot {
        ($name:literal, $value:expr) => {
            insta::with_settings!({
                snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"),
                prepend_module_to_snapshot => false,
            }, {
                insta::assert_snapshot!($name, $value)
            })
        };
    }

    #[test]
    fn table_snapshot() {
        snapshot!(
            "render_table",
            render(&sample(), Format::Table, &RenderOptions::default())
        );
    }

    #[test]
    fn markdown_snapshot() {
        snapshot!(
            "render_markdown",
            render(&sample(), Format::Markdown, &RenderOptions::default())
        );
    }

    fn ids(prefix: &str, n: usize) -> crate::model::MemberSet {
        (0..n).map(|j| UserId(format!("{prefix}-{j:05}"))).collect()
    }

    /// A group like the sample's, named `name` → `display`, with these changes.
    fn group(name: &str, display: &str, add: usize, remove: usize) -> GroupPlan {
        let mut g = sample().groups[0].clone();
        g.mapping.idp_group = name.into();
        g.display_name = display.into();
        g.group_id = crate::model::GroupId(format!("{name}-0a1b2c3d-4e5f-6789"));
        g.changes.add = ids(&format!("{name}-add"), add);
        g.changes.remove = ids(&format!("{name}-rm"), remove);
        g.reasons = g
            .changes
            .add
            .iter()
            .map(|u| (u.clone(), crate::plan::ChangeReason::Granted))
            .chain(
                g.changes
                    .remove
                    .iter()
                    .map(|u| (u.clone(), crate::plan::ChangeReason::Revoked)),
            )
            .collect();
        g.pending.clear();
        g.guard.removals = remove;
        g
    }

    fn plan_of(groups: Vec<GroupPlan>, labels: &[(&str, &str)]) -> Plan {
        let base = sample();
        let labels = labels
            .iter()
            .map(|(k, v)| (UserId::from(*k), (*v).to_owned()))
            .collect();
        Plan::new(
            base.target,
            base.config_sha256,
            base.created_at,
            groups,
            &labels,
        )
    }

    /// Removals, adds, pending users, members that are groups, an unchanged group, and
    /// hostile names from outside everywhere a string goes.
    fn rich() -> Plan {
        let mut big = group("big", "Big", 4, 0);
        big.pending = vec![crate::plan::Pending {
            key: "erin@example.com".into(),
            reason: crate::plan::PendingReason::InactiveUser,
        }];
        big.member_groups = [crate::model::GroupId::from("g-nested")].into();
        let vip = group("vip-admins", "VIP Admins", 0, 3);
        let mut evil = group(
            "evil|`x`\n| a | b |",
            "</summary><img src=x onerror=alert(1)>",
            2,
            1,
        );
        evil.precondition.etag = Some(crate::model::ETag::from("W/\"4`|2\"\x1b[2J"));
        evil.source.cursor_to = Some("c`</details>".into());
        evil.pending = vec![crate::plan::Pending {
            key: "`x`|y\n\u{202E}gnp.exe".into(),
            reason: crate::plan::PendingReason::UnknownUser,
        }];
        let quiet = group("quiet", "Quiet", 0, 0);
        plan_of(
            vec![quiet, big, evil, vip],
            &[
                ("big-add-00000", "alice@example.com"),
                ("big-add-00001", "Bob Builder"),
                ("vip-admins-rm-00000", "carol@example.com"),
                ("vip-admins-rm-00001", "(deleted user)"),
                (
                    "evil|`x`\n| a | b |-add-00000",
                    "\x1b[31mMallory\x1b[0m <script>",
                ),
                ("evil|`x`\n| a | b |-add-00001", "`rm -rf`|**bold**\r\nnext"),
                (
                    "evil|`x`\n| a | b |-rm-00000",
                    "\u{202E}nimda\u{202C} \u{9b}31m",
                ),
            ],
        )
    }

    #[test]
    fn rich_table_snapshot() {
        snapshot!(
            "render_rich_table",
            render(&rich(), Format::Table, &RenderOptions::default())
        );
    }

    #[test]
    fn rich_markdown_snapshot() {
        let opts = RenderOptions {
            plan_file: Some("plans/plan.json".into()),
            ..RenderOptions::default()
        };
        snapshot!(
            "render_rich_markdown",
            render(&rich(), Format::Markdown, &opts)
        );
    }

    #[test]
    fn rich_json_snapshot() {
        snapshot!(
            "render_rich_json",
            render(&rich(), Format::Json, &RenderOptions::default())
        );
    }

    #[test]
    fn the_reviewer_reads_removals_first_then_adds_then_pending_then_unchanged() {
        for format in [Format::Table, Format::Markdown] {
            let out = render(&rich(), format, &RenderOptions::default());
            let at = |s: &str| out.rfind(s).unwrap_or_else(|| panic!("{s} in {out}"));
            // The member sections, after the table.
            let vip = at("VIP Admins");
            let big = at("Big");
            let quiet = at("quiet");
            assert!(vip < big && big < quiet, "{format:?}:\n{out}");
            assert!(out.contains("Unchanged (1): quiet."), "{out}");
        }
    }

    #[test]
    fn a_target_that_is_not_genesys_has_a_target_group_column() {
        let mut plan = sample();
        plan.target.kind = crate::model::TargetKind::Scim;
        for format in [Format::Table, Format::Markdown] {
            let out = render(&plan, format, &RenderOptions::default());
            assert!(
                out.contains("Target group") && !out.contains("Genesys group"),
                "{out}"
            );
        }
    }

    /// 1,000 groups and 100,000 changes: 10 are unchanged, 10 lose 25 members each, one gains
    /// 1,850 and 979 gain 100 each.
    fn huge() -> Plan {
        let mut groups = Vec::new();
        for i in 0..1000 {
            let name = format!("group-{i:04}");
            let g = match i {
                0..10 => group(&name, &format!("Group {i}"), 0, 0),
                10..20 => group(&name, &format!("Group {i}"), 0, 25),
                20 => group(&name, &format!("Group {i}"), 1850, 0),
                _ => group(&name, &format!("Group {i}"), 100, 0),
            };
            groups.push(g);
        }
        let labels: Vec<(String, String)> = groups
            .iter()
            .flat_map(|g| g.changes.remove.iter().chain(g.changes.add.iter().take(3)))
            .map(|u| (u.0.clone(), format!("{}@example.com", u.0)))
            .collect();
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        plan_of(groups, &labels)
    }

    #[test]
    fn a_huge_plan_fits_a_comment_and_lists_every_removal() {
        let plan = huge();
        assert_eq!(plan.summary.groups, 1000);
        assert_eq!(plan.summary.add + plan.summary.remove, 100_000);
        let md = render(&plan, Format::Markdown, &RenderOptions::default());
        assert!(
            md.chars().count() <= MARKDOWN_LIMIT,
            "{}",
            md.chars().count()
        );
        for g in &plan.groups {
            for u in &g.changes.remove {
                assert!(md.contains(&format!("(`{u}`): revoked by the IdP")), "{u}");
            }
        }
        // Adds are shortened with their count, never dropped silently.
        assert!(md.contains("**Add** (first "), "{md}");
        assert!(md.contains(" of 1850)"), "{md}");
        assert!(md.contains("10 unchanged group(s)"), "{md}");
        assert!(md.contains(&format!("--expect-sha256 {}", plan.sha256)));
        snapshot!("render_huge_markdown", md);
    }

    #[test]
    fn diff_shows_changed_lines() {
        let d = diff("a\nb\n", "a\nc\n", "plan.json", "plan.replan.json");
        assert!(
            d.contains("-b") && d.contains("+c") && d.contains("plan.replan.json"),
            "{d}"
        );
    }
}
