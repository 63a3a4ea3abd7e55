//! The `scimsync` binary: parse the command line, run, map the outcome to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = scimsync::cli::Cli::parse();
    match scimsync::run(&cli) {
        Ok(code) => code.into(),
        Err(error) => {
            // Whatever a server's text slipped into the chain, no live secret is printed.
            eprintln!("error: {}", scimsync::redact::redact(&format!("{error:#}")));
            scimsync::exit_code::ExitCode::Error.into()
        }
    }
}
