//! The configuration file (`scimsync.toml`), read and validated into a [`Config`].
//!
//! Unknown keys are refused with the file, line and key (toml's own message, which quotes the
//! line). Values are then checked one by one, each error naming the file and key and saying
//! what was expected. Secrets never live in this file: it names environment variables.
//!
//! Relative paths (`state.path`, a file source's `path`) are relative to the config file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::endpoint::{Endpoint, EndpointError};
pub use crate::model::GroupTarget;
pub use crate::model::Mode;
use crate::model::UserKey;
use crate::model::{GroupId, UserId, sha256_hex};
pub use crate::source::okta::OktaUserAttribute;
use crate::state::Store;
use crate::target::{RemoveStyle, regions};

/// The default config file name.
pub const DEFAULT_PATH: &str = "scimsync.toml";

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}; pass another with --config FILE")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not TOML, or not this schema (unknown key, wrong type).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message, with line, column and key.
        message: String,
    },
    /// A value that does not fit.
    #[error("config file {path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The key, dotted (`target.region`, `group[2].target_id`).
        key: String,
        /// What was wrong and what is expected.
        message: String,
    },
}

/// Which kind of SCIM server the target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Genesys Cloud.
    #[default]
    Genesys,
    /// Any RFC 7644 SCIM server.
    Scim,
}

impl TargetKind {
    /// `genesys` or `scim`, as written in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Genesys => "genesys",
            Self::Scim => "scim",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    target: RawTarget,
    source: RawSource,
    #[serde(default)]
    safety: RawSafety,
    #[serde(default)]
    state: RawState,
    #[serde(default, rename = "group")]
    groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(default)]
    kind: TargetKind,
    region: Option<String>,
    api_base: Option<String>,
    login_base: Option<String>,
    base_url: Option<String>,
    token_env: Option<String>,
    remove_style: Option<RemoveStyle>,
    max_members_per_patch: Option<i64>,
    requests_per_minute: Option<i64>,
    concurrency: Option<i64>,
    patch_excludes_members: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum RawSourceKind {
    DeltaHttp,
    File,
    Graph,
    Okta,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: RawSourceKind,
    base_url: Option<String>,
    token_env: Option<String>,
    user_key: Option<UserKey>,
    user_attribute: Option<OktaUserAttribute>,
    read_deadline_secs: Option<i64>,
    path: Option<PathBuf>,
    login_base: Option<String>,
    tenant: Option<String>,
    client_id_env: Option<String>,
    client_secret_env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSafety {
    #[serde(default = "default_max_removals")]
    max_removals_per_group: i64,
    #[serde(default = "default_ratio")]
    max_removal_ratio: f64,
    #[serde(default)]
    protected_members: Vec<String>,
    #[serde(default)]
    allow_empty_source: bool,
}

fn default_max_removals() -> i64 {
    25
}

fn default_ratio() -> f64 {
    0.25
}

impl Default for RawSafety {
    fn default() -> Self {
        Self {
            max_removals_per_group: default_max_removals(),
            max_removal_ratio: default_ratio(),
            protected_members: Vec::new(),
            allow_empty_source: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    path: Option<PathBuf>,
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    target_id: Option<String>,
    target_name: Option<String>,
    #[serde(default)]
    mode: Mode,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// sha256 of the file's bytes (recorded in plans).
    pub sha256: String,
    /// The SCIM target.
    pub target: TargetConfig,
    /// The identity provider.
    pub source: SourceConfig,
    /// Guards against mass removals.
    pub safety: Safety,
    /// Where the state (cursors, mirrors, resolution cache) is kept.
    pub state: Store,
    /// The mapped groups, in file order.
    pub groups: Vec<GroupConfig>,
}

/// `[target]`, validated.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Genesys or any SCIM server.
    pub kind: TargetKind,
    /// Genesys: `https://api.<domain>`; SCIM: the SCIM base URL.
    pub api_base: Endpoint,
    /// Genesys: `https://login.<domain>` (token endpoint at `/oauth/token`).
    pub login_base: Endpoint,
    /// SCIM: the environment variable holding the bearer token.
    pub token_env: Option<String>,
    /// How removals are written.
    pub remove_style: RemoveStyle,
    /// Member values per PATCH, at most.
    pub max_members_per_patch: usize,
    /// Requests per minute, at most.
    pub requests_per_minute: u32,
    /// Requests in flight (and groups planned) at once, at most.
    pub concurrency: usize,
    /// Send `excludedAttributes=members` on PATCH (RFC 7644 §3.9), so that a server that
    /// honours it answers without the group's members: a 10,000-member group is then not
    /// sent back after every chunk. Off by default for Genesys (not verified there), on for
    /// `kind = "scim"`.
    pub patch_excludes_members: bool,
}

/// `[source]`, validated.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// The generic delta endpoint.
    DeltaHttp {
        /// `GET {base_url}/delta/groups/members`.
        base_url: Endpoint,
        /// The environment variable holding the IdP's bearer token.
        token_env: String,
        /// How IdP users map to Genesys users.
        user_key: UserKey,
        /// How long one group's whole read may take.
        read_deadline: std::time::Duration,
    },
    /// A declarative TOML file of desired members.
    File {
        /// The file (resolved against the config's folder).
        path: PathBuf,
        /// How listed users map to Genesys users.
        user_key: UserKey,
    },
    /// Microsoft Graph group deltas.
    Graph {
        /// `https://graph.microsoft.com/v1.0`.
        base_url: Endpoint,
        /// `https://login.microsoftonline.com`.
        login_base: Endpoint,
        /// The tenant id or domain.
        tenant: String,
        /// The variable holding the app's client id.
        client_id_env: String,
        /// The variable holding the app's client secret.
        client_secret_env: String,
        /// Which Genesys attribute an Entra user is found by: `userName` (its
        /// `userPrincipalName`, the default) or `externalId` (its object id).
        user_key: UserKey,
        /// How long one group's whole read may take.
        read_deadline: std::time::Duration,
    },
    /// Okta group listings.
    Okta {
        /// `https://<org>.okta.com`.
        base_url: Endpoint,
        /// The variable holding the Okta API token.
        token_env: String,
        /// Which Okta attribute is a user's key: `profile.email` by default.
        user_attribute: OktaUserAttribute,
        /// Which Genesys attribute that key is found by.
        user_key: UserKey,
        /// How long one group's whole read may take.
        read_deadline: std::time::Duration,
    },
}

impl SourceConfig {
    /// How IdP users map to Genesys users.
    pub fn user_key(&self) -> UserKey {
        match self {
            Self::DeltaHttp { user_key, .. }
            | Self::File { user_key, .. }
            | Self::Graph { user_key, .. }
            | Self::Okta { user_key, .. } => *user_key,
        }
    }

    /// `delta-http` or `file`, as written in plans.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::DeltaHttp { .. } => "delta-http",
            Self::File { .. } => "file",
            Self::Graph { .. } => "graph",
            Self::Okta { .. } => "okta",
        }
    }
}

/// `[safety]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Safety {
    /// Removals per group, at most.
    pub max_removals_per_group: usize,
    /// Removals as a share of the group's members, at most (0..=1).
    pub max_removal_ratio: f64,
    /// Genesys user ids never removed, whatever the source says.
    pub protected_members: BTreeSet<UserId>,
    /// Allow an empty full-state answer to empty a group that has members.
    pub allow_empty_source: bool,
}

/// One `[[group]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupConfig {
    /// The IdP group's id; also what `--group` selects and what keys the state file.
    pub name: String,
    /// The Genesys group.
    pub target: GroupTarget,
    /// Delta or full.
    pub mode: Mode,
}

impl Config {
    /// Read and validate the config at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let text = String::from_utf8(bytes.clone()).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        })?;
        Self::parse(&text, path, sha256_hex(&bytes))
    }

    /// Validate config `text`, read from `path`.
    pub fn parse(text: &str, path: &Path, sha256: String) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: shown.clone(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: shown.clone(),
            key: key.to_owned(),
            message,
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let target = validate_target(raw.target, &invalid)?;
        let source = validate_source(raw.source, &dir, &invalid)?;
        let safety = validate_safety(raw.safety, &invalid)?;
        let state = validate_state(raw.state, &dir, &invalid)?;
        if raw.groups.is_empty() {
            return Err(invalid(
                "group",
                "no [[group]] is configured: add at least one with name and target_id (or target_name)".into(),
            ));
        }
        let mut names = BTreeSet::new();
        let mut targets = BTreeMap::new();
        let mut groups = Vec::new();
        for (i, g) in raw.groups.into_iter().enumerate() {
            let key = |k: &str| format!("group[{i}].{k}");
            if g.name.trim().is_empty() {
                return Err(invalid(&key("name"), "must not be empty".into()));
            }
            if !names.insert(g.name.clone()) {
                return Err(invalid(
                    &key("name"),
                    format!("{:?} is configured twice", g.name),
                ));
            }
            let target = match (g.target_id, g.target_name) {
                (Some(id), None) if !id.trim().is_empty() => {
                    GroupTarget::Id(GroupId(id.trim().to_owned()))
                }
                (None, Some(name)) if !name.trim().is_empty() => GroupTarget::Name(name),
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        &key("target_id"),
                        "set target_id or target_name, not both".into(),
                    ));
                }
                _ => {
                    return Err(invalid(
                        &key("target_id"),
                        format!(
                            "group {:?} needs target_id (the Genesys group id) or target_name (its display name)",
                            g.name
                        ),
                    ));
                }
            };
            if let Some(other) = targets.insert(target.clone(), g.name.clone()) {
                return Err(invalid(
                    &key("target_id"),
                    format!(
                        "groups {other:?} and {:?} map to the same Genesys group",
                        g.name
                    ),
                ));
            }
            groups.push(GroupConfig {
                name: g.name,
                target,
                mode: g.mode,
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            sha256,
            target,
            source,
            safety,
            state,
            groups,
        })
    }

    /// The groups `selected` names (all when empty); an unknown name is an error.
    pub fn select(&self, selected: &[String]) -> Result<Vec<&GroupConfig>, ConfigError> {
        if selected.is_empty() {
            return Ok(self.groups.iter().collect());
        }
        selected
            .iter()
            .map(|name| {
                self.groups
                    .iter()
                    .find(|g| &g.name == name)
                    .ok_or_else(|| ConfigError::Invalid {
                        path: self.path.display().to_string(),
                        key: "--group".into(),
                        message: format!(
                            "no [[group]] is named {name:?}; configured: {}",
                            self.groups
                                .iter()
                                .map(|g| g.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })
            })
            .collect()
    }
}

fn endpoint(
    key: &str,
    text: &str,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<Endpoint, ConfigError> {
    Endpoint::parse(text, key).map_err(|e| match e {
        EndpointError::Invalid { .. }
        | EndpointError::Plaintext { .. }
        | EndpointError::Scheme { .. } => invalid(key, e.to_string()),
    })
}

fn positive(
    key: &str,
    value: Option<i64>,
    default: i64,
    max: i64,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<i64, ConfigError> {
    let v = value.unwrap_or(default);
    if !(1..=max).contains(&v) {
        return Err(invalid(
            key,
            format!("{v} is out of range: expected 1 to {max}"),
        ));
    }
    Ok(v)
}

fn validate_target(
    raw: RawTarget,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<TargetConfig, ConfigError> {
    let (api_base, login_base, token_env) = match raw.kind {
        TargetKind::Genesys => {
            if raw.base_url.is_some() || raw.token_env.is_some() {
                return Err(invalid(
                    "target.base_url",
                    "base_url and token_env are for kind = \"scim\"; a genesys target takes region (or api_base and login_base) and its credentials from GENESYSCLOUD_* variables".into(),
                ));
            }
            match (raw.region, raw.api_base, raw.login_base) {
                (Some(region), None, None) => {
                    let r = regions::lookup(&region).ok_or_else(|| {
                        invalid(
                            "target.region",
                            format!(
                                "{region:?} is not a Genesys Cloud region; expected one of {}",
                                regions::names()
                            ),
                        )
                    })?;
                    (
                        endpoint("target.region", &r.api_base(), invalid)?,
                        endpoint("target.region", &r.login_base(), invalid)?,
                        None,
                    )
                }
                (None, Some(api), login) => {
                    let api_base = endpoint("target.api_base", &api, invalid)?;
                    let login_base = match login {
                        Some(l) => endpoint("target.login_base", &l, invalid)?,
                        None => {
                            // https://api.<domain> → https://login.<domain>; elsewhere (the
                            // emulator) the same host serves both.
                            let derived = api_base.as_str().replacen("://api.", "://login.", 1);
                            endpoint("target.login_base", &derived, invalid)?
                        }
                    };
                    (api_base, login_base, None)
                }
                (Some(_), Some(_), _) | (Some(_), None, Some(_)) => {
                    return Err(invalid(
                        "target.region",
                        "set region, or api_base (and login_base), not both".into(),
                    ));
                }
                (None, None, _) => {
                    return Err(invalid(
                        "target.region",
                        format!(
                            "a genesys target needs region (one of {}) or api_base",
                            regions::names()
                        ),
                    ));
                }
            }
        }
        TargetKind::Scim => {
            let base = raw.base_url.ok_or_else(|| {
                invalid(
                    "target.base_url",
                    "a scim target needs base_url (its SCIM base, e.g. https://host/scim/v2)"
                        .into(),
                )
            })?;
            let token_env = raw.token_env.ok_or_else(|| invalid("target.token_env", "a scim target needs token_env: the environment variable holding its bearer token".into()))?;
            if raw.region.is_some() || raw.api_base.is_some() || raw.login_base.is_some() {
                return Err(invalid("target.region", "region, api_base and login_base are for kind = \"genesys\"; a scim target takes base_url".into()));
            }
            let base = endpoint("target.base_url", &base, invalid)?;
            (base.clone(), base, Some(token_env))
        }
    };
    if raw.kind == TargetKind::Scim && raw.remove_style == Some(RemoveStyle::ValueList) {
        // RFC 7644 §3.5.2.2: "If the target location is a multi-valued attribute and no
        // filter is specified, the attribute and all values are removed": a literal server
        // empties the group on a value-list removal (https://www.rfc-editor.org/rfc/rfc7644#section-3.5.2.2).
        return Err(invalid(
            "target.remove_style",
            "\"value-list\" is refused for kind = \"scim\": RFC 7644 §3.5.2.2 says a remove of members without a filter removes all of them, so a strict server would empty the group; use remove_style = \"filter-path\" (the default for scim)".into(),
        ));
    }
    let remove_style = raw.remove_style.unwrap_or(match raw.kind {
        TargetKind::Genesys => RemoveStyle::ValueList,
        TargetKind::Scim => RemoveStyle::FilterPath,
    });
    Ok(TargetConfig {
        kind: raw.kind,
        api_base,
        login_base,
        token_env,
        remove_style,
        max_members_per_patch: positive(
            "target.max_members_per_patch",
            raw.max_members_per_patch,
            50,
            1000,
            invalid,
        )? as usize,
        requests_per_minute: positive(
            "target.requests_per_minute",
            raw.requests_per_minute,
            300,
            1_000_000,
            invalid,
        )? as u32,
        concurrency: positive("target.concurrency", raw.concurrency, 4, 64, invalid)? as usize,
        patch_excludes_members: raw
            .patch_excludes_members
            .unwrap_or(raw.kind == TargetKind::Scim),
    })
}

fn validate_source(
    raw: RawSource,
    dir: &Path,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<SourceConfig, ConfigError> {
    let kind = match raw.kind {
        RawSourceKind::DeltaHttp => "delta-http",
        RawSourceKind::File => "file",
        RawSourceKind::Graph => "graph",
        RawSourceKind::Okta => "okta",
    };
    // Which keys each kind takes: anything else set is a mistake worth naming.
    let allowed: &[&str] = match raw.kind {
        RawSourceKind::DeltaHttp => &["base_url", "token_env", "user_key", "read_deadline_secs"],
        RawSourceKind::Okta => &[
            "base_url",
            "token_env",
            "user_key",
            "user_attribute",
            "read_deadline_secs",
        ],
        RawSourceKind::File => &["path", "user_key"],
        RawSourceKind::Graph => &[
            "base_url",
            "login_base",
            "tenant",
            "client_id_env",
            "client_secret_env",
            "user_key",
            "read_deadline_secs",
        ],
    };
    let set = [
        ("user_key", raw.user_key.is_some()),
        ("user_attribute", raw.user_attribute.is_some()),
        ("read_deadline_secs", raw.read_deadline_secs.is_some()),
        ("base_url", raw.base_url.is_some()),
        ("token_env", raw.token_env.is_some()),
        ("path", raw.path.is_some()),
        ("login_base", raw.login_base.is_some()),
        ("tenant", raw.tenant.is_some()),
        ("client_id_env", raw.client_id_env.is_some()),
        ("client_secret_env", raw.client_secret_env.is_some()),
    ];
    if let Some((key, _)) = set.iter().find(|(k, on)| *on && !allowed.contains(k)) {
        return Err(invalid(
            &format!("source.{key}"),
            format!(
                "{key} is not a setting of a {kind} source (it takes {})",
                allowed.join(", ")
            ),
        ));
    }
    // A hung IdP must fail the plan in bounded time: the whole read of a group, every page,
    // retry and wait included, has a deadline.
    let read_deadline = std::time::Duration::from_secs(positive(
        "source.read_deadline_secs",
        raw.read_deadline_secs,
        crate::source::fetch::DEFAULT_READ_DEADLINE.as_secs() as i64,
        3600,
        invalid,
    )? as u64);
    let need = |key: &str, value: Option<String>, what: &str| {
        value.ok_or_else(|| {
            invalid(
                &format!("source.{key}"),
                format!("a {kind} source needs {key}: {what}"),
            )
        })
    };
    match raw.kind {
        RawSourceKind::DeltaHttp => Ok(SourceConfig::DeltaHttp {
            base_url: endpoint(
                "source.base_url",
                &need("base_url", raw.base_url, "the IdP's base URL")?,
                invalid,
            )?,
            token_env: need(
                "token_env",
                raw.token_env,
                "the environment variable holding the IdP's bearer token",
            )?,
            user_key: raw.user_key.unwrap_or(UserKey::Id),
            read_deadline,
        }),
        RawSourceKind::Okta => Ok(SourceConfig::Okta {
            base_url: endpoint(
                "source.base_url",
                &need(
                    "base_url",
                    raw.base_url,
                    "the Okta org, e.g. https://example.okta.com",
                )?,
                invalid,
            )?,
            token_env: need(
                "token_env",
                raw.token_env,
                "the environment variable holding the Okta API token",
            )?,
            user_attribute: raw.user_attribute.unwrap_or_default(),
            // Genesys's Okta app provisions the email (or login) as userName; an Okta id is
            // what Okta's own SCIM provisioning writes to externalId.
            user_key: raw
                .user_key
                .unwrap_or(match raw.user_attribute.unwrap_or_default() {
                    OktaUserAttribute::Email | OktaUserAttribute::Login => UserKey::UserName,
                    OktaUserAttribute::Id => UserKey::ExternalId,
                }),
            read_deadline,
        }),
        RawSourceKind::Graph => Ok(SourceConfig::Graph {
            base_url: endpoint(
                "source.base_url",
                raw.base_url
                    .as_deref()
                    .unwrap_or("https://graph.microsoft.com/v1.0"),
                invalid,
            )?,
            login_base: endpoint(
                "source.login_base",
                raw.login_base
                    .as_deref()
                    .unwrap_or("https://login.microsoftonline.com"),
                invalid,
            )?,
            tenant: need("tenant", raw.tenant, "the Entra tenant id or domain")?,
            client_id_env: raw
                .client_id_env
                .unwrap_or_else(|| "AZURE_CLIENT_ID".into()),
            client_secret_env: raw
                .client_secret_env
                .unwrap_or_else(|| "AZURE_CLIENT_SECRET".into()),
            // Entra's Genesys Cloud app provisions userName from userPrincipalName.
            user_key: match raw.user_key.unwrap_or(UserKey::UserName) {
                UserKey::Id => {
                    return Err(invalid(
                        "source.user_key",
                        "a graph source's keys are Entra object ids, never Genesys user ids: use user_key = \"userName\" (the default: Entra's Genesys Cloud app provisions userName from userPrincipalName) or \"externalId\" (if your app maps the object id to externalId)".into(),
                    ));
                }
                key => key,
            },
            read_deadline,
        }),
        RawSourceKind::File => {
            let path = need(
                "path",
                raw.path.map(|p| p.display().to_string()),
                "a TOML file of [groups.<name>] members = [...]",
            )?;
            Ok(SourceConfig::File {
                path: dir.join(path),
                user_key: raw.user_key.unwrap_or(UserKey::Id),
            })
        }
    }
}

fn validate_state(
    raw: RawState,
    dir: &Path,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<Store, ConfigError> {
    match (raw.path, raw.url) {
        (Some(_), Some(_)) => Err(invalid(
            "state.url",
            "set path (a local file) or url (object storage), not both".into(),
        )),
        (None, Some(url)) if !url.contains("://") => Err(invalid(
            "state.url",
            format!(
                "{url:?} is not a URL: write s3://bucket/key, gs://bucket/key, az://container/key or file:///path (a relative path goes in state.path)"
            ),
        )),
        (None, Some(url)) => {
            Store::parse(&url, dir).map_err(|e| invalid("state.url", e.to_string()))
        }
        (path, None) => Ok(Store::File(
            dir.join(path.unwrap_or_else(|| PathBuf::from("scimsync.state.json"))),
        )),
    }
}

fn validate_safety(
    raw: RawSafety,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<Safety, ConfigError> {
    if raw.max_removals_per_group < 0 {
        return Err(invalid(
            "safety.max_removals_per_group",
            format!(
                "{} is negative: expected 0 or more",
                raw.max_removals_per_group
            ),
        ));
    }
    if !(0.0..=1.0).contains(&raw.max_removal_ratio) {
        return Err(invalid(
            "safety.max_removal_ratio",
            format!(
                "{} is out of range: expected 0.0 to 1.0",
                raw.max_removal_ratio
            ),
        ));
    }
    Ok(Safety {
        max_removals_per_group: raw.max_removals_per_group as usize,
        max_removal_ratio: raw.max_removal_ratio,
        protected_members: raw.protected_members.into_iter().map(UserId).collect(),
        allow_empty_source: raw.allow_empty_source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[target]
region = "eu-central-1"
[source]
kind = "delta-http"
base_url = "https://idp.example.com"
token_env = "IDP_API_TOKEN"
[[group]]
name = "sales"
target_id = "g1"
[[group]]
name = "support"
target_name = "Support"
mode = "full"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/scimsync/scimsync.toml"), "x".into())
    }

    #[test]
    fn a_good_config_gets_defaults_and_relative_paths() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.target.api_base.as_str(), "https://api.mypurecloud.de");
        assert_eq!(c.target.login_base.as_str(), "https://login.mypurecloud.de");
        assert_eq!(c.target.max_members_per_patch, 50);
        assert_eq!(c.safety.max_removals_per_group, 25);
        assert_eq!(c.state.describe(), "/etc/scimsync/scimsync.state.json");
        assert_eq!(c.groups[0].mode, Mode::Delta);
        assert_eq!(c.groups[1].target, GroupTarget::Name("Support".into()));
        assert_eq!(c.select(&["support".into()]).unwrap().len(), 1);
        assert!(
            c.select(&["nope".into()])
                .unwrap_err()
                .to_string()
                .contains("sales, support")
        );
    }

    #[test]
    fn idp_keys_default_per_source() {
        let okta = GOOD.replace("kind = \"delta-http\"", "kind = \"okta\"");
        let c = parse(&okta).unwrap();
        assert!(matches!(
            c.source,
            SourceConfig::Okta {
                user_attribute: OktaUserAttribute::Email,
                user_key: UserKey::UserName,
                ..
            }
        ));
        let c = parse(&okta.replace("[source]", "[source]\nuser_attribute = \"id\"")).unwrap();
        assert_eq!(c.source.user_key(), UserKey::ExternalId);
        let graph = GOOD
            .replace("kind = \"delta-http\"", "kind = \"graph\"\ntenant = \"t\"")
            .replace("token_env = \"IDP_API_TOKEN\"\n", "");
        let c = parse(&graph).unwrap();
        assert_eq!(c.source.user_key(), UserKey::UserName);
        let e = parse(&graph.replace("[source]", "[source]\nuser_key = \"id\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("source.user_key"), "{e}");
        let c = parse(&GOOD.replace("[source]", "[source]\nread_deadline_secs = 5")).unwrap();
        assert!(matches!(
            c.source,
            SourceConfig::DeltaHttp { read_deadline, .. } if read_deadline.as_secs() == 5
        ));
    }

    #[test]
    fn a_scim_target_refuses_value_list_removals() {
        let scim = GOOD.replace(
            "region = \"eu-central-1\"",
            "kind = \"scim\"\nbase_url = \"https://scim.example.com/scim/v2\"\ntoken_env = \"T\"",
        );
        assert_eq!(
            parse(&scim).unwrap().target.remove_style,
            RemoveStyle::FilterPath
        );
        let e = parse(&scim.replace(
            "token_env = \"T\"",
            "token_env = \"T\"\nremove_style = \"value-list\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("target.remove_style")
                && e.contains("§3.5.2.2")
                && e.contains("filter-path"),
            "{e}"
        );
    }

    #[test]
    fn the_sample_config_is_valid() {
        let text = include_str!("../examples/scimsync.toml");
        let c = Config::parse(text, Path::new("examples/scimsync.toml"), "x".into()).unwrap();
        assert_eq!(c.groups.len(), 2);
        assert_eq!(c.target.api_base.as_str(), "https://api.mypurecloud.com");
    }

    #[test]
    fn the_state_is_a_path_or_a_url() {
        let c = parse(&format!(
            "{GOOD}[state]\nurl = \"s3://bucket/team/s.json\"\n"
        ))
        .unwrap();
        assert_eq!(c.state.describe(), "s3://bucket/team/s.json");
        let c = parse(&format!(
            "{GOOD}[state]\nurl = \"file:///var/lib/s.json\"\n"
        ))
        .unwrap();
        assert_eq!(c.state.describe(), "/var/lib/s.json");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (GOOD.replace("[target]", "[target]\ncolour = 1"), "colour"),
            (GOOD.replace("eu-central-1", "mars-1"), "target.region"),
            (GOOD.replace("https://idp", "http://idp"), "source.base_url"),
            (
                GOOD.replace("mode = \"full\"", "mode = \"sometimes\""),
                "sometimes",
            ),
            (
                GOOD.replace("[target]", "[target]\nconcurrency = \"four\""),
                "concurrency",
            ),
            (
                GOOD.replace("[target]", "[target]\nconcurrency = 0"),
                "target.concurrency",
            ),
            (GOOD.replace("target_id = \"g1\"", ""), "group[0].target_id"),
            (
                GOOD.replace("name = \"support\"", "name = \"sales\""),
                "group[1].name",
            ),
            (
                GOOD.replace("[source]", "[safety]\nmax_removal_ratio = 2.0\n[source]"),
                "safety.max_removal_ratio",
            ),
            (
                format!("{GOOD}[state]\npath = \"s.json\"\nurl = \"s3://b/k.json\"\n"),
                "state.url",
            ),
            (format!("{GOOD}[state]\nurl = \"s.json\"\n"), "state.url"),
            (format!("{GOOD}[state]\nurl = \"s3://b/\"\n"), "state.url"),
            (
                format!("{GOOD}[state]\nurl = \"gopher://b/k\"\n"),
                "state.url",
            ),
            (format!("{GOOD}[state]\nbucket = \"b\"\n"), "bucket"),
        ];
        for (text, key) in cases {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains("/etc/scimsync/scimsync.toml"), "{e}");
            assert!(e.contains(key), "expected {key:?} in: {e}");
        }
        let okta = GOOD.replace("kind = \"delta-http\"", "kind = \"okta\"");
        let e = parse(&okta.replace("[source]", "[source]\nuser_attribute = \"mail\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("user_attribute") && e.contains("mail"), "{e}");
        let e = parse(&GOOD.replace("[source]", "[source]\nuser_attribute = \"login\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("source.user_attribute") && e.contains("delta-http"),
            "{e}"
        );
        let e = parse(&GOOD.replace("[target]", "[target]\ncolour = 1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3"), "{e}");
    }
}
