//! Driver overhead: in-memory → in-memory transfers of generated contacts (no
//! media) through the memory and the SQLite job store, in items per second.
//!
//! Both ends cost next to nothing (the exporter generates items lazily, the
//! importer counts and keeps nothing), so the time measured is the driver's:
//! export channel, idempotent executor, per-page checkpoint in the store.
//! Every iteration runs a fresh job (and, for SQLite, a fresh database file);
//! only `TransferDriver::run` is timed.
//!
//! ```text
//! cargo bench --bench driver
//! ```
//!
//! Four benchmarks (two stores × two page sizes) of 20,000 items each; about
//! half a minute in all with the default settings.
// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dtp::core::store::{JobStore, MemoryJobStore, NewJob, SqliteJobStore};
use dtp::core::{DataModel, Transfer, TransferDriver, TransferOptions};
use dtp::models::contacts::ContactsData;
use dtp::testkit::{DatasetSpec, MemoryExporter, MemoryImporter};

/// Items moved per iteration.
const ITEMS: usize = 20_000;
/// Address books the items are spread over.
const CONTAINERS: usize = 20;
/// Records per exported page (one checkpoint per page).
const PAGE_SIZES: [usize; 2] = [100, 1000];

#[derive(Clone, Copy)]
enum StoreKind {
    Memory,
    Sqlite,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory_store",
            StoreKind::Sqlite => "sqlite_store",
        }
    }
}

/// Runs one transfer of `ITEMS` items into a new job and returns how long the
/// driver took.
async fn one_transfer(kind: StoreKind, page_size: usize) -> Duration {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn JobStore> = match kind {
        StoreKind::Memory => Arc::new(MemoryJobStore::new()),
        StoreKind::Sqlite => Arc::new(
            SqliteJobStore::open(dir.path().join("jobs.sqlite")).expect("open SQLite store"),
        ),
    };
    let job = store
        .create_job(NewJob::new(
            "memory:generated",
            "memory:discard",
            [ContactsData::DATA_TYPE],
        ))
        .await
        .expect("create job")
        .id;
    let spec = DatasetSpec::new(CONTAINERS, ITEMS / CONTAINERS)
        .with_page_size(page_size)
        .with_media_size(0)
        .with_minimal_records(true);
    let exporter = Arc::new(MemoryExporter::<ContactsData>::generated(spec));
    let importer = Arc::new(MemoryImporter::<ContactsData>::discarding());
    let driver = TransferDriver::new(store).with_options(
        TransferOptions::default()
            .with_item_concurrency(8)
            .with_page_lookahead(4),
    );

    let started = Instant::now();
    let report = driver
        .run(&job, Transfer::new(exporter, importer))
        .await
        .expect("transfer");
    let elapsed = started.elapsed();
    assert_eq!(report.total_items(), ITEMS as u64, "{report}");
    elapsed
}

fn bench_driver(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("driver");
    group.throughput(Throughput::Elements(ITEMS as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    for kind in [StoreKind::Memory, StoreKind::Sqlite] {
        for page_size in PAGE_SIZES {
            group.bench_with_input(
                BenchmarkId::new(kind.name(), format!("page_{page_size}")),
                &page_size,
                |b, &page_size| {
                    b.to_async(&rt).iter_custom(|iters| async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            total += one_transfer(kind, page_size).await;
                        }
                        total
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Fewer bootstrap resamples than the default: analysis stays quick.
    config = Criterion::default().nresamples(20_000);
    targets = bench_driver
}
criterion_main!(benches);
