//! The OAuth 2.0 authorization code flow with PKCE: [`OAuth2AuthDataGenerator`].

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use dtp_core::auth::{AuthCallback, AuthFlow, AuthRequest, PendingAuth};
use dtp_core::{
    AuthData, AuthDataGenerator, AuthMode, AuthRefresher, DataType, Error, OAuthTokens, Result,
};
use oauth2::{
    AsyncHttpClient, AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope,
};
use secrecy::{ExposeSecret, SecretString};
use tracing::{debug, info, warn};

use crate::config::{ClientAuthMethod, OAuth2Config};
use crate::error::{AuthFailure, sanitize};
use crate::http::token_error;
use crate::oauth_client::{OAuthClient, constant_time_eq};
use crate::token_source::TokenSourceBuilder;

/// Bytes of randomness in `state` (encoded as 43 base64url characters).
const STATE_BYTES: u32 = 32;

/// An [`AuthDataGenerator`] for any OAuth 2.0 provider, driven by an
/// [`OAuth2Config`]: authorization code grant with a random `state` and PKCE
/// (S256), exact `state` check, code exchange, refresh and revocation.
///
/// ```no_run
/// # async fn demo() -> dtp_core::Result<()> {
/// use dtp_auth::{OAuth2AuthDataGenerator, OAuth2Config};
/// use dtp_core::auth::{AuthCallback, AuthRequest};
/// use dtp_core::{AuthDataGenerator, AuthMode, DataType};
///
/// let config = OAuth2Config::new("example", "https://id.example/authorize",
///         "https://id.example/token", "client-id")
///     .with_client_secret("secret")
///     .with_scopes(DataType::Calendar, AuthMode::Export, ["calendar.read", "offline_access"]);
/// let generator = OAuth2AuthDataGenerator::new(config)?;
/// let flow = generator
///     .begin(AuthRequest::new(DataType::Calendar, AuthMode::Export, "https://app.example/cb"))
///     .await?;
/// // Send the user to flow.authorization_url, keep flow.pending secret, and
/// // when the provider redirects back:
/// let callback = AuthCallback::new("code-from-redirect", "state-from-redirect");
/// let auth = generator.complete(flow.pending, callback).await?;
/// # let _ = auth; Ok(()) }
/// ```
#[derive(Clone)]
pub struct OAuth2AuthDataGenerator {
    inner: Arc<OAuthClient>,
}

impl std::fmt::Debug for OAuth2AuthDataGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2AuthDataGenerator")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl OAuth2AuthDataGenerator {
    /// A generator for the provider in `config` (validated first).
    pub fn new(config: OAuth2Config) -> Result<Self> {
        Ok(OAuth2AuthDataGenerator {
            inner: Arc::new(OAuthClient::new(config)?),
        })
    }

    /// The provider configuration.
    pub fn config(&self) -> &OAuth2Config {
        &self.inner.config
    }

    /// Exchanges the refresh token in `tokens` for new tokens. A rotated
    /// refresh token replaces the old one; otherwise the old one is kept.
    ///
    /// The request always goes to the configured token endpoint, never to
    /// the `token_url` recorded in `tokens` (stored data does not decide
    /// where a refresh token is sent).
    ///
    /// A refused refresh (`invalid_grant`: revoked, expired, rotated away)
    /// and missing refresh token are [`ErrorKind::Reauthorize`](dtp_core::ErrorKind::Reauthorize).
    /// Prefer a [`TokenSource`](crate::TokenSource), which refreshes once for
    /// many concurrent callers and persists what it gets.
    pub async fn refresh_tokens(&self, tokens: &OAuthTokens) -> Result<OAuthTokens> {
        self.inner.refresh(tokens).await
    }

    /// Revokes credentials at the provider (RFC 7009): the refresh token if
    /// there is one (which ends the whole grant at most providers), otherwise
    /// the access token. Needs a [`revocation_url`](OAuth2Config::revocation_url).
    pub async fn revoke(&self, auth: &AuthData) -> Result<()> {
        let AuthData::OAuth2(tokens) = auth else {
            return Err(AuthFailure::NotRefreshable {
                kind: auth.kind_name(),
            }
            .into_error("oauth2_revoke"));
        };
        match &tokens.refresh_token {
            Some(rt) => self.revoke_token(rt, "refresh_token").await,
            None => {
                self.revoke_token(&tokens.access_token, "access_token")
                    .await
            }
        }
    }

    /// Revokes only the access token in `tokens` (RFC 7009 with
    /// `token_type_hint=access_token`); the refresh token stays usable at
    /// providers that revoke per token.
    pub async fn revoke_access_token(&self, tokens: &OAuthTokens) -> Result<()> {
        self.revoke_token(&tokens.access_token, "access_token")
            .await
    }

    /// RFC 7009 revocation, done here rather than by `oauth2` (which refuses
    /// plain-http endpoints even on loopback).
    async fn revoke_token(&self, token: &SecretString, hint: &str) -> Result<()> {
        let config = &self.inner.config;
        let Some(url) = &config.revocation_url else {
            return Err(self.inner.with_service(
                Error::unsupported("the provider configuration has no revocation endpoint")
                    .with_operation("oauth2_revoke"),
            ));
        };
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", token.expose_secret())
            .append_pair("token_type_hint", hint);
        let mut request = oauth2::http::Request::builder()
            .method(oauth2::http::Method::POST)
            .uri(url.as_str())
            .header(
                oauth2::http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        match (config.client_auth, &config.client_secret) {
            (ClientAuthMethod::Basic, Some(secret)) => {
                // RFC 6749 2.3.1: form-encode id and secret, then Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let credentials = SecretString::from(format!(
                    "{}:{}",
                    enc(&config.client_id),
                    enc(secret.expose_secret())
                ));
                let header = SecretString::from(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(credentials.expose_secret().as_bytes())
                ));
                request =
                    request.header(oauth2::http::header::AUTHORIZATION, header.expose_secret());
            }
            (_, secret) => {
                form.append_pair("client_id", &config.client_id);
                if let Some(secret) = secret {
                    form.append_pair("client_secret", secret.expose_secret());
                }
            }
        }
        let body = SecretString::from(form.finish());
        let request = request
            .body(body.expose_secret().as_bytes().to_vec())
            .map_err(|_| {
                AuthFailure::Config {
                    reason: "revocation_url is not a valid URL".into(),
                }
                .into_error("oauth2_revoke")
            })?;
        self.inner
            .revoke_http
            .call(request)
            .await
            .map_err(|e| self.inner.with_service(e.into_error("oauth2_revoke")))?;
        info!(service = %config.service, hint, "token revoked");
        Ok(())
    }

    /// Starts a [`TokenSource`](crate::TokenSource) for `tokens`: the object
    /// adapters ask for a valid access token.
    pub fn token_source(&self, tokens: OAuthTokens) -> TokenSourceBuilder {
        TokenSourceBuilder::new(self.inner.clone(), tokens)
    }

    fn requested_scopes(&self, data_type: DataType, mode: AuthMode) -> Result<Vec<String>> {
        self.inner
            .config
            .scopes_for(data_type, mode)
            .ok_or_else(|| {
                self.inner.with_service(
                    AuthFailure::NoScopes {
                        data_type: data_type.as_str(),
                        mode: match mode {
                            AuthMode::Export => "export",
                            AuthMode::Import => "import",
                        },
                    }
                    .into_error("oauth2_begin"),
                )
            })
    }
}

#[async_trait]
impl AuthDataGenerator for OAuth2AuthDataGenerator {
    async fn begin(&self, request: AuthRequest) -> Result<AuthFlow> {
        let scopes = self.requested_scopes(request.data_type, request.mode)?;
        let redirect = RedirectUrl::new(request.redirect_uri.clone()).map_err(|_| {
            AuthFailure::Config {
                reason: "redirect_uri is not a valid URL".into(),
            }
            .into_error("oauth2_begin")
        })?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new_random_len(STATE_BYTES);
        let mut authorize = self
            .inner
            .client
            .authorize_url(|| state.clone())
            .add_scopes(scopes.into_iter().map(Scope::new))
            .set_pkce_challenge(challenge)
            .set_redirect_uri(Cow::Owned(redirect));
        for (name, value) in &self.inner.config.extra_authorize_params {
            authorize = authorize.add_extra_param(name.as_str(), value.as_str());
        }
        let (url, _) = authorize.url();
        info!(
            service = %self.inner.config.service,
            data_type = request.data_type.as_str(),
            mode = %request.mode,
            "authorization started"
        );
        Ok(AuthFlow::new(
            url.to_string(),
            PendingAuth::new(
                request,
                state.secret().to_owned(),
                Some(verifier.secret().to_owned()),
            ),
        ))
    }

    async fn complete(&self, pending: PendingAuth, callback: AuthCallback) -> Result<AuthData> {
        let fail = |f: AuthFailure| {
            warn!(service = %self.inner.config.service, failure = %f, "authorization rejected");
            Err(self.inner.with_service(f.into_error("oauth2_complete")))
        };
        let Some(state) = callback.state.as_deref() else {
            return fail(AuthFailure::MissingState);
        };
        if !constant_time_eq(state.as_bytes(), pending.state.expose_secret().as_bytes()) {
            return fail(AuthFailure::StateMismatch);
        }
        if let Some(expected) = &self.inner.config.issuer {
            match callback.iss.as_deref() {
                None => return fail(AuthFailure::MissingIssuer),
                Some(iss) if iss != expected => return fail(AuthFailure::IssuerMismatch),
                Some(_) => {}
            }
        }
        if let Some(error) = callback.error.as_deref() {
            return fail(AuthFailure::AuthorizationError {
                error: sanitize(error, 64),
            });
        }
        let Some(code) = callback.code.as_ref() else {
            return fail(AuthFailure::MissingCode);
        };
        let Some(verifier) = pending.pkce_verifier.as_ref() else {
            return fail(AuthFailure::MissingPkceVerifier);
        };
        let redirect = RedirectUrl::new(pending.request.redirect_uri.clone()).map_err(|_| {
            AuthFailure::Config {
                reason: "redirect_uri is not a valid URL".into(),
            }
            .into_error("oauth2_complete")
        })?;
        let requested = self.requested_scopes(pending.request.data_type, pending.request.mode)?;
        debug!(service = %self.inner.config.service, "exchanging authorization code");
        let response = self
            .inner
            .client
            .exchange_code(AuthorizationCode::new(code.expose_secret().to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
            .set_redirect_uri(Cow::Owned(redirect))
            .request_async(&self.inner.token_http)
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let e = self.inner.with_service(token_error(e, "oauth2_exchange"));
                warn!(service = %self.inner.config.service, error = %e, "code exchange failed");
                return Err(e);
            }
        };
        let tokens = self.inner.tokens_from(&response, None, &requested)?;
        info!(
            service = %self.inner.config.service,
            data_type = pending.request.data_type.as_str(),
            mode = %pending.request.mode,
            refresh_token = tokens.refresh_token.is_some(),
            scopes = tokens.scopes.len(),
            "authorization completed"
        );
        Ok(AuthData::OAuth2(tokens))
    }
}

#[async_trait]
impl AuthRefresher for OAuth2AuthDataGenerator {
    /// Refreshes OAuth credentials (stateless: prefer a
    /// [`TokenSource`](crate::TokenSource) in long-running jobs). Other kinds
    /// of credentials cannot be refreshed: [`ErrorKind::Reauthorize`](dtp_core::ErrorKind::Reauthorize).
    async fn refresh(&self, current: &AuthData) -> Result<AuthData> {
        match current {
            AuthData::OAuth2(tokens) => Ok(AuthData::OAuth2(self.inner.refresh(tokens).await?)),
            other => Err(AuthFailure::NotRefreshable {
                kind: other.kind_name(),
            }
            .into_error("oauth2_refresh")),
        }
    }
}
