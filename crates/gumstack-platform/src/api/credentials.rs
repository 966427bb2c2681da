//! `/api/me/credentials/{server}`: the caller's own credentials for a `cred` server (SPEC §4),
//! the JSON twin of the Connections form. Always the caller's: no route takes a user id, so
//! nobody reads or overwrites another user's values. Secret values are write-only: reading
//! answers which fields are set and, for secrets, "set · ends in ••34" at most.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::ApiCaller;
use super::ApiError;
use super::ApiJson;
use crate::credentials::{SaveError, fields};
use crate::state::AppState;
use crate::store::{AuthType, Server, User};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/{server}", get(show).put(save).delete(remove))
}

/// A field of the form and what may be shown of its saved value.
#[derive(Debug, Serialize)]
struct FieldView {
    name: String,
    label: String,
    secret: bool,
    required: bool,
    set: bool,
    /// A secret's "set · ends in ••34", a plain field's value; absent when unset.
    hint: Option<String>,
}

#[derive(Debug, Serialize)]
struct CredentialsView {
    server: String,
    fields: Vec<FieldView>,
}

/// The server, when it takes credentials from its users and the caller sees it (a server
/// their group may not use is not found, like an unknown one).
async fn cred_server(state: &AppState, user: &User, reference: &str) -> Result<Server, ApiError> {
    let server = state.visible_server(user, reference).await?;
    if server.auth_type != AuthType::Cred || !server.enabled {
        return Err(ApiError::NotFound(format!(
            "server `{}` takes no credentials from its users",
            server.slug
        )));
    }
    Ok(server)
}

async fn view(state: &AppState, user: &User, server: &Server) -> Result<CredentialsView, ApiError> {
    let hints = state.credentials.hints(user.id, server).await?;
    let fields = fields(server)?
        .into_iter()
        .map(|f| {
            let hint = hints.get(&f.name).cloned();
            FieldView {
                set: hint.is_some(),
                hint,
                name: f.name,
                label: f.label,
                secret: f.secret,
                required: f.required,
            }
        })
        .collect();
    Ok(CredentialsView {
        server: server.slug.clone(),
        fields,
    })
}

async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(server): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let server = cred_server(&state, &caller.0, &server).await?;
    Ok(Json(view(&state, &caller.0, &server).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveBody {
    /// Field name → value. A secret left out (or empty) keeps its saved value; any other field
    /// left out is cleared.
    values: BTreeMap<String, String>,
}

async fn save(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(server): Path<String>,
    ApiJson(body): ApiJson<SaveBody>,
) -> Result<impl IntoResponse, ApiError> {
    let server = cred_server(&state, &caller.0, &server).await?;
    let known = fields(&server)?;
    if let Some(unknown) = body
        .values
        .keys()
        .find(|name| !known.iter().any(|f| &f.name == *name))
    {
        return Err(ApiError::invalid(
            "unknown_field",
            format!(
                "server `{}` has no credential field `{}`",
                server.slug,
                unknown.escape_debug()
            ),
        ));
    }
    match state
        .credentials
        .save(caller.0.id, &server, &body.values)
        .await
    {
        Ok(()) => Ok(Json(view(&state, &caller.0, &server).await?)),
        Err(SaveError::Invalid(errors)) => Err(ApiError::invalid(
            "invalid_credentials",
            errors.0.into_values().collect::<Vec<_>>().join("; "),
        )),
        Err(SaveError::Internal(e)) => Err(e.into()),
    }
}

async fn remove(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(server): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let server = cred_server(&state, &caller.0, &server).await?;
    if state.credentials.delete(caller.0.id, server.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "you have no saved credentials for `{}`",
            server.slug
        )))
    }
}
