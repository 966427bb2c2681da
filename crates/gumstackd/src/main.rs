//! `gumstackd`: parses the command line, starts tracing (on stderr; stdout carries only the
//! lines a person or script reads: URLs, logins, tokens) and hands over to the platform.

mod activity;
mod audit;
mod cli;
mod console;
mod data_dir;
mod demo;
mod isolation;
mod keys;
mod listener;
mod people;
mod refresh;

use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GUMSTACK_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .init();
    let cli = cli::Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(cli::run(cli))
}
