//! The exports of `scimsync log`: a table for a person, the native JSON Lines (each line as
//! stored, so that a copy can be checked against the chain), CSV, and SIEM events in OCSF
//! ([`ocsf`]) and Elastic ECS ([`ecs`]). Pure: each is a function of the selected entries
//! and a [`Context`], snapshot-tested in `tests.rs`; the mappings are documented field by
//! field in docs/journal.md.

mod csv;
pub mod ecs;
mod format;
pub mod ocsf;
mod table;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub(crate) use self::csv::neutralize;
pub use self::format::{ChangesOnly, Format, render};

use super::query::Entry;
use super::{Change, Event, Op};

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
