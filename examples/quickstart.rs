//! Quickstart: a real transfer on embedded defaults, with no account and no
//! server.
//!
//! Moves the test kit's sample data of every data type (photos and videos with
//! their bytes, contacts, calendars, tasks, mail) from one in-memory service
//! into another, through the real transfer driver and the embedded SQLite job
//! store, then prints the report. Run it twice with `--db PATH` to see a
//! finished job resume as a no-op.
//!
//! ```text
//! cargo run --example quickstart [-- --db jobs.sqlite]
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dtp::core::store::{JobStore, NewJob, SqliteJobStore};
use dtp::core::{DataType, Transfer, TransferDriver, TransferEvent, TransferOptions};
use dtp::models::calendar::CalendarData;
use dtp::models::contacts::ContactsData;
use dtp::models::mail::MailData;
use dtp::models::media::MediaData;
use dtp::models::tasks::TasksData;
use dtp::testkit::{DatasetSpec, MemoryExporter, MemoryImporter, SampleModel};

async fn move_type<M: SampleModel>(
    driver: &TransferDriver,
    job: &dtp::core::store::JobId,
    spec: DatasetSpec,
) -> dtp::core::Result<()>
where
    M::Item: PartialEq,
    M::Container: PartialEq,
{
    let source = Arc::new(MemoryExporter::<M>::generated(spec));
    let destination = Arc::new(MemoryImporter::<M>::new());
    driver
        .run(job, Transfer::new(source.clone(), destination.clone()))
        .await?;
    // Check the destination against the source, as `dtp verify` would.
    let verdict = destination.destination().verify(&source.dataset(), &source);
    let received = destination.destination().items().len();
    let status = if received == 0 {
        "nothing new (already transferred by this job)"
    } else if verdict.is_exact() {
        "destination matches the source"
    } else {
        "DESTINATION DIFFERS FROM THE SOURCE"
    };
    println!(
        "  {:<9} {received:>4} items received, {status}",
        M::DATA_TYPE.as_str()
    );
    if received != 0 && !verdict.is_exact() {
        return Err(dtp::core::Error::internal(format!(
            "verification failed: {verdict:?}"
        )));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db_arg = std::env::args().skip_while(|a| a != "--db").nth(1);
    let tmp = tempfile::tempdir()?;
    let db = db_arg
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("jobs.sqlite"));
    let store: Arc<dyn JobStore> = Arc::new(SqliteJobStore::open(&db)?);

    // Reuse the last quickstart job in this store, if any: a finished job is a no-op.
    let job = match store
        .list_jobs()
        .await?
        .into_iter()
        .find(|j| j.source == "memory:sample")
    {
        Some(j) => {
            println!("resuming job {} ({})", j.id, j.state);
            j.id
        }
        None => {
            let j = store
                .create_job(NewJob::new(
                    "memory:sample",
                    "memory:destination",
                    DataType::ALL,
                ))
                .await?;
            println!("created job {}", j.id);
            j.id
        }
    };
    println!("job store: {}", db.display());

    let pages = Arc::new(AtomicU64::new(0));
    let seen = pages.clone();
    let options = TransferOptions::default().with_events(Arc::new(move |e: &TransferEvent| {
        if let TransferEvent::PageImported { .. } = e {
            seen.fetch_add(1, Ordering::Relaxed);
        }
    }));
    let driver = TransferDriver::new(store.clone()).with_options(options);

    let spec = DatasetSpec::new(4, 25)
        .with_page_size(20)
        .with_media_size(64 * 1024);
    move_type::<MediaData>(&driver, &job, spec).await?;
    move_type::<ContactsData>(&driver, &job, spec).await?;
    move_type::<CalendarData>(&driver, &job, spec).await?;
    move_type::<TasksData>(&driver, &job, spec).await?;
    move_type::<MailData>(&driver, &job, spec).await?;

    println!(
        "{} pages imported in this run\n",
        pages.load(Ordering::Relaxed)
    );
    let report = driver.report(&job).await?;
    print!("{report}");
    if !report.is_complete() {
        return Err(format!("the transfer did not complete: {}", report.state).into());
    }
    Ok(())
}
