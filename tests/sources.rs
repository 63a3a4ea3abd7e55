//! The Microsoft Graph and Okta sources against the emulator's Graph- and Okta-shaped
//! endpoints, with pages of two members so that paging and merging are exercised.

use scimsync::emulator::Route;
use scimsync::plan::{ReadKind, file};
use scimsync::state::State;

use crate::harness::{CLIENT_ID, CLIENT_SECRET, names};
use crate::scenario::{Group, STATE_FILE, Scenario};

fn graph(s: Scenario) -> Scenario {
    let base = s.running.base_url();
    s.emu().configure(|o| o.idp_page_size = 2);
    s.source(&format!(
        "kind = \"graph\"\nbase_url = \"{base}/v1.0\"\nlogin_base = \"{base}\"\ntenant = \"contoso.onmicrosoft.com\"\n"
    ))
    .env("AZURE_CLIENT_ID", CLIENT_ID)
    .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
}

// The IdP keys are Entra object ids (`u010`…), found in Genesys by their userPrincipalName
// (`u010@example.com`, the emulator's default): this needs the planner to call
// `Source::describe_users` (the lead's part of issue 11).
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
    let st = State::load_file(&s.path(STATE_FILE)).unwrap();
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
        .groups([Group::id("sales", "g-sales").full()]);
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

// ---- First contact with real tenants (issue 11): the sources through the library, against
// an emulator as strict as Entra and Okta.

mod real {
    use std::collections::BTreeSet;
    use std::time::{Duration, Instant};

    use scimsync::emulator::{EntraKind, FaultAction, Route};
    use scimsync::endpoint::Endpoint;
    use scimsync::model::Answer;
    use scimsync::model::OktaUserAttribute;
    use scimsync::model::{Mode, UserKey};
    use scimsync::retry::RetryPolicy;
    use scimsync::source::SourceError;
    use scimsync::source::graph::{Graph, GraphAuth};
    use scimsync::source::okta::Okta;

    use crate::harness::{self, CLIENT_ID, CLIENT_SECRET};
    use crate::scenario::IDP_TOKEN;

    fn retry() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            min_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(40),
            max_retry_after: Duration::from_secs(10),
            ..RetryPolicy::default()
        }
    }

    fn graph(running: &scimsync::emulator::Running) -> Graph {
        let base = running.base_url();
        let auth = GraphAuth {
            login_base: Endpoint::parse(&base, "test").unwrap(),
            tenant: "contoso.onmicrosoft.com".into(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
        };
        let graph_base = Endpoint::parse(&format!("{base}/v1.0"), "test").unwrap();
        Graph::new(graph_base, auth, UserKey::UserName, retry()).unwrap()
    }

    fn okta(running: &scimsync::emulator::Running, attribute: OktaUserAttribute) -> Okta {
        running.emulator.set_idp_token(IDP_TOKEN);
        let base = Endpoint::parse(&running.base_url(), "test").unwrap();
        Okta::new(base, IDP_TOKEN.into(), attribute, retry()).unwrap()
    }

    fn set(v: &[&str]) -> BTreeSet<scimsync::model::IdpKey> {
        v.iter()
            .map(|s| scimsync::model::IdpKey::from(*s))
            .collect()
    }

    #[tokio::test]
    async fn graph_describes_object_ids_by_upn_and_leaves_out_non_users() {
        let r = harness::start().await;
        let emu = &r.emulator;
        emu.idp_change("sales", &["oid-alice", "oid-bob", "oid-team"], &[]);
        emu.entra_user("oid-alice", "Alice.Smith@contoso.com", "Alice Smith", true);
        emu.entra_user("oid-bob", "bob@contoso.com", "Bob", false);
        emu.entra_object("oid-team", EntraKind::Group, "Nested team");
        let g = graph(&r);
        let described = g
            .describe_users(&set(&["oid-alice", "oid-bob", "oid-team", "oid-gone"]))
            .await
            .unwrap();
        assert_eq!(
            described.keys().collect::<Vec<_>>(),
            ["oid-alice", "oid-bob"],
            "a group and an unknown id are not users"
        );
        assert_eq!(described["oid-alice"].target_key, "Alice.Smith@contoso.com");
        assert_eq!(described["oid-alice"].label.as_deref(), Some("Alice Smith"));
        assert!(described["oid-alice"].enabled);
        assert!(
            !described["oid-bob"].enabled,
            "accountEnabled is asked for with $select (v1.0 leaves it out by default)"
        );
        // More than 1,000 ids go in batches of at most 1,000.
        let many: BTreeSet<scimsync::model::IdpKey> =
            (0..1500).map(|i| format!("oid-{i:04}").into()).collect();
        let before = emu.count(Route::GraphGetByIds);
        g.describe_users(&many).await.unwrap();
        assert_eq!(emu.count(Route::GraphGetByIds) - before, 2);
        assert_eq!(emu.count_status(Route::GraphGetByIds, 400), 0);
    }

    #[tokio::test]
    async fn graph_first_reads_take_removed_as_not_a_member_and_skip_non_users() {
        let r = harness::start().await;
        let emu = &r.emulator;
        emu.configure(|o| o.idp_page_size = 2);
        emu.idp_change(
            "sales",
            &["oid-a", "oid-b", "oid-c", "oid-dev", "oid-team"],
            &[],
        );
        emu.idp_change("sales", &[], &["oid-c"]);
        emu.entra_object("oid-dev", EntraKind::Device, "Kiosk");
        emu.entra_object("oid-team", EntraKind::Group, "Nested team");
        let g = graph(&r);
        // The first read lists oid-c with @removed: not a member, not an error.
        let full = g.read("sales", None, Mode::Full).await.unwrap();
        assert_eq!(
            full.answer,
            Answer::Full {
                members: set(&["oid-a", "oid-b"])
            }
        );
        let first = g.read("sales", None, Mode::Delta).await.unwrap();
        assert_eq!(
            first.answer,
            Answer::Delta {
                add: set(&["oid-a", "oid-b"]),
                remove: BTreeSet::new()
            }
        );
        // After a delta link, @removed is a removal.
        emu.idp_change("sales", &[], &["oid-b"]);
        let next = g
            .read("sales", first.cursor_to.as_ref(), Mode::Delta)
            .await
            .unwrap();
        assert_eq!(
            next.answer,
            Answer::Delta {
                add: BTreeSet::new(),
                remove: set(&["oid-b"])
            }
        );
    }

    #[tokio::test]
    async fn graph_group_ids_compare_without_case() {
        let r = harness::start().await;
        r.emulator
            .idp_change("5f4bc742-aaaa-bbbb-cccc-0123456789ab", &["oid-a"], &[]);
        let read = graph(&r)
            .read("5F4BC742-AAAA-BBBB-CCCC-0123456789AB", None, Mode::Full)
            .await
            .unwrap();
        assert_eq!(
            read.answer,
            Answer::Full {
                members: set(&["oid-a"])
            }
        );
    }

    #[tokio::test]
    async fn graph_token_scope_follows_the_graph_host_and_refreshes() {
        let r = harness::start().await;
        let emu = &r.emulator;
        emu.configure(|o| o.idp_page_size = 1);
        emu.idp_change("sales", &["oid-a", "oid-b", "oid-c"], &[]);
        let g = graph(&r);
        g.read("sales", None, Mode::Full).await.unwrap();
        assert_eq!(
            emu.graph_scopes(),
            [format!("{}/.default", r.base_url())],
            "the scope names the configured Graph host, not graph.microsoft.com"
        );
        assert_eq!(emu.count(Route::GraphToken), 1, "one token for three pages");

        // A token refused mid-read (HTTP 401) is replaced once, and the read goes on.
        emu.inject(Route::GraphDelta, 1, FaultAction::ExpireTokens);
        g.read("sales", None, Mode::Full).await.unwrap();
        assert_eq!(emu.count(Route::GraphToken), 2);
        assert_eq!(emu.count_status(Route::GraphDelta, 401), 1);

        // A token is not used past its expires_in: with a lifetime of 0 s each page
        // fetches a fresh one.
        emu.configure(|o| o.graph_token_lifetime = Duration::ZERO);
        let g = graph(&r);
        let before = emu.count(Route::GraphToken);
        g.read("sales", None, Mode::Full).await.unwrap();
        assert!(emu.count(Route::GraphToken) - before >= 3);
    }

    #[tokio::test]
    async fn graph_429_waits_its_retry_after() {
        let r = harness::start().await;
        let emu = &r.emulator;
        emu.idp_change("sales", &["oid-a"], &[]);
        let g = graph(&r);
        g.read("sales", None, Mode::Full).await.unwrap();
        emu.idp_throttle(Duration::from_millis(1500));
        let started = Instant::now();
        g.read("sales", None, Mode::Full).await.unwrap();
        assert!(emu.count_status(Route::GraphDelta, 429) >= 1);
        assert!(
            started.elapsed() >= Duration::from_millis(1400),
            "waited for Retry-After, not a short backoff"
        );
    }

    #[tokio::test]
    async fn okta_keys_on_email_and_keeps_only_working_accounts() {
        let r = harness::start().await;
        let emu = &r.emulator;
        emu.configure(|o| o.idp_page_size = 2);
        let members = [
            "00u1", "00u2", "00u3", "00u4", "00u5", "00u6", "00u7", "00u8",
        ];
        emu.idp_change("sales", &members, &[]);
        let statuses = [
            "ACTIVE",
            "PASSWORD_EXPIRED",
            "LOCKED_OUT",
            "RECOVERY",
            "DEPROVISIONED",
            "SUSPENDED",
            "STAGED",
            "PROVISIONED",
        ];
        for (id, status) in members.iter().zip(statuses) {
            emu.okta_user(
                id,
                &format!("{id}.login"),
                &format!("{id}@mail.example"),
                status,
            );
        }
        let emails = okta(&r, OktaUserAttribute::Email)
            .read("sales")
            .await
            .unwrap();
        assert_eq!(
            emails.answer,
            Answer::Full {
                members: set(&[
                    "00u1@mail.example",
                    "00u2@mail.example",
                    "00u3@mail.example",
                    "00u4@mail.example"
                ])
            }
        );
        assert_eq!(
            emu.count(Route::OktaUsers),
            4,
            "eight users in pages of two"
        );
        let logins = okta(&r, OktaUserAttribute::Login)
            .read("sales")
            .await
            .unwrap();
        assert!(
            matches!(&logins.answer, Answer::Full { members } if members.contains("00u1.login"))
        );
        let ids = okta(&r, OktaUserAttribute::Id).read("sales").await.unwrap();
        assert!(
            matches!(&ids.answer, Answer::Full { members } if *members == set(&["00u1", "00u2", "00u3", "00u4"]))
        );
    }

    #[tokio::test]
    async fn okta_429_waits_until_x_rate_limit_reset() {
        let r = harness::start().await;
        r.emulator.idp_change("sales", &["00u1"], &[]);
        let o = okta(&r, OktaUserAttribute::Email);
        r.emulator.idp_throttle(Duration::from_millis(1500));
        // Three quick retries (5–40 ms) would all fall inside the window: only waiting for
        // the reset gets through.
        let read = o.read("sales").await.unwrap();
        assert!(matches!(read.answer, Answer::Full { .. }));
        assert!(r.emulator.count_status(Route::OktaUsers, 429) >= 1);
    }

    #[tokio::test]
    async fn a_250_mb_idp_answer_fails_fast_with_bounded_memory() {
        let r = harness::start().await;
        r.emulator.set_idp_token(IDP_TOKEN);
        r.emulator.idp_change("sales", &["00u1"], &[]);
        r.emulator
            .configure(|o| o.idp_huge_body = Some(250 * 1024 * 1024));
        let o = okta(&r, OktaUserAttribute::Email);
        let started = Instant::now();
        let e = o.read("sales").await.unwrap_err();
        assert!(matches!(e, SourceError::AnswerTooLarge { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("sales") && text.contains("64 MiB") && text.contains("source.base_url"),
            "{text}"
        );
        assert!(started.elapsed() < Duration::from_secs(30));
        // Reading stopped at the cap: the server produced little more than 64 MiB of the
        // 250 (what sits in socket buffers), and nothing was retried.
        let sent = r.emulator.idp_bytes_sent();
        assert!(sent < 100 * 1024 * 1024, "{sent} bytes produced");
        assert_eq!(r.emulator.count(Route::OktaUsers), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_idp_fails_the_plan_within_the_read_deadline() {
    let s = Scenario::new()
        .await
        .idp("sales", &["u010"])
        .source_setting("read_deadline_secs", 1);
    s.emu().inject(
        Route::IdpDelta,
        100,
        scimsync::emulator::FaultAction::Delay(std::time::Duration::from_hours(1)),
    );
    let started = std::time::Instant::now();
    let run = s.run(&["plan", "--out", "p.json"]).await;
    run.code(1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        run.stderr.contains("did not finish answering within 1 s")
            && run.stderr.contains("read_deadline_secs"),
        "{}",
        run.stderr
    );
    assert!(!s.path("p.json").exists());
}
