//! The shared Graph client against wiremock: `@odata.nextLink` paging,
//! throttling, error mapping, the per-mailbox concurrency limit, and token
//! refresh with Microsoft's rotated refresh tokens.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fixture;
use dtp_adapters_microsoft::auth::oauth2_config_at;
use dtp_adapters_microsoft::{GraphClient, GraphConfig, GraphRequest, Page};
use dtp_auth::{OAuth2AuthDataGenerator, persist_fn};
use dtp_core::{AuthData, AuthRefresher, ErrorKind, OAuthTokens};
use secrecy::ExposeSecret;
use serde_json::Value;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn base(server: &MockServer) -> String {
    format!("{}/v1.0", server.uri())
}

fn client(server: &MockServer, account: &str) -> GraphClient {
    GraphClient::new(
        GraphConfig::new()
            .with_base_url(&base(server))
            .unwrap()
            .with_account(account),
    )
    .unwrap()
}

fn token() -> AuthData {
    AuthData::OAuth2(OAuthTokens::new("at-1"))
}

#[tokio::test]
async fn next_link_is_followed_verbatim_and_prefer_is_resent() {
    let server = MockServer::start().await;
    let b = base(&server);
    Mock::given(method("GET"))
        .and(path("/v1.0/me/contactFolders"))
        .and(query_param("$skip", "2"))
        .and(query_param("$top", "2"))
        .and(header("prefer", "outlook.timezone=\"UTC\""))
        .and(header("authorization", "Bearer at-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("me_contactFolders.page2", &[("base", &b)])),
        )
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me/contactFolders"))
        .and(header("authorization", "Bearer at-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("me_contactFolders.page1", &[("base", &b)])),
        )
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, "paging@example.com");
    let all: Vec<Value> = c
        .get_all(
            &token(),
            c.url("me/contactFolders").unwrap(),
            Some("outlook.timezone=\"UTC\""),
        )
        .await
        .unwrap();
    let names: Vec<&str> = all
        .iter()
        .map(|f| f["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Family", "Work", "Clubs"]);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    // The second request is the nextLink exactly, percent-encoding included.
    assert_eq!(
        format!(
            "{}?{}",
            reqs[1].url.path(),
            reqs[1].url.query().unwrap_or("")
        ),
        "/v1.0/me/contactFolders?%24top=2&%24skip=2"
    );
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused() {
    let server = MockServer::start().await;
    let mut page = fixture("me_contactFolders.page1", &[("base", &base(&server))]);
    page["@odata.nextLink"] = Value::from("https://evil.example/v1.0/me/contactFolders?$skip=2");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page))
        .mount(&server)
        .await;
    let c = client(&server, "origin@example.com");
    let err = c
        .get_page::<Value>(&token(), c.url("me/contactFolders").unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidData);
    let page: Page<Value> = serde_json::from_value(fixture(
        "me_contactFolders.page2",
        &[("base", &base(&server))],
    ))
    .unwrap();
    assert!(page.next_link.is_none());
}

async fn error_kind(
    status: u16,
    fixture_name: Option<&str>,
    retry_after: Option<&str>,
) -> ErrorKind {
    let server = MockServer::start().await;
    let mut t = ResponseTemplate::new(status);
    if let Some(f) = fixture_name {
        t = t.set_body_json(fixture(f, &[]));
    }
    if let Some(r) = retry_after {
        t = t.insert_header("Retry-After", r);
    }
    Mock::given(method("GET"))
        .respond_with(t)
        .mount(&server)
        .await;
    let c = client(&server, "errors@example.com");
    c.execute(&token(), GraphRequest::get(c.url("me/contacts").unwrap()))
        .await
        .unwrap_err()
        .kind()
        .clone()
}

#[tokio::test]
async fn statuses_and_error_bodies_map_to_kinds() {
    assert_eq!(
        error_kind(429, Some("error.429.TooManyRequests"), Some("2")).await,
        ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(2))
        }
    );
    assert_eq!(
        error_kind(503, None, Some("5")).await,
        ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(5))
        }
    );
    assert_eq!(error_kind(503, None, None).await, ErrorKind::Transient);
    assert_eq!(error_kind(500, None, None).await, ErrorKind::Transient);
    assert_eq!(
        error_kind(401, Some("error.401.InvalidAuthenticationToken"), None).await,
        ErrorKind::Unauthenticated
    );
    assert_eq!(
        error_kind(507, Some("error.507.quotaLimitReached"), None).await,
        ErrorKind::DestinationFull
    );
    assert_eq!(
        error_kind(403, Some("error.403.ErrorQuotaExceeded"), None).await,
        ErrorKind::DestinationFull
    );
    assert_eq!(
        error_kind(404, Some("error.404.ErrorItemNotFound"), None).await,
        ErrorKind::NotFound
    );
    assert_eq!(
        error_kind(400, Some("token.invalid_grant"), None).await,
        ErrorKind::Reauthorize
    );
}

#[tokio::test]
async fn no_bearer_without_oauth_credentials() {
    let server = MockServer::start().await;
    let c = client(&server, "none@example.com");
    let err = c
        .execute(&AuthData::None, GraphRequest::get(c.url("me").unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Reauthorize);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn pre_authenticated_urls_get_no_authorization_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("bytes"))
        .mount(&server)
        .await;
    let c = client(&server, "preauth@example.com");
    let url = url::Url::parse(&format!("{}/download?tempauth=x", server.uri())).unwrap();
    let body = c
        .execute(&token(), GraphRequest::get(url).without_auth())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "bytes");
    let reqs = server.received_requests().await.unwrap();
    assert!(reqs[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn at_most_four_requests_per_mailbox_are_in_flight() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"value": []}))
                .set_delay(Duration::from_millis(200)),
        )
        .mount(&server)
        .await;
    // Two clients of the same mailbox share the limit.
    let a = client(&server, "limit@example.com");
    let b = client(&server, "limit@example.com");
    let peak = Arc::new(Mutex::new(0usize));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        let probe = a.clone();
        let peak = peak.clone();
        tasks.push(tokio::spawn(async move {
            let url = c.url("me/messages").unwrap();
            let auth = token();
            let fut = c.get_json::<Value>(&auth, url);
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    r = &mut fut => { r.unwrap(); break; }
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {
                        let mut p = peak.lock().unwrap();
                        *p = (*p).max(probe.in_flight());
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    // 12 requests of 200 ms, 4 at a time: at least 3 rounds.
    assert!(elapsed >= Duration::from_millis(590), "{elapsed:?}");
    let peak = *peak.lock().unwrap();
    assert_eq!(peak, 4, "peak in flight {peak}");
    // Another mailbox has its own budget.
    let other = client(&server, "other@example.com");
    assert_eq!(other.in_flight(), 0);
}

async fn token_endpoint(server: &MockServer) {
    for (old, at, rt) in [("rt-1", "at-2", "rt-2"), ("rt-2", "at-3", "rt-3")] {
        Mock::given(method("POST"))
            .and(path("/common/oauth2/v2.0/token"))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(move |req: &wiremock::Request| {
                url::form_urlencoded::parse(&req.body)
                    .any(|(k, v)| k == "refresh_token" && v == old)
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture(
                "token.refresh.rotated",
                &[("access_token", at), ("refresh_token", rt)],
            )))
            .with_priority(1)
            .up_to_n_times(1)
            .mount(server)
            .await;
    }
    // Anything else (an old, rotated-away refresh token, a second use): refused.
    Mock::given(method("POST"))
        .and(path("/common/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(fixture("token.invalid_grant", &[])))
        .with_priority(5)
        .mount(server)
        .await;
}

#[tokio::test]
async fn expired_token_refreshes_and_rotated_refresh_tokens_are_persisted() {
    let server = MockServer::start().await;
    token_endpoint(&server).await;
    let ok = || ResponseTemplate::new(200).set_body_json(serde_json::json!({"value": []}));
    let expired = || {
        ResponseTemplate::new(401)
            .set_body_json(fixture("error.401.InvalidAuthenticationToken", &[]))
    };
    Mock::given(header("authorization", "Bearer at-2"))
        .respond_with(ok())
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(header("authorization", "Bearer at-3"))
        .respond_with(ok())
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(expired())
        .with_priority(9)
        .mount(&server)
        .await;

    let config = oauth2_config_at(&server.uri(), "common", "client-id");
    let generator = OAuth2AuthDataGenerator::new(config).unwrap();
    let persisted: Arc<Mutex<Vec<AuthData>>> = Arc::default();
    let sink = persisted.clone();
    let source = generator
        .token_source(
            OAuthTokens::new("at-1")
                .with_refresh_token("rt-1")
                .with_token_url(format!("{}/common/oauth2/v2.0/token", server.uri())),
        )
        .on_new_tokens(persist_fn(move |auth| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(auth);
                Ok(())
            }
        }))
        .build();
    let c = client(&server, "refresh@example.com");
    let url = c.url("me/contacts").unwrap();
    // 1: at-1 expired → refresh with rt-1 → at-2 (+ rt-2) → 200.
    c.execute_with_source(&source, || Ok(GraphRequest::get(url.clone())))
        .await
        .unwrap();
    // 2: at-2 now expired too → refresh must use the rotated rt-2.
    c.execute_with_source(&source, || Ok(GraphRequest::get(url.clone())))
        .await
        .unwrap();
    let refresh_tokens: Vec<String> = persisted
        .lock()
        .unwrap()
        .iter()
        .map(|a| match a {
            AuthData::OAuth2(t) => t
                .refresh_token
                .as_ref()
                .unwrap()
                .expose_secret()
                .to_string(),
            _ => panic!("not oauth"),
        })
        .collect();
    assert_eq!(refresh_tokens, ["rt-2", "rt-3"]);
    match source.auth_data() {
        AuthData::OAuth2(t) => assert_eq!(t.access_token.expose_secret(), "at-3"),
        _ => panic!("not oauth"),
    }
    // No secret in the persisted credentials' Debug.
    let shown = format!("{:?}", persisted.lock().unwrap());
    assert!(
        !shown.contains("rt-3") && !shown.contains("at-3"),
        "{shown}"
    );
}

#[tokio::test]
async fn the_driver_refresher_keeps_the_rotated_refresh_token() {
    let server = MockServer::start().await;
    token_endpoint(&server).await;
    let generator =
        OAuth2AuthDataGenerator::new(oauth2_config_at(&server.uri(), "common", "client-id"))
            .unwrap();
    let first = generator
        .refresh(&AuthData::OAuth2(
            OAuthTokens::new("at-1").with_refresh_token("rt-1"),
        ))
        .await
        .unwrap();
    let second = generator.refresh(&first).await.unwrap();
    match second {
        AuthData::OAuth2(t) => {
            assert_eq!(t.refresh_token.unwrap().expose_secret(), "rt-3");
            assert_eq!(t.access_token.expose_secret(), "at-3");
        }
        _ => panic!("not oauth"),
    }
    // Re-using the rotated-away token is refused: Reauthorize.
    let err = generator
        .refresh(&AuthData::OAuth2(
            OAuthTokens::new("at-1").with_refresh_token("rt-1"),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Reauthorize);
}

#[test]
fn debug_of_a_request_hides_the_query_of_pre_authenticated_urls() {
    let url = url::Url::parse("https://upload.example/session?tempauth=SECRET-TOKEN").unwrap();
    let req = GraphRequest::put(url).without_auth();
    let shown = format!("{req:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("/session"), "{shown}");
    let c = GraphClient::new(GraphConfig::new()).unwrap();
    assert!(!format!("{c:?}").contains("Bearer"));
}
