//! Credentials as the SPI sees them, and the seams the auth crate fills in:
//! generating auth data ([`AuthDataGenerator`]), refreshing it
//! ([`AuthRefresher`]) and sealing it for storage ([`AuthSealer`]).
//!
//! Every secret is a [`SecretString`]: `Debug` prints `[REDACTED]`, and
//! nothing here implements `Display` for a secret.

use std::fmt;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{DataType, Result};

/// Credentials for one side of a transfer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthData {
    /// No credentials (local folders, in-memory services).
    None,
    /// OAuth 2.0 tokens.
    #[serde(rename = "oauth2")]
    OAuth2(OAuthTokens),
    /// A user name and a password or app password (IMAP, DAV).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
        password: SecretString,
    },
    /// A static bearer token or API key.
    ApiKey {
        /// The key.
        #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
        key: SecretString,
    },
}

/// OAuth 2.0 tokens with what is needed to refresh them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OAuthTokens {
    /// The access token.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub access_token: SecretString,
    /// The refresh token, if one was granted.
    #[serde(
        default,
        serialize_with = "ser_opt_secret",
        deserialize_with = "de_opt_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_token: Option<SecretString>,
    /// When the access token expires, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The scopes actually granted (may be fewer than requested).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The token endpoint that refreshes these tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
}

impl OAuthTokens {
    /// Tokens with only an access token.
    pub fn new(access_token: impl Into<String>) -> Self {
        OAuthTokens {
            access_token: SecretString::from(access_token.into()),
            refresh_token: None,
            expires_at: None,
            scopes: Vec::new(),
            token_url: None,
        }
    }

    /// Sets the refresh token.
    pub fn with_refresh_token(mut self, refresh_token: impl Into<String>) -> Self {
        self.refresh_token = Some(SecretString::from(refresh_token.into()));
        self
    }

    /// Sets the expiry (seconds since the Unix epoch).
    pub fn with_expires_at(mut self, expires_at: i64) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets the granted scopes.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the token endpoint.
    pub fn with_token_url(mut self, token_url: impl Into<String>) -> Self {
        self.token_url = Some(token_url.into());
        self
    }
}

impl AuthData {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        AuthData::Basic {
            username: username.into(),
            password: SecretString::from(password.into()),
        }
    }

    /// A static bearer token or API key.
    pub fn api_key(key: impl Into<String>) -> Self {
        AuthData::ApiKey {
            key: SecretString::from(key.into()),
        }
    }

    /// The kind's name, safe to log.
    pub fn kind_name(&self) -> &'static str {
        match self {
            AuthData::None => "none",
            AuthData::OAuth2(_) => "oauth2",
            AuthData::Basic { .. } => "basic",
            AuthData::ApiKey { .. } => "api_key",
        }
    }

    /// The bearer token to send, for OAuth and API-key credentials.
    pub fn bearer_token(&self) -> Option<&str> {
        match self {
            AuthData::OAuth2(t) => Some(t.access_token.expose_secret()),
            AuthData::ApiKey { key } => Some(key.expose_secret()),
            _ => None,
        }
    }
}

/// A one-line description without secrets, safe for logs and messages:
/// the kind, the user name of basic credentials, the expiry and scopes of
/// OAuth tokens.
impl fmt::Display for AuthData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthData::None => f.write_str("no credentials"),
            AuthData::OAuth2(tokens) => fmt::Display::fmt(tokens, f),
            AuthData::Basic { username, .. } => write!(f, "password credentials of {username}"),
            AuthData::ApiKey { .. } => f.write_str("API key"),
        }
    }
}

/// A one-line description without secrets: whether a refresh token is
/// present, the expiry and the granted scopes.
impl fmt::Display for OAuthTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OAuth 2.0 tokens ({} refresh token",
            if self.refresh_token.is_some() {
                "with"
            } else {
                "without"
            }
        )?;
        if let Some(exp) = self.expires_at {
            write!(f, ", expiring at {exp}")?;
        }
        if !self.scopes.is_empty() {
            write!(f, ", scopes: {}", self.scopes.join(" "))?;
        }
        f.write_str(")")
    }
}

fn ser_secret<S: Serializer>(secret: &SecretString, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

fn de_secret<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::from)
}

fn ser_opt_secret<S: Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match secret {
        Some(v) => s.serialize_some(v.expose_secret()),
        None => s.serialize_none(),
    }
}

fn de_opt_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<SecretString>, D::Error> {
    Option::<String>::deserialize(d).map(|o| o.map(SecretString::from))
}

/// Which side of a transfer credentials are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Reading from the source.
    Export,
    /// Writing to the destination.
    Import,
}

impl AuthMode {
    /// The stable lowercase name (`"export"`, `"import"`), as stores keep it.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Export => "export",
            AuthMode::Import => "import",
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to authorize: one data type, one mode, one redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthRequest {
    /// The data type the credentials must cover.
    pub data_type: DataType,
    /// Export or import.
    pub mode: AuthMode,
    /// Where the provider redirects the user back to.
    pub redirect_uri: String,
}

impl AuthRequest {
    /// A request for `data_type` in `mode`, redirecting to `redirect_uri`.
    pub fn new(data_type: DataType, mode: AuthMode, redirect_uri: impl Into<String>) -> Self {
        AuthRequest {
            data_type,
            mode,
            redirect_uri: redirect_uri.into(),
        }
    }
}

/// The start of an authorization: the URL to send the user to, and the
/// per-flow secrets (state, PKCE verifier) to keep until the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthFlow {
    /// Where to send the user.
    pub authorization_url: String,
    /// Kept by the caller (securely) until the callback arrives.
    pub pending: PendingAuth,
}

impl AuthFlow {
    /// A flow with its URL and pending secrets.
    pub fn new(authorization_url: impl Into<String>, pending: PendingAuth) -> Self {
        AuthFlow {
            authorization_url: authorization_url.into(),
            pending,
        }
    }
}

/// Per-flow secrets of an authorization in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingAuth {
    /// What is being authorized.
    pub request: AuthRequest,
    /// The random `state` sent to the provider.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub state: SecretString,
    /// The PKCE code verifier, when PKCE is used.
    #[serde(
        default,
        serialize_with = "ser_opt_secret",
        deserialize_with = "de_opt_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub pkce_verifier: Option<SecretString>,
}

impl PendingAuth {
    /// Pending secrets for `request`.
    pub fn new(
        request: AuthRequest,
        state: impl Into<String>,
        pkce_verifier: Option<String>,
    ) -> Self {
        PendingAuth {
            request,
            state: SecretString::from(state.into()),
            pkce_verifier: pkce_verifier.map(SecretString::from),
        }
    }
}

/// What came back on the redirect URI.
///
/// `Debug` redacts the code and the echoed `state` (it equals the flow's
/// secret `state`).
#[derive(Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthCallback {
    /// The authorization code.
    #[serde(
        default,
        serialize_with = "ser_opt_secret",
        deserialize_with = "de_opt_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<SecretString>,
    /// The `state` the provider echoed.
    #[serde(default)]
    pub state: Option<String>,
    /// The provider's `error`, if the user refused or something failed.
    #[serde(default)]
    pub error: Option<String>,
    /// The provider's `error_description`.
    #[serde(default)]
    pub error_description: Option<String>,
    /// The issuer the provider named on the redirect (RFC 9207 `iss`), if
    /// any; checked against the expected issuer to stop mix-up attacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

impl fmt::Debug for AuthCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCallback")
            .field("code", &self.code.as_ref().map(|_| "[REDACTED]"))
            .field("state", &self.state.as_ref().map(|_| "[REDACTED]"))
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .field("iss", &self.iss)
            .finish()
    }
}

impl AuthCallback {
    /// A successful callback.
    pub fn new(code: impl Into<String>, state: impl Into<String>) -> Self {
        AuthCallback {
            code: Some(SecretString::from(code.into())),
            state: Some(state.into()),
            error: None,
            error_description: None,
            iss: None,
        }
    }

    /// Sets the issuer named on the redirect (RFC 9207 `iss`).
    pub fn with_iss(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }
}

/// Produces credentials for a service: starts an authorization (e.g. builds an
/// OAuth authorization URL) and completes it from the callback.
#[async_trait]
pub trait AuthDataGenerator: Send + Sync {
    /// Starts an authorization.
    async fn begin(&self, request: AuthRequest) -> Result<AuthFlow>;
    /// Completes it: checks the callback against the pending secrets and
    /// exchanges what came back for credentials.
    async fn complete(&self, pending: PendingAuth, callback: AuthCallback) -> Result<AuthData>;
}

/// Renews credentials when a service answers
/// [`ErrorKind::Unauthenticated`](crate::ErrorKind::Unauthenticated).
#[async_trait]
pub trait AuthRefresher: Send + Sync {
    /// Returns fresh credentials, or an error of kind
    /// [`Reauthorize`](crate::ErrorKind::Reauthorize) when the user must
    /// authorize again.
    async fn refresh(&self, current: &AuthData) -> Result<AuthData>;
}

/// Opaque, sealed (encrypted) credentials as a job store keeps them.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedAuth(pub Vec<u8>);

impl fmt::Debug for SealedAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedAuth({} bytes)", self.0.len())
    }
}

/// Seals credentials before they reach a job store, and opens them again.
/// Job stores only ever see [`SealedAuth`].
pub trait AuthSealer: Send + Sync {
    /// Encrypts and authenticates `auth`.
    fn seal(&self, auth: &AuthData) -> Result<SealedAuth>;
    /// Decrypts `sealed`; a tampered blob or a wrong key is an error.
    fn open(&self, sealed: &SealedAuth) -> Result<AuthData>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let tokens = OAuthTokens::new("at-SECRET-1").with_refresh_token("rt-SECRET-2");
        let all = [
            AuthData::OAuth2(tokens),
            AuthData::basic("alice", "pw-SECRET-3"),
            AuthData::api_key("key-SECRET-4"),
        ];
        for a in &all {
            let shown = format!("{a:?} {a:#?}");
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        let pending = PendingAuth::new(
            AuthRequest::new(DataType::Mail, AuthMode::Export, "http://127.0.0.1/cb"),
            "state-SECRET-5",
            Some("verifier-SECRET-6".into()),
        );
        assert!(!format!("{pending:?}").contains("SECRET"));
        let cb = AuthCallback::new("code-SECRET-7", "state-SECRET-8");
        assert!(!format!("{cb:?}").contains("SECRET"));
        let all = [
            AuthData::OAuth2(OAuthTokens::new("at-SECRET-1").with_refresh_token("rt-SECRET-2")),
            AuthData::basic("alice", "pw-SECRET-3"),
            AuthData::api_key("key-SECRET-4"),
            AuthData::None,
        ];
        for a in &all {
            assert!(!a.to_string().contains("SECRET"), "{a}");
        }
        assert_eq!(all[1].to_string(), "password credentials of alice");
    }

    #[test]
    fn serde_keeps_secrets_for_sealing() {
        let a = AuthData::OAuth2(
            OAuthTokens::new("at")
                .with_refresh_token("rt")
                .with_expires_at(42),
        );
        let json = serde_json::to_string(&a).unwrap();
        let back: AuthData = serde_json::from_str(&json).unwrap();
        match back {
            AuthData::OAuth2(t) => {
                assert_eq!(t.access_token.expose_secret(), "at");
                assert_eq!(t.refresh_token.unwrap().expose_secret(), "rt");
                assert_eq!(t.expires_at, Some(42));
            }
            other => panic!("wrong kind {other:?}"),
        }
    }
}
