//! The configured OAuth client: endpoints, client credentials, the token
//! and revocation HTTP clients, and the refresh exchange. Shared by the
//! [`OAuth2AuthDataGenerator`](crate::OAuth2AuthDataGenerator) and the
//! [`TokenSource`](crate::TokenSource)s it starts, so neither depends on the
//! other's file.

use std::time::{SystemTime, UNIX_EPOCH};

use dtp_core::{Error, OAuthTokens, Result};
use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RefreshToken,
    TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use tracing::{info, warn};

use crate::config::{ClientAuthMethod, OAuth2Config};
use crate::error::{AuthFailure, sanitize};
use crate::http::{Expect, OAuthHttp, token_error};

pub(crate) type Client =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The configured OAuth client, shared by the generator and its token
/// sources.
pub(crate) struct OAuthClient {
    pub(crate) config: OAuth2Config,
    pub(crate) client: Client,
    pub(crate) token_http: OAuthHttp,
    pub(crate) revoke_http: OAuthHttp,
}

impl OAuthClient {
    pub(crate) fn new(config: OAuth2Config) -> Result<Self> {
        config.validate()?;
        let bad = |what: &str| {
            AuthFailure::Config {
                reason: format!("{what} is not a valid URL"),
            }
            .into_error("oauth2_config")
        };
        let mut client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_auth_uri(
                AuthUrl::new(config.authorize_url.clone()).map_err(|_| bad("authorize_url"))?,
            )
            .set_token_uri(TokenUrl::new(config.token_url.clone()).map_err(|_| bad("token_url"))?);
        if let Some(secret) = &config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        client = client.set_auth_type(match config.client_auth {
            ClientAuthMethod::Basic => AuthType::BasicAuth,
            ClientAuthMethod::Post => AuthType::RequestBody,
        });
        Ok(OAuthClient {
            token_http: OAuthHttp::new(config.request_timeout, Expect::Json)?,
            revoke_http: OAuthHttp::new(config.request_timeout, Expect::StatusOnly)?,
            config,
            client,
        })
    }

    pub(crate) fn with_service(&self, e: Error) -> Error {
        e.with_service(self.config.service.clone())
    }

    /// Exchanges a refresh token. A response without a refresh token keeps
    /// the old one; a response with one rotates it.
    pub(crate) async fn refresh(&self, current: &OAuthTokens) -> Result<OAuthTokens> {
        let Some(refresh_token) = &current.refresh_token else {
            return Err(self.with_service(AuthFailure::NoRefreshToken.into_error("oauth2_refresh")));
        };
        let response = self
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.expose_secret().to_owned()))
            .request_async(&self.token_http)
            .await
            .map_err(|e| self.with_service(token_error(e, "oauth2_refresh")));
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                warn!(service = %self.config.service, error = %e, "token refresh failed");
                return Err(e);
            }
        };
        let rotated = response.refresh_token().is_some();
        let tokens = self.tokens_from(&response, Some(current), &current.scopes)?;
        info!(
            service = %self.config.service,
            rotated,
            expires_in = response.expires_in().map(|d| d.as_secs()),
            "access token refreshed"
        );
        Ok(tokens)
    }

    pub(crate) fn tokens_from(
        &self,
        response: &BasicTokenResponse,
        previous: Option<&OAuthTokens>,
        requested_scopes: &[String],
    ) -> Result<OAuthTokens> {
        let token_type = response.token_type().as_ref();
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(self.with_service(
                AuthFailure::UnsupportedTokenType {
                    token_type: sanitize(token_type, 32),
                }
                .into_error("oauth2_token"),
            ));
        }
        if response.access_token().secret().is_empty() {
            return Err(self.with_service(
                AuthFailure::MalformedResponse {
                    expected: "token response (empty access token)",
                }
                .into_error("oauth2_token"),
            ));
        }
        let mut tokens = OAuthTokens::new(response.access_token().secret().to_owned())
            .with_token_url(self.config.token_url.clone());
        if let Some(rt) = response.refresh_token() {
            tokens = tokens.with_refresh_token(rt.secret().to_owned());
        } else if let Some(prev) = previous.and_then(|p| p.refresh_token.clone()) {
            tokens.refresh_token = Some(prev);
        }
        if let Some(expires_in) = response.expires_in() {
            let secs = i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX);
            tokens = tokens.with_expires_at(now_unix().saturating_add(secs));
        }
        // RFC 6749 5.1: no `scope` in the response means "as requested".
        tokens = match response.scopes() {
            Some(scopes) => tokens.with_scopes(scopes.iter().map(|s| s.to_string())),
            None => tokens.with_scopes(requested_scopes.iter().cloned()),
        };
        Ok(tokens)
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
