//! The validated shape of a config.yaml: [`Config`] and the types it holds.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The most characters a server's `name` may have (after trimming).
pub const MAX_NAME_CHARS: usize = 100;

/// A server's validated config.yaml.
///
/// The only way to get one is [`Config::parse`] or [`Config::from_file`], so every value here
/// has passed the checks described on its field. Serializes to JSON for the platform API, with
/// the auth kind under `auth.type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Display name: trimmed, not empty, at most [`MAX_NAME_CHARS`] characters.
    pub name: String,
    /// Free text; empty when the file has none.
    pub description: String,
    /// Path or URL of the server's icon, as written in the file.
    pub icon: Option<String>,
    /// How end users authenticate to the server.
    pub auth: Auth,
    /// Tool metadata from the file; the platform also discovers tools from the running server.
    pub tools: Vec<ToolMeta>,
}

/// The `auth` section.
///
/// Which lists may be filled depends on [`Auth::kind`]: `oauth` has one or more `providers` and
/// no `credentials`; `cred` has one or more `credentials` and no `providers`; `none` has no
/// `providers` and any number of `credentials` (they document the environment variables the
/// server expects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Auth {
    /// The auth type. It can never change once the server exists.
    #[serde(rename = "type")]
    pub kind: AuthType,
    /// Names of the server's auth providers (`oauth` only): unique, each `[a-z0-9][a-z0-9_-]*`.
    pub providers: Vec<String>,
    /// The credential form (`cred`) or the documented environment variables (`none`); names are
    /// unique, each `[a-z][a-z0-9_]*`.
    pub credentials: Vec<CredentialField>,
}

/// How end users authenticate to a server (`auth.type` in config.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    /// Each user connects an account through the server's OAuth provider(s).
    Oauth,
    /// Each user fills in a form of credentials, stored encrypted per user.
    Cred,
    /// No per-user credentials; the server reads its environment.
    None,
}

impl AuthType {
    /// Every auth type, in the order the documentation lists them.
    pub const ALL: [AuthType; 3] = [AuthType::Oauth, AuthType::Cred, AuthType::None];

    /// The name used in config.yaml and in the API: `oauth`, `cred` or `none`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthType::Oauth => "oauth",
            AuthType::Cred => "cred",
            AuthType::None => "none",
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthType {
    type Err = InvalidAuthType;

    /// Parses the exact, lower-case name (`oauth`, `cred`, `none`).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        AuthType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| InvalidAuthType {
                value: value.to_owned(),
            })
    }
}

/// A string that names no [`AuthType`]; its message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidAuthType {
    /// The refused text.
    pub value: String,
}

impl fmt::Display for InvalidAuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid auth type `{}`; expected one of `oauth`, `cred`, `none`",
            self.value
        )
    }
}

impl std::error::Error for InvalidAuthType {}

/// One entry of `auth.credentials`: a form field (`cred`) or a documented environment
/// variable (`none`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialField {
    /// Key in `get_credentials()`; `[a-z][a-z0-9_]*`, unique within the list.
    pub name: String,
    /// Text shown next to the input; the name when the file gives none.
    pub label: String,
    /// Help text shown under the input.
    pub description: Option<String>,
    /// Example value shown in the empty input.
    pub placeholder: Option<String>,
    /// Masked input; the value is never shown again after saving. Default `false`.
    pub secret: bool,
    /// The form refuses to save without a value. Default `true`.
    pub required: bool,
}

impl CredentialField {
    /// The environment variable that carries this field: the name upper-cased
    /// (`api_key` becomes `API_KEY`).
    pub fn env_var_name(&self) -> String {
        self.name.to_ascii_uppercase()
    }
}

/// One entry of `tools`: metadata about a tool the server offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolMeta {
    /// The MCP tool name: 1 to 128 of `A-Z a-z 0-9 _ - .`, unique within the list.
    pub name: String,
    /// What the tool does.
    pub description: Option<String>,
    /// `oauth`: the provider scopes the tool needs, by provider (empty: none beyond what every
    /// connection asks for). A user whose account was granted fewer is asked to connect it
    /// again for them when the tool fetches its credentials (docs/PROTOCOL.md §3).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub scopes: BTreeMap<String, Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_type_names_round_trip() {
        for kind in AuthType::ALL {
            assert_eq!(kind.to_string(), kind.as_str());
            assert_eq!(kind.as_str().parse::<AuthType>(), Ok(kind));
        }
    }

    #[test]
    fn auth_type_parse_error_lists_valid_values() {
        let error = "OAuth".parse::<AuthType>().unwrap_err();
        assert_eq!(error.value, "OAuth");
        assert_eq!(
            error.to_string(),
            "invalid auth type `OAuth`; expected one of `oauth`, `cred`, `none`"
        );
    }

    #[test]
    fn env_var_name_is_upper_case() {
        let field = CredentialField {
            name: "api_key2".to_owned(),
            label: "Key".to_owned(),
            description: None,
            placeholder: None,
            secret: true,
            required: true,
        };
        assert_eq!(field.env_var_name(), "API_KEY2");
    }
}
