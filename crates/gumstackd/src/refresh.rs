//! The refresh flags `serve` and `demo` share.

use clap::Args;
use gumstack_platform::PlatformOptions;

/// When OAuth connections are refreshed (SPEC §3 step 6).
#[derive(Debug, Clone, Args)]
pub struct RefreshArgs {
    /// Seconds between background passes that renew OAuth tokens ahead of expiry (0: off).
    #[arg(long, default_value_t = 30)]
    pub refresh_interval_secs: u64,
    /// A token handed to a tool is refreshed first when it expires within this many seconds
    /// (or within half its lifetime, if shorter).
    #[arg(long, default_value_t = 60)]
    pub refresh_margin_secs: u64,
}

impl RefreshArgs {
    pub fn apply(&self, options: &mut PlatformOptions) {
        options.refresh.background_interval = (self.refresh_interval_secs > 0)
            .then(|| std::time::Duration::from_secs(self.refresh_interval_secs));
        options.refresh.margin = std::time::Duration::from_secs(self.refresh_margin_secs);
    }
}
