//! Calls through the real gateway to the stand-in servers of [`super::fake_server`]: deploy a
//! server, give a user a grant and an access token, start a long call and keep its identity and
//! id, and fetch credentials the way a server process does (its server token, that identity
//! and that id).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures_util::StreamExt as _;
use gumstack_platform::oauth::tokens::issue_access_token;
use gumstack_platform::store::{Grant, Uuid, now};
use serde_json::json;
use tower::ServiceExt as _;

use super::fake_server::FakeRuntime;
use super::{Harness, Reply};

/// The MCP request calling `tool` (no arguments) of `slug` through the gateway with `token`.
pub fn tool_call(slug: &str, token: &str, tool: &str) -> Request<Body> {
    Request::post(format!("/mcp/{slug}"))
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
                .to_string(),
        ))
        .unwrap()
}

impl Harness {
    /// Deploys every server due (as the supervisor does) and waits until `slug` runs
    /// `generation`.
    pub async fn deploy(&self, slug: &str, generation: i64) {
        self.platform
            .state
            .supervisor
            .clone()
            .reconcile()
            .await
            .unwrap();
        for _ in 0..400 {
            let server = self
                .admin_api(Method::GET, &format!("/api/servers/{slug}"), None)
                .await
                .json();
            if server["live"]["generation"] == generation {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("generation {generation} of {slug} never went live");
    }

    /// A grant of `user` to the MCP client `test-client` on `slug`, as consent makes it, and
    /// an access token of it.
    pub async fn grant_on(&self, user: Uuid, slug: &str) -> (Grant, String) {
        let state = &self.platform.state;
        let server = state.servers.resolve(slug).await.unwrap();
        let grant = Grant {
            id: Uuid::new_v4(),
            user_id: user,
            client_id: "test-client".into(),
            server_id: server.id,
            resource: state.urls.mcp_url(slug),
            scope: None,
            created_at: now(),
            revoked_at: None,
        };
        state.store.insert_grant(&grant).await.unwrap();
        let token = issue_access_token(&state.keys, &state.urls.base(), &grant, state.clock.now());
        (grant, token)
    }

    /// `GET /internal/v1/credentials` as a server process sends it.
    pub async fn fetch_credentials(&self, server_token: &str, proof: &CallProof) -> Reply {
        self.fetch_credentials_with(server_token, proof, "").await
    }

    /// `GET /internal/v1/credentials?{query}` as a server process sends it.
    pub async fn fetch_credentials_with(
        &self,
        server_token: &str,
        proof: &CallProof,
        query: &str,
    ) -> Reply {
        let uri = match query {
            "" => "/internal/v1/credentials".to_owned(),
            query => format!("/internal/v1/credentials?{query}"),
        };
        let req = proof
            .headers(Request::get(uri))
            .header(header::AUTHORIZATION, format!("Bearer {server_token}"))
            .body(Body::empty())
            .unwrap();
        self.request(req).await
    }

    /// `POST /internal/v1/credentials/invalid` as a server process sends it.
    pub async fn report_invalid(&self, server_token: &str, proof: &CallProof) -> Reply {
        let req = proof
            .headers(Request::post("/internal/v1/credentials/invalid"))
            .header(header::AUTHORIZATION, format!("Bearer {server_token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "access_token": "at-1" }).to_string()))
            .unwrap();
        self.request(req).await
    }
}

/// What a server process forwards to the platform for the call it serves: the call's
/// `Gumstack-Identity` and its `Gumstack-Call`.
#[derive(Debug, Clone)]
pub struct CallProof {
    pub identity: String,
    pub call: Option<String>,
}

impl CallProof {
    pub fn new(identity: &str, call: &str) -> Self {
        Self {
            identity: identity.to_owned(),
            call: Some(call.to_owned()),
        }
    }

    fn headers(&self, request: axum::http::request::Builder) -> axum::http::request::Builder {
        let request = request.header("gumstack-identity", &self.identity);
        match &self.call {
            Some(call) => request.header("gumstack-call", call),
            None => request,
        }
    }
}

/// A `tools/call` through the gateway that the stand-in server holds until its gate opens.
pub struct LongCall {
    /// The `Gumstack-Identity` and `Gumstack-Call` the server received with the call.
    pub proof: CallProof,
    /// The response, until its headers are read.
    response: Option<tokio::task::JoinHandle<axum::response::Response>>,
    /// The response body as the client reads it, chunk by chunk.
    body: Option<axum::body::BodyDataStream>,
}

impl LongCall {
    /// Calls `tool` on `slug` with `token` and waits until the server has the call (and, for
    /// [`STREAM`](super::fake_server::STREAM), until the response's headers came).
    pub async fn start(
        h: &Harness,
        fake: &FakeRuntime,
        slug: &str,
        token: &str,
        tool: &str,
    ) -> Self {
        let calls = || {
            fake.seen()
                .into_iter()
                .filter(|seen| seen.method == "tools/call")
                .collect::<Vec<_>>()
        };
        let before = calls().len();
        let req = tool_call(slug, token, tool);
        let router = h.router.clone();
        let response = tokio::spawn(async move { router.oneshot(req).await.unwrap() });
        fake.arrived(before + 1).await;
        let seen = &calls()[before];
        let proof = CallProof {
            identity: seen.identity.clone().expect("the call carried an identity"),
            call: Some(seen.call.clone().expect("the call carried its id")),
        };
        let mut call = Self {
            proof,
            response: Some(response),
            body: None,
        };
        if tool == super::fake_server::STREAM {
            call.body().await;
        }
        call
    }

    /// The response body, once its headers came (a success).
    async fn body(&mut self) -> &mut axum::body::BodyDataStream {
        if let Some(response) = self.response.take() {
            let response = tokio::time::timeout(Duration::from_secs(10), response)
                .await
                .expect("the response came")
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            self.body = Some(response.into_body().into_data_stream());
        }
        self.body.as_mut().expect("a response")
    }

    /// The next chunk of the answer.
    pub async fn next_chunk(&mut self) -> String {
        let chunk = tokio::time::timeout(Duration::from_secs(10), self.body().await.next())
            .await
            .expect("the answer came")
            .expect("the answer has more")
            .unwrap();
        String::from_utf8_lossy(&chunk).into_owned()
    }

    /// Reads the rest of the answer, to its end.
    pub async fn finish(mut self) -> String {
        let mut text = String::new();
        let body = self.body().await;
        while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("the answer ended")
        {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
        text
    }
}
