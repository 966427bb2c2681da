//! The activity log flags `serve` and `demo` share.

use clap::{Args, ValueEnum};
use gumstack_platform::PlatformOptions;

/// Whether tool calls are logged, and for how long (SPEC §9).
#[derive(Debug, Clone, Args)]
pub struct ActivityArgs {
    /// Log every tool call through the gateway (inputs and outputs redacted and capped).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub activity: Switch,
    /// Days the activity log keeps a call; older records are pruned hourly (0: kept forever).
    #[arg(long, default_value_t = 30)]
    pub activity_retention_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl ActivityArgs {
    pub fn apply(&self, options: &mut PlatformOptions) {
        options.activity.enabled = self.activity == Switch::On;
        options.activity.retention_days = self.activity_retention_days;
    }
}
