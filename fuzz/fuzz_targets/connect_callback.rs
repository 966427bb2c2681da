//! The connect callback (`GET /auth/callback?code=…&state=…`, or `?error=…`): the query read by
//! the same axum `Query<CallbackQuery>` extractor as the route, then `Connections::finish` over
//! a real (in-memory SQLite) store, vault and clock, with a provider that answers every call.
//!
//! Input: the query string. `@STATE@` in it becomes the state of a connect request this user
//! just started in this browser session, `@MALLORY@` the state of one started in another
//! session, so the fuzzer reaches every step after the state lookup.
//!
//! Properties: nothing panics and nothing is an internal error; the outcome is exactly the one
//! the query calls for: no state → `MissingState`; a state never issued (or spent) →
//! `UnknownState`; another session's → `WrongSession`; `error=` → `Denied` with that code and
//! no exchange; no code → `MissingCode`; otherwise connected, with the provider asked to
//! exchange exactly the code given, once.
#![no_main]

use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::Query;
use gumstack_platform::clock::ManualClock;
use gumstack_platform::connections::flow::CallbackQuery;
use gumstack_platform::connections::provider::{
    Operation, ProviderCalls, ProviderFailure, ProviderReply, ProviderRequest,
};
use gumstack_platform::connections::{CallbackError, Connections, RefreshSettings};
use gumstack_platform::crypto::random_token;
use gumstack_platform::store::sqlite::SqliteStore;
use gumstack_platform::store::{AuthType, Server, Store, User};
use gumstack_platform::urls::PublicUrls;
use gumstack_platform::vault::Vault;
use gumstack_platform::{Platform, PlatformOptions};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

const CONFIG: &str = "name: Tracker\nauth:\n  type: oauth\n  provider: tracker\n";

/// A provider that builds the URL with the state it is given, exchanges any code, and records
/// the codes it was asked to exchange.
#[derive(Debug, Default)]
struct Provider {
    exchanged: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl ProviderCalls for Provider {
    async fn call(
        &self,
        _server_id: Uuid,
        _provider: &str,
        request: ProviderRequest,
    ) -> Result<ProviderReply, ProviderFailure> {
        let operation = request.operation();
        let body: Value = serde_json::from_slice(&request.to_body()).unwrap();
        let reply = match operation {
            Operation::AuthorizationUrl => {
                let mut url = url::Url::parse("https://idp.example/authorize").unwrap();
                url.query_pairs_mut()
                    .append_pair("state", body["state"].as_str().unwrap())
                    .append_pair("redirect_uri", body["redirect_uri"].as_str().unwrap());
                json!({ "url": url.as_str() })
            }
            Operation::Exchange => {
                let code = body["code"].as_str().unwrap().to_owned();
                self.exchanged.lock().unwrap().push(code);
                json!({ "access_token": "at", "refresh_token": "rt", "expires_in": 3600,
                        "token_type": "Bearer" })
            }
            Operation::Nickname => json!({ "nickname": "ann@tracker" }),
            Operation::Refresh | Operation::Revoke => json!({ "revoked": true }),
        };
        Ok(ProviderReply::parse(operation, reply.to_string().as_bytes()).unwrap())
    }
}

struct World {
    runtime: tokio::runtime::Runtime,
    connections: Connections,
    provider: Arc<Provider>,
    user: User,
    server: Server,
    session: SecretString,
    other_session: SecretString,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (connections, provider, user, server) = runtime.block_on(async {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let vault = Arc::new(Vault::generate());
        let options = PlatformOptions::new(std::env::temp_dir());
        let platform = Platform::assemble(
            store.clone(),
            vault.clone(),
            Arc::new(gumstack_runtime::ProcessRuntime::default()),
            &options,
            ([127, 0, 0, 1], 8080).into(),
        )
        .await
        .unwrap();
        let user = platform.ensure_first_admin().await.unwrap().unwrap().user;
        let server = Server {
            id: Uuid::new_v4(),
            slug: "tracker".into(),
            name: "Tracker".into(),
            description: String::new(),
            icon: None,
            auth_type: AuthType::Oauth,
            config_yaml: CONFIG.into(),
            runtime: None,
            enabled: true,
            owner_id: Some(user.id),
            deploy_generation: 0,
            uid: None,
            created_at: 1_800_000_000,
            updated_at: 1_800_000_000,
        };
        store.insert_server(&server).await.unwrap();
        let provider = Arc::new(Provider::default());
        let connections = Connections::new(
            store,
            vault,
            provider.clone(),
            Arc::new(ManualClock::at(1_800_000_000)),
            RefreshSettings {
                background_interval: None,
                ..RefreshSettings::default()
            },
            PublicUrls::new("http://127.0.0.1:8080").unwrap(),
        );
        (connections, provider, user, server)
    });
    World {
        runtime,
        connections,
        provider,
        user,
        server,
        session: random_token(""),
        other_session: random_token(""),
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let w = &*WORLD;
    w.runtime.block_on(async {
        let state = start(w, &w.session).await;
        let mallory = start(w, &w.other_session).await;
        let query = text
            .replace("@STATE@", &state)
            .replace("@MALLORY@", &mallory);
        check(w, &query, &state, &mallory).await;
        // Spend what this input left, so the per-user limit on waiting requests never bites.
        for (s, session) in [(state, &w.session), (mallory, &w.other_session)] {
            let spend = CallbackQuery {
                state: Some(s),
                error: Some("access_denied".into()),
                ..CallbackQuery::default()
            };
            let _ = w.connections.finish(w.user.id, session, spend).await;
        }
    });
});

async fn start(w: &World, session: &SecretString) -> String {
    let url = w
        .connections
        .start(w.user.id, session, &w.server, "tracker", &[])
        .await
        .unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

async fn check(w: &World, query: &str, state: &str, mallory: &str) {
    let Ok(uri) = format!("/auth/callback?{query}").parse::<http::Uri>() else {
        return; // hyper refuses the request line before any handler
    };
    let Ok(Query(parsed)) = Query::<CallbackQuery>::try_from_uri(&uri) else {
        return; // axum answers 400 (a repeated key, for one)
    };
    let expected_state = parsed.state.clone().filter(|s| !s.is_empty());
    let error = parsed.error.clone();
    let code = parsed.code.clone().filter(|c| !c.is_empty());
    let exchanges_before = w.provider.exchanged.lock().unwrap().len();
    let result = w.connections.finish(w.user.id, &w.session, parsed).await;
    let exchanged: Vec<String> = w.provider.exchanged.lock().unwrap()[exchanges_before..].to_vec();
    match (expected_state.as_deref(), result) {
        (None, Err(CallbackError::MissingState)) => {}
        (Some(s), Err(CallbackError::WrongSession)) if s == mallory => {}
        (Some(s), Err(CallbackError::UnknownState)) if s != state && s != mallory => {}
        (Some(s), Err(CallbackError::Denied { code: denied, .. })) if s == state => {
            assert_eq!(Some(denied), error);
        }
        (Some(s), Err(CallbackError::MissingCode { .. })) if s == state => {
            assert!(error.is_none() && code.is_none());
        }
        (Some(s), Ok(connected)) if s == state => {
            assert!(error.is_none());
            assert_eq!(connected.provider, "tracker");
            assert_eq!(exchanged, [code.expect("connected without a code")]);
            return;
        }
        (state, outcome) => panic!("query {query:?} (state {state:?}) gave {outcome:?}"),
    }
    assert!(
        exchanged.is_empty(),
        "a refused callback exchanged {exchanged:?}"
    );
}
