//! One file per command: each does its command's I/O and calls the pure parts.
//!
//! The setup they share (a SCIM client and an IdP source from a config) is here.

pub mod apply;
pub mod demo;
pub mod emulator;
mod grants;
mod group_failure;
mod labels;
pub mod log;
pub mod plan;
pub mod report;
pub mod show;
pub mod state;
pub mod validate;

use crate::http::retry::RetryPolicy;
use crate::model::TargetKind;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{Config, SourceConfig};
use crate::model::UserId;
use crate::plan::{GroupPlan, Plan, SourceSettings, TargetRef};
use secrecy::SecretString;

use crate::endpoint::Endpoint;
use crate::scim::{Credentials, ScimClient, TargetSettings, TokenSource};
use crate::source::{self, Source};

pub use self::group_failure::GroupFailure;
pub use self::labels::{DELETED_USER, label_unnamed};

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `-q`: no progress bars.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// A progress bar on stderr over `len` groups; hidden unless stderr is a terminal (so CI logs
/// stay clean) and `-q` was not given.
pub fn progress(len: usize, what: &'static str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} groups {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what);
    bar
}

/// Reads an environment variable (a closure so that tests can pass a map).
pub type Env<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The target settings `config` describes.
pub fn target_settings(config: &Config, env: Env<'_>) -> anyhow::Result<TargetSettings> {
    let t = &config.target;
    let mut settings = match t.kind {
        TargetKind::Genesys => TargetSettings::genesys(&t.api_base)?,
        TargetKind::Scim => TargetSettings::scim(&t.api_base),
    };
    settings.remove_style = t.remove_style;
    settings.max_members_per_patch = t.max_members_per_patch;
    settings.patch_excludes_members = t.patch_excludes_members;
    settings.http.requests_per_minute = t.requests_per_minute;
    settings.http.concurrency = t.concurrency;
    settings.http.retry = RetryPolicy::from_env(env);
    Ok(settings)
}

/// The credentials `config` calls for, from `env`.
pub fn credentials(config: &Config, env: Env<'_>) -> anyhow::Result<Credentials> {
    match (&config.target.kind, &config.target.token_env) {
        (TargetKind::Scim, Some(var)) => {
            let token = env(var).filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                anyhow::anyhow!("the target token variable {var} (target.token_env) is not set; export it before running scimsync")
            })?;
            Ok(Credentials::Bearer {
                token: token.into(),
                source: var.clone(),
            })
        }
        _ => Ok(Credentials::genesys_from(env)?),
    }
}

/// The one HTTP client of a command: the SCIM target, its OAuth and the IdP share it (one
/// connection pool, the system's root certificates loaded once).
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(crate::http::build_client(
        crate::scim::HttpSettings::default().timeout,
    )?)
}

/// A SCIM client for `config`'s target, with credentials from `env`, sending through
/// `client` ([`http_client`]).
pub fn connect(
    config: &Config,
    env: Env<'_>,
    client: &reqwest::Client,
) -> anyhow::Result<ScimClient> {
    let settings = target_settings(config, env)?;
    let login: &Endpoint = &config.target.login_base;
    let tokens = TokenSource::new(credentials(config, env)?, login);
    Ok(ScimClient::with_client(settings, tokens, client.clone()))
}

/// The IdP source `config` describes, with secrets from `env`, sending through `client`.
pub fn open_source(
    config: &Config,
    env: Env<'_>,
    client: &reqwest::Client,
) -> anyhow::Result<Source> {
    Ok(source_from(
        &config.source,
        env,
        &RetryPolicy::from_env(env),
        client,
    )?)
}

/// The source `config` describes; secrets are read from the environment by `env`.
#[allow(clippy::too_many_lines)] // one arm per source kind, each a constructor call
fn source_from(
    config: &SourceConfig,
    env: &dyn Fn(&str) -> Option<String>,
    retry: &RetryPolicy,
    client: &reqwest::Client,
) -> Result<Source, source::SourceError> {
    let secret = |name: &str| {
        env(name)
            .filter(|t| !t.trim().is_empty())
            .map(SecretString::from)
            .ok_or_else(|| source::SourceError::MissingToken {
                name: name.to_owned(),
            })
    };
    let (reader, deadline) = match config {
        SourceConfig::DeltaHttp {
            base_url,
            token_env,
            read_deadline,
            ..
        } => (
            source::Reader::DeltaHttp(source::delta_http::DeltaHttp::with_client(
                client.clone(),
                base_url.clone(),
                secret(token_env)?,
                retry.clone(),
            )),
            Some(*read_deadline),
        ),
        SourceConfig::File { path, .. } => (
            source::Reader::File(source::file::FileSource::load(path)?),
            None,
        ),
        SourceConfig::Okta {
            base_url,
            token_env,
            user_attribute,
            read_deadline,
            ..
        } => (
            source::Reader::Okta(source::okta::Okta::with_client(
                client.clone(),
                base_url.clone(),
                secret(token_env)?,
                *user_attribute,
                retry.clone(),
            )),
            Some(*read_deadline),
        ),
        SourceConfig::Graph {
            base_url,
            login_base,
            tenant,
            client_id_env,
            client_secret_env,
            user_key,
            read_deadline,
        } => {
            let client_id = env(client_id_env)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| source::SourceError::MissingToken {
                    name: client_id_env.clone(),
                })?;
            let auth = source::graph::GraphAuth {
                login_base: login_base.clone(),
                tenant: tenant.clone(),
                client_id,
                client_secret: secret(client_secret_env)?,
            };
            (
                source::Reader::Graph(Box::new(source::graph::Graph::with_client(
                    client.clone(),
                    base_url.clone(),
                    auth,
                    *user_key,
                    retry.clone(),
                ))),
                Some(*read_deadline),
            )
        }
    };
    Ok(Source::new(reader, deadline))
}

/// The source settings of `config`, as a plan records them.
pub fn source_settings(config: &Config) -> SourceSettings {
    SourceSettings {
        kind: config.source.kind(),
        user_key: config.source.user_key(),
        location: config.source.location(),
    }
}

/// A sealed plan of `groups` for `config`: what `plan` writes and apply's re-plan too.
pub fn seal_plan(
    config: &Config,
    groups: Vec<GroupPlan>,
    labels: &BTreeMap<UserId, String>,
) -> Plan {
    Plan::new(
        TargetRef {
            kind: config.target.kind,
            api_base: config.target.api_base.as_str().to_owned(),
        },
        Some(source_settings(config)),
        config.sha256.clone(),
        crate::model::now_to_the_second(),
        groups,
        labels,
    )
}

/// Refuse to write the output of `flag` to `out` when it is a file scimsync must never
/// overwrite: the config, a local state (or its lock), and `also` (the plan being applied).
/// Paths are compared as files, through symlinks and `..`, whether `out` exists yet or not.
pub fn refuse_clobber(
    flag: &str,
    out: &Path,
    config: &Config,
    also: Option<(&str, &Path)>,
) -> anyhow::Result<()> {
    let mut kept: Vec<(String, PathBuf)> = vec![("the config".into(), config.path.clone())];
    if let crate::state::Store::File(state) = &config.state {
        kept.push(("the state".into(), state.clone()));
        let mut lock = state.clone().into_os_string();
        lock.push(".lock");
        kept.push(("the state's lock".into(), lock.into()));
    }
    if let Some((what, path)) = also {
        kept.push((what.to_owned(), path.to_owned()));
    }
    for (what, path) in kept {
        if same_file(out, &path) {
            anyhow::bail!(
                "{flag} {} is {what} ({}); scimsync never writes over it: choose another path",
                out.display(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Whether two paths name one file: the same path, or the same file once resolved (a path
/// that does not exist yet is resolved through its folder).
fn same_file(a: &Path, b: &Path) -> bool {
    fn resolved(p: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(p).ok().or_else(|| {
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            Some(std::fs::canonicalize(dir).ok()?.join(p.file_name()?))
        })
    }
    a == b || matches!((resolved(a), resolved(b)), (Some(x), Some(y)) if x == y)
}
