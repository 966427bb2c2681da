//! The Permission groups pages (admins only, SPEC §8, §10): the groups with their member
//! counts and a form to add one (`/groups`); one group (`/groups/{id}`) with its name, its
//! members and a form to move a user in, and per server whether the group may use it, the
//! default for its tools and each known tool's own decision (follow the default, allowed,
//! denied), with text fields for tools the server has not listed yet. Every action goes through
//! [`Permissions`](crate::permissions::Permissions), like the API, and applies to the next call.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::csrf::VerifiedForm;
use super::error::PageError;
use super::{access, pages};
use crate::audit::{Audit, AuditAction, AuditEvent, Target, TargetKind};
use crate::auth::SessionUser;
use crate::server_tools::{KnownTool, known_tools};
use crate::state::AppState;
use crate::store::{GroupSummary, Server, ServerAccess};

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "created" => Some("Group created. Move users into it and choose what it may use below."),
        "renamed" => Some("Group renamed."),
        "deleted" => Some("Group deleted; its members are in the default group now."),
        "moved" => Some("User moved. Their next call follows this group's decisions."),
        "saved" => Some("Saved. The next call of every member follows it."),
        _ => None,
    }
}

async fn list_page(
    state: &AppState,
    session: &SessionUser,
    done: Option<&str>,
    error: Option<(&PageError, &str)>,
    status: StatusCode,
) -> Response {
    let groups = match state.permissions.groups().await {
        Ok(groups) => groups,
        Err(e) => return pages::error_page(Some(session), e),
    };
    let body = html! {
        h1 { "Permission groups" }
        @if let Some(notice) = notice(done) { p.notice role="status" { (notice) } }
        p { "Every user is in one group; new users join the default group. A group may use a server or not, and call each of its tools or not. Without a decision a group may use everything." }
        table {
            caption { (groups.len()) " groups" }
            thead { tr { th scope="col" { "Group" } th scope="col" { "Members" } } }
            tbody {
                @for group in &groups {
                    tr {
                        th scope="row" {
                            a href={ "/groups/" (group.group.id) } { (group.group.name) }
                            @if group.is_default { " " span.tag { "default" } }
                        }
                        td { (group.members) }
                    }
                }
            }
        }
        section aria-labelledby="add" {
            h2 id="add" { "Add a group" }
            @if let Some((err, _)) = error { p.error role="alert" id="add-error" { (err.public_message()) } }
            form.card method="post" action="/groups" {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="name" { "Name (required)" }
                input id="name" name="name" required maxlength="100" autocomplete="off"
                    value=(error.map_or("", |(_, typed)| typed))
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[error.map(|_| "add-error")];
                button type="submit" { "Add group" }
            }
        }
    };
    (
        status,
        pages::page("Permission groups", Some(session), body),
    )
        .into_response()
}

/// `GET /groups`.
pub(super) async fn list(
    State(state): State<AppState>,
    session: SessionUser,
    Query(query): Query<DoneQuery>,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    list_page(
        &state,
        &session,
        query.done.as_deref(),
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct NameForm {
    #[serde(default)]
    name: String,
}

/// `POST /groups`.
pub(super) async fn create(
    State(state): State<AppState>,
    audit: Audit,
    VerifiedForm { session, form }: VerifiedForm<NameForm>,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    match state.permissions.create_group(&form.name).await {
        Ok(group) => {
            audit
                .record(
                    &session.user,
                    AuditEvent::new(
                        AuditAction::GroupCreated,
                        Target::new(TargetKind::Group, group.id, group.name.clone()),
                    ),
                )
                .await;
            Redirect::to(&format!("/groups/{}?done=created", group.id)).into_response()
        }
        Err(e) => {
            let err = PageError::from(e);
            if !err.is_input_error() {
                return pages::error_page(Some(&session), err);
            }
            let status = err.status();
            list_page(&state, &session, None, Some((&err, &form.name)), status).await
        }
    }
}

/// A group as an audit target (its id alone if it can no longer be read).
async fn group_target(state: &AppState, id: Uuid) -> Target {
    match state.permissions.group(id).await {
        Ok(summary) => Target::new(TargetKind::Group, id, summary.group.name),
        Err(_) => Target::new(TargetKind::Group, id, id.to_string()),
    }
}

fn group_id(text: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(text).map_err(|_| PageError::not_found("there is no such group"))
}

/// `GET /groups/{id}`.
pub(super) async fn show(
    State(state): State<AppState>,
    session: SessionUser,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    match group_page(&state, &session, &id, query.done.as_deref()).await {
        Ok(page) => page.into_response(),
        Err(e) => pages::error_page(Some(&session), e),
    }
}

async fn group_page(
    state: &AppState,
    session: &SessionUser,
    id: &str,
    done: Option<&str>,
) -> Result<Markup, PageError> {
    let group = state.permissions.group(group_id(id)?).await?;
    let users = state.store.list_users().await?;
    let servers = state.store.list_servers().await?;
    let mut accesses = Vec::with_capacity(servers.len());
    for server in &servers {
        let access = state
            .permissions
            .server_access(group.group.id, server.id)
            .await?;
        let tools = known_tools(&*state.store, server).await?;
        accesses.push((server, access, tools));
    }
    let csrf = html! { input type="hidden" name="csrf" value=(session.csrf); };
    let members: Vec<_> = users
        .iter()
        .filter(|u| u.group_id == group.group.id)
        .collect();
    let others: Vec<_> = users
        .iter()
        .filter(|u| u.group_id != group.group.id)
        .collect();
    let body = html! {
        p { a href="/groups" { "← Permission groups" } }
        h1 { (group.group.name) @if group.is_default { " " span.tag { "default" } } }
        @if let Some(notice) = notice(done) { p.notice role="status" { (notice) } }
        form.row method="post" action={ "/groups/" (group.group.id) "/rename" } {
            (csrf)
            label for="rename" { "Name" }
            input id="rename" name="name" required maxlength="100" value=(group.group.name);
            button type="submit" { "Rename" }
        }
        section aria-labelledby="servers" {
            h2 id="servers" { "Servers" }
            @if servers.is_empty() { p { "No servers yet." } }
            @for (server, access, tools) in &accesses {
                (server_form(&csrf, &group, server, access, tools))
            }
        }
        section aria-labelledby="members" {
            h2 id="members" { "Members (" (members.len()) ")" }
            @if members.is_empty() { p { "Nobody is in this group." } }
            ul { @for user in &members { li { (user.email) " (" (user.role.as_str()) ")" } } }
            @if !others.is_empty() {
                form.row method="post" action={ "/groups/" (group.group.id) "/members" } {
                    (csrf)
                    label for="user" { "Move a user into this group" }
                    select id="user" name="user" {
                        @for user in &others { option value=(user.id) { (user.email) } }
                    }
                    button type="submit" { "Move here" }
                }
            }
        }
        @if !group.is_default {
            section aria-labelledby="delete" {
                h2 id="delete" { "Delete" }
                form method="post" action={ "/groups/" (group.group.id) "/delete" } {
                    (csrf)
                    p { "Its members move to the default group." }
                    button.danger type="submit" { "Delete " (group.group.name) }
                }
            }
        }
    };
    Ok(pages::page(&group.group.name, Some(session), body))
}

/// One server's decision for the group, as a form: each known tool (and each tool with a
/// decision) gets its own choice — follow the default, allowed, denied — so changing the
/// default never turns one decision into its opposite, and a decision equal to the default
/// (as the API may store) is shown and kept. Tools the server has not listed yet are named in
/// the two text fields.
fn server_form(
    csrf: &Markup,
    group: &GroupSummary,
    server: &Server,
    access: &ServerAccess,
    known: &[KnownTool],
) -> Markup {
    let slug = server.slug.as_str();
    let name = server.name.as_str();
    let mut rows: BTreeMap<&str, Option<&str>> = known
        .iter()
        .map(|tool| (tool.name.as_str(), tool.description.as_deref()))
        .collect();
    for tool in access.tools.keys() {
        rows.entry(tool.as_str()).or_insert(None);
    }
    let id = |field: &str| format!("{field}-{slug}");
    html! {
        form.card.wide method="post" action={ "/groups/" (group.group.id) "/servers/" (slug) } {
            (csrf)
            h3 { (name) " " small { code { (slug) } } }
            label {
                input type="checkbox" name="enabled" value="on" checked[access.enabled];
                " Members may use this server"
            }
            label for=(id("default")) { "Tools without a decision of their own (and tools the server adds later)" }
            select id=(id("default")) name="default" {
                option value="allow" selected[access.default_allow] { "allowed" }
                option value="deny" selected[!access.default_allow] { "denied" }
            }
            @if !rows.is_empty() {
                fieldset {
                    legend { "Each tool" }
                    @for (tool, description) in &rows {
                        @let field = format!("tool-{slug}-{tool}");
                        @let decided = access.tools.get(*tool).copied();
                        div.field {
                            label for=(field) {
                                code { (tool) }
                                @if let Some(description) = description { " " small { (description) } }
                            }
                            select id=(field) name={ "tool:" (tool) } {
                                option value="default" selected[decided.is_none()] { "follows the default" }
                                option value="allow" selected[decided == Some(true)] { "allowed" }
                                option value="deny" selected[decided == Some(false)] { "denied" }
                            }
                        }
                    }
                }
            }
            label for=(id("allow")) { "Other tools to allow: names not listed above, separated by spaces or commas" }
            input id=(id("allow")) name="allow" autocomplete="off";
            label for=(id("deny")) { "Other tools to deny" }
            input id=(id("deny")) name="deny" autocomplete="off";
            button type="submit" { "Save " (name) }
        }
    }
}

/// `POST /groups/{id}/rename`.
pub(super) async fn rename(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    VerifiedForm { session, form }: VerifiedForm<NameForm>,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    let result = async {
        let group = group_id(&id)?;
        let before = state.permissions.group(group).await?;
        state.permissions.rename_group(group, &form.name).await?;
        Ok::<_, PageError>(before)
    }
    .await;
    match result {
        Ok(before) => {
            let renamed = group_target(&state, before.group.id).await;
            audit
                .record(
                    &session.user,
                    AuditEvent::new(AuditAction::GroupRenamed, renamed)
                        .with("from", before.group.name),
                )
                .await;
            Redirect::to(&format!("/groups/{id}?done=renamed")).into_response()
        }
        Err(e) => pages::error_page(Some(&session), e),
    }
}

/// `POST /groups/{id}/delete`.
pub(super) async fn delete(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    let result = async {
        let group = group_id(&id)?;
        let target = group_target(&state, group).await;
        state.permissions.delete_group(group).await?;
        Ok::<_, PageError>(target)
    }
    .await;
    match result {
        Ok(target) => {
            audit
                .record(
                    &session.user,
                    AuditEvent::new(AuditAction::GroupDeleted, target),
                )
                .await;
            Redirect::to("/groups?done=deleted").into_response()
        }
        Err(e) => pages::error_page(Some(&session), e),
    }
}

#[derive(Deserialize)]
pub(super) struct MoveForm {
    #[serde(default)]
    user: String,
}

/// `POST /groups/{id}/members`.
pub(super) async fn add_member(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    VerifiedForm { session, form }: VerifiedForm<MoveForm>,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    let result = async {
        let group = group_id(&id)?;
        let user = Uuid::parse_str(&form.user)
            .map_err(|_| PageError::invalid("invalid_user", "choose a user to move"))?;
        state.permissions.move_user(user, group).await?;
        Ok::<_, PageError>((user, group))
    }
    .await;
    match result {
        Ok((user, group)) => {
            if let (Ok(user), Ok(group)) = (
                state.store.user_by_id(user).await,
                state.permissions.group(group).await,
            ) {
                audit
                    .record(
                        &session.user,
                        crate::audit::group_changed(&user, group.group.id, &group.group.name),
                    )
                    .await;
            }
            Redirect::to(&format!("/groups/{id}?done=moved")).into_response()
        }
        Err(e) => pages::error_page(Some(&session), e),
    }
}

/// `POST /groups/{id}/servers/{slug}`: the fields are `enabled` (present when ticked),
/// `default` (`allow`/`deny`), `tool:<name>` (`default`/`allow`/`deny`) for each tool the form
/// listed, and `allow`/`deny` (names, separated by spaces or commas) for others. Decisions of
/// tools the form does not name are kept as stored (one added through the API since the page
/// was shown, say).
pub(super) async fn set_access(
    State(state): State<AppState>,
    audit: Audit,
    Path((id, slug)): Path<(String, String)>,
    VerifiedForm { session, form }: VerifiedForm<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    let result = async {
        let group = group_id(&id)?;
        let server = state.servers.resolve(&slug).await?;
        let stored = state.permissions.server_access(group, server.id).await?;
        let access = access_from_form(stored, &form)?;
        let stored = state
            .permissions
            .set_server_access(group, server.id, access)
            .await?;
        Ok::<_, PageError>((group, server, stored))
    }
    .await;
    match result {
        Ok((group, server, stored)) => {
            if let Ok(summary) = state.permissions.group(group).await {
                audit
                    .record(
                        &session.user,
                        crate::audit::access_changed(
                            summary.group.id,
                            &summary.group.name,
                            &server,
                            &stored,
                        ),
                    )
                    .await;
            }
            Redirect::to(&format!("/groups/{id}?done=saved")).into_response()
        }
        Err(e) => pages::error_page(Some(&session), e),
    }
}

/// The decision the form asks for, starting from the `stored` one.
fn access_from_form(
    stored: ServerAccess,
    form: &[(String, String)],
) -> Result<ServerAccess, PageError> {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let default_allow = match field("default") {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return Err(PageError::invalid(
                "invalid_default",
                "choose allowed or denied",
            ));
        }
    };
    let mut tools = stored.tools;
    for (key, value) in form {
        let Some(tool) = key.strip_prefix("tool:") else {
            continue;
        };
        match value.as_str() {
            "default" => {
                tools.remove(tool);
            }
            "allow" => {
                tools.insert(tool.to_owned(), true);
            }
            "deny" => {
                tools.insert(tool.to_owned(), false);
            }
            _ => {
                return Err(PageError::invalid(
                    "invalid_decision",
                    format!("choose a decision for `{}`", tool.escape_debug()),
                ));
            }
        }
    }
    let names = |text: Option<&str>| -> Vec<String> {
        text.unwrap_or_default()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|tool| !tool.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (allow, deny) = (names(field("allow")), names(field("deny")));
    if let Some(both) = allow.iter().find(|tool| deny.contains(tool)) {
        return Err(PageError::invalid(
            "invalid_decision",
            format!(
                "`{}` is named as both allowed and denied",
                both.escape_debug()
            ),
        ));
    }
    tools.extend(allow.into_iter().map(|tool| (tool, true)));
    tools.extend(deny.into_iter().map(|tool| (tool, false)));
    Ok(ServerAccess {
        enabled: field("enabled").is_some(),
        default_allow,
        tools,
    })
}
