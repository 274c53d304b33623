//! Whole-library Google Photos export through the **Data Portability API**
//! (<https://developers.google.com/data-portability/reference/rest>): since
//! 2025 the Library API reads only what the app itself created, so a
//! library is exported as an archive.
//!
//! | step | call |
//! |---|---|
//! | start | `POST /v1/portabilityArchive:initiate` `{"resources":["photos.library"]}` → `{"archiveJobId","accessType"}` |
//! | wait | `GET /v1/archiveJobs/{id}/portabilityArchiveState` → `{"state":"IN_PROGRESS"\|"COMPLETE"\|"FAILED"\|"CANCELLED","urls":[…]}`, polled every [`PortabilityOptions::with_poll_interval`] |
//! | fetch | each signed URL of `urls` (Cloud Storage; **no** `Authorization` header), streamed to a file in the work directory, never held in memory |
//! | read | the parts are a Google Takeout: read with [`GoogleTakeout`] (albums, sidecars, capture time and geo from the sidecar) |
//!
//! Cursors carry the archive job id, so a resumed export (even in another
//! process) asks for the same job's state again and downloads its parts
//! instead of starting a new archive; media keys carry it too.
//!
//! The resource group name for Photos is configurable
//! ([`PortabilityOptions::with_resources`]); the default,
//! `photos.library` (scope `dataportability.photos.library`), is
//! **unconfirmed** in Google's published scope list, as are the API's
//! eligibility rules (it began as an EEA offering).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dtp_core::{
    AuthData, ByteStream, Cursor, Error, ErrorKind, ExportContext, ExportPage, Exporter, MediaRef,
    RateLimit, Result,
};
use dtp_models::media::MediaData;
use futures::StreamExt;
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::client::{Api, GoogleClient, Request};
use crate::limits::{self, Side};
use crate::takeout::GoogleTakeout;

const SERVICE: &str = "google.dataportability";

/// How the portability exporter runs.
#[derive(Debug, Clone)]
pub struct PortabilityOptions {
    resources: Vec<String>,
    poll_interval: Duration,
    max_wait: Duration,
    work_dir: Option<PathBuf>,
    page_size: usize,
}

impl Default for PortabilityOptions {
    fn default() -> Self {
        PortabilityOptions {
            resources: vec!["photos.library".into()],
            poll_interval: Duration::from_secs(30),
            max_wait: Duration::from_secs(7 * 24 * 3600),
            work_dir: None,
            page_size: 100,
        }
    }
}

impl PortabilityOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The resource groups to export (default `["photos.library"]`).
    pub fn with_resources(mut self, resources: Vec<String>) -> Self {
        self.resources = resources;
        self
    }

    /// How often to ask for the job's state (default 30 s).
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// How long to wait for the archive before giving up (default 7 days).
    pub fn with_max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Where the archive parts are downloaded (default: the system's
    /// temporary directory). They are deleted when the exporter is dropped.
    pub fn with_work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_dir = Some(dir.into());
        self
    }

    /// Items per exported page (default 100).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }
}

/// `portabilityArchive.initiate` request.
#[derive(Serialize)]
struct Initiate<'a> {
    resources: &'a [String],
}

/// `portabilityArchive.initiate` response.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitiateResponse {
    archive_job_id: String,
}

/// `archiveJobs.getPortabilityArchiveState` response.
#[derive(Deserialize)]
struct ArchiveState {
    #[serde(default)]
    state: String,
    #[serde(default)]
    urls: Vec<String>,
}

/// Where an export resumes: the archive job and the Takeout reader's own
/// cursor.
#[derive(Serialize, Deserialize)]
struct PortabilityCursor {
    job: String,
    inner: Cursor,
}

/// A downloaded archive: its Takeout reader and the folder it lives in
/// (deleted on drop).
struct Loaded {
    job: String,
    takeout: Arc<GoogleTakeout>,
}

struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Exports a whole Google Photos library through the Data Portability API.
/// See the [module docs](self).
pub struct GooglePhotosPortability {
    client: GoogleClient,
    opts: PortabilityOptions,
    loaded: tokio::sync::Mutex<Option<Loaded>>,
    /// The archive job started from the root cursor of each transfer job (a
    /// retried root page reuses it; another transfer starts its own).
    initiated: tokio::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl std::fmt::Debug for GooglePhotosPortability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GooglePhotosPortability")
            .field("client", &self.client)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

fn safe_job(job: &str) -> Result<&str> {
    if job.is_empty()
        || job.len() > 200
        || !job
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(
            Error::invalid_data(format!("unexpected archive job id `{job}`")).with_service(SERVICE),
        );
    }
    Ok(job)
}

impl GooglePhotosPortability {
    /// An exporter using `client`.
    pub fn new(client: GoogleClient, opts: PortabilityOptions) -> Self {
        GooglePhotosPortability {
            client,
            opts,
            loaded: tokio::sync::Mutex::new(None),
            initiated: tokio::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Starts an archive job; returns its id.
    async fn initiate(&self, auth: &AuthData) -> Result<String> {
        let req = Request::post(Api::DataPortability, "v1/portabilityArchive:initiate").json(
            &Initiate {
                resources: &self.opts.resources,
            },
        )?;
        let answer: InitiateResponse = self.client.json(auth, req).await?;
        Ok(safe_job(&answer.archive_job_id)?.to_string())
    }

    /// Polls the job until it is complete; returns the part URLs.
    async fn wait(&self, ctx: &ExportContext, auth: &AuthData, job: &str) -> Result<Vec<Url>> {
        let started = tokio::time::Instant::now();
        loop {
            let req = Request::get(
                Api::DataPortability,
                format!("v1/archiveJobs/{job}/portabilityArchiveState"),
            );
            let state: ArchiveState = self.client.json(auth, req).await?;
            match state.state.as_str() {
                "COMPLETE" => {
                    if state.urls.is_empty() {
                        return Err(Error::invalid_data(
                            "the archive job is complete but lists no URLs",
                        )
                        .with_service(SERVICE));
                    }
                    return state
                        .urls
                        .iter()
                        .map(|u| {
                            Url::parse(u).map_err(|e| {
                                Error::invalid_data(format!("bad archive URL: {e}"))
                                    .with_service(SERVICE)
                            })
                        })
                        .collect();
                }
                "FAILED" | "CANCELLED" => {
                    return Err(Error::new(
                        ErrorKind::Internal,
                        format!("the archive job {job} ended {}", state.state),
                    )
                    .with_service(SERVICE));
                }
                _ => {}
            }
            if started.elapsed() > self.opts.max_wait {
                return Err(Error::transient(format!(
                    "the archive job {job} is not complete after {:?}",
                    self.opts.max_wait
                ))
                .with_service(SERVICE));
            }
            tokio::select! {
                _ = ctx.cancellation().cancelled() => return Err(Error::cancelled()),
                _ = tokio::time::sleep(self.opts.poll_interval) => {}
            }
        }
    }

    /// Streams one archive part into `path`.
    async fn download(&self, auth: &AuthData, url: Url, path: &Path) -> Result<()> {
        // Signed Cloud Storage URLs: no bearer token, no overall timeout.
        let req = Request::absolute(Api::DataPortability, Method::GET, url).without_bearer();
        let (_, mut stream) = self.client.stream(auth, req).await?;
        let io = |e: std::io::Error| {
            Error::transient(format!("writing {}: {e}", path.display())).with_service(SERVICE)
        };
        let mut f = tokio::fs::File::create(path).await.map_err(io)?;
        while let Some(chunk) = stream.next().await {
            f.write_all(&chunk?).await.map_err(io)?;
        }
        f.flush().await.map_err(io)?;
        Ok(())
    }

    /// The Takeout of `job`, downloading it if this process has not yet.
    async fn takeout(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        job: &str,
    ) -> Result<Arc<GoogleTakeout>> {
        let mut loaded = self.loaded.lock().await;
        if let Some(l) = loaded.as_ref()
            && l.job == job
        {
            return Ok(l.takeout.clone());
        }
        let urls = self.wait(ctx, auth, job).await?;
        let base = self
            .opts
            .work_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("dtp-portability-{job}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::transient(format!("creating {}: {e}", dir.display())).with_service(SERVICE)
        })?;
        let guard = WorkDir(dir.clone());
        let mut parts = Vec::new();
        for (i, url) in urls.into_iter().enumerate() {
            let path = dir.join(format!("part-{:03}.zip", i + 1));
            self.download(auth, url, &path).await?;
            parts.push(path);
        }
        let takeout = Arc::new(
            GoogleTakeout::from_zips(parts, Some(Arc::new(guard)))
                .with_page_size(self.opts.page_size),
        );
        *loaded = Some(Loaded {
            job: job.to_string(),
            takeout: takeout.clone(),
        });
        Ok(takeout)
    }

    fn wrap(job: &str, page: ExportPage<MediaData>) -> Result<ExportPage<MediaData>> {
        let mut out = ExportPage::new();
        out.containers = page.containers;
        out.items = page
            .items
            .into_iter()
            .map(|mut i| {
                i.content.key = format!("{job}/{}", i.content.key);
                i
            })
            .collect();
        for c in page.next {
            out.next.push(Cursor::new(&PortabilityCursor {
                job: job.to_string(),
                inner: c,
            })?);
        }
        Ok(out)
    }
}

#[async_trait]
impl Exporter<MediaData> for GooglePhotosPortability {
    async fn export(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<MediaData>> {
        let (job, inner) = if cursor.is_root() {
            let mut started = self.initiated.lock().await;
            let key = ctx.job_id().to_string();
            let job = match started.get(&key) {
                Some(job) => job.clone(),
                None => {
                    let job = self.initiate(auth).await?;
                    started.insert(key, job.clone());
                    job
                }
            };
            (job, Cursor::root())
        } else {
            let c: PortabilityCursor = cursor.decode()?;
            (safe_job(&c.job)?.to_string(), c.inner)
        };
        let takeout = self.takeout(ctx, auth, &job).await?;
        let page = takeout.export(ctx, &AuthData::None, &inner).await?;
        Self::wrap(&job, page)
    }

    async fn open_media(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        media: &MediaRef,
    ) -> Result<ByteStream> {
        let Some((job, key)) = media.key.split_once('/') else {
            return Err(
                Error::not_found(format!("unknown media key `{}`", media.key))
                    .with_service(SERVICE),
            );
        };
        let takeout = self.takeout(ctx, auth, safe_job(job)?).await?;
        let mut inner = media.clone();
        inner.key = key.to_string();
        takeout.open_media(ctx, &AuthData::None, &inner).await
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        let cfg = self.client.config();
        cfg.rate_limits
            .then(|| limits::rate_limit(Api::DataPortability, Side::Export, &cfg.account, 0))
    }
}
