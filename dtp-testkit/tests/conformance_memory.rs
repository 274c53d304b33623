//! The conformance suite run against the in-memory service itself, for every
//! data type: the suite's own checks must pass on a correct service, and must
//! fail on a broken one.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_core::{
    AuthData, Cursor, ErrorKind, ExportContext, ExportPage, Exporter, Importer, Result,
};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::MailData;
use dtp_models::media::MediaData;
use dtp_models::tasks::TasksData;
use dtp_testkit::conformance::{self, Account, Capabilities, Check, ConformanceTarget, ErrorCase};
use dtp_testkit::{
    Dataset, FaultPlan, FaultyImporter, MemoryExporter, MemoryImporter, Op, SampleModel,
};

/// An in-memory "service": importing stores records; exporting reads them back.
struct MemoryService;

/// Exports what a MemoryImporter received, as a service would.
struct ReadBack<M: SampleModel> {
    importer: Arc<MemoryImporter<M>>,
    cached: Mutex<Option<Arc<MemoryExporter<M>>>>,
}

impl<M: SampleModel> ReadBack<M> {
    fn snapshot(&self) -> Arc<MemoryExporter<M>> {
        let mut cached = self.cached.lock().unwrap();
        cached
            .get_or_insert_with(|| {
                let dest = self.importer.destination();
                let items = dest.items();
                let mut media = std::collections::HashMap::new();
                for i in &items {
                    if let Some(m) = dtp_core::Record::media(&i.item)
                        && let Some(dtp_testkit::SampleBytes::Whole(b)) =
                            dtp_testkit::sample_media_bytes(&m.key)
                    {
                        media.insert(m.key.clone(), b);
                    }
                }
                Arc::new(MemoryExporter::fixed(
                    Dataset {
                        containers: dest.containers().into_iter().map(|(_, c)| c).collect(),
                        items: items.into_iter().map(|i| i.item).collect(),
                        media,
                    },
                    7,
                ))
            })
            .clone()
    }
}

#[async_trait]
impl<M: SampleModel> Exporter<M> for ReadBack<M> {
    async fn export(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<M>> {
        self.snapshot().export(ctx, auth, cursor).await
    }
    async fn open_media(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        media: &dtp_core::MediaRef,
    ) -> Result<dtp_core::ByteStream> {
        self.snapshot().open_media(ctx, auth, media).await
    }
}

#[async_trait]
impl<M: SampleModel> ConformanceTarget<M> for MemoryService {
    async fn fresh_account(&self) -> Result<Account<M>> {
        let importer = Arc::new(MemoryImporter::<M>::new());
        let exporter = Arc::new(ReadBack {
            importer: importer.clone(),
            cached: Mutex::new(None),
        });
        Ok(Account::new(exporter, importer, AuthData::None))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full().without(
            Check::RerunNewJob,
            "the in-memory service keys records by job, not by a natural id",
        )
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<M>>> {
        let importer: Arc<dyn Importer<M>> = Arc::new(FaultyImporter::new(
            Arc::new(MemoryImporter::<M>::new()),
            FaultPlan::new().fail(Op::ImportItem, 1, 100, ErrorKind::DestinationFull),
        ));
        let exporter = Arc::new(MemoryExporter::<M>::generated(
            dtp_testkit::DatasetSpec::new(0, 0),
        ));
        Ok(vec![ErrorCase {
            name: "quota".into(),
            account: Account::new(exporter, importer, AuthData::None),
            on_import: true,
            expected_kind: "destination_full",
        }])
    }
}

#[tokio::test]
async fn the_in_memory_service_passes_for_every_data_type() {
    conformance::run_all::<MediaData, _>(&MemoryService).await;
    conformance::run_all::<ContactsData, _>(&MemoryService).await;
    conformance::run_all::<CalendarData, _>(&MemoryService).await;
    conformance::run_all::<TasksData, _>(&MemoryService).await;
    conformance::run_all::<MailData, _>(&MemoryService).await;
}

/// A service that silently drops every 10th item must fail the round trip.
struct LossyService;

struct Lossy<M: SampleModel> {
    inner: Arc<MemoryImporter<M>>,
    n: Mutex<u64>,
}

#[async_trait]
impl<M: SampleModel> Importer<M> for Lossy<M> {
    async fn import_container(
        &self,
        ctx: &dtp_core::ImportContext,
        auth: &AuthData,
        c: &M::Container,
    ) -> Result<dtp_core::Imported> {
        self.inner.import_container(ctx, auth, c).await
    }
    async fn import_item(
        &self,
        ctx: &dtp_core::ImportContext,
        auth: &AuthData,
        item: &M::Item,
    ) -> Result<dtp_core::Imported> {
        let n = {
            let mut n = self.n.lock().unwrap();
            *n += 1;
            *n
        };
        if n.is_multiple_of(10) {
            return Ok(dtp_core::Imported::created(format!("pretend-{n}")));
        }
        self.inner.import_item(ctx, auth, item).await
    }
}

#[async_trait]
impl ConformanceTarget<ContactsData> for LossyService {
    async fn fresh_account(&self) -> Result<Account<ContactsData>> {
        let inner = Arc::new(MemoryImporter::<ContactsData>::new());
        let exporter = Arc::new(ReadBack {
            importer: inner.clone(),
            cached: Mutex::new(None),
        });
        Ok(Account::new(
            exporter,
            Arc::new(Lossy {
                inner,
                n: Mutex::new(0),
            }),
            AuthData::None,
        ))
    }
}

#[tokio::test]
async fn the_suite_catches_a_service_that_loses_items() {
    let outcome =
        tokio::spawn(async { conformance::round_trip::<ContactsData, _>(&LossyService).await })
            .await;
    let panic = outcome.expect_err("a lossy service must fail the round trip");
    let message = panic
        .into_panic()
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(message.contains("items came back"), "{message}");
}
