//! The conformance suite run against the in-memory service itself, for every
//! data type: the suite's own checks must pass on a correct service, and must
//! fail on a broken one.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_core::{
    AuthData, Cursor, ErrorKind, ExportContext, ExportPage, Exporter, Importer, Record, Result,
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
    /// A stable view for the pages of one export, taken again once the
    /// destination has changed (by the number of creates).
    cached: Mutex<Option<(u64, Arc<MemoryExporter<M>>)>>,
}

impl<M: SampleModel> ReadBack<M> {
    fn snapshot(&self) -> Arc<MemoryExporter<M>> {
        let mut cached = self.cached.lock().unwrap();
        let dest = self.importer.destination();
        let creates = dest.item_creates() + dest.container_creates();
        if cached.as_ref().is_some_and(|(seen, _)| *seen != creates) {
            *cached = None;
        }
        cached
            .get_or_insert_with(|| {
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
                let exporter = Arc::new(MemoryExporter::fixed(
                    Dataset {
                        containers: dest.containers().into_iter().map(|(_, c)| c).collect(),
                        items: own_ids::<M>(items.into_iter().map(|i| i.item)),
                        media,
                    },
                    7,
                ));
                (creates, exporter)
            })
            .1
            .clone()
    }
}

/// Gives each copy of a record its own id, as a service gives a duplicate a
/// new one: otherwise the export would fold duplicates into one item and
/// the suite could not see them.
fn own_ids<M: SampleModel>(items: impl Iterator<Item = M::Item>) -> Vec<M::Item> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    items
        .map(|item| {
            let copies = seen.entry(item.source_id().to_string()).or_default();
            *copies += 1;
            if *copies == 1 {
                return item;
            }
            let mut json = serde_json::to_value(&item).unwrap();
            let id = format!("{}~{copies}", item.source_id());
            json["id"] = serde_json::Value::String(id);
            serde_json::from_value(json).unwrap()
        })
        .collect()
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
            expected_kind: dtp_core::ErrorKind::DestinationFull,
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

/// An importer into a memory destination that cannot look anything up (no
/// `find_existing_*`) and, when `drop_every` is not 0, silently drops every
/// `drop_every`-th item while answering as if it had stored it.
struct Flawed<M: SampleModel> {
    inner: Arc<MemoryImporter<M>>,
    drop_every: u64,
    n: Mutex<u64>,
}

#[async_trait]
impl<M: SampleModel> Importer<M> for Flawed<M> {
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
        if self.drop_every != 0 && n.is_multiple_of(self.drop_every) {
            return Ok(dtp_core::Imported::created(format!("pretend-{n}")));
        }
        self.inner.import_item(ctx, auth, item).await
    }
}

/// A fresh account whose importer is [`Flawed`].
fn flawed_account<M: SampleModel>(drop_every: u64) -> Account<M> {
    let inner = Arc::new(MemoryImporter::<M>::new());
    let exporter = Arc::new(ReadBack {
        importer: inner.clone(),
        cached: Mutex::new(None),
    });
    let importer = Arc::new(Flawed {
        inner,
        drop_every,
        n: Mutex::new(0),
    });
    Account::new(exporter, importer, AuthData::None)
}

/// A service that silently drops every 10th item must fail the round trip.
struct LossyService;

#[async_trait]
impl ConformanceTarget<ContactsData> for LossyService {
    async fn fresh_account(&self) -> Result<Account<ContactsData>> {
        Ok(flawed_account(10))
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

/// A service that cannot find what an earlier job created, so a new job
/// duplicates everything while a rerun of the same job (which reads its
/// stored results) does not. Claiming the RerunNewJob check anyway must fail
/// under that check's name, not under RerunSameJob.
struct ClaimsNewJobDeduplication;

#[async_trait]
impl ConformanceTarget<TasksData> for ClaimsNewJobDeduplication {
    async fn fresh_account(&self) -> Result<Account<TasksData>> {
        Ok(flawed_account(0))
    }
}

#[tokio::test]
async fn a_duplicate_made_by_a_new_job_is_reported_under_rerun_new_job() {
    let outcome = tokio::spawn(async {
        conformance::rerun_adds_nothing::<TasksData, _>(&ClaimsNewJobDeduplication).await
    })
    .await;
    let panic = outcome.expect_err("a new job that duplicates everything must fail");
    let message = panic
        .into_panic()
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(message.contains("RerunNewJob: "), "{message}");
    assert!(!message.contains("RerunSameJob"), "{message}");
    assert!(message.contains("items came back"), "{message}");
}
