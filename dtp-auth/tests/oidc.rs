//! dtp-auth against a real authorization server (oidc-provider on loopback,
//! started per test and stopped on drop).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{OidcServer, REDIRECT, authorize, callback_from, follow_to_callback};
use dtp_auth::{
    AuthFailure, LoopbackRedirect, OAuth2AuthDataGenerator, TokenSource, XChaChaSealer,
    auth_failure, persist_fn,
};
use dtp_core::auth::{AuthCallback, AuthRequest, PendingAuth};
use dtp_core::{
    AuthData, AuthDataGenerator, AuthMode, AuthRefresher, AuthSealer, DataType, Error, ErrorKind,
    OAuthTokens,
};
use secrecy::{ExposeSecret, SecretString};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn oauth(auth: AuthData) -> OAuthTokens {
    match auth {
        AuthData::OAuth2(t) => t,
        other => panic!("expected OAuth tokens, got {other:?}"),
    }
}

fn assert_failure(err: &Error, kind: ErrorKind, failure: impl Fn(&AuthFailure) -> bool) {
    assert_eq!(err.kind(), &kind, "{err:?}");
    let f = auth_failure(err).unwrap_or_else(|| panic!("no AuthFailure in {err:?}"));
    assert!(failure(f), "unexpected failure {f:?}");
}

fn invalid_grant(f: &AuthFailure) -> bool {
    matches!(f, AuthFailure::TokenEndpoint { error, .. } if error == "invalid_grant")
}

/// Collects every set of tokens handed to the persister.
#[derive(Clone, Default)]
struct Persisted(Arc<Mutex<Vec<OAuthTokens>>>);

impl Persisted {
    fn source(&self, generator: &OAuth2AuthDataGenerator, tokens: OAuthTokens) -> TokenSource {
        let sink = self.0.clone();
        generator
            .token_source(tokens)
            .refresh_skew(Duration::ZERO)
            .on_new_tokens(persist_fn(move |auth: AuthData| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(oauth(auth));
                    Ok(())
                }
            }))
            .build()
    }
    fn all(&self) -> Vec<OAuthTokens> {
        self.0.lock().unwrap().clone()
    }
}

async fn userinfo_status(server: &OidcServer, token: &str) -> u16 {
    reqwest::Client::new()
        .get(server.url("/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_loopback_pkce_userinfo_expiry_refresh_revocation_reauthorize() {
    let server = OidcServer::start(3);
    let generator = server.generator();

    // Authorization URL with state, PKCE S256, scopes and extra parameters.
    let loopback = LoopbackRedirect::bind().await.unwrap();
    let flow = generator
        .begin(AuthRequest::new(
            DataType::Calendar,
            AuthMode::Export,
            loopback.redirect_uri(),
        ))
        .await
        .unwrap();
    let url = url::Url::parse(&flow.authorization_url).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "openid offline_access profile");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["redirect_uri"], loopback.redirect_uri());
    assert_eq!(q["state"], flow.pending.state.expose_secret());
    assert!(q["state"].len() >= 43);
    let verifier = flow
        .pending
        .pkce_verifier
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    assert!(verifier.len() >= 43);
    assert!(!flow.authorization_url.contains(&verifier));

    // The browser: the redirect chain ends at our loopback listener.
    let pending = flow.pending.clone();
    let waiter =
        tokio::spawn(async move { loopback.receive(&pending, Duration::from_secs(20)).await });
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = browser.get(&flow.authorization_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Authorization received")
    );
    let callback = waiter.await.unwrap().unwrap();

    // Code -> tokens with the PKCE verifier.
    let before = now();
    let tokens = oauth(generator.complete(flow.pending, callback).await.unwrap());
    assert!(tokens.refresh_token.is_some());
    let exp = tokens.expires_at.unwrap();
    assert!((before + 2..=now() + 3).contains(&exp), "expires_at {exp}");
    assert!(tokens.scopes.iter().any(|s| s == "offline_access"));
    assert_eq!(
        tokens.token_url.as_deref(),
        Some(server.url("/token").as_str())
    );

    // API call with the token.
    let persisted = Persisted::default();
    let source = persisted.source(&generator, tokens.clone());
    let me = source
        .send(|| reqwest::Client::new().get(server.url("/me")))
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["sub"], "alice");
    assert_eq!(server.refresh_grants().await, 0);

    // Expiry: the server rejects the old token, the source refreshes first.
    let until_expired = (exp - now()).max(0) as f64 + 1.2;
    tokio::time::sleep(Duration::from_secs_f64(until_expired)).await;
    assert_eq!(
        userinfo_status(&server, tokens.access_token.expose_secret()).await,
        401
    );
    let me = source
        .send(|| reqwest::Client::new().get(server.url("/me")))
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(server.refresh_grants().await, 1);
    let saved = persisted.all();
    assert_eq!(saved.len(), 1);
    assert_ne!(
        saved[0].access_token.expose_secret(),
        tokens.access_token.expose_secret()
    );

    // Revocation ends the grant: the API refuses, the refresh is refused,
    // and the source says the user must authorize again.
    generator.revoke(&source.auth_data()).await.unwrap();
    let current = oauth(source.auth_data());
    assert_eq!(
        userinfo_status(&server, current.access_token.expose_secret()).await,
        401
    );
    let err = source
        .send(|| reqwest::Client::new().get(server.url("/me")))
        .await
        .unwrap_err();
    assert_failure(&err, ErrorKind::Reauthorize, invalid_grant);
    assert!(err.is_job_level());
    // It stays so, without asking the server again.
    let errors_before = server.stats().await["grant_errors"].as_u64().unwrap();
    let err = source.token().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Reauthorize);
    assert_eq!(
        server.stats().await["grant_errors"].as_u64().unwrap(),
        errors_before
    );
    assert_eq!(persisted.all().len(), 1);
}

#[tokio::test]
async fn loopback_login_helper_runs_the_whole_cli_login() {
    let server = OidcServer::start(60);
    let generator = server.generator();
    let (url_tx, url_rx) = tokio::sync::oneshot::channel::<String>();
    let browser = tokio::spawn(async move {
        let url = url_rx.await.unwrap();
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        client.get(url).send().await.unwrap().status()
    });
    let auth = LoopbackRedirect::authorize(
        &generator,
        DataType::Calendar,
        AuthMode::Import,
        Duration::from_secs(20),
        move |url| url_tx.send(url.to_owned()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(browser.await.unwrap(), 200);
    let tokens = oauth(auth);
    // Import scopes were requested and granted.
    assert!(
        tokens.scopes.iter().any(|s| s == "email"),
        "{:?}",
        tokens.scopes
    );
    assert!(!tokens.scopes.iter().any(|s| s == "profile"));
    assert_eq!(
        userinfo_status(&server, tokens.access_token.expose_secret()).await,
        200
    );
}

#[tokio::test]
async fn state_mismatch_and_missing_state_are_refused_before_any_exchange() {
    let server = OidcServer::start(60);
    let generator = server.generator();
    let (flow, callback) = authorize(&generator, REDIRECT).await;

    let mut forged = callback.clone();
    forged.state = Some("attacker-chosen-state".into());
    let err = generator
        .complete(flow.pending.clone(), forged)
        .await
        .unwrap_err();
    assert_failure(&err, ErrorKind::PermissionDenied, |f| {
        *f == AuthFailure::StateMismatch
    });

    // A prefix of the right state is no match either.
    let mut prefix = callback.clone();
    prefix.state = Some(flow.pending.state.expose_secret()[..10].to_owned());
    let err = generator
        .complete(flow.pending.clone(), prefix)
        .await
        .unwrap_err();
    assert_failure(&err, ErrorKind::PermissionDenied, |f| {
        *f == AuthFailure::StateMismatch
    });

    let mut stateless = callback.clone();
    stateless.state = None;
    let err = generator
        .complete(flow.pending.clone(), stateless)
        .await
        .unwrap_err();
    assert_failure(&err, ErrorKind::PermissionDenied, |f| {
        *f == AuthFailure::MissingState
    });

    // RFC 9207: the server names itself on the redirect; another issuer, or
    // none, is refused.
    assert_eq!(callback.iss.as_deref(), Some(server.url("").as_str()));
    let mut mixed_up = callback.clone();
    mixed_up.iss = Some("https://evil.example".into());
    let err = generator
        .complete(flow.pending.clone(), mixed_up)
        .await
        .unwrap_err();
    assert_failure(&err, ErrorKind::PermissionDenied, |f| {
        *f == AuthFailure::IssuerMismatch
    });
    let mut no_iss = callback.clone();
    no_iss.iss = None;
    let err = generator
        .complete(flow.pending.clone(), no_iss)
        .await
        .unwrap_err();
    assert_failure(&err, ErrorKind::PermissionDenied, |f| {
        *f == AuthFailure::MissingIssuer
    });

    // Nothing reached the token endpoint, so the code still works.
    let stats = server.stats().await;
    assert_eq!(stats["grants"]["authorization_code"], 0);
    assert_eq!(stats["grant_errors"], 0);
    generator.complete(flow.pending, callback).await.unwrap();
    assert_eq!(server.stats().await["grants"]["authorization_code"], 1);
}

#[tokio::test]
async fn provider_error_on_the_redirect_is_permission_denied() {
    let server = OidcServer::start(60);
    let generator = server.generator();
    let (flow, _) = authorize(&generator, REDIRECT).await;
    let mut denied = AuthCallback::default();
    denied.state = Some(flow.pending.state.expose_secret().to_owned());
    denied.iss = Some(server.url(""));
    denied.error = Some("access_denied".into());
    let err = generator.complete(flow.pending, denied).await.unwrap_err();
    assert_failure(
        &err,
        ErrorKind::PermissionDenied,
        |f| matches!(f, AuthFailure::AuthorizationError { error } if error == "access_denied"),
    );
}

#[tokio::test]
async fn wrong_or_missing_pkce_verifier_is_refused() {
    let server = OidcServer::start(60);
    let generator = server.generator();

    // Wrong verifier: the server checks it against the challenge.
    let (flow, callback) = authorize(&generator, REDIRECT).await;
    let wrong = PendingAuth::new(
        flow.pending.request.clone(),
        flow.pending.state.expose_secret(),
        Some("a-different-but-well-formed-verifier-0123456789abcdef".into()),
    );
    let err = generator.complete(wrong, callback).await.unwrap_err();
    assert_failure(&err, ErrorKind::Reauthorize, invalid_grant);
    assert_eq!(server.stats().await["grant_errors"], 1);

    // Missing verifier: refused before the code leaves the process.
    let (flow, callback) = authorize(&generator, REDIRECT).await;
    let missing = PendingAuth::new(
        flow.pending.request.clone(),
        flow.pending.state.expose_secret(),
        None,
    );
    let err = generator.complete(missing, callback).await.unwrap_err();
    assert_failure(&err, ErrorKind::InvalidData, |f| {
        *f == AuthFailure::MissingPkceVerifier
    });
    assert_eq!(server.stats().await["grant_errors"], 1);
    assert_eq!(server.stats().await["grants"]["authorization_code"], 0);
}

#[tokio::test]
async fn a_reused_code_is_refused_and_kills_the_first_tokens() {
    let server = OidcServer::start(60);
    let generator = server.generator();
    let (flow, callback) = authorize(&generator, REDIRECT).await;
    let first = oauth(
        generator
            .complete(flow.pending.clone(), callback.clone())
            .await
            .unwrap(),
    );
    assert_eq!(
        userinfo_status(&server, first.access_token.expose_secret()).await,
        200
    );
    let err = generator
        .complete(flow.pending, callback)
        .await
        .unwrap_err();
    assert_failure(&err, ErrorKind::Reauthorize, invalid_grant);
    // RFC 6749 4.1.2: the server revokes what the code produced.
    assert_eq!(
        userinfo_status(&server, first.access_token.expose_secret()).await,
        401
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_permission_denied() {
    let server = OidcServer::start(60);
    let good = server.generator();
    let bad = OAuth2AuthDataGenerator::new(server.config_with_secret("not-the-secret")).unwrap();
    let (flow, callback) = authorize(&good, REDIRECT).await;
    let err = bad.complete(flow.pending, callback).await.unwrap_err();
    assert_failure(
        &err,
        ErrorKind::PermissionDenied,
        |f| matches!(f, AuthFailure::TokenEndpoint { error, status: 401, .. } if error == "invalid_client"),
    );
    // Refresh with the wrong secret too.
    let (flow, callback) = authorize(&good, REDIRECT).await;
    let tokens = oauth(good.complete(flow.pending, callback).await.unwrap());
    let err = bad.refresh_tokens(&tokens).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
}

#[tokio::test]
async fn refresh_after_revocation_is_reauthorize() {
    let server = OidcServer::start(60);
    let generator = server.generator();
    let (flow, callback) = authorize(&generator, REDIRECT).await;
    let auth = generator.complete(flow.pending, callback).await.unwrap();
    let refreshed = generator.refresh(&auth).await.unwrap();
    generator.revoke(&refreshed).await.unwrap();
    let err = generator.refresh(&refreshed).await.unwrap_err();
    assert_failure(&err, ErrorKind::Reauthorize, invalid_grant);
    assert_eq!(err.context().service.as_deref(), Some("test-oidc"));
    // Credentials without a refresh token cannot be refreshed at all.
    let no_rt = AuthData::OAuth2(OAuthTokens::new("x"));
    let err = generator.refresh(&no_rt).await.unwrap_err();
    assert_failure(&err, ErrorKind::Reauthorize, |f| {
        *f == AuthFailure::NoRefreshToken
    });
    let err = generator
        .refresh(&AuthData::basic("u", "p"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Reauthorize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_requests_with_an_expired_token_refresh_once() {
    let server = OidcServer::start(60);
    let generator = server.generator();
    let (flow, callback) = authorize(&generator, REDIRECT).await;
    let mut tokens = oauth(generator.complete(flow.pending, callback).await.unwrap());
    tokens.expires_at = Some(now() - 1);
    let persisted = Persisted::default();
    let source = persisted.source(&generator, tokens);
    let http = reqwest::Client::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (source, http, url, barrier) = (
            source.clone(),
            http.clone(),
            server.url("/me"),
            barrier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            source
                .send(|| http.get(&url))
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    assert_eq!(server.refresh_grants().await, 1);
    assert_eq!(persisted.all().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_401s_share_one_refresh_and_each_retries_once() {
    let server = OidcServer::start(60);
    let generator = server.generator();
    let (flow, callback) = authorize(&generator, REDIRECT).await;
    let mut tokens = oauth(generator.complete(flow.pending, callback).await.unwrap());
    // Valid by our clock, but unknown to the server (invalidated early):
    // every call gets a 401. (Revoking it at oidc-provider would end the
    // whole grant, refresh token included.)
    tokens.access_token = SecretString::from("invalidated-access-token-0123456789".to_owned());
    assert_eq!(
        userinfo_status(&server, tokens.access_token.expose_secret()).await,
        401
    );
    let persisted = Persisted::default();
    let source = persisted.source(&generator, tokens);
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (source, url, calls) = (source.clone(), server.url("/me"), calls.clone());
        tasks.push(tokio::spawn(async move {
            source
                .call(|bearer| {
                    let url = url.clone();
                    calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    async move {
                        let r = reqwest::Client::new()
                            .get(url)
                            .bearer_auth(bearer.secret())
                            .send()
                            .await
                            .map_err(|_| Error::transient("request"))?;
                        match r.status().as_u16() {
                            401 => Err(Error::new(ErrorKind::Unauthenticated, "401")),
                            200 => Ok(bearer.generation()),
                            s => Err(Error::internal(format!("status {s}"))),
                        }
                    }
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 1);
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 40);
    assert_eq!(server.refresh_grants().await, 1);
    assert_eq!(persisted.all().len(), 1);
}

#[tokio::test]
async fn rotated_refresh_tokens_are_persisted_and_used_next() {
    let server = OidcServer::start(60);
    let generator = server.generator();
    let (flow, callback) = authorize(&generator, REDIRECT).await;
    let initial = oauth(generator.complete(flow.pending, callback).await.unwrap());
    let rt0 = initial
        .refresh_token
        .clone()
        .unwrap()
        .expose_secret()
        .to_owned();

    let sealer = XChaChaSealer::new(&[9; 32]);
    let persisted = Persisted::default();
    let source = persisted.source(&generator, initial.clone());

    let b0 = source.token().await.unwrap();
    let b1 = source.refresh_rejected(&b0).await.unwrap();
    let b2 = source.refresh_rejected(&b1).await.unwrap();
    assert_eq!((b1.generation(), b2.generation()), (1, 2));
    let saved = persisted.all();
    assert_eq!(saved.len(), 2);
    let rt1 = saved[0]
        .refresh_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let rt2 = saved[1]
        .refresh_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    assert!(
        rt0 != rt1 && rt1 != rt2 && rt0 != rt2,
        "the server rotates on every refresh"
    );
    assert_eq!(server.refresh_grants().await, 2);

    // What a restarted worker does: open the stored blob and go on with it.
    let blob = sealer.seal(&AuthData::OAuth2(saved[1].clone())).unwrap();
    let restored = oauth(sealer.open(&blob).unwrap());
    let resumed = Persisted::default();
    let source2 = resumed.source(&generator, restored);
    let b = source2.token().await.unwrap();
    source2.refresh_rejected(&b).await.unwrap();
    assert_eq!(server.refresh_grants().await, 3);

    // The first, rotated-away refresh token is dead at the server.
    let err = generator.refresh_tokens(&initial).await.unwrap_err();
    assert_failure(&err, ErrorKind::Reauthorize, invalid_grant);
}

#[tokio::test]
async fn token_source_as_auth_refresher_returns_newer_credentials_once() {
    let server = OidcServer::start(60);
    let generator = server.generator();
    let (flow, callback) = authorize(&generator, REDIRECT).await;
    let tokens = oauth(generator.complete(flow.pending, callback).await.unwrap());
    let persisted = Persisted::default();
    let source = persisted.source(&generator, tokens.clone());
    let stale = AuthData::OAuth2(tokens);
    // Two workers both saw the stale token rejected: one refresh.
    let (a, b) = tokio::join!(source.refresh(&stale), source.refresh(&stale));
    let (a, b) = (oauth(a.unwrap()), oauth(b.unwrap()));
    assert_eq!(
        a.access_token.expose_secret(),
        b.access_token.expose_secret()
    );
    assert_eq!(server.refresh_grants().await, 1);
    assert_eq!(persisted.all().len(), 1);
}

/// A `MakeWriter` collecting everything tracing prints.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// Runs the browser part in another thread, outside the captured subscriber
/// (the test's own HTTP client logs the redirect URL, code and all).
async fn browser_elsewhere(url: String) -> url::Url {
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(follow_to_callback(&url))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_in_debug_display_errors_or_logs_during_a_full_flow() {
    let server = OidcServer::start(2);
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let generator = server.generator();
    let mut secrets: Vec<String> = vec![common::CLIENT_SECRET.to_owned()];
    let mut shown: Vec<String> = Vec::new();
    let mut show = |s: String| shown.push(s);

    let flow = generator
        .begin(AuthRequest::new(
            DataType::Calendar,
            AuthMode::Export,
            REDIRECT,
        ))
        .await
        .unwrap();
    secrets.push(flow.pending.state.expose_secret().to_owned());
    secrets.push(
        flow.pending
            .pkce_verifier
            .as_ref()
            .unwrap()
            .expose_secret()
            .to_owned(),
    );
    show(format!("{:?} {:#?}", flow.pending, flow.pending));
    let callback = callback_from(&browser_elsewhere(flow.authorization_url.clone()).await);
    secrets.push(callback.code.as_ref().unwrap().expose_secret().to_owned());
    show(format!("{callback:?}"));

    // Failures along the way.
    let mut forged = callback.clone();
    forged.state = Some("x".into());
    let e = generator
        .complete(flow.pending.clone(), forged)
        .await
        .unwrap_err();
    show(format!("{e} {e:?}"));

    let auth = generator
        .complete(flow.pending.clone(), callback.clone())
        .await
        .unwrap();
    let tokens = oauth(auth.clone());
    secrets.push(tokens.access_token.expose_secret().to_owned());
    secrets.push(
        tokens
            .refresh_token
            .as_ref()
            .unwrap()
            .expose_secret()
            .to_owned(),
    );

    let sealer = XChaChaSealer::new(&[1; 32]);
    let persisted = Persisted::default();
    let source = persisted.source(&generator, tokens.clone());
    let first = source.token().await.unwrap();
    let bearer = source.refresh_rejected(&first).await.unwrap();
    assert_eq!(bearer.generation(), 1);
    show(format!("{bearer:?} {source:?}"));
    let renewed = oauth(source.auth_data());
    secrets.push(renewed.access_token.expose_secret().to_owned());
    secrets.push(
        renewed
            .refresh_token
            .as_ref()
            .unwrap()
            .expose_secret()
            .to_owned(),
    );
    let blob = sealer.seal(&source.auth_data()).unwrap();
    show(format!(
        "{blob:?} {sealer:?} {generator:?} {:?}",
        generator.config()
    ));

    generator.revoke(&source.auth_data()).await.unwrap();
    let e = source.refresh_rejected(&bearer).await.unwrap_err();
    show(format!("{e} {e:?}"));
    let e = XChaChaSealer::new(&[2; 32]).open(&blob).unwrap_err();
    show(format!("{e} {e:?}"));
    // The code again.
    let e = generator
        .complete(flow.pending.clone(), callback.clone())
        .await
        .unwrap_err();
    show(format!("{e} {e:?}"));

    // Every auth type, with {:?}, {:#?} and {}.
    let basic = AuthData::basic("alice", "basic-password-SECRET");
    let key = AuthData::api_key("api-key-SECRET");
    secrets.push("basic-password-SECRET".into());
    secrets.push("api-key-SECRET".into());
    for a in [
        &auth,
        &AuthData::OAuth2(renewed.clone()),
        &basic,
        &key,
        &AuthData::None,
    ] {
        show(format!("{a:?} {a:#?} {a}"));
    }
    show(format!("{tokens:?} {tokens}"));
    show(format!("{:?}", SecretString::from("x".to_owned())));

    drop(_guard);
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The capture really saw the flow.
    for event in [
        "authorization started",
        "authorization completed",
        "access token refreshed",
        "token revoked",
        "token refresh failed",
    ] {
        assert!(
            logs.contains(event),
            "missing log event {event:?} in:\n{logs}"
        );
    }
    assert!(shown.iter().any(|s| s.contains("alice")));
    assert!(
        shown
            .iter()
            .any(|s| s.contains("OAuth 2.0 tokens (with refresh token"))
    );
    for secret in &secrets {
        assert!(secret.len() >= 8, "weak probe {secret:?}");
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
        for s in &shown {
            assert!(!s.contains(secret.as_str()), "a secret leaked into {s}");
        }
    }
}
