//! Per-tool permissions as the gateway applies them: [`ToolAccess`] says which tools the caller
//! may call; a denied `tools/call` never reaches the server, and `tools/list` answers are
//! filtered so that a denied tool is not offered.
//!
//! A `tools/list` answer is rewritten only when something is denied: it is read whole
//! (bounded), as a JSON body or as an SSE stream whose `data` is a JSON-RPC message, and every
//! tool the caller may not call is removed from `result.tools`. Other messages pass unchanged.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

/// Which tools of one server the caller may call: a default for every tool, and the tools
/// that are the exception to it.
#[derive(Debug, Clone)]
pub struct ToolAccess {
    default_allow: bool,
    exceptions: Arc<HashSet<String>>,
}

impl Default for ToolAccess {
    /// Every tool allowed.
    fn default() -> Self {
        Self::allow_all()
    }
}

impl ToolAccess {
    /// Every tool allowed.
    pub fn allow_all() -> Self {
        Self {
            default_allow: true,
            exceptions: Arc::default(),
        }
    }

    /// Tools get `default_allow`, except those in `exceptions`, which get the opposite.
    pub fn new(default_allow: bool, exceptions: impl IntoIterator<Item = String>) -> Self {
        Self {
            default_allow,
            exceptions: Arc::new(exceptions.into_iter().collect()),
        }
    }

    /// May the caller call `tool`?
    pub fn allows(&self, tool: &str) -> bool {
        self.default_allow != self.exceptions.contains(tool)
    }

    /// Is every tool allowed (nothing to filter)?
    pub fn allows_everything(&self) -> bool {
        self.default_allow && self.exceptions.is_empty()
    }
}

/// Removes the tools the caller may not call from a JSON-RPC `tools/list` result. Returns
/// whether `message` was such a result.
fn filter_message(message: &mut Value, access: &ToolAccess) -> bool {
    let Some(tools) = message
        .get_mut("result")
        .and_then(|result| result.get_mut("tools"))
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    tools.retain(|tool| {
        tool.get("name")
            .and_then(Value::as_str)
            .is_some_and(|name| access.allows(name))
    });
    true
}

/// A `tools/list` answer with `application/json` content, filtered; `None` when it is not
/// JSON (then it is passed on as it came).
pub(crate) fn filter_json(body: &[u8], access: &ToolAccess) -> Option<Vec<u8>> {
    let mut message: Value = serde_json::from_slice(body).ok()?;
    filter_message(&mut message, access);
    Some(serde_json::to_vec(&message).expect("a JSON value serializes"))
}

/// A `tools/list` answer as a `text/event-stream`, each event's JSON-RPC message filtered.
/// Events whose data is not a tools result keep their exact bytes.
pub(crate) fn filter_sse(body: &[u8], access: &ToolAccess) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(normalized.len());
    for event in normalized.split_inclusive("\n\n") {
        out.push_str(&filter_event(event, access)?);
    }
    Some(out.into_bytes())
}

fn filter_event(event: &str, access: &ToolAccess) -> Option<String> {
    let mut data = Vec::new();
    for line in event.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    if data.is_empty() {
        return Some(event.to_owned());
    }
    let data = data.join("\n");
    if data.trim().is_empty() {
        // A priming event (2025-11-25): an id to resume from, no message.
        return Some(event.to_owned());
    }
    // What cannot be read cannot be filtered: refused (a 502), as a JSON answer would be.
    let mut message = serde_json::from_str::<Value>(&data).ok()?;
    if !filter_message(&mut message, access) {
        return Some(event.to_owned());
    }
    let mut rewritten = String::with_capacity(event.len());
    let mut wrote_data = false;
    for line in event.lines() {
        if line.starts_with("data:") {
            if !wrote_data {
                rewritten.push_str("data: ");
                rewritten.push_str(&message.to_string());
                rewritten.push('\n');
                wrote_data = true;
            }
        } else if !line.is_empty() {
            rewritten.push_str(line);
            rewritten.push('\n');
        }
    }
    if event.ends_with("\n\n") {
        rewritten.push('\n');
    }
    Some(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(message: &Value) -> Vec<&str> {
        message["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tool| tool["name"].as_str().unwrap())
            .collect()
    }

    fn list() -> Value {
        json!({"jsonrpc": "2.0", "id": 3, "result": {"tools": [
            {"name": "greet", "inputSchema": {}},
            {"name": "delete_everything", "inputSchema": {}},
            {"name": "add", "inputSchema": {}}
        ], "nextCursor": "c"}})
    }

    #[test]
    fn a_default_and_its_exceptions_decide() {
        let deny_one = ToolAccess::new(true, ["delete_everything".to_owned()]);
        assert!(deny_one.allows("greet"));
        assert!(!deny_one.allows("delete_everything"));
        assert!(!deny_one.allows_everything());
        let allow_one = ToolAccess::new(false, ["greet".to_owned()]);
        assert!(allow_one.allows("greet"));
        assert!(
            !allow_one.allows("new_tool"),
            "new tools follow the default"
        );
        assert!(ToolAccess::allow_all().allows_everything());
        assert!(!ToolAccess::new(false, []).allows_everything());
    }

    #[test]
    fn json_answers_lose_the_denied_tools_and_keep_the_rest() {
        let access = ToolAccess::new(true, ["delete_everything".to_owned()]);
        let body = serde_json::to_vec(&list()).unwrap();
        let filtered: Value =
            serde_json::from_slice(&filter_json(&body, &access).unwrap()).unwrap();
        assert_eq!(names(&filtered), ["greet", "add"]);
        assert_eq!(filtered["result"]["nextCursor"], "c");
        assert_eq!(filtered["id"], 3);
    }

    #[test]
    fn sse_answers_are_filtered_event_by_event() {
        let access = ToolAccess::new(false, ["add".to_owned()]);
        let body = format!(
            "event: message\r\nid: 1\r\ndata: {}\r\n\r\n: keep-alive\n\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}}\n\n",
            list()
        );
        let filtered = String::from_utf8(filter_sse(body.as_bytes(), &access).unwrap()).unwrap();
        let mut events = filtered.split("\n\n");
        let first = events.next().unwrap();
        assert!(
            first.starts_with("event: message\nid: 1\ndata: "),
            "{first}"
        );
        let data: Value = serde_json::from_str(
            first
                .lines()
                .nth(2)
                .unwrap()
                .strip_prefix("data: ")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(names(&data), ["add"]);
        assert_eq!(events.next(), Some(": keep-alive"));
        assert_eq!(
            events.next(),
            Some(r#"data: {"jsonrpc":"2.0","method":"notifications/progress"}"#)
        );
    }

    #[test]
    fn data_split_over_several_lines_is_one_message() {
        let access = ToolAccess::new(true, ["greet".to_owned()]);
        let body = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\ndata: \"result\":{\"tools\":[{\"name\":\"greet\"},{\"name\":\"add\"}]}}\n\n";
        let filtered = String::from_utf8(filter_sse(body.as_bytes(), &access).unwrap()).unwrap();
        assert!(!filtered.contains("greet"), "{filtered}");
        assert!(filtered.contains("\"add\""), "{filtered}");
    }

    #[test]
    fn an_event_that_is_not_json_is_refused_not_passed_on() {
        let access = ToolAccess::new(true, ["greet".to_owned()]);
        let unreadable =
            "data: {\"result\":{\"tools\":[{\"name\":\"greet\",\"d\":\"\\ud800\"}]}\n\n";
        assert_eq!(filter_sse(unreadable.as_bytes(), &access), None);
        let priming = "id: 1\ndata: \n\n";
        assert_eq!(
            filter_sse(priming.as_bytes(), &access).unwrap(),
            priming.as_bytes()
        );
    }

    #[test]
    fn tools_without_a_name_are_not_offered() {
        let access = ToolAccess::new(true, ["x".to_owned()]);
        let body =
            br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"title":"nameless"},{"name":"ok"}]}}"#;
        let filtered: Value = serde_json::from_slice(&filter_json(body, &access).unwrap()).unwrap();
        assert_eq!(names(&filtered), ["ok"]);
    }
}
