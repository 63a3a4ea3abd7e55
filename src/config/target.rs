//! `[target]`: which SCIM server, where, and how it is written to.

use serde::Deserialize;

use super::error::{ConfigError, endpoint, positive};
use super::regions;
use crate::endpoint::Endpoint;
use crate::model::RemoveStyle;
use crate::model::TargetKind;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
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

#[allow(
    clippy::too_many_lines,
    reason = "one arm per target kind, each with its keys"
)]
pub(super) fn validate_target(
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
                    let login_base = if let Some(l) = login {
                        endpoint("target.login_base", &l, invalid)?
                    } else {
                        // https://api.<domain> → https://login.<domain>; elsewhere (the
                        // emulator) the same host serves both.
                        let derived = api_base.as_str().replacen("://api.", "://login.", 1);
                        endpoint("target.login_base", &derived, invalid)?
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
        )?,
        requests_per_minute: positive(
            "target.requests_per_minute",
            raw.requests_per_minute,
            300,
            1_000_000,
            invalid,
        )?,
        concurrency: positive("target.concurrency", raw.concurrency, 4, 64, invalid)?,
        patch_excludes_members: raw
            .patch_excludes_members
            .unwrap_or(raw.kind == TargetKind::Scim),
    })
}
