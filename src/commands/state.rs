//! `scimsync state show | reset --group NAME | unlock [--force] | push --to URL | pull --from URL`.

use crate::model::Sha256Hex;
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::Path;

use crate::cli::StateCommand;
use crate::config::Config;
use crate::exit_code::ExitCode;
use crate::state::{State, Store};

/// Run a `scimsync state` command.
pub async fn run(command: &StateCommand) -> anyhow::Result<ExitCode> {
    match command {
        StateCommand::Show { config, members } => {
            let config = Config::load(&config.path)?;
            let state = config.state.load().await?.state;
            print!("{}", show(&config, &state, *members));
            Ok(ExitCode::Success)
        }
        StateCommand::Reset {
            config,
            group,
            forget_mirror,
        } => {
            let config = Config::load(&config.path)?;
            config.select(group)?;
            let lock = config.state.lock().await?;
            let result = reset(&config, group, *forget_mirror).await;
            lock.release().await;
            result
        }
        StateCommand::Unlock { config, force } => {
            let config = Config::load(&config.path)?;
            unlock(&config.state, *force).await
        }
        StateCommand::Push { config, to } => {
            let config = Config::load(&config.path)?;
            let to = Store::parse(to, Path::new(""))?;
            copy(&config.state, &to).await
        }
        StateCommand::Pull { config, from } => {
            let config = Config::load(&config.path)?;
            let from = Store::parse(from, Path::new(""))?;
            copy(&from, &config.state).await
        }
    }
}

async fn copy(from: &Store, to: &Store) -> anyhow::Result<ExitCode> {
    let state = from.copy_to(to).await?;
    println!(
        "copied state {} to {} (lineage {}, {} group(s), {} user(s) resolved)",
        from.describe(),
        to.describe(),
        state.lineage.as_ref().map_or("(none)", |l| l.as_str()),
        state.groups.len(),
        state.users.len()
    );
    Ok(ExitCode::Success)
}

async fn unlock(store: &Store, force: bool) -> anyhow::Result<ExitCode> {
    let Some(holder) = store.holder().await? else {
        println!("state {} is not locked; nothing to do", store.describe());
        return Ok(ExitCode::Success);
    };
    if !force {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "state {} is locked by {holder}; not removing it without confirmation (no terminal to ask on): if that run is dead, run `scimsync state unlock --force`",
                store.describe()
            );
        }
        eprint!(
            "State {} is locked by {holder}.\nRemove the lock? Only if that run is dead: two applies at once can undo each other's state. [y/N] ",
            store.describe()
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            println!("lock kept");
            return Ok(ExitCode::Error);
        }
    }
    store.unlock().await?;
    println!("removed the lock of state {} ({holder})", store.describe());
    Ok(ExitCode::Success)
}

async fn reset(config: &Config, group: &[String], forget_mirror: bool) -> anyhow::Result<ExitCode> {
    let mut loaded = config.state.load().await?;
    for name in group {
        let Some(record) = loaded.state.groups.get_mut(name) else {
            println!("{name}: nothing recorded; its next plan reads the whole membership");
            continue;
        };
        record.cursor = None;
        record.serial += 1;
        if forget_mirror {
            record.idp_members = None;
            println!(
                "reset {name}: cursor and mirror forgotten. Its next plan reads the whole IdP membership as additions only: users the IdP revoked meanwhile are NOT removed in delta mode"
            );
        } else {
            println!(
                "reset {name}: cursor forgotten, mirror kept ({} member(s)). Its next plan reads the whole IdP membership and removes the users the IdP revoked since",
                record
                    .idp_members
                    .as_ref()
                    .map_or(0, std::collections::BTreeSet::len)
            );
        }
    }
    config
        .state
        .save(&mut loaded.state, loaded.version.as_ref())
        .await?;
    Ok(ExitCode::Success)
}

/// `state show`'s text.
fn show(config: &Config, state: &State, members: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "state {} (format {}, lineage {}), {} user(s) resolved",
        config.state.describe(),
        state.format_version,
        state
            .lineage
            .as_ref()
            .map_or("(not written yet)", |l| l.as_str()),
        state.users.len()
    );
    for g in &config.groups {
        let Some(r) = state.groups.get(&g.idp_group) else {
            let _ = writeln!(
                out,
                "  {:<20} nothing recorded (the next plan reads the whole membership)",
                g.idp_group
            );
            continue;
        };
        let mirror = r.idp_members.as_ref().map_or_else(
            || "unknown (the next plan reads the whole membership, removes nothing)".into(),
            |m| format!("{} member(s)", m.len()),
        );
        let _ = writeln!(
            out,
            "  {:<20} serial {}, cursor {}, mirror {mirror}, ETag {}, applied {}, plan {}",
            g.idp_group,
            r.serial,
            r.cursor.as_ref().map_or("(none)", |c| c.as_str()),
            r.etag.as_ref().map_or("(none)", |e| e.as_str()),
            r.applied_at
                .as_ref()
                .map_or_else(|| "never".into(), ToString::to_string),
            r.plan_sha256.as_ref().map_or("(none)", Sha256Hex::short),
        );
        if members && let Some(m) = &r.idp_members {
            for key in m {
                let _ = writeln!(out, "      {key}");
            }
        }
    }
    for name in state
        .groups
        .keys()
        .filter(|n| !config.groups.iter().any(|g| &g.idp_group == *n))
    {
        let _ = writeln!(out, "  {name:<20} (not in the config any more)");
    }
    if members {
        let _ = writeln!(out, "resolved users:");
        for (key, u) in &state.users {
            let _ = writeln!(
                out,
                "  {key} → {} ({}), confirmed {}",
                u.id, u.label, u.confirmed_at
            );
        }
    }
    out
}
