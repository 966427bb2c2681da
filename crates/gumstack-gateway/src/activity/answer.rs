//! Reading a `tools/call` answer out of the response as it streams: one JSON message
//! ([`Message`]: its first bytes kept, its tail seen) or the response event of an SSE stream
//! ([`SseScan`]), and how the call ended ([`Answer`]).

use serde_json::Value;

use super::{CallStatus, Captured};
use crate::elicit::URL_ELICITATION_REQUIRED;

mod outline;
use outline::{Outline, ResultOutline};

/// The tail kept of a long message, to see its `isError`.
const TAIL: usize = 128;

/// What the tee reads: the answer in a JSON body, or in an SSE stream.
#[derive(Debug)]
pub(super) enum Reader {
    Json(Message),
    Sse(SseScan),
}

/// The bytes of one message, the first `limit` kept, and its last [`TAIL`] bytes.
#[derive(Debug)]
pub(super) struct Message {
    pub(super) head: Vec<u8>,
    tail: Vec<u8>,
    len: usize,
    limit: usize,
}

impl Message {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            head: Vec::new(),
            tail: Vec::new(),
            len: 0,
            limit,
        }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) {
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

    pub(super) fn clear(&mut self) {
        self.head.clear();
        self.tail.clear();
        self.len = 0;
    }

    pub(super) fn truncated(&self) -> bool {
        self.len > self.limit
    }

    /// The outcome if this message is a JSON-RPC response; `None` otherwise.
    pub(super) fn answer(&self) -> Option<Answer> {
        let output = Captured::of_head(&self.head, self.truncated());
        if !self.truncated() {
            // Invalid UTF-8 is not JSON, even inside a string the outline skips.
            let text = std::str::from_utf8(&self.head).ok()?;
            let outline: Outline = serde_json::from_str(text).ok()?;
            if outline.method {
                return None;
            }
            if outline.error {
                return Some(match error_message(text) {
                    (Some(URL_ELICITATION_REQUIRED), message) => {
                        Answer::input_required(output, message)
                    }
                    (_, message) => Answer::error(output, message),
                });
            }
            return match outline.result? {
                ResultOutline::IsError => Some(Answer::error(output, result_text(text))),
                ResultOutline::InputRequired => Some(Answer::input_required(
                    output,
                    "the client was asked for input".to_owned(),
                )),
                ResultOutline::Other => Some(Answer::success(output)),
            };
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

/// The message of the JSON-RPC error in `text` (a response the outline found an `error` in):
/// its `message`, or the whole error as JSON. Parsed whole: errors are the rare path.
fn error_message(text: &str) -> (Option<i64>, String) {
    let value: Value = serde_json::from_str(text).unwrap_or_default();
    let error = value.get("error").unwrap_or(&Value::Null);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| error.to_string(), str::to_owned);
    (error.get("code").and_then(Value::as_i64), message)
}

/// The text content of the tool result in `text` (a response whose `result` has
/// `isError: true`): its `text` parts, one per line.
fn result_text(text: &str) -> String {
    let value: Value = serde_json::from_str(text).unwrap_or_default();
    let parts: Vec<&str> = value
        .get("result")
        .and_then(|result| result.get("content"))
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
pub(super) struct Answer {
    pub(super) status: CallStatus,
    pub(super) output: Captured,
    pub(super) error: Option<String>,
}

impl Answer {
    pub(super) fn success(output: Captured) -> Self {
        Self {
            status: CallStatus::Success,
            output,
            error: None,
        }
    }

    pub(super) fn error(output: Captured, error: String) -> Self {
        Self {
            status: CallStatus::Error,
            output,
            error: Some(error),
        }
    }

    /// The client was asked for input (docs/PROTOCOL.md §5): `why` says for what.
    pub(super) fn input_required(output: Captured, why: String) -> Self {
        Self {
            status: CallStatus::InputRequired,
            output,
            error: Some(why),
        }
    }
}

/// An SSE stream read byte by byte: each event's `data` (bounded) is a message; the first
/// that is a response is the call's answer.
#[derive(Debug)]
pub(super) struct SseScan {
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
    pub(super) fn new(limit: usize) -> Self {
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
    pub(super) fn push(&mut self, bytes: &[u8]) -> Option<Answer> {
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

    pub(super) fn start_value(&mut self) {
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
    pub(super) fn end_line(&mut self) -> Option<Answer> {
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
    fn error_texts_come_from_the_error_or_the_result() {
        let answer = |text: &str| message(text, 1024).answer().unwrap();
        let no_message = answer(r#"{"id":1,"error":{"code":-32000, "data":[1]}}"#);
        assert_eq!(no_message.status, CallStatus::Error);
        assert_eq!(
            no_message.error.as_deref(),
            Some(r#"{"code":-32000,"data":[1]}"#)
        );
        let two_parts = answer(
            r#"{"id":1,"result":{"isError":true,"content":[{"type":"text","text":"a"},{"type":"image","data":"x"},{"type":"text","text":"b"}]}}"#,
        );
        assert_eq!(two_parts.error.as_deref(), Some("a\nb"));
        let no_text = answer(r#"{"id":1,"result":{"isError":true}}"#);
        assert_eq!(no_text.error.as_deref(), Some("the tool reported an error"));
        let not_an_error = answer(
            r#"{"id":1,"result":{"isError":false,"content":[{"type":"text","text":"fine"}]}}"#,
        );
        assert_eq!(not_an_error.status, CallStatus::Success);
        assert_eq!(not_an_error.error, None);
        assert_eq!(
            not_an_error.output.text,
            r#"{"id":1,"result":{"isError":false,"content":[{"type":"text","text":"fine"}]}}"#
        );
    }

    #[test]
    fn what_is_not_a_response_has_no_answer() {
        for text in [
            "",
            "Internal Server Error",
            "<html>502</html>",
            "[]",
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}{"id":2}"#,
        ] {
            assert!(message(text, 1024).answer().is_none(), "{text}");
        }
        let mut invalid = Message::new(1024);
        invalid.push(b"{\"id\":1,\"result\":{\"content\":\"\xff\"}}");
        assert!(invalid.answer().is_none(), "invalid UTF-8 is not JSON");
    }

    #[test]
    fn an_sse_answer_with_is_error_is_an_error() {
        let mut scan = SseScan::new(1024);
        let answer = scan
            .push(b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"boom\"}],\"isError\":true}}\n\n")
            .unwrap();
        assert_eq!(answer.status, CallStatus::Error);
        assert_eq!(answer.error.as_deref(), Some("boom"));
        let mut notification_only = SseScan::new(1024);
        assert!(
            notification_only
                .push(b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n")
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
