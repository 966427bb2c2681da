//! The Maintainers section of a server's Settings (SPEC §8): who manages the server besides
//! its owner and the admins. Its owner and admins add a developer or an admin by email and
//! remove one; maintainers see the list. Both forms carry the CSRF token like every other.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::access::Denied;
use super::csrf::VerifiedForm;
use super::error::PageError;
use super::pages;
use super::server_settings::{managed, settings_done, with_maintainer_error};
use crate::audit::{Audit, AuditAction, maintainer_changed};
use crate::auth::SessionUser;
use crate::servers::Servers;
use crate::state::AppState;
use crate::store::{Role, Server, StoreError};

/// What a maintainer who does not own the server is told when they try to change the list.
const CHOOSE_MAINTAINERS: &str = "choose this server's maintainers; its owner and admins do";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/servers/{slug}/maintainers", post(add))
        .route("/servers/{slug}/maintainers/{user}/remove", post(remove))
}

/// The Maintainers section; `typed` and `error` are the add form's when it was refused.
pub(super) async fn section(
    state: &AppState,
    session: &SessionUser,
    server: &Server,
    typed: &str,
    error: Option<&PageError>,
) -> Result<Markup, PageError> {
    let maintainers = state.servers.maintainers(server).await?;
    let owner = match server.owner_id {
        Some(id) => match state.store.user_by_id(id).await {
            Ok(user) => Some(user.email),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(other.into()),
        },
        None => None,
    };
    let chooses = Servers::can_manage_maintainers(&session.user, server);
    let base = format!("/servers/{}/maintainers", server.slug);
    Ok(html! {
        section aria-labelledby="maintainers" {
            h2 id="maintainers" { "Maintainers" }
            p {
                @if let Some(owner) = &owner { "Owner: " strong { (owner) } ". " }
                @else { "This server has no owner. " }
                "The owner and the maintainers manage this server: its settings, environment \
                 variables and deployments. Admins manage every server."
            }
            @if maintainers.is_empty() {
                p { "No maintainer." }
            } @else {
                table {
                    caption { "Maintainers" }
                    thead { tr {
                        th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Added" }
                        @if chooses { th scope="col" { "Change" } }
                    } }
                    tbody {
                        @for m in &maintainers {
                            tr {
                                td { (m.email) }
                                td {
                                    (m.role.as_str())
                                    @if m.role == Role::Member { " (manages nothing while a member)" }
                                }
                                td { (pages::format_time(m.added_at)) }
                                @if chooses {
                                    td {
                                        form.row method="post" action={ (base) "/" (m.user_id) "/remove" } {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            button.secondary type="submit" aria-label={ "Remove " (m.email) } { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if chooses {
                @if let Some(err) = error {
                    p.error role="alert" id="maintainer-error" { (err.public_message()) }
                }
                form.card method="post" action=(base) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    h3 { "Add a maintainer" }
                    label for="maintainer-email" { "Email" }
                    small id="maintainer-email-help" { "The account of a developer or an admin." }
                    input id="maintainer-email" name="email" type="email" required value=(typed)
                        aria-describedby={ @if error.is_some() { "maintainer-error " } "maintainer-email-help" }
                        aria-invalid=[error.map(|_| "true")];
                    button type="submit" { "Add maintainer" }
                }
            } @else {
                p { small { "Only the owner and admins add or remove maintainers." } }
            }
        }
    })
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct AddForm {
    #[serde(default)]
    email: String,
}

/// The server of a maintainers form: the user manages it and may choose its maintainers.
async fn chosen_by(
    state: &AppState,
    session: &SessionUser,
    slug: &str,
) -> Result<Server, Response> {
    let server = managed(state, session, slug).await?;
    if Servers::can_manage_maintainers(&session.user, &server) {
        Ok(server)
    } else {
        Err(Denied::Role(CHOOSE_MAINTAINERS).page(session))
    }
}

/// `POST /servers/{slug}/maintainers`: adds a maintainer by email.
async fn add(
    State(state): State<AppState>,
    audit: Audit,
    Path(slug): Path<String>,
    VerifiedForm { session, form }: VerifiedForm<AddForm>,
) -> Response {
    let server = match chosen_by(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    match state
        .servers
        .add_maintainer(&server, &form.email, Some(session.user.id))
        .await
        .map_err(PageError::from)
    {
        Ok(added) => {
            audit
                .record(
                    &session.user,
                    maintainer_changed(
                        AuditAction::MaintainerAdded,
                        &server,
                        added.user_id,
                        Some(&added.email),
                    ),
                )
                .await;
            settings_done(&server, "maintainer-added", "maintainers")
        }
        Err(err) if err.is_input_error() => {
            with_maintainer_error(&state, &session, &server, form.email.trim(), &err).await
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}

/// `POST /servers/{slug}/maintainers/{user}/remove`.
async fn remove(
    State(state): State<AppState>,
    audit: Audit,
    Path((slug, user)): Path<(String, String)>,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    let server = match chosen_by(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    let Ok(user_id) = Uuid::parse_str(&user) else {
        return pages::error_page(
            Some(&session),
            PageError::not_found("this is not a maintainer of the server"),
        );
    };
    let email = state.store.user_by_id(user_id).await.ok().map(|u| u.email);
    match state
        .servers
        .remove_maintainer(&server, user_id, Some(session.user.id))
        .await
    {
        Ok(()) => {
            audit
                .record(
                    &session.user,
                    maintainer_changed(
                        AuditAction::MaintainerRemoved,
                        &server,
                        user_id,
                        email.as_deref(),
                    ),
                )
                .await;
            settings_done(&server, "maintainer-removed", "maintainers")
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}
