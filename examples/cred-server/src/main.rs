//! `example-cred-server`: serves [`KeyEcho`] the way the Gumstack platform expects.
//!
//! Locally: `ENVIRONMENT=local LOCAL_API_KEY=sk-test1234 cargo run -p gumstack-example-cred`.

use std::process::ExitCode;

use gumstack::GumstackHost;
use gumstack_example_cred::{KeyEcho, config};
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
    match GumstackHost::new(config(), KeyEcho).serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}
