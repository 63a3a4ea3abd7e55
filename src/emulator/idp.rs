//! The emulated identity provider: group memberships with a change log, served as the
//! generic delta endpoint of genesys-scim-api.md §10.
//!
//! Every change gets a sequence number; the cursor `c<N>` means "everything up to change N".
//! A delta since `c<N>` holds the net difference between the membership after change N and
//! now: a user added and removed again in between is in neither list.
//!
//! It also holds the IdP's directory, for the Graph and Okta faces: Entra directory objects
//! (users with a `userPrincipalName` and `accountEnabled`, groups, devices, service
//! principals) and Okta users (`login`, `email`, `status`). A member id the directory does not
//! name is a plain enabled user whose UPN, login and email are `<id>@example.com`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// The delta endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delta {
    /// Users added since the cursor (all members when there was none).
    pub additions: Vec<String>,
    /// Users removed since the cursor.
    pub removals: Vec<String>,
    /// The cursor to send as `since` next time.
    pub idp_etag: String,
}

/// Why a delta was refused: status and message.
pub type DeltaRefusal = (u16, String);

/// What kind of Entra directory object an id names (its `@odata.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntraKind {
    /// `#microsoft.graph.user`
    User,
    /// `#microsoft.graph.group`
    Group,
    /// `#microsoft.graph.device`
    Device,
    /// `#microsoft.graph.servicePrincipal`
    ServicePrincipal,
}

impl EntraKind {
    /// The `@odata.type`.
    pub fn odata_type(self) -> &'static str {
        match self {
            Self::User => "#microsoft.graph.user",
            Self::Group => "#microsoft.graph.group",
            Self::Device => "#microsoft.graph.device",
            Self::ServicePrincipal => "#microsoft.graph.servicePrincipal",
        }
    }

    /// The name used in getByIds' `types` (`user`, `group`, …).
    pub fn type_name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Device => "device",
            Self::ServicePrincipal => "servicePrincipal",
        }
    }
}

/// An Entra directory object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraObject {
    /// Its object id.
    pub id: String,
    /// What it is.
    pub kind: EntraKind,
    /// A user's `userPrincipalName`.
    pub user_principal_name: Option<String>,
    /// Its `displayName`.
    pub display_name: String,
    /// A user's `accountEnabled`.
    pub account_enabled: bool,
}

/// An Okta user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OktaUser {
    /// Its id (`00u…`).
    pub id: String,
    /// `profile.login`.
    pub login: String,
    /// `profile.email`.
    pub email: String,
    /// `status`: `ACTIVE`, `DEPROVISIONED`, `SUSPENDED`, …
    pub status: String,
}

/// IdP groups and their change logs, and the IdP's directory.
#[derive(Debug, Default, Clone)]
pub struct Idp {
    seq: u64,
    /// Cursors below this are expired (410).
    oldest_cursor: u64,
    groups: BTreeMap<String, IdpGroup>,
    /// Entra directory objects by object id (lower case).
    pub entra: BTreeMap<String, EntraObject>,
    /// Okta users by id.
    pub okta: BTreeMap<String, OktaUser>,
}

#[derive(Debug, Default, Clone)]
struct IdpGroup {
    members: BTreeSet<String>,
    /// Per user, the changes to its membership: (sequence, now a member).
    history: BTreeMap<String, Vec<(u64, bool)>>,
}

impl Idp {
    /// Create group `name` (if new) and set its members, as changes.
    pub fn set_members(&mut self, name: &str, members: impl IntoIterator<Item = String>) {
        let wanted: BTreeSet<String> = members.into_iter().collect();
        let current = self
            .groups
            .entry(name.to_owned())
            .or_default()
            .members
            .clone();
        let add: Vec<_> = wanted.difference(&current).cloned().collect();
        let remove: Vec<_> = current.difference(&wanted).cloned().collect();
        self.change(name, &add, &remove);
    }

    /// Add and remove members of group `name` (created if new).
    pub fn change(&mut self, name: &str, add: &[String], remove: &[String]) {
        let group = self.groups.entry(name.to_owned()).or_default();
        for (user, member) in add
            .iter()
            .map(|u| (u, true))
            .chain(remove.iter().map(|u| (u, false)))
        {
            let changed = if member {
                group.members.insert(user.clone())
            } else {
                group.members.remove(user)
            };
            if changed {
                self.seq += 1;
                group
                    .history
                    .entry(user.clone())
                    .or_default()
                    .push((self.seq, member));
            }
        }
    }

    /// The members of group `name` now.
    pub fn members(&self, name: &str) -> Option<&BTreeSet<String>> {
        self.groups.get(name).map(|g| &g.members)
    }

    /// The name of the group whose name is `name` without regard to ASCII case (Graph
    /// group ids are GUIDs, compared that way).
    pub fn group_name_ignoring_case(&self, name: &str) -> Option<&str> {
        self.groups
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .map(String::as_str)
    }

    /// Users of group `name` that were members once and are not now.
    pub fn former_members(&self, name: &str) -> Vec<String> {
        self.groups
            .get(name)
            .map(|g| {
                g.history
                    .keys()
                    .filter(|u| !g.members.contains(*u))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `id` is or was a member of any group (so that it exists in the directory).
    pub fn former_or_current_member(&self, id: &str) -> bool {
        self.groups
            .values()
            .any(|g| g.history.keys().any(|u| u.eq_ignore_ascii_case(id)))
    }

    /// The Entra object `id` names (a plain enabled user when the directory does not name it).
    pub fn entra_object(&self, id: &str) -> EntraObject {
        self.entra
            .get(&id.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| EntraObject {
                id: id.to_owned(),
                kind: EntraKind::User,
                user_principal_name: Some(format!("{id}@example.com")),
                display_name: format!("User {id}"),
                account_enabled: true,
            })
    }

    /// The Okta user `id` names (an active user when the directory does not name it).
    pub fn okta_user(&self, id: &str) -> OktaUser {
        self.okta.get(id).cloned().unwrap_or_else(|| OktaUser {
            id: id.to_owned(),
            login: format!("{id}@example.com"),
            email: format!("{id}@example.com"),
            status: "ACTIVE".into(),
        })
    }

    /// The current cursor.
    pub fn cursor(&self) -> String {
        format!("c{}", self.seq)
    }

    /// Make every cursor issued so far expired: a delta since one of them answers 410.
    pub fn expire_cursors(&mut self) {
        self.oldest_cursor = self.seq + 1;
    }

    /// The changes to group `name` since `since` (everything when `None` or empty).
    pub fn delta(&self, name: &str, since: Option<&str>) -> Result<Delta, DeltaRefusal> {
        let group = self
            .groups
            .get(name)
            .ok_or_else(|| (404, format!("no IdP group {name:?}")))?;
        let since = match since.filter(|s| !s.is_empty()) {
            None => None,
            Some(c) => {
                let n: u64 = c
                    .strip_prefix('c')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| (400, format!("cursor {c:?} is not one this IdP issued")))?;
                if n > self.seq {
                    return Err((400, format!("cursor {c:?} is from the future")));
                }
                if n < self.oldest_cursor {
                    return Err((
                        410,
                        format!("cursor {c:?} has expired; start again without since"),
                    ));
                }
                Some(n)
            }
        };
        let (mut additions, mut removals) = (Vec::new(), Vec::new());
        match since {
            None => additions.extend(group.members.iter().cloned()),
            Some(n) => {
                for (user, changes) in &group.history {
                    if changes.last().is_some_and(|(seq, _)| *seq > n) {
                        let then = changes
                            .iter()
                            .rev()
                            .find(|(seq, _)| *seq <= n)
                            .is_some_and(|(_, member)| *member);
                        let now = group.members.contains(user);
                        match (then, now) {
                            (false, true) => additions.push(user.clone()),
                            (true, false) => removals.push(user.clone()),
                            _ => {}
                        }
                    }
                }
            }
        }
        Ok(Delta {
            additions,
            removals,
            idp_etag: self.cursor(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn deltas_are_net_changes_since_a_cursor() {
        let mut idp = Idp::default();
        idp.set_members("sales", s(&["a", "b"]));
        let first = idp.delta("sales", None).unwrap();
        assert_eq!(first.additions, s(&["a", "b"]));
        let c = first.idp_etag;
        idp.change("sales", &s(&["c", "d"]), &s(&["a"]));
        idp.change("sales", &[], &s(&["d"]));
        let d = idp.delta("sales", Some(&c)).unwrap();
        assert_eq!(d.additions, s(&["c"]));
        assert_eq!(d.removals, s(&["a"]));
        let again = idp.delta("sales", Some(&d.idp_etag)).unwrap();
        assert!(again.additions.is_empty() && again.removals.is_empty());
    }

    #[test]
    fn refusals() {
        let mut idp = Idp::default();
        idp.set_members("g", s(&["a"]));
        let c = idp.cursor();
        assert_eq!(idp.delta("nope", None).unwrap_err().0, 404);
        assert_eq!(idp.delta("g", Some("zzz")).unwrap_err().0, 400);
        idp.expire_cursors();
        assert_eq!(idp.delta("g", Some(&c)).unwrap_err().0, 410);
        assert!(idp.delta("g", Some("")).is_ok());
    }
}
