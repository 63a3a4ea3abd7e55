//! `[source]`: which identity provider, and how its users map to Genesys users.
//!
//! Why one flat struct and a table of the keys each kind takes, rather than a serde
//! internally tagged enum (`#[serde(tag = "kind")]`) that would refuse other kinds' keys for
//! free: serde reads such a table into a buffer to find its tag first, and toml then reports
//! errors inside it without the key's name or line (`unknown variant "mail"` at `[source]`,
//! where a user needs `source.user_attribute`). Errors that name the key are the point.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{ConfigError, endpoint, positive};
use crate::endpoint::Endpoint;
use crate::model::OktaUserAttribute;
use crate::model::{SourceKind, UserKey};

/// How long one group's whole IdP read may take by default (`source.read_deadline_secs`):
/// every page, retry and wait included, so that a hung IdP fails the plan in bounded time.
const DEFAULT_READ_DEADLINE_SECS: i64 = 120;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    kind: SourceKind,
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

    /// Where the source is: its base URL, or its file's path (as a plan records it).
    pub fn location(&self) -> String {
        match self {
            Self::DeltaHttp { base_url, .. }
            | Self::Graph { base_url, .. }
            | Self::Okta { base_url, .. } => base_url.as_str().to_owned(),
            Self::File { path, .. } => path.display().to_string(),
        }
    }

    /// `delta-http` or `file`, as written in plans.
    pub fn kind(&self) -> SourceKind {
        match self {
            Self::DeltaHttp { .. } => SourceKind::DeltaHttp,
            Self::File { .. } => SourceKind::File,
            Self::Graph { .. } => SourceKind::Graph,
            Self::Okta { .. } => SourceKind::Okta,
        }
    }
}

#[allow(
    clippy::too_many_lines,
    reason = "one arm per source kind, each a struct literal"
)]
pub(super) fn validate_source(
    raw: RawSource,
    dir: &Path,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<SourceConfig, ConfigError> {
    let kind = raw.kind.as_str();
    // Which keys each kind takes: anything else set is a mistake worth naming.
    let allowed: &[&str] = match raw.kind {
        SourceKind::DeltaHttp => &["base_url", "token_env", "user_key", "read_deadline_secs"],
        SourceKind::Okta => &[
            "base_url",
            "token_env",
            "user_key",
            "user_attribute",
            "read_deadline_secs",
        ],
        SourceKind::File => &["path", "user_key"],
        SourceKind::Graph => &[
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
        DEFAULT_READ_DEADLINE_SECS,
        3600,
        invalid,
    )?);
    let need = |key: &str, value: Option<String>, what: &str| {
        value.ok_or_else(|| {
            invalid(
                &format!("source.{key}"),
                format!("a {kind} source needs {key}: {what}"),
            )
        })
    };
    match raw.kind {
        SourceKind::DeltaHttp => Ok(SourceConfig::DeltaHttp {
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
        SourceKind::Okta => Ok(SourceConfig::Okta {
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
        SourceKind::Graph => Ok(SourceConfig::Graph {
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
        SourceKind::File => {
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
