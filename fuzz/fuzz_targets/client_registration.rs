//! Dynamic client registration bodies (`POST /oauth/register`, RFC 7591), read and checked by
//! the same function the route calls before it issues a client id.
//!
//! Properties: nothing panics; an accepted registration has 1 to 10 redirect URIs each
//! acceptable (https, or http on loopback; no fragment), a supported authentication method and
//! grant types, only the `code` response type, a name of at most 200 characters; the metadata
//! it stores and echoes carries exactly those checked values whatever the body said under the
//! same names, and serializes to JSON that reads back the same.
#![no_main]

use gumstack_platform::fuzzing::registration;
use gumstack_platform::oauth::clients::redirect_uri_problem;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(accepted) = registration(data) else {
        return;
    };
    assert!((1..=10).contains(&accepted.redirect_uris.len()));
    for uri in &accepted.redirect_uris {
        assert!(redirect_uri_problem(uri).is_none(), "{uri:?} accepted");
    }
    assert!(matches!(
        accepted.method.as_str(),
        "none" | "client_secret_basic" | "client_secret_post"
    ));
    assert!(
        accepted
            .client_name
            .as_ref()
            .is_none_or(|n| n.chars().count() <= 200)
    );
    let metadata = &accepted.metadata;
    assert_eq!(metadata["redirect_uris"], json!(accepted.redirect_uris));
    assert_eq!(
        metadata["token_endpoint_auth_method"],
        json!(accepted.method)
    );
    assert_eq!(metadata["response_types"], json!(["code"]));
    let grants = metadata["grant_types"]
        .as_array()
        .expect("grant_types is a list");
    assert!(
        grants
            .iter()
            .all(|g| g == "authorization_code" || g == "refresh_token")
    );
    match &accepted.client_name {
        Some(name) => assert_eq!(metadata["client_name"], json!(name)),
        None => assert!(metadata.get("client_name").is_none_or(Value::is_null)),
    }
    let stored = Value::Object(metadata.clone()).to_string();
    assert_eq!(
        serde_json::from_str::<Value>(&stored).unwrap(),
        Value::Object(metadata.clone())
    );
});
