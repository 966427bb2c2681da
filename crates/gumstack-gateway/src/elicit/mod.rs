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

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::sessions::ClientCaps;

mod body;
pub(crate) use body::{Ask, ElicitBody};

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

#[cfg(test)]
mod tests {
    use super::*;

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
