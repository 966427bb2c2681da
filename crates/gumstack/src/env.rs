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
const SERVER_ID_VAR: &str = "GUMSTACK_SERVER_ID";
const BACKEND_URL_VAR: &str = "GUMSTACK_BACKEND_URL";

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
    /// `GUMSTACK_SERVER_ID`: this server's id on the platform (a UUID; required in production,
    /// where it names the only audience whose identities this server accepts).
    server_id: Option<String>,
    /// `GUMSTACK_BACKEND_URL`: the platform's API (JWKS, credential fetch), without a trailing
    /// slash (an `http://` URL; required in production).
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
        let server_id = text(SERVER_ID_VAR);
        let backend_url = text(BACKEND_URL_VAR).map(|url| url.trim_end_matches('/').to_owned());
        if mode == Mode::Production {
            check_server_id(server_id.as_deref())?;
            check_backend_url(backend_url.as_deref())?;
        }
        let env = Self {
            mode,
            port,
            server_id,
            backend_url,
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

    /// Whether the server runs for the platform or on a developer's machine.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The port to listen on (on loopback).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `GUMSTACK_SERVER_ID`: this server's id on the platform, a lower-case hyphenated UUID
    /// (always set in production; in local mode only if the developer set it).
    pub fn server_id(&self) -> Option<&str> {
        self.server_id.as_deref()
    }

    /// `GUMSTACK_BACKEND_URL`: the platform's base URL, an `http://` URL without a trailing
    /// slash (always set in production).
    pub fn backend_url(&self) -> Option<&str> {
        self.backend_url.as_deref()
    }

    /// `GUMSTACK_MCP_URL`: the URL MCP clients use to reach this server, when the platform
    /// set it (for example to put in links the server hands out).
    pub fn mcp_url(&self) -> Option<&str> {
        self.mcp_url.as_deref()
    }

    /// `GUMLOOP_BACKEND_URL`: kept for servers written against the original platform; new
    /// code uses [`HostEnv::backend_url`].
    pub fn gumloop_backend_url(&self) -> Option<&str> {
        self.gumloop_backend_url.as_deref()
    }

    /// The per-deployment server token, for the SDK's calls to the platform.
    pub(crate) fn server_token(&self) -> Option<Arc<SecretString>> {
        self.server_token.clone()
    }

    /// A variable of the environment (never `GUMSTACK_SERVER_TOKEN`).
    pub(crate) fn var(&self, name: &str) -> Option<&SecretString> {
        self.vars.get(name)
    }

    /// The optional system variables the platform should have set but did not (production
    /// only; the required ones are checked when the environment is read).
    pub(crate) fn missing_platform_vars(&self) -> Vec<&'static str> {
        if self.mode == Mode::Local {
            return Vec::new();
        }
        [
            ("GUMSTACK_MCP_URL", self.mcp_url.is_some()),
            (SERVER_TOKEN_VAR, self.server_token.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| (!present).then_some(name))
        .collect()
    }
}

/// Production needs `GUMSTACK_SERVER_ID`, in the canonical UUID form the platform uses in the
/// audience of the identities it signs (lower-case hex, hyphenated).
fn check_server_id(value: Option<&str>) -> Result<(), HostError> {
    let value = value.ok_or(HostError::MissingPlatformVariable {
        name: SERVER_ID_VAR,
    })?;
    let canonical = value.len() == 36
        && value.char_indices().all(|(at, c)| match at {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        });
    if canonical {
        Ok(())
    } else {
        Err(HostError::InvalidServerId {
            value: value.to_owned(),
        })
    }
}

/// Production needs `GUMSTACK_BACKEND_URL`, an `http://` URL (the platform is reached over
/// loopback or a private network; this SDK speaks no TLS).
fn check_backend_url(value: Option<&str>) -> Result<(), HostError> {
    let value = value.ok_or(HostError::MissingPlatformVariable {
        name: BACKEND_URL_VAR,
    })?;
    let invalid = |reason: &str| HostError::InvalidBackendUrl {
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(value).map_err(|error| invalid(&error.to_string()))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(invalid(
                "https is not supported: the platform is reached over loopback with http://",
            ));
        }
        _ => return Err(invalid("expected an http:// URL")),
    }
    let plain = url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    if !plain {
        return Err(invalid("expected http://host[:port][/path]"));
    }
    Ok(())
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

    const SERVER_ID: &str = "0b6e2f0c-3f4a-4d5e-9a7b-1c2d3e4f5a6b";

    /// The variables production needs, plus `extra`.
    fn production(extra: &[(&str, &str)]) -> Result<HostEnv, HostError> {
        let mut vars = vec![
            ("ENVIRONMENT", "production"),
            ("PORT", "4100"),
            ("GUMSTACK_SERVER_ID", SERVER_ID),
            ("GUMSTACK_BACKEND_URL", "http://127.0.0.1:3000/"),
        ];
        vars.extend_from_slice(extra);
        env(&vars)
    }

    #[test]
    fn production_reads_the_system_variables() {
        let env =
            production(&[("GUMSTACK_SERVER_TOKEN", "tok-secret"), ("API_KEY", "sk-1")]).unwrap();
        assert_eq!(env.mode(), Mode::Production);
        assert_eq!(env.port(), 4100);
        assert_eq!(env.server_id(), Some(SERVER_ID));
        // Without the trailing slash, so paths can be appended.
        assert_eq!(env.backend_url(), Some("http://127.0.0.1:3000"));
        assert_eq!(env.missing_platform_vars(), vec!["GUMSTACK_MCP_URL"]);
        assert_eq!(env.server_token().unwrap().expose_secret(), "tok-secret");
        assert_eq!(env.var("API_KEY").unwrap().expose_secret(), "sk-1");
        // The server token is not an ordinary variable a credential could name.
        assert!(env.var("GUMSTACK_SERVER_TOKEN").is_none());
    }

    #[test]
    fn production_requires_the_server_id_and_the_backend_url() {
        for missing in ["GUMSTACK_SERVER_ID", "GUMSTACK_BACKEND_URL"] {
            let vars: Vec<(&str, &str)> = [
                ("ENVIRONMENT", "production"),
                ("PORT", "4100"),
                ("GUMSTACK_SERVER_ID", SERVER_ID),
                ("GUMSTACK_BACKEND_URL", "http://127.0.0.1:3000"),
            ]
            .into_iter()
            .filter(|(name, _)| *name != missing)
            .collect();
            let error = env(&vars).unwrap_err();
            assert!(
                matches!(error, HostError::MissingPlatformVariable { name } if name == missing),
                "{error:?}"
            );
            assert!(error.to_string().starts_with(missing), "{error}");
            assert!(error.to_string().contains("ENVIRONMENT=local"), "{error}");
        }
    }

    #[test]
    fn the_server_id_must_be_a_canonical_uuid() {
        for value in [
            "srv-1",
            "0B6E2F0C-3F4A-4D5E-9A7B-1C2D3E4F5A6B",
            "0b6e2f0c3f4a4d5e9a7b1c2d3e4f5a6b",
            "{0b6e2f0c-3f4a-4d5e-9a7b-1c2d3e4f5a6b}",
        ] {
            let error = production(&[("GUMSTACK_SERVER_ID", value)]).unwrap_err();
            assert!(
                matches!(error, HostError::InvalidServerId { .. }),
                "{value}"
            );
            assert!(error.to_string().contains("GUMSTACK_SERVER_ID"), "{error}");
        }
    }

    #[test]
    fn the_backend_url_must_be_plain_http() {
        for value in [
            "127.0.0.1:3000",
            "https://127.0.0.1:3000",
            "ftp://127.0.0.1",
            "http://127.0.0.1:3000/?x=1",
            "http://user:pw@127.0.0.1:3000",
        ] {
            let error = production(&[("GUMSTACK_BACKEND_URL", value)]).unwrap_err();
            assert!(
                matches!(error, HostError::InvalidBackendUrl { .. }),
                "{value}: {error:?}"
            );
            assert!(
                error.to_string().contains("GUMSTACK_BACKEND_URL"),
                "{error}"
            );
        }
    }

    #[test]
    fn local_mode_needs_no_platform_variables() {
        let env = env(&[("ENVIRONMENT", "local"), ("GUMSTACK_SERVER_ID", "srv-1")]).unwrap();
        assert_eq!(env.server_id(), Some("srv-1"));
        assert_eq!(env.backend_url(), None);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let env =
            production(&[("GUMSTACK_SERVER_TOKEN", "tok-secret"), ("API_KEY", "sk-1")]).unwrap();
        let debug = format!("{env:?}");
        assert!(!debug.contains("tok-secret"), "{debug}");
        assert!(!debug.contains("sk-1"), "{debug}");
    }
}
