//! CPU time per process (user + system, from `/proc/PID/stat`), so each phase can say how much
//! CPU one call cost the client, the platform and the server process. On a 2-core machine the
//! throughput at 32 clients is bounded by exactly this. nginx (`--mode proxy-cost`) is a master
//! and its workers: its CPU is the whole process tree's.

use std::time::Duration;

/// The processes whose CPU time each phase reads.
#[derive(Debug, Clone, Copy)]
pub struct Processes {
    pub client: u32,
    pub gumstackd: u32,
    pub server: u32,
    /// The nginx master, when there is one.
    pub nginx: Option<u32>,
}

/// CPU time spent so far by each process.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    pub client: Duration,
    pub gumstackd: Duration,
    pub server: Duration,
    /// nginx's master and workers; zero without nginx.
    pub nginx: Duration,
}

impl Processes {
    pub fn read(&self) -> anyhow::Result<CpuTimes> {
        Ok(CpuTimes {
            client: cpu_time(self.client)?,
            gumstackd: cpu_time(self.gumstackd)?,
            server: cpu_time(self.server)?,
            nginx: self.nginx.map_or(Ok(Duration::ZERO), tree_cpu_time)?,
        })
    }
}

impl CpuTimes {
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            client: self.client.saturating_sub(earlier.client),
            gumstackd: self.gumstackd.saturating_sub(earlier.gumstackd),
            server: self.server.saturating_sub(earlier.server),
            nginx: self.nginx.saturating_sub(earlier.nginx),
        }
    }

    pub fn add(&mut self, other: &CpuTimes) {
        self.client += other.client;
        self.gumstackd += other.gumstackd;
        self.server += other.server;
        self.nginx += other.nginx;
    }
}

/// utime + stime of a process, all its threads (dead ones included).
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    Ok(stat_times(pid)?.own)
}

/// A process's and its children's CPU time: the live children's own (utime + stime), and
/// what the children the process has already reaped spent (its cutime + cstime), so the sum
/// never goes back when a worker exits between two reads.
pub fn tree_cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let parent = stat_times(pid)?;
    let mut total = parent.own + parent.reaped_children;
    for child in children(pid)? {
        // A child that exits meanwhile is counted in the parent's next read.
        if let Ok(times) = stat_times(child) {
            total += times.own + times.reaped_children;
        }
    }
    Ok(total)
}

struct StatTimes {
    /// utime + stime.
    own: Duration,
    /// cutime + cstime: children waited for.
    reaped_children: Duration,
}

fn stat_times(pid: u32) -> anyhow::Result<StatTimes> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // utime, stime, cutime and cstime are fields 14 to 17 of the whole line: 12 to 15 after
    // the name.
    let ticks = |at: usize| -> anyhow::Result<u64> {
        Ok(fields.get(at).map_or(Ok(0), |f| f.parse::<u64>())?)
    };
    let per_second = rustix::param::clock_ticks_per_second();
    let duration = |ticks: u64| Duration::from_nanos(ticks * 1_000_000_000 / per_second);
    Ok(StatTimes {
        own: duration(ticks(11)? + ticks(12)?),
        reaped_children: duration(ticks(13)? + ticks(14)?),
    })
}

/// The child processes of `pid`, searching every thread.
pub fn children(pid: u32) -> anyhow::Result<Vec<u32>> {
    let mut children = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let list = std::fs::read_to_string(task?.path().join("children")).unwrap_or_default();
        children.extend(
            list.split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    Ok(children)
}

/// The one child process of `pid` (the server process gumstackd runs).
pub fn only_child(pid: u32) -> anyhow::Result<u32> {
    match children(pid)?.as_slice() {
        [child] => Ok(*child),
        other => anyhow::bail!("expected gumstackd to run one server process, found {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};
    use std::time::Instant;

    use rustix::process::{Pid, Signal};

    use super::*;

    fn comm(pid: u32) -> String {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default()
    }

    /// A shell with two children that each count for a while, then become `sleep`: the tree's
    /// CPU time is the shell's and both children's.
    #[test]
    fn a_process_tree_counts_its_children() {
        let mut shell = Command::new("sh")
            .args([
                "-c",
                "for n in 1 2; do (i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; exec sleep 30) & done; wait",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = shell.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut found = Vec::new();
        while Instant::now() < deadline {
            found = children(pid).unwrap();
            if found.len() == 2 && found.iter().all(|&c| comm(c).trim() == "sleep") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let tree = tree_cpu_time(pid).unwrap();
        let own = cpu_time(pid).unwrap();
        let each: Vec<Duration> = found.iter().map(|&c| cpu_time(c).unwrap()).collect();
        for child in &found {
            let pid = Pid::from_raw(i32::try_from(*child).unwrap()).unwrap();
            rustix::process::kill_process(pid, Signal::KILL).unwrap();
        }
        shell.kill().unwrap();
        shell.wait().unwrap();

        assert_eq!(found.len(), 2, "children of the shell: {found:?}");
        assert!(each.iter().all(|t| !t.is_zero()), "{each:?}");
        assert_eq!(tree, own + each[0] + each[1]);
    }

    #[test]
    fn a_process_without_children_has_none() {
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let found = children(sleeper.id());
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        assert_eq!(found.unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn a_process_that_does_not_exist_is_an_error() {
        assert!(cpu_time(u32::MAX).is_err());
        assert!(tree_cpu_time(u32::MAX).is_err());
    }
}
