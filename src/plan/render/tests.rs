use super::*;
use crate::plan::file::tests::sample;

#[test]
fn table_snapshot() {
    snapshot!(
        "render_table",
        render(&sample(), Format::Table, &RenderOptions::default())
    );
}

#[test]
fn markdown_snapshot() {
    snapshot!(
        "render_markdown",
        render(&sample(), Format::Markdown, &RenderOptions::default())
    );
}

fn ids(prefix: &str, n: usize) -> crate::model::MemberSet {
    (0..n).map(|j| UserId(format!("{prefix}-{j:05}"))).collect()
}

/// A group like the sample's, named `name` → `display`, with these changes.
fn group(name: &str, display: &str, add: usize, remove: usize) -> GroupPlan {
    let mut g = sample().groups[0].clone();
    g.mapping.idp_group = name.into();
    g.display_name = display.into();
    g.group_id = crate::model::GroupId(format!("{name}-0a1b2c3d-4e5f-6789"));
    g.changes.add = ids(&format!("{name}-add"), add);
    g.changes.remove = ids(&format!("{name}-rm"), remove);
    g.reasons = g
        .changes
        .add
        .iter()
        .map(|u| (u.clone(), crate::plan::ChangeReason::Granted))
        .chain(
            g.changes
                .remove
                .iter()
                .map(|u| (u.clone(), crate::plan::ChangeReason::Revoked)),
        )
        .collect();
    g.pending.clear();
    g.guard.removals = remove;
    g
}

fn plan_of(groups: Vec<GroupPlan>, labels: &[(&str, &str)]) -> Plan {
    let base = sample();
    let labels = labels
        .iter()
        .map(|(k, v)| (UserId::from(*k), (*v).to_owned()))
        .collect();
    Plan::new(
        base.target,
        base.source,
        base.config_sha256,
        base.created_at,
        groups,
        &labels,
    )
}

/// Removals, adds, pending users, members that are groups, an unchanged group, and
/// hostile names from outside everywhere a string goes.
fn rich() -> Plan {
    let mut big = group("big", "Big", 4, 0);
    big.pending = vec![crate::plan::Pending {
        key: "erin@example.com".into(),
        reason: crate::plan::PendingReason::InactiveUser,
    }];
    big.member_groups = [crate::model::GroupId::from("g-nested")].into();
    let vip = group("vip-admins", "VIP Admins", 0, 3);
    let mut evil = group(
        "evil|`x`\n| a | b |",
        "</summary><img src=x onerror=alert(1)>",
        2,
        1,
    );
    evil.precondition.etag = Some(crate::model::ETag::from("W/\"4`|2\"\x1b[2J"));
    evil.source.cursor_to = Some("c`</details>".into());
    evil.pending = vec![crate::plan::Pending {
        key: "`x`|y\n\u{202E}gnp.exe".into(),
        reason: crate::plan::PendingReason::UnknownUser,
    }];
    let quiet = group("quiet", "Quiet", 0, 0);
    plan_of(
        vec![quiet, big, evil, vip],
        &[
            ("big-add-00000", "alice@example.com"),
            ("big-add-00001", "Bob Builder"),
            ("vip-admins-rm-00000", "carol@example.com"),
            ("vip-admins-rm-00001", "(deleted user)"),
            (
                "evil|`x`\n| a | b |-add-00000",
                "\x1b[31mMallory\x1b[0m <script>",
            ),
            ("evil|`x`\n| a | b |-add-00001", "`rm -rf`|**bold**\r\nnext"),
            (
                "evil|`x`\n| a | b |-rm-00000",
                "\u{202E}nimda\u{202C} \u{9b}31m",
            ),
        ],
    )
}

#[test]
fn rich_table_snapshot() {
    snapshot!(
        "render_rich_table",
        render(&rich(), Format::Table, &RenderOptions::default())
    );
}

#[test]
fn rich_markdown_snapshot() {
    let opts = RenderOptions {
        plan_file: Some("plans/plan.json".into()),
        ..RenderOptions::default()
    };
    snapshot!(
        "render_rich_markdown",
        render(&rich(), Format::Markdown, &opts)
    );
}

#[test]
fn rich_json_snapshot() {
    snapshot!(
        "render_rich_json",
        render(&rich(), Format::Json, &RenderOptions::default())
    );
}

#[test]
fn the_reviewer_reads_removals_first_then_adds_then_pending_then_unchanged() {
    for format in [Format::Table, Format::Markdown] {
        let out = render(&rich(), format, &RenderOptions::default());
        let at = |s: &str| out.rfind(s).unwrap_or_else(|| panic!("{s} in {out}"));
        // The member sections, after the table.
        let vip = at("VIP Admins");
        let big = at("Big");
        let quiet = at("quiet");
        assert!(vip < big && big < quiet, "{format:?}:\n{out}");
        assert!(out.contains("Unchanged (1): quiet."), "{out}");
    }
}

#[test]
fn a_target_that_is_not_genesys_has_a_target_group_column() {
    let mut plan = sample();
    plan.target.kind = crate::model::TargetKind::Scim;
    for format in [Format::Table, Format::Markdown] {
        let out = render(&plan, format, &RenderOptions::default());
        assert!(
            out.contains("Target group") && !out.contains("Genesys group"),
            "{out}"
        );
    }
}

/// 1,000 groups and 100,000 changes: 10 are unchanged, 10 lose 25 members each, one gains
/// 1,850 and 979 gain 100 each.
fn huge() -> Plan {
    let mut groups = Vec::new();
    for i in 0..1000 {
        let name = format!("group-{i:04}");
        let g = match i {
            0..10 => group(&name, &format!("Group {i}"), 0, 0),
            10..20 => group(&name, &format!("Group {i}"), 0, 25),
            20 => group(&name, &format!("Group {i}"), 1850, 0),
            _ => group(&name, &format!("Group {i}"), 100, 0),
        };
        groups.push(g);
    }
    let labels: Vec<(String, String)> = groups
        .iter()
        .flat_map(|g| g.changes.remove.iter().chain(g.changes.add.iter().take(3)))
        .map(|u| (u.0.clone(), format!("{}@example.com", u.0)))
        .collect();
    let labels: Vec<(&str, &str)> = labels
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    plan_of(groups, &labels)
}

#[test]
fn a_huge_plan_fits_a_comment_and_lists_every_removal() {
    let plan = huge();
    assert_eq!(plan.summary.groups, 1000);
    assert_eq!(plan.summary.add + plan.summary.remove, 100_000);
    let md = render(&plan, Format::Markdown, &RenderOptions::default());
    assert!(
        md.chars().count() <= MARKDOWN_LIMIT,
        "{}",
        md.chars().count()
    );
    for g in &plan.groups {
        for u in &g.changes.remove {
            assert!(md.contains(&format!("(`{u}`): revoked by the IdP")), "{u}");
        }
    }
    // Adds are shortened with their count, never dropped silently.
    assert!(md.contains("**Add** (first "), "{md}");
    assert!(md.contains(" of 1850)"), "{md}");
    assert!(md.contains("10 unchanged group(s)"), "{md}");
    assert!(md.contains(&format!("--expect-sha256 {}", plan.sha256)));
    snapshot!("render_huge_markdown", md);
}

#[test]
fn diff_shows_changed_lines() {
    let d = diff("a\nb\n", "a\nc\n", "plan.json", "plan.replan.json");
    assert!(
        d.contains("-b") && d.contains("+c") && d.contains("plan.replan.json"),
        "{d}"
    );
}

/// A pending user whose key names an inactive Genesys user is shown by its label too, in
/// text and markdown; an unknown one by its key alone.
#[test]
fn pending_users_are_named_where_genesys_knows_them() {
    let mut g = group("sales", "Sales", 1, 0);
    let erin = crate::model::IdpKey::from("c7e5a3b1");
    g.resolution.insert(
        erin.clone(),
        crate::plan::Resolution::Inactive(UserId::from("c7e5a3b1")),
    );
    g.pending = vec![
        crate::plan::Pending {
            key: erin,
            reason: crate::plan::PendingReason::InactiveUser,
        },
        crate::plan::Pending {
            key: crate::model::IdpKey::from("nobody-9"),
            reason: crate::plan::PendingReason::UnknownUser,
        },
    ];
    let plan = plan_of(vec![g], &[("c7e5a3b1", "erin@example.com")]);
    let text = render(&plan, Format::Table, &RenderOptions::default());
    assert!(
        text.contains("? erin@example.com (c7e5a3b1) pending (inactive-user)")
            && text.contains("? nobody-9 pending (unknown-user)"),
        "{text}"
    );
    let md = render(&plan, Format::Markdown, &RenderOptions::default());
    assert!(
        md.contains("erin@example.com (`c7e5a3b1`): inactive-user"),
        "{md}"
    );
}

/// A plan whose groups grant roles: a privileged one (a role granting `directory:user:edit`
/// in all divisions), a plain one, one whose roles Genesys would not say, and an unchanged one.
fn granted() -> Plan {
    use crate::model::{PermissionPolicy, Review, RoleGrant};
    use crate::plan::grants::GroupGrants;
    let role =
        |id: &str, name: &str, division: (&str, &str), domain: &str, action: &str| RoleGrant {
            role_id: id.into(),
            role: name.into(),
            division_id: division.0.into(),
            division: division.1.into(),
            policies: vec![PermissionPolicy {
                domain: domain.into(),
                entity: "user".into(),
                actions: vec![action.into()],
            }],
        };
    let home = ("d-home", "Home");
    let review = Review::default();
    let sales = group("sales", "Sales", 2, 1).with_grants(GroupGrants::known(
        &[role("r-agent", "Sales Agent", home, "routing", "edit")],
        &review,
    ));
    let supervisors = group("supervisors", "Supervisors", 1, 0).with_grants(GroupGrants::known(
        &[
            role("r-sup", "Supervisor", home, "quality", "view"),
            role(
                "r-uadm",
                "User Administrator",
                ("*", ""),
                "directory",
                "edit",
            ),
        ],
        &review,
    ));
    let unknown = group("support", "Support", 1, 0).with_grants(GroupGrants::Unknown);
    let quiet = group("quiet", "Quiet", 0, 0);
    plan_of(
        vec![sales, quiet, unknown, supervisors],
        &[("supervisors-add-00000", "bob@example.com")],
    )
}

#[test]
fn granted_snapshots() {
    let plan = granted();
    assert_eq!(plan.summary.privileged, 1);
    assert!(plan.groups[3].privileged && !plan.groups[0].privileged);
    snapshot!(
        "render_grants_table",
        render(&plan, Format::Table, &RenderOptions::default())
    );
    snapshot!(
        "render_grants_markdown",
        render(&plan, Format::Markdown, &RenderOptions::default())
    );
    snapshot!(
        "render_grants_json",
        render(&plan, Format::Json, &RenderOptions::default())
    );
    // The JSON reads back as the same plan, with the same digest.
    let back = crate::plan::file::parse(&crate::plan::file::to_bytes(&plan), "p.json").unwrap();
    crate::plan::file::verify(&back, "p.json").unwrap();
    assert_eq!(back, plan);
}

/// Role and division names come from outside: escaped in every format like group names.
#[test]
fn hostile_role_names_are_escaped() {
    use crate::model::{Review, RoleGrant};
    use crate::plan::grants::GroupGrants;
    let evil = RoleGrant {
        role_id: "r-1".into(),
        role: "\x1b[2JEvil `role` | <b>x</b>\u{202E}".into(),
        division_id: "d-1".into(),
        division: "Home\r\n| fake | row |".into(),
        policies: Vec::new(),
    };
    let g =
        group("sales", "Sales", 1, 1).with_grants(GroupGrants::known(&[evil], &Review::default()));
    let plan = plan_of(vec![g], &[]);
    let table = render(&plan, Format::Table, &RenderOptions::default());
    assert!(!table.contains('\x1b') && !table.contains('\u{202E}') && !table.contains('\r'));
    let markdown = render(&plan, Format::Markdown, &RenderOptions::default());
    assert!(
        !markdown.contains('\x1b') && !markdown.contains("<b>"),
        "{markdown}"
    );
    assert!(!markdown.contains("\n| fake"), "{markdown}");
    let json = render(&plan, Format::Json, &RenderOptions::default());
    assert!(!json.contains('\x1b') && !json.contains('\u{202E}'));
}
