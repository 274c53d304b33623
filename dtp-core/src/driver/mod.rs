//! The transfer driver: walks the exporter's cursor frontier, imports each
//! page idempotently, checkpoints after every page, and reports.
//!
//! One run of one data type goes through stages: [`TransferDriver::begin`]
//! (resume point), the export stage (`export.rs`: the exporter walks the
//! frontier and sends pages through a bounded channel), the import stage
//! (`import.rs`: each page through the importer and the idempotent
//! executor, then one checkpoint), and [`TransferDriver::finish`].

pub(crate) mod context;
mod export;
mod import;
mod options;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use context::ImportContext;
pub(crate) use context::RunShared;
pub use options::{Transfer, TransferOptions};

use crate::events::{TransferEvent, TransferReport};
use crate::executor::IdempotentExecutor;
use crate::store::{Checkpoint, Counters, JobId, JobState, JobStore, StopReason};
use crate::{AuthMode, Cursor, DataModel, DataType, Error, ExportContext, Result};
use context::Side;

/// Where a run starts.
struct Start {
    resumed: bool,
    counters: Counters,
    frontier: VecDeque<Cursor>,
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
        let Some(start) = self.begin(job, data_type).await? else {
            return self.report(job).await;
        };
        let run = Arc::new(self.run_shared(job, data_type, &transfer));
        let export_ctx = ExportContext {
            job_id: job.clone(),
            data_type,
            cancel: self.options.cancel.clone(),
        };
        let stage = import::ImportStage {
            store: self.store.clone(),
            run: run.clone(),
            executor: IdempotentExecutor::load(self.store.clone(), job.clone(), data_type).await?,
            media: Arc::new(export::ExporterMedia {
                exporter: transfer.exporter.clone(),
                ctx: export_ctx.clone(),
                run: run.clone(),
            }),
            known_errors: self.known_errors(job, data_type).await?,
            resumed: start.resumed,
        };
        run.emit(|| TransferEvent::Started {
            job_id: job.clone(),
            data_type,
            resumed: start.resumed,
            counters: start.counters,
        });
        tracing::info!(
            resumed = start.resumed,
            cursors = start.frontier.len(),
            "transfer started"
        );

        let (pages, received) = mpsc::channel(self.options.page_lookahead.max(1));
        // Stops the export stage as soon as the import stage ends, however it ends.
        let stop_export = CancellationToken::new();
        let exporting = export::export_stage(
            run.clone(),
            transfer.exporter.clone(),
            export_ctx,
            start.frontier.clone(),
            pages,
            stop_export.clone(),
        );
        let importing = async {
            let _stop_export = stop_export.drop_guard();
            stage
                .run(
                    &*transfer.importer,
                    received,
                    start.frontier,
                    start.counters,
                )
                .await
        };
        // Exporter and importer share this task (a spawned exporter did not
        // pay off on this 2-core machine and held more memory). A panicking
        // exporter must not take the caller down: it ends without the
        // end-of-export marker, which the import stage reports as an internal
        // error.
        let exporting = std::panic::AssertUnwindSafe(exporting).catch_unwind();
        let (_, outcome) = tokio::join!(exporting, importing);
        let state = self.finish(job, data_type, outcome).await?;
        run.emit(|| TransferEvent::Finished { data_type, state });
        tracing::info!(state = %state, "transfer ended");
        self.report(job).await
    }

    /// Checks that `job` moves `data_type` and marks it running. `None` when
    /// that data type already finished (its state is settled again: a crash
    /// may have hit between the last checkpoint and the state update).
    async fn begin(&self, job: &JobId, data_type: DataType) -> Result<Option<Start>> {
        let record = self.store.job(job).await?;
        if !record.data_types.contains(&data_type) {
            return Err(Error::invalid_data(format!(
                "job {job} does not move {data_type}"
            )));
        }
        let progress = self.store.progress(job, data_type).await?;
        if progress.finished {
            self.settle_state(job).await?;
            return Ok(None);
        }
        self.store.set_state(job, JobState::Running, None).await?;
        let resumed = progress.frontier.is_some();
        let counters = progress.counters;
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
        Ok(Some(Start {
            resumed,
            counters,
            frontier,
        }))
    }

    /// Keys of this data type's items that failed in earlier runs: a later
    /// success clears them.
    async fn known_errors(&self, job: &JobId, data_type: DataType) -> Result<HashSet<String>> {
        Ok(self
            .store
            .item_errors(job)
            .await?
            .into_iter()
            .filter(|e| e.data_type == data_type)
            .map(|e| e.key)
            .collect())
    }

    /// Both sides' credentials, refreshers and rate limiters for one run.
    fn run_shared<M: DataModel>(
        &self,
        job: &JobId,
        data_type: DataType,
        transfer: &Transfer<M>,
    ) -> RunShared {
        let limiter = |l: Option<crate::RateLimit>| l.map(|l| self.options.rate_limiters.get(&l));
        RunShared {
            job_id: job.clone(),
            data_type,
            options: self.options.clone(),
            store: self.store.clone(),
            export_side: Side::new(
                AuthMode::Export,
                transfer.export_auth.clone(),
                transfer.export_refresher.clone(),
                limiter(transfer.exporter.rate_limit()),
            ),
            import_side: Side::new(
                AuthMode::Import,
                transfer.import_auth.clone(),
                transfer.import_refresher.clone(),
                limiter(transfer.importer.rate_limit()),
            ),
        }
    }

    /// Records how the run ended: finished (then the job's state is settled
    /// over all its data types) or stopped with its reason. A failing job
    /// store is returned as an error: nothing could be recorded.
    async fn finish(
        &self,
        job: &JobId,
        data_type: DataType,
        outcome: Result<Counters>,
    ) -> Result<JobState> {
        match outcome {
            Ok(final_counters) => {
                let mut cp = Checkpoint::new(data_type, Vec::new(), final_counters);
                cp.finished = true;
                self.store.checkpoint(job, &cp).await?;
                self.settle_state(job).await
            }
            Err(e) if is_store_failure(&e) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "transfer stopped");
                self.store
                    .set_state(job, JobState::Stopped, Some(StopReason::from_error(&e)))
                    .await?;
                Ok(JobState::Stopped)
            }
        }
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
        // Records skipped as unsupported are reported, but they do not make
        // the job partial: nothing failed.
        let failed = self
            .store
            .item_errors(job)
            .await?
            .iter()
            .any(|e| !e.is_unsupported());
        let state = if failed {
            JobState::Partial
        } else {
            JobState::Complete
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
        let (skipped, failures) = self
            .store
            .item_errors(job)
            .await?
            .into_iter()
            .partition(|e| e.is_unsupported());
        Ok(TransferReport {
            job_id: record.id,
            state: record.state,
            stop_reason: record.stop_reason,
            per_type,
            unfinished,
            failures,
            skipped,
        })
    }
}

pub(crate) fn is_store_failure(e: &Error) -> bool {
    e.context().operation == Some("job_store")
}
