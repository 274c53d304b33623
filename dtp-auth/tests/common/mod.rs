//! Test harness: a real OAuth 2.0 / OpenID Connect server (oidc-provider on
//! Node.js) started on a free loopback port and stopped when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use dtp_auth::{OAuth2AuthDataGenerator, OAuth2Config};
use dtp_core::auth::{AuthCallback, AuthFlow};
use dtp_core::{AuthMode, DataType};
use secrecy::SecretString;

pub const CLIENT_ID: &str = "dtp-test";
pub const CLIENT_SECRET: &str = "dtp-test-client-SECRET-value";

fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Runs `tests/oidc/setup.sh` once per test process: it installs the pinned
/// oidc-provider with `npm ci` when node_modules is missing or stale.
fn ensure_installed() {
    static DONE: OnceLock<()> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    DONE.get_or_init(|| {
        let status = Command::new("bash")
            .arg(oidc_dir().join("setup.sh"))
            .status()
            .expect("bash must be available to install the test OIDC server");
        assert!(status.success(), "tests/oidc/setup.sh failed");
    });
}

/// A running oidc-provider; killed on drop.
pub struct OidcServer {
    child: Child,
    pub port: u16,
}

impl OidcServer {
    /// Starts a server whose access tokens live `access_ttl` seconds.
    pub fn start(access_ttl: u64) -> OidcServer {
        ensure_installed();
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let log_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "oidc-server-{}-{}.log",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let log = std::fs::File::create(&log_path).expect("server log file");
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(oidc_dir())
            .env("ACCESS_TTL", access_ttl.to_string())
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("node must be on PATH");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = OidcServer { child, port: 0 };
        let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("oidc-provider did not start within 30 s:\n{}", log_text()));
        server.port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("oidc-provider failed to start ({line:?}):\n{}", log_text()));
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A provider configuration for this server (the crate's own config).
    pub fn config(&self) -> OAuth2Config {
        self.config_with_secret(CLIENT_SECRET)
    }

    pub fn config_with_secret(&self, secret: &str) -> OAuth2Config {
        OAuth2Config::new(
            "test-oidc",
            self.url("/auth"),
            self.url("/token"),
            CLIENT_ID,
        )
        .with_client_secret(secret)
        .with_revocation_url(self.url("/token/revocation"))
        .with_issuer(self.url(""))
        .with_always_scopes(["openid", "offline_access"])
        .with_scopes(DataType::Calendar, AuthMode::Export, ["profile"])
        .with_scopes(DataType::Calendar, AuthMode::Import, ["email"])
        // oidc-provider grants offline_access only with prompt=consent.
        .with_authorize_param("prompt", "consent")
        .with_authorize_param("login_hint", "alice")
        .with_request_timeout(Duration::from_secs(10))
    }

    pub fn generator(&self) -> OAuth2AuthDataGenerator {
        OAuth2AuthDataGenerator::new(self.config()).expect("valid config")
    }

    /// Counters kept by the server: grants by type, grant errors, revocations.
    pub async fn stats(&self) -> serde_json::Value {
        reqwest::get(self.url("/__test/stats"))
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }

    pub async fn refresh_grants(&self) -> u64 {
        self.stats().await["grants"]["refresh_token"]
            .as_u64()
            .expect("count")
    }
}

impl Drop for OidcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser: follows the authorization redirect chain with a cookie jar
/// (the server's automatic login and consent) and stops at the redirect to
/// the client's `/callback`, returning its URL.
pub async fn follow_to_callback(authorization_url: &str) -> url::Url {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.url().path() == "/callback" {
                attempt.stop()
            } else if attempt.previous().len() > 15 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
        .build()
        .unwrap();
    let response = client
        .get(authorization_url)
        .send()
        .await
        .expect("authorize");
    assert!(
        response.status().is_redirection(),
        "the chain must end in a redirect to /callback, got {}",
        response.status()
    );
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .expect("Location")
        .to_str()
        .unwrap();
    url::Url::parse(location).expect("absolute callback URL")
}

/// The callback parameters of a redirect URL, as a web app would read them.
pub fn callback_from(url: &url::Url) -> AuthCallback {
    let mut cb = AuthCallback::default();
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "code" => cb.code = Some(SecretString::from(v.into_owned())),
            "state" => cb.state = Some(v.into_owned()),
            "error" => cb.error = Some(v.into_owned()),
            "error_description" => cb.error_description = Some(v.into_owned()),
            "iss" => cb.iss = Some(v.into_owned()),
            _ => {}
        }
    }
    cb
}

/// Begins a flow for calendar export with `redirect` and returns it with the
/// provider's callback.
pub async fn authorize(
    generator: &OAuth2AuthDataGenerator,
    redirect: &str,
) -> (AuthFlow, AuthCallback) {
    use dtp_core::AuthDataGenerator;
    use dtp_core::auth::AuthRequest;
    let flow = generator
        .begin(AuthRequest::new(
            DataType::Calendar,
            AuthMode::Export,
            redirect,
        ))
        .await
        .expect("begin");
    let url = follow_to_callback(&flow.authorization_url).await;
    let cb = callback_from(&url);
    (flow, cb)
}

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
