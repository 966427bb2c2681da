//! The platform's decisions for the MCP gateway ([`gumstack_gateway`]): validate the access
//! token (signature, expiry, audience = this server, grant not revoked), find the live
//! deployment, mint the identity forwarded to it (docs/PROTOCOL.md §2), and make the call
//! live for as long as the gateway holds it (what `/internal` releases credentials for, §3).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use gumstack_gateway::{Backend, CallHold, Grant, Refusal};
use http::HeaderValue;
use uuid::Uuid;

use crate::activity::CallScope;
use crate::oauth::tokens::{AccessClaims, mint_identity_for_call, verify_access_token};
use crate::permissions::CallAccess;
use crate::state::AppState;
use crate::store::{StoreError, Timestamp};

/// Verified access tokens kept, at most; the cache is cleared when it fills.
const VERIFIED_TOKENS: usize = 10_000;

/// [`Backend`] over the platform's state.
#[derive(Debug)]
pub(crate) struct PlatformGateway {
    state: AppState,
    /// Claims of access tokens whose signature already verified, by the token's SHA-256:
    /// an Ed25519 verification per call was a fifth of the gateway's CPU. Expiry is checked on
    /// every use and the grant is read on every call, so revocation stays immediate.
    verified: Mutex<HashMap<[u8; 32], AccessClaims>>,
}

impl PlatformGateway {
    pub(crate) fn new(state: AppState) -> Self {
        Self {
            state,
            verified: Mutex::new(HashMap::new()),
        }
    }

    fn verify(&self, resource: &str, token: &str, now: Timestamp) -> Result<AccessClaims, Refusal> {
        let key = gumstack_protocol::hash::sha256(token.as_bytes());
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(claims) = cached {
            // The audience was checked when it was cached; a token is for one resource.
            if claims.aud != resource {
                return Err(invalid("the token is for another audience"));
            }
            if claims.exp + 60 < now {
                return Err(invalid("the token has expired"));
            }
            return Ok(claims);
        }
        let state = &self.state;
        let claims = verify_access_token(&state.keys, &state.urls.base(), resource, token, now)
            .map_err(|e| invalid(&e.to_string()))?;
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_TOKENS {
            verified.clear();
        }
        verified.insert(key, claims.clone());
        Ok(claims)
    }

    /// The refusal for a server with no running deployment (the slow path reads the server).
    async fn why_not_running(&self, slug: &str) -> Refusal {
        match self.state.store.server_by_slug(slug).await {
            Ok(server) if !server.enabled => Refusal::Unavailable {
                reason: format!("{} is disabled", server.name),
            },
            Ok(server) => Refusal::Unavailable {
                reason: format!("{} is not running right now", server.name),
            },
            Err(StoreError::NotFound) => Refusal::NotFound,
            Err(e) => {
                tracing::error!(error = %e, "gateway could not read a server");
                Refusal::Unavailable {
                    reason: "the platform could not find the server; try again".into(),
                }
            }
        }
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
        let now = state.clock.now();
        let claims = self.verify(&resource, token, now)?;
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
        // Disabling an account revokes its grants; its state is checked too, in the same read.
        if grant.revoked_at.is_some() || user.is_disabled() {
            return Err(invalid("the authorization was revoked"));
        }
        // The token's audience is this slug's MCP URL and the grant was made for it; slugs
        // never change and a deleted server takes its grants along, so the grant's server is
        // this slug's server. The running deployment is in memory: one store read per call.
        if grant.resource != resource {
            return Err(invalid("the token is for another server"));
        }
        let tools = match state
            .permissions
            .for_call(user.group_id, grant.server_id)
            .await
        {
            Ok(CallAccess::Tools(tools)) => tools,
            Ok(CallAccess::ServerDisabled) => {
                return Err(Refusal::Forbidden {
                    reason: "your group may not use this server; ask an administrator for access"
                        .to_owned(),
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "gateway could not read the caller's permissions");
                return Err(Refusal::Unavailable {
                    reason: "the platform could not check your permissions; try again".into(),
                });
            }
        };
        let Some(live) = state.supervisor.live(grant.server_id) else {
            return Err(self.why_not_running(slug).await);
        };
        let call_id = Uuid::new_v4().to_string();
        let identity = mint_identity_for_call(
            &state.keys,
            &issuer,
            grant.server_id,
            &user,
            &grant.client_id,
            &call_id,
            now,
        );
        let identity = HeaderValue::from_str(&identity)
            .map_err(|_| invalid("the identity could not be encoded"))?;
        let call = state.activity.open_call(
            &call_id,
            CallScope {
                server_id: grant.server_id,
                deployment_id: live.deployment_id,
                user_id: user.id,
                grant_id: grant.id,
                client_id: grant.client_id.clone(),
            },
        );
        Ok(Grant {
            server_id: grant.server_id.to_string(),
            user_id: user.id.to_string(),
            client_id: grant.client_id,
            call_id,
            call: CallHold::new(call),
            upstream: live.addr(),
            identity,
            tools,
        })
    }
}
