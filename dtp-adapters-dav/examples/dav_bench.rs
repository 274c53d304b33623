//! Times moving 2,000 events and 2,000 contacts from one Radicale account to
//! another (Radicale → Radicale, both on loopback):
//!
//! ```text
//! cargo run -p dtp-adapters-dav --example dav_bench
//! ```
//!
//! Needs the test servers (`tests/servers/setup.sh`; run on demand). The
//! source account is seeded straight into Radicale's storage; the transfer
//! (discovery, sync-collection, multiget pages of 100, one `PUT` with
//! `If-None-Match: *` per item) is what is timed.
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
use dtp_testkit::SampleModel;

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
        AuthData::basic(src.clone(), "secret"),
        AuthData::basic(dst, "secret"),
    );
    let cfg = || DavConfig::new(&base).expect("config").with_page_size(100);

    let (s_cal, d_cal) = (
        Arc::new(CalDav::new(cfg()).expect("caldav")),
        Arc::new(CalDav::new(cfg()).expect("caldav")),
    );
    let (s_card, d_card) = (
        Arc::new(CardDav::new(cfg()).expect("carddav")),
        Arc::new(CardDav::new(cfg()).expect("carddav")),
    );
    // Seed the source account straight into Radicale's storage (its PUTs
    // are not what is measured): a calendar and an address book made over
    // HTTP, then n files each.
    let t = Instant::now();
    let http = reqwest::Client::new();
    for (path, method, body) in [
        (
            "cal/",
            "MKCALENDAR",
            r#"<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:displayname>Bench</d:displayname><c:supported-calendar-component-set><c:comp name="VEVENT"/></c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>"#,
        ),
        (
            "book/",
            "MKCOL",
            r#"<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><card:addressbook/></d:resourcetype><d:displayname>Bench</d:displayname></d:prop></d:set></d:mkcol>"#,
        ),
    ] {
        let s = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{base}{src}/{path}"),
            )
            .basic_auth(&src, Some("secret"))
            .header("Content-Type", "application/xml")
            .body(body)
            .send()
            .await
            .expect("mkcol")
            .status();
        assert!(s.is_success(), "{method}: {s}");
    }
    let root = radicale
        .server
        .dir
        .path()
        .join("collections/collection-root")
        .join(&src);
    for i in 0..n {
        std::fs::write(
            root.join(format!("cal/e{i}.ics")),
            format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:e{i}@bench\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:2024{:02}{:02}T{:02}0000Z\r\nDURATION:PT1H\r\nSUMMARY:Meeting {i}\r\nLOCATION:Room {}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                1 + i % 12,
                1 + i % 28,
                i % 24,
                i % 7
            ),
        )
        .expect("write event");
        std::fs::write(
            root.join(format!("book/c{i}.vcf")),
            format!(
                "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c{i}@bench\r\nFN:Person {i}\r\nN:{i};Person;;;\r\nEMAIL;TYPE=home:person{i}@example.org\r\nTEL;TYPE=cell:+1 555 {i:07}\r\nEND:VCARD\r\n"
            ),
        )
        .expect("write contact");
    }
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
        e.per_type[&dtp_models::DataType::Calendar].created,
        c.per_type[&dtp_models::DataType::Contacts].created,
        te + tc
    );
}
