//! Who is calling from a browser: the session cookie ([`SessionUser`], an extractor, so a
//! handler's signature shows what it needs) and the CSRF token derived from it. Scripts'
//! admin API tokens are the JSON API's own ([`crate::api::ApiCaller`]).

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::token_hash;
use crate::error::Internal;
use crate::store::{Store, StoreError, User};
use crate::urls::PublicUrls;

/// Name of the browser session cookie (`__Host-` prefixed when the platform is served over
/// https, which pins it to this host, path `/` and `Secure`).
pub fn session_cookie_name(urls: &PublicUrls) -> &'static str {
    if urls.is_https() {
        "__Host-gumstack_session"
    } else {
        "gumstack_session"
    }
}

/// The CSRF token of a session: derived from the session token, which only the browser
/// holding the cookie knows, so no storage is needed and it changes with every login.
pub fn csrf_token_for(session_token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"gumstack-csrf\0")
        .chain_update(session_token.as_bytes())
        .finalize();
    URL_SAFE_NO_PAD.encode(digest)
}

/// The logged-in browser user, with the CSRF token forms must carry (checked by
/// `VerifiedForm` in `web::csrf`).
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    pub csrf: String,
    pub token: SecretString,
}

/// A browser without a valid session is sent to the login page, and back to the page it asked
/// for (a GET) once logged in — e.g. the connect link a tool error gave.
#[derive(Debug)]
pub enum SessionRejection {
    Login { next: Option<String> },
    Internal(Internal),
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Login { next: Some(next) } => {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", &next)
                    .finish();
                Redirect::to(&format!("/login?{query}")).into_response()
            }
            Self::Login { next: None } => Redirect::to("/login").into_response(),
            Self::Internal(err) => {
                tracing::error!(cause = %err, "reading the session failed");
                (
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the platform log has the details",
                )
                    .into_response()
            }
        }
    }
}

impl<S> FromRequestParts<S> for SessionUser
where
    S: Send + Sync,
    Arc<dyn Store>: FromRef<S>,
    Arc<dyn Clock>: FromRef<S>,
    PublicUrls: FromRef<S>,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let urls = PublicUrls::from_ref(state);
        let jar = CookieJar::from_headers(&parts.headers);
        // Only a page the browser navigated to is worth coming back to (the login page checks
        // again that `next` is a local path).
        let login = || SessionRejection::Login {
            next: (parts.method == http::Method::GET)
                .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
                .flatten()
                .filter(|path| path != "/"),
        };
        let token = jar
            .get(session_cookie_name(&urls))
            .map(|c| SecretString::from(c.value().to_owned()))
            .ok_or_else(login)?;
        let store = Arc::<dyn Store>::from_ref(state);
        match store
            .session_user(&token_hash(&token), Arc::<dyn Clock>::from_ref(state).now())
            .await
        {
            Ok(user) => Ok(Self {
                user,
                csrf: csrf_token_for(token.expose_secret()),
                token,
            }),
            Err(StoreError::NotFound) => Err(login()),
            Err(other) => Err(SessionRejection::Internal(other.into())),
        }
    }
}

impl<S> OptionalFromRequestParts<S> for SessionUser
where
    S: Send + Sync,
    Arc<dyn Store>: FromRef<S>,
    Arc<dyn Clock>: FromRef<S>,
    PublicUrls: FromRef<S>,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match <Self as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(user) => Ok(Some(user)),
            Err(SessionRejection::Login { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }
}
