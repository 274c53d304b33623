//! How a provider embeds dtp-rs: a small HTTP service (axum) in front of a
//! PostgreSQL job queue, with workers that run the jobs.
//!
//! * `POST /jobs` `{"from": "local:/src", "to": "local:/dst", "types": ["contacts"]}`
//!   creates a job and answers with two authorization URLs (export side,
//!   import side): OAuth 2.0 authorization code with PKCE and a random
//!   `state`, built by dtp-auth.
//! * `GET /callback?code=…&state=…` receives each OAuth callback: the
//!   `state` must be one this service handed out (single use), the code is
//!   exchanged with the PKCE verifier, and the tokens are stored in the job
//!   store sealed (XChaCha20-Poly1305, dtp-auth's sealer): the database never
//!   sees a token. Once both sides are authorized the job is enqueued.
//! * `GET /jobs/{id}` reports the job's state, which sides are authorized,
//!   and the transfer report (counts per data type, failures) as JSON.
//!
//! Workers (here in the same process; in production, as many processes on
//! as many machines as needed) claim queued jobs with a lease, renew it while
//! they work, open the sealed credentials, build exporter and importer
//! through a service registry and run the transfer through a
//! [`LeasedStore`], so a worker that lost its lease can never overwrite the
//! progress of the worker that took the job over.
//!
//! The services are those of `dtp::registry()`: every adapter the facade's
//! features compile in, each opened through its own crate's factory. The
//! demo moves portable archives (`local:PATH`); the tokens are checked
//! against the authorization server's userinfo endpoint before a job runs,
//! as a provider's own API would check them.
//!
//! Run it:
//! ```text
//! DTP_STORE=postgres://postgres@127.0.0.1:5432/dtp \
//! DTP_SECRET_KEY=<64 hex digits> \
//! OAUTH_ISSUER=https://auth.example.org OAUTH_CLIENT_ID=… OAUTH_CLIENT_SECRET=… \
//!   cargo run --example provider_backend
//! ```
//! It prints `LISTENING <port>` and serves until Ctrl-C.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dtp::auth::{OAuth2AuthDataGenerator, OAuth2Config, XChaChaSealer};
use dtp::core::auth::{AuthCallback, AuthRequest, PendingAuth};
use dtp::core::registry::{Endpoint, Registry, Role};
use dtp::core::store::{
    JobId, JobQueue, JobState, JobStore, Lease, LeasedStore, NewJob, Release, StopReason,
};
use dtp::core::{
    AuthData, AuthDataGenerator, AuthMode, AuthSealer, DataModel, DataType, Error, ErrorKind,
    Transfer, TransferDriver, TransferOptions, TransferReport,
};
use dtp::models::calendar::CalendarData;
use dtp::models::contacts::ContactsData;
use dtp::models::mail::MailData;
use dtp::models::media::MediaData;
use dtp::models::tasks::TasksData;
use dtp_store_postgres::PostgresJobStore;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// What the backend needs.
pub struct BackendConfig {
    /// The shared job store.
    pub store_url: String,
    /// The OAuth provider (both sides use it in this demo).
    pub oauth: OAuth2Config,
    /// Where a token is checked (the provider's userinfo endpoint).
    pub userinfo_url: String,
    /// The sealing key (32 bytes).
    pub key: [u8; 32],
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// Workers in this process (0: the fleet runs elsewhere).
    pub workers: usize,
    /// Lease length of those workers.
    pub lease: Duration,
}

/// A running backend.
pub struct Backend {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Backend {
    /// Stops the server and the workers (their jobs go back to the queue).
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

struct Pending {
    job: JobId,
    mode: AuthMode,
    pending: PendingAuth,
}

struct App {
    store: Arc<PostgresJobStore>,
    oauth: OAuth2AuthDataGenerator,
    sealer: Arc<XChaChaSealer>,
    redirect_uri: String,
    /// Pending authorizations by `state`. A deployment with several web
    /// servers keeps these in a shared table (sealed) or a sealed cookie.
    pending: Mutex<HashMap<String, Pending>>,
}

/// Starts the HTTP service and the workers.
pub async fn start(cfg: BackendConfig) -> Result<Backend, Error> {
    let store = Arc::new(PostgresJobStore::connect(&cfg.store_url).await?);
    let sealer = Arc::new(XChaChaSealer::new(&cfg.key));
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| Error::internal(format!("cannot listen on {}: {e}", cfg.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(e.to_string()))?;
    let app = Arc::new(App {
        store: store.clone(),
        oauth: OAuth2AuthDataGenerator::new(cfg.oauth)?,
        sealer: sealer.clone(),
        redirect_uri: format!("http://{addr}/callback"),
        pending: Mutex::new(HashMap::new()),
    });
    let router = Router::new()
        .route("/jobs", post(create_job))
        .route("/jobs/{id}", get(job_status))
        .route("/callback", get(callback))
        .with_state(app);
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    {
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        }));
    }
    let registry = Arc::new(registry());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::internal(e.to_string()))?;
    for n in 0..cfg.workers {
        let w = Worker {
            name: format!("backend-{}-{n}", std::process::id()),
            queue: store.clone(),
            registry: registry.clone(),
            sealer: sealer.clone(),
            lease: cfg.lease,
            userinfo_url: cfg.userinfo_url.clone(),
            http: http.clone(),
            shutdown: shutdown.clone(),
        };
        tasks.push(tokio::spawn(w.run()));
    }
    Ok(Backend {
        addr,
        shutdown,
        tasks,
    })
}

// ---------------------------------------------------------------- HTTP side

/// An error answer: `{"error": kind, "message": …}` with a fitting status.
struct ApiError(StatusCode, Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::InvalidData | ErrorKind::Unsupported => StatusCode::BAD_REQUEST,
            ErrorKind::Reauthorize | ErrorKind::Unauthenticated | ErrorKind::PermissionDenied => {
                StatusCode::FORBIDDEN
            }
            ErrorKind::Transient => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Messages of dtp errors never carry a secret.
        let body = json!({ "error": self.1.kind().as_str(), "message": self.1.message() });
        (self.0, Json(body)).into_response()
    }
}

#[derive(Deserialize)]
struct CreateJob {
    from: String,
    to: String,
    #[serde(default)]
    types: Vec<DataType>,
}

async fn create_job(
    State(app): State<Arc<App>>,
    Json(req): Json<CreateJob>,
) -> Result<Json<Value>, ApiError> {
    let registry = registry();
    for spec in [&req.from, &req.to] {
        registry.resolve(spec)?;
    }
    let types = if req.types.is_empty() {
        DataType::ALL.to_vec()
    } else {
        req.types
    };
    let job = app
        .store
        .create_job(NewJob::new(req.from, req.to, types.iter().copied()))
        .await?;
    let mut urls = serde_json::Map::new();
    for mode in [AuthMode::Export, AuthMode::Import] {
        let flow = app
            .oauth
            .begin(AuthRequest::new(types[0], mode, app.redirect_uri.clone()))
            .await?;
        let state = flow.pending.state.expose_secret().to_string();
        urls.insert(mode.to_string(), json!(flow.authorization_url));
        app.pending
            .lock()
            .map_err(|_| Error::internal("lock poisoned"))?
            .insert(
                state,
                Pending {
                    job: job.id.clone(),
                    mode,
                    pending: flow.pending,
                },
            );
    }
    Ok(Json(json!({
        "job_id": job.id,
        "state": job.state,
        "authorize": urls,
        "status_url": format!("/jobs/{}", job.id),
    })))
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

async fn callback(
    State(app): State<Arc<App>>,
    Query(q): Query<CallbackQuery>,
) -> Result<Json<Value>, ApiError> {
    // Single use: a state is taken out of the table whatever happens next.
    let found = q.state.as_ref().and_then(|s| {
        app.pending
            .lock()
            .ok()
            .and_then(|mut pending| pending.remove(s))
    });
    let Some(Pending { job, mode, pending }) = found else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            Error::invalid_data("unknown, expired or already used authorization state"),
        ));
    };
    let mut cb = AuthCallback::default();
    cb.code = q.code.map(SecretString::from);
    cb.state = q.state;
    cb.error = q.error;
    cb.error_description = q.error_description;
    cb.iss = q.iss;
    // Checks the state again (constant time) and sends the PKCE verifier.
    let auth = app.oauth.complete(pending, cb).await?;
    let sealed = app.sealer.seal(&auth)?;
    app.store.put_auth(&job, mode, &sealed).await?;
    let (export, import) = authorized(&app.store, &job).await?;
    let queued = export && import;
    if queued {
        app.store.enqueue(&job).await?;
    }
    Ok(Json(json!({
        "job_id": job,
        "authorized": mode.to_string(),
        "queued": queued,
    })))
}

async fn authorized(store: &PostgresJobStore, job: &JobId) -> Result<(bool, bool), Error> {
    Ok((
        store.auth(job, AuthMode::Export).await?.is_some(),
        store.auth(job, AuthMode::Import).await?.is_some(),
    ))
}

async fn job_status(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: JobId = id.parse()?;
    let record = app.store.job(&id).await?;
    let (export, import) = authorized(&app.store, &id).await?;
    let report = TransferDriver::new(app.store.clone()).report(&id).await?;
    Ok(Json(json!({
        "job_id": id,
        "state": record.state,
        "stop_reason": record.stop_reason,
        "source": record.source,
        "destination": record.destination,
        "authorized": { "export": export, "import": import },
        "total_items": report.total_items(),
        "report": report,
    })))
}

// ---------------------------------------------------------------- workers

/// The services this backend offers: every adapter the facade's features
/// compile in (`local` by default; the demo moves portable archives).
fn registry() -> Registry {
    dtp::registry()
}

struct Worker {
    name: String,
    queue: Arc<PostgresJobStore>,
    registry: Arc<Registry>,
    sealer: Arc<XChaChaSealer>,
    lease: Duration,
    userinfo_url: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Worker {
    async fn run(self) {
        while !self.shutdown.is_cancelled() {
            match self.queue.claim(&self.name, self.lease).await {
                Ok(Some(lease)) => self.run_job(lease).await,
                Ok(None) | Err(_) => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        _ = self.shutdown.cancelled() => {}
                    }
                }
            }
        }
    }

    async fn run_job(&self, lease: Lease) {
        let cancel = self.shutdown.child_token();
        // Heartbeat: renew every third of the lease; a lost lease stops the job.
        let heartbeat = {
            let (queue, lease, cancel, every) = (
                self.queue.clone(),
                lease.clone(),
                cancel.clone(),
                self.lease / 3,
            );
            let lease_for = self.lease;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = queue.renew(&lease, lease_for).await
                        && e.kind() == &ErrorKind::LeaseLost
                    {
                        cancel.cancel();
                        return;
                    }
                }
            })
        };
        let outcome = self.transfer(&lease, cancel).await;
        heartbeat.abort();
        let release = match outcome {
            Err(e) if e.kind() == &ErrorKind::LeaseLost => None,
            Err(e) if e.is_retryable() => Some(Release::Requeue),
            Err(e) => {
                let reason = StopReason::from_error(&e);
                let _ = self
                    .queue
                    .set_state_leased(&lease, JobState::Stopped, Some(reason))
                    .await;
                Some(Release::Done)
            }
            Ok(report) if report.state == JobState::Stopped && self.shutdown.is_cancelled() => {
                Some(Release::Requeue)
            }
            Ok(_) => Some(Release::Done),
        };
        if let Some(r) = release {
            let _ = self.queue.release(&lease, r).await;
        }
    }

    async fn open_auth(
        &self,
        store: &Arc<dyn JobStore>,
        job: &JobId,
        mode: AuthMode,
    ) -> Result<AuthData, Error> {
        let sealed = store.auth(job, mode).await?.ok_or_else(|| {
            Error::new(
                ErrorKind::Reauthorize,
                format!("{mode} side not authorized"),
            )
        })?;
        self.sealer.open(&sealed)
    }

    /// Checks a token where the provider would (its userinfo endpoint).
    async fn check_token(&self, auth: &AuthData) -> Result<(), Error> {
        let AuthData::OAuth2(tokens) = auth else {
            return Err(Error::new(
                ErrorKind::Reauthorize,
                "no OAuth tokens for this job",
            ));
        };
        let resp = self
            .http
            .get(&self.userinfo_url)
            .bearer_auth(tokens.access_token.expose_secret())
            .send()
            .await
            .map_err(|e| Error::transient(format!("userinfo unreachable: {e}")))?;
        match resp.status().as_u16() {
            200 => Ok(()),
            401 | 403 => Err(Error::new(
                ErrorKind::Reauthorize,
                "the provider refused the job's token",
            )),
            s => Err(Error::transient(format!("userinfo answered {s}"))),
        }
    }

    async fn transfer(
        &self,
        lease: &Lease,
        cancel: CancellationToken,
    ) -> Result<TransferReport, Error> {
        let queue: Arc<dyn JobQueue> = self.queue.clone();
        let fenced: Arc<dyn JobStore> = Arc::new(LeasedStore::new(queue, lease.clone()));
        let job = fenced.job(&lease.job_id).await?;
        let export_auth = self.open_auth(&fenced, &job.id, AuthMode::Export).await?;
        let import_auth = self.open_auth(&fenced, &job.id, AuthMode::Import).await?;
        self.check_token(&export_auth).await?;
        self.check_token(&import_auth).await?;
        let (from_svc, from_loc) = self.registry.resolve(&job.source)?;
        let (to_svc, to_loc) = self.registry.resolve(&job.destination)?;
        let from = from_svc.open(from_loc, Role::Source).await?;
        let to = to_svc.open(to_loc, Role::Destination).await?;
        let driver = TransferDriver::new(fenced.clone()).with_options(
            TransferOptions::default()
                .with_cancellation(cancel.clone())
                .with_sealer(self.sealer.clone()),
        );
        let sides = Sides {
            from: &from,
            to: &to,
            export_auth: &export_auth,
            import_auth: &import_auth,
        };
        for t in &job.data_types {
            let report = match t {
                DataType::Media => run::<MediaData>(&driver, &job.id, &sides).await?,
                DataType::Contacts => run::<ContactsData>(&driver, &job.id, &sides).await?,
                DataType::Calendar => run::<CalendarData>(&driver, &job.id, &sides).await?,
                DataType::Tasks => run::<TasksData>(&driver, &job.id, &sides).await?,
                DataType::Mail => run::<MailData>(&driver, &job.id, &sides).await?,
                other => return Err(Error::unsupported(format!("{other} is not supported"))),
            };
            if report.state == JobState::Stopped || cancel.is_cancelled() {
                break;
            }
        }
        to.finish()?;
        driver.report(&job.id).await
    }
}

struct Sides<'a> {
    from: &'a Endpoint,
    to: &'a Endpoint,
    export_auth: &'a AuthData,
    import_auth: &'a AuthData,
}

async fn run<M: DataModel>(
    driver: &TransferDriver,
    job: &JobId,
    sides: &Sides<'_>,
) -> Result<TransferReport, Error> {
    let (Some(exporter), Some(importer)) = (sides.from.exporter::<M>(), sides.to.importer::<M>())
    else {
        return Err(Error::unsupported(format!(
            "{} cannot be moved here",
            M::DATA_TYPE
        )));
    };
    // The adapters get the opened tokens (archives ignore them; a provider's
    // own adapters send them, and refreshed ones are sealed back into the
    // store through the lease).
    let transfer = Transfer::new(exporter, importer)
        .with_export_auth(sides.export_auth.clone())
        .with_import_auth(sides.import_auth.clone());
    driver.run(job, transfer).await
}

// ---------------------------------------------------------------- main

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| Error::invalid_data(format!("set {name}")))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = env("OAUTH_ISSUER")?;
    let issuer = issuer.trim_end_matches('/');
    let key = dtp::auth::key_from_hex(&env("DTP_SECRET_KEY")?)?;
    let mut oauth = OAuth2Config::new(
        "provider",
        format!("{issuer}/auth"),
        format!("{issuer}/token"),
        env("OAUTH_CLIENT_ID")?,
    )
    .with_issuer(issuer)
    .with_always_scopes(["openid", "offline_access"]);
    if let Ok(secret) = std::env::var("OAUTH_CLIENT_SECRET") {
        oauth = oauth.with_client_secret(secret);
    }
    let backend = start(BackendConfig {
        store_url: env("DTP_STORE")?,
        oauth,
        userinfo_url: format!("{issuer}/me"),
        key: *key.expose_secret(),
        listen: std::env::var("LISTEN")
            .unwrap_or_else(|_| "127.0.0.1:0".into())
            .parse()?,
        workers: 2,
        lease: Duration::from_secs(30),
    })
    .await?;
    println!("LISTENING {}", backend.addr.port());
    tokio::signal::ctrl_c().await?;
    backend.stop().await;
    Ok(())
}
