//! Renderings of a plan: a table for terminals, markdown for a pull-request comment, JSON
//! for machines, and the unified diff between a plan and its re-plan. Pure: each is a
//! function of the plan and fixed options, so each is snapshot-tested.

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use similar::TextDiff;

use super::{GroupPlan, Plan, ReadKind, file};
use crate::model::{Mode, UserId};

/// GitHub refuses comments over 65,536 characters; stay under with room for a header.
pub const MARKDOWN_LIMIT: usize = 65_000;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Table width in columns.
    pub width: u16,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self { width: 100 }
    }
}

/// Render `plan` as `format`.
pub fn render(plan: &Plan, format: Format, opts: &RenderOptions) -> String {
    match format {
        Format::Table => table(plan, opts),
        Format::Markdown => markdown(plan),
        Format::Json => String::from_utf8(file::to_bytes(plan)).expect("JSON is UTF-8"),
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

fn etag_text(g: &GroupPlan) -> String {
    g.precondition
        .etag
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), |e| e.0.clone())
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

/// `name (id)`, or the id alone when no label is known.
fn who(plan: &Plan, id: &UserId) -> String {
    let label = plan.label(id);
    if label == id.as_str() {
        label.to_owned()
    } else {
        format!("{label} ({id})")
    }
}

/// `  + name (id)  reason`, `  − …`, `  ? key pending (reason)` and `  · user (reason)`
/// lines of a group.
fn member_lines(plan: &Plan, g: &GroupPlan, out: &mut String) {
    let reason = |id: &UserId| g.reasons.get(id).map_or("", |r| r.describe());
    for u in &g.changes.add {
        out.push_str(&format!("  + {}  {}\n", who(plan, u), reason(u)));
    }
    for u in &g.changes.remove {
        out.push_str(&format!("  − {}  {}\n", who(plan, u), reason(u)));
    }
    for p in &g.pending {
        out.push_str(&format!("  ? {} pending ({})\n", p.key, p.reason.as_str()));
    }
    for s in &g.skipped {
        out.push_str(&format!("  · {} ({})\n", s.user, s.reason.as_str()));
    }
    if !g.member_groups.is_empty() {
        out.push_str(&format!(
            "  · {} member(s) that are groups, left alone\n",
            g.member_groups.len()
        ));
    }
}

fn table(plan: &Plan, opts: &RenderOptions) -> String {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(opts.width)
        .set_header([
            "Group",
            "Genesys group",
            "+ add",
            "− remove",
            "pending",
            "ETag",
        ]);
    for g in &plan.groups {
        t.add_row([
            g.mapping.idp_group.clone(),
            format!("{} ({})", g.display_name, g.group_id),
            g.changes.add.len().to_string(),
            g.changes.remove.len().to_string(),
            g.pending.len().to_string(),
            etag_text(g),
        ]);
    }
    for i in 2..=4 {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = format!("{t}\n");
    for g in plan
        .groups
        .iter()
        .filter(|g| !g.changes.is_empty() || !g.skipped.is_empty() || !g.pending.is_empty())
    {
        out.push_str(&format!(
            "\n{} → {} ({}), {}\n",
            g.mapping.idp_group,
            g.display_name,
            g.group_id,
            cursor_text(g)
        ));
        member_lines(plan, g, &mut out);
        if g.guard.overridden {
            out.push_str(&format!(
                "  ! removal limit overridden: {} of {} allowed\n",
                g.guard.removals, g.guard.limit
            ));
        }
    }
    out.push_str(&format!(
        "\n{}\nsha256 {}\n",
        summary_line(plan),
        plan.sha256
    ));
    out
}

fn markdown_header(plan: &Plan) -> String {
    format!(
        "### scimsync plan\n\n{}\n\nTarget `{}` ({}), made {} by scimsync {}.\n\n",
        summary_line(plan),
        plan.target.api_base,
        plan.target.kind,
        plan.created_at,
        plan.tool_version
    )
}

fn markdown_table<'a>(groups: impl Iterator<Item = &'a GroupPlan>) -> String {
    let mut out = String::from(
        "| Group | Genesys group | + add | − remove | pending | ETag |\n|---|---|--:|--:|--:|---|\n",
    );
    for g in groups {
        out.push_str(&format!(
            "| {} | {} (`{}`) | {} | {} | {} | `{}` |\n",
            escape(&g.mapping.idp_group),
            escape(&g.display_name),
            g.group_id,
            g.changes.add.len(),
            g.changes.remove.len(),
            g.pending.len(),
            etag_text(g)
        ));
    }
    out
}

fn markdown_footer(plan: &Plan) -> String {
    format!(
        "\nPlan sha256: `{}`. Apply exactly this plan with `scimsync apply <plan file> --expect-sha256 {}`.\n",
        plan.sha256, plan.sha256
    )
}

fn markdown_details(plan: &Plan, g: &GroupPlan) -> String {
    let mut out = format!(
        "\n<details><summary>{} → {}: +{} −{}{}</summary>\n\n",
        escape(&g.mapping.idp_group),
        escape(&g.display_name),
        g.changes.add.len(),
        g.changes.remove.len(),
        if g.pending.is_empty() {
            String::new()
        } else {
            format!(", {} pending", g.pending.len())
        }
    );
    out.push_str(&format!("{}; ETag `{}`.\n\n", cursor_text(g), etag_text(g)));
    if !g.changes.add.is_empty() {
        out.push_str("**Add**\n\n");
        for u in &g.changes.add {
            out.push_str(&format!("- {}: {}\n", md_who(plan, u), reason_of(g, u)));
        }
        out.push('\n');
    }
    if !g.changes.remove.is_empty() {
        out.push_str(&format!(
            "**Remove** ({} of {} allowed{})\n\n",
            g.guard.removals,
            g.guard.limit,
            if g.guard.overridden {
                ", limit overridden"
            } else {
                ""
            }
        ));
        for u in &g.changes.remove {
            out.push_str(&format!("- {}: {}\n", md_who(plan, u), reason_of(g, u)));
        }
        out.push('\n');
    }
    if !g.pending.is_empty() {
        out.push_str("**Pending** (kept, looked up again by the next plan)\n\n");
        for p in &g.pending {
            out.push_str(&format!("- `{}`: {}\n", p.key, p.reason.as_str()));
        }
        out.push('\n');
    }
    if !g.skipped.is_empty() {
        out.push_str("**Skipped**\n\n");
        for s in &g.skipped {
            out.push_str(&format!("- `{}`: {}\n", s.user, s.reason.as_str()));
        }
        out.push('\n');
    }
    out.push_str("</details>\n");
    out
}

/// Markdown for a pull-request comment, never longer than [`MARKDOWN_LIMIT`]: past it the
/// member lists go, then table rows, and the text says the full plan is in the plan file.
fn markdown(plan: &Plan) -> String {
    let header = markdown_header(plan);
    let footer = markdown_footer(plan);
    let changed: Vec<&GroupPlan> = plan
        .groups
        .iter()
        .filter(|g| !g.changes.is_empty() || !g.skipped.is_empty() || !g.pending.is_empty())
        .collect();
    let table = markdown_table(plan.groups.iter());
    let details: String = changed.iter().map(|g| markdown_details(plan, g)).collect();
    let full = format!("{header}{table}{details}{footer}");
    if full.chars().count() <= MARKDOWN_LIMIT {
        return full;
    }
    let note = "\n> This plan is too large for a comment: member lists are left out. The full plan is in the plan file (`scimsync show <plan file>`).\n";
    let short = format!("{header}{table}{note}{footer}");
    if short.chars().count() <= MARKDOWN_LIMIT {
        return short;
    }
    // Even the table is too long: keep the changed groups' rows that fit.
    let budget = MARKDOWN_LIMIT - header.len() - footer.len() - note.len() - 200;
    let mut rows = markdown_table(std::iter::empty());
    let mut shown = 0;
    for g in &changed {
        let row = markdown_table(std::iter::once(*g));
        let row = row.lines().nth(2).unwrap_or_default();
        if rows.len() + row.len() + 1 > budget {
            break;
        }
        rows.push_str(row);
        rows.push('\n');
        shown += 1;
    }
    let more = format!(
        "\n… and {} more group(s) not shown ({} unchanged).\n",
        plan.groups.len() - shown,
        plan.groups.len() - changed.len()
    );
    format!("{header}{rows}{more}{note}{footer}")
}

/// `name (`id`)`, or the id alone when no label is known.
fn md_who(plan: &Plan, id: &UserId) -> String {
    let label = plan.label(id);
    if label == id.as_str() {
        format!("`{id}`")
    } else {
        format!("{} (`{id}`)", escape(label))
    }
}

fn reason_of(g: &GroupPlan, id: &UserId) -> &'static str {
    g.reasons.get(id).map_or("", |r| r.describe())
}

/// Markdown table cells: pipes and newlines would break the table.
fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The member changes of `groups` as plain lines, one group after another: what the diff
/// between an approved plan and its re-plan compares.
pub fn changes_text(plan: &Plan) -> String {
    let mut out = String::new();
    for g in &plan.groups {
        out.push_str(&format!(
            "{} → {} ({}), ETag {}, {} members\n",
            g.mapping.idp_group,
            g.display_name,
            g.group_id,
            etag_text(g),
            g.precondition.member_count
        ));
        member_lines(plan, g, &mut out);
    }
    out
}

/// A unified diff between two renderings (e.g. the approved plan's table and its re-plan's).
pub fn diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
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

    #[test]
    fn markdown_stays_under_the_comment_limit() {
        let mut plan = sample();
        let g = plan.groups[0].clone();
        plan.groups = (0..3000)
            .map(|i| {
                let mut g = g.clone();
                g.mapping.idp_group = format!("group-{i:04}");
                g.changes.add = (0..20)
                    .map(|j| crate::model::UserId(format!("user-{i}-{j}")))
                    .collect();
                g
            })
            .collect();
        plan.summary = crate::plan::Summary::of(&plan.groups);
        let md = render(&plan, Format::Markdown, &RenderOptions::default());
        assert!(md.chars().count() <= MARKDOWN_LIMIT, "{}", md.len());
        assert!(md.contains("full plan is in the plan file"));
        assert!(md.contains("more group(s) not shown"));
        assert!(md.contains(&plan.sha256));
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
