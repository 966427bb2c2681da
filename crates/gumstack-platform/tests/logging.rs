//! What the platform's request log may contain: the path of a request, never its query, where
//! one-time secrets travel (an authorization code and state at the OAuth callback).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::Harness;

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn request_logs_name_the_path_but_never_the_query() {
    let h = Harness::new().await;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (cookie, _) = h.session_for(&h.admin).await;
    h.get(
        "/auth/callback?state=secret-state-4711&code=secret-code-0815",
        Some(&cookie),
    )
    .await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("path=/auth/callback"), "{logs}");
    assert!(!logs.contains("secret-state-4711"), "{logs}");
    assert!(!logs.contains("secret-code-0815"), "{logs}");
}
