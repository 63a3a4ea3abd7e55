//! `scimsync emulator`: serve the emulator until Ctrl-C.

use std::io::Write;

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
            emulator::SAMPLE.to_owned(),
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
    let clients: Vec<&str> = seed.clients.iter().map(|c| c.id.as_str()).collect();
    let groups: Vec<String> = seed
        .groups
        .iter()
        .map(|g| format!("{} ({})", g.display_name, g.id))
        .collect();
    let banner = format!(
        "scimsync emulator listening on {base} (seed: {path})\n\n\
         In scimsync.toml:\n\
         \x20 [target]\n\
         \x20 api_base = \"{base}\"\n\
         \x20 login_base = \"{base}\"\n\
         \x20 [source]\n\
         \x20 kind = \"delta-http\"\n\
         \x20 base_url = \"{base}\"\n\n\
         OAuth clients: {} (secrets as in the seed file)\n\
         Groups: {}\n\n\
         Press Ctrl-C to stop.\n",
        clients.join(", "),
        groups.join(", "),
    );
    // A closed stdout (`| head`) must not stop the server: write errors are ignored.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    drop(out);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    emulator::serve(listener, emu, shutdown).await?;
    Ok(ExitCode::Success)
}
