//! The environment a server process runs in: [`HostEnv`], read once at start.
//!
//! The platform starts every hosted server with `ENVIRONMENT=production`, `PORT` and the
//! `GUMSTACK_*` system variables, next to the developer's own variables. A developer running the
//! server by hand sets `ENVIRONMENT=local` instead. Anything else is refused, so a server can
//! never end up unauthenticated by accident.

use std::{collections::BTreeMap, sync::Arc};

use secrecy::SecretString;

use crate::error::HostError;

/// Port of local mode when `PORT` is not set.
pub const DEFAULT_LOCAL_PORT: u16 = 8000;

const SERVER_TOKEN_VAR: &str = "GUMSTACK_SERVER_TOKEN";

/// How the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Started by the platform (`ENVIRONMENT=production`): calls arrive through the gateway.
    Production,
    /// Started by a developer (`ENVIRONMENT=local`): no platform, no authentication, loopback
    /// only, credentials from `LOCAL_<NAME>` variables.
    Local,
}

/// Everything the host reads from the process environment, read once.
///
/// [`GumstackHost::serve`](crate::GumstackHost::serve) builds it with
/// [`HostEnv::from_process`]; tests build it with [`HostEnv::from_vars`] so they never touch the
/// process environment (which is shared by every test of a binary).
#[derive(Debug, Clone)]
pub struct HostEnv {
    mode: Mode,
    port: u16,
    /// `GUMSTACK_SERVER_ID`: this server's id on the platform.
    server_id: Option<String>,
    /// `GUMSTACK_BACKEND_URL`: the platform's API (credential fetch, JWKS).
    backend_url: Option<String>,
    /// `GUMSTACK_MCP_URL`: the URL MCP clients use to reach this server.
    mcp_url: Option<String>,
    /// `GUMLOOP_BACKEND_URL`: kept for servers written against the original platform.
    gumloop_backend_url: Option<String>,
    /// `GUMSTACK_SERVER_TOKEN`: authenticates this deployment's calls to the platform.
    server_token: Option<Arc<SecretString>>,
    /// Every other variable, as secrets: credentials of `none` servers are read from here.
    vars: Arc<BTreeMap<String, SecretString>>,
}

impl HostEnv {
    /// Reads the environment of this process. Variables whose name or value is not UTF-8 are
    /// ignored.
    pub fn from_process() -> Result<Self, HostError> {
        Self::from_vars(std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        }))
    }

    /// Builds the environment from `(name, value)` pairs, as if they were the process's.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, HostError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut vars: BTreeMap<String, String> = vars
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        let mode = match vars.get("ENVIRONMENT").map(|value| value.trim()) {
            None | Some("") => return Err(HostError::EnvironmentNotSet),
            Some("production") => Mode::Production,
            Some("local") => Mode::Local,
            Some(other) => {
                return Err(HostError::UnknownEnvironment {
                    value: other.to_owned(),
                });
            }
        };
        let port = parse_port(mode, vars.get("PORT").map(String::as_str))?;
        let server_token = vars
            .remove(SERVER_TOKEN_VAR)
            .map(|token| Arc::new(SecretString::from(token)));
        let text = |name: &str| vars.get(name).filter(|value| !value.is_empty()).cloned();
        let env = Self {
            mode,
            port,
            server_id: text("GUMSTACK_SERVER_ID"),
            backend_url: text("GUMSTACK_BACKEND_URL"),
            mcp_url: text("GUMSTACK_MCP_URL"),
            gumloop_backend_url: text("GUMLOOP_BACKEND_URL"),
            server_token,
            vars: Arc::new(
                vars.into_iter()
                    .map(|(name, value)| (name, SecretString::from(value)))
                    .collect(),
            ),
        };
        Ok(env)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The port to listen on (on loopback).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn server_id(&self) -> Option<&str> {
        self.server_id.as_deref()
    }

    pub fn backend_url(&self) -> Option<&str> {
        self.backend_url.as_deref()
    }

    pub fn mcp_url(&self) -> Option<&str> {
        self.mcp_url.as_deref()
    }

    pub fn gumloop_backend_url(&self) -> Option<&str> {
        self.gumloop_backend_url.as_deref()
    }

    /// The per-deployment server token, for the SDK's calls to the platform.
    #[allow(dead_code, reason = "used by the platform client of the next slice")]
    pub(crate) fn server_token(&self) -> Option<&SecretString> {
        self.server_token.as_deref()
    }

    /// A variable of the environment (never `GUMSTACK_SERVER_TOKEN`).
    pub(crate) fn var(&self, name: &str) -> Option<&SecretString> {
        self.vars.get(name)
    }

    /// The system variables the platform should have set but did not (production only).
    pub(crate) fn missing_platform_vars(&self) -> Vec<&'static str> {
        if self.mode == Mode::Local {
            return Vec::new();
        }
        [
            ("GUMSTACK_SERVER_ID", self.server_id.is_some()),
            ("GUMSTACK_BACKEND_URL", self.backend_url.is_some()),
            ("GUMSTACK_MCP_URL", self.mcp_url.is_some()),
            (SERVER_TOKEN_VAR, self.server_token.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| (!present).then_some(name))
        .collect()
    }
}

fn parse_port(mode: Mode, value: Option<&str>) -> Result<u16, HostError> {
    let Some(value) = value else {
        return match mode {
            Mode::Production => Err(HostError::MissingPort),
            Mode::Local => Ok(DEFAULT_LOCAL_PORT),
        };
    };
    let invalid = || HostError::InvalidPort {
        value: value.to_owned(),
    };
    let port: u16 = value.trim().parse().map_err(|_| invalid())?;
    // Port 0 (any free port) is useful locally, but the platform must know where to connect.
    if port == 0 && mode == Mode::Production {
        return Err(invalid());
    }
    Ok(port)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Result<HostEnv, HostError> {
        HostEnv::from_vars(vars.iter().copied())
    }

    #[test]
    fn environment_unset_tells_the_developer_to_set_local() {
        let error = env(&[("PORT", "8080")]).unwrap_err();
        assert!(matches!(error, HostError::EnvironmentNotSet));
        assert!(
            error.to_string().contains("set ENVIRONMENT=local"),
            "{error}"
        );
    }

    #[test]
    fn unknown_environment_is_refused() {
        for value in ["dev", "Local", "staging"] {
            let error = env(&[("ENVIRONMENT", value), ("PORT", "8080")]).unwrap_err();
            assert!(matches!(error, HostError::UnknownEnvironment { .. }));
            assert!(error.to_string().contains("ENVIRONMENT=local"), "{error}");
        }
    }

    #[test]
    fn production_requires_a_port() {
        let error = env(&[("ENVIRONMENT", "production")]).unwrap_err();
        assert!(matches!(error, HostError::MissingPort));
        assert!(error.to_string().contains("PORT is not set"), "{error}");
    }

    #[test]
    fn invalid_ports_are_refused() {
        for port in ["http", "70000", "-1", "0"] {
            let error = env(&[("ENVIRONMENT", "production"), ("PORT", port)]).unwrap_err();
            assert!(matches!(error, HostError::InvalidPort { .. }), "{port}");
            assert!(error.to_string().contains(port), "{error}");
        }
    }

    #[test]
    fn local_mode_defaults_to_port_8000() {
        let env = env(&[("ENVIRONMENT", "local")]).unwrap();
        assert_eq!(env.mode(), Mode::Local);
        assert_eq!(env.port(), DEFAULT_LOCAL_PORT);
        assert!(env.missing_platform_vars().is_empty());
    }

    #[test]
    fn production_reads_the_system_variables() {
        let env = env(&[
            ("ENVIRONMENT", "production"),
            ("PORT", "4100"),
            ("GUMSTACK_SERVER_ID", "srv-1"),
            ("GUMSTACK_BACKEND_URL", "http://127.0.0.1:3000"),
            ("GUMSTACK_SERVER_TOKEN", "tok-secret"),
            ("API_KEY", "sk-1"),
        ])
        .unwrap();
        assert_eq!(env.mode(), Mode::Production);
        assert_eq!(env.port(), 4100);
        assert_eq!(env.server_id(), Some("srv-1"));
        assert_eq!(env.backend_url(), Some("http://127.0.0.1:3000"));
        assert_eq!(env.missing_platform_vars(), vec!["GUMSTACK_MCP_URL"]);
        assert_eq!(env.server_token().unwrap().expose_secret(), "tok-secret");
        assert_eq!(env.var("API_KEY").unwrap().expose_secret(), "sk-1");
        // The server token is not an ordinary variable a credential could name.
        assert!(env.var("GUMSTACK_SERVER_TOKEN").is_none());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let env = env(&[
            ("ENVIRONMENT", "production"),
            ("PORT", "4100"),
            ("GUMSTACK_SERVER_TOKEN", "tok-secret"),
            ("API_KEY", "sk-1"),
        ])
        .unwrap();
        let debug = format!("{env:?}");
        assert!(!debug.contains("tok-secret"), "{debug}");
        assert!(!debug.contains("sk-1"), "{debug}");
    }
}
