//! CSV (RFC 4180, through the `csv` crate): a header row, then one row per record, every
//! field of a change in its own column; columns a kind of record lacks are empty.
//!
//! Spreadsheet formula injection: a cell that begins with `=`, `+`, `-`, `@`, a tab or a
//! carriage return would be run as a formula by Excel, LibreOffice or Sheets, and labels and
//! group names come from outside. Such a cell gets a leading `'`, which spreadsheets show as
//! text (OWASP, "CSV Injection": <https://owasp.org/www-community/attacks/CSV_Injection>).
//! The `'` is part of the value for any other reader: the JSON export is the exact one.

use std::borrow::Cow;

use crate::journal::query::Entry;
use crate::journal::{Approval, Event};

/// The columns, in order.
pub(crate) const HEADER: [&str; 22] = [
    "seq",
    "time",
    "kind",
    "run_id",
    "group",
    "group_id",
    "group_name",
    "op",
    "user_id",
    "user_key",
    "user_label",
    "reason",
    "outcome",
    "detail",
    "plan_sha256",
    "replaces_plan_sha256",
    "approved_by",
    "change_ref",
    "ran_by",
    "run_url",
    "correlation_id",
    "made_by_run",
];

/// `cell`, made safe to open in a spreadsheet: `=HYPERLINK("x")` becomes `'=HYPERLINK("x")`,
/// `alice` stays `alice` (tested in `tests.rs`).
pub(crate) fn neutralize(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// One row, by column; what a kind of record lacks stays empty.
#[derive(Default)]
struct Row {
    seq: String,
    time: String,
    kind: String,
    run_id: String,
    group: String,
    group_id: String,
    group_name: String,
    op: String,
    user_id: String,
    user_key: String,
    user_label: String,
    reason: String,
    outcome: String,
    detail: String,
    plan_sha256: String,
    replaces_plan_sha256: String,
    approved_by: String,
    change_ref: String,
    ran_by: String,
    run_url: String,
    correlation_id: String,
    made_by_run: String,
}

impl Row {
    /// The cells in [`HEADER`] order.
    fn cells(self) -> [String; 22] {
        [
            self.seq,
            self.time,
            self.kind,
            self.run_id,
            self.group,
            self.group_id,
            self.group_name,
            self.op,
            self.user_id,
            self.user_key,
            self.user_label,
            self.reason,
            self.outcome,
            self.detail,
            self.plan_sha256,
            self.replaces_plan_sha256,
            self.approved_by,
            self.change_ref,
            self.ran_by,
            self.run_url,
            self.correlation_id,
            self.made_by_run,
        ]
    }

    /// This row with the approval's columns.
    fn with_approval(self, a: &Approval) -> Self {
        let actor = &a.actor;
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Self {
            plan_sha256: a.plan_sha256.to_string(),
            replaces_plan_sha256: a
                .replaces_plan_sha256
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            approved_by: text(&actor.approved_by),
            change_ref: text(&actor.change_ref),
            ran_by: text(&actor.ran_by),
            run_url: text(&actor.run_url),
            ..self
        }
    }
}

fn row(e: &Entry<'_>) -> Row {
    let r = &e.record;
    let group = r.group();
    let base = Row {
        seq: r.seq.to_string(),
        time: r.time.to_string(),
        kind: r.kind().to_owned(),
        run_id: r.run.id.clone(),
        group: group.map(|g| g.idp.clone()).unwrap_or_default(),
        group_id: group.map(|g| g.id.to_string()).unwrap_or_default(),
        group_name: group.map(|g| g.name.clone()).unwrap_or_default(),
        ..Row::default()
    };
    match &r.event {
        Event::Change(c) => Row {
            op: c.op.as_str().to_owned(),
            user_id: c.user.id.to_string(),
            user_key: c
                .user
                .key
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            user_label: c.user.label.clone(),
            reason: c.reason.as_str().to_owned(),
            correlation_id: c.correlation_id.clone().unwrap_or_default(),
            made_by_run: c
                .settled
                .as_ref()
                .map(|s| s.made_by_run.clone())
                .unwrap_or_default(),
            ..base
        }
        .with_approval(&c.approval),
        Event::Outcome(o) => {
            let counts = format!("added {}, removed {}", o.added, o.removed);
            Row {
                outcome: o.outcome.as_str().to_owned(),
                detail: match &o.detail {
                    Some(d) => format!("{counts}: {d}"),
                    None => counts,
                },
                ..base
            }
            .with_approval(&o.approval)
        }
        Event::RunStarted(s) => Row {
            detail: format!(
                "scimsync {}: {} change(s) in {} group(s) to send",
                s.tool_version, s.changes, s.groups
            ),
            ..base
        }
        .with_approval(&s.approval),
        Event::Intents { intents } => Row {
            detail: format!("the intents of {} more group(s)", intents.len()),
            ..base
        },
        Event::RunEnded { exit_code } => Row {
            detail: format!("exit code {exit_code}"),
            ..base
        },
        Event::Pruned {
            before,
            through_seq,
            records,
        } => Row {
            detail: format!(
                "{records} record(s) older than {before} pruned, through {through_seq}"
            ),
            ..base
        },
    }
}

pub(super) fn csv(entries: &[&Entry<'_>]) -> String {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    // Writing to a Vec fails only on a bug; the header and rows have one fixed length.
    w.write_record(HEADER).expect("a Vec takes any write");
    for e in entries {
        let cells = row(e).cells();
        w.write_record(cells.iter().map(|c| neutralize(c).into_owned()))
            .expect("a Vec takes any write");
    }
    let bytes = w.into_inner().expect("a Vec takes any write");
    String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8")
}
