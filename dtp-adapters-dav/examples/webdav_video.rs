//! Moves one generated 512 MiB video into `rclone serve webdav` and back,
//! streaming both ways, and checks its SHA-256. Run under `/usr/bin/time -v`
//! to see the peak RSS:
//!
//! ```text
//! /usr/bin/time -v cargo run -p dtp-adapters-dav --example webdav_video
//! ```
//!
//! Needs `rclone` on PATH (`tests/servers/setup.sh` installs it).

#[path = "../tests/servers/mod.rs"]
mod servers;

use std::sync::Arc;
use std::time::Instant;

use dtp_adapters_dav::{WebDavConfig, WebDavMedia};
use dtp_core::store::{JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{AuthData, Exporter, Importer, Transfer, TransferDriver};
use dtp_models::media::{Album, MediaData, MediaItem, MediaKind};
use dtp_models::{DataType, MediaRef};
use dtp_testkit::{Dataset, MemoryExporter, MemoryImporter};

async fn run(
    from: Arc<dyn Exporter<MediaData>>,
    fa: AuthData,
    to: Arc<dyn Importer<MediaData>>,
    ta: AuthData,
) -> dtp_core::TransferReport {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new("video", "video", [DataType::Media]))
        .await
        .expect("job")
        .id;
    TransferDriver::new(store)
        .run(
            &job,
            Transfer::new(from, to)
                .with_export_auth(fa)
                .with_import_auth(ta),
        )
        .await
        .expect("driver")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mib: u64 = std::env::var("VIDEO_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let server = servers::rclone();
    let auth = AuthData::basic("alice", "secret");
    let len = mib << 20;
    let source = Arc::new(MemoryExporter::fixed(
        Dataset {
            containers: vec![Album::new("a", "Videos")],
            items: vec![
                MediaItem::new(
                    "v",
                    MediaKind::Video,
                    "VID_big.mp4",
                    MediaRef::new(format!("rand:7:{len}"))
                        .with_size(len)
                        .with_mime_type("video/mp4"),
                )
                .in_album("a"),
            ],
            media: Default::default(),
        },
        1,
    ));
    let dav = Arc::new(
        WebDavMedia::new(WebDavConfig::new(&format!("{}v/", server.url())).expect("config"))
            .expect("client"),
    );
    let t = Instant::now();
    let up = run(source, AuthData::None, dav.clone(), auth.clone()).await;
    assert_eq!(up.state, JobState::Complete, "{up}");
    let up_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let sink = Arc::new(MemoryImporter::<MediaData>::new());
    let down = run(dav, auth, sink.clone(), AuthData::None).await;
    assert_eq!(down.state, JobState::Complete, "{down}");
    let down_s = t.elapsed().as_secs_f64();
    let items = sink.destination().items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].media_len, len);
    println!(
        "{mib} MiB video: upload {up_s:.1}s, download {down_s:.1}s, sha256 {}",
        items[0].media_sha256.as_deref().unwrap_or("-")
    );
    // Peak RSS of this process alone (`time -v` also counts rclone, a child).
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM"))
    {
        println!(
            "peak RSS of the transfer process: {}",
            line.trim_start_matches("VmHWM:").trim()
        );
    }
}
