//! A small WebDAV/CalDAV/CardDAV client over `reqwest`: authentication,
//! redirects kept on the same origin, and the error mapping of the crate.

use std::time::Duration;

use bytes::Bytes;
use dtp_core::{AuthData, ByteStream, Error, ErrorKind, Result};
use futures::TryStreamExt;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use url::Url;

use crate::xml::{self, Multistatus};

/// The body of a request: bytes (re-sendable on redirects) or a stream.
pub enum Body {
    /// No body.
    Empty,
    /// An XML or text body.
    Bytes {
        /// The content type.
        content_type: &'static str,
        /// The bytes.
        bytes: Bytes,
    },
    /// A streamed body (chunked transfer encoding), not re-sendable.
    Stream {
        /// The content type.
        content_type: String,
        /// The length, when known (sent as `Content-Length`).
        len: Option<u64>,
        /// The chunks.
        stream: ByteStream,
    },
}

impl Body {
    /// An XML body.
    pub fn xml(s: String) -> Self {
        Body::Bytes {
            content_type: "application/xml; charset=utf-8",
            bytes: Bytes::from(s),
        }
    }
}

/// An answer: status, headers and the body read whole (DAV answers are
/// small; media downloads use [`DavClient::get_stream`]).
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The URL that answered (after redirects).
    pub url: Url,
}

impl Answer {
    /// The `ETag` header, unquoted form kept as sent.
    pub fn etag(&self) -> Option<String> {
        self.headers
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Parses the body as a multistatus.
    pub fn multistatus(&self) -> Result<Multistatus> {
        xml::parse_multistatus(&self.body)
    }
}

/// A DAV client: one `reqwest` client, a service name for errors, and the
/// request timeout. Credentials come with each call, never stored here.
#[derive(Clone)]
pub struct DavClient {
    http: reqwest::Client,
    service: &'static str,
}

impl std::fmt::Debug for DavClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DavClient")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// Options of the HTTP client.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Timeout to connect.
    pub connect_timeout: Duration,
    /// Timeout of a whole small request (not of streamed transfers).
    pub request_timeout: Duration,
    /// Keep idle connections for reuse (`false`: one connection per request).
    pub reuse_connections: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            reuse_connections: true,
        }
    }
}

impl HttpOptions {
    /// Sets whether idle connections are reused.
    pub fn with_reuse_connections(mut self, reuse: bool) -> Self {
        self.reuse_connections = reuse;
        self
    }

    /// Sets the timeout of a small request.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

const MAX_REDIRECTS: usize = 5;

/// Parses `Retry-After` (seconds or an HTTP date).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono_like_http_date(v.trim())?;
    let now = std::time::SystemTime::now();
    Some(when.duration_since(now).unwrap_or_default())
}

// IMF-fixdate only: "Sun, 06 Nov 1994 08:49:37 GMT".
fn chrono_like_http_date(s: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as u64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4].split(':').filter_map(|p| p.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m as i64 + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    if secs < 0 {
        return None;
    }
    Some(std::time::UNIX_EPOCH + Duration::from_secs(secs as u64))
}

/// Maps an HTTP status to the crate's error kinds (the issue's table).
/// 412 is not an error here: callers decide on it.
pub fn status_error(
    service: &str,
    method: &Method,
    url: &Url,
    status: StatusCode,
    headers: &HeaderMap,
) -> Error {
    let msg = format!("{method} {} answered {status}", url.path());
    let kind = match status.as_u16() {
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::PermissionDenied,
        404 | 410 => ErrorKind::NotFound,
        413 | 507 => ErrorKind::DestinationFull,
        429 | 503 => ErrorKind::RateLimited {
            retry_after: retry_after(headers),
        },
        // Locked: another write holds the collection (Xandikos serialises
        // writes to its git store); it passes.
        423 => ErrorKind::Transient,
        400 | 409 | 412 | 415 | 422 => ErrorKind::InvalidData,
        405 | 501 => ErrorKind::Unsupported,
        s if s >= 500 => ErrorKind::Transient,
        _ => ErrorKind::InvalidData,
    };
    Error::new(kind, msg).with_service(service.to_string())
}

fn transport_error(service: &str, method: &Method, url: &Url, e: reqwest::Error) -> Error {
    // reqwest errors carry the URL; ours never hold credentials (they go in
    // headers), but strip it anyway and say only the path.
    let e = e.without_url();
    Error::transient(format!("{method} {}: {e}", url.path()))
        .with_service(service.to_string())
        .with_source(e)
}

impl DavClient {
    /// A client for `service` (used in error messages, e.g. `"caldav"`).
    pub fn new(service: &'static str, options: &HttpOptions) -> Result<Self> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("dtp-rs/", env!("CARGO_PKG_VERSION")));
        if !options.reuse_connections {
            b = b.pool_max_idle_per_host(0);
        }
        let http = b
            .build()
            .map_err(|e| Error::internal("cannot build the HTTP client").with_source(e))?;
        Ok(DavClient { http, service })
    }

    /// The service name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    fn authorize(&self, req: reqwest::RequestBuilder, auth: &AuthData) -> reqwest::RequestBuilder {
        match auth {
            AuthData::Basic { username, password } => {
                req.basic_auth(username, Some(password.expose_secret()))
            }
            other => match other.bearer_token() {
                Some(token) => match HeaderValue::from_str(&format!("Bearer {token}")) {
                    Ok(mut v) => {
                        v.set_sensitive(true);
                        req.header(reqwest::header::AUTHORIZATION, v)
                    }
                    Err(_) => req,
                },
                None => req,
            },
        }
    }

    /// Sends a request and reads the whole answer, following same-origin
    /// redirects (keeping method, body and credentials). Any status is
    /// returned; use [`DavClient::check`] to map failures.
    pub async fn send(
        &self,
        auth: &AuthData,
        method: Method,
        url: &Url,
        headers: &[(&str, String)],
        body: Body,
        timeout: Option<Duration>,
    ) -> Result<Answer> {
        let mut url = url.clone();
        let mut body = Some(body);
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.http.request(method.clone(), url.clone());
            if let Some(t) = timeout {
                req = req.timeout(t);
            }
            for (k, v) in headers {
                req = req.header(*k, v.as_str());
            }
            req = self.authorize(req, auth);
            let resend = match body.take() {
                Some(Body::Empty) | None => {
                    body = Some(Body::Empty);
                    None
                }
                Some(Body::Bytes {
                    content_type,
                    bytes,
                }) => {
                    req = req
                        .header(reqwest::header::CONTENT_TYPE, content_type)
                        .body(bytes.clone());
                    body = Some(Body::Bytes {
                        content_type,
                        bytes,
                    });
                    None
                }
                Some(Body::Stream {
                    content_type,
                    len,
                    stream,
                }) => {
                    req = req.header(reqwest::header::CONTENT_TYPE, content_type);
                    if let Some(len) = len {
                        req = req.header(reqwest::header::CONTENT_LENGTH, len);
                    }
                    req = req.body(reqwest::Body::wrap_stream(stream));
                    Some(())
                }
            };
            let resp = req
                .send()
                .await
                .map_err(|e| transport_error(self.service, &method, &url, e))?;
            let status = resp.status();
            if status.is_redirection()
                && status != StatusCode::NOT_MODIFIED
                && let Some(loc) = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                && let Ok(next) = url.join(loc)
                && next.origin() == url.origin()
                && resend.is_none()
            {
                url = next;
                continue;
            }
            let headers = resp.headers().clone();
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| transport_error(self.service, &method, &url, e))?;
            return Ok(Answer {
                status,
                headers,
                body: bytes,
                url,
            });
        }
        Err(
            Error::invalid_data(format!("too many redirects from {}", url.path()))
                .with_service(self.service),
        )
    }

    /// Maps a non-2xx answer to an error.
    pub fn check(&self, method: &Method, answer: Answer) -> Result<Answer> {
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(status_error(
                self.service,
                method,
                &answer.url,
                answer.status,
                &answer.headers,
            ))
        }
    }

    /// `PROPFIND` with `depth` asking for `props`; a multistatus.
    pub async fn propfind(
        &self,
        auth: &AuthData,
        url: &Url,
        depth: u8,
        props: &[&str],
    ) -> Result<(Url, Multistatus)> {
        let m = Method::from_bytes(b"PROPFIND").expect("valid method");
        let a = self
            .send(
                auth,
                m.clone(),
                url,
                &[("Depth", depth.to_string())],
                Body::xml(xml::propfind(props)),
                None,
            )
            .await?;
        let a = self.check(&m, a)?;
        let ms = a.multistatus()?;
        Ok((a.url, ms))
    }

    /// `REPORT` with `body` (Depth as given).
    pub async fn report(
        &self,
        auth: &AuthData,
        url: &Url,
        depth: Option<u8>,
        body: String,
    ) -> Result<Answer> {
        let m = Method::from_bytes(b"REPORT").expect("valid method");
        let headers: Vec<(&str, String)> = depth
            .map(|d| ("Depth", d.to_string()))
            .into_iter()
            .collect();
        self.send(auth, m, url, &headers, Body::xml(body), None)
            .await
    }

    /// `GET` streaming the body; fails on a non-2xx status.
    pub async fn get_stream(&self, auth: &AuthData, url: &Url) -> Result<(HeaderMap, ByteStream)> {
        let mut req = self.http.get(url.clone());
        req = self.authorize(req, auth);
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(self.service, &Method::GET, url, e))?;
        if !resp.status().is_success() {
            return Err(status_error(
                self.service,
                &Method::GET,
                url,
                resp.status(),
                resp.headers(),
            ));
        }
        let headers = resp.headers().clone();
        let service = self.service;
        let path = url.path().to_string();
        let stream = resp.bytes_stream().map_err(move |e| {
            Error::transient(format!("GET {path}: {}", e.without_url())).with_service(service)
        });
        Ok((headers, Box::pin(stream)))
    }
}

/// Resolves `href` (as found in a multistatus) against `base`.
pub fn resolve(base: &Url, href: &str) -> Result<Url> {
    base.join(href)
        .map_err(|e| Error::invalid_data(format!("bad href `{href}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_table_of_the_issue() {
        let url = Url::parse("http://127.0.0.1/x").unwrap();
        let mut h = HeaderMap::new();
        let kind = |s: u16, h: &HeaderMap| {
            status_error(
                "dav",
                &Method::PUT,
                &url,
                StatusCode::from_u16(s).unwrap(),
                h,
            )
            .kind()
            .clone()
        };
        assert_eq!(kind(401, &h), ErrorKind::Unauthenticated);
        assert_eq!(kind(403, &h), ErrorKind::PermissionDenied);
        assert_eq!(kind(404, &h), ErrorKind::NotFound);
        assert_eq!(kind(410, &h), ErrorKind::NotFound);
        assert_eq!(kind(413, &h), ErrorKind::DestinationFull);
        assert_eq!(kind(507, &h), ErrorKind::DestinationFull);
        assert_eq!(kind(500, &h), ErrorKind::Transient);
        assert_eq!(kind(502, &h), ErrorKind::Transient);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(
            kind(503, &h),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            kind(429, &h),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
    }

    /// Sends one request to a one-shot loopback listener and returns the
    /// request head it received.
    async fn request_head(auth: AuthData) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/x/", listener.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).to_lowercase()
        });
        let client = DavClient::new("dav", &HttpOptions::default()).unwrap();
        let a = client
            .send(&auth, Method::GET, &url, &[], Body::Empty, None)
            .await
            .unwrap();
        let err = client.check(&Method::GET, a).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Unauthenticated);
        // No secret in the error.
        assert!(!format!("{err} {err:?}").contains("s3cret"));
        server.await.unwrap()
    }

    #[tokio::test]
    async fn basic_and_bearer_credentials_are_sent() {
        let head = request_head(AuthData::basic("ada", "s3cret")).await;
        // base64("ada:s3cret")
        assert!(
            head.contains("authorization: basic ywrhonmzy3jlda=="),
            "{head}"
        );
        let head = request_head(AuthData::api_key("tok-s3cret")).await;
        assert!(head.contains("authorization: bearer tok-s3cret"), "{head}");
    }

    #[test]
    fn retry_after_reads_http_dates() {
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        assert_eq!(
            chrono_like_http_date("Sun, 06 Nov 1994 08:49:37 GMT")
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            784111777
        );
    }
}
