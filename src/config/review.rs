//! `[review]`: what a plan tells its reviewer about the access a change gives (issue 23).
//!
//! ```toml
//! [review]
//! grants = "on"                    # "on" (default) | "off": read the roles each changed group grants
//! privileged_roles = ["Supervisor", "2f1c…"]   # role names (any case) or ids: privileged besides the rule
//! recheck_all = false              # apply re-checks also groups that granted nothing at plan
//! ```

use serde::Deserialize;

use super::error::ConfigError;
use crate::model::{GrantsMode, Review};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReview {
    #[serde(default)]
    grants: Option<String>,
    #[serde(default)]
    privileged_roles: Vec<String>,
    #[serde(default)]
    recheck_all: bool,
}

pub(super) fn validate_review(
    raw: RawReview,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<Review, ConfigError> {
    let grants = match raw.grants.as_deref() {
        None | Some("on") => GrantsMode::On,
        Some("off") => GrantsMode::Off,
        Some(other) => {
            return Err(invalid(
                "review.grants",
                format!(
                    "{other:?} is not a choice: expected \"on\" (read the roles each changed group grants) or \"off\" (for orgs that do not put roles on groups)"
                ),
            ));
        }
    };
    let mut privileged_roles = std::collections::BTreeSet::new();
    for (i, role) in raw.privileged_roles.into_iter().enumerate() {
        let role = role.trim().to_owned();
        if role.is_empty() {
            return Err(invalid(
                &format!("review.privileged_roles[{i}]"),
                "must not be empty: give a role's name or id".into(),
            ));
        }
        privileged_roles.insert(role);
    }
    Ok(Review {
        grants,
        privileged_roles,
        recheck_all: raw.recheck_all,
    })
}
