//! Machine-readable events: with `--json`, `plan` and `apply` write one JSON object per line
//! (NDJSON) to stdout instead of their human output, in the style of Terraform's
//! machine-readable UI. The schema is in `docs/events.md`; every event has
//!
//! - `@level`: `info`, `warn` or `error`
//! - `@message`: a human-readable line
//! - `@timestamp`: RFC 3339, UTC
//! - `type`: `version`, `planned_change`, `change_summary`, `apply_progress` or `diagnostic`
//!
//! and the fields of its type: one variant of [`Event`] each. Secrets never appear: events
//! carry ids, names and counts.

use crate::model::Sha256Hex;
use std::io::Write;

use jiff::Timestamp;
use serde::Serialize;

use crate::model::{ETag, GroupId, UserId};
use crate::plan::report::{GroupReport, ReplanRef};
use crate::plan::{ChangeReason, PendingReason, SkipReason};

/// How much an event matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Progress.
    Info,
    /// Something a reviewer should see (a pending or skipped user).
    Warn,
    /// A failure.
    Error,
}

/// Add or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A user added.
    Add,
    /// A user removed.
    Remove,
}

/// A user a diagnostic is about, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum UserReason {
    /// Pending: not added yet.
    Pending(PendingReason),
    /// Left alone.
    Skipped(SkipReason),
}

/// One event: its `type` and the fields of that type.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event<'a> {
    /// The first event of every run.
    Version {
        /// The tool's version.
        scimsync: &'static str,
        /// The plan file format it writes.
        plan_format_version: u32,
        /// `plan` or `apply`.
        command: &'a str,
    },
    /// plan: one member change.
    PlannedChange {
        /// The config's group name.
        group: &'a str,
        /// The Genesys group.
        group_id: &'a GroupId,
        /// Its display name.
        display_name: &'a str,
        /// Add or remove.
        action: Action,
        /// The Genesys user id.
        user: &'a UserId,
        /// Its label.
        label: &'a str,
        /// Why.
        reason: Option<ChangeReason>,
        /// The ETag the change is planned against.
        etag: Option<&'a ETag>,
        /// What it grants or takes away (`grants Supervisor in Home`, `roles unknown`);
        /// absent when the group grants no role or its roles were not read.
        #[serde(skip_serializing_if = "Option::is_none")]
        grants: Option<String>,
        /// True when the group grants a privileged role; absent when false.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        privileged: bool,
    },
    /// plan: the totals; the last event of a successful plan.
    #[serde(rename = "change_summary")]
    PlanSummary {
        /// Always `plan`.
        operation: &'static str,
        /// Users added.
        add: usize,
        /// Users removed.
        remove: usize,
        /// Pending users.
        pending: usize,
        /// Groups planned.
        groups: usize,
        /// Groups with changes.
        groups_changed: usize,
        /// Changes to privileged groups; absent when 0.
        #[serde(skip_serializing_if = "is_zero")]
        privileged: usize,
        /// The plan's digest.
        sha256: &'a Sha256Hex,
    },
    /// apply: one group's outcome.
    ApplyProgress(&'a GroupReport),
    /// apply: the totals; the last event of a finished apply.
    #[serde(rename = "change_summary")]
    ApplySummary {
        /// Always `apply`.
        operation: &'static str,
        /// Groups applied.
        applied: usize,
        /// Groups that needed nothing.
        converged: usize,
        /// Groups refused as stale or superseded.
        stale: usize,
        /// Groups that failed.
        failed: usize,
        /// The re-plan written, if any.
        replan: Option<&'a ReplanRef>,
        /// The exit code.
        exit_code: u8,
    },
    /// A pending or skipped user, a group that failed or tripped a guard, or an error that
    /// stopped the run (`group` null then).
    Diagnostic {
        /// The config's group name, if about one group.
        group: Option<&'a str>,
        /// The user, if about one user.
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<&'a str>,
        /// Why, if about one user.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<UserReason>,
        /// True for a pending user.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        pending: bool,
    },
}

/// The envelope every event is written in.
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "@level")]
    level: Level,
    #[serde(rename = "@message")]
    message: &'a str,
    #[serde(rename = "@timestamp")]
    timestamp: String,
    #[serde(flatten)]
    event: &'a Event<'a>,
}

/// Where events go (stdout), or nowhere when `--json` was not given.
#[derive(Debug, Clone, Copy)]
pub struct Events {
    enabled: bool,
}

impl Events {
    /// Events on stdout when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    /// True when events are written (and the human output is not).
    pub fn enabled(self) -> bool {
        self.enabled
    }

    /// Write `event` with its level and message, stamped now.
    pub fn emit(self, level: Level, message: &str, event: &Event<'_>) {
        if !self.enabled {
            return;
        }
        let envelope = Envelope {
            level,
            message,
            timestamp: Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string(),
            event,
        };
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, &envelope);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }

    /// The first event of every run.
    pub fn version(self, command: &str) {
        self.emit(
            Level::Info,
            &format!("scimsync {} {command}", env!("CARGO_PKG_VERSION")),
            &Event::Version {
                scimsync: env!("CARGO_PKG_VERSION"),
                plan_format_version: crate::plan::FORMAT_VERSION,
                command,
            },
        );
    }

    /// The last word on a run: an error that stopped it becomes a `diagnostic` event.
    pub fn finish<T>(self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        if let Err(e) = &result {
            self.diagnostic(Level::Error, None, &format!("{e:#}"));
        }
        result
    }

    /// A warning or error, optionally about one group.
    pub fn diagnostic(self, level: Level, group: Option<&str>, message: &str) {
        self.emit(
            level,
            message,
            &Event::Diagnostic {
                group,
                user: None,
                reason: None,
                pending: false,
            },
        );
    }
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &usize) -> bool {
    *n == 0
}
