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

/// Where the gateway reports `tools/call`s. Implemented by the platform's activity log.
#[async_trait::async_trait]
pub trait CallLog: Send + Sync + std::fmt::Debug + 'static {
    /// A `tools/call` starts (it is about to be forwarded, or it was denied). The platform
    /// may make the request wait here for room in its queue (back-pressure). The returned
    /// [`CallEnd`] receives the call's record when the call ends; calls in progress are those
    /// begun and not yet ended.
    async fn begin(&self, call: &CallStart) -> Box<dyn CallEnd>;

    /// [`Self::begin`] when it need not wait: the common case, a log with room at once, takes
    /// no boxed future. `None` when the call has to wait (or the log has no fast path): the
    /// gateway then calls [`Self::begin`], which begins the call.
    fn try_begin(&self, call: &CallStart) -> Option<Box<dyn CallEnd>> {
        let _ = call;
        None
    }
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
    /// Answered by asking the client for input (an `InputRequiredResult`, or the `-32042`
    /// URL elicitation error): the client retries once its user has given it.
    InputRequired,
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
        let end = match log.try_begin(&call) {
            Some(end) => end,
            None => log.begin(&call).await,
        };
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

mod answer;

use answer::{Answer, Message, Reader, SseScan};

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
