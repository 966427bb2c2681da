//! The response body of a call that may need its user's input: passed through unchanged,
//! except for the call's answer when the platform marked the call (see the parent module).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{INPUT_KEY, Reply, STATE_PREFIX, URL_ELICITATION_REQUIRED};
use crate::backend::{Backend, InputNeeded};

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
}
