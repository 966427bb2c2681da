//! Greeter: an example Gumstack server with auth type `none`.
//!
//! Its one credential, `greeting`, is an environment variable the developer sets on the platform
//! (`GREETING`; `LOCAL_GREETING` in local mode). The platform's integration tests use it to check
//! that a developer's variable reaches the process, and that platform variables do not leak
//! into it (`env_names`).
//!
//! # Layout
//!
//! - `lib.rs` (this file): the tools ([`Greeter`]) and the embedded [`config`].
//! - `main.rs`: starts tracing and serves [`Greeter`] with `GumstackHost`.

use gumstack::{Config, GumstackContext, GumstackError, get_credentials_sync};
use rmcp::{
    ServerHandler, handler::server::wrapper::Parameters, schemars, tool, tool_handler, tool_router,
};

/// The server's config.yaml, embedded at build time.
pub const CONFIG_YAML: &str = include_str!("../config.yaml");

/// The parsed [`CONFIG_YAML`].
pub fn config() -> Config {
    // A test (`config_yaml_is_valid`) parses the embedded file, so this cannot fail at run time.
    Config::parse(CONFIG_YAML).expect("the embedded config.yaml is valid")
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct GreetArgs {
    /// Who to greet.
    pub name: String,
}

/// The tools of the Greeter server.
#[derive(Debug, Clone, Default)]
pub struct Greeter;

#[tool_router]
impl Greeter {
    #[tool(description = "Greet someone by name, with the greeting the server is configured with")]
    fn greet(
        &self,
        Parameters(GreetArgs { name }): Parameters<GreetArgs>,
    ) -> Result<String, GumstackError> {
        let credentials = get_credentials_sync()?;
        let greeting = credentials.require("greeting")?;
        Ok(format!("{greeting}, {name}!"))
    }

    #[tool(
        description = "List the names (never the values) of the environment variables this \
                       server process sees, sorted"
    )]
    fn env_names(&self) -> String {
        let mut names: Vec<String> = std::env::vars_os()
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        names.sort();
        serde_json::Value::from(names).to_string()
    }

    #[tool(description = "Show who is calling, as the platform vouches for it")]
    fn whoami(&self) -> Result<String, GumstackError> {
        let caller = GumstackContext::current()?;
        Ok(serde_json::json!({
            "user_id": caller.user_id,
            "email": caller.email,
            "org_id": caller.org_id,
            "group_id": caller.group_id,
            "server_id": caller.server_id,
            "client_id": caller.client_id,
        })
        .to_string())
    }
}

#[tool_handler(name = "Greeter")]
impl ServerHandler for Greeter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_yaml_is_valid() {
        let config = Config::parse(CONFIG_YAML).unwrap();
        assert_eq!(config.name, "Greeter");
        assert_eq!(config.auth.credentials[0].env_var_name(), "GREETING");
        assert!(config.auth.credentials[0].required);
    }
}
