//! The tools × groups access matrix of one server (the Tools tab, `GET
//! /api/servers/{server}/tools`), and the change of one cell. Decisions are read and written
//! through [`Permissions`], so a change clears the gateway's cache and applies to the next
//! call.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{KnownTool, known_tools};
use crate::permissions::{PermissionError, Permissions};
use crate::store::{GroupSummary, Server, ServerAccess, Store};

/// One group's column: the group and what it may do with the server.
#[derive(Debug, Clone)]
pub struct GroupColumn {
    pub group: GroupSummary,
    pub access: ServerAccess,
}

/// What one group may do with one tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// Whether a call of the tool by a member goes through.
    pub allowed: bool,
    /// The tool has a decision of its own (else it follows the group's default).
    pub own_decision: bool,
    /// The group may use the server at all (when not, nothing is allowed).
    pub server_enabled: bool,
}

impl GroupColumn {
    /// The decision for `tool`.
    pub fn cell(&self, tool: &str) -> Cell {
        let own = self.access.tools.get(tool).copied();
        Cell {
            allowed: self.access.enabled && own.unwrap_or(self.access.default_allow),
            own_decision: own.is_some(),
            server_enabled: self.access.enabled,
        }
    }
}

/// A row: a tool known from config.yaml or discovery, or one only a stored decision names
/// (`known` is `None`: e.g. set through the API before the server listed it).
#[derive(Debug, Clone)]
pub struct MatrixRow {
    pub name: String,
    pub known: Option<KnownTool>,
}

/// The matrix of one server.
#[derive(Debug, Clone)]
pub struct ToolMatrix {
    pub rows: Vec<MatrixRow>,
    pub columns: Vec<GroupColumn>,
}

/// The matrix of `server`; with `only_group`, that group's column alone (a member's view).
pub async fn tool_matrix(
    store: &dyn Store,
    permissions: &Permissions,
    server: &Server,
    only_group: Option<Uuid>,
) -> Result<ToolMatrix, PermissionError> {
    let groups = match only_group {
        Some(id) => vec![permissions.group(id).await?],
        None => permissions.groups().await?,
    };
    let mut columns = Vec::with_capacity(groups.len());
    for group in groups {
        let access = permissions.server_access(group.group.id, server.id).await?;
        columns.push(GroupColumn { group, access });
    }
    let mut rows: BTreeMap<String, MatrixRow> = known_tools(store, server)
        .await?
        .into_iter()
        .map(|tool| {
            let row = MatrixRow {
                name: tool.name.clone(),
                known: Some(tool),
            };
            (row.name.clone(), row)
        })
        .collect();
    for column in &columns {
        for tool in column.access.tools.keys() {
            rows.entry(tool.clone()).or_insert_with(|| MatrixRow {
                name: tool.clone(),
                known: None,
            });
        }
    }
    Ok(ToolMatrix {
        rows: rows.into_values().collect(),
        columns,
    })
}

/// Sets what `group_id` may do with `tool` of `server`: `Some(true)` allow, `Some(false)`
/// deny, `None` follow the group's default. The tool must be one of the server's (known, or
/// already decided for that group): a form naming another server's tool changes nothing.
pub async fn set_cell(
    store: &dyn Store,
    permissions: &Permissions,
    server: &Server,
    group_id: Uuid,
    tool: &str,
    decision: Option<bool>,
) -> Result<ServerAccess, PermissionError> {
    let mut access = permissions.server_access(group_id, server.id).await?;
    let known = known_tools(store, server)
        .await?
        .iter()
        .any(|known| known.name == tool);
    if !known && !access.tools.contains_key(tool) {
        return Err(PermissionError::Invalid(format!(
            "`{}` is not a tool of {}",
            tool.escape_debug(),
            server.name
        )));
    }
    match decision {
        Some(allowed) => {
            access.tools.insert(tool.to_owned(), allowed);
        }
        None => {
            access.tools.remove(tool);
        }
    }
    permissions
        .set_server_access(group_id, server.id, access)
        .await
}
