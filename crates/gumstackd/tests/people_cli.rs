//! `gumstackd token create|list|revoke` and `gumstackd user disable|enable|delete` on a data
//! directory (no platform running): what they print, and their refusals (exit 1, a clear
//! message, nothing changed).

mod common;

use std::path::Path;

use common::gumstackd;

/// Runs `gumstackd <args> --data-dir <dir>`: (success, stdout, stderr).
fn cli(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(gumstackd())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(data_dir: &Path, args: &[&str]) -> String {
    let (ok, out, err) = cli(data_dir, args);
    assert!(ok, "{args:?} failed: {out}{err}");
    out
}

fn refused(data_dir: &Path, args: &[&str], fragment: &str) {
    let (ok, out, err) = cli(data_dir, args);
    assert!(!ok, "{args:?} succeeded: {out}");
    assert!(err.contains(fragment), "{args:?}: {err}");
}

#[test]
fn tokens_and_accounts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(
        &data,
        &[
            "user",
            "add",
            "--email",
            "root@example.com",
            "--role",
            "admin",
        ],
    );
    ok(
        &data,
        &[
            "user",
            "add",
            "--email",
            "bob@example.com",
            "--role",
            "developer",
        ],
    );

    let token = ok(
        &data,
        &[
            "token",
            "create",
            "--email",
            "bob@example.com",
            "--name",
            "nightly",
            "--expires-in-days",
            "30",
        ],
    );
    let token = token.trim();
    assert!(
        token.starts_with("gsk_") && !token.contains('\n'),
        "{token}"
    );
    refused(
        &data,
        &[
            "token",
            "create",
            "--email",
            "bob@example.com",
            "--expires-in-days",
            "400",
        ],
        "1 to 365 days",
    );
    refused(
        &data,
        &["token", "create", "--email", "nobody@example.com"],
        "no user with email",
    );

    let list = ok(&data, &["token", "list", "--email", "bob@example.com"]);
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(
        list.contains("nightly") && list.contains("developer") && list.contains("last used never")
    );
    assert!(!list.contains(token), "never the token");
    let id = list.split('\t').next().unwrap().to_owned();
    refused(&data, &["token", "revoke", "not-an-id"], "invalid value");
    refused(
        &data,
        &["token", "revoke", "7c1e0000-0000-4000-8000-000000000000"],
        "no such API token",
    );
    let out = ok(&data, &["token", "revoke", &id]);
    assert!(
        out.contains(&format!("revoked: {id} (nightly of bob@example.com)")),
        "{out}"
    );
    assert_eq!(ok(&data, &["token", "list"]).lines().count(), 0);

    // The last admin cannot be disabled or deleted; nothing changes.
    refused(
        &data,
        &["user", "disable", "--email", "root@example.com"],
        "only admin",
    );
    refused(
        &data,
        &[
            "user",
            "delete",
            "--email",
            "root@example.com",
            "--servers-to",
            "root@example.com",
        ],
        "another enabled admin",
    );
    refused(
        &data,
        &[
            "user",
            "delete",
            "--email",
            "bob@example.com",
            "--servers-to",
            "bob@example.com",
        ],
        "another enabled admin",
    );

    let out = ok(&data, &["user", "disable", "--email", "bob@example.com"]);
    assert!(out.contains("user: bob@example.com disabled"), "{out}");
    assert!(
        out.contains("ended: 0 sessions, 0 API tokens, 0 MCP client authorizations"),
        "{out}"
    );
    refused(
        &data,
        &["token", "create", "--email", "bob@example.com"],
        "is disabled",
    );
    let out = ok(&data, &["user", "enable", "--email", "bob@example.com"]);
    assert!(out.contains("user: bob@example.com enabled"), "{out}");
    ok(&data, &["token", "create", "--email", "bob@example.com"]);

    let out = ok(
        &data,
        &[
            "user",
            "delete",
            "--email",
            "bob@example.com",
            "--servers-to",
            "root@example.com",
        ],
    );
    assert!(out.contains("user: bob@example.com deleted"), "{out}");
    assert!(out.contains("ended: 0 sessions, 1 API tokens"), "{out}");
    assert!(
        out.contains("removed: 0 saved credentials; servers passed on: none"),
        "{out}"
    );
    refused(
        &data,
        &["user", "enable", "--email", "bob@example.com"],
        "no user with email",
    );
}
