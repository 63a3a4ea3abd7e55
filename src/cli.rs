//! The command line: every command and flag, with its help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::plan::render::Format;

/// Keep Genesys Cloud group memberships in line with an identity provider, plan/apply style.
///
/// `plan` reads the IdP's membership changes and the live Genesys groups and writes a plan
/// for a human to approve; `apply` replays exactly that plan, each PATCH under the ETag read
/// at plan time, and refuses a group that moved in between.
///
/// Exit codes: 0 success, 1 error, 2 changes present (plan --detailed-exitcode),
/// 3 stale plan refused (re-plan written), 4 a safety guard stopped the plan.
#[derive(Debug, Parser)]
#[command(name = "scimsync", version, about, long_about)]
pub struct Cli {
    /// Log more (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Log only errors, and show no progress bars.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the IdP's membership changes and the live Genesys groups; print (and write) a plan.
    ///
    /// Nothing is changed in Genesys Cloud. The plan holds, per group, the changes reconciled
    /// against the group as it is now and the ETag read, so that apply can refuse a group that
    /// moved since. A group that fails or trips a safety guard means no plan is written.
    Plan(PlanArgs),
    /// Render a plan file (table, markdown for a pull-request comment, or JSON).
    Show(ShowArgs),
    /// Apply exactly an approved plan, each PATCH under the ETag read at plan time.
    ///
    /// A group that changed since the plan is refused (never patched with a fresh ETag): it is
    /// re-planned from the same IdP intent against its current state, the re-plan is written
    /// (--replan-out), the difference is shown, and the exit code is 3 so that the re-plan goes
    /// back for approval. A group's IdP cursor advances only once its changes are applied.
    Apply(ApplyArgs),
    /// Check the config, the state store, credentials, every mapped group and the IdP, as a
    /// checklist.
    Validate(ValidateArgs),
    /// Show, reset, unlock or copy the state (per-group IdP cursors, mirrors, resolved users).
    #[command(subcommand)]
    State(StateCommand),
    /// Query and export the audit journal that apply keeps; `log verify` checks its chain.
    ///
    /// One record per change apply made in Genesys Cloud (and per group outcome and run),
    /// with the plan and the approval behind it: the schema and the export mappings are in
    /// docs/journal.md. Filters combine with "and"; a repeated --group or --user matches
    /// any of its values. By default only change records are shown; with --all, and in
    /// --format json, every kind of record (unfiltered json is a copy of the journal that
    /// verifies).
    Log(LogArgs),
    /// Reports from the journal: `report access`, who is in each mapped group by
    /// scimsync's hand and under whose approval.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// e.g. `scimsync completions bash > /etc/bash_completion.d/scimsync`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Show the whole story on an embedded emulator: plan, apply, drift, refusal, re-plan.
    ///
    /// Needs no account, credentials or network; it runs on 127.0.0.1 and ends in seconds.
    Demo(DemoArgs),
    /// Run the local Genesys Cloud SCIM emulator (OAuth, SCIM groups and users, IdP deltas).
    ///
    /// It listens on 127.0.0.1 only. Point scimsync at it with api_base and login_base set to
    /// the URL it prints, and the client id and secret of the seed file.
    Emulator(EmulatorArgs),
}

/// Arguments of `scimsync plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArg,

    /// Write the plan file here (atomically; owner-only).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// How to print the plan.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,

    /// Exit 2 when the plan has changes, 0 when it has none (for CI).
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Plan only this group (the config's group name); repeatable.
    #[arg(long, value_name = "NAME")]
    pub group: Vec<String>,

    /// Allow up to N removals per group, replacing both safety limits for this plan
    /// (recorded in the plan as overridden).
    #[arg(long, value_name = "N")]
    pub allow_removals: Option<usize>,

    /// Fail when an IdP user does not exist in Genesys Cloud, instead of skipping it.
    #[arg(long)]
    pub strict: bool,

    /// Write NDJSON events to stdout instead of the rendered plan (schema: docs/events.md).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `scimsync show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The plan file.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    /// How to print it.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
}

/// Arguments of `scimsync demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the demo's files (config, plans, state, journal) in this folder, created if
    /// missing and required to be empty, instead of a temporary folder removed at the end:
    /// `scimsync log --config DIR/scimsync.toml` then reads its journal.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Arguments of `scimsync apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The approved plan file.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    #[command(flatten)]
    pub config: ConfigArg,

    /// The sha256 a human approved: the plan must have exactly this digest.
    #[arg(long, value_name = "HEX")]
    pub expect_sha256: Option<String>,

    /// Where to write the re-plan of groups that moved (default: PLAN with .replan before
    /// its extension, e.g. plan.replan.json).
    #[arg(long, value_name = "FILE")]
    pub replan_out: Option<PathBuf>,

    /// Apply a moved group's re-plan at once when its changes are a subset of the approved
    /// ones (each of them was approved); the output says so.
    #[arg(long)]
    pub apply_replan_if_subset: bool,

    /// Refuse a plan older than this (e.g. `24h`, `7d`). Without it, a plan older than 7
    /// days is applied with a warning.
    #[arg(long, value_name = "AGE")]
    pub max_plan_age: Option<jiff::Span>,

    /// Who approved this plan (a name, a login, an email), recorded in the journal with
    /// every change it makes. Default: `SCIMSYNC_APPROVED_BY`.
    #[arg(long, value_name = "WHO")]
    pub approved_by: Option<String>,

    /// Where it was approved: a pull request, a change ticket (`acme/idp#42`,
    /// `CHG0012345`), recorded in the journal. Default: `SCIMSYNC_CHANGE_REF`. The CI run
    /// (GitHub Actions, GitLab CI) is recorded from its own variables.
    #[arg(long, value_name = "REF")]
    pub change_ref: Option<String>,

    /// How to report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Write NDJSON events to stdout instead of the report (schema: docs/events.md).
    #[arg(long)]
    pub json: bool,
}

/// `--format` of `plan` and `show`: how a plan is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FormatArg {
    /// A table and the member changes of each group.
    #[default]
    Table,
    /// Markdown for a pull-request comment.
    Markdown,
    /// The plan file's JSON.
    Json,
}

impl From<FormatArg> for Format {
    fn from(arg: FormatArg) -> Self {
        match arg {
            FormatArg::Table => Self::Table,
            FormatArg::Markdown => Self::Markdown,
            FormatArg::Json => Self::Json,
        }
    }
}

/// How `apply` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// A line per group, the re-plan's diff, a summary.
    #[default]
    Text,
    /// The report as JSON.
    Json,
}

/// `scimsync state …`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print each group's serial, cursor, mirror size, last ETag, last apply and plan, and the
    /// size of the resolution cache.
    Show {
        #[command(flatten)]
        config: ConfigArg,
        /// Also list each group's mirror (the IdP members it remembers) and every cached user.
        #[arg(long)]
        members: bool,
    },
    /// Forget a group's cursor, keeping its mirror: its next plan reads the whole IdP
    /// membership (a resync) and, since the mirror still says who the IdP had granted,
    /// removes the users the IdP revoked in the meantime (within the guards). The way out of
    /// a stuck IdP cursor; an expired one (HTTP 410) resyncs by itself.
    Reset {
        #[command(flatten)]
        config: ConfigArg,
        /// The group (the config's name); repeatable.
        #[arg(long, value_name = "NAME", required = true)]
        group: Vec<String>,
        /// Also forget the group's mirror. The next plan then cannot tell a revoked user from
        /// one added by hand, so in `delta` mode it removes nobody: users the IdP revoked
        /// meanwhile keep their access until removed by hand or by a `full` plan.
        #[arg(long)]
        forget_mirror: bool,
    },
    /// Remove the apply lock of a state in object storage whose holder died (an apply that
    /// was killed). Shows who holds it and asks first; on no terminal, needs --force.
    Unlock {
        #[command(flatten)]
        config: ConfigArg,
        /// Remove it without asking. Only when that holder is surely dead: two applies at
        /// once could each undo the other's state.
        #[arg(long)]
        force: bool,
    },
    /// Copy the configured state to another store, e.g. from the local file to a bucket
    /// (then point `[state] url` at it). Refuses to overwrite another state (lineage) or a
    /// newer one.
    Push {
        #[command(flatten)]
        config: ConfigArg,
        /// Where to: s3://bucket/key, gs://bucket/key, az://container/key, file:///path or
        /// a path.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Copy a state from another store into the configured one. Refuses to overwrite
    /// another state (lineage) or a newer one.
    Pull {
        #[command(flatten)]
        config: ConfigArg,
        /// Where from: s3://bucket/key, gs://bucket/key, az://container/key, file:///path or
        /// a path.
        #[arg(long, value_name = "URL")]
        from: String,
    },
}

/// Arguments of `scimsync log`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LogArgs {
    /// `log verify`.
    #[command(subcommand)]
    pub command: Option<LogCommand>,

    #[command(flatten)]
    pub config: ConfigArg,

    /// Only records of this group: the config's name, the Genesys group id or its display
    /// name, in any case; repeatable (any of them).
    #[arg(long, value_name = "NAME")]
    pub group: Vec<String>,

    /// Only changes of this user: the Genesys user id, the IdP key or the label, in any
    /// case; repeatable (any of them).
    #[arg(long, value_name = "USER")]
    pub user: Vec<String>,

    /// Only records written at or after this: an RFC 3339 timestamp
    /// (2026-12-01T09:00:00Z), a date (2026-12-01, midnight UTC), or a span back from now
    /// (30d, 12h, 2w; a day is 24 hours).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,

    /// Only records of this plan (or of a re-plan of it): its sha256, or at least its
    /// first 8 hex digits.
    #[arg(long, value_name = "SHA")]
    pub plan: Option<String>,

    /// Also the run and group outcome records (run_started, outcome, run_ended, pruned),
    /// in table, csv and json. OCSF and ECS have events for changes only.
    #[arg(long)]
    pub all: bool,

    /// How to print: a table for a person; json, the records exactly as stored (JSON
    /// Lines, every kind of record); csv (formulas neutralized with a leading ');
    /// ocsf (Group Management events, class 3006) or ecs (Elastic Common Schema) for a SIEM.
    #[arg(long, value_enum, default_value_t = LogFormat::Table)]
    pub format: LogFormat,
}

/// `scimsync log …`.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Check the journal's hash chain against the state's record of its ends: exits 1
    /// naming the first record that was edited, removed or cut off.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `--format` of `scimsync log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// A table for a person.
    #[default]
    Table,
    /// The records as stored, one JSON object per line (docs/journal.md).
    Json,
    /// CSV with a header row.
    Csv,
    /// OCSF Group Management events, one per line.
    Ocsf,
    /// Elastic Common Schema documents, one per line.
    Ecs,
}

/// `scimsync report …`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// For each mapped group: who is in it by scimsync's hand, since when, and by which
    /// approved plan and approver (from the journal), for an access review. Members added
    /// by hand, or before the journal's first record, are not listed.
    Access {
        #[command(flatten)]
        config: ConfigArg,
        /// Markdown (a section per group) or CSV (a row per member).
        #[arg(long, value_enum, default_value_t = AccessFormat::Markdown)]
        format: AccessFormat,
    },
}

/// `--format` of `scimsync report access`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AccessFormat {
    /// A section and a table per group.
    #[default]
    Markdown,
    /// A row per member, with a header row.
    Csv,
}

/// `--config FILE`, shared by every command that reads the config.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// The config file (relative paths in it are relative to it).
    #[arg(
        long = "config",
        short = 'c',
        value_name = "FILE",
        default_value = crate::config::DEFAULT_PATH
    )]
    pub path: PathBuf,
}

impl ConfigArg {
    /// `--config path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

/// Arguments of `scimsync validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
}

/// Arguments of `scimsync emulator`.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// The port to listen on (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// A seed file (TOML: clients, users, groups, IdP groups, options); see
    /// examples/emulator-seed.toml. Without it, that sample is used.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
}
