//! Tool discovery at deployment (docs/PROTOCOL.md §2.1): once a new process passes its health
//! check, the platform asks it for its tools itself — `initialize`, then
//! `notifications/initialized`, then `tools/list` page by page — with an identity of its own
//! that names no user ([`IdentityClaims::platform`]).
//!
//! Everything the process answers is bounded: the whole exchange by a timeout, each answer by
//! a size, the pages and the tools by a count. A discovery that fails is recorded on the
//! deployment (redacted) and never fails the deployment: the server goes live with the tools
//! known before.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gumstack_protocol::claims::IdentityClaims;
use gumstack_protocol::headers::{IDENTITY, IDENTITY_TYP};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::clock::Clock;
use crate::keys::SigningKeys;
use crate::permissions::tool_name_problem;
use crate::store::DiscoveredTool;

/// The MCP revision the platform speaks when it lists tools (the server may answer with an
/// older one it supports, which the platform then uses).
const PROTOCOL_VERSION: &str = "2025-11-25";
/// The longest description kept, in characters.
const MAX_DESCRIPTION_CHARS: usize = 2000;
/// The longest part of a server's own error message repeated in the recorded failure.
const MAX_MESSAGE_CHARS: usize = 300;

/// The bounds of one discovery.
#[derive(Debug, Clone, Copy)]
pub struct DiscoveryLimits {
    /// The whole exchange, every page included.
    pub timeout: Duration,
    /// The most `tools/list` pages followed (`nextCursor`).
    pub max_pages: usize,
    /// The most tools kept; more is a failure (permission decisions are bounded the same way).
    pub max_tools: usize,
    /// The largest answer read, in bytes.
    pub max_answer_bytes: usize,
}

impl Default for DiscoveryLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_pages: 50,
            max_tools: 1000,
            max_answer_bytes: 1024 * 1024,
        }
    }
}

/// Why a discovery failed, in words for the server's developer. May repeat what the server
/// answered: redact it before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("tools/list did not finish within {0:?}")]
    Timeout(Duration),
    #[error("{method}: the server could not be reached: {reason}")]
    Transport {
        method: &'static str,
        reason: String,
    },
    #[error("{method}: the server answered HTTP {status}")]
    Status { method: &'static str, status: u16 },
    #[error("{method}: the answer is larger than {limit} bytes")]
    TooLarge { method: &'static str, limit: usize },
    #[error("{method}: the answer is not a JSON-RPC reply: {reason}")]
    Unreadable {
        method: &'static str,
        reason: String,
    },
    #[error("{method}: the server answered the JSON-RPC error {code}: {message}")]
    JsonRpc {
        method: &'static str,
        code: i64,
        message: String,
    },
    #[error("tools/list: more than {0} tools")]
    TooManyTools(usize),
    #[error("tools/list: more than {0} pages (nextCursor keeps coming)")]
    TooManyPages(usize),
}

/// Lists the tools of freshly started server processes.
#[derive(Debug)]
pub struct ToolDiscovery {
    http: reqwest::Client,
    keys: Arc<SigningKeys>,
    issuer: String,
    clock: Arc<dyn Clock>,
    limits: DiscoveryLimits,
}

impl ToolDiscovery {
    /// Discovery signing its identities with `keys` as `issuer` (the public base URL).
    pub fn new(
        keys: Arc<SigningKeys>,
        issuer: String,
        clock: Arc<dyn Clock>,
        limits: DiscoveryLimits,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Self {
            http,
            keys,
            issuer,
            clock,
            limits,
        })
    }

    /// The tools the process of server `server_id` at `addr` lists, in its order, each name
    /// once. `org` is the organisation named in the platform's identity.
    pub(crate) async fn discover(
        &self,
        server_id: Uuid,
        org: Uuid,
        addr: SocketAddr,
    ) -> Result<Vec<DiscoveredTool>, DiscoveryError> {
        let claims = IdentityClaims::platform(
            &self.issuer,
            server_id,
            &org.to_string(),
            Uuid::new_v4().to_string(),
            self.clock.now(),
        );
        let identity = self.keys.sign(IDENTITY_TYP, &claims);
        let session = Session {
            discovery: self,
            url: format!("http://{addr}/mcp"),
            identity,
            session_id: None,
            protocol: None,
        };
        tokio::time::timeout(self.limits.timeout, session.list_tools())
            .await
            .unwrap_or(Err(DiscoveryError::Timeout(self.limits.timeout)))
    }
}

/// One exchange with one process.
struct Session<'a> {
    discovery: &'a ToolDiscovery,
    url: String,
    identity: String,
    /// `Mcp-Session-Id` when the server opened a session.
    session_id: Option<HeaderValue>,
    /// The revision the server chose, sent as `MCP-Protocol-Version` after `initialize`.
    protocol: Option<HeaderValue>,
}

impl Session<'_> {
    async fn list_tools(mut self) -> Result<Vec<DiscoveredTool>, DiscoveryError> {
        let limits = self.discovery.limits;
        let init = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": { "name": "gumstack-platform", "version": env!("CARGO_PKG_VERSION") },
                }),
            )
            .await?;
        self.protocol = init
            .get("protocolVersion")
            .and_then(Value::as_str)
            .and_then(|v| HeaderValue::from_str(v).ok());
        self.notify("notifications/initialized").await?;
        let mut tools: Vec<DiscoveredTool> = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..limits.max_pages {
            let params = match &cursor {
                Some(cursor) => json!({ "cursor": cursor }),
                None => json!({}),
            };
            let page = self.request("tools/list", params).await?;
            let listed = page.get("tools").and_then(Value::as_array).ok_or_else(|| {
                DiscoveryError::Unreadable {
                    method: "tools/list",
                    reason: "the result has no `tools` list".to_owned(),
                }
            })?;
            for tool in listed {
                let Some(name) = tool.get("name").and_then(Value::as_str) else {
                    continue;
                };
                if let Some(problem) = tool_name_problem(name) {
                    tracing::warn!(problem, "discovery skips a tool whose name is not usable");
                    continue;
                }
                if tools.iter().any(|known| known.name == name) {
                    continue;
                }
                if tools.len() == limits.max_tools {
                    return Err(DiscoveryError::TooManyTools(limits.max_tools));
                }
                let description = tool
                    .get("description")
                    .and_then(Value::as_str)
                    .map(|d| d.chars().take(MAX_DESCRIPTION_CHARS).collect::<String>())
                    .filter(|d| !d.trim().is_empty());
                tools.push(DiscoveredTool {
                    name: name.to_owned(),
                    description,
                });
            }
            cursor = page
                .get("nextCursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            if cursor.is_none() {
                self.close().await;
                return Ok(tools);
            }
        }
        self.close().await;
        Err(DiscoveryError::TooManyPages(limits.max_pages))
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(identity) = HeaderValue::from_str(&self.identity) {
            headers.insert(IDENTITY, identity);
        }
        if let Some(session) = &self.session_id {
            headers.insert("mcp-session-id", session.clone());
        }
        if let Some(protocol) = &self.protocol {
            headers.insert("mcp-protocol-version", protocol.clone());
        }
        headers
    }

    /// Sends a request and returns its `result`.
    async fn request(
        &mut self,
        method: &'static str,
        params: Value,
    ) -> Result<Value, DiscoveryError> {
        let id = Uuid::new_v4().to_string();
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response = self
            .discovery
            .http
            .post(&self.url)
            .headers(self.headers())
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| transport(method, e))?;
        if !response.status().is_success() {
            return Err(DiscoveryError::Status {
                method,
                status: response.status().as_u16(),
            });
        }
        if self.session_id.is_none() {
            self.session_id = response.headers().get("mcp-session-id").cloned();
        }
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let bytes = read_limited(method, response, self.discovery.limits.max_answer_bytes).await?;
        let reply = if is_sse {
            reply_in_events(&bytes, &id)
        } else {
            serde_json::from_slice::<Value>(&bytes).ok()
        }
        .filter(|reply| reply.get("id").and_then(Value::as_str) == Some(id.as_str()))
        .ok_or_else(|| DiscoveryError::Unreadable {
            method,
            reason: "no JSON-RPC reply with the request's id".to_owned(),
        })?;
        if let Some(error) = reply.get("error") {
            return Err(DiscoveryError::JsonRpc {
                method,
                code: error
                    .get("code")
                    .and_then(Value::as_i64)
                    .unwrap_or_default(),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_MESSAGE_CHARS)
                    .collect(),
            });
        }
        reply
            .get("result")
            .cloned()
            .ok_or_else(|| DiscoveryError::Unreadable {
                method,
                reason: "the reply has neither `result` nor `error`".to_owned(),
            })
    }

    /// Sends a notification; any 2xx is fine.
    async fn notify(&self, method: &'static str) -> Result<(), DiscoveryError> {
        let body = json!({ "jsonrpc": "2.0", "method": method });
        let response = self
            .discovery
            .http
            .post(&self.url)
            .headers(self.headers())
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| transport(method, e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(DiscoveryError::Status {
                method,
                status: response.status().as_u16(),
            })
        }
    }

    /// Ends the server's session, if it opened one (best effort).
    async fn close(&self) {
        if self.session_id.is_some() {
            let _ = self
                .discovery
                .http
                .delete(&self.url)
                .headers(self.headers())
                .send()
                .await;
        }
    }
}

/// A transport failure, without the URL (a loopback port, which says nothing useful).
fn transport(method: &'static str, error: reqwest::Error) -> DiscoveryError {
    let reason = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "the connection failed".to_owned()
    } else {
        error.without_url().to_string()
    };
    DiscoveryError::Transport { method, reason }
}

/// Reads at most `limit` bytes of the body; more is a failure.
async fn read_limited(
    method: &'static str,
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, DiscoveryError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(method, e))? {
        if bytes.len() + chunk.len() > limit {
            return Err(DiscoveryError::TooLarge { method, limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The JSON-RPC reply with `id` among the events of an SSE body (`data:` lines of one event
/// joined with newlines, events separated by a blank line).
fn reply_in_events(body: &[u8], id: &str) -> Option<Value> {
    let text = String::from_utf8_lossy(body);
    let mut data = String::new();
    let mut found = None;
    let mut flush = |data: &mut String| {
        if !data.is_empty() {
            if let Ok(value) = serde_json::from_str::<Value>(data)
                && value.get("id").and_then(Value::as_str) == Some(id)
                && found.is_none()
            {
                found = Some(value);
            }
            data.clear();
        }
    };
    for line in text.lines() {
        if line.is_empty() {
            flush(&mut data);
        } else if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        }
    }
    flush(&mut data);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_is_found_among_events() {
        let body =
            b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n\
                     id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"a\",\n\
                     data: \"result\":{\"tools\":[]}}\n\n";
        let reply = reply_in_events(body, "a").unwrap();
        assert_eq!(reply["result"]["tools"], json!([]));
        assert!(reply_in_events(body, "b").is_none());
        assert!(reply_in_events(b"data: not json\n\n", "a").is_none());
    }
}
