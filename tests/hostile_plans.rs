//! Plans that a careless answer or config would make dangerous (issue 20, findings 7, 8 and
//! 18): each is refused, guarded or kept safe, and says why.

use scimsync::plan::file;

use crate::scenario::Scenario;

fn full_mode() -> &'static str {
    "name = \"sales\"\ntarget_id = \"g-sales\"\nmode = \"full\""
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_whose_keys_resolve_to_nobody_empties_no_group() {
    // Guards wide open but the empty-source one: a listing of unknown keys must not count
    // as a membership.
    let s = Scenario::new()
        .await
        .groups(&[full_mode()])
        .safety("max_removals_per_group = 1000\nmax_removal_ratio = 1.0")
        .idp("sales", &["ghost-1", "ghost-2"]);
    let run = s.run(&["plan", "--out", "plan.json"]).await;
    run.code(4);
    assert!(
        run.stderr.contains("names no Genesys user") && run.stderr.contains("source.user_key"),
        "{}",
        run.stderr
    );
    assert!(!s.path("plan.json").exists());
    assert_eq!(s.emu().members("g-sales").len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removal_ratio_of_zero_allows_no_removal() {
    let s = Scenario::new()
        .await
        .groups(&[full_mode()])
        .safety("max_removal_ratio = 0.0")
        .idp("sales", &["u000", "u001", "u002", "u003"]);
    let run = s.run(&["plan", "--out", "plan.json"]).await;
    run.code(4);
    assert!(
        run.stderr
            .contains("would lose 1 of its 5 members, over the limit of 0"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_id_that_is_not_an_id_is_refused() {
    for bad in [
        "..",
        ".",
        "g-sales/../g-other",
        "g sales",
        "g-sales?x=1",
        "%2e%2e",
    ] {
        let s = Scenario::new()
            .await
            .groups(&[&format!("name = \"sales\"\ntarget_id = \"{bad}\"")]);
        let run = s.run(&["plan"]).await;
        run.code(1);
        assert!(
            run.stderr.contains("group[0].target_id") && run.stderr.contains("is not a group id"),
            "{bad}: {}",
            run.stderr
        );
        assert_eq!(s.emu().journal().len(), 0, "{bad}: a request was sent");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_whose_case_changed_removes_nobody_it_still_grants() {
    // Keys are externalIds, which Genesys matches case-exactly (RFC 7643 §3.1).
    let s = Scenario::new()
        .await
        .source_lines("user_key = \"externalId\"")
        .idp("sales", &["ext-000", "ext-010"]);
    s.run(&["plan", "--out", "p0.json"]).await.code(0);
    s.run(&["apply", "p0.json"]).await.code(0);
    assert!(s.emu().members("g-sales").iter().any(|m| m == "u010"));
    // The IdP now spells the key in upper case: the same person, another key.
    s.emu().idp_change("sales", &["EXT-010"], &["ext-010"]);
    let run = s.run(&["plan", "--out", "p1.json"]).await;
    run.code(0);
    let p1 = file::read(&s.path("p1.json")).unwrap();
    let g = &p1.groups[0];
    assert!(g.changes.remove.is_empty(), "{:?}", g.changes);
    assert!(
        g.skipped
            .iter()
            .any(|k| k.user == "ext-010" && k.reason.as_str() == "case-twin"),
        "{:?}",
        g.skipped
    );
    assert!(run.stdout.contains("ext-010 (case-twin)"), "{}", run.stdout);
}
