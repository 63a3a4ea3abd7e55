//! A write is done only when Genesys shows it (issue 20, finding 1): a 2xx that applied
//! nothing, an HTML "OK", a redirect, or a removal a membership rule undoes never moves a
//! group's state, and the users it left out are named.

use scimsync::emulator::PatchResponse;
use scimsync::plan::file;

use crate::scenario::Scenario;

#[tokio::test(flavor = "multi_thread")]
async fn a_2xx_that_applied_nothing_is_not_recorded_as_done() {
    for answer in [
        PatchResponse::Ignored,
        PatchResponse::IgnoredHtml,
        PatchResponse::SeeOther,
    ] {
        let s = Scenario::new()
            .await
            .idp("sales", &["u000", "u010", "u011"]);
        s.run(&["plan", "--out", "plan.json"]).await.code(0);
        s.emu().configure(|o| o.patch_response = answer);
        s.run(&["apply", "plan.json"]).await.expect(
            3,
            &[
                "a re-read shows the group without the change",
                "not added: u010, u011",
            ],
            &[],
        );
        assert_eq!(s.emu().members("g-sales").len(), 5, "{answer:?}");
        let serial = s.saved_state().groups.get("sales").map(|g| g.serial);
        assert!(serial.unwrap_or(0) == 0, "{answer:?}: the state moved");
        // The re-plan holds the same changes; once the server writes again, it applies.
        let replan = file::read(&s.path("plan.replan.json")).unwrap();
        assert_eq!(replan.groups[0].changes.add.len(), 2, "{answer:?}");
        s.emu()
            .configure(|o| o.patch_response = PatchResponse::Body);
        s.run(&["apply", "plan.replan.json"]).await.code(0);
        assert_eq!(s.emu().members("g-sales").len(), 7, "{answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removal_a_membership_rule_holds_is_named_and_asked_again() {
    // The IdP grants u000 and u001 (members already): the state's mirror learns them.
    let s = Scenario::new().await.idp("sales", &["u000", "u001"]);
    s.run(&["plan", "--out", "p0.json"]).await.code(0);
    s.run(&["apply", "p0.json"]).await.code(0);
    // A membership rule holds u001; the IdP revokes it.
    s.emu().keep_by_rule("g-sales", "u001");
    s.emu().idp_change("sales", &[], &["u001"]);
    s.run(&["plan", "--out", "p1.json"]).await.code(0);
    let p1 = file::read(&s.path("p1.json")).unwrap();
    assert_eq!(scimsync_names(&p1.groups[0].changes.remove), ["u001"]);
    s.run(&["apply", "p1.json"]).await.expect(
        3,
        &[
            "not removed: u001",
            "membership rule",
            "u001@example.com (u001)",
        ],
        &[],
    );
    assert!(s.emu().members("g-sales").iter().any(|m| m == "u001"));
    // The revocation stays in the state: the next plan removes again.
    let mirror = s.saved_state().groups["sales"].idp_members.clone().unwrap();
    assert!(mirror.contains("u001"), "{mirror:?}");
    s.run(&["plan", "--out", "p2.json"]).await.code(0);
    let p2 = file::read(&s.path("p2.json")).unwrap();
    assert_eq!(scimsync_names(&p2.groups[0].changes.remove), ["u001"]);
}

fn scimsync_names(set: &scimsync::model::MemberSet) -> Vec<&str> {
    set.iter().map(scimsync::model::UserId::as_str).collect()
}
