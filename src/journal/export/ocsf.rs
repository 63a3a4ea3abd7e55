//! OCSF events: each change record as one Group Management event (class 3006, category 3
//! Identity & Access Management), activity 3 "Add User" or 4 "Remove User"
//! (<https://schema.ocsf.io/1.4.0/classes/group_management>). Other records have no event.
//!
//! The target is OCSF [`VERSION`]: the first version whose Group Management class has an
//! `actor` (who made the change, and under which approval). `tests/ocsf.rs` validates every
//! event against the published schema of that version (the `ocsf-json-schema` package) and
//! of the newest one it ships. The class has `additionalProperties: false` at every level,
//! so what has no OCSF attribute of its own (the plan's sha256, the approval's change
//! reference, the CI run, the state serial) is in `unmapped`, flat, under the native names.
//!
//! | OCSF | from the change record |
//! |---|---|
//! | `activity_id`, `activity_name`, `type_uid`, `type_name` | `op`: add 3, remove 4; `type_uid` = 300600 + activity |
//! | `category_uid` 3, `class_uid` 3006, `severity_id` 1 (Informational), `status_id` 1 (Success) | constant: a record is written for a change made |
//! | `time` | `time`, milliseconds since the epoch |
//! | `message` | a sentence: who was added to or removed from which group, why, under which plan |
//! | `group.uid`, `group.name` | `group.id`, `group.name` (Genesys) |
//! | `user.uid`, `user.name`, `user.uid_alt` | `user.id`, `user.label`, `user.key` (the IdP key) |
//! | `actor.app_name` | `scimsync` |
//! | `actor.user.name` | `approval.actor.ran_by` (the CI actor or local user) |
//! | `actor.authorizations[0]` | the approval: `decision` "approved", `policy.uid` the plan's sha256, `policy.name`, `policy.desc` who approved it where |
//! | `src_endpoint.hostname` | `approval.actor.host` |
//! | `metadata.product` | scimsync, its version from the run's `run_started` record |
//! | `metadata.uid`, `metadata.sequence` | sha256 of the stored line, `seq`: the record in the chain |
//! | `metadata.correlation_uid` | `correlation_id` (Genesys's `ININ-Correlation-Id` of the PATCH) |
//! | `status_detail` | for a settled change: which run made it and which journaled it |
//! | `raw_data` | the stored line itself |
//! | `unmapped` | `idp_group`, `reason`, `plan_sha256`, `replaces_plan_sha256`, `approved_by`, `change_ref`, `ci_system`, `repository`, `run_url`, `ci_run_id`, `commit`, `run_id`, `lineage`, `state_serial`, `made_by_run`, `found_at` |

use serde_json::{Map, Value, json};

use super::{Context, sentence};
use crate::journal::query::Entry;
use crate::journal::{Change, Op};
use crate::model::{IdpKey, Lineage, Sha256Hex, sha256_hex};

/// The OCSF schema version the events declare (`metadata.version`).
pub const VERSION: &str = "1.4.0";

/// Group Management.
pub const CLASS_UID: u32 = 3006;

/// Identity & Access Management.
pub const CATEGORY_UID: u32 = 3;

/// The activity of `op`: 3 Add User, 4 Remove User.
pub fn activity(op: Op) -> (u32, &'static str) {
    match op {
        Op::Add => (3, "Add User"),
        Op::Remove => (4, "Remove User"),
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v.into());
    }
}

/// `user`: the user added or removed.
fn user(c: &Change) -> Value {
    let mut user = Map::new();
    user.insert("uid".into(), c.user.id.as_str().into());
    user.insert("name".into(), c.user.label.as_str().into());
    put(
        &mut user,
        "uid_alt",
        c.user.key.as_ref().map(IdpKey::as_str),
    );
    user.insert("type_id".into(), 1.into());
    user.insert("type".into(), "User".into());
    user.into()
}

/// `actor`: scimsync, run by the CI actor, under the approved plan.
fn actor(c: &Change) -> Value {
    let actor = &c.approval.actor;
    let mut policy = Map::new();
    policy.insert("uid".into(), c.approval.plan_sha256.as_str().into());
    policy.insert(
        "name".into(),
        format!("scimsync plan {}", c.approval.plan_sha256.short()).into(),
    );
    let approved = match (&actor.approved_by, &actor.change_ref) {
        (Some(who), Some(at)) => Some(format!("approved by {who} in {at}")),
        (Some(who), None) => Some(format!("approved by {who}")),
        (None, Some(at)) => Some(format!("approved in {at}")),
        (None, None) => None,
    };
    put(&mut policy, "desc", approved);
    let mut out = Map::new();
    out.insert("app_name".into(), "scimsync".into());
    if let Some(ran_by) = &actor.ran_by {
        out.insert("user".into(), json!({ "name": ran_by }));
    }
    out.insert(
        "authorizations".into(),
        json!([{ "decision": "approved", "policy": policy }]),
    );
    out.into()
}

/// `metadata`: the schema version, the product, and the record in the chain.
fn metadata(e: &Entry<'_>, c: &Change, ctx: &Context) -> Value {
    let mut metadata = Map::new();
    metadata.insert("version".into(), VERSION.into());
    metadata.insert(
        "product".into(),
        json!({
            "name": "scimsync",
            "vendor_name": "scimsync",
            "version": ctx.version_of(&e.record.run.id),
        }),
    );
    metadata.insert("uid".into(), sha256_hex(e.line.as_bytes()).as_str().into());
    metadata.insert("sequence".into(), e.record.seq.into());
    put(
        &mut metadata,
        "correlation_uid",
        c.correlation_id.as_deref(),
    );
    metadata.into()
}

/// `unmapped`: what OCSF has no attribute for, under the native names.
fn unmapped(e: &Entry<'_>, c: &Change) -> Value {
    let actor = &c.approval.actor;
    let mut unmapped = Map::new();
    unmapped.insert("idp_group".into(), c.group.idp.as_str().into());
    unmapped.insert("reason".into(), c.reason.as_str().into());
    unmapped.insert("plan_sha256".into(), c.approval.plan_sha256.as_str().into());
    put(
        &mut unmapped,
        "replaces_plan_sha256",
        c.approval
            .replaces_plan_sha256
            .as_ref()
            .map(Sha256Hex::as_str),
    );
    put(&mut unmapped, "approved_by", actor.approved_by.as_deref());
    put(&mut unmapped, "change_ref", actor.change_ref.as_deref());
    unmapped.insert("ci_system".into(), actor.system.as_str().into());
    put(&mut unmapped, "repository", actor.repository.as_deref());
    put(&mut unmapped, "run_url", actor.run_url.as_deref());
    put(&mut unmapped, "ci_run_id", actor.run_id.as_deref());
    put(&mut unmapped, "commit", actor.commit.as_deref());
    unmapped.insert("run_id".into(), e.record.run.id.as_str().into());
    put(
        &mut unmapped,
        "lineage",
        c.state.lineage.as_ref().map(Lineage::as_str),
    );
    unmapped.insert("state_serial".into(), c.state.serial.into());
    if let Some(s) = &c.settled {
        unmapped.insert("made_by_run".into(), s.made_by_run.as_str().into());
        unmapped.insert("found_at".into(), s.found_at.to_string().into());
    }
    unmapped.into()
}

/// The event of change `c`, the record of entry `e`.
pub fn event(e: &Entry<'_>, c: &Change, ctx: &Context) -> Value {
    let r = &e.record;
    let (activity_id, activity_name) = activity(c.op);
    let mut event = Map::new();
    event.insert("activity_id".into(), activity_id.into());
    event.insert("activity_name".into(), activity_name.into());
    event.insert("category_uid".into(), CATEGORY_UID.into());
    event.insert(
        "category_name".into(),
        "Identity & Access Management".into(),
    );
    event.insert("class_uid".into(), CLASS_UID.into());
    event.insert("class_name".into(), "Group Management".into());
    event.insert("type_uid".into(), (CLASS_UID * 100 + activity_id).into());
    event.insert(
        "type_name".into(),
        format!("Group Management: {activity_name}").into(),
    );
    event.insert("severity_id".into(), 1.into());
    event.insert("severity".into(), "Informational".into());
    event.insert("status_id".into(), 1.into());
    event.insert("status".into(), "Success".into());
    event.insert("time".into(), r.time.as_millisecond().into());
    event.insert("message".into(), sentence(c).into());
    event.insert(
        "group".into(),
        json!({ "uid": c.group.id.as_str(), "name": c.group.name }),
    );
    event.insert("user".into(), user(c));
    event.insert("actor".into(), actor(c));
    if let Some(host) = &c.approval.actor.host {
        event.insert("src_endpoint".into(), json!({ "hostname": host }));
    }
    if let Some(s) = &c.settled {
        event.insert(
            "status_detail".into(),
            format!(
                "made by run {}; found made at {} by run {}, and journaled then",
                s.made_by_run,
                s.found_at,
                s.found_by_run.as_deref().unwrap_or(&r.run.id)
            )
            .into(),
        );
    }
    event.insert("metadata".into(), metadata(e, c, ctx));
    event.insert("raw_data".into(), e.line.into());
    event.insert("unmapped".into(), unmapped(e, c));
    Value::Object(event)
}
