//! Wiremock helpers for tests of the Google adapters (feature `testing`):
//! a mock server standing in for every Google API on its real paths,
//! fixtures loaded from `tests/fixtures/` with their `_source` notes
//! stripped, both Google error formats, the OAuth token endpoint, and
//! OAuth credentials.
//!
//! Traffic goes only to `127.0.0.1`.

// The fakes answer a refused request with wiremock's `ResponseTemplate` as
// the error: large, but test-only and never propagated far.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;

use dtp_auth::{OAuth2AuthDataGenerator, OAuth2Config};
use dtp_core::{AuthData, OAuthTokens, Result};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::client::{Endpoints, GoogleClient, GoogleConfig};
use crate::error::ErrorPolicy;

/// The directory of this crate's JSON fixtures.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

/// Removes every `"_source"` / `"_comment"` key (the reference notes of a
/// fixture) from `value`, recursively.
pub fn strip_notes(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| k != "_source" && k != "_comment");
            map.values_mut().for_each(strip_notes);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_notes),
        _ => {}
    }
}

/// Loads `tests/fixtures/<name>.json` without its notes. Panics with the
/// path when the file is missing or malformed (a test bug).
pub fn fixture(name: &str) -> Value {
    let p = fixture_dir().join(format!("{name}.json"));
    let text =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()));
    let mut v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()));
    strip_notes(&mut v);
    v
}

/// A legacy-format ("v1", provider notes G7) Google error body.
pub fn legacy_error(code: u16, domain: &str, reason: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message,
        "errors": [{"domain": domain, "reason": reason, "message": message}]}})
}

/// A `google.rpc.Status` ("v2", provider notes G7) Google error body, with an `ErrorInfo`
/// detail when `reason` is given.
pub fn rpc_error(code: u16, status: &str, reason: Option<&str>, message: &str) -> Value {
    let details: Vec<Value> = reason
        .map(|r| {
            vec![json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": r, "domain": "googleapis.com"})]
        })
        .unwrap_or_default();
    json!({"error": {"code": code, "message": message, "status": status, "details": details}})
}

/// The 401 Google answers for an expired or wrong access token.
pub fn unauthenticated() -> ResponseTemplate {
    ResponseTemplate::new(401).set_body_json(json!({"error": {"code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        "errors": [{"message": "Invalid Credentials", "domain": "global", "reason": "authError",
            "locationType": "header", "location": "Authorization"}],
        "status": "UNAUTHENTICATED"}}))
}

/// A JSON answer.
pub fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// OAuth credentials with `access_token` (no refresh token).
pub fn oauth(access_token: &str) -> AuthData {
    AuthData::OAuth2(OAuthTokens::new(access_token))
}

/// OAuth credentials with a refresh token whose token endpoint is the mock.
pub fn oauth_refreshable(server: &MockServer, access_token: &str, refresh_token: &str) -> AuthData {
    AuthData::OAuth2(
        OAuthTokens::new(access_token)
            .with_refresh_token(refresh_token)
            .with_token_url(format!("{}/token", server.uri())),
    )
}

/// An [`OAuth2Config`] for a Google client whose endpoints are the mock's
/// `/authorize` and `/token`.
pub fn oauth_config(server: &MockServer) -> OAuth2Config {
    OAuth2Config::new(
        "google",
        format!("{}/authorize", server.uri()),
        format!("{}/token", server.uri()),
        "test-client.apps.googleusercontent.com",
    )
    .with_client_secret("test-client-secret")
    .with_client_auth(dtp_auth::ClientAuthMethod::Post)
}

/// A refresher (`dtp-auth`'s generator) talking to the mock's `/token`.
pub fn refresher(server: &MockServer) -> Result<OAuth2AuthDataGenerator> {
    OAuth2AuthDataGenerator::new(oauth_config(server))
}

/// Mounts Google's token endpoint: a refresh grant with `refresh_token`
/// gets `new_access_token` (and, like Google, no new refresh token); any
/// other refresh token gets 400 `invalid_grant`.
pub async fn mount_token_endpoint(
    server: &MockServer,
    refresh_token: &str,
    new_access_token: &str,
) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(wiremock::matchers::body_string_contains(format!(
            "refresh_token={refresh_token}"
        )))
        .respond_with(json_response(
            200,
            json!({"access_token": new_access_token, "expires_in": 3599,
                "scope": "https://www.googleapis.com/auth/contacts", "token_type": "Bearer"}),
        ))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(json_response(
            400,
            json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        ))
        .with_priority(5)
        .mount(server)
        .await;
}

/// A Google configuration with every API at `server` (real paths), no
/// declared rate limits (tests must not wait), and no 30 s minimum wait
/// after a Photos 429.
pub fn config_for(server: &MockServer) -> GoogleConfig {
    GoogleConfig::new("test@example.com")
        .with_endpoints(Endpoints::single_host(&server.uri()).expect("mock URI parses"))
        .with_rate_limits(false)
        .with_error_policy(ErrorPolicy::default().with_photos_min_retry_after(None))
        .with_request_timeout(std::time::Duration::from_secs(20))
}

/// A client for `server`.
pub fn client_for(server: &MockServer) -> GoogleClient {
    GoogleClient::new(config_for(server)).expect("client builds")
}

/// A client for every API at `uri` (e.g. a server that is gone).
pub fn client_for_uri(uri: &str) -> GoogleClient {
    GoogleClient::new(
        GoogleConfig::new("test@example.com")
            .with_endpoints(Endpoints::single_host(uri).expect("URI parses"))
            .with_rate_limits(false)
            .with_request_timeout(std::time::Duration::from_secs(5)),
    )
    .expect("client builds")
}

/// The bearer token a wiremock request carried, if any.
pub fn bearer_of(req: &wiremock::Request) -> Option<String> {
    req.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
}

/// The query parameters of a wiremock request, in order.
pub fn query_of(req: &wiremock::Request) -> Vec<(String, String)> {
    req.url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of query parameter `name`.
pub fn query_param(req: &wiremock::Request, name: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub mod calendar;
pub mod gmail;
pub mod people;
pub mod tasks;

/// Shared plumbing of the stateful fakes: the valid access token, a one-off
/// rate-limit answer, lost answers, and opaque page tokens.
#[derive(Debug)]
pub struct FakeAuth {
    valid_token: std::sync::Mutex<String>,
    throttle_once: std::sync::atomic::AtomicBool,
    lose_answers: std::sync::atomic::AtomicUsize,
}

impl FakeAuth {
    /// Accepts `token`; answers the first throttled request with 429.
    pub fn new(token: &str, throttle_first: bool) -> Self {
        FakeAuth {
            valid_token: std::sync::Mutex::new(token.to_string()),
            throttle_once: std::sync::atomic::AtomicBool::new(throttle_first),
            lose_answers: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The next `n` write requests are carried out, but answered with a 500
    /// `backendError` (an answer lost after the commit).
    pub fn lose_next_answers(&self, n: usize) {
        self.lose_answers
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Replaces `answer` (of a write that was carried out) with a 500 if an
    /// answer is to be lost.
    pub fn deliver(&self, answer: ResponseTemplate) -> ResponseTemplate {
        let lose = self
            .lose_answers
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
        if lose {
            json_response(
                500,
                legacy_error(500, "global", "backendError", "Backend Error"),
            )
        } else {
            answer
        }
    }

    /// Accepts only `token` from now on (an expired token gets 401).
    pub fn set_valid_token(&self, token: &str) {
        *self.valid_token.lock().unwrap_or_else(|p| p.into_inner()) = token.to_string();
    }

    /// 401 unless the request carries the valid bearer token.
    pub fn check(&self, req: &wiremock::Request) -> Option<ResponseTemplate> {
        let valid = self
            .valid_token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match bearer_of(req) {
            Some(t) if t == valid => None,
            _ => Some(unauthenticated()),
        }
    }

    /// The one 429 (with `Retry-After: 1`) of this account, if not yet sent.
    pub fn throttle(&self, body: Value) -> Option<ResponseTemplate> {
        self.throttle_once
            .swap(false, std::sync::atomic::Ordering::SeqCst)
            .then(|| {
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "1")
                    .set_body_json(body)
            })
    }
}

/// An opaque page token for `offset` of listing `scope`.
pub fn page_token(scope: &str, offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{scope}|{offset}"))
}

/// The offset in a page token of listing `scope`; `None` for a token that
/// is not one (the fake answers 400).
pub fn page_offset(scope: &str, token: &str) -> Option<usize> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (s, o) = text.rsplit_once('|')?;
    (s == scope).then_some(())?;
    o.parse().ok()
}

/// A mock server answering every request with `response` (error cases).
pub async fn failing_server(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(response)
        .mount(&server)
        .await;
    server
}
