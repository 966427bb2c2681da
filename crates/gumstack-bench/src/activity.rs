//! `--mode activity`: what the activity log costs the gateway. Two `gumstackd serve` on fresh
//! data directories, one with the log on (the default) and one with `--activity off`, each
//! hosting the example server; gateway phases at the highest `--clients` alternate between
//! them (on, off, then off, on, …) and the verdict compares the medians of the rounds'
//! throughputs: log on / log off ≥ 0.95×.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use crate::cpu::{self, CpuTimes, Processes};
use crate::load::{self, Endpoint, Target};
use crate::platform::{Credentials, Platform, host_greeter};

/// The target: throughput with the log on, relative to the same run with it off.
pub const MIN_RATIO: f64 = 0.95;

/// One platform under test and how to load it.
struct Side {
    name: &'static str,
    platform: Platform,
    endpoint: Endpoint,
    processes: Processes,
    throughputs: Vec<f64>,
    cpu: CpuTimes,
    calls: usize,
    errors: usize,
}

impl Side {
    async fn start(
        name: &'static str,
        gumstackd: &Path,
        example: &Path,
        work: &Path,
        options: &[&str],
    ) -> anyhow::Result<Self> {
        let platform = Platform::start_with(gumstackd, &work.join(name), options)?;
        let api_token = platform.api_token(gumstackd)?;
        let hosted = host_greeter(&platform.base, &api_token, example).await?;
        let creds =
            Credentials::create(&platform.data_dir, &platform.base, &hosted.mcp_url).await?;
        let endpoint = Endpoint::new(Target::Gateway, &hosted.mcp_url, &creds.bearer())?;
        load::probe(&endpoint)
            .await
            .with_context(|| format!("probe of the log-{name} gateway"))?;
        let processes = Processes {
            client: std::process::id(),
            gumstackd: platform.pid(),
            server: cpu::only_child(platform.pid())?,
            nginx: None,
        };
        Ok(Self {
            name,
            platform,
            endpoint,
            processes,
            throughputs: Vec::new(),
            cpu: CpuTimes::default(),
            calls: 0,
            errors: 0,
        })
    }

    async fn phase(
        &mut self,
        clients: usize,
        warmup: usize,
        window: Duration,
    ) -> anyhow::Result<()> {
        let before = self.processes.read()?;
        let phase = load::run(Target::Gateway, &self.endpoint, clients, warmup, window).await?;
        self.cpu.add(&self.processes.read()?.since(&before));
        self.calls += phase.requests;
        self.errors += phase.errors;
        self.throughputs.push(phase.throughput());
        eprintln!(
            "log {:>3} x{clients}: {:>6} calls, {:>7.0} req/s, {} errors",
            self.name,
            phase.requests,
            phase.throughput(),
            phase.errors
        );
        Ok(())
    }

    fn median(&self) -> f64 {
        let mut sorted = self.throughputs.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        }
    }

    fn micros_per_call(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1e6 / self.calls.max(1) as f64
    }
}

/// Runs the comparison and prints it as Markdown.
pub async fn run(
    gumstackd: &Path,
    example: &Path,
    clients: usize,
    rounds: usize,
    warmup: usize,
    window: Duration,
) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let mut on = Side::start("on", gumstackd, example, work.path(), &[]).await?;
    let mut off = Side::start(
        "off",
        gumstackd,
        example,
        work.path(),
        &["--activity", "off"],
    )
    .await?;
    let rounds = rounds.max(3);
    let measured = async {
        for round in 0..rounds {
            if round % 2 == 0 {
                on.phase(clients, warmup, window).await?;
                off.phase(clients, warmup, window).await?;
            } else {
                off.phase(clients, warmup, window).await?;
                on.phase(clients, warmup, window).await?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    // Let the writer flush, then count what it wrote.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logged = count_rows(&on.platform.data_dir).await;
    let report = measured.map(|()| report(&on, &off, clients, rounds, window, logged));
    for side in [on, off] {
        side.platform.stop()?;
    }
    report?
}

async fn count_rows(data_dir: &Path) -> anyhow::Result<i64> {
    let store =
        gumstack_platform::store::sqlite::SqliteStore::open(&data_dir.join("gumstack.db")).await?;
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM activity")
        .fetch_one(store.pool())
        .await?)
}

fn report(
    on: &Side,
    off: &Side,
    clients: usize,
    rounds: usize,
    window: Duration,
    logged: anyhow::Result<i64>,
) -> anyhow::Result<()> {
    let load_average = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    println!();
    println!(
        "{cpus} CPUs, loopback; gateway at {clients} clients; {:.1} s per phase; {rounds} rounds alternating log on/off; load average {}",
        window.as_secs_f64(),
        load_average
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    println!(
        "| activity log | req/s per round | median req/s | errors | CPU µs/call: client / gumstackd / server |"
    );
    println!("|---|---|---:|---:|---|");
    for side in [on, off] {
        let rounds: Vec<String> = side.throughputs.iter().map(|t| format!("{t:.0}")).collect();
        println!(
            "| {} | {} | {:.0} | {} | {:.0} / {:.0} / {:.0} |",
            side.name,
            rounds.join(", "),
            side.median(),
            side.errors,
            side.micros_per_call(side.cpu.client),
            side.micros_per_call(side.cpu.gumstackd),
            side.micros_per_call(side.cpu.server),
        );
    }
    let ratio = on.median() / off.median();
    let verdict = if ratio >= MIN_RATIO { "MET" } else { "MISSED" };
    println!();
    println!(
        "throughput with the log on / off: **{ratio:.3}×** (target ≥ {MIN_RATIO}×): {verdict}"
    );
    match logged {
        Ok(rows) => println!(
            "records written by the log-on platform: {rows} (calls made to it, warm-ups included: ≥ {})",
            on.calls
        ),
        Err(error) => println!("records written: could not be counted ({error})"),
    }
    anyhow::ensure!(
        on.errors == 0 && off.errors == 0,
        "some calls failed: the figures above are not valid"
    );
    Ok(())
}
