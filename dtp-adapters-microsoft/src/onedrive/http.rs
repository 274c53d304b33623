//! The HTTP calls OneDrive photos need: Graph JSON calls with the bearer
//! token, and the pre-authenticated URLs (`uploadUrl`,
//! `@microsoft.graph.downloadUrl`, the `Location` of a `/content` redirect)
//! called WITHOUT it. Redirects are never followed automatically, so a
//! bearer token can never travel to a redirect target.

use std::time::Duration;

use bytes::Bytes;
use dtp_core::{AuthData, ByteStream, Error, ErrorKind, Result};
use futures::TryStreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::SERVICE;
use crate::error::GraphError;

/// A Graph answer read whole (JSON answers are small).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::invalid_data(format!("unreadable Graph answer ({}): {e}", self.status))
                .with_service(SERVICE)
        })
    }

    pub(crate) fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The Graph error of a failed answer, mapped to a kind.
    pub(crate) fn error(&self) -> Error {
        graph_error(self.status, &self.headers, &self.body)
    }

    /// The most specific Graph error code (`innerError.code` chain), if any.
    pub(crate) fn codes(&self) -> Vec<String> {
        error_codes(&self.body)
    }
}

/// The body of a request.
pub(crate) enum Body {
    Empty,
    Json(serde_json::Value),
    Bytes { content_type: String, bytes: Bytes },
}

/// One `reqwest` client with redirects off.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
}

impl Http {
    pub(crate) fn new(timeout: Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(timeout)
            .build()
            .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http { client })
    }

    fn request(
        &self,
        method: Method,
        url: &str,
        auth: Option<&AuthData>,
        body: Body,
    ) -> Result<reqwest::RequestBuilder> {
        let mut rb = self.client.request(method, url);
        if let Some(auth) = auth {
            let token = auth.bearer_token().ok_or_else(|| {
                Error::new(
                    ErrorKind::Reauthorize,
                    "Microsoft Graph needs OAuth 2.0 credentials",
                )
                .with_service(SERVICE)
            })?;
            rb = rb.bearer_auth(token);
        }
        rb = match body {
            Body::Empty => rb.header(CONTENT_LENGTH, 0),
            Body::Json(v) => rb.json(&v),
            Body::Bytes {
                content_type,
                bytes,
            } => rb
                .header(CONTENT_TYPE, content_type)
                .header(CONTENT_LENGTH, bytes.len())
                .body(bytes),
        };
        Ok(rb)
    }

    /// A Graph call (bearer token) read whole.
    pub(crate) async fn graph(
        &self,
        method: Method,
        url: &str,
        auth: &AuthData,
        body: Body,
    ) -> Result<Answer> {
        let rb = self.request(method, url, Some(auth), body)?;
        read(rb).await
    }

    /// A call to a pre-authenticated URL (no bearer token) read whole.
    pub(crate) async fn anonymous(&self, method: Method, url: &str, body: Body) -> Result<Answer> {
        let rb = self.request(method, url, None, body)?;
        read(rb).await
    }

    /// `PUT` of one upload-session fragment, without the bearer token.
    pub(crate) async fn put_fragment(
        &self,
        upload_url: &str,
        content_range: &str,
        bytes: Bytes,
    ) -> Result<Answer> {
        let len = bytes.len();
        let rb = self
            .client
            .put(upload_url)
            .header(CONTENT_LENGTH, len)
            .header(
                CONTENT_RANGE,
                HeaderValue::from_str(content_range)
                    .map_err(|_| Error::internal("bad Content-Range"))?,
            )
            .body(bytes);
        read(rb).await
    }

    /// Opens a download: `GET` with (Graph `/content`) or without (a
    /// pre-authenticated URL) the bearer token. Returns the streaming answer,
    /// or the redirect target on `302`.
    pub(crate) async fn open(&self, url: &str, auth: Option<&AuthData>) -> Result<Opened> {
        let rb = self.request(Method::GET, url, auth, Body::Empty)?;
        let resp = rb.send().await.map_err(transport_error)?;
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Error::invalid_data(format!("{status} without a Location"))
                        .with_service(SERVICE)
                })?;
            let target = resp
                .url()
                .join(location)
                .map_err(|e| Error::invalid_data(format!("bad Location: {e}")))?;
            return Ok(Opened::Redirect(target.to_string()));
        }
        if !status.is_success() {
            let headers = resp.headers().clone();
            let body = resp.bytes().await.unwrap_or_default();
            return Err(graph_error(status, &headers, &body));
        }
        let stream: ByteStream = Box::pin(resp.bytes_stream().map_err(transport_error));
        Ok(Opened::Stream { stream })
    }
}

/// What a download request gave.
pub(crate) enum Opened {
    /// The bytes.
    Stream {
        /// The body.
        stream: ByteStream,
    },
    /// `302 Found` to a pre-authenticated URL.
    Redirect(String),
}

async fn read(rb: reqwest::RequestBuilder) -> Result<Answer> {
    let resp = rb.send().await.map_err(transport_error)?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(transport_error)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A transport failure: the crate's mapping (passing; the URL, which may be
/// a pre-authenticated one, is dropped from the message).
pub(crate) fn transport_error(e: reqwest::Error) -> Error {
    crate::error::transport_error(e)
}

/// Every `code` of a Graph error body, outermost first (`error.code`, then
/// the nested `innerError` / `innererror` codes).
pub(crate) fn error_codes(body: &[u8]) -> Vec<String> {
    GraphError::parse(0, body)
        .codes()
        .map(str::to_string)
        .collect()
}

/// Maps a failed Graph answer to an error kind with the crate's shared
/// classification ([`crate::error::classify`]). The message carries the
/// status and the Graph codes, never the body's free text nor any URL.
pub(crate) fn graph_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let parsed = GraphError::parse(status.as_u16(), body);
    let kind = crate::error::classify(status, headers, &parsed);
    let codes: Vec<&str> = parsed.codes().collect();
    let codes = if codes.is_empty() {
        String::new()
    } else {
        format!(" ({})", codes.join(" / "))
    };
    Error::new(kind, format!("Microsoft Graph answered {status}{codes}")).with_service(SERVICE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/onedrive/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    }

    fn with_retry_after(s: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_str(s).unwrap(),
        );
        h
    }

    #[test]
    fn maps_documented_graph_errors() {
        let none = HeaderMap::new();
        let e = graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            &with_retry_after("2"),
            &fixture("error.throttled-429.json"),
        );
        assert_eq!(
            e.kind(),
            &ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            }
        );
        assert!(e.message().contains("TooManyRequests"));
        let e = graph_error(StatusCode::SERVICE_UNAVAILABLE, &with_retry_after("7"), b"");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let e = graph_error(StatusCode::SERVICE_UNAVAILABLE, &none, b"");
        assert_eq!(e.kind(), &ErrorKind::Transient);
        let e = graph_error(
            StatusCode::INSUFFICIENT_STORAGE,
            &none,
            &fixture("error.quotaLimitReached-507.json"),
        );
        assert_eq!(e.kind(), &ErrorKind::DestinationFull);
        let e = graph_error(
            StatusCode::UNAUTHORIZED,
            &none,
            &fixture("error.InvalidAuthenticationToken-401.json"),
        );
        assert_eq!(e.kind(), &ErrorKind::Unauthenticated);
        let e = graph_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            &none,
            &fixture("error.fragmentOverlap-416.json"),
        );
        assert_eq!(e.kind(), &ErrorKind::InvalidData);
        assert!(e.message().contains("fragmentOverlap"));
        assert_eq!(
            error_codes(&fixture("error.fragmentOverlap-416.json")),
            vec!["invalidRange".to_string(), "fragmentOverlap".to_string()]
        );
        let e = graph_error(StatusCode::FORBIDDEN, &none, b"not json");
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
        let e = graph_error(StatusCode::NOT_FOUND, &none, b"{}");
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        assert!(!graph_error(StatusCode::IM_A_TEAPOT, &none, b"").is_retryable());
    }
}
