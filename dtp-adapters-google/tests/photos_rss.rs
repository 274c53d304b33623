//! A 300 MiB video imported into Google Photos (fake) with peak RSS ≤ 64 MiB.
//!
//! The transfer runs in a child process (this test binary re-executed with
//! `DTP_RSS_CHILD_URL` and a filter selecting [`rss_child`]), which reports
//! its own `VmHWM`; the fake runs here, in the parent, keeping no bytes and
//! recording no requests, digesting what arrives (FNV-1a: SHA-256 of 300 MiB
//! is too slow in a debug build). The bytes are generated as
//! they stream, and go up in 8 MiB resumable chunks.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::photos_mock::{FNV_START, PhotosMock, TOKEN, fnv1a};
use dtp_adapters_google::client::{Endpoints, GoogleClient, GoogleConfig};
use dtp_adapters_google::error::ErrorPolicy;
use dtp_adapters_google::photos::{GooglePhotosImporter, PhotosOptions};
use dtp_adapters_google::testing::oauth;
use dtp_core::store::{JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{DataType, MediaRef, Transfer, TransferDriver};
use dtp_models::media::{Album, MediaData, MediaItem, MediaKind};
use dtp_testkit::{Dataset, MemoryExporter, SampleBytes};

const SIZE: u64 = 300 * 1024 * 1024;
const SEED: u64 = 7;
const LIMIT_KIB: u64 = 64 * 1024;
const ENV: &str = "DTP_RSS_CHILD_URL";

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The transfer, run only in the child process.
#[test]
fn rss_child() {
    let Ok(url) = std::env::var(ENV) else {
        return; // Not the child: nothing to do here.
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = GoogleClient::new(
            GoogleConfig::new("rss@example.com")
                .with_endpoints(Endpoints::single_host(&url).unwrap())
                .with_rate_limits(false)
                .with_error_policy(ErrorPolicy::default().with_photos_min_retry_after(None))
                .with_request_timeout(Duration::from_secs(120)),
        )
        .unwrap();
        let importer = GooglePhotosImporter::with_options(
            client,
            PhotosOptions::new().with_chunk_size(8 * 1024 * 1024),
        );
        let video = MediaItem::new(
            "v1",
            MediaKind::Video,
            "VID_300MiB.mp4",
            MediaRef::new(format!("rand:{SEED}:{SIZE}"))
                .with_size(SIZE)
                .with_mime_type("video/mp4"),
        )
        .in_album("a1")
        .with_description("a long video");
        let source = MemoryExporter::fixed(
            Dataset {
                containers: vec![Album::new("a1", "Videos")],
                items: vec![video],
                media: Default::default(),
            },
            10,
        );
        let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
        let job = store
            .create_job(NewJob::new("memory", "google-photos", [DataType::Media]))
            .await
            .unwrap()
            .id;
        let report = TransferDriver::new(store)
            .run(
                &job,
                Transfer::<MediaData>::new(Arc::new(source), Arc::new(importer))
                    .with_import_auth(oauth(TOKEN)),
            )
            .await
            .unwrap();
        assert_eq!(report.state, JobState::Complete, "{report}");
    });
    println!("VMHWM_KIB={}", vm_hwm_kib());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_300mib_import_keeps_peak_rss_under_64mib() {
    let mock = PhotosMock::start_lean().await;
    let exe = std::env::current_exe().unwrap();
    let url = mock.uri();
    let started = std::time::Instant::now();
    // The expected hash, computed while the child uploads.
    let expected = tokio::task::spawn_blocking(|| {
        let mut h = FNV_START;
        let bytes_gen = SampleBytes::Random {
            seed: SEED,
            len: SIZE,
        };
        let mut off = 0;
        while off < SIZE {
            let c = bytes_gen.chunk(off, 4 << 20);
            off += c.len() as u64;
            h = fnv1a(h, &c);
        }
        format!("fnv1a64:{h:016x}")
    });
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(exe)
            .args(["--exact", "rss_child", "--nocapture", "--test-threads=1"])
            .env(ENV, url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hwm: u64 = stdout
        .lines()
        .find_map(|l| l.split("VMHWM_KIB=").nth(1))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no VMHWM_KIB line in:\n{stdout}"));
    println!(
        "300 MiB video: child peak RSS {:.1} MiB, {:.1} s",
        hwm as f64 / 1024.0,
        started.elapsed().as_secs_f64()
    );
    assert!(hwm <= LIMIT_KIB, "peak RSS {hwm} KiB > {LIMIT_KIB} KiB");

    // The fake got the whole video, byte for byte, in chunks.
    let want = expected.await.unwrap();
    let st = mock.state();
    assert_eq!(st.items.len(), 1);
    assert_eq!(st.items[0].len, SIZE);
    assert_eq!(st.items[0].sha256, want);
    assert_eq!(st.items[0].mime, "video/mp4");
    assert_eq!(st.chunks, SIZE.div_ceil(8 << 20));
    assert_eq!(st.max_chunk, 8 << 20);
}
