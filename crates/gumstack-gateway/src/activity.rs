//! Observing `tools/call` for the activity log (SPEC §9): [`CallLog`] is the seam through which
//! the gateway reports each call — who called which tool of which server, when, how long it
//! took, how it ended, and what went in and came out (each capped).
//!
//! Only `tools/call` is reported. The gateway never waits for the log beyond
//! [`CallLog::begin`] (where the platform may apply back-pressure) and never buffers more of a
//! response than the capture limit: the answer is read by a tee of the response body
//! (`TeeBody`) while it streams to the client. A call whose client goes away mid-stream is
//! still reported, when the body is dropped. Without a [`CallLog`] none of this runs.
//!
//! How a call ends ([`CallStatus`]):
//!
//! - the tool was denied by the caller's group → [`CallStatus::Denied`], never forwarded;
//! - the answer (the JSON-RPC response in a JSON body, or the response event of an SSE
//!   stream) has an `error`, or a `result` with `isError: true` → [`CallStatus::Error`], with
//!   the error's message or the result's text content;
//! - the gateway could not reach the server, the server answered with an HTTP error, the
//!   stream broke off or the client went away before the answer → [`CallStatus::Error`], with
//!   what happened;
//! - otherwise [`CallStatus::Success`].
//!
//! An answer larger than the capture limit is kept as its first bytes and marked truncated;
//! its status is then read from what was seen: the first top-level key of the message (an
//! `error`), and `"isError":true` near its end.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use hyper::body::{Body, Frame, SizeHint};
use secrecy::SecretString;
use serde_json::Value;

/// Where the gateway reports `tools/call`s. Implemented by the platform's activity log.
#[async_trait::async_trait]
pub trait CallLog: Send + Sync + std::fmt::Debug + 'static {
    /// A `tools/call` starts (it is about to be forwarded, or it was denied). The platform
    /// may make the request wait here for room in its queue (back-pressure). The returned
    /// [`CallEnd`] receives the call's record when the call ends; calls in progress are those
    /// begun and not yet ended.
    async fn begin(&self, call: &CallStart) -> Box<dyn CallEnd>;
}

/// Receives the record of one call when it ends. Called exactly once, possibly from a `Drop`
/// (a client that went away): it must not block.
pub trait CallEnd: Send + 'static {
    fn end(self: Box<Self>, record: CallRecord);
}

/// What is known of a `tools/call` when it starts.
#[derive(Debug, Clone)]
pub struct CallStart {
    /// The server's id ([`Grant::server_id`](crate::Grant::server_id)).
    pub server_id: String,
    /// The caller ([`Grant::user_id`](crate::Grant::user_id)).
    pub user_id: String,
    /// The MCP client the call came through ([`Grant::client_id`](crate::Grant::client_id)).
    pub client_id: String,
    /// The id the platform gave this call ([`Grant::call_id`](crate::Grant::call_id)).
    pub call_id: String,
    /// The tool called (`params.name`).
    pub tool: String,
    /// When the gateway had read the call.
    pub started_at: SystemTime,
    /// `params.arguments` as the client sent it (JSON text), capped; `None` when absent.
    pub input: Option<Captured>,
    /// The bearer token the client sent: a secret the record must never show.
    pub token: Option<SecretString>,
}

/// Text captured from a call, cut at the capture limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The first bytes (at most the limit), as UTF-8 (invalid sequences replaced).
    pub text: String,
    /// Whether there was more than `text`.
    pub truncated: bool,
}

impl Captured {
    /// `bytes` cut at `limit` (on a character boundary).
    pub fn cut(bytes: &[u8], limit: usize) -> Self {
        Self::of_head(&bytes[..bytes.len().min(limit)], bytes.len() > limit)
    }

    /// The first bytes of a longer text (`truncated`) or the whole of it.
    fn of_head(head: &[u8], truncated: bool) -> Self {
        let head = match std::str::from_utf8(head) {
            // A character cut in two at the end is left out.
            Err(error) if truncated && error.error_len().is_none() => &head[..error.valid_up_to()],
            _ => head,
        };
        Self {
            text: String::from_utf8_lossy(head).into_owned(),
            truncated,
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    Success,
    Error,
    /// Refused by the caller's permission group; never forwarded.
    Denied,
}

/// The record of one ended call.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub call: CallStart,
    pub status: CallStatus,
    /// From [`CallStart::started_at`] to the answer (or the end of the stream).
    pub duration: Duration,
    /// The JSON-RPC response to the call (the whole message), capped.
    pub output: Option<Captured>,
    /// Why the call failed: the JSON-RPC error's message, the text of an `isError` result, or
    /// what the gateway saw go wrong.
    pub error: Option<String>,
}

/// One call being watched: ends exactly once, with a fallback error if nothing else ended it.
pub(crate) struct CallWatch {
    inner: Option<(CallStart, Box<dyn CallEnd>)>,
    started: Instant,
}

impl std::fmt::Debug for CallWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallWatch")
            .field("ended", &self.inner.is_none())
            .finish()
    }
}

impl CallWatch {
    pub(crate) async fn begin(log: &dyn CallLog, call: CallStart) -> Self {
        let started = Instant::now();
        let end = log.begin(&call).await;
        Self {
            inner: Some((call, end)),
            started,
        }
    }

    pub(crate) fn end(
        &mut self,
        status: CallStatus,
        output: Option<Captured>,
        error: Option<String>,
    ) {
        if let Some((call, end)) = self.inner.take() {
            end.end(CallRecord {
                call,
                status,
                duration: self.started.elapsed(),
                output,
                error,
            });
        }
    }

    pub(crate) fn fail(&mut self, error: impl Into<String>) {
        self.end(CallStatus::Error, None, Some(error.into()));
    }
}

impl Drop for CallWatch {
    fn drop(&mut self) {
        self.fail("the call ended before the server answered");
    }
}

/// The tail kept of a long message, to see its `isError`.
const TAIL: usize = 128;

/// What the tee reads: the answer in a JSON body, or in an SSE stream.
#[derive(Debug)]
enum Reader {
    Json(Message),
    Sse(SseScan),
}

/// The bytes of one message, the first `limit` kept, and its last [`TAIL`] bytes.
#[derive(Debug)]
struct Message {
    head: Vec<u8>,
    tail: Vec<u8>,
    len: usize,
    limit: usize,
}

impl Message {
    fn new(limit: usize) -> Self {
        Self {
            head: Vec::new(),
            tail: Vec::new(),
            len: 0,
            limit,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
        let room = self.limit.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if self.len > self.limit {
            self.tail.extend_from_slice(bytes);
            if self.tail.len() > TAIL {
                self.tail.drain(..self.tail.len() - TAIL);
            }
        }
    }

    fn clear(&mut self) {
        self.head.clear();
        self.tail.clear();
        self.len = 0;
    }

    fn truncated(&self) -> bool {
        self.len > self.limit
    }

    /// The outcome if this message is a JSON-RPC response; `None` otherwise.
    fn answer(&self) -> Option<Answer> {
        let output = Captured::of_head(&self.head, self.truncated());
        if !self.truncated() {
            let value: Value = serde_json::from_slice(&self.head).ok()?;
            let object = value.as_object()?;
            if object.contains_key("method") {
                return None;
            }
            if let Some(error) = object.get("error") {
                let message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| error.to_string(), str::to_owned);
                return Some(Answer::error(output, message));
            }
            let result = object.get("result")?;
            if result.get("isError").and_then(Value::as_bool) == Some(true) {
                return Some(Answer::error(output, result_text(result)));
            }
            return Some(Answer::success(output));
        }
        match first_kind(&self.head)? {
            Kind::Error => Some(Answer::error(
                output,
                "the server answered with an error too long to keep; see the output".to_owned(),
            )),
            Kind::Result => {
                let tail: Vec<u8> = self
                    .tail
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                if contains(&tail, b"\"isError\":true") {
                    Some(Answer::error(
                        output,
                        "the tool reported an error too long to keep; see the output".to_owned(),
                    ))
                } else {
                    Some(Answer::success(output))
                }
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The text content of a tool result (its `text` parts, one per line).
fn result_text(result: &Value) -> String {
    let parts: Vec<&str> = result
        .get("content")
        .and_then(Value::as_array)
        .map(|content| {
            content
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if parts.is_empty() {
        "the tool reported an error".to_owned()
    } else {
        parts.join("\n")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Result,
    Error,
}

/// The kind of a JSON-RPC message from its first bytes: the first of its top-level keys
/// `method`, `result` or `error` (scalar values before it are skipped). `None` for a request
/// or notification, or when it cannot be told.
fn first_kind(head: &[u8]) -> Option<Kind> {
    let mut rest = trim(head).strip_prefix(b"{")?;
    loop {
        rest = trim(rest);
        let (key, after) = json_string(rest)?;
        rest = trim(after).strip_prefix(b":")?;
        match key {
            b"result" => return Some(Kind::Result),
            b"error" => return Some(Kind::Error),
            b"method" => return None,
            _ => {}
        }
        rest = trim(rest);
        rest = match rest.first()? {
            b'"' => json_string(rest)?.1,
            _ => {
                let end = rest.iter().position(|b| matches!(b, b',' | b'}'))?;
                let scalar = &rest[..end];
                if scalar.contains(&b'{') || scalar.contains(&b'[') {
                    return None;
                }
                &rest[end..]
            }
        };
        rest = trim(rest).strip_prefix(b",")?;
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// A JSON string at the start of `bytes`: its raw content and what follows.
fn json_string(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = bytes.strip_prefix(b"\"")?;
    let mut escaped = false;
    for (i, &b) in body.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some((&body[..i], &body[i + 1..])),
            _ => {}
        }
    }
    None
}

#[derive(Debug)]
struct Answer {
    status: CallStatus,
    output: Captured,
    error: Option<String>,
}

impl Answer {
    fn success(output: Captured) -> Self {
        Self {
            status: CallStatus::Success,
            output,
            error: None,
        }
    }

    fn error(output: Captured, error: String) -> Self {
        Self {
            status: CallStatus::Error,
            output,
            error: Some(error),
        }
    }
}

/// An SSE stream read byte by byte: each event's `data` (bounded) is a message; the first
/// that is a response is the call's answer.
#[derive(Debug)]
struct SseScan {
    /// The current line's field name (only `data` matters; longer names are not it).
    field: [u8; 8],
    field_len: usize,
    /// Past the colon: the value of `field`.
    in_value: bool,
    /// The current line is a `data` line.
    is_data: bool,
    /// The single space after the colon is not part of the value.
    skip_space: bool,
    /// A `\r` ended the last line; a `\n` right after it belongs to it.
    after_cr: bool,
    /// The current event has had a data line.
    has_data: bool,
    data: Message,
}

impl SseScan {
    fn new(limit: usize) -> Self {
        Self {
            field: [0; 8],
            field_len: 0,
            in_value: false,
            is_data: false,
            skip_space: false,
            after_cr: false,
            has_data: false,
            data: Message::new(limit),
        }
    }

    /// Reads `bytes`; returns the answer as soon as its event is complete.
    fn push(&mut self, bytes: &[u8]) -> Option<Answer> {
        let mut answer = None;
        let mut run_start = None::<usize>;
        for (i, &b) in bytes.iter().enumerate() {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            if b == b'\r' || b == b'\n' {
                if let Some(start) = run_start.take() {
                    self.data.push(&bytes[start..i]);
                }
                self.after_cr = b == b'\r';
                if let Some(found) = self.end_line() {
                    answer.get_or_insert(found);
                }
                continue;
            }
            if self.in_value {
                if self.skip_space {
                    self.skip_space = false;
                    if b == b' ' {
                        continue;
                    }
                }
                if self.is_data && run_start.is_none() {
                    run_start = Some(i);
                }
                continue;
            }
            if b == b':' {
                self.start_value();
            } else if self.field_len < self.field.len() {
                // A longer name is not `data`: it stays at 8 bytes and never matches.
                self.field[self.field_len] = b;
                self.field_len += 1;
            }
        }
        if let Some(start) = run_start {
            self.data.push(&bytes[start..]);
        }
        answer
    }

    fn start_value(&mut self) {
        self.in_value = true;
        self.skip_space = true;
        self.is_data = &self.field[..self.field_len] == b"data";
        if self.is_data {
            if self.has_data {
                self.data.push(b"\n");
            }
            self.has_data = true;
        }
    }

    /// A line ended; a blank line ends the event.
    fn end_line(&mut self) -> Option<Answer> {
        let blank = !self.in_value && self.field_len == 0;
        if !self.in_value && &self.field[..self.field_len] == b"data" {
            // `data` with no colon: a data line with an empty value.
            self.start_value();
        }
        self.in_value = false;
        self.is_data = false;
        self.field_len = 0;
        if !blank {
            return None;
        }
        let answer = if self.has_data {
            self.data.answer()
        } else {
            None
        };
        self.has_data = false;
        self.data.clear();
        answer
    }
}

/// A response body that streams to the client unchanged while the call's answer is read
/// from it; the call is ended when the answer is complete, when the body ends or fails, or
/// when the body is dropped (the client went away).
pub(crate) struct TeeBody<B> {
    inner: B,
    watch: Option<CallWatch>,
    reader: Reader,
    /// The HTTP status of a response that is not a success: the call failed, whatever the
    /// body says.
    http_error: Option<u16>,
}

impl<B> std::fmt::Debug for TeeBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeeBody")
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

impl<B> TeeBody<B> {
    /// `event_stream`: the body is `text/event-stream`; otherwise it is one JSON message.
    pub(crate) fn new(inner: B, watch: CallWatch, event_stream: bool, limit: usize) -> Self {
        let reader = if event_stream {
            Reader::Sse(SseScan::new(limit))
        } else {
            Reader::Json(Message::new(limit))
        };
        Self {
            inner,
            watch: Some(watch),
            reader,
            http_error: None,
        }
    }

    /// The response's status is the HTTP error `status`.
    pub(crate) fn http_error(mut self, status: u16) -> Self {
        self.http_error = Some(status);
        self
    }

    fn read(&mut self, bytes: &[u8]) {
        if self.watch.is_none() {
            return;
        }
        let answer = match &mut self.reader {
            Reader::Json(message) => {
                message.push(bytes);
                None
            }
            Reader::Sse(scan) => scan.push(bytes),
        };
        if let Some(answer) = answer {
            self.finish(answer);
        }
    }

    fn finish(&mut self, answer: Answer) {
        if let Some(mut watch) = self.watch.take() {
            match self.http_error {
                Some(status) => watch.end(
                    CallStatus::Error,
                    Some(answer.output),
                    Some(
                        answer
                            .error
                            .unwrap_or_else(|| format!("the server answered HTTP {status}")),
                    ),
                ),
                None => watch.end(answer.status, Some(answer.output), answer.error),
            }
        }
    }

    /// The body ended (`None`: normally).
    fn ended(&mut self, failure: Option<&str>) {
        let Some(mut watch) = self.watch.take() else {
            return;
        };
        if let Some(failure) = failure {
            watch.fail(failure);
            return;
        }
        let answer = match &self.reader {
            Reader::Json(message) => message.answer().unwrap_or_else(|| {
                let why = match self.http_error {
                    Some(status) => format!("the server answered HTTP {status}"),
                    None => "the server's answer is not a JSON-RPC response".to_owned(),
                };
                Answer::error(Captured::of_head(&message.head, message.truncated()), why)
            }),
            Reader::Sse(_) => {
                watch.fail("the server's stream ended without an answer");
                return;
            }
        };
        self.watch = Some(watch);
        self.finish(answer);
    }
}

impl<B> Drop for TeeBody<B> {
    fn drop(&mut self) {
        // A whole JSON answer whose end was not seen still counts.
        if let Reader::Json(message) = &self.reader
            && self.watch.is_some()
            && !message.truncated()
            && let Some(answer) = message.answer()
        {
            self.finish(answer);
        }
        if let Some(mut watch) = self.watch.take() {
            watch.fail("the client went away before the answer ended");
        }
    }
}

impl<B> Body for TeeBody<B>
where
    B: Body<Data = axum::body::Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = axum::body::Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read(data);
                }
                // A body of known length is not polled again after its last byte.
                if this.inner.is_end_stream() {
                    this.ended(None);
                }
            }
            Poll::Ready(Some(Err(error))) => {
                this.ended(Some(&format!("the server's answer broke off: {error}")));
            }
            Poll::Ready(None) => this.ended(None),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `Arc` of a log, as the gateway holds it.
pub(crate) type SharedLog = Arc<dyn CallLog>;

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str, limit: usize) -> Message {
        let mut message = Message::new(limit);
        message.push(text.as_bytes());
        message
    }

    #[test]
    fn json_answers_are_read_by_kind() {
        let ok = message(
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}"#,
            1024,
        )
        .answer()
        .unwrap();
        assert_eq!(ok.status, CallStatus::Success);
        let tool_error = message(
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"no such city"}],"isError":true}}"#,
            1024,
        )
        .answer()
        .unwrap();
        assert_eq!(tool_error.status, CallStatus::Error);
        assert_eq!(tool_error.error.as_deref(), Some("no such city"));
        let rpc_error = message(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad args"}}"#,
            1024,
        )
        .answer()
        .unwrap();
        assert_eq!(rpc_error.error.as_deref(), Some("bad args"));
        assert!(
            message(
                r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#,
                1024
            )
            .answer()
            .is_none()
        );
    }

    #[test]
    fn long_answers_are_cut_and_read_from_their_ends() {
        let long = "x".repeat(500);
        let text = format!(
            r#"{{"jsonrpc":"2.0","id":"a","result":{{"content":[{{"type":"text","text":"{long}"}}], "isError": true }}}}"#
        );
        let answer = message(&text, 100).answer().unwrap();
        assert_eq!(answer.status, CallStatus::Error);
        assert!(answer.output.truncated);
        assert_eq!(answer.output.text.len(), 100);
        let text = format!(r#"{{"result":{{"content":[{{"text":"{long}"}}]}},"id":1}}"#);
        assert_eq!(
            message(&text, 100).answer().unwrap().status,
            CallStatus::Success
        );
        let text = format!(r#"{{"jsonrpc":"2.0","id":1,"error":{{"message":"{long}"}}}}"#);
        assert_eq!(
            message(&text, 100).answer().unwrap().status,
            CallStatus::Error
        );
        let text = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":"{long}"}}"#);
        assert!(message(&text, 100).answer().is_none());
    }

    #[test]
    fn sse_events_are_read_across_chunks_and_line_endings() {
        let stream = "event: message\r\nid: 0\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\n: comment\n\ndata: {\"jsonrpc\":\"2.0\",\ndata:\"id\":1,\"result\":{\"content\":[]}}\n\n";
        for split in 0..stream.len() {
            let mut scan = SseScan::new(1024);
            let first = scan.push(&stream.as_bytes()[..split]);
            let answer = first
                .or_else(|| scan.push(&stream.as_bytes()[split..]))
                .unwrap_or_else(|| panic!("no answer when split at {split}"));
            assert_eq!(answer.status, CallStatus::Success);
            assert_eq!(
                answer.output.text,
                "{\"jsonrpc\":\"2.0\",\n\"id\":1,\"result\":{\"content\":[]}}"
            );
        }
    }

    #[test]
    fn cut_text_keeps_whole_characters() {
        let cut = Captured::cut("aé".as_bytes(), 2);
        assert_eq!(cut.text, "a");
        assert!(cut.truncated);
        assert_eq!(Captured::cut(b"abc", 3).text, "abc");
    }
}
