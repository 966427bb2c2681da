//! Cross-site request forgery: every form a browser posts carries a CSRF token, checked here
//! before the handler runs.
//!
//! - Forms of a logged-in user are [`VerifiedForm`]s: the session's token (derived from the
//!   session cookie by [`crate::auth::csrf_token_for`]) in the `csrf` field, compared in
//!   constant time. A missing or wrong token is the 403 "This form expired" page and the
//!   handler never sees the form.
//! - The login form has no session yet: its token is a double-submit cookie
//!   ([`login_token`], [`login_token_matches`]).

use std::sync::Arc;

use axum::Form;
use axum::body::Body;
use axum::extract::rejection::{FormRejection, RawFormRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, RawForm, Request};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::pages;
use crate::auth::{SessionRejection, SessionUser};
use crate::clock::Clock;
use crate::crypto::{constant_time_eq, random_token};
use crate::state::AppState;
use crate::store::Store;
use crate::urls::PublicUrls;

/// The form field every form carries its CSRF token in.
const FIELD: &str = "csrf";
/// The cookie carrying the login form's CSRF token (double submit: the form echoes it).
pub(crate) const LOGIN_COOKIE: &str = "gumstack_login_csrf";

/// A form posted by a logged-in user from one of the platform's own pages: the session and the
/// form's other fields (`T`), extracted only when the form's `csrf` field is the session's.
#[derive(Debug)]
pub struct VerifiedForm<T = NoFields> {
    pub session: SessionUser,
    pub form: T,
}

/// The fields of a form that carries nothing but its CSRF token (a button).
#[derive(Debug, Default, Deserialize)]
pub struct NoFields {}

/// Why a [`VerifiedForm`] was refused.
#[derive(Debug)]
pub enum CsrfRejection {
    /// No valid session: to the login page.
    Session(SessionRejection),
    /// Not a urlencoded form, or its body could not be read.
    Body(RawFormRejection),
    /// The token is missing or not the session's (a forged or stale form).
    StaleForm,
    /// The token was right, the other fields are malformed.
    Fields(FormRejection),
}

impl IntoResponse for CsrfRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Session(rejection) => rejection.into_response(),
            Self::Body(rejection) => rejection.into_response(),
            Self::StaleForm => pages::forbidden_form().into_response(),
            Self::Fields(rejection) => rejection.into_response(),
        }
    }
}

/// Whether `submitted` is the session's CSRF token (constant time).
fn matches(session: &SessionUser, submitted: &str) -> bool {
    constant_time_eq(session.csrf.as_bytes(), submitted.as_bytes())
}

impl<S, T> FromRequest<S> for VerifiedForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
    Arc<dyn Store>: FromRef<S>,
    Arc<dyn Clock>: FromRef<S>,
    PublicUrls: FromRef<S>,
{
    type Rejection = CsrfRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = SessionUser::from_request_parts(&mut parts, state)
            .await
            .map_err(CsrfRejection::Session)?;
        let RawForm(bytes) = RawForm::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(CsrfRejection::Body)?;
        let pairs = || url::form_urlencoded::parse(&bytes);
        let submitted = pairs()
            .find(|(name, _)| name == FIELD)
            .map(|(_, value)| value)
            .unwrap_or_default();
        if !matches(&session, &submitted) {
            return Err(CsrfRejection::StaleForm);
        }
        // The other fields, read the way `Form` reads them (same rejections); the token is
        // this extractor's, not the handler's.
        let rest = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs().filter(|(name, _)| name != FIELD))
            .finish();
        let rest = Request::builder()
            .method(Method::POST)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(rest))
            .expect("a POST with a fixed header is a valid request");
        let Form(form) = Form::<T>::from_request(rest, state)
            .await
            .map_err(CsrfRejection::Fields)?;
        Ok(Self { session, form })
    }
}

/// The login form's CSRF token: the cookie's, or a fresh one set in the returned jar.
pub(crate) fn login_token(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    if let Some(existing) = jar.get(LOGIN_COOKIE) {
        let value = existing.value().to_owned();
        return (jar, value);
    }
    let token = random_token("").expose_secret().to_owned();
    let jar = jar.add(super::cookie(state, LOGIN_COOKIE, token.clone(), 3600));
    (jar, token)
}

/// The login form's token if the form echoes its cookie (constant time).
pub(crate) fn login_token_matches(jar: &CookieJar, submitted: &str) -> Option<String> {
    let expected = jar.get(LOGIN_COOKIE)?.value();
    (!submitted.is_empty() && constant_time_eq(expected.as_bytes(), submitted.as_bytes()))
        .then(|| expected.to_owned())
}
