//! [`Audit`]: what a handler needs to record an action — the trail and the client's address
//! (`client_ip`: the peer, or the nearest untrusted `X-Forwarded-For` hop behind a trusted
//! proxy).

use std::convert::Infallible;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use super::{Actor, AuditEvent, AuditTrail};
use crate::client_ip::{ClientIp, TrustedProxies};
use crate::store::User;

/// The audit trail and the address of the request's client.
#[derive(Debug, Clone)]
pub struct Audit {
    trail: AuditTrail,
    source: std::net::IpAddr,
}

impl Audit {
    /// Records `event`, done by `user` from this request's address. A failure to record is
    /// logged (the action already happened and is not undone).
    pub async fn record(&self, user: &User, event: AuditEvent) {
        self.trail
            .record_or_log(&Actor::user(user), Some(self.source), event)
            .await;
    }
}

impl<S> FromRequestParts<S> for Audit
where
    S: Send + Sync,
    AuditTrail: FromRef<S>,
    TrustedProxies: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ClientIp(source) = ClientIp::from_request_parts(parts, state).await?;
        Ok(Self {
            trail: AuditTrail::from_ref(state),
            source,
        })
    }
}
