//! Each server's uid is stored with it (docs/ARCHITECTURE.md "What a server process can
//! reach"): a platform restarted on the same data directory gives every server the uid it had,
//! whatever order they start in; two servers never share one; a redeploy keeps it; a uid
//! outside a range configured later is replaced; an exhausted range runs the server under the
//! platform's uid, or not at all with strict isolation.
//!
//! Servers get uids only from a root platform (CI runs as root); unprivileged, the tests that
//! start processes say so and return. The store's allocation is tested either way.

use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gumstack_platform::servers::NewServer;
use gumstack_platform::store::sqlite::SqliteStore;
use gumstack_platform::store::{DeploymentStatus, RuntimeSpec, Store, UidAssignment};
use gumstack_platform::vault::Vault;
use gumstack_platform::{Platform, PlatformOptions};
use gumstack_runtime::{Isolation, IsolationSupport, ProcessRuntime};
use uuid::Uuid;

/// A tiny HTTP server on `$PORT`: 200 on `/health_check`.
const HEALTH_SERVER: &str = r#"
import http.server, os
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health_check" else 404)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Health).serve_forever()
"#;

const CONFIG: &str = "name: Uids\nauth:\n  type: none\n";

/// Whether servers get uids of their own here; prints why a test stops early otherwise.
fn root() -> bool {
    let root = IsolationSupport::current().root;
    if !root {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI runs as root, to exercise uids of servers' own"
        );
        println!("NOTE: not root; servers get no uid of their own");
    }
    root
}

/// A platform on the database in `dir`, whose servers run as processes contained by
/// `isolation`.
async fn platform(dir: &Path, vault: &Arc<Vault>, isolation: Isolation) -> Platform {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.join("gumstack.db"))
            .await
            .expect("open the database"),
    );
    let runtime = Arc::new(ProcessRuntime {
        isolation,
        ..ProcessRuntime::default()
    });
    Platform::assemble(
        store,
        Arc::clone(vault),
        runtime,
        &PlatformOptions::new(dir),
        ([127, 0, 0, 1], 8080).into(),
    )
    .await
    .expect("the platform opens")
}

fn uids(range: RangeInclusive<u32>) -> Isolation {
    Isolation {
        uid_range: range,
        ..Isolation::default()
    }
}

/// Creates the server `slug`: python serving its health check.
async fn create(platform: &Platform, slug: &str) -> Uuid {
    platform
        .state
        .servers
        .create(NewServer {
            config_yaml: CONFIG.to_owned(),
            runtime: Some(RuntimeSpec {
                command: "/usr/bin/python3".to_owned(),
                args: vec!["-c".to_owned(), HEALTH_SERVER.to_owned()],
                working_dir: None,
                limits: Default::default(),
            }),
            slug: Some(slug.to_owned()),
            ..NewServer::default()
        })
        .await
        .expect("created")
        .id
}

/// The uid in the `Uid:` line of `/proc/<pid>/status` (real, effective, saved, fs).
fn process_uid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .expect("a Uid line");
    let ids: Vec<u32> = line
        .split_whitespace()
        .map(|id| id.parse().expect("a number"))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "mixed uids: {line}");
    ids[0]
}

/// Deploys until the server's current generation is live; the uid its Overview reports
/// (`None`: the platform's), checked against its process's, and what is missing from its
/// containment.
async fn live_uid(platform: &Platform, server: Uuid) -> (Option<u32>, Vec<String>) {
    let generation = platform
        .state
        .store
        .server_by_id(server)
        .await
        .expect("the server")
        .deploy_generation;
    let supervisor = &platform.state.supervisor;
    for _ in 0..600 {
        if let Some(live) = supervisor.live(server)
            && live.generation == generation
        {
            let containment = live.handle.containment();
            let pid = live.handle.pid().expect("a pid");
            assert_eq!(
                process_uid(pid),
                containment.uid.unwrap_or(0),
                "{containment}"
            );
            return (containment.uid, containment.missing);
        }
        Arc::clone(supervisor).reconcile().await.expect("reconcile");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("generation {generation} of {server} never went live");
}

/// The uid stored with the server.
async fn stored_uid(platform: &Platform, server: Uuid) -> Option<u32> {
    platform
        .state
        .store
        .server_by_id(server)
        .await
        .expect("the server")
        .uid
}

#[tokio::test]
async fn a_restarted_platform_gives_each_server_the_uid_it_had() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = Arc::new(Vault::generate());
    let range = 2_100_000..=2_100_009;
    let first = platform(dir.path(), &vault, uids(range.clone())).await;
    let alpha = create(&first, "alpha").await;
    let (alpha_uid, missing) = live_uid(&first, alpha).await;
    assert_eq!(missing, Vec::<String>::new());
    let beta = create(&first, "beta").await;
    let (beta_uid, _) = live_uid(&first, beta).await;
    assert_eq!(alpha_uid, Some(2_100_000));
    assert_eq!(beta_uid, Some(2_100_001), "two servers never share a uid");
    first.state.supervisor.stop_all().await;
    drop(first);

    // Restarted, beta starts first this time: it keeps its uid, not the lowest free one.
    let second = platform(dir.path(), &vault, uids(range)).await;
    second
        .state
        .servers
        .set_enabled("alpha", false)
        .await
        .expect("disable alpha");
    assert_eq!(live_uid(&second, beta).await.0, beta_uid);
    assert!(second.state.supervisor.live(alpha).is_none());
    second
        .state
        .servers
        .set_enabled("alpha", true)
        .await
        .expect("enable alpha");
    assert_eq!(live_uid(&second, alpha).await.0, alpha_uid);
    assert_eq!(stored_uid(&second, alpha).await, alpha_uid);
    assert_eq!(stored_uid(&second, beta).await, beta_uid);
    second.state.supervisor.stop_all().await;
}

#[tokio::test]
async fn a_redeploy_keeps_the_servers_uid() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = Arc::new(Vault::generate());
    let platform = platform(dir.path(), &vault, uids(2_100_100..=2_100_109)).await;
    let server = create(&platform, "gamma").await;
    let (uid, _) = live_uid(&platform, server).await;
    assert_eq!(uid, Some(2_100_100));
    // A change of its runtime (written with every column of the row), then a redeploy.
    let mut runtime = platform
        .state
        .store
        .server_by_id(server)
        .await
        .expect("the server")
        .runtime
        .expect("a runtime");
    runtime.limits.open_files = Some(512);
    platform
        .state
        .servers
        .update(
            "gamma",
            gumstack_platform::servers::ServerPatch {
                runtime: Some(Some(runtime)),
                ..Default::default()
            },
        )
        .await
        .expect("updated");
    platform
        .state
        .servers
        .redeploy("gamma")
        .await
        .expect("redeploy");
    assert_eq!(stored_uid(&platform, server).await, uid);
    assert_eq!(live_uid(&platform, server).await.0, uid);
    platform.state.supervisor.stop_all().await;
}

#[tokio::test]
async fn a_uid_outside_a_range_configured_later_is_replaced() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = Arc::new(Vault::generate());
    let first = platform(dir.path(), &vault, uids(2_100_200..=2_100_209)).await;
    let server = create(&first, "delta").await;
    assert_eq!(live_uid(&first, server).await.0, Some(2_100_200));
    first.state.supervisor.stop_all().await;
    drop(first);

    // The log says so (the deployments run on this test's thread, where the capture is).
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let second = platform(dir.path(), &vault, uids(2_100_300..=2_100_309)).await;
    assert_eq!(live_uid(&second, server).await.0, Some(2_100_300));
    assert_eq!(stored_uid(&second, server).await, Some(2_100_300));
    second.state.supervisor.stop_all().await;
    let logs = String::from_utf8(captured.0.lock().expect("the log").clone()).expect("utf-8");
    assert!(
        logs.lines().any(|line| line.contains("WARN")
            && line.contains("the server's uid lies outside --server-uid-range 2100300-2100309: it gets a new one")
            && line.contains("server=delta old_uid=2100200 uid=2100300")),
        "{logs}"
    );
}

/// Collects what the log subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("the log").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_server_finding_its_range_exhausted_runs_under_the_platforms_uid_or_not_when_strict() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = Arc::new(Vault::generate());
    let range = 2_100_400..=2_100_400;
    let first = platform(dir.path(), &vault, uids(range.clone())).await;
    let holder = create(&first, "holder").await;
    assert_eq!(live_uid(&first, holder).await.0, Some(2_100_400));
    let late = create(&first, "late").await;
    let (uid, missing) = live_uid(&first, late).await;
    assert_eq!(uid, None);
    assert_eq!(
        missing,
        [
            "the server runs under the platform's uid: every uid of the server range 2100400-2100400 is taken by another server"
        ]
    );
    assert_eq!(stored_uid(&first, late).await, None);
    first.state.supervisor.stop_all().await;
    drop(first);

    // Strict isolation refuses to start it; the deployment says why.
    let strict = platform(
        dir.path(),
        &vault,
        Isolation {
            strict: true,
            ..uids(range)
        },
    )
    .await;
    strict
        .state
        .servers
        .set_enabled("holder", false)
        .await
        .expect("disable the holder");
    let mut failed = None;
    for _ in 0..600 {
        Arc::clone(&strict.state.supervisor)
            .reconcile()
            .await
            .expect("reconcile");
        let deployments = strict
            .state
            .store
            .list_deployments(late, 1)
            .await
            .expect("deployments");
        if let Some(deployment) = deployments
            .into_iter()
            .find(|d| d.status == DeploymentStatus::Failed)
        {
            failed = Some(deployment);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = failed.expect("the late server's deployment failed");
    let error = failed.error.expect("a reason");
    assert!(
        error.contains("strict isolation is on and a layer is missing: the server runs under the platform's uid: every uid of the server range 2100400-2100400 is taken"),
        "{error}"
    );
    assert!(strict.state.supervisor.live(late).is_none());
}

/// The store's allocation, root or not: servers launched at once get different uids, the
/// lowest of the range; one whose range is taken gets none and changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn servers_assigned_uids_at_once_never_share_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = Arc::new(Vault::generate());
    let platform = platform(dir.path(), &vault, uids(2_100_500..=2_100_509)).await;
    let mut servers = Vec::new();
    for n in 0..12 {
        servers.push(create(&platform, &format!("s{n}")).await);
    }
    let range = 2_100_500..=2_100_509;
    let tasks: Vec<_> = servers
        .iter()
        .map(|id| {
            let store = Arc::clone(&platform.state.store);
            let range = range.clone();
            let id = *id;
            tokio::spawn(async move { store.assign_server_uid(id, range).await })
        })
        .collect();
    let mut given = Vec::new();
    let mut exhausted = 0;
    for task in tasks {
        match task.await.expect("joined").expect("assigned") {
            UidAssignment::Assigned {
                uid,
                replaced: None,
            } => given.push(uid),
            UidAssignment::Exhausted => exhausted += 1,
            other => panic!("{other:?}"),
        }
    }
    given.sort_unstable();
    assert_eq!(given, range.clone().collect::<Vec<_>>());
    assert_eq!(exhausted, 2);
    // Asked again, each keeps its own.
    for id in &servers {
        let stored = stored_uid(&platform, *id).await;
        let again = platform
            .state
            .store
            .assign_server_uid(*id, range.clone())
            .await
            .expect("assigned");
        match stored {
            Some(uid) => assert_eq!(again, UidAssignment::Kept(uid)),
            None => assert_eq!(again, UidAssignment::Exhausted),
        }
    }
    // A server of the range deleted frees its uid for the next one asking.
    let (freed, waiting) = {
        let mut holder = None;
        let mut waiting = None;
        for id in &servers {
            match stored_uid(&platform, *id).await {
                Some(2_100_503) => holder = Some(*id),
                None => waiting = Some(*id),
                _ => {}
            }
        }
        (holder.expect("a holder"), waiting.expect("one waits"))
    };
    let slug = platform
        .state
        .store
        .server_by_id(freed)
        .await
        .expect("the server")
        .slug;
    platform.state.servers.delete(&slug).await.expect("deleted");
    assert_eq!(
        platform
            .state
            .store
            .assign_server_uid(waiting, range)
            .await
            .expect("assigned"),
        UidAssignment::Assigned {
            uid: 2_100_503,
            replaced: None
        }
    );
}

/// A range with 0 in it never hands out root's uid.
#[tokio::test]
async fn uid_zero_is_never_assigned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = Arc::new(Vault::generate());
    let platform = platform(dir.path(), &vault, Isolation::off()).await;
    let server = create(&platform, "zero").await;
    assert_eq!(
        platform
            .state
            .store
            .assign_server_uid(server, 0..=0)
            .await
            .expect("asked"),
        UidAssignment::Exhausted
    );
    assert_eq!(
        platform
            .state
            .store
            .assign_server_uid(server, 0..=5)
            .await
            .expect("asked"),
        UidAssignment::Assigned {
            uid: 1,
            replaced: None
        }
    );
}
