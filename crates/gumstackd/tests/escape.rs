//! A hostile server hosted by the real `gumstackd serve`, isolation on by default, tries to
//! break out (crates/gumstack-runtime/tests/fixtures/hostile_server.py): read the platform's
//! `master.key` and `gumstack.db`, write into its data directory, read its `/proc` files and
//! memory, trace and signal it, bind its port or any other, make a user namespace, mount,
//! become root. Every attempt is refused; the deployment's output says so line by line, and
//! the data directory is as it was.

mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::{Api, Running};
use serde_json::json;

const CONFIG: &str = "name: Hostile\nauth:\n  type: none\n";

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hosted_server_reaches_nothing_of_the_platform() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    // Made by hand, open to others: the platform narrows it.
    std::fs::create_dir(&data_dir).unwrap();
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = data_dir.to_str().unwrap();
    let mut platform = Running::start(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data],
        &[],
    );
    let base = platform.read_until("dashboard: ");
    let port: u16 = base
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let api = Api::new(&base, common::api_token(&data_dir));
    // Only the platform's user may enter the data directory or read its key and database.
    let mode = |path: std::path::PathBuf| path.metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(data_dir.clone()), 0o700);
    assert_eq!(mode(data_dir.join("master.key")), 0o600);
    assert_eq!(mode(data_dir.join("gumstack.db")), 0o600);

    api.create_python_server(
        "hostile",
        CONFIG,
        "crates/gumstack-runtime/tests/fixtures/hostile_server.py",
    )
    .await;
    for (name, value) in [
        ("HOSTILE_DATA_DIR", data.to_owned()),
        ("HOSTILE_PLATFORM_PORT", port.to_string()),
    ] {
        let (status, body) = api
            .send(
                reqwest::Method::PUT,
                &format!("/api/servers/hostile/env/{name}"),
                Some(json!({ "value": value })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // The env vars apply from the next deployment (the first fails without them).
    let (status, body) = api
        .send(reqwest::Method::POST, "/api/servers/hostile/redeploy", None)
        .await;
    assert_eq!(status, 202, "{body}");
    let generation = body["deploy_generation"].as_i64().unwrap();
    let server = api.wait_live("hostile", generation).await;
    // Every layer is there; only its own uid may be missing, when the checkout is where no
    // other uid can reach (e.g. under /root, mode 0700).
    let isolation = &server["live"]["isolation"];
    let own_uid = isolation["uid"].is_u64();
    for missing in isolation["missing"].as_array().unwrap() {
        let missing = missing.as_str().unwrap();
        assert!(
            !own_uid && missing.starts_with("the server runs under the platform's uid"),
            "{isolation}"
        );
    }

    let (status, history) = api
        .send(
            reqwest::Method::GET,
            "/api/servers/hostile/deployments",
            None,
        )
        .await;
    assert_eq!(status, 200, "{history}");
    let output = history["deployments"][0]["output"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(output.contains("ATTEMPTS DONE"), "{output}");
    let attempts: Vec<&str> = output
        .lines()
        .filter_map(|line| line.strip_prefix("ATTEMPT "))
        .collect();
    let mut expected = vec![
        "read-master-key",
        "read-database",
        "write-data-dir",
        "read-platform-environ",
        "read-platform-cmdline",
        "read-platform-mem",
        "ptrace-platform",
        "read-platform-memory",
        "signal-platform",
        "new-user-namespace",
        "mount",
        "bind-platform-port",
        "bind-another-port",
    ];
    if own_uid {
        expected.push("become-root");
    }
    for name in &expected {
        let attempt = attempts
            .iter()
            .find(|line| line.split(' ').next() == Some(name))
            .unwrap_or_else(|| panic!("no attempt {name}: {output}"));
        assert_eq!(
            attempt.split(' ').nth(1),
            Some("blocked"),
            "the hosted server got through: {attempt}"
        );
    }
    assert_eq!(attempts.len(), expected.len(), "{attempts:#?}");
    assert!(
        !data_dir.join("planted").exists(),
        "{:?}",
        entries(&data_dir)
    );
    drop(platform);
}
