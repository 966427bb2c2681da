//! Ending connections at the provider: one when the user disconnects (SPEC §3 step 8), all of
//! a user's when an admin disables or deletes the account (offboarding).

use uuid::Uuid;

use super::Connections;
use super::provider::ProviderRequest;
use crate::error::Internal;
use crate::store::Connection;
use gumstack_protocol::provider::RevokeRequest;

/// What became of one connection at its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The provider revoked the grant; the tokens are deleted.
    Revoked,
    /// The server's provider code answered that it could not revoke (no revocation endpoint,
    /// say); the tokens are deleted here, the grant may live on at the provider.
    Unsupported,
    /// The call failed (server not running, provider unreachable, refusal…); `why` says how.
    /// Offboarding keeps the tokens so that disabling again retries; a disconnect deletes them.
    Failed { why: String },
}

impl RevokeOutcome {
    pub fn is_revoked(&self) -> bool {
        matches!(self, Self::Revoked)
    }
}

/// One connection's revocation, for a report.
#[derive(Debug, Clone)]
pub struct Revocation {
    pub server_id: Uuid,
    pub provider: String,
    pub nickname: String,
    pub outcome: RevokeOutcome,
    /// Whether the stored tokens were deleted.
    pub deleted: bool,
}

impl Connections {
    /// Asks the server's provider code to revoke the connection's grant (the access token and
    /// the refresh token).
    async fn revoke_at_provider(&self, c: &Connection) -> RevokeOutcome {
        let access = match self.access_token_of(c) {
            Ok(access) => access,
            Err(error) => {
                tracing::error!(connection = %c.id, %error, "a connection's token does not decrypt");
                return RevokeOutcome::Failed {
                    why: "its stored token does not decrypt".to_owned(),
                };
            }
        };
        let refresh = self.refresh_token_of(c).ok().flatten();
        let reply = self
            .inner
            .providers
            .call(
                c.server_id,
                &c.provider,
                ProviderRequest::Revoke(RevokeRequest {
                    access_token: access,
                    refresh_token: refresh,
                }),
            )
            .await;
        match reply.map(gumstack_protocol::provider::ProviderReply::into_revoked) {
            Ok(Ok(true)) => RevokeOutcome::Revoked,
            Ok(Ok(false)) => RevokeOutcome::Unsupported,
            Ok(Err(unexpected)) => RevokeOutcome::Failed {
                why: format!("the server answered {unexpected}"),
            },
            Err(failure) => RevokeOutcome::Failed {
                why: failure.to_string(),
            },
        }
    }

    /// Disconnects the user's account `id` at `server_id`: asks the provider to revoke the
    /// grant, then deletes the tokens whatever the answer (the user asked for them to go).
    /// When it was the default, the user's oldest other account of that provider becomes the
    /// default. `Ok(None)` when the user has no such connection; `Ok(Some(revoked))` otherwise.
    pub async fn disconnect(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        id: Uuid,
    ) -> Result<Option<bool>, Internal> {
        let Some(c) = self.owned(user_id, server_id, id).await? else {
            return Ok(None);
        };
        let outcome = self.revoke_at_provider(&c).await;
        if let RevokeOutcome::Failed { why } = &outcome {
            tracing::warn!(connection = %c.id, error = %why, "revocation failed; deleting the tokens anyway");
        }
        self.inner.store.delete_connection(c.id).await?;
        let revoked = outcome.is_revoked();
        tracing::info!(connection = %c.id, provider = %c.provider, revoked, "account disconnected");
        Ok(Some(revoked))
    }

    /// Revokes every connection of a user at its provider (offboarding). Revoked ones, and
    /// those the provider cannot revoke, are deleted; failed ones are kept (so that another
    /// attempt can revoke them) unless `delete_failed`.
    pub async fn revoke_all(
        &self,
        user_id: Uuid,
        delete_failed: bool,
    ) -> Result<Vec<Revocation>, Internal> {
        let connections = self.inner.store.user_connections(user_id).await?;
        let mut report = Vec::with_capacity(connections.len());
        for c in connections {
            let outcome = self.revoke_at_provider(&c).await;
            let delete = delete_failed || !matches!(outcome, RevokeOutcome::Failed { .. });
            if delete {
                self.inner.store.delete_connection(c.id).await?;
            }
            match &outcome {
                RevokeOutcome::Failed { why } => {
                    tracing::warn!(connection = %c.id, user = %user_id, error = %why, "offboarding: revocation failed");
                }
                other => {
                    tracing::info!(connection = %c.id, user = %user_id, outcome = ?other, "offboarding: connection ended");
                }
            }
            report.push(Revocation {
                server_id: c.server_id,
                provider: c.provider,
                nickname: c.nickname,
                outcome,
                deleted: delete,
            });
        }
        Ok(report)
    }
}
