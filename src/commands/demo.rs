//! `scimsync demo`: the whole story on the embedded emulator, narrated. No account, no
//! credentials, no network: the emulator runs on a free 127.0.0.1 port and the files live in
//! a temporary folder that is removed at the end (or in `--dir`, kept).

use std::path::Path;

use anyhow::{Context, ensure};

use crate::cli::DemoArgs;
use crate::emulator::{self, Emulator, RateLimit, Seed};
use crate::exit_code::ExitCode;
use crate::plan::file;

const ALICE: &str = "3b8c1f6e-0a61-4b5e-9d43-7a1f0c2d9e01";
const BOB: &str = "5d2e7a90-41c3-4f8b-a6d2-1e9b3c7f5a02";
const SALES: &str = "5f4bc742-7d3e-4a1b-9c2f-6e8d0a1b3c10";
const ERIN: &str = "c7e5a3b1-9f2d-4c8e-b6a4-5d3f1e9c7b05";
const FRANK: &str = "e9a1c3b5-7d2f-4e6a-8c0b-1f3d5a7c9e06";
const SUPPORT: &str = "9a7c5e3b-1f2d-4e6a-8b0c-2d4f6a8c0e20";
const CAROL: &str = "8f4a2c1d-6b7e-4d90-b3a5-2c8e1f0d7b03";
/// The sample seed's Master Admin role (`*:*:*`).
const MASTER_ADMIN: &str = "2f7a9c1e-3b5d-4f8a-8c0e-6d2b4f7a9c43";
const STEPS: u8 = 9;
/// Who approves the demo's plans, and where: what the journal records with each change.
const APPROVER: &str = "maria@example.com";
const CHANGE: &str = "demo#1";

/// Requests per minute, for the emulator's limit and the client's pacing alike: fast enough
/// for a demo, and the client still never draws a 429.
const DEMO_RPM: u32 = 1200;

fn step(n: u8, text: &str) {
    println!("\n━━ Step {n}/{STEPS} ━━ {text}\n");
}

fn command(line: &str) {
    println!("  $ {line}\n");
}

/// The demo's own environment: the seed's fake credentials, never the caller's (only
/// `PATH`, `NO_COLOR` and `RUST_LOG` pass through).
struct DemoEnv {
    dir: std::path::PathBuf,
    vars: Vec<(&'static str, String)>,
}

impl DemoEnv {
    /// Run `scimsync ARGS` in the demo's folder, as a user would: this very binary, in a
    /// process of its own, its output shown as it comes. Each command runs as a process, so
    /// that no command of the library calls another.
    async fn scimsync(&self, args: &[&str]) -> anyhow::Result<ExitCode> {
        let exe = std::env::current_exe().context("the demo runs scimsync itself: where is it?")?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(args).current_dir(&self.dir).env_clear();
        for name in ["PATH", "NO_COLOR", "RUST_LOG"] {
            if let Some(value) = std::env::var_os(name) {
                cmd.env(name, value);
            }
        }
        cmd.envs(self.vars.iter().map(|(k, v)| (k, v)));
        let status = cmd.status().await.context("starting scimsync")?;
        Ok(ExitCode::of_process(status.code()))
    }
}

fn sha256_of(dir: &Path, plan: &str) -> anyhow::Result<String> {
    Ok(file::read(&dir.join(plan))?.sha256.0)
}

/// Step 8 (issue 23): what a change gives. Support grants a privileged role, so its plan
/// says so first; a role added to it after approval refuses it as stale, and the re-plan
/// shows the grants' difference.
async fn grants_step(env: &DemoEnv, emu: &Emulator, d: &Path) -> anyhow::Result<()> {
    step(
        8,
        "What a change gives: the IdP adds carol to support. Support grants roles, one of them privileged; an admin then gives it Master Admin before the plan is applied.",
    );
    emu.idp_change("support", &["carol@example.com"], &[]);
    command("scimsync plan --out plan4.json --detailed-exitcode");
    let code = env
        .scimsync(&["plan", "--out", "plan4.json", "--detailed-exitcode"])
        .await?;
    ensure!(
        code == ExitCode::Changes,
        "the fourth plan should add carol"
    );
    let plan = file::read(&d.join("plan4.json"))?;
    ensure!(
        plan.groups.iter().any(|g| g.privileged),
        "Support grants User Administrator (directory:user:edit): privileged"
    );
    println!(
        "  → the plan says what carol gets: Supervisor in Home and User Administrator in all divisions, marked [privileged] (it edits users), first in the reviewer's order and counted in the summary; a CI policy can ask for a second approver (README, CI recipe)."
    );
    emu.grant_role(SUPPORT, MASTER_ADMIN, "*");
    println!(
        "  After approval, an admin gives Support the role Master Admin (every permission) in all divisions."
    );
    command(&format!(
        "scimsync apply plan4.json --expect-sha256 {} --approved-by {APPROVER}",
        plan.sha256
    ));
    let code = env
        .scimsync(&[
            "apply",
            "plan4.json",
            "--expect-sha256",
            plan.sha256.as_str(),
            "--approved-by",
            APPROVER,
        ])
        .await?;
    ensure!(
        code == ExitCode::Stale,
        "a role added after approval should refuse the group (exit 3)"
    );
    ensure!(
        !emu.members(SUPPORT).iter().any(|m| m == CAROL),
        "carol must not have been added to Support"
    );
    println!(
        "  → exit 3: carol was not added. What was approved (Supervisor, User Administrator) is not what she would get now; the re-plan, with the grants' difference above, goes back for approval."
    );
    Ok(())
}

/// The last step: the journal, with every change the demo's applies made and who approved it.
async fn journal_step(env: &DemoEnv) -> anyhow::Result<()> {
    step(
        9,
        "The auditor's view: every change the applies made, with the plan and the approval behind it, in a tamper-evident journal beside the state.",
    );
    command("scimsync log");
    let code = env.scimsync(&["log"]).await?;
    ensure!(code == ExitCode::Success, "scimsync log should succeed");
    command("scimsync log verify");
    let code = env.scimsync(&["log", "verify"]).await?;
    ensure!(
        code == ExitCode::Success,
        "the demo's journal should verify"
    );
    println!(
        "  → every change above has one record: who it was, the group, why, the approved plan's sha256, the approver and the PATCH's ININ-Correlation-Id. `scimsync log --format ocsf` (or `ecs`) feeds a SIEM; `scimsync report access` is the quarterly access review."
    );
    Ok(())
}

/// Run the demo.
#[allow(
    clippy::too_many_lines,
    reason = "the demo is one narrated story, step after step"
)]
pub async fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let seed = Seed::parse(emulator::SAMPLE, "examples/emulator-seed.toml")?;
    let client = seed
        .clients
        .first()
        .context("the sample seed has an OAuth client")?
        .clone();
    let idp_token = seed
        .idp
        .token
        .clone()
        .context("the sample seed has an IdP token")?;
    let emu = Emulator::from_seed(&seed, "examples/emulator-seed.toml")?;
    emu.configure(|o| {
        o.rate_limit = Some(RateLimit {
            requests: DEMO_RPM,
            window: std::time::Duration::from_mins(1),
        });
    });
    let running = emulator::spawn(emu.clone()).await?;
    let base = running.base_url();
    let temporary;
    let d = if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating --dir {}", dir.display()))?;
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("reading --dir {}", dir.display()))?
            .next()
            .is_none();
        ensure!(
            empty,
            "--dir {} is not empty: the demo writes its config, plans, state and journal there; name a new or empty folder",
            dir.display()
        );
        dir.as_path()
    } else {
        temporary = tempfile::tempdir()?;
        temporary.path()
    };
    std::fs::write(
        d.join("scimsync.toml"),
        format!(
            "[target]\napi_base = \"{base}\"\nlogin_base = \"{base}\"\nrequests_per_minute = {DEMO_RPM}\n\n\
             [source]\nkind = \"delta-http\"\nbase_url = \"{base}\"\ntoken_env = \"IDP_API_TOKEN\"\nuser_key = \"userName\"\n\n\
             [[group]]\nname = \"sales\"\ntarget_name = \"Sales\"\nmode = \"full\"\n\n\
             [[group]]\nname = \"support\"\ntarget_name = \"Support\"\n"
        ),
    )?;
    let env = DemoEnv {
        dir: d.to_path_buf(),
        vars: vec![
            ("GENESYSCLOUD_OAUTHCLIENT_ID", client.id.clone()),
            ("GENESYSCLOUD_OAUTHCLIENT_SECRET", client.secret.clone()),
            ("IDP_API_TOKEN", idp_token),
        ],
    };

    println!("scimsync demo: plan → approve → apply, then a change behind the plan's back.");
    println!(
        "A Genesys Cloud emulator runs at {base} (loopback only); files are in {}.",
        d.display()
    );
    println!(
        "Users: alice@example.com ({ALICE}), bob@example.com ({BOB}), carol@example.com, dave@example.com, erin@example.com (inactive in Genesys); frank@example.com has no Genesys account yet. The IdP names them by userName."
    );
    println!(
        "Genesys: Sales = {{alice, bob}}, Support = {{}}. IdP: sales = {{alice, carol}}, support = {{dave, bob, erin, frank}}."
    );
    println!(
        "sales is mapped in full mode (the IdP's list is the membership), support in delta mode."
    );
    println!(
        "Roles: Sales grants Sales Agent in Home; Support grants Supervisor in Home and User Administrator in all divisions, which edits users: privileged."
    );

    step(
        1,
        "In pull-request CI, scimsync reads the IdP and the live groups and writes a plan.",
    );
    command("scimsync plan --out plan.json --detailed-exitcode");
    let code = env
        .scimsync(&["plan", "--out", "plan.json", "--detailed-exitcode"])
        .await?;
    ensure!(
        code == ExitCode::Changes,
        "the first plan should have changes"
    );
    let sha = sha256_of(d, "plan.json")?;
    println!(
        "  → exit {} (changes present). erin and frank are pending: kept, and looked up again by every plan.",
        code.code()
    );
    println!("  A human reviews and approves plan.json, sha256 {sha}.");

    step(
        2,
        "In the deployment pipeline, scimsync applies exactly the approved plan.",
    );
    command(&format!(
        "scimsync apply plan.json --expect-sha256 {sha} --approved-by {APPROVER} --change-ref {CHANGE}"
    ));
    let code = env
        .scimsync(&[
            "apply",
            "plan.json",
            "--expect-sha256",
            &sha,
            "--approved-by",
            APPROVER,
            "--change-ref",
            CHANGE,
        ])
        .await?;
    ensure!(code == ExitCode::Success, "the first apply should succeed");
    println!(
        "  → exit 0. Each PATCH carried If-Match with the ETag read at plan time; the IdP cursors advanced."
    );

    step(
        3,
        "The IdP adds dave to sales. CI plans again, and the new plan is approved.",
    );
    emu.idp_change("sales", &["dave@example.com"], &[]);
    command("scimsync plan --out plan2.json --detailed-exitcode");
    let code = env
        .scimsync(&["plan", "--out", "plan2.json", "--detailed-exitcode"])
        .await?;
    ensure!(
        code == ExitCode::Changes,
        "the second plan should have changes"
    );
    let sha2 = sha256_of(d, "plan2.json")?;

    step(
        4,
        "Before plan2.json is applied, an admin adds bob back to Sales by hand in Genesys Cloud.",
    );
    emu.write_behind(SALES, &[BOB], &[]);
    println!(
        "  Sales's ETag moves from the one recorded in plan2.json to {}.",
        emu.etag(SALES).unwrap_or_default()
    );

    step(
        5,
        "apply refuses the moved group: what was approved no longer describes it.",
    );
    command(&format!(
        "scimsync apply plan2.json --expect-sha256 {sha2} --approved-by {APPROVER}"
    ));
    let code = env
        .scimsync(&[
            "apply",
            "plan2.json",
            "--expect-sha256",
            &sha2,
            "--approved-by",
            APPROVER,
        ])
        .await?;
    ensure!(code == ExitCode::Stale, "the stale apply should exit 3");
    println!("  → exit 3: nothing was written to Sales. The re-plan goes back for approval.");

    step(
        6,
        "The re-plan (which now also removes bob) is approved and applied.",
    );
    let sha3 = sha256_of(d, "plan2.replan.json")?;
    command(&format!(
        "scimsync apply plan2.replan.json --expect-sha256 {sha3} --approved-by {APPROVER}"
    ));
    let code = env
        .scimsync(&[
            "apply",
            "plan2.replan.json",
            "--expect-sha256",
            &sha3,
            "--approved-by",
            APPROVER,
        ])
        .await?;
    ensure!(
        code == ExitCode::Success,
        "the re-plan's apply should succeed"
    );
    let patches = emu
        .journal()
        .iter()
        .filter(|r| r.route == emulator::Route::GroupPatch)
        .count();
    let unconditional = emu
        .journal()
        .iter()
        .filter(|r| r.route == emulator::Route::GroupPatch && r.if_match.is_none())
        .count();
    println!(
        "  → exit 0. Sales = {{alice, carol, dave}}. The emulator saw {patches} PATCHes, {unconditional} without If-Match."
    );

    step(
        7,
        "User provisioning catches up: erin's account is activated and frank's is created. The next plan adds them.",
    );
    emu.set_user_active(ERIN, true);
    emu.put_user(FRANK, "frank@example.com", true);
    command("scimsync plan --out plan3.json --detailed-exitcode");
    let code = env
        .scimsync(&["plan", "--out", "plan3.json", "--detailed-exitcode"])
        .await?;
    ensure!(
        code == ExitCode::Changes,
        "the third plan should add the pending users"
    );
    let sha4 = sha256_of(d, "plan3.json")?;
    command(&format!(
        "scimsync apply plan3.json --expect-sha256 {sha4} --approved-by {APPROVER}"
    ));
    let code = env
        .scimsync(&[
            "apply",
            "plan3.json",
            "--expect-sha256",
            &sha4,
            "--approved-by",
            APPROVER,
        ])
        .await?;
    ensure!(code == ExitCode::Success, "the third apply should succeed");
    println!(
        "  → exit 0. Support = {{bob, dave, erin, frank}}: nothing the IdP granted was lost while the accounts were missing."
    );
    grants_step(&env, &emu, d).await?;
    journal_step(&env).await?;
    println!(
        "\nWhat was applied is what was approved, or nothing. Try it on your org: see README.md."
    );
    drop(running);
    Ok(ExitCode::Success)
}
