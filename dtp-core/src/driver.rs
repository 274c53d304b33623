//! The transfer driver: walks the exporter's cursor frontier, imports each
//! page idempotently, checkpoints after every page, and reports.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::Poll;

use async_trait::async_trait;
use futures::FutureExt;
use governor::DefaultDirectRateLimiter;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::events::{EventSink, TransferEvent, TransferReport};
use crate::executor::IdempotentExecutor;
use crate::ratelimit::RateLimiters;
use crate::retry::RetryPolicy;
use crate::spi::{
    ByteStream, ExportContext, ExportPage, Exporter, ImportContext, Importer, MediaSource,
};
use crate::store::{Checkpoint, Counters, JobId, JobState, JobStore, StopReason};
use crate::{
    AuthData, AuthMode, AuthRefresher, AuthSealer, Cursor, DataModel, DataType, Error, ErrorKind,
    MediaRef, Record, Result,
};

/// Knobs of the driver.
#[derive(Clone)]
#[non_exhaustive]
pub struct TransferOptions {
    /// How many pages the exporter may run ahead of the importer.
    pub page_lookahead: usize,
    /// How many items are imported at once.
    pub item_concurrency: usize,
    /// How retryable errors are retried.
    pub retry: RetryPolicy,
    /// Shared rate limiters (one per service and account).
    pub rate_limiters: RateLimiters,
    /// Where progress events go.
    pub events: Option<EventSink>,
    /// Cancels the run: it stops promptly and leaves a resumable checkpoint.
    pub cancel: CancellationToken,
    /// Seals refreshed credentials so the job store can keep them.
    pub sealer: Option<Arc<dyn AuthSealer>>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            page_lookahead: 4,
            item_concurrency: 8,
            retry: RetryPolicy::default(),
            rate_limiters: RateLimiters::new(),
            events: None,
            cancel: CancellationToken::new(),
            sealer: None,
        }
    }
}

impl std::fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferOptions")
            .field("page_lookahead", &self.page_lookahead)
            .field("item_concurrency", &self.item_concurrency)
            .field("retry", &self.retry)
            .field("events", &self.events.is_some())
            .field("cancelled", &self.cancel.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl TransferOptions {
    /// Sets how far the exporter may run ahead (at least 1 page).
    pub fn with_page_lookahead(mut self, pages: usize) -> Self {
        self.page_lookahead = pages.max(1);
        self
    }

    /// Sets how many items are imported at once (at least 1).
    pub fn with_item_concurrency(mut self, n: usize) -> Self {
        self.item_concurrency = n.max(1);
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Shares rate limiters with other drivers.
    pub fn with_rate_limiters(mut self, limiters: RateLimiters) -> Self {
        self.rate_limiters = limiters;
        self
    }

    /// Sends progress events to `sink`.
    pub fn with_events(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// Uses `cancel` to stop the run.
    pub fn with_cancellation(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Persists refreshed credentials, sealed by `sealer`.
    pub fn with_sealer(mut self, sealer: Arc<dyn AuthSealer>) -> Self {
        self.sealer = Some(sealer);
        self
    }
}

/// One data type's exporter and importer, with both sides' credentials.
pub struct Transfer<M: DataModel> {
    exporter: Arc<dyn Exporter<M>>,
    importer: Arc<dyn Importer<M>>,
    export_auth: AuthData,
    import_auth: AuthData,
    export_refresher: Option<Arc<dyn AuthRefresher>>,
    import_refresher: Option<Arc<dyn AuthRefresher>>,
}

impl<M: DataModel> Transfer<M> {
    /// A transfer from `exporter` to `importer`, without credentials.
    pub fn new(exporter: Arc<dyn Exporter<M>>, importer: Arc<dyn Importer<M>>) -> Self {
        Transfer {
            exporter,
            importer,
            export_auth: AuthData::None,
            import_auth: AuthData::None,
            export_refresher: None,
            import_refresher: None,
        }
    }

    /// Credentials for the source.
    pub fn with_export_auth(mut self, auth: AuthData) -> Self {
        self.export_auth = auth;
        self
    }

    /// Credentials for the destination.
    pub fn with_import_auth(mut self, auth: AuthData) -> Self {
        self.import_auth = auth;
        self
    }

    /// Refreshes the source's credentials on `Unauthenticated`.
    pub fn with_export_refresher(mut self, refresher: Arc<dyn AuthRefresher>) -> Self {
        self.export_refresher = Some(refresher);
        self
    }

    /// Refreshes the destination's credentials on `Unauthenticated`.
    pub fn with_import_refresher(mut self, refresher: Arc<dyn AuthRefresher>) -> Self {
        self.import_refresher = Some(refresher);
        self
    }
}

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
    fn emit(&self, event: impl FnOnce() -> TransferEvent) {
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

struct ExporterMedia<M: DataModel> {
    exporter: Arc<dyn Exporter<M>>,
    ctx: ExportContext,
    run: Arc<RunShared>,
}

#[async_trait]
impl<M: DataModel> MediaSource for ExporterMedia<M> {
    async fn open(&self, media: &MediaRef) -> Result<ByteStream> {
        let exporter = &self.exporter;
        let ctx = &self.ctx;
        call_with_retry(
            &self.run,
            &self.run.export_side,
            "open_media",
            |auth| async move { exporter.open_media(ctx, &auth, media).await },
        )
        .await
    }
}

/// The default page import: containers in order, then items with at most
/// [`ImportContext::item_concurrency`] in flight, each through the idempotent
/// executor (with recovery lookups after a resume, retries and rate limits).
///
/// An importer that overrides [`Importer::import_page`] (say, to prepare a
/// batch) can call this for the part it does not handle itself.
pub async fn import_page_default<M, I>(
    importer: &I,
    ctx: &ImportContext,
    page: &ExportPage<M>,
) -> Result<()>
where
    M: DataModel,
    I: Importer<M> + ?Sized,
{
    for container in &page.containers {
        let key = ctx.container_key(container.source_id());
        ctx.executor
            .execute(&key, container.display_name(), || async {
                if ctx.is_recovering() {
                    let found = ctx
                        .call("find_existing_container", |auth| async move {
                            importer
                                .find_existing_container(ctx, &auth, container)
                                .await
                        })
                        .await?;
                    if let Some(id) = found {
                        return Ok(id);
                    }
                }
                ctx.call("import_container", |auth| async move {
                    importer.import_container(ctx, &auth, container).await
                })
                .await
            })
            .await
            .map_err(|e| e.with_item(container.source_id()))?;
    }
    let mut seen: HashSet<&str, crate::executor::FastHash> =
        HashSet::with_capacity_and_hasher(page.items.len(), Default::default());
    let unique: Vec<&M::Item> = page
        .items
        .iter()
        .filter(|i| seen.insert(i.source_id()))
        .collect();
    drop(seen);
    try_for_each_in_window(unique, ctx.item_concurrency(), |item| async move {
        ctx.executor
            .execute_item(item.source_id(), item.display_name(), || async {
                if ctx.is_recovering() {
                    let found = ctx
                        .call("find_existing_item", |auth| async move {
                            importer.find_existing_item(ctx, &auth, item).await
                        })
                        .await?;
                    if let Some(id) = found {
                        return Ok(id);
                    }
                }
                ctx.call("import_item", |auth| async move {
                    importer.import_item(ctx, &auth, item).await
                })
                .await
            })
            .await
            .map_err(|e| e.with_item(item.source_id()))
    })
    .await
}

/// Runs `step` for every element of `items`, at most `window` at a time,
/// stopping at the first error (like `try_for_each_concurrent`). The futures
/// live in `window` slots allocated once and reused in place, instead of one
/// heap task per item: with fast importers that allocation and its
/// bookkeeping cost as much as the rest of the per-item work. Every slot is
/// polled on each wake-up, which is cheap for the small windows used here.
async fn try_for_each_in_window<I, F, Fut>(items: I, window: usize, mut step: F) -> Result<()>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut items = items.into_iter().fuse();
    let mut slots: Vec<Pin<Box<Option<Fut>>>> =
        (0..window.max(1)).map(|_| Box::pin(None)).collect();
    futures::future::poll_fn(|cx| {
        loop {
            let mut busy = false;
            let mut freed = false;
            for slot in slots.iter_mut() {
                if slot.is_none() {
                    match items.next() {
                        Some(item) => slot.set(Some(step(item))),
                        None => continue,
                    }
                }
                if let Some(fut) = slot.as_mut().as_pin_mut() {
                    match fut.poll(cx) {
                        Poll::Ready(Ok(())) => {
                            slot.set(None);
                            freed = true;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => busy = true,
                    }
                }
            }
            if !freed {
                // Nothing finished in this round: either all is done or every
                // slot waits on its waker.
                return if busy {
                    Poll::Pending
                } else {
                    Poll::Ready(Ok(()))
                };
            }
        }
    })
    .await
}

/// Runs transfers against a [`JobStore`].
///
/// ```
/// # async fn demo() -> dtp_core::Result<()> {
/// use std::sync::Arc;
/// use dtp_core::store::{JobStore, MemoryJobStore, NewJob};
/// use dtp_core::{DataType, TransferDriver};
/// let store = Arc::new(MemoryJobStore::new());
/// let job = store.create_job(NewJob::new("a", "b", [DataType::Tasks])).await?;
/// let driver = TransferDriver::new(store);
/// // driver.run(&job.id, Transfer::new(exporter, importer)).await?;
/// let report = driver.report(&job.id).await?;
/// assert_eq!(report.total_items(), 0);
/// # Ok(()) }
/// ```
pub struct TransferDriver {
    store: Arc<dyn JobStore>,
    options: TransferOptions,
}

impl std::fmt::Debug for TransferDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferDriver")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl TransferDriver {
    /// A driver with default options.
    pub fn new(store: Arc<dyn JobStore>) -> Self {
        TransferDriver {
            store,
            options: TransferOptions::default(),
        }
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: TransferOptions) -> Self {
        self.options = options;
        self
    }

    /// The options.
    pub fn options(&self) -> &TransferOptions {
        &self.options
    }

    /// The job store.
    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.store
    }

    /// Runs (or resumes, from its last checkpoint) data type `M` of `job`.
    ///
    /// Job-level failures (destination full, access revoked, retries
    /// exhausted, cancellation) do not return `Err`: they stop the job with
    /// its checkpoint saved, and the report says why. `Err` means the job
    /// store itself failed or the job cannot run this data type.
    pub async fn run<M: DataModel>(
        &self,
        job: &JobId,
        transfer: Transfer<M>,
    ) -> Result<TransferReport> {
        let span = tracing::info_span!("transfer", job = %job, data_type = %M::DATA_TYPE);
        self.run_inner(job, transfer).instrument(span).await
    }

    async fn run_inner<M: DataModel>(
        &self,
        job: &JobId,
        transfer: Transfer<M>,
    ) -> Result<TransferReport> {
        let data_type = M::DATA_TYPE;
        let record = self.store.job(job).await?;
        if !record.data_types.contains(&data_type) {
            return Err(Error::invalid_data(format!(
                "job {job} does not move {data_type}"
            )));
        }
        let progress = self.store.progress(job, data_type).await?;
        if progress.finished {
            // A crash may have hit between the last checkpoint and the state update.
            self.settle_state(job).await?;
            return self.report(job).await;
        }
        self.store.set_state(job, JobState::Running, None).await?;
        let resumed = progress.frontier.is_some();
        let mut counters = progress.counters;
        let frontier: VecDeque<Cursor> = match progress.frontier {
            Some(f) => f.into(),
            None => {
                // Mark the start before anything reaches the destination, so a
                // run that dies before its first page checkpoint is recognised
                // as interrupted (and recovers) next time.
                let start = vec![Cursor::root()];
                self.store
                    .checkpoint(job, &Checkpoint::new(data_type, start.clone(), counters))
                    .await?;
                start.into()
            }
        };
        let known_errors: HashSet<String> = self
            .store
            .item_errors(job)
            .await?
            .into_iter()
            .filter(|e| e.data_type == data_type)
            .map(|e| e.key)
            .collect();

        let limiter = |l: Option<crate::RateLimit>| l.map(|l| self.options.rate_limiters.get(&l));
        let run = Arc::new(RunShared {
            job_id: job.clone(),
            data_type,
            options: self.options.clone(),
            store: self.store.clone(),
            export_side: Side {
                mode: AuthMode::Export,
                auth: RwLock::new((Arc::new(transfer.export_auth), 0)),
                refresh_lock: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
                refresher: transfer.export_refresher,
                limiter: limiter(transfer.exporter.rate_limit()),
            },
            import_side: Side {
                mode: AuthMode::Import,
                auth: RwLock::new((Arc::new(transfer.import_auth), 0)),
                refresh_lock: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
                refresher: transfer.import_refresher,
                limiter: limiter(transfer.importer.rate_limit()),
            },
        });
        let executor = IdempotentExecutor::load(self.store.clone(), job.clone(), data_type).await?;
        let export_ctx = ExportContext {
            job_id: job.clone(),
            data_type,
            cancel: self.options.cancel.clone(),
        };
        let media: Arc<dyn MediaSource> = Arc::new(ExporterMedia {
            exporter: transfer.exporter.clone(),
            ctx: export_ctx.clone(),
            run: run.clone(),
        });
        run.emit(|| TransferEvent::Started {
            job_id: job.clone(),
            data_type,
            resumed,
            counters,
        });
        tracing::info!(resumed, cursors = frontier.len(), "transfer started");

        // `Ok(None)` marks the end of the export: a channel that closes without
        // it means the exporter task died.
        let (tx, mut rx) = mpsc::channel::<Result<Option<(ExportPage<M>, Vec<Cursor>)>>>(
            self.options.page_lookahead.max(1),
        );
        let exporter = transfer.exporter.clone();
        // Stops the producer as soon as the consumer ends, however it ends.
        let stop_producer = CancellationToken::new();
        let producer = {
            let stop = stop_producer.clone();
            let run = run.clone();
            let export_ctx = export_ctx.clone();
            let mut frontier = frontier.clone();
            async move {
                while let Some(cursor) = frontier.pop_front() {
                    let exporter = &exporter;
                    let ctx = &export_ctx;
                    let cursor_ref = &cursor;
                    let page = tokio::select! {
                        p = call_with_retry(&run, &run.export_side, "export", |auth| async move {
                            exporter.export(ctx, &auth, cursor_ref).await
                        })
                        .instrument(tracing::debug_span!("export")) => p,
                        _ = stop.cancelled() => return,
                    };
                    let msg = page.map(|mut page| {
                        frontier.extend(std::mem::take(&mut page.next));
                        run.emit(|| TransferEvent::PageExported {
                            data_type,
                            containers: page.containers.len(),
                            items: page.items.len(),
                        });
                        Some((page, frontier.iter().cloned().collect::<Vec<_>>()))
                    });
                    let failed = msg.is_err();
                    let sent = tokio::select! {
                        r = tx.send(msg) => r.is_ok(),
                        _ = stop.cancelled() => false,
                    };
                    if !sent || failed {
                        return;
                    }
                }
                tokio::select! {
                    _ = tx.send(Ok(None)) => {}
                    _ = stop.cancelled() => {}
                }
            }
        };

        let consumer = async {
            let _stop_producer = stop_producer.drop_guard();
            let mut last_frontier: Vec<Cursor> = frontier.iter().cloned().collect();
            let mut first_page = true;
            loop {
                let msg = tokio::select! {
                    m = rx.recv() => m,
                    _ = self.options.cancel.cancelled() => Some(Err(Error::cancelled())),
                };
                let (page, frontier_after) = match msg {
                    Some(Ok(None)) => break,
                    Some(Ok(Some(p))) => p,
                    Some(Err(e)) => return Err(e),
                    None => {
                        return Err(Error::internal(
                            "the exporter task ended without finishing the export (did it panic?)",
                        )
                        .with_operation("export"));
                    }
                };
                let keys: Vec<String> = page
                    .items
                    .iter()
                    .map(|i| crate::ImportKey::item(data_type, i.source_id()).into_string())
                    .collect();
                executor.prefetch(keys).await?;
                let ctx = ImportContext {
                    run: run.clone(),
                    executor: executor.clone(),
                    media: media.clone(),
                    recovering: resumed && first_page,
                };
                first_page = false;
                let imported = {
                    let importer = &transfer.importer;
                    let ctx = &ctx;
                    let page = &page;
                    tokio::select! {
                        r = importer.import_page(ctx, page).instrument(tracing::debug_span!("import_page")) => r,
                        _ = self.options.cancel.cancelled() => Err(Error::cancelled()),
                    }
                };
                let (delta, cp) =
                    self.page_checkpoint(&run, &executor, &page, &known_errors, data_type);
                counters = add(counters, delta);
                let done_page = imported.is_ok();
                if done_page {
                    counters.pages += 1;
                }
                let mut cp = cp;
                cp.counters = counters;
                cp.frontier = if done_page {
                    frontier_after.clone()
                } else {
                    last_frontier.clone()
                };
                for e in &cp.errors {
                    run.emit(|| TransferEvent::ItemFailed { error: e.clone() });
                }
                self.store.checkpoint_owned(job, cp).await?;
                run.emit(|| TransferEvent::PageImported {
                    data_type,
                    containers: delta.containers,
                    items: delta.items,
                    bytes: delta.bytes,
                    skipped: delta.skipped,
                    failed: delta.failed,
                });
                run.emit(|| TransferEvent::Checkpoint {
                    data_type,
                    counters,
                });
                imported?;
                last_frontier = frontier_after;
            }
            Ok::<_, Error>(counters)
        };

        // Exporter and importer share this task (a spawned exporter did not
        // pay off on this 2-core machine and held more memory). A panicking
        // exporter must not take the caller down: it ends without the
        // end-of-export marker, which the consumer reports as an internal error.
        let producer = std::panic::AssertUnwindSafe(producer).catch_unwind();
        let (_, outcome) = tokio::join!(producer, consumer);
        let state = match outcome {
            Ok(final_counters) => {
                let mut cp = Checkpoint::new(data_type, Vec::new(), final_counters);
                cp.finished = true;
                self.store.checkpoint(job, &cp).await?;
                self.settle_state(job).await?
            }
            Err(e) if is_store_failure(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "transfer stopped");
                self.store
                    .set_state(job, JobState::Stopped, Some(StopReason::from_error(&e)))
                    .await?;
                JobState::Stopped
            }
        };
        run.emit(|| TransferEvent::Finished { data_type, state });
        tracing::info!(state = %state, "transfer ended");
        self.report(job).await
    }

    fn page_checkpoint<M: DataModel>(
        &self,
        run: &RunShared,
        executor: &IdempotentExecutor,
        page: &ExportPage<M>,
        known_errors: &HashSet<String>,
        data_type: DataType,
    ) -> (Counters, Checkpoint) {
        let outcome = executor.drain_page(page.items.iter().map(|i| i.source_id()));
        let mut delta = Counters::default();
        for (item, origin) in page.items.iter().zip(&outcome.item_origins) {
            match origin {
                Some(crate::executor::Origin::New) => {
                    delta.items += 1;
                    delta.bytes += item.size_bytes();
                    run.emit(|| TransferEvent::ItemImported {
                        data_type,
                        item_id: item.source_id().to_string(),
                        name: item.display_name().to_string(),
                        bytes: item.size_bytes(),
                    });
                }
                Some(crate::executor::Origin::Stored) => delta.skipped += 1,
                None => {}
            }
        }
        for c in &page.containers {
            if outcome.new_containers.contains(c.source_id()) {
                delta.containers += 1;
            }
        }
        delta.failed = outcome.failures.len() as u64;
        let resolved = if known_errors.is_empty() {
            Vec::new()
        } else {
            outcome
                .results
                .iter()
                .map(|(k, _)| k)
                .filter(|k| known_errors.contains(*k))
                .cloned()
                .collect()
        };
        let mut cp = Checkpoint::new(data_type, Vec::new(), Counters::default());
        cp.results = outcome.results;
        cp.errors = outcome.failures;
        cp.resolved_errors = resolved;
        (delta, cp)
    }

    /// Sets the job's final state once every data type has finished.
    async fn settle_state(&self, job: &JobId) -> Result<JobState> {
        let record = self.store.job(job).await?;
        for t in &record.data_types {
            if !self.store.progress(job, *t).await?.finished {
                self.store.set_state(job, JobState::Running, None).await?;
                return Ok(JobState::Running);
            }
        }
        let state = if self.store.item_errors(job).await?.is_empty() {
            JobState::Complete
        } else {
            JobState::Partial
        };
        self.store.set_state(job, state, None).await?;
        Ok(state)
    }

    /// The report of `job` as the store has it now.
    pub async fn report(&self, job: &JobId) -> Result<TransferReport> {
        let record = self.store.job(job).await?;
        let mut per_type = std::collections::BTreeMap::new();
        let mut unfinished = Vec::new();
        for t in &record.data_types {
            let p = self.store.progress(job, *t).await?;
            if !p.finished {
                unfinished.push(*t);
            }
            per_type.insert(*t, p.counters);
        }
        Ok(TransferReport {
            job_id: record.id,
            state: record.state,
            stop_reason: record.stop_reason,
            per_type,
            unfinished,
            failures: self.store.item_errors(job).await?,
        })
    }
}

fn add(a: Counters, b: Counters) -> Counters {
    Counters {
        containers: a.containers + b.containers,
        items: a.items + b.items,
        bytes: a.bytes + b.bytes,
        failed: a.failed + b.failed,
        skipped: a.skipped + b.skipped,
        pages: a.pages + b.pages,
    }
}

fn is_store_failure(e: &Error) -> bool {
    e.context().operation == Some("job_store")
}

#[cfg(test)]
mod window_tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_window_bounds_what_is_in_flight_and_runs_everything() {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let done = std::sync::Mutex::new(Vec::new());
        try_for_each_in_window(0..50u64, 4, |n| {
            let (in_flight, peak, done) = (&in_flight, &peak, &done);
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Uneven durations so slots free up out of order.
                tokio::time::sleep(Duration::from_millis(1 + n % 7)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                done.lock().unwrap().push(n);
                Ok(())
            }
        })
        .await
        .unwrap();
        let mut done = done.into_inner().unwrap();
        done.sort_unstable();
        assert_eq!(done, (0..50).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_error_stops_the_window() {
        let started = AtomicUsize::new(0);
        let err = try_for_each_in_window(0..100u64, 3, |n| {
            let started = &started;
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                if n == 10 {
                    Err(Error::invalid_data("item 10"))
                } else {
                    Ok(())
                }
            }
        })
        .await
        .unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::InvalidData);
        let started = started.load(Ordering::SeqCst);
        assert!((11..=13).contains(&started), "started {started} items");
    }

    #[tokio::test]
    async fn an_empty_input_finishes_at_once() {
        try_for_each_in_window(std::iter::empty::<u8>(), 8, |_| async { Ok(()) })
            .await
            .unwrap();
    }
}
