//! The HTTP half of [`StandardOAuthProvider`]: each call to the provider's authorization,
//! token, userinfo and revocation endpoints, with the client's authentication, the timeout and
//! the secrets each answer must be scrubbed of ([`reply`](super::reply) reads the answers).

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::header::{self, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use url::form_urlencoded;

use super::{
    ClientAuthMethod, StandardOAuthProvider, pkce_challenge,
    reply::{Endpoint, Reply, transport_failure},
    settings::Settings,
};
use crate::auth::{ProviderError, TokenResponse};

impl StandardOAuthProvider {
    /// RFC 7009: revokes `token` (of `hint` type) at the revocation endpoint, if there is one.
    pub(super) async fn revoke_token(
        &self,
        token: &str,
        hint: &str,
    ) -> Result<bool, ProviderError> {
        let settings = self.settings()?;
        let Some(url) = settings.revocation_url.clone() else {
            return Ok(false);
        };
        let token = SecretString::from(token);
        let form = [("token", token.expose_secret()), ("token_type_hint", hint)];
        let request = self.client_post(&settings, url, &form)?;
        let mut secrets = vec![&token];
        secrets.extend(settings.client_secret.as_ref());
        self.send(request, Endpoint::Revocation)
            .await?
            .revoked(&secrets)
    }

    pub(super) async fn fetch_userinfo(
        &self,
        url: url::Url,
        access_token: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        let request = self
            .http()?
            .get(url)
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, bearer(access_token)?);
        let secret = SecretString::from(access_token.to_owned());
        self.send(request, Endpoint::Userinfo)
            .await?
            .userinfo(&[&secret])
    }

    pub(super) fn settings(&self) -> Result<Settings, ProviderError> {
        Settings::resolve(
            &self.name,
            &self.names,
            &self.defaults,
            self.client_auth,
            &self.vars,
        )
    }

    fn http(&self) -> Result<&reqwest::Client, ProviderError> {
        let client = self.http.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("gumstack/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|error| error.to_string())
        });
        client.as_ref().map_err(|error| {
            ProviderError::transport(format!("cannot build the HTTP client: {error}"))
        })
    }

    /// The authorization URL, with a PKCE challenge when PKCE is on and a verifier is given.
    pub(super) fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        code_verifier: Option<&str>,
    ) -> Result<String, ProviderError> {
        let settings = self.settings()?;
        let mut url = settings.authorize_url;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &settings.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", state);
            if !settings.scopes.is_empty() {
                query.append_pair("scope", &settings.scopes.join(" "));
            }
            if let Some(verifier) = code_verifier.filter(|_| self.pkce) {
                query
                    .append_pair("code_challenge", &pkce_challenge(verifier))
                    .append_pair("code_challenge_method", "S256");
            }
            for (name, value) in &self.authorize_params {
                query.append_pair(name, value);
            }
        }
        Ok(url.into())
    }

    /// Exchanges a code, with the verifier when PKCE is on.
    pub(super) async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenResponse, ProviderError> {
        let code = SecretString::from(code);
        let verifier = code_verifier.filter(|_| self.pkce).map(SecretString::from);
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(verifier) = &verifier {
            form.push(("code_verifier", verifier.expose_secret()));
        }
        let mut secrets = vec![&code];
        secrets.extend(verifier.as_ref());
        self.token_call(&form, &secrets).await
    }

    /// A POST of `form` to the token endpoint with the client's authentication.
    pub(super) async fn token_call(
        &self,
        form: &[(&str, &str)],
        secrets: &[&SecretString],
    ) -> Result<TokenResponse, ProviderError> {
        let settings = self.settings()?;
        let request = self.client_post(&settings, settings.token_url.clone(), form)?;
        let mut secrets = secrets.to_vec();
        secrets.extend(settings.client_secret.as_ref());
        self.send(request, Endpoint::Token).await?.tokens(&secrets)
    }

    /// A form POST to `url`, authenticated as the server's client.
    fn client_post(
        &self,
        settings: &Settings,
        url: url::Url,
        form: &[(&str, &str)],
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let mut body = form_urlencoded::Serializer::new(String::new());
        body.extend_pairs(form);
        let mut request = self
            .http()?
            .post(url)
            .header(header::ACCEPT, "application/json")
            .header(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=UTF-8",
            );
        match (self.client_auth, &settings.client_secret) {
            (ClientAuthMethod::ClientSecretBasic, Some(secret)) => {
                request = request.header(
                    header::AUTHORIZATION,
                    basic_credentials(&settings.client_id, secret)?,
                );
            }
            (ClientAuthMethod::ClientSecretPost, Some(secret)) => {
                body.append_pair("client_id", &settings.client_id)
                    .append_pair("client_secret", secret.expose_secret());
            }
            _ => {
                body.append_pair("client_id", &settings.client_id);
            }
        }
        Ok(request.body(body.finish()))
    }

    /// Sends `request` with the timeout and reads the answer.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: Endpoint,
    ) -> Result<Reply, ProviderError> {
        let response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|error| transport_failure(&error, endpoint, self.timeout))?;
        Reply::read(response, endpoint, self.timeout).await
    }
}

/// `Basic base64(form-encoded id ":" form-encoded secret)` (RFC 6749 §2.3.1), marked sensitive.
fn basic_credentials(client_id: &str, secret: &SecretString) -> Result<HeaderValue, ProviderError> {
    let encode =
        |value: &str| form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    let credentials = SecretString::from(format!(
        "{}:{}",
        encode(client_id),
        encode(secret.expose_secret())
    ));
    let mut value = HeaderValue::from_str(&format!(
        "Basic {}",
        STANDARD.encode(credentials.expose_secret())
    ))
    .map_err(|_| {
        ProviderError::not_configured("the client credentials cannot be sent", Vec::new())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `Bearer <access token>`, marked sensitive.
fn bearer(access_token: &str) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {access_token}")).map_err(|_| {
        ProviderError::invalid_response("the access token cannot be sent: it is not header text")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        let value = basic_credentials("id:1", &SecretString::from("s e/cret")).unwrap();
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "id%3A1:s+e%2Fcret");
        assert!(value.is_sensitive());
    }
}
