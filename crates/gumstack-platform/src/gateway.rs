//! The platform's decisions for the MCP gateway ([`gumstack_gateway`]): validate the access
//! token (signature, expiry, audience = this server, grant not revoked), find the live
//! deployment, give the identity forwarded to it (docs/PROTOCOL.md §2), and make the call
//! live, under an id of its own, for as long as the gateway holds it (what `/internal`
//! releases credentials for, §3).
//!
//! None of it costs a store read or a signature per call: verified tokens, grants and the
//! identities signed for them are kept in memory (`grants`; docs/ARCHITECTURE.md, "The
//! gateway's caches").

mod grants;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use gumstack_gateway::{Backend, CallHold, Grant, InputNeeded, Refusal};
use http::HeaderValue;
use uuid::Uuid;

use crate::activity::CallScope;
use crate::elicitation;
use crate::oauth::tokens::{AccessClaims, mint_identity, verify_access_token};
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
    /// every use and the grant at every call (`grants`), so revocation stays immediate.
    verified: Mutex<HashMap<[u8; 32], AccessClaims>>,
    /// Grants with their users, and the identities signed for them.
    grants: grants::Grants,
}

impl PlatformGateway {
    pub(crate) fn new(state: AppState) -> Self {
        Self {
            state,
            verified: Mutex::new(HashMap::new()),
            grants: grants::Grants::default(),
        }
    }

    /// The grant `grant_id` with its user: kept, or read and kept.
    async fn grant(&self, grant_id: Uuid) -> Result<Arc<grants::GrantEntry>, Refusal> {
        let store = &self.state.store;
        // Taken before the read: a write that lands meanwhile makes the entry stale at once.
        let version = store.access_version();
        if let Some(entry) = self.grants.get(grant_id, version) {
            return Ok(entry);
        }
        match store.grant_with_user(grant_id).await {
            Ok((grant, user)) => Ok(self.grants.insert(grant, user, version)),
            Err(StoreError::NotFound) => {
                self.grants.remove(grant_id);
                Err(invalid("the authorization no longer exists"))
            }
            Err(e) => {
                tracing::error!(error = %e, "gateway could not read a grant");
                Err(Refusal::Unavailable {
                    reason: "the platform could not check the token; try again".into(),
                })
            }
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
        let resource = state.urls.mcp_url(slug);
        let now = state.clock.now();
        let claims = self.verify(&resource, token, now)?;
        let grant_id =
            Uuid::parse_str(&claims.gid).map_err(|_| invalid("the token is malformed"))?;
        let entry = self.grant(grant_id).await?;
        let (grant, user) = (&entry.grant, &entry.user);
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
        let identity = entry
            .identity(live.deployment_id, now, || {
                let signed = mint_identity(
                    &state.keys,
                    &state.urls.base(),
                    grant.server_id,
                    user,
                    &grant.client_id,
                    now,
                );
                HeaderValue::from_str(&signed).ok()
            })
            .ok_or_else(|| invalid("the identity could not be encoded"))?;
        let call_id = Uuid::new_v4().to_string();
        let call = state.activity.open_call(
            &call_id,
            CallScope {
                server_id: grant.server_id,
                deployment_id: live.deployment_id,
                user_id: user.id,
                grant_id: grant.id,
                client_id: grant.client_id.clone(),
                tool: None,
            },
        );
        Ok(Grant {
            server_id: grant.server_id.to_string(),
            user_id: user.id.to_string(),
            client_id: grant.client_id.clone(),
            call_id,
            call: CallHold::new(call),
            upstream: live.addr(),
            user_credentials: live.user_credentials,
            identity,
            tools,
        })
    }

    fn calls_tool(&self, call_id: &str, tool: &str) {
        self.state.activity.name_tool(call_id, tool);
    }

    fn input_needed(&self, call_id: &str, tool: &str) -> Option<InputNeeded> {
        let (scope, needed) = self.state.activity.needed(call_id)?;
        let signed = elicitation::Seal::of(&self.state).sign(&scope, tool, &needed.connect_url);
        Some(InputNeeded {
            message: needed.message,
            url: signed.url,
            elicitation_id: signed.elicitation_id,
            request_state: signed.request_state,
        })
    }

    fn check_request_state(&self, grant: &Grant, tool: &str, state: &str) -> Result<(), String> {
        elicitation::Seal::of(&self.state).check_state(
            &grant.server_id,
            &grant.user_id,
            &grant.client_id,
            tool,
            state,
        )
    }
}
