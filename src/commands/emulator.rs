//! `scimsync emulator`: serve the emulator until Ctrl-C.

use anyhow::Context;

use crate::cli::EmulatorArgs;
use crate::emulator::{self, Emulator, Seed};
use crate::exit_code::ExitCode;

/// Run the emulator on 127.0.0.1:`args.port` until interrupted.
pub async fn run(args: &EmulatorArgs) -> anyhow::Result<ExitCode> {
    let (text, path) = match &args.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read seed file {}", path.display()))?;
            (text, path.display().to_string())
        }
        None => (
            emulator::seed::SAMPLE.to_owned(),
            "examples/emulator-seed.toml (built in)".to_owned(),
        ),
    };
    let seed = Seed::parse(&text, &path)?;
    let emu = Emulator::from_seed(&seed, &path)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on 127.0.0.1:{}: is the port in use? try --port 0",
                args.port
            )
        })?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    println!("scimsync emulator listening on {base} (seed: {path})");
    println!();
    println!("  [target]");
    println!("  api_base = \"{base}\"");
    println!("  login_base = \"{base}\"");
    println!("  [source]");
    println!("  kind = \"delta-http\"");
    println!("  base_url = \"{base}\"");
    println!();
    let clients: Vec<&str> = seed.clients.iter().map(|c| c.id.as_str()).collect();
    println!(
        "  OAuth clients: {} (secrets as in the seed file)",
        clients.join(", ")
    );
    println!(
        "  groups: {}",
        seed.groups
            .iter()
            .map(|g| format!("{} ({})", g.display_name, g.id))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!("Press Ctrl-C to stop.");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    emulator::serve(listener, emu, shutdown).await?;
    Ok(ExitCode::Success)
}
