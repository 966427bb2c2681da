//! The Audit page (admins only): the audit trail newest first, filtered by actor, action,
//! target kind and time range, a page at a time (keyset: `before` = the last record shown), and
//! the same filters as a streamed CSV (`/audit.csv`). Members and developers get the 403 page
//! every admin page answers them with.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt as _;
use maud::{Markup, html};

use super::error::PageError;
use super::pages;
use crate::audit::{AuditAction, AuditFilter, AuditPage, FilterParams, TargetKind};
use crate::auth::SessionUser;
use crate::state::AppState;
use crate::store::{AuditRecord, Role};

const READ_AUDIT: &str = "read the audit trail; that takes the admin role";

/// The filters, as a query string (for the CSV link and the next page).
fn query_string(given: &FilterParams, before: Option<i64>) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("actor", &given.actor),
        ("action", &given.action),
        ("target", &given.target),
        ("from", &given.from),
        ("to", &given.to),
    ] {
        if let Some(value) = value {
            out.append_pair(name, value);
        }
    }
    if let Some(before) = before {
        out.append_pair("before", &before.to_string());
    }
    out.finish()
}

fn filter_form(given: &FilterParams) -> Markup {
    let chosen = |value: &Option<String>, option: &str| value.as_deref() == Some(option);
    html! {
        form.filters method="get" action="/audit" role="search" aria-label="Filter the audit trail" {
            div.field {
                label for="actor" { "Actor (email, user id, or " code { "cli (operator)" } ")" }
                input id="actor" name="actor" type="text" value=[given.actor.as_deref()];
            }
            div.field {
                label for="action" { "Action" }
                select id="action" name="action" {
                    option value="" { "any" }
                    @for action in AuditAction::ALL {
                        option value=(action.as_str()) selected[chosen(&given.action, action.as_str())] { (action.as_str()) }
                    }
                }
            }
            div.field {
                label for="target" { "Target kind" }
                select id="target" name="target" {
                    option value="" { "any" }
                    @for kind in TargetKind::ALL {
                        option value=(kind.as_str()) selected[chosen(&given.target, kind.as_str())] { (kind.as_str()) }
                    }
                }
            }
            div.field {
                label for="from" { "From (UTC date, inclusive)" }
                input id="from" name="from" type="date" value=[given.from.as_deref()];
            }
            div.field {
                label for="to" { "To (UTC date, inclusive)" }
                input id="to" name="to" type="date" value=[given.to.as_deref()];
            }
            button type="submit" { "Filter" }
        }
    }
}

fn record_row(record: &AuditRecord) -> Markup {
    let d = &record.draft;
    html! {
        tr {
            td { (record.seq) }
            td { (pages::format_time(d.at)) }
            td { (d.actor_label) }
            td { code { (d.action) } }
            td { (d.target_kind) ": " (d.target_label) }
            td { code { (d.details) } }
            td { (d.source.as_deref().unwrap_or("—")) }
        }
    }
}

fn audit_page(
    session: &SessionUser,
    given: &FilterParams,
    page: Option<&AuditPage>,
    error: Option<&PageError>,
) -> Markup {
    let body = html! {
        h1 { "Audit trail" }
        p { "What admins and developers changed, newest first. Records are hash-chained; "
            code { "gumstackd audit verify" } " checks that none was altered or removed." }
        @if let Some(err) = error { p.error role="alert" { (err.public_message()) } }
        (filter_form(given))
        @if let Some(page) = page {
            p { a href={ "/audit.csv?" (query_string(given, None)) } { "Export CSV" } }
            table {
                caption { (page.records.len()) " records" }
                thead { tr {
                    th scope="col" { "#" } th scope="col" { "Time" } th scope="col" { "Actor" }
                    th scope="col" { "Action" } th scope="col" { "Target" }
                    th scope="col" { "Details" } th scope="col" { "Address" }
                } }
                tbody { @for record in &page.records { (record_row(record)) } }
            }
            @if let Some(before) = page.next_before {
                p { a href={ "/audit?" (query_string(given, Some(before))) } { "Older records" } }
            }
        }
    };
    pages::page("Audit trail", Some(session), body)
}

/// The filters of a request, or what to show on the 400 page: the filters as given and why.
fn filters(
    params: Result<Query<FilterParams>, QueryRejection>,
) -> Result<AuditFilter, Box<(FilterParams, PageError)>> {
    let params = params.map_err(|rejection| {
        let err = PageError::invalid("invalid_filter", rejection.body_text());
        Box::new((FilterParams::default(), err))
    })?;
    AuditFilter::parse(&params.0).map_err(|e| Box::new((params.0, PageError::from(e))))
}

/// The page saying which filter is wrong (400).
fn bad_filter(session: &SessionUser, given: &FilterParams, err: &PageError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        audit_page(session, given, None, Some(err)),
    )
        .into_response()
}

/// `GET /audit`.
pub(super) async fn show(
    State(state): State<AppState>,
    session: SessionUser,
    params: Result<Query<FilterParams>, QueryRejection>,
) -> Response {
    if session.user.role != Role::Admin {
        return pages::forbidden(&session, READ_AUDIT);
    }
    let filter = match filters(params) {
        Ok(filter) => filter,
        Err(bad) => return bad_filter(&session, &bad.0, &bad.1),
    };
    match state.audit.page(&filter, filter.limit).await {
        Ok(page) => audit_page(&session, &filter.given, Some(&page), None).into_response(),
        Err(err) => pages::error_page(Some(&session), err),
    }
}

/// `GET /audit.csv`: every matching record, streamed.
pub(super) async fn export(
    State(state): State<AppState>,
    session: SessionUser,
    params: Result<Query<FilterParams>, QueryRejection>,
) -> Response {
    if session.user.role != Role::Admin {
        return pages::forbidden(&session, READ_AUDIT);
    }
    let filter = match filters(params) {
        Ok(filter) => filter,
        Err(bad) => return bad_filter(&session, &bad.0, &bad.1),
    };
    let stream = state.audit.csv(&filter).map_err(|err| {
        tracing::error!(%err, "the audit CSV export failed part way");
        std::io::Error::other("audit export failed")
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
