//! What the user does with one connected account on its server's Connections page (SPEC §3):
//! disconnect it, make it the default of its provider, give it a label. Each form names the
//! account by its connection id (`account`); only the signed-in user's own accounts of that
//! server and provider are found.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::connections::{Problem, accounts_page, oauth_server};
use super::csrf::VerifiedForm;
use super::error::PageError;
use super::pages;
use crate::auth::SessionUser;
use crate::connections::{ConnectionView, RenameError};
use crate::state::AppState;
use crate::store::Server;

/// A form about one account.
#[derive(Debug, Deserialize)]
pub(super) struct AccountForm {
    /// The connection's id; a disconnect without it means the provider's default account.
    account: Option<String>,
    /// Rename: the new label (empty removes it).
    #[serde(default)]
    label: String,
}

/// The server and the account a form names; the page's answer when there is none. A form
/// that must name its account says what it does (`to`); without one, it means the default.
async fn account_of(
    state: &AppState,
    session: &SessionUser,
    (slug, provider): (&str, &str),
    form: &AccountForm,
    to: Option<&str>,
) -> Result<(Server, ConnectionView), Response> {
    if let (Some(to), None) = (to, &form.account) {
        return Err(pages::error_page(
            Some(session),
            PageError::invalid("account_required", format!("Say which account to {to}.")),
        ));
    }
    let server = oauth_server(state, &session.user, slug).await?;
    let views = state
        .connections
        .views(session.user.id)
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    let wanted = form.account.as_deref().map(Uuid::parse_str);
    let found = views.into_iter().find(|v| {
        v.server_id == server.id
            && v.provider == provider
            && match &wanted {
                Some(Ok(id)) => v.id == *id,
                Some(Err(_)) => false,
                None => v.is_default,
            }
    });
    match found {
        Some(view) => Ok((server, view)),
        None => Err(pages::error_page(
            Some(session),
            PageError::not_found("You have no such account connected to this server."),
        )),
    }
}

fn back_to(server: &Server) -> Response {
    Redirect::to(&format!("/connections/{}", server.slug)).into_response()
}

/// `POST /connections/{slug}/{provider}/disconnect`: revokes the account's grant at the
/// provider and deletes its tokens.
pub(super) async fn disconnect(
    State(state): State<AppState>,
    Path((slug, provider)): Path<(String, String)>,
    VerifiedForm { session, form }: VerifiedForm<AccountForm>,
) -> Response {
    let (server, account) =
        match account_of(&state, &session, (&slug, &provider), &form, None).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    match state
        .connections
        .disconnect(session.user.id, server.id, account.id)
        .await
    {
        Ok(_) => back_to(&server),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// `POST /connections/{slug}/{provider}/default`: tools get this account unless they name
/// another.
pub(super) async fn make_default(
    State(state): State<AppState>,
    Path((slug, provider)): Path<(String, String)>,
    VerifiedForm { session, form }: VerifiedForm<AccountForm>,
) -> Response {
    let to = Some("make the default");
    let (server, account) = match account_of(&state, &session, (&slug, &provider), &form, to).await
    {
        Ok(found) => found,
        Err(response) => return response,
    };
    match state
        .connections
        .set_default(session.user.id, server.id, account.id)
        .await
    {
        Ok(_) => back_to(&server),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// `POST /connections/{slug}/{provider}/rename`: the user's own label for the account.
pub(super) async fn rename(
    State(state): State<AppState>,
    Path((slug, provider)): Path<(String, String)>,
    VerifiedForm { session, form }: VerifiedForm<AccountForm>,
) -> Response {
    let to = Some("rename");
    let (server, account) = match account_of(&state, &session, (&slug, &provider), &form, to).await
    {
        Ok(found) => found,
        Err(response) => return response,
    };
    let error = match state
        .connections
        .rename(session.user.id, server.id, account.id, &form.label)
        .await
    {
        Ok(()) => return back_to(&server),
        Err(RenameError::Internal(e)) => return PageError::from(e).into_response(),
        Err(error) => error,
    };
    let status = match error {
        RenameError::NotFound => StatusCode::NOT_FOUND,
        RenameError::Taken(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    let problem = Problem::Message(format!("{} was not renamed: {error}.", account.nickname));
    accounts_page(&state, &session, &server, Some(problem), None, status).await
}
