//! Measures the transfer driver's own overhead: one in-memory → in-memory
//! transfer of generated contacts (no media), through the memory or the
//! SQLite job store, and prints items/s and the transfer report.
//!
//! Both ends cost next to nothing (the exporter generates items lazily, the
//! importer counts and keeps nothing), so what is measured is the driver,
//! the idempotent executor and the job store. Run it under
//! `/usr/bin/time -v` to see the peak RSS ("Maximum resident set size"):
//!
//! ```text
//! cargo run --release --example driver_throughput -- --items 1000000 --store sqlite
//! /usr/bin/time -v target/release/examples/driver_throughput --items 10000 --store memory
//! ```
//!
//! Options:
//!
//! - `--items N` items to move (default 100000);
//! - `--store memory|sqlite` the job store (default `memory`; `sqlite` uses a
//!   temporary file unless `--db PATH` names one);
//! - `--page-size P` records per exported page, and so per checkpoint
//!   (default 1000);
//! - `--containers C` address books the items are spread over (default 10;
//!   must divide `N`). A page never spans two address books, so pages are
//!   full only when each holds at least `P` items: compare peak RSS between
//!   runs whose pages are the same size;
//! - `--concurrency K` items imported at once (default 8);
//! - `--lookahead L` pages the exporter may run ahead (default 4).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use dtp::core::store::{JobStore, MemoryJobStore, NewJob, SqliteJobStore};
use dtp::core::{DataModel, Transfer, TransferDriver, TransferOptions};
use dtp::models::contacts::ContactsData;
use dtp::testkit::{DatasetSpec, MemoryExporter, MemoryImporter};

/// Which job store to run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    Memory,
    Sqlite,
}

/// Parsed command line.
#[derive(Debug)]
struct Args {
    items: usize,
    store: StoreKind,
    page_size: usize,
    containers: usize,
    concurrency: usize,
    lookahead: usize,
    db: Option<std::path::PathBuf>,
}

const USAGE: &str = "usage: driver_throughput [--items N] [--store memory|sqlite] \
[--page-size P] [--containers C] [--concurrency K] [--lookahead L] [--db PATH]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        items: 100_000,
        store: StoreKind::Memory,
        page_size: 1000,
        containers: 10,
        concurrency: 8,
        lookahead: 4,
        db: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_string());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .replace('_', "")
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--items" => args.items = number()?,
            "--page-size" => args.page_size = number()?.max(1),
            "--containers" => args.containers = number()?.max(1),
            "--concurrency" => args.concurrency = number()?.max(1),
            "--lookahead" => args.lookahead = number()?.max(1),
            "--db" => args.db = Some(value.into()),
            "--store" => {
                args.store = match value.as_str() {
                    "memory" => StoreKind::Memory,
                    "sqlite" => StoreKind::Sqlite,
                    other => return Err(format!("unknown store `{other}`\n{USAGE}")),
                }
            }
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    args.containers = args.containers.min(args.items.max(1));
    if !args.items.is_multiple_of(args.containers) {
        return Err(format!(
            "--items {} is not a multiple of --containers {}",
            args.items, args.containers
        ));
    }
    Ok(args)
}

/// The peak resident set size of this process so far, from
/// `/proc/self/status` (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn run(args: Args) -> dtp::core::Result<()> {
    // Keeps the temporary database alive until the end of the run.
    let mut _tmp = None;
    let store: Arc<dyn JobStore> = match args.store {
        StoreKind::Memory => Arc::new(MemoryJobStore::new()),
        StoreKind::Sqlite => {
            let path = match &args.db {
                Some(p) => p.clone(),
                None => {
                    let dir = tempfile::tempdir().map_err(|e| {
                        dtp::core::Error::internal("no temporary directory").with_source(e)
                    })?;
                    let path = dir.path().join("jobs.sqlite");
                    _tmp = Some(dir);
                    path
                }
            };
            Arc::new(SqliteJobStore::open(&path)?)
        }
    };
    let spec = DatasetSpec::new(args.containers, args.items / args.containers)
        .with_page_size(args.page_size)
        .with_media_size(0)
        .with_minimal_records(true);
    let exporter = Arc::new(MemoryExporter::<ContactsData>::generated(spec));
    let importer = Arc::new(MemoryImporter::<ContactsData>::discarding());
    let job = store
        .create_job(NewJob::new(
            "memory:generated",
            "memory:discard",
            [ContactsData::DATA_TYPE],
        ))
        .await?
        .id;
    let driver = TransferDriver::new(store).with_options(
        TransferOptions::default()
            .with_item_concurrency(args.concurrency)
            .with_page_lookahead(args.lookahead),
    );

    let started = Instant::now();
    let report = driver.run(&job, Transfer::new(exporter, importer)).await?;
    let elapsed = started.elapsed();

    let moved = report.total_items();
    println!(
        "store={:?} items={} containers={} page_size={} concurrency={} lookahead={}",
        args.store, args.items, args.containers, args.page_size, args.concurrency, args.lookahead
    );
    println!(
        "moved {moved} items in {:.3} s: {:.0} items/s",
        elapsed.as_secs_f64(),
        moved as f64 / elapsed.as_secs_f64()
    );
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS (VmHWM): {kib} KiB");
    }
    println!("{report}");
    if moved != args.items as u64 {
        return Err(dtp::core::Error::internal(format!(
            "expected {} items, moved {moved}",
            args.items
        )));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("transfer failed: {e}");
            ExitCode::FAILURE
        }
    }
}
