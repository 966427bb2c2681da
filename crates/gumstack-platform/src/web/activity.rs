//! The activity log's pages (SPEC §9, §10): the global Activity page, a server's Activity tab,
//! a user's calls, one call's page, and the CSV export. Every view has the same filters
//! (status, server, tool, user, days), newest first, pages by position (`before`), and the
//! stats of the last seven days of what it shows. Who sees which calls is decided in
//! [`crate::activity_views`].

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use uuid::Uuid;

use super::server_page::{self, Tab};
use super::{PageError, pages};
use crate::activity_views::{
    self, ActivityParams, ActivityQuery, PAGE_SIZE, STATS_DAYS, client_label, format_latency,
    format_time_ms,
};
use crate::auth::SessionUser;
use crate::state::AppState;
use crate::store::{ActivityRecord, ActivityStats, CallStatus, Role, Server, StoreError, User};

/// What a view is fixed to by its address.
enum Scope {
    Everything,
    Server(Server),
    User(User),
}

impl Scope {
    /// Where the view lives (its filter form submits there).
    fn path(&self) -> String {
        match self {
            Self::Everything => "/activity".to_owned(),
            Self::Server(server) => format!("/servers/{}/activity", server.slug),
            Self::User(user) => format!("/users/{}/activity", user.id),
        }
    }

    /// `params` with this view's fixed filter in it.
    fn fix(&self, params: &mut ActivityParams) {
        match self {
            Self::Everything => {}
            Self::Server(server) => params.server.clone_from(&server.slug),
            Self::User(user) => params.user.clone_from(&user.email),
        }
    }
}

/// `GET /activity`: every call the reader may see.
pub(super) async fn global(
    State(state): State<AppState>,
    session: SessionUser,
    Query(params): Query<ActivityParams>,
) -> Response {
    view(&state, &session, Scope::Everything, params).await
}

/// `GET /servers/{slug}/activity`: a server's Activity tab.
pub(super) async fn server_tab(
    State(state): State<AppState>,
    session: SessionUser,
    Path(slug): Path<String>,
    Query(params): Query<ActivityParams>,
) -> Response {
    match server_page::load(&state, &session, &slug).await {
        Ok(server) => view(&state, &session, Scope::Server(server), params).await,
        Err(page) => page,
    }
}

/// `GET /users/{id}/activity`: one user's calls, for admins and for that user.
pub(super) async fn user_calls(
    State(state): State<AppState>,
    session: SessionUser,
    Path(id): Path<String>,
    Query(params): Query<ActivityParams>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return pages::error_page(Some(&session), StoreError::NotFound);
    };
    if session.user.role != Role::Admin && session.user.id != id {
        return pages::forbidden(
            &session,
            "read another user's calls; that takes the admin role",
        );
    }
    match state.store.user_by_id(id).await {
        Ok(user) => view(&state, &session, Scope::User(user), params).await,
        Err(e) => pages::error_page(Some(&session), e),
    }
}

async fn view(
    state: &AppState,
    session: &SessionUser,
    scope: Scope,
    mut params: ActivityParams,
) -> Response {
    scope.fix(&mut params);
    let query = match activity_views::resolve(state, &session.user, &params).await {
        Ok(query) => query,
        Err(e) => return pages::error_page(Some(session), e),
    };
    let (records, stats, lost, servers) = match load_view(state, &session.user, &query).await {
        Ok(loaded) => loaded,
        Err(e) => return pages::error_page(Some(session), e),
    };
    let running = activity_views::in_progress(state, &query);
    let has_older = records.len() > PAGE_SIZE as usize;
    let records = &records[..records.len().min(PAGE_SIZE as usize)];
    let older = has_older
        .then(|| records.last().map(ActivityRecord::cursor))
        .flatten();
    let manages = match &scope {
        Scope::Server(server) => match state.servers.can_manage(&session.user, server).await {
            Ok(manages) => manages,
            Err(e) => return pages::error_page(Some(session), e),
        },
        Scope::Everything | Scope::User(_) => false,
    };
    let path = scope.path();
    let (title, heading) = match &scope {
        Scope::Everything => ("Activity".to_owned(), html! { h1 { "Activity" } }),
        Scope::Server(server) => (
            format!("{} · Activity", server.name),
            html! {
                div.title { (server_page::icon(server)) h1 { (server.name) } }
                (server_page::tabs(server, Tab::Activity, manages))
            },
        ),
        Scope::User(user) => (
            format!("Calls of {}", user.email),
            html! { h1 { "Calls of " (user.email) } },
        ),
    };
    let export = format!("/activity.csv{}", params.query_string(None));
    let body = html! {
        (heading)
        (stats_section(&stats, lost))
        (filters(&path, &scope, &params, &servers))
        p { a href=(export) download { "Export these calls as CSV" } }
        @if !running.is_empty() {
            table {
                caption { "In progress now" }
                thead { tr { th scope="col" { "Started" } th scope="col" { "Tool" } th scope="col" { "Status" } } }
                tbody {
                    @for call in &running {
                        tr {
                            td { (format_time_ms(call.started_at)) }
                            td { code { (call.tool) } }
                            td { span.status data-status="in_progress" { "In Progress" } }
                        }
                    }
                }
            }
        } @else if query.in_progress_only {
            p { "No call is in progress right now. Calls in progress are shown only while they run." }
        }
        (calls_table(records, !matches!(scope, Scope::Server(_)), "Calls, newest first"))
        nav.pager aria-label="Pages" {
            @if !params.before.trim().is_empty() {
                a href={ (path) (params.query_string(None)) } { "Newest calls" }
            }
            @if let Some(older) = older {
                " "
                a href={ (path) (params.query_string(Some(older))) } rel="next" { "Older calls" }
            }
        }
    };
    pages::page(&title, Some(session), body).into_response()
}

type Loaded = (Vec<ActivityRecord>, ActivityStats, i64, Vec<Server>);

async fn load_view(
    state: &AppState,
    viewer: &User,
    query: &ActivityQuery,
) -> Result<Loaded, PageError> {
    let records = if query.in_progress_only {
        Vec::new()
    } else {
        // One more than a page: whether there is an older page.
        state
            .store
            .activity_page(&query.filter, query.before, PAGE_SIZE + 1, false)
            .await?
    };
    let stats = activity_views::recent_stats(state, &query.filter).await?;
    let lost = activity_views::recently_lost(state).await?;
    // The servers the filter offers: those the reader sees.
    let servers = state.visible_servers(viewer).await?;
    Ok((records, stats, lost, servers))
}

/// The last seven days in numbers, and the records the log lost in that time, if any.
pub(super) fn stats_section(stats: &ActivityStats, lost: i64) -> Markup {
    let latency = |us: Option<i64>| us.map_or_else(|| "—".to_owned(), format_latency);
    html! {
        section aria-labelledby="stats" {
            h2 id="stats" { "Last " (STATS_DAYS) " days" }
            dl.stats {
                dt { "Calls" } dd { (stats.calls) }
                dt { "Users" } dd { (stats.users) }
                dt { "Error rate" } dd {
                    @match stats.error_rate() {
                        Some(rate) => { (format!("{rate:.1} %")) }
                        None => { "—" }
                    }
                }
                dt { "Permission denied" } dd { (stats.denied) }
                dt { "Latency" } dd {
                    "mean " (latency(stats.mean_us)) " · p50 " (latency(stats.p50_us))
                    " · p95 " (latency(stats.p95_us))
                }
            }
            @if lost > 0 {
                p.error role="alert" {
                    (lost) " call records were lost in this time: the log could not keep up. The operator's log says when."
                }
            }
        }
    }
}

fn filters(path: &str, scope: &Scope, params: &ActivityParams, servers: &[Server]) -> Markup {
    let status = params.status.trim();
    html! {
        form.filters method="get" action=(path) role="search" aria-label="Filter calls" {
            div.field {
                label for="status" { "Status" }
                select id="status" name="status" {
                    option value="" selected[status.is_empty()] { "Any" }
                    @for s in CallStatus::ALL {
                        option value=(s.as_str()) selected[status == s.as_str()] { (s.label()) }
                    }
                    option value="in_progress" selected[status == "in_progress"] { "In Progress" }
                }
            }
            @if !matches!(scope, Scope::Server(_)) {
                div.field {
                    label for="server" { "Server" }
                    select id="server" name="server" {
                        option value="" { "Any" }
                        @for server in servers {
                            option value=(server.slug) selected[params.server.trim() == server.slug] { (server.name) }
                        }
                    }
                }
            }
            div.field {
                label for="tool" { "Tool" }
                input id="tool" name="tool" value=(params.tool) autocomplete="off";
            }
            @if !matches!(scope, Scope::User(_)) {
                div.field {
                    label for="user" { "User email" }
                    input id="user" name="user" type="email" value=(params.user) autocomplete="off";
                }
            }
            div.field {
                label for="from" { "From" }
                input id="from" name="from" type="date" value=(params.from);
            }
            div.field {
                label for="to" { "To" }
                input id="to" name="to" type="date" value=(params.to);
            }
            button type="submit" { "Filter" }
        }
    }
}

/// The calls as a table; `show_server` adds the server column (not on a server's own tab).
pub(super) fn calls_table(records: &[ActivityRecord], show_server: bool, caption: &str) -> Markup {
    html! {
        @if records.is_empty() {
            p { "No calls match." }
        } @else {
            table {
                caption { (caption) }
                thead {
                    tr {
                        th scope="col" { "Time" }
                        @if show_server { th scope="col" { "Server" } }
                        th scope="col" { "Tool" }
                        th scope="col" { "User" }
                        th scope="col" { "Client" }
                        th scope="col" { "Status" }
                        th scope="col" { "Latency" }
                    }
                }
                tbody {
                    @for record in records {
                        tr {
                            td { a href={ "/activity/" (record.id) } { (format_time_ms(record.started_at_ms)) } }
                            @if show_server { td { (record.server_name.as_deref().unwrap_or("(deleted server)")) } }
                            td { code { (record.tool) } }
                            td { (record.user_email.as_deref().unwrap_or("(deleted user)")) }
                            td { (client_label(record)) }
                            td { span.status data-status=(record.status.as_str()) { (record.status.label()) } }
                            td { (format_latency(record.duration_us)) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /activity/{id}`: one call, with what it was asked and answered.
pub(super) async fn call(
    State(state): State<AppState>,
    session: SessionUser,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return pages::error_page(Some(&session), StoreError::NotFound);
    };
    let visible = match activity_views::visibility(&state, &session.user).await {
        Ok(visible) => visible,
        Err(e) => return pages::error_page(Some(&session), e),
    };
    // A call the reader may not see is "not found", like one that does not exist.
    let record = match state.store.activity_record(id, &visible).await {
        Ok(record) => record,
        Err(e) => return pages::error_page(Some(&session), e),
    };
    let bodies = record.bodies.clone().unwrap_or_default();
    let body = html! {
        h1 { "Call of " code { (record.tool) } }
        dl {
            dt { "Server" } dd {
                @match (&record.server_slug, &record.server_name) {
                    (Some(slug), Some(name)) => { a href={ "/servers/" (slug) } { (name) } }
                    _ => { "(deleted server)" }
                }
            }
            dt { "Tool" } dd { code { (record.tool) } }
            dt { "User" } dd { (record.user_email.as_deref().unwrap_or("(deleted user)")) }
            dt { "Client" } dd { (client_label(&record)) }
            dt { "Started" } dd { (activity_views::rfc3339_ms(record.started_at_ms)) }
            dt { "Latency" } dd { (format_latency(record.duration_us)) }
            dt { "Status" } dd { (record.status.label()) }
        }
        @if let Some(error) = &bodies.error {
            h2 { "Error" }
            pre.log { (error) }
        }
        (body_section("Input", bodies.input.as_deref(), bodies.input_truncated))
        (body_section("Output", bodies.output.as_deref(), bodies.output_truncated))
    };
    pages::page(&format!("Call of {}", record.tool), Some(&session), body).into_response()
}

fn body_section(title: &str, text: Option<&str>, truncated: bool) -> Markup {
    // Pretty-printed when it is whole JSON; as stored otherwise.
    let shown = text.map(|text| {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|value| serde_json::to_string_pretty(&value).ok())
            .unwrap_or_else(|| text.to_owned())
    });
    let id = title.to_ascii_lowercase();
    html! {
        section aria-labelledby=(id) {
            h2 id=(id) { (title) }
            @match shown {
                Some(shown) => {
                    pre.log { (shown) }
                    @if truncated { p { small { "Truncated: only the first 16 KiB were kept." } } }
                }
                None => { p { "None recorded." } }
            }
        }
    }
}

/// `GET /activity.csv`: the calls the filters match, as CSV, streamed.
pub(super) async fn export(
    State(state): State<AppState>,
    session: SessionUser,
    Query(params): Query<ActivityParams>,
) -> Response {
    let query = match activity_views::resolve(&state, &session.user, &params).await {
        Ok(query) => query,
        Err(e) => return pages::error_page(Some(&session), e),
    };
    activity_views::export_response(&state, query)
}
