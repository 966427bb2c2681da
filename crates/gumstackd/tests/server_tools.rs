//! A server's tools and deployments end to end, with the real binaries: `gumstackd demo` lists
//! each example's tools itself when it deploys it (the SDK answers the platform's own
//! identity), the Tools tab shows them and an admin's click there decides the next
//! `tools/call` of a real MCP client, and the Deployments tab shows a process's output with
//! the env value it printed redacted — in the page, the API and the database file.

mod common;

use std::time::{Duration, Instant};

use common::oauth_demo::token_for;
use common::{Api, Browser, OAuthMcp, Running, hidden_fields, sibling_binary, text_of};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

const REDACTED: &str = "****SECRET_REDACTED****";

async fn tools_of(api: &Api, slug: &str) -> Vec<(String, String)> {
    let (status, body) = api
        .send(
            reqwest::Method::GET,
            &format!("/api/servers/{slug}/tools"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The deployments of `slug`, once its generation `generation` is live with its tools listed.
async fn wait_discovered(api: &Api, slug: &str, generation: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = api
            .send(
                reqwest::Method::GET,
                &format!("/api/servers/{slug}/deployments"),
                None,
            )
            .await;
        let latest = &body["deployments"][0];
        if latest["generation"] == generation && latest["status"] == "live" {
            return body;
        }
        assert!(Instant::now() < deadline, "{slug} #{generation}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts one cell of the Tools tab, as the page's own form does.
async fn set_cell(browser: &Browser, slug: &str, group: &str, tool: &str, decision: &str) {
    let page = browser
        .http
        .get(format!("{}/servers/{slug}/tools", browser.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = format!("data-group=\"{group}\" data-tool=\"{tool}\"");
    let cell = page
        .split(&marker)
        .nth(1)
        .expect("the cell")
        .split("</td>")
        .next()
        .unwrap();
    let mut form = hidden_fields(cell);
    form.push(("decision".into(), decision.into()));
    let reply = browser
        .http
        .post(format!("{}/servers/{slug}/tools/access", browser.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.status().as_u16(),
        303,
        "{}",
        reply.text().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_platform_lists_each_examples_tools_and_redacts_what_a_process_prints() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let mut demo = Running::demo(&data_dir);
    let base = demo.read_until("dashboard: ");
    let login = demo.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();
    for _ in 0..3 {
        demo.read_until("server: ");
    }
    let api = Api::new(&base, token_for(&data_dir));

    // Every example's tools were listed by its process (the `cred` and `oauth` ones too, with
    // no user to fetch credentials for) and match its config.yaml.
    for (slug, tools) in [
        ("greeter", &["env_names", "greet", "whoami"][..]),
        ("keys", &["key_suffix", "whoami"][..]),
    ] {
        let body = wait_discovered(&api, slug, 1).await;
        assert_eq!(
            body["deployments"][0]["discovery"],
            json!({ "status": "found", "tools": tools.len() }),
            "{slug}"
        );
        let expected: Vec<(String, String)> = tools
            .iter()
            .map(|t| ((*t).to_owned(), "both".to_owned()))
            .collect();
        assert_eq!(tools_of(&api, slug).await, expected, "{slug}");
    }

    // The admin denies `greet` to the default group on the Tools tab; a real MCP client's next
    // call is refused, and allowed again after the next click.
    let browser = Browser::new(&base);
    browser
        .log_in(&format!("{base}/login"), email, password)
        .await;
    let (_, groups) = api.send(reqwest::Method::GET, "/api/groups", None).await;
    let default = groups["groups"][0]["id"].as_str().unwrap().to_owned();
    let mcp = OAuthMcp::connect(&base, &format!("{base}/mcp/greeter"), email, password).await;
    assert!(text_of(&mcp.call("greet", json!({ "name": "Ada" })).await).contains("Ada"));
    set_cell(&browser, "greeter", &default, "greet", "deny").await;
    let params = CallToolRequestParams::new("greet")
        .with_arguments(json!({ "name": "Ada" }).as_object().unwrap().clone());
    let denied = mcp
        .service
        .call_tool(params)
        .await
        .expect_err("the next call is refused");
    assert!(denied.to_string().contains("-32003"), "{denied}");
    set_cell(&browser, "greeter", &default, "greet", "default").await;
    assert!(text_of(&mcp.call("greet", json!({ "name": "Bo" })).await).contains("Bo"));
    drop(mcp);

    // A process that prints its env var at start: the output is kept, redacted.
    let secret = format!("printed-secret-{}", std::process::id());
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            "/api/servers/greeter/env/GREETING",
            Some(json!({ "value": secret })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let example = sibling_binary("example-none-server");
    let (status, body) = api
        .send(
            reqwest::Method::PATCH,
            "/api/servers/greeter",
            Some(json!({ "runtime": {
                "command": "/bin/sh",
                "args": ["-c", "echo \"greeting is $GREETING\"; exec \"$0\"", example.to_str().unwrap()],
            } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .send(reqwest::Method::POST, "/api/servers/greeter/redeploy", None)
        .await;
    assert_eq!(status, 202, "{body}");
    let generation = body["deploy_generation"].as_i64().unwrap();
    let history = wait_discovered(&api, "greeter", generation).await;
    let output = history["deployments"][0]["output"].as_str().unwrap();
    assert!(
        output.contains(&format!("greeting is {REDACTED}")),
        "{output}"
    );
    assert!(!history.to_string().contains(&secret));
    // The previous deployment is stopped once the new one is live (its process gets a grace
    // period), and then keeps its own last output.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = api
            .send(
                reqwest::Method::GET,
                "/api/servers/greeter/deployments",
                None,
            )
            .await;
        if body["deployments"][1]["status"] == "stopped" {
            assert!(!body.to_string().contains(&secret));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the previous deployment runs on: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let page = browser
        .http
        .get(format!("{base}/servers/greeter/deployments"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("greeting is {REDACTED}")), "{page}");
    assert!(!page.contains(&secret), "the page shows the raw value");

    // Stopped: the database file holds no raw value either (the output of the stopped
    // deployment was written at its stop).
    demo.signal("TERM");
    demo.child.wait().unwrap();
    for file in ["gumstack.db", "gumstack.db-wal"] {
        let path = data_dir.join(file);
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{file} holds the raw value"
            );
        }
    }
}
