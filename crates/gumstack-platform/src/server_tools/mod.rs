//! The tools of a server (SPEC §8, §10): those its config.yaml names and those its process
//! listed when it was deployed (`discovery`), joined by [`known_tools`] — what the Tools tab,
//! the Permission groups page and `GET /api/servers/{server}/tools` show.
//!
//! # Layout
//! - `mod.rs`: [`KnownTool`], [`known_tools`], and recording a deployment's discovery.
//! - `discovery.rs`: [`ToolDiscovery`], the MCP exchange with a new process.
//! - `matrix.rs`: the tools × groups access matrix ([`tool_matrix`]) and the change of one
//!   cell ([`set_cell`]), through the permission groups service.

mod discovery;
mod matrix;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use gumstack_config::Config;
use uuid::Uuid;

pub use discovery::{DiscoveryError, DiscoveryLimits, ToolDiscovery};
pub use matrix::{Cell, GroupColumn, MatrixRow, ToolMatrix, set_cell, tool_matrix};

use crate::deployment_log::redact;
use crate::redact::SecretValues;
use crate::store::{Server, Store, StoreError, now};

/// Where the platform knows a tool from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolSource {
    /// Named in config.yaml only: the running process did not list it (or was never asked).
    Config,
    /// Listed by the process at its last successful discovery only.
    Discovered,
    /// Both.
    Both,
}

impl ToolSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Discovered => "discovered",
            Self::Both => "both",
        }
    }
}

/// A tool of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownTool {
    pub name: String,
    /// The process's own description when it gave one, else config.yaml's.
    pub description: Option<String>,
    pub source: ToolSource,
}

/// The tools of `server`, by name: config.yaml's `tools` joined with those discovered at its
/// last successful discovery.
pub async fn known_tools(store: &dyn Store, server: &Server) -> Result<Vec<KnownTool>, StoreError> {
    let mut tools: BTreeMap<String, KnownTool> = BTreeMap::new();
    // A stored config.yaml was checked when it was saved; one that no longer parses names no
    // tools rather than hiding the discovered ones.
    for tool in Config::parse(&server.config_yaml)
        .map(|c| c.tools)
        .unwrap_or_default()
    {
        tools.insert(
            tool.name.clone(),
            KnownTool {
                name: tool.name,
                description: tool.description.filter(|d| !d.trim().is_empty()),
                source: ToolSource::Config,
            },
        );
    }
    for found in store.discovered_tools(server.id).await? {
        match tools.get_mut(&found.name) {
            Some(known) => {
                known.source = ToolSource::Both;
                if found.description.is_some() {
                    known.description = found.description;
                }
            }
            None => {
                tools.insert(
                    found.name.clone(),
                    KnownTool {
                        name: found.name,
                        description: found.description,
                        source: ToolSource::Discovered,
                    },
                );
            }
        }
    }
    Ok(tools.into_values().collect())
}

/// Lists the tools of the new deployment `deployment_id` of `server` at `addr` and records the
/// outcome: the tools replace the server's discovered ones, or the failure (redacted of
/// `secrets`, the deployment's environment) is kept on the deployment. Never fails the
/// deployment.
pub(crate) async fn discover_and_record(
    discovery: &ToolDiscovery,
    store: &dyn Store,
    server: &Server,
    deployment_id: Uuid,
    addr: SocketAddr,
    secrets: &SecretValues,
) {
    let outcome = match store.default_org().await {
        Ok((org, _)) => discovery.discover(server.id, org.id, addr).await,
        Err(error) => {
            tracing::error!(%error, "discovery: reading the organisation failed");
            return;
        }
    };
    let stored = match outcome {
        Ok(tools) => {
            tracing::info!(server = %server.slug, tools = tools.len(), "tools discovered");
            store
                .replace_discovered_tools(server.id, deployment_id, &tools, now())
                .await
        }
        Err(error) => {
            let message = redact(&error.to_string(), secrets);
            tracing::warn!(server = %server.slug, error = %message, "tool discovery failed; the deployment goes on");
            store
                .record_discovery_failure(deployment_id, &message)
                .await
        }
    };
    if let Err(error) = stored {
        tracing::error!(server = %server.slug, %error, "could not record the tool discovery");
    }
}
