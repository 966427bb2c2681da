//! What the platform signs when a call needs its user's input (docs/PROTOCOL.md §5): the link
//! to the connections page, which names the user it was made for, and the `requestState` a
//! 2026-07-28 client echoes back with its retry. Both are compact JWS of the platform's keys,
//! each with its own `typ`, for the server's audience: neither grants anything by itself (the
//! page still needs the user signed in, the retry its access token); they bind a link to a
//! person and a retry to the call that was interrupted.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::activity::CallScope;
use crate::keys::{SigningKeys, TokenError};
use crate::state::AppState;
use crate::store::Timestamp;
use gumstack_protocol::headers::server_audience;

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

/// The platform's keys, its issuer and the time: what signs and checks links and states.
pub(crate) struct Seal<'a> {
    keys: &'a SigningKeys,
    issuer: String,
    now: Timestamp,
}

/// What [`Seal::sign`] makes for one call: the elicitation's id, the link to the page (for
/// its user only), and the `requestState`.
#[derive(Debug)]
pub(crate) struct Signed {
    pub(crate) elicitation_id: String,
    pub(crate) url: String,
    pub(crate) request_state: String,
}

impl<'a> Seal<'a> {
    pub(crate) fn of(state: &'a AppState) -> Self {
        Self::new(&state.keys, state.urls.base(), state.clock.now())
    }

    pub(crate) fn new(keys: &'a SigningKeys, issuer: String, now: Timestamp) -> Self {
        Self { keys, issuer, now }
    }

    /// The link for the user of `call` to `connect_url` (a page of the call's server), and the
    /// `requestState` of their call of `tool`.
    pub(crate) fn sign(&self, call: &CallScope, tool: &str, connect_url: &str) -> Signed {
        let (server_id, user_id, client_id) = (call.server_id, call.user_id, &call.client_id);
        let now = self.now;
        let iss = self.issuer.clone();
        let aud = server_audience(server_id);
        let jti = Uuid::new_v4().to_string();
        let link = self.keys.sign(
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
        let request_state = self.keys.sign(
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
        Signed {
            elicitation_id: jti,
            url: format!(
                "{connect_url}{}elicitation={link}",
                if connect_url.contains('?') { '&' } else { '?' }
            ),
            request_state,
        }
    }

    /// Checks a `requestState` echoed back by `user_id`'s retry of `tool` through `client_id` to
    /// `server_id`. The error says why, to the client.
    pub(crate) fn check_state(
        &self,
        server_id: &str,
        user_id: &str,
        client_id: &str,
        tool: &str,
        request_state: &str,
    ) -> Result<(), String> {
        let claims: StateClaims = self
            .keys
            .verify(
                request_state,
                REQUEST_STATE_TYP,
                &self.issuer,
                &server_audience(server_id),
                self.now,
            )
            .map_err(|e| match e {
                TokenError::Expired => "it has expired; call the tool again without it".to_owned(),
                TokenError::WrongAudience => "it was made for another server".to_owned(),
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
    pub(crate) fn link_user(&self, server_id: Uuid, link: &str) -> Result<Uuid, String> {
        let claims: LinkClaims = self
            .keys
            .verify(
                link,
                LINK_TYP,
                &self.issuer,
                &server_audience(server_id),
                self.now,
            )
            .map_err(|e| match e {
                TokenError::Expired => "This link has expired.".to_owned(),
                TokenError::WrongAudience => "This link was made for another server.".to_owned(),
                _ => "This link is not one the platform made.".to_owned(),
            })?;
        Uuid::parse_str(&claims.sub).map_err(|_| "This link names no user.".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;
    use crate::vault::Vault;

    const ISSUER: &str = "https://gumstack.test";
    const NOW: Timestamp = 1_800_000_000;

    async fn keys() -> SigningKeys {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        SigningKeys::load_or_create(&store, &Vault::generate())
            .await
            .unwrap()
    }

    fn call() -> CallScope {
        CallScope {
            server_id: Uuid::new_v4(),
            deployment_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            grant_id: Uuid::new_v4(),
            client_id: "client-a".into(),
            tool: None,
        }
    }

    #[tokio::test]
    async fn a_request_state_holds_only_for_its_user_client_server_and_tool_until_it_expires() {
        let keys = keys().await;
        let seal = Seal::new(&keys, ISSUER.into(), NOW);
        let call = call();
        let signed = seal.sign(&call, "profile", "https://gumstack.test/connections/demo");
        let (server, user) = (call.server_id.to_string(), call.user_id.to_string());
        let check = |seal: &Seal<'_>, server: &str, user: &str, client: &str, tool: &str| {
            seal.check_state(server, user, client, tool, &signed.request_state)
        };
        assert_eq!(check(&seal, &server, &user, "client-a", "profile"), Ok(()));
        let other = Uuid::new_v4().to_string();
        let refusals = [
            check(&seal, &server, &other, "client-a", "profile"),
            check(&seal, &server, &user, "client-b", "profile"),
            check(&seal, &other, &user, "client-a", "profile"),
            check(&seal, &server, &user, "client-a", "delete_everything"),
        ];
        assert!(refusals[0].as_ref().unwrap_err().contains("another user"));
        assert!(
            refusals[1]
                .as_ref()
                .unwrap_err()
                .contains("another user or MCP client")
        );
        assert!(refusals[2].as_ref().unwrap_err().contains("another server"));
        assert!(refusals[3].as_ref().unwrap_err().contains("`profile`"));
        let later = Seal::new(&keys, ISSUER.into(), NOW + STATE_LIFETIME + 120);
        assert!(
            check(&later, &server, &user, "client-a", "profile")
                .unwrap_err()
                .contains("expired")
        );
        // A link is not a state, nor the other way round.
        let link = signed.url.split("elicitation=").nth(1).unwrap();
        assert!(
            seal.check_state(&server, &user, "client-a", "profile", link)
                .is_err()
        );
        assert!(
            seal.link_user(call.server_id, &signed.request_state)
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_link_names_its_user_for_its_server_only_until_it_expires() {
        let keys = keys().await;
        let seal = Seal::new(&keys, ISSUER.into(), NOW);
        let call = call();
        let signed = seal.sign(&call, "profile", "https://gumstack.test/connections/demo");
        assert!(
            signed
                .url
                .starts_with("https://gumstack.test/connections/demo?elicitation=")
        );
        let link = signed.url.split("elicitation=").nth(1).unwrap();
        assert_eq!(seal.link_user(call.server_id, link), Ok(call.user_id));
        assert_eq!(
            seal.link_user(Uuid::new_v4(), link),
            Err("This link was made for another server.".to_owned())
        );
        let later = Seal::new(&keys, ISSUER.into(), NOW + LINK_LIFETIME + 120);
        assert_eq!(
            later.link_user(call.server_id, link),
            Err("This link has expired.".to_owned())
        );
        let other_keys = self::keys().await;
        let stranger = Seal::new(&other_keys, ISSUER.into(), NOW);
        assert_eq!(
            stranger.link_user(call.server_id, link),
            Err("This link is not one the platform made.".to_owned())
        );
    }

    #[tokio::test]
    async fn a_link_to_a_page_with_a_query_keeps_it() {
        let keys = keys().await;
        let seal = Seal::new(&keys, ISSUER.into(), NOW);
        let call = call();
        let step_up = "https://gumstack.test/connections/demo?provider=oidc&scope=openid+profile";
        let signed = seal.sign(&call, "provider_name", step_up);
        let url = url::Url::parse(&signed.url).unwrap();
        let query: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(query[0], ("provider".into(), "oidc".into()));
        assert_eq!(query[1], ("scope".into(), "openid profile".into()));
        assert_eq!(query[2].0, "elicitation");
        assert_eq!(
            seal.link_user(call.server_id, &query[2].1),
            Ok(call.user_id)
        );
    }
}
