//! Token endpoint misbehaviour that a real server will not produce on
//! demand (wiremock on loopback), token-source mechanics at the wire level,
//! and sealed credentials in the SQLite job store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dtp_auth::{
    AuthFailure, ClientAuthMethod, OAuth2AuthDataGenerator, OAuth2Config, SealedAuthStore,
    TokenPersister, XChaChaSealer, auth_failure, persist_fn,
};
use dtp_core::auth::{AuthCallback, AuthRequest};
use dtp_core::store::{JobStore, NewJob, SqliteJobStore};
use dtp_core::{
    AuthData, AuthDataGenerator, AuthMode, AuthSealer, DataType, Error, ErrorKind, OAuthTokens,
};
use secrecy::ExposeSecret;
use wiremock::matchers::{body_string_contains, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const LEAK: &str = "LEAKED-token-value-must-not-appear";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn config(server: &MockServer) -> OAuth2Config {
    OAuth2Config::new(
        "mock",
        format!("{}/authorize", server.uri()),
        format!("{}/token", server.uri()),
        "client-1",
    )
    .with_client_secret("client-secret-1")
    .with_scopes(DataType::Mail, AuthMode::Export, ["mail.read"])
    .with_request_timeout(Duration::from_secs(5))
}

async fn exchange(config: OAuth2Config) -> Result<AuthData, Error> {
    let generator = OAuth2AuthDataGenerator::new(config).unwrap();
    let flow = generator
        .begin(AuthRequest::new(
            DataType::Mail,
            AuthMode::Export,
            "http://127.0.0.1:9/cb",
        ))
        .await
        .unwrap();
    let state = flow.pending.state.expose_secret().to_owned();
    generator
        .complete(flow.pending, AuthCallback::new("code-1", state))
        .await
}

async fn token_endpoint_answers(template: ResponseTemplate) -> (MockServer, Error) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(template)
        .expect(1)
        .mount(&server)
        .await;
    let err = exchange(config(&server)).await.unwrap_err();
    assert!(err.is_job_level());
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(LEAK), "{shown}");
    (server, err)
}

fn token_json(access: &str, refresh: Option<&str>, expires_in: u64) -> serde_json::Value {
    let mut v = serde_json::json!({
        "access_token": access, "token_type": "Bearer", "expires_in": expires_in, "scope": "mail.read"
    });
    if let Some(r) = refresh {
        v["refresh_token"] = r.into();
    }
    v
}

#[tokio::test]
async fn malformed_json_is_invalid_data() {
    let body = format!("{{\"access_token\": \"{LEAK}\", \"token_type\": ");
    let (_s, err) =
        token_endpoint_answers(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
            .await;
    assert_eq!(err.kind(), &ErrorKind::InvalidData);
    assert!(matches!(
        auth_failure(&err),
        Some(AuthFailure::MalformedResponse { .. })
    ));
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_invalid_data() {
    // expires_in as a string holding a token: serde would quote it.
    let body = serde_json::json!({"access_token": 42, "token_type": "Bearer", "expires_in": LEAK});
    let (_s, err) = token_endpoint_answers(
        ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json"),
    )
    .await;
    assert!(matches!(
        auth_failure(&err),
        Some(AuthFailure::MalformedResponse { .. })
    ));
    let body = serde_json::json!({"access_token": "", "token_type": "Bearer"});
    let (_s, err) = token_endpoint_answers(
        ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json"),
    )
    .await;
    assert!(matches!(
        auth_failure(&err),
        Some(AuthFailure::MalformedResponse { .. })
    ));
    let body = serde_json::json!({"token_type": "Bearer"});
    let (_s, err) = token_endpoint_answers(
        ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json"),
    )
    .await;
    assert!(matches!(
        auth_failure(&err),
        Some(AuthFailure::MalformedResponse { .. })
    ));
    let (_s, err) =
        token_endpoint_answers(ResponseTemplate::new(200).set_body_raw("", "application/json"))
            .await;
    assert!(matches!(
        auth_failure(&err),
        Some(AuthFailure::MalformedResponse { .. })
    ));
}

#[tokio::test]
async fn an_html_page_is_invalid_data_or_transient() {
    let page = format!("<html><body>Sign in again {LEAK}</body></html>");
    let (_s, err) =
        token_endpoint_answers(ResponseTemplate::new(200).set_body_raw(page.clone(), "text/html"))
            .await;
    assert_eq!(err.kind(), &ErrorKind::InvalidData);
    assert_eq!(
        auth_failure(&err),
        Some(&AuthFailure::NotJson {
            content_type: "text/html".into()
        })
    );
    // A proxy's HTML error page on 502: passing, retry later.
    let (_s, err) =
        token_endpoint_answers(ResponseTemplate::new(502).set_body_raw(page.clone(), "text/html"))
            .await;
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert_eq!(
        auth_failure(&err),
        Some(&AuthFailure::HttpStatus { status: 502 })
    );
    // HTML on 400: not an OAuth error response.
    let (_s, err) =
        token_endpoint_answers(ResponseTemplate::new(400).set_body_raw(page, "text/html")).await;
    assert_eq!(err.kind(), &ErrorKind::InvalidData);
    assert!(matches!(
        auth_failure(&err),
        Some(AuthFailure::NotJson { .. })
    ));
}

#[tokio::test]
async fn a_slow_token_endpoint_times_out_as_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_json("a", None, 60))
                .set_delay(Duration::from_secs(10)),
        )
        .mount(&server)
        .await;
    let started = Instant::now();
    let err = exchange(config(&server).with_request_timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert!(err.is_retryable());
    assert_eq!(auth_failure(&err), Some(&AuthFailure::Timeout));
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_transient() {
    // Bind and drop: a loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = OAuth2Config::new(
        "down",
        "http://127.0.0.1:9/authorize",
        format!("http://127.0.0.1:{port}/token"),
        "c",
    )
    .with_scopes(DataType::Mail, AuthMode::Export, ["x"]);
    let err = exchange(config).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert_eq!(auth_failure(&err), Some(&AuthFailure::Unreachable));
}

#[tokio::test]
async fn token_requests_never_follow_redirects() {
    let server = MockServer::start().await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("a", None, 60)))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("Location", format!("{}/elsewhere", server.uri()).as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = exchange(config(&server)).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidData);
    assert_eq!(
        auth_failure(&err),
        Some(&AuthFailure::Redirect { status: 307 })
    );
}

#[tokio::test]
async fn rate_limits_keep_retry_after_and_oauth_errors_keep_their_code() {
    let (_s, err) = token_endpoint_answers(
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "7")
            .set_body_raw("slow down", "text/plain"),
    )
    .await;
    assert_eq!(
        err.kind(),
        &ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    let (_s, err) = token_endpoint_answers(ResponseTemplate::new(400).set_body_json(
        serde_json::json!({"error": "invalid_scope", "error_description": "no\nmail"}),
    ))
    .await;
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
    assert_eq!(
        auth_failure(&err),
        Some(&AuthFailure::TokenEndpoint {
            error: "invalid_scope".into(),
            description: Some("nomail".into()),
            status: 400
        })
    );
    let (_s, err) = token_endpoint_answers(
        ResponseTemplate::new(503).set_body_json(serde_json::json!({"error": "server_error"})),
    )
    .await;
    assert_eq!(err.kind(), &ErrorKind::Transient);
}

#[tokio::test]
async fn only_bearer_tokens_are_accepted() {
    let mut mac = token_json("a", None, 60);
    mac["token_type"] = "mac".into();
    let (_s, err) = token_endpoint_answers(ResponseTemplate::new(200).set_body_json(mac)).await;
    assert_eq!(err.kind(), &ErrorKind::InvalidData);
    assert_eq!(
        auth_failure(&err),
        Some(&AuthFailure::UnsupportedTokenType {
            token_type: "mac".into()
        })
    );
    // Case does not matter (RFC 6749 5.1).
    let server = MockServer::start().await;
    let mut lower = token_json("lower-case-ok", None, 60);
    lower["token_type"] = "bearer".into();
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(lower))
        .mount(&server)
        .await;
    let auth = exchange(config(&server)).await.unwrap();
    assert_eq!(auth.bearer_token(), Some("lower-case-ok"));
}

#[tokio::test]
async fn client_authentication_basic_or_post() {
    for (method_, expect_header) in [
        (ClientAuthMethod::Basic, true),
        (ClientAuthMethod::Post, false),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_json(
                "a-1",
                Some("r-1"),
                60,
            )))
            .expect(1)
            .mount(&server)
            .await;
        let auth = exchange(config(&server).with_client_auth(method_))
            .await
            .unwrap();
        assert_eq!(auth.bearer_token(), Some("a-1"));
        let requests = server.received_requests().await.unwrap();
        let body = String::from_utf8(requests[0].body.clone()).unwrap();
        assert!(body.contains("grant_type=authorization_code"));
        assert!(body.contains("code=code-1"));
        assert!(body.contains("code_verifier="));
        let auth_header = requests[0].headers.get("authorization");
        if expect_header {
            // base64("client-1:client-secret-1")
            assert_eq!(
                auth_header.unwrap().to_str().unwrap(),
                "Basic Y2xpZW50LTE6Y2xpZW50LXNlY3JldC0x"
            );
            assert!(!body.contains("client_secret"));
        } else {
            assert!(auth_header.is_none());
            assert!(body.contains("client_secret=client-secret-1"));
        }
    }
}

#[tokio::test]
async fn unsupported_data_types_and_bad_configs_are_typed() {
    let server = MockServer::start().await;
    let generator = OAuth2AuthDataGenerator::new(config(&server)).unwrap();
    let err = generator
        .begin(AuthRequest::new(
            DataType::Media,
            AuthMode::Export,
            "http://127.0.0.1:9/cb",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unsupported);
    assert!(matches!(
        auth_failure(&err),
        Some(AuthFailure::NoScopes { .. })
    ));
    let mut c = config(&server);
    c.token_url = "http://tokens.example/token".into();
    let err = OAuth2AuthDataGenerator::new(c).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Internal);
    let err = generator
        .begin(AuthRequest::new(
            DataType::Mail,
            AuthMode::Export,
            "not a url",
        ))
        .await
        .unwrap_err();
    assert!(matches!(
        auth_failure(&err),
        Some(AuthFailure::Config { .. })
    ));
}

/// Counts and keeps what the token source persists.
fn recorder() -> (Arc<Mutex<Vec<OAuthTokens>>>, impl TokenPersister) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let p = persist_fn(move |auth: AuthData| {
        let sink = sink.clone();
        async move {
            match auth {
                AuthData::OAuth2(t) => sink.lock().unwrap().push(t),
                _ => panic!("unexpected kind"),
            }
            Ok(())
        }
    });
    (seen, p)
}

fn expiring_in(secs: i64, refresh: &str) -> OAuthTokens {
    OAuthTokens::new("old-access")
        .with_refresh_token(refresh)
        .with_expires_at(now() + secs)
}

#[tokio::test]
async fn refresh_keeps_an_unrotated_refresh_token_and_uses_a_rotated_one_next() {
    let server = MockServer::start().await;
    // Google style: no refresh token in the answer.
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-old"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("a-1", None, 0)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let generator = OAuth2AuthDataGenerator::new(config(&server)).unwrap();
    let (seen, persister) = recorder();
    let source = generator
        .token_source(expiring_in(-5, "rt-old"))
        .on_new_tokens(persister)
        .build();
    let b1 = source.token().await.unwrap();
    assert_eq!(b1.secret(), "a-1");
    assert_eq!(
        seen.lock().unwrap()[0]
            .refresh_token
            .as_ref()
            .unwrap()
            .expose_secret(),
        "rt-old"
    );
    server.verify().await;
    server.reset().await;

    // Microsoft style: rotation.
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-old"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json(
            "a-2",
            Some("rt-new"),
            3600,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let b2 = source.refresh_rejected(&b1).await.unwrap();
    assert_eq!(b2.secret(), "a-2");
    server.verify().await;
    server.reset().await;

    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("a-3", None, 3600)))
        .expect(1)
        .mount(&server)
        .await;
    let b3 = source.refresh_rejected(&b2).await.unwrap();
    assert_eq!(b3.secret(), "a-3");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[1].refresh_token.as_ref().unwrap().expose_secret(),
        "rt-new"
    );
    assert_eq!(
        seen[2].refresh_token.as_ref().unwrap().expose_secret(),
        "rt-new"
    );
    // expires_at = now + expires_in.
    assert!((now() + 3590..=now() + 3600).contains(&seen[2].expires_at.unwrap()));
}

#[tokio::test]
async fn refresh_happens_ahead_of_expiry_by_the_configured_skew() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("fresh", None, 3600)))
        .expect(1)
        .mount(&server)
        .await;
    let generator = OAuth2AuthDataGenerator::new(config(&server)).unwrap();
    // Expires in 30 s; skew 10 s: still good, no refresh.
    let relaxed = generator
        .token_source(expiring_in(30, "rt"))
        .refresh_skew(Duration::from_secs(10))
        .build();
    assert_eq!(relaxed.token().await.unwrap().secret(), "old-access");
    // Default skew (60 s): refreshed first.
    let cautious = generator.token_source(expiring_in(30, "rt")).build();
    assert_eq!(cautious.token().await.unwrap().secret(), "fresh");
    // No expiry known: used until the API says 401.
    let unknown = generator
        .token_source(OAuthTokens::new("no-expiry").with_refresh_token("rt"))
        .build();
    assert_eq!(unknown.token().await.unwrap().secret(), "no-expiry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_refresh_is_reauthorize_for_everyone_after_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_delay(Duration::from_millis(200))
                .set_body_json(serde_json::json!({
                    "error": "invalid_grant",
                    "error_description": "AADSTS700082: The refresh token has expired due to inactivity."
                })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let generator = OAuth2AuthDataGenerator::new(config(&server)).unwrap();
    let (seen, persister) = recorder();
    let source = generator
        .token_source(expiring_in(-1, "rt-dead"))
        .on_new_tokens(persister)
        .build();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let source = source.clone();
        tasks.push(tokio::spawn(async move { source.token().await }));
    }
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Reauthorize);
        assert_eq!(err.context().service.as_deref(), Some("mock"));
    }
    assert!(seen.lock().unwrap().is_empty());
    // After the user authorizes again, the source works again.
    source.replace(OAuthTokens::new("relogged").with_expires_at(now() + 3600));
    assert_eq!(source.token().await.unwrap().secret(), "relogged");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_waiting_for_a_failed_refresh_share_its_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_delay(Duration::from_millis(300))
                .set_body_raw("<html>maintenance</html>", "text/html"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let generator = OAuth2AuthDataGenerator::new(config(&server)).unwrap();
    let source = generator.token_source(expiring_in(-1, "rt")).build();
    let barrier = Arc::new(tokio::sync::Barrier::new(30));
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let (source, barrier) = (source.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            source.token().await
        }));
    }
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Transient);
        assert_eq!(
            auth_failure(&err),
            Some(&AuthFailure::HttpStatus { status: 503 })
        );
    }
    server.verify().await;
    // The endpoint recovers; the next caller tries again.
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("back", None, 3600)))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(source.token().await.unwrap().secret(), "back");
}

#[tokio::test]
async fn a_failing_persister_is_retried_without_refreshing_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json(
            "new",
            Some("rt-2"),
            3600,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let generator = OAuth2AuthDataGenerator::new(config(&server)).unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let source = generator
        .token_source(expiring_in(-1, "rt-1"))
        .on_new_tokens(persist_fn(move |_auth: AuthData| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(Error::transient("job store busy"))
                } else {
                    Ok(())
                }
            }
        }))
        .build();
    let err = source.token().await.unwrap_err();
    assert_eq!(err.message(), "job store busy");
    assert_eq!(source.token().await.unwrap().secret(), "new");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(source.token().await.unwrap().secret(), "new");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn files_contain(dir: &std::path::Path, needle: &str) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .any(|bytes| contains(&bytes, needle))
}

#[tokio::test]
async fn sealed_auth_in_sqlite_holds_no_plaintext_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("jobs.sqlite");
    let key = [42u8; 32];
    let secrets = [
        "sqlite-access-SECRET-1",
        "sqlite-refresh-SECRET-2",
        "sqlite-password-SECRET-3",
        "rotated-SECRET-4",
    ];

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json(
            secrets[0],
            Some(secrets[3]),
            3600,
        )))
        .expect(1)
        .mount(&server)
        .await;

    let job = {
        let store = Arc::new(SqliteJobStore::open(&db).unwrap());
        let job = store
            .create_job(NewJob::new("source", "destination", [DataType::Mail]))
            .await
            .unwrap()
            .id;
        let auth_store = SealedAuthStore::new(store.clone(), Arc::new(XChaChaSealer::new(&key)));
        auth_store
            .save(&job, AuthMode::Import, &AuthData::basic("bob", secrets[2]))
            .await
            .unwrap();
        // Export side: a token source whose refresh lands in the store.
        let generator = OAuth2AuthDataGenerator::new(config(&server)).unwrap();
        let initial = OAuthTokens::new("expired-access-token")
            .with_refresh_token(secrets[1])
            .with_expires_at(now() - 10);
        auth_store
            .save(&job, AuthMode::Export, &AuthData::OAuth2(initial.clone()))
            .await
            .unwrap();
        let source = generator
            .token_source(initial)
            .on_new_tokens(auth_store.persister(job.clone(), AuthMode::Export))
            .build();
        assert_eq!(source.token().await.unwrap().secret(), secrets[0]);
        // Store only ever saw ciphertext: nothing in the DB, WAL or SHM files.
        for s in secrets {
            assert!(
                !files_contain(dir.path(), s),
                "{s} found in the database files"
            );
        }
        assert!(!files_contain(dir.path(), "bob"));
        let raw = store.auth(&job, AuthMode::Export).await.unwrap().unwrap();
        assert_eq!(raw.0[0], 1, "format version");
        job
    };

    // Reopen: what was persisted is the rotated token set.
    let store = Arc::new(SqliteJobStore::open(&db).unwrap());
    for s in secrets {
        assert!(!files_contain(dir.path(), s), "{s} found after reopening");
    }
    let auth_store = SealedAuthStore::new(store.clone(), Arc::new(XChaChaSealer::new(&key)));
    let export = auth_store
        .load(&job, AuthMode::Export)
        .await
        .unwrap()
        .unwrap();
    let AuthData::OAuth2(tokens) = export else {
        panic!("kind")
    };
    assert_eq!(tokens.access_token.expose_secret(), secrets[0]);
    assert_eq!(tokens.refresh_token.unwrap().expose_secret(), secrets[3]);
    let import = auth_store
        .load(&job, AuthMode::Import)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(import.to_string(), "password credentials of bob");

    // Wrong key, and a tampered row: typed errors.
    let wrong = SealedAuthStore::new(store.clone(), Arc::new(XChaChaSealer::new(&[43; 32])));
    let err = wrong.load(&job, AuthMode::Export).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidData);
    assert_eq!(auth_failure(&err), Some(&AuthFailure::SealBroken));
    let mut sealed = store.auth(&job, AuthMode::Import).await.unwrap().unwrap();
    let last = sealed.0.len() - 1;
    sealed.0[last] ^= 1;
    store
        .put_auth(&job, AuthMode::Import, &sealed)
        .await
        .unwrap();
    let err = auth_store.load(&job, AuthMode::Import).await.unwrap_err();
    assert_eq!(auth_failure(&err), Some(&AuthFailure::SealBroken));
    // Sealed blobs are not interchangeable with plaintext.
    let sealer = XChaChaSealer::new(&key);
    assert!(
        sealer
            .open(&dtp_core::SealedAuth(b"{\"kind\":\"none\"}".to_vec()))
            .is_err()
    );
}
