//! The import stage of a run: each exported page goes through the importer
//! and the idempotent executor, then one checkpoint records its results,
//! failures, counters and the frontier after it.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::Instrument;

use crate::driver::context::{ImportContext, MediaSource, RunShared};
use crate::driver::export::PageMessage;
use crate::events::TransferEvent;
use crate::executor::{IdempotentExecutor, Origin};
use crate::spi::{ImportStatus, RecordProblem};
use crate::store::{Checkpoint, Counters, ItemError, JobStore};
use crate::{Cursor, DataModel, DataType, Error, ExportPage, ImportKey, Importer, Record, Result};

/// What the import stage works with.
pub(super) struct ImportStage {
    pub(super) store: Arc<dyn JobStore>,
    pub(super) run: Arc<RunShared>,
    pub(super) executor: IdempotentExecutor,
    pub(super) media: Arc<dyn MediaSource>,
    /// Keys that failed in earlier runs: a success now clears them.
    pub(super) known_errors: HashSet<String>,
    /// Whether the run continues from a checkpoint (its first page may have
    /// been partly imported by the run that stopped).
    pub(super) resumed: bool,
}

impl ImportStage {
    /// Imports pages until the export ends; returns the final counters.
    pub(super) async fn run<M: DataModel>(
        &self,
        importer: &dyn Importer<M>,
        mut pages: mpsc::Receiver<PageMessage<M>>,
        frontier: std::collections::VecDeque<Cursor>,
        mut counters: Counters,
    ) -> Result<Counters> {
        let cancel = &self.run.options.cancel;
        let mut last_frontier: Vec<Cursor> = frontier.into_iter().collect();
        let mut first_page = true;
        loop {
            let msg = tokio::select! {
                m = pages.recv() => m,
                _ = cancel.cancelled() => Some(Err(Error::cancelled())),
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
            let recovering = self.resumed && first_page;
            first_page = false;
            let imported = self.import_page(importer, &page, recovering).await;
            let done_page = imported.is_ok();
            let (delta, mut cp) = self.page_checkpoint(&page);
            counters = counters.plus(delta);
            if done_page {
                counters.pages += 1;
            }
            cp.counters = counters;
            cp.frontier = if done_page {
                frontier_after.clone()
            } else {
                last_frontier.clone()
            };
            self.save(cp, delta, counters).await?;
            imported?;
            last_frontier = frontier_after;
        }
        Ok(counters)
    }

    /// Runs one page through the importer (stored results prefetched).
    async fn import_page<M: DataModel>(
        &self,
        importer: &dyn Importer<M>,
        page: &ExportPage<M>,
        recovering: bool,
    ) -> Result<()> {
        let data_type = self.run.data_type;
        let keys: Vec<String> = page
            .items
            .iter()
            .map(|i| ImportKey::item(data_type, i.source_id()).into_string())
            .collect();
        self.executor.prefetch(keys).await?;
        let ctx = ImportContext {
            run: self.run.clone(),
            executor: self.executor.clone(),
            media: self.media.clone(),
            recovering,
        };
        tokio::select! {
            r = importer.import_page(&ctx, page).instrument(tracing::debug_span!("import_page")) => r,
            _ = self.run.options.cancel.cancelled() => Err(Error::cancelled()),
        }
    }

    /// Writes one page's checkpoint and tells the event sink.
    async fn save(&self, cp: Checkpoint, delta: Counters, counters: Counters) -> Result<()> {
        let run = &self.run;
        let data_type = run.data_type;
        for e in &cp.errors {
            if e.is_unsupported() {
                run.emit(|| TransferEvent::ItemSkipped { error: e.clone() });
            } else {
                run.emit(|| TransferEvent::ItemFailed { error: e.clone() });
            }
        }
        self.store.checkpoint_owned(&run.job_id, cp).await?;
        run.emit(|| TransferEvent::PageImported {
            data_type,
            counters: delta,
        });
        run.emit(|| TransferEvent::Checkpoint {
            data_type,
            counters,
        });
        Ok(())
    }

    /// What the page changed: counters, results, failures, and the earlier
    /// failures it resolved. Every record of the page is counted once: a
    /// second record with the same source id as already there, records the
    /// exporter could not read as failed, records it could not carry as
    /// unsupported.
    fn page_checkpoint<M: DataModel>(&self, page: &ExportPage<M>) -> (Counters, Checkpoint) {
        let run = &self.run;
        let data_type = run.data_type;
        let outcome = self
            .executor
            .drain_page(page.items.iter().map(|i| i.source_id()));
        let mut delta = Counters::default();
        let mut seen: HashSet<&str, crate::executor::FastHash> =
            HashSet::with_capacity_and_hasher(page.items.len(), Default::default());
        for (item, origin) in page.items.iter().zip(&outcome.item_origins) {
            if !seen.insert(item.source_id()) {
                if origin.is_some() {
                    delta.already_there += 1;
                }
                continue;
            }
            match origin {
                Some(Origin::New(ImportStatus::Created)) => {
                    delta.created += 1;
                    delta.bytes += item.size_bytes();
                    run.emit(|| TransferEvent::ItemImported {
                        data_type,
                        item_id: item.source_id().to_string(),
                        name: item.display_name().to_string(),
                        bytes: item.size_bytes(),
                    });
                }
                Some(Origin::New(ImportStatus::Updated)) => {
                    delta.updated += 1;
                    delta.bytes += item.size_bytes();
                }
                Some(Origin::New(ImportStatus::AlreadyThere)) | Some(Origin::Stored) => {
                    delta.already_there += 1
                }
                // Failed or skipped: counted from the failures below.
                None => {}
            }
        }
        for c in &page.containers {
            if outcome.new_containers.contains(c.source_id()) {
                delta.containers += 1;
            }
        }
        let mut errors = outcome.failures;
        errors.extend(page.failed.iter().map(|p| source_problem(data_type, p)));
        errors.extend(page.skipped.iter().map(|p| source_problem(data_type, p)));
        for e in &errors {
            if e.is_unsupported() {
                delta.unsupported += 1;
            } else {
                delta.failed += 1;
            }
        }
        let resolved = if self.known_errors.is_empty() {
            Vec::new()
        } else {
            outcome
                .results
                .iter()
                .map(|(k, _)| k)
                .filter(|k| self.known_errors.contains(*k))
                .cloned()
                .collect()
        };
        let mut cp = Checkpoint::new(data_type, Vec::new(), Counters::default());
        cp.results = outcome.results;
        cp.errors = errors;
        cp.resolved_errors = resolved;
        (delta, cp)
    }
}

/// The report entry of a record the exporter could not read or carry, keyed
/// like the item it would have been.
fn source_problem(data_type: DataType, problem: &RecordProblem) -> ItemError {
    let key = ImportKey::item(data_type, &problem.id);
    ItemError::new(
        data_type,
        key.as_str(),
        problem.id.as_str(),
        problem.name.as_str(),
        &Error::new(problem.kind.clone(), problem.message.clone()),
    )
}
