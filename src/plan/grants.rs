//! What a change gives: the roles a group grants, in which divisions, which of them are
//! privileged, and how the grants a plan recorded differ from the grants read at apply.
//! Pure: `commands/` reads the grants ([`crate::model::RoleGrant`]) and calls these.
//!
//! # The privileged rule
//!
//! A grant is privileged ([`privilege`]) when `[review] privileged_roles` names its role (by
//! id, or by name in any case), or when one of the role's permission policies
//!
//! - is in the domain `*` (every permission), or
//! - is in the domain `authorization` or `directory` with any action but `view` (who holds
//!   which role, users, groups and the organization are edited with these), or
//! - is in the domain `oauth` on the entity `client` or `*` with any action but `view`
//!   (OAuth clients hold roles of their own).
//!
//! An action `*` counts as an action that is not `view`. Everything else (`view` of any
//! domain, the other domains) is not privileged by this rule; name such roles in
//! `privileged_roles`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::model::{ALL_DIVISIONS, PermissionPolicy, Review, RoleGrant};

/// One grant of a group, as a plan records it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The role's name.
    pub role: String,
    /// The role's id.
    pub role_id: String,
    /// The division's name (`all divisions` for [`ALL_DIVISIONS`]).
    pub division: String,
    /// The division's id; `*` for all divisions.
    pub division_id: String,
    /// Why the grant is privileged, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<Privilege>,
}

/// Why a grant is privileged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Privilege {
    /// `[review] privileged_roles` names its role.
    Configured,
    /// The role holds this permission (`directory:user:edit`, `*:*:*`, …): the rule above.
    Permission(String),
}

/// What a plan knows of the roles a group grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupGrants {
    /// Read from Genesys: these grants (none when the group grants no role), sorted.
    Known(Vec<Grant>),
    /// Genesys refused to say (the OAuth client lacks the permission or scope): shown as
    /// "roles unknown", never guessed.
    Unknown,
}

impl GroupGrants {
    /// The grants as read, judged by `review`, sorted.
    pub fn known(read: &[RoleGrant], review: &Review) -> Self {
        let mut grants: Vec<Grant> = read
            .iter()
            .map(|g| Grant {
                role: g.role.clone(),
                role_id: g.role_id.clone(),
                division: if g.division_id == ALL_DIVISIONS {
                    "all divisions".into()
                } else {
                    g.division.clone()
                },
                division_id: g.division_id.clone(),
                privileged: privilege(g, review),
            })
            .collect();
        grants.sort();
        grants.dedup();
        Self::Known(grants)
    }

    /// Whether some grant is privileged.
    pub fn is_privileged(&self) -> bool {
        matches!(self, Self::Known(g) if g.iter().any(|g| g.privileged.is_some()))
    }

    /// Whether the group grants some role (unknown: not known to).
    pub fn grants_any(&self) -> bool {
        matches!(self, Self::Known(g) if !g.is_empty())
    }
}

/// Why `grant` is privileged under `review`, if it is (the rule of the module doc).
pub fn privilege(grant: &RoleGrant, review: &Review) -> Option<Privilege> {
    if review.names_role(&grant.role_id, &grant.role) {
        return Some(Privilege::Configured);
    }
    grant
        .policies
        .iter()
        .find_map(privileged_permission)
        .map(Privilege::Permission)
}

/// The first permission of `p` that the rule calls privileged, as `domain:entity:action`.
fn privileged_permission(p: &PermissionPolicy) -> Option<String> {
    let admin = |a: &&String| a.as_str() != "view";
    let action = match (p.domain.as_str(), p.entity.as_str()) {
        ("*", _) => p.actions.first().map_or("*", String::as_str),
        ("authorization" | "directory", _) | ("oauth", "client" | "*") => {
            p.actions.iter().find(admin)?.as_str()
        }
        _ => return None,
    };
    Some(format!("{}:{}:{action}", p.domain, p.entity))
}

/// Whether apply re-reads the grants of a group planned with `grants`: when it granted some
/// role at plan, or when `recheck_all`; never when they were not read or were unknown.
pub fn needs_recheck(grants: Option<&GroupGrants>, review: &Review) -> bool {
    match grants {
        Some(g @ GroupGrants::Known(_)) => g.grants_any() || review.recheck_all,
        Some(GroupGrants::Unknown) | None => false,
    }
}

/// How the grants read at apply differ from those a plan recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrantsMoved {
    /// Granted now, not at plan.
    pub added: Vec<Grant>,
    /// Granted at plan, not now.
    pub removed: Vec<Grant>,
    /// Unknown now, known at plan (or the other way round).
    pub unknown: bool,
}

impl std::fmt::Display for GrantsMoved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("now also grants {}", describe(&self.added)));
        }
        if !self.removed.is_empty() {
            parts.push(format!("no longer grants {}", describe(&self.removed)));
        }
        if self.unknown {
            parts.push("its roles can no longer be read".into());
        }
        write!(f, "{}", parts.join("; "))
    }
}

/// A grant's identity for comparison: role, division, and whether it is privileged (a role
/// whose permissions became privileged changes what was approved). Names are display only.
fn key(g: &Grant) -> (&str, &str, bool) {
    (&g.role_id, &g.division_id, g.privileged.is_some())
}

/// How `now` differs from `planned`; `None` when it does not.
pub fn moved(planned: &GroupGrants, now: &GroupGrants) -> Option<GrantsMoved> {
    let (GroupGrants::Known(old), GroupGrants::Known(new)) = (planned, now) else {
        return (planned != now).then(|| GrantsMoved {
            unknown: true,
            ..GrantsMoved::default()
        });
    };
    let old_keys: BTreeSet<_> = old.iter().map(key).collect();
    let new_keys: BTreeSet<_> = new.iter().map(key).collect();
    let added: Vec<Grant> = new
        .iter()
        .filter(|g| !old_keys.contains(&key(g)))
        .cloned()
        .collect();
    let removed: Vec<Grant> = old
        .iter()
        .filter(|g| !new_keys.contains(&key(g)))
        .cloned()
        .collect();
    (!added.is_empty() || !removed.is_empty()).then_some(GrantsMoved {
        added,
        removed,
        unknown: false,
    })
}

/// `Supervisor in Home, Quality Evaluator in all divisions`; a privileged grant is marked
/// with why: `(privileged: directory:user:edit)`, `(privileged: named in the config)`
/// (`[review] privileged_roles`).
///
/// ```
/// use scimsync::plan::grants::{Grant, describe};
/// let g = |role: &str, division: &str| Grant {
///     role: role.into(), role_id: format!("r-{role}"),
///     division: division.into(), division_id: format!("d-{division}"), privileged: None,
/// };
/// assert_eq!(describe(&[g("Supervisor", "Home"), g("Agent", "all divisions")]),
///            "Supervisor in Home, Agent in all divisions");
/// ```
pub fn describe(grants: &[Grant]) -> String {
    let mut out = String::new();
    for (i, g) in grants.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{} in {}", g.role, g.division);
        match &g.privileged {
            Some(Privilege::Permission(p)) => {
                let _ = write!(out, " (privileged: {p})");
            }
            Some(Privilege::Configured) => out.push_str(" (privileged: named in the config)"),
            None => {}
        }
    }
    out
}

/// What a group's grants say beside its name: `grants Supervisor in Home`, `grants no
/// role`, `roles unknown`; `None` when they were not read.
pub fn group_text(grants: Option<&GroupGrants>) -> Option<String> {
    match grants? {
        GroupGrants::Unknown => Some("roles unknown".into()),
        GroupGrants::Known(g) if g.is_empty() => Some("grants no role".into()),
        GroupGrants::Known(g) => Some(format!("grants {}", describe(g))),
    }
}

/// What one change gives or takes away: `grants …` for an add, `takes away …` for a
/// removal, `roles unknown` when they could not be read; `None` when the group grants no
/// role or its grants were not read.
pub fn change_text(grants: Option<&GroupGrants>, add: bool) -> Option<String> {
    match grants? {
        GroupGrants::Unknown => Some("roles unknown".into()),
        GroupGrants::Known(g) if g.is_empty() => None,
        GroupGrants::Known(g) if add => Some(format!("grants {}", describe(g))),
        GroupGrants::Known(g) => Some(format!("takes away {}", describe(g))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(domain: &str, entity: &str, actions: &[&str]) -> PermissionPolicy {
        PermissionPolicy {
            domain: domain.into(),
            entity: entity.into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    fn read(role: &str, division: &str, policies: Vec<PermissionPolicy>) -> RoleGrant {
        RoleGrant {
            role_id: format!("r-{role}"),
            role: role.into(),
            division_id: division.into(),
            division: if division == "*" {
                String::new()
            } else {
                format!("Division {division}")
            },
            policies,
        }
    }

    #[test]
    fn the_privileged_rule() {
        let review = Review::default();
        let p = |domain, entity, actions: &[&str]| {
            privilege(
                &read("R", "d1", vec![policy(domain, entity, actions)]),
                &review,
            )
        };
        assert_eq!(
            p("*", "*", &["*"]),
            Some(Privilege::Permission("*:*:*".into()))
        );
        assert_eq!(
            p("authorization", "grant", &["view", "add"]),
            Some(Privilege::Permission("authorization:grant:add".into()))
        );
        assert_eq!(
            p("directory", "user", &["*"]),
            Some(Privilege::Permission("directory:user:*".into()))
        );
        assert_eq!(
            p("oauth", "client", &["edit"]),
            Some(Privilege::Permission("oauth:client:edit".into()))
        );
        assert_eq!(p("authorization", "grant", &["view"]), None);
        assert_eq!(p("directory", "user", &["view"]), None);
        assert_eq!(p("oauth", "token", &["delete"]), None);
        assert_eq!(p("quality", "*", &["*"]), None);
        assert_eq!(p("directory", "user", &[]), None);
        let named = Review {
            privileged_roles: ["supervisor".to_owned(), "r-x".to_owned()].into(),
            ..Review::default()
        };
        assert_eq!(
            privilege(&read("Supervisor", "d1", vec![]), &named),
            Some(Privilege::Configured)
        );
        assert_eq!(
            privilege(&read("x", "d1", vec![]), &named),
            Some(Privilege::Configured)
        );
        assert_eq!(privilege(&read("Agent", "d1", vec![]), &named), None);
    }

    #[test]
    fn grants_are_sorted_named_and_compared_by_role_division_and_privilege() {
        let review = Review::default();
        let admin = read("Admin", "*", vec![policy("*", "*", &["*"])]);
        let sup = read(
            "Supervisor",
            "home",
            vec![policy("quality", "evaluation", &["view"])],
        );
        let planned = GroupGrants::known(std::slice::from_ref(&sup), &review);
        assert_eq!(
            group_text(Some(&planned)).unwrap(),
            "grants Supervisor in Division home"
        );
        let now = GroupGrants::known(&[admin.clone(), sup.clone()], &review);
        assert!(now.is_privileged() && !planned.is_privileged());
        assert_eq!(
            group_text(Some(&now)).unwrap(),
            "grants Admin in all divisions (privileged: *:*:*), Supervisor in Division home"
        );
        let diff = moved(&planned, &now).unwrap();
        assert_eq!(diff.added.len(), 1);
        assert!(diff.removed.is_empty());
        assert_eq!(
            diff.to_string(),
            "now also grants Admin in all divisions (privileged: *:*:*)"
        );
        assert_eq!(moved(&planned, &planned), None);
        // A rename alone is not a change of access.
        let mut renamed = sup.clone();
        renamed.role = "Team Lead".into();
        assert_eq!(
            moved(&planned, &GroupGrants::known(&[renamed], &review)),
            None
        );
        // A role that became privileged is.
        let mut escalated = sup;
        escalated
            .policies
            .push(policy("directory", "user", &["edit"]));
        let diff = moved(&planned, &GroupGrants::known(&[escalated], &review)).unwrap();
        assert_eq!((diff.added.len(), diff.removed.len()), (1, 1));
        let lost = moved(&planned, &GroupGrants::Unknown).unwrap();
        assert!(lost.unknown);
        assert_eq!(lost.to_string(), "its roles can no longer be read");
    }

    #[test]
    fn what_a_change_says_and_what_apply_re_checks() {
        let review = Review::default();
        let none = GroupGrants::known(&[], &review);
        let some = GroupGrants::known(&[read("Agent", "*", vec![])], &review);
        assert_eq!(
            change_text(Some(&some), true).unwrap(),
            "grants Agent in all divisions"
        );
        assert_eq!(
            change_text(Some(&some), false).unwrap(),
            "takes away Agent in all divisions"
        );
        assert_eq!(change_text(Some(&none), true), None);
        assert_eq!(
            change_text(Some(&GroupGrants::Unknown), false).unwrap(),
            "roles unknown"
        );
        assert_eq!(change_text(None, true), None);
        assert_eq!(group_text(Some(&none)).unwrap(), "grants no role");
        assert!(needs_recheck(Some(&some), &review));
        assert!(!needs_recheck(Some(&none), &review));
        let all = Review {
            recheck_all: true,
            ..Review::default()
        };
        assert!(needs_recheck(Some(&none), &all));
        assert!(!needs_recheck(Some(&GroupGrants::Unknown), &all));
        assert!(!needs_recheck(None, &all));
    }
}
