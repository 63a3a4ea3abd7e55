//! The three cases a group is planned in, and the intent of a read.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::model::{GroupId, GroupTarget, Lineage, MemberSet, TargetKind, UserId};
use crate::plan::planner::plan_group;
use crate::plan::{Plan, TargetRef, file};

fn keys(v: &[&str]) -> BTreeSet<IdpKey> {
    v.iter().map(|s| IdpKey::from(*s)).collect()
}

fn ids(v: &[&str]) -> MemberSet {
    v.iter().map(|s| UserId::from(*s)).collect()
}

fn policy() -> Policy {
    Policy {
        max_ratio: 1.0,
        ..Policy::default()
    }
}

fn mapping() -> Mapping {
    Mapping {
        idp_group: "sales".into(),
        target: GroupTarget::Id(GroupId::from("g1")),
        mode: Mode::Delta,
    }
}

fn live(members: &[&str]) -> GroupSnapshot {
    GroupSnapshot {
        id: GroupId::from("g1"),
        display_name: "Sales".into(),
        members: ids(members),
        ..GroupSnapshot::default()
    }
}

fn cache(pairs: &[(&str, &str)]) -> BTreeMap<IdpKey, UserId> {
    pairs
        .iter()
        .map(|(k, id)| (IdpKey::from(*k), UserId::from(*id)))
        .collect()
}

fn base() -> Base {
    Base {
        lineage: Some(Lineage::from("0a1b")),
        serial: 4,
    }
}

/// The mirror a, b, c, x (x pending); the IdP now: b, c, x, n (new), f (found now); the
/// cache knows a, b, c, n.
struct World {
    mirror: BTreeSet<IdpKey>,
    desired: BTreeSet<IdpKey>,
    cache: BTreeMap<IdpKey, UserId>,
    looked_up: BTreeMap<IdpKey, Resolution>,
    live: GroupSnapshot,
}

fn world() -> World {
    World {
        mirror: keys(&["a@x", "b@x", "c@x", "x@x"]),
        desired: keys(&["b@x", "c@x", "f@x", "n@x", "x@x"]),
        cache: cache(&[("a@x", "ua"), ("b@x", "ub"), ("c@x", "uc"), ("n@x", "un")]),
        looked_up: [
            (IdpKey::from("f@x"), Resolution::Found(UserId::from("uf"))),
            (IdpKey::from("x@x"), Resolution::Unknown),
        ]
        .into_iter()
        .collect(),
        live: live(&["ua", "ub", "uc"]),
    }
}

fn read(w: &World) -> IdpIntent {
    IdpIntent {
        desired: Some(w.desired.clone()),
        intent: Intent::new(&w.desired, Some(&w.mirror)),
        source: SourceRef {
            kind: SourceKind::DeltaHttp,
            read: ReadKind::Delta,
            cursor_from: Some(Cursor::from("c1")),
            cursor_to: Some(Cursor::from("c2")),
        },
    }
}

fn known<'a>(w: &'a World, base: &'a Base, cache: &'a BTreeMap<IdpKey, UserId>) -> Known<'a> {
    Known {
        mirror: Some(&w.mirror),
        cursor: Some(&CURSOR),
        base,
        cache,
        user_key: UserKey::UserName,
    }
}

static CURSOR: std::sync::LazyLock<Cursor> = std::sync::LazyLock::new(|| Cursor::from("c1"));

/// The plan of `w` read as `idp`, at `base`.
fn read_plan(w: &World, base: &Base, idp: &IdpIntent) -> GroupPlan {
    plan_group(group_input(
        Basis::Read(idp, &w.looked_up),
        known(w, base, &w.cache),
        &w.live,
        &mapping(),
        &policy(),
    ))
    .unwrap()
}

/// A fresh read: this run's look-ups come first, then the cache.
#[test]
fn a_read_plans_from_the_look_ups_then_the_cache() {
    let w = world();
    let (base, idp) = (base(), read(&w));
    let input = group_input(
        Basis::Read(&idp, &w.looked_up),
        known(&w, &base, &w.cache),
        &w.live,
        &mapping(),
        &policy(),
    );
    let p = plan_group(input).unwrap();
    assert_eq!(p.changes.add, ids(&["uf", "un"]));
    assert_eq!(p.changes.remove, ids(&["ua"]));
    assert_eq!(p.base, base);
    // b and c are known and unchanged: not stored.
    let stored: Vec<&str> = p.resolution.keys().map(IdpKey::as_str).collect();
    assert_eq!(stored, ["a@x", "f@x", "n@x", "x@x"]);
}

/// A stale plan: through the plan file, the state's mirror and the plan's difference give
/// back exactly what the planner saw, and the re-plan against the same group is the plan.
#[test]
fn a_stale_plan_re_plans_to_itself_through_the_file() {
    let w = world();
    let (base, idp) = (base(), read(&w));
    let planned = read_plan(&w, &base, &idp);
    let plan = Plan::new(
        TargetRef {
            kind: TargetKind::Genesys,
            api_base: "https://api.mypurecloud.com".into(),
        },
        None,
        "00".into(),
        "2026-11-29T03:00:00Z".parse().unwrap(),
        vec![planned],
        &BTreeMap::new(),
    );
    let back = file::parse(&file::to_bytes(&plan), "p.json").unwrap();
    file::verify(&back, "p.json").unwrap();
    let g = &back.groups[0];
    // Even under a config whose mapping moved on, the re-plan keeps the plan's mapping.
    let mut moved = mapping();
    moved.mode = Mode::Full;
    let input = group_input(
        Basis::Stale(g),
        known(&w, &base, &w.cache),
        &w.live,
        &moved,
        &policy(),
    );
    assert_eq!(input.desired.as_ref(), Some(&w.desired));
    assert_eq!(&plan_group(input).unwrap(), g);
    // Applied, the mirror becomes the desired set.
    let mut advanced = w.mirror.clone();
    g.intent.advance(&mut advanced);
    assert_eq!(advanced, w.desired);
}

/// A superseded plan: the state's mirror is desired, its cache beats the plan's
/// resolutions, and the re-plan is read from the state, with the plan's override kept.
#[test]
fn a_superseded_plan_re_plans_from_the_state_cache_first() {
    let w = world();
    let (base, idp) = (base(), read(&w));
    let mut planned = read_plan(&w, &base, &idp);
    planned.guard.overridden = true;
    planned.guard.limit = 7;
    // Since the plan, another apply moved the state: x@x resolved to ux, a@x to ua2.
    let newer = Base {
        serial: 5,
        ..base.clone()
    };
    let cache = cache(&[("a@x", "ua2"), ("b@x", "ub"), ("c@x", "uc"), ("x@x", "ux")]);
    let input = group_input(
        Basis::Superseded(&planned),
        known(&w, &newer, &cache),
        &w.live,
        &mapping(),
        &policy(),
    );
    assert_eq!(input.base, newer);
    assert_eq!(input.source.read, ReadKind::State);
    assert_eq!(input.source.cursor_to.as_ref(), Some(&*CURSOR));
    assert_eq!(input.policy.allow_removals, Some(7));
    assert!(
        !input.resolution.contains_key("x@x"),
        "the cache knows x now"
    );
    let p = plan_group(input).unwrap();
    // The mirror a, b, c, x: a is ua2 now, x is ux; ua stays (delta mode, nothing revoked).
    assert_eq!(p.changes.add, ids(&["ua2", "ux"]));
    assert!(p.changes.remove.is_empty());
    assert!(p.pending.is_empty());
}

#[test]
fn an_expired_cursor_reads_the_whole_membership_as_a_resync() {
    let c = Cursor::from("c9");
    let r = ReadRequest::new(Mode::Delta, true, true, Some(&c));
    let again = r.after_expiry().unwrap();
    assert_eq!((again.since, again.resync), (None, true));
    assert_eq!(again.after_expiry(), None);
    let idp = intent_of(
        Answer::Full {
            members: keys(&["A@x", "b@x"]),
        },
        Some(Cursor::from("c10")),
        again,
        Some(keys(&["a@x", "z@x"])),
        SourceKind::DeltaHttp,
        UserKey::UserName,
    );
    assert_eq!(idp.source.read, ReadKind::Resync);
    assert_eq!(idp.desired, Some(keys(&["a@x", "b@x"])));
    assert_eq!(idp.intent.revoked, keys(&["z@x"]));
}

#[test]
fn strict_refuses_unknown_users_only_when_asked() {
    let w = world();
    let (base, idp) = (base(), read(&w));
    let p = read_plan(&w, &base, &idp);
    assert_eq!(strict(&p, false), Ok(()));
    let e = strict(&p, true).unwrap_err();
    assert_eq!((e.count, e.list.as_str()), (1, "x@x"));
}

fn key_sets() -> impl Strategy<Value = BTreeSet<IdpKey>> {
    proptest::collection::btree_set("[a-f]".prop_map(IdpKey), 0..6)
}

proptest! {
    /// Moving the mirror into the delta's intent gives exactly the intent computed by
    /// copying it.
    #[test]
    fn delta_intent_is_intent_new(mirror in key_sets(), add in key_sets(), remove in key_sets()) {
        let mut desired = mirror.clone();
        desired.extend(add.iter().cloned());
        for k in &remove {
            desired.remove(k);
        }
        let intent = Intent::new(&desired, Some(&mirror));
        prop_assert_eq!(&intent.desired(Some(&mirror)), &desired);
        prop_assert_eq!(delta_intent(mirror.clone(), add, remove), (desired, intent));
    }
}
