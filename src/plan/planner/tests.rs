//! The planner's rules, by example and by property.

use super::*;
use crate::model::{GroupId, GroupTarget, IdpKey, ResolutionCache, UserKey};
use proptest::prelude::*;

fn keys(v: &[&str]) -> BTreeSet<IdpKey> {
    v.iter().map(|s| IdpKey::from(*s)).collect()
}

fn ids(v: &[&str]) -> BTreeSet<UserId> {
    v.iter().map(|s| UserId::from(*s)).collect()
}

fn policy() -> Policy {
    Policy {
        protected: BTreeSet::new(),
        max_removals: 25,
        max_ratio: 0.25,
        allow_removals: None,
        allow_empty_source: false,
    }
}

fn lenient() -> Policy {
    Policy {
        allow_removals: Some(usize::MAX),
        allow_empty_source: true,
        ..policy()
    }
}

fn live(members: &[&str]) -> GroupSnapshot {
    GroupSnapshot {
        id: GroupId::from("g"),
        display_name: "G".into(),
        members: ids(members),
        ..GroupSnapshot::default()
    }
}

/// The state's cache: key `kX` is user `X`, known before.
struct CacheK;

impl ResolutionCache for CacheK {
    fn user_of(&self, key: &IdpKey) -> Option<UserId> {
        Some(UserId(key.as_str()[1..].to_owned()))
    }
}

/// Like [`CacheK`], but `kfN` keys name nobody (never resolved) and `keN` keys are aliases
/// of `kaN` (a renamed account: two keys, one user).
struct CacheSome;

impl ResolutionCache for CacheSome {
    fn user_of(&self, key: &IdpKey) -> Option<UserId> {
        let key = key.as_str();
        match key.as_bytes().get(1) {
            Some(b'f') => None,
            Some(b'e') => Some(UserId(format!("a{}", &key[2..]))),
            _ => Some(UserId(key[1..].to_owned())),
        }
    }
}

/// What [`CacheSome`] derives for `key`.
fn derive_some(key: &IdpKey) -> Resolution {
    Resolution::derived(key, CacheSome.user_of(key), UserKey::UserName)
}

fn input<'a>(
    live: &'a GroupSnapshot,
    mode: Mode,
    read: ReadKind,
    desired: &BTreeSet<IdpKey>,
    intent: Intent<IdpKey>,
    resolution: BTreeMap<IdpKey, Resolution>,
    policy: &Policy,
) -> GroupInput<'a> {
    GroupInput {
        live,
        mapping: Mapping {
            idp_group: "g".into(),
            target: GroupTarget::Id(GroupId::from("g")),
            mode,
        },
        base: Base {
            lineage: None,
            serial: 0,
        },
        source: SourceRef {
            kind: crate::model::SourceKind::File,
            read,
            cursor_from: None,
            cursor_to: None,
        },
        desired: Some(desired.clone()),
        intent,
        resolution,
        cache: &CacheK,
        user_key: UserKey::UserName,
        policy: policy.clone(),
    }
}

fn plan(
    live: &GroupSnapshot,
    mode: Mode,
    desired: &[&str],
    mirror: Option<&[&str]>,
    extra: &[(&str, Resolution)],
    policy: &Policy,
) -> Result<GroupPlan, GuardTrip> {
    let mirror = mirror.map(keys);
    let desired = keys(desired);
    let intent = Intent::new(&desired, mirror.as_ref());
    let read = if mode == Mode::Full {
        ReadKind::Full
    } else {
        ReadKind::Delta
    };
    let extra = extra
        .iter()
        .map(|(k, r)| (IdpKey::from(*k), r.clone()))
        .collect();
    let mut input = input(live, mode, read, &desired, intent, extra, policy);
    if mirror.is_none() {
        // The pipeline's first plan: the desired set is the intent's grants, held once.
        input.desired = None;
    }
    plan_group(input)
}

#[test]
fn delta_removes_only_what_the_idp_granted_and_revoked() {
    // h was added by hand: the IdP never granted it. b was granted and revoked.
    let g = live(&["a", "b", "h"]);
    let p = plan(
        &g,
        Mode::Delta,
        &["ka", "kc"],
        Some(&["ka", "kb"]),
        &[],
        &policy(),
    )
    .unwrap();
    assert_eq!(p.changes.add, ids(&["c"]));
    assert_eq!(p.changes.remove, ids(&["b"]));
    assert_eq!(p.reasons[&UserId::from("c")], ChangeReason::Granted);
    assert_eq!(p.reasons[&UserId::from("b")], ChangeReason::Revoked);
}

#[test]
fn drift_is_restored_and_a_resolved_pending_user_says_so() {
    // a was granted and removed by hand; p was pending and now exists.
    let g = live(&["b"]);
    let p = plan(
        &g,
        Mode::Delta,
        &["ka", "kb", "kp"],
        Some(&["ka", "kb", "kp"]),
        &[("kp", Resolution::Found("p".into()))],
        &policy(),
    )
    .unwrap();
    assert_eq!(p.changes.add, ids(&["a", "p"]));
    assert_eq!(p.reasons[&UserId::from("a")], ChangeReason::Restored);
    assert_eq!(p.reasons[&UserId::from("p")], ChangeReason::PendingResolved);
}

#[test]
fn unknown_and_inactive_users_are_pending_not_added() {
    let g = live(&[]);
    let p = plan(
        &g,
        Mode::Delta,
        &["ka", "kx", "ki"],
        None,
        &[
            ("kx", Resolution::Unknown),
            ("ki", Resolution::Inactive("i".into())),
        ],
        &policy(),
    )
    .unwrap();
    assert_eq!(p.changes.add, ids(&["a"]));
    let pending: Vec<_> = p
        .pending
        .iter()
        .map(|x| (x.key.as_str(), x.reason))
        .collect();
    assert_eq!(
        pending,
        [
            ("ki", PendingReason::InactiveUser),
            ("kx", PendingReason::UnknownUser)
        ]
    );
}

#[test]
fn an_unknown_mirror_removes_nothing_in_delta_mode() {
    let g = live(&["a", "b", "c", "d"]);
    let p = plan(&g, Mode::Delta, &["ka"], None, &[], &policy()).unwrap();
    assert!(p.changes.is_empty());
    assert!(!p.intent.mirror_known);
}

#[test]
fn full_mode_removes_the_undesired_within_the_guard_but_never_protected() {
    let g = live(&["a", "b", "c", "d"]);
    let p = plan(
        &g,
        Mode::Full,
        &["ka", "kb", "kc", "kn"],
        None,
        &[],
        &policy(),
    )
    .unwrap();
    assert_eq!(p.changes.add, ids(&["n"]));
    assert_eq!(p.changes.remove, ids(&["d"]));
    assert_eq!(p.reasons[&UserId::from("d")], ChangeReason::NotDesired);
    assert_eq!(
        p.guard,
        Guard {
            removals: 1,
            limit: 1,
            overridden: false
        }
    );
    let trip = plan(&g, Mode::Full, &["ka", "kb"], None, &[], &policy()).unwrap_err();
    assert_eq!(
        trip,
        GuardTrip::TooManyRemovals {
            removals: 2,
            limit: 1,
            overridden: false,
            members: 4
        }
    );
    let mut p = policy();
    p.protected = ids(&["c"]);
    p.allow_removals = Some(1);
    let r = plan(&g, Mode::Full, &["ka", "kb"], None, &[], &p).unwrap();
    assert_eq!(r.changes.remove, ids(&["d"]));
    assert_eq!(r.skipped, vec![skip("c", SkipReason::Protected)]);
    assert!(r.guard.overridden);
}

#[test]
fn disabled_idp_accounts_are_removed_if_members_and_others_are_skipped() {
    let g = live(&["a", "b", "c", "d", "e", "f", "g", "h"]);
    let p = plan(
        &g,
        Mode::Delta,
        &["ka", "kb", "kz", "kq", "k\n"],
        Some(&["ka", "kb"]),
        &[
            ("kb", Resolution::Disabled(Some("b".into()))),
            ("kz", Resolution::Disabled(None)),
            ("kq", Resolution::NotAUser),
            ("k\n", Resolution::Invalid),
        ],
        &policy(),
    )
    .unwrap();
    assert_eq!(p.changes.remove, ids(&["b"]));
    assert_eq!(p.reasons[&UserId::from("b")], ChangeReason::DisabledInIdp);
    let skipped: Vec<_> = p.skipped.iter().map(|s| s.reason).collect();
    assert_eq!(
        skipped,
        [
            SkipReason::InvalidKey,
            SkipReason::NotAUser,
            SkipReason::DisabledInIdp
        ]
    );
}

#[test]
fn an_empty_listing_never_empties_a_group_unless_allowed() {
    let g = live(&["a"]);
    let trip = plan(&g, Mode::Full, &[], None, &[], &policy()).unwrap_err();
    assert_eq!(trip, GuardTrip::EmptySource { members: 1 });
    let nobody = BTreeSet::new();
    let intent = Intent::new(&nobody, Some(&keys(&["ka"])));
    let strict = policy();
    let resync = input(
        &g,
        Mode::Delta,
        ReadKind::Resync,
        &nobody,
        intent,
        BTreeMap::new(),
        &strict,
    );
    assert_eq!(
        plan_group(resync).unwrap_err(),
        GuardTrip::EmptySource { members: 1 }
    );
    let mut p = policy();
    p.allow_empty_source = true;
    let r = plan(&g, Mode::Full, &[], None, &[], &p).unwrap();
    assert_eq!(r.changes.remove, ids(&["a"]));
    // An empty answer that removes nobody is just nothing to do.
    assert!(
        plan(&live(&[]), Mode::Full, &[], None, &[], &policy())
            .unwrap()
            .changes
            .is_empty()
    );
}

/// A steady-state group stores neither its IdP answer nor its members' resolutions:
/// however large, its plan is a few hundred bytes.
#[test]
fn an_unchanged_group_serializes_small_whatever_its_size() {
    let keys_: Vec<String> = (0..1000).map(|i| format!("k{i:05}")).collect();
    let refs: Vec<&str> = keys_.iter().map(String::as_str).collect();
    let members: Vec<&str> = refs.iter().map(|k| &k[1..]).collect();
    let mut g = live(&members);
    g.etag = Some(crate::model::ETag::from("W/\"42\""));
    for mode in [Mode::Delta, Mode::Full] {
        let p = plan(&g, mode, &refs, Some(&refs), &[], &policy()).unwrap();
        assert!(p.changes.is_empty() && p.pending.is_empty());
        assert!(p.intent.is_unchanged());
        assert_eq!(p.intent.desired_count, 1000);
        assert!(p.resolution.is_empty(), "{:?}", p.resolution.len());
        let bytes = serde_json::to_vec(&p).unwrap();
        assert!(bytes.len() < 600, "{} bytes", bytes.len());
    }
    // One change keeps only the resolutions that carry information.
    let p = plan(
        &g,
        Mode::Delta,
        &refs[1..],
        Some(&refs),
        &[("k00001", Resolution::Found("00001".into()))],
        &policy(),
    )
    .unwrap();
    assert_eq!(p.changes.remove, ids(&["00000"]));
    assert_eq!(
        p.resolution.keys().map(IdpKey::as_str).collect::<Vec<_>>(),
        ["k00000", "k00001"]
    );
}

/// A revoked key that nothing resolved (a pending user, later added by hand) removes
/// nobody, and the plan keeps its `unknown`: a re-plan at apply time, after another group's
/// apply cached that user, must resolve it as this plan did, not remove them.
#[test]
fn a_revoked_key_nobody_resolved_is_kept_as_unknown() {
    let g = live(&["a", "b"]);
    let (desired, mirror) = (keys(&["ka"]), keys(&["ka", "kf1"]));
    let intent = Intent::new(&desired, Some(&mirror));
    let policy = lenient();
    let mut input = input(
        &g,
        Mode::Delta,
        ReadKind::Delta,
        &desired,
        intent,
        BTreeMap::new(),
        &policy,
    );
    input.cache = &CacheSome;
    let p = plan_group(input).unwrap();
    assert!(p.changes.is_empty());
    assert_eq!(p.resolution.get("kf1"), Some(&Resolution::Unknown));
    assert_eq!(p.resolution.len(), 1, "{:?}", p.resolution);
}

#[test]
fn limits() {
    let p = policy();
    assert_eq!(p.limit(0), (1, false));
    assert_eq!(p.limit(10), (2, false));
    assert_eq!(p.limit(1000), (25, false));
}

fn some_keys() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("k[a-f][0-9]", 0..30)
}

fn as_ids(v: &[String]) -> BTreeSet<UserId> {
    v.iter().map(|k| UserId(k[1..].to_owned())).collect()
}

proptest! {
    #[test]
    fn planning_a_group_against_its_own_membership_changes_nothing(members in some_keys()) {
        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
        let current: Vec<String> = members.iter().map(|k| k[1..].to_owned()).collect();
        let current: Vec<&str> = current.iter().map(String::as_str).collect();
        let g = live(&current);
        for mode in [Mode::Delta, Mode::Full] {
            let p = plan(&g, mode, &refs, Some(&refs), &[], &policy()).unwrap();
            prop_assert!(p.changes.is_empty());
        }
    }

    #[test]
    fn in_full_mode_current_plus_changes_is_desired(current in some_keys(), desired in some_keys()) {
        let cur: Vec<String> = current.iter().map(|k| k[1..].to_owned()).collect();
        let cur: Vec<&str> = cur.iter().map(String::as_str).collect();
        let g = live(&cur);
        let want: Vec<&str> = desired.iter().map(String::as_str).collect();
        let p = plan(&g, Mode::Full, &want, None, &[], &lenient()).unwrap();
        prop_assert_eq!(p.changes.applied_to(&g.members), as_ids(&desired));
        prop_assert!(p.changes.add.is_disjoint(&g.members));
        prop_assert!(p.changes.remove.is_subset(&g.members));
    }

    #[test]
    fn delta_never_removes_what_the_mirror_did_not_hold(
        current in some_keys(), desired in some_keys(), mirror in some_keys()
    ) {
        let cur: Vec<String> = current.iter().map(|k| k[1..].to_owned()).collect();
        let cur: Vec<&str> = cur.iter().map(String::as_str).collect();
        let g = live(&cur);
        let want: Vec<&str> = desired.iter().map(String::as_str).collect();
        let had: Vec<&str> = mirror.iter().map(String::as_str).collect();
        let p = plan(&g, Mode::Delta, &want, Some(&had), &[], &lenient()).unwrap();
        let revoked = as_ids(&mirror);
        prop_assert!(p.changes.remove.is_subset(&revoked));
        prop_assert!(p.changes.remove.is_disjoint(&as_ids(&desired)));
        // And every desired user ends up a member.
        let after = p.changes.applied_to(&g.members);
        prop_assert!(as_ids(&desired).is_subset(&after));
    }

    #[test]
    fn protected_members_are_never_removed(current in some_keys(), desired in some_keys(), protected in some_keys()) {
        let cur: Vec<String> = current.iter().map(|k| k[1..].to_owned()).collect();
        let cur: Vec<&str> = cur.iter().map(String::as_str).collect();
        let g = live(&cur);
        let mut p = lenient();
        p.protected = as_ids(&protected);
        let want: Vec<&str> = desired.iter().map(String::as_str).collect();
        let r = plan(&g, Mode::Full, &want, None, &[], &p).unwrap();
        prop_assert!(r.changes.remove.is_disjoint(&p.protected));
    }

    /// A key left to `derive` plans exactly as the same resolution given outright, and the
    /// derived resolutions a change names are kept in the plan as given ones would be.
    #[test]
    fn derived_and_given_resolutions_plan_alike(
        current in some_keys(), desired in some_keys(), mirror in proptest::option::of(some_keys()), full in any::<bool>()
    ) {
        let cur: Vec<String> = current.iter().map(|k| k[1..].to_owned()).collect();
        let cur: Vec<&str> = cur.iter().map(String::as_str).collect();
        let g = live(&cur);
        let desired: BTreeSet<IdpKey> = desired.into_iter().map(IdpKey).collect();
        let mirror: Option<BTreeSet<IdpKey>> = mirror.map(|m| m.into_iter().map(IdpKey).collect());
        let intent = Intent::new(&desired, mirror.as_ref());
        let all: BTreeSet<IdpKey> = desired.union(&intent.revoked).cloned().collect();
        let mode = if full { Mode::Full } else { Mode::Delta };
        let policy = lenient();
        let mut derived = input(&g, mode, ReadKind::Full, &desired, intent.clone(), BTreeMap::new(), &policy);
        derived.cache = &CacheSome;
        let derived = plan_group(derived).unwrap();
        let all: BTreeMap<IdpKey, Resolution> = all.iter().map(|k| (k.clone(), derive_some(k))).collect();
        let mut given = input(&g, mode, ReadKind::Full, &desired, intent, all, &policy);
        given.cache = &();
        let given = plan_group(given).unwrap();
        prop_assert_eq!(derived, given);
    }
}
