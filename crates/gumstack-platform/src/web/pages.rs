//! HTML of the pages and the pieces every page shares: the frame (skip link, navigation by
//! role), error pages, times. maud escapes every interpolated value, so names and emails that
//! contain markup are shown as text.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::error::PageError;
use crate::auth::SessionUser;
use crate::store::{Role, Timestamp};

/// The page frame: head, skip link, top bar (navigation and logout when logged in), main.
pub(crate) fn page(title: &str, session: Option<&SessionUser>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Gumstack" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "Gumstack" }
                    @if let Some(session) = session {
                        nav aria-label="Main" {
                            a href="/" { "Servers" }
                            a href="/connections" { "Connections" }
                            a href="/activity" { "Activity" }
                            a href="/clients" { "MCP clients" }
                            a href="/tokens" { "API tokens" }
                            @if session.user.role == Role::Admin {
                                a href="/users" { "Users" }
                                a href="/groups" { "Permission groups" }
                                a href="/audit" { "Audit" }
                            }
                        }
                        form.logout method="post" action="/logout" {
                            span.who { (session.user.email) " (" (session.user.role.as_str()) ")" }
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

pub(crate) fn login(csrf: &str, email: &str, next: &str, error: Option<&str>) -> Markup {
    page(
        "Log in",
        None,
        html! {
            h1 { "Log in" }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form.card method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                @if !next.is_empty() {
                    input type="hidden" name="next" value=(next);
                }
                label for="email" { "Email" }
                input id="email" name="email" type="email" autocomplete="username" required value=(email);
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
        },
    )
}

pub(crate) fn forbidden_form() -> (StatusCode, Markup) {
    (
        StatusCode::FORBIDDEN,
        page(
            "Form expired",
            None,
            html! {
                h1 { "This form expired" }
                p { "The form was not sent from this site or is out of date. Go back, reload the page and try again." }
            },
        ),
    )
}

/// A page with a heading and one message (errors that can't go back to a client).
pub(crate) fn message_page(title: &str, message: &str) -> Markup {
    page(
        title,
        None,
        html! {
            h1 { (title) }
            p.error role="alert" { (message) }
        },
    )
}

/// A deletion that can't be undone, confirmed by typing a name: what to delete, what it
/// removes, and the form that must be sent with `expected` typed in.
pub(crate) struct TypeToConfirm<'a> {
    /// What is deleted, as the heading names it (`Delete {what}?`).
    pub(crate) what: &'a str,
    /// What deleting removes: the items of a list.
    pub(crate) consequences: Markup,
    /// The text to type, e.g. the slug.
    pub(crate) expected: &'a str,
    /// What that text is, for the error (`the server's slug`).
    pub(crate) expected_is: &'a str,
    /// Where the form posts.
    pub(crate) action: &'a str,
    /// Where "Cancel" goes.
    pub(crate) cancel: &'a str,
}

impl TypeToConfirm<'_> {
    /// The page, with what was typed kept and an error when it did not match.
    pub(crate) fn page(&self, session: &SessionUser, typed: &str, error: bool) -> Markup {
        let body = html! {
            h1 { "Delete " (self.what) "?" }
            p { "This cannot be undone. Deleting it:" }
            ul.list { (self.consequences) }
            @if error {
                p.error role="alert" id="confirm-error" {
                    "Type " (self.expected_is) " exactly to confirm."
                }
            }
            form.card method="post" action=(self.action) {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="confirm" { "Type " code { (self.expected) } " to confirm" }
                input id="confirm" name="confirm" type="text" required autocomplete="off" value=(typed)
                    aria-invalid=[error.then_some("true")]
                    aria-describedby=[error.then_some("confirm-error")];
                button.danger type="submit" { "Delete permanently" }
            }
            p { a href=(self.cancel) { "Cancel" } }
        };
        page(&format!("Delete {}", self.what), Some(session), body)
    }
}

/// A page refusing what the user's role does not allow (403). The server checks every admin
/// action; this is what a member who opens an admin page or posts an admin form sees.
pub(crate) fn forbidden(session: &SessionUser, what: &str) -> Response {
    let body = html! {
        h1 { "Not allowed" }
        p.error role="alert" {
            "Your role (" (session.user.role.as_str()) ") may not " (what) "."
        }
        p { "Ask an admin of this platform if you need to. " a href="/" { "Back to the servers" } }
    };
    (
        StatusCode::FORBIDDEN,
        page("Not allowed", Some(session), body),
    )
        .into_response()
}

/// An error of the services behind a page, as a page with the error's status. Internal errors
/// show a generic message (the cause goes to the log).
pub(crate) fn error_page(session: Option<&SessionUser>, err: impl Into<PageError>) -> Response {
    let err = err.into();
    if err.is_internal() {
        tracing::error!(cause = %err.cause(), "page failed");
    }
    let title = match err.status() {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::CONFLICT => "Not possible",
        status if status.is_client_error() => "Invalid request",
        _ => "Something went wrong",
    };
    let body = html! {
        h1 { (title) }
        p.error role="alert" { (err.public_message()) }
        p { a href="/" { "Back to the servers" } }
    };
    (err.status(), page(title, session, body)).into_response()
}

/// A time as people read it, in UTC: `2025-11-26 14:05 UTC`.
pub(crate) fn format_time(at: Timestamp) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at.to_string())
}
