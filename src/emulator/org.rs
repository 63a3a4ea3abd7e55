//! The emulated Genesys Cloud org: users and groups, and the PATCH semantics of groups.
//!
//! A PATCH is atomic: it is applied to a copy of the member set, and the copy replaces the
//! original only when every operation succeeded. The version moves only when the membership
//! actually changed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::filter::{self, MemberPath};
use crate::scim::wire::{self, ErrorBody, MemberRef, PatchRequest};

/// An emulated user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Its id.
    pub id: String,
    /// Its userName (an email).
    pub user_name: String,
    /// Its externalId, if any.
    pub external_id: Option<String>,
    /// Whether it is active.
    pub active: bool,
}

/// An emulated group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub display_name: String,
    /// Its members' ids.
    pub members: BTreeSet<String>,
    /// Its version, the number inside the ETag.
    pub version: u64,
    /// When its membership last changed.
    pub last_modified: jiff::Timestamp,
    /// Members its membership rules hold: a PATCH that removes one is accepted and changes
    /// nothing, as in Genesys, where a rule adds people automatically and only a change to
    /// their profile removes them
    /// (<https://help.mypurecloud.com/articles/group-membership-rules>).
    pub kept_by_rule: BTreeSet<String>,
}

/// An error answer: status and SCIM error body.
pub type Refusal = (u16, ErrorBody);

fn refuse(status: u16, scim_type: &str, detail: impl Into<String>) -> Refusal {
    (status, ErrorBody::new(status, Some(scim_type), detail))
}

/// Users and groups.
#[derive(Debug, Default, Clone)]
pub struct Org {
    /// Users by id.
    pub users: BTreeMap<String, User>,
    /// Groups by id.
    pub groups: BTreeMap<String, Group>,
    /// Users deleted by [`Org::delete_user`]: gone from SCIM (404), still answered by the
    /// Platform API with `state: "deleted"` when asked for deleted users.
    pub deleted: BTreeMap<String, User>,
}

impl Org {
    /// Add (or replace) a user.
    pub fn add_user(&mut self, user: User) {
        self.users.insert(user.id.clone(), user);
    }

    /// Delete user `id`: SCIM no longer knows it; the Platform API answers it as deleted.
    pub fn delete_user(&mut self, id: &str) {
        if let Some(user) = self.users.remove(id) {
            self.deleted.insert(id.to_owned(), user);
        }
    }

    /// Add (or replace) a group at version 1.
    pub fn add_group(
        &mut self,
        id: &str,
        display_name: &str,
        members: impl IntoIterator<Item = String>,
    ) {
        self.groups.insert(
            id.to_owned(),
            Group {
                id: id.to_owned(),
                display_name: display_name.to_owned(),
                members: members.into_iter().collect(),
                version: 1,
                last_modified: jiff::Timestamp::now(),
                kept_by_rule: BTreeSet::new(),
            },
        );
    }

    /// Apply a PATCH request to group `id` atomically, allowing at most `max_values` member
    /// values. Returns whether the membership changed.
    /// `strict` reads RFC 7644 §3.5.2.2 literally: a `remove` of `members` without a filter
    /// removes every member, whatever value list it carries
    /// (<https://www.rfc-editor.org/rfc/rfc7644#section-3.5.2.2>). Genesys (and Entra, its
    /// biggest client) read the value list as the members to remove.
    ///
    /// # Panics
    ///
    /// Never: the group is looked up before it is changed.
    pub fn patch(
        &mut self,
        id: &str,
        request: &PatchRequest,
        max_values: usize,
        strict: bool,
    ) -> Result<bool, Refusal> {
        if !request.schemas.iter().any(|s| s == wire::PATCH_OP_SCHEMA) {
            return Err(refuse(
                400,
                "invalidSyntax",
                "schemas must hold the PatchOp URN",
            ));
        }
        let values: usize = request.operations.iter().map(count_values).sum();
        if values > max_values {
            return Err(refuse(
                400,
                "tooMany",
                format!("{values} member values in one request; at most {max_values} are allowed"),
            ));
        }
        if !self.groups.contains_key(id) {
            return Err(refuse(404, "noTarget", format!("group {id} not found")));
        }
        // Atomic without copying the member set: every operation is checked (and its values
        // read) first into an undo log applied to the real set; a refusal rolls back.
        let mut undo: Vec<(String, bool)> = Vec::new();
        let mut outcome = Ok(());
        for op in &request.operations {
            let literal;
            let op = if strict && op.op.eq_ignore_ascii_case("remove") && op.value.is_some() {
                // "If the target location is a multi-valued attribute and no filter is
                // specified, the attribute and all values are removed": the value is ignored.
                literal = wire::PatchOperation {
                    value: None,
                    ..op.clone()
                };
                &literal
            } else {
                op
            };
            if let Err(e) = self.apply(id, op, &mut undo) {
                outcome = Err(e);
                break;
            }
        }
        let group = self.groups.get_mut(id).expect("checked above");
        if let Err(e) = outcome {
            for (member, was_member) in undo.into_iter().rev() {
                if was_member {
                    group.members.insert(member);
                } else {
                    group.members.remove(&member);
                }
            }
            return Err(e);
        }
        // Members a rule holds stay, whatever the request removed.
        group.members.extend(group.kept_by_rule.iter().cloned());
        // The version moves only when the membership did: an add and a remove of the same
        // member in one request cancel out.
        let mut before: std::collections::HashMap<&str, bool> = std::collections::HashMap::new();
        for (member, was) in &undo {
            before.entry(member.as_str()).or_insert(*was);
        }
        if before
            .iter()
            .all(|(m, was)| group.members.contains(*m) == *was)
        {
            return Ok(false);
        }
        group.version += 1;
        group.last_modified = jiff::Timestamp::now();
        Ok(true)
    }

    /// Set `member`'s membership in group `id`, logging the change in `undo`.
    fn set(&mut self, id: &str, member: &str, present: bool, undo: &mut Vec<(String, bool)>) {
        let members = &mut self.groups.get_mut(id).expect("checked by patch").members;
        let changed = if present {
            members.insert(member.to_owned())
        } else {
            members.remove(member)
        };
        if changed {
            undo.push((member.to_owned(), !present));
        }
    }

    fn apply(
        &mut self,
        id: &str,
        op: &wire::PatchOperation,
        undo: &mut Vec<(String, bool)>,
    ) -> Result<(), Refusal> {
        let path = match op.path.as_deref() {
            Some(p) => filter::parse_member_path(p).map_err(|e| refuse(400, "invalidPath", e))?,
            None => MemberPath::Members,
        };
        // Without a path, the value is an object holding the attributes: {"members": […]}.
        let value = match (&op.path, &op.value) {
            (None, Some(Value::Object(map))) => map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("members"))
                .map(|(_, v)| v.clone()),
            (None, _) => {
                return Err(refuse(
                    400,
                    "noTarget",
                    "an operation without path needs a value object",
                ));
            }
            (Some(_), v) => v.clone(),
        };
        let group = id;
        match (op.op.to_ascii_lowercase().as_str(), path) {
            ("add", MemberPath::Members) => {
                let ids = Self::member_values(value.as_ref())?;
                for id in &ids {
                    self.check_user(id)?;
                }
                for id in &ids {
                    self.set(group, id, true, undo);
                }
            }
            ("replace", MemberPath::Members) => {
                let ids: BTreeSet<String> =
                    Self::member_values(value.as_ref())?.into_iter().collect();
                for id in &ids {
                    self.check_user(id)?;
                }
                let current: Vec<String> = self.groups[group].members.iter().cloned().collect();
                for id in current.iter().filter(|m| !ids.contains(*m)) {
                    self.set(group, id, false, undo);
                }
                for id in &ids {
                    self.set(group, id, true, undo);
                }
            }
            ("remove", MemberPath::Members) => match value {
                None => {
                    let current: Vec<String> = self.groups[group].members.iter().cloned().collect();
                    for id in &current {
                        self.set(group, id, false, undo);
                    }
                }
                Some(_) => {
                    for id in Self::member_values(value.as_ref())? {
                        self.set(group, &id, false, undo);
                    }
                }
            },
            ("remove", MemberPath::Member(id)) => {
                self.set(group, &id, false, undo);
            }
            (op @ ("add" | "replace"), MemberPath::Member(_)) => {
                return Err(refuse(
                    400,
                    "invalidPath",
                    format!("{op} cannot target one member"),
                ));
            }
            (other, _) => {
                return Err(refuse(
                    400,
                    "invalidSyntax",
                    format!("unknown op {other:?}"),
                ));
            }
        }
        Ok(())
    }

    fn member_values(value: Option<&Value>) -> Result<Vec<String>, Refusal> {
        let Some(value) = value else {
            return Err(refuse(
                400,
                "invalidValue",
                "members operation without a value",
            ));
        };
        let refs: Vec<MemberRef> = match value {
            Value::Array(_) => serde_json::from_value(value.clone()),
            _ => serde_json::from_value(Value::Array(vec![value.clone()])),
        }
        .map_err(|e| {
            refuse(
                400,
                "invalidValue",
                format!("members value is not a list of {{\"value\": id}}: {e}"),
            )
        })?;
        Ok(refs.into_iter().map(|r| r.value).collect())
    }

    /// A member to add must exist and, if a user, be active: Genesys answers 400
    /// `invalidValue` for an inactive user and fails the whole PATCH (shared/genesys-scim-api.md,
    /// "Inactive users"; ScimV2MemberReference: a member "can be userId or groupId").
    fn check_user(&self, id: &str) -> Result<(), Refusal> {
        match self.users.get(id) {
            Some(user) if !user.active => Err(refuse(
                400,
                "invalidValue",
                format!("user {id} is inactive and cannot be added to a group"),
            )),
            Some(_) => Ok(()),
            None if self.groups.contains_key(id) => Ok(()),
            None => Err(refuse(
                400,
                "invalidValue",
                format!("user {id} does not exist"),
            )),
        }
    }
}

/// How many member values an operation carries (a filtered path counts as one).
fn count_values(op: &wire::PatchOperation) -> usize {
    match &op.value {
        Some(Value::Array(items)) => items.len(),
        Some(Value::Object(map)) => map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("members"))
            .and_then(|(_, v)| v.as_array())
            .map_or(1, Vec::len),
        Some(_) => 1,
        None => usize::from(op.path.as_deref().is_some_and(|p| p.contains('['))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::wire::PatchOperation;
    use serde_json::json;

    fn org() -> Org {
        let mut org = Org::default();
        for id in ["u1", "u2", "u3"] {
            org.add_user(User {
                id: id.into(),
                user_name: format!("{id}@example.com"),
                external_id: None,
                active: true,
            });
        }
        org.add_group("g", "Sales", ["u1".to_string()]);
        org
    }

    fn req(ops: serde_json::Value) -> PatchRequest {
        PatchRequest::new(serde_json::from_value::<Vec<PatchOperation>>(ops).unwrap())
    }

    #[test]
    fn add_remove_replace_and_version() {
        let mut o = org();
        let changed = o
            .patch(
                "g",
                &req(json!([{"op":"Add","path":"members","value":[{"value":"u2"}]}])),
                50,
                false,
            )
            .unwrap();
        assert!(changed);
        assert_eq!(o.groups["g"].version, 2);
        // A no-op keeps the version.
        assert!(
            !o.patch(
                "g",
                &req(json!([{"op":"add","path":"members","value":[{"value":"u2"}]}])),
                50,
                false
            )
            .unwrap()
        );
        assert_eq!(o.groups["g"].version, 2);
        o.patch(
            "g",
            &req(json!([{"op":"remove","path":"members[value eq \"u1\"]"}])),
            50,
            false,
        )
        .unwrap();
        assert_eq!(o.groups["g"].members, BTreeSet::from(["u2".to_string()]));
        o.patch(
            "g",
            &req(json!([{"op":"replace","path":"members","value":[{"value":"u3"}]}])),
            50,
            false,
        )
        .unwrap();
        assert_eq!(o.groups["g"].members, BTreeSet::from(["u3".to_string()]));
        o.patch(
            "g",
            &req(json!([{"op":"remove","path":"members","value":[{"value":"u3"}]}])),
            50,
            false,
        )
        .unwrap();
        assert!(o.groups["g"].members.is_empty());
    }

    #[test]
    fn an_add_and_remove_of_one_member_keeps_the_version() {
        let mut o = org();
        let changed = o
            .patch(
                "g",
                &req(json!([
                    {"op":"add","path":"members","value":[{"value":"u2"}]},
                    {"op":"remove","path":"members[value eq \"u2\"]"}
                ])),
                50,
                false,
            )
            .unwrap();
        assert!(!changed);
        assert_eq!(o.groups["g"].version, 1);
    }

    #[test]
    fn unknown_user_and_too_many_change_nothing() {
        let mut o = org();
        let e = o
            .patch(
                "g",
                &req(json!([
                    {"op":"add","path":"members","value":[{"value":"u2"}]},
                    {"op":"add","path":"members","value":[{"value":"ghost"}]}
                ])),
                50,
                false,
            )
            .unwrap_err();
        assert_eq!(e.0, 400);
        assert_eq!(e.1.scim_type.as_deref(), Some("invalidValue"));
        assert_eq!(o.groups["g"].members, BTreeSet::from(["u1".to_string()]));
        assert_eq!(o.groups["g"].version, 1);
        let e = o
            .patch(
                "g",
                &req(
                    json!([{"op":"add","path":"members","value":[{"value":"u2"},{"value":"u3"}]}]),
                ),
                1,
                false,
            )
            .unwrap_err();
        assert_eq!(e.1.scim_type.as_deref(), Some("tooMany"));
        assert_eq!(o.groups["g"].version, 1);
    }
}
