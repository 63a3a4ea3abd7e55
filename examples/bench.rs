//! The scimsync benchmark: plan and apply against the in-process emulator over loopback HTTP.
//!
//! ```sh
//! cargo run --release --example bench -- --preset wide     # 1,000 groups × 1,000 members
//! cargo run --release --example bench -- --preset deep     # 100 groups × 10,000 members
//! cargo run --release --example bench -- --preset steady   # 1,000 × 1,000, 1 % of groups changed, warm state
//! cargo run --release --example bench -- --preset latency  # 200 × 200 at 20 ms a request, concurrency 8
//! cargo run --release --example bench -- --preset review   # issue 21's 200 × 200 delta case and its steady state, 20 ms
//! cargo run --release --example bench -- --preset usernames # a first plan of 10,000 userName keys, 20 ms
//! cargo run --release --example bench -- --groups 50 --members 200 --delta 10
//! cargo run --release --example bench -- --s3-state-only   # the S3 state round trip alone
//! ```
//!
//! The parent process holds the emulator; plan and apply run in child processes (this same
//! executable, `--child plan|apply`), so that each one's wall time, CPU time, peak RSS and
//! state writes are its own and the emulator's share is measured apart (its handlers' busy
//! time, and the parent's CPU time while the child ran). The children run on the runtime the
//! binary uses ([`scimsync::runtime`]) unless `--runtime current|multi` says otherwise.
//! Requests are counted from the emulator's journal, per route. Then a pacing run applies a
//! plan with `requests_per_minute` set below the emulator's per-token limit, to show zero
//! 429s and the achieved rate. Last, the S3 state round trip: a 1,000-group state read and
//! written back conditionally against a local moto server. Figures are printed, with each
//! target marked met or not; nothing is asserted.

// A benchmark turns counts and durations into figures to print: float conversions of
// counts are its point, and its main is one long, linear script.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_lines,
    clippy::similar_names
)]

use scimsync::model::IdpKey;
use scimsync::model::Intent;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use scimsync::cli::{ApplyArgs, ConfigArg, FormatArg, PlanArgs, ReportFormat};
use scimsync::emulator::{self, Emulator, RateLimit};
use scimsync::model::{Base, GroupId, GroupSnapshot, GroupTarget, MemberSet, Mode, UserId};
use scimsync::model::{Mapping, Policy};
use scimsync::plan::grants::GroupGrants;
use scimsync::plan::planner::{GroupInput, plan_group};
use scimsync::plan::render::{Format, RenderOptions, render};
use scimsync::plan::{ReadKind, SourceRef, file};

#[derive(Debug, Parser)]
struct Args {
    /// `wide` (1,000 × 1,000), `deep` (100 × 10,000), `steady` (1,000 × 1,000, 1 % of the
    /// groups changed, warm state) or `latency` (200 × 200, 20 ms a request, concurrency 8);
    /// overrides --groups/--members (and --latency-ms/--concurrency for `latency`).
    #[arg(long)]
    preset: Option<String>,
    /// Groups.
    #[arg(long, default_value_t = 100)]
    groups: usize,
    /// Members per group.
    #[arg(long, default_value_t = 1000)]
    members: usize,
    /// Share of each changed group's membership that changes, in percent (half added, half
    /// removed).
    #[arg(long, default_value_t = 10.0)]
    delta: f64,
    /// Client requests per minute for the main runs (high: measure scimsync, not the pacing).
    #[arg(long, default_value_t = 1_000_000)]
    rpm: u32,
    /// Client requests per minute for the pacing run (the emulator allows 10 % more).
    #[arg(long, default_value_t = 1200)]
    pacing_rpm: u32,
    /// PATCHes in the pacing run (0: no pacing run).
    #[arg(long, default_value_t = 200)]
    pacing_patches: usize,
    /// Concurrency.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// The emulator answers every request this many milliseconds late.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The children's runtime: `current` or `multi` (default: the binary's).
    #[arg(long)]
    runtime: Option<String>,
    /// Skip the S3 state round trip.
    #[arg(long)]
    no_s3: bool,
    /// Time only the S3 state round trip (against a local moto server).
    #[arg(long)]
    s3_state_only: bool,
    /// Time only the pure planner on the preset's memberships.
    #[arg(long)]
    planner_only: bool,
    /// `[review] grants` of the benchmark's configs: `on` (read what each changed group
    /// grants; half the groups grant a role) or `off` (to measure what grant reads cost).
    #[arg(long, default_value = "on")]
    grants: String,
    /// Internal: run one phase as a child process.
    #[arg(long, hide = true)]
    child: Option<String>,
    /// Internal: the child's folder.
    #[arg(long, hide = true)]
    dir: Option<PathBuf>,
    /// Internal: the child's config name (`<dir>/<name>.toml`, plan `<dir>/<name>.json`).
    #[arg(long, hide = true)]
    name: Option<String>,
}

const CLIENT: (&str, &str) = ("bench-client", "bench-secret");

/// `--grants`, for [`config`]: set once by `main`.
static GRANTS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Whether the configs read grants (`--grants on`, the default).
fn grants_on() -> bool {
    GRANTS.get().is_none_or(|g| g == "on")
}
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

/// `show` the plan `dir/<name>.json`, as the CLI does (read, verify, render the table), and
/// write its timings to `dir/<name>.show.metrics`.
fn show_child(dir: &Path, name: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let shown = file::read(&dir.join(format!("{name}.json")))?;
    let read_time = started.elapsed();
    file::verify(&shown, "plan.json")?;
    let verify_time = started.elapsed().saturating_sub(read_time);
    let table = render(&shown, Format::Table, &RenderOptions::default());
    let total = started.elapsed();
    std::fs::write(
        dir.join(format!("{name}.show.metrics")),
        format!(
            "{} {} {} {} {}",
            read_time.as_micros(),
            verify_time.as_micros(),
            total.as_micros(),
            shown.groups.len(),
            table.len()
        ),
    )?;
    Ok(())
}

/// This process's CPU while `request` is sent for each of `items`, `concurrency` at a time.
async fn cpu_of<'a, I, T, E, Fut>(
    items: &'a [I],
    concurrency: usize,
    request: impl FnMut(&'a I) -> Fut,
) -> Result<Duration, E>
where
    Fut: std::future::Future<Output = Result<T, E>>,
{
    use futures::{StreamExt, TryStreamExt, stream};
    let (before, _) = usage();
    stream::iter(items)
        .map(request)
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    let (after, _) = usage();
    Ok(after.saturating_sub(before))
}

/// Client CPU per request by kind, in this (child) process and nothing else in it: `n`
/// user GETs (a small answer: the plan's label GETs), then a GET of each group (the
/// preset's size), `concurrency` at a time, through the same client as `plan`; and, for a
/// floor, the same user GETs through a bare reqwest client. Writes `users µs, groups, µs,
/// bare users µs` to `dir/main.requests.metrics`.
fn requests_child(dir: &Path, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    use scimsync::endpoint::Endpoint;
    use scimsync::scim::{Credentials, ScimClient, TargetSettings, TokenSource};
    let text = std::fs::read_to_string(dir.join("requests.input"))?;
    let mut lines = text.lines();
    let base = Endpoint::parse(lines.next().unwrap_or_default(), "bench")?;
    let concurrency: usize = lines.next().unwrap_or("4").parse()?;
    let users: Vec<UserId> = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .map(UserId::from)
        .collect();
    let groups: Vec<GroupId> = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .map(GroupId::from)
        .collect();
    let mut settings = TargetSettings::genesys(&base)?;
    settings.http.requests_per_minute = 1_000_000;
    settings.http.concurrency = concurrency;
    let credentials = Credentials::ClientCredentials {
        client_id: CLIENT.0.into(),
        client_secret: secrecy::SecretString::from(CLIENT.1),
    };
    let client = ScimClient::new(settings, TokenSource::new(credentials, &base))?;
    let (user_cpu, group_cpu, bare_cpu) = runtime.block_on(async {
        // The token and a connection, outside the measure.
        client.get_user(&users[0]).await?;
        let user_cpu = cpu_of(&users, concurrency, |u| client.get_user(u)).await?;
        let group_cpu = cpu_of(&groups, concurrency, |g| client.get_group(g)).await?;
        // The floor: the same user GETs through a bare reqwest client (no pacer, retry,
        // token cache or semaphore), with a token fetched by hand.
        let bare = reqwest::Client::new();
        let token: serde_json::Value = bare
            .post(base.join(&["oauth", "token"]))
            .basic_auth(CLIENT.0, Some(CLIENT.1))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?
            .json()
            .await?;
        let bearer = format!(
            "Bearer {}",
            token["access_token"].as_str().unwrap_or_default()
        );
        let users_url = |u: &UserId| base.join(&["api", "v2", "scim", "v2", "users", u.as_str()]);
        let bare_cpu = cpu_of(&users, concurrency, |u| {
            let request = bare.get(users_url(u)).header("Authorization", &bearer);
            async move { request.send().await?.bytes().await }
        })
        .await?;
        Ok::<_, anyhow::Error>((user_cpu, group_cpu, bare_cpu))
    })?;
    std::fs::write(
        dir.join("main.requests.metrics"),
        format!(
            "{} {} {} {}",
            user_cpu.as_micros(),
            groups.len(),
            group_cpu.as_micros(),
            bare_cpu.as_micros()
        ),
    )?;
    Ok(())
}

/// Run one phase in this (child) process and write its figures to `dir/<name>.<phase>.metrics`.
fn child(phase: &str, dir: &Path, name: &str, runtime: Option<&str>) -> anyhow::Result<()> {
    if phase == "show" {
        return show_child(dir, name);
    }
    let runtime = match runtime {
        Some("current") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Some("multi") => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
        _ => scimsync::runtime()?,
    };
    if phase == "requests" {
        return requests_child(dir, &runtime);
    }
    let started = Instant::now();
    let config = dir.join(format!("{name}.toml"));
    let plan = dir.join(format!("{name}.json"));
    let code = runtime.block_on(async {
        if phase == "plan" {
            let args = PlanArgs {
                config: ConfigArg::new(config),
                out: Some(plan),
                format: FormatArg::Table,
                detailed_exitcode: false,
                group: Vec::new(),
                allow_removals: Some(usize::MAX),
                strict: false,
                json: false,
            };
            scimsync::commands::plan::run(&args, &env).await
        } else {
            let args = ApplyArgs {
                plan,
                config: ConfigArg::new(config),
                expect_sha256: None,
                replan_out: None,
                apply_replan_if_subset: false,
                max_plan_age: None,
                approved_by: Some("bench".into()),
                change_ref: None,
                format: ReportFormat::Json,
                json: false,
            };
            scimsync::commands::apply::run(&args, &env).await
        }
    })?;
    let wall = started.elapsed();
    drop(runtime);
    let (cpu, rss) = usage();
    std::fs::write(
        dir.join(format!("{name}.{phase}.metrics")),
        format!(
            "{} {} {} {} {}",
            wall.as_micros(),
            cpu.as_micros(),
            rss,
            code.code(),
            scimsync::state::writes()
        ),
    )?;
    Ok(())
}

struct Phase {
    wall: Duration,
    cpu: Duration,
    rss: u64,
    code: u64,
    state_writes: u64,
    parent_cpu: Duration,
    emulator_busy: Duration,
    routes: BTreeMap<String, (usize, usize)>,
    requests: usize,
}

impl Phase {
    fn count(&self, route: &str) -> usize {
        self.routes.get(route).map_or(0, |r| r.0)
    }

    /// User reads: SCIM look-ups and label reads, and the Platform API's bulk reads.
    fn user_requests(&self) -> usize {
        [
            "UserList",
            "UserListAll",
            "UserGet",
            "PlatformUsers",
            "PlatformUserSearch",
        ]
        .iter()
        .map(|r| self.count(r))
        .sum()
    }

    /// Grant reads (issue 23): what each changed group grants, counted apart from the user
    /// and group requests ([`Self::api_requests`]), though Genesys's rate limit counts them.
    fn grant_requests(&self) -> usize {
        self.count("AuthzSubject") + self.count("PlatformGroupGet")
    }

    /// Requests to the Genesys API for groups and users (what its rate limit counts, with
    /// [`Self::grant_requests`]): not OAuth, not the IdP.
    fn api_requests(&self) -> usize {
        [
            "GroupGet",
            "GroupList",
            "GroupPatch",
            "UserList",
            "UserListAll",
            "UserGet",
            "PlatformUsers",
            "PlatformUserSearch",
        ]
        .iter()
        .map(|r| self.count(r))
        .sum()
    }
}

/// Run `phase` of config `name` as a child process of this bench (its output hidden), and
/// read the figures it wrote to `dir/<name>.<phase>.metrics`.
fn child_figures(
    phase: &str,
    name: &str,
    dir: &Path,
    runtime: Option<&str>,
) -> anyhow::Result<Vec<u64>> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["--child", phase, "--name", name, "--dir"])
        .arg(dir);
    if let Some(r) = runtime {
        command.args(["--runtime", r]);
    }
    let status = command.stdout(std::process::Stdio::null()).status()?;
    anyhow::ensure!(
        status.success(),
        "the {name} {phase} child failed: {status}"
    );
    let text = std::fs::read_to_string(dir.join(format!("{name}.{phase}.metrics")))?;
    Ok(text
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect())
}

/// Run `phase` of config `name` as a child and collect its figures and the emulator's.
fn run_phase(
    phase: &str,
    name: &str,
    dir: &Path,
    emu: &Emulator,
    runtime: Option<&str>,
) -> anyhow::Result<Phase> {
    emu.clear_journal();
    let busy_before = emu.busy();
    let (parent_before, _) = usage();
    let n = child_figures(phase, name, dir, runtime)?;
    let (parent_after, _) = usage();
    let journal = emu.journal();
    let mut routes: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in &journal {
        // A user list without a filter is the plan's label pages, not a lookup.
        let unfiltered = r.route == emulator::Route::UserList
            && !r.query.as_deref().is_some_and(|q| q.contains("filter="));
        let route = if unfiltered {
            "UserListAll".to_owned()
        } else {
            format!("{:?}", r.route)
        };
        let e = routes.entry(route).or_default();
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
        state_writes: n[4],
        parent_cpu: parent_after.saturating_sub(parent_before),
        emulator_busy: emu.busy().saturating_sub(busy_before),
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
        "{name}: wall {:.2} s, CPU {:.2} s ({:.3} ms per request on average: all of the process's work over its requests; the per-request target is measured by request below), peak RSS {:.1} MB, exit {}, state writes {}; emulator: handlers busy {:.2} s, its process CPU {:.2} s",
        p.wall.as_secs_f64(),
        p.cpu.as_secs_f64(),
        p.cpu.as_secs_f64() * 1000.0 / p.requests.max(1) as f64,
        mb(p.rss),
        p.code,
        p.state_writes,
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
    println!(
        "  requests: {} — {}; {} to the Genesys API for groups and users + {} grant reads = {:.1} min at 300 requests/min",
        p.requests,
        routes.join(", "),
        p.api_requests(),
        p.grant_requests(),
        (p.api_requests() + p.grant_requests()) as f64 / 300.0
    );
}

#[allow(clippy::too_many_arguments)]
fn config(
    dir: &Path,
    name: &str,
    base: &str,
    groups: usize,
    rpm: u32,
    concurrency: usize,
    mode: &str,
    target_extra: &str,
) -> anyhow::Result<()> {
    let mut text = format!(
        "[target]\napi_base = \"{base}\"\nrequests_per_minute = {rpm}\nconcurrency = {concurrency}\n{target_extra}\n\
         [source]\nkind = \"delta-http\"\nbase_url = \"{base}\"\ntoken_env = \"IDP_API_TOKEN\"\n\n\
         [safety]\nmax_removals_per_group = 1000000\nmax_removal_ratio = 1.0\n\n\
         [state]\npath = \"{name}.state.json\"\n\n\
         [review]\ngrants = \"{}\"\n\n",
        GRANTS.get().map_or("on", String::as_str)
    );
    for g in 0..groups {
        let _ = write!(
            text,
            "[[group]]\nname = \"idp-{g:04}\"\ntarget_id = \"g-{g:04}\"\nmode = \"{mode}\"\n\n"
        );
    }
    std::fs::write(dir.join(format!("{name}.toml")), text)?;
    Ok(())
}

/// The pure planner on `groups × members` memberships, in this process: CPU seconds.
fn planner_cpu(groups: usize, members: usize, delta: f64) -> (usize, Duration) {
    let mut rng = StdRng::seed_from_u64(1);
    let policy = Policy {
        protected: BTreeSet::default(),
        max_removals: usize::MAX,
        max_ratio: 1.0,
        allow_removals: Some(usize::MAX),
        allow_empty_source: false,
    };
    // As the plan's pipeline gives them: a first plan (the desired set is the intent's
    // grants), ids for keys, each key its own resolution (derived, not stored).
    let inputs: Vec<(GroupSnapshot, Intent<IdpKey>)> = (0..groups)
        .map(|g| {
            let current: MemberSet = (0..members)
                .map(|i| UserId(format!("user-{:07}", g * 7 + i)))
                .collect();
            let mut desired: BTreeSet<IdpKey> =
                current.iter().map(|u| IdpKey(u.0.clone())).collect();
            let changes = ((members as f64) * delta / 200.0) as usize;
            for _ in 0..changes {
                let i = rng.random_range(0..members);
                desired.remove(format!("user-{:07}", g * 7 + i).as_str());
                desired.insert(IdpKey(format!("new-{g}-{i}")));
            }
            let intent = Intent::unmirrored(desired);
            let live = GroupSnapshot {
                id: GroupId(format!("g-{g:04}")),
                members: current,
                ..GroupSnapshot::default()
            };
            (live, intent)
        })
        .collect();
    let started = Instant::now();
    let mut changed = 0;
    for (live, intent) in inputs {
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
            desired: None,
            intent,
            resolution: BTreeMap::new(),
            // No cache: with ids for keys, each key is its own resolution.
            cache: &(),
            user_key: scimsync::model::UserKey::Id,
            policy: policy.clone(),
        };
        changed += plan_group(input).expect("no guard").changes.len();
    }
    // Single-threaded and without I/O: its wall time is its CPU time, measured finer than
    // /proc's 10 ms ticks.
    (changed, started.elapsed())
}

/// The planner alone on `groups × members` memberships, against its target.
fn print_planner(groups: usize, members: usize, delta: f64) {
    let (changed_n, cpu) = planner_cpu(groups, members, delta);
    println!(
        "planner: {} memberships reconciled in {:.3} s CPU ({changed_n} changes) (target < 1 s for 1,000,000: {})",
        groups * members,
        cpu.as_secs_f64(),
        met(cpu < Duration::from_secs(1))
    );
}

/// One group's seeded changes: members removed in the IdP, users added (some new hires).
struct Changes {
    removed: Vec<String>,
    added: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let (Some(phase), Some(dir), Some(name)) = (&args.child, &args.dir, &args.name) {
        return child(phase, dir, name, args.runtime.as_deref());
    }
    anyhow::ensure!(
        args.grants == "on" || args.grants == "off",
        "--grants {}: expected on or off",
        args.grants
    );
    let _ = GRANTS.set(args.grants.clone());
    let preset = args.preset.clone().unwrap_or_default();
    match preset.as_str() {
        "wide" | "steady" => (args.groups, args.members) = (1000, 1000),
        "deep" => (args.groups, args.members) = (100, 10_000),
        "latency" => {
            (args.groups, args.members) = (200, 200);
            args.latency_ms = 20;
            args.concurrency = 8;
        }
        "" | "review" | "usernames" => {}
        other => anyhow::bail!(
            "unknown preset {other:?}: wide, deep, steady, latency, review or usernames"
        ),
    }
    if preset == "review" || preset == "usernames" {
        return if preset == "review" {
            review(args.runtime.as_deref())
        } else {
            usernames(args.runtime.as_deref())
        };
    }
    if args.planner_only {
        print_planner(args.groups, args.members, args.delta);
        return Ok(());
    }
    if args.s3_state_only {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(s3_round_trip());
    }
    let steady = preset == "steady";
    let (groups, members) = (args.groups, args.members);
    // steady: 1 % of the groups change (at least one); the others: every group.
    let changed = |g: usize| !steady || g.is_multiple_of(100);
    let runtime_choice = args.runtime.as_deref();
    println!(
        "scimsync bench{}: {groups} groups × {members} members ({} memberships), {:.0} % delta in {} group(s), concurrency {}, latency {} ms, runtime {}",
        if preset.is_empty() {
            String::new()
        } else {
            format!(" ({preset})")
        },
        groups * members,
        args.delta,
        (0..groups).filter(|g| changed(*g)).count(),
        args.concurrency,
        args.latency_ms,
        runtime_choice.unwrap_or("the binary's")
    );
    println!(
        "machine: {} cores, {}; load average before: {}",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        cpu_model(),
        load_average()
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
        .map(|i| format!("{i:08x}-0000-4000-8000-{i:012x}"))
        .collect();
    for u in &users {
        emu.add_user(u, &format!("{u}@example.com"), None);
    }
    let mut rng = StdRng::seed_from_u64(42);
    let mut expected_patches = 0usize;
    let changes_per_group = ((members as f64) * args.delta / 100.0).round() as usize;
    let mut seeded: Vec<Vec<String>> = Vec::new();
    let mut changes: BTreeMap<usize, Changes> = BTreeMap::new();
    define_roles(&emu);
    for g in 0..groups {
        let current: Vec<String> = users.choose_multiple(&mut rng, members).cloned().collect();
        let refs: Vec<&str> = current.iter().map(String::as_str).collect();
        emu.add_group(&format!("g-{g:04}"), &format!("Group {g}"), &refs);
        grant_every_other(&emu, g);
        if changed(g) {
            let set: BTreeSet<&str> = refs.iter().copied().collect();
            let removed: Vec<String> = refs
                .choose_multiple(&mut rng, changes_per_group / 2)
                .map(|u| (*u).to_owned())
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
            expected_patches += (removed.len() + added.len()).div_ceil(50);
            changes.insert(g, Changes { removed, added });
        }
        seeded.push(current);
    }
    // The IdP: steady starts where Genesys is, and changes after a first plan + apply; the
    // others start changed.
    for (g, current) in seeded.iter().enumerate() {
        let desired: Vec<&str> = match changes.get(&g).filter(|_| !steady) {
            Some(c) => current
                .iter()
                .filter(|u| !c.removed.contains(u))
                .chain(c.added.iter())
                .map(String::as_str)
                .collect(),
            None => current.iter().map(String::as_str).collect(),
        };
        emu.idp_change(&format!("idp-{g:04}"), &desired, &[]);
    }
    emu.configure(|o| o.latency = Duration::from_millis(args.latency_ms));
    let running = runtime.block_on(emulator::spawn(emu.clone()))?;
    let base = running.base_url();
    println!(
        "emulator seeded in {:.1} s at {base}",
        setup.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir()?;
    let mode = if steady { "delta" } else { "full" };
    config(
        dir.path(),
        "main",
        &base,
        groups,
        args.rpm,
        args.concurrency,
        mode,
        "",
    )?;

    if steady {
        let plan = run_phase("plan", "main", dir.path(), &emu, runtime_choice)?;
        let apply = run_phase("apply", "main", dir.path(), &emu, runtime_choice)?;
        println!(
            "warm-up (first plan + apply, nothing to change; the state gets every mirror): plan {:.2} s, {} requests; apply {:.2} s, {} requests, {} state writes; state {:.1} MB",
            plan.wall.as_secs_f64(),
            plan.requests,
            apply.wall.as_secs_f64(),
            apply.requests,
            apply.state_writes,
            mb(std::fs::metadata(dir.path().join("main.state.json"))?.len())
        );
        for (g, c) in &changes {
            let added: Vec<&str> = c.added.iter().map(String::as_str).collect();
            let removed: Vec<&str> = c.removed.iter().map(String::as_str).collect();
            emu.idp_change(&format!("idp-{g:04}"), &added, &removed);
        }
    }

    // Plan.
    let plan = run_phase("plan", "main", dir.path(), &emu, runtime_choice)?;
    print_phase("plan", &plan);
    let gets = plan.count("GroupGet");
    let lookups = plan.count("UserList");
    let plan_file = dir.path().join("main.json");
    let size = std::fs::metadata(&plan_file)?.len();
    let parsed = file::read(&plan_file)?;
    let distinct_adds: BTreeSet<&UserId> = parsed
        .groups
        .iter()
        .flat_map(|g| g.changes.add.iter())
        .collect();
    let pending: usize = parsed.groups.iter().map(|g| g.pending.len()).sum();
    // Users to add that are a member of no group read: the only ones that need a lookup.
    let members_anywhere: BTreeSet<String> = (0..groups)
        .flat_map(|g| emu.members(&format!("g-{g:04}")))
        .collect();
    let never_seen = distinct_adds
        .iter()
        .filter(|u| !members_anywhere.contains(u.as_str()))
        .count();
    let changed_groups = parsed
        .groups
        .iter()
        .filter(|g| !g.changes.is_empty())
        .count();
    let granting = parsed
        .groups
        .iter()
        .filter(|g| !g.changes.is_empty() && g.grants.as_ref().is_some_and(GroupGrants::grants_any))
        .count();
    println!(
        "  grant reads {} for {changed_groups} changed groups of {groups} (target: 1 per changed group, none for unchanged: {}); {granting} of them grant roles",
        plan.grant_requests(),
        met(plan.grant_requests() == if grants_on() { changed_groups } else { 0 })
    );
    println!(
        "  GETs per group {:.2} (target 1: {}); user lookups {lookups} for {} distinct added users, of whom {never_seen} were never resolved, + {pending} pending (target: those only, none per known user: {})",
        gets as f64 / groups as f64,
        met(gets == groups),
        distinct_adds.len(),
        met(lookups == never_seen + pending)
    );
    println!(
        "  plan file {:.1} MB; plan peak RSS {:.1} MB (target < 250 MB for 1,000 × 1,000 with the state's mirror: {})",
        mb(size),
        mb(plan.rss),
        met(plan.rss < 250 * 1_048_576)
    );
    drop(parsed);

    // show, in a process of its own as a user runs it: the bench's own heap (the emulator's
    // million memberships) would slow its reading and freeing by several times.
    let n = child_figures("show", "main", dir.path(), None)?;
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "show (a process of its own): {:.1} ms to read ({:.0} ms), verify ({:.0} ms) and render {} groups ({} KB of table) (target < 100 ms for 1,000 groups: {})",
        ms(n[2]),
        ms(n[0]),
        ms(n[1]),
        n[3],
        n[4] / 1024,
        met(n[2] < 100_000)
    );

    // Apply.
    let apply = run_phase("apply", "main", dir.path(), &emu, runtime_choice)?;
    print_phase("apply", &apply);
    journal_line(dir.path());
    let patches = apply.count("GroupPatch");
    let other = apply.api_requests() - patches;
    println!(
        "  grant re-checks {} for {granting} changed groups that grant roles (target: 1 each, none for groups that granted nothing: {})",
        apply.grant_requests(),
        met(apply.grant_requests() == if grants_on() { granting } else { 0 })
    );
    println!(
        "  PATCHes {patches}, minimum Σ⌈changes/50⌉ = {expected_patches}, other API requests {other} (target: the minimum and nothing else: {}); per changed group {:.2} requests; state writes {} (target < 20: {}); peak RSS target < 200 MB: {}",
        met(patches == expected_patches && other == 0),
        apply.api_requests() as f64 / changed_groups.max(1) as f64,
        apply.state_writes,
        met(apply.state_writes < 20),
        met(apply.rss < 200 * 1_048_576)
    );
    let total = plan.requests + apply.requests;
    let per_changed =
        (plan.api_requests() + apply.api_requests()) as f64 / changed_groups.max(1) as f64;
    println!(
        "  plan + apply: {total} requests ({} to the Genesys API, {per_changed:.1} per changed group) = {:.1} min at 300 requests/min",
        plan.api_requests() + apply.api_requests(),
        (plan.api_requests() + apply.api_requests()) as f64 / 300.0
    );
    if args.latency_ms > 0 {
        let floor = Duration::from_millis(args.latency_ms) * total as u32 / args.concurrency as u32;
        let wall = plan.wall + apply.wall;
        println!(
            "  wall: plan + apply {:.2} s; requests × {} ms / {} = {:.2} s; ratio {:.2} (target ≤ 1.2: {})",
            wall.as_secs_f64(),
            args.latency_ms,
            args.concurrency,
            floor.as_secs_f64(),
            wall.as_secs_f64() / floor.as_secs_f64(),
            met(wall.as_secs_f64() <= 1.2 * floor.as_secs_f64())
        );
    }

    if preset == "deep" {
        // The same apply with `excludedAttributes=members` on PATCH: groups back as seeded,
        // a fresh state, the same IdP answers.
        for (g, current) in seeded.iter().enumerate() {
            let refs: Vec<&str> = current.iter().map(String::as_str).collect();
            emu.add_group(&format!("g-{g:04}"), &format!("Group {g}"), &refs);
        }
        config(
            dir.path(),
            "excl",
            &base,
            groups,
            args.rpm,
            args.concurrency,
            mode,
            "patch_excludes_members = true\n",
        )?;
        run_phase("plan", "excl", dir.path(), &emu, runtime_choice)?;
        let excl = run_phase("apply", "excl", dir.path(), &emu, runtime_choice)?;
        println!(
            "apply with patch_excludes_members = true: wall {:.2} s (without: {:.2} s), client CPU {:.2} s (without: {:.2} s), emulator busy {:.2} s (without: {:.2} s), {} PATCHes",
            excl.wall.as_secs_f64(),
            apply.wall.as_secs_f64(),
            excl.cpu.as_secs_f64(),
            apply.cpu.as_secs_f64(),
            excl.emulator_busy.as_secs_f64(),
            apply.emulator_busy.as_secs_f64(),
            excl.count("GroupPatch")
        );
    }

    // Client CPU per request, by kind.
    let sample: Vec<&str> = users.iter().take(5000).map(String::as_str).collect();
    let group_ids: Vec<String> = (0..groups).map(|g| format!("g-{g:04}")).collect();
    std::fs::write(
        dir.path().join("requests.input"),
        format!(
            "{base}\n{}\n{}\n{}\n",
            args.concurrency,
            sample.join(" "),
            group_ids.join(" ")
        ),
    )?;
    let n = child_figures("requests", "main", dir.path(), runtime_choice)?;
    let (user_us, group_us, bare_us) = (
        n[0] as f64 / sample.len() as f64,
        n[2] as f64 / n[1].max(1) as f64,
        n[3] as f64 / sample.len() as f64,
    );
    println!(
        "client CPU by request (a process of its own, {} at a time, 10 ms ticks): user GET (a small answer: what a request itself costs) {:.3} ms over {} (target ≤ 0.1 ms: {}; a bare reqwest client: {:.3} ms); group GET of {members} members {:.3} ms over {} = {:.2} µs per member (target ≤ 0.1 ms: {}; its whole answer, about 150 bytes a member, is received and parsed: out of reach, README says why)",
        args.concurrency,
        user_us / 1000.0,
        sample.len(),
        met(user_us <= 100.0),
        bare_us / 1000.0,
        group_us / 1000.0,
        n[1],
        group_us / members.max(1) as f64,
        met(group_us <= 100.0)
    );

    // The planner alone, in a process of its own (this one's heap holds the emulator's).
    let status = Command::new(std::env::current_exe()?)
        .args(["--planner-only", "--groups"])
        .arg(groups.to_string())
        .arg("--members")
        .arg(members.to_string())
        .arg("--delta")
        .arg(args.delta.to_string())
        .status()?;
    anyhow::ensure!(status.success(), "the planner child failed: {status}");

    // Pacing: requests_per_minute below the emulator's per-token limit.
    let pacing_groups = args.pacing_patches;
    if pacing_groups > 0 {
        let limit = args.pacing_rpm + args.pacing_rpm / 10;
        emu.configure(|o| {
            o.latency = Duration::ZERO;
            o.rate_limit = Some(RateLimit {
                requests: limit,
                window: Duration::from_mins(1),
            });
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
            let _ = write!(
                text,
                "[[group]]\nname = \"pace-{g:04}\"\ntarget_id = \"p-{g:04}\"\n\n"
            );
        }
        std::fs::write(dir.path().join("pacing.toml"), text)?;
        let _ = run_phase("plan", "pacing", dir.path(), &emu, runtime_choice)?;
        let paced = run_phase("apply", "pacing", dir.path(), &emu, runtime_choice)?;
        let sent = paced.requests.saturating_sub(paced.count("Token"));
        let limited: usize = paced.routes.values().map(|r| r.1).sum();
        let rate = sent as f64 / paced.wall.as_secs_f64() * 60.0;
        println!(
            "pacing: {sent} requests in {:.1} s = {:.0}/min against requests_per_minute = {} (emulator allows {limit}/min per token): {limited} × 429 (target 0: {}), {:.1} % of the setting (target ≥ 95 %: {}); client CPU {:.3} s",
            paced.wall.as_secs_f64(),
            rate,
            args.pacing_rpm,
            met(limited == 0),
            rate / f64::from(args.pacing_rpm) * 100.0,
            met(rate >= 0.95 * f64::from(args.pacing_rpm)),
            paced.cpu.as_secs_f64()
        );
    }
    println!("load average after: {}", load_average());
    drop(running);

    if !args.no_s3 {
        runtime.block_on(s3_round_trip())?;
    }
    Ok(())
}

/// The 1-, 5- and 15-minute load averages: the machine is shared, so figures say how busy
/// it was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
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
            record.idp_members = Some((0..100).map(|m| IdpKey(format!("user-{:06}@example.com", g * 37 + m))).collect());
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

/// One line of figures for a plan or apply of the `review` and `usernames` presets.
fn print_short(what: &str, p: &Phase, groups: usize) {
    println!(
        "{what}: {} Genesys requests = {:.2} per group, of which {} user requests ({}); wall {:.2} s, CPU {:.2} s",
        p.api_requests(),
        p.api_requests() as f64 / groups as f64,
        p.user_requests(),
        p.routes
            .iter()
            .filter(|(r, _)| r.starts_with("User") || r.starts_with("Platform"))
            .map(|(r, (n, _))| format!("{r} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        p.wall.as_secs_f64(),
        p.cpu.as_secs_f64()
    );
}

/// A division and a role for [`grant_every_other`].
fn define_roles(emu: &Emulator) {
    emu.define_division("d-home", "Home");
    emu.define_role("r-agent", "Agent", &["routing:queue:join"]);
}

/// Group `g` grants Agent in Home when `g` is even: half the groups carry a role (plan
/// reads every changed group's grants; apply re-checks only those that grant one).
fn grant_every_other(emu: &Emulator, g: usize) {
    if g.is_multiple_of(2) {
        emu.grant_role(&format!("g-{g:04}"), "r-agent", "d-home");
    }
}

/// Issue 21's case: 200 groups × 200 members, delta mode, ids as IdP keys, 20 ms a request,
/// concurrency 8. After a first plan and apply (the state gets the mirrors), each group
/// receives 8 members of the next group and 2 new hires, and loses 10 leavers; then the
/// hires leave every group, then come back (the steady state).
/// What the applies so far journaled beside `main.state.json`: records, bytes, bytes a change.
fn journal_line(dir: &Path) {
    let text = std::fs::read_to_string(dir.join("main.state.journal.jsonl")).unwrap_or_default();
    let changes = text
        .lines()
        .filter(|l| l.contains(r#""kind":"change""#))
        .count();
    println!(
        "  journal: {} records ({changes} changes), {:.2} MB, {:.0} bytes per change in all (run_started's intents and the outcomes included)",
        text.lines().count(),
        mb(text.len() as u64),
        text.len() as f64 / changes.max(1) as f64
    );
}

fn review(runtime: Option<&str>) -> anyhow::Result<()> {
    let (groups, members) = (200usize, 200usize);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let emu = Emulator::empty();
    emu.add_client(CLIENT.0, CLIENT.1);
    emu.set_idp_token(IDP_TOKEN);
    let user = |g: usize, i: usize| format!("{:08x}-0000-4000-8000-{:012x}", g % groups, i);
    let hire = |g: usize, i: usize| format!("{g:08x}-0000-4000-9000-{i:012x}");
    for g in 0..groups {
        let ids: Vec<String> = (0..members).map(|i| user(g, i)).collect();
        for u in &ids {
            emu.add_user(u, &format!("{u}@example.com"), None);
        }
        for i in 0..2 {
            let h = hire(g, i);
            emu.add_user(&h, &format!("{h}@example.com"), None);
        }
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        emu.add_group(&format!("g-{g:04}"), &format!("Group {g}"), &refs);
        emu.idp_change(&format!("idp-{g:04}"), &refs, &[]);
    }
    define_roles(&emu);
    for g in 0..groups {
        grant_every_other(&emu, g);
    }
    emu.configure(|o| o.latency = Duration::from_millis(20));
    let running = rt.block_on(emulator::spawn(emu.clone()))?;
    let dir = tempfile::tempdir()?;
    config(
        dir.path(),
        "main",
        &running.base_url(),
        groups,
        1_000_000,
        8,
        "delta",
        "",
    )?;
    println!(
        "scimsync bench (review): {groups} groups × {members} members, delta mode, ids as keys, 20 ms a request, concurrency 8; load average {}",
        load_average()
    );
    let warm = run_phase("plan", "main", dir.path(), &emu, runtime)?;
    run_phase("apply", "main", dir.path(), &emu, runtime)?;
    print_short("warm-up plan (no changes)", &warm, groups);
    for g in 0..groups {
        let mut add: Vec<String> = (0..8).map(|i| user(g + 1, i)).collect();
        add.extend((0..2).map(|i| hire(g, i)));
        let remove: Vec<String> = (members - 10..members).map(|i| user(g, i)).collect();
        let add: Vec<&str> = add.iter().map(String::as_str).collect();
        let remove: Vec<&str> = remove.iter().map(String::as_str).collect();
        emu.idp_change(&format!("idp-{g:04}"), &add, &remove);
    }
    let plan = run_phase("plan", "main", dir.path(), &emu, runtime)?;
    let parsed = file::read(&dir.path().join("main.json"))?;
    let named = parsed
        .groups
        .iter()
        .flat_map(|g| g.changes.add.iter().chain(&g.changes.remove))
        .filter(|id| parsed.label(id) != id.as_str())
        .count();
    let changes = parsed.summary.add + parsed.summary.remove;
    let apply = run_phase("apply", "main", dir.path(), &emu, runtime)?;
    print_short("plan", &plan, groups);
    print_short("apply", &apply, groups);
    journal_line(dir.path());
    // As the issue counts them: the IdP read, the group GET, the PATCHes and every user read.
    let idp_reads = plan.count("IdpDelta");
    let per_group = (idp_reads + plan.api_requests() + apply.api_requests()) as f64 / groups as f64;
    println!(
        "  plan + apply: {idp_reads} IdP reads + {} Genesys requests = {per_group:.2} requests per group including user requests (target ≤ 3.25: {}); {named} of {changes} changes named (target all: {})",
        plan.api_requests() + apply.api_requests(),
        met(per_group <= 3.25),
        met(named == changes)
    );
    println!(
        "  grant reads (apart): plan {} for {groups} changed groups, apply {} for the {} that grant roles = {:.2} per group (target ≤ 1 + 1: {})",
        plan.grant_requests(),
        apply.grant_requests(),
        groups.div_ceil(2),
        (plan.grant_requests() + apply.grant_requests()) as f64 / groups as f64,
        met(if grants_on() {
            plan.grant_requests() == groups && apply.grant_requests() == groups.div_ceil(2)
        } else {
            plan.grant_requests() + apply.grant_requests() == 0
        })
    );
    for (leave, step) in [
        (true, "hires leave every group"),
        (false, "hires come back"),
    ] {
        for g in 0..groups {
            let hires = [hire(g, 0), hire(g, 1)];
            let hires: Vec<&str> = hires.iter().map(String::as_str).collect();
            if leave {
                emu.idp_change(&format!("idp-{g:04}"), &[], &hires);
            } else {
                emu.idp_change(&format!("idp-{g:04}"), &hires, &[]);
            }
        }
        let plan = run_phase("plan", "main", dir.path(), &emu, runtime)?;
        let apply = run_phase("apply", "main", dir.path(), &emu, runtime)?;
        print_short(&format!("steady ({step}): plan"), &plan, groups);
        print_short(&format!("steady ({step}): apply"), &apply, groups);
        println!(
            "  user requests {} (target 0: {}); grant reads {}",
            plan.user_requests() + apply.user_requests(),
            met(plan.user_requests() + apply.user_requests() == 0),
            plan.grant_requests() + apply.grant_requests()
        );
    }
    drop(running);
    Ok(())
}

/// A first plan of one group whose 10,000 members are keyed by userName, 20 ms a request.
fn usernames(runtime: Option<&str>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let emu = Emulator::empty();
    emu.add_client(CLIENT.0, CLIENT.1);
    emu.set_idp_token(IDP_TOKEN);
    let names: Vec<String> = (0..10_000)
        .map(|i| format!("person.{i:05}@example.com"))
        .collect();
    for (i, n) in names.iter().enumerate() {
        emu.add_user(&format!("{i:08x}-0000-4000-8000-000000000000"), n, None);
    }
    emu.add_group("g-0000", "Big", &[]);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    emu.idp_change("idp-0000", &refs, &[]);
    emu.configure(|o| o.latency = Duration::from_millis(20));
    let running = rt.block_on(emulator::spawn(emu.clone()))?;
    let base = running.base_url();
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("main.toml"),
        format!(
            "[target]\napi_base = \"{base}\"\nrequests_per_minute = 1000000\nconcurrency = 8\n\n[source]\nkind = \"delta-http\"\nbase_url = \"{base}\"\ntoken_env = \"IDP_API_TOKEN\"\nuser_key = \"userName\"\n\n[state]\npath = \"main.state.json\"\n\n[[group]]\nname = \"idp-0000\"\ntarget_id = \"g-0000\"\n"
        ),
    )?;
    let plan = run_phase("plan", "main", dir.path(), &emu, runtime)?;
    print_short("first plan of 10,000 userName keys", &plan, 1);
    println!(
        "  user requests {} (target ≤ 110: {})",
        plan.user_requests(),
        met(plan.user_requests() <= 110)
    );
    drop(running);
    Ok(())
}
