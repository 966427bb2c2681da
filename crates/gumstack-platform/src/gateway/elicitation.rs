//! What the platform signs when a call needs its user's input (docs/PROTOCOL.md §5): the link
//! to the connections page, which names the user it was made for, and the `requestState` a
//! 2026-07-28 client echoes back with its retry. Both are compact JWS of the platform's keys,
//! each with its own `typ`, for the server's audience: neither grants anything by itself (the
//! page still needs the user signed in, the retry its access token); they bind a link to a
//! person and a retry to the call that was interrupted.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::oauth::tokens::server_audience;
use crate::state::AppState;
use crate::store::Timestamp;

/// The JWS `typ` of the link's `elicitation` parameter.
pub(crate) const LINK_TYP: &str = "gumstack-elicitation+jwt";
/// The JWS `typ` of a `requestState`.
pub(crate) const REQUEST_STATE_TYP: &str = "gumstack-request-state+jwt";
/// How long a link may be opened: long enough to sign in and connect an account.
const LINK_LIFETIME: Timestamp = 30 * 60;
/// How long a client may take to retry: the person connects in between.
const STATE_LIFETIME: Timestamp = 60 * 60;

/// The claims of a link: whose it is, for which server.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LinkClaims {
    iss: String,
    /// `gumstack:server:<id>`.
    aud: String,
    /// The user the link was made for.
    pub(crate) sub: String,
    iat: Timestamp,
    exp: Timestamp,
    /// The elicitation's id.
    jti: String,
}

/// The claims of a `requestState`: the call that was interrupted.
#[derive(Debug, Serialize, Deserialize)]
struct StateClaims {
    iss: String,
    aud: String,
    sub: String,
    /// The MCP client's `client_id`.
    cid: String,
    tool: String,
    iat: Timestamp,
    exp: Timestamp,
    jti: String,
}

/// The link for `user_id` to `connect_url` (a page of `server_id`), and the `requestState`
/// of their call of `tool` through `client_id`, both under the elicitation id returned first.
pub(crate) fn sign(
    state: &AppState,
    server_id: Uuid,
    user_id: Uuid,
    client_id: &str,
    tool: &str,
    connect_url: &str,
) -> (String, String, String) {
    let now = state.clock.now();
    let iss = state.urls.base();
    let aud = server_audience(server_id);
    let jti = Uuid::new_v4().to_string();
    let link = state.keys.sign(
        LINK_TYP,
        &LinkClaims {
            iss: iss.clone(),
            aud: aud.clone(),
            sub: user_id.to_string(),
            iat: now,
            exp: now + LINK_LIFETIME,
            jti: jti.clone(),
        },
    );
    let request_state = state.keys.sign(
        REQUEST_STATE_TYP,
        &StateClaims {
            iss,
            aud,
            sub: user_id.to_string(),
            cid: client_id.to_owned(),
            tool: tool.to_owned(),
            iat: now,
            exp: now + STATE_LIFETIME,
            jti: jti.clone(),
        },
    );
    let url = format!("{connect_url}?elicitation={link}");
    (jti, url, request_state)
}

/// Checks a `requestState` echoed back by `user_id`'s retry of `tool` through `client_id` to
/// `server_id`. The error says why, to the client.
pub(crate) fn check_state(
    state: &AppState,
    server_id: &str,
    user_id: &str,
    client_id: &str,
    tool: &str,
    request_state: &str,
) -> Result<(), String> {
    let claims: StateClaims = state
        .keys
        .verify(
            request_state,
            REQUEST_STATE_TYP,
            &state.urls.base(),
            &server_audience(server_id),
            state.clock.now(),
        )
        .map_err(|e| match e {
            crate::keys::TokenError::Expired => {
                "it has expired; call the tool again without it".to_owned()
            }
            crate::keys::TokenError::WrongAudience => "it was made for another server".to_owned(),
            other => other.to_string(),
        })?;
    if claims.sub != user_id || claims.cid != client_id {
        return Err("it was made for another user or MCP client".to_owned());
    }
    if claims.tool != tool {
        return Err(format!("it was made for a call of `{}`", claims.tool));
    }
    Ok(())
}

/// Checks the `elicitation` parameter of a link to a page of `server_id`: the user it was made
/// for, or why it is refused.
pub(crate) fn link_user(state: &AppState, server_id: Uuid, link: &str) -> Result<Uuid, String> {
    let claims: LinkClaims = state
        .keys
        .verify(
            link,
            LINK_TYP,
            &state.urls.base(),
            &server_audience(server_id),
            state.clock.now(),
        )
        .map_err(|e| match e {
            crate::keys::TokenError::Expired => "This link has expired.".to_owned(),
            crate::keys::TokenError::WrongAudience => {
                "This link was made for another server.".to_owned()
            }
            _ => "This link is not one the platform made.".to_owned(),
        })?;
    Uuid::parse_str(&claims.sub).map_err(|_| "This link names no user.".to_owned())
}
