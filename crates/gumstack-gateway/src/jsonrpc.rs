//! What the gateway reads of a client's `POST` body before it decides: one JSON-RPC message,
//! its method, its id, and the name it targets (`params.name` of `tools/call` and
//! `prompts/get`, `params.uri` of `resources/read`).
//!
//! Rules, each a refusal the server never sees:
//!
//! - The body is exactly one JSON object. A batch (an array; removed from MCP in 2025-06-18)
//!   is refused as a whole, so no call slips past a per-call decision inside one.
//! - `jsonrpc` is `"2.0"`; `method`, when present, is a string; `id`, when present, is a
//!   string, a number or null.
//! - A key given twice (`{"method": "ping", "method": "tools/call"}`) is refused: the gateway
//!   and the server must not read two different requests out of one body.
//! - The 2026-07-28 routing headers, when present, agree with the body: `Mcp-Method` with
//!   `method`, `Mcp-Name` with the targeted name (a `=?base64?…?=` value is decoded first).
//!   A header that names something the body does not is refused too.
//!
//! Refusals are JSON-RPC errors, answered with HTTP 400 as the protocol asks: `-32700` for
//! what is not JSON, `-32600` for what is not one valid request, `-32602` for a call without
//! a name, `-32020` (HeaderMismatch) for routing headers that disagree with the body.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// The 2026-07-28 header that mirrors the body's `method`.
pub(crate) static MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// The 2026-07-28 header that mirrors the name a request targets.
pub(crate) static MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// JSON-RPC's "parse error".
pub(crate) const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's "invalid request".
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC's "invalid params".
pub(crate) const INVALID_PARAMS: i64 = -32602;
/// The caller may not call this tool (the platform's permission groups).
pub(crate) const PERMISSION_DENIED: i64 = -32003;
/// MCP 2026-07-28: routing headers missing, malformed or disagreeing with the body.
pub(crate) const HEADER_MISMATCH: i64 = -32020;

/// One JSON-RPC message from a client, as far as the gateway needs it.
#[derive(Debug, Clone)]
pub(crate) struct Message<'a> {
    /// The request id, as its JSON text (`1`, `"a"`); absent for notifications and responses.
    pub(crate) id: Option<&'a RawValue>,
    /// What is asked; `None` for a response to a server's request (e.g. an elicitation result).
    pub(crate) method: Option<Cow<'a, str>>,
    /// The tool, prompt or resource the request targets.
    pub(crate) target: Option<Cow<'a, str>>,
    /// `params.arguments` of a `tools/call` or `prompts/get`, as sent.
    pub(crate) arguments: Option<&'a RawValue>,
    /// `params`, as sent (read further only where the gateway acts on it: `elicit`).
    pub(crate) params: Option<&'a RawValue>,
}

impl Message<'_> {
    /// The tool a `tools/call` request calls.
    pub(crate) fn tool(&self) -> Option<&str> {
        (self.method.as_deref() == Some("tools/call"))
            .then_some(self.target.as_deref())
            .flatten()
    }
}

/// Why a body was refused; the message is sent to the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Refused<'a> {
    /// The JSON-RPC error code.
    pub(crate) code: i64,
    pub(crate) message: String,
    /// The request's id when it could be read, for the error response.
    pub(crate) id: Option<&'a RawValue>,
}

impl<'a> Refused<'a> {
    fn new(code: i64, message: impl Into<String>, id: Option<&'a RawValue>) -> Self {
        Self {
            code,
            message: message.into(),
            id,
        }
    }
}

/// A JSON-RPC error response; `id` is the request's id as JSON text (`null` when unknown).
pub(crate) fn error_body(id: Option<&str>, code: i64, message: &str) -> String {
    let id = id.unwrap_or("null");
    let message = serde_json::to_string(message).expect("a string serializes");
    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":{message}}}}}"#)
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
    result: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uri: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
}

/// Reads one JSON-RPC message out of `body` and checks the routing headers against it.
pub(crate) fn inspect<'a>(body: &'a [u8], headers: &HeaderMap) -> Result<Message<'a>, Refused<'a>> {
    // JSON is UTF-8 (RFC 8259 §8.1). serde_json checks the strings it reads but skips over
    // those it ignores, so invalid bytes in an unknown field would pass here and be read
    // differently (or refused) by the server: one check of the whole body closes that.
    if std::str::from_utf8(body).is_err() {
        return Err(Refused::new(
            PARSE_ERROR,
            "the request body is not valid UTF-8 JSON",
            None,
        ));
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{') => {}
        Some(b'[') => {
            return Err(Refused::new(
                INVALID_REQUEST,
                "JSON-RPC batches are not supported: send one request per HTTP request",
                None,
            ));
        }
        None => {
            return Err(Refused::new(
                INVALID_REQUEST,
                "the request body is empty",
                None,
            ));
        }
        Some(_) => {
            return Err(if serde_json::from_slice::<IgnoredAny>(body).is_ok() {
                Refused::new(
                    INVALID_REQUEST,
                    "a JSON-RPC message must be a JSON object",
                    None,
                )
            } else {
                Refused::new(PARSE_ERROR, "the request body is not valid JSON", None)
            });
        }
    }
    let envelope: Envelope<'a> = serde_json::from_slice(body).map_err(|error| {
        if error.is_syntax() || error.is_eof() {
            Refused::new(PARSE_ERROR, "the request body is not valid JSON", None)
        } else {
            Refused::new(
                INVALID_REQUEST,
                format!("not a valid JSON-RPC message: {error}"),
                None,
            )
        }
    })?;
    let id = envelope.id;
    no_case_variants(body, ENVELOPE_KEYS, id)?;
    if envelope.jsonrpc.as_deref() != Some("2.0") {
        return Err(Refused::new(
            INVALID_REQUEST,
            "`jsonrpc` must be \"2.0\"",
            id,
        ));
    }
    if let Some(id) = id {
        let text = id.get();
        let valid = text.starts_with('"')
            || text == "null"
            || text.starts_with(|c: char| c == '-' || c.is_ascii_digit());
        if !valid {
            return Err(Refused::new(
                INVALID_REQUEST,
                "`id` must be a string or a number",
                None,
            ));
        }
    }
    let method = envelope.method;
    if method.is_none() && envelope.result.is_none() && envelope.error.is_none() {
        return Err(Refused::new(
            INVALID_REQUEST,
            "a JSON-RPC message needs a `method` (or is a response with `result` or `error`)",
            id,
        ));
    }
    let mut arguments = None;
    let params = envelope.params;
    let target = match (method.as_deref(), params) {
        (Some(method @ ("tools/call" | "prompts/get" | "resources/read")), params) => {
            let key = if method == "resources/read" {
                "uri"
            } else {
                "name"
            };
            let malformed = || {
                Refused::new(
                    INVALID_PARAMS,
                    format!("`{method}` needs `params.{key}`, a string"),
                    id,
                )
            };
            if let Some(raw) = params {
                no_case_variants(raw.get().as_bytes(), PARAMS_KEYS, id)?;
            }
            let params: Params<'a> = params
                .filter(|raw| raw.get().starts_with('{'))
                .and_then(|raw| serde_json::from_str(raw.get()).ok())
                .ok_or_else(malformed)?;
            arguments = params.arguments;
            let target = if key == "uri" {
                params.uri
            } else {
                params.name
            };
            Some(target.ok_or_else(malformed)?)
        }
        _ => None,
    };
    let message = Message {
        id,
        method,
        target,
        arguments,
        params,
    };
    check_routing_headers(&message, headers)?;
    Ok(message)
}

/// The keys of a JSON-RPC message the gateway reads.
const ENVELOPE_KEYS: &[&str] = &["jsonrpc", "id", "method", "params", "result", "error"];
/// The keys of `params` that name what a request targets.
const PARAMS_KEYS: &[&str] = &["name", "uri"];

/// Refuses an object with a key that is not one of `known` but reads as one to a JSON decoder
/// that matches keys without regard to case (Go's `encoding/json` does, folding `ſ` to `s` and
/// the Kelvin sign to `k`, and the last key wins): `{"name": "allowed", "Name": "denied"}`
/// would be one tool to the gateway and another to such a server.
fn no_case_variants<'a>(
    object: &[u8],
    known: &[&str],
    id: Option<&'a RawValue>,
) -> Result<(), Refused<'a>> {
    let Ok(keys) =
        serde_json::from_slice::<std::collections::BTreeMap<Cow<'_, str>, IgnoredAny>>(object)
    else {
        // Not an object: the caller's own checks refuse it with their own message.
        return Ok(());
    };
    for key in keys.keys() {
        if known.contains(&key.as_ref()) {
            continue;
        }
        let folded: String = key
            .chars()
            .map(|c| if c == '\u{17f}' { 's' } else { c })
            .flat_map(char::to_lowercase)
            .collect();
        if known.contains(&folded.as_str()) {
            return Err(Refused::new(
                INVALID_REQUEST,
                format!(
                    "`{}` is not a field of a JSON-RPC request: keys are case-sensitive",
                    key.escape_debug()
                ),
                id,
            ));
        }
    }
    Ok(())
}

/// `Mcp-Method` and `Mcp-Name`, when present, must say what the body says.
fn check_routing_headers<'a>(
    message: &Message<'a>,
    headers: &HeaderMap,
) -> Result<(), Refused<'a>> {
    let mismatch = |what: &str| Refused::new(HEADER_MISMATCH, what.to_owned(), message.id);
    if let Some(value) = single_header(headers, &MCP_METHOD)
        .map_err(|()| mismatch("`Mcp-Method` is given more than once"))?
    {
        let value = value
            .to_str()
            .map_err(|_| mismatch("`Mcp-Method` is not visible ASCII"))?;
        if message.method.as_deref() != Some(value) {
            return Err(mismatch(
                "the `Mcp-Method` header does not match the body's `method`",
            ));
        }
    }
    if let Some(value) = single_header(headers, &MCP_NAME)
        .map_err(|()| mismatch("`Mcp-Name` is given more than once"))?
    {
        let value = decode_header_value(value.as_bytes())
            .ok_or_else(|| mismatch("`Mcp-Name` is not a valid header value"))?;
        if message.target.as_deref() != Some(value.as_ref()) {
            return Err(mismatch(
                "the `Mcp-Name` header does not match the name the body targets",
            ));
        }
    }
    Ok(())
}

fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h http::HeaderValue>, ()> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(());
    }
    Ok(first)
}

/// A header value as text: plain visible ASCII, or `=?base64?<standard base64 of UTF-8>?=`.
fn decode_header_value(raw: &[u8]) -> Option<Cow<'_, str>> {
    if let Some(encoded) = raw
        .strip_prefix(b"=?base64?")
        .and_then(|rest| rest.strip_suffix(b"?="))
    {
        let bytes = STANDARD.decode(encoded).ok()?;
        return String::from_utf8(bytes).ok().map(Cow::Owned);
    }
    let text = std::str::from_utf8(raw).ok()?;
    text.bytes()
        .all(|b| b == b' ' || b.is_ascii_graphic())
        .then_some(Cow::Borrowed(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ok(body: &str) -> Message<'_> {
        inspect(body.as_bytes(), &HeaderMap::new()).expect("accepted")
    }

    fn refused(body: &str, headers: &HeaderMap) -> (i64, String) {
        let refusal = inspect(body.as_bytes(), headers).expect_err("refused");
        (refusal.code, refusal.message)
    }

    fn to_json(refusal: &Refused<'_>) -> serde_json::Value {
        let body = error_body(
            refusal.id.map(RawValue::get),
            refusal.code,
            &refusal.message,
        );
        serde_json::from_str(&body).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const CALL: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"greet","arguments":{"name":"x"}}}"#;

    #[test]
    fn a_tool_call_names_its_tool_and_id() {
        let message = ok(CALL);
        assert_eq!(message.tool(), Some("greet"));
        assert_eq!(message.id.map(RawValue::get), Some("7"));
        assert_eq!(message.method.as_deref(), Some("tools/call"));
    }

    #[test]
    fn other_messages_target_nothing_or_their_name_or_uri() {
        assert_eq!(
            ok(r#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#).tool(),
            None
        );
        let read = ok(
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///x"}}"#,
        );
        assert_eq!(read.target.as_deref(), Some("file:///x"));
        assert_eq!(read.tool(), None);
        let note = ok(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert!(note.id.is_none());
        let response = ok(r#"{"jsonrpc":"2.0","id":3,"result":{"action":"accept"}}"#);
        assert_eq!(response.method, None);
    }

    #[test]
    fn escaped_names_are_read_as_the_server_reads_them() {
        let message =
            ok(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"gr\u0065et"}}"#);
        assert_eq!(message.tool(), Some("greet"));
        let method = ok(r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"x"}}"#);
        assert_eq!(method.tool(), Some("x"));
    }

    #[test]
    fn batches_and_non_objects_are_refused() {
        let none = HeaderMap::new();
        assert_eq!(refused(&format!("[{CALL}]"), &none).0, INVALID_REQUEST);
        assert_eq!(refused("  [", &none).0, INVALID_REQUEST);
        assert_eq!(refused("\"tools/call\"", &none).0, INVALID_REQUEST);
        assert_eq!(refused("", &none).0, INVALID_REQUEST);
        assert_eq!(refused("{", &none).0, PARSE_ERROR);
        assert_eq!(refused("nope", &none).0, PARSE_ERROR);
        // Invalid UTF-8 inside a field the gateway skips is still refused (found by fuzzing).
        let hidden = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"x\":\"\xcd\"}";
        assert_eq!(inspect(hidden, &none).unwrap_err().code, PARSE_ERROR);
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let none = HeaderMap::new();
        let twice = r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"x"}}"#;
        assert_eq!(refused(twice, &none).0, INVALID_REQUEST);
        let name_twice = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok","name":"denied"}}"#;
        assert_eq!(refused(name_twice, &none).0, INVALID_PARAMS);
    }

    #[test]
    fn keys_that_differ_only_in_case_are_refused() {
        let none = HeaderMap::new();
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","Name":"delete"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call","params":{"name":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","nAme":"delete"}}"#,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"param\u{17f}\":{}}",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":\"a\",\"URI\":\"b\"}}",
        ] {
            let refusal = inspect(body.as_bytes(), &none).expect_err(body);
            assert_eq!(refusal.code, INVALID_REQUEST, "{body}");
            assert!(
                refusal.message.contains("case-sensitive"),
                "{}",
                refusal.message
            );
        }
        // Other keys, and arguments named like envelope keys, are the tool's business.
        ok(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"Name":"x","METHOD":"y"},"_meta":{}}}"#,
        );
    }

    #[test]
    fn malformed_envelopes_are_refused() {
        let none = HeaderMap::new();
        for body in [
            r#"{"id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
        ] {
            assert_eq!(refused(body, &none).0, INVALID_REQUEST, "{body}");
        }
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["greet",null]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"name":"x"}}"#,
        ] {
            assert_eq!(refused(body, &none).0, INVALID_PARAMS, "{body}");
        }
    }

    #[test]
    fn routing_headers_must_agree_with_the_body() {
        let agreeing = headers(&[("mcp-method", "tools/call"), ("mcp-name", "greet")]);
        assert!(inspect(CALL.as_bytes(), &agreeing).is_ok());
        let encoded = headers(&[("mcp-name", "=?base64?Z3JlZXQ=?=")]);
        assert!(inspect(CALL.as_bytes(), &encoded).is_ok());
        for bad in [
            headers(&[("mcp-method", "tools/list")]),
            headers(&[("mcp-name", "other")]),
            headers(&[("mcp-name", "greet"), ("mcp-name", "greet")]),
            headers(&[("mcp-name", "=?base64?!!?=")]),
        ] {
            assert_eq!(refused(CALL, &bad).0, HEADER_MISMATCH, "{bad:?}");
        }
        let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert_eq!(
            refused(list, &headers(&[("mcp-name", "greet")])).0,
            HEADER_MISMATCH,
            "a name the body does not target"
        );
    }

    #[test]
    fn a_refusal_answers_with_the_requests_id() {
        let refusal = inspect(CALL.as_bytes(), &headers(&[("mcp-name", "x")])).unwrap_err();
        let json = to_json(&refusal);
        assert_eq!(json["id"], 7);
        assert_eq!(json["error"]["code"], HEADER_MISMATCH);
        let batch = inspect(b"[]", &HeaderMap::new()).unwrap_err();
        let json = to_json(&batch);
        assert_eq!(json["id"], serde_json::Value::Null);
    }
}
