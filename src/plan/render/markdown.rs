//! Markdown for a pull-request comment, within GitHub's size limit and hiding nothing: a
//! summary table, then a collapsible section per changed group, filled in the reviewer's order.

use super::{
    MARKDOWN_LIMIT, PRIVILEGED, Rank, RenderOptions, UNCHANGED_NAMED, cursor_text, etag_text,
    pending_label, rank, reason_of, reviewer_order, roles_unknown_line, summary_line,
    target_column, unchanged_line,
};
use crate::model::UserId;
use crate::plan::escape::{code, html, md, text};
use crate::plan::grants;
use crate::plan::{GroupPlan, Plan};
use std::fmt::Write as _;

/// The summary table of a markdown plan takes at most this much of the budget; the rest goes
/// to member lists.
const MARKDOWN_TABLE_MAX: usize = 16_000;

fn markdown_header(plan: &Plan) -> String {
    let unknown = roles_unknown_line(plan)
        .map(|l| format!("{}\n\n", md(&l)))
        .unwrap_or_default();
    let privileged = if plan.summary.privileged > 0 {
        format!(
            "**{} privileged change(s)**: they grant or take away a privileged role (listed first).\n\n",
            plan.summary.privileged
        )
    } else {
        String::new()
    };
    format!(
        "### scimsync plan\n\n{}\n\n{privileged}{unknown}Target {} ({}), made {} by scimsync {}.\n\n",
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
        code(plan.sha256.as_str())
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
    let mark = if g.privileged {
        format!(" **{}**", md(PRIVILEGED))
    } else {
        String::new()
    };
    format!(
        "| {}{mark} | {} ({}) | {} | {} | {} | {} |\n",
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
        let _ = writeln!(
            out,
            "| … {rest} more changed group(s) |  | {} | {} | {} |  |",
            more.iter().map(|g| g.changes.add.len()).sum::<usize>(),
            more.iter().map(|g| g.changes.remove.len()).sum::<usize>(),
            more.iter().map(|g| g.pending.len()).sum::<usize>(),
        );
    }
    if unchanged > 0 {
        let _ = writeln!(out, "| {unchanged} unchanged group(s) |  | 0 | 0 | 0 |  |");
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
        let _ = write!(out, "**{}** ({count}{})\n\n", self.title, self.note);
        for line in &self.lines[..self.shown] {
            out.push_str(line);
        }
        if self.shown < total {
            let _ = writeln!(
                out,
                "- … and {} more, listed by `scimsync show` of the plan file",
                total - self.shown
            );
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
        let gives = |add: bool| {
            grants::change_text(g.grants.as_ref(), add)
                .map(|t| format!("; {}", md(&t)))
                .unwrap_or_default()
        };
        let (takes, grants) = (gives(false), gives(true));
        let remove_line =
            |u: &UserId| format!("- {}: {}{takes}\n", md_who(plan, u), reason_of(g, u));
        let line = |u: &UserId| format!("- {}: {}{grants}\n", md_who(plan, u), reason_of(g, u));
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
                g.changes.remove.iter().map(remove_line).collect(),
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
                    .map(|p| match pending_label(plan, g, &p.key) {
                        Some(label) => format!(
                            "- {} ({}): {}\n",
                            md(label),
                            code(p.key.as_str()),
                            p.reason.as_str()
                        ),
                        None => format!("- {}: {}\n", code(p.key.as_str()), p.reason.as_str()),
                    })
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
        let open = if g.changes.remove.is_empty() && !g.privileged {
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
        let mark = if g.privileged {
            format!("{PRIVILEGED} ")
        } else {
            String::new()
        };
        let grants = match g.grants.as_ref() {
            Some(grants::GroupGrants::Unknown) => {
                format!("**{}: roles unknown.**\n\n", md(&g.display_name))
            }
            other => grants::group_text(other)
                .map(|t| format!("**{} {}.**\n\n", md(&g.display_name), md(&t)))
                .unwrap_or_default(),
        };
        format!(
            "\n<details{open}><summary>{mark}{} → {}: −{} +{}{pending}</summary>\n\n{grants}{}; group {}; ETag {}.{groups}\n\n",
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
pub(super) fn markdown(plan: &Plan, opts: &RenderOptions) -> String {
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
    // What is never left out: header, footer, every privileged group's section, and every
    // group losing members in full (privileged groups come first in the order).
    let removing = sections
        .iter()
        .take_while(|s| s.group.privileged || rank(s.group) == Rank::Removes)
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
        let _ = write!(
            out,
            "\n{} more group(s) with {} to add and {} pending have no section here (a comment holds 65,000 characters); `scimsync show` of the plan file lists them.\n",
            rest.len(),
            rest.iter()
                .map(|s| s.group.changes.add.len())
                .sum::<usize>(),
            rest.iter().map(|s| s.group.pending.len()).sum::<usize>(),
        );
    }
    out.push_str(&unchanged);
    out.push_str(&footer);
    out
}

/// Room kept for the line that counts the groups left without a section.
const MORE_GROUPS_RESERVE: usize = 250;
