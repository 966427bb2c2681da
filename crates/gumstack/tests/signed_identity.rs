//! Production mode refuses every call that does not carry a valid identity signed by the
//! platform for this server (docs/PROTOCOL.md §2): 401 `invalid_identity`, and the tool never
//! runs. Plain HTTP requests, so the refusal itself is what is checked.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{NONE_CONFIG, TestServer};
use gumstack::testing::{IDENTITY_HEADER, IDENTITY_TYPE, TestKey, TestPlatform};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A `tools/call` of `whoami` with `identities` as `Gumstack-Identity` headers; status and body.
async fn call_whoami(server: &TestServer, identities: &[&str]) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/mcp", server.url))
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-06-18")
        .timeout(Duration::from_secs(20));
    for identity in identities {
        request = request.header(IDENTITY_HEADER, *identity);
    }
    let response = request
        .json(&json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": { "name": "whoami", "arguments": {} },
        }))
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Asserts that `identity` is refused without running the tool; the message.
async fn refused(server: &TestServer, identity: &str) -> String {
    let before = server.whoami_calls();
    let (status, body) = call_whoami(server, &[identity]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "invalid_identity", "{body}");
    assert_eq!(server.whoami_calls(), before, "the tool ran");
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    if !identity.is_empty() {
        assert!(
            !body.to_string().contains(identity),
            "echoes the token: {body}"
        );
    }
    message
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `platform`'s valid claims with `changes` applied (`null` removes a claim).
fn claims_with(platform: &TestPlatform, changes: Value) -> Value {
    let mut claims = platform.claims();
    for (name, value) in changes.as_object().unwrap() {
        match value {
            Value::Null => claims.as_object_mut().unwrap().remove(name),
            value => claims
                .as_object_mut()
                .unwrap()
                .insert(name.clone(), value.clone()),
        };
    }
    claims
}

async fn production_server(platform: &TestPlatform) -> TestServer {
    TestServer::start(NONE_CONFIG, platform.env(&[])).await
}

#[tokio::test]
async fn a_valid_identity_runs_the_tool() {
    let platform = TestPlatform::start().await;
    let server = production_server(&platform).await;
    let (status, body) = call_whoami(&server, &[&platform.identity()]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.ends_with("<ada@example.com>"), "{body}");
    assert_eq!(server.whoami_calls(), 1);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_call_without_the_header_is_refused() {
    let platform = TestPlatform::start().await;
    let server = production_server(&platform).await;
    let (status, body) = call_whoami(&server, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        body,
        json!({ "error": {
            "code": "invalid_identity",
            "message": "no Gumstack-Identity header: requests must come through the Gumstack gateway",
        }})
    );
    assert_eq!(server.whoami_calls(), 0);
    // Two identities are not one.
    let identity = platform.identity();
    let (status, body) = call_whoami(&server, &[&identity, &identity]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(server.whoami_calls(), 0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_identity_for_another_server_is_refused() {
    let platform = TestPlatform::start().await;
    let server = production_server(&platform).await;
    let other = json!({ "aud": "gumstack:server:0b6e2f0c-3f4a-4d5e-9a7b-1c2d3e4f5a6b" });
    let identity = platform.key().sign(&claims_with(&platform, other));
    let message = refused(&server, &identity).await;
    assert_eq!(message, "the identity was signed for another server");
    // Listing this server among several audiences is not enough either.
    let aud = format!("gumstack:server:{}", platform.server_id());
    let several = json!({ "aud": [aud, "gumstack:server:other"] });
    refused(
        &server,
        &platform.key().sign(&claims_with(&platform, several)),
    )
    .await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_tampered_identity_is_refused() {
    let platform = TestPlatform::start().await;
    let server = production_server(&platform).await;

    // The claims were changed after signing.
    let identity = platform.identity();
    let (header, rest) = identity.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged_claims = platform
        .key()
        .sign(&claims_with(&platform, json!({ "sub": "admin" })));
    let forged_payload = forged_claims.split('.').nth(1).unwrap();
    let tampered = format!("{header}.{forged_payload}.{signature}");
    let message = refused(&server, &tampered).await;
    assert_eq!(message, "the identity's signature does not verify");

    // Signed by someone else's key under the platform's key id.
    let impostor = TestKey::generate(platform.key().kid());
    let message = refused(&server, &impostor.sign(&platform.claims())).await;
    assert_eq!(message, "the identity's signature does not verify");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_expired_identity_is_refused_after_the_leeway() {
    let platform = TestPlatform::start().await;
    let server = production_server(&platform).await;
    let expired = json!({ "iat": now() - 700, "exp": now() - 100 });
    let identity = platform.key().sign(&claims_with(&platform, expired));
    assert_eq!(
        refused(&server, &identity).await,
        "the identity has expired"
    );

    let in_the_future = json!({ "iat": now() + 600, "exp": now() + 1200 });
    let identity = platform.key().sign(&claims_with(&platform, in_the_future));
    let message = refused(&server, &identity).await;
    assert!(message.contains("issued in the future"), "{message}");

    // Within the 60 s leeway for clock skew both are accepted.
    let skewed = json!({ "iat": now() + 30, "exp": now() - 30 });
    let identity = platform.key().sign(&claims_with(&platform, skewed));
    let (status, body) = call_whoami(&server, &[&identity]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_hmac_identity_keyed_with_the_public_key_is_refused() {
    let platform = TestPlatform::start().await;
    let server = production_server(&platform).await;
    let header = Header {
        typ: Some(IDENTITY_TYPE.to_owned()),
        kid: Some(platform.key().kid().to_owned()),
        ..Header::new(Algorithm::HS256)
    };
    let x = platform.key().jwk()["x"].as_str().unwrap().to_owned();
    for secret in [platform.key().public_key().to_vec(), x.into_bytes()] {
        let identity = jsonwebtoken::encode(
            &header,
            &platform.claims(),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        let message = refused(&server, &identity).await;
        assert_eq!(message, "the identity must be signed with EdDSA (Ed25519)");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_wrong_algorithm_or_type_is_refused() {
    let platform = TestPlatform::start().await;
    let server = production_server(&platform).await;
    let key = platform.key();
    let kid = key.kid();
    let claims = platform.claims();
    let with_header = |header: Value| key.sign_with_header(&header, &claims);

    let unsigned = with_header(json!({ "alg": "none", "typ": IDENTITY_TYPE, "kid": kid }));
    let unsigned = format!("{}.", unsigned.rsplit_once('.').unwrap().0);
    let cases = [
        (unsigned, "alg `none`"),
        (
            with_header(json!({ "alg": "RS256", "typ": IDENTITY_TYPE, "kid": kid })),
            "must be signed with EdDSA",
        ),
        (
            with_header(json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid })),
            "typ must be gumstack-identity+jwt",
        ),
        (
            with_header(json!({ "alg": "EdDSA", "kid": kid })),
            "typ must be gumstack-identity+jwt",
        ),
        (
            with_header(json!({ "alg": "EdDSA", "typ": IDENTITY_TYPE })),
            "names no signing key",
        ),
        (
            with_header(
                json!({ "alg": "EdDSA", "typ": IDENTITY_TYPE, "kid": kid, "crit": ["exp"] }),
            ),
            "critical header parameters",
        ),
        ("not-a-jwt".to_owned(), "not a JWS"),
    ];
    for (identity, expected) in cases {
        let message = refused(&server, &identity).await;
        assert!(message.contains(expected), "{expected:?} in {message:?}");
    }
    // The same header, truthful, is accepted: only the header made the difference above.
    let valid = with_header(json!({ "alg": "EdDSA", "typ": IDENTITY_TYPE, "kid": kid }));
    assert_eq!(call_whoami(&server, &[&valid]).await.0, StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn missing_or_empty_claims_are_refused() {
    let platform = TestPlatform::start().await;
    let server = production_server(&platform).await;
    for claim in [
        "iss", "aud", "sub", "email", "org", "grp", "cid", "jti", "iat", "exp",
    ] {
        let identity = platform
            .key()
            .sign(&claims_with(&platform, json!({ claim: null })));
        let message = refused(&server, &identity).await;
        assert!(
            message.contains("incomplete or malformed"),
            "{claim}: {message}"
        );
    }
    for claim in ["sub", "email", "org", "grp", "cid"] {
        let identity = platform
            .key()
            .sign(&claims_with(&platform, json!({ claim: "" })));
        refused(&server, &identity).await;
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_keys_are_refused_without_a_fetch_storm() {
    let platform = TestPlatform::start().await;
    let server = production_server(&platform).await;
    assert_eq!(
        call_whoami(&server, &[&platform.identity()]).await.0,
        StatusCode::OK
    );
    assert_eq!(platform.jwks_requests(), 1);
    for n in 0..10 {
        let forger = TestKey::generate(format!("forged-{n}"));
        let message = refused(&server, &forger.sign(&platform.claims())).await;
        assert_eq!(
            message,
            "the identity is signed with a key the platform does not publish"
        );
    }
    // At most one refetch per 5 s: none, unless this test ran for that long.
    assert!(
        platform.jwks_requests() <= 2,
        "{}",
        platform.jwks_requests()
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_platform_is_refused_promptly() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let platform = TestPlatform::start().await;
    let env = gumstack::HostEnv::from_vars([
        ("ENVIRONMENT", "production"),
        ("PORT", "4100"),
        ("GUMSTACK_SERVER_ID", platform.server_id()),
        ("GUMSTACK_BACKEND_URL", &backend_url),
    ])
    .unwrap();
    let server = TestServer::start(NONE_CONFIG, env).await;
    let message = tokio::time::timeout(
        Duration::from_secs(15),
        refused(&server, &platform.identity()),
    )
    .await
    .expect("the refusal does not wait for the platform");
    assert_eq!(
        message,
        "the platform's signing keys could not be fetched to verify the identity"
    );
    server.stop().await.unwrap();
}
