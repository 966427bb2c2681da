//! Key Echo: an example Gumstack server with auth type `cred`.
//!
//! Each user enters their own `api_key` (and optionally a `region`) in the form the platform
//! renders from `config.yaml`. The `key_suffix` tool reads them with
//! `get_credentials().await`, which in production fetches the calling user's values from the
//! platform (docs/PROTOCOL.md §3) and in local mode reads `LOCAL_API_KEY` / `LOCAL_REGION`. A
//! user who has not entered a key yet gets a tool error with the link to the form.
//!
//! # Layout
//!
//! - `lib.rs` (this file): the tools ([`KeyEcho`]) and the embedded [`config`].
//! - `main.rs`: starts tracing and serves [`KeyEcho`] with `GumstackHost`.

use gumstack::{Config, GumstackContext, GumstackError, get_credentials};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};

/// The server's config.yaml, embedded at build time.
pub const CONFIG_YAML: &str = include_str!("../config.yaml");

/// How many characters of the key `key_suffix` shows.
const SHOWN_CHARS: usize = 4;

/// The parsed [`CONFIG_YAML`].
pub fn config() -> Config {
    // A test (`config_yaml_is_valid`) parses the embedded file, so this cannot fail at run time.
    Config::parse(CONFIG_YAML).expect("the embedded config.yaml is valid")
}

/// The tools of the Key Echo server.
#[derive(Debug, Clone, Default)]
pub struct KeyEcho;

#[tool_router]
impl KeyEcho {
    #[tool(description = "Show the last four characters of your API key, and your region")]
    async fn key_suffix(&self) -> Result<String, GumstackError> {
        let credentials = get_credentials().await?;
        let api_key = credentials.require("api_key")?;
        Ok(describe(api_key, credentials.get("region")))
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

#[tool_handler(name = "Key Echo")]
impl ServerHandler for KeyEcho {}

/// `api_key ends in 1234; region eu`. A key of four characters or fewer is not shown at all:
/// its "end" would be the whole secret.
fn describe(api_key: &str, region: Option<&str>) -> String {
    let chars: Vec<char> = api_key.chars().collect();
    let key = if chars.len() > SHOWN_CHARS {
        let suffix: String = chars[chars.len() - SHOWN_CHARS..].iter().collect();
        format!("api_key ends in {suffix}")
    } else {
        format!("api_key is too short to show its last {SHOWN_CHARS} characters")
    };
    format!("{key}; region {}", region.unwrap_or("not set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_yaml_is_valid() {
        let config = Config::parse(CONFIG_YAML).unwrap();
        assert_eq!(config.name, "Key Echo");
        assert_eq!(config.auth.kind.as_str(), "cred");
        let [api_key, region] = config.auth.credentials.as_slice() else {
            panic!("two credentials: {:?}", config.auth.credentials);
        };
        assert_eq!(
            (api_key.name.as_str(), api_key.label.as_str()),
            ("api_key", "API key")
        );
        assert_eq!(api_key.placeholder.as_deref(), Some("sk-..."));
        assert!(api_key.secret && api_key.required);
        assert_eq!(
            (region.name.as_str(), region.label.as_str()),
            ("region", "Region")
        );
        assert_eq!(region.placeholder.as_deref(), Some("eu"));
        assert!(!region.secret && !region.required);
    }

    #[test]
    fn only_the_last_four_characters_are_shown() {
        assert_eq!(
            describe("sk-test1234", Some("eu")),
            "api_key ends in 1234; region eu"
        );
        assert_eq!(
            describe("sk-ünïcødé", None),
            "api_key ends in cødé; region not set"
        );
        assert_eq!(
            describe("1234", None),
            "api_key is too short to show its last 4 characters; region not set"
        );
    }
}
