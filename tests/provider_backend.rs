//! The provider-backend example end to end: a job created over HTTP, both
//! authorization URLs followed against a real OAuth server on loopback
//! (oidc-provider, PKCE required), the callbacks, a worker running the job
//! from the PostgreSQL queue, and the status endpoint showing it complete.

#[path = "../examples/provider_backend.rs"]
mod provider_backend;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dtp::auth::OAuth2Config;
use dtp::core::{AuthMode, DataType};
use dtp_store_postgres::test_server::PgServer;
use provider_backend::{BackendConfig, start};
use serde_json::{Value, json};

const CLIENT_ID: &str = "dtp-test";
const CLIENT_SECRET: &str = "dtp-test-client-SECRET-value";

fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dtp-auth/tests/oidc")
}

/// dtp-auth's test authorization server (oidc-provider), killed on drop.
struct Oidc {
    child: Child,
    port: u16,
}

impl Oidc {
    fn start() -> Oidc {
        let ok = Command::new("bash")
            .arg(oidc_dir().join("setup.sh"))
            .status()
            .expect("bash")
            .success();
        assert!(ok, "dtp-auth/tests/oidc/setup.sh failed");
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(oidc_dir())
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node must be on PATH");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("oidc-provider did not start: {line:?}"));
        Oidc { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn config(&self) -> OAuth2Config {
        OAuth2Config::new(
            "test-oidc",
            self.url("/auth"),
            self.url("/token"),
            CLIENT_ID,
        )
        .with_client_secret(CLIENT_SECRET)
        .with_issuer(self.url(""))
        .with_always_scopes(["openid", "offline_access"])
        .with_scopes(DataType::Contacts, AuthMode::Export, ["profile"])
        .with_scopes(DataType::Contacts, AuthMode::Import, ["email"])
        .with_authorize_param("prompt", "consent")
        .with_authorize_param("login_hint", "alice")
        .with_request_timeout(Duration::from_secs(10))
    }
}

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser with a cookie jar: follows the authorization redirects (the
/// server logs in and consents automatically) up to the redirect to the
/// backend's /callback, and returns that URL without following it.
async fn authorize_in_browser(url: &str) -> url::Url {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::custom(|a| {
            if a.url().path() == "/callback" {
                a.stop()
            } else if a.previous().len() > 15 {
                a.error("too many redirects")
            } else {
                a.follow()
            }
        }))
        .build()
        .unwrap();
    let resp = browser.get(url).send().await.unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let loc = resp.headers()["location"].to_str().unwrap();
    url::Url::parse(loc).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_authorized_queued_and_run_by_a_worker_reports_complete() {
    let pg = PgServer::start().unwrap_or_else(|e| panic!("{e}"));
    let oidc = Oidc::start();
    let store_url = pg.create_database().unwrap();
    let backend = start(BackendConfig {
        store_url: store_url.clone(),
        oauth: oidc.config(),
        userinfo_url: oidc.url("/me"),
        key: [7; 32],
        listen: "127.0.0.1:0".parse().unwrap(),
        workers: 2,
        lease: Duration::from_secs(2),
    })
    .await
    .unwrap();
    let base = format!("http://{}", backend.addr);
    let http = reqwest::Client::new();
    let out = tempfile::tempdir().unwrap();
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/sample");
    let dest = out.path().join("copy");

    // 1. The provider's front end creates a job.
    let created: Value = http
        .post(format!("{base}/jobs"))
        .json(&json!({
            "from": format!("local:{}", sample.display()),
            "to": format!("local:{}", dest.display()),
            "types": ["contacts", "calendar", "media"],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job = created["job_id"].as_str().expect("a job id").to_string();
    let export_url = created["authorize"]["export"].as_str().unwrap().to_string();
    let import_url = created["authorize"]["import"].as_str().unwrap().to_string();
    for u in [&export_url, &import_url] {
        let u = url::Url::parse(u).unwrap();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["code_challenge_method"], "S256", "PKCE");
        assert!(q["state"].len() >= 16, "a random state");
        assert_eq!(
            q["redirect_uri"],
            format!("{base}/callback"),
            "callbacks come back to the backend"
        );
    }
    let status = |http: reqwest::Client| {
        let url = format!("{base}/jobs/{job}");
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let s = status(http.clone()).await;
    assert_eq!(s["state"], "created");
    assert_eq!(s["authorized"], json!({"export": false, "import": false}));

    // 2. The user authorizes both sides; the browser lands on /callback.
    let export_cb = authorize_in_browser(&export_url).await;
    let import_cb = authorize_in_browser(&import_url).await;

    // A forged state is refused and stores nothing.
    let mut forged = export_cb.clone();
    let pairs: Vec<(String, String)> = export_cb
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged-state-value".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let r = http
        .get(format!("{base}/callback?{}", forged.query().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "unknown state refused");

    let r: Value = http
        .get(format!("{base}/callback?{}", export_cb.query().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["authorized"], "export");
    assert_eq!(r["queued"], false, "one side is not enough");
    // The same callback again: its state was used up.
    let again = http
        .get(format!("{base}/callback?{}", export_cb.query().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400, "a state is single use");
    let r: Value = http
        .get(format!("{base}/callback?{}", import_cb.query().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["queued"], true, "both sides authorized: queued");

    // The store holds ciphertext only.
    {
        use dtp::core::store::JobStore;
        let store = dtp_store_postgres::PostgresJobStore::connect(&store_url)
            .await
            .unwrap();
        let id = job.parse().unwrap();
        let sealed = store.auth(&id, AuthMode::Export).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&sealed.0);
        assert!(!text.contains("access_token") && !text.contains("oauth2"));
        let opened = dtp::auth::XChaChaSealer::new(&[7; 32]);
        use dtp::core::AuthSealer;
        assert!(matches!(
            opened.open(&sealed).unwrap(),
            dtp::core::AuthData::OAuth2(_)
        ));
    }

    // 3. A worker runs it; the status endpoint shows it complete.
    let started = Instant::now();
    let s = loop {
        let s = status(http.clone()).await;
        if s["state"] == "complete" || started.elapsed() > Duration::from_secs(60) {
            break s;
        }
        assert_ne!(s["state"], "stopped", "{s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(s["state"], "complete", "{s}");
    assert_eq!(s["authorized"], json!({"export": true, "import": true}));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(sample.join("manifest.json")).unwrap()).unwrap();
    let want: u64 = ["contacts", "calendar", "media"]
        .iter()
        .map(|t| manifest["counts"][t]["items"].as_u64().unwrap())
        .sum();
    assert_eq!(s["total_items"], want, "{s}");
    assert_eq!(s["report"]["failures"], json!([]));
    assert_eq!(s["report"]["unfinished"], json!([]));
    let copied: Value =
        serde_json::from_slice(&std::fs::read(dest.join("manifest.json")).unwrap()).unwrap();
    for t in ["contacts", "calendar", "media"] {
        assert_eq!(copied["counts"][t], manifest["counts"][t], "{t}");
    }
    let missing = http
        .get(format!("{base}/jobs/00000000-0000-0000-0000-000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    backend.stop().await;
}
