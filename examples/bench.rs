//! The scimsync benchmark: plan and apply against the in-process emulator over loopback HTTP.
//!
//! ```sh
//! cargo run --release --example bench -- --preset wide     # 1,000 groups × 1,000 members
//! cargo run --release --example bench -- --preset deep     # 100 groups × 10,000 members
//! cargo run --release --example bench -- --groups 50 --members 200 --delta 10
//! cargo run --release --example bench -- --s3-state-only   # the S3 state round trip alone
//! ```
//!
//! The parent process holds the emulator; plan and apply run in child processes (this same
//! executable, `--child plan|apply`), so that each one's wall time, CPU time and peak RSS are
//! its own and the emulator's share is measured apart (its handlers' busy time, and the
//! parent's CPU time while the child ran). Then a pacing run applies a plan with
//! `requests_per_minute` set below the emulator's per-token limit, to show zero 429s and the
//! achieved rate. Last, the S3 state round trip: a 1,000-group state read and written back
//! conditionally against a local moto server. Figures are printed, with each target marked met or not; nothing is asserted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use scimsync::cli::{ApplyArgs, PlanArgs, ReportFormat};
use scimsync::emulator::{self, Emulator, RateLimit};
use scimsync::model::{Base, GroupId, GroupSnapshot, GroupTarget, MemberSet, Mode, UserId};
use scimsync::plan::planner::{GroupInput, Policy, plan_group};
use scimsync::plan::render::{Format, RenderOptions, render};
use scimsync::plan::{Intent, Mapping, ReadKind, Resolution, SourceRef, file};

#[derive(Debug, Parser)]
struct Args {
    /// `wide` (1,000 × 1,000) or `deep` (100 × 10,000); overrides --groups/--members.
    #[arg(long)]
    preset: Option<String>,
    /// Groups.
    #[arg(long, default_value_t = 100)]
    groups: usize,
    /// Members per group.
    #[arg(long, default_value_t = 1000)]
    members: usize,
    /// Share of each group's membership that changes, in percent (half added, half removed).
    #[arg(long, default_value_t = 10.0)]
    delta: f64,
    /// Client requests per minute for the main runs (high: measure scimsync, not the pacing).
    #[arg(long, default_value_t = 1_000_000)]
    rpm: u32,
    /// Client requests per minute for the pacing run (the emulator allows 10 % more).
    #[arg(long, default_value_t = 1200)]
    pacing_rpm: u32,
    /// PATCHes in the pacing run.
    #[arg(long, default_value_t = 200)]
    pacing_patches: usize,
    /// Concurrency.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Time only the S3 state round trip (against a local moto server).
    #[arg(long)]
    s3_state_only: bool,
    /// Internal: run one phase as a child process.
    #[arg(long, hide = true)]
    child: Option<String>,
    /// Internal: the child's folder.
    #[arg(long, hide = true)]
    dir: Option<PathBuf>,
}

const CLIENT: (&str, &str) = ("bench-client", "bench-secret");
const IDP_TOKEN: &str = "bench-idp-token";

fn env(name: &str) -> Option<String> {
    match name {
        "GENESYSCLOUD_OAUTHCLIENT_ID" => Some(CLIENT.0.into()),
        "GENESYSCLOUD_OAUTHCLIENT_SECRET" => Some(CLIENT.1.into()),
        "IDP_API_TOKEN" => Some(IDP_TOKEN.into()),
        _ => None,
    }
}

/// This process's CPU time (user + system) and peak RSS, from /proc (Linux).
fn usage() -> (Duration, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name's closing parenthesis: utime is 14th, stime 15th overall.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let cpu = Duration::from_millis((ticks(11) + ticks(12)) * 10); // CLK_TCK = 100
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<u64>().ok())
        .unwrap_or(0);
    (cpu, hwm * 1024)
}

/// Run one phase in this (child) process and write its figures to `dir/<phase>.metrics`.
fn child(phase: &str, dir: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let code = runtime.block_on(async {
        match phase {
            "plan" | "pacing-plan" => {
                let args = PlanArgs {
                    config: dir.join(format!("{phase}.toml")),
                    out: Some(dir.join(format!("{phase}.json"))),
                    format: Format::Table,
                    detailed_exitcode: false,
                    group: Vec::new(),
                    allow_removals: Some(usize::MAX),
                    strict: false,
                    json: false,
                };
                scimsync::commands::plan::run(&args, &env).await
            }
            _ => {
                let plan_phase = if phase == "apply" {
                    "plan"
                } else {
                    "pacing-plan"
                };
                let args = ApplyArgs {
                    plan: dir.join(format!("{plan_phase}.json")),
                    config: dir.join(format!("{plan_phase}.toml")),
                    expect_sha256: None,
                    replan_out: None,
                    apply_replan_if_subset: false,
                    format: ReportFormat::Json,
                    json: false,
                };
                scimsync::commands::apply::run(&args, &env).await
            }
        }
    })?;
    let wall = started.elapsed();
    let (cpu, rss) = usage();
    std::fs::write(
        dir.join(format!("{phase}.metrics")),
        format!(
            "{} {} {} {}",
            wall.as_micros(),
            cpu.as_micros(),
            rss,
            code.code()
        ),
    )?;
    Ok(())
}

struct Phase {
    wall: Duration,
    cpu: Duration,
    rss: u64,
    code: u64,
    parent_cpu: Duration,
    emulator_busy: Duration,
    routes: BTreeMap<String, (usize, usize)>,
    requests: usize,
}

/// Run `phase` as a child and collect its figures and the emulator's.
fn run_phase(phase: &str, dir: &Path, emu: &Emulator) -> anyhow::Result<Phase> {
    emu.clear_journal();
    let (parent_before, _) = usage();
    let status = Command::new(std::env::current_exe()?)
        .args(["--child", phase, "--dir"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "the {phase} child failed: {status}");
    let (parent_after, _) = usage();
    let text = std::fs::read_to_string(dir.join(format!("{phase}.metrics")))?;
    let n: Vec<u64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let journal = emu.journal();
    let mut routes: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in &journal {
        let e = routes.entry(format!("{:?}", r.route)).or_default();
        e.0 += 1;
        if r.status == 429 {
            e.1 += 1;
        }
    }
    Ok(Phase {
        wall: Duration::from_micros(n[0]),
        cpu: Duration::from_micros(n[1]),
        rss: n[2],
        code: n[3],
        parent_cpu: parent_after.saturating_sub(parent_before),
        emulator_busy: emu.busy(),
        routes,
        requests: journal.len(),
    })
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT MET" }
}

fn print_phase(name: &str, p: &Phase) {
    println!(
        "{name}: wall {:.2} s, CPU {:.2} s, peak RSS {:.1} MB, exit {}; emulator: handlers busy {:.2} s, its process CPU {:.2} s",
        p.wall.as_secs_f64(),
        p.cpu.as_secs_f64(),
        mb(p.rss),
        p.code,
        p.emulator_busy.as_secs_f64(),
        p.parent_cpu.as_secs_f64()
    );
    let routes: Vec<String> = p
        .routes
        .iter()
        .map(|(r, (n, limited))| {
            format!(
                "{r} {n}{}",
                if *limited > 0 {
                    format!(" ({limited} × 429)")
                } else {
                    String::new()
                }
            )
        })
        .collect();
    println!("  requests: {} — {}", p.requests, routes.join(", "));
}

fn config(
    dir: &Path,
    name: &str,
    base: &str,
    groups: usize,
    rpm: u32,
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut text = format!(
        "[target]\napi_base = \"{base}\"\nrequests_per_minute = {rpm}\nconcurrency = {concurrency}\n\n\
         [source]\nkind = \"delta-http\"\nbase_url = \"{base}\"\ntoken_env = \"IDP_API_TOKEN\"\n\n\
         [safety]\nmax_removals_per_group = 1000000\nmax_removal_ratio = 1.0\n\n\
         [state]\npath = \"{name}.state.json\"\n\n"
    );
    for g in 0..groups {
        text.push_str(&format!(
            "[[group]]\nname = \"idp-{g:04}\"\ntarget_id = \"g-{g:04}\"\nmode = \"full\"\n\n"
        ));
    }
    std::fs::write(dir.join(format!("{name}.toml")), text)?;
    Ok(())
}

/// The pure planner on `groups × members` memberships, in this process: CPU seconds.
fn planner_cpu(groups: usize, members: usize, delta: f64) -> (usize, Duration) {
    let mut rng = StdRng::seed_from_u64(1);
    let policy = Policy {
        protected: Default::default(),
        max_removals: usize::MAX,
        max_ratio: 1.0,
        allow_removals: Some(usize::MAX),
        allow_empty_source: false,
    };
    let inputs: Vec<(GroupSnapshot, Intent<String>, BTreeMap<String, Resolution>)> = (0..groups)
        .map(|g| {
            let current: MemberSet = (0..members)
                .map(|i| UserId(format!("user-{:07}", g * 7 + i)))
                .collect();
            let mut desired: BTreeSet<String> = current.iter().map(|u| u.0.clone()).collect();
            let changes = ((members as f64) * delta / 200.0) as usize;
            for _ in 0..changes {
                let i = rng.random_range(0..members);
                desired.remove(&format!("user-{:07}", g * 7 + i));
                desired.insert(format!("new-{g}-{i}"));
            }
            let intent = Intent::new(desired, None);
            let resolution = intent
                .desired
                .iter()
                .map(|k| (k.clone(), Resolution::User(UserId(k.clone()))))
                .collect();
            let live = GroupSnapshot {
                id: GroupId(format!("g-{g:04}")),
                members: current,
                ..GroupSnapshot::default()
            };
            (live, intent, resolution)
        })
        .collect();
    let started = Instant::now();
    let mut changed = 0;
    for (live, intent, resolution) in inputs {
        let input = GroupInput {
            live: &live,
            mapping: Mapping {
                idp_group: live.id.0.clone(),
                target: GroupTarget::Id(live.id.clone()),
                mode: Mode::Full,
            },
            base: Base {
                lineage: None,
                serial: 0,
            },
            source: SourceRef {
                kind: scimsync::model::SourceKind::File,
                read: ReadKind::Full,
                cursor_from: None,
                cursor_to: None,
            },
            intent,
            resolution,
            policy: &policy,
        };
        changed += plan_group(input).expect("no guard").changes.len();
    }
    // Single-threaded and without I/O: its wall time is its CPU time, measured finer than
    // /proc's 10 ms ticks.
    (changed, started.elapsed())
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let (Some(phase), Some(dir)) = (&args.child, &args.dir) {
        return child(phase, dir);
    }
    match args.preset.as_deref() {
        Some("wide") => (args.groups, args.members) = (1000, 1000),
        Some("deep") => (args.groups, args.members) = (100, 10_000),
        Some(other) => anyhow::bail!("unknown preset {other:?}: wide or deep"),
        None => {}
    }
    if args.s3_state_only {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(s3_round_trip());
    }
    let (groups, members) = (args.groups, args.members);
    println!(
        "scimsync bench: {groups} groups × {members} members ({} memberships), {:.0} % delta, concurrency {}",
        groups * members,
        args.delta,
        args.concurrency
    );
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let setup = Instant::now();
    let emu = Emulator::empty();
    emu.add_client(CLIENT.0, CLIENT.1);
    emu.set_idp_token(IDP_TOKEN);
    let pool = (members * 3).max(20_000);
    let users: Vec<String> = (0..pool)
        .map(|i| format!("{:08x}-0000-4000-8000-{:012x}", i, i))
        .collect();
    for u in &users {
        emu.add_user(u, &format!("{u}@example.com"), None);
    }
    let mut rng = StdRng::seed_from_u64(42);
    let mut expected_patches = 0usize;
    let changes_per_group = ((members as f64) * args.delta / 100.0).round() as usize;
    for g in 0..groups {
        let current: Vec<&str> = users
            .choose_multiple(&mut rng, members)
            .map(String::as_str)
            .collect();
        emu.add_group(&format!("g-{g:04}"), &format!("Group {g}"), &current);
        let set: std::collections::BTreeSet<&str> = current.iter().copied().collect();
        let removed: Vec<&str> = current
            .choose_multiple(&mut rng, changes_per_group / 2)
            .copied()
            .collect();
        // One added user in ten is a new hire, a member of no group yet: they cost one
        // lookup each; the others move between groups and cost none.
        let mut added: Vec<String> = Vec::new();
        while added.len() < changes_per_group - changes_per_group / 2 {
            if added.len() % 10 == 9 {
                let hire = format!("{:08x}-0000-4000-9000-{:012x}", g, added.len());
                emu.add_user(&hire, &format!("{hire}@example.com"), None);
                added.push(hire);
                continue;
            }
            let u = users.choose(&mut rng).unwrap().as_str();
            if !set.contains(u) && !added.iter().any(|a| a == u) {
                added.push(u.to_owned());
            }
        }
        let desired: Vec<&str> = current
            .iter()
            .copied()
            .filter(|u| !removed.contains(u))
            .chain(added.iter().map(String::as_str))
            .collect();
        emu.idp_change(&format!("idp-{g:04}"), &desired, &[]);
        expected_patches += (removed.len() + added.len()).div_ceil(50);
    }
    let running = runtime.block_on(emulator::spawn(emu.clone()))?;
    let base = running.base_url();
    println!(
        "emulator seeded in {:.1} s at {base}",
        setup.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir()?;
    config(
        dir.path(),
        "plan",
        &base,
        groups,
        args.rpm,
        args.concurrency,
    )?;

    // Plan.
    let plan = run_phase("plan", dir.path(), &emu)?;
    print_phase("plan", &plan);
    let gets = plan.routes.get("GroupGet").map_or(0, |r| r.0);
    let lookups = plan.routes.get("UserList").map_or(0, |r| r.0);
    let plan_file = dir.path().join("plan.json");
    let size = std::fs::metadata(&plan_file)?.len();
    let parsed = file::read(&plan_file)?;
    let distinct_adds: std::collections::BTreeSet<&UserId> = parsed
        .groups
        .iter()
        .flat_map(|g| g.changes.add.iter())
        .collect();
    // Users to add that are a member of no group read: the only ones that need a lookup.
    let members_anywhere: std::collections::BTreeSet<String> = (0..groups)
        .flat_map(|g| emu.members(&format!("g-{g:04}")))
        .collect();
    let never_seen = distinct_adds
        .iter()
        .filter(|u| !members_anywhere.contains(u.as_str()))
        .count();
    println!(
        "  GETs per group {:.2} (target 1: {}); user lookups {lookups} for {} distinct added users of whom {never_seen} are members of no group (target: one lookup each for those, none per existing member: {})",
        gets as f64 / groups as f64,
        met(gets == groups),
        distinct_adds.len(),
        met(lookups == never_seen)
    );
    println!(
        "  plan file {:.1} MB; plan peak RSS {:.1} MB (target < 200 MB for 1,000 × 1,000: {})",
        mb(size),
        mb(plan.rss),
        met(plan.rss < 200 * 1_048_576)
    );

    // show.
    let started = Instant::now();
    let shown = file::read(&plan_file)?;
    let read_time = started.elapsed();
    file::verify(&shown, "plan.json")?;
    let verify_time = started.elapsed() - read_time;
    let table = render(&shown, Format::Table, &RenderOptions::default());
    let show_time = started.elapsed();
    println!(
        "show: {:.1} ms to read ({:.0} ms), verify ({:.0} ms) and render {} groups ({} KB of table) (target < 100 ms for 1,000 groups: {})",
        show_time.as_secs_f64() * 1000.0,
        read_time.as_secs_f64() * 1000.0,
        verify_time.as_secs_f64() * 1000.0,
        shown.groups.len(),
        table.len() / 1024,
        met(show_time < Duration::from_millis(100))
    );

    // Apply.
    let apply = run_phase("apply", dir.path(), &emu)?;
    print_phase("apply", &apply);
    let patches = apply.routes.get("GroupPatch").map_or(0, |r| r.0);
    println!(
        "  PATCHes {patches}, minimum Σ ceil(changes / 50) = {expected_patches} ({}); per group {:.2}",
        met(patches == expected_patches),
        patches as f64 / groups as f64
    );

    // The planner alone on the same number of memberships.
    let (changed, cpu) = planner_cpu(groups, members, args.delta);
    println!(
        "planner: {} memberships reconciled in {:.3} s CPU ({changed} changes) (target < 1 s for 1,000,000: {})",
        groups * members,
        cpu.as_secs_f64(),
        met(cpu < Duration::from_secs(1))
    );

    // Pacing: requests_per_minute below the emulator's per-token limit.
    let pacing_groups = args.pacing_patches;
    let limit = args.pacing_rpm + args.pacing_rpm / 10;
    emu.configure(|o| {
        o.rate_limit = Some(RateLimit {
            requests: limit,
            window: Duration::from_secs(60),
        })
    });
    for (g, user) in users.iter().enumerate().take(pacing_groups) {
        emu.add_group(&format!("p-{g:04}"), &format!("Pacing {g}"), &[]);
        emu.idp_change(&format!("pace-{g:04}"), &[user.as_str()], &[]);
    }
    let mut text = format!(
        "[target]\napi_base = \"{base}\"\nrequests_per_minute = {}\nconcurrency = {}\n\n[source]\nkind = \"delta-http\"\nbase_url = \"{base}\"\ntoken_env = \"IDP_API_TOKEN\"\n\n[state]\npath = \"pacing.state.json\"\n\n",
        args.pacing_rpm, args.concurrency
    );
    for g in 0..pacing_groups {
        text.push_str(&format!(
            "[[group]]\nname = \"pace-{g:04}\"\ntarget_id = \"p-{g:04}\"\n\n"
        ));
    }
    std::fs::write(dir.path().join("pacing-plan.toml"), text)?;
    let _ = run_phase("pacing-plan", dir.path(), &emu)?;
    let paced = run_phase("pacing-apply", dir.path(), &emu)?;
    let sent = paced
        .requests
        .saturating_sub(paced.routes.get("Token").map_or(0, |r| r.0));
    let limited: usize = paced.routes.values().map(|r| r.1).sum();
    let rate = sent as f64 / paced.wall.as_secs_f64() * 60.0;
    println!(
        "pacing: {sent} requests in {:.1} s = {:.0}/min against requests_per_minute = {} (emulator allows {limit}/min per token): {limited} × 429 (target 0: {}), {:.1} % of the setting (target ≥ 95 %: {})",
        paced.wall.as_secs_f64(),
        rate,
        args.pacing_rpm,
        met(limited == 0),
        rate / f64::from(args.pacing_rpm) * 100.0,
        met(rate >= 0.95 * f64::from(args.pacing_rpm))
    );
    drop(running);

    runtime.block_on(s3_round_trip())?;
    Ok(())
}

/// The S3 state round trip: a 1,000-group state (100 mirror members each) read and written
/// back conditionally against a local moto server (`target/moto-venv`, installed as the
/// tests do when missing), through the same `Store` that plan and apply use.
async fn s3_round_trip() -> anyhow::Result<()> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv");
    if !venv.join("bin/moto_server").exists() {
        println!("s3 state: installing moto[server] into {}", venv.display());
        anyhow::ensure!(
            Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()?
                .success()
                && Command::new(venv.join("bin/pip"))
                    .args(["install", "--quiet", "moto[server]"])
                    .status()?
                    .success(),
            "installing moto failed (needs Python 3 with venv and pip)"
        );
    }
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut moto = Command::new(venv.join("bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &addr.port().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let result = async {
        let base = format!("http://{addr}");
        let http = reqwest::Client::builder().no_proxy().build()?;
        let mut ready = false;
        for _ in 0..300 {
            if http.put(format!("{base}/bench")).send().await.is_ok_and(|r| r.status().is_success()) {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::ensure!(ready, "moto_server did not answer on {base}");
        let env: Vec<(String, String)> = [
            ("AWS_ENDPOINT_URL", base.as_str()),
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench-secret"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        let store = scimsync::state::Store::parse_in("s3://bench/scimsync.state.json", Path::new(""), &env)?;
        let mut state = scimsync::state::State::default();
        for g in 0..1000 {
            let record = state.groups.entry(format!("group-{g:04}")).or_default();
            record.serial = 1;
            record.cursor = Some(scimsync::model::Cursor(format!("cursor-{g}")));
            record.idp_members = Some((0..100).map(|m| format!("user-{:06}@example.com", g * 37 + m)).collect());
        }
        let bytes = state.encode().len();
        store.save(&mut state, None).await?;
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let mut loaded = store.load().await?;
            if let Some(r) = loaded.state.groups.get_mut("group-0000") {
                r.serial += 1;
            }
            store.save(&mut loaded.state, loaded.version.as_ref()).await?;
            times.push(t.elapsed());
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "s3 state: 1,000 groups × 100 mirror members ({:.1} MB) read + conditional write against moto on 127.0.0.1: median {:.3} s of 5 (min {:.3}, max {:.3}) (target < 1 s: {})",
            mb(bytes as u64),
            median.as_secs_f64(),
            times[0].as_secs_f64(),
            times[times.len() - 1].as_secs_f64(),
            met(median < Duration::from_secs(1))
        );
        Ok(())
    }
    .await;
    let _ = moto.kill();
    let _ = moto.wait();
    result
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
