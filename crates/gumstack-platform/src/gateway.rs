//! The platform's decisions for the MCP gateway ([`gumstack_gateway`]): validate the access
//! token (signature, expiry, audience = this server, grant not revoked), find the live
//! deployment, and mint the identity forwarded to it (docs/PROTOCOL.md §2).

use async_trait::async_trait;
use gumstack_gateway::{Backend, Grant, Refusal};
use http::HeaderValue;
use uuid::Uuid;

use crate::app::AppState;
use crate::oauth::tokens::{mint_identity, verify_access_token};
use crate::store::StoreError;

/// [`Backend`] over the platform's state.
#[derive(Debug, Clone)]
pub struct PlatformGateway {
    state: AppState,
}

impl PlatformGateway {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

fn invalid(why: &str) -> Refusal {
    Refusal::Unauthorized {
        invalid_token: Some(why.to_owned()),
    }
}

#[async_trait]
impl Backend for PlatformGateway {
    async fn authorize(&self, slug: &str, token: Option<&str>) -> Result<Grant, Refusal> {
        let token = token.ok_or(Refusal::Unauthorized {
            invalid_token: None,
        })?;
        let state = &self.state;
        let issuer = state.urls.base();
        let resource = state.urls.mcp_url(slug);
        let claims = verify_access_token(&state.keys, &issuer, &resource, token)
            .map_err(|e| invalid(&e.to_string()))?;
        let grant_id =
            Uuid::parse_str(&claims.gid).map_err(|_| invalid("the token is malformed"))?;
        let (grant, user) = match state.store.grant_with_user(grant_id).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(invalid("the authorization no longer exists")),
            Err(e) => {
                tracing::error!(error = %e, "gateway could not read a grant");
                return Err(Refusal::Unavailable {
                    reason: "the platform could not check the token; try again".into(),
                });
            }
        };
        if grant.revoked_at.is_some() {
            return Err(invalid("the authorization was revoked"));
        }
        let server = match state.store.server_by_slug(slug).await {
            Ok(server) => server,
            Err(StoreError::NotFound) => return Err(Refusal::NotFound),
            Err(e) => {
                tracing::error!(error = %e, "gateway could not read a server");
                return Err(Refusal::Unavailable {
                    reason: "the platform could not find the server; try again".into(),
                });
            }
        };
        if grant.server_id != server.id {
            return Err(invalid("the token is for another server"));
        }
        if !server.enabled {
            return Err(Refusal::Unavailable {
                reason: format!("{} is disabled", server.name),
            });
        }
        let live = state
            .supervisor
            .live(server.id)
            .ok_or_else(|| Refusal::Unavailable {
                reason: format!("{} is not running right now", server.name),
            })?;
        let identity = mint_identity(&state.keys, &issuer, &server, &user, &grant.client_id);
        Ok(Grant {
            server_id: server.id.to_string(),
            user_id: user.id.to_string(),
            upstream: live.addr(),
            identity: HeaderValue::from_str(&identity)
                .map_err(|_| invalid("the identity could not be encoded"))?,
        })
    }
}
