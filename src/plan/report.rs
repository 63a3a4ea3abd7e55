//! The report of an apply: what happened to each group, as text or JSON. Pure: a function
//! of the report, so it is snapshot-tested like the plan renderers beside it.

use crate::model::Sha256Hex;
use std::fmt::Write as _;

use serde::Serialize;

use super::escape::text;

/// What happened to one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Its approved changes were applied.
    Applied,
    /// It needed nothing (no changes, already applied, or a re-plan with no changes).
    Converged,
    /// It moved since the plan; its re-plan awaits approval.
    Stale,
    /// Another plan was applied to it since this one was made; re-planned from the state.
    Superseded,
    /// It moved since the plan; its re-plan was a subset of the approved changes and was
    /// applied (`--apply-replan-if-subset`).
    AppliedReplan,
    /// It failed for another reason; its cursor stays.
    Failed,
}

impl Outcome {
    /// The word shown for it.
    pub fn word(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Converged => "converged",
            Self::Stale => "stale",
            Self::Superseded => "superseded",
            Self::AppliedReplan => "applied (re-plan subset)",
            Self::Failed => "failed",
        }
    }
}

/// One group's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    /// The config's group name.
    pub idp_group: String,
    /// The Genesys group id.
    pub group_id: String,
    /// Its display name.
    pub display_name: String,
    /// What happened.
    pub outcome: Outcome,
    /// Users added by this run.
    pub added: usize,
    /// Users removed by this run.
    pub removed: usize,
    /// PATCH requests that succeeded.
    pub patches: usize,
    /// Why it failed or went stale, or what converged means here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Counts by outcome.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ApplySummary {
    /// Groups applied (including re-plan subsets).
    pub applied: usize,
    /// Groups that needed nothing.
    pub converged: usize,
    /// Groups refused as stale, awaiting approval of their re-plan.
    pub stale: usize,
    /// Groups that failed.
    pub failed: usize,
}

impl ApplySummary {
    /// The counts of `reports`: a re-plan applied at once counts as applied, a superseded
    /// group as stale.
    pub fn of(reports: &[GroupReport]) -> Self {
        let mut summary = Self::default();
        for r in reports {
            match r.outcome {
                Outcome::Applied | Outcome::AppliedReplan => summary.applied += 1,
                Outcome::Converged => summary.converged += 1,
                Outcome::Stale | Outcome::Superseded => summary.stale += 1,
                Outcome::Failed => summary.failed += 1,
            }
        }
        summary
    }
}

/// The whole run, for `--format json`.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// The applied plan's sha256.
    pub plan_sha256: Sha256Hex,
    /// Per group.
    pub groups: Vec<GroupReport>,
    /// Totals.
    pub summary: ApplySummary,
    /// The re-plan written, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replan: Option<ReplanRef>,
    /// The exit code.
    pub exit_code: u8,
}

/// Where the re-plan went.
#[derive(Debug, Clone, Serialize)]
pub struct ReplanRef {
    /// Its path.
    pub path: String,
    /// Its sha256 (to approve with `--expect-sha256`).
    pub sha256: Sha256Hex,
}

/// The human-readable report: a line per group, the diff of any re-plan, a summary. Names
/// and details (which can quote a server's error text) are escaped for a terminal.
pub fn text_report(report: &ApplyReport, diff_text: &str) -> String {
    let mut out = String::new();
    for r in &report.groups {
        let counts = match (r.added + r.removed, r.patches) {
            (0, _) => String::new(),
            // Changes that landed before the group went stale or failed.
            (_, 0) => format!(" +{} −{} landed", r.added, r.removed),
            (_, n) => format!(
                " +{} −{} ({n} PATCH{})",
                r.added,
                r.removed,
                if n == 1 { "" } else { "es" }
            ),
        };
        let _ = writeln!(
            out,
            "{:<10} {} → {} ({}){counts}",
            r.outcome.word(),
            text(&r.idp_group),
            text(&r.display_name),
            text(&r.group_id)
        );
        if let Some(d) = &r.detail {
            let _ = writeln!(out, "           {}", text(d));
        }
    }
    if let Some(replan) = &report.replan {
        let _ = write!(
            out,
            "\nThe groups marked stale or superseded changed since the plan was approved: what was approved no longer describes them, so the rest of their changes was not applied.\nTheir re-plan (fresh Genesys state) is in {}. What changed:\n\n{diff_text}\nApprove it, then apply it with:\n  scimsync apply {} --expect-sha256 {}\n",
            text(&replan.path),
            text(&replan.path),
            replan.sha256
        );
    }
    let s = &report.summary;
    let _ = write!(
        out,
        "\nApply: {} applied, {} converged, {} stale, {} failed.\n",
        s.applied, s.converged, s.stale, s.failed
    );
    out
}
