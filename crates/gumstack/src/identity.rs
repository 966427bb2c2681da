//! Who made an MCP request: the seam where the platform-signed identity of a call is checked.
//!
//! An [`IdentitySource`] looks at the HTTP request before rmcp sees it. It can refuse the
//! request (401, the MCP handler never runs) or let it through with a verified caller or with
//! none. The caller is stored in the request's extensions as a [`CallerIdentity`]; rmcp copies
//! the request's [`http::request::Parts`] into the MCP `RequestContext`, where the
//! [`ScopedHandler`](crate::handler::ScopedHandler) picks it up.
//!
//! - Local mode: [`LocalIdentity`], a fixed "local" user (there is no platform to vouch for one).
//! - Production: [`PlatformIdentity`]. For now it verifies nothing and lets requests through
//!   without a caller; the next slice verifies the platform-signed identity header here.

use std::{fmt, pin::Pin, sync::Arc};

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use rmcp::{RoleServer, service::RequestContext};

use crate::context::GumstackContext;

/// The future an [`IdentitySource`] returns.
pub(crate) type IdentityFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<GumstackContext>, IdentityRejection>> + Send + 'a>>;

/// Decides who made a request from its HTTP parts.
pub(crate) trait IdentitySource: fmt::Debug + Send + Sync + 'static {
    /// `Ok(Some(_))`: a verified caller; `Ok(None)`: let the request through without one;
    /// `Err(_)`: refuse the request.
    fn identify<'a>(&'a self, parts: &'a http::request::Parts) -> IdentityFuture<'a>;
}

/// Why a request was refused (answered with 401; the reason goes to the log only).
#[derive(Debug)]
pub(crate) struct IdentityRejection {
    reason: String,
}

impl IdentityRejection {
    #[allow(
        dead_code,
        reason = "built by the signed-identity verifier of the next slice"
    )]
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl IntoResponse for IdentityRejection {
    fn into_response(self) -> Response {
        tracing::warn!(reason = %self.reason, "refused an MCP request without a valid identity");
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({
                "error": "unauthorized",
                "message": "this server accepts only requests signed by the Gumstack platform",
            })),
        )
            .into_response()
    }
}

/// The outcome of identification, carried in the HTTP request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct CallerIdentity(pub(crate) Option<GumstackContext>);

impl CallerIdentity {
    /// The caller recorded for the HTTP request behind an MCP request.
    pub(crate) fn of(context: &RequestContext<RoleServer>) -> Option<GumstackContext> {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CallerIdentity>())
            .and_then(|identity| identity.0.clone())
    }
}

/// Local mode: every request comes from the fixed local user.
#[derive(Debug)]
pub(crate) struct LocalIdentity {
    caller: GumstackContext,
}

impl LocalIdentity {
    pub(crate) fn new(server_id: Option<&str>) -> Self {
        Self {
            caller: GumstackContext::local(server_id),
        }
    }
}

impl IdentitySource for LocalIdentity {
    fn identify<'a>(&'a self, _parts: &'a http::request::Parts) -> IdentityFuture<'a> {
        Box::pin(std::future::ready(Ok(Some(self.caller.clone()))))
    }
}

/// Production: requests come through the platform's gateway.
///
/// Verifying the platform-signed identity is the next slice; until then requests pass with no
/// verified caller, so `GumstackContext::current()` and user credentials fail closed.
#[derive(Debug)]
pub(crate) struct PlatformIdentity;

impl IdentitySource for PlatformIdentity {
    fn identify<'a>(&'a self, _parts: &'a http::request::Parts) -> IdentityFuture<'a> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// Axum middleware: identifies the request with `source` and records the result, or refuses it.
pub(crate) async fn identify_request(
    State(source): State<Arc<dyn IdentitySource>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match source.identify(&parts).await {
        Ok(caller) => {
            parts.extensions.insert(CallerIdentity(caller));
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
                "bad signature",
            ))))
        }
    }

    fn app(source: Arc<dyn IdentitySource>) -> Router {
        Router::new()
            .route(
                "/",
                get(|request: Request| async move {
                    let identity = request.extensions().get::<CallerIdentity>().cloned();
                    match identity {
                        Some(CallerIdentity(Some(caller))) => caller.user_id,
                        Some(CallerIdentity(None)) => "anonymous".to_owned(),
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
    async fn platform_identity_lets_requests_through_without_a_caller() {
        let (status, body) = body_of(app(Arc::new(PlatformIdentity))).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "anonymous"));
    }

    #[tokio::test]
    async fn a_refused_identity_is_a_401_without_the_reason() {
        let (status, body) = body_of(app(Arc::new(Refuse))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(!body.contains("bad signature"), "{body}");
    }
}
