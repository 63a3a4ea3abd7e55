//! Secrets never leave memory; plaintext only to loopback.

use scimsync::emulator::FaultAction;
use scimsync::emulator::Route;

use crate::harness::CLIENT_SECRET;
use crate::scenario::{IDP_TOKEN, Scenario};

/// A full plan/apply (with a stale group, a re-plan, a 401 refresh and a failed call) at
/// trace level: no output, plan, re-plan, state file or log holds a secret or a token.
#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_output_files_or_logs() {
    let s = Scenario::new()
        .await
        .idp("sales", &["u010", "u011", "ghost"])
        .env("RUST_LOG", "trace");
    let mut outputs = Vec::new();
    let run = s.run(&["plan", "--out", "plan.json", "-vv"]).await;
    run.code(0);
    outputs.push(run.stdout + &run.stderr);
    s.emu().write_behind("g-sales", &["u150"], &[]);
    s.emu()
        .inject(Route::GroupGet, 1, FaultAction::ExpireTokens);
    let run = s.run(&["apply", "plan.json"]).await;
    run.code(3);
    outputs.push(run.stdout + &run.stderr);
    let run = s
        .run(&["apply", "plan.replan.json", "--format", "json"])
        .await;
    run.code(0);
    outputs.push(run.stdout + &run.stderr);
    let run = s.run(&["validate"]).await;
    outputs.push(run.stdout + &run.stderr);
    // A refused secret: the error must not echo it.
    let s = s.env("GENESYSCLOUD_OAUTHCLIENT_SECRET", "wrong-secret-9f8e7d6c");
    let wrong = s.run_raw(&["plan"]).await;
    wrong.code(1);
    outputs.push(wrong.stdout + &wrong.stderr);
    for f in [
        "plan.json",
        "plan.replan.json",
        "scimsync.state.json",
        "scimsync.toml",
    ] {
        outputs.push(std::fs::read_to_string(s.path(f)).unwrap());
    }
    let tokens = s.emu().issued_tokens();
    assert!(
        tokens.len() >= 2,
        "the test should have used more than one token: {tokens:?}"
    );
    let mut secrets: Vec<String> = vec![
        CLIENT_SECRET.into(),
        IDP_TOKEN.into(),
        "wrong-secret-9f8e7d6c".into(),
    ];
    secrets.extend(tokens);
    for (i, text) in outputs.iter().enumerate() {
        assert!(!text.is_empty(), "output {i} is empty");
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "output {i} holds a secret");
        }
    }
    // The logs were really at trace level (an INFO line would prove nothing): the secrets
    // above were looked for in everything trace logging prints.
    for (i, text) in outputs[..2].iter().enumerate() {
        assert!(
            text.contains("TRACE"),
            "output {i} was not logged at trace level: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_is_refused_off_loopback() {
    let s = Scenario::new().await.idp("sales", &["u010"]);
    let text = s.config_text().replace(
        &format!("api_base = \"{}\"", s.running.base_url()),
        "api_base = \"http://api.mypurecloud.com\"",
    );
    std::fs::write(s.path("scimsync.toml"), text).unwrap();
    let run = s.run_raw(&["plan"]).await;
    run.code(1);
    assert!(
        run.stderr.contains("target.api_base") && run.stderr.contains("not loopback"),
        "{}",
        run.stderr
    );
    assert_eq!(s.emu().journal().len(), 0);
}
