//! The settings of a [`StandardOAuthProvider`](super::StandardOAuthProvider), resolved at each
//! call from the values set in code and the environment variables `{PREFIX}_…` (a variable
//! that is set wins). A server whose settings are missing still starts; every operation then
//! fails with [`ProviderError::NotConfigured`] naming exactly the variables to set.
//!
//! Every operation the platform calls needs the whole set a connection needs (client id and
//! secret, authorization, token and userinfo URLs), so that the first step of a connect flow
//! already names everything that is missing. A tool's own call to the userinfo endpoint needs
//! only its URL ([`Settings::userinfo_url`]).

use std::{collections::BTreeMap, fmt, sync::Arc};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::ClientAuthMethod;
use crate::{auth::ProviderError, scope::HostState};

/// Where the provider reads its environment variables.
#[derive(Clone)]
pub(super) enum Vars {
    /// The environment of the host serving the current request (or of the process's host),
    /// else the process environment.
    Host,
    /// Fixed values (tests, embedding).
    Fixed(Arc<BTreeMap<String, SecretString>>),
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host => f.write_str("Host"),
            Self::Fixed(vars) => f.debug_tuple("Fixed").field(&vars.keys()).finish(),
        }
    }
}

impl Vars {
    /// The value of `name`, unless it is unset or empty.
    fn get(&self, name: &str) -> Option<SecretString> {
        let value = match self {
            Self::Fixed(vars) => vars.get(name).cloned(),
            Self::Host => match HostState::current() {
                Some(host) => host.env.var(name).cloned(),
                None => std::env::var(name).ok().map(SecretString::from),
            },
        };
        value.filter(|value| !value.expose_secret().trim().is_empty())
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|value| value.expose_secret().trim().to_owned())
    }
}

/// What the developer set in code; each may be overridden by its environment variable.
#[derive(Debug, Clone, Default)]
pub(super) struct Defaults {
    pub(super) authorize_url: Option<String>,
    pub(super) token_url: Option<String>,
    pub(super) userinfo_url: Option<String>,
    pub(super) revocation_url: Option<String>,
    pub(super) scopes: Vec<String>,
}

/// The settings of one call, all present and valid.
pub(super) struct Settings {
    pub(super) client_id: String,
    /// `None` for public clients ([`ClientAuthMethod::None`]).
    pub(super) client_secret: Option<SecretString>,
    pub(super) authorize_url: Url,
    pub(super) token_url: Url,
    pub(super) userinfo_url: Url,
    pub(super) revocation_url: Option<Url>,
    pub(super) scopes: Vec<String>,
}

/// The names of the variables of one provider: `{prefix}_{SETTING}`.
#[derive(Debug, Clone)]
pub(super) struct VarNames {
    prefix: String,
}

impl VarNames {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('_').to_owned(),
        }
    }

    pub(super) fn name(&self, setting: &str) -> String {
        format!("{}_{setting}", self.prefix)
    }
}

/// Collects what is missing or invalid while the settings are read.
struct Problems<'a> {
    names: &'a VarNames,
    missing: Vec<String>,
    invalid: Vec<(String, &'static str)>,
}

impl Problems<'_> {
    /// The required setting `setting`: its variable, else `default`.
    fn required(&mut self, vars: &Vars, setting: &str, default: Option<&str>) -> Option<String> {
        let name = self.names.name(setting);
        let value = vars.text(&name).or_else(|| default.map(str::to_owned));
        if value.is_none() {
            self.missing.push(name);
        }
        value
    }

    /// A URL setting, which must be `https` (or `http` to a loopback host).
    fn url(&mut self, setting: &str, value: Option<String>) -> Option<Url> {
        let value = value?;
        match check_url(&value) {
            Ok(url) => Some(url),
            Err(reason) => {
                self.invalid.push((self.names.name(setting), reason));
                None
            }
        }
    }
}

impl Settings {
    /// Reads the settings of provider `provider` (for messages), or says which variables to
    /// set.
    pub(super) fn resolve(
        provider: &str,
        names: &VarNames,
        defaults: &Defaults,
        auth_method: ClientAuthMethod,
        vars: &Vars,
    ) -> Result<Self, ProviderError> {
        let mut problems = Problems {
            names,
            missing: Vec::new(),
            invalid: Vec::new(),
        };
        let client_id = problems.required(vars, "CLIENT_ID", None);
        let client_secret = match auth_method {
            ClientAuthMethod::None => None,
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
                let name = names.name("CLIENT_SECRET");
                let secret = vars.get(&name);
                if secret.is_none() {
                    problems.missing.push(name);
                }
                secret
            }
        };
        let authorize_url =
            problems.required(vars, "AUTHORIZE_URL", defaults.authorize_url.as_deref());
        let token_url = problems.required(vars, "TOKEN_URL", defaults.token_url.as_deref());
        let userinfo_url =
            problems.required(vars, "USERINFO_URL", defaults.userinfo_url.as_deref());
        let revocation_url = vars
            .text(&names.name("REVOCATION_URL"))
            .or_else(|| defaults.revocation_url.clone());

        let authorize_url = problems.url("AUTHORIZE_URL", authorize_url);
        let token_url = problems.url("TOKEN_URL", token_url);
        let userinfo_url = problems.url("USERINFO_URL", userinfo_url);
        let revocation_url = problems.url("REVOCATION_URL", revocation_url);
        let scopes = match vars.text(&names.name("SCOPES")) {
            Some(scopes) => split_scopes(&scopes),
            None => defaults.scopes.clone(),
        };

        match (client_id, authorize_url, token_url, userinfo_url) {
            (Some(client_id), Some(authorize_url), Some(token_url), Some(userinfo_url))
                if problems.missing.is_empty() && problems.invalid.is_empty() =>
            {
                Ok(Self {
                    client_id,
                    client_secret,
                    authorize_url,
                    token_url,
                    userinfo_url,
                    revocation_url,
                    scopes,
                })
            }
            _ => Err(not_configured(provider, problems)),
        }
    }
}

impl Settings {
    /// The userinfo URL alone (for a tool's own call), or which variable to set.
    pub(super) fn userinfo_url(
        provider: &str,
        names: &VarNames,
        defaults: &Defaults,
        vars: &Vars,
    ) -> Result<Url, ProviderError> {
        let mut problems = Problems {
            names,
            missing: Vec::new(),
            invalid: Vec::new(),
        };
        let url = problems.required(vars, "USERINFO_URL", defaults.userinfo_url.as_deref());
        match problems.url("USERINFO_URL", url) {
            Some(url) => Ok(url),
            None => Err(not_configured(provider, problems)),
        }
    }
}

/// The error naming every variable to set: the missing ones, then the invalid ones.
fn not_configured(provider: &str, problems: Problems<'_>) -> ProviderError {
    let mut message = format!("the OAuth provider `{provider}` is not configured:");
    if !problems.missing.is_empty() {
        message.push_str(&format!(" set {}", problems.missing.join(", ")));
    }
    for (at, (name, reason)) in problems.invalid.iter().enumerate() {
        let separator = if at == 0 && problems.missing.is_empty() {
            " "
        } else {
            "; "
        };
        message.push_str(&format!("{separator}{name} {reason}"));
    }
    message.push_str(
        " (the server's environment variables; on the Gumstack platform a change takes effect \
         when the server is redeployed)",
    );
    let mut missing_env = problems.missing;
    missing_env.extend(problems.invalid.into_iter().map(|(name, _)| name));
    ProviderError::not_configured(message, missing_env)
}

/// `openid email` or `openid,email` → `["openid", "email"]`.
pub(super) fn split_scopes(scopes: &str) -> Vec<String> {
    scopes
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An endpoint URL: absolute, `https`, or `http` to a loopback host (a provider on the same
/// machine); no fragment. Anything else would send secrets in the clear.
fn check_url(value: &str) -> Result<Url, &'static str> {
    let url = Url::parse(value).map_err(|_| "is not an absolute URL")?;
    if url.host().is_none() {
        return Err("is not an absolute URL");
    }
    let loopback = gumstack_protocol::loopback::is_loopback_url(&url);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err("must be an https URL (http is allowed only to a loopback host)"),
        _ => return Err("must be an https URL"),
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::Fixed(Arc::new(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), SecretString::from(*value)))
                .collect(),
        ))
    }

    fn resolve(pairs: &[(&str, &str)], defaults: &Defaults) -> Result<Settings, ProviderError> {
        Settings::resolve(
            "oidc",
            &VarNames::new("OAUTH"),
            defaults,
            ClientAuthMethod::ClientSecretBasic,
            &vars(pairs),
        )
    }

    #[test]
    fn variables_override_the_values_set_in_code() {
        let defaults = Defaults {
            authorize_url: Some("https://code.example/authorize".to_owned()),
            token_url: Some("https://code.example/token".to_owned()),
            userinfo_url: Some("https://code.example/userinfo".to_owned()),
            revocation_url: None,
            scopes: vec!["openid".to_owned()],
        };
        let settings = resolve(
            &[
                ("OAUTH_CLIENT_ID", "client-1"),
                ("OAUTH_CLIENT_SECRET", "secret-1"),
                ("OAUTH_TOKEN_URL", "http://127.0.0.1:9/token"),
                ("OAUTH_SCOPES", "openid, email  profile"),
            ],
            &defaults,
        )
        .unwrap();
        assert_eq!(settings.client_id, "client-1");
        assert_eq!(settings.token_url.as_str(), "http://127.0.0.1:9/token");
        assert_eq!(
            settings.authorize_url.as_str(),
            "https://code.example/authorize"
        );
        assert_eq!(settings.scopes, ["openid", "email", "profile"]);
        assert!(settings.revocation_url.is_none());
    }

    #[test]
    fn missing_and_invalid_variables_are_named() {
        let error = resolve(
            &[
                ("OAUTH_CLIENT_ID", "client-1"),
                ("OAUTH_CLIENT_SECRET", " "),
                ("OAUTH_TOKEN_URL", "http://provider.example/token"),
                ("OAUTH_USERINFO_URL", "not a url"),
            ],
            &Defaults::default(),
        )
        .err()
        .unwrap();
        let ProviderError::NotConfigured {
            message,
            missing_env,
        } = error
        else {
            panic!("{error:?}");
        };
        assert_eq!(
            missing_env,
            [
                "OAUTH_CLIENT_SECRET",
                "OAUTH_AUTHORIZE_URL",
                "OAUTH_TOKEN_URL",
                "OAUTH_USERINFO_URL"
            ]
        );
        assert!(
            message.starts_with(
                "the OAuth provider `oidc` is not configured: set OAUTH_CLIENT_SECRET, \
                 OAUTH_AUTHORIZE_URL; OAUTH_TOKEN_URL must be an https URL"
            ),
            "{message}"
        );
    }

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        for good in [
            "https://provider.example/token",
            "http://127.0.0.1:8080/token",
            "http://localhost/token",
            "http://[::1]:9/token",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://provider.example/token",
            "ftp://provider.example/token",
            "https://provider.example/token#x",
            "/token",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
