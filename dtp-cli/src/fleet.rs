//! A fleet on PostgreSQL: `dtp transfer --store postgres://… --enqueue`
//! queues a job (its service specs and sealed credentials travel with it);
//! `dtp worker --store postgres://…` claims queued jobs with leases, runs up
//! to N at once, renews each lease while it works, and on SIGTERM stops its
//! jobs at a checkpoint and gives their leases back.
//!
//! Log lines (stdout) are `dtp-worker ts_ms=… event=… key=value…`, one per
//! event, so they can be read by machines.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dtp_core::registry::{Endpoint, Registry, Role};
use dtp_core::store::{
    JobQueue, JobRecord, JobState, JobStore, Lease, LeasedStore, NewJob, Release,
};
use dtp_core::{
    AuthData, AuthMode, AuthSealer, DataModel, DataType, Error, ErrorKind, Transfer,
    TransferDriver, TransferOptions, TransferReport,
};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::MailData;
use dtp_models::media::MediaData;
use dtp_models::tasks::TasksData;
use dtp_store_postgres::{PoolOptions, PostgresJobStore};
use tokio_util::sync::CancellationToken;

use crate::CliError;
use crate::creds::Credentials;
use crate::paths;
use crate::run;

/// Whether `store` names a PostgreSQL database.
pub fn is_postgres(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

/// Connects to the fleet's store.
pub async fn connect(url: &str, connections: usize) -> Result<Arc<PostgresJobStore>, CliError> {
    if !is_postgres(url) {
        return Err(CliError::new(
            2,
            "--store takes a postgres://USER@HOST:PORT/DATABASE URL",
        ));
    }
    let opts = PoolOptions::default().with_max_connections(connections);
    PostgresJobStore::connect_with(url, opts)
        .await
        .map(Arc::new)
        .map_err(|e| CliError::new(4, format!("cannot open the job store: {}", e.message())))
}

/// A spec whose local path is made absolute: a worker may run elsewhere.
fn absolute_spec(spec: &str) -> String {
    match spec.split_once(':') {
        Some(("local", path)) if !std::path::Path::new(path).is_absolute() => {
            match std::env::current_dir() {
                Ok(cwd) => format!("local:{}", cwd.join(path).display()),
                Err(_) => spec.to_string(),
            }
        }
        _ => spec.to_string(),
    }
}

/// Queues `from` → `to` for the fleet: the job carries both specs and both
/// sides' credentials, sealed with this machine's key (workers need the same
/// `DTP_SECRET_KEY`).
pub async fn enqueue(
    store_url: &str,
    from: &run::Side,
    to: &run::Side,
    types: &[DataType],
) -> Result<JobRecord, CliError> {
    let store = connect(store_url, 2).await?;
    let job = store
        .create_job(NewJob::new(
            absolute_spec(&from.spec),
            absolute_spec(&to.spec),
            types.iter().copied(),
        ))
        .await
        .map_err(|e| CliError::new(1, format!("cannot create the job: {}", e.message())))?;
    let sealer = Credentials::new(paths::config_dir())
        .sealer()
        .map_err(|e| CliError::new(1, e.message().to_string()))?;
    for (mode, side) in [(AuthMode::Export, from), (AuthMode::Import, to)] {
        if matches!(side.auth, AuthData::None) {
            continue;
        }
        let sealed = sealer
            .seal(&side.auth)
            .map_err(|e| CliError::new(1, e.message().to_string()))?;
        store
            .put_auth(&job.id, mode, &sealed)
            .await
            .map_err(|e| CliError::new(1, e.message().to_string()))?;
    }
    store
        .enqueue(&job.id)
        .await
        .map_err(|e| CliError::new(1, format!("cannot queue the job: {}", e.message())))?;
    Ok(job)
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The store URL.
    pub store: String,
    /// This worker's name in leases and logs.
    pub name: String,
    /// Jobs at once.
    pub jobs: usize,
    /// Items imported at once per job.
    pub item_concurrency: usize,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// How often an idle worker asks for work.
    pub poll: Duration,
    /// How often a health line is logged.
    pub health_every: Duration,
    /// Stop once the queue is empty (for batch runs and tests).
    pub exit_when_idle: bool,
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn log(event: &str, fields: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "dtp-worker ts_ms={} event={event} {fields}", now_ms());
    let _ = out.flush();
}

#[derive(Default)]
struct Metrics {
    claimed: AtomicU64,
    completed: AtomicU64,
    partial: AtomicU64,
    stopped: AtomicU64,
    requeued: AtomicU64,
    lost: AtomicU64,
    failed: AtomicU64,
    items: AtomicU64,
    running: AtomicU64,
}

/// Runs a worker until SIGTERM/SIGINT (or, with `exit_when_idle`, until the
/// queue is empty). Returns the exit code.
pub async fn worker(cfg: WorkerConfig) -> Result<u8, CliError> {
    let jobs = cfg.jobs.max(1);
    let store = connect(&cfg.store, jobs * 2 + 2).await?;
    let queue: Arc<dyn JobQueue> = store.clone();
    let sealer: Arc<dyn AuthSealer> = Arc::new(
        Credentials::new(paths::config_dir())
            .sealer()
            .map_err(|e| CliError::new(1, e.message().to_string()))?,
    );
    let registry = Arc::new(crate::services::registry());
    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            log("shutdown", format_args!("reason=signal"));
            shutdown.cancel();
        });
    }
    let metrics = Arc::new(Metrics::default());
    let started = Instant::now();
    log(
        "started",
        format_args!(
            "worker={} jobs={jobs} lease_ms={} pid={}",
            cfg.name,
            cfg.lease.as_millis(),
            std::process::id()
        ),
    );
    let health = {
        let metrics = metrics.clone();
        let queue = queue.clone();
        let every = cfg.health_every;
        let shutdown = shutdown.clone();
        let name = cfg.name.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.cancelled() => return,
                }
                let q = queue.queue_stats().await;
                let done = metrics.completed.load(Ordering::Relaxed);
                let per_min = done as f64 * 60.0 / started.elapsed().as_secs_f64().max(0.001);
                let (waiting, leased) = q.as_ref().map(|q| (q.waiting, q.leased)).unwrap_or((0, 0));
                log(
                    "health",
                    format_args!(
                        "worker={name} running={} claimed={} completed={done} partial={} stopped={} requeued={} lost={} failed={} items={} jobs_per_min={per_min:.1} queue_waiting={waiting} queue_leased={leased} store_ok={}",
                        metrics.running.load(Ordering::Relaxed),
                        metrics.claimed.load(Ordering::Relaxed),
                        metrics.partial.load(Ordering::Relaxed),
                        metrics.stopped.load(Ordering::Relaxed),
                        metrics.requeued.load(Ordering::Relaxed),
                        metrics.lost.load(Ordering::Relaxed),
                        metrics.failed.load(Ordering::Relaxed),
                        metrics.items.load(Ordering::Relaxed),
                        q.is_ok(),
                    ),
                );
            }
        })
    };

    let slots = Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.cancelled() => break,
        };
        while tasks.try_join_next().is_some() {}
        match queue.claim(&cfg.name, cfg.lease).await {
            Ok(Some(lease)) => {
                metrics.claimed.fetch_add(1, Ordering::Relaxed);
                let job = JobRun {
                    queue: queue.clone(),
                    registry: registry.clone(),
                    sealer: sealer.clone(),
                    metrics: metrics.clone(),
                    cancel: shutdown.child_token(),
                    shutdown: shutdown.clone(),
                    cfg: cfg.clone(),
                };
                tasks.spawn(async move {
                    job.run(lease).await;
                    drop(permit);
                });
            }
            Ok(None) => {
                drop(permit);
                if cfg.exit_when_idle && tasks.is_empty() {
                    let q = queue.queue_stats().await;
                    if q.is_ok_and(|q| q.pending() == 0) {
                        log("idle", format_args!("worker={} queue=empty", cfg.name));
                        break;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(cfg.poll) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            Err(e) => {
                drop(permit);
                log(
                    "store_error",
                    format_args!(
                        "worker={} kind={} error={:?}",
                        cfg.name,
                        e.kind().as_str(),
                        e.message()
                    ),
                );
                tokio::select! {
                    _ = tokio::time::sleep(cfg.poll * 4) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
    }
    // Jobs stop at their next checkpoint and give their leases back.
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    health.abort();
    log(
        "stopped",
        format_args!(
            "worker={} claimed={} completed={} requeued={} lost={} failed={} uptime_ms={}",
            cfg.name,
            metrics.claimed.load(Ordering::Relaxed),
            metrics.completed.load(Ordering::Relaxed),
            metrics.requeued.load(Ordering::Relaxed),
            metrics.lost.load(Ordering::Relaxed),
            metrics.failed.load(Ordering::Relaxed),
            started.elapsed().as_millis()
        ),
    );
    Ok(0)
}

struct JobRun {
    queue: Arc<dyn JobQueue>,
    registry: Arc<Registry>,
    sealer: Arc<dyn AuthSealer>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
    shutdown: CancellationToken,
    cfg: WorkerConfig,
}

enum Ended {
    Report(TransferReport),
    LeaseLost,
    Failed(Error),
}

impl JobRun {
    async fn run(self, lease: Lease) {
        let name = &self.cfg.name;
        let job_id = lease.job_id.clone();
        log(
            "claimed",
            format_args!(
                "worker={name} job={job_id} attempt={} token={}",
                lease.attempt, lease.token
            ),
        );
        self.metrics.running.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let heartbeat = {
            let queue = self.queue.clone();
            let lease = lease.clone();
            let every = self.cfg.lease / 3;
            let lease_for = self.cfg.lease;
            let cancel = self.cancel.clone();
            let lost = lost.clone();
            let name = name.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match queue.renew(&lease, lease_for).await {
                        Ok(_) => {}
                        Err(e) if e.kind() == &ErrorKind::LeaseLost => {
                            log(
                                "lease_lost",
                                format_args!(
                                    "worker={name} job={} token={}",
                                    lease.job_id, lease.token
                                ),
                            );
                            lost.store(true, Ordering::SeqCst);
                            cancel.cancel();
                            return;
                        }
                        // The fence still protects the job; try again.
                        Err(e) => log(
                            "renew_failed",
                            format_args!(
                                "worker={name} job={} kind={}",
                                lease.job_id,
                                e.kind().as_str()
                            ),
                        ),
                    }
                }
            })
        };
        let ended = self.transfer(&lease).await;
        heartbeat.abort();
        self.metrics.running.fetch_sub(1, Ordering::Relaxed);
        let ms = started.elapsed().as_millis();
        let release = match ended {
            Ended::LeaseLost => {
                self.metrics.lost.fetch_add(1, Ordering::Relaxed);
                log(
                    "lease_lost",
                    format_args!("worker={name} job={job_id} token={} ms={ms}", lease.token),
                );
                None
            }
            _ if lost.load(Ordering::SeqCst) => {
                self.metrics.lost.fetch_add(1, Ordering::Relaxed);
                None
            }
            Ended::Failed(e) => {
                self.metrics.failed.fetch_add(1, Ordering::Relaxed);
                log(
                    "job_failed",
                    format_args!(
                        "worker={name} job={job_id} kind={} error={:?} ms={ms}",
                        e.kind().as_str(),
                        e.message()
                    ),
                );
                if e.is_retryable() {
                    // Another worker (or a later attempt) may do better.
                    Some(Release::Requeue)
                } else {
                    // A bad spec or a refused key does not get better: the
                    // job stops with the reason and leaves the queue.
                    let reason = dtp_core::store::StopReason::from_error(&e);
                    let _ = self
                        .queue
                        .set_state_leased(&lease, JobState::Stopped, Some(reason))
                        .await;
                    Some(Release::Done)
                }
            }
            Ended::Report(report) => {
                let items = report.total_items();
                self.metrics.items.fetch_add(items, Ordering::Relaxed);
                let interrupted = self.shutdown.is_cancelled() && !report.state.is_finished();
                let release = match report.state {
                    JobState::Complete => {
                        self.metrics.completed.fetch_add(1, Ordering::Relaxed);
                        Release::Done
                    }
                    JobState::Partial => {
                        self.metrics.partial.fetch_add(1, Ordering::Relaxed);
                        Release::Done
                    }
                    _ if interrupted => {
                        self.metrics.requeued.fetch_add(1, Ordering::Relaxed);
                        Release::Requeue
                    }
                    _ => {
                        // Stopped for a reason a retry does not fix (full,
                        // credentials refused): it waits for a person.
                        self.metrics.stopped.fetch_add(1, Ordering::Relaxed);
                        Release::Done
                    }
                };
                let reason = report
                    .stop_reason
                    .as_ref()
                    .map(|r| r.kind.as_str())
                    .unwrap_or("-");
                log(
                    "finished",
                    format_args!(
                        "worker={name} job={job_id} state={} reason={reason} items={items} ms={ms} release={}",
                        report.state,
                        if release == Release::Done {
                            "done"
                        } else {
                            "requeue"
                        }
                    ),
                );
                Some(release)
            }
        };
        if let Some(release) = release
            && let Err(e) = self.queue.release(&lease, release).await
        {
            log(
                "release_failed",
                format_args!("worker={name} job={job_id} kind={}", e.kind().as_str()),
            );
        }
    }

    async fn transfer(&self, lease: &Lease) -> Ended {
        let fenced: Arc<dyn JobStore> =
            Arc::new(LeasedStore::new(self.queue.clone(), lease.clone()));
        let record = match fenced.job(&lease.job_id).await {
            Ok(r) => r,
            Err(e) => return Ended::Failed(e),
        };
        let open = |spec: &str, role: Role, mode: AuthMode| {
            let fenced = fenced.clone();
            let sealer = self.sealer.clone();
            let registry = self.registry.clone();
            let spec = spec.to_string();
            let id = record.id.clone();
            async move {
                let (service, location) = registry.resolve(&spec)?;
                let endpoint = service.open(location, role).await?;
                let auth = match fenced.auth(&id, mode).await? {
                    Some(sealed) => sealer.open(&sealed)?,
                    None => AuthData::None,
                };
                Ok::<_, Error>((endpoint, auth))
            }
        };
        let (from, from_auth) = match open(&record.source, Role::Source, AuthMode::Export).await {
            Ok(x) => x,
            Err(e) => return Ended::Failed(e),
        };
        let (to, to_auth) =
            match open(&record.destination, Role::Destination, AuthMode::Import).await {
                Ok(x) => x,
                Err(e) => return Ended::Failed(e),
            };
        let options = TransferOptions::default()
            .with_item_concurrency(self.cfg.item_concurrency.max(1))
            .with_cancellation(self.cancel.clone())
            .with_sealer(self.sealer.clone());
        let driver = TransferDriver::new(fenced.clone()).with_options(options);
        let sides = Sides {
            from: &from,
            to: &to,
            from_auth: &from_auth,
            to_auth: &to_auth,
        };
        let mut last = None;
        for t in &record.data_types {
            let r = match t {
                DataType::Media => sides.run::<MediaData>(&driver, &record).await,
                DataType::Contacts => sides.run::<ContactsData>(&driver, &record).await,
                DataType::Calendar => sides.run::<CalendarData>(&driver, &record).await,
                DataType::Tasks => sides.run::<TasksData>(&driver, &record).await,
                DataType::Mail => sides.run::<MailData>(&driver, &record).await,
                other => Err(Error::unsupported(format!("{other} is not supported"))),
            };
            match r {
                Ok(report) => {
                    let stop = report.state == JobState::Stopped;
                    last = Some(report);
                    if stop || self.cancel.is_cancelled() {
                        break;
                    }
                }
                Err(e) if e.kind() == &ErrorKind::LeaseLost => return Ended::LeaseLost,
                Err(e) => return Ended::Failed(e),
            }
        }
        // Archives write their index at the end (also after a resume).
        if let Err(e) = to.finish() {
            tracing::warn!(error = %e, "destination finish failed");
        }
        match last {
            Some(_) => match driver.report(&record.id).await {
                Ok(r) => Ended::Report(r),
                Err(e) => Ended::Failed(e),
            },
            None => Ended::Failed(Error::invalid_data("the job moves no data type")),
        }
    }
}

struct Sides<'a> {
    from: &'a Endpoint,
    to: &'a Endpoint,
    from_auth: &'a AuthData,
    to_auth: &'a AuthData,
}

impl Sides<'_> {
    async fn run<M: DataModel>(
        &self,
        driver: &TransferDriver,
        record: &JobRecord,
    ) -> dtp_core::Result<TransferReport> {
        let (Some(exporter), Some(importer)) = (self.from.exporter::<M>(), self.to.importer::<M>())
        else {
            return Err(Error::unsupported(format!(
                "{} cannot be moved from {} to {}",
                M::DATA_TYPE,
                record.source,
                record.destination
            )));
        };
        driver
            .run(
                &record.id,
                Transfer::new(exporter, importer)
                    .with_export_auth(self.from_auth.clone())
                    .with_import_auth(self.to_auth.clone()),
            )
            .await
    }
}
