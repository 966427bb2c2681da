//! `gumstackd audit verify|list` against the real binary: what the commands record (as
//! `cli (operator)`), what the running platform records (with the client's address), a chain
//! that verifies, and every kind of tampering with the database file found and named.

mod common;

use std::path::Path;

use common::{Running, gumstackd, repo_root};
use sqlx::sqlite::SqlitePool;

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

fn ok(data_dir: &Path, args: &[&str]) -> (String, String) {
    let (ok, out, err) = cli(data_dir, args);
    assert!(ok, "{args:?} failed: {out}{err}");
    (out, err)
}

/// `audit verify` fails; its stdout.
fn broken(data_dir: &Path) -> String {
    let (ok, out, err) = cli(data_dir, &["audit", "verify"]);
    assert!(!ok, "verify passed: {out}{err}");
    out
}

async fn pool(data_dir: &Path) -> SqlitePool {
    SqlitePool::connect(&format!(
        "sqlite://{}",
        data_dir.join("gumstack.db").display()
    ))
    .await
    .unwrap()
}

/// Runs `sql` on the database file as someone with write access would (triggers dropped).
async fn tamper(data_dir: &Path, sql: &str) {
    let pool = pool(data_dir).await;
    for trigger in ["audit_log_no_update", "audit_log_no_delete"] {
        sqlx::query(&format!("DROP TRIGGER IF EXISTS {trigger}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

/// The admin commands of a data directory, each recorded once as the operator.
fn operator_actions(data: &Path) -> Vec<&'static str> {
    ok(
        data,
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
        data,
        &[
            "user",
            "add",
            "--email",
            "bob@example.com",
            "--role",
            "member",
        ],
    );
    ok(
        data,
        &["user", "reset-password", "--email", "bob@example.com"],
    );
    let (_, err) = ok(
        data,
        &[
            "token",
            "create",
            "--email",
            "bob@example.com",
            "--name",
            "nightly",
        ],
    );
    let id = err
        .lines()
        .find_map(|l| l.strip_prefix("API token "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    ok(data, &["token", "revoke", &id]);
    ok(data, &["user", "disable", "--email", "bob@example.com"]);
    ok(data, &["user", "enable", "--email", "bob@example.com"]);
    let from = repo_root().join("examples/none-server");
    ok(
        data,
        &[
            "server",
            "create",
            "--from",
            from.to_str().unwrap(),
            "--command",
            "/bin/true",
        ],
    );
    let (status, _) = ok(data, &["key", "status"]);
    let old = status
        .lines()
        .find_map(|l| {
            l.strip_prefix("key: ")
                .and_then(|r| r.split_whitespace().next())
        })
        .unwrap()
        .to_owned();
    ok(data, &["key", "add"]);
    ok(data, &["key", "rotate", "--wait-secs", "1"]);
    ok(data, &["key", "retire", &old]);
    ok(data, &["key", "rotate-signing", "--activate-in-secs", "0"]);
    ok(
        data,
        &[
            "user",
            "delete",
            "--email",
            "bob@example.com",
            "--servers-to",
            "root@example.com",
        ],
    );
    vec![
        "user.created",
        "user.created",
        "user.password_reset",
        "api_token.created",
        "api_token.revoked",
        "user.disabled",
        "user.enabled",
        "server.created",
        "master_key.added",
        "master_key.rotated",
        "master_key.retired",
        "signing_key.rotated",
        "user.deleted",
    ]
}

#[tokio::test]
async fn the_commands_are_recorded_and_every_alteration_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let expected = operator_actions(&data);
    let (out, _) = ok(&data, &["audit", "verify"]);
    assert_eq!(
        out.trim(),
        format!("audit: {} records, chain intact", expected.len())
    );
    // The chain key is a sealed value like the others: rotated with them, verified with them.
    let (out, _) = ok(&data, &["key", "verify"]);
    assert!(out.contains("verified"), "{out}");

    let (list, _) = ok(&data, &["audit", "list", "--limit", "500"]);
    let mut actions: Vec<&str> = list
        .lines()
        .map(|l| l.split('\t').nth(3).unwrap())
        .collect();
    actions.reverse();
    assert_eq!(actions, expected);
    for line in list.lines() {
        assert!(line.contains("\tcli (operator)\t"), "{line}");
        assert!(
            line.ends_with("\t-"),
            "the command line has no address: {line}"
        );
    }
    let (only, _) = ok(&data, &["audit", "list", "--action", "user.disabled"]);
    assert_eq!(only.lines().count(), 1);
    assert!(only.contains("bob@example.com"), "{only}");
    let (ok_, _, err) = cli(&data, &["audit", "list", "--action", "user.exploded"]);
    assert!(!ok_ && err.contains("unknown action"), "{err}");

    // Each column of a middle record, changed: verify fails, names it, and passes once the
    // value is put back.
    let pool = pool(&data).await;
    let row = 5;
    for column in [
        "seq",
        "at",
        "actor_id",
        "actor_label",
        "action",
        "target_kind",
        "target_id",
        "target_label",
        "details",
        "source",
        "prev_hash",
        "hash",
    ] {
        let (original,): (Option<String>,) = sqlx::query_as(&format!(
            "SELECT CAST({column} AS TEXT) FROM audit_log WHERE seq = ?"
        ))
        .bind(row)
        .fetch_one(&pool)
        .await
        .unwrap();
        let (changed, named) = match column {
            "seq" => ("900".to_owned(), 900),
            "at" => ("12345".to_owned(), row),
            "prev_hash" | "hash" => {
                let hash = original.clone().unwrap();
                let flipped = if hash.starts_with("ff") { "00" } else { "ff" };
                (format!("'{flipped}{}'", &hash[2..]), row)
            }
            _ => ("'tampered'".to_owned(), row),
        };
        tamper(
            &data,
            &format!("UPDATE audit_log SET {column} = {changed} WHERE seq = {row}"),
        )
        .await;
        let out = broken(&data);
        assert!(
            out.contains(&format!("record {named} is broken")),
            "{column}: {out}"
        );
        let key = if column == "seq" { named } else { row };
        sqlx::query(&format!(
            "UPDATE audit_log SET {column} = ? WHERE seq = {key}"
        ))
        .bind(&original)
        .execute(&pool)
        .await
        .unwrap();
        ok(&data, &["audit", "verify"]);
    }

    // The last record deleted: the head still counts it.
    let last = i64::try_from(expected.len()).unwrap();
    tamper(&data, &format!("DELETE FROM audit_log WHERE seq = {last}")).await;
    let out = broken(&data);
    assert!(
        out.contains(&format!("record {last} is broken: it is missing")),
        "{out}"
    );
}

#[tokio::test]
async fn the_running_platform_records_dashboard_and_api_actions_with_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_str = data.to_str().unwrap();
    let mut platform = Running::start(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_str],
        &[],
    );
    let base = platform.read_until("dashboard: ");
    let base = base.trim_end_matches('/').to_owned();
    platform.read_until("login: ");
    let (token, _) = ok(
        &data,
        &["token", "create", "--email", "admin@gumstack.local"],
    );
    let client = reqwest::Client::new();
    let secret = "a-value-no-audit-row-may-hold-5521";
    let server = client
        .post(format!("{base}/api/servers"))
        .bearer_auth(token.trim())
        .json(
            &serde_json::json!({ "config_yaml": "name: Hi\nauth:\n  type: none\n", "slug": "hi" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(server.status(), 201);
    let set = client
        .put(format!("{base}/api/servers/hi/env/API_KEY"))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({ "value": secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 201);
    // While it runs, and with its appends, the chain verifies.
    let (out, _) = ok(&data, &["audit", "verify"]);
    assert_eq!(out.trim(), "audit: 3 records, chain intact");
    let (list, _) = ok(&data, &["audit", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].contains("\tadmin@gumstack.local\tenv_var.set\tserver\thi\t"),
        "{list}"
    );
    assert!(lines[0].ends_with("\t127.0.0.1"), "{list}");
    assert!(lines[0].contains("\"API_KEY\""), "{list}");
    assert!(
        lines[2].contains("\tcli (operator)\tapi_token.created\t"),
        "{list}"
    );
    assert!(!list.contains(secret));
    drop(platform);
    let pool = pool(&data).await;
    let (rows,): (String,) =
        sqlx::query_as("SELECT group_concat(details || target_label, '|') FROM audit_log")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!rows.contains(secret));
}
