//! scimsync keeps Genesys Cloud group memberships in line with an identity provider, the way
//! Terraform keeps infrastructure in line with code: `plan` reads IdP deltas and the live
//! groups and writes a plan; `apply` replays exactly that plan, each PATCH under the ETag read
//! at plan time, and refuses a group that moved in between.
//!
//! # Layout
//!
//! | module | its job |
//! |---|---|
//! | `main.rs` | parses the command line, calls [`run`], maps errors to exit codes |
//! | [`cli`] | clap definitions of every command and flag (`--config` once, as `ConfigArg`; `--format` mapped to the renderers) |
//! | [`exit_code`] | the exit codes, and how an apply's group outcomes merge into one |
//! | [`model`] | the vocabulary every layer speaks: ids ([`model::UserId`], [`model::GroupId`], [`model::IdpKey`], [`model::Sha256Hex`]), ETags, cursors, member sets and changes, a group's live snapshot, the IdP's answer and intent, the mapping of a `[[group]]`, the safety policy, the roles a group grants as read ([`model::RoleGrant`]) and `[review]` ([`model::Review`]), kinds of target and source |
//! | [`endpoint`] | checked base URLs: https, or http only to loopback |
//! | `http` | what both sides share: the HTTP client builder, the retry policy ([`retry`]), one OAuth client-credentials token source (Genesys and Graph) |
//! | [`plan`] | pure: plan types, the planner, [`plan::basis`] (what a group is planned from: a read, a stale plan, a superseded plan), [`plan::settle`] (what apply does with each group), [`plan::check`] (a plan against today's config and against itself), [`plan::grants`] (what a change grants, the privileged rule, how grants moved), renderers, apply reports, escaping; its one I/O is the plan file ([`plan::file`], atomic) |
//! | [`source`] | identity-provider readers, a closed enum dispatched by `match`: delta endpoint, Microsoft Graph, Okta, declarative file |
//! | [`scim`] | the SCIM side (Genesys or any RFC 7644 server): wire types, HTTP policy and pacing, groups, users, the roles a group grants ([`scim::grants`]), chunked and verified PATCH |
//! | `config` | the TOML config by section (target with the Genesys regions, source, state), validated with precise messages |
//! | [`state`] | the state (cursors, mirrors, serials, resolution cache, the journal's head), advanced only after a successful apply; its stores (local file; S3, GCS, Azure with compare-and-swap writes), the journal's store beside it ([`state::journal_store`]: a JSONL file, or create-only segments), the apply lock, and apply's ledger (group commit) |
//! | [`journal`] | pure: the audit journal's records (one per change apply made, one per group outcome, with the approval behind them), the hash chain and its check against the state's head, who and where from CI variables, what apply journals and how a killed run is settled ([`journal::entry`]), the queries and exports of `scimsync log` and the access review |
//! | `atomic_file` | temp file + rename, owner-only, through symlinks: plan and state files are never half-written |
//! | `events` | `--json`: NDJSON events of plan and apply, one tagged enum (schema in docs/events.md) |
//! | [`emulator`] | a local Genesys Cloud SCIM + OAuth + IdP server with fault injection, and the Platform API's user and grant reads |
//! | [`commands`] | each command's I/O around the pure parts: `plan/` (the read pipeline, user look-ups), `apply/` (a group's PATCHes, the grants' re-check, the re-plan, the run's journal), show, validate, state, log and report (the journal's read side), emulator, demo (which runs the other commands as processes), and what they share (the client setup, labels, the grant read, the group failure) |
//!
//! Imports point one way: `commands` → `plan`, `source`, `scim`, `state`, `config` →
//! `model` (and the leaves `endpoint`, `http`, `atomic_file`, `exit_code`); `source` and
//! `scim` import neither each other nor `config`, `plan` imports only `model` and
//! `atomic_file`, `journal` only `model` and `plan` (its records name plans' reasons and
//! outcomes; the store that keeps its lines knows only lines and hashes), and the emulator shares only the wire types with the client. No command imports another, and no two files depend on each other in a circle.
//! `tests/layers.rs` checks all of this on the source.
//!
//! # One type per stage
//!
//! A group, as it flows:
//!
//! | stage | type |
//! |---|---|
//! | config | [`model::Mapping`] (one `[[group]]`; a plan records the one it was planned under) |
//! | the IdP's answer | [`model::Answer`], then [`plan::basis::IdpIntent`] (desired set and [`model::Intent`]) |
//! | on the wire | [`scim::wire::Group`] (what the emulator writes and the client can write), read through its borrowed twin [`scim::wire::GroupRead`] so that a large group is parsed without a copy per member |
//! | live | [`model::GroupSnapshot`] |
//! | the planner's input | [`plan::planner::GroupInput`], built only by [`plan::basis::group_input`] |
//! | plan | [`plan::GroupPlan`] |
//! | state | [`state::GroupRecord`] |
//! | report | [`plan::report::GroupReport`] |
//! | journal | [`journal::GroupRef`] in [`journal::Record`]s |
//!
//! A member: [`model::IdpKey`] on the IdP side (mirror, cache, intent, pending),
//! [`model::UserId`] on the Genesys side (member sets, changes), [`plan::Resolution`]
//! between them, [`scim::wire::MemberRef`] on the wire, [`model::TargetUser`] from a
//! look-up.

#![forbid(unsafe_code)]

/// Unit tests' snapshots: in the top-level `snapshots/`, named without the module path
/// (as the integration tests' `snapshot!`).
#[cfg(test)]
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

mod atomic_file;
pub mod cli;
pub mod commands;
mod config;
pub mod emulator;
pub mod endpoint;
mod events;
pub mod exit_code;
mod http;
pub mod journal;
pub mod model;
pub mod plan;
pub mod scim;
pub mod source;
pub mod state;

pub use http::redact;
pub use http::retry;
// What the binary, the tests and the benchmark use of the private modules.
pub use config::Config;

use cli::{Cli, Command};
use exit_code::ExitCode;

/// Run the command `cli` describes.
pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    init_logging(cli.verbose, cli.quiet);
    commands::set_quiet(cli.quiet);
    if let Command::Completions { shell } = &cli.command {
        let mut command = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(*shell, &mut command, "scimsync", &mut std::io::stdout());
        return Ok(ExitCode::Success);
    }
    runtime()?.block_on(async {
        match &cli.command {
            Command::Plan(args) => commands::plan::run(args, &commands::process_env).await,
            Command::Show(args) => commands::show::run(args),
            Command::Apply(args) => commands::apply::run(args, &commands::process_env).await,
            Command::Demo(args) => commands::demo::run(args).await,
            Command::State(command) => commands::state::run(command).await,
            Command::Completions { .. } => Ok(ExitCode::Success),
            Command::Validate(args) => commands::validate::run(args, &commands::process_env).await,
            Command::Emulator(args) => commands::emulator::run(args).await,
            Command::Log(args) => commands::log::run(args).await,
            Command::Report(command) => commands::report::run(command).await,
        }
    })
}

/// The runtime every command runs on: one thread. scimsync waits on the network; its CPU
/// work (JSON, the planner) gains nothing from a second worker, while a multi-threaded
/// runtime pays wake-ups and hand-offs between threads on every request (measured by
/// `examples/bench.rs --runtime current|multi`; README, "Performance").
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Colour only on a terminal, and never when `NO_COLOR` is set (<https://no-color.org>).
pub fn colour(stream: &impl std::io::IsTerminal) -> bool {
    colour_for(stream.is_terminal(), std::env::var_os("NO_COLOR"))
}

/// [`colour`]'s rule, given whether the stream is a terminal and `NO_COLOR`'s value.
pub fn colour_for(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The log filter for `-q` / `-v` / `-vv`: scimsync's own events only. `-vv` adds one line
/// per HTTP request (from `scim::http`); the HTTP stack's internals (reqwest, hyper,
/// rustls, h2) stay off at every level, since no directive names them.
pub fn log_filter(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "scimsync=error",
        (false, 0) => "scimsync=info",
        (false, 1) => "scimsync=debug",
        (false, _) => "scimsync=trace",
    }
}

/// Logs go to stderr (stdout is for plans); `RUST_LOG` overrides `-v`.
fn init_logging(verbose: u8, quiet: bool) {
    let default = log_filter(verbose, quiet);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Every log line passes through the one redaction of secrets (issue 20, finding 14).
        .with_writer(http::redact::Stderr::default)
        .with_target(false)
        .with_ansi(colour(&std::io::stderr()));
    // Timestamps only when debugging: a plain run reads like a CLI, not a server log.
    let _ = if verbose > 0 {
        builder.try_init()
    } else {
        builder.without_time().try_init()
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_only_on_terminals_without_no_color() {
        use super::colour_for;
        assert!(colour_for(true, None));
        assert!(colour_for(true, Some("".into())));
        assert!(!colour_for(true, Some("1".into())));
        assert!(!colour_for(false, None));
    }
}
