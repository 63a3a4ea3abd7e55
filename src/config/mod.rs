//! The configuration file (`scimsync.toml`), read and validated into a [`Config`].
//!
//! Unknown keys are refused with the file, line and key (toml's own message, which quotes the
//! line). Values are then checked one by one, each error naming the file and key and saying
//! what was expected. Secrets never live in this file: it names environment variables.
//!
//! Relative paths (`state.path`, a file source's `path`) are relative to the config file.

use crate::model::Mode;
use crate::model::Sha256Hex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod error;
pub mod regions;
mod review;
mod source;
mod state;
mod target;

pub use self::error::ConfigError;
use self::review::{RawReview, validate_review};
pub use self::source::SourceConfig;
use self::source::{RawSource, validate_source};
use self::state::{RawState, validate_state};
pub use self::target::TargetConfig;
use self::target::{RawTarget, validate_target};
use crate::model::GroupTarget;
use crate::model::{GroupId, UserId, sha256_hex};
use crate::model::{Mapping, Policy};
use crate::state::Store;

/// The default config file name.
pub const DEFAULT_PATH: &str = "scimsync.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    target: RawTarget,
    source: RawSource,
    #[serde(default)]
    safety: RawSafety,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    journal: RawJournal,
    #[serde(default)]
    review: RawReview,
    #[serde(default, rename = "group")]
    groups: Vec<RawGroup>,
}

/// `[journal] retention_days`: 1 to 36500 days, or absent (kept for good).
fn validate_retention(
    days: Option<i64>,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<Option<u32>, ConfigError> {
    days.map(|days| {
        u32::try_from(days)
            .ok()
            .filter(|d| (1..=36_500).contains(d))
            .ok_or_else(|| {
                invalid(
                    "journal.retention_days",
                    format!("{days} is not a number of days from 1 to 36500: set how many days journal records are kept, or leave it out to keep them for good"),
                )
            })
    })
    .transpose()
}

/// `[journal]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJournal {
    retention_days: Option<i64>,
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
    pub sha256: Sha256Hex,
    /// The SCIM target.
    pub target: TargetConfig,
    /// The identity provider.
    pub source: SourceConfig,
    /// Guards against mass removals.
    pub safety: Safety,
    /// Where the state (cursors, mirrors, resolution cache) is kept; the journal is kept
    /// beside it.
    pub state: Store,
    /// `[journal] retention_days`: journal records older than this many days are pruned at
    /// apply. `None` (the default): kept for good.
    pub journal_retention_days: Option<u32>,
    /// What plans tell the reviewer about the access a change gives (`[review]`).
    pub review: crate::model::Review,
    /// The mapped groups, in file order.
    pub groups: Vec<Mapping>,
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

impl Safety {
    /// The policy a group is planned under: these guards, and `--allow-removals` when given.
    pub fn policy(&self, allow_removals: Option<usize>) -> Policy {
        Policy {
            protected: self.protected_members.clone(),
            max_removals: self.max_removals_per_group,
            max_ratio: self.max_removal_ratio,
            allow_removals,
            allow_empty_source: self.allow_empty_source,
        }
    }
}

impl Config {
    /// Read and validate the config at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path).map_err(|cause| ConfigError::Read {
            path: path.display().to_string(),
            cause,
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
    pub fn parse(text: &str, path: &Path, sha256: Sha256Hex) -> Result<Self, ConfigError> {
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
        let journal_retention_days = validate_retention(raw.journal.retention_days, &invalid)?;
        let review = validate_review(raw.review, &invalid)?;
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
                (Some(id), None) if !looks_like_an_id(id.trim()) => {
                    return Err(invalid(
                        &key("target_id"),
                        format!(
                            "{id:?} is not a group id: an id is letters, digits, '-', '_' and '.' (a Genesys group id is a UUID such as 5f4bc742-7d3e-4a1b-9c2f-6e8d0a1b3c10); to name a group by its display name, use target_name"
                        ),
                    ));
                }
                (Some(id), None) => GroupTarget::Id(GroupId(id.trim().to_owned())),
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
            groups.push(Mapping {
                idp_group: g.name,
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
            journal_retention_days,
            review,
            groups,
        })
    }

    /// The groups `selected` names (all when empty); an unknown name is an error.
    pub fn select(&self, selected: &[String]) -> Result<Vec<&Mapping>, ConfigError> {
        if selected.is_empty() {
            return Ok(self.groups.iter().collect());
        }
        selected
            .iter()
            .map(|name| {
                self.groups
                    .iter()
                    .find(|g| &g.idp_group == name)
                    .ok_or_else(|| ConfigError::Invalid {
                        path: self.path.display().to_string(),
                        key: "--group".into(),
                        message: format!(
                            "no [[group]] is named {name:?}; configured: {}",
                            self.groups
                                .iter()
                                .map(|g| g.idp_group.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })
            })
            .collect()
    }
}

/// Whether `id` can be a group id in a URL path: not empty, not `.` or `..` (which address
/// the collection or its parent), and only letters, digits, `-`, `_` and `.`. Genesys ids
/// are UUIDs; RFC 7643 ids are opaque, but no server in use mints ids with `/`, `?`, `#`,
/// `%` or spaces, and each would turn the PATCH to one group into a request to another path.
fn looks_like_an_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
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
        max_removals_per_group: usize::try_from(raw.max_removals_per_group).map_err(|_| {
            invalid(
                "safety.max_removals_per_group",
                format!("{} is too large", raw.max_removals_per_group),
            )
        })?,
        max_removal_ratio: raw.max_removal_ratio,
        protected_members: raw.protected_members.into_iter().map(UserId).collect(),
        allow_empty_source: raw.allow_empty_source,
    })
}

#[cfg(test)]
mod tests;
