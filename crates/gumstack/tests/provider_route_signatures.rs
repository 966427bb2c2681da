//! The provider routes refuse, with 401 and before any provider code runs, every call the
//! platform did not sign for this server, route, method and body, and every replayed or
//! expired one (docs/PROTOCOL.md §4).

mod common;

use common::provider_recorder::{EXCHANGE, EXCHANGE_BODY, Recorder, now, post, refused, server};
use gumstack::testing::{TestKey, TestPlatform};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `platform`'s valid claims for the exchange call with `changes` applied.
fn exchange_claims(platform: &TestPlatform, changes: Value) -> Value {
    let mut claims = platform.platform_call_claims(EXCHANGE, EXCHANGE_BODY.as_bytes());
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

#[tokio::test]
async fn unsigned_calls_are_refused() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let message = refused(&server, &recorder, EXCHANGE, None, EXCHANGE_BODY).await;
    assert_eq!(
        message,
        "no Gumstack-Platform-Call header: only the Gumstack platform may call the provider routes"
    );
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some("not-a-jws"),
        EXCHANGE_BODY,
    )
    .await;
    assert!(message.contains("not a JWS"), "{message}");
    // A caller's identity is not a platform call, even signed by the platform's key.
    let identity = platform.identity();
    let message = refused(&server, &recorder, EXCHANGE, Some(&identity), EXCHANGE_BODY).await;
    assert_eq!(
        message,
        "the platform call's typ must be gumstack-platform-call+jwt"
    );
    // Claims of a platform call signed as an identity: the typ still decides.
    let as_identity = platform.key().sign(&exchange_claims(&platform, json!({})));
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&as_identity),
        EXCHANGE_BODY,
    )
    .await;
    assert_eq!(
        message,
        "the platform call's typ must be gumstack-platform-call+jwt"
    );
    assert!(recorder.calls().is_empty());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn calls_signed_by_another_key_or_for_another_server_are_refused() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;

    let impostor = TestKey::generate(platform.key().kid());
    let forged = impostor.sign_platform_call(&exchange_claims(&platform, json!({})));
    let message = refused(&server, &recorder, EXCHANGE, Some(&forged), EXCHANGE_BODY).await;
    assert_eq!(message, "the platform call's signature does not verify");

    let other = json!({ "aud": "gumstack:server:0b6e2f0c-3f4a-4d5e-9a7b-1c2d3e4f5a6b" });
    let signature = platform
        .key()
        .sign_platform_call(&exchange_claims(&platform, other));
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&signature),
        EXCHANGE_BODY,
    )
    .await;
    assert_eq!(message, "the platform call was signed for another server");

    for claim in ["iss", "aud", "htm", "htu", "bh", "jti", "iat", "exp"] {
        let signature = platform
            .key()
            .sign_platform_call(&exchange_claims(&platform, json!({ claim: null })));
        let message = refused(
            &server,
            &recorder,
            EXCHANGE,
            Some(&signature),
            EXCHANGE_BODY,
        )
        .await;
        assert!(
            message.contains("incomplete or malformed"),
            "{claim}: {message}"
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_call_signed_for_another_route_or_method_is_refused() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let expected = "the platform call was signed for another method or route (htm, htu)";

    let signed_for_path = |path: &str| platform.platform_call(path, EXCHANGE_BODY.as_bytes());
    let signed_with = |claims: serde_json::Value| {
        platform
            .key()
            .sign_platform_call(&exchange_claims(&platform, claims))
    };
    let mis_signed = [
        // Signed for the refresh route, sent to the exchange route.
        (
            "another route",
            signed_for_path("/gumstack/providers/linear/refresh"),
        ),
        // Signed for another provider's exchange.
        (
            "another provider",
            signed_for_path("/gumstack/providers/github/exchange"),
        ),
        // htu is the path only: a query in it does not match.
        (
            "a query in htu",
            signed_with(json!({ "htu": format!("{EXCHANGE}?x=1") })),
        ),
        ("another method", signed_with(json!({ "htm": "GET" }))),
    ];
    for (case, signature) in mis_signed {
        let message = refused(
            &server,
            &recorder,
            EXCHANGE,
            Some(&signature),
            EXCHANGE_BODY,
        )
        .await;
        assert_eq!(message, expected, "{case}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_tampered_body_is_refused_and_does_not_burn_the_call() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let signature = platform.platform_call(EXCHANGE, EXCHANGE_BODY.as_bytes());
    let tampered = EXCHANGE_BODY.replace("code-1", "code-2");
    let message = refused(&server, &recorder, EXCHANGE, Some(&signature), &tampered).await;
    assert_eq!(
        message,
        "the request body is not the one the platform signed (bh)"
    );
    // Even whitespace counts: the hash is of the exact bytes.
    let reformatted = format!("{EXCHANGE_BODY} ");
    refused(&server, &recorder, EXCHANGE, Some(&signature), &reformatted).await;

    // The genuine call, sent afterwards, still goes through.
    let (status, body, _) = post(&server, EXCHANGE, Some(&signature), EXCHANGE_BODY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(recorder.calls().len(), 1);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_replayed_call_is_refused() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let signature = platform.platform_call(EXCHANGE, EXCHANGE_BODY.as_bytes());
    let (status, body, _) = post(&server, EXCHANGE, Some(&signature), EXCHANGE_BODY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&signature),
        EXCHANGE_BODY,
    )
    .await;
    assert_eq!(
        message,
        "the platform call was already accepted once (jti replayed)"
    );
    // The same jti signed again (other claims, another signature) is still the same call.
    let claims = exchange_claims(&platform, json!({}));
    let first = platform.key().sign_platform_call(&claims);
    assert_eq!(
        post(&server, EXCHANGE, Some(&first), EXCHANGE_BODY).await.0,
        StatusCode::OK
    );
    let mut again = claims.clone();
    // A second earlier than the first signature's, whenever the clock ticked in between.
    again["iat"] = json!(claims["iat"].as_i64().unwrap() - 1);
    let again = platform.key().sign_platform_call(&again);
    assert_ne!(again, first);
    refused(&server, &recorder, EXCHANGE, Some(&again), EXCHANGE_BODY).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn expired_calls_are_refused_after_the_leeway() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let expired = json!({ "iat": now() - 200, "exp": now() - 100 });
    let signature = platform
        .key()
        .sign_platform_call(&exchange_claims(&platform, expired));
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&signature),
        EXCHANGE_BODY,
    )
    .await;
    assert_eq!(message, "the platform call has expired");

    let future = json!({ "iat": now() + 300, "exp": now() + 360 });
    let signature = platform
        .key()
        .sign_platform_call(&exchange_claims(&platform, future));
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&signature),
        EXCHANGE_BODY,
    )
    .await;
    assert!(message.contains("issued in the future"), "{message}");

    let long_lived = json!({ "iat": now(), "exp": now() + 3600 });
    let signature = platform
        .key()
        .sign_platform_call(&exchange_claims(&platform, long_lived));
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&signature),
        EXCHANGE_BODY,
    )
    .await;
    assert!(message.contains("valid for longer"), "{message}");

    // Within the 60 s leeway a call just past its expiry is accepted.
    let skewed = json!({ "iat": now() - 90, "exp": now() - 30 });
    let signature = platform
        .key()
        .sign_platform_call(&exchange_claims(&platform, skewed));
    let (status, body, _) = post(&server, EXCHANGE, Some(&signature), EXCHANGE_BODY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await.unwrap();
}
