//! The `WWW-Authenticate: Bearer …` challenge of a 401 (RFC 6750 §3, RFC 9728 §5.1).

use std::fmt::Write as _;

use http::HeaderValue;

/// `Bearer resource_metadata="{public_base}/.well-known/oauth-protected-resource/mcp/{slug}"`,
/// plus `error="invalid_token", error_description="…"` when a token was sent and refused.
///
/// The slug is percent-encoded (it arrives percent-decoded from the path) and the description
/// is made a safe quoted-string: `"` and `\` are escaped, anything outside printable ASCII
/// becomes a space.
pub(crate) fn bearer_challenge(
    public_base: &str,
    slug: &str,
    invalid_token: Option<&str>,
) -> HeaderValue {
    let mut value = String::with_capacity(96 + public_base.len() + slug.len());
    value.push_str("Bearer resource_metadata=\"");
    push_quoted_content(&mut value, public_base);
    value.push_str("/.well-known/oauth-protected-resource/mcp/");
    push_percent_encoded(&mut value, slug);
    value.push('"');
    if let Some(description) = invalid_token {
        value.push_str(", error=\"invalid_token\", error_description=\"");
        push_quoted_content(&mut value, description);
        value.push('"');
    }
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

fn push_quoted_content(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push(' '),
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn push_percent_encoded(out: &mut String, segment: &str) {
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_token_there_is_no_error() {
        assert_eq!(
            bearer_challenge("https://mcp.example.com", "linear", None),
            "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp/linear\""
        );
    }

    #[test]
    fn a_refused_token_gets_an_escaped_description() {
        assert_eq!(
            bearer_challenge("https://h", "s", Some("bad \"sig\"\\\r\nnow")),
            "Bearer resource_metadata=\"https://h/.well-known/oauth-protected-resource/mcp/s\", \
             error=\"invalid_token\", error_description=\"bad \\\"sig\\\"\\\\  now\""
        );
    }

    #[test]
    fn odd_slugs_are_percent_encoded() {
        assert_eq!(
            bearer_challenge("https://h", "a\"b c/é", None),
            "Bearer resource_metadata=\"https://h/.well-known/oauth-protected-resource/mcp/a%22b%20c%2F%C3%A9\""
        );
    }
}
