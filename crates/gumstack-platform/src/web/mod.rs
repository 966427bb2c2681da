//! The browser side: login with a CSRF-protected form, logout, and the dashboard (SPEC §10):
//! servers (list, create, overview, settings), the end user's Connections and MCP clients, and
//! the users and permission groups pages, and the activity log. Server-rendered HTML (maud escapes every interpolated string), no
//! JavaScript; every form carries the session's CSRF token and every admin action checks the
//! role on the server (module `access`).

mod access;
mod accounts;
mod activity;
mod audit;
mod clients;
mod connections;
mod credential_form;
pub(crate) mod csrf;
mod deployments;
mod error;
mod groups;
mod maintainers;
mod offboarding;
pub(crate) mod pages;
mod server_lifecycle;
mod server_page;
mod server_settings;
mod server_tools;
mod servers;
mod tokens;
mod users;

use axum::Form;
use axum::Router;
use axum::extract::State;

use crate::client_ip::ClientIp;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::{SessionUser, session_cookie_name};
use crate::crypto::{random_token, token_hash};
use crate::state::AppState;
use crate::users::AccountError;
use csrf::{LOGIN_COOKIE, VerifiedForm};
pub(crate) use error::PageError;

/// Browser sessions last a week.
const SESSION_SECONDS: i64 = 7 * 24 * 3600;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(servers::list))
        .route("/new", get(servers::new_form).post(servers::create))
        .route("/servers/{slug}", get(server_page::overview))
        .route("/servers/{slug}/activity", get(activity::server_tab))
        .route("/activity", get(activity::global))
        .route("/activity.csv", get(activity::export))
        .route("/activity/{id}", get(activity::call))
        .route("/users/{id}/activity", get(activity::user_calls))
        .route(
            "/servers/{slug}/settings",
            get(server_settings::show).post(server_settings::save),
        )
        .route("/servers/{slug}/env", post(server_settings::set_env))
        .route(
            "/servers/{slug}/env/{name}/delete",
            post(server_settings::delete_env),
        )
        .route("/servers/{slug}/redeploy", post(server_settings::redeploy))
        .route("/servers/{slug}/tools", get(server_tools::show))
        .route(
            "/servers/{slug}/tools/access",
            post(server_tools::set_access),
        )
        .route("/servers/{slug}/deployments", get(deployments::show))
        .route("/servers/{slug}/disable", post(server_lifecycle::disable))
        .route("/servers/{slug}/enable", post(server_lifecycle::enable))
        .route(
            "/servers/{slug}/delete",
            get(server_lifecycle::confirm_delete).post(server_lifecycle::delete),
        )
        .route("/audit", get(audit::show))
        .route("/audit.csv", get(audit::export))
        .merge(maintainers::routes())
        .route("/clients", get(clients::list))
        .route("/clients/{grant}/revoke", post(clients::revoke))
        .route("/users", get(users::list).post(users::create))
        .route("/groups", get(groups::list).post(groups::create))
        .route("/groups/{id}", get(groups::show))
        .route("/groups/{id}/rename", post(groups::rename))
        .route("/groups/{id}/delete", post(groups::delete))
        .route("/groups/{id}/members", post(groups::add_member))
        .route("/groups/{id}/servers/{slug}", post(groups::set_access))
        .route("/users/{id}/role", post(users::set_role))
        .route("/users/{id}/password", post(users::reset_password))
        .route("/users/{id}/disable", post(offboarding::disable))
        .route("/users/{id}/enable", post(offboarding::enable))
        .route(
            "/users/{id}/delete",
            get(offboarding::confirm_delete).post(offboarding::delete),
        )
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}/revoke", post(tokens::revoke))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/connections", get(connections::list))
        .route(
            "/connections/{slug}",
            get(credential_form::show).post(credential_form::save),
        )
        .route("/connections/{slug}/delete", post(credential_form::delete))
        .route(
            "/connections/{slug}/{provider}/connect",
            post(connections::connect),
        )
        .route(
            "/connections/{slug}/{provider}/disconnect",
            post(accounts::disconnect),
        )
        .route(
            "/connections/{slug}/{provider}/default",
            post(accounts::make_default),
        )
        .route(
            "/connections/{slug}/{provider}/rename",
            post(accounts::rename),
        )
        .route("/auth/callback", get(connections::callback))
        .route("/assets/app.css", get(stylesheet))
}

/// Headers every platform response carries (pages, the consent page, the API): a strict
/// Content-Security-Policy, no framing (clickjacking of the consent or login forms), no
/// sniffing, no referrer, and no caching unless a route says otherwise.
pub(crate) fn with_security_headers(router: Router<AppState>) -> Router<AppState> {
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("app.css"),
    )
}

fn cookie<'a>(state: &AppState, name: &'a str, value: String, max_age: i64) -> Cookie<'a> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(state.urls.is_https())
        .same_site(if name == LOGIN_COOKIE {
            SameSite::Strict
        } else {
            SameSite::Lax
        })
        .max_age(time::Duration::seconds(max_age))
        .build()
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    next: String,
}

/// Where to go after logging in: a path on this site only (never `//host` or an absolute URL,
/// which would make the login page an open redirect).
fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if local { next } else { "/" }
}

async fn login_page(
    State(state): State<AppState>,
    session: Option<SessionUser>,
    jar: CookieJar,
    axum::extract::Query(query): axum::extract::Query<LoginQuery>,
) -> Response {
    let next = safe_next(&query.next);
    if session.is_some() {
        return Redirect::to(next).into_response();
    }
    let (jar, csrf) = csrf::login_token(&state, jar);
    let next = if next == "/" { "" } else { next };
    (jar, pages::login(&csrf, "", next, None)).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: SecretString,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(csrf) = csrf::login_token_matches(&jar, &form.csrf) else {
        let (jar, csrf) = csrf::login_token(&state, jar);
        let page = pages::login(
            &csrf,
            &form.email,
            &form.next,
            Some("This form expired or was not sent from this site. Please try again."),
        );
        return (StatusCode::FORBIDDEN, jar, page).into_response();
    };
    let email_key = form.email.trim().to_lowercase();
    let address = client.to_string();
    if let Some(wait) = state.limiter.blocked_for(&email_key, &address) {
        let message = format!(
            "Too many failed attempts. Try again in {} minutes.",
            wait.div_ceil(60)
        );
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            pages::login(&csrf, &form.email, &form.next, Some(&message)),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return response;
    }
    let user = match state
        .accounts
        .authenticate(&form.email, form.password)
        .await
    {
        Ok(Some(user)) => user,
        Ok(None) => {
            state.limiter.record_failure(&email_key, &address);
            tracing::info!(%address, "failed login");
            let page = pages::login(
                &csrf,
                &form.email,
                &form.next,
                Some("The email or password is wrong."),
            );
            return (StatusCode::UNAUTHORIZED, page).into_response();
        }
        Err(err @ AccountError::Disabled(_)) => {
            // The password was right: no failure to count, and no session.
            tracing::info!(%address, "login of a disabled account refused");
            let page = pages::login(&csrf, &form.email, &form.next, Some(&err.to_string()));
            return (StatusCode::FORBIDDEN, page).into_response();
        }
        Err(err) => return PageError::from(err).into_response(),
    };
    state.limiter.record_success(&email_key);
    let token = random_token("");
    if let Err(err) = state
        .store
        .insert_session(
            user.id,
            &token_hash(&token),
            state.clock.now() + SESSION_SECONDS,
        )
        .await
    {
        return PageError::from(err).into_response();
    }
    let name = session_cookie_name(&state.urls);
    let jar = jar
        .remove(Cookie::build(LOGIN_COOKIE).path("/"))
        .add(cookie(
            &state,
            name,
            token.expose_secret().to_owned(),
            SESSION_SECONDS,
        ));
    (jar, Redirect::to(safe_next(&form.next))).into_response()
}

async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    if let Err(err) = state
        .store
        .delete_session(&token_hash(&session.token))
        .await
    {
        return PageError::from(err).into_response();
    }
    let jar = jar.remove(Cookie::build(session_cookie_name(&state.urls)).path("/"));
    (jar, Redirect::to("/login")).into_response()
}
