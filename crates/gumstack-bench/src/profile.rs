//! What bounds the gateway, when a target is missed: a `perf` CPU profile of `gumstackd` during
//! a gateway phase, summed by what the code does, and the cost of each step of the platform's
//! per-call decision (`PlatformGateway::authorize`) timed in-process with the same library.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use gumstack_platform::clock::{Clock as _, SystemClock};
use gumstack_platform::oauth::tokens::{mint_identity, verify_access_token};

use crate::platform::{Credentials, SLUG};

/// Whether `perf` can sample here (the `cpu-clock` software event: VMs often have no hardware
/// counters).
pub fn perf_works() -> bool {
    Command::new("perf")
        .args(["stat", "-e", "cpu-clock", "-x,", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// `perf record` attached to one process for a while.
#[derive(Debug)]
pub struct Recording {
    child: Child,
    pub data: PathBuf,
}

impl Recording {
    pub fn start(pid: u32, window: Duration, data: &Path) -> anyhow::Result<Self> {
        let child = Command::new("perf")
            .args([
                "record",
                "-q",
                "-g",
                "-e",
                "cpu-clock",
                "-F",
                "1999",
                "-p",
                &pid.to_string(),
                "-o",
            ])
            .arg(data)
            .args(["--", "sleep", &format!("{:.1}", window.as_secs_f64())])
            .stdout(Stdio::null())
            .spawn()
            .context("starting perf record")?;
        Ok(Self {
            child,
            data: data.to_owned(),
        })
    }

    pub fn finish(mut self) -> anyhow::Result<PathBuf> {
        let status = self.child.wait()?;
        ensure!(status.success(), "perf record: {status}");
        Ok(self.data)
    }
}

/// What user-space code is doing, by the crate or library of the sampled function (any of the
/// space-separated names); the first match wins.
const USER_CATEGORIES: &[(&str, &str)] = &[
    (
        "SQLite queries (sqlx, sqlite3)",
        "sqlite3 sqlx pcache1 btree store::sqlite hashlink",
    ),
    (
        "JWT crypto: Ed25519 verify + sign, SHA-512",
        "curve25519 ed25519 sha2 signature:: jsonwebtoken subtle der:: pkcs8",
    ),
    (
        "base64 + JSON of the JWTs",
        "base64 serde_json serde:: _serde",
    ),
    (
        "HTTP: hyper server + proxy client, axum, tower",
        "hyper httparse http:: axum tower matchit",
    ),
    (
        "tokio runtime, channels, task wake-ups",
        "tokio mio flume crossbeam parking_lot futures event_listener syscall park pthread_",
    ),
    (
        "reading the server process's log lines",
        "log_buffer Utf8Chunks",
    ),
    (
        "allocator, memcpy (libc)",
        "malloc free realloc memcpy memmove memset memcmp _int_ unlink_chunk",
    ),
];

/// Kernel samples, by any function of the kernel part of the call chain; the first match wins.
const KERNEL_CATEGORIES: &[(&str, &str)] = &[
    (
        "kernel: futex wake/wait (hand-offs between threads)",
        "futex",
    ),
    (
        "kernel: loopback TCP send/receive, epoll",
        "tcp_ sock_ epoll ip_ net_rx skb",
    ),
    ("kernel: context switches", "schedule finish_task_switch"),
    ("SQLite queries (sqlx, sqlite3)", "fcntl posix_lock locks_"),
];

/// One sampled call chain, leaf first: (symbol, in the kernel).
struct Sample {
    on_sqlite_thread: bool,
    frames: Vec<(String, bool)>,
}

impl Sample {
    fn category(&self) -> &'static str {
        let kernel: Vec<&str> = self
            .frames
            .iter()
            .filter(|f| f.1)
            .map(|f| f.0.as_str())
            .collect();
        let (table, symbols, fallback) = if kernel.is_empty() {
            let leaf = self.frames.first().map_or("", |f| f.0.as_str());
            (USER_CATEGORIES, vec![leaf], "other")
        } else {
            (KERNEL_CATEGORIES, kernel, "kernel: other")
        };
        table
            .iter()
            .find(|(_, needles)| {
                symbols
                    .iter()
                    .any(|s| needles.split_whitespace().any(|n| s.contains(n)))
            })
            .map_or(fallback, |(name, _)| name)
    }
}

/// Reads the samples back (`perf script`): a line per sample naming its thread, then its
/// frames, indented.
fn samples(data: &Path) -> anyhow::Result<Vec<Sample>> {
    let out = Command::new("perf")
        .args(["script", "-F", "comm,ip,sym,dso", "-i"])
        .arg(data)
        .stderr(Stdio::null())
        .output()
        .context("perf script")?;
    ensure!(out.status.success(), "perf script: {}", out.status);
    let mut samples: Vec<Sample> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            let on_sqlite_thread = line.starts_with("sqlx-sqlite");
            samples.push(Sample {
                on_sqlite_thread,
                frames: Vec::new(),
            });
        } else if let Some(sample) = samples.last_mut() {
            // `<address> <symbol> (<dso>)`
            let frame = line.trim().split_once(' ').map_or("", |(_, rest)| rest);
            let (symbol, dso) = frame.rsplit_once(" (").unwrap_or((frame, ""));
            sample
                .frames
                .push((symbol.to_owned(), dso.starts_with("[kernel")));
        }
    }
    Ok(samples)
}

/// Prints the profile: CPU share by what the code does (and how much of it ran on the SQLite
/// worker threads), then the functions most often on CPU.
pub fn print_perf_report(data: &Path) -> anyhow::Result<()> {
    let samples = samples(data)?;
    ensure!(!samples.is_empty(), "perf recorded no samples");
    let share = |n: usize| 100.0 * n as f64 / samples.len() as f64;
    let mut by_category: Vec<(&str, usize, usize)> = Vec::new();
    let mut by_leaf: Vec<(String, usize)> = Vec::new();
    for sample in &samples {
        let name = sample.category();
        let sqlite = usize::from(sample.on_sqlite_thread);
        match by_category.iter_mut().find(|(n, ..)| *n == name) {
            Some((_, all, on_sqlite)) => (*all, *on_sqlite) = (*all + 1, *on_sqlite + sqlite),
            None => by_category.push((name, 1, sqlite)),
        }
        let leaf = sample.frames.first().map_or("?", |f| f.0.as_str());
        let leaf = if sample.frames.first().is_some_and(|f| f.1) {
            format!("[k] {leaf}")
        } else {
            leaf.to_owned()
        };
        match by_leaf.iter_mut().find(|(l, _)| *l == leaf) {
            Some((_, n)) => *n += 1,
            None => by_leaf.push((leaf, 1)),
        }
    }
    by_category.sort_by_key(|c| std::cmp::Reverse(c.1));
    by_leaf.sort_by_key(|l| std::cmp::Reverse(l.1));
    let on_sqlite: usize = by_category.iter().map(|c| c.2).sum();
    println!(
        "{} samples; {:.1}% on the SQLite worker threads (sqlx runs each connection on its own thread), the rest on tokio workers.",
        samples.len(),
        share(on_sqlite)
    );
    println!();
    println!("| share of gumstackd CPU | of which on SQLite threads | what |");
    println!("|---:|---:|---|");
    for (name, all, on_sqlite) in &by_category {
        println!(
            "| {:.1}% | {:.1}% | {name} |",
            share(*all),
            share(*on_sqlite)
        );
    }
    println!();
    println!("| share | functions most often on CPU |");
    println!("|---:|---|");
    for (leaf, n) in by_leaf.iter().take(15) {
        let leaf: String = leaf.chars().take(100).collect();
        println!("| {:.1}% | `{}` |", share(*n), leaf.replace('|', "\\|"));
    }
    Ok(())
}

/// Times each step `PlatformGateway::authorize` takes per call, in this process on the same data
/// directory, one call at a time; prints the best of 5 batches of `n` (what the step costs
/// without a neighbour's interference).
pub async fn print_authorize_steps(
    creds: &Credentials,
    mcp_url: &str,
    n: u32,
) -> anyhow::Result<()> {
    let token = creds.bearer();
    let token = token.trim_start_matches("Bearer ");
    let steps = [
        (
            "verify the access token (Ed25519, JWT claims)",
            best_of_5(n, || async {
                verify_access_token(&creds.keys, &creds.base, mcp_url, token, SystemClock.now())?;
                Ok(())
            })
            .await?,
        ),
        (
            "read the grant and its user (SQLite)",
            best_of_5(n, || async {
                creds.store.grant_with_user(creds.grant.id).await?;
                Ok(())
            })
            .await?,
        ),
        (
            "read the server by slug (SQLite)",
            best_of_5(n, || async {
                creds.store.server_by_slug(SLUG).await?;
                Ok(())
            })
            .await?,
        ),
        (
            "mint the Gumstack-Identity (Ed25519 sign)",
            best_of_5(n, || async {
                mint_identity(
                    &creds.keys,
                    &creds.base,
                    creds.server.id,
                    &creds.user,
                    "bench",
                    SystemClock.now(),
                );
                Ok(())
            })
            .await?,
        ),
    ];
    println!(
        "| step of `PlatformGateway::authorize` | µs per call (best of 5 × {n}, one caller) |"
    );
    println!("|---|---:|");
    for (step, micros) in &steps {
        println!("| {step} | {micros:.1} |");
    }
    let total: f64 = steps.iter().map(|(_, micros)| micros).sum();
    println!("| **total** | **{total:.1}** |");
    Ok(())
}

/// Runs `step` 5 × `n` times; the fastest batch, in µs per call.
async fn best_of_5<F, Fut>(n: u32, mut step: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..n {
            step().await?;
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    }
    Ok(best)
}
