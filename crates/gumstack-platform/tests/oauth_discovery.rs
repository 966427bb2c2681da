//! The authorization server's discovery documents, in-process: authorization server and
//! OpenID metadata, protected resource metadata per server, and the public keys.

mod common;

use axum::http::StatusCode;
use common::oauth::{ISSUER, RESOURCE, setup};
use serde_json::json;

#[tokio::test]
async fn discovery_documents_describe_the_server_and_the_issuer() {
    let h = setup().await;
    let meta = h
        .get("/.well-known/oauth-authorization-server", None)
        .await
        .json();
    assert_eq!(meta["issuer"], ISSUER);
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    assert_eq!(meta["token_endpoint"], format!("{ISSUER}/oauth/token"));
    let oidc = h
        .get("/.well-known/openid-configuration", None)
        .await
        .json();
    assert_eq!(oidc["issuer"], ISSUER);
    assert_eq!(oidc["code_challenge_methods_supported"], json!(["S256"]));

    let prm = h
        .get("/.well-known/oauth-protected-resource/mcp/greeter", None)
        .await
        .json();
    assert_eq!(prm["resource"], RESOURCE);
    assert_eq!(prm["authorization_servers"], json!([ISSUER]));
    let missing = h
        .get("/.well-known/oauth-protected-resource/mcp/nope", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let jwks = h.get("/.well-known/jwks.json", None).await.json();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
}
