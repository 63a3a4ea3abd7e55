//! `scimsync report access [--format markdown|csv]`: the journal beside the config's state,
//! folded for the config's groups (`journal::access`), printed.

use crate::cli::{AccessFormat, ReportCommand};
use crate::config::Config;
use crate::exit_code::ExitCode;
use crate::journal::{access, query};

/// Run a `scimsync report` command.
pub async fn run(command: &ReportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ReportCommand::Access { config, format } => {
            let config = Config::load(&config.path)?;
            let store = config.state.journal();
            let lines = store.lines().await?;
            let journal = store.describe();
            let entries = query::parse(&lines, &journal)?;
            let review = access::review(&entries, &config.groups);
            match format {
                AccessFormat::Markdown => print!("{}", access::markdown(&review, &journal)),
                AccessFormat::Csv => print!("{}", access::csv(&review)),
            }
            Ok(ExitCode::Success)
        }
    }
}
