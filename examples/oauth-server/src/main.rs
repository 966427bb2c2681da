//! `example-oauth-server`: serves [`ProviderAccount`](example_oauth_server::ProviderAccount) with
//! its OpenID Connect provider the way the Gumstack platform expects.
//!
//! Locally: `ENVIRONMENT=local LOCAL_ACCESS_TOKEN=… OAUTH_USERINFO_URL=… cargo run -p
//! example-oauth-server`.

use std::process::ExitCode;

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
    match example_oauth_server::host().serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}
