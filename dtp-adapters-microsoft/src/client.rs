//! The Graph HTTP client every data type of this crate uses: a configurable
//! base URL (tests point it at a wiremock server), the bearer token taken
//! from the [`AuthData`] of each call, errors mapped by [`crate::error`],
//! `@odata.nextLink` paging followed verbatim, and the Outlook limit of
//! **4 concurrent requests per mailbox per app** kept by a semaphore shared
//! by every client of the same mailbox in the process.
//!
//! Redirects are never followed automatically: a `302` (OneDrive
//! `…/content`) comes back to the caller as a [`GraphResponse`] with a
//! [`location`](GraphResponse::location), so a pre-authenticated download
//! URL is fetched without the bearer header.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use dtp_core::{AuthData, ByteStream, Error, ErrorKind, Result};
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use crate::error::{SERVICE, status_error, transport_error};

/// The production Graph v1.0 endpoint.
pub const GRAPH_V1: &str = "https://graph.microsoft.com/v1.0/";

/// Outlook's documented limit: 4 concurrent requests per app per mailbox
/// (mail, calendar, personal contacts, To Do).
pub const OUTLOOK_MAX_CONCURRENT: usize = 4;

/// Outlook's documented budget: 10,000 requests per 10 minutes per app per
/// mailbox, i.e. 1,000 a minute.
pub const OUTLOOK_REQUESTS_PER_MINUTE: u32 = 1_000;

/// How to reach Graph.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GraphConfig {
    /// The API root, ending in `/` (e.g. `https://graph.microsoft.com/v1.0/`).
    pub base_url: Url,
    /// The mailbox / account the requests act for; keys the concurrency
    /// limit and the rate limit (`"me"` unless told).
    pub account: String,
    /// Requests in flight at once for this account (4 for Outlook).
    pub max_concurrent: usize,
    /// Timeout to connect.
    pub connect_timeout: Duration,
    /// Timeout of one small request (JSON calls; not streamed bodies).
    pub request_timeout: Duration,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            base_url: Url::parse(GRAPH_V1).expect("constant URL parses"),
            account: "me".into(),
            max_concurrent: OUTLOOK_MAX_CONCURRENT,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
        }
    }
}

impl GraphConfig {
    /// Production Graph v1.0, account `me`, 4 requests in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses another API root (a mock server's URI, `…/beta/`). A missing
    /// trailing `/` is added so relative paths join under it.
    pub fn with_base_url(mut self, base: &str) -> Result<Self> {
        let mut s = base.to_string();
        if !s.ends_with('/') {
            s.push('/');
        }
        self.base_url =
            Url::parse(&s).map_err(|e| Error::invalid_data(format!("bad Graph base URL: {e}")))?;
        Ok(self)
    }

    /// Names the mailbox / account (for the shared limits).
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.account = account.into();
        self
    }

    /// Sets how many requests may be in flight for the account (at least 1).
    pub fn with_max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }

    /// Sets the timeout of one small request.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// A request body.
pub enum Body {
    /// No body.
    Empty,
    /// Bytes with a content type (JSON, base64 MIME, a small upload).
    Bytes {
        /// The `Content-Type`.
        content_type: String,
        /// The bytes.
        bytes: Bytes,
    },
    /// A streamed body (not re-sendable).
    Stream {
        /// The `Content-Type`.
        content_type: String,
        /// The length, sent as `Content-Length` when known.
        len: Option<u64>,
        /// The chunks.
        stream: ByteStream,
    },
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes {
                content_type,
                bytes,
            } => write!(f, "Bytes({content_type}, {} bytes)", bytes.len()),
            Body::Stream {
                content_type, len, ..
            } => write!(f, "Stream({content_type}, {len:?})"),
        }
    }
}

/// One request to Graph (or to a pre-authenticated URL Graph handed out).
/// `Debug` shows the method and path only: the query of a pre-authenticated
/// URL is a credential.
pub struct GraphRequest {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Body,
    auth: bool,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for GraphRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphRequest")
            .field("method", &self.method.as_str())
            .field("path", &self.url.path())
            .field("body", &self.body)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for GraphResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphResponse")
            .field("method", &self.method.as_str())
            .field("path", &self.url.path())
            .field("status", &self.response.status().as_u16())
            .finish_non_exhaustive()
    }
}

impl GraphRequest {
    /// A request with `method` to an absolute `url`.
    pub fn new(method: Method, url: Url) -> Self {
        GraphRequest {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            auth: true,
            timeout: None,
        }
    }

    /// `GET url`.
    pub fn get(url: Url) -> Self {
        Self::new(Method::GET, url)
    }

    /// `POST url`.
    pub fn post(url: Url) -> Self {
        Self::new(Method::POST, url)
    }

    /// `PUT url`.
    pub fn put(url: Url) -> Self {
        Self::new(Method::PUT, url)
    }

    /// `PATCH url`.
    pub fn patch(url: Url) -> Self {
        Self::new(Method::PATCH, url)
    }

    /// `DELETE url`.
    pub fn delete(url: Url) -> Self {
        Self::new(Method::DELETE, url)
    }

    /// Adds a header; an invalid name or value is an `InvalidData` error.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self> {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::invalid_data(format!("bad header name {name:?}")))?;
        let v = HeaderValue::from_str(value)
            .map_err(|_| Error::invalid_data(format!("bad value for header {name}")))?;
        self.headers.append(n, v);
        Ok(self)
    }

    /// Adds a `Prefer` header (re-send it on every page: nextLinks do not
    /// carry headers).
    pub fn prefer(self, value: &str) -> Result<Self> {
        self.header("Prefer", value)
    }

    /// A JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::internal("cannot serialize a request body").with_source(e))?;
        self.body = Body::Bytes {
            content_type: "application/json".into(),
            bytes: Bytes::from(bytes),
        };
        Ok(self)
    }

    /// A body of bytes.
    pub fn bytes(mut self, content_type: &str, bytes: Bytes) -> Self {
        self.body = Body::Bytes {
            content_type: content_type.into(),
            bytes,
        };
        self
    }

    /// A streamed body.
    pub fn stream(mut self, content_type: &str, len: Option<u64>, stream: ByteStream) -> Self {
        self.body = Body::Stream {
            content_type: content_type.into(),
            len,
            stream,
        };
        self
    }

    /// Sends no `Authorization` header: for pre-authenticated URLs
    /// (`uploadUrl`, `@microsoft.graph.downloadUrl`), which must not get it.
    pub fn without_auth(mut self) -> Self {
        self.auth = false;
        self
    }

    /// Overrides the client's request timeout (e.g. none-ish for a large
    /// chunk upload).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }
}

/// A successful (2xx or 3xx) answer. It holds the account's concurrency
/// permit until it is read or dropped. `Debug` shows the method, path and
/// status only.
pub struct GraphResponse {
    response: reqwest::Response,
    permit: Option<OwnedSemaphorePermit>,
    method: Method,
    url: Url,
}

impl GraphResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// The `Location` header of a redirect or a `201 Created`.
    pub fn location(&self) -> Option<&str> {
        self.response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes> {
        let out = self.response.bytes().await.map_err(transport_error);
        drop(self.permit);
        out
    }

    /// The body as UTF-8 text (lossy).
    pub async fn text(self) -> Result<String> {
        let b = self.bytes().await?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// The body as JSON; a malformed body is `InvalidData`.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T> {
        let (method, path) = (self.method.clone(), self.url.path().to_string());
        let b = self.bytes().await?;
        serde_json::from_slice(&b).map_err(|e| {
            Error::invalid_data(format!("{method} {path}: malformed JSON answer"))
                .with_service(SERVICE)
                .with_source(e)
        })
    }

    /// The body as a stream of chunks; the permit is held until it ends.
    pub fn into_stream(self) -> ByteStream {
        let permit = self.permit;
        let s = self.response.bytes_stream().map_err(transport_error);
        let s = s.map(move |chunk| {
            let _hold = &permit;
            chunk
        });
        Box::pin(s)
    }

    /// The underlying response (the permit is released).
    pub fn into_inner(self) -> reqwest::Response {
        self.response
    }
}

/// One page of a Graph collection.
#[derive(Debug, Clone, serde::Deserialize)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// The absolute URL of the next page; absent on the last page.
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    /// The delta link of the last page of a delta query.
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
}

fn mailbox_semaphores() -> &'static Mutex<HashMap<String, Arc<Semaphore>>> {
    static MAP: OnceLock<Mutex<HashMap<String, Arc<Semaphore>>>> = OnceLock::new();
    MAP.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The semaphore shared by every client of `key` in this process (created
/// with `permits` on first use).
pub fn shared_semaphore(key: &str, permits: usize) -> Arc<Semaphore> {
    let mut map = match mailbox_semaphores().lock() {
        Ok(m) => m,
        Err(p) => p.into_inner(),
    };
    map.entry(key.to_string())
        .or_insert_with(|| Arc::new(Semaphore::new(permits.max(1))))
        .clone()
}

/// The Graph client. Cheap to clone; clones share connections and the
/// account's concurrency limit.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    config: GraphConfig,
    limit: Arc<Semaphore>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &self.config.base_url.as_str())
            .field("account", &self.config.account)
            .field("max_concurrent", &self.config.max_concurrent)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// A client for `config`. The concurrency limit is shared with every
    /// other client of the same base URL and account in the process.
    pub fn new(config: GraphConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("dtp-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::internal("cannot build the HTTP client").with_source(e))?;
        let key = format!(
            "{}|{}|{}",
            config.base_url.origin().ascii_serialization(),
            config.account,
            config.max_concurrent
        );
        let limit = shared_semaphore(&key, config.max_concurrent);
        Ok(GraphClient {
            http,
            config,
            limit,
        })
    }

    /// A client with its own concurrency limit (not shared), for tests.
    pub fn with_private_limit(config: GraphConfig) -> Result<Self> {
        let mut c = Self::new(config)?;
        c.limit = Arc::new(Semaphore::new(c.config.max_concurrent));
        Ok(c)
    }

    /// The configuration.
    pub fn config(&self) -> &GraphConfig {
        &self.config
    }

    /// The API root.
    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    /// The underlying `reqwest` client (no redirects followed).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Requests in flight right now for this account (for tests and
    /// metrics): `max_concurrent - available permits`.
    pub fn in_flight(&self) -> usize {
        self.config
            .max_concurrent
            .saturating_sub(self.limit.available_permits())
    }

    /// The rate-limit key of this account (`microsoft.graph:<account>`).
    pub fn rate_limit_key(&self) -> dtp_core::RateLimitKey {
        dtp_core::RateLimitKey::new(SERVICE, self.config.account.as_str())
    }

    /// The Outlook request budget of this account as a driver rate limit.
    pub fn outlook_rate_limit(&self) -> dtp_core::RateLimit {
        dtp_core::RateLimit::per_minute(
            self.rate_limit_key(),
            std::num::NonZeroU32::new(OUTLOOK_REQUESTS_PER_MINUTE).expect("nonzero"),
        )
        .with_burst(std::num::NonZeroU32::new(100).expect("nonzero"))
    }

    /// `base_url` joined with a relative path such as `me/contactFolders`
    /// (each segment given already percent-encoded where needed; see
    /// [`segment`]).
    pub fn url(&self, path: &str) -> Result<Url> {
        self.config
            .base_url
            .join(path.trim_start_matches('/'))
            .map_err(|e| Error::invalid_data(format!("bad Graph path {path:?}: {e}")))
    }

    /// An absolute link Graph handed out (`@odata.nextLink`), used verbatim.
    /// It must be on the API's origin: the bearer token is never sent
    /// anywhere else.
    pub fn link(&self, link: &str) -> Result<Url> {
        let url = Url::parse(link).map_err(|e| {
            Error::invalid_data(format!("Graph returned a link that is not a URL: {e}"))
                .with_service(SERVICE)
        })?;
        if url.origin() != self.config.base_url.origin() {
            return Err(Error::invalid_data(format!(
                "Graph returned a link to another origin ({}); not following it with credentials",
                url.origin().ascii_serialization()
            ))
            .with_service(SERVICE));
        }
        Ok(url)
    }

    /// Sends `req`: takes a concurrency permit, adds the bearer token
    /// (unless [`without_auth`](GraphRequest::without_auth)), and maps any
    /// answer other than 2xx/3xx to a [`dtp_core::Error`].
    pub async fn execute(&self, auth: &AuthData, req: GraphRequest) -> Result<GraphResponse> {
        let permit = self
            .limit
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::internal("concurrency limiter closed"))?;
        let GraphRequest {
            method,
            url,
            headers,
            body,
            auth: with_auth,
            timeout,
        } = req;
        let mut rb = self
            .http
            .request(method.clone(), url.clone())
            .headers(headers);
        let streamed = matches!(body, Body::Stream { .. });
        if !streamed {
            rb = rb.timeout(timeout.unwrap_or(self.config.request_timeout));
        } else if let Some(t) = timeout {
            rb = rb.timeout(t);
        }
        if with_auth {
            let token = auth.bearer_token().ok_or_else(|| {
                Error::new(
                    ErrorKind::Reauthorize,
                    format!("Graph needs OAuth credentials, got {}", auth.kind_name()),
                )
                .with_service(SERVICE)
            })?;
            rb = rb.bearer_auth(token);
        }
        rb = match body {
            Body::Empty => rb,
            Body::Bytes {
                content_type,
                bytes,
            } => rb
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes),
            Body::Stream {
                content_type,
                len,
                stream,
            } => {
                let mut rb = rb.header(reqwest::header::CONTENT_TYPE, content_type);
                if let Some(len) = len {
                    rb = rb.header(reqwest::header::CONTENT_LENGTH, len);
                }
                rb.body(reqwest::Body::wrap_stream(stream))
            }
        };
        let response = rb.send().await.map_err(transport_error)?;
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            return Ok(GraphResponse {
                response,
                permit: Some(permit),
                method,
                url,
            });
        }
        let headers = response.headers().clone();
        // Error bodies are small; cap what is read.
        let body = read_capped(response, 64 * 1024).await;
        drop(permit);
        let err = status_error(&method, &url, status, &headers, &body);
        tracing::debug!(method = %method, path = url.path(), status = status.as_u16(), kind = err.kind().as_str(), "Graph call failed");
        Err(err)
    }

    /// Sends the request `make` builds with a token from `source`; on
    /// `Unauthenticated` the source refreshes once (keeping a rotated
    /// refresh token and handing it to its persister) and the request is
    /// built and sent again.
    pub async fn execute_with_source<F>(
        &self,
        source: &dtp_auth::TokenSource,
        make: F,
    ) -> Result<GraphResponse>
    where
        F: Fn() -> Result<GraphRequest>,
    {
        source
            .call(|bearer| {
                let req = make();
                async move {
                    let auth = AuthData::api_key(bearer.secret());
                    self.execute(&auth, req?).await
                }
            })
            .await
    }

    /// `GET url` and parse the JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, auth: &AuthData, url: Url) -> Result<T> {
        self.execute(auth, GraphRequest::get(url))
            .await?
            .json()
            .await
    }

    /// One page of a collection at `url` (a first-page URL or a nextLink
    /// from [`GraphClient::link`]), with optional `Prefer` header.
    pub async fn get_page<T: DeserializeOwned>(
        &self,
        auth: &AuthData,
        url: Url,
        prefer: Option<&str>,
    ) -> Result<Page<T>> {
        let mut req = GraphRequest::get(url);
        if let Some(p) = prefer {
            req = req.prefer(p)?;
        }
        let page: Page<T> = self.execute(auth, req).await?.json().await?;
        if let Some(next) = &page.next_link {
            // Validate now so a bad link fails the page that carried it.
            self.link(next)?;
        }
        Ok(page)
    }

    /// Every item of a collection, following `@odata.nextLink` to the end
    /// (for small collections: folders, lists, calendars).
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        auth: &AuthData,
        url: Url,
        prefer: Option<&str>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut next = Some(url);
        let mut pages = 0usize;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 10_000 {
                return Err(Error::invalid_data("Graph paging did not end").with_service(SERVICE));
            }
            let page: Page<T> = self.get_page(auth, url, prefer).await?;
            out.extend(page.value);
            if let Some(link) = page.next_link {
                next = Some(self.link(&link)?);
            }
        }
        Ok(out)
    }

    /// `POST` a JSON body and parse the JSON answer.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        auth: &AuthData,
        url: Url,
        body: &B,
    ) -> Result<T> {
        self.execute(auth, GraphRequest::post(url).json(body)?)
            .await?
            .json()
            .await
    }

    /// `PATCH` a JSON body and parse the JSON answer.
    pub async fn patch_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        auth: &AuthData,
        url: Url,
        body: &B,
    ) -> Result<T> {
        self.execute(auth, GraphRequest::patch(url).json(body)?)
            .await?
            .json()
            .await
    }
}

async fn read_capped(response: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = response.bytes_stream();
    while let Some(Ok(chunk)) = s.next().await {
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= cap {
            break;
        }
    }
    out
}

/// Percent-encodes one path segment (an id: Graph ids contain `=`, `+`, `/`
/// in some forms, `-` and `_` in others).
pub fn segment(id: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'=');
    percent_encoding::utf8_percent_encode(id, SET).to_string()
}

/// Quotes a string for an OData `$filter` literal (`'` doubled).
pub fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
