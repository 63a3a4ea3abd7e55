//! Python tools for tests, each in a virtual environment of its own under the cargo target
//! folder (`target/<name>`), installed from PyPI on first use: moto (the S3 tests), the
//! official Genesys Cloud SDK (the contract tests), the published OCSF schemas and a JSON
//! Schema validator (the OCSF export tests). `.ci/run` installs them ahead; one
//! install per machine, guarded by a lock file across test processes.

use std::path::PathBuf;
use std::process::Command;

/// The target folder (`target/`), where the environments live.
fn target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target tmp folder is inside the target folder")
        .to_path_buf()
}

/// `target/<name>`, a virtual environment holding `requirement` (a pip requirement); see
/// [`venv_with`].
pub fn venv(name: &str, requirement: &str) -> PathBuf {
    venv_with(name, &[requirement])
}

/// `target/<name>`, a virtual environment holding `requirements` (pip requirements), made
/// unless it was made before (its marker file `.installed` holds the requirements, one a
/// line). Panics, saying what is needed, when Python 3 with venv and pip is missing or the
/// install fails: a test that needs the tool must not pass without it.
pub fn venv_with(name: &str, requirements: &[&str]) -> PathBuf {
    let requirement = requirements.join("\n");
    let requirement = requirement.as_str();
    let target = target();
    let venv = target.join(name);
    let marker = venv.join(".installed");
    let ready = || std::fs::read_to_string(&marker).is_ok_and(|r| r == requirement);
    if ready() {
        return venv;
    }
    let lock = std::fs::File::create(target.join(format!("{name}.lock"))).unwrap();
    lock.lock().unwrap();
    if !ready() {
        let run = |cmd: &mut Command| {
            let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
            assert!(
                out.status.success(),
                "{cmd:?} failed; these tests need Python 3 with venv and pip, and PyPI:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(requirements));
        // Made last: an install that died half-way is made again next time.
        std::fs::write(&marker, requirement).unwrap();
    }
    venv
}
