//! Rotation against a real data directory: a platform that seals values in every sealed
//! column, and the key commands' service on the same database and key file, as `gumstackd key`
//! runs beside a running platform.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret as _, SecretString};

use super::*;
use crate::app::{Platform, PlatformOptions};
use crate::servers::NewServer;
use crate::store::{Connection, ConnectionStatus, OAuthFlow, Server, User};

const CONFIG: &str = "name: Sealed\nauth:\n  type: cred\n  credentials:\n    - name: api_key\n      label: API key\n      secret: true\n      required: true\n";

struct World {
    _dir: tempfile::TempDir,
    options: PlatformOptions,
    platform: Platform,
    server: Server,
    user: User,
    key_file: PathBuf,
}

impl World {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = PlatformOptions::new(dir.path().join("data"));
        let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
        let platform = Platform::open(options.clone(), addr).await.unwrap();
        let state = &platform.state;
        let server = state
            .servers
            .create(NewServer {
                config_yaml: CONFIG.into(),
                ..NewServer::default()
            })
            .await
            .unwrap();
        for (name, value) in [("ONE", "first-secret"), ("TWO", "second"), ("THREE", "3")] {
            state
                .servers
                .set_env(&server.slug, name, &SecretString::from(value))
                .await
                .unwrap();
        }
        let user = platform.ensure_first_admin().await.unwrap().unwrap().user;
        let submitted = BTreeMap::from([("api_key".to_owned(), "sk-sealed-4242".to_owned())]);
        state
            .credentials
            .save(user.id, &server, &submitted)
            .await
            .unwrap();
        let now = state.clock.now();
        let id = Uuid::new_v4();
        let vault = &state.vault;
        let connection = Connection {
            id,
            user_id: user.id,
            server_id: server.id,
            provider: "github".into(),
            nickname: "me".into(),
            subject: None,
            label: None,
            is_default: false,
            access_ciphertext: vault.encrypt(
                b"access-token",
                &crate::connections::access_aad_of(user.id, server.id, id),
            ),
            access_hash: vec![0; 32],
            refresh_ciphertext: Some(vault.encrypt(
                b"refresh-token",
                &crate::connections::refresh_aad_of(user.id, server.id, id),
            )),
            expires_at: Some(now + 3600),
            scope: None,
            status: ConnectionStatus::Active,
            failure_kind: None,
            failure_message: None,
            failures: 0,
            retry_at: None,
            version: 0,
            lease_holder: None,
            lease_until: None,
            obtained_at: now,
            created_at: now,
            updated_at: now,
        };
        state.store.upsert_connection(&connection).await.unwrap();
        let flow_id = Uuid::new_v4();
        state
            .store
            .insert_oauth_flow(&OAuthFlow {
                id: flow_id,
                state_hash: vec![7; 32],
                user_id: user.id,
                server_id: server.id,
                provider: "github".into(),
                session_hash: vec![8; 32],
                verifier_ciphertext: vault.encrypt(
                    b"verifier",
                    &crate::connections::flow::verifier_aad(flow_id, user.id, server.id),
                ),
                requested_scope: None,
                created_at: now,
                expires_at: now + 600,
            })
            .await
            .unwrap();
        let key_file = options.data_dir.join("master.key");
        Self {
            _dir: dir,
            options,
            platform,
            server,
            user,
            key_file,
        }
    }

    /// The key commands' view: their own store connection and key files.
    async fn keys(&self) -> KeyAdmin {
        Platform::master_keys(&self.options).await.unwrap()
    }

    /// Adds a key to the key file; the running platform reloads it and reports it.
    async fn add_key(&self) -> String {
        let (id, line) = key_file::new_key_line();
        key_file::append_key(&self.key_file, &line).unwrap();
        let change = self.platform.state.vault.reload_if_changed().unwrap();
        assert_eq!(change.unwrap().active, id);
        self.platform
            .state
            .connections
            .register_instance()
            .await
            .unwrap();
        id
    }

    async fn api_key(&self) -> String {
        let values = self
            .platform
            .state
            .credentials
            .values(self.user.id, &self.server)
            .await
            .unwrap()
            .unwrap();
        values["api_key"].expose_secret().to_owned()
    }
}

fn quick() -> RotateOptions {
    RotateOptions {
        batch_size: 2,
        pause: Duration::ZERO,
        wait_for_instances: Duration::from_secs(1),
    }
}

fn sealed_columns(usage: &KeyUsage, key: &str) -> u64 {
    usage.by_key.get(key).map_or(0, |c| c.values().sum())
}

#[tokio::test]
async fn rotation_reseals_every_column_and_the_old_key_is_retired_once_unused() {
    let w = World::new().await;
    let old = w.platform.state.vault.active_key_id();
    let before = w.keys().await.usage(true).await.unwrap();
    assert!(before.failures.is_empty(), "{:?}", before.failures);
    // 3 env vars, 1 credentials row, access + refresh, 1 flow, 1 signing key, the audit
    // chain's key.
    assert_eq!(sealed_columns(&before, &old), 9);
    assert_eq!(before.by_key[&old].len(), SealedColumn::ALL.len());

    let event = crate::audit::AuditEvent::new(
        crate::audit::AuditAction::MasterKeyAdded,
        crate::audit::Target::new(crate::audit::TargetKind::MasterKey, "k", "k"),
    );
    w.platform
        .state
        .audit
        .record(&crate::audit::Actor::Operator, None, event)
        .await
        .unwrap();
    let new = w.add_key().await;
    let keys = w.keys().await;
    // The old key is refused while values use it; the file is left as it was.
    let file_before = std::fs::read(&w.key_file).unwrap();
    let refused = keys.retire(&old).await.unwrap_err();
    assert!(
        matches!(&refused, RotationError::InUse { count: 9, .. }),
        "{refused}"
    );
    let message = refused.to_string();
    assert!(
        message.contains("env_vars.value_ciphertext: 3") && message.contains("key rotate"),
        "{message}"
    );
    assert_eq!(std::fs::read(&w.key_file).unwrap(), file_before);

    let mut batches = 0;
    let report = keys
        .rotate(&quick(), &mut |_, _| batches += 1)
        .await
        .unwrap();
    assert_eq!(report.target, new);
    assert!(
        report.failures.is_empty() && report.remaining == 0,
        "{report:?}"
    );
    let resealed: u64 = report.columns.iter().map(|(_, t)| t.resealed).sum();
    assert_eq!(resealed, 9);
    assert!(batches >= 8, "batches of two: {batches}");

    let after = keys.usage(true).await.unwrap();
    assert!(after.failures.is_empty(), "{:?}", after.failures);
    assert_eq!(sealed_columns(&after, &old), 0);
    assert_eq!(sealed_columns(&after, &new), 9);
    assert_eq!(w.api_key().await, "sk-sealed-4242");

    // Running it again changes nothing (a resumed rotation only finishes what is left).
    let again = keys.rotate(&quick(), &mut |_, _| {}).await.unwrap();
    assert_eq!(
        again.columns.iter().map(|(_, t)| t.resealed).sum::<u64>(),
        0
    );
    assert_eq!(again.columns.iter().map(|(_, t)| t.current).sum::<u64>(), 9);

    let edited = keys.retire(&old).await.unwrap();
    assert_eq!(edited, vec![w.key_file.clone()]);
    let text = std::fs::read_to_string(&w.key_file).unwrap();
    assert!(!text.contains(&old) && text.contains(&new));
    // The running platform drops the key and still reads everything; so does a fresh start.
    let change = w.platform.state.vault.reload_if_changed().unwrap().unwrap();
    assert_eq!(change.removed, vec![old.clone()]);
    assert_eq!(w.api_key().await, "sk-sealed-4242");
    let fresh = w.keys().await;
    assert_eq!(fresh.vault().key_ids(), vec![new]);
    assert!(fresh.usage(true).await.unwrap().failures.is_empty());
    // The audit chain's key, re-sealed, still checks the chain after the old key is gone.
    let trail = Platform::audit_trail(&w.options).await.unwrap();
    let verification = trail.verify().await.unwrap();
    assert_eq!((verification.records, verification.broken), (1, None));
    let unknown = fresh.retire(&old).await.unwrap_err();
    assert!(
        matches!(unknown, RotationError::UnknownKey { .. }),
        "{unknown}"
    );
}

#[tokio::test]
async fn rotation_waits_for_every_instance_to_seal_with_the_new_key() {
    let w = World::new().await;
    let old = w.platform.state.vault.active_key_id();
    // The key commands see a new key the running platform has not loaded yet.
    let (new, line) = key_file::new_key_line();
    key_file::append_key(&w.key_file, &line).unwrap();
    let keys = w.keys().await;
    let err = keys.rotate(&quick(), &mut |_, _| {}).await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, RotationError::InstancesBehind { .. }) && message.contains(&old),
        "{message}"
    );
    assert_eq!(
        sealed_columns(&keys.usage(false).await.unwrap(), &new),
        0,
        "nothing re-sealed"
    );
    // Nor may the old key go while an instance seals with it.
    let err = keys.retire(&old).await.unwrap_err();
    assert!(matches!(err, RotationError::StillSealing { .. }), "{err}");

    // Once the platform reloaded its key file and beat, the rotation goes ahead.
    w.platform.state.vault.reload_if_changed().unwrap();
    w.platform
        .state
        .connections
        .register_instance()
        .await
        .unwrap();
    let report = keys.rotate(&quick(), &mut |_, _| {}).await.unwrap();
    assert_eq!(report.target, new);
}

#[tokio::test]
async fn the_active_key_and_unknown_keys_are_not_retired() {
    let w = World::new().await;
    let keys = w.keys().await;
    let active = keys.vault().active_key_id();
    let file_before = std::fs::read(&w.key_file).unwrap();
    let err = keys.retire(&active).await.unwrap_err();
    assert!(matches!(err, RotationError::ActiveKey(_)), "{err}");
    let err = keys.retire("k-none").await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("k-none") && message.contains(&active),
        "{message}"
    );
    assert_eq!(std::fs::read(&w.key_file).unwrap(), file_before);
}

#[tokio::test]
async fn a_value_the_platform_rewrote_is_never_overwritten() {
    let w = World::new().await;
    let store = &w.platform.state.store;
    let value = store
        .sealed_values(SealedColumn::CredentialValues, None, 10)
        .await
        .unwrap()
        .remove(0);
    // The platform saves new values between the rotation's read and its write.
    let submitted = BTreeMap::from([("api_key".to_owned(), "sk-newer-7777".to_owned())]);
    w.platform
        .state
        .credentials
        .save(w.user.id, &w.server, &submitted)
        .await
        .unwrap();
    let written = store
        .reseal(
            SealedColumn::CredentialValues,
            &[Reseal {
                row_id: value.row_id.clone(),
                old: value.ciphertext.clone(),
                new: value.ciphertext.clone(),
            }],
        )
        .await
        .unwrap();
    assert_eq!(written, 0);
    assert_eq!(w.api_key().await, "sk-newer-7777");
}

#[tokio::test]
async fn values_that_do_not_decrypt_are_named_by_table_column_and_row() {
    let w = World::new().await;
    let store = crate::store::sqlite::SqliteStore::open(&w.options.data_dir.join("gumstack.db"))
        .await
        .unwrap();
    // One value altered, another copied into a row it does not belong to.
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT id, value_ciphertext FROM env_vars ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let mut altered = rows[0].1.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    sqlx::query("UPDATE env_vars SET value_ciphertext = ? WHERE id = ?")
        .bind(&altered)
        .bind(&rows[0].0)
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE env_vars SET value_ciphertext = ? WHERE id = ?")
        .bind(&rows[2].1)
        .bind(&rows[1].0)
        .execute(store.pool())
        .await
        .unwrap();
    let usage = w.keys().await.usage(true).await.unwrap();
    let mut named: Vec<String> = usage.failures.iter().map(ToString::to_string).collect();
    named.sort();
    let mut expected = vec![rows[0].0.clone(), rows[1].0.clone()];
    expected.sort();
    assert_eq!(named.len(), 2, "{named:?}");
    for (line, id) in named.iter().zip(&expected) {
        assert!(
            line.starts_with(&format!("env_vars.value_ciphertext row {id}: ")),
            "{line}"
        );
        assert!(
            !line.contains("secret") && !line.contains("second"),
            "{line}"
        );
    }
    // A rotation leaves them as they are and reports them.
    w.add_key().await;
    let report = w
        .keys()
        .await
        .rotate(&quick(), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.failures.len(), 2);
}
