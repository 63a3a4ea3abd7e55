//! The command line: every command and flag, with its help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the local Genesys Cloud SCIM emulator (OAuth, SCIM groups and users, IdP deltas).
    ///
    /// It listens on 127.0.0.1 only. Point scimsync at it with api_base and login_base set to
    /// the URL it prints, and the client id and secret of the seed file.
    Emulator(EmulatorArgs),
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
