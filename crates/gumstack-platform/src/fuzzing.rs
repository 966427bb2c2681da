//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, never in a release build):
//! the crate-private parsers they exercise, called exactly as the platform calls them.

use crate::oauth::clients::Registration;
use crate::store::{OAuthClient, Timestamp};

pub use crate::keys::SigningKeys;

/// The body of `POST /oauth/register`, read and checked; the error's description otherwise.
pub fn registration(body: &[u8]) -> Result<Registration, String> {
    crate::oauth::clients::parse_registration(body).map_err(|e| e.description)
}

/// The URL check of a client ID metadata document (before any DNS lookup or fetch).
pub fn metadata_document_url(client_id: &str, loopback_ok: bool) -> Result<url::Url, String> {
    crate::oauth::documents::document_url(client_id, loopback_ok).map(|(url, _)| url)
}

/// The client a fetched metadata document describes.
pub fn metadata_document(
    client_id: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<OAuthClient, String> {
    crate::oauth::documents::client_from_document(client_id, body, now)
}
