//! The driver's shape: the exporter runs at most K pages ahead, at most N
//! items are in flight, containers are imported before their items, a
//! declared rate limit is kept, and every imported item is announced.

mod common;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dtp_core::store::{JobState, JobStore, MemoryJobStore};
use dtp_core::{
    AuthData, Cursor, ExportContext, ExportPage, Exporter, ImportContext, Importer, RateLimit,
    Result, Transfer, TransferDriver, TransferEvent, TransferOptions,
};
use dtp_models::contacts::{AddressBook, Contact, ContactsData};
use dtp_testkit::{DatasetSpec, MemoryExporter, MemoryImporter};

/// Counts exported pages; shares the count with a slow importer.
struct CountingExporter {
    inner: MemoryExporter<ContactsData>,
    exported: Arc<AtomicUsize>,
}

#[async_trait]
impl Exporter<ContactsData> for CountingExporter {
    async fn export(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<ContactsData>> {
        let page = self.inner.export(ctx, auth, cursor).await?;
        self.exported.fetch_add(1, Ordering::SeqCst);
        Ok(page)
    }
}

/// Records, per imported page, how far the exporter had got; and the most
/// items in flight at once; and whether an item ever came before its book.
struct ProbeImporter {
    inner: MemoryImporter<ContactsData>,
    exported: Arc<AtomicUsize>,
    pages_seen: AtomicUsize,
    max_ahead: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    orphans: AtomicUsize,
}

#[async_trait]
impl Importer<ContactsData> for ProbeImporter {
    async fn import_container(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        c: &AddressBook,
    ) -> Result<dtp_core::Imported> {
        self.inner.import_container(ctx, auth, c).await
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &Contact,
    ) -> Result<dtp_core::Imported> {
        async move {
            if ctx.container_id(&item.address_book_id).is_none() {
                self.orphans.fetch_add(1, Ordering::SeqCst);
            }
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.inner.import_item(ctx, auth, item).await
        }
        .await
    }

    async fn import_page(
        &self,
        ctx: &ImportContext,
        page: &ExportPage<ContactsData>,
    ) -> Result<()> {
        let seen = self.pages_seen.fetch_add(1, Ordering::SeqCst) + 1;
        // Give the exporter every chance to run ahead while this page imports.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let ahead = self.exported.load(Ordering::SeqCst).saturating_sub(seen);
        self.max_ahead.fetch_max(ahead, Ordering::SeqCst);
        dtp_core::import_page_default(self, ctx, page).await
    }
}

#[tokio::test]
async fn lookahead_concurrency_and_container_order_are_bounded() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let exported = Arc::new(AtomicUsize::new(0));
    let exporter = Arc::new(CountingExporter {
        inner: MemoryExporter::generated(DatasetSpec::new(4, 30).with_page_size(5)),
        exported: exported.clone(),
    });
    let importer = Arc::new(ProbeImporter {
        inner: MemoryImporter::new(),
        exported,
        pages_seen: AtomicUsize::new(0),
        max_ahead: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        orphans: AtomicUsize::new(0),
    });
    let job = common::new_job::<ContactsData>(&store).await;
    let report = TransferDriver::new(store)
        .with_options(
            TransferOptions::default()
                .with_page_lookahead(2)
                .with_item_concurrency(3),
        )
        .run(&job, Transfer::new(exporter, importer.clone()))
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Complete, "{report}");
    let ahead = importer.max_ahead.load(Ordering::SeqCst);
    // Two pages queued in the channel plus one being exported.
    assert!(ahead <= 3, "the exporter ran {ahead} pages ahead");
    assert!(ahead >= 1, "the exporter never ran ahead at all");
    let in_flight = importer.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&in_flight),
        "{in_flight} items in flight at most"
    );
    assert_eq!(
        importer.orphans.load(Ordering::SeqCst),
        0,
        "an item came before its address book"
    );
}

/// Declares a rate limit.
struct Limited(MemoryImporter<ContactsData>);

#[async_trait]
impl Importer<ContactsData> for Limited {
    async fn import_container(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        c: &AddressBook,
    ) -> Result<dtp_core::Imported> {
        self.0.import_container(ctx, auth, c).await
    }
    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &Contact,
    ) -> Result<dtp_core::Imported> {
        self.0.import_item(ctx, auth, item).await
    }
    fn rate_limit(&self) -> Option<RateLimit> {
        Some(
            RateLimit::per_second(
                dtp_core::RateLimitKey::new("test.service", "alice"),
                NonZeroU32::new(20).unwrap(),
            )
            .with_burst(NonZeroU32::new(1).unwrap()),
        )
    }
}

#[tokio::test]
async fn a_declared_rate_limit_is_kept() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    // 1 container + 20 items = 21 calls at 20 per second, burst 1: at least one second.
    let exporter = Arc::new(MemoryExporter::<ContactsData>::generated(DatasetSpec::new(
        1, 20,
    )));
    let importer = Arc::new(Limited(MemoryImporter::new()));
    let job = common::new_job::<ContactsData>(&store).await;
    let started = Instant::now();
    let report = TransferDriver::new(store)
        .with_options(TransferOptions::default().with_item_concurrency(8))
        .run(&job, Transfer::new(exporter, importer))
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Complete);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "21 calls took only {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn every_imported_item_is_announced_once() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let exporter = Arc::new(MemoryExporter::<ContactsData>::generated(
        DatasetSpec::new(3, 17).with_page_size(4),
    ));
    let importer = Arc::new(MemoryImporter::<ContactsData>::new());
    let (sink, events) = common::recorder();
    let job = common::new_job::<ContactsData>(&store).await;
    TransferDriver::new(store)
        .with_options(TransferOptions::default().with_events(sink))
        .run(&job, Transfer::new(exporter.clone(), importer))
        .await
        .unwrap();
    let mut ids: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            TransferEvent::ItemImported { item_id, .. } => Some(item_id.clone()),
            _ => None,
        })
        .collect();
    ids.sort();
    let mut want: Vec<String> = exporter
        .dataset()
        .items
        .iter()
        .map(|c| c.id.clone())
        .collect();
    want.sort();
    assert_eq!(ids, want);
}
