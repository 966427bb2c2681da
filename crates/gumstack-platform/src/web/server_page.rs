//! A server's Overview (`/servers/{slug}`): the MCP URL to copy, how it runs (status of the
//! deployments), its auth type, the last seven days of calls in numbers, the latest calls,
//! and the tools config.yaml lists. Every logged-in user who sees the server may read it; the
//! Settings tab is for those who manage the server.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use gumstack_config::Config;
use maud::{Markup, html};
use serde::Deserialize;

use super::servers::run_status;
use super::{activity, pages};
use crate::activity_views::{self, ActivityError};
use crate::auth::SessionUser;
use crate::state::AppState;
use crate::store::{
    ActivityFilter, ActivityRecord, ActivityStats, AuthType, DeploymentStatus, Server,
};

/// The server a page is about, or the error page (404 for an unknown slug, and for a server
/// the user may not see).
pub(super) async fn load(
    state: &AppState,
    session: &SessionUser,
    slug: &str,
) -> Result<Server, Response> {
    state
        .visible_server(&session.user, slug)
        .await
        .map_err(|e| pages::error_page(Some(session), e))
}

/// The tabs of a server's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tab {
    Overview,
    Tools,
    Activity,
    Deployments,
    Settings,
}

/// The tabs; Deployments and Settings only for those who manage the server (`manages`).
pub(super) fn tabs(server: &Server, current: Tab, manages: bool) -> Markup {
    let current_of = |tab: Tab| (tab == current).then_some("page");
    html! {
        nav.tabs aria-label="Server" {
            a href={ "/servers/" (server.slug) } aria-current=[current_of(Tab::Overview)] { "Overview" }
            a href={ "/servers/" (server.slug) "/tools" } aria-current=[current_of(Tab::Tools)] { "Tools" }
            a href={ "/servers/" (server.slug) "/activity" } aria-current=[current_of(Tab::Activity)] { "Activity" }
            @if manages {
                a href={ "/servers/" (server.slug) "/deployments" } aria-current=[current_of(Tab::Deployments)] { "Deployments" }
                a href={ "/servers/" (server.slug) "/settings" } aria-current=[current_of(Tab::Settings)] { "Settings" }
            }
        }
    }
}

/// The icon, when it is an inline image (the Content-Security-Policy loads no other origin).
pub(super) fn icon(server: &Server) -> Markup {
    html! {
        @if let Some(icon) = server.icon.as_deref().filter(|i| i.starts_with("data:image/")) {
            img.icon src=(icon) alt="" width="32" height="32";
        }
    }
}

/// What each auth type means for the people who use the server.
pub(super) fn auth_explanation(kind: AuthType) -> &'static str {
    match kind {
        AuthType::Oauth => "each user connects their own account with the service",
        AuthType::Cred => "each user enters their own credentials in a form on this platform",
        AuthType::None => "the server uses keys the developer set as environment variables",
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct OverviewQuery {
    done: Option<String>,
}

/// Calls shown on the Overview.
const RECENT_CALLS: u32 = 5;

struct RecentActivity {
    stats: ActivityStats,
    lost: i64,
    calls: Vec<ActivityRecord>,
}

/// The last days' stats and latest calls of `server` that the reader may see.
async fn recent_activity(
    state: &AppState,
    session: &SessionUser,
    server: &Server,
) -> Result<RecentActivity, ActivityError> {
    let mut filter =
        ActivityFilter::visible(activity_views::visibility(state, &session.user).await?);
    filter.server_id = Some(server.id);
    Ok(RecentActivity {
        stats: activity_views::recent_stats(state, &filter).await?,
        lost: activity_views::recently_lost(state).await?,
        calls: state
            .store
            .activity_page(&filter, None, RECENT_CALLS, false)
            .await?,
    })
}

/// `GET /servers/{slug}`.
pub(super) async fn overview(
    State(state): State<AppState>,
    session: SessionUser,
    Path(slug): Path<String>,
    Query(query): Query<OverviewQuery>,
) -> Response {
    let server = match load(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    let latest = match state.store.list_deployments(server.id, 1).await {
        Ok(list) => list.into_iter().next(),
        Err(e) => return pages::error_page(Some(&session), e),
    };
    let recent = match recent_activity(&state, &session, &server).await {
        Ok(recent) => recent,
        Err(e) => return pages::error_page(Some(&session), e),
    };
    let tools = Config::parse(&server.config_yaml)
        .map(|c| c.tools)
        .unwrap_or_default();
    let status = match (run_status(&state, &server), &latest) {
        ("not running", Some(d)) if d.status == DeploymentStatus::Deploying => "deploying",
        (status, _) => status,
    };
    let mcp_url = state.urls.mcp_url(&server.slug);
    let containment = state
        .supervisor
        .live(server.id)
        .map(|live| live.handle.containment());
    let manager = match state.servers.can_manage(&session.user, &server).await {
        Ok(manager) => manager,
        Err(e) => return pages::error_page(Some(&session), e),
    };
    let notice = match query.done.as_deref() {
        Some("created") => Some("The server was created. Its first deployment is starting."),
        _ => None,
    };
    let body = html! {
        div.title { (icon(&server)) h1 { (server.name) } }
        @if !server.description.is_empty() { p { (server.description) } }
        (tabs(&server, Tab::Overview, manager))
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        section aria-labelledby="connect" {
            h2 id="connect" { "Connect" }
            label for="mcp-url" { "MCP URL" }
            input.copy id="mcp-url" type="text" readonly value=(mcp_url) aria-describedby="mcp-url-help";
            small id="mcp-url-help" {
                "Add this URL to your MCP client (Claude, Cursor, …). It signs you in to this platform the first time."
            }
            @if server.auth_type == AuthType::Cred && server.enabled {
                p { a href={ "/connections/" (server.slug) } { "Enter your credentials for this server" } }
            }
        }
        section aria-labelledby="status" {
            h2 id="status" { "Status" }
            dl {
                dt { "Status" } dd { (status) }
                dt { "Auth type" } dd { code { (server.auth_type.as_str()) } ": " (auth_explanation(server.auth_type)) }
                @if let Some(deployment) = &latest {
                    dt { "Latest deployment" }
                    dd {
                        "#" (deployment.generation) " · " (deployment.status.as_str())
                        " · " (pages::format_time(deployment.updated_at))
                    }
                    @if manager {
                        @if let Some(error) = &deployment.error {
                            dt { "Why it failed" } dd { pre.log { (error) } }
                        }
                    }
                } @else {
                    dt { "Latest deployment" } dd { "none yet" }
                }
                dt { "Created" } dd { (pages::format_time(server.created_at)) }
                @if manager {
                    @if let Some(containment) = &containment {
                        dt { "Isolation" }
                        dd {
                            @match containment.uid {
                                Some(uid) => { "Runs under its own uid " (uid) }
                                None => { "Runs under the platform's uid" }
                            }
                            @if containment.missing.is_empty() {
                                ", with no privileges, in a Landlock sandbox, under a seccomp filter and resource limits."
                            } @else {
                                ". Missing from its containment:"
                                ul.list.error role="alert" id="isolation-missing" {
                                    @for missing in &containment.missing { li { (missing) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        (activity::stats_section(&recent.stats, recent.lost))
        section aria-labelledby="recent" {
            h2 id="recent" { "Recent calls" }
            (activity::calls_table(&recent.calls, false, "The latest calls you may see"))
            p { a href={ "/servers/" (server.slug) "/activity" } { "All calls" } }
        }
        @if !tools.is_empty() {
            section aria-labelledby="tools" {
                h2 id="tools" { "Tools" }
                ul.list {
                    @for tool in &tools {
                        li { code { (tool.name) } @if let Some(description) = &tool.description { " — " (description) } }
                    }
                }
            }
        }
    };
    pages::page(&server.name, Some(&session), body).into_response()
}
