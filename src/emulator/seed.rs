//! The emulator's seed file: the org, the IdP and the emulator's behaviour, in TOML.
//!
//! ```toml
//! [options]                      # all optional
//! stale_status = 400             # If-Match mismatch: 400 (scimType invalidVers), 409 or 412
//! patch_response = 200           # PATCH answers 200 with the group, or 204 with only the ETag
//! max_values_per_patch = 50      # more member values in one PATCH → 400 tooMany
//! token_lifetime_secs = 86400    # expires_in of issued tokens
//! weak_etags = false             # W/"7" instead of "7"
//! rate_limit_per_minute = 300    # per token; 429 with Retry-After past it (0 = none)
//!
//! [[clients]]                    # OAuth clients accepted at POST /oauth/token
//! id = "demo-client"
//! secret = "demo-secret"
//!
//! [[users]]
//! id = "u-alice"
//! userName = "alice@example.com"
//! externalId = "1001"            # optional
//! active = true                  # optional, default true
//!
//! [[divisions]]                 # the first is the Home division
//! id = "d-home"
//! name = "Home"
//!
//! [[roles]]
//! id = "r-agent"
//! name = "Sales Agent"
//! permissions = ["routing:queue:join", "conversation:call:view"]   # domain:entity:action
//!
//! [[groups]]
//! id = "g-sales"
//! displayName = "Sales"
//! members = ["u-alice"]
//! grants = [{ role = "r-agent", division = "d-home" }]   # division "*": all divisions
//!
//! [idp]
//! token = "idp-token"            # bearer token the delta endpoint accepts
//! [idp.groups]
//! sales = ["u-alice", "u-bob"]   # IdP group name → member ids
//! ```
//!
//! `examples/emulator-seed.toml` is a complete sample, and the default of
//! `scimsync emulator`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::authz::Authz;
use super::faults::RateLimit;
use super::options::{Options, PatchResponse, StaleStatus};

/// The sample seed, used when `scimsync emulator` is given none.
pub const SAMPLE: &str = include_str!("../../examples/emulator-seed.toml");

/// A parsed seed file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Emulator behaviour.
    #[serde(default)]
    pub options: SeedOptions,
    /// OAuth clients.
    #[serde(default)]
    pub clients: Vec<SeedClient>,
    /// Users.
    #[serde(default)]
    pub users: Vec<SeedUser>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<SeedGroup>,
    /// Divisions (the first is Home).
    #[serde(default)]
    pub divisions: Vec<SeedDivision>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<SeedRole>,
    /// The identity provider.
    #[serde(default)]
    pub idp: SeedIdp,
}

/// `[options]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOptions {
    /// 400, 409 or 412.
    pub stale_status: Option<u16>,
    /// 200 or 204.
    pub patch_response: Option<u16>,
    /// Member values per PATCH, at most.
    pub max_values_per_patch: Option<usize>,
    /// Token lifetime in seconds.
    pub token_lifetime_secs: Option<u64>,
    /// Weak ETags.
    pub weak_etags: Option<bool>,
    /// Requests per minute per token (0: no limit).
    pub rate_limit_per_minute: Option<u32>,
}

/// `[[clients]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedClient {
    /// Client id.
    pub id: String,
    /// Client secret.
    pub secret: String,
}

/// `[[users]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SeedUser {
    /// User id.
    pub id: String,
    /// userName.
    pub user_name: String,
    /// externalId.
    pub external_id: Option<String>,
    /// Active (default true).
    pub active: Option<bool>,
}

/// `[[groups]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SeedGroup {
    /// Group id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Member user ids.
    #[serde(default)]
    pub members: Vec<String>,
    /// The roles the group grants its members, each in a division.
    #[serde(default)]
    pub grants: Vec<SeedGrant>,
}

/// One grant of `[[groups]]`: a role in a division (`*`: all divisions).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGrant {
    /// The role's id.
    pub role: String,
    /// The division's id, or `*`.
    pub division: String,
}

/// `[[divisions]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedDivision {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// `[[roles]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRole {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `domain:entity:action` permissions.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// `[idp]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedIdp {
    /// The bearer token the delta endpoint accepts.
    pub token: Option<String>,
    /// IdP group name → member ids.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
}

/// Why a seed was refused.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Not valid TOML, or not this shape.
    #[error("seed file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What toml said (with line and key).
        message: String,
    },
    /// A value out of range.
    #[error("seed file {path}: {key} = {value} is not allowed: {expected}")]
    Value {
        /// The file.
        path: String,
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
}

impl Seed {
    /// Parse seed TOML; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, SeedError> {
        toml::from_str(text).map_err(|e| SeedError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// The roles, divisions and group grants this seed holds; a grant must name a seeded
    /// role and division (or `*`).
    pub fn authz(&self, path: &str) -> Result<Authz, SeedError> {
        let mut a = Authz::default();
        for d in &self.divisions {
            a.add_division(&d.id, &d.name);
        }
        for r in &self.roles {
            a.add_role(&r.id, &r.name, &r.permissions);
        }
        for g in &self.groups {
            for grant in &g.grants {
                if !a.roles.contains_key(&grant.role) || !a.knows_division(&grant.division) {
                    return Err(SeedError::Value {
                        path: path.to_owned(),
                        key: "groups.grants",
                        value: format!(
                            "{{ role = {:?}, division = {:?} }} of group {}",
                            grant.role, grant.division, g.id
                        ),
                        expected: "a role of [[roles]] and a division of [[divisions]] (or \"*\")",
                    });
                }
                a.grant(&g.id, &grant.role, &grant.division);
            }
        }
        Ok(a)
    }

    /// The options this seed asks for, on top of the defaults.
    pub fn options(&self, path: &str) -> Result<Options, SeedError> {
        let mut o = Options::default();
        let s = &self.options;
        let bad = |key, value: String, expected| SeedError::Value {
            path: path.to_owned(),
            key,
            value,
            expected,
        };
        if let Some(v) = s.stale_status {
            o.stale_status = match v {
                400 => StaleStatus::InvalidVers400,
                409 => StaleStatus::Conflict409,
                412 => StaleStatus::PreconditionFailed412,
                _ => {
                    return Err(bad(
                        "options.stale_status",
                        v.to_string(),
                        "400, 409 or 412",
                    ));
                }
            };
        }
        if let Some(v) = s.patch_response {
            o.patch_response = match v {
                200 => PatchResponse::Body,
                204 => PatchResponse::NoContent,
                _ => return Err(bad("options.patch_response", v.to_string(), "200 or 204")),
            };
        }
        if let Some(v) = s.max_values_per_patch {
            if v == 0 {
                return Err(bad(
                    "options.max_values_per_patch",
                    v.to_string(),
                    "at least 1",
                ));
            }
            o.max_values_per_patch = v;
        }
        if let Some(v) = s.token_lifetime_secs {
            o.token_lifetime = Duration::from_secs(v);
        }
        if let Some(v) = s.weak_etags {
            o.weak_etags = v;
        }
        if let Some(v) = s.rate_limit_per_minute {
            o.rate_limit = (v > 0).then_some(RateLimit {
                requests: v,
                window: Duration::from_mins(1),
            });
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_seed_parses() {
        let seed = Seed::parse(SAMPLE, "sample").unwrap();
        assert!(!seed.users.is_empty());
        assert!(!seed.groups.is_empty());
        assert!(!seed.clients.is_empty());
        seed.options("sample").unwrap();
        let authz = seed.authz("sample").unwrap();
        assert!(!authz.grants.is_empty());
    }

    #[test]
    fn bad_seeds_name_file_and_key() {
        let e = Seed::parse("[[users]]\nid = 1\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.toml") && e.contains("id"), "{e}");
        let e = Seed::parse("colour = 1\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let seed = Seed::parse("[options]\nstale_status = 418\n", "s.toml").unwrap();
        let e = seed.options("s.toml").unwrap_err().to_string();
        assert!(e.contains("options.stale_status = 418"), "{e}");
        let seed = Seed::parse(
            "[[groups]]\nid = \"g\"\ndisplayName = \"G\"\ngrants = [{ role = \"r-none\", division = \"*\" }]\n",
            "s.toml",
        )
        .unwrap();
        let e = seed.authz("s.toml").unwrap_err().to_string();
        assert!(e.contains("groups.grants") && e.contains("r-none"), "{e}");
    }
}
