//! `example-none-server`: serves [`Greeter`] the way the Gumstack platform expects.
//!
//! Locally: `ENVIRONMENT=local LOCAL_GREETING=Hi cargo run -p gumstack-example-none`.

use std::process::ExitCode;

use gumstack::GumstackHost;
use gumstack_example_none::{Greeter, config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new(gumstack::DEFAULT_LOG_FILTER)),
        )
        .with_writer(std::io::stderr)
        .init();
    match GumstackHost::new(config(), Greeter).serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}
