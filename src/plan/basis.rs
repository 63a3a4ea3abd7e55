//! What a group is planned from, in one place: how the IdP is to be read, what its answer
//! means as an intent, and [`group_input`], the one function that builds the planner's input
//! for each of the three cases a group is planned in ([`Basis`]): a fresh read at plan time,
//! a stale plan (its ETag moved) and a superseded plan (the state moved).
//!
//! Pure: the commands read the IdP, Genesys and the state, and call these.

use std::collections::{BTreeMap, BTreeSet};

use super::planner::GroupInput;
use super::{GroupPlan, PendingReason, ReadKind, Resolution, SourceRef};
use crate::model::{
    Answer, Base, Cursor, GroupSnapshot, IdpKey, Intent, Mapping, Mode, Policy, ResolutionCache,
    SourceKind, UserKey,
};

/// How a group's IdP membership is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRequest<'a> {
    /// The cursor to read changes since; `None`: the whole membership.
    pub since: Option<&'a Cursor>,
    /// A whole read that resyncs a group the state knows (its cursor expired, or its mirror
    /// was lost): removals are the mirror's members the IdP no longer has.
    pub resync: bool,
}

impl<'a> ReadRequest<'a> {
    /// The read for a group in `mode` whose state record exists (`known`) with `cursor`,
    /// and whose mirror is known or not: a delta is read only on top of a known mirror;
    /// otherwise the whole membership, which for a group the state knows in delta mode is a
    /// resync.
    ///
    /// ```
    /// use scimsync::model::{Cursor, Mode};
    /// use scimsync::plan::basis::ReadRequest;
    /// let c = Cursor::from("c7");
    /// let r = ReadRequest::new(Mode::Delta, true, true, Some(&c));
    /// assert_eq!((r.since, r.resync), (Some(&c), false));
    /// let lost_mirror = ReadRequest::new(Mode::Delta, true, false, Some(&c));
    /// assert_eq!((lost_mirror.since, lost_mirror.resync), (None, true));
    /// let first = ReadRequest::new(Mode::Delta, false, false, None);
    /// assert_eq!((first.since, first.resync), (None, false));
    /// assert_eq!(ReadRequest::new(Mode::Full, true, true, Some(&c)).since, None);
    /// ```
    pub fn new(mode: Mode, known: bool, mirror_known: bool, cursor: Option<&'a Cursor>) -> Self {
        let since = match mode {
            Mode::Delta if mirror_known => cursor,
            _ => None,
        };
        Self {
            since,
            resync: mode == Mode::Delta && known && since.is_none(),
        }
    }

    /// The read after the IdP said the cursor expired: the whole membership, as a resync.
    /// `None` when this read was already whole (an expired cursor it did not send is an
    /// error to report, not to retry).
    pub fn after_expiry(self) -> Option<Self> {
        self.since.map(|_| Self {
            since: None,
            resync: true,
        })
    }
}

/// What the IdP wants of a group, from one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpIntent {
    /// The desired set; `None` when the mirror was unknown (the desired set is then
    /// `intent.granted`, not held twice).
    pub desired: Option<BTreeSet<IdpKey>>,
    /// The same, as a difference against the mirror: what the plan records.
    pub intent: Intent<IdpKey>,
    /// Where it came from and how it was read.
    pub source: SourceRef,
}

/// The IdP's `answer` (read as `request` asked, ending at `cursor_to`) on top of the group's
/// `mirror`, keys normalised for `user_key`. A delta counts as a delta only when it was read
/// since a cursor and came with a new one; any other answer is a whole listing (a first
/// delta read lists every member as an addition).
pub fn intent_of(
    answer: Answer,
    cursor_to: Option<Cursor>,
    request: ReadRequest<'_>,
    mirror: Option<BTreeSet<IdpKey>>,
    kind: SourceKind,
    user_key: UserKey,
) -> IdpIntent {
    let normalize = |keys: BTreeSet<IdpKey>| -> BTreeSet<IdpKey> {
        keys.into_iter()
            .map(|k| IdpKey(user_key.normalize_owned(k.0)))
            .collect()
    };
    let listed = |desired: BTreeSet<IdpKey>, mirror: Option<&BTreeSet<IdpKey>>| match mirror {
        Some(mirror) => {
            let intent = Intent::new(&desired, Some(mirror));
            (Some(desired), intent)
        }
        None => (None, Intent::unmirrored(desired)),
    };
    let ((desired, intent), read) = match answer {
        Answer::Delta { add, remove } if request.since.is_some() && cursor_to.is_some() => {
            let (desired, intent) = delta_intent(
                mirror.unwrap_or_default(),
                normalize(add),
                normalize(remove),
            );
            ((Some(desired), intent), ReadKind::Delta)
        }
        Answer::Delta { add, .. } => (listed(normalize(add), mirror.as_ref()), ReadKind::Full),
        Answer::Full { members } => (listed(normalize(members), mirror.as_ref()), ReadKind::Full),
    };
    IdpIntent {
        desired,
        intent,
        source: SourceRef {
            kind,
            read: if request.resync {
                ReadKind::Resync
            } else {
                read
            },
            cursor_from: request.since.cloned(),
            cursor_to,
        },
    }
}

/// The desired set and intent of a delta (`add`, `remove`) on top of `mirror`: the same as
/// `mirror ∪ add − remove` and `Intent::new(&that, Some(&mirror))`, but the mirror is moved
/// into the desired set instead of copied, and grants and revocations are found from the
/// delta alone.
fn delta_intent(
    mut mirror: BTreeSet<IdpKey>,
    add: BTreeSet<IdpKey>,
    remove: BTreeSet<IdpKey>,
) -> (BTreeSet<IdpKey>, Intent<IdpKey>) {
    let mut granted = BTreeSet::new();
    let mut revoked = BTreeSet::new();
    for k in add {
        if !mirror.contains(&k) {
            mirror.insert(k.clone());
            granted.insert(k);
        }
    }
    for k in remove {
        if granted.remove(&k) {
            mirror.remove(&k);
        } else if mirror.remove(&k) {
            revoked.insert(k);
        }
    }
    let intent = Intent {
        granted,
        revoked,
        mirror_known: true,
        desired_count: mirror.len(),
    };
    (mirror, intent)
}

/// What a group is planned from.
#[derive(Debug, Clone, Copy)]
pub enum Basis<'a> {
    /// `plan`: the IdP read now, and how its keys resolved where the cache cannot tell (the
    /// IdP's description, this run's look-ups). Precedence: those resolutions, then the
    /// state's cache, then the key itself (ids): the look-ups are newer than the cache.
    Read(&'a IdpIntent, &'a BTreeMap<IdpKey, Resolution>),
    /// apply: the group's ETag moved, its state did not. The same intent on the same mirror,
    /// against a fresh read. Precedence: the plan's resolutions, then the cache (which has not
    /// moved since the plan resolved them), then the key itself.
    Stale(&'a GroupPlan),
    /// apply: another plan moved the group's state since. The state's mirror (the IdP's
    /// membership as last applied) against a fresh read; the IdP's changes since its cursor
    /// are the next plan's. Precedence: the state's cache first (newer than the plan), then
    /// the plan's resolutions, then the key itself.
    Superseded(&'a GroupPlan),
}

/// What the state holds of the group now.
#[derive(Clone, Copy)]
pub struct Known<'a> {
    /// The group's mirror, if known (unused by [`Basis::Read`], whose intent holds it).
    pub mirror: Option<&'a BTreeSet<IdpKey>>,
    /// The group's cursor.
    pub cursor: Option<&'a Cursor>,
    /// Where its state stands.
    pub base: &'a Base,
    /// The resolution cache.
    pub cache: &'a dyn ResolutionCache,
    /// What IdP keys are in Genesys.
    pub user_key: UserKey,
}

/// The planner's input for `basis`, against the group as read now (`live`), under `mapping`
/// (the config's, for a read; a re-plan keeps the plan's) and `policy` (the config's guards;
/// a re-plan keeps the override its plan recorded, [`super::Guard::recorded_override`]).
pub fn group_input<'a>(
    basis: Basis<'_>,
    known: Known<'a>,
    live: &'a GroupSnapshot,
    mapping: &Mapping,
    policy: &Policy,
) -> GroupInput<'a> {
    let with_override = |g: &GroupPlan| Policy {
        allow_removals: g.guard.recorded_override(),
        ..policy.clone()
    };
    let (mapping, base, source, desired, intent, resolution, policy) = match basis {
        Basis::Read(read, resolution) => (
            mapping.clone(),
            known.base.clone(),
            read.source.clone(),
            read.desired.clone(),
            read.intent.clone(),
            resolution.clone(),
            policy.clone(),
        ),
        Basis::Stale(g) => (
            g.mapping.clone(),
            g.base.clone(),
            g.source.clone(),
            Some(g.intent.desired(known.mirror)),
            g.intent.clone(),
            g.resolution.clone(),
            with_override(g),
        ),
        Basis::Superseded(g) => {
            let mirror = known.mirror.cloned().unwrap_or_default();
            // The cache first: a plan's resolution of a key the cache now knows is older.
            let resolution = g
                .resolution
                .iter()
                .filter(|(k, _)| mirror.contains(*k) && known.cache.user_of(k).is_none())
                .map(|(k, r)| (k.clone(), r.clone()))
                .collect();
            (
                g.mapping.clone(),
                known.base.clone(),
                SourceRef {
                    kind: g.source.kind,
                    read: ReadKind::State,
                    cursor_from: known.cursor.cloned(),
                    cursor_to: known.cursor.cloned(),
                },
                Some(mirror.clone()),
                Intent::new(&mirror, Some(&mirror)),
                resolution,
                with_override(g),
            )
        }
    };
    GroupInput {
        live,
        mapping,
        base,
        source,
        desired,
        intent,
        resolution,
        cache: known.cache,
        user_key: known.user_key,
        policy,
    }
}

/// `--strict`: some desired users do not exist in Genesys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{count} user(s) in the IdP's answer do not exist in Genesys Cloud ({list}); without --strict they are skipped as unknown-user"
)]
pub struct UnknownUsers {
    /// How many.
    pub count: usize,
    /// The first ten, comma-separated.
    pub list: String,
}

/// The `--strict` rule: with `strict`, a plan with pending unknown users is an error.
pub fn strict(plan: &GroupPlan, strict: bool) -> Result<(), UnknownUsers> {
    let unknown: Vec<&str> = plan
        .pending
        .iter()
        .filter(|p| p.reason == PendingReason::UnknownUser)
        .map(|p| p.key.as_str())
        .collect();
    if !strict || unknown.is_empty() {
        return Ok(());
    }
    Err(UnknownUsers {
        count: unknown.len(),
        list: unknown[..unknown.len().min(10)].join(", "),
    })
}

#[cfg(test)]
#[path = "basis_tests.rs"]
mod tests;
