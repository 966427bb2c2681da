//! The tools the platform discovered on each server, and what each deployment's discovery and
//! output were (SPEC §10, §12).

use async_trait::async_trait;
use uuid::Uuid;

use super::{Deployment, StoreError, Timestamp};

/// A tool as a server's `tools/list` named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredTool {
    pub name: String,
    pub description: Option<String>,
}

/// What a deployment's tool discovery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// Not tried (yet): the deployment never passed its health check, or predates discovery.
    NotTried,
    /// `tools/list` answered this many tools.
    Found(i64),
    /// Why it failed, redacted.
    Failed(String),
}

/// A deployment with what the dashboard's Deployments tab shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub deployment: Deployment,
    pub discovery: Discovery,
    /// The process's last output, redacted and bounded; `None` until first recorded.
    pub output: Option<String>,
}

/// Discovered tools, and the discovery and output of deployments.
#[async_trait]
pub trait ToolStore: Send + Sync {
    /// Replaces every discovered tool of `server_id` with `tools` and records the count on
    /// the deployment, in one transaction.
    async fn replace_discovered_tools(
        &self,
        server_id: Uuid,
        deployment_id: Uuid,
        tools: &[DiscoveredTool],
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Records why a deployment's discovery failed (already redacted); the server's tools stay.
    async fn record_discovery_failure(
        &self,
        deployment_id: Uuid,
        error: &str,
    ) -> Result<(), StoreError>;
    /// The tools discovered on `server_id`, by name.
    async fn discovered_tools(&self, server_id: Uuid) -> Result<Vec<DiscoveredTool>, StoreError>;
    /// Stores a deployment's last output (already redacted and bounded), replacing any before.
    async fn record_deployment_output(
        &self,
        deployment_id: Uuid,
        output: &str,
    ) -> Result<(), StoreError>;
    /// The deployments of `server_id` with their discovery and output, newest first.
    async fn deployment_history(
        &self,
        server_id: Uuid,
        limit: i64,
    ) -> Result<Vec<DeploymentRecord>, StoreError>;
}
