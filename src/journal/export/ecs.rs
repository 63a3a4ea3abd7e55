//! Elastic Common Schema documents: each change record as one IAM event. Other records have
//! no document.
//!
//! Categorization follows ECS's IAM guidance (two event types: what was done, and to what;
//! <https://www.elastic.co/guide/en/ecs/current/ecs-user-usage.html>, and the allowed
//! values of `event.type` per category,
//! <https://www.elastic.co/guide/en/ecs/current/ecs-allowed-values-event-category.html>):
//! `event.category: ["iam"]`, `event.type: ["group", "change"]` — the group is what changed
//! in Genesys; the type and `event.action` values are those of Elastic's Windows Security
//! integration for events 4728/4729 (member added to / removed from a group), so rules
//! written for those match these too. The
//! user added or removed is the *target* user (`user.target.*`, with the group in
//! `user.target.group.*` as in ECS's usage example), and `user.*` is who made the change
//! (the CI actor that ran the apply; ECS user fields:
//! <https://www.elastic.co/guide/en/ecs/current/ecs-user.html>). Everything that has no ECS
//! field (the plan, the approval, the CI run) is in `labels`, which ECS keeps for such
//! keyword metadata (<https://www.elastic.co/guide/en/ecs/current/ecs-base.html>).
//!
//! | ECS | from the change record |
//! |---|---|
//! | `@timestamp` | `time` |
//! | `ecs.version` | [`VERSION`] |
//! | `event.kind`, `event.category`, `event.type`, `event.outcome` | `event`, `["iam"]`, `["group", "change"]`, `success` |
//! | `event.action` | `op`: `added-member-to-group`, `removed-member-from-group` |
//! | `event.reason` | `reason`, in words |
//! | `event.id`, `event.sequence` | sha256 of the stored line, `seq` |
//! | `event.provider`, `event.dataset`, `event.original` | `scimsync`, `scimsync.journal`, the stored line |
//! | `message` | the same sentence as OCSF's `message` |
//! | `group.id`, `group.name` | `group.id`, `group.name` (Genesys) |
//! | `user.name` | `approval.actor.ran_by` |
//! | `user.target.id`, `user.target.name`, `user.target.group.*` | `user.id`, `user.label`, the group |
//! | `related.user` | the target's id, label and IdP key, who ran it and who approved it |
//! | `trace.id` | `correlation_id` (Genesys's `ININ-Correlation-Id` of the PATCH) |
//! | `host.hostname` | `approval.actor.host` |
//! | `service.name`, `service.version` | scimsync and the version of the run that wrote the record |
//! | `labels.*` | `idp_group`, `idp_key`, `reason`, `plan_sha256`, `replaces_plan_sha256`, `approved_by`, `change_ref`, `ci_system`, `repository`, `run_url`, `ci_run_id`, `commit`, `run_id`, `lineage`, `state_serial`, `made_by_run` |

use serde_json::{Map, Value, json};

use super::{Context, sentence};
use crate::journal::query::Entry;
use crate::journal::{Change, Op};
use crate::model::{IdpKey, Lineage, Sha256Hex, sha256_hex};

/// The ECS version the documents declare (`ecs.version`).
pub const VERSION: &str = "8.11.0";

/// `event.action` of `op`.
pub fn action(op: Op) -> &'static str {
    match op {
        Op::Add => "added-member-to-group",
        Op::Remove => "removed-member-from-group",
    }
}

/// The document of change `c`, the record of entry `e`.
pub fn document(e: &Entry<'_>, c: &Change, ctx: &Context) -> Value {
    let r = &e.record;
    let actor = &c.approval.actor;
    let group = json!({ "id": c.group.id.as_str(), "name": c.group.name });

    let mut labels = Map::new();
    let mut label = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            labels.insert(key.to_owned(), v.into());
        }
    };
    label("idp_group", Some(&c.group.idp));
    label("idp_key", c.user.key.as_ref().map(IdpKey::as_str));
    label("reason", Some(c.reason.as_str()));
    label("plan_sha256", Some(c.approval.plan_sha256.as_str()));
    label(
        "replaces_plan_sha256",
        c.approval
            .replaces_plan_sha256
            .as_ref()
            .map(Sha256Hex::as_str),
    );
    label("approved_by", actor.approved_by.as_deref());
    label("change_ref", actor.change_ref.as_deref());
    label("ci_system", Some(&actor.system));
    label("repository", actor.repository.as_deref());
    label("run_url", actor.run_url.as_deref());
    label("ci_run_id", actor.run_id.as_deref());
    label("commit", actor.commit.as_deref());
    label("run_id", Some(&r.run.id));
    label("lineage", c.state.lineage.as_ref().map(Lineage::as_str));
    let serial = c.state.serial.to_string();
    label("state_serial", Some(&serial));
    label(
        "made_by_run",
        c.settled.as_ref().map(|s| s.made_by_run.as_str()),
    );

    let mut related: Vec<&str> = vec![c.user.id.as_str(), c.user.label.as_str()];
    related.extend(c.user.key.as_ref().map(IdpKey::as_str));
    related.extend(actor.ran_by.as_deref());
    related.extend(actor.approved_by.as_deref());
    let mut seen = std::collections::BTreeSet::new();
    related.retain(|u| seen.insert(*u));

    let mut user = Map::new();
    if let Some(ran_by) = &actor.ran_by {
        user.insert("name".into(), ran_by.as_str().into());
    }
    user.insert(
        "target".into(),
        json!({
            "id": c.user.id.as_str(),
            "name": c.user.label,
            "group": group,
        }),
    );

    let mut doc = Map::new();
    doc.insert("@timestamp".into(), r.time.to_string().into());
    doc.insert("ecs".into(), json!({ "version": VERSION }));
    doc.insert(
        "event".into(),
        json!({
            "kind": "event",
            "category": ["iam"],
            "type": ["group", "change"],
            "action": action(c.op),
            "outcome": "success",
            "reason": c.reason.describe(),
            "id": sha256_hex(e.line.as_bytes()).as_str(),
            "sequence": r.seq,
            "provider": "scimsync",
            "dataset": "scimsync.journal",
            "original": e.line,
        }),
    );
    doc.insert("message".into(), sentence(c).into());
    doc.insert("group".into(), group);
    doc.insert("user".into(), user.into());
    doc.insert("related".into(), json!({ "user": related }));
    if let Some(id) = &c.correlation_id {
        doc.insert("trace".into(), json!({ "id": id }));
    }
    if let Some(host) = &actor.host {
        doc.insert("host".into(), json!({ "hostname": host }));
    }
    doc.insert(
        "service".into(),
        json!({ "name": "scimsync", "version": ctx.version_of(&r.run.id) }),
    );
    doc.insert("labels".into(), labels.into());
    Value::Object(doc)
}
