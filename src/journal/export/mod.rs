//! The exports of `scimsync log`: a table for a person, the native JSON Lines (each line as
//! stored, so that a copy can be checked against the chain), CSV, and SIEM events in OCSF
//! ([`ocsf`]) and Elastic ECS ([`ecs`]). Pure: each is a function of the selected entries
//! and a [`Context`], snapshot-tested in `tests.rs`; the mappings are documented field by
//! field in docs/journal.md.

mod csv;
pub mod ecs;
pub mod ocsf;
mod table;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(crate) use self::csv::neutralize;

use super::query::{Entry, Kinds};
use super::{Change, Event, Op};

/// How `scimsync log` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A fixed-width table, for a person.
    #[default]
    Table,
    /// The records as stored, one per line.
    Json,
    /// CSV with a header row, spreadsheet formulas neutralized.
    Csv,
    /// OCSF Group Management events (class 3006), one JSON object per line.
    Ocsf,
    /// Elastic Common Schema documents, one JSON object per line.
    Ecs,
}

/// `--all` with a format that has events for changes only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--all with --format {0}: OCSF and ECS have events for change records only (docs/journal.md); drop --all, or use --format json or csv for every record"
)]
pub struct ChangesOnly(pub &'static str);

impl Format {
    /// The name, as in `--format`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Ocsf => "ocsf",
            Self::Ecs => "ecs",
        }
    }

    /// Which records `scimsync log` shows in this format, with or without `--all`: changes
    /// only by default, every record with `--all` and in JSON (a copy of the journal that
    /// can be checked against its chain). OCSF and ECS have events for changes only, and
    /// refuse `--all` rather than ignore it.
    pub fn kinds(self, all: bool) -> Result<Kinds, ChangesOnly> {
        match (self, all) {
            (Self::Ocsf | Self::Ecs, true) => Err(ChangesOnly(self.as_str())),
            (Self::Json, _) | (_, true) => Ok(Kinds::All),
            _ => Ok(Kinds::Changes),
        }
    }
}

/// What an export needs beyond the entries it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// scimsync's version per apply run id (from its `run_started` record): the product
    /// version of the events that run wrote.
    pub tool_versions: BTreeMap<String, String>,
    /// The version for a run whose `run_started` record is not in the journal (pruned):
    /// this scimsync's.
    pub fallback_version: String,
    /// The table's width in columns.
    pub width: u16,
}

impl Context {
    /// The context of a whole journal (`entries`, before any filter).
    pub fn of(entries: &[Entry<'_>], fallback_version: &str) -> Self {
        let tool_versions = entries
            .iter()
            .filter_map(|e| match &e.record.event {
                Event::RunStarted(r) => Some((e.record.run.id.clone(), r.tool_version.clone())),
                _ => None,
            })
            .collect();
        Self {
            tool_versions,
            fallback_version: fallback_version.to_owned(),
            width: 120,
        }
    }

    /// The scimsync version that wrote records of run `run`.
    pub fn version_of(&self, run: &str) -> &str {
        self.tool_versions
            .get(run)
            .map_or(self.fallback_version.as_str(), String::as_str)
    }
}

/// `entries` (already selected) in `format`: the whole output, each line ending in a
/// newline. [`Format::Ocsf`] and [`Format::Ecs`] skip entries that are not changes.
pub fn render(entries: &[&Entry<'_>], format: Format, ctx: &Context) -> String {
    match format {
        Format::Table => table::table(entries, ctx),
        Format::Json => entries.iter().fold(String::new(), |mut out, e| {
            out.push_str(e.line);
            out.push('\n');
            out
        }),
        Format::Csv => csv::csv(entries),
        Format::Ocsf => json_lines(entries, |e, c| ocsf::event(e, c, ctx)),
        Format::Ecs => json_lines(entries, |e, c| ecs::document(e, c, ctx)),
    }
}

fn json_lines(
    entries: &[&Entry<'_>],
    event: impl Fn(&Entry<'_>, &Change) -> serde_json::Value,
) -> String {
    entries
        .iter()
        .filter_map(|e| e.record.change().map(|c| event(e, c)))
        .fold(String::new(), |mut out, v| {
            let _ = writeln!(out, "{v}");
            out
        })
}

/// One sentence for a change, in the SIEM events' `message`:
/// `scimsync added alice (u-1) to Sales (g-1): granted by the IdP; plan 3b8c9d0e1f2a approved by maria`.
pub(crate) fn sentence(c: &Change) -> String {
    let (verb, to) = match c.op {
        Op::Add => ("added", "to"),
        Op::Remove => ("removed", "from"),
    };
    let approved = c
        .approval
        .actor
        .approved_by
        .as_ref()
        .map_or_else(String::new, |who| format!(" approved by {who}"));
    let settled = if c.settled.is_some() {
        " (journaled by a later run: the run that made it was stopped first)"
    } else {
        ""
    };
    format!(
        "scimsync {verb} {} ({}) {to} {} ({}): {}; plan {}{approved}{settled}",
        c.user.label,
        c.user.id,
        c.group.name,
        c.group.id,
        c.reason.describe(),
        c.approval.plan_sha256.short(),
    )
}
