//! The Microsoft Graph and Okta sources against the emulator's Graph- and Okta-shaped
//! endpoints, with pages of two members so that paging and merging are exercised.

use scimsync::emulator::Route;
use scimsync::plan::{ReadKind, file};
use scimsync::state::State;

use crate::harness::{CLIENT_ID, CLIENT_SECRET, names};
use crate::scenario::Scenario;

fn graph(s: Scenario) -> Scenario {
    let base = s.running.base_url();
    s.emu().configure(|o| o.idp_page_size = 2);
    s.source(&format!(
        "kind = \"graph\"\nbase_url = \"{base}/v1.0\"\nlogin_base = \"{base}\"\ntenant = \"contoso.onmicrosoft.com\"\n"
    ))
    .env("AZURE_CLIENT_ID", CLIENT_ID)
    .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_deltas_across_pages_then_since_the_delta_link() {
    let s = graph(
        Scenario::new()
            .await
            .idp("sales", &["u000", "u001", "u010", "u011", "u012"]),
    );
    s.run(&["plan", "--out", "p1.json"]).await.code(0);
    let p1 = file::read(&s.path("p1.json")).unwrap();
    let g = &p1.groups[0];
    assert_eq!(g.source.kind, "graph");
    assert_eq!(
        names(&g.changes.add),
        ["u010", "u011", "u012"],
        "five members over three pages, merged"
    );
    let link = g.source.cursor_to.clone().unwrap();
    assert!(
        link.as_str().contains("/v1.0/groups/delta?") && link.as_str().contains("deltatoken"),
        "{link}"
    );
    assert_eq!(s.emu().count(Route::GraphDelta), 3);
    assert_eq!(s.emu().count(Route::GraphToken), 1);
    s.run(&["apply", "p1.json"]).await.code(0);

    s.emu().idp_change("sales", &["u020"], &["u001"]);
    s.run(&["plan", "--out", "p2.json"]).await.code(0);
    let g = &file::read(&s.path("p2.json")).unwrap().groups[0];
    assert_eq!(g.source.cursor_from.as_ref(), Some(&link));
    assert_eq!(names(&g.changes.add), ["u020"]);
    assert_eq!(names(&g.changes.remove), ["u001"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_graph_delta_link_resyncs_and_removes_the_gaps_revocations() {
    let s = graph(Scenario::new().await.idp("sales", &["u010", "u011"]));
    s.run(&["plan", "--out", "p1.json"]).await.code(0);
    s.run(&["apply", "p1.json"]).await.code(0);
    // In the gap the IdP revokes u010 and grants u012; then the delta link expires.
    s.emu().idp_change("sales", &["u012"], &["u010"]);
    s.emu().idp_expire_cursors();
    let run = s.run(&["plan", "--out", "p2.json"]).await;
    run.code(0);
    assert!(run.stderr.contains("has expired"), "{}", run.stderr);
    let g = &file::read(&s.path("p2.json")).unwrap().groups[0];
    assert_eq!(g.source.read, ReadKind::Resync);
    assert_eq!(names(&g.changes.add), ["u012"]);
    assert_eq!(names(&g.changes.remove), ["u010"], "the gap's revocation");
    s.run(&["apply", "p2.json"]).await.code(0);
    assert!(!s.emu().members("g-sales").contains(&"u010".to_owned()));
    // state reset keeps the mirror, so a forced resync still sees revocations.
    s.run(&["state", "reset", "--group", "sales"]).await.code(0);
    let st = State::load_file(&s.path("scimsync.state.json")).unwrap();
    assert!(st.cursor("sales").is_none());
    assert_eq!(st.mirror("sales").unwrap().len(), 2);
    s.emu().idp_change("sales", &[], &["u011"]);
    s.run(&["plan", "--out", "p3.json"]).await.code(0);
    let g = &file::read(&s.path("p3.json")).unwrap().groups[0];
    assert_eq!(g.source.read, ReadKind::Resync);
    assert_eq!(names(&g.changes.remove), ["u011"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_graph_secret_is_named() {
    let s = graph(Scenario::new().await.idp("sales", &["u010"]))
        .env("AZURE_CLIENT_SECRET", "wrong-graph-secret");
    let run = s.run(&["plan"]).await;
    run.code(1);
    assert!(
        run.stderr.contains("contoso.onmicrosoft.com")
            && run.stderr.contains("GroupMember.Read.All"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-graph-secret"));
}

#[tokio::test(flavor = "multi_thread")]
async fn okta_listings_follow_link_headers_and_map_logins() {
    let s = Scenario::new()
        .await
        .idp("sales", &["u000", "u001", "u002", "u003", "u030"]);
    s.emu().configure(|o| o.idp_page_size = 2);
    let base = s.running.base_url();
    let s = s
        .source(&format!("kind = \"okta\"\nbase_url = \"{base}\"\ntoken_env = \"IDP_API_TOKEN\"\nuser_key = \"userName\"\n"))
        .groups(&["name = \"sales\"\ntarget_id = \"g-sales\"\nmode = \"full\""]);
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    let g = &file::read(&s.path("p.json")).unwrap().groups[0];
    assert_eq!(g.source.kind, "okta");
    assert_eq!(names(&g.changes.add), ["u030"]);
    assert_eq!(names(&g.changes.remove), ["u004"]);
    assert_eq!(
        s.emu().count(Route::OktaUsers),
        3,
        "five users in pages of two"
    );
    s.run(&["apply", "p.json"]).await.code(0);
    s.run(&["plan", "--detailed-exitcode"]).await.code(0);

    let bad = s.env("IDP_API_TOKEN", "wrong-okta-token");
    let run = bad.run(&["plan"]).await;
    run.code(1);
    assert!(
        run.stderr.contains("HTTP 401") && !run.stderr.contains("wrong-okta-token"),
        "{}",
        run.stderr
    );
}
