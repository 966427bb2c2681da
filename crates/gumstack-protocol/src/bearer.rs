//! The one parser of `Authorization: Bearer <token>` (RFC 6750 §2.1), used wherever a bearer
//! token is read: the gateway (MCP clients' access tokens), the JSON API (admin tokens), the
//! internal routes (server tokens) and the SDK's stand-in provider.
//!
//! The auth scheme is case-insensitive (RFC 9110 §11.1): `Bearer`, `bearer` and `BEARER` are
//! the same. The token is what follows the scheme and one or more spaces, trimmed; an empty
//! token is no token.

use http::{HeaderMap, header};

/// The token of an `Authorization` header value, if it is a bearer credential.
pub fn bearer_of(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The bearer token of a request's `Authorization` header, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    bearer_of(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn bearer_credentials_are_read_whatever_the_scheme_case() {
        let table: [(&str, Option<&str>); 13] = [
            ("bearer  abc ", Some("abc")),
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER abc", Some("abc")),
            ("bEaReR abc", Some("abc")),
            ("Bearer   abc  ", Some("abc")),
            ("Bearer gst_1.x-y~z+/=", Some("gst_1.x-y~z+/=")),
            ("Bearer ", None),
            ("Bearer", None),
            ("Bearerabc", None),
            ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", None),
            ("Token abc", None),
            ("", None),
        ];
        for (value, expected) in table {
            assert_eq!(bearer_of(value), expected, "{value:?}");
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            assert_eq!(bearer_token(&headers), expected, "{value:?}");
        }
        assert_eq!(bearer_token(&HeaderMap::new()), None);
        let mut binary = HeaderMap::new();
        binary.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert_eq!(bearer_token(&binary), None, "a header that is not text");
    }
}
