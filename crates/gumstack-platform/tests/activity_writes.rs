//! The activity log's write side: a call through the gateway becomes a row with the right
//! fields, redacted of the caller's token and the server's env values; a denied call is
//! stored as denied; a clean stop flushes the queue; a full queue leaves a visible count of
//! lost records; old rows are pruned.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::routing::post;
use base64::Engine as _;
use gumstack_gateway::{CallLog as _, CallRecord, CallStart, CallStatus, Captured};
use gumstack_platform::activity::ActivitySettings;
use gumstack_platform::clock::ManualClock;
use gumstack_platform::oauth::tokens::issue_access_token;
use gumstack_platform::servers::NewServer;
use gumstack_platform::store::sqlite::SqliteStore;
use gumstack_platform::store::{
    ActivityWrites as _, CallStatus as StoredStatus, Grant, NewActivity, Role, RuntimeSpec, Store,
    Uuid, now,
};
use gumstack_platform::vault::Vault;
use gumstack_platform::{Platform, PlatformOptions};
use gumstack_runtime::{Deployment, DeploymentStatus, LaunchSpec, Runtime, StartError};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use tokio::sync::watch;

const CONFIG: &str = "name: Echo\nauth:\n  type: none\n";
const REDACTED: &str = "****SECRET_REDACTED****";
const GREETING: &str = "Bonjour-env-value-7731";
/// How long the `slow` tool takes.
const SLOW_CALL: Duration = Duration::from_millis(1500);

/// A runtime whose "process" is an in-process HTTP server: `echo` answers with the env var
/// `GREETING` followed by its arguments; `fail` reports a tool error; `slow` answers after
/// [`SLOW_CALL`].
#[derive(Debug, Default)]
struct EchoRuntime;

#[derive(Debug)]
struct EchoDeployment {
    addr: SocketAddr,
    status: watch::Sender<DeploymentStatus>,
}

#[async_trait::async_trait]
impl Deployment for EchoDeployment {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
    fn status(&self) -> watch::Receiver<DeploymentStatus> {
        self.status.subscribe()
    }
    fn pid(&self) -> Option<u32> {
        None
    }
    fn logs(&self) -> Vec<String> {
        Vec::new()
    }
    fn containment(&self) -> gumstack_runtime::Containment {
        gumstack_runtime::Containment {
            uid: None,
            missing: vec!["an in-process test server, not a process".to_owned()],
        }
    }
    async fn stop(&self) {
        let _ = self.status.send(DeploymentStatus::Stopped);
    }
}

#[async_trait::async_trait]
impl Runtime for EchoRuntime {
    async fn start(&self, spec: LaunchSpec) -> Result<Box<dyn Deployment>, StartError> {
        let greeting = spec
            .env
            .iter()
            .find(|(name, _)| name == "GREETING")
            .map(|(_, value)| value.expose_secret().to_owned())
            .unwrap_or_default();
        let router = axum::Router::new().route(
            "/mcp",
            post(move |Json(request): Json<Value>| {
                let greeting = greeting.clone();
                async move {
                    let id = request["id"].clone();
                    let params = &request["params"];
                    let result = match request["method"].as_str() {
                        Some("tools/call") if params["name"] == "fail" => json!({
                            "content": [{"type": "text", "text": "it broke"}],
                            "isError": true
                        }),
                        Some("tools/call") if params["name"] == "slow" => {
                            tokio::time::sleep(SLOW_CALL).await;
                            json!({"content": [{"type": "text", "text": "done"}], "isError": false})
                        }
                        Some("tools/call") => json!({
                            "content": [{"type": "text",
                                "text": format!("{greeting} {}", params["arguments"])}],
                            "isError": false
                        }),
                        _ => json!({"tools": []}),
                    };
                    Json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let (status, _) = watch::channel(DeploymentStatus::Live);
        Ok(Box::new(EchoDeployment { addr, status }))
    }
}

struct Running {
    platform: Platform,
    store: Arc<SqliteStore>,
    base: String,
    slug: String,
    admin_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    dir: tempfile::TempDir,
}

impl Running {
    async fn start(activity: ActivitySettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("gumstack.db"))
                .await
                .unwrap(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut options = PlatformOptions::new(dir.path());
        options.activity = activity;
        let dyn_store: Arc<dyn Store> = store.clone();
        let platform = Platform::assemble(
            dyn_store,
            Arc::new(Vault::generate()),
            Arc::new(EchoRuntime),
            &options,
            addr,
        )
        .await
        .unwrap();
        let admin = platform.ensure_first_admin().await.unwrap().unwrap().user;
        let admin_token = platform
            .state
            .api_tokens
            .create(&admin, "test", None)
            .await
            .unwrap()
            .token
            .expose_secret()
            .to_owned();
        let server = platform
            .state
            .servers
            .create(NewServer {
                config_yaml: CONFIG.to_owned(),
                runtime: Some(RuntimeSpec {
                    command: "echo-server".into(),
                    args: Vec::new(),
                    working_dir: None,
                    limits: Default::default(),
                }),
                slug: Some("echo".into()),
                ..NewServer::default()
            })
            .await
            .unwrap();
        platform
            .state
            .servers
            .set_env("echo", "GREETING", &SecretString::from(GREETING))
            .await
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(platform.clone().run(listener, async move {
            let _ = stopped.await;
        }));
        // Wait until the deployment is live.
        for _ in 0..200 {
            if platform.state.supervisor.live(server.id).is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            platform,
            store,
            base: format!("http://{addr}"),
            slug: server.slug,
            admin_token,
            stop: Some(stop),
            served: Some(served),
            dir,
        }
    }

    /// An access token of a new member on the echo server, with the member's id.
    async fn member_token(&self) -> (Uuid, String) {
        let state = &self.platform.state;
        let member = state
            .accounts
            .create("member@example.com", Role::Member, None)
            .await
            .unwrap()
            .user;
        let server = state.servers.resolve(&self.slug).await.unwrap();
        let grant = Grant {
            id: Uuid::new_v4(),
            user_id: member.id,
            client_id: "test-client".into(),
            server_id: server.id,
            resource: state.urls.mcp_url(&self.slug),
            scope: None,
            created_at: now(),
            revoked_at: None,
        };
        state.store.insert_grant(&grant).await.unwrap();
        let token = issue_access_token(&state.keys, &state.urls.base(), &grant, state.clock.now());
        (member.id, token)
    }

    /// `GET path` of the API with `token`: the JSON answer, which must be a 200.
    async fn get(&self, token: &str, path: &str) -> Value {
        let answer = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "GET {path}");
        answer.json().await.unwrap()
    }

    async fn call(&self, token: &str, tool: &str, arguments: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}});
        reqwest::Client::new()
            .post(format!("{}/mcp/{}", self.base, self.slug))
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Stops the platform cleanly (its writer flushes).
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            tokio::time::timeout(Duration::from_secs(20), served)
                .await
                .expect("the platform stops")
                .unwrap()
                .unwrap();
        }
    }

    async fn rows(&self) -> Vec<sqlx::sqlite::SqliteRow> {
        sqlx::query("SELECT * FROM activity ORDER BY id")
            .fetch_all(self.store.pool())
            .await
            .unwrap()
    }

    /// Every byte of the database's files.
    fn database_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("gumstack.db")
            {
                bytes.extend(std::fs::read(path).unwrap());
            }
        }
        bytes
    }
}

/// Settings that write only when stopped (or when a batch is full): the stop must flush.
fn slow_flush() -> ActivitySettings {
    ActivitySettings {
        flush_every: Duration::from_secs(60),
        ..ActivitySettings::default()
    }
}

fn text(row: &sqlx::sqlite::SqliteRow, column: &str) -> Option<String> {
    sqlx::Row::get(row, column)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn a_call_is_stored_with_its_fields_and_without_its_secrets_once_stopped() {
    let mut running = Running::start(slow_flush()).await;
    let (member, token) = running.member_token().await;
    let before = SystemTime::now();
    let answer = running
        .call(&token, "echo", json!({"note": "my key is", "key": token}))
        .await;
    let echoed = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        echoed.starts_with(GREETING),
        "the client gets the real answer: {answer}"
    );
    assert!(running.platform.state.activity.in_flight().is_empty());
    assert!(
        running.rows().await.is_empty(),
        "nothing written before the flush"
    );
    running.stop().await;

    let rows = running.rows().await;
    assert_eq!(rows.len(), 1, "the stop flushed the queue");
    let row = &rows[0];
    let server = running
        .platform
        .state
        .servers
        .resolve("echo")
        .await
        .unwrap();
    assert_eq!(text(row, "server_id").unwrap(), server.id.to_string());
    assert_eq!(text(row, "user_id").unwrap(), member.to_string());
    assert_eq!(text(row, "client_id").as_deref(), Some("test-client"));
    assert_eq!(text(row, "tool").as_deref(), Some("echo"));
    assert_eq!(text(row, "status").as_deref(), Some("success"));
    let started: i64 = sqlx::Row::get(row, "started_at");
    let before_ms = before
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (before_ms..before_ms + 10_000).contains(&started),
        "{started} vs {before_ms}"
    );
    let duration: i64 = sqlx::Row::get(row, "duration_us");
    assert!(duration > 0 && duration < 10_000_000, "{duration}");
    let input = text(row, "input").unwrap();
    assert!(input.contains("my key is"), "{input}");
    assert!(input.contains(REDACTED), "{input}");
    let output = text(row, "output").unwrap();
    assert!(output.contains(REDACTED), "{output}");
    assert!(!output.contains("Bonjour"), "{output}");
    assert_eq!(text(row, "error"), None);

    let bytes = running.database_bytes();
    let b64 = base64::engine::general_purpose::STANDARD;
    for secret in [token.clone(), GREETING.to_owned()] {
        assert!(
            !contains(&bytes, &secret),
            "a raw secret is in the database"
        );
        assert!(
            !contains(&bytes, &b64.encode(&secret)),
            "a base64 secret is in the database"
        );
    }
}

#[tokio::test]
async fn denied_and_failed_calls_are_stored_with_their_status() {
    let mut running = Running::start(ActivitySettings::default()).await;
    let (member, token) = running.member_token().await;
    // The default group may not call `echo`.
    let client = reqwest::Client::new();
    let groups = running.get(&running.admin_token, "/api/groups").await;
    let group = groups["groups"][0]["id"].as_str().unwrap().to_owned();
    let changed = client
        .put(format!("{}/api/groups/{group}/servers/echo", running.base))
        .bearer_auth(&running.admin_token)
        .json(&json!({"enabled": true, "default": "allow", "tools": {"echo": "deny"}}))
        .send()
        .await
        .unwrap();
    assert!(changed.status().is_success(), "{:?}", changed.text().await);
    let denied = running.call(&token, "echo", json!({"x": 1})).await;
    assert_eq!(denied["error"]["code"], -32003, "{denied}");
    let failed = running.call(&token, "fail", json!({})).await;
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    running.stop().await;

    let rows = running.rows().await;
    let summary: Vec<(String, String, Option<String>)> = rows
        .iter()
        .map(|row| {
            (
                text(row, "tool").unwrap(),
                text(row, "status").unwrap(),
                text(row, "error"),
            )
        })
        .collect();
    assert_eq!(summary.len(), 2, "{summary:?}");
    assert_eq!(summary[0].0, "echo");
    assert_eq!(summary[0].1, "denied");
    assert!(
        summary[0]
            .2
            .as_deref()
            .unwrap()
            .contains("permission denied"),
        "{summary:?}"
    );
    assert_eq!(
        summary[1],
        ("fail".into(), "error".into(), Some("it broke".into()))
    );
    assert!(
        rows.iter()
            .all(|row| text(row, "user_id").unwrap() == member.to_string())
    );
}

/// A call start as the gateway reports it.
fn start(call_id: &str) -> CallStart {
    CallStart {
        server_id: Uuid::new_v4().to_string(),
        user_id: Uuid::new_v4().to_string(),
        client_id: "client".into(),
        call_id: call_id.into(),
        tool: "greet".into(),
        started_at: SystemTime::now(),
        input: Some(Captured::cut(br#"{"name":"Ada"}"#, 1024)),
        token: None,
    }
}

fn record(call: CallStart) -> CallRecord {
    CallRecord {
        call,
        status: CallStatus::Success,
        duration: Duration::from_millis(3),
        output: None,
        error: None,
    }
}

async fn assembled(options: PlatformOptions) -> (Platform, Arc<SqliteStore>) {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let dyn_store: Arc<dyn Store> = store.clone();
    let platform = Platform::assemble(
        dyn_store,
        Arc::new(Vault::generate()),
        Arc::new(EchoRuntime),
        &options,
        ([127, 0, 0, 1], 8080).into(),
    )
    .await
    .unwrap();
    (platform, store)
}

#[tokio::test]
async fn calls_in_progress_are_listed_until_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let (platform, _) = assembled(PlatformOptions::new(dir.path())).await;
    let activity = &platform.state.activity;
    let end = activity.begin(&start("call-1")).await;
    let listed = activity.in_flight();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].call_id, "call-1");
    assert_eq!(listed[0].tool, "greet");
    assert_eq!(listed[0].client_id, "client");
    end.end(record(start("call-1")));
    assert!(activity.in_flight().is_empty());
}

#[tokio::test]
async fn a_full_queue_leaves_a_count_of_lost_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = PlatformOptions::new(dir.path());
    options.activity = ActivitySettings {
        queue: 2,
        queue_wait: Duration::from_millis(10),
        ..ActivitySettings::default()
    };
    let (platform, store) = assembled(options).await;
    let activity = platform.state.activity.clone();
    // No writer runs yet: two calls fill the queue, three more find it full.
    for i in 0..5 {
        let id = format!("call-{i}");
        let end = activity.begin(&start(&id)).await;
        end.end(record(start(&id)));
    }
    activity.run(async {}).await;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM activity")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(stored, 2);
    let lost: Vec<(i64, i64)> = sqlx::query_as("SELECT at, records FROM activity_lost")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0].1, 3);
    assert!(lost[0].0 > 1_600_000_000_000, "milliseconds: {}", lost[0].0);
}

#[tokio::test]
async fn rows_older_than_the_retention_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(1_800_000_000));
    let mut options = PlatformOptions::new(dir.path());
    options.clock = clock.clone();
    options.activity = ActivitySettings {
        retention_days: 30,
        prune_batch: 3,
        ..ActivitySettings::default()
    };
    let (platform, store) = assembled(options).await;
    let day_ms = 86_400_000;
    let now_ms = 1_800_000_000_000;
    let row = |age_days: i64, tool: &str| NewActivity {
        server_id: "s".into(),
        user_id: "u".into(),
        client_id: None,
        tool: tool.into(),
        status: StoredStatus::Success,
        started_at: now_ms - age_days * day_ms,
        duration_us: 10,
        input: None,
        input_truncated: false,
        output: None,
        output_truncated: false,
        error: None,
    };
    let mut rows: Vec<NewActivity> = (0..7).map(|i| row(31 + i, "old")).collect();
    rows.push(row(29, "recent"));
    rows.push(row(0, "today"));
    store.insert_activity(&rows).await.unwrap();
    store
        .record_activity_lost(now_ms - 40 * day_ms, 4)
        .await
        .unwrap();

    let deleted = platform.state.activity.prune().await.unwrap();
    assert_eq!(deleted, 7, "in batches of 3");
    let left: Vec<String> = sqlx::query_scalar("SELECT tool FROM activity ORDER BY started_at")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(left, ["recent", "today"]);
    let lost: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM activity_lost")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(lost, 0);

    // A day later the 29-day-old row is 30 days old and still kept; two days later it goes.
    clock.advance(86_400);
    assert_eq!(platform.state.activity.prune().await.unwrap(), 0);
    clock.advance(86_400);
    assert_eq!(platform.state.activity.prune().await.unwrap(), 1);
}

#[tokio::test]
async fn with_the_log_off_nothing_is_recorded() {
    let mut running = Running::start(ActivitySettings {
        enabled: false,
        ..ActivitySettings::default()
    })
    .await;
    let (_, token) = running.member_token().await;
    let answer = running.call(&token, "echo", json!({"a": 1})).await;
    assert!(answer["result"].is_object(), "{answer}");
    running.stop().await;
    assert!(running.rows().await.is_empty());
}

#[tokio::test]
async fn a_call_is_listed_in_progress_by_the_api_until_it_ends() {
    let mut running = Running::start(ActivitySettings::default()).await;
    let (member, token) = running.member_token().await;
    let in_progress = async |token: &str| {
        running.get(token, "/api/activity?status=in_progress").await["calls"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(in_progress(&running.admin_token).await.is_empty());

    let call = {
        let (base, slug, token) = (running.base.clone(), running.slug.clone(), token.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}/mcp/{slug}"))
                .bearer_auth(&token)
                .header("accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "slow", "arguments": {}}}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    // The admin sees the call while it runs: no id yet, the member, the tool, the time so far.
    let listed = loop {
        let calls = in_progress(&running.admin_token).await;
        if !calls.is_empty() {
            break calls;
        }
        assert!(
            !call.is_finished(),
            "the slow call ended before it was listed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(listed.len(), 1, "{listed:?}");
    let listed = &listed[0];
    assert_eq!(listed["status"], "in_progress");
    assert_eq!(listed["tool"], "slow");
    assert_eq!(listed["user_id"], member.to_string());
    assert_eq!(listed["client_id"], "test-client");
    assert!(listed.get("id").is_none(), "{listed}");
    assert!(listed["running_ms"].as_i64().unwrap() >= 0);
    // Other filters apply to it: another tool's calls in progress are none.
    let other = running
        .get(
            &running.admin_token,
            "/api/activity?status=in_progress&tool=echo",
        )
        .await;
    assert_eq!(other["calls"], json!([]));
    // Another member does not see it.
    let state = &running.platform.state;
    let stranger = state
        .accounts
        .create("stranger@example.com", Role::Member, None)
        .await
        .unwrap()
        .user;
    let stranger_token = state
        .api_tokens
        .create(&stranger, "test", None)
        .await
        .unwrap()
        .token
        .expose_secret()
        .to_owned();
    assert!(in_progress(&stranger_token).await.is_empty());

    let answer = call.await.unwrap();
    assert_eq!(answer["result"]["content"][0]["text"], "done", "{answer}");
    // Once ended it is no longer in progress, and it is stored as a success.
    assert!(in_progress(&running.admin_token).await.is_empty());
    running.stop().await;
    let rows = running.rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(text(&rows[0], "tool").as_deref(), Some("slow"));
    assert_eq!(text(&rows[0], "status").as_deref(), Some("success"));
}
