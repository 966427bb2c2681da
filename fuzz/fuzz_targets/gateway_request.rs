//! The MCP gateway's handling of a request (`gumstack_gateway::Gateway`, the `/mcp/{slug}`
//! router as the platform mounts it): method, `Host`/`Origin`, the bearer token, the session
//! header, `Content-Length` and the body, forwarded to a live upstream that echoes what it got.
//! The body is fuzzed as bytes (with a stream that may break off, like a malformed chunk): the
//! gateway reads a POST body whole and inspects it as one JSON-RPC message before it decides.
//!
//! Input: `METHOD URI` on the first line, `Name: value` lines, an empty line, the body; a body
//! ending in `\0ERR` breaks off with an error after its bytes.
//!
//! Properties: nothing panics and the gateway never answers 500 or 504; a client's broken body
//! is never blamed on the server (no 502); refusals (401, 403, 405, 503, and 400 or 413 for a
//! POST) reach no upstream; a POST that reaches it is one JSON-RPC object; alice's group denies the tool
//! `danger`: a call of it is answered by the gateway (-32003) and never forwarded;
//! what reaches the upstream carries no client credentials, no forwarding claims, no hop-by-hop
//! header and exactly one `Gumstack-Identity`, the platform's; what the client gets back has no
//! `Set-Cookie` and no hop-by-hop header; the body arrives whole.
#![no_main]

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use gumstack_gateway::{
    Backend, Gateway, GatewayLimits, GatewaySettings, Grant, Refusal, ToolAccess,
};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const MAX_BODY: usize = 4096;
/// The tool alice's group may not call.
const DENIED_TOOL: &str = "danger";
const BODY_ERROR: &[u8] = b"\0ERR";

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
});
/// Requests the upstream received.
static FORWARDED: AtomicUsize = AtomicUsize::new(0);
static UPSTREAM: LazyLock<SocketAddr> = LazyLock::new(|| {
    RUNTIME.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/mcp", axum::routing::any(echo));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    })
});
static ROUTER: LazyLock<axum::Router> = LazyLock::new(|| {
    let settings = GatewaySettings {
        public_base: "https://mcp.example.com".into(),
        allowed_hosts: vec!["mcp.example.com".into(), "127.0.0.1:8080".into()],
        allowed_origins: vec!["https://mcp.example.com".into()],
    };
    let limits = GatewayLimits {
        max_request_body: MAX_BODY,
        ..GatewayLimits::default()
    };
    let backend = FuzzBackend {
        upstream: *UPSTREAM,
    };
    Gateway::new(std::sync::Arc::new(backend), settings)
        .with_limits(limits)
        .into_router()
});

/// Tokens `alice` and `bob` are users of server `tracker`; `off`, `denied` and `gone` get the
/// other refusals; anything else is an invalid token.
#[derive(Debug)]
struct FuzzBackend {
    upstream: SocketAddr,
}

#[async_trait::async_trait]
impl Backend for FuzzBackend {
    async fn authorize(&self, slug: &str, token: Option<&str>) -> Result<Grant, Refusal> {
        if slug != "tracker" {
            return Err(Refusal::NotFound);
        }
        match token {
            None => Err(Refusal::Unauthorized {
                invalid_token: None,
            }),
            Some(user @ ("alice" | "bob")) => Ok(Grant {
                server_id: "server-1".into(),
                user_id: user.into(),
                client_id: "client-1".into(),
                call_id: format!("call-{user}"),
                call: gumstack_gateway::CallHold::none(),
                upstream: self.upstream,
                user_credentials: false,
                identity: HeaderValue::from_str(&identity(user)).unwrap(),
                tools: if user == "alice" {
                    ToolAccess::new(true, [DENIED_TOOL.to_owned()])
                } else {
                    ToolAccess::allow_all()
                },
            }),
            Some("off") => Err(Refusal::Unavailable {
                reason: "the server is disabled".into(),
            }),
            Some("denied") => Err(Refusal::Forbidden {
                reason: "not in your group".into(),
            }),
            Some("gone") => Err(Refusal::NotFound),
            Some(_) => Err(Refusal::Unauthorized {
                invalid_token: Some("the token is malformed".into()),
            }),
        }
    }
}

fn identity(user: &str) -> String {
    format!("signed-identity-of-{user}")
}

/// The server process: answers with the headers and body length it got, opens the session
/// `X-Open-Session` names, and sends headers the gateway must not pass on.
async fn echo(request: Request) -> Response {
    FORWARDED.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await;
    let headers: Vec<Value> = parts
        .headers
        .iter()
        .map(|(n, v)| json!([n.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    let mut response = Response::builder()
        .header("content-type", "application/json")
        .header("set-cookie", "upstream=1")
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .header("proxy-secret", "1");
    if let Some(session) = parts.headers.get("x-open-session") {
        response = response.header("mcp-session-id", session);
    }
    let reply = json!({ "headers": headers, "body": body.map(|b| b.len()).ok() });
    response.body(Body::from(reply.to_string())).unwrap()
}

struct Parsed {
    request: Request,
    /// The body as the server reads it (after `Content-Length`).
    body: Vec<u8>,
    body_len: usize,
    body_breaks: bool,
    user: Option<&'static str>,
    opens_session: bool,
    connection_listed: Vec<String>,
    has_content_length: bool,
}

fn parse(data: &[u8]) -> Option<Parsed> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n');
    let (method, uri) = lines.next()?.split_once(' ')?;
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(uri);
    let mut user = None;
    let mut opens_session = false;
    let mut connection_listed = Vec::new();
    let mut seen_authorization = false;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_bytes(value.trim().as_bytes()),
        ) else {
            continue;
        };
        if name == http::header::CONTENT_LENGTH {
            // As hyper's server reads it: one decimal length, or the request never gets here.
            if content_length.is_some() {
                return None;
            }
            content_length = Some(value.to_str().ok()?.parse::<usize>().ok()?);
        }
        chunked |= name == http::header::TRANSFER_ENCODING;
        if name == http::header::AUTHORIZATION && !seen_authorization {
            seen_authorization = true;
            user = match gumstack_protocol::bearer::bearer_of(value.to_str().unwrap_or_default()) {
                Some("alice") => Some("alice"),
                Some("bob") => Some("bob"),
                _ => None,
            };
        }
        if name == http::header::CONNECTION {
            connection_listed.extend(
                value
                    .to_str()
                    .unwrap_or_default()
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty() && t != "close" && t != "keep-alive"),
            );
        }
        opens_session |= name == "x-open-session";
        builder = builder.header(name, value);
    }
    let (mut body, mut body_breaks) = match body.strip_suffix(BODY_ERROR) {
        Some(body) => (body.to_vec(), true),
        None => (body.to_vec(), false),
    };
    if let Some(length) = content_length {
        if chunked {
            return None;
        }
        // The server reads exactly that many bytes: a shorter body is a connection cut short,
        // and whatever comes after them (a break included) is not this request's.
        body_breaks = length > body.len();
        body.truncate(length);
    }
    let body_len = body.len();
    let sent = body.clone();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
        .chunks(7)
        .map(|c| Ok(c.to_vec()))
        .chain(body_breaks.then(|| Err(std::io::Error::other("malformed chunk"))))
        .collect();
    let request = builder
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .ok()?;
    Some(Parsed {
        request,
        body: sent,
        body_len,
        body_breaks,
        user,
        opens_session,
        connection_listed,
        has_content_length: content_length.is_some(),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(parsed) = parse(data) else {
        return;
    };
    let method = parsed.request.method().clone();
    let before = FORWARDED.load(Ordering::SeqCst);
    let router = ROUTER.clone(); // starts the upstream first, outside the runtime
    let (status, headers, body) = RUNTIME.block_on(async {
        let response = router.oneshot(parsed.request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, body)
    });
    let forwarded = FORWARDED.load(Ordering::SeqCst) > before;

    assert!(
        status != StatusCode::INTERNAL_SERVER_ERROR && status != StatusCode::GATEWAY_TIMEOUT,
        "{status}"
    );
    if status == StatusCode::BAD_GATEWAY {
        // Only a server handing out a session id another user holds (bound by an earlier
        // input) is the server's fault; a GET or DELETE of unknown length goes without its
        // body (hyper's client drops it), so its break never shows.
        let body_dropped = method != Method::POST && !parsed.has_content_length;
        assert!(
            parsed.opens_session && (!parsed.body_breaks || body_dropped),
            "502 for {data:?}"
        );
    }
    if matches!(status.as_u16(), 401 | 403 | 405 | 503) {
        assert!(!forwarded, "refused with {status} but forwarded");
    }
    // A POST body is read whole and inspected first; a GET or DELETE body streams, so its
    // break or excess is noticed only once the request is on its way.
    if method == Method::POST && matches!(status.as_u16(), 400 | 413) {
        assert!(!forwarded, "refused with {status} but forwarded");
    }
    if !matches!(method, Method::POST | Method::GET | Method::DELETE) {
        assert!(!forwarded && status != StatusCode::OK);
    }
    for name in ["set-cookie", "x-hop", "proxy-secret", "connection"] {
        assert!(!headers.contains_key(name), "{name} reached the client");
    }
    if status != StatusCode::OK {
        return;
    }
    let user = parsed.user.expect("only alice and bob get through");
    let message: Option<Value> = (method == Method::POST)
        .then(|| serde_json::from_slice(&parsed.body).ok())
        .flatten();
    let calls_denied_tool = message.as_ref().is_some_and(|m| {
        m["method"] == "tools/call" && m["params"]["name"] == DENIED_TOOL
    });
    if !forwarded {
        // The one 200 the gateway answers itself: alice calling the denied tool.
        let reply: Value = serde_json::from_slice(&body).expect("a JSON-RPC error");
        assert_eq!(reply["error"]["code"], -32003, "{reply}");
        assert!(user == "alice" && calls_denied_tool, "denied {data:?}");
        return;
    }
    assert!(
        !(user == "alice" && calls_denied_tool),
        "alice's denied tool reached the server"
    );
    if method == Method::POST {
        assert!(
            message.as_ref().is_some_and(Value::is_object),
            "a POST that is not one JSON-RPC object reached the server"
        );
    }
    let echoed: Value = serde_json::from_slice(&body).expect("the upstream's JSON");
    // hyper's client sends no body with a GET or DELETE of unknown length (no
    // `Content-Length`: the gateway drops the client's `Transfer-Encoding`); such a body has no
    // meaning in MCP. Anything else arrives whole.
    let dropped = method != Method::POST && !parsed.has_content_length && echoed["body"] == 0;
    assert!(
        !parsed.body_breaks || dropped,
        "a broken body reached the server whole"
    );
    assert!(
        echoed["body"] == json!(parsed.body_len) || dropped,
        "{} bytes sent, the upstream got {}",
        parsed.body_len,
        echoed["body"]
    );
    assert!(parsed.body_len <= MAX_BODY);
    let names: Vec<&str> = echoed["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap())
        .collect();
    let identities: Vec<&Value> = echoed["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == "gumstack-identity")
        .map(|h| &h[1])
        .collect();
    assert_eq!(identities, [&json!(identity(user))], "identities upstream");
    // A POST is a call: exactly the grant's call id, never one the client sent; a GET or
    // DELETE carries none.
    let calls: Vec<&Value> = echoed["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == "gumstack-call")
        .map(|h| &h[1])
        .collect();
    let call = json!(format!("call-{user}"));
    let expected: Vec<&Value> = if method == Method::POST {
        vec![&call]
    } else {
        Vec::new()
    };
    assert_eq!(calls, expected, "call ids upstream");
    for name in &names {
        assert!(
            !matches!(
                *name,
                "authorization"
                    | "cookie"
                    | "forwarded"
                    | "expect"
                    | "te"
                    | "trailer"
                    | "upgrade"
                    | "keep-alive"
            ) && !name.starts_with("x-forwarded-")
                && !name.starts_with("proxy-")
                && (!name.starts_with("gumstack-")
                    || matches!(*name, "gumstack-identity" | "gumstack-call")),
            "{name} reached the upstream"
        );
        // `host`, `content-length` and `transfer-encoding` belong to the upstream connection
        // (hyper's client sets them), `gumstack-identity` and `gumstack-call` are the gateway's
        // own: a client that lists them in `Connection` removes its copies, not the next hop's.
        if !matches!(
            *name,
            "host" | "content-length" | "transfer-encoding" | "gumstack-identity" | "gumstack-call"
        ) {
            assert!(
                !parsed.connection_listed.iter().any(|l| l == name),
                "{name}, listed in Connection, reached the upstream"
            );
        }
    }
});
