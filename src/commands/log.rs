//! `scimsync log [--group …] [--user …] [--since …] [--plan …] [--all] [--format …]` and
//! `scimsync log verify`: read the journal beside the config's state, select
//! (`journal::query`), print (`journal::export`); or check its chain against the state's
//! head (`journal::chain::verify`).

use crate::cli::{ConfigArg, LogArgs, LogCommand, LogFormat};
use crate::config::Config;
use crate::exit_code::ExitCode;
use crate::journal::chain::{self, Broken};
use crate::journal::export::{self, Context, Format};
use crate::journal::query::{self, Query};

/// A journal whose chain does not hold.
#[derive(Debug, thiserror::Error)]
#[error(
    "journal {journal}: {broken}. The journal is not as apply wrote it: keep this copy as evidence, compare it with the copy your SIEM holds (what `scimsync log --format ocsf|ecs` exported) or with a backup, and restore it from there"
)]
pub struct BrokenJournal {
    /// The journal file or prefix.
    pub journal: String,
    /// Where and why.
    pub broken: Broken,
}

/// Run `scimsync log`.
pub async fn run(args: &LogArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        Some(LogCommand::Verify { config }) => verify(config).await,
        None => show(args).await,
    }
}

fn format(arg: LogFormat) -> Format {
    match arg {
        LogFormat::Table => Format::Table,
        LogFormat::Json => Format::Json,
        LogFormat::Csv => Format::Csv,
        LogFormat::Ocsf => Format::Ocsf,
        LogFormat::Ecs => Format::Ecs,
    }
}

async fn show(args: &LogArgs) -> anyhow::Result<ExitCode> {
    let format = format(args.format);
    // The flags first: a mistyped one fails before any read.
    let query = Query {
        groups: args.group.clone(),
        users: args.user.clone(),
        since: args
            .since
            .as_deref()
            .map(|s| query::since(s, jiff::Timestamp::now()))
            .transpose()?,
        plan: args.plan.as_deref().map(str::parse).transpose()?,
        kinds: format.kinds(args.all)?,
    };
    let config = Config::load(&args.config.path)?;
    let store = config.state.journal();
    let lines = store.lines().await?;
    let entries = query::parse(&lines, &store.describe())?;
    let ctx = Context::of(&entries, env!("CARGO_PKG_VERSION"));
    print!("{}", export::render(&query.select(&entries), format, &ctx));
    Ok(ExitCode::Success)
}

async fn verify(config: &ConfigArg) -> anyhow::Result<ExitCode> {
    let config = Config::load(&config.path)?;
    let state = config.state.load().await?.state;
    let store = config.state.journal();
    let journal = store.describe();
    let lines = store.lines().await?;
    let head = state.journal.as_ref();
    let verified =
        chain::verify(lines.iter().map(String::as_str), head).map_err(|broken| BrokenJournal {
            journal: journal.clone(),
            broken,
        })?;
    let Some((first, last)) = verified.ends.clone() else {
        println!(
            "journal {journal}: no records, and the state names none: nothing to check yet (apply writes it when it changes a group)"
        );
        return Ok(ExitCode::Success);
    };
    println!(
        "journal {journal}: {} record(s) checked, records {first} to {}; the chain holds",
        verified.records, last.seq
    );
    match head {
        Some(h) => {
            if first < h.first_seq {
                println!(
                    "it starts at record {first}, before the state's start (record {}): records a prune had yet to remove when its apply stopped (the next prune removes them); it holds the state's newest record ({}) unchanged",
                    h.first_seq, h.last_seq
                );
            } else {
                println!(
                    "it starts where the state says (record {}) and holds the state's newest record ({}) unchanged",
                    h.first_seq, h.last_seq
                );
            }
            if verified.after_head > 0 {
                println!(
                    "{} record(s) after the state's head (record {}): written by an apply that stopped before its state write; the next apply settles them",
                    verified.after_head, h.last_seq
                );
            } else {
                println!("0 records after the state's head");
            }
        }
        None => eprintln!(
            "warning: state {} holds no journal head (no journaled apply has written it): the chain was checked on its own, and nothing vouches for its ends",
            config.state.describe()
        ),
    }
    Ok(ExitCode::Success)
}
