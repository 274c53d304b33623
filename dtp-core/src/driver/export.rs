//! The export stage of a run: the exporter walks the cursor frontier and
//! hands pages to the import stage through a bounded channel.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::byte_stream::ByteStream;
use crate::driver::context::{MediaSource, RunShared, call_with_retry};
use crate::events::TransferEvent;
use crate::{Cursor, DataModel, ExportContext, ExportPage, Exporter, MediaRef, Result};

pub(super) struct ExporterMedia<M: DataModel> {
    pub(super) exporter: Arc<dyn Exporter<M>>,
    pub(super) ctx: ExportContext,
    pub(super) run: Arc<RunShared>,
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

/// What the export stage sends: a page and the frontier after it, `Ok(None)`
/// at the end of the export (a channel that closes without it means the
/// export stage died), or the error that ended the export.
pub(super) type PageMessage<M> = Result<Option<(ExportPage<M>, Vec<Cursor>)>>;

/// Exports page after page from `frontier` until it is empty, the import
/// stage hangs up, or `stop` fires. Sub-cursors a page names join the end of
/// the frontier.
pub(super) async fn export_stage<M: DataModel>(
    run: Arc<RunShared>,
    exporter: Arc<dyn Exporter<M>>,
    ctx: ExportContext,
    mut frontier: VecDeque<Cursor>,
    pages: mpsc::Sender<PageMessage<M>>,
    stop: CancellationToken,
) {
    let data_type = ctx.data_type;
    while let Some(cursor) = frontier.pop_front() {
        let exporter = &exporter;
        let ctx = &ctx;
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
            r = pages.send(msg) => r.is_ok(),
            _ = stop.cancelled() => false,
        };
        if !sent || failed {
            return;
        }
    }
    tokio::select! {
        _ = pages.send(Ok(None)) => {}
        _ = stop.cancelled() => {}
    }
}
