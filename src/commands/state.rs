//! `scimsync state show` and `scimsync state reset --group NAME`.

use crate::cli::StateCommand;
use crate::config::Config;
use crate::exit_code::ExitCode;
use crate::state::{State, StateLock};

/// Run a `scimsync state` command.
pub fn run(command: &StateCommand) -> anyhow::Result<ExitCode> {
    match command {
        StateCommand::Show { config } => {
            let config = Config::load(config)?;
            let state = State::load(&config.state_path)?;
            println!("state file {}", config.state_path.display());
            for g in &config.groups {
                match state.groups.get(&g.name) {
                    None => println!(
                        "  {:<20} no cursor (the next plan reads the whole membership)",
                        g.name
                    ),
                    Some(r) => println!(
                        "  {:<20} cursor {}, ETag {}, applied {}, plan {}",
                        g.name,
                        r.cursor.as_ref().map_or("(none)", |c| c.as_str()),
                        r.etag.as_ref().map_or("(none)", |e| e.as_str()),
                        r.applied_at.as_deref().unwrap_or("never"),
                        r.plan_sha256
                            .as_deref()
                            .map_or("(none)", |s| &s[..s.len().min(12)]),
                    ),
                }
            }
            for name in state
                .groups
                .keys()
                .filter(|n| !config.groups.iter().any(|g| &g.name == *n))
            {
                println!("  {name:<20} (not in the config any more)");
            }
            Ok(ExitCode::Success)
        }
        StateCommand::Reset { config, group } => {
            let config = Config::load(config)?;
            config.select(group)?;
            let _lock = StateLock::acquire(&config.state_path)?;
            let mut state = State::load(&config.state_path)?;
            for name in group {
                match state.groups.remove(name) {
                    Some(_) => {
                        println!("reset {name}: its next plan reads the whole IdP membership")
                    }
                    None => println!("{name} had no cursor"),
                }
            }
            state.save(&config.state_path)?;
            Ok(ExitCode::Success)
        }
    }
}
