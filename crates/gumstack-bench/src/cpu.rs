//! CPU time per process (user + system, from `/proc/PID/stat`), so each phase can say how much
//! CPU one call cost the client, the platform and the server process. On a 2-core machine the
//! throughput at 32 clients is bounded by exactly this.

use std::time::Duration;

/// The processes whose CPU time each phase reads.
#[derive(Debug, Clone, Copy)]
pub struct Processes {
    pub client: u32,
    pub gumstackd: u32,
    pub server: u32,
}

/// CPU time spent so far by each process.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    pub client: Duration,
    pub gumstackd: Duration,
    pub server: Duration,
}

impl Processes {
    pub fn read(&self) -> anyhow::Result<CpuTimes> {
        Ok(CpuTimes {
            client: cpu_time(self.client)?,
            gumstackd: cpu_time(self.gumstackd)?,
            server: cpu_time(self.server)?,
        })
    }
}

impl CpuTimes {
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            client: self.client.saturating_sub(earlier.client),
            gumstackd: self.gumstackd.saturating_sub(earlier.gumstackd),
            server: self.server.saturating_sub(earlier.server),
        }
    }

    pub fn add(&mut self, other: &CpuTimes) {
        self.client += other.client;
        self.gumstackd += other.gumstackd;
        self.server += other.server;
    }
}

/// utime + stime of a process, all its threads (dead ones included).
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: u64 = fields.get(11).zip(fields.get(12)).map_or(Ok(0), |(u, s)| {
        anyhow::Ok(u.parse::<u64>()? + s.parse::<u64>()?)
    })?;
    let per_second = rustix::param::clock_ticks_per_second();
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / per_second))
}

/// The one child process of `pid` (the server process gumstackd runs), searching every thread.
pub fn only_child(pid: u32) -> anyhow::Result<u32> {
    let mut children = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let list = std::fs::read_to_string(task?.path().join("children")).unwrap_or_default();
        children.extend(
            list.split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    match children.as_slice() {
        [child] => Ok(*child),
        other => anyhow::bail!("expected gumstackd to run one server process, found {other:?}"),
    }
}
