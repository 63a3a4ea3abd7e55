//! The emulated org's authorization: roles (with their permissions), divisions, and the
//! grants each group carries (a role in a division, or in all of them: `*`). Groups that
//! carry a grant have `rolesEnabled`. What `authz_routes` answers and tests change between a
//! plan and its apply ([`Emulator::grant_role`](super::Emulator::grant_role)).

use std::collections::{BTreeMap, BTreeSet};

use crate::scim::wire::authz::ALL_DIVISIONS;

/// A role: its name and permissions (`domain:entity:action`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Its name.
    pub name: String,
    /// Its permissions, `domain:entity:action` each (`directory:user:edit`, `*:*:*`).
    pub permissions: Vec<String>,
}

/// Roles, divisions and grants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authz {
    /// Roles by id.
    pub roles: BTreeMap<String, Role>,
    /// Division names by id (the first seeded is the Home division).
    pub divisions: BTreeMap<String, String>,
    /// The Home division's id.
    pub home: Option<String>,
    /// Group id → its grants (role id, division id).
    pub grants: BTreeMap<String, BTreeSet<(String, String)>>,
}

impl Authz {
    /// Add (or replace) a role.
    pub fn add_role(&mut self, id: &str, name: &str, permissions: &[String]) {
        self.roles.insert(
            id.to_owned(),
            Role {
                name: name.to_owned(),
                permissions: permissions.to_vec(),
            },
        );
    }

    /// Add (or rename) a division; the first added is Home.
    pub fn add_division(&mut self, id: &str, name: &str) {
        self.home.get_or_insert_with(|| id.to_owned());
        self.divisions.insert(id.to_owned(), name.to_owned());
    }

    /// Whether `division` names a division (or all of them).
    pub fn knows_division(&self, division: &str) -> bool {
        division == ALL_DIVISIONS || self.divisions.contains_key(division)
    }

    /// Grant role `role` in `division` to group `group`; false when it held it already.
    pub fn grant(&mut self, group: &str, role: &str, division: &str) -> bool {
        self.grants
            .entry(group.to_owned())
            .or_default()
            .insert((role.to_owned(), division.to_owned()))
    }

    /// Take the grant back; false when the group did not hold it.
    pub fn revoke(&mut self, group: &str, role: &str, division: &str) -> bool {
        self.grants
            .get_mut(group)
            .is_some_and(|g| g.remove(&(role.to_owned(), division.to_owned())))
    }

    /// The grants of group `group`.
    pub fn of(&self, group: &str) -> impl Iterator<Item = &(String, String)> {
        self.grants.get(group).into_iter().flatten()
    }

    /// The division's name: `*` is all divisions.
    pub fn division_name(&self, id: &str) -> String {
        if id == ALL_DIVISIONS {
            "All divisions".into()
        } else {
            self.divisions.get(id).cloned().unwrap_or_default()
        }
    }
}

/// `domain:entity:action` permissions as (domain, entity) → actions, in order.
pub fn policies(permissions: &[String]) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for p in permissions {
        let mut parts = p.splitn(3, ':');
        let (d, e, a) = (
            parts.next().unwrap_or("*"),
            parts.next().unwrap_or("*"),
            parts.next().unwrap_or("*"),
        );
        out.entry((d.to_owned(), e.to_owned()))
            .or_default()
            .push(a.to_owned());
    }
    out
}
