//! The `oauth2` crate's async HTTP client trait over the workspace's single
//! `reqwest`, with redirects disabled and every response classified before
//! `oauth2` parses it, so that each failure becomes a precise [`AuthFailure`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use dtp_core::{Error, ErrorKind, ErrorScope};
use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse, http};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde::Deserialize;

use crate::error::{AuthFailure, sanitize};

/// Largest response body read from an endpoint.
const MAX_BODY: usize = 1 << 20;

/// A failure below the OAuth layer. Its `Display` never contains a body,
/// header value or secret.
#[derive(Debug, thiserror::Error)]
#[error("{failure}")]
pub(crate) struct HttpError {
    pub(crate) failure: AuthFailure,
    pub(crate) retry_after: Option<Duration>,
}

impl HttpError {
    fn new(failure: AuthFailure) -> Self {
        HttpError {
            failure,
            retry_after: None,
        }
    }

    pub(crate) fn into_error(self, operation: &'static str) -> Error {
        match (&self.failure, self.retry_after) {
            (AuthFailure::HttpStatus { status: 429 }, retry_after) => Error::new(
                ErrorKind::RateLimited { retry_after },
                self.failure.to_string(),
            )
            .with_scope(ErrorScope::Job)
            .with_operation(operation)
            .with_source(self.failure),
            _ => self.failure.into_error(operation),
        }
    }
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// What the response of an endpoint must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A JSON body (token endpoint).
    Json,
    /// Only a success status (revocation endpoint, RFC 7009).
    StatusOnly,
}

/// The HTTP client handed to `oauth2`.
#[derive(Debug, Clone)]
pub(crate) struct OAuthHttp {
    client: reqwest::Client,
    expect: Expect,
}

impl OAuthHttp {
    /// A client that never follows redirects and gives up after `timeout`.
    pub(crate) fn new(timeout: Duration, expect: Expect) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("dtp-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| {
                AuthFailure::Config {
                    reason: "the HTTP client could not be built".into(),
                }
                .into_error("oauth2_http")
            })?;
        Ok(OAuthHttp { client, expect })
    }

    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let request: reqwest::Request = request.try_into().map_err(|_| {
            HttpError::new(AuthFailure::Config {
                reason: "the token request could not be built".into(),
            })
        })?;
        let mut response = self.client.execute(request).await.map_err(classify)?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| sanitize(v, 80));
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(HttpError::new(AuthFailure::MalformedResponse {
                    expected: "response of at most 1 MiB",
                }));
            }
            body.extend_from_slice(&chunk);
        }
        let is_json = content_type.as_deref().is_some_and(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("application/json") || ct.contains("+json")
        });

        if status.is_redirection() {
            return Err(HttpError::new(AuthFailure::Redirect {
                status: status.as_u16(),
            }));
        }
        if !status.is_success() {
            // An OAuth error response (RFC 6749 5.2), whatever the status.
            if let Ok(e) = serde_json::from_slice::<OAuthErrorBody>(&body) {
                return Err(HttpError::new(AuthFailure::TokenEndpoint {
                    error: sanitize(&e.error, 64),
                    description: e.error_description.as_deref().map(|d| sanitize(d, 200)),
                    status: status.as_u16(),
                }));
            }
            let code = status.as_u16();
            if code == 429 || code == 408 || status.is_server_error() {
                return Err(HttpError {
                    failure: AuthFailure::HttpStatus { status: code },
                    retry_after,
                });
            }
            if !is_json && !body.is_empty() {
                return Err(HttpError::new(AuthFailure::NotJson {
                    content_type: content_type.unwrap_or_else(|| "none".into()),
                }));
            }
            return Err(HttpError::new(AuthFailure::HttpStatus { status: code }));
        }
        if self.expect == Expect::Json {
            if !is_json {
                return Err(HttpError::new(AuthFailure::NotJson {
                    content_type: content_type.unwrap_or_else(|| "none".into()),
                }));
            }
            if body.is_empty() {
                return Err(HttpError::new(AuthFailure::MalformedResponse {
                    expected: "token response",
                }));
            }
        }
        // `oauth2` only accepts exactly 200.
        let mut builder = http::Response::builder().status(if self.expect == Expect::Json {
            http::StatusCode::OK
        } else {
            status
        });
        if let Some(ct) = content_type {
            builder = builder.header(http::header::CONTENT_TYPE, ct);
        }
        builder.body(body).map_err(|_| {
            HttpError::new(AuthFailure::MalformedResponse {
                expected: "HTTP response",
            })
        })
    }
}

fn classify(e: reqwest::Error) -> HttpError {
    if e.is_timeout() {
        HttpError::new(AuthFailure::Timeout)
    } else if e.is_redirect() {
        HttpError::new(AuthFailure::Redirect { status: 300 })
    } else if e.is_decode() || e.is_body() {
        HttpError::new(AuthFailure::MalformedResponse {
            expected: "HTTP response body",
        })
    } else {
        HttpError::new(AuthFailure::Unreachable)
    }
}

impl<'c> AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

/// Turns an `oauth2` request error into a typed [`Error`]; never includes a
/// response body (it may hold tokens).
pub(crate) fn token_error<TE>(
    e: oauth2::RequestTokenError<HttpError, TE>,
    operation: &'static str,
) -> Error
where
    TE: oauth2::ErrorResponse + 'static,
{
    match e {
        oauth2::RequestTokenError::Request(h) => h.into_error(operation),
        oauth2::RequestTokenError::ServerResponse(_) => AuthFailure::TokenEndpoint {
            error: "unknown".into(),
            description: None,
            status: 400,
        }
        .into_error(operation),
        oauth2::RequestTokenError::Parse(_, _) => AuthFailure::MalformedResponse {
            expected: "token response",
        }
        .into_error(operation),
        oauth2::RequestTokenError::Other(_) => AuthFailure::MalformedResponse {
            expected: "token response",
        }
        .into_error(operation),
    }
}
