//! What one run shares: both sides' credentials and limits, the retry loop,
//! and the [`ImportContext`] an importer works with.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use governor::DefaultDirectRateLimiter;
use tokio_util::sync::CancellationToken;

use crate::byte_stream::ByteStream;
use crate::driver::options::TransferOptions;
use crate::events::TransferEvent;
use crate::executor::{IdempotentExecutor, ImportKey};
use crate::store::{JobId, JobStore};
use crate::{AuthData, AuthMode, AuthRefresher, DataType, Error, ErrorKind, MediaRef, Result};

/// One direction's credentials and limits during a run.
pub(crate) struct Side {
    mode: AuthMode,
    auth: RwLock<(Arc<AuthData>, u64)>,
    refresh_lock: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    refresher: Option<Arc<dyn AuthRefresher>>,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

impl Side {
    pub(crate) fn new(
        mode: AuthMode,
        auth: AuthData,
        refresher: Option<Arc<dyn AuthRefresher>>,
        limiter: Option<Arc<DefaultDirectRateLimiter>>,
    ) -> Self {
        Side {
            mode,
            auth: RwLock::new((Arc::new(auth), 0)),
            refresh_lock: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            refresher,
            limiter,
        }
    }

    fn current(&self) -> (Arc<AuthData>, u64) {
        let guard = match self.auth.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        (guard.0.clone(), guard.1)
    }

    /// Refreshes once for all callers that saw generation `seen`.
    async fn refresh(&self, run: &RunShared, seen: u64) -> Result<bool> {
        let Some(refresher) = &self.refresher else {
            return Ok(false);
        };
        let _one_at_a_time = self.refresh_lock.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return Ok(true); // someone else refreshed meanwhile
        }
        let (current, _) = self.current();
        let fresh = refresher.refresh(&current).await?;
        if let Some(sealer) = &run.options.sealer {
            let sealed = sealer.seal(&fresh)?;
            run.store.put_auth(&run.job_id, self.mode, &sealed).await?;
        }
        let next = seen + 1;
        {
            let mut guard = match self.auth.write() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            *guard = (Arc::new(fresh), next);
        }
        self.generation.store(next, Ordering::Release);
        run.emit(|| TransferEvent::AuthRefreshed { mode: self.mode });
        Ok(true)
    }
}

/// State shared by everything in one run.
pub(crate) struct RunShared {
    pub(crate) job_id: JobId,
    pub(crate) data_type: DataType,
    pub(crate) options: TransferOptions,
    pub(crate) store: Arc<dyn JobStore>,
    pub(crate) export_side: Side,
    pub(crate) import_side: Side,
}

impl RunShared {
    pub(crate) fn emit(&self, event: impl FnOnce() -> TransferEvent) {
        if let Some(sink) = &self.options.events {
            sink(&event());
        }
    }
}

/// Runs one call with rate limiting, retries with backoff (a `Retry-After`
/// wins) and one credential refresh on `Unauthenticated`.
pub(crate) async fn call_with_retry<T, F, Fut>(
    run: &RunShared,
    side: &Side,
    operation: &'static str,
    mut call: F,
) -> Result<T>
where
    F: FnMut(Arc<AuthData>) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let policy = &run.options.retry;
    let cancel = &run.options.cancel;
    // Built on the first failure: most calls succeed at once.
    let mut backoff = None;
    let started = tokio::time::Instant::now();
    let mut attempt: u32 = 0;
    let mut refreshed = false;
    loop {
        if cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        if let Some(limiter) = &side.limiter {
            tokio::select! {
                _ = limiter.until_ready() => {}
                _ = cancel.cancelled() => return Err(Error::cancelled()),
            }
        }
        let (auth, generation) = side.current();
        // Biased towards the call: the cancellation future (which registers a
        // waiter under a lock) is only polled when the call has to wait.
        let outcome = tokio::select! {
            biased;
            r = call(auth) => r,
            _ = cancel.cancelled() => return Err(Error::cancelled()),
        };
        let err = match outcome {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        attempt += 1;
        if *err.kind() == ErrorKind::Unauthenticated && !refreshed && side.refresher.is_some() {
            refreshed = true;
            if side.refresh(run, generation).await? {
                continue;
            }
        }
        if !err.is_retryable() {
            return Err(err.with_operation(operation));
        }
        let computed = backoff.get_or_insert_with(|| policy.backoff()).next();
        let delay = match (err.retry_after(), computed) {
            (Some(asked), _) if attempt < policy.max_attempts => asked,
            (None, Some(d)) => d,
            _ => return Err(err.with_operation(operation)),
        };
        if started.elapsed() + delay > policy.max_elapsed {
            return Err(err.with_operation(operation));
        }
        tracing::debug!(
            operation,
            attempt,
            delay_ms = delay.as_millis() as u64,
            kind = err.kind().as_str(),
            "retrying"
        );
        run.emit(|| TransferEvent::Retrying {
            operation,
            attempt,
            delay,
            kind: err.kind().as_str(),
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => return Err(Error::cancelled()),
        }
    }
}

/// Opens media bytes on behalf of an importer (the driver wires it to the
/// exporter of the same run).
#[async_trait]
pub(crate) trait MediaSource: Send + Sync {
    async fn open(&self, media: &MediaRef) -> Result<ByteStream>;
}

/// What an importer gets from the driver: the idempotent executor, lookups of
/// already-imported records, media bytes, retries.
pub struct ImportContext {
    pub(crate) run: Arc<RunShared>,
    pub(crate) executor: IdempotentExecutor,
    pub(crate) media: Arc<dyn MediaSource>,
    pub(crate) recovering: bool,
}

impl std::fmt::Debug for ImportContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportContext")
            .field("job_id", &self.run.job_id)
            .field("data_type", &self.run.data_type)
            .field("recovering", &self.recovering)
            .finish_non_exhaustive()
    }
}

impl ImportContext {
    /// The job being run.
    pub fn job_id(&self) -> &JobId {
        &self.run.job_id
    }

    /// The data type being imported.
    pub fn data_type(&self) -> DataType {
        self.run.data_type
    }

    /// The idempotent executor of this run.
    pub fn executor(&self) -> &IdempotentExecutor {
        &self.executor
    }

    /// How many items may be imported at once.
    pub fn item_concurrency(&self) -> usize {
        self.run.options.item_concurrency
    }

    /// Whether this page may have been partly imported by a run that crashed:
    /// importers should look for existing records before creating new ones.
    pub fn is_recovering(&self) -> bool {
        self.recovering
    }

    /// Fires when the run is cancelled.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.run.options.cancel
    }

    /// The idempotency key of a container of this data type.
    pub fn container_key(&self, source_id: &str) -> ImportKey {
        ImportKey::container(self.run.data_type, source_id)
    }

    /// The idempotency key of an item of this data type.
    pub fn item_key(&self, source_id: &str) -> ImportKey {
        ImportKey::item(self.run.data_type, source_id)
    }

    /// The destination id of an imported container, by its source id.
    pub fn container_id(&self, source_id: &str) -> Option<String> {
        self.executor.container_result(source_id)
    }

    /// The destination id of the container an item goes into, by the
    /// container's source id; the error to fail the item with when there is
    /// none. When the container itself failed (in this run or an earlier one
    /// of the job), the item fails with the container's reason, as an item
    /// failure: the rest of the job goes on.
    pub fn require_container(&self, source_id: &str) -> Result<String> {
        if let Some(id) = self.executor.container_result(source_id) {
            return Ok(id);
        }
        let error = match self.executor.container_failure(source_id) {
            Some(failed) => Error::new(
                failed.kind_or_internal(),
                format!(
                    "its container `{}` could not be imported: {}",
                    failed.name, failed.message
                ),
            ),
            None => Error::internal(format!(
                "its container `{source_id}` was not imported first (the exporter must \
                 send a container no later than its first item)"
            )),
        };
        Err(error.with_scope(crate::ErrorScope::Item))
    }

    /// The destination id of an imported item (e.g. a parent task), by its
    /// source id; asks the job store if it was imported on an earlier page.
    pub async fn item_id(&self, source_id: &str) -> Result<Option<String>> {
        self.executor.lookup_stored(&self.item_key(source_id)).await
    }

    /// Saves state of a record still in flight (e.g. the URL of a resumable
    /// upload session) under `source_id`, in the job store at once, so that
    /// a run resumed after a crash finds it with
    /// [`load_progress`](Self::load_progress). Fails with `Unsupported` if
    /// the store cannot write outside a checkpoint.
    pub async fn save_progress(&self, source_id: &str, value: &str) -> Result<()> {
        let key = self.progress_key(source_id);
        self.run
            .store
            .put_result(&self.run.job_id, &key, value)
            .await
    }

    /// State saved by [`save_progress`](Self::save_progress) for
    /// `source_id`, by this run or an earlier run of the same job.
    pub async fn load_progress(&self, source_id: &str) -> Result<Option<String>> {
        let key = self.progress_key(source_id);
        let mut found = self
            .run
            .store
            .results(&self.run.job_id, std::slice::from_ref(&key))
            .await?;
        Ok(found.remove(&key))
    }

    fn progress_key(&self, source_id: &str) -> String {
        format!("{}/p/{source_id}", self.run.data_type.as_str())
    }

    /// Streams the bytes behind `media` from the source.
    pub async fn open_media(&self, media: &MediaRef) -> Result<ByteStream> {
        self.media.open(media).await
    }

    /// Runs one call to the destination with the driver's rate limit, retries
    /// (honouring `Retry-After`) and one token refresh on `Unauthenticated`.
    /// `call` receives the current credentials on every attempt.
    pub async fn call<T, F, Fut>(&self, operation: &'static str, call: F) -> Result<T>
    where
        F: FnMut(Arc<AuthData>) -> Fut + Send,
        Fut: std::future::Future<Output = Result<T>> + Send,
        T: Send,
    {
        call_with_retry(&self.run, &self.run.import_side, operation, call).await
    }
}
