//! The CLI around the commands: completions, state show/reset, -q/-v, and no progress bars
//! or colours in CI logs.

use crate::scenario::Scenario;

#[tokio::test(flavor = "multi_thread")]
async fn completions_for_each_shell() {
    let s = Scenario::new().await;
    for shell in ["bash", "zsh", "fish"] {
        let run = s.run_raw(&["completions", shell]).await;
        run.code(0);
        assert!(run.stdout.contains("scimsync"), "{shell}");
        for sub in ["plan", "apply", "show", "validate", "state"] {
            assert!(run.stdout.contains(sub), "{shell} lacks {sub}");
        }
    }
    s.run_raw(&["completions", "tcsh"]).await.code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn state_show_and_reset() {
    let s = Scenario::new().await.idp("sales", &["u010"]);
    let empty = s.run(&["state", "show"]).await;
    empty.code(0);
    assert!(
        empty.stdout.contains("sales") && empty.stdout.contains("nothing recorded"),
        "{}",
        empty.stdout
    );
    s.run(&["plan", "--out", "p.json"]).await.code(0);
    s.run(&["apply", "p.json"]).await.code(0);
    let shown = s.run(&["state", "show"]).await;
    shown.code(0);
    assert!(
        shown.stdout.contains("cursor c1") && shown.stdout.contains("ETag \"2\""),
        "{}",
        shown.stdout
    );
    let bad = s.run(&["state", "reset", "--group", "nope"]).await;
    bad.code(1);
    assert!(bad.stderr.contains("nope"), "{}", bad.stderr);
    let reset = s.run(&["state", "reset", "--group", "sales"]).await;
    reset.code(0);
    assert!(reset.stdout.contains("mirror kept"), "{}", reset.stdout);
    let after = s.run(&["state", "show"]).await;
    assert!(
        after.stdout.contains("cursor (none)") && after.stdout.contains("mirror 1 member(s)"),
        "{}",
        after.stdout
    );
    let forgot = s
        .run(&["state", "reset", "--group", "sales", "--forget-mirror"])
        .await;
    forgot.code(0);
    assert!(forgot.stdout.contains("NOT removed"), "{}", forgot.stdout);
    let after = s.run(&["state", "show", "--members"]).await;
    assert!(after.stdout.contains("mirror unknown"), "{}", after.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_and_verbose_and_clean_ci_logs() {
    let s = Scenario::new().await.idp("sales", &["u010"]);
    let normal = s.run(&["plan", "--out", "p.json"]).await;
    normal.code(0);
    assert!(
        normal.stderr.contains("Plan written to p.json"),
        "{}",
        normal.stderr
    );
    // Not a terminal: no progress bar, no colour codes.
    assert!(
        !normal.stderr.contains("groups ") && !normal.stderr.contains('\u{1b}'),
        "{:?}",
        normal.stderr
    );
    let quiet = s.run(&["plan", "-q", "--out", "p.json"]).await;
    quiet.code(0);
    assert_eq!(quiet.stderr, "", "-q prints only errors");
    let verbose = s.run(&["plan", "-v", "--out", "p.json"]).await;
    verbose.code(0);
    assert!(verbose.stderr.contains("DEBUG"), "{}", verbose.stderr);
    let help = s.run_raw(&["apply", "--help"]).await;
    help.code(0);
    assert!(
        help.stdout.contains("--expect-sha256") && help.stdout.contains("re-plan"),
        "{}",
        help.stdout
    );
}

/// Every `scimsync …` command in the CI recipes parses with today's CLI: the recipes cannot
/// drift from the flags they use.
#[test]
fn ci_recipes_use_real_flags() {
    use clap::Parser;
    let root = env!("CARGO_MANIFEST_DIR");
    let mut checked = 0;
    for file in [
        "examples/github/scimsync-plan.yml",
        "examples/github/scimsync-apply.yml",
        "examples/gitlab/.gitlab-ci.yml",
        "README.md",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        for line in text.lines() {
            let Some(start) = line
                .find("scimsync plan -")
                .or_else(|| line.find("scimsync apply "))
                .or_else(|| line.find("scimsync log"))
                .or_else(|| line.find("scimsync report "))
            else {
                continue;
            };
            if line.contains("echo") {
                continue;
            }
            let mut command = line[start..].to_owned();
            // GitHub expressions (`${{ … }}`) hold spaces: one placeholder word each.
            while let (Some(a), Some(b)) = (command.find("${{"), command.find("}}")) {
                command.replace_range(a..b + 2, "$x");
            }
            let end = command
                .find(['>', ';', '|', '#', '`'])
                .unwrap_or(command.len());
            let words: Vec<String> = command[..end]
                .split_whitespace()
                .map(|w| {
                    if w.contains('$') || w.contains('…') {
                        "x".to_owned()
                    } else {
                        w.trim_matches('"').to_owned()
                    }
                })
                .collect();
            let parsed = scimsync::cli::Cli::try_parse_from(&words);
            assert!(
                parsed.is_ok(),
                "{file}: {:?} does not parse: {}",
                words,
                parsed.unwrap_err()
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} commands found");
}
