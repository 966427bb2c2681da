//! The listening socket takes a burst: with the platform not accepting at all (stopped), the
//! kernel still completes 600 concurrent connections, because the accept queue is 1024 long
//! (`--backlog`), not the 128 a plain `TcpListener::bind` gives.

mod common;

use std::time::Duration;

use common::Running;

const BURST: usize = 600;

#[tokio::test]
async fn a_burst_of_600_connections_fits_the_accept_queue() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let mut platform = Running::start(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        &[],
    );
    let base = platform.read_until("dashboard: ");
    let addr = base.trim_start_matches("http://").to_owned();

    // Nothing is accepted while the process is stopped: every connection that completes sits
    // in the accept queue.
    platform.signal("STOP");
    let attempts: Vec<_> = (0..BURST)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr))
                    .await
                    .ok()
                    .and_then(Result::ok)
            })
        })
        .collect();
    let mut connected = Vec::new();
    for attempt in attempts {
        if let Some(stream) = attempt.await.unwrap() {
            connected.push(stream);
        }
    }
    platform.signal("CONT");
    assert_eq!(
        connected.len(),
        BURST,
        "only {} of {BURST} connections completed while the platform was busy",
        connected.len()
    );

    // And the platform serves normally afterwards.
    drop(connected);
    let health = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
