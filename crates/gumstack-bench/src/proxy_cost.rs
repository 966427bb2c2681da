//! `--mode proxy-cost`: what the gateway's hop costs against a plain reverse proxy's. The same
//! call goes direct, through the gateway and through nginx ([`crate::nginx`]) in the same run;
//! the report gives each target's CPU per call in the client, the proxy and the server process,
//! and the verdict against the target: the gateway's CPU per call at most twice
//! nginx's.

use crate::load::Target;
use crate::report::{Row, micros_per_call};

/// The gateway spends at most this many times nginx's CPU per call.
pub const MAX_CPU_VS_NGINX: f64 = 2.0;

/// The proxy's CPU µs per call in `row`; `None` for direct calls, which have none.
fn proxy_micros(row: &Row) -> Option<f64> {
    match row.target {
        Target::Direct => None,
        Target::Gateway => Some(micros_per_call(row.cpu.gumstackd, row.requests)),
        Target::Nginx => Some(micros_per_call(row.cpu.nginx, row.requests)),
    }
}

fn or_dash(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))
}

pub fn print_table(rows: &[Row]) {
    println!(
        "| target | clients | requests | errors | req/s | p50 ms | p99 ms | req/s per round | CPU µs/call: client / proxy / server | gumstackd µs/call, not proxying |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---|---:|");
    for row in rows {
        let rounds: Vec<String> = row.rounds.iter().map(|r| format!("{r:.0}")).collect();
        let gumstackd_aside = (row.target != Target::Gateway)
            .then(|| micros_per_call(row.cpu.gumstackd, row.requests));
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.3} | {:.3} | {} | {:.0} / {} / {:.0} | {} |",
            row.target.name(),
            row.concurrency,
            row.requests,
            row.errors,
            row.throughput,
            row.p50_ms,
            row.p99_ms,
            rounds.join(", "),
            micros_per_call(row.cpu.client, row.requests),
            or_dash(proxy_micros(row)),
            micros_per_call(row.cpu.server, row.requests),
            or_dash(gumstackd_aside),
        );
    }
}

/// The comparison at one concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub clients: usize,
    /// `gumstackd`'s CPU µs per call in the gateway phases.
    pub gateway_micros: f64,
    /// nginx's (master and worker) CPU µs per call in the nginx phases.
    pub nginx_micros: f64,
    /// `gumstackd`'s CPU µs per call in the nginx phases: reading the server process's log
    /// lines, which it does whichever way the call comes in.
    pub gumstackd_aside_micros: f64,
    pub gateway_throughput_ratio: f64,
    pub nginx_throughput_ratio: f64,
}

impl Verdict {
    /// The target's ratio: gateway CPU per call / nginx CPU per call.
    pub fn cpu_ratio(&self) -> f64 {
        self.gateway_micros / self.nginx_micros
    }

    /// The same without what `gumstackd` spends on a call that does not go through it.
    pub fn hop_only_ratio(&self) -> f64 {
        (self.gateway_micros - self.gumstackd_aside_micros) / self.nginx_micros
    }

    pub fn met(&self) -> bool {
        self.cpu_ratio() <= MAX_CPU_VS_NGINX
    }
}

/// One verdict per concurrency at which all three targets ran.
pub fn verdicts(rows: &[Row]) -> Vec<Verdict> {
    let find = |target: Target, clients: usize| {
        rows.iter()
            .find(|r| r.target == target && r.concurrency == clients)
    };
    rows.iter()
        .filter(|r| r.target == Target::Direct)
        .filter_map(|direct| {
            let clients = direct.concurrency;
            let (gateway, nginx) = (
                find(Target::Gateway, clients)?,
                find(Target::Nginx, clients)?,
            );
            Some(Verdict {
                clients,
                gateway_micros: micros_per_call(gateway.cpu.gumstackd, gateway.requests),
                nginx_micros: micros_per_call(nginx.cpu.nginx, nginx.requests),
                gumstackd_aside_micros: micros_per_call(nginx.cpu.gumstackd, nginx.requests),
                gateway_throughput_ratio: gateway.throughput / direct.throughput,
                nginx_throughput_ratio: nginx.throughput / direct.throughput,
            })
        })
        .collect()
}

fn met(ok: bool) -> &'static str {
    if ok { "MET" } else { "MISSED" }
}

/// Prints the verdicts; returns whether the target was met at every concurrency.
pub fn print_verdict(verdicts: &[Verdict]) -> bool {
    println!(
        "| clients | CPU µs/call: gumstackd (gateway) | nginx | gateway / nginx | ≤ {MAX_CPU_VS_NGINX}× nginx | hop only / nginx | throughput gateway / direct | nginx / direct |"
    );
    println!("|---:|---:|---:|---:|---|---:|---:|---:|");
    for v in verdicts {
        println!(
            "| {} | {:.0} | {:.0} | {:.2}× | {} | {:.2}× | {:.2}× | {:.2}× |",
            v.clients,
            v.gateway_micros,
            v.nginx_micros,
            v.cpu_ratio(),
            met(v.met()),
            v.hop_only_ratio(),
            v.gateway_throughput_ratio,
            v.nginx_throughput_ratio,
        );
    }
    println!();
    println!(
        "hop only: gumstackd's CPU per call in the gateway phases less its CPU per call in the nginx phases (reading the server process's log lines, done whichever way a call comes in); the target is on the whole figure."
    );
    !verdicts.is_empty() && verdicts.iter().all(Verdict::met)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cpu::CpuTimes;

    /// A pooled row of `requests` calls over one second; `cpu_us` is each process's CPU per
    /// call: (gumstackd, nginx).
    fn row(target: Target, clients: usize, requests: usize, cpu_us: (u64, u64)) -> Row {
        let per_call = |us: u64| Duration::from_micros(us * requests as u64);
        Row {
            target,
            concurrency: clients,
            requests,
            errors: 0,
            throughput: requests as f64,
            p50_ms: 0.1,
            p99_ms: 0.2,
            rounds: vec![requests as f64],
            cpu: CpuTimes {
                client: per_call(20),
                gumstackd: per_call(cpu_us.0),
                server: per_call(100),
                nginx: per_call(cpu_us.1),
            },
        }
    }

    #[test]
    fn the_gateway_at_twice_nginx_meets_the_target_and_above_misses_it() {
        let rows = [
            row(Target::Direct, 1, 4000, (10, 0)),
            row(Target::Gateway, 1, 2000, (40, 0)),
            row(Target::Nginx, 1, 3000, (10, 20)),
            row(Target::Direct, 32, 8000, (10, 0)),
            row(Target::Gateway, 32, 4000, (41, 0)),
            row(Target::Nginx, 32, 6000, (10, 20)),
        ];
        let verdicts = verdicts(&rows);
        assert_eq!(verdicts.len(), 2);
        let (one, many) = (&verdicts[0], &verdicts[1]);
        assert_eq!((one.clients, many.clients), (1, 32));
        assert!((one.cpu_ratio() - 2.0).abs() < 1e-9, "{one:?}");
        assert!(one.met());
        assert!((many.cpu_ratio() - 2.05).abs() < 1e-9, "{many:?}");
        assert!(!many.met());
        assert!((one.gateway_throughput_ratio - 0.5).abs() < 1e-9);
        assert!((one.nginx_throughput_ratio - 0.75).abs() < 1e-9);
        // 40 µs less the 10 µs gumstackd spends reading logs whichever way, over 20 µs.
        assert!((one.hop_only_ratio() - 1.5).abs() < 1e-9);
        assert!(!print_verdict(&verdicts));
    }

    #[test]
    fn a_concurrency_without_an_nginx_phase_has_no_verdict() {
        let rows = [
            row(Target::Direct, 1, 4000, (10, 0)),
            row(Target::Gateway, 1, 2000, (40, 0)),
        ];
        let verdicts = verdicts(&rows);
        assert!(verdicts.is_empty());
        assert!(!print_verdict(&verdicts), "no verdict is not a met target");
    }
}
