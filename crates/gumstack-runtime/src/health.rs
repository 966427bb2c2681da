//! The HTTP health probe.

use std::time::Duration;

use reqwest::StatusCode;

/// How often the health check is polled while a process starts.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Polls one server's health-check URL.
#[derive(Debug, Clone)]
pub(crate) struct HealthCheck {
    client: reqwest::Client,
    url: String,
}

impl HealthCheck {
    /// A probe of `http://127.0.0.1:<port><path>`. It ignores proxy settings and follows no
    /// redirects: only the server itself may answer.
    pub(crate) fn new(port: u16, path: &str) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROBE_TIMEOUT)
            .build()?;
        let slash = if path.starts_with('/') { "" } else { "/" };
        Ok(Self {
            client,
            url: format!("http://127.0.0.1:{port}{slash}{path}"),
        })
    }

    /// Resolves once the health check answers 200; polls forever otherwise (the caller bounds
    /// it with the startup timeout).
    pub(crate) async fn until_healthy(&self) {
        loop {
            if let Ok(response) = self.client.get(&self.url).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}
