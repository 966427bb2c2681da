//! Handing out access tokens, refreshing them on demand and in the background (SPEC §3 step 6).
//!
//! One refresh per connection at a time: within a process, callers of one connection queue on
//! an in-process lock and the first re-reads the row after waiting; across processes, the
//! refresher takes a **lease** on the row — a compare-and-set on its `version` that writes the
//! holder, its instance and an expiry (`lease`) — calls the provider with no
//! transaction open, and stores the outcome only if it still holds the lease. A process that
//! finds the lease taken polls the row until it is released (the refreshed token is then
//! there), expires, or its instance is gone (then it may take it).
//!
//! A token that still works is never held back by someone else's refresh: while another task
//! or process refreshes it, it is handed out at once. And a caller gets its answer within
//! [`wait`](super::RefreshSettings::wait) whatever it waits for; a refresh it started goes on
//! and is stored after that.
//!
//! The rotated refresh token is stored in the same write as the new access token, before the
//! access token is handed to anyone; a reply without a refresh token keeps the old one.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::provider::{FailureClass, ProviderFailure, ProviderRequest, tokens_of};
use super::{Connections, access_aad, refresh_aad, secs};
use crate::crypto::token_hash;
use crate::error::Internal;
use crate::store::{
    Connection, ConnectionStatus, FailureKind, RefreshFailure, RefreshedTokens, Timestamp,
};
use gumstack_protocol::provider::RefreshRequest;
use gumstack_protocol::scopes;

/// Why no access token can be handed out.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The user has no connection to this provider.
    #[error("not connected")]
    NotConnected,
    /// The user has accounts of this provider, but none called `account`.
    #[error("no connected account is called {account}")]
    UnknownAccount {
        account: String,
        /// The names (label, else nickname) of the accounts the user did connect.
        connected: Vec<String>,
    },
    /// The account was granted fewer scopes than the tool needs: it must be connected again
    /// for them.
    #[error("the account lacks the scopes {}", missing.join(" "))]
    LacksScopes {
        granted: Vec<String>,
        missing: Vec<String>,
    },
    /// The connection must be made again (refresh refused, or expired without a refresh token).
    #[error("the connection needs to be renewed")]
    NeedsReauth,
    /// The provider (or the server) is unavailable; the tokens are kept.
    #[error("{message}")]
    Transient {
        message: String,
        retry_after: Option<i64>,
    },
    /// The provider refused the server's client; the developer must fix the integration.
    #[error("{message}")]
    Integration { message: String },
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<crate::store::StoreError> for TokenError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// What to do with a connection as read.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Hand out the stored access token.
    Use,
    /// Refresh first.
    Refresh,
    /// A failed refresh is backing off until `retry_at`.
    BackingOff,
    /// Expired with no refresh token: needs the user.
    ExpiredWithoutRefresh,
    NeedsReauth,
}

/// How long before expiry a token counts as expiring: `window`, or half the token's lifetime
/// when that is shorter (a 10-second token is not refreshed the moment it is issued).
fn threshold(c: &Connection, expires_at: Timestamp, window: Duration) -> i64 {
    let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
    let lifetime = expires_at.saturating_sub(c.obtained_at).max(0);
    window.min(lifetime / 2)
}

fn next_step(c: &Connection, now: Timestamp, window: Duration) -> Next {
    if c.status == ConnectionStatus::NeedsReauth {
        return Next::NeedsReauth;
    }
    let Some(expires_at) = c.expires_at else {
        return Next::Use;
    };
    if expires_at.saturating_sub(now) > threshold(c, expires_at, window) {
        return Next::Use;
    }
    if c.refresh_ciphertext.is_none() {
        return if expires_at <= now {
            Next::ExpiredWithoutRefresh
        } else {
            Next::Use
        };
    }
    if c.retry_at.is_some_and(|at| at > now) {
        return Next::BackingOff;
    }
    Next::Refresh
}

/// The error a backing-off connection whose token is unusable gives.
fn backoff_error(c: &Connection, now: Timestamp) -> TokenError {
    let message = c
        .failure_message
        .clone()
        .unwrap_or_else(|| "the last refresh failed".into());
    match c.failure_kind {
        Some(FailureKind::Integration) => TokenError::Integration { message },
        _ => TokenError::Transient {
            message,
            retry_after: c.retry_at.map(|at| (at - now).max(1)),
        },
    }
}

/// Whether the stored access token still works at `now` (perhaps within the margin).
fn unexpired(c: &Connection, now: Timestamp) -> bool {
    c.expires_at.is_none_or(|at| at > now)
}

/// Whether someone holds an unexpired refresh lease on the row as read.
fn lease_pending(c: &Connection, now: Timestamp) -> bool {
    c.lease_holder.is_some() && c.lease_until.is_some_and(|until| until >= now)
}

/// The answer when no token can be had within the caller's wait.
fn too_slow() -> TokenError {
    TokenError::Transient {
        message: "a refresh of this connection is taking too long".into(),
        retry_after: None,
    }
}

/// An access token handed out, and the account it is of.
pub struct AccountToken {
    pub access_token: SecretString,
    /// The account's nickname at the provider.
    pub account: String,
}

impl std::fmt::Debug for AccountToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountToken")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// An access token of the user's default account at `provider` of `server_id` that does
    /// not expire within the margin, refreshing it first when needed.
    pub async fn access_token(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        provider: &str,
    ) -> Result<SecretString, TokenError> {
        Ok(self
            .account_token(user_id, server_id, provider, None)
            .await?
            .access_token)
    }

    /// [`access_token`](Self::access_token) of the account called `account` (its nickname,
    /// else its label), or of the default account when `None`. Each account refreshes on its
    /// own.
    pub async fn account_token(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        provider: &str,
        account: Option<&str>,
    ) -> Result<AccountToken, TokenError> {
        self.account_token_with(user_id, server_id, provider, account, &[])
            .await
    }

    /// [`account_token`](Self::account_token) for a tool that needs the provider scopes
    /// `needed`: an account whose known grant lacks one is refused before anything is
    /// refreshed ([`TokenError::LacksScopes`]). An unknown grant is not held back.
    pub async fn account_token_with(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        provider: &str,
        account: Option<&str>,
        needed: &[String],
    ) -> Result<AccountToken, TokenError> {
        // Most calls find a fresh token and take no lock.
        let Some(c) = self.find(user_id, server_id, provider, account).await? else {
            return Err(match account {
                None => TokenError::NotConnected,
                Some(account) => {
                    self.unknown_account(user_id, server_id, provider, account)
                        .await?
                }
            });
        };
        if let Some(granted) = c.scope.as_deref().map(scopes::split) {
            let missing = scopes::missing(&granted, needed);
            if !missing.is_empty() {
                return Err(TokenError::LacksScopes { granted, missing });
            }
        }
        let nickname = c.nickname.clone();
        let access_token = self.token_of_account(c).await?;
        Ok(AccountToken {
            access_token,
            account: nickname,
        })
    }

    /// The error for an account name that matches none of the user's accounts.
    async fn unknown_account(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        provider: &str,
        account: &str,
    ) -> Result<TokenError, TokenError> {
        let connected: Vec<String> = self
            .accounts(user_id, server_id, provider)
            .await?
            .into_iter()
            .map(|c| c.label.unwrap_or(c.nickname))
            .collect();
        Ok(if connected.is_empty() {
            TokenError::NotConnected
        } else {
            TokenError::UnknownAccount {
                account: account.to_owned(),
                connected,
            }
        })
    }

    /// The access token of account `c` (as first read), refreshed first when needed. The row
    /// is read again by its nickname: a reconnect of the same account replaces it.
    async fn token_of_account(&self, c: Connection) -> Result<SecretString, TokenError> {
        let margin = self.inner.settings.margin;
        let deadline = tokio::time::Instant::now() + self.inner.settings.wait;
        let (user_id, server_id) = (c.user_id, c.server_id);
        let (provider, nickname) = (c.provider.clone(), c.nickname.clone());
        let now = self.inner.clock.now();
        let step = next_step(&c, now, margin);
        if step == Next::Use {
            return Ok(self.access_token_of(&c)?);
        }
        // Due for a refresh but still working: while someone else is refreshing it (another
        // process, perhaps one that is gone), it is handed out rather than waited on.
        let usable_meanwhile = step == Next::Refresh && unexpired(&c, now);
        if usable_meanwhile && lease_pending(&c, now) {
            return Ok(self.access_token_of(&c)?);
        }
        let flight = self.flight(c.id);
        let _one_at_a_time = match flight.try_lock() {
            Ok(guard) => guard,
            // Another task of this process is refreshing it.
            Err(_) if usable_meanwhile => return Ok(self.access_token_of(&c)?),
            Err(_) => match tokio::time::timeout_at(deadline, flight.lock()).await {
                Ok(guard) => guard,
                Err(_) => return Err(too_slow()),
            },
        };
        let mut poll = Duration::from_millis(25);
        loop {
            let Some(c) = self
                .find(user_id, server_id, &provider, Some(&nickname))
                .await?
            else {
                return Err(TokenError::NotConnected);
            };
            let now = self.inner.clock.now();
            match next_step(&c, now, margin) {
                Next::Use => return Ok(self.access_token_of(&c)?),
                Next::NeedsReauth => return Err(TokenError::NeedsReauth),
                Next::BackingOff => {
                    return if unexpired(&c, now) {
                        Ok(self.access_token_of(&c)?)
                    } else {
                        Err(backoff_error(&c, now))
                    };
                }
                Next::ExpiredWithoutRefresh => {
                    self.inner
                        .store
                        .mark_needs_reauth(
                            c.id,
                            c.version,
                            "the access token expired and the provider gave no refresh token",
                            now,
                        )
                        .await?;
                    return Err(TokenError::NeedsReauth);
                }
                Next::Refresh => {
                    let fallback = unexpired(&c, now).then(|| c.clone());
                    if let Some(holder) = self.lease(&c, now).await? {
                        let refreshed = self.refresh_detached(c, holder);
                        return match tokio::time::timeout_at(deadline, refreshed).await {
                            Ok(outcome) => outcome,
                            // The refresh goes on and is stored; the token still works.
                            Err(_) => match fallback {
                                Some(c) => Ok(self.access_token_of(&c)?),
                                None => Err(too_slow()),
                            },
                        };
                    }
                    if let Some(c) = fallback {
                        return Ok(self.access_token_of(&c)?);
                    }
                }
            }
            // Another process holds the lease (or the row just changed): look again shortly.
            if tokio::time::Instant::now() >= deadline {
                return Err(too_slow());
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(Duration::from_millis(500));
        }
    }

    /// [`refresh_leased`](Self::refresh_leased) in its own task: once the provider has been
    /// asked, the outcome is stored even if the request that started it goes away (a client
    /// that hangs up must not make the platform forget a rotated refresh token).
    async fn refresh_detached(
        &self,
        c: Connection,
        holder: String,
    ) -> Result<SecretString, TokenError> {
        let this = self.clone();
        let task = tokio::spawn(async move { this.refresh_leased(&c, &holder).await });
        task.await.map_err(|e| {
            TokenError::Internal(Internal::other(format!("the refresh task failed: {e}")))
        })?
    }

    /// Refreshes `c`, whose lease `holder` holds, and stores the outcome.
    async fn refresh_leased(
        &self,
        c: &Connection,
        holder: &str,
    ) -> Result<SecretString, TokenError> {
        let store = &self.inner.store;
        let refresh_token = match self.refresh_token_of(c) {
            Ok(Some(token)) => token,
            Ok(None) | Err(_) => {
                // Unreadable or absent: nothing to refresh with; the user must connect again.
                let failure = RefreshFailure::NeedsReauth {
                    message: "the stored refresh token cannot be used".into(),
                };
                store
                    .fail_refresh(c.id, holder, &failure, self.inner.clock.now())
                    .await?;
                return Err(TokenError::NeedsReauth);
            }
        };
        let reply = self
            .inner
            .providers
            .call(
                c.server_id,
                &c.provider,
                ProviderRequest::Refresh(RefreshRequest { refresh_token }),
            )
            .await
            .and_then(tokens_of);
        let now = self.inner.clock.now();
        match reply {
            Ok(tokens) => {
                let access = tokens.access_token.clone();
                let sealed = RefreshedTokens {
                    access_ciphertext: self
                        .inner
                        .vault
                        .encrypt(access.expose_secret().as_bytes(), &access_aad(c)),
                    access_hash: token_hash(&access),
                    refresh_ciphertext: tokens.refresh_token.as_ref().map(|t| {
                        self.inner
                            .vault
                            .encrypt(t.expose_secret().as_bytes(), &refresh_aad(c))
                    }),
                    expires_at: tokens.expires_in.map(|s| now.saturating_add(s)),
                    scope: tokens.scope.clone(),
                    obtained_at: now,
                };
                if !store.finish_refresh(c.id, holder, &sealed, now).await? {
                    // The lease expired and someone else took it, or the user reconnected
                    // (perhaps another account): these tokens are not the connection's.
                    tracing::warn!(
                        connection = %c.id,
                        provider = %c.provider,
                        "a refresh finished after its lease was lost; its tokens were dropped"
                    );
                    return Err(TokenError::Transient {
                        message: "the connection changed while it was being refreshed".into(),
                        retry_after: Some(1),
                    });
                }
                tracing::info!(connection = %c.id, provider = %c.provider, "refreshed");
                Ok(access)
            }
            Err(failure) => {
                let outcome = self.record_failure(c, holder, &failure, now).await?;
                // A token refreshed early is still good until it expires.
                if !matches!(outcome, TokenError::NeedsReauth)
                    && c.expires_at.is_some_and(|at| at > now)
                {
                    return Ok(self.access_token_of(c)?);
                }
                Err(outcome)
            }
        }
    }

    /// Stores a failed refresh as the spec classifies it; the error for the caller.
    async fn record_failure(
        &self,
        c: &Connection,
        holder: &str,
        failure: &ProviderFailure,
        now: Timestamp,
    ) -> Result<TokenError, TokenError> {
        let settings = &self.inner.settings;
        let (stored, error) = match failure.class() {
            FailureClass::NeedsReauth => (
                RefreshFailure::NeedsReauth {
                    message: failure.to_string(),
                },
                TokenError::NeedsReauth,
            ),
            FailureClass::Integration => {
                let message = format!(
                    "the server's integration with {} is not working ({failure}); its developer \
                     has to fix it",
                    c.provider
                );
                let retry = secs(settings.integration_backoff);
                (
                    RefreshFailure::Kept {
                        kind: FailureKind::Integration,
                        message: message.clone(),
                        retry_at: now + retry,
                    },
                    TokenError::Integration { message },
                )
            }
            FailureClass::Transient => {
                let exponent = u32::try_from(c.failures.clamp(0, 16)).unwrap_or(16);
                let backoff = secs(settings.backoff)
                    .saturating_mul(1 << exponent)
                    .min(secs(settings.max_backoff));
                let wait = failure
                    .retry_after()
                    .map_or(backoff, |asked| {
                        i64::try_from(asked)
                            .unwrap_or(i64::MAX)
                            .min(secs(settings.max_backoff))
                    })
                    .max(1);
                let message = format!("{} is unavailable right now ({failure})", c.provider);
                (
                    RefreshFailure::Kept {
                        kind: FailureKind::Transient,
                        message: message.clone(),
                        retry_at: now + wait,
                    },
                    TokenError::Transient {
                        message,
                        retry_after: Some(wait),
                    },
                )
            }
        };
        tracing::warn!(
            connection = %c.id,
            provider = %c.provider,
            class = ?failure.class(),
            error = %failure,
            "refresh failed"
        );
        self.inner
            .store
            .fail_refresh(c.id, holder, &stored, now)
            .await?;
        Ok(error)
    }

    /// A tool reported that the provider rejected `access_token`: if it is still the current
    /// token of one of the user's accounts at `provider`, it is treated as expired (the next
    /// fetch refreshes it). True when the report changed something.
    pub async fn report_invalid(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        provider: &str,
        access_token: &SecretString,
    ) -> Result<bool, TokenError> {
        let accounts = self.accounts(user_id, server_id, provider).await?;
        if accounts.is_empty() {
            return Err(TokenError::NotConnected);
        }
        // The token names the account: only the one it is current for changes.
        let hash = token_hash(access_token);
        let Some(c) = accounts.into_iter().find(|c| c.access_hash == hash) else {
            return Ok(false);
        };
        let now = self.inner.clock.now();
        let expired = self
            .inner
            .store
            .expire_access_token(c.id, &hash, now)
            .await?;
        if expired {
            tracing::info!(connection = %c.id, provider = %c.provider, "a tool reported the access token as rejected");
        }
        Ok(expired)
    }

    /// One pass of the background refresher: renews connections expiring within the `ahead`
    /// window. Returns how many it refreshed.
    pub async fn refresh_expiring(&self) -> Result<usize, TokenError> {
        let ahead = self.inner.settings.ahead;
        let now = self.inner.clock.now();
        let due = self
            .inner
            .store
            .connections_expiring(now + secs(ahead), now, self.live_since(now), 100)
            .await?;
        let mut refreshed = 0;
        for candidate in due {
            let flight = self.flight(candidate.id);
            let Ok(_one_at_a_time) = flight.try_lock() else {
                continue; // a caller is refreshing it right now
            };
            let Some(c) = self
                .find(
                    candidate.user_id,
                    candidate.server_id,
                    &candidate.provider,
                    Some(&candidate.nickname),
                )
                .await?
            else {
                continue;
            };
            let now = self.inner.clock.now();
            if next_step(&c, now, ahead) != Next::Refresh {
                continue;
            }
            let Some(holder) = self.lease(&c, now).await? else {
                continue; // another process is on it
            };
            let id = c.id;
            match self.refresh_detached(c, holder).await {
                Ok(_) => refreshed += 1,
                Err(error) => {
                    tracing::debug!(connection = %id, %error, "background refresh failed");
                }
            }
        }
        Ok(refreshed)
    }

    /// Runs the background refresher until `shutdown` resolves.
    pub async fn run_refresher(self, shutdown: impl std::future::Future<Output = ()>) {
        let Some(interval) = self.inner.settings.background_interval else {
            return;
        };
        tokio::pin!(shutdown);
        loop {
            let jitter = 0.8 + 0.4 * f64::from(crate::crypto::random_bytes::<1>()[0]) / 255.0;
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(interval.mul_f64(jitter)) => {}
            }
            if let Err(error) = self.refresh_expiring().await {
                tracing::warn!(%error, "background refresh pass failed");
            }
        }
    }
}
