//! Acceptance: ≥ 10,000 items over ≥ 50 containers for every data type, and
//! the destination equals the source.

mod common;

use std::sync::Arc;

use dtp_core::store::{JobState, JobStore, MemoryJobStore, SqliteJobStore};
use dtp_core::{TransferDriver, TransferOptions};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::MailData;
use dtp_models::media::MediaData;
use dtp_models::tasks::TasksData;
use dtp_testkit::{DatasetSpec, MemoryExporter, MemoryImporter, SampleModel};

async fn transfer_all<M: SampleModel>(store: Arc<dyn JobStore>)
where
    M::Item: PartialEq,
    M::Container: PartialEq,
{
    let spec = DatasetSpec::new(50, 200)
        .with_page_size(97)
        .with_media_size(300);
    let exporter = Arc::new(MemoryExporter::<M>::generated(spec));
    let importer = Arc::new(MemoryImporter::<M>::new());
    let job = common::new_job::<M>(&store).await;
    let driver = TransferDriver::new(store.clone())
        .with_options(TransferOptions::default().with_item_concurrency(16));
    let report = driver
        .run(&job, common::transfer(exporter.clone(), importer.clone()))
        .await
        .unwrap();

    assert_eq!(report.state, JobState::Complete, "{report}");
    let counters = report.per_type[&M::DATA_TYPE];
    assert_eq!(counters.created, 10_000);
    assert_eq!(counters.containers, 50);
    assert_eq!(counters.failed, 0);
    let dest = importer.destination();
    let verdict = dest.verify(&exporter.dataset(), &exporter);
    assert!(verdict.is_exact(), "{:?}", verdict);
    assert_eq!(dest.item_creates(), 10_000);
    assert_eq!(dest.container_creates(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_type_moves_10k_items_over_50_containers_exactly() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    transfer_all::<MediaData>(store.clone()).await;
    transfer_all::<ContactsData>(store.clone()).await;
    transfer_all::<CalendarData>(store.clone()).await;
    transfer_all::<TasksData>(store.clone()).await;
    transfer_all::<MailData>(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_type_moves_exactly_through_the_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn JobStore> =
        Arc::new(SqliteJobStore::open(dir.path().join("jobs.sqlite")).unwrap());
    transfer_all::<MediaData>(store.clone()).await;
    transfer_all::<ContactsData>(store.clone()).await;
    transfer_all::<CalendarData>(store.clone()).await;
    transfer_all::<TasksData>(store.clone()).await;
    transfer_all::<MailData>(store).await;
}

#[tokio::test]
async fn a_rerun_of_a_finished_job_imports_nothing() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let exporter = Arc::new(MemoryExporter::<ContactsData>::generated(
        DatasetSpec::new(3, 40).with_page_size(9),
    ));
    let importer = Arc::new(MemoryImporter::<ContactsData>::new());
    let job = common::new_job::<ContactsData>(&store).await;
    let driver = TransferDriver::new(store.clone());
    driver
        .run(&job, common::transfer(exporter.clone(), importer.clone()))
        .await
        .unwrap();
    let again = driver
        .run(&job, common::transfer(exporter.clone(), importer.clone()))
        .await
        .unwrap();
    assert_eq!(again.state, JobState::Complete);
    assert_eq!(importer.destination().item_creates(), 120);
}

#[tokio::test]
async fn an_empty_source_completes_with_nothing() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let exporter = Arc::new(MemoryExporter::<CalendarData>::generated(DatasetSpec::new(
        0, 0,
    )));
    let importer = Arc::new(MemoryImporter::<CalendarData>::new());
    let job = common::new_job::<CalendarData>(&store).await;
    let report = TransferDriver::new(store)
        .run(&job, common::transfer(exporter, importer.clone()))
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Complete);
    assert_eq!(report.total_items(), 0);
    assert_eq!(importer.destination().item_creates(), 0);
}
