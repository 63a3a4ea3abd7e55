//! A fluent harness for CLI tests: an emulator with a known org, a config and state in a
//! temporary folder, and the real `scimsync` binary run against them.
//!
//! ```ignore
//! let s = Scenario::new().await.idp("sales", &["u000", "u010"]);
//! s.run(&["plan", "--out", "p.json"]).await.code(0);
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use scimsync::emulator::{Record, Route, Running};
use scimsync::model::{Mode, RemoveStyle, UserKey};
use scimsync::plan::{Plan, file};
use scimsync::state::State;

pub use crate::harness::CLIENT_SECRET;
use crate::harness::{self, CLIENT_ID};

pub const IDP_TOKEN: &str = "idp-token-5e4d3c2b";

/// The state file of a scenario: the config's default, in its folder.
pub const STATE_FILE: &str = "scimsync.state.json";

/// One `[[group]]` of a scenario's config.
#[derive(Debug, Clone)]
#[must_use]
pub struct Group {
    name: String,
    target: (&'static str, String),
    mode: Option<Mode>,
}

impl Group {
    /// IdP group `name` mapped to the Genesys group whose id is `target_id`.
    pub fn id(name: &str, target_id: &str) -> Self {
        Self {
            name: name.to_owned(),
            target: ("target_id", target_id.to_owned()),
            mode: None,
        }
    }

    /// IdP group `name` mapped to the Genesys group whose display name is `display_name`.
    pub fn named(name: &str, display_name: &str) -> Self {
        Self {
            name: name.to_owned(),
            target: ("target_name", display_name.to_owned()),
            mode: None,
        }
    }

    /// In `full` mode.
    pub fn full(mut self) -> Self {
        self.mode = Some(Mode::Full);
        self
    }

    fn toml(&self) -> String {
        let mut out = format!(
            "[[group]]\nname = {}\n{} = {}\n",
            toml_str(&self.name),
            self.target.0,
            toml_str(&self.target.1)
        );
        if let Some(mode) = self.mode {
            let mode = match mode {
                Mode::Delta => "delta",
                Mode::Full => "full",
            };
            let _ = writeln!(out, "mode = \"{mode}\"");
        }
        out
    }
}

/// `[safety]` of a scenario's config; unset fields keep scimsync's defaults.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Safety {
    max_removals: Option<usize>,
    max_ratio: Option<f64>,
    protected: Vec<String>,
    allow_empty_source: bool,
}

impl Safety {
    /// `max_removals_per_group`.
    pub fn max_removals(mut self, n: usize) -> Self {
        self.max_removals = Some(n);
        self
    }

    /// `max_removal_ratio`.
    pub fn max_ratio(mut self, ratio: f64) -> Self {
        self.max_ratio = Some(ratio);
        self
    }

    /// No removal guard at all: a thousand per group, any share.
    pub fn unguarded() -> Self {
        Self::default().max_removals(1000).max_ratio(1.0)
    }

    /// `protected_members`.
    pub fn protect(mut self, user: &str) -> Self {
        self.protected.push(user.to_owned());
        self
    }

    /// `allow_empty_source = true`.
    pub fn allow_empty_source(mut self) -> Self {
        self.allow_empty_source = true;
        self
    }

    fn toml(&self) -> String {
        let mut out = String::new();
        if let Some(n) = self.max_removals {
            let _ = writeln!(out, "max_removals_per_group = {n}");
        }
        if let Some(r) = self.max_ratio {
            let _ = writeln!(out, "max_removal_ratio = {r:?}");
        }
        if !self.protected.is_empty() {
            let list: Vec<String> = self.protected.iter().map(|p| toml_str(p)).collect();
            let _ = writeln!(out, "protected_members = [{}]", list.join(", "));
        }
        if self.allow_empty_source {
            out.push_str("allow_empty_source = true\n");
        }
        out
    }
}

/// `s` as a TOML basic string.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// One CLI scenario: emulator, folder, config.
pub struct Scenario {
    pub running: Running,
    pub dir: tempfile::TempDir,
    groups: Vec<Group>,
    extra_target: String,
    extra_source: String,
    safety: Safety,
    source: Option<String>,
    target_section: Option<String>,
    env: Vec<(String, String)>,
    no_credentials: bool,
    state_section: Option<String>,
    extra_journal: String,
    review_section: Option<String>,
}

/// What a run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Whether a recorded request is a PATCH that Genesys committed.
fn committed(r: &Record) -> bool {
    r.route == Route::GroupPatch && (200..300).contains(&r.status) && !r.ignored
}

impl Run {
    /// Assert the exit code, showing the output when it differs.
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(
            self.code, want,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Assert in one call the exit code and what stdout and stderr say (each text must
    /// appear), showing the whole output when anything differs.
    #[track_caller]
    pub fn expect(&self, code: i32, stdout: &[&str], stderr: &[&str]) -> &Self {
        let missing: Vec<String> = stdout
            .iter()
            .filter(|t| !self.stdout.contains(*t))
            .map(|t| format!("stdout lacks {t:?}"))
            .chain(
                stderr
                    .iter()
                    .filter(|t| !self.stderr.contains(*t))
                    .map(|t| format!("stderr lacks {t:?}")),
            )
            .collect();
        assert!(
            self.code == code && missing.is_empty(),
            "exit code {} (want {code}); {missing:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Scenario {
    /// An emulator (see `harness::start`) and a config mapping IdP group `sales` to `g-sales`.
    pub async fn new() -> Self {
        let running = harness::start().await;
        running.emulator.set_idp_token(IDP_TOKEN);
        Self {
            running,
            dir: tempfile::tempdir().unwrap(),
            groups: vec![Group::id("sales", "g-sales")],
            extra_target: String::new(),
            extra_source: String::new(),
            safety: Safety::default(),
            source: None,
            target_section: None,
            env: Vec::new(),
            no_credentials: false,
            state_section: None,
            extra_journal: String::new(),
            review_section: None,
        }
        // Pacing is measured by the benchmark; tests need not wait 200 ms a request.
        .target_setting("requests_per_minute", 100_000)
    }

    /// The emulator.
    pub fn emu(&self) -> &std::sync::Arc<scimsync::emulator::Emulator> {
        &self.running.emulator
    }

    /// Set IdP group `name`'s members (as changes, so cursors move).
    #[must_use]
    pub fn idp(self, name: &str, members: &[&str]) -> Self {
        self.emu().idp_change(name, members, &[]);
        self
    }

    /// Replace the `[[group]]` list.
    #[must_use]
    pub fn groups(mut self, groups: impl IntoIterator<Item = Group>) -> Self {
        self.groups = groups.into_iter().collect();
        self
    }

    /// Set `[target] key = value` (a number, or a string for `remove_style`).
    #[must_use]
    pub fn target_setting(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        let _ = writeln!(self.extra_target, "{key} = {}", value.into());
        self
    }

    /// `[target] remove_style`.
    #[must_use]
    pub fn remove_style(self, style: RemoveStyle) -> Self {
        let style = match style {
            RemoveStyle::ValueList => "value-list",
            RemoveStyle::FilterPath => "filter-path",
        };
        self.target_setting("remove_style", style)
    }

    /// `[source] user_key`.
    #[must_use]
    pub fn user_key(self, key: UserKey) -> Self {
        self.source_setting("user_key", key.attribute())
    }

    /// Set `[source] key = value`.
    #[must_use]
    pub fn source_setting(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        let _ = writeln!(self.extra_source, "{key} = {}", value.into());
        self
    }

    /// Replace `[source]` entirely.
    #[must_use]
    pub fn source(mut self, section: &str) -> Self {
        self.source = Some(section.to_owned());
        self
    }

    /// Target a generic SCIM server (the emulator's `/scim/v2`) with a ready bearer token.
    #[must_use]
    pub fn scim_target(mut self) -> Self {
        let token = "scim-token-1a2b3c4d";
        self.emu().issue_token(token);
        self.target_section = Some(format!(
            "kind = \"scim\"\nbase_url = \"{}/scim/v2\"\ntoken_env = \"SCIM_TOKEN\"\n",
            self.running.base_url()
        ));
        self.env("SCIM_TOKEN", token).without_credentials()
    }

    /// Set `[safety]`.
    #[must_use]
    pub fn safety(mut self, safety: Safety) -> Self {
        self.safety = safety;
        self
    }

    /// Run without Genesys credentials in the environment.
    #[must_use]
    pub fn without_credentials(mut self) -> Self {
        self.no_credentials = true;
        self
    }

    /// Set an environment variable for runs.
    #[must_use]
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Set the `[state]` section.
    #[must_use]
    pub fn state(mut self, lines: &str) -> Self {
        self.state_section = Some(format!("{lines}\n"));
        self
    }

    /// Keep the state in `moto`'s bucket at `key` (`[state] url = "s3://…"`, and the `AWS_*`
    /// variables that reach it).
    #[must_use]
    pub fn s3_state(self, moto: &crate::moto::Moto, key: &str) -> Self {
        self.envs(moto.env())
            .state(&format!("url = \"{}\"", moto.s3(key)))
    }

    /// Keep the state in an S3 store at `endpoint` (bucket `scimsync-test`, key `key`),
    /// with the test credentials.
    #[must_use]
    pub fn s3_state_at(self, endpoint: &str, key: &str) -> Self {
        self.envs(vec![
            ("AWS_ENDPOINT_URL".into(), endpoint.into()),
            ("AWS_ACCESS_KEY_ID".into(), crate::moto::ACCESS_KEY.into()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                crate::moto::SECRET_KEY.into(),
            ),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
        ])
        .state(&format!("url = \"s3://{}/{key}\"", crate::moto::BUCKET))
    }

    /// Set environment variables for runs.
    #[must_use]
    pub fn envs(mut self, vars: Vec<(String, String)>) -> Self {
        self.env.extend(vars);
        self
    }

    /// A path in the scenario's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The plan file `name` in the scenario's folder.
    pub fn plan_at(&self, name: &str) -> Plan {
        file::read(&self.path(name)).unwrap()
    }

    /// The state as it is in [`STATE_FILE`] (empty if there is none yet).
    pub fn saved_state(&self) -> State {
        State::load_file(&self.path(STATE_FILE)).unwrap()
    }

    /// The journal beside the state, its chain checked against the state's head: its
    /// records, oldest first.
    pub fn journal(&self) -> Vec<scimsync::journal::Record> {
        let path = scimsync::state::journal_store::file_beside(&self.path(STATE_FILE));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let head = self.saved_state().journal;
        if let Err(e) = scimsync::journal::chain::verify(text.lines(), head.as_ref()) {
            panic!("journal {}: {e}", path.display());
        }
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Every change the journal records, as (group id, `add` or `remove`, user id), in order.
    pub fn journaled(&self) -> Vec<(String, String, String)> {
        self.journal()
            .iter()
            .filter_map(|r| r.change())
            .map(|c| {
                (
                    c.group.id.to_string(),
                    c.op.as_str().to_owned(),
                    c.user.id.to_string(),
                )
            })
            .collect()
    }

    /// Every member change a PATCH committed in the emulator (answered 2xx and not dropped),
    /// as (group id, `add` or `remove`, user id), in order.
    pub fn committed(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for p in self.emu().journal() {
            if !committed(&p) {
                continue;
            }
            let group = p.path.rsplit('/').next().unwrap().to_owned();
            let body: serde_json::Value = serde_json::from_str(p.body.as_deref().unwrap()).unwrap();
            for op in body["Operations"].as_array().unwrap() {
                let kind = op["op"].as_str().unwrap().to_owned();
                for v in op["value"].as_array().into_iter().flatten() {
                    out.push((
                        group.clone(),
                        kind.clone(),
                        v["value"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
        out
    }

    /// The config text.
    pub fn config_text(&self) -> String {
        let base = self.running.base_url();
        let source = self.source.clone().unwrap_or_else(|| {
            format!("kind = \"delta-http\"\nbase_url = \"{base}\"\ntoken_env = \"IDP_API_TOKEN\"\n")
        });
        let target = self
            .target_section
            .clone()
            .unwrap_or_else(|| format!("api_base = \"{base}\"\nlogin_base = \"{base}\"\n"));
        let mut state = self
            .state_section
            .as_ref()
            .map_or(String::new(), |s| format!("[state]\n{s}\n"));
        if !self.extra_journal.is_empty() {
            let _ = writeln!(state, "[journal]\n{}", self.extra_journal);
        }
        let review = self
            .review_section
            .as_ref()
            .map_or(String::new(), |s| format!("[review]\n{s}\n"));
        format!(
            "[target]\n{target}{}\n[source]\n{source}{}\n[safety]\n{}\n{state}{review}{}",
            self.extra_target,
            self.extra_source,
            self.safety.toml(),
            self.groups.iter().map(Group::toml).collect::<String>()
        )
    }

    /// Add `key = value` to the config's `[journal]`.
    pub fn journal_setting(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        let _ = writeln!(self.extra_journal, "{key} = {}", value.into());
        self
    }

    /// A `[review]` section of these lines.
    pub fn review(mut self, lines: &str) -> Self {
        self.review_section = Some(lines.to_owned());
        self
    }

    /// Write the config to `scimsync.toml` in the folder.
    pub fn write_config(&self) -> PathBuf {
        let path = self.path("scimsync.toml");
        std::fs::write(&path, self.config_text()).unwrap();
        path
    }

    /// Run the binary in the scenario's folder with `args` (the config is written first).
    pub async fn run(&self, args: &[&str]) -> Run {
        self.write_config();
        self.run_raw(args).await
    }

    /// Run the binary without rewriting the config.
    pub async fn run_raw(&self, args: &[&str]) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = self.command(args).output().await.unwrap();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Start the binary (config written first) without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> tokio::process::Child {
        self.write_config();
        self.command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimsync"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("IDP_API_TOKEN", IDP_TOKEN)
            .env("NO_COLOR", "1")
            .env("SCIMSYNC_MIN_BACKOFF_MS", "5")
            .env("SCIMSYNC_MAX_BACKOFF_MS", "40")
            .env("SCIMSYNC_MAX_RETRIES", "3");
        if !self.no_credentials {
            cmd.env("GENESYSCLOUD_OAUTHCLIENT_ID", CLIENT_ID)
                .env("GENESYSCLOUD_OAUTHCLIENT_SECRET", CLIENT_SECRET);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Replace the port and the folder, for snapshots (the snapshot macro's filters redact
    /// digests and timestamps).
    pub fn redact(&self, text: &str) -> String {
        let out = text.replace(&self.running.base_url(), "http://127.0.0.1:[PORT]");
        out.replace(&self.dir.path().display().to_string(), "[DIR]")
    }
}

/// Snapshots live in the top-level `snapshots/`; digests and timestamps are redacted by
/// insta's filters.
#[macro_export]
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"),
            prepend_module_to_snapshot => false,
            filters => vec![
                (r"\b[0-9a-f]{64}\b", "[SHA256]"),
                (r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]"),
            ],
        }, {
            insta::assert_snapshot!($name, $value)
        })
    };
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}
