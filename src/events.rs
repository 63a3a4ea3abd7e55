//! Machine-readable events: with `--json`, `plan` and `apply` write one JSON object per line
//! (NDJSON) to stdout instead of their human output, in the style of Terraform's
//! machine-readable UI. The schema is in `docs/events.md`; every event has
//!
//! - `@level`: `info`, `warn` or `error`
//! - `@message`: a human-readable line
//! - `@timestamp`: RFC 3339, UTC
//! - `type`: `version`, `planned_change`, `change_summary`, `apply_progress` or `diagnostic`
//!
//! and the fields of its type. Secrets never appear: events carry ids, names and counts.

use std::io::Write;

use serde_json::{Map, Value, json};

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

    /// Write one event of `kind` with `fields`.
    pub fn emit(self, level: &str, kind: &str, message: &str, fields: Value) {
        if !self.enabled {
            return;
        }
        let mut event = Map::new();
        event.insert("@level".into(), json!(level));
        event.insert("@message".into(), json!(message));
        event.insert(
            "@timestamp".into(),
            json!(
                jiff::Timestamp::now()
                    .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string()
            ),
        );
        event.insert("type".into(), json!(kind));
        if let Value::Object(extra) = fields {
            event.extend(extra);
        }
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, &Value::Object(event));
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }

    /// The first event of every run.
    pub fn version(self, command: &str) {
        self.emit(
            "info",
            "version",
            &format!("scimsync {} {command}", env!("CARGO_PKG_VERSION")),
            json!({"scimsync": env!("CARGO_PKG_VERSION"), "plan_format_version": crate::plan::FORMAT_VERSION, "command": command}),
        );
    }

    /// The last word on a run: an error that stopped it becomes a `diagnostic` event.
    pub fn finish<T>(self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        if let Err(e) = &result {
            self.diagnostic("error", None, &format!("{e:#}"));
        }
        result
    }

    /// A warning or error, optionally about one group.
    pub fn diagnostic(self, level: &str, group: Option<&str>, message: &str) {
        self.emit(level, "diagnostic", message, json!({"group": group}));
    }
}
