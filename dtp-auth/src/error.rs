//! What exactly went wrong in an authorization, attached to every
//! [`dtp_core::Error`] this crate returns.
//!
//! The [`ErrorKind`] says what the driver must do (re-authorize, retry, stop);
//! the [`AuthFailure`] in the error's source says why, for logs, tests and user
//! messages. Neither ever contains a token, code, verifier, state or secret.

use dtp_core::{Error, ErrorKind, ErrorScope};

/// The precise reason behind an error from this crate.
///
/// Reach it with [`auth_failure`]:
///
/// ```
/// use dtp_auth::{auth_failure, AuthFailure};
/// use dtp_core::{Error, ErrorKind};
/// let err: Error = AuthFailure::StateMismatch.into_error("oauth2_complete");
/// assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
/// assert_eq!(auth_failure(&err), Some(&AuthFailure::StateMismatch));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The `state` on the redirect differs from the one the flow sent
    /// (a forged or stale redirect).
    #[error("the redirect's state does not match the state of this authorization")]
    StateMismatch,
    /// The redirect carried no `state`.
    #[error("the redirect carries no state")]
    MissingState,
    /// The redirect named another issuer than the configured one (RFC 9207;
    /// a mix-up attack or a misrouted redirect).
    #[error("the redirect names another issuer than expected")]
    IssuerMismatch,
    /// The provider is configured to name its issuer on redirects, but this
    /// redirect carries no `iss`.
    #[error("the redirect carries no issuer")]
    MissingIssuer,
    /// The token endpoint issued a token of a type other than `Bearer`.
    #[error("the token endpoint issued an unsupported token type `{token_type}`")]
    UnsupportedTokenType {
        /// The `token_type` it sent.
        token_type: String,
    },
    /// The redirect carried neither a code nor an error.
    #[error("the redirect carries no authorization code")]
    MissingCode,
    /// The authorization server answered the authorization request with an
    /// error (for example `access_denied` when the user refused).
    #[error("the authorization server answered `{error}`")]
    AuthorizationError {
        /// The OAuth `error` code from the redirect.
        error: String,
    },
    /// The pending authorization has no PKCE verifier, so the code cannot be
    /// exchanged (this crate always uses PKCE).
    #[error("the pending authorization has no PKCE code verifier")]
    MissingPkceVerifier,
    /// The token endpoint refused the request with an OAuth error response
    /// (`invalid_grant`, `invalid_client`, …).
    #[error("the token endpoint refused the request with `{error}` (HTTP {status}){}", description_suffix(.description))]
    TokenEndpoint {
        /// The OAuth `error` code.
        error: String,
        /// The server's `error_description`, if any (sanitized, shortened).
        description: Option<String>,
        /// The HTTP status.
        status: u16,
    },
    /// The credentials carry no refresh token, so they cannot be renewed.
    #[error("the credentials carry no refresh token")]
    NoRefreshToken,
    /// The credentials are not OAuth tokens and cannot be refreshed.
    #[error("{kind} credentials cannot be refreshed")]
    NotRefreshable {
        /// The kind of credentials (`"basic"`, `"api_key"`, …).
        kind: &'static str,
    },
    /// The endpoint's body is not the JSON it must be (broken JSON, missing
    /// fields, wrong types).
    #[error("the endpoint's response is not a valid {expected}")]
    MalformedResponse {
        /// What was expected, e.g. `"token response"`.
        expected: &'static str,
    },
    /// The endpoint answered with something other than JSON (e.g. an HTML
    /// error page).
    #[error("the endpoint answered with content type `{content_type}` instead of JSON")]
    NotJson {
        /// The `Content-Type` it sent.
        content_type: String,
    },
    /// The endpoint did not answer in time.
    #[error("the endpoint did not answer within the request timeout")]
    Timeout,
    /// The endpoint could not be reached.
    #[error("the endpoint could not be reached")]
    Unreachable,
    /// The endpoint answered with an HTTP status that carries no OAuth error
    /// (5xx, 429, …).
    #[error("the endpoint answered HTTP {status}")]
    HttpStatus {
        /// The HTTP status.
        status: u16,
    },
    /// The endpoint answered with a redirect. Token requests never follow
    /// redirects: they carry the client secret and the grant.
    #[error(
        "the endpoint answered with a redirect (HTTP {status}), which token requests never follow"
    )]
    Redirect {
        /// The HTTP status.
        status: u16,
    },
    /// Sealed credentials failed authentication: the blob was altered or was
    /// sealed with another key.
    #[error("the sealed credentials are damaged or were sealed with another key")]
    SealBroken,
    /// Sealed credentials in a format this version does not know.
    #[error("the sealed credentials use unknown format version {version}")]
    SealVersion {
        /// The version byte found.
        version: u8,
    },
    /// The loopback redirect did not arrive before the deadline.
    #[error("no authorization redirect arrived before the deadline")]
    RedirectTimeout,
    /// The provider configuration is unusable.
    #[error("invalid OAuth configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// No scopes are configured for the requested data type and mode.
    #[error("no scopes are configured for {data_type} {mode}")]
    NoScopes {
        /// The data type.
        data_type: &'static str,
        /// `"export"` or `"import"`.
        mode: &'static str,
    },
}

fn description_suffix(d: &Option<String>) -> String {
    match d {
        Some(d) => format!(": {d}"),
        None => String::new(),
    }
}

impl AuthFailure {
    /// The [`ErrorKind`] this failure maps to.
    ///
    /// | failure | kind |
    /// |---|---|
    /// | `StateMismatch`, `MissingState`, `IssuerMismatch`, `MissingIssuer`, `AuthorizationError` (`access_denied` and others) | `PermissionDenied` |
    /// | `AuthorizationError` with `temporarily_unavailable`/`server_error` | `Transient` |
    /// | `TokenEndpoint` with `invalid_grant` | `Reauthorize` |
    /// | `TokenEndpoint` with `invalid_client`, `unauthorized_client`, `invalid_scope`, `access_denied` | `PermissionDenied` |
    /// | `TokenEndpoint` with `temporarily_unavailable` or a 5xx status | `Transient` |
    /// | `TokenEndpoint` otherwise | `InvalidData` |
    /// | `NoRefreshToken`, `NotRefreshable` | `Reauthorize` |
    /// | `MissingCode`, `MissingPkceVerifier`, `UnsupportedTokenType`, `MalformedResponse`, `NotJson`, `Redirect`, `SealBroken`, `SealVersion` | `InvalidData` |
    /// | `Timeout`, `Unreachable`, `HttpStatus` 5xx/408 | `Transient` |
    /// | `HttpStatus` 429 | `RateLimited` |
    /// | `HttpStatus` otherwise | `InvalidData` |
    /// | `RedirectTimeout` | `Cancelled` |
    /// | `Config` | `Internal` |
    /// | `NoScopes` | `Unsupported` |
    pub fn kind(&self) -> ErrorKind {
        match self {
            AuthFailure::StateMismatch
            | AuthFailure::MissingState
            | AuthFailure::IssuerMismatch
            | AuthFailure::MissingIssuer => ErrorKind::PermissionDenied,
            AuthFailure::AuthorizationError { error } => match error.as_str() {
                "temporarily_unavailable" | "server_error" => ErrorKind::Transient,
                _ => ErrorKind::PermissionDenied,
            },
            AuthFailure::TokenEndpoint { error, status, .. } => match error.as_str() {
                "invalid_grant" => ErrorKind::Reauthorize,
                "invalid_client" | "unauthorized_client" | "invalid_scope" | "access_denied" => {
                    ErrorKind::PermissionDenied
                }
                "temporarily_unavailable" => ErrorKind::Transient,
                _ if *status >= 500 => ErrorKind::Transient,
                _ => ErrorKind::InvalidData,
            },
            AuthFailure::NoRefreshToken | AuthFailure::NotRefreshable { .. } => {
                ErrorKind::Reauthorize
            }
            AuthFailure::MissingCode
            | AuthFailure::MissingPkceVerifier
            | AuthFailure::UnsupportedTokenType { .. }
            | AuthFailure::MalformedResponse { .. }
            | AuthFailure::NotJson { .. }
            | AuthFailure::Redirect { .. }
            | AuthFailure::SealBroken
            | AuthFailure::SealVersion { .. } => ErrorKind::InvalidData,
            AuthFailure::Timeout | AuthFailure::Unreachable => ErrorKind::Transient,
            AuthFailure::HttpStatus { status } => match status {
                429 => ErrorKind::RateLimited { retry_after: None },
                408 | 500..=599 => ErrorKind::Transient,
                _ => ErrorKind::InvalidData,
            },
            AuthFailure::RedirectTimeout => ErrorKind::Cancelled,
            AuthFailure::Config { .. } => ErrorKind::Internal,
            AuthFailure::NoScopes { .. } => ErrorKind::Unsupported,
        }
    }

    /// Wraps this failure in a job-level [`Error`] of [`Self::kind`], with
    /// `operation` as its context.
    pub fn into_error(self, operation: &'static str) -> Error {
        let kind = self.kind();
        Error::new(kind, self.to_string())
            .with_scope(ErrorScope::Job)
            .with_operation(operation)
            .with_source(self)
    }
}

/// The [`AuthFailure`] behind an error returned by this crate, if any.
pub fn auth_failure(err: &Error) -> Option<&AuthFailure> {
    std::error::Error::source(err).and_then(|s| s.downcast_ref::<AuthFailure>())
}

/// Keeps a server-supplied string printable, single-line and short, so it is
/// safe to put into an error message.
pub(crate) fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_table() {
        let tok = |e: &str, status| AuthFailure::TokenEndpoint {
            error: e.into(),
            description: None,
            status,
        };
        assert_eq!(tok("invalid_grant", 400).kind(), ErrorKind::Reauthorize);
        assert_eq!(
            tok("invalid_client", 401).kind(),
            ErrorKind::PermissionDenied
        );
        assert_eq!(tok("invalid_request", 400).kind(), ErrorKind::InvalidData);
        assert_eq!(tok("weird", 503).kind(), ErrorKind::Transient);
        assert_eq!(
            AuthFailure::HttpStatus { status: 429 }.kind(),
            ErrorKind::RateLimited { retry_after: None }
        );
        assert_eq!(AuthFailure::Timeout.kind(), ErrorKind::Transient);
        let e = AuthFailure::SealBroken.into_error("open_auth");
        assert!(e.is_job_level());
        assert_eq!(auth_failure(&e), Some(&AuthFailure::SealBroken));
    }

    #[test]
    fn sanitize_strips_control_characters_and_shortens() {
        assert_eq!(sanitize("a\nb\u{7}c", 10), "abc");
        assert_eq!(sanitize("abcdef", 3), "abc…");
    }
}
