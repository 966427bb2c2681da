//! `GET /api/me/connections`: the caller's own OAuth connections (SPEC §3), the JSON twin of
//! the Connections page: one entry per provider of every enabled `oauth` server, saying
//! whether its default account is connected, must be connected again, or is stuck on the
//! server's integration with the provider, with every account the caller connected to it. Always the caller's (no route takes a user id), and never a
//! token: the row's sealed tokens are not even decrypted.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;

use super::{ApiCaller, ApiError};
use crate::connections::ConnectionView;
use crate::connections::flow::declared_providers;
use crate::state::AppState;
use crate::store::{AuthType, ConnectionStatus, FailureKind, Timestamp};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/", get(list))
}

/// What the user can do with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum ConnectionState {
    /// Tools get the account's token (refreshed by the platform as needed).
    Connected,
    /// The provider refused the grant or the token expired for good: connect again.
    NeedsReauth,
    /// The provider refuses the server's own client: the server's developer must act.
    IntegrationError,
    /// No account connected yet.
    NotConnected,
}

/// One of the accounts connected to a provider.
#[derive(Debug, Serialize)]
struct AccountEntry {
    /// The connection's id.
    id: uuid::Uuid,
    nickname: String,
    /// The caller's own name for the account.
    label: Option<String>,
    /// The account tools get unless they name another.
    default: bool,
    state: ConnectionState,
    expires_at: Option<Timestamp>,
    connected_at: Timestamp,
    error: Option<String>,
}

impl AccountEntry {
    fn of(view: &ConnectionView) -> Self {
        let (state, error) = state_of(view);
        Self {
            id: view.id,
            nickname: view.nickname.clone(),
            label: view.label.clone(),
            default: view.is_default,
            state,
            expires_at: view.expires_at,
            connected_at: view.connected_at,
            error,
        }
    }
}

/// A provider of a server; its top-level fields describe the default account.
#[derive(Debug, Serialize)]
struct ConnectionEntry {
    /// The server's slug.
    server: String,
    server_name: String,
    provider: String,
    state: ConnectionState,
    /// The connected account as the provider names it.
    nickname: Option<String>,
    /// When the current access token expires (Unix seconds); `None` when the provider gave no
    /// lifetime. The platform refreshes it before handing it to a tool.
    expires_at: Option<Timestamp>,
    connected_at: Option<Timestamp>,
    /// Why the state is `needs_reauth` or `integration_error`.
    error: Option<String>,
    /// The page where the user connects, reconnects or disconnects.
    connect_url: String,
    /// Every account connected to this provider, the default first.
    accounts: Vec<AccountEntry>,
}

#[derive(Debug, Serialize)]
struct ConnectionsReply {
    connections: Vec<ConnectionEntry>,
}

fn state_of(view: &ConnectionView) -> (ConnectionState, Option<String>) {
    match (view.status, view.failure_kind) {
        (ConnectionStatus::NeedsReauth, _) => {
            (ConnectionState::NeedsReauth, view.failure_message.clone())
        }
        (ConnectionStatus::Active, Some(FailureKind::Integration)) => (
            ConnectionState::IntegrationError,
            view.failure_message.clone(),
        ),
        // A transient failure is retried by the platform; the token still works meanwhile.
        (ConnectionStatus::Active, _) => (ConnectionState::Connected, None),
    }
}

async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<impl IntoResponse, ApiError> {
    let views = state.connections.views(caller.0.id).await?;
    let mut connections = Vec::new();
    for server in state.visible_servers(&caller.0).await? {
        if server.auth_type != AuthType::Oauth || !server.enabled {
            continue;
        }
        let mut providers = declared_providers(&server)?;
        // A connection to a provider the config no longer declares is still the user's.
        for view in views.iter().filter(|v| v.server_id == server.id) {
            if !providers.contains(&view.provider) {
                providers.push(view.provider.clone());
            }
        }
        let connect_url = state.urls.join(&format!("/connections/{}", server.slug));
        for provider in providers {
            let mine: Vec<&ConnectionView> = views
                .iter()
                .filter(|v| v.server_id == server.id && v.provider == provider)
                .collect();
            let view = mine.iter().copied().find(|v| v.is_default);
            let (connection_state, error) =
                view.map_or((ConnectionState::NotConnected, None), state_of);
            connections.push(ConnectionEntry {
                server: server.slug.clone(),
                server_name: server.name.clone(),
                provider,
                state: connection_state,
                nickname: view.map(|v| v.nickname.clone()),
                expires_at: view.and_then(|v| v.expires_at),
                connected_at: view.map(|v| v.connected_at),
                error,
                connect_url: connect_url.clone(),
                accounts: mine.into_iter().map(AccountEntry::of).collect(),
            });
        }
    }
    Ok(Json(ConnectionsReply { connections }))
}
