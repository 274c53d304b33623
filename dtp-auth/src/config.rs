//! Provider configuration as data: endpoints, client credentials, scopes per
//! data type and mode, extra authorization parameters.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use dtp_core::{AuthMode, DataType, Result};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::error::AuthFailure;

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// HTTP Basic authentication (`client_secret_basic`, the RFC 6749 default).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
}

/// Scopes to request for one data type, per mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ModeScopes {
    /// Scopes for reading (export).
    #[serde(default)]
    pub export: Vec<String>,
    /// Scopes for writing (import).
    #[serde(default)]
    pub import: Vec<String>,
}

/// The configuration of one OAuth 2.0 provider (one client registration).
///
/// Build it in code, or deserialize it from JSON/TOML:
///
/// ```
/// use dtp_auth::OAuth2Config;
/// use dtp_core::{AuthMode, DataType};
///
/// let json = r#"{
///   "service": "microsoft",
///   "authorize_url": "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
///   "token_url": "https://login.microsoftonline.com/common/oauth2/v2.0/token",
///   "client_id": "my-app",
///   "client_secret": "from-the-vault",
///   "always_scopes": ["offline_access", "User.Read"],
///   "scopes": { "calendar": { "export": ["Calendars.Read"], "import": ["Calendars.ReadWrite"] } }
/// }"#;
/// let config: OAuth2Config = serde_json::from_str(json).unwrap();
/// assert_eq!(
///     config.scopes_for(DataType::Calendar, AuthMode::Import).unwrap(),
///     ["offline_access", "User.Read", "Calendars.ReadWrite"]
/// );
/// // The secret never shows in Debug.
/// assert!(!format!("{config:?}").contains("from-the-vault"));
///
/// // The same in code, for Google:
/// let google = OAuth2Config::new(
///     "google",
///     "https://accounts.google.com/o/oauth2/v2/auth",
///     "https://oauth2.googleapis.com/token",
///     "my-app.apps.googleusercontent.com",
/// )
/// .with_client_secret("from-the-vault")
/// .with_revocation_url("https://oauth2.googleapis.com/revoke")
/// .with_scopes(DataType::Tasks, AuthMode::Export, ["https://www.googleapis.com/auth/tasks.readonly"])
/// .with_authorize_param("access_type", "offline")
/// .with_authorize_param("prompt", "consent");
/// assert!(google.validate().is_ok());
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct OAuth2Config {
    /// A short name of the provider, used in errors and logs (`"google"`).
    pub service: String,
    /// The authorization endpoint.
    pub authorize_url: String,
    /// The token endpoint (code exchange and refresh).
    pub token_url: String,
    /// The revocation endpoint (RFC 7009), if the provider has one.
    #[serde(default)]
    pub revocation_url: Option<String>,
    /// The authorization server's issuer identifier. When set, every
    /// redirect must name it in its `iss` parameter (RFC 9207, against
    /// mix-up attacks); set it for providers that advertise
    /// `authorization_response_iss_parameter_supported`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The client secret; `None` for a public client.
    #[serde(default, deserialize_with = "de_opt_secret")]
    pub client_secret: Option<SecretString>,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub client_auth: ClientAuthMethod,
    /// Scopes requested for every data type and mode (e.g. `offline_access`).
    #[serde(default)]
    pub always_scopes: Vec<String>,
    /// Scopes per data type and mode. A data type missing here is not
    /// supported by this provider.
    #[serde(default)]
    pub scopes: BTreeMap<DataType, ModeScopes>,
    /// Extra parameters of the authorization request, such as
    /// `access_type=offline` and `prompt=consent` for Google.
    #[serde(default)]
    pub extra_authorize_params: Vec<(String, String)>,
    /// Timeout of each token endpoint request.
    #[serde(default = "default_timeout", with = "secs")]
    pub request_timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        if !secs.is_finite() || secs <= 0.0 || secs > 3600.0 {
            return Err(serde::de::Error::custom(
                "request_timeout must be between 0 and 3600 seconds",
            ));
        }
        Ok(Duration::from_secs_f64(secs))
    }
}

fn de_opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Option::<String>::deserialize(d).map(|o| o.map(SecretString::from))
}

impl fmt::Debug for OAuth2Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Config")
            .field("service", &self.service)
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("revocation_url", &self.revocation_url)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("client_auth", &self.client_auth)
            .field("always_scopes", &self.always_scopes)
            .field("scopes", &self.scopes)
            .field("extra_authorize_params", &self.extra_authorize_params)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl OAuth2Config {
    /// A configuration with endpoints and client id; add the rest with the
    /// `with_*` methods.
    pub fn new(
        service: impl Into<String>,
        authorize_url: impl Into<String>,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Self {
        OAuth2Config {
            service: service.into(),
            authorize_url: authorize_url.into(),
            token_url: token_url.into(),
            revocation_url: None,
            issuer: None,
            client_id: client_id.into(),
            client_secret: None,
            client_auth: ClientAuthMethod::default(),
            always_scopes: Vec::new(),
            scopes: BTreeMap::new(),
            extra_authorize_params: Vec::new(),
            request_timeout: default_timeout(),
        }
    }

    /// Sets the client secret.
    pub fn with_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// Sets the revocation endpoint.
    pub fn with_revocation_url(mut self, url: impl Into<String>) -> Self {
        self.revocation_url = Some(url.into());
        self
    }

    /// Requires redirects to name `issuer` (RFC 9207 `iss`).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets how the client authenticates at the token endpoint.
    pub fn with_client_auth(mut self, method: ClientAuthMethod) -> Self {
        self.client_auth = method;
        self
    }

    /// Adds scopes requested for every data type and mode.
    pub fn with_always_scopes(
        mut self,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.always_scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Adds scopes for `data_type` in `mode` (and so declares the data type
    /// supported).
    pub fn with_scopes(
        mut self,
        data_type: DataType,
        mode: AuthMode,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let entry = self.scopes.entry(data_type).or_default();
        let list = match mode {
            AuthMode::Export => &mut entry.export,
            AuthMode::Import => &mut entry.import,
        };
        list.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Adds an extra authorization request parameter.
    pub fn with_authorize_param(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.extra_authorize_params
            .push((name.into(), value.into()));
        self
    }

    /// Sets the timeout of each token endpoint request.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The scopes to request for `data_type` in `mode`: the
    /// [`always_scopes`](Self::always_scopes) followed by the data type's,
    /// without duplicates. `None` when the data type is not configured.
    pub fn scopes_for(&self, data_type: DataType, mode: AuthMode) -> Option<Vec<String>> {
        let entry = self.scopes.get(&data_type)?;
        let specific = match mode {
            AuthMode::Export => &entry.export,
            AuthMode::Import => &entry.import,
        };
        let mut out: Vec<String> = Vec::new();
        for s in self.always_scopes.iter().chain(specific) {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        Some(out)
    }

    /// Checks the configuration: the endpoints must be absolute `https` URLs
    /// (plain `http` only on a loopback address), the client id non-empty,
    /// and the extra parameters must not override what the flow sets itself.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(AuthFailure::Config { reason }.into_error("oauth2_config"));
        if self.client_id.is_empty() {
            return bad("client_id is empty".into());
        }
        check_endpoint("authorize_url", &self.authorize_url)?;
        check_endpoint("token_url", &self.token_url)?;
        if let Some(u) = &self.revocation_url {
            check_endpoint("revocation_url", u)?;
        }
        const RESERVED: [&str; 8] = [
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
            "client_secret",
        ];
        for (name, _) in &self.extra_authorize_params {
            if RESERVED.contains(&name.as_str()) {
                return bad(format!(
                    "extra authorize parameter `{name}` is set by the flow itself"
                ));
            }
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout is zero".into());
        }
        Ok(())
    }
}

/// Whether `url` is an `https` URL, or an `http` URL on a loopback host.
pub(crate) fn check_endpoint(name: &str, url: &str) -> Result<Url> {
    let bad = |reason: String| AuthFailure::Config { reason }.into_error("oauth2_config");
    let parsed = Url::parse(url).map_err(|_| bad(format!("{name} is not an absolute URL")))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(bad(format!(
            "{name} uses plain http on a non-loopback host; use https"
        ))),
        other => Err(bad(format!("{name} has unsupported scheme `{other}`"))),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth_failure;

    fn base() -> OAuth2Config {
        OAuth2Config::new(
            "x",
            "https://auth.example/authorize",
            "https://auth.example/token",
            "id",
        )
    }

    #[test]
    fn scopes_merge_always_and_specific_without_duplicates() {
        let c = base()
            .with_always_scopes(["offline_access", "openid"])
            .with_scopes(DataType::Mail, AuthMode::Export, ["mail.read", "openid"]);
        assert_eq!(
            c.scopes_for(DataType::Mail, AuthMode::Export).unwrap(),
            ["offline_access", "openid", "mail.read"]
        );
        assert_eq!(
            c.scopes_for(DataType::Mail, AuthMode::Import).unwrap(),
            ["offline_access", "openid"]
        );
        assert!(c.scopes_for(DataType::Media, AuthMode::Export).is_none());
    }

    #[test]
    fn validate_rejects_plain_http_off_loopback_and_reserved_params() {
        assert!(base().validate().is_ok());
        let mut c = base();
        c.token_url = "http://auth.example/token".into();
        let err = c.validate().unwrap_err();
        assert!(matches!(
            auth_failure(&err),
            Some(AuthFailure::Config { .. })
        ));
        let mut c = base();
        c.token_url = "http://127.0.0.1:8080/token".into();
        assert!(c.validate().is_ok());
        let c = base().with_authorize_param("state", "fixed");
        assert!(c.validate().is_err());
        let mut c = base();
        c.authorize_url = "not a url".into();
        assert!(c.validate().is_err());
        let mut c = base();
        c.client_id.clear();
        assert!(c.validate().is_err());
    }

    #[test]
    fn deserializes_timeouts_in_seconds() {
        let c: OAuth2Config = serde_json::from_str(
            r#"{"service":"s","authorize_url":"https://a/","token_url":"https://a/t","client_id":"c","request_timeout":2.5}"#,
        )
        .unwrap();
        assert_eq!(c.request_timeout, Duration::from_millis(2500));
        assert!(c.client_secret.is_none());
        let bad = serde_json::from_str::<OAuth2Config>(
            r#"{"service":"s","authorize_url":"https://a/","token_url":"https://a/t","client_id":"c","request_timeout":-1}"#,
        );
        assert!(bad.is_err());
    }
}
