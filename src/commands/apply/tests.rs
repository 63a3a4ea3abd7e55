//! apply's rebuild of what the planner saw, from the state and the plan's difference.

use super::*;
use crate::model::TargetKind;
use crate::model::{
    Base, GroupId, GroupSnapshot, GroupTarget, Intent, Lineage, Mapping, MemberSet, Mode,
    SourceKind,
};
use crate::plan::planner::plan_group;
use crate::plan::{Plan, TargetRef, file};
use crate::state::{CachedUser, GroupRecord};

fn keys(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// A plan keeps only a difference and the resolutions that carry information; through the
/// file and apply's rebuild, the state's mirror and that difference give back exactly the
/// desired set and resolutions the planner saw, and re-planning gives the same plan.
#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one scenario: a state, a plan, the file, the rebuild"
)]
fn a_plan_round_trips_through_the_rebuild() {
    let at: jiff::Timestamp = "2026-11-29T03:00:00Z".parse().unwrap();
    let cached = |id: &str| CachedUser {
        id: UserId::from(id),
        label: id.to_uppercase(),
        confirmed_at: at,
    };
    // The mirror: a, b, c, x (x pending); the IdP now: b, c, x, n (new), f (found now).
    let mirror = keys(&["a@x", "b@x", "c@x", "x@x"]);
    let desired = keys(&["b@x", "c@x", "f@x", "n@x", "x@x"]);
    let mut state = State {
        lineage: Some(Lineage::from("0a1b")),
        ..State::default()
    };
    for (k, id) in [("a@x", "ua"), ("b@x", "ub"), ("c@x", "uc"), ("n@x", "un")] {
        state.users.insert(k.to_owned(), cached(id));
    }
    state.groups.insert(
        "sales".into(),
        GroupRecord {
            serial: 4,
            idp_members: Some(mirror.clone()),
            ..GroupRecord::default()
        },
    );
    let user = |id: &str| Resolution::User(UserId::from(id));
    let resolution: BTreeMap<String, Resolution> = [
        ("a@x", user("ua")),
        ("b@x", user("ub")),
        ("c@x", user("uc")),
        ("n@x", user("un")),
        ("f@x", Resolution::Found(UserId::from("uf"))),
        ("x@x", Resolution::Unknown),
    ]
    .into_iter()
    .map(|(k, r)| (k.to_owned(), r))
    .collect();
    let live = GroupSnapshot {
        id: GroupId::from("g1"),
        display_name: "Sales".into(),
        members: ["ua", "ub", "uc"].into_iter().map(UserId::from).collect(),
        ..GroupSnapshot::default()
    };
    let policy = Policy {
        protected: BTreeSet::new(),
        max_removals: 25,
        max_ratio: 1.0,
        allow_removals: None,
        allow_empty_source: false,
    };
    let input = |desired, intent, resolution| GroupInput {
        live: &live,
        mapping: Mapping {
            idp_group: "sales".into(),
            target: GroupTarget::Id(GroupId::from("g1")),
            mode: Mode::Delta,
        },
        base: Base {
            lineage: state.lineage.clone(),
            serial: 4,
        },
        source: SourceRef {
            kind: SourceKind::DeltaHttp,
            read: ReadKind::Delta,
            cursor_from: None,
            cursor_to: None,
        },
        desired: Some(desired),
        intent,
        resolution,
        derive: &|_| Resolution::Unknown,
        policy: &policy,
    };
    let intent = Intent::new(&desired, Some(&mirror));
    let planned = plan_group(input(&desired, intent.clone(), resolution.clone())).unwrap();
    let ids = |v: &[&str]| -> MemberSet { v.iter().map(|s| UserId::from(*s)).collect() };
    assert_eq!(planned.changes.add, ids(&["uf", "un"]));
    assert_eq!(planned.changes.remove, ids(&["ua"]));
    // b and c are known and unchanged: not stored.
    assert_eq!(
        planned
            .resolution
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["a@x", "f@x", "n@x", "x@x"]
    );
    let plan = Plan::new(
        TargetRef {
            kind: TargetKind::Genesys,
            api_base: "https://api.mypurecloud.com".into(),
        },
        "00".into(),
        at,
        vec![planned],
        &BTreeMap::new(),
    );
    let back = file::parse(&file::to_bytes(&plan), "p.json").unwrap();
    file::verify(&back, "p.json").unwrap();
    let g = &back.groups[0];
    let (rebuilt, rebuilt_resolution) = rebuild(g, &state, UserKey::UserName);
    assert_eq!(rebuilt, desired);
    assert_eq!(rebuilt_resolution, resolution);
    let replanned = plan_group(input(&rebuilt, g.intent.clone(), rebuilt_resolution)).unwrap();
    assert_eq!(&replanned, g);

    // Applied, the mirror becomes the desired set.
    let mut advanced = mirror.clone();
    g.intent.advance(&mut advanced);
    assert_eq!(advanced, desired);

    // With ids for keys, a key neither stored nor cached is its own resolution.
    assert_eq!(
        Resolution::derived("u7", None, UserKey::Id),
        Resolution::User(UserId::from("u7"))
    );
    assert_eq!(
        Resolution::derived("u7", None, UserKey::UserName),
        Resolution::Unknown
    );
}
