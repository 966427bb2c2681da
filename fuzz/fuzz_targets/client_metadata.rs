//! Client ID metadata documents (`oauth::documents`): the check of the client id URL before
//! anything is fetched, and the fetched document turned into a client.
//!
//! Input: the client id on the first line, the document's bytes after it.
//!
//! Properties: nothing panics; a URL allowed for fetching is https (http only on loopback when
//! that is allowed), has a host and a path, no fragment and no credentials; an accepted
//! document names exactly its URL as `client_id`, has 1 to 10 redirect URIs each acceptable on
//! its own (https, or http on loopback; no fragment), is a public client (`none`), keeps a name
//! of at most 200 characters, and its stored JSON reads back as the same document.
#![no_main]

use gumstack_platform::fuzzing::{metadata_document, metadata_document_url};
use gumstack_platform::oauth::clients::redirect_uri_problem;
use gumstack_platform::store::ClientKind;
use gumstack_protocol::loopback::is_loopback_url;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let (first, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(client_id) = std::str::from_utf8(first) else {
        return;
    };
    for loopback_ok in [false, true] {
        if let Ok(url) = metadata_document_url(client_id, loopback_ok) {
            assert!(
                url.host_str().is_some_and(|h| !h.is_empty()),
                "{client_id:?}"
            );
            assert!(url.fragment().is_none() && url.username().is_empty());
            assert!(url.password().is_none());
            assert!(url.path() != "/" && !url.path().is_empty());
            match url.scheme() {
                "https" => {}
                "http" => assert!(loopback_ok && is_loopback_url(&url), "{client_id:?}"),
                other => panic!("scheme {other} allowed for {client_id:?}"),
            }
        }
    }
    let Ok(client) = metadata_document(client_id, body, NOW) else {
        return;
    };
    assert_eq!(client.client_id, client_id);
    assert_eq!(client.kind, ClientKind::MetadataDocument);
    assert_eq!(client.auth_method, "none");
    assert!(client.secret_hash.is_none());
    assert!((1..=10).contains(&client.redirect_uris.len()));
    for uri in &client.redirect_uris {
        assert!(redirect_uri_problem(uri).is_none(), "{uri:?} accepted");
    }
    assert!(
        client
            .client_name
            .as_ref()
            .is_none_or(|n| n.chars().count() <= 200)
    );
    assert_eq!(client.created_at, NOW);
    assert!(client.expires_at > NOW);
    let stored: serde_json::Value = serde_json::from_str(&client.metadata_json).unwrap();
    let original: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        stored, original,
        "the stored document differs from the fetched one"
    );
});
