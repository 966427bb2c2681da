//! Credentials asked for inside the call (docs/PROTOCOL.md §5). When a `tools/call`'s server
//! was refused the caller's credentials — the user has not connected the account or entered
//! them yet — the platform marks the call ([`Backend::input_needed`]). If the client can send
//! its user to a URL, the gateway answers the call with a URL-mode elicitation of the page
//! where the user provides them, instead of the server's tool error:
//!
//! - **2026-07-28**, the request's `_meta` declaring `elicitation.url`: an
//!   `InputRequiredResult` with one `elicitation/create` input request and a platform-signed
//!   `requestState`. The client's retry echoes both; the gateway checks the state
//!   ([`Backend::check_request_state`]) and forwards the call without them.
//! - **2025-11-25**, the session's `initialize` having declared `elicitation.url`: the
//!   `-32042` error (URL elicitation required). The client retries on its own once the user is
//!   done.
//! - Anything else: the server's answer, unchanged (a tool error with the link).
//!
//! Only an error answer is replaced (a JSON-RPC error, or a result with `isError: true`): a
//! tool that went on without the credentials keeps its result. The server's own
//! `requestState`s and input requests pass untouched: the gateway's are told apart by
//! [`STATE_PREFIX`] and [`INPUT_KEY`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::backend::{Backend, InputNeeded};
use crate::sessions::ClientCaps;

/// MCP 2025-11-25's error "URL elicitation required".
pub(crate) const URL_ELICITATION_REQUIRED: i64 = -32042;
/// The key of the gateway's input request in an `InputRequiredResult` (and of its answer in
/// the retry's `inputResponses`).
pub(crate) const INPUT_KEY: &str = "gumstack/credentials";
/// How a `requestState` the gateway issued begins.
pub(crate) const STATE_PREFIX: &str = "gumstack.";

/// Where 2026-07-28 requests declare what the client can do.
const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// The first revision with `InputRequiredResult` (and without `-32042`).
const MRTR_REVISION: &str = "2026-07-28";
/// The revision of `-32042`.
pub(crate) const URL_ERROR_REVISION: &str = "2025-11-25";

/// How a call that needs input is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// 2026-07-28: `InputRequiredResult`.
    InputRequired,
    /// 2025-11-25: the `-32042` error.
    UrlElicitationError,
}

/// What the params of a `tools/call` say to the gateway's elicitation.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CallParams {
    /// The request's `_meta` declares URL elicitation (2026-07-28).
    pub(crate) url_elicitation: bool,
    /// A `requestState` the gateway issued, echoed back (without [`STATE_PREFIX`]).
    pub(crate) own_state: Option<String>,
    /// The retry answers the gateway's input request with anything but `accept`.
    pub(crate) declined: bool,
}

impl CallParams {
    /// Whether the body carries anything of the gateway's that the server must not see.
    pub(crate) fn carries_own(&self) -> bool {
        self.own_state.is_some() || self.declined
    }
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(rename = "_meta", borrow)]
    meta: Option<&'a RawValue>,
    #[serde(rename = "requestState")]
    request_state: Option<String>,
    #[serde(rename = "inputResponses", borrow)]
    input_responses: Option<&'a RawValue>,
    #[serde(borrow)]
    capabilities: Option<&'a RawValue>,
}

fn params(raw: Option<&RawValue>) -> Option<Params<'_>> {
    serde_json::from_str(raw?.get()).ok()
}

/// Whether `capabilities` (a `ClientCapabilities` object) declares URL elicitation.
fn declares_url(capabilities: Option<&RawValue>) -> bool {
    #[derive(Deserialize)]
    struct Caps<'a> {
        #[serde(borrow)]
        elicitation: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Elicitation<'a> {
        #[serde(borrow)]
        url: Option<&'a RawValue>,
    }
    capabilities
        .and_then(|raw| serde_json::from_str::<Caps<'_>>(raw.get()).ok())
        .and_then(|caps| caps.elicitation)
        .and_then(|raw| serde_json::from_str::<Elicitation<'_>>(raw.get()).ok())
        .and_then(|elicitation| elicitation.url)
        .is_some_and(|url| url.get().starts_with('{'))
}

/// What an `initialize` request's params declare.
pub(crate) fn initialize_caps(raw: Option<&RawValue>) -> ClientCaps {
    ClientCaps {
        url_elicitation: params(raw).is_some_and(|p| declares_url(p.capabilities)),
    }
}

/// What a `tools/call`'s params say to the gateway, for a request speaking `version`: only
/// 2026-07-28 and later declare capabilities per request and echo `requestState`s.
pub(crate) fn call_params(version: Option<&str>, raw: Option<&RawValue>) -> CallParams {
    if version.is_none_or(|version| version < MRTR_REVISION) {
        return CallParams::default();
    }
    let Some(params) = params(raw) else {
        return CallParams::default();
    };
    let url_elicitation = params
        .meta
        .and_then(|meta| {
            serde_json::from_str::<std::collections::HashMap<&str, &RawValue>>(meta.get()).ok()
        })
        .is_some_and(|meta| declares_url(meta.get(CLIENT_CAPABILITIES).copied()));
    let own_state = params
        .request_state
        .and_then(|state| state.strip_prefix(STATE_PREFIX).map(str::to_owned));
    let declined = params
        .input_responses
        .and_then(|raw| serde_json::from_str::<serde_json::Map<String, Value>>(raw.get()).ok())
        .and_then(|responses| responses.get(INPUT_KEY).cloned())
        .is_some_and(|answer| answer.get("action").and_then(Value::as_str) != Some("accept"));
    CallParams {
        url_elicitation,
        own_state,
        declined,
    }
}

/// What the last `initialize` of each user × MCP client × server declared, for servers that
/// open no session (a stateless server, e.g. every server of the Gumstack SDK): a 2025-11-25
/// client declares its capabilities once, in `initialize`, and names no session afterwards.
/// The latest `initialize` counts. Bounded: when full it starts over (a client that lost its
/// entry is answered with the server's own tool error, the link).
#[derive(Debug, Default)]
pub(crate) struct DeclaredCaps {
    by_caller: std::sync::Mutex<std::collections::HashMap<String, ClientCaps>>,
    /// Whether any caller declared anything: until one does, a call costs no lookup.
    any: std::sync::atomic::AtomicBool,
}

impl DeclaredCaps {
    const CAPACITY: usize = 100_000;

    fn key(server_id: &str, user_id: &str, client_id: &str) -> String {
        format!("{server_id} {user_id} {client_id}")
    }

    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, ClientCaps>> {
        self.by_caller
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The caller's `initialize` declared `caps`.
    pub(crate) fn record(&self, server_id: &str, user_id: &str, client_id: &str, caps: ClientCaps) {
        let key = Self::key(server_id, user_id, client_id);
        let mut map = self.map();
        if caps == ClientCaps::default() {
            map.remove(&key);
            return;
        }
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(key, caps);
        self.any.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// What the caller's last `initialize` declared.
    pub(crate) fn get(&self, server_id: &str, user_id: &str, client_id: &str) -> ClientCaps {
        if !self.any.load(std::sync::atomic::Ordering::Relaxed) {
            return ClientCaps::default();
        }
        self.map()
            .get(&Self::key(server_id, user_id, client_id))
            .copied()
            .unwrap_or_default()
    }
}

/// How a call of a client speaking `version` (its `Mcp-Protocol-Version`) is answered when it
/// needs input, if it can be asked at all.
pub(crate) fn reply_for(
    version: Option<&str>,
    call: &CallParams,
    session: ClientCaps,
) -> Option<Reply> {
    if call.declined {
        // The person said no: the server's own answer (the link) is what is left to say.
        return None;
    }
    match version? {
        // Revisions are dates: later ones compare greater.
        v if v >= MRTR_REVISION => call.url_elicitation.then_some(Reply::InputRequired),
        URL_ERROR_REVISION => session
            .url_elicitation
            .then_some(Reply::UrlElicitationError),
        _ => None,
    }
}

/// The body of a retried call without the gateway's `requestState` and its input response,
/// which are not the server's to see. `None` when the body is not the object it was.
pub(crate) fn without_own(body: &[u8]) -> Option<Vec<u8>> {
    let mut message: serde_json::Map<String, Value> = serde_json::from_slice(body).ok()?;
    let params = message.get_mut("params")?.as_object_mut()?;
    if params
        .get("requestState")
        .and_then(Value::as_str)
        .is_some_and(|state| state.starts_with(STATE_PREFIX))
    {
        params.remove("requestState");
    }
    if let Some(Value::Object(responses)) = params.get_mut("inputResponses") {
        responses.remove(INPUT_KEY);
        if responses.is_empty() {
            params.remove("inputResponses");
        }
    }
    serde_json::to_vec(&message).ok()
}

/// The answer that replaces the server's: `id` is the request's id as JSON text.
fn replacement(reply: Reply, id: &str, needed: &InputNeeded) -> String {
    let elicitation = serde_json::json!({
        "mode": "url",
        "message": needed.message,
        "url": needed.url,
        "elicitationId": needed.elicitation_id,
    });
    let body = match reply {
        Reply::InputRequired => serde_json::json!({
            "resultType": "input_required",
            "inputRequests": {
                INPUT_KEY: {"method": "elicitation/create", "params": elicitation},
            },
            "requestState": format!("{STATE_PREFIX}{}", needed.request_state),
        }),
        Reply::UrlElicitationError => serde_json::json!({
            "code": URL_ELICITATION_REQUIRED,
            "message": needed.message,
            "data": {"elicitations": [elicitation]},
        }),
    };
    let key = match reply {
        Reply::InputRequired => "result",
        Reply::UrlElicitationError => "error",
    };
    format!(r#"{{"jsonrpc":"2.0","id":{id},"{key}":{body}}}"#)
}

/// The call whose answer may be replaced, and how.
pub(crate) struct Ask {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) call_id: String,
    pub(crate) tool: String,
    /// The request's id, as JSON text.
    pub(crate) id: String,
    pub(crate) reply: Reply,
}

impl Ask {
    /// The message to send instead of `message`, if `message` is the call's error answer and
    /// the call needs input.
    fn replace(&self, message: &[u8]) -> Option<String> {
        let value: Value = serde_json::from_slice(message).ok()?;
        let id: Value = serde_json::from_str(&self.id).ok()?;
        if value.get("id") != Some(&id) || value.get("method").is_some() {
            return None;
        }
        let failed = value.get("error").is_some()
            || value
                .get("result")
                .and_then(|result| result.get("isError"))
                .and_then(Value::as_bool)
                == Some(true);
        if !failed {
            return None;
        }
        let needed = self.backend.input_needed(&self.call_id, &self.tool)?;
        tracing::debug!(call = %self.call_id, tool = %self.tool, "answered the call with a URL elicitation");
        Some(replacement(self.reply, &self.id, &needed))
    }

    /// Whether `message` is a response to the call (then nothing after it is looked at).
    fn answers(&self, message: &[u8]) -> bool {
        #[derive(Deserialize)]
        struct Envelope<'a> {
            #[serde(borrow)]
            id: Option<&'a RawValue>,
            method: Option<serde::de::IgnoredAny>,
        }
        serde_json::from_slice::<Envelope<'_>>(message)
            .ok()
            .is_some_and(|e| e.method.is_none() && e.id.is_some_and(|id| id.get() == self.id))
    }
}

/// What is held back of the body while its answer is looked for.
enum Pending {
    /// One JSON message, read whole up to `limit` bytes (beyond: passed on as it is).
    Json { buffer: Vec<u8>, limit: usize },
    /// An SSE stream: the bytes of the event not yet complete.
    Sse { buffer: Vec<u8> },
}

/// A `tools/call` response body that passes through unchanged, except for the call's answer
/// when the call needs input: then it is replaced by [`Ask::reply`]'s.
pub(crate) struct ElicitBody<B> {
    inner: B,
    ask: Option<Ask>,
    pending: Pending,
    out: VecDeque<Bytes>,
    ended: bool,
}

impl<B> ElicitBody<B> {
    /// `event_stream`: the body is `text/event-stream`; otherwise one JSON message, of which
    /// at most `limit` bytes are held back.
    pub(crate) fn new(inner: B, ask: Ask, event_stream: bool, limit: usize) -> Self {
        let pending = if event_stream {
            Pending::Sse { buffer: Vec::new() }
        } else {
            Pending::Json {
                buffer: Vec::new(),
                limit,
            }
        };
        Self {
            inner,
            ask: Some(ask),
            pending,
            out: VecDeque::new(),
            ended: false,
        }
    }

    fn push(&mut self, bytes: Bytes) {
        let Some(ask) = &self.ask else {
            self.out.push_back(bytes);
            return;
        };
        match &mut self.pending {
            Pending::Json { buffer, limit } => {
                buffer.extend_from_slice(&bytes);
                if buffer.len() > *limit {
                    // Too long to look at: the server's answer goes as it is.
                    self.out.push_back(Bytes::from(std::mem::take(buffer)));
                    self.ask = None;
                }
            }
            Pending::Sse { buffer } => {
                buffer.extend_from_slice(&bytes);
                while let Some(end) = event_end(buffer) {
                    let event: Vec<u8> = buffer.drain(..end).collect();
                    let data = event_data(&event);
                    if ask.answers(&data) {
                        let replaced = ask
                            .replace(&data)
                            .map(|message| Bytes::from(replace_event_data(&event, &message)));
                        self.out
                            .push_back(replaced.unwrap_or_else(|| Bytes::from(event)));
                        self.out.push_back(Bytes::from(std::mem::take(buffer)));
                        self.ask = None;
                        return;
                    }
                    self.out.push_back(Bytes::from(event));
                }
            }
        }
    }

    /// The body ended: what is still held back goes, replaced if it is the answer.
    fn finish(&mut self) {
        let Some(ask) = self.ask.take() else {
            return;
        };
        let buffer = match &mut self.pending {
            Pending::Json { buffer, .. } | Pending::Sse { buffer } => std::mem::take(buffer),
        };
        if let Pending::Json { .. } = self.pending
            && let Some(message) = ask.replace(&buffer)
        {
            self.out.push_back(Bytes::from(message));
            return;
        }
        if !buffer.is_empty() {
            self.out.push_back(Bytes::from(buffer));
        }
    }
}

/// Where the first complete event of an SSE stream ends (after its blank line).
fn event_end(buffer: &[u8]) -> Option<usize> {
    let lf = find(buffer, b"\n\n").map(|at| at + 2);
    let crlf = find(buffer, b"\r\n\r\n").map(|at| at + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The `data` of an SSE event: its `data:` lines, joined by newlines.
fn event_data(event: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    for line in event.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(value) = line.strip_prefix(b"data:") {
            if !data.is_empty() {
                data.push(b'\n');
            }
            data.extend_from_slice(value.strip_prefix(b" ").unwrap_or(value));
        }
    }
    data
}

/// `event` with its `data:` lines replaced by one line of `message`; its other fields (`id:`,
/// `event:`) kept.
fn replace_event_data(event: &[u8], message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.len() + message.len());
    for line in event.split(|&b| b == b'\n') {
        let bare = line.strip_suffix(b"\r").unwrap_or(line);
        if bare.is_empty() || bare.starts_with(b"data:") {
            continue;
        }
        out.extend_from_slice(bare);
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(message.as_bytes());
    out.extend_from_slice(b"\n\n");
    out
}

impl<B> Body for ElicitBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(bytes) = this.out.pop_front() {
                if bytes.is_empty() {
                    continue;
                }
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(bytes) => this.push(bytes),
                    // Trailers: whatever is held back goes first.
                    Err(frame) => {
                        this.finish();
                        if this.out.is_empty() {
                            return Poll::Ready(Some(Ok(frame)));
                        }
                        // Rare enough to drop: HTTP/1.1 MCP responses carry no trailers.
                    }
                },
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => {
                    this.finish();
                    this.ended = true;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.out.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt as _, Full};

    use super::*;

    #[derive(Debug)]
    struct Marked(bool);

    #[async_trait::async_trait]
    impl Backend for Marked {
        async fn authorize(
            &self,
            _: &str,
            _: Option<&str>,
        ) -> Result<crate::Grant, crate::Refusal> {
            Err(crate::Refusal::NotFound)
        }

        fn input_needed(&self, call_id: &str, tool: &str) -> Option<InputNeeded> {
            (self.0 && call_id == "call-1" && tool == "greet").then(|| InputNeeded {
                message: "Demo needs your github account.".into(),
                url: "https://gumstack.test/connections/demo?elicitation=e".into(),
                elicitation_id: "el-1".into(),
                request_state: "signed".into(),
            })
        }
    }

    fn ask(marked: bool, reply: Reply) -> Ask {
        Ask {
            backend: Arc::new(Marked(marked)),
            call_id: "call-1".into(),
            tool: "greet".into(),
            id: "7".into(),
            reply,
        }
    }

    const TOOL_ERROR: &str = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"connect at https://x"}],"isError":true}}"#;

    async fn read(body: ElicitBody<Full<Bytes>>) -> String {
        String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_marked_json_error_becomes_an_input_required_result() {
        let body = ElicitBody::new(
            Full::new(Bytes::from(TOOL_ERROR)),
            ask(true, Reply::InputRequired),
            false,
            1 << 16,
        );
        let answer: Value = serde_json::from_str(&read(body).await).unwrap();
        assert_eq!(answer["id"], 7);
        assert_eq!(answer["result"]["resultType"], "input_required");
        let request = &answer["result"]["inputRequests"][INPUT_KEY];
        assert_eq!(request["method"], "elicitation/create");
        assert_eq!(request["params"]["mode"], "url");
        assert_eq!(request["params"]["elicitationId"], "el-1");
        assert_eq!(answer["result"]["requestState"], "gumstack.signed");
    }

    #[tokio::test]
    async fn a_marked_sse_error_becomes_the_url_elicitation_error_and_other_events_pass() {
        let stream = format!(
            "id: 1\nevent: message\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{}}}}\n\nid: 2\nevent: message\ndata: {TOOL_ERROR}\n\n"
        );
        let body = ElicitBody::new(
            Full::new(Bytes::from(stream)),
            ask(true, Reply::UrlElicitationError),
            true,
            1 << 16,
        );
        let text = read(body).await;
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 2, "{text}");
        assert!(events[0].contains("notifications/progress"));
        assert!(events[1].starts_with("id: 2\nevent: message\ndata: "));
        let data = events[1].split("data: ").nth(1).unwrap();
        let answer: Value = serde_json::from_str(data).unwrap();
        assert_eq!(answer["error"]["code"], URL_ELICITATION_REQUIRED);
        assert_eq!(
            answer["error"]["data"]["elicitations"][0]["url"],
            "https://gumstack.test/connections/demo?elicitation=e"
        );
    }

    #[tokio::test]
    async fn an_unmarked_call_a_success_or_another_id_passes_unchanged() {
        for (marked, message) in [
            (false, TOOL_ERROR.to_owned()),
            (
                true,
                r#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#.to_owned(),
            ),
            (true, TOOL_ERROR.replace("\"id\":7", "\"id\":8")),
        ] {
            let body = ElicitBody::new(
                Full::new(Bytes::from(message.clone())),
                ask(marked, Reply::InputRequired),
                false,
                1 << 16,
            );
            assert_eq!(read(body).await, message);
        }
    }

    #[tokio::test]
    async fn a_message_longer_than_the_limit_passes_unchanged() {
        let body = ElicitBody::new(
            Full::new(Bytes::from(TOOL_ERROR)),
            ask(true, Reply::InputRequired),
            false,
            16,
        );
        assert_eq!(read(body).await, TOOL_ERROR);
    }

    #[test]
    fn what_a_call_declares_and_echoes_is_read() {
        let raw = |text: &str| RawValue::from_string(text.to_owned()).unwrap();
        let declared = raw(
            r#"{"name":"greet","_meta":{"io.modelcontextprotocol/clientCapabilities":{"elicitation":{"url":{}}}}}"#,
        );
        assert!(call_params(Some("2026-07-28"), Some(&declared)).url_elicitation);
        let form_only = raw(
            r#"{"name":"greet","_meta":{"io.modelcontextprotocol/clientCapabilities":{"elicitation":{"form":{}}}}}"#,
        );
        assert!(!call_params(Some("2026-07-28"), Some(&form_only)).url_elicitation);
        let retry = raw(
            r#"{"name":"greet","requestState":"gumstack.abc","inputResponses":{"gumstack/credentials":{"action":"decline"}}}"#,
        );
        let params = call_params(Some("2026-07-28"), Some(&retry));
        assert_eq!(params.own_state.as_deref(), Some("abc"));
        assert!(params.declined);
        let servers = raw(r#"{"name":"greet","requestState":"server-state"}"#);
        assert_eq!(
            call_params(Some("2026-07-28"), Some(&servers)),
            CallParams::default()
        );
        assert_eq!(
            call_params(Some("2025-11-25"), Some(&declared)),
            CallParams::default(),
            "an older revision declares nothing per request"
        );
        let init = raw(r#"{"capabilities":{"elicitation":{"url":{}}}}"#);
        assert!(initialize_caps(Some(&init)).url_elicitation);
    }

    #[test]
    fn the_latest_initialize_of_each_caller_counts() {
        let declared = DeclaredCaps::default();
        let url = ClientCaps {
            url_elicitation: true,
        };
        assert_eq!(declared.get("s", "alice", "c"), ClientCaps::default());
        declared.record("s", "alice", "c", url);
        assert_eq!(declared.get("s", "alice", "c"), url);
        for (server, user, client) in [("s", "bob", "c"), ("t", "alice", "c"), ("s", "alice", "d")]
        {
            assert_eq!(
                declared.get(server, user, client),
                ClientCaps::default(),
                "another caller"
            );
        }
        declared.record("s", "alice", "c", ClientCaps::default());
        assert_eq!(declared.get("s", "alice", "c"), ClientCaps::default());
        assert!(declared.map().is_empty(), "nothing kept for a plain client");
    }

    #[test]
    fn the_revision_decides_the_reply() {
        let url = CallParams {
            url_elicitation: true,
            ..CallParams::default()
        };
        let session = ClientCaps {
            url_elicitation: true,
        };
        let none = ClientCaps::default();
        assert_eq!(
            reply_for(Some("2026-07-28"), &url, none),
            Some(Reply::InputRequired)
        );
        // -32042 is not sent to 2026-07-28 clients, whatever their session said.
        assert_eq!(
            reply_for(Some("2026-07-28"), &CallParams::default(), session),
            None
        );
        assert_eq!(
            reply_for(Some("2025-11-25"), &CallParams::default(), session),
            Some(Reply::UrlElicitationError)
        );
        assert_eq!(reply_for(Some("2025-11-25"), &url, none), None);
        assert_eq!(reply_for(Some("2025-06-18"), &url, session), None);
        assert_eq!(reply_for(None, &url, session), None);
    }

    #[test]
    fn the_gateways_own_fields_are_taken_out_of_a_retry() {
        let body = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"greet","requestState":"gumstack.abc","inputResponses":{"gumstack/credentials":{"action":"accept"}}}}"#;
        let stripped: Value = serde_json::from_slice(&without_own(body).unwrap()).unwrap();
        assert_eq!(
            stripped["params"],
            serde_json::json!({"name": "greet"}),
            "nothing of the gateway's reaches the server"
        );
        let mixed = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"greet","requestState":"server","inputResponses":{"gumstack/credentials":{"action":"accept"},"mine":{"action":"accept"}}}}"#;
        let stripped: Value = serde_json::from_slice(&without_own(mixed).unwrap()).unwrap();
        assert_eq!(stripped["params"]["requestState"], "server");
        assert_eq!(
            stripped["params"]["inputResponses"],
            serde_json::json!({"mine": {"action": "accept"}})
        );
    }
}
