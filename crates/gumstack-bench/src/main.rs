//! `gumstack-bench`: how much the MCP gateway costs a tool call, measured against the same
//! server process called directly, in the same run (a benchmark, not a test).
//!
//! It starts a real `gumstackd serve` on a temporary data directory, hosts the example `none`
//! server through the JSON API, makes the credentials with the platform library (a grant and an
//! access token for the gateway, a signed `Gumstack-Identity` for the process), then calls
//! `greet` at each concurrency, alternating direct and gateway phases, and prints the results
//! and the verdict against the targets as Markdown (docs/BENCHMARKS.md). When a target is
//! missed it profiles what bounds the gateway. Loopback only; about a minute.
//!
//! `--mode proxy-cost` adds a third way in, nginx relaying to the same server process, and
//! compares the CPU per call of the gateway with nginx's; `--mode activity` compares the
//! gateway with its activity log on and off.
//!
//! Build and run (the harness runs the binaries built next to it):
//!
//! ```text
//! cargo build --release -p gumstackd -p gumstack-example-none
//! cargo run --release -p gumstack-bench
//! ```
//!
//! # Layout
//!
//! - `platform`: the `gumstackd` child, hosting the example server, the credentials.
//! - `load`: keep-alive workers calling the tool; one phase's latencies.
//! - `cpu`: CPU time per process from `/proc`, per phase.
//! - `report`: pooling phases into the table; the verdict against the targets.
//! - `profile`: `perf` of `gumstackd` and the cost of each step of the platform's decision.
//! - `nginx`: the reverse-proxy baseline, Debian's nginx as a child (`--mode proxy-cost`).
//! - `proxy_cost`: that mode's table and its verdict (gateway CPU per call vs. nginx's).
//! - `activity`: `--mode activity`.

mod activity;
mod cpu;
mod load;
mod nginx;
mod platform;
mod profile;
mod proxy_cost;
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};

use crate::cpu::Processes;
use crate::load::{Endpoint, Target};
use crate::nginx::Nginx;
use crate::platform::{Credentials, Hosted, Platform, host_greeter, sibling_binary};

#[derive(Debug, Parser)]
#[command(
    name = "gumstack-bench",
    about = "Gateway overhead: tool calls via the gateway vs. direct"
)]
struct Args {
    /// Measuring window of each phase, in seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Calls before each phase's window (spread over its clients), not measured.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Concurrent clients, one level after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    clients: Vec<usize>,
    /// Direct/gateway pairs (direct/gateway/nginx in proxy-cost mode) per concurrency,
    /// alternating to spread the noise.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// When to profile the gateway (overhead mode).
    #[arg(long, value_enum, default_value_t = ProfileWhen::Missed)]
    profile: ProfileWhen,
    /// What to compare.
    #[arg(long, value_enum, default_value_t = Mode::Overhead)]
    mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Tool calls through the gateway vs. the server process called directly.
    Overhead,
    /// Direct, gateway and nginx (`proxy_pass` with keep-alive to the same server process)
    /// phases; the gateway's CPU per call against nginx's, target ≤ 2×.
    ProxyCost,
    /// The gateway with the activity log on vs. off (`gumstackd serve --activity off`), at
    /// the highest `--clients`; target ≥ 0.95×.
    Activity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProfileWhen {
    /// Only when a target is missed.
    Missed,
    Always,
    Never,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let window = Duration::from_secs_f64(args.seconds);
    let gumstackd = sibling_binary("gumstackd")?;
    let example = sibling_binary("example-none-server")?;
    if args.mode == Mode::Activity {
        let clients = args.clients.iter().copied().max().unwrap_or(32);
        return activity::run(
            &gumstackd,
            &example,
            clients,
            args.rounds,
            args.warmup,
            window,
        )
        .await;
    }
    // Before anything starts: a missing nginx says how to install it.
    let nginx = match args.mode {
        Mode::ProxyCost => Some(nginx::binary()?),
        Mode::Overhead | Mode::Activity => None,
    };
    // Declared first so it is removed last, after gumstackd has stopped.
    let work = tempfile::tempdir()?;

    let platform = Platform::start(&gumstackd, work.path())?;
    let binaries = Binaries {
        gumstackd,
        example,
        nginx,
    };
    let result = bench(&args, window, &platform, &binaries, work.path()).await;
    if result.is_err() {
        eprintln!(
            "gumstackd log: {}",
            std::fs::read_to_string(&platform.log).unwrap_or_default()
        );
    }
    platform.stop()?;
    result
}

/// The programs the harness runs.
struct Binaries {
    gumstackd: PathBuf,
    example: PathBuf,
    /// Only in proxy-cost mode.
    nginx: Option<PathBuf>,
}

async fn bench(
    args: &Args,
    window: Duration,
    platform: &Platform,
    binaries: &Binaries,
    work: &Path,
) -> anyhow::Result<()> {
    let api_token = platform.api_token(&binaries.gumstackd)?;
    let hosted = host_greeter(&platform.base, &api_token, &binaries.example).await?;
    let creds = Credentials::create(&platform.data_dir, &platform.base, &hosted.mcp_url).await?;
    let nginx = match &binaries.nginx {
        Some(binary) => Some(Nginx::start(
            binary,
            &work.join("nginx"),
            &hosted.direct_url,
        )?),
        None => None,
    };
    let result = measure(
        args,
        window,
        platform,
        &hosted,
        &creds,
        nginx.as_ref(),
        work,
    )
    .await;
    if let (Err(_), Some(nginx)) = (&result, &nginx) {
        eprintln!("nginx error log: {}", nginx.log());
    }
    // Stopped on success and on error alike (and dropped with SIGTERM on an early return).
    let stopped = nginx.map_or(Ok(()), Nginx::stop);
    result.and(stopped)
}

async fn measure(
    args: &Args,
    window: Duration,
    platform: &Platform,
    hosted: &Hosted,
    creds: &Credentials,
    nginx: Option<&Nginx>,
    work: &Path,
) -> anyhow::Result<()> {
    let processes = Processes {
        client: std::process::id(),
        gumstackd: platform.pid(),
        server: cpu::only_child(platform.pid())?,
        nginx: nginx.map(Nginx::pid),
    };
    let endpoint = |target: Target| match target {
        Target::Direct => Endpoint::new(target, &hosted.direct_url, &creds.identity()),
        Target::Gateway => Endpoint::new(target, &hosted.mcp_url, &creds.bearer()),
        Target::Nginx => Endpoint::new(
            target,
            &nginx.context("no nginx in this mode")?.url,
            &creds.identity(),
        ),
    };
    let targets: &[Target] = match nginx {
        Some(_) => &[Target::Direct, Target::Gateway, Target::Nginx],
        None => &[Target::Direct, Target::Gateway],
    };
    for &target in targets {
        load::probe(&endpoint(target)?)
            .await
            .with_context(|| format!("{} probe", target.name()))?;
    }
    eprintln!("gateway {}  direct {}", hosted.mcp_url, hosted.direct_url);
    if let Some(nginx) = nginx {
        eprintln!("nginx {}", nginx.url);
    }

    let mut phases = Vec::new();
    for &clients in &args.clients {
        for round in 1..=args.rounds {
            for &target in targets {
                let before = processes.read()?;
                let phase =
                    load::run(target, &endpoint(target)?, clients, args.warmup, window).await?;
                let cpu = processes.read()?.since(&before);
                eprintln!(
                    "{:>7} x{clients:<3} round {round}: {:>6} calls, {:>7.0} req/s, {} errors",
                    target.name(),
                    phase.requests,
                    phase.throughput(),
                    phase.errors
                );
                phases.push((phase, cpu));
            }
        }
    }

    let load_average = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let order: Vec<&str> = targets.iter().map(|t| t.name()).collect();
    let proxy = nginx.map_or_else(String::new, |n| format!("; {} (1 worker)", n.version));
    println!();
    println!(
        "{cpus} CPUs, loopback; {:.1} s per phase after {} warm-up calls, {} rounds of {}{proxy}; load average {}",
        args.seconds,
        args.warmup,
        args.rounds,
        order.join(" then "),
        load_average
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    println!();
    let rows = report::rows(&phases);
    let all_met = if nginx.is_some() {
        proxy_cost::print_table(&rows);
        println!();
        proxy_cost::print_verdict(&proxy_cost::verdicts(&rows))
    } else {
        report::print_table(&rows);
        println!();
        report::print_verdict(&rows)
    };
    if rows.iter().any(|row| row.errors > 0) {
        anyhow::bail!("some calls failed: the figures above are not valid");
    }

    let profile = match args.profile {
        ProfileWhen::Always => true,
        ProfileWhen::Never => false,
        ProfileWhen::Missed => !all_met,
    };
    // The profile is of the overhead mode's question (what bounds the gateway).
    if profile && nginx.is_none() {
        println!();
        print_profile(
            platform,
            creds,
            &hosted.mcp_url,
            args,
            window,
            work,
            &endpoint(Target::Gateway)?,
        )
        .await?;
    }
    Ok(())
}

/// A shorter gateway phase at the highest concurrency with `perf` attached to `gumstackd`,
/// then the cost of each step of the platform's decision.
async fn print_profile(
    platform: &Platform,
    creds: &Credentials,
    mcp_url: &str,
    args: &Args,
    window: Duration,
    work: &Path,
    gateway: &Endpoint,
) -> anyhow::Result<()> {
    let clients = args.clients.iter().copied().max().unwrap_or(1);
    let window = window.min(Duration::from_secs(3));
    if profile::perf_works() {
        // The connections are already warm: the phases above ran on this gumstackd.
        let recording = profile::Recording::start(platform.pid(), window, &work.join("perf.data"))?;
        let phase = load::run(Target::Gateway, gateway, clients, args.warmup, window).await?;
        let data = recording.finish()?;
        println!(
            "Profile of gumstackd (perf record -g, cpu-clock at 1999 Hz) during a {:.0} s gateway phase at {clients} clients ({:.0} req/s):",
            window.as_secs_f64(),
            phase.throughput()
        );
        println!();
        profile::print_perf_report(&data)?;
    } else {
        println!("perf cannot sample on this machine: no CPU profile (install linux-perf).");
    }
    println!();
    profile::print_authorize_steps(creds, mcp_url, 400).await
}
