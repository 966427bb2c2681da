//! The Users page (admins only, SPEC §8): the accounts, adding one (with a password the admin
//! sets or one the platform generates and shows once), changing a role, resetting a password;
//! the disable, enable and delete buttons post to `offboarding`. Every action goes through
//! [`Accounts`](crate::users::Accounts), like the API and the CLI.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use uuid::Uuid;

use super::csrf::VerifiedForm;
use super::error::PageError;
use super::{access, pages};
use crate::audit::{Audit, AuditAction, AuditEvent, Target};
use crate::auth::SessionUser;
use crate::state::AppState;
use crate::store::{Role, User};
use crate::users::MIN_PASSWORD_LEN;

const ROLES: [Role; 3] = [Role::Admin, Role::Developer, Role::Member];

/// What the page shows besides the list.
#[derive(Default)]
struct View<'a> {
    notice: Option<Markup>,
    /// The add form as typed (never the password).
    email: &'a str,
    role: Option<Role>,
    add_error: Option<&'a PageError>,
    /// An error about one account's row.
    row_error: Option<(Uuid, &'a PageError)>,
}

fn role_select(id: &str, name: &str, selected: Role) -> Markup {
    html! {
        select id=(id) name=(name) {
            @for role in ROLES {
                option value=(role.as_str()) selected[role == selected] { (role.as_str()) }
            }
        }
    }
}

async fn users_page(
    state: &AppState,
    session: &SessionUser,
    view: View<'_>,
    status: StatusCode,
) -> Response {
    let users = match state.store.list_users().await {
        Ok(users) => users,
        Err(e) => return pages::error_page(Some(session), e),
    };
    let csrf = html! { input type="hidden" name="csrf" value=(session.csrf); };
    let row = |user: &User| {
        let error = view
            .row_error
            .filter(|(id, _)| *id == user.id)
            .map(|(_, e)| e);
        html! {
            tr {
                th scope="row" {
                    (user.email)
                    @if user.id == session.user.id { " " span.tag { "you" } }
                    @if user.is_disabled() { " " span.tag { "disabled" } }
                    br; small { "since " (pages::format_time(user.created_at)) }
                    @if let Some(err) = error { p.error role="alert" { (err.public_message()) } }
                }
                td {
                    form.row method="post" action={ "/users/" (user.id) "/role" } {
                        (csrf)
                        label.visually-hidden for={ "role-" (user.id) } { "Role of " (user.email) }
                        (role_select(&format!("role-{}", user.id), "role", user.role))
                        button type="submit" { "Change role" }
                    }
                }
                td {
                    form.row method="post" action={ "/users/" (user.id) "/password" } {
                        (csrf)
                        label.visually-hidden for={ "password-" (user.id) } { "New password for " (user.email) }
                        input id={ "password-" (user.id) } name="password" type="password"
                            autocomplete="new-password" placeholder="empty: generate one";
                        button type="submit" { "Reset password" }
                    }
                }
                td {
                    @if user.id != session.user.id {
                        @if user.is_disabled() {
                            form.inline method="post" action={ "/users/" (user.id) "/enable" } {
                                (csrf)
                                button type="submit" aria-label={ "Enable " (user.email) } { "Enable" }
                            }
                            form.inline method="post" action={ "/users/" (user.id) "/disable" } {
                                (csrf)
                                button type="submit" aria-label={ "Disable " (user.email) " again" } { "Retry revocations" }
                            }
                        } @else {
                            form.inline method="post" action={ "/users/" (user.id) "/disable" } {
                                (csrf)
                                button.danger type="submit" aria-label={ "Disable " (user.email) } { "Disable" }
                            }
                        }
                        a.button.danger href={ "/users/" (user.id) "/delete" } aria-label={ "Delete " (user.email) } { "Delete" }
                    }
                }
            }
        }
    };
    let body = html! {
        h1 { "Users" }
        @if let Some(notice) = &view.notice { div.notice role="status" { (notice) } }
        table {
            caption { (users.len()) " accounts" }
            thead { tr {
                th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Password" }
                th scope="col" { "Access" }
            } }
            tbody { @for user in &users { (row(user)) } }
        }
        p { small { "Admins manage everything; developers manage servers and their env vars; members use tools and their own connections. A password reset ends the account's browser sessions and API tokens and cuts off the MCP clients it authorized; a demotion ends the API tokens made under the higher role. Disabling also revokes the account's connections at their providers; deleting removes its credentials and passes its servers to you." } }
        section aria-labelledby="add" {
            h2 id="add" { "Add a user" }
            @if let Some(err) = view.add_error {
                p.error role="alert" id="add-error" { (err.public_message()) }
            }
            form.card method="post" action="/users" {
                (csrf)
                label for="email" { "Email (required)" }
                input id="email" name="email" type="email" required autocomplete="off" value=(view.email)
                    aria-invalid=[view.add_error.map(|_| "true")]
                    aria-describedby=[view.add_error.map(|_| "add-error")];
                label for="role" { "Role" }
                (role_select("role", "role", view.role.unwrap_or(Role::Member)))
                label for="password" { "Initial password" }
                small id="password-help" {
                    "At least " (MIN_PASSWORD_LEN) " characters. Leave empty to have one generated and shown once."
                }
                input id="password" name="password" type="password" autocomplete="new-password"
                    aria-describedby="password-help";
                button type="submit" { "Add user" }
            }
        }
    };
    (status, pages::page("Users", Some(session), body)).into_response()
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    done: Option<String>,
}

/// `GET /users`.
pub(super) async fn list(
    State(state): State<AppState>,
    session: SessionUser,
    Query(query): Query<DoneQuery>,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    let notice = match query.done.as_deref() {
        Some("role") => Some(html! { "Role changed." }),
        Some("enabled") => Some(html! { "Account enabled: it can log in again." }),
        _ => None,
    };
    let view = View {
        notice,
        ..View::default()
    };
    users_page(&state, &session, view, StatusCode::OK).await
}

/// A password field: empty means "generate one".
fn typed_password(password: Option<SecretString>) -> Option<SecretString> {
    password.filter(|p| !p.expose_secret().is_empty())
}

fn password_notice(intro: Markup, email: &str, generated: Option<&SecretString>) -> Markup {
    html! {
        p { (intro) }
        @if let Some(password) = generated {
            p {
                "The password of " strong { (email) } ", shown only this once: "
                code.secret { (password.expose_secret()) }
            }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct AddForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    password: Option<SecretString>,
}

/// `POST /users`: adds an account.
pub(super) async fn create(
    State(state): State<AppState>,
    audit: Audit,
    VerifiedForm { session, form }: VerifiedForm<AddForm>,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    let role = form.role.parse::<Role>();
    let result = match &role {
        Ok(role) => state
            .accounts
            .create(&form.email, *role, typed_password(form.password))
            .await
            .map_err(PageError::from),
        Err(message) => Err(PageError::invalid("invalid_role", message.clone())),
    };
    match result {
        Ok(created) => {
            audit
                .record(
                    &session.user,
                    AuditEvent::new(AuditAction::UserCreated, Target::user(&created.user))
                        .with("role", created.user.role.as_str()),
                )
                .await;
            let notice = password_notice(
                html! { "Account created for " strong { (created.user.email) } " (" (created.user.role.as_str()) ")." },
                &created.user.email,
                created.generated_password.as_ref(),
            );
            let view = View {
                notice: Some(notice),
                ..View::default()
            };
            users_page(&state, &session, view, StatusCode::CREATED).await
        }
        Err(err) if err.is_input_error() => {
            let view = View {
                email: &form.email,
                role: role.ok(),
                add_error: Some(&err),
                ..View::default()
            };
            users_page(&state, &session, view, err.status()).await
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RoleForm {
    #[serde(default)]
    role: String,
}

fn user_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError::not_found("no such user".to_owned()))
}

/// `POST /users/{id}/role`.
pub(super) async fn set_role(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    VerifiedForm { session, form }: VerifiedForm<RoleForm>,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    let id = match user_id(&id) {
        Ok(id) => id,
        Err(err) => return pages::error_page(Some(&session), err),
    };
    let result = match form.role.parse::<Role>() {
        Ok(role) => state
            .accounts
            .set_role(id, role)
            .await
            .map_err(PageError::from),
        Err(message) => Err(PageError::invalid("invalid_role", message)),
    };
    if let Ok((user, ended)) = &result {
        audit
            .record(
                &session.user,
                AuditEvent::new(AuditAction::UserRoleChanged, Target::user(user))
                    .with("role", user.role.as_str())
                    .with("api_tokens_ended", *ended),
            )
            .await;
    }
    match result {
        // An admin who made themselves a member can no longer see this page.
        Ok((user, _)) if user.id == session.user.id && user.role != Role::Admin => {
            Redirect::to("/").into_response()
        }
        Ok(_) => Redirect::to("/users?done=role").into_response(),
        Err(err) if err.is_input_error() => {
            let view = View {
                row_error: Some((id, &err)),
                ..View::default()
            };
            users_page(&state, &session, view, err.status()).await
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    password: Option<SecretString>,
}

/// `POST /users/{id}/password`: sets the typed password or generates one (shown once).
pub(super) async fn reset_password(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    VerifiedForm { session, form }: VerifiedForm<PasswordForm>,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    let user = match user_id(&id) {
        Ok(id) => match state.store.user_by_id(id).await {
            Ok(user) => user,
            Err(crate::store::StoreError::NotFound) => {
                let err = PageError::not_found("no such user".to_owned());
                return pages::error_page(Some(&session), err);
            }
            Err(e) => return pages::error_page(Some(&session), e),
        },
        Err(err) => return pages::error_page(Some(&session), err),
    };
    match state
        .accounts
        .reset_password(&user.email, typed_password(form.password))
        .await
        .map_err(PageError::from)
    {
        Ok((user, generated)) => {
            audit
                .record(
                    &session.user,
                    AuditEvent::new(AuditAction::UserPasswordReset, Target::user(&user))
                        .with("generated", generated.is_some()),
                )
                .await;
            let notice = password_notice(
                html! { "New password set for " strong { (user.email) } "; every session and API token of the account ended." },
                &user.email,
                generated.as_ref(),
            );
            let view = View {
                notice: Some(notice),
                ..View::default()
            };
            users_page(&state, &session, view, StatusCode::OK).await
        }
        Err(err) if err.is_input_error() => {
            let view = View {
                row_error: Some((user.id, &err)),
                ..View::default()
            };
            users_page(&state, &session, view, err.status()).await
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}

/// The Users page with an error on one account's row (a refused disable or delete).
pub(super) async fn page_with_row_error(
    state: &AppState,
    session: &SessionUser,
    id: Uuid,
    err: &PageError,
) -> Response {
    let view = View {
        row_error: Some((id, err)),
        ..View::default()
    };
    users_page(state, session, view, err.status()).await
}
