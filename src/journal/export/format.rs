//! Which format `scimsync log` prints in, which records each shows, and the dispatch to the
//! renderers (here, apart from the helpers they share in `mod.rs`, so that no two files
//! depend on each other).

use std::fmt::Write as _;

use super::Context;
use crate::journal::Change;
use crate::journal::query::{Entry, Kinds};

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

/// `entries` (already selected) in `format`: the whole output, each line ending in a
/// newline. [`Format::Ocsf`] and [`Format::Ecs`] skip entries that are not changes.
pub fn render(entries: &[&Entry<'_>], format: Format, ctx: &Context) -> String {
    match format {
        Format::Table => super::table::table(entries, ctx),
        Format::Json => entries.iter().fold(String::new(), |mut out, e| {
            out.push_str(e.line);
            out.push('\n');
            out
        }),
        Format::Csv => super::csv::csv(entries),
        Format::Ocsf => json_lines(entries, |e, c| super::ocsf::event(e, c, ctx)),
        Format::Ecs => json_lines(entries, |e, c| super::ecs::document(e, c, ctx)),
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
