//! Times moving 2,000 events and 2,000 contacts from one Radicale account to
//! another (Radicale → Radicale, both on loopback):
//!
//! ```text
//! cargo run -p dtp-adapters-dav --example dav_bench
//! ```
//!
//! Needs the test servers (`tests/servers/setup.sh`; run on demand).
//! `BENCH_N` changes the count.

#[path = "../tests/servers/mod.rs"]
mod servers;

use std::sync::Arc;
use std::time::Instant;

use dtp_adapters_dav::{CalDav, CardDav, DavConfig};
use dtp_core::store::{JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{AuthData, Exporter, Importer, Transfer, TransferDriver, TransferOptions};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_testkit::{DatasetSpec, MemoryExporter, SampleModel};

async fn run<M: SampleModel>(
    from: Arc<dyn Exporter<M>>,
    fa: AuthData,
    to: Arc<dyn Importer<M>>,
    ta: AuthData,
) -> dtp_core::TransferReport {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new("bench", "bench", [M::DATA_TYPE]))
        .await
        .expect("job")
        .id;
    let r = TransferDriver::new(store)
        .with_options(TransferOptions::default().with_item_concurrency(8))
        .run(
            &job,
            Transfer::new(from, to)
                .with_export_auth(fa)
                .with_import_auth(ta),
        )
        .await
        .expect("driver");
    assert_eq!(r.state, JobState::Complete, "{r}");
    r
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let radicale = servers::Radicale::start();
    let base = radicale.url();
    let (src, dst) = (radicale.new_user(), radicale.new_user());
    let (sa, da) = (
        AuthData::basic(src, "secret"),
        AuthData::basic(dst, "secret"),
    );
    let cfg = || DavConfig::new(&base).expect("config").with_page_size(100);
    let spec = DatasetSpec::new(1, n).with_page_size(100);

    let (s_cal, d_cal) = (
        Arc::new(CalDav::new(cfg()).expect("caldav")),
        Arc::new(CalDav::new(cfg()).expect("caldav")),
    );
    let (s_card, d_card) = (
        Arc::new(CardDav::new(cfg()).expect("carddav")),
        Arc::new(CardDav::new(cfg()).expect("carddav")),
    );
    let t = Instant::now();
    run::<CalendarData>(
        Arc::new(MemoryExporter::generated(spec)),
        AuthData::None,
        s_cal.clone(),
        sa.clone(),
    )
    .await;
    run::<ContactsData>(
        Arc::new(MemoryExporter::generated(spec)),
        AuthData::None,
        s_card.clone(),
        sa.clone(),
    )
    .await;
    println!(
        "seeded {n} events + {n} contacts in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let e = run::<CalendarData>(s_cal, sa.clone(), d_cal, da.clone()).await;
    let te = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let c = run::<ContactsData>(s_card, sa, d_card, da).await;
    let tc = t.elapsed().as_secs_f64();
    println!(
        "Radicale -> Radicale: {} events in {te:.1}s, {} contacts in {tc:.1}s, total {:.1}s",
        e.per_type[&dtp_models::DataType::Calendar].items,
        c.per_type[&dtp_models::DataType::Contacts].items,
        te + tc
    );
}
