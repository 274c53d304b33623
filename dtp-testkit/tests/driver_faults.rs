//! Acceptance: rate limits are waited out, a full destination stops the job
//! with its checkpoint saved, item-level failures are reported while the rest
//! completes, cancellation stops promptly and resumably; plus token refresh and
//! exhausted retries.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use dtp_core::store::{JobState, JobStore, MemoryJobStore, SqliteJobStore};
use dtp_core::{
    AuthData, AuthRefresher, ErrorKind, Exporter, Importer, OAuthTokens, Result, RetryPolicy,
    Transfer, TransferDriver, TransferEvent, TransferOptions,
};
use dtp_models::contacts::ContactsData;
use dtp_models::media::MediaData;
use dtp_testkit::{
    DatasetSpec, FaultPlan, FaultyExporter, FaultyImporter, MemoryExporter, MemoryImporter, Op,
};
use tokio_util::sync::CancellationToken;

fn faulty<M: dtp_testkit::SampleModel>(
    exporter: &Arc<MemoryExporter<M>>,
    importer: &Arc<MemoryImporter<M>>,
    plan: &FaultPlan,
) -> Transfer<M> {
    let exp: Arc<dyn Exporter<M>> = Arc::new(FaultyExporter::new(exporter.clone(), plan.clone()));
    let imp: Arc<dyn Importer<M>> = Arc::new(FaultyImporter::new(importer.clone(), plan.clone()));
    Transfer::new(exp, imp)
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_with_retry_after_is_waited_out() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let exporter = Arc::new(MemoryExporter::<ContactsData>::generated(DatasetSpec::new(
        2, 10,
    )));
    let importer = Arc::new(MemoryImporter::<ContactsData>::new());
    let plan = FaultPlan::new().fail(
        Op::ImportItem,
        5,
        1,
        ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        },
    );
    let (sink, events) = common::recorder();
    let job = common::new_job::<ContactsData>(&store).await;
    let started = tokio::time::Instant::now();
    let report = TransferDriver::new(store)
        .with_options(
            TransferOptions::default()
                .with_item_concurrency(1)
                .with_events(sink),
        )
        .run(&job, faulty(&exporter, &importer, &plan))
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert_eq!(plan.injected(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited only {:?}",
        started.elapsed()
    );
    let retries: Vec<Duration> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            TransferEvent::Retrying { delay, kind, .. } if *kind == "rate_limited" => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(retries, vec![Duration::from_secs(2)]);
    assert!(
        importer
            .destination()
            .verify(&exporter.dataset(), &exporter)
            .is_exact()
    );
}

#[tokio::test]
async fn destination_full_stops_the_job_with_its_checkpoint_and_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn JobStore> =
        Arc::new(SqliteJobStore::open(dir.path().join("j.sqlite")).unwrap());
    let exporter = Arc::new(MemoryExporter::<MediaData>::generated(
        DatasetSpec::new(3, 50).with_page_size(10),
    ));
    let importer = Arc::new(MemoryImporter::<MediaData>::new());
    let plan = FaultPlan::new().fail(Op::ImportItem, 73, 1, ErrorKind::DestinationFull);
    let job = common::new_job::<MediaData>(&store).await;
    let driver = TransferDriver::new(store.clone())
        .with_options(TransferOptions::default().with_item_concurrency(1));
    let report = driver
        .run(&job, faulty(&exporter, &importer, &plan))
        .await
        .unwrap();

    assert_eq!(report.state, JobState::Stopped);
    let reason = report.stop_reason.clone().unwrap();
    assert_eq!(reason.kind.as_str(), "destination_full", "{reason}");
    let progress = store
        .progress(&job, dtp_core::DataType::Media)
        .await
        .unwrap();
    assert!(progress.frontier.is_some() && !progress.finished);
    assert_eq!(
        progress.counters.created, 72,
        "the 72 items before the full one are checkpointed"
    );
    assert_eq!(importer.destination().item_creates(), 72);

    // Room again: resuming finishes without re-importing anything.
    let report = driver
        .run(&job, Transfer::new(exporter.clone(), importer.clone()))
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert_eq!(importer.destination().item_creates(), 150);
    assert!(
        importer
            .destination()
            .verify(&exporter.dataset(), &exporter)
            .is_exact()
    );
}

#[tokio::test]
async fn an_invalid_item_is_reported_and_the_rest_completes() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let exporter = Arc::new(MemoryExporter::<ContactsData>::generated(
        DatasetSpec::new(4, 25).with_page_size(8),
    ));
    let importer = Arc::new(MemoryImporter::<ContactsData>::new());
    let plan = FaultPlan::new().fail(Op::ImportItem, 17, 1, ErrorKind::InvalidData);
    let job = common::new_job::<ContactsData>(&store).await;
    let report = TransferDriver::new(store)
        .with_options(TransferOptions::default().with_item_concurrency(1))
        .run(&job, faulty(&exporter, &importer, &plan))
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Partial, "{report}");
    assert_eq!(report.failures.len(), 1);
    let failure = &report.failures[0];
    assert_eq!(failure.kind.as_str(), "invalid_data");
    assert_eq!(report.per_type[&dtp_core::DataType::Contacts].created, 99);
    assert_eq!(report.per_type[&dtp_core::DataType::Contacts].failed, 1);
    let verdict = importer
        .destination()
        .verify(&exporter.dataset(), &exporter);
    assert_eq!(verdict.missing, vec![failure.item_id.clone()]);
    assert!(verdict.duplicated.is_empty() && verdict.mismatched.is_empty());
    assert!(report.to_string().contains(&failure.item_id));
}

#[tokio::test]
async fn cancellation_stops_promptly_and_leaves_a_resumable_checkpoint() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let exporter = Arc::new(MemoryExporter::<ContactsData>::generated(
        DatasetSpec::new(5, 200).with_page_size(20),
    ));
    let importer = Arc::new(MemoryImporter::<ContactsData>::new());
    let plan = FaultPlan::new().with_latency(Duration::from_millis(2));
    let cancel = CancellationToken::new();
    let (sink, events) = common::recorder();
    let job = common::new_job::<ContactsData>(&store).await;
    let driver = TransferDriver::new(store.clone()).with_options(
        TransferOptions::default()
            .with_item_concurrency(4)
            .with_events(sink)
            .with_cancellation(cancel.clone()),
    );
    let canceller = {
        let plan = plan.clone();
        let cancel = cancel.clone();
        async move {
            while plan.calls(Op::ImportItem) < 100 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            cancel.cancel();
            plan.calls(Op::ImportItem)
        }
    };
    let (report, calls_at_cancel) = tokio::join!(
        driver.run(&job, faulty(&exporter, &importer, &plan)),
        canceller
    );
    let report = report.unwrap();
    assert_eq!(report.state, JobState::Stopped);
    assert_eq!(
        report.stop_reason.as_ref().unwrap().kind.as_str(),
        "cancelled"
    );
    // Promptly: no new import starts after the cancel beyond those in flight.
    assert!(
        plan.calls(Op::ImportItem) <= calls_at_cancel + 4,
        "{} calls after cancelling at {calls_at_cancel}",
        plan.calls(Op::ImportItem) - calls_at_cancel
    );
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(TransferEvent::Finished {
            state: JobState::Stopped,
            ..
        })
    ));
    let saved = store
        .progress(&job, dtp_core::DataType::Contacts)
        .await
        .unwrap();
    assert!(saved.frontier.is_some());

    let resumed = TransferDriver::new(store)
        .run(&job, Transfer::new(exporter.clone(), importer.clone()))
        .await
        .unwrap();
    assert_eq!(resumed.state, JobState::Complete, "{resumed}");
    let dest = importer.destination();
    assert!(dest.verify(&exporter.dataset(), &exporter).is_exact());
    assert_eq!(dest.item_creates(), 1000, "no item was created twice");
}

struct CountingRefresher(AtomicU32);

#[async_trait]
impl AuthRefresher for CountingRefresher {
    async fn refresh(&self, _current: &AuthData) -> Result<AuthData> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AuthData::OAuth2(OAuthTokens::new(format!("fresh-{n}"))))
    }
}

#[tokio::test]
async fn unauthenticated_refreshes_once_then_retries() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let exporter = Arc::new(MemoryExporter::<ContactsData>::generated(DatasetSpec::new(
        1, 10,
    )));
    let importer = Arc::new(MemoryImporter::<ContactsData>::new());
    let plan = FaultPlan::new().fail(Op::ImportItem, 3, 1, ErrorKind::Unauthenticated);
    let refresher = Arc::new(CountingRefresher(AtomicU32::new(0)));
    let job = common::new_job::<ContactsData>(&store).await;
    let report = TransferDriver::new(store)
        .with_options(TransferOptions::default().with_item_concurrency(1))
        .run(
            &job,
            faulty(&exporter, &importer, &plan)
                .with_import_auth(AuthData::OAuth2(OAuthTokens::new("stale")))
                .with_import_refresher(refresher.clone()),
        )
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert_eq!(refresher.0.load(Ordering::SeqCst), 1);
    assert_eq!(importer.destination().item_creates(), 10);
}

#[tokio::test]
async fn unauthenticated_without_a_refresher_stops_the_job() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let exporter = Arc::new(MemoryExporter::<ContactsData>::generated(DatasetSpec::new(
        1, 10,
    )));
    let importer = Arc::new(MemoryImporter::<ContactsData>::new());
    let plan = FaultPlan::new().fail(Op::ImportItem, 3, 100, ErrorKind::Unauthenticated);
    let job = common::new_job::<ContactsData>(&store).await;
    let report = TransferDriver::new(store)
        .run(&job, faulty(&exporter, &importer, &plan))
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Stopped);
    assert_eq!(report.stop_reason.unwrap().kind.as_str(), "unauthenticated");
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_and_exhausted_retries_stop_the_job_resumably() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let exporter = Arc::new(MemoryExporter::<ContactsData>::generated(DatasetSpec::new(
        2, 10,
    )));
    let importer = Arc::new(MemoryImporter::<ContactsData>::new());
    // Three failures are absorbed by retries; then an export outage outlasts them.
    let plan = FaultPlan::new()
        .fail(Op::ImportItem, 2, 3, ErrorKind::Transient)
        .fail(Op::Export, 3, 50, ErrorKind::Transient);
    let job = common::new_job::<ContactsData>(&store).await;
    let driver = TransferDriver::new(store.clone()).with_options(
        TransferOptions::default()
            .with_item_concurrency(1)
            .with_retry(RetryPolicy::default().with_max_attempts(4)),
    );
    let report = driver
        .run(&job, faulty(&exporter, &importer, &plan))
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Stopped);
    assert_eq!(
        report.stop_reason.as_ref().unwrap().kind.as_str(),
        "transient"
    );
    assert!(
        report.failures.is_empty(),
        "retryable errors are not item failures"
    );
    let report = driver
        .run(&job, Transfer::new(exporter.clone(), importer.clone()))
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert!(
        importer
            .destination()
            .verify(&exporter.dataset(), &exporter)
            .is_exact()
    );
}

/// Panics on its third page.
struct PanickyExporter {
    inner: MemoryExporter<ContactsData>,
    calls: AtomicU32,
}

#[async_trait]
impl Exporter<ContactsData> for PanickyExporter {
    async fn export(
        &self,
        ctx: &dtp_core::ExportContext,
        auth: &AuthData,
        cursor: &dtp_core::Cursor,
    ) -> Result<dtp_core::ExportPage<ContactsData>> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 2 {
            panic!("exporter bug");
        }
        self.inner.export(ctx, auth, cursor).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_exporter_stops_the_job_instead_of_completing_it() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let exporter = Arc::new(PanickyExporter {
        inner: MemoryExporter::generated(DatasetSpec::new(2, 30).with_page_size(10)),
        calls: AtomicU32::new(0),
    });
    let importer = Arc::new(MemoryImporter::<ContactsData>::new());
    let job = common::new_job::<ContactsData>(&store).await;
    let report = TransferDriver::new(store)
        .run(&job, Transfer::new(exporter, importer))
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Stopped, "{report}");
    assert_eq!(report.stop_reason.unwrap().kind.as_str(), "internal");
    assert!(!report.unfinished.is_empty());
}
