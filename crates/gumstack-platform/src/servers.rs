//! Servers and their env vars (SPEC §2, §5): creation from config.yaml, updates that can never
//! change the auth type, and env vars validated, sealed in the vault and write-only.

use std::sync::Arc;

use gumstack_config::Config;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::error::{DomainError, ErrorClass, Internal};
use crate::store::{
    Constraint, EnvVarMeta, RuntimeSpec, Server, ServerUpdate, Store, StoreError, now,
};
use crate::vault::{Aad, Vault};

pub use crate::store::AUTH_TYPE_IMMUTABLE;

mod maintainers;
pub use maintainers::{MaintainerError, ManagedServers};

/// Why a server operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A value of the request is invalid; the message says which and why.
    #[error("{message}")]
    Invalid {
        /// `invalid_name`, `invalid_config`, `reserved_env_name`, …
        code: &'static str,
        message: String,
    },
    /// No server has this id or slug (escaped for display).
    #[error("no server `{0}`")]
    NotFound(String),
    /// The server has no env var of this name (escaped for display).
    #[error("server `{server}` has no env var `{name}`")]
    EnvVarNotFound { server: String, name: String },
    /// An explicitly requested slug is taken.
    #[error("a server with slug `{0}` already exists")]
    SlugTaken(String),
    /// The request would change the server's auth type.
    #[error("{AUTH_TYPE_IMMUTABLE} (it is `{current}`, the request asked for `{requested}`)")]
    AuthTypeImmutable { current: String, requested: String },
    /// The store or the vault failed.
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl ServerError {
    fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ServerError {
    fn from(err: StoreError) -> Self {
        Self::Internal(err.into())
    }
}

impl DomainError for ServerError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Invalid { .. } => ErrorClass::Invalid,
            Self::NotFound(_) | Self::EnvVarNotFound { .. } => ErrorClass::NotFound,
            Self::SlugTaken(_) | Self::AuthTypeImmutable { .. } => ErrorClass::Conflict,
            Self::Internal(err) => err.class(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } => code,
            Self::NotFound(_) | Self::EnvVarNotFound { .. } => "not_found",
            Self::SlugTaken(_) => "slug_taken",
            Self::AuthTypeImmutable { .. } => "auth_type_immutable",
            Self::Internal(err) => err.code(),
        }
    }
}

/// Longest server name (SPEC §2).
pub const MAX_NAME_LEN: usize = 100;
const MAX_ENV_NAME_LEN: usize = 128;
const MAX_ENV_VALUE_LEN: usize = 32 * 1024;

/// Env var name prefixes reserved for the platform, compared case-insensitively.
pub const RESERVED_PREFIXES: [&str; 2] = ["GUMLOOP_", "GUMSTACK_"];
/// System variable names the platform always sets itself.
pub const RESERVED_NAMES: [&str; 2] = ["PORT", "ENVIRONMENT"];

/// A server's stored config.yaml, parsed (it was validated when stored, so a failure is an
/// internal error).
pub fn stored_config(server: &Server) -> Result<Config, Internal> {
    Config::parse(&server.config_yaml)
        .map_err(|e| Internal::other(format!("stored config.yaml of {}: {e}", server.slug)))
}

/// The vault binding of an env var's value: its server and its own id.
pub fn env_var_aad(server_id: Uuid, env_var_id: Uuid) -> Aad {
    Aad::new("env_vars", "value", &[server_id, env_var_id])
}

/// Why an env var name is refused, or `None` when it is acceptable.
pub fn env_name_problem(name: &str) -> Option<(&'static str, String)> {
    let well_formed = name.len() <= MAX_ENV_NAME_LEN
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return Some((
            "invalid_env_name",
            format!(
                "env var name `{}` is invalid: use letters, digits and underscores, not starting \
                 with a digit ([A-Za-z_][A-Za-z0-9_]*, at most {MAX_ENV_NAME_LEN} characters)",
                name.escape_debug()
            ),
        ));
    }
    let upper = name.to_ascii_uppercase();
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| upper.starts_with(*p)) {
        return Some((
            "reserved_env_name",
            format!(
                "env var name `{name}` is reserved: names starting with {prefix} (in any case) \
                 belong to the platform's system variables"
            ),
        ));
    }
    if RESERVED_NAMES.contains(&upper.as_str()) {
        return Some((
            "reserved_env_name",
            format!("env var name `{name}` is reserved: the platform sets {upper} itself"),
        ));
    }
    None
}

/// Turns a server name into a URL slug: lower-case ASCII letters, digits and dashes.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let mut slug: String = slug.trim_matches('-').chars().take(48).collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        return "server".to_owned();
    }
    if Uuid::parse_str(&slug).is_ok() {
        slug.insert_str(0, "server-");
    }
    slug
}

fn validate_name(name: &str) -> Result<String, ServerError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServerError::invalid(
            "invalid_name",
            "name must not be empty",
        ));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ServerError::invalid(
            "invalid_name",
            format!("name must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn validate_runtime(runtime: &RuntimeSpec) -> Result<(), ServerError> {
    if runtime.command.trim().is_empty() {
        return Err(ServerError::invalid(
            "invalid_runtime",
            "runtime.command must name the program that starts the server",
        ));
    }
    if runtime.command.contains('\0') || runtime.args.iter().any(|a| a.contains('\0')) {
        return Err(ServerError::invalid(
            "invalid_runtime",
            "runtime command and args must not contain NUL bytes",
        ));
    }
    let limits = runtime.limits;
    for (name, value, range) in [
        ("memory_mib", limits.memory_mib, LIMIT_MEMORY_MIB),
        ("open_files", limits.open_files, LIMIT_OPEN_FILES),
        ("processes", limits.processes, LIMIT_PROCESSES),
    ] {
        if let Some(value) = value
            && !range.contains(&value)
        {
            return Err(ServerError::invalid(
                "invalid_runtime",
                format!(
                    "runtime.limits.{name} must be between {} and {} (or left out for the platform's default), not {value}",
                    range.start(),
                    range.end()
                ),
            ));
        }
    }
    Ok(())
}

/// The bounds of a server's own limits: below them a server can't start; above them a limit
/// stops meaning anything.
const LIMIT_MEMORY_MIB: std::ops::RangeInclusive<u64> = 64..=1 << 20;
const LIMIT_OPEN_FILES: std::ops::RangeInclusive<u64> = 64..=1 << 20;
const LIMIT_PROCESSES: std::ops::RangeInclusive<u64> = 16..=1 << 16;

fn parse_config(yaml: &str) -> Result<Config, ServerError> {
    Config::parse(yaml).map_err(|e| ServerError::invalid("invalid_config", e.to_string()))
}

/// A server to create.
#[derive(Debug, Clone, Default)]
pub struct NewServer {
    pub config_yaml: String,
    pub runtime: Option<RuntimeSpec>,
    /// Overrides config.yaml's name.
    pub name: Option<String>,
    pub description: Option<String>,
    pub icon: Option<String>,
    /// Preferred slug; derived from the name when absent.
    pub slug: Option<String>,
    pub owner_id: Option<Uuid>,
}

/// Changes to a server. `auth_type`, when present, must equal the current one.
#[derive(Debug, Clone, Default)]
pub struct ServerPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub icon: Option<Option<String>>,
    pub config_yaml: Option<String>,
    pub runtime: Option<Option<RuntimeSpec>>,
    pub auth_type: Option<String>,
}

/// Server and env var operations shared by the API, the dashboard and the CLI.
#[derive(Debug, Clone)]
pub struct Servers {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    /// Wakes the deployment supervisor after a change.
    changed: Arc<Notify>,
}

impl Servers {
    pub fn new(store: Arc<dyn Store>, vault: Arc<Vault>, changed: Arc<Notify>) -> Self {
        Self {
            store,
            vault,
            changed,
        }
    }

    /// Finds a server by UUID or slug.
    pub async fn resolve(&self, reference: &str) -> Result<Server, ServerError> {
        let found = match Uuid::parse_str(reference) {
            Ok(id) => self.store.server_by_id(id).await,
            Err(_) => self.store.server_by_slug(reference).await,
        };
        found.map_err(|e| match e {
            StoreError::NotFound => ServerError::NotFound(reference.escape_debug().to_string()),
            other => other.into(),
        })
    }

    pub async fn list(&self) -> Result<Vec<Server>, ServerError> {
        Ok(self.store.list_servers().await?)
    }

    pub async fn create(&self, new: NewServer) -> Result<Server, ServerError> {
        let config = parse_config(&new.config_yaml)?;
        let name = validate_name(new.name.as_deref().unwrap_or(&config.name))?;
        if let Some(runtime) = &new.runtime {
            validate_runtime(runtime)?;
        }
        let base = match &new.slug {
            Some(slug) => {
                let clean = slugify(slug);
                if &clean != slug {
                    return Err(ServerError::invalid(
                        "invalid_slug",
                        format!(
                            "slug must be lower-case letters, digits and dashes, e.g. `{clean}`"
                        ),
                    ));
                }
                clean
            }
            None => slugify(&name),
        };
        let t = now();
        let mut server = Server {
            id: Uuid::new_v4(),
            slug: base.clone(),
            name,
            description: new.description.unwrap_or(config.description),
            icon: new.icon.or(config.icon),
            auth_type: config.auth.kind,
            config_yaml: new.config_yaml,
            runtime: new.runtime,
            enabled: true,
            owner_id: new.owner_id,
            deploy_generation: 1,
            uid: None,
            created_at: t,
            updated_at: t,
        };
        for attempt in 1.. {
            match self.store.insert_server(&server).await {
                Ok(()) => break,
                // A derived slug that is taken gets a number; an explicit one is a conflict.
                Err(StoreError::Conflict(Constraint::ServerSlug)) if new.slug.is_none() => {
                    server.slug = format!("{base}-{}", attempt + 1);
                }
                Err(StoreError::Conflict(Constraint::ServerSlug)) => {
                    return Err(ServerError::SlugTaken(base));
                }
                Err(other) => return Err(other.into()),
            }
        }
        self.changed.notify_one();
        Ok(server)
    }

    pub async fn update(&self, reference: &str, patch: ServerPatch) -> Result<Server, ServerError> {
        let server = self.resolve(reference).await?;
        if let Some(requested) = &patch.auth_type
            && requested != server.auth_type.as_str()
        {
            return Err(auth_type_conflict(server.auth_type.as_str(), requested));
        }
        if let Some(yaml) = &patch.config_yaml {
            let config = parse_config(yaml)?;
            if config.auth.kind != server.auth_type {
                return Err(auth_type_conflict(
                    server.auth_type.as_str(),
                    config.auth.kind.as_str(),
                ));
            }
        }
        let name = patch.name.as_deref().map(validate_name).transpose()?;
        if let Some(Some(runtime)) = &patch.runtime {
            validate_runtime(runtime)?;
        }
        let update = ServerUpdate {
            name,
            description: patch.description,
            icon: patch.icon,
            config_yaml: patch.config_yaml,
            runtime: patch.runtime,
            enabled: None,
        };
        let updated = self.store.update_server(server.id, &update).await?;
        Ok(updated)
    }

    /// Disables (stops serving) or re-enables a server; reversible.
    pub async fn set_enabled(&self, reference: &str, enabled: bool) -> Result<Server, ServerError> {
        let server = self.resolve(reference).await?;
        let update = ServerUpdate {
            enabled: Some(enabled),
            ..ServerUpdate::default()
        };
        let updated = self.store.update_server(server.id, &update).await?;
        self.changed.notify_one();
        Ok(updated)
    }

    /// Deletes the server with its env vars and deployments.
    pub async fn delete(&self, reference: &str) -> Result<Server, ServerError> {
        let server = self.resolve(reference).await?;
        self.store.delete_server(server.id).await?;
        self.changed.notify_one();
        Ok(server)
    }

    /// Asks for a new deployment (e.g. after env var changes); returns the new generation.
    pub async fn redeploy(&self, reference: &str) -> Result<i64, ServerError> {
        let server = self.resolve(reference).await?;
        let generation = self.store.bump_deploy_generation(server.id).await?;
        self.changed.notify_one();
        Ok(generation)
    }

    /// Sets an env var (validated, sealed); returns whether it was newly created.
    pub async fn set_env(
        &self,
        reference: &str,
        name: &str,
        value: &SecretString,
    ) -> Result<bool, ServerError> {
        if let Some((code, message)) = env_name_problem(name) {
            return Err(ServerError::invalid(code, message));
        }
        let value = value.expose_secret();
        if value.len() > MAX_ENV_VALUE_LEN || value.contains('\0') {
            return Err(ServerError::invalid(
                "invalid_env_value",
                format!("env var value must be at most {MAX_ENV_VALUE_LEN} bytes with no NUL byte"),
            ));
        }
        let server = self.resolve(reference).await?;
        self.store_env(server.id, name, value.as_bytes()).await
    }

    /// Seals and writes an env var without validating its name. Only for tests that prove the
    /// runtime filters reserved names again (defence in depth); the API never calls this.
    #[doc(hidden)]
    pub async fn store_env_unchecked(
        &self,
        server_id: Uuid,
        name: &str,
        value: &str,
    ) -> Result<bool, ServerError> {
        self.store_env(server_id, name, value.as_bytes()).await
    }

    async fn store_env(
        &self,
        server_id: Uuid,
        name: &str,
        value: &[u8],
    ) -> Result<bool, ServerError> {
        let existing = self.store.env_var_id(server_id, name).await?;
        // A replaced value gets a fresh id: the ciphertext is sealed to the id the row takes.
        let id = Uuid::new_v4();
        let ciphertext = self.vault.encrypt(value, &env_var_aad(server_id, id));
        self.store
            .upsert_env_var(id, server_id, name, &ciphertext)
            .await?;
        Ok(existing.is_none())
    }

    pub async fn list_env(&self, reference: &str) -> Result<Vec<EnvVarMeta>, ServerError> {
        let server = self.resolve(reference).await?;
        Ok(self.store.list_env_vars(server.id).await?)
    }

    pub async fn delete_env(&self, reference: &str, name: &str) -> Result<(), ServerError> {
        let server = self.resolve(reference).await?;
        self.store
            .delete_env_var(server.id, name)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ServerError::EnvVarNotFound {
                    server: server.slug.clone(),
                    name: name.escape_debug().to_string(),
                },
                other => other.into(),
            })
    }
}

fn auth_type_conflict(current: &str, requested: &str) -> ServerError {
    ServerError::AuthTypeImmutable {
        current: current.to_owned(),
        requested: requested.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        for ok in ["API_KEY", "_x", "a1", "Path"] {
            assert!(env_name_problem(ok).is_none(), "{ok}");
        }
        for bad in ["", "1ABC", "A-B", "A B", "ÄPI", &"A".repeat(129)] {
            assert_eq!(
                env_name_problem(bad).unwrap().0,
                "invalid_env_name",
                "{bad}"
            );
        }
        for reserved in [
            "GUMSTACK_X",
            "gumstack_x",
            "GumLoop_Backend",
            "PORT",
            "port",
            "ENVIRONMENT",
        ] {
            assert_eq!(
                env_name_problem(reserved).unwrap().0,
                "reserved_env_name",
                "{reserved}"
            );
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Linear Issues!"), "linear-issues");
        assert_eq!(slugify("  --Ünïcode-- "), "n-code");
        assert_eq!(slugify("!!!"), "server");
        let uuid = Uuid::new_v4().to_string();
        assert!(slugify(&uuid).starts_with("server-"));
        assert!(slugify(&"a".repeat(200)).len() <= 48);
    }
}
