//! A server's Deployments tab (`/servers/{slug}/deployments`, SPEC §10, §12), for those who
//! manage the server (its owner, its maintainers, admins): every deployment newest first with its status and times, why it failed, what
//! its tool discovery found, and the process's last output — redacted of the server's env
//! values before it was stored (the live deployment's output is read from the running
//! process and redacted the same way).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::server_page::{Tab, load, tabs};
use super::{access, pages};
use crate::auth::SessionUser;
use crate::state::AppState;
use crate::store::Discovery;

/// How many deployments the tab shows.
const HISTORY: i64 = 50;

/// `GET /servers/{slug}/deployments`.
pub(super) async fn show(
    State(state): State<AppState>,
    session: SessionUser,
    Path(slug): Path<String>,
) -> Response {
    let server = match load(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    if let Err(refused) = access::server_manager(&state, &session, &server).await {
        return refused;
    }
    let mut history = match state.store.deployment_history(server.id, HISTORY).await {
        Ok(history) => history,
        Err(e) => return pages::error_page(Some(&session), e),
    };
    state.supervisor.with_live_output(server.id, &mut history);
    let body = html! {
        div.title { (super::server_page::icon(&server)) h1 { (server.name) } }
        (tabs(&server, Tab::Deployments, true))
        p {
            "Every deployment of this server, newest first. A new deployment replaces the live one only once it is healthy. "
            "Output is the process's last 16 KiB of stdout and stderr, with every env var value replaced by "
            code { "****SECRET_REDACTED****" } "."
        }
        @if history.is_empty() { p { "No deployments yet." } }
        @for record in &history {
            @let d = &record.deployment;
            section.deployment aria-labelledby={ "deployment-" (d.id) } {
                h2 id={ "deployment-" (d.id) } {
                    "#" (d.generation) " · " span class={ "status " (d.status.as_str()) } { (d.status.as_str()) }
                }
                dl {
                    dt { "Started" } dd { (pages::format_time(d.created_at)) }
                    dt { "Last change" } dd { (pages::format_time(d.updated_at)) }
                    @if let Some(address) = &d.address { dt { "Address" } dd { code { (address) } } }
                    dt { "Tools" }
                    dd {
                        @match &record.discovery {
                            Discovery::NotTried => "not listed (the process never became healthy, or was deployed before discovery)",
                            Discovery::Found(count) => { (count) " listed by the server" }
                            Discovery::Failed(error) => {
                                "tools/list failed (the deployment went on with the tools known before): "
                                pre.log.discovery-error { (error) }
                            }
                        }
                    }
                    @if let Some(error) = &d.error {
                        dt { "Why it failed" } dd { pre.log { (error) } }
                    }
                }
                details open[d.status == crate::store::DeploymentStatus::Live] {
                    summary { "Output" }
                    @match record.output.as_deref().filter(|o| !o.is_empty()) {
                        Some(output) => pre.log.output { (output) },
                        None => p { "No output recorded." },
                    }
                }
            }
        }
    };
    pages::page(
        &format!("{} · Deployments", server.name),
        Some(&session),
        body,
    )
    .into_response()
}
