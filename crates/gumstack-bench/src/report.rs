//! From phases to the results table and the verdict against the targets, printed as
//! Markdown so the output pastes into docs/BENCHMARKS.md unchanged.

use std::time::Duration;

use crate::cpu::CpuTimes;
use crate::load::{Phase, Target};

/// The gateway keeps at least this share of the direct throughput.
pub const MIN_THROUGHPUT_RATIO: f64 = 0.7;
/// The gateway adds at most this to the median latency, in milliseconds.
pub const MAX_ADDED_P50_MS: f64 = 0.3;

/// Every phase of one target at one concurrency, pooled.
#[derive(Debug)]
pub struct Row {
    pub target: Target,
    pub concurrency: usize,
    pub requests: usize,
    pub errors: usize,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Throughput of each phase, to show the noise between rounds.
    pub rounds: Vec<f64>,
    pub cpu: CpuTimes,
}

/// Pools the phases by (target, concurrency), in the order they first ran.
pub fn rows(phases: &[(Phase, CpuTimes)]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut latencies: Vec<Vec<u64>> = Vec::new();
    let mut elapsed: Vec<Duration> = Vec::new();
    for (phase, cpu) in phases {
        let at = rows
            .iter()
            .position(|r| r.target == phase.target && r.concurrency == phase.concurrency)
            .unwrap_or_else(|| {
                rows.push(Row {
                    target: phase.target,
                    concurrency: phase.concurrency,
                    requests: 0,
                    errors: 0,
                    throughput: 0.0,
                    p50_ms: 0.0,
                    p99_ms: 0.0,
                    rounds: Vec::new(),
                    cpu: CpuTimes::default(),
                });
                latencies.push(Vec::new());
                elapsed.push(Duration::ZERO);
                rows.len() - 1
            });
        let row = &mut rows[at];
        row.requests += phase.requests;
        row.errors += phase.errors;
        row.rounds.push(phase.throughput());
        row.cpu.add(cpu);
        latencies[at].extend_from_slice(&phase.latencies);
        elapsed[at] += phase.elapsed;
    }
    for ((row, latencies), elapsed) in rows.iter_mut().zip(&mut latencies).zip(&elapsed) {
        latencies.sort_unstable();
        row.throughput = row.requests as f64 / elapsed.as_secs_f64();
        row.p50_ms = percentile(latencies, 0.50);
        row.p99_ms = percentile(latencies, 0.99);
    }
    rows
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
fn percentile(sorted: &[u64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).map_or(f64::NAN, |&ns| ns as f64 / 1e6)
}

pub fn micros_per_call(cpu: Duration, calls: usize) -> f64 {
    cpu.as_secs_f64() * 1e6 / calls.max(1) as f64
}

pub fn print_table(rows: &[Row]) {
    println!(
        "| target | clients | requests | errors | req/s | p50 ms | p99 ms | req/s per round | CPU µs/call: client / gumstackd / server |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---|");
    for row in rows {
        let rounds: Vec<String> = row.rounds.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.3} | {:.3} | {} | {:.0} / {:.0} / {:.0} |",
            row.target.name(),
            row.concurrency,
            row.requests,
            row.errors,
            row.throughput,
            row.p50_ms,
            row.p99_ms,
            rounds.join(", "),
            micros_per_call(row.cpu.client, row.requests),
            micros_per_call(row.cpu.gumstackd, row.requests),
            micros_per_call(row.cpu.server, row.requests),
        );
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "MET" } else { "MISSED" }
}

/// Prints the gateway against the direct baseline per concurrency; returns whether every
/// target was met.
pub fn print_verdict(rows: &[Row]) -> bool {
    let mut all_met = true;
    println!(
        "| clients | added p50 | added p99 | throughput ratio | added p50 ≤ {MAX_ADDED_P50_MS} ms | throughput ≥ {MIN_THROUGHPUT_RATIO}× direct |"
    );
    println!("|---:|---:|---:|---:|---|---|");
    for direct in rows.iter().filter(|r| r.target == Target::Direct) {
        let Some(gateway) = rows
            .iter()
            .find(|r| r.target == Target::Gateway && r.concurrency == direct.concurrency)
        else {
            continue;
        };
        let added_p50 = gateway.p50_ms - direct.p50_ms;
        let ratio = gateway.throughput / direct.throughput;
        let (p50_ok, ratio_ok) = (added_p50 <= MAX_ADDED_P50_MS, ratio >= MIN_THROUGHPUT_RATIO);
        all_met &= p50_ok && ratio_ok;
        println!(
            "| {} | {:+.3} ms | {:+.3} ms | {:.2}× | {} | {} |",
            direct.concurrency,
            added_p50,
            gateway.p99_ms - direct.p99_ms,
            ratio,
            met(p50_ok),
            met(ratio_ok),
        );
    }
    all_met
}
