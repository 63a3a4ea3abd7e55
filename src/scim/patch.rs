//! Sending a group's member changes: chunked, each chunk under `If-Match`, ETags chained.
//!
//! Rules 1, 4 and 5 of DESIGN.md live here:
//! - every PATCH carries `If-Match`; a stale answer is never retried with a fresh ETag;
//! - a chunk whose response was lost (or whose retry came back stale after a 5xx or a reset)
//!   is settled by re-reading the group: if its members are exactly the plan's base plus the
//!   chunks sent so far, the chunk landed and the next one goes on with the re-read ETag;
//!   anything else means someone else moved the group: stale;
//! - chunks hold at most `max_members_per_patch` values and `max_patch_bytes` bytes, and each
//!   next chunk uses the ETag that the previous answer returned;
//! - a 2xx is believed only when it shows the write ([`proves`]): a version other than the
//!   `If-Match` sent and, where the answer holds members, the chunk's adds present and its
//!   removals gone. Anything else (a 200 with the group unchanged, an HTML page, a 3xx, a 204
//!   without an ETag) is settled by one re-read: applied, partly applied (what landed counts,
//!   the rest is [`ScimError::NotApplied`], named user by user), or moved by someone else
//!   (stale). A server that accepts a removal and keeps the member (a Genesys group's
//!   membership rule) is thus reported, and the group's state does not move past it.

use crate::model::RemoveStyle;
use crate::model::Sha256Hex;
use bytes::Bytes;

use super::wire::{GroupRead, MemberRef, PatchOperation, PatchRequest};
use super::{ScimClient, ScimError, check, etag_of, filter_eq};
use std::collections::BTreeMap;

use crate::model::{ETag, GroupId, MemberChanges, MemberSet, Precondition, UserId, members_sha256};

/// A group's changes, all applied.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The group's ETag after the last chunk, if the server told.
    pub etag: Option<ETag>,
    /// PATCH requests answered with success.
    pub patches: usize,
    /// Chunks whose response was lost and that a re-read showed applied.
    pub recovered: usize,
    /// Genesys's `ININ-Correlation-Id` of the PATCH that carried each change, where its
    /// answer came back with one (the journal records it beside the change).
    pub correlation: BTreeMap<UserId, String>,
}

/// A group's changes, not all applied.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct PatchError {
    /// The chunks that are known to have been applied before the failure.
    pub applied: MemberChanges,
    /// Why the rest was not: [`ScimError::Stale`] when the group moved. In the message, so
    /// not an error source (`{:#}` would print it twice).
    pub error: ScimError,
    /// The correlation ids of the applied changes, as in [`PatchOutcome::correlation`].
    pub correlation: BTreeMap<UserId, String>,
}

impl PatchError {
    /// True when the group moved under the plan, or Genesys accepted part of it without
    /// applying it: either way the group is re-planned, never written blind.
    pub fn is_stale(&self) -> bool {
        self.error.is_stale() || matches!(self.error, ScimError::NotApplied { .. })
    }
}

/// Whether a 2xx answer to a PATCH sent under `sent` shows that `chunk` was applied: its
/// version moved from `sent` (an answer without a version shows nothing), and where it
/// holds members, the chunk's adds are there and its removals gone.
pub fn proves(reply: &super::Reply, sent: Option<&ETag>, chunk: &MemberChanges) -> Option<ETag> {
    let version = etag_of(reply)?;
    if sent == Some(&version) {
        return None;
    }
    if !reply.body.is_empty() {
        let group: GroupRead = serde_json::from_slice(&reply.body).ok()?;
        if let Some(members) = group.members {
            let has = |u: &str| members.iter().any(|m| m.value == u);
            let shown = chunk.add.iter().all(|u| has(u.as_str()))
                && chunk.remove.iter().all(|u| !has(u.as_str()));
            if !shown {
                return None;
            }
        }
    }
    Some(version)
}

/// Split `changes` into chunks of at most `max_values` values and about `max_bytes` bytes.
/// Adds come first, then removes; the split is deterministic.
pub fn chunk(
    changes: &MemberChanges,
    max_values: usize,
    max_bytes: usize,
    style: RemoveStyle,
) -> Vec<MemberChanges> {
    const OVERHEAD: usize = 200; // schemas, two operations' op/path keys
    let max_values = max_values.max(1);
    let mut chunks = Vec::new();
    let mut current = MemberChanges::default();
    let mut bytes = OVERHEAD;
    let items = changes
        .add
        .iter()
        .map(|u| (true, u))
        .chain(changes.remove.iter().map(|u| (false, u)));
    for (add, user) in items {
        // `{"value":"<id>"},` or `{"op":"remove","path":"members[value eq \"<id>\"]"},`
        let escaped = serde_json::to_string(user.as_str()).map_or(0, |s| s.len());
        let size = if !add && style == RemoveStyle::FilterPath {
            escaped * 2 + 45
        } else {
            escaped + 12
        };
        if !current.is_empty() && (current.len() >= max_values || bytes + size > max_bytes) {
            chunks.push(std::mem::take(&mut current));
            bytes = OVERHEAD;
        }
        bytes += size;
        if add {
            current.add.insert(user.clone());
        } else {
            current.remove.insert(user.clone());
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// The PATCH body of one chunk.
pub fn patch_body(chunk: &MemberChanges, style: RemoveStyle) -> Result<PatchRequest, ScimError> {
    let refs = |set: &crate::model::MemberSet| {
        serde_json::to_value(
            set.iter()
                .map(|u| MemberRef::id(u.as_str()))
                .collect::<Vec<_>>(),
        )
        .expect("member references serialise")
    };
    let mut ops = Vec::new();
    if !chunk.add.is_empty() {
        ops.push(PatchOperation {
            op: "add".into(),
            path: Some("members".into()),
            value: Some(refs(&chunk.add)),
        });
    }
    match style {
        RemoveStyle::ValueList if !chunk.remove.is_empty() => ops.push(PatchOperation {
            op: "remove".into(),
            path: Some("members".into()),
            value: Some(refs(&chunk.remove)),
        }),
        RemoveStyle::ValueList => {}
        RemoveStyle::FilterPath => {
            for user in &chunk.remove {
                ops.push(PatchOperation {
                    op: "remove".into(),
                    path: Some(format!(
                        "members[{}]",
                        filter_eq("value", user.as_str(), "user id")?
                    )),
                    value: None,
                });
            }
        }
    }
    Ok(PatchRequest::new(ops))
}

impl ScimClient {
    /// Apply `changes` to group `id`, which must still be as `pre` says.
    ///
    /// `changes` must be reconciled against the group as it was when `pre` was taken: adds
    /// are not members, removes are (the planner guarantees it). That is what lets a lost
    /// response be settled exactly by a re-read.
    ///
    /// Without an ETag (`pre.etag` is `None`, allowed only for servers that send none: see
    /// [`super::TargetSettings::allow_etagless`]), each chunk is preceded by a re-read whose
    /// members must be exactly the base plus the chunks sent: a weaker check, since a write
    /// can still slip in between the read and the PATCH.
    ///
    /// # Panics
    ///
    /// Never: a PATCH request always serializes.
    pub async fn patch_members(
        &self,
        id: &GroupId,
        pre: &Precondition,
        changes: &MemberChanges,
    ) -> Result<PatchOutcome, PatchError> {
        let settings = self.settings();
        let style = settings.remove_style;
        let chunks = chunk(
            changes,
            settings.max_members_per_patch,
            settings.max_patch_bytes,
            style,
        );
        let mut etag = pre.etag.clone();
        let mut applied = MemberChanges::default();
        let mut outcome = PatchOutcome {
            etag: etag.clone(),
            patches: 0,
            recovered: 0,
            correlation: BTreeMap::new(),
        };
        let mut correlation: Option<String> = None;
        let fail = |applied: &MemberChanges, outcome: &PatchOutcome, error| PatchError {
            applied: applied.clone(),
            error,
            correlation: outcome.correlation.clone(),
        };
        let total = chunks.len();
        for (n, chunk) in chunks.iter().enumerate() {
            let context = format!("PATCH group {id} (chunk {} of {total})", n + 1);
            if etag.is_none() {
                if !settings.allow_etagless {
                    return Err(fail(&applied, &outcome, ScimError::NoEtag { context }));
                }
                if let Step::Failed(e) = self.verified(id, pre, &applied, &context).await {
                    return Err(fail(&applied, &outcome, e));
                }
            }
            let body = patch_body(chunk, style).map_err(|e| fail(&applied, &outcome, e))?;
            let body = Bytes::from(serde_json::to_vec(&body).expect("patch request serialises"));
            let sent = self.send_patch(id, etag.as_ref(), body, &context).await;
            let mut with_chunk = applied.clone();
            with_chunk.extend(chunk);
            let step = match sent {
                Ok(reply) if reply.uncertain && !reply.status.is_success() => {
                    // An earlier attempt may have landed: a stale answer may be our own change.
                    let error = check(reply, &context).expect_err("not a success");
                    self.settle(id, pre, &applied, &with_chunk, error, &context)
                        .await
                }
                Ok(reply) if reply.status.is_redirection() => {
                    // A redirect is not an answer to this write (none is followed): what it
                    // did is settled by a re-read.
                    let status = reply.status.as_u16();
                    self.confirmed(id, pre, &applied, chunk, status, &context)
                        .await
                }
                Ok(reply) => match check(reply, &context) {
                    Ok(reply) => {
                        correlation = reply.header("inin-correlation-id").map(str::to_owned);
                        outcome.patches += 1;
                        if let Some(e) = proves(&reply, etag.as_ref(), chunk) {
                            Step::Next(Some(e))
                        } else {
                            // The answer does not show the write (no version, the same
                            // version, members without the change, not JSON): one re-read
                            // settles it. Never fall back to writes without If-Match for the
                            // rest of the group, even where the target allows ETag-less
                            // groups: this group has versions (rules 1 and 5).
                            let status = reply.status.as_u16();
                            self.confirmed(id, pre, &applied, chunk, status, &context)
                                .await
                        }
                    }
                    Err(error) => Step::Failed(error),
                },
                Err(error @ ScimError::Transport { .. }) => {
                    self.settle(id, pre, &applied, &with_chunk, error, &context)
                        .await
                }
                Err(error) => Step::Failed(error),
            };
            match step {
                Step::Next(e) => etag = e,
                Step::Recovered(e) => {
                    outcome.recovered += 1;
                    outcome.patches += 1;
                    etag = e;
                }
                Step::Failed(error) => return Err(fail(&applied, &outcome, error)),
                Step::Partly { landed, error } => {
                    applied.extend(&landed);
                    if let Some(id) = correlation.take() {
                        for user in landed.add.iter().chain(&landed.remove) {
                            outcome.correlation.insert(user.clone(), id.clone());
                        }
                    }
                    return Err(fail(&applied, &outcome, error));
                }
            }
            outcome.etag = etag.clone();
            if let Some(id) = correlation.take() {
                for user in chunk.add.iter().chain(&chunk.remove) {
                    outcome.correlation.insert(user.clone(), id.clone());
                }
            }
            applied = with_chunk;
        }
        Ok(outcome)
    }

    /// After a lost response: did this chunk land (go on with the re-read ETag), not land
    /// (the original error stands), or did someone else move the group (stale)?
    async fn settle(
        &self,
        id: &GroupId,
        pre: &Precondition,
        before: &MemberChanges,
        with_chunk: &MemberChanges,
        error: ScimError,
        context: &str,
    ) -> Step {
        let base = &pre.members_sha256;
        let Ok(group) = self.get_group(id).await else {
            return Step::Failed(error);
        };
        if holds(&group.members, with_chunk, base) {
            tracing::info!(
                "{context}: the response was lost, but a re-read shows the chunk applied"
            );
            return Step::Recovered(group.etag);
        }
        if holds(&group.members, before, base) && !error.is_stale() {
            // Nothing of this chunk landed and nobody else wrote: the failure stands as is.
            return Step::Failed(error);
        }
        Step::Failed(ScimError::Stale {
            context: context.to_owned(),
            status: error.status().unwrap_or(409),
            scim_type: None,
        })
    }

    /// After a 2xx (or 3xx) that did not show the write: re-read the group. All of `chunk`
    /// on top of `before` → applied, go on with the re-read ETag; some of it, and nothing
    /// else moved → what landed counts and the rest is [`ScimError::NotApplied`]; anything
    /// else → stale.
    async fn confirmed(
        &self,
        id: &GroupId,
        pre: &Precondition,
        before: &MemberChanges,
        chunk: &MemberChanges,
        status: u16,
        context: &str,
    ) -> Step {
        let base = &pre.members_sha256;
        let group = match self.get_group(id).await {
            Ok(g) => g,
            Err(e) => return Step::Failed(e),
        };
        let landed = MemberChanges {
            add: chunk.add.intersection(&group.members).cloned().collect(),
            remove: chunk.remove.difference(&group.members).cloned().collect(),
        };
        let mut with_landed = before.clone();
        with_landed.extend(&landed);
        if !holds(&group.members, &with_landed, base) {
            return Step::Failed(ScimError::Stale {
                context: context.to_owned(),
                status: 412,
                scim_type: None,
            });
        }
        if landed.len() == chunk.len() {
            tracing::debug!("{context}: HTTP {status} did not show the write; a re-read does");
            return Step::Next(group.etag);
        }
        Step::Partly {
            error: ScimError::NotApplied {
                context: context.to_owned(),
                status,
                not_added: chunk.add.difference(&landed.add).cloned().collect(),
                not_removed: chunk.remove.difference(&landed.remove).cloned().collect(),
            },
            landed,
        }
    }

    /// Re-read the group: it must be exactly the base with `changes` applied (else stale);
    /// go on with the ETag read.
    async fn verified(
        &self,
        id: &GroupId,
        pre: &Precondition,
        changes: &MemberChanges,
        context: &str,
    ) -> Step {
        let base = &pre.members_sha256;
        let group = match self.get_group(id).await {
            Ok(g) => g,
            Err(e) => return Step::Failed(e),
        };
        if !holds(&group.members, changes, base) {
            return Step::Failed(ScimError::Stale {
                context: context.to_owned(),
                status: 412,
                scim_type: None,
            });
        }
        Step::Next(group.etag)
    }
}

/// True when `members` is exactly the base (known by its digest) with `changes` applied.
fn holds(members: &MemberSet, changes: &MemberChanges, base_sha256: &Sha256Hex) -> bool {
    changes.add.iter().all(|u| members.contains(u))
        && changes.remove.iter().all(|u| !members.contains(u))
        && members_sha256(&changes.undone_from(members)) == *base_sha256
}

/// What happened to one chunk.
enum Step {
    /// It landed; the next chunk goes on with this ETag (if the server sends any).
    Next(Option<ETag>),
    /// Its response was lost, but a re-read shows it landed; go on with this ETag.
    Recovered(Option<ETag>),
    /// It did not land, or the group moved.
    Failed(ScimError),
    /// Genesys accepted it, and a re-read shows only `landed` of it applied.
    Partly {
        /// What of the chunk landed.
        landed: MemberChanges,
        /// [`ScimError::NotApplied`], naming the rest.
        error: ScimError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserId;
    use serde_json::json;

    fn users(prefix: &str, n: usize) -> MemberSet {
        (0..n).map(|i| UserId(format!("{prefix}{i:04}"))).collect()
    }

    #[test]
    fn chunks_respect_count_and_cover_everything_once() {
        let changes = MemberChanges {
            add: users("a", 120),
            remove: users("r", 7),
        };
        let chunks = chunk(&changes, 50, 500_000, RemoveStyle::ValueList);
        assert_eq!(
            chunks.iter().map(MemberChanges::len).collect::<Vec<_>>(),
            [50, 50, 27]
        );
        let mut all = MemberChanges::default();
        for c in &chunks {
            all.extend(c);
        }
        assert_eq!(all, changes);
    }

    #[test]
    fn chunks_respect_bytes() {
        let changes = MemberChanges {
            add: users(&"x".repeat(1000), 30),
            remove: MemberSet::new(),
        };
        let chunks = chunk(&changes, 50, 10_000, RemoveStyle::ValueList);
        assert!(chunks.len() >= 3, "{}", chunks.len());
        for c in &chunks {
            let body = serde_json::to_vec(&patch_body(c, RemoveStyle::ValueList).unwrap()).unwrap();
            assert!(body.len() <= 10_000, "{}", body.len());
        }
    }

    #[test]
    fn bodies_in_both_remove_styles() {
        let c = MemberChanges {
            add: users("a", 1),
            remove: users("r", 2),
        };
        let v = serde_json::to_value(patch_body(&c, RemoveStyle::ValueList).unwrap()).unwrap();
        assert_eq!(
            v["Operations"],
            json!([
                {"op":"add","path":"members","value":[{"value":"a0000"}]},
                {"op":"remove","path":"members","value":[{"value":"r0000"},{"value":"r0001"}]}
            ])
        );
        let f = serde_json::to_value(patch_body(&c, RemoveStyle::FilterPath).unwrap()).unwrap();
        assert_eq!(
            f["Operations"][1],
            json!({"op":"remove","path":"members[value eq \"r0000\"]"})
        );
    }
}
