//! What a Genesys group grants its members: roles, each in a division (or in all of them),
//! as read from the Platform API, and what `[review]` says about reading and judging them.
//!
//! A group with `rolesEnabled` carries grants; a member holds them while a member and loses
//! them when removed. "All divisions" is the division id `*` (Genesys's Terraform provider,
//! `genesyscloud_group_roles.division_ids`: "'*' may be set for all divisions").

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The division id that stands for every division, present and future (the wire's
/// `scim::wire::authz::ALL_DIVISIONS`, which the emulator shares; `model` imports nothing).
pub const ALL_DIVISIONS: &str = "*";

/// One permission policy of a role (`AuthzGrantPolicy`: `domain`, `entityName`, `actions`),
/// e.g. `directory` / `user` / `[add, edit]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PermissionPolicy {
    /// The permission domain (`directory`, `authorization`, `*`, …).
    pub domain: String,
    /// The entity (`user`, `grant`, `*`, …).
    pub entity: String,
    /// The actions (`view`, `add`, `edit`, `delete`, `*`, …).
    pub actions: Vec<String>,
}

/// A grant as read: a role in a division, with the role's permission policies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoleGrant {
    /// The role's id.
    pub role_id: String,
    /// The role's name.
    pub role: String,
    /// The division's id ([`ALL_DIVISIONS`] for all).
    pub division_id: String,
    /// The division's name.
    pub division: String,
    /// What the role permits.
    pub policies: Vec<PermissionPolicy>,
}

/// Whether plans read what groups grant (`[review] grants`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantsMode {
    /// Read each changed group's grants at plan, re-check them at apply.
    #[default]
    On,
    /// Never read them (orgs that do not use roles on groups): no request, no mark.
    Off,
}

/// `[review]`: what a reviewer is told about the access a change gives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Review {
    /// `grants`: read grants or not.
    pub grants: GrantsMode,
    /// `privileged_roles`: role names (any case) or ids whose grants make a change
    /// privileged, besides the permission rule.
    pub privileged_roles: BTreeSet<String>,
    /// `recheck_all`: apply re-checks also groups that granted nothing at plan.
    pub recheck_all: bool,
}

impl Review {
    /// Whether `[review] privileged_roles` names the role `id` / `name`.
    pub fn names_role(&self, id: &str, name: &str) -> bool {
        self.privileged_roles
            .iter()
            .any(|r| r == id || r.eq_ignore_ascii_case(name))
    }
}
