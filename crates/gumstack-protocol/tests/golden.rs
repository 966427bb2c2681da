//! The golden fixtures of `tests/fixtures/`: every message of docs/PROTOCOL.md as JSON. Each
//! type serialises to its fixture and reads it back unchanged, so a server written in another
//! language can be checked against the same files.

use std::path::PathBuf;

use gumstack_protocol::claims::{IdentityClaims, PlatformCallClaims};
use gumstack_protocol::credentials::{CredentialsReply, ErrorBody, ErrorCode, InvalidTokenReport};
use gumstack_protocol::hash::body_hash;
use gumstack_protocol::provider::{
    AuthorizationUrlReply, AuthorizationUrlRequest, ExchangeRequest, Failure, FailureBody,
    NicknameReply, NicknameRequest, Operation, ProviderReply, ProviderRequest, RefreshRequest,
    RevokeReply, RevokeRequest, TokenResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `value` serialises to the fixture, and the fixture reads back to the same JSON.
fn golden<T: Serialize + DeserializeOwned>(name: &str, value: &T) {
    let expected = fixture(name);
    assert_eq!(
        serde_json::to_value(value).unwrap(),
        expected,
        "{name}: serialised"
    );
    let back: T =
        serde_json::from_value(expected.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        expected,
        "{name}: read back"
    );
}

const SERVER: &str = "0b7f3c2a-5d1e-4f6a-9b8c-7d6e5f4a3b2c";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://mcp.example.com/auth/callback";

#[test]
fn identity_claims() {
    golden(
        "identity_claims.json",
        &IdentityClaims {
            iss: "https://mcp.example.com".into(),
            aud: format!("gumstack:server:{SERVER}"),
            sub: "7d6f4a52-8f3e-4c1b-9e2a-5b8c0d1e2f3a".into(),
            email: "ada@example.com".into(),
            org: "2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d".into(),
            grp: "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9".into(),
            cid: "https://client.example/metadata.json".into(),
            jti: "3f2e1d0c-9b8a-4765-8432-10fedcba9876".into(),
            iat: 1_750_000_000,
            exp: 1_750_000_600,
        },
    );
}

#[test]
fn the_platforms_own_identity_names_no_user() {
    let claims = IdentityClaims::platform(
        "https://mcp.example.com",
        SERVER,
        "2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d",
        "3f2e1d0c-9b8a-4765-8432-10fedcba9876".into(),
        1_750_000_000,
    );
    assert!(claims.is_platform());
    assert!(
        claims
            .required_text()
            .iter()
            .all(|(_, text)| !text.is_empty())
    );
    golden("identity_claims.platform.json", &claims);
}

#[test]
fn platform_call_claims_bind_the_exact_body() {
    let request = ProviderRequest::Refresh(RefreshRequest {
        refresh_token: "rt-1".into(),
    });
    let body = request.to_body();
    assert_eq!(body, br#"{"refresh_token":"rt-1"}"#);
    let claims = PlatformCallClaims::post(
        "https://mcp.example.com",
        SERVER,
        &gumstack_protocol::provider::route("github", request.operation()),
        &body,
        "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
        1_750_000_000,
    );
    assert_eq!(claims.bh, body_hash(&body));
    golden("platform_call_claims.json", &claims);
}

/// Each operation's request and reply, as the typed values and through the enums the two
/// sides use.
#[test]
fn provider_operations() {
    let requests = [
        ProviderRequest::AuthorizationUrl(AuthorizationUrlRequest {
            redirect_uri: REDIRECT.into(),
            state: "st_4d3c2b1a".into(),
            code_verifier: VERIFIER.into(),
            scopes: vec!["read:org".into()],
        }),
        ProviderRequest::Exchange(ExchangeRequest {
            code: "code-1".into(),
            redirect_uri: REDIRECT.into(),
            code_verifier: VERIFIER.into(),
        }),
        ProviderRequest::Refresh(RefreshRequest {
            refresh_token: "rt-1".into(),
        }),
        ProviderRequest::Nickname(NicknameRequest {
            access_token: "at-2".into(),
        }),
        ProviderRequest::Revoke(RevokeRequest {
            access_token: "at-2".into(),
            refresh_token: None,
        }),
    ];
    let replies = [
        ProviderReply::AuthorizationUrl(AuthorizationUrlReply {
            url: "https://github.com/login/oauth/authorize?client_id=c&state=st_4d3c2b1a&redirect_uri=https%3A%2F%2Fmcp.example.com%2Fauth%2Fcallback".into(),
        }),
        ProviderReply::Tokens(
            TokenResponse::bearer("at-1")
                .with_refresh_token("rt-1")
                .with_expires_in(3600)
                .with_scope("repo read:user"),
        ),
        ProviderReply::Tokens(TokenResponse::bearer("at-2")),
        ProviderReply::Nickname(NicknameReply {
            nickname: "ada@github".into(),
            subject: Some("583231".into()),
        }),
        ProviderReply::Revoke(RevokeReply { revoked: true }),
    ];
    for (request, reply) in requests.iter().zip(&replies) {
        let op = request.operation();
        let name = |what| format!("{}.{what}.json", op.as_str());
        let body: Value = serde_json::from_slice(&request.to_body()).unwrap();
        assert_eq!(body, fixture(&name("request")), "{op} request");
        let text = serde_json::to_vec(&fixture(&name("request"))).unwrap();
        let back = ProviderRequest::parse(op, &text).unwrap();
        assert_eq!(back.operation(), op);
        assert_eq!(back.to_body(), request.to_body(), "{op} request read back");

        let body: Value = serde_json::from_slice(&reply.to_body()).unwrap();
        assert_eq!(body, fixture(&name("reply")), "{op} reply");
        let text = serde_json::to_vec(&fixture(&name("reply"))).unwrap();
        let back = ProviderReply::parse(op, &text).unwrap();
        assert_eq!(back.to_body(), reply.to_body(), "{op} reply read back");
    }
    // A reply of one operation is not the reply of another.
    let url = serde_json::to_vec(&fixture("authorization-url.reply.json")).unwrap();
    assert!(ProviderReply::parse(Operation::Refresh, &url).is_err());
}

#[test]
fn provider_failures() {
    let table = [
        (
            "failure.provider.json",
            Failure::Provider {
                code: "invalid_grant".into(),
                description: Some("the refresh token was revoked".into()),
                status: Some(400),
                message: "the provider refused the request: invalid_grant (the refresh token was revoked) (HTTP 400)".into(),
            },
        ),
        (
            "failure.transport.json",
            Failure::Transport {
                status: Some(429),
                retry_after: Some(2),
                message: "rate limited".into(),
            },
        ),
        (
            "failure.invalid_response.json",
            Failure::InvalidResponse {
                message: "the token response has no access_token".into(),
            },
        ),
        (
            "failure.not_configured.json",
            Failure::NotConfigured {
                message: "set OAUTH_CLIENT_ID".into(),
                missing_env: vec!["OAUTH_CLIENT_ID".into()],
            },
        ),
        (
            "failure.unknown_provider.json",
            Failure::UnknownProvider {
                message: "no OAuth provider of that name is registered with this server".into(),
            },
        ),
        (
            "failure.unknown_operation.json",
            Failure::UnknownOperation {
                message: "no such provider operation".into(),
            },
        ),
        (
            "failure.invalid_request.json",
            Failure::InvalidRequest {
                message: "the request body is larger than 64 KiB".into(),
            },
        ),
    ];
    for (name, error) in table {
        assert_eq!(format!("failure.{}.json", error.kind()), name);
        golden(name, &FailureBody { error });
    }
}

#[test]
fn credentials_replies() {
    golden(
        "credentials.cred.json",
        &CredentialsReply::new([
            ("api_key".to_owned(), "sk-1".into()),
            ("region".to_owned(), "eu".into()),
        ]),
    );
    golden(
        "credentials.oauth.json",
        &CredentialsReply::access_token("at-2".into(), "ada@work".into()),
    );
}

#[test]
fn credentials_errors() {
    golden(
        "credentials_error.credentials_required.json",
        &ErrorBody::credentials_required(
            "enter your credentials for Tracker at https://mcp.example.com/connections/tracker",
            "https://mcp.example.com/connections/tracker",
        ),
    );
    for code in [
        ErrorCode::NotSupported,
        ErrorCode::InvalidServerToken,
        ErrorCode::InvalidIdentity,
        ErrorCode::NoUser,
        ErrorCode::ProviderRequired,
        ErrorCode::UnknownProvider,
        ErrorCode::InvalidConfig,
        ErrorCode::InvalidRequest,
        ErrorCode::IntegrationError,
        ErrorCode::RetryLater,
        ErrorCode::Internal,
    ] {
        let name = serde_json::to_value(code).unwrap();
        golden(
            &format!("credentials_error.{}.json", name.as_str().unwrap()),
            &ErrorBody::new(code, "…"),
        );
    }
}

#[test]
fn invalid_token_reports() {
    golden(
        "invalid_token_report.json",
        &InvalidTokenReport {
            provider: Some("github".into()),
            access_token: "at-2".into(),
        },
    );
    golden(
        "invalid_token_report.one_provider.json",
        &InvalidTokenReport {
            provider: None,
            access_token: "at-2".into(),
        },
    );
}
