//! End to end with the real binaries: the platform hosts the example server; an MCP client
//! logs in through OAuth (the official Rust SDK's `OAuthState`) and calls tools through the
//! gateway; the developer's env var and the caller's identity reach the tool; reserved and
//! platform variables never do; the server process refuses calls the platform did not sign
//! for it; server processes never outlive the platform.

mod common;

use common::{
    Api, OAuthMcp, Running, assert_all_exit, descendants, repo_root, sibling_binary, text_of,
};
use gumstack_platform::clock::{Clock as _, SystemClock};
use gumstack_platform::keys::SigningKeys;
use gumstack_platform::oauth::tokens::mint_identity;
use gumstack_platform::servers::Servers;
use gumstack_platform::store::Store;
use gumstack_platform::store::sqlite::SqliteStore;
use gumstack_platform::vault::Vault;
use serde_json::json;
use std::sync::Arc;

impl Api {
    /// Asks for a redeploy and waits until that generation is live; its direct MCP URL.
    async fn redeploy_and_wait(&self, slug: &str) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                &format!("/api/servers/{slug}/redeploy"),
                None,
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let generation = body["deploy_generation"].as_i64().unwrap();
        self.wait_live(slug, generation).await["live"]["direct_url"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hosted_none_server_gets_its_developers_env_vars_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let canary = format!("platform-canary-{}", std::process::id());
    let mut platform = Running::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        &[("PLATFORM_ONLY_CANARY", canary.as_str())],
    );
    let base = platform.read_until("dashboard: ");
    let login = platform.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();
    assert_eq!(email, "admin@gumstack.local");
    let api = Api {
        base: base.clone(),
        token: common::api_token(&data_dir),
        http: reqwest::Client::new(),
    };

    // Register the example `none` server through the API.
    let example = sibling_binary("example-none-server");
    let config_yaml =
        std::fs::read_to_string(repo_root().join("examples/none-server/config.yaml")).unwrap();
    let (status, server) = api
        .send(
            reqwest::Method::POST,
            "/api/servers",
            Some(json!({
                "config_yaml": config_yaml,
                "slug": "greeter",
                "runtime": { "command": example.to_str().unwrap() }
            })),
        )
        .await;
    assert_eq!(status, 201, "{server}");
    assert_eq!(server["auth_type"], "none");
    let mcp_url = server["mcp_url"].as_str().unwrap().to_owned();
    assert_eq!(mcp_url, format!("{base}/mcp/greeter"));
    let server_id = server["id"].as_str().unwrap().to_owned();

    // The developer sets an env var; a redeploy applies it.
    let greeting = format!("Bonjour-{}", std::process::id());
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            "/api/servers/greeter/env/GREETING",
            Some(json!({ "value": greeting })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let direct_url = api.redeploy_and_wait("greeter").await;

    // An MCP client logs in through OAuth and calls tools through the gateway.
    let mcp = OAuthMcp::connect(&base, &mcp_url, email, password).await;
    let result = mcp.call("greet", json!({ "name": "Ada" })).await;
    assert_eq!(text_of(&result), format!("{greeting}, Ada!"), "{result}");
    let who = text_of(&mcp.call("whoami", json!({})).await);
    assert!(who.contains(email), "the tool sees the caller: {who}");
    // A refreshed token works too.
    let before = mcp.access_token().await;
    mcp.refresh().await;
    assert_ne!(mcp.access_token().await, before, "a new access token");
    let again = mcp.call("greet", json!({ "name": "Bo" })).await;
    assert_eq!(text_of(&again), format!("{greeting}, Bo!"));

    // The server process refuses what the platform did not sign, or signed for another server.
    let http = reqwest::Client::new();
    let rpc = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let unsigned = http
        .post(&direct_url)
        .header("accept", "application/json, text/event-stream")
        .json(&rpc)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401, "{}", unsigned.text().await.unwrap());
    let forged = {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&data_dir.join("gumstack.db"))
                .await
                .unwrap(),
        );
        let vault = Vault::open(&data_dir.join("master.key")).unwrap();
        let keys = SigningKeys::load_or_create(&store, &vault).await.unwrap();
        let another_server = gumstack_platform::store::Uuid::new_v4();
        let user = store.user_by_email(email).await.unwrap();
        mint_identity(
            &keys,
            &base,
            another_server,
            &user,
            "test-client",
            SystemClock.now(),
        )
    };
    let misdirected = http
        .post(&direct_url)
        .header("accept", "application/json, text/event-stream")
        .header("gumstack-identity", forged)
        .json(&rpc)
        .send()
        .await
        .unwrap();
    assert_eq!(
        misdirected.status(),
        401,
        "{}",
        misdirected.text().await.unwrap()
    );

    // A reserved name is refused by the API...
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            "/api/servers/greeter/env/GUMSTACK_SERVER_TOKEN",
            Some(json!({ "value": "forged" })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "reserved_env_name");

    // ...and one written straight into the store is still filtered at process start.
    {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&data_dir.join("gumstack.db"))
                .await
                .unwrap(),
        );
        let vault = Arc::new(Vault::open(&data_dir.join("master.key")).unwrap());
        let servers = Servers::new(store, vault, Arc::default());
        let id = server_id.parse().unwrap();
        servers
            .store_env_unchecked(id, "GUMSTACK_INJECTED", "evil")
            .await
            .unwrap();
        servers
            .store_env_unchecked(id, "gumloop_injected", "evil")
            .await
            .unwrap();
        servers
            .store_env_unchecked(id, "ENVIRONMENT", "local")
            .await
            .unwrap();
    }
    api.redeploy_and_wait("greeter").await;
    let names = text_of(&mcp.call("env_names", json!({})).await);
    for expected in [
        "GREETING",
        "GUMSTACK_SERVER_ID",
        "GUMSTACK_BACKEND_URL",
        "GUMSTACK_MCP_URL",
        "GUMLOOP_BACKEND_URL",
        "PORT",
        "ENVIRONMENT",
    ] {
        assert!(names.contains(expected), "{expected} missing from {names}");
    }
    for absent in [
        "GUMSTACK_INJECTED",
        "gumloop_injected",
        "PLATFORM_ONLY_CANARY",
        "HOME",
        "CARGO",
        "RUST",
    ] {
        assert!(
            !names.contains(absent),
            "{absent} leaked into the server: {names}"
        );
    }
    // ENVIRONMENT stayed production (a hosted server never runs unauthenticated): the call is
    // still the caller's, and the greeting still the developer's.
    let who = text_of(&mcp.call("whoami", json!({})).await);
    assert!(who.contains(email), "{who}");
    let result = mcp.call("greet", json!({ "name": "Cy" })).await;
    assert_eq!(text_of(&result), format!("{greeting}, Cy!"));

    // Killing the platform outright takes its server processes with it.
    let children = descendants(platform.pid());
    assert!(
        !children.is_empty(),
        "the platform runs the server as its child"
    );
    platform.signal("KILL");
    assert_all_exit(&children);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_prints_its_login_and_hosts_the_examples_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let mut demo = Running::demo(&data_dir);
    let dashboard = demo.read_until("dashboard: ");
    assert!(dashboard.starts_with("http://127.0.0.1:"), "{dashboard}");
    assert!(
        !dashboard.ends_with(":0"),
        "the real port is printed: {dashboard}"
    );
    let login = demo.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();
    assert_eq!(email, "admin@gumstack.local");
    assert!(password.len() >= 20);
    let server = demo.read_until("server: ");
    let (name, url) = server
        .split_once(" (none) ")
        .expect("`<slug> (<auth type>) <url>`");
    assert_eq!(name, "greeter");
    assert_eq!(url, format!("{dashboard}/mcp/greeter"), "the gateway URL");
    let mcp = OAuthMcp::connect(&dashboard, url, email, password).await;
    let result = mcp.call("greet", json!({ "name": "Ada" })).await;
    assert_eq!(text_of(&result), "Hello, Ada!");
    drop(mcp);

    // The printed login works in the login form.
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(format!("{dashboard}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let reply = http
        .post(format!("{dashboard}/login"))
        .form(&[("email", email), ("password", password), ("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 303);
    let home = http
        .get(format!("{dashboard}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Greeter") && home.contains("live"), "{home}");

    // SIGTERM: a clean stop, server processes included.
    let children = descendants(demo.pid());
    assert!(!children.is_empty());
    demo.signal("TERM");
    let status = demo.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_all_exit(&children);

    // A second start on the same data directory prints a fresh password.
    let mut again = Running::demo(&data_dir);
    let login_again = again.read_until("login: ");
    assert_ne!(login_again, login, "a new password at each demo start");
    again.read_until("server: greeter (none) ");
}
