//! Acceptance: crash the driver at ≥ 200 seeded random points, resume each
//! time from the SQLite store (reopened, as after a restart), and prove 0
//! items lost and 0 duplicated.

mod common;

use std::path::Path;
use std::sync::Arc;

use dtp_core::store::{JobState, JobStore, SqliteJobStore};
use dtp_core::{Exporter, Importer, Transfer, TransferDriver, TransferOptions};
use dtp_models::media::MediaData;
use dtp_models::tasks::TasksData;
use dtp_testkit::{
    CrashPoint, DatasetSpec, FaultPlan, FaultyExporter, FaultyImporter, FaultyStore,
    MemoryExporter, MemoryImporter, Op, SampleModel,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const OPS: [Op; 5] = [
    Op::Export,
    Op::OpenMedia,
    Op::ImportContainer,
    Op::ImportItem,
    Op::Checkpoint,
];

/// Runs jobs until `target` crashes fired; returns (crashes, jobs, distinct points).
async fn crash_many<M: SampleModel>(db: &Path, seed: u64, target: usize) -> (usize, usize, usize)
where
    M::Item: PartialEq,
    M::Container: PartialEq,
{
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let spec = DatasetSpec::new(6, 40)
        .with_page_size(7)
        .with_media_size(5_000);
    let exporter = Arc::new(MemoryExporter::<M>::generated(spec));
    let source = exporter.dataset();
    let mut crashes = 0;
    let mut jobs = 0;
    let mut points = std::collections::HashSet::new();
    while crashes < target {
        jobs += 1;
        let importer = Arc::new(MemoryImporter::<M>::new());
        let plan = FaultPlan::new();
        let job = {
            let store: Arc<dyn JobStore> = Arc::new(SqliteJobStore::open(db).unwrap());
            common::new_job::<M>(&store).await
        };
        // Up to 8 crashes per job, then let it finish.
        for attempt in 0.. {
            // A restart: a new store handle, a new driver, the same remote destination.
            let store: Arc<dyn JobStore> = Arc::new(SqliteJobStore::open(db).unwrap());
            let faulty_store: Arc<dyn JobStore> =
                Arc::new(FaultyStore::new(store.clone(), plan.clone()));
            let crash = if attempt < 8 {
                let op = OPS[rng.random_range(0..OPS.len())];
                let nth = match op {
                    Op::ImportItem | Op::OpenMedia => rng.random_range(1..=120),
                    Op::ImportContainer => rng.random_range(1..=6),
                    _ => rng.random_range(1..=20),
                };
                let point = CrashPoint {
                    op,
                    nth,
                    after: rng.random_bool(0.5),
                };
                plan.arm_crash(point);
                Some(point)
            } else {
                plan.disarm();
                None
            };
            let exp: Arc<dyn Exporter<M>> =
                Arc::new(FaultyExporter::new(exporter.clone(), plan.clone()));
            let imp: Arc<dyn Importer<M>> = Arc::new(FaultyImporter::new(
                Arc::new(MemoryImporter::into_destination(importer.destination())),
                plan.clone(),
            ));
            let driver = TransferDriver::new(faulty_store).with_options(
                TransferOptions::default()
                    .with_item_concurrency(4)
                    .with_page_lookahead(3),
            );
            let outcome = tokio::select! {
                r = driver.run(&job, Transfer::new(exp, imp)) => Some(r.unwrap()),
                _ = plan.crashed() => None,
            };
            match outcome {
                None => {
                    crashes += 1;
                    points.insert((jobs, format!("{:?}", crash.unwrap())));
                }
                Some(report) => {
                    assert_eq!(report.state, JobState::Complete, "{report}");
                    break;
                }
            }
        }
        let dest = importer.destination();
        let verdict = dest.verify(&source, &exporter);
        assert!(verdict.is_exact(), "job {jobs}: {verdict:?}");
        assert_eq!(
            dest.item_creates() as usize,
            source.items.len(),
            "job {jobs}: an item was created twice"
        );
        assert_eq!(
            dest.container_creates() as usize,
            source.containers.len(),
            "job {jobs}: a container was created twice"
        );
        // The store's own totals agree with the destination.
        let store: Arc<dyn JobStore> = Arc::new(SqliteJobStore::open(db).unwrap());
        let report = TransferDriver::new(store).report(&job).await.unwrap();
        assert_eq!(
            report.per_type[&M::DATA_TYPE].created as usize,
            source.items.len(),
            "{report}"
        );
    }
    (crashes, jobs, points.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_random_crashes_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("jobs.sqlite");
    // Photos/videos (media bytes, items in two albums) and tasks (subtasks
    // that need their parent): 100 crash points each, seeded.
    let (media_crashes, media_jobs, media_points) =
        crash_many::<MediaData>(&db, 0xD7_2026, 100).await;
    let (task_crashes, task_jobs, task_points) = crash_many::<TasksData>(&db, 0xD7_2027, 100).await;
    println!(
        "crashes: media {media_crashes} in {media_jobs} jobs, tasks {task_crashes} in {task_jobs} jobs; distinct points {}",
        media_points + task_points
    );
    assert!(media_crashes + task_crashes >= 200);
    assert!(media_points + task_points >= 200);
}
