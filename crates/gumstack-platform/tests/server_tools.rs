//! A server's tools and deployments, in-process with stand-in server processes
//! (`common::fake_server`): the platform lists a new deployment's tools with its own identity
//! (which gets no credentials), joins them with config.yaml's, and keeps them when a later
//! listing fails; the Tools tab shows the tools × groups matrix, whose cells an admin changes
//! for the next call and nobody else changes at all; the Deployments tab and API show the
//! history and the processes' output with every env value redacted.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use common::dashboard::{admin, assert_forbidden, assert_redirect, user};
use common::fake_server::{Behaviour, FakeRuntime, pages};
use common::{Harness, Reply};
use gumstack_platform::crypto::{random_token, token_hash};
use gumstack_platform::oauth::tokens::{IDENTITY_TYP, IdentityClaims};
use gumstack_platform::store::{Deployment, DeploymentStatus, Role, Uuid, now};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

const REDACTED: &str = "****SECRET_REDACTED****";
const SECRET: &str = "s3cr3t-value-never-shown";
/// A `none` server whose config.yaml names two tools, one of which its process also lists.
const CONFIG: &str = "name: Tools\nauth:\n  type: none\ntools:\n  - name: greet\n    description: From config\n  - name: legacy\n    description: Only in config\n";

async fn harness(fake: &FakeRuntime) -> Harness {
    Harness::build_with_runtime(Arc::new(fake.clone()), |_| {}).await
}

async fn redeploy(h: &Harness, slug: &str) -> i64 {
    let reply = h
        .admin_api(Method::POST, &format!("/api/servers/{slug}/redeploy"), None)
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let generation = reply.json()["deploy_generation"].as_i64().unwrap();
    h.deploy(slug, generation).await;
    generation
}

fn tool_sources(tools: &Value) -> Vec<(String, String)> {
    tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["source"].as_str().unwrap_or("none").to_owned(),
            )
        })
        .collect()
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_deployment_lists_its_tools_with_the_platforms_own_identity() {
    let fake = FakeRuntime::default();
    fake.set(Behaviour {
        pages: pages(&[&["greet", "whoami"], &["search"], &[]]),
        ..Behaviour::default()
    });
    let h = harness(&fake).await;
    let server = h.create_server(CONFIG, "tools").await;
    h.deploy("tools", 1).await;

    let tools = h
        .admin_api(Method::GET, "/api/servers/tools/tools", None)
        .await;
    assert_eq!(tools.status, StatusCode::OK, "{}", tools.text);
    let tools = tools.json();
    assert_eq!(
        tool_sources(&tools),
        [
            ("greet".to_owned(), "both".to_owned()),
            ("legacy".to_owned(), "config".to_owned()),
            ("search".to_owned(), "discovered".to_owned()),
            ("whoami".to_owned(), "discovered".to_owned()),
        ]
    );
    // The server's own description wins over config.yaml's.
    assert_eq!(tools["tools"][0]["description"], "does greet");
    assert_eq!(tools["tools"][1]["description"], "Only in config");

    // initialize, initialized, then every page, all with one identity naming no user.
    let seen = fake.seen();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "initialize",
            "notifications/initialized",
            "tools/list",
            "tools/list",
            "tools/list"
        ]
    );
    let claims = claims_of(seen[0].identity.as_deref().unwrap());
    assert_eq!(claims["sub"], "gumstack:platform");
    assert_eq!(claims["grp"], "gumstack:platform");
    assert_eq!(claims["cid"], "gumstack:platform");
    assert_eq!(claims["email"], "platform@gumstack.invalid");
    assert_eq!(
        claims["aud"],
        format!("gumstack:server:{}", server["id"].as_str().unwrap())
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );

    let history = h
        .admin_api(Method::GET, "/api/servers/tools/deployments", None)
        .await
        .json();
    assert_eq!(
        history["deployments"][0]["discovery"],
        json!({ "status": "found", "tools": 3 })
    );

    // A redeploy whose process lists other tools replaces the discovered ones.
    fake.set(Behaviour {
        pages: pages(&[&["greet"]]),
        ..Behaviour::default()
    });
    redeploy(&h, "tools").await;
    let tools = h
        .admin_api(Method::GET, "/api/servers/tools/tools", None)
        .await
        .json();
    assert_eq!(
        tool_sources(&tools),
        [
            ("greet".to_owned(), "both".to_owned()),
            ("legacy".to_owned(), "config".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_failed_listing_does_not_fail_the_deployment_and_is_shown_redacted() {
    let fake = FakeRuntime::default();
    fake.set(Behaviour {
        pages: pages(&[&["greet", "whoami"]]),
        ..Behaviour::default()
    });
    let h = harness(&fake).await;
    h.create_server(CONFIG, "tools").await;
    h.admin_api(
        Method::PUT,
        "/api/servers/tools/env/DB_PASSWORD",
        Some(json!({ "value": SECRET })),
    )
    .await;
    h.deploy("tools", 1).await;

    // The next process fails tools/list, and its error message carries an env value.
    fake.set(Behaviour {
        list_error: Some(format!("cannot connect with password {SECRET}")),
        print_env: ["DB_PASSWORD", "GUMSTACK_SERVER_TOKEN", "ENVIRONMENT"]
            .map(str::to_owned)
            .to_vec(),
        ..Behaviour::default()
    });
    redeploy(&h, "tools").await;

    let history = h
        .admin_api(Method::GET, "/api/servers/tools/deployments", None)
        .await;
    assert!(!history.text.contains(SECRET), "{}", history.text);
    let history = history.json();
    let latest = &history["deployments"][0];
    assert_eq!(latest["status"], "live");
    assert_eq!(latest["discovery"]["status"], "failed");
    let error = latest["discovery"]["error"].as_str().unwrap();
    assert!(
        error.contains("tools/list") && error.contains("-32603") && error.contains(REDACTED),
        "{error}"
    );
    let output = latest["output"].as_str().unwrap();
    assert!(
        output.contains(&format!("DB_PASSWORD={REDACTED}")),
        "{output}"
    );
    assert!(
        output.contains(&format!("GUMSTACK_SERVER_TOKEN={REDACTED}")),
        "{output}"
    );
    // What is no secret (the mode, ids, URLs) is left readable.
    assert!(output.contains("ENVIRONMENT=production"), "{output}");
    // The previous deployment is stopped right after the switch.
    for _ in 0..400 {
        let list = h
            .admin_api(Method::GET, "/api/servers/tools/deployments", None)
            .await
            .json();
        if list["deployments"][1]["status"] == "stopped" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The tools found before are kept.
    let tools = h
        .admin_api(Method::GET, "/api/servers/tools/tools", None)
        .await
        .json();
    assert!(tool_sources(&tools).contains(&("whoami".to_owned(), "discovered".to_owned())));

    // The Deployments tab shows it, to an admin, without the value.
    let (cookie, _) = admin(&h).await;
    let page = h.get("/servers/tools/deployments", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(!page.text.contains(SECRET), "{}", page.text);
    assert!(page.text.contains("tools/list failed"), "{}", page.text);
    assert!(
        page.text.contains(&format!("DB_PASSWORD={REDACTED}")),
        "{}",
        page.text
    );
    assert!(page.text.contains("#1") && page.text.contains("#2"));
    assert!(page.text.contains("stopped") && page.text.contains("live"));

    // A member sees neither the tab nor the page, nor the API route.
    let (_, member_cookie, _) = user(&h, "m@example.com", Role::Member).await;
    let overview = h.get("/servers/tools", Some(&member_cookie)).await;
    assert!(!overview.text.contains("/servers/tools/deployments"));
    assert_forbidden(
        &h.get("/servers/tools/deployments", Some(&member_cookie))
            .await,
    );
    let (_, member_token) = h.user_with_token("m2@example.com", Role::Member).await;
    let refused = h
        .api(
            Method::GET,
            "/api/servers/tools/deployments",
            Some(&member_token),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Nor does a developer who does not manage this server (an admin created it).
    let (_, dev_cookie, _) = user(&h, "dev@example.com", Role::Developer).await;
    assert_forbidden(&h.get("/servers/tools/deployments", Some(&dev_cookie)).await);
    let (_, dev_token) = h.user_with_token("dev2@example.com", Role::Developer).await;
    let refused = h
        .api(
            Method::GET,
            "/api/servers/tools/deployments",
            Some(&dev_token),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The stored rows hold no raw value either.
    let leaks = h
        .count(&format!(
            "SELECT COUNT(*) FROM deployments WHERE output LIKE '%{SECRET}%' OR discovery_error LIKE '%{SECRET}%' OR error LIKE '%{SECRET}%'"
        ))
        .await;
    assert_eq!(leaks, 0);
}

#[tokio::test]
async fn the_platforms_identity_gets_no_credentials() {
    let fake = FakeRuntime::default();
    let h = harness(&fake).await;
    let server = h
        .create_server(
            "name: Keys\nauth:\n  type: cred\n  credentials:\n    - name: api_key\n      label: Key\n",
            "keys",
        )
        .await;
    let server_id = Uuid::parse_str(server["id"].as_str().unwrap()).unwrap();
    // A running deployment and its server token, as the process would hold them.
    let token = random_token("gst_");
    let t = now();
    h.platform
        .state
        .store
        .insert_deployment(
            &Deployment {
                id: Uuid::new_v4(),
                server_id,
                generation: 1,
                status: DeploymentStatus::Live,
                address: None,
                error: None,
                created_at: t,
                updated_at: t,
            },
            &token_hash(&token),
        )
        .await
        .unwrap();
    let (org, _) = h.platform.state.store.default_org().await.unwrap();
    let identity = h.platform.state.keys.sign(
        IDENTITY_TYP,
        &IdentityClaims::platform(
            &h.platform.state.urls.base(),
            server_id,
            &org.id.to_string(),
            Uuid::new_v4().to_string(),
            h.platform.state.clock.now(),
        ),
    );
    for (method, uri, body) in [
        (Method::GET, "/internal/v1/credentials", Body::empty()),
        (
            Method::POST,
            "/internal/v1/credentials/invalid",
            Body::from(json!({ "access_token": "at-1" }).to_string()),
        ),
    ] {
        let reply: Reply = h
            .request(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .header(
                        header::AUTHORIZATION,
                        format!("Bearer {}", token.expose_secret()),
                    )
                    .header("gumstack-identity", &identity)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .unwrap(),
            )
            .await;
        reply.assert_error(
            StatusCode::FORBIDDEN,
            "no_user",
            "no user is calling, so there are no credentials",
        );
    }
}

/// Calls `tool` through the gateway; the JSON-RPC answer.
async fn call_tool(h: &Harness, slug: &str, token: &str, tool: &str) -> Value {
    let reply = h.request(common::calls::tool_call(slug, token, tool)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()
}

async fn create_group(h: &Harness, name: &str) -> String {
    let reply = h
        .admin_api(Method::POST, "/api/groups", Some(json!({ "name": name })))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json()["group"]["id"].as_str().unwrap().to_owned()
}

async fn access_of(h: &Harness, group: &str, slug: &str) -> Value {
    h.admin_api(
        Method::GET,
        &format!("/api/groups/{group}/servers/{slug}"),
        None,
    )
    .await
    .json()["access"]
        .clone()
}

/// The text of the matrix cell of `tool` × `group` on a Tools page.
fn cell<'a>(page: &'a str, group: &str, tool: &str) -> &'a str {
    let marker = format!("data-group=\"{group}\" data-tool=\"{tool}\"");
    page.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split("</td>").next())
        .unwrap_or_else(|| panic!("no cell {tool} × {group}: {page}"))
}

#[tokio::test]
async fn an_admin_changes_a_cell_and_the_next_call_follows_it() {
    let fake = FakeRuntime::default();
    fake.set(Behaviour {
        pages: pages(&[&["greet", "whoami"]]),
        ..Behaviour::default()
    });
    let h = harness(&fake).await;
    h.create_server(CONFIG, "tools").await;
    h.deploy("tools", 1).await;
    let interns = create_group(&h, "Interns").await;
    let (member, member_cookie, _) = user(&h, "m@example.com", Role::Member).await;
    h.admin_api(
        Method::PUT,
        &format!("/api/groups/{interns}/members/{}", member.id),
        None,
    )
    .await;
    let (_, token) = h.grant_on(member.id, "tools").await;
    let (cookie, csrf) = admin(&h).await;

    // The matrix: a row per tool, a column per group, everything allowed by default.
    let page = h.get("/servers/tools/tools", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Interns") && page.text.contains("Default"));
    for tool in ["greet", "legacy", "whoami"] {
        assert!(
            cell(&page.text, &interns, tool).contains("Allowed"),
            "{tool}"
        );
    }
    assert!(cell(&page.text, &interns, "greet").contains("(default)"));
    assert_eq!(
        call_tool(&h, "tools", &token, "greet").await["result"]["content"][0]["text"],
        "called greet"
    );

    // The admin denies greet to Interns: the next call is refused, with no restart.
    let saved = h
        .form(
            "/servers/tools/tools/access",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("group", &interns),
                ("tool", "greet"),
                ("decision", "deny"),
            ],
            &[],
        )
        .await;
    assert_redirect(&saved, "/servers/tools/tools?done=saved");
    let denied = call_tool(&h, "tools", &token, "greet").await;
    assert_eq!(denied["error"]["code"], -32003, "{denied}");
    // Recorded in the audit trail like a change on the groups page.
    assert_eq!(
        h.count("SELECT COUNT(*) FROM audit_log WHERE action = 'group.access_changed'")
            .await,
        1
    );
    assert_eq!(
        access_of(&h, &interns, "tools").await["tools"],
        json!({ "greet": "deny" })
    );
    let page = h
        .get("/servers/tools/tools?done=saved", Some(&cookie))
        .await;
    assert!(cell(&page.text, &interns, "greet").contains("Denied"));
    assert!(page.text.contains("Saved."));

    // Allowed again, then back to the default: the call goes through each time.
    for decision in ["allow", "default"] {
        let saved = h
            .form(
                "/servers/tools/tools/access",
                Some(&cookie),
                &[
                    ("csrf", &csrf),
                    ("group", &interns),
                    ("tool", "greet"),
                    ("decision", decision),
                ],
                &[],
            )
            .await;
        assert_redirect(&saved, "/servers/tools/tools");
        assert_eq!(
            call_tool(&h, "tools", &token, "greet").await["result"]["content"][0]["text"],
            "called greet"
        );
    }
    assert_eq!(access_of(&h, &interns, "tools").await["tools"], json!({}));

    // A member reads only their own group's column, with no forms.
    let member_page = h.get("/servers/tools/tools", Some(&member_cookie)).await;
    assert_eq!(member_page.status, StatusCode::OK, "{}", member_page.text);
    assert!(member_page.text.contains("Interns"));
    assert!(
        !member_page.text.contains("Default"),
        "{}",
        member_page.text
    );
    assert!(!member_page.text.contains("/tools/access"));
    let member_api = h
        .api(
            Method::GET,
            "/api/servers/tools/tools",
            Some(&Harness::token_for(&h.platform, &member).await),
            None,
        )
        .await
        .json();
    assert_eq!(member_api["groups"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn only_admins_change_cells_and_forged_forms_change_nothing() {
    let fake = FakeRuntime::default();
    fake.set(Behaviour {
        pages: pages(&[&["greet"]]),
        ..Behaviour::default()
    });
    let h = harness(&fake).await;
    h.create_server(CONFIG, "tools").await;
    h.create_server(
        "name: Other\nauth:\n  type: none\ntools:\n  - name: other_only\n",
        "other",
    )
    .await;
    h.deploy("tools", 1).await;
    let default = h.admin_api(Method::GET, "/api/groups", None).await.json()["groups"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = access_of(&h, &default, "tools").await;

    for role in [Role::Member, Role::Developer] {
        let (_, cookie, csrf) = user(&h, &format!("{}@example.com", role.as_str()), role).await;
        let refused = h
            .form(
                "/servers/tools/tools/access",
                Some(&cookie),
                &[
                    ("csrf", &csrf),
                    ("group", &default),
                    ("tool", "greet"),
                    ("decision", "deny"),
                ],
                &[],
            )
            .await;
        assert_forbidden(&refused);
        // Developers read the matrix, without forms.
        let page = h.get("/servers/tools/tools", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.text.contains("/tools/access"));
    }

    let (cookie, csrf) = admin(&h).await;
    // Another server's tool posted to this server's form, an unknown group, a bad decision,
    // a missing CSRF token: refused, nothing changed.
    let other_tool = h
        .form(
            "/servers/tools/tools/access",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("group", &default),
                ("tool", "other_only"),
                ("decision", "deny"),
            ],
            &[],
        )
        .await;
    assert_eq!(
        other_tool.status,
        StatusCode::BAD_REQUEST,
        "{}",
        other_tool.text
    );
    assert!(
        other_tool.text.contains("is not a tool of Tools"),
        "{}",
        other_tool.text
    );
    let unknown_group = h
        .form(
            "/servers/tools/tools/access",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("group", &Uuid::new_v4().to_string()),
                ("tool", "greet"),
                ("decision", "deny"),
            ],
            &[],
        )
        .await;
    assert_eq!(
        unknown_group.status,
        StatusCode::NOT_FOUND,
        "{}",
        unknown_group.text
    );
    let bad_decision = h
        .form(
            "/servers/tools/tools/access",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("group", &default),
                ("tool", "greet"),
                ("decision", "sometimes"),
            ],
            &[],
        )
        .await;
    assert_eq!(bad_decision.status, StatusCode::BAD_REQUEST);
    let forged = h
        .form(
            "/servers/tools/tools/access",
            Some(&cookie),
            &[
                ("csrf", "forged"),
                ("group", &default),
                ("tool", "greet"),
                ("decision", "deny"),
            ],
            &[],
        )
        .await;
    assert_forbidden(&forged);
    let unknown_server = h
        .form(
            "/servers/nope/tools/access",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("group", &default),
                ("tool", "greet"),
                ("decision", "deny"),
            ],
            &[],
        )
        .await;
    assert_eq!(unknown_server.status, StatusCode::NOT_FOUND);

    assert_eq!(access_of(&h, &default, "tools").await, before);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM audit_log WHERE action = 'group.access_changed'")
            .await,
        0,
        "nothing refused was recorded as a change"
    );
    assert_eq!(access_of(&h, &default, "other").await["tools"], json!({}));
}

#[tokio::test]
async fn the_groups_page_keeps_every_decision_when_the_default_flips() {
    let fake = FakeRuntime::default();
    fake.set(Behaviour {
        pages: pages(&[&["greet", "whoami", "search"]]),
        ..Behaviour::default()
    });
    let h = harness(&fake).await;
    h.create_server(CONFIG, "tools").await;
    h.deploy("tools", 1).await;
    let group = create_group(&h, "Ops").await;
    // Through the API: one exception, and one decision equal to the default.
    h.admin_api(
        Method::PUT,
        &format!("/api/groups/{group}/servers/tools"),
        Some(json!({ "enabled": true, "default": "allow", "tools": { "greet": "deny", "whoami": "allow" } })),
    )
    .await;
    let (cookie, csrf) = admin(&h).await;
    let page = h.get(&format!("/groups/{group}"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    // Every known tool has its own choice, the discovered ones included.
    for tool in ["greet", "legacy", "search", "whoami"] {
        assert!(
            page.text.contains(&format!("name=\"tool:{tool}\"")),
            "{tool}"
        );
    }

    // The form as the page shows it, with only the default flipped.
    let saved = h
        .form(
            &format!("/groups/{group}/servers/tools"),
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("enabled", "on"),
                ("default", "deny"),
                ("tool:greet", "deny"),
                ("tool:whoami", "allow"),
                ("tool:search", "default"),
                ("tool:legacy", "default"),
                ("allow", "later_tool"),
                ("deny", ""),
            ],
            &[],
        )
        .await;
    assert_redirect(&saved, &format!("/groups/{group}?done=saved"));
    assert_eq!(
        access_of(&h, &group, "tools").await,
        json!({ "enabled": true, "default": "deny",
                "tools": { "greet": "deny", "whoami": "allow", "later_tool": "allow" } })
    );

    // A decision added through the API after the page was shown survives a save of the page.
    h.admin_api(
        Method::PUT,
        &format!("/api/groups/{group}/servers/tools"),
        Some(json!({ "enabled": true, "default": "deny",
                     "tools": { "greet": "deny", "whoami": "allow", "later_tool": "allow", "api_only": "allow" } })),
    )
    .await;
    h.form(
        &format!("/groups/{group}/servers/tools"),
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("enabled", "on"),
            ("default", "deny"),
            ("tool:greet", "default"),
        ],
        &[],
    )
    .await;
    assert_eq!(
        access_of(&h, &group, "tools").await["tools"],
        json!({ "whoami": "allow", "later_tool": "allow", "api_only": "allow" })
    );

    // Naming a tool as both allowed and denied is refused, and changes nothing.
    let both = h
        .form(
            &format!("/groups/{group}/servers/tools"),
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("default", "allow"),
                ("allow", "x"),
                ("deny", "x"),
            ],
            &[],
        )
        .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST, "{}", both.text);
    assert_eq!(access_of(&h, &group, "tools").await["default"], "deny");
}
