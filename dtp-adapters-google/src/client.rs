//! The Google HTTP client: one `reqwest` client, a base URL per API (so tests
//! point every API at a wiremock server), the bearer token from
//! [`AuthData`] on every request, and typed error mapping
//! ([`crate::error`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dtp_core::{AuthData, ByteStream, Error, Result};
use futures::TryStreamExt;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{self, ErrorPolicy};

/// One Google API surface, each with its own base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Api {
    /// People API (contacts), `https://people.googleapis.com/`.
    People,
    /// Calendar API v3, `https://www.googleapis.com/calendar/v3/`.
    Calendar,
    /// Tasks API, `https://tasks.googleapis.com/tasks/v1/`.
    Tasks,
    /// Gmail API, `https://gmail.googleapis.com/` (paths `gmail/v1/…` and,
    /// for media uploads, `upload/gmail/v1/…`).
    Gmail,
    /// Photos Library API, `https://photoslibrary.googleapis.com/`.
    PhotosLibrary,
    /// Photos byte uploads (`POST /v1/uploads`), same host as the Library API.
    PhotosUpload,
    /// Photos Picker API, `https://photospicker.googleapis.com/`.
    PhotosPicker,
    /// Data Portability API, `https://dataportability.googleapis.com/`.
    DataPortability,
}

impl Api {
    /// Every API.
    pub const ALL: [Api; 8] = [
        Api::People,
        Api::Calendar,
        Api::Tasks,
        Api::Gmail,
        Api::PhotosLibrary,
        Api::PhotosUpload,
        Api::PhotosPicker,
        Api::DataPortability,
    ];

    /// The name used in errors and rate-limit keys (`"google.people"`, …).
    pub fn service_name(self) -> &'static str {
        match self {
            Api::People => "google.people",
            Api::Calendar => "google.calendar",
            Api::Tasks => "google.tasks",
            Api::Gmail => "google.gmail",
            Api::PhotosLibrary => "google.photos",
            Api::PhotosUpload => "google.photos.upload",
            Api::PhotosPicker => "google.photos.picker",
            Api::DataPortability => "google.dataportability",
        }
    }

    /// The production base URL (ends with `/`; request paths are relative
    /// to it).
    pub fn production_base(self) -> &'static str {
        match self {
            Api::People => "https://people.googleapis.com/",
            Api::Calendar => "https://www.googleapis.com/calendar/v3/",
            Api::Tasks => "https://tasks.googleapis.com/tasks/v1/",
            Api::Gmail => "https://gmail.googleapis.com/",
            Api::PhotosLibrary | Api::PhotosUpload => "https://photoslibrary.googleapis.com/",
            Api::PhotosPicker => "https://photospicker.googleapis.com/",
            Api::DataPortability => "https://dataportability.googleapis.com/",
        }
    }

    /// The path of the base URL below the host (`/calendar/v3/`, `/`, …), so
    /// that a single mock server can stand in for every API with the real
    /// paths.
    pub fn base_path(self) -> &'static str {
        match self {
            Api::Calendar => "/calendar/v3/",
            Api::Tasks => "/tasks/v1/",
            _ => "/",
        }
    }
}

/// A base URL per API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    bases: Vec<(Api, Url)>,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::production()
    }
}

impl Endpoints {
    /// Google's production URLs.
    pub fn production() -> Self {
        Endpoints {
            bases: Api::ALL
                .iter()
                .map(|a| {
                    (
                        *a,
                        Url::parse(a.production_base()).expect("static URL parses"),
                    )
                })
                .collect(),
        }
    }

    /// Every API on one host (e.g. a wiremock server's `uri()`), each under
    /// its real path ([`Api::base_path`]): Calendar at
    /// `{root}/calendar/v3/`, People at `{root}/v1/…`, and so on.
    pub fn single_host(root: &str) -> Result<Self> {
        let root = root.trim_end_matches('/');
        let mut bases = Vec::new();
        for a in Api::ALL {
            let u = format!("{root}{}", a.base_path());
            let url = Url::parse(&u)
                .map_err(|e| Error::invalid_data(format!("bad base URL `{u}`: {e}")))?;
            bases.push((a, url));
        }
        Ok(Endpoints { bases })
    }

    /// Sets the base URL of one API (must end with `/` to be a directory).
    pub fn with_base(mut self, api: Api, base: &str) -> Result<Self> {
        let url = Url::parse(base)
            .map_err(|e| Error::invalid_data(format!("bad base URL `{base}`: {e}")))?;
        self.bases.retain(|(a, _)| *a != api);
        self.bases.push((api, url));
        Ok(self)
    }

    /// The base URL of `api`.
    pub fn base(&self, api: Api) -> &Url {
        self.bases
            .iter()
            .find(|(a, _)| *a == api)
            .map(|(_, u)| u)
            .expect("every API has a base URL")
    }

    /// `path` (relative, no leading `/`) resolved against `api`'s base.
    pub fn url(&self, api: Api, path: &str) -> Result<Url> {
        self.base(api)
            .join(path.trim_start_matches('/'))
            .map_err(|e| Error::internal(format!("bad request path `{path}`: {e}")))
    }
}

/// Everything the Google adapters need to reach Google.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GoogleConfig {
    /// Base URL per API.
    pub endpoints: Endpoints,
    /// The account the credentials belong to, used to key rate limits
    /// (`"alice@example.com"`; any stable label).
    pub account: String,
    /// Timeout to connect.
    pub connect_timeout: Duration,
    /// Timeout of a whole JSON request (not of streamed transfers).
    pub request_timeout: Duration,
    /// How error answers are classified.
    pub error_policy: ErrorPolicy,
    /// Whether the adapters declare Google's published per-user rate
    /// limits to the driver (see [`crate::limits`]).
    pub rate_limits: bool,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        GoogleConfig {
            endpoints: Endpoints::production(),
            account: "default".into(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            error_policy: ErrorPolicy::default(),
            rate_limits: true,
        }
    }
}

impl GoogleConfig {
    /// Production endpoints for `account`.
    pub fn new(account: impl Into<String>) -> Self {
        GoogleConfig {
            account: account.into(),
            ..GoogleConfig::default()
        }
    }

    /// Sets the endpoints.
    pub fn with_endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// Sets the request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the error policy.
    pub fn with_error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.error_policy = policy;
        self
    }

    /// Whether to declare Google's rate limits to the driver.
    pub fn with_rate_limits(mut self, on: bool) -> Self {
        self.rate_limits = on;
        self
    }
}

/// A request body.
pub enum Body {
    /// No body.
    Empty,
    /// A JSON value.
    Json(serde_json::Value),
    /// Bytes with a content type (re-sendable).
    Bytes {
        /// The content type.
        content_type: String,
        /// The bytes.
        bytes: Bytes,
    },
    /// A streamed body with a content type and, when known, a length.
    Stream {
        /// The content type.
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
            Body::Json(_) => f.write_str("Json(..)"),
            Body::Bytes {
                content_type,
                bytes,
            } => {
                write!(f, "Bytes({content_type}, {} bytes)", bytes.len())
            }
            Body::Stream {
                content_type, len, ..
            } => write!(f, "Stream({content_type}, {len:?})"),
        }
    }
}

impl Body {
    /// A JSON body from any serializable value.
    pub fn json<T: Serialize>(value: &T) -> Result<Self> {
        Ok(Body::Json(serde_json::to_value(value).map_err(|e| {
            Error::internal("request body does not serialize").with_source(e)
        })?))
    }
}

/// One request: API, method, path relative to the API's base (or an absolute
/// URL the server handed out), query, extra headers, body.
#[derive(Debug)]
pub struct Request {
    api: Api,
    method: Method,
    target: Target,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Body,
    bearer: bool,
    timeout: Option<Duration>,
}

#[derive(Debug)]
enum Target {
    Path(String),
    Absolute(Url),
}

impl Request {
    /// A request to `path` (relative to `api`'s base URL).
    pub fn new(api: Api, method: Method, path: impl Into<String>) -> Self {
        Request {
            api,
            method,
            target: Target::Path(path.into()),
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::Empty,
            bearer: true,
            timeout: None,
        }
    }

    /// `GET path`.
    pub fn get(api: Api, path: impl Into<String>) -> Self {
        Self::new(api, Method::GET, path)
    }

    /// `POST path`.
    pub fn post(api: Api, path: impl Into<String>) -> Self {
        Self::new(api, Method::POST, path)
    }

    /// A request to an absolute URL the server handed out (a resumable
    /// upload URL, a `baseUrl`, an archive download URL).
    pub fn absolute(api: Api, method: Method, url: Url) -> Self {
        Request {
            target: Target::Absolute(url),
            ..Self::new(api, method, "")
        }
    }

    /// Adds a query parameter (repeat for repeated parameters).
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_string(), value.into()));
        self
    }

    /// Adds a query parameter if `value` is `Some`.
    pub fn query_opt(self, name: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets a JSON body.
    pub fn json<T: Serialize>(mut self, body: &T) -> Result<Self> {
        self.body = Body::json(body)?;
        Ok(self)
    }

    /// Sets the body.
    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Sends no `Authorization` header (pre-authenticated URLs).
    pub fn without_bearer(mut self) -> Self {
        self.bearer = false;
        self
    }

    /// Overrides the request timeout (`None`: no overall timeout, for
    /// streamed transfers).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The API.
    pub fn api(&self) -> Api {
        self.api
    }
}

/// A successful answer, body read whole.
#[derive(Debug)]
pub struct Answer {
    /// The status (2xx).
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// Parses the body as JSON (`InvalidData` when it is not the expected
    /// shape).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::invalid_data(format!("malformed JSON answer: {e}")).with_source(e))
    }

    /// The body as UTF-8 text (e.g. the Photos upload token).
    pub fn text(&self) -> Result<String> {
        String::from_utf8(self.body.to_vec())
            .map_err(|_| Error::invalid_data("answer is not UTF-8 text"))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The Google HTTP client. Cheap to clone; holds no credentials (they come
/// with each call, from [`AuthData`]).
#[derive(Clone)]
pub struct GoogleClient {
    http: reqwest::Client,
    config: Arc<GoogleConfig>,
}

impl std::fmt::Debug for GoogleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleClient")
            .field("account", &self.config.account)
            .finish_non_exhaustive()
    }
}

impl GoogleClient {
    /// A client for `config`.
    pub fn new(config: GoogleConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dtp-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::internal("cannot build the HTTP client").with_source(e))?;
        Ok(GoogleClient {
            http,
            config: Arc::new(config),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GoogleConfig {
        &self.config
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.config.endpoints
    }

    /// The bearer token of `auth`; `Reauthorize` when there is none.
    pub fn bearer(auth: &AuthData) -> Result<HeaderValue> {
        let token = auth.bearer_token().ok_or_else(|| {
            Error::new(
                dtp_core::ErrorKind::Reauthorize,
                format!(
                    "Google needs OAuth 2.0 credentials, got {}",
                    auth.kind_name()
                ),
            )
        })?;
        let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Error::invalid_data("the access token is not a valid header value"))?;
        v.set_sensitive(true);
        Ok(v)
    }

    fn build(&self, auth: &AuthData, req: Request) -> Result<(reqwest::RequestBuilder, Url)> {
        let mut url = match req.target {
            Target::Path(p) => self.config.endpoints.url(req.api, &p)?,
            Target::Absolute(u) => u,
        };
        if !req.query.is_empty() {
            let mut qp = url.query_pairs_mut();
            for (k, v) in &req.query {
                qp.append_pair(k, v);
            }
        }
        let mut b = self.http.request(req.method, url.clone());
        match req.timeout {
            Some(t) => b = b.timeout(t),
            None if !matches!(req.body, Body::Stream { .. }) => {
                b = b.timeout(self.config.request_timeout)
            }
            None => {}
        }
        if req.bearer {
            b = b.header(reqwest::header::AUTHORIZATION, Self::bearer(auth)?);
        }
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        b = match req.body {
            Body::Empty => b,
            Body::Json(v) => b.json(&v),
            Body::Bytes {
                content_type,
                bytes,
            } => b
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes),
            Body::Stream {
                content_type,
                len,
                stream,
            } => {
                let mut b = b.header(reqwest::header::CONTENT_TYPE, content_type);
                if let Some(len) = len {
                    b = b.header(reqwest::header::CONTENT_LENGTH, len);
                }
                b.body(reqwest::Body::wrap_stream(stream))
            }
        };
        url.set_query(None);
        Ok((b, url))
    }

    /// Sends `req` and returns the raw response on success (for streaming
    /// downloads); any non-2xx answer is mapped to a typed error.
    pub async fn send_raw(&self, auth: &AuthData, req: Request) -> Result<reqwest::Response> {
        let api = req.api;
        let method = req.method.clone();
        let (b, url) = self.build(auth, req)?;
        let path = url.path().to_string();
        let resp = b
            .send()
            .await
            .map_err(|e| error::transport_error(api, &method, &path, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let headers = resp.headers().clone();
        // Error bodies are small; cap what we read.
        let body = resp.bytes().await.unwrap_or_default();
        let body = &body[..body.len().min(64 * 1024)];
        Err(error::map_error(
            api,
            &method,
            &path,
            status,
            &headers,
            body,
            &self.config.error_policy,
        ))
    }

    /// Sends `req` and reads the whole answer.
    pub async fn send(&self, auth: &AuthData, req: Request) -> Result<Answer> {
        let api = req.api;
        let method = req.method.clone();
        let resp = self.send_raw(auth, req).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let path = resp.url().path().to_string();
        let body = resp
            .bytes()
            .await
            .map_err(|e| error::transport_error(api, &method, &path, e))?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Sends `req` and parses the JSON answer.
    pub async fn json<T: DeserializeOwned>(&self, auth: &AuthData, req: Request) -> Result<T> {
        self.send(auth, req).await?.json()
    }

    /// Sends `req` and streams the answer's body.
    pub async fn stream(&self, auth: &AuthData, req: Request) -> Result<(HeaderMap, ByteStream)> {
        let api = req.api;
        let resp = self.send_raw(auth, req).await?;
        let headers = resp.headers().clone();
        let path = resp.url().path().to_string();
        let stream = resp.bytes_stream().map_err(move |e| {
            Error::transient(format!("reading {path}: {}", e.without_url()))
                .with_service(api.service_name())
        });
        Ok((headers, Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_host_keeps_the_real_paths() {
        let e = Endpoints::single_host("http://127.0.0.1:9/").unwrap();
        assert_eq!(
            e.url(Api::Calendar, "users/me/calendarList")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/calendar/v3/users/me/calendarList"
        );
        assert_eq!(
            e.url(Api::People, "v1/people/me/connections")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/v1/people/me/connections"
        );
        assert_eq!(
            e.url(Api::Tasks, "/users/@me/lists").unwrap().as_str(),
            "http://127.0.0.1:9/tasks/v1/users/@me/lists"
        );
        let p = Endpoints::production();
        assert_eq!(
            p.url(Api::Gmail, "gmail/v1/users/me/labels")
                .unwrap()
                .as_str(),
            "https://gmail.googleapis.com/gmail/v1/users/me/labels"
        );
    }

    #[test]
    fn non_oauth_credentials_are_a_reauthorize() {
        let err = GoogleClient::bearer(&AuthData::None).unwrap_err();
        assert_eq!(err.kind(), &dtp_core::ErrorKind::Reauthorize);
        let v = GoogleClient::bearer(&AuthData::api_key("tok")).unwrap();
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("tok"));
    }
}
