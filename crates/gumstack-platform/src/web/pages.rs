//! HTML of the pages. maud escapes every interpolated value, so names and emails that contain
//! markup are shown as text.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

use crate::auth::SessionUser;
use crate::store::Server;

/// The page frame: head, top bar (with logout when logged in), main.
pub fn page(title: &str, session: Option<&SessionUser>, body: Markup) -> Markup {
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
                header.top {
                    a.brand href="/" { "Gumstack" }
                    @if session.is_some() {
                        nav aria-label="Main" {
                            a href="/" { "Servers" }
                            " "
                            a href="/connections" { "Connections" }
                        }
                    }
                    @if let Some(session) = session {
                        form.logout method="post" action="/logout" {
                            span.who { (session.user.email) " (" (session.user.role.as_str()) ")" }
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn login(csrf: &str, email: &str, next: &str, error: Option<&str>) -> Markup {
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

pub fn forbidden_form() -> (StatusCode, Markup) {
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

/// A server as listed on the home page.
#[derive(Debug)]
pub struct ServerRow {
    pub server: Server,
    pub status: &'static str,
    pub mcp_url: String,
}

pub fn home(session: &SessionUser, servers: &[ServerRow]) -> Markup {
    page(
        "Servers",
        Some(session),
        html! {
            h1 { "Servers" }
            @if servers.is_empty() {
                p { "No server is registered yet. Create one with "
                    code { "gumstackd server create --from <dir> --command <program>" }
                    " or the JSON API (docs/API.md)." }
            } @else {
                table {
                    caption { "MCP servers hosted on this platform" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Auth" } th scope="col" { "Status" } th scope="col" { "MCP URL" } } }
                    tbody {
                        @for row in servers {
                            tr {
                                td { strong { (row.server.name) } br; small { (row.server.description) } }
                                td { (row.server.auth_type.as_str()) }
                                td { (row.status) }
                                td { code { (row.mcp_url) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A page with a heading and one message (errors that can't go back to a client).
pub fn message_page(title: &str, message: &str) -> Markup {
    page(
        title,
        None,
        html! {
            h1 { (title) }
            p.error role="alert" { (message) }
        },
    )
}
