//! Provider Account: an example Gumstack server with auth type `oauth`.
//!
//! Each user connects their account at an OpenID Connect provider through the platform. The
//! server registers the SDK's [`StandardOAuthProvider`] as provider `oidc`, configured from
//! `OAUTH_*` environment variables ([`oidc_provider`]); the platform calls it to build the
//! authorization URL, exchange the code, refresh tokens and name the account.
//!
//! The `provider_profile` tool gets the caller's access token with
//! `get_credentials_for_account(None, account).await` (the user's default account, or the one
//! its optional `account` argument names: a user may connect several) and calls the provider's
//! userinfo endpoint with it. When the provider rejects the token (HTTP 401) it reports it with
//! `report_invalid_token`, which has the platform refresh the connection, and tries once more
//! with a freshly fetched token.
//!
//! The `provider_name` tool needs the `profile` scope, which the default scopes do not ask
//! for; config.yaml declares it (`tools[].scopes`), so its first call asks the user to connect
//! again allowing it (scope step-up, docs/PROTOCOL.md §3) with no code in the tool.
//!
//! # Layout
//!
//! - `lib.rs` (this file): the provider ([`oidc_provider`]), the tools ([`ProviderAccount`]),
//!   the embedded [`config`] and the [`host`] that serves them.
//! - `main.rs`: starts tracing and serves [`host`].

use std::sync::Arc;

use gumstack::{
    AccountArgs, Config, GumstackContext, GumstackError, GumstackHost,
    auth::{ClientAuthMethod, ProviderError, StandardOAuthProvider},
    get_credentials_for_account, report_invalid_token,
};
use rmcp::{ServerHandler, handler::server::wrapper::Parameters, tool, tool_handler, tool_router};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The server's config.yaml, embedded at build time.
pub const CONFIG_YAML: &str = include_str!("../config.yaml");

/// The provider's name, as config.yaml declares it.
pub const PROVIDER: &str = "oidc";

/// The prefix of the provider's environment variables (`OAUTH_CLIENT_ID`, …).
pub const ENV_PREFIX: &str = "OAUTH";

/// The scopes asked for unless `OAUTH_SCOPES` says otherwise: the account's email, and a
/// refresh token.
pub const DEFAULT_SCOPES: &str = "openid email offline_access";

/// How many hex characters of the token's SHA-256 `token_fingerprint` shows.
const FINGERPRINT_CHARS: usize = 12;

/// The parsed [`CONFIG_YAML`].
pub fn config() -> Config {
    // A test (`config_yaml_is_valid`) parses the embedded file, so this cannot fail at run time.
    Config::parse(CONFIG_YAML).expect("the embedded config.yaml is valid")
}

/// The OpenID Connect provider `oidc`: settings from the `OAUTH_*` variables (client id and
/// secret, authorization, token, userinfo and optional revocation URLs, scopes), PKCE,
/// `client_secret_basic`, and the account's `email` as its nickname. `prompt=consent` makes
/// OpenID providers issue the refresh token `offline_access` asks for.
///
/// `OAUTH_TIMEOUT_SECS` (read once, at start) bounds each call to the provider instead of the
/// SDK's default of 15 s.
pub fn oidc_provider() -> StandardOAuthProvider {
    let provider = StandardOAuthProvider::new(PROVIDER);
    let provider = match std::env::var("OAUTH_TIMEOUT_SECS")
        .ok()
        .and_then(|secs| secs.parse::<u64>().ok())
    {
        Some(secs) => provider.timeout(std::time::Duration::from_secs(secs)),
        None => provider,
    };
    provider
        .env_prefix(ENV_PREFIX)
        .scopes([DEFAULT_SCOPES])
        .pkce(true)
        .client_auth(ClientAuthMethod::ClientSecretBasic)
        .nickname_field("email")
        .authorize_param("prompt", "consent")
}

/// The host: the tools of [`ProviderAccount`] and the provider [`oidc_provider`], one instance
/// shared by both.
pub fn host() -> GumstackHost<ProviderAccount> {
    let provider = Arc::new(oidc_provider());
    GumstackHost::new(config(), ProviderAccount::new(Arc::clone(&provider))).register_auth(provider)
}

/// The tools of the Provider Account server.
#[derive(Debug, Clone)]
pub struct ProviderAccount {
    /// The provider the host serves, whose userinfo URL the tool calls.
    provider: Arc<StandardOAuthProvider>,
}

impl ProviderAccount {
    pub fn new(provider: Arc<StandardOAuthProvider>) -> Self {
        Self { provider }
    }

    /// The userinfo of `access_token`, with the errors a tool reports.
    async fn userinfo(&self, access_token: &str) -> Result<Map<String, Value>, ProviderError> {
        self.provider.userinfo(access_token).await
    }
}

#[tool_router]
impl ProviderAccount {
    #[tool(
        description = "Show your account at the provider (its userinfo) and which access token was used"
    )]
    async fn provider_profile(
        &self,
        Parameters(AccountArgs { account }): Parameters<AccountArgs>,
    ) -> Result<String, GumstackError> {
        let account = account.as_deref();
        let (token, used) = access_token(account).await?;
        let (token, used, mut profile) = match self.userinfo(&token).await {
            // The provider no longer accepts the token: the platform refreshes it, once.
            Err(ProviderError::Rejected { status: 401, .. }) => {
                report_invalid_token(None, &token).await?;
                let (fresh, used) = access_token(account).await?;
                let profile = self.userinfo(&fresh).await.map_err(tool_error)?;
                (fresh, used, profile)
            }
            answer => (token, used, answer.map_err(tool_error)?),
        };
        profile.insert(
            "token_fingerprint".to_owned(),
            Value::String(fingerprint(&token)),
        );
        if let Some(used) = used {
            profile.insert("account".to_owned(), Value::String(used));
        }
        Ok(Value::Object(profile).to_string())
    }

    #[tool(
        description = "Show your name at the provider; needs the provider's `profile` scope, which you are asked to allow the first time"
    )]
    async fn provider_name(
        &self,
        Parameters(AccountArgs { account }): Parameters<AccountArgs>,
    ) -> Result<String, GumstackError> {
        // config.yaml declares that this tool needs `profile`: the platform asks a user
        // connected without it to connect again, allowing it, before handing out the token.
        let credentials = get_credentials_for_account(None, account.as_deref()).await?;
        let token = credentials.require("access_token")?;
        let profile = self.userinfo(token).await.map_err(tool_error)?;
        match profile.get("name").and_then(Value::as_str) {
            Some(name) => Ok(name.to_owned()),
            None => Err(GumstackError::Misconfigured {
                message: "the provider's userinfo has no name even with the profile scope".into(),
            }),
        }
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

#[tool_handler(name = "Provider Account")]
impl ServerHandler for ProviderAccount {}

/// The access token of the caller's account `account` (else their default one), fetched for
/// this call, and the account it is of.
async fn access_token(account: Option<&str>) -> Result<(String, Option<String>), GumstackError> {
    let credentials = get_credentials_for_account(None, account).await?;
    let token = credentials.require("access_token")?.to_owned();
    Ok((token, credentials.account().map(str::to_owned)))
}

/// What a failed userinfo call means for the user of the tool.
fn tool_error(error: ProviderError) -> GumstackError {
    match error {
        ProviderError::Transport { .. } => GumstackError::RetryLater {
            message: format!("The provider is unavailable: {error}."),
        },
        ProviderError::Rejected { status: 401, .. } => GumstackError::Misconfigured {
            message: format!(
                "the provider rejected the access token even after a refresh ({error})"
            ),
        },
        other => GumstackError::Misconfigured {
            message: other.to_string(),
        },
    }
}

/// The first `FINGERPRINT_CHARS` (12) hex characters of the SHA-256 of `token`: enough to tell
/// tokens apart, useless to call the provider with.
pub fn fingerprint(token: &str) -> String {
    let mut hex = hex::encode(Sha256::digest(token.as_bytes()));
    hex.truncate(FINGERPRINT_CHARS);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_yaml_is_valid() {
        let config = Config::parse(CONFIG_YAML).unwrap();
        assert_eq!(config.name, "Provider Account");
        assert_eq!(config.auth.kind.as_str(), "oauth");
        assert_eq!(config.auth.providers, [PROVIDER]);
        let tools: Vec<&str> = config.tools.iter().map(|tool| tool.name.as_str()).collect();
        assert_eq!(tools, ["provider_profile", "provider_name", "whoami"]);
        assert_eq!(config.tool_scopes("provider_name", PROVIDER), ["profile"]);
        assert!(config.tool_scopes("provider_profile", PROVIDER).is_empty());
    }

    #[test]
    fn the_fingerprint_is_twelve_hex_characters_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223…
        assert_eq!(fingerprint("abc"), "ba7816bf8f01");
    }

    #[test]
    fn the_provider_reads_the_oauth_variables() {
        let provider = oidc_provider();
        assert_eq!(provider.env_var("CLIENT_ID"), "OAUTH_CLIENT_ID");
        assert_eq!(provider.env_var("USERINFO_URL"), "OAUTH_USERINFO_URL");
    }
}
