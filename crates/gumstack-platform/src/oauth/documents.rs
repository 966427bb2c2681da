//! Client ID metadata documents (the client id is an https URL): fetched only when every
//! address the host resolves to is public (connecting to the vetted address), no redirects,
//! at most 16 KiB and 5 s, and trusted for an hour.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::http::header;
use gumstack_protocol::loopback::is_loopback_url;
use url::Url;

use super::clients::validate_redirect_uris;
use super::error::OAuthError;
use crate::state::ClientSettings;
use crate::store::{ClientKind, OAuthClient, Timestamp};

/// Fetched metadata documents are trusted for an hour.
const DOCUMENT_CACHE_SECONDS: i64 = 3600;
const DOCUMENT_MAX_BYTES: usize = 16 * 1024;
const DOCUMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Fetches and validates a client ID metadata document (cached from `now`).
pub(super) async fn fetch_metadata_document(
    client_id: &str,
    settings: &ClientSettings,
    now: Timestamp,
) -> Result<OAuthClient, OAuthError> {
    let bad = |why: String| {
        OAuthError::invalid_client(format!("client metadata document {client_id}: {why}"))
    };
    let loopback_ok = settings.allow_loopback_metadata_documents;
    let (url, host) = document_url(client_id, loopback_ok).map_err(bad)?;
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = tokio::time::timeout(
        DOCUMENT_TIMEOUT,
        tokio::net::lookup_host((host.trim_matches(['[', ']']), port)),
    )
    .await
    .map_err(|_| bad("DNS lookup timed out".into()))?
    .map_err(|e| bad(format!("DNS lookup failed: {e}")))?
    .collect();
    let allowed = |ip: IpAddr| is_public_address(ip) || (loopback_ok && ip.is_loopback());
    if addresses.is_empty() || addresses.iter().any(|a| !allowed(a.ip())) {
        return Err(bad(
            "its host resolves to an internal address; the platform only fetches public addresses"
                .into(),
        ));
    }
    // Connect to the vetted address only, so a second DNS answer cannot point elsewhere.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the name again, past the address check above.
        .no_proxy()
        .timeout(DOCUMENT_TIMEOUT)
        .resolve(&host, addresses[0])
        .user_agent("gumstack (client metadata fetcher)")
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let mut response = client
        .get(url.clone())
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| bad(format!("fetch failed: {}", e.without_url())))?;
    if !response.status().is_success() {
        return Err(bad(format!("fetch answered {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| bad(e.without_url().to_string()))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > DOCUMENT_MAX_BYTES {
            return Err(bad(format!("larger than {DOCUMENT_MAX_BYTES} bytes")));
        }
    }
    client_from_document(client_id, &body, now).map_err(bad)
}

/// Refuses a client ID metadata document URL whose host is outside the operator's client ID
/// domains (when they are set): the host equals one of them or ends with `.` and one of them.
pub(super) fn check_domain(client_id: &str, settings: &ClientSettings) -> Result<(), OAuthError> {
    if settings.client_id_domains.is_empty() {
        return Ok(());
    }
    let host = Url::parse(client_id)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    let allowed = settings.client_id_domains.iter().any(|domain| {
        host == *domain
            || host
                .strip_suffix(domain.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    });
    if allowed {
        return Ok(());
    }
    Err(OAuthError::invalid_client(format!(
        "client metadata document {client_id}: this platform accepts client IDs only from {}",
        settings.client_id_domains.join(", ")
    )))
}

/// The URL of a client ID metadata document and its host, if the platform may fetch it: no
/// fragment or credentials, a path, https (http on loopback only when `loopback_ok`).
pub(crate) fn document_url(client_id: &str, loopback_ok: bool) -> Result<(Url, String), String> {
    let url = Url::parse(client_id).map_err(|e| e.to_string())?;
    let host = url.host_str().ok_or("no host")?.to_owned();
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a fragment or credentials".into());
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err("the URL must have a path".into());
    }
    match url.scheme() {
        "https" => {}
        "http" if loopback_ok && is_loopback_url(&url) => {}
        _ => return Err("must be an https URL".into()),
    }
    Ok((url, host))
}

/// The client a fetched metadata document `body` describes, trusted from `now` for an hour.
pub(crate) fn client_from_document(
    client_id: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<OAuthClient, String> {
    let document: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if document["client_id"].as_str() != Some(client_id) {
        return Err("its client_id does not equal its URL".into());
    }
    let redirect_uris: Vec<String> = document["redirect_uris"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    validate_redirect_uris(&redirect_uris).map_err(|e| e.description)?;
    let method = document["token_endpoint_auth_method"]
        .as_str()
        .unwrap_or("none");
    if method != "none" {
        return Err(format!(
            "token_endpoint_auth_method `{method}` is not supported for metadata documents (use none)"
        ));
    }
    let created_at = now;
    Ok(OAuthClient {
        client_id: client_id.to_owned(),
        kind: ClientKind::MetadataDocument,
        client_name: document["client_name"]
            .as_str()
            .map(|n| n.chars().take(200).collect()),
        redirect_uris,
        auth_method: "none".to_owned(),
        secret_hash: None,
        metadata_json: document.to_string(),
        created_at,
        expires_at: created_at + DOCUMENT_CACHE_SECONDS,
    })
}

/// Whether an address is on the public internet (not loopback, private, link-local, shared,
/// documentation, multicast, unspecified or reserved).
pub(crate) fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 shared
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
                || o[0] >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_address(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            // IPv4-compatible (::a.b.c.d) addresses embed an IPv4 address too.
            if seg[..6].iter().all(|s| *s == 0) {
                return false;
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link-local
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || (seg[0] == 0x0064 && seg[1] == 0xff9b) // NAT64 (and 64:ff9b:1::/48) can reach internal v4
                || seg[0] == 0x2002 // 6to4 embeds an IPv4 address
                || (seg[0] == 0x2001 && seg[1] == 0)) // Teredo
        }
    }
}
