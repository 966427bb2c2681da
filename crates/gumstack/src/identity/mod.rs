//! Who made an MCP request: the seam where the platform-signed identity of a call is checked.
//!
//! An [`IdentitySource`] looks at the HTTP request before rmcp sees it. It either refuses the
//! request (401, the MCP handler never runs) or names the verified caller, which is stored in
//! the request's extensions as a [`CallerIdentity`] (with, in production, the identity header
//! itself, which the SDK forwards to fetch the caller's credentials); rmcp copies the request's
//! [`http::request::Parts`] into the MCP `RequestContext`, where the
//! [`ScopedHandler`](crate::handler::ScopedHandler) picks it up.
//!
//! - Local mode: [`LocalIdentity`], a fixed "local" user (there is no platform to vouch for one).
//! - Production: [`PlatformIdentity`], which verifies the `Gumstack-Identity` header the gateway
//!   adds to every call (docs/PROTOCOL.md §2) with the platform's keys ([`jwks`]).
//!
//! The platform also calls the server itself, on the OAuth provider routes (docs/PROTOCOL.md
//! §4): [`PlatformCallVerifier`] (`platform_call.rs`) accepts only calls it signed for this
//! server, route and body. Both verifiers share the checks of every platform-signed token
//! (`jws.rs`) and one cache of the platform's keys.

mod jwks;
mod jws;
mod platform;
pub(crate) mod platform_call;

use std::{fmt, pin::Pin, sync::Arc};

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use rmcp::{RoleServer, service::RequestContext};
use secrecy::SecretString;

pub(crate) use self::{
    jwks::KeySet, platform::PlatformIdentity, platform_call::PlatformCallVerifier,
};
use crate::caller::GumstackContext;

/// The header naming the call the gateway forwards (`Gumstack-Call`).
pub(crate) use gumstack_protocol::headers::CALL as CALL_HEADER;
/// The header the gateway puts the signed identity in (`Gumstack-Identity`).
pub(crate) use gumstack_protocol::headers::IDENTITY as IDENTITY_HEADER;
/// The JWS `typ` of a Gumstack identity.
pub(crate) use gumstack_protocol::headers::IDENTITY_TYP as IDENTITY_TYPE;

/// The future an [`IdentitySource`] returns.
pub(crate) type IdentityFuture<'a> =
    Pin<Box<dyn Future<Output = Result<CallerIdentity, IdentityRejection>> + Send + 'a>>;

/// Decides who made a request from its HTTP parts.
pub(crate) trait IdentitySource: fmt::Debug + Send + Sync + 'static {
    /// The verified caller, or why the request is refused.
    fn identify<'a>(&'a self, parts: &'a http::request::Parts) -> IdentityFuture<'a>;
}

/// Why a request was refused: answered with 401 and
/// `{"error": {"code": "invalid_identity", "message": …}}`.
///
/// The message is a fixed sentence saying what is wrong with the identity, never text taken
/// from the request, so it cannot echo a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdentityRejection {
    message: &'static str,
}

impl IdentityRejection {
    pub(crate) const fn new(message: &'static str) -> Self {
        Self { message }
    }
}

impl IntoResponse for IdentityRejection {
    fn into_response(self) -> Response {
        tracing::warn!(reason = self.message, "refused an MCP request");
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({
                "error": { "code": "invalid_identity", "message": self.message },
            })),
        )
            .into_response()
    }
}

/// The verified caller of an HTTP request, carried in its extensions.
#[derive(Debug, Clone)]
pub(crate) struct CallerIdentity {
    pub(crate) caller: GumstackContext,
    /// What the request carried to fetch the caller's credentials with (production only).
    pub(crate) presented: Option<Arc<Presented>>,
}

/// What the platform hands the caller's credentials out for (docs/PROTOCOL.md §3): the
/// `Gumstack-Identity` header exactly as it was received and verified, and the call's
/// `Gumstack-Call`. Secrets like a bearer token: redacted in `Debug`, never logged.
#[derive(Debug)]
pub(crate) struct Presented {
    pub(crate) identity: SecretString,
    /// `None` when the request named no call (then the platform releases nothing).
    pub(crate) call: Option<SecretString>,
}

impl CallerIdentity {
    /// The identity recorded for the HTTP request behind an MCP request (`None` only when the
    /// identity middleware did not run).
    pub(crate) fn of(context: &RequestContext<RoleServer>) -> Option<Self> {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CallerIdentity>())
            .cloned()
    }
}

/// Local mode: every request comes from the fixed local user, with no identity to forward.
#[derive(Debug)]
pub(crate) struct LocalIdentity {
    caller: CallerIdentity,
}

impl LocalIdentity {
    pub(crate) fn new(server_id: Option<&str>) -> Self {
        Self {
            caller: CallerIdentity {
                caller: GumstackContext::local(server_id),
                presented: None,
            },
        }
    }
}

impl IdentitySource for LocalIdentity {
    fn identify<'a>(&'a self, _parts: &'a http::request::Parts) -> IdentityFuture<'a> {
        Box::pin(std::future::ready(Ok(self.caller.clone())))
    }
}

/// Axum middleware: identifies the request with `source` and records the caller, or refuses it.
pub(crate) async fn identify_request(
    State(source): State<Arc<dyn IdentitySource>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match source.identify(&parts).await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(rejection) => rejection.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, middleware, routing::get};
    use tower::ServiceExt;

    use super::*;

    #[derive(Debug)]
    struct Refuse;

    impl IdentitySource for Refuse {
        fn identify<'a>(&'a self, _parts: &'a http::request::Parts) -> IdentityFuture<'a> {
            Box::pin(std::future::ready(Err(IdentityRejection::new(
                "the identity's signature does not verify",
            ))))
        }
    }

    fn app(source: Arc<dyn IdentitySource>) -> Router {
        Router::new()
            .route(
                "/",
                get(|request: Request| async move {
                    match request.extensions().get::<CallerIdentity>() {
                        Some(identity) => identity.caller.user_id.clone(),
                        None => "unidentified".to_owned(),
                    }
                }),
            )
            .layer(middleware::from_fn_with_state(source, identify_request))
    }

    async fn body_of(app: Router) -> (StatusCode, String) {
        let response = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn local_identity_is_the_local_user() {
        let (status, body) = body_of(app(Arc::new(LocalIdentity::new(None)))).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "local"));
    }

    #[tokio::test]
    async fn a_refused_identity_is_a_401_saying_what_is_wrong() {
        let (status, body) = body_of(app(Arc::new(Refuse))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({ "error": {
                "code": "invalid_identity",
                "message": "the identity's signature does not verify",
            }})
        );
    }
}
