//! The server isolation flags `serve` and `demo` share.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use gumstack_platform::PlatformOptions;
use gumstack_runtime::ResourceLimits;

/// How server processes are contained (SPEC §12, docs/ARCHITECTURE.md "What a server process
/// can reach").
#[derive(Debug, Clone, Args)]
pub struct IsolationArgs {
    /// `contained`: every layer this machine has, warning about the ones it lacks; `strict`:
    /// refuse to start a server when a layer is missing; `off`: servers run with the
    /// platform's own rights (debugging only).
    #[arg(long, value_enum, default_value_t = Mode::Contained)]
    pub isolation: Mode,
    /// The uids (and gids) servers run under when the platform runs as root, one per server
    /// (stored with it at its first launch, so it keeps it across restarts), as `FIRST-LAST`.
    #[arg(long, value_name = "FIRST-LAST", value_parser = parse_range,
          default_value = DEFAULT_RANGE)]
    pub server_uid_range: RangeInclusive<u32>,
    /// A directory servers may read and execute from besides the system's (`/usr`, `/lib*`,
    /// `/etc`, …), e.g. a language runtime installed elsewhere; repeat for several.
    #[arg(long = "server-read-path", value_name = "PATH")]
    pub server_read_paths: Vec<PathBuf>,
    /// Memory of each server process, in MiB (`RLIMIT_DATA`: its heap and private writable
    /// mappings; 0: no limit).
    #[arg(long, default_value_t = 4096)]
    pub server_memory_mib: u64,
    /// Open files of each server process (0: no limit).
    #[arg(long, default_value_t = 4096)]
    pub server_open_files: u64,
    /// Processes and threads of each server's uid, when it has its own (0: no limit).
    #[arg(long, default_value_t = 512)]
    pub server_processes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Contained,
    Strict,
    Off,
}

/// [`gumstack_runtime::DEFAULT_UID_RANGE`] as the flag writes it.
const DEFAULT_RANGE: &str = "2000000-2000999";

fn parse_range(text: &str) -> Result<RangeInclusive<u32>, String> {
    let (first, last) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is not FIRST-LAST, e.g. 2000000-2000999"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u32>()
            .map_err(|e| format!("`{part}` is not a uid: {e}"))
    };
    let (first, last) = (number(first)?, number(last)?);
    if first == 0 || first > last {
        return Err(format!(
            "`{text}`: the range must start above 0 and not end before it starts"
        ));
    }
    Ok(first..=last)
}

impl IsolationArgs {
    pub fn apply(&self, options: &mut PlatformOptions) {
        let isolation = &mut options.isolation;
        isolation.enabled = self.isolation != Mode::Off;
        isolation.strict = self.isolation == Mode::Strict;
        isolation.uid_range = self.server_uid_range.clone();
        isolation
            .read_only_paths
            .clone_from(&self.server_read_paths);
        let limit = |value: u64| (value > 0).then_some(value);
        isolation.limits = ResourceLimits {
            memory_bytes: limit(self.server_memory_mib.saturating_mul(1 << 20)),
            open_files: limit(self.server_open_files),
            processes: limit(self.server_processes),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_RANGE, parse_range};

    #[test]
    fn ranges_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_range(DEFAULT_RANGE),
            Ok(gumstack_runtime::DEFAULT_UID_RANGE)
        );
        assert!(parse_range("0-10").unwrap_err().contains("above 0"));
        assert!(parse_range("20-10").unwrap_err().contains("not end before"));
        assert!(parse_range("10").unwrap_err().contains("FIRST-LAST"));
        assert!(parse_range("a-10").unwrap_err().contains("not a uid"));
    }
}
