//! WebDAV photos and videos against `rclone serve webdav` and WsgiDAV.

mod servers;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use dtp_adapters_dav::{WebDavConfig, WebDavMedia};
use dtp_core::{AuthData, Result};
use dtp_models::media::MediaData;
use dtp_testkit::conformance::{self, Account, ConformanceTarget, ErrorCase};

/// A WebDAV server; each account is a fresh folder under its root.
struct OnWebDav {
    server: servers::Server,
    next: AtomicUsize,
}

impl OnWebDav {
    fn account(&self, folder: &str, auth: AuthData) -> Result<Account<MediaData>> {
        let media = Arc::new(WebDavMedia::new(
            WebDavConfig::new(&format!("{}{folder}/", self.server.url()))?.with_page_size(10),
        )?);
        Ok(Account::new(media.clone(), media, auth))
    }
}

#[async_trait]
impl ConformanceTarget<MediaData> for OnWebDav {
    async fn fresh_account(&self) -> Result<Account<MediaData>> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        // A fresh account is an existing, empty folder.
        let status = reqwest::Client::new()
            .request(
                reqwest::Method::from_bytes(b"MKCOL").unwrap(),
                format!("{}account{n}/", self.server.url()),
            )
            .basic_auth("alice", Some("secret"))
            .send()
            .await
            .expect("MKCOL")
            .status();
        assert!(status.is_success(), "MKCOL: {status}");
        self.account(&format!("account{n}"), AuthData::basic("alice", "secret"))
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<MediaData>>> {
        Ok(vec![
            ErrorCase {
                name: "wrong password on import".into(),
                account: self.account("denied", AuthData::basic("alice", "wrong"))?,
                on_import: true,
                expected_kind: dtp_core::ErrorKind::Unauthenticated,
            },
            ErrorCase {
                name: "wrong password on export".into(),
                account: self.account("denied", AuthData::basic("alice", "wrong"))?,
                on_import: false,
                expected_kind: dtp_core::ErrorKind::Unauthenticated,
            },
            ErrorCase {
                name: "missing folder on export".into(),
                account: self.account("never-created", AuthData::basic("alice", "secret"))?,
                on_import: false,
                expected_kind: dtp_core::ErrorKind::NotFound,
            },
        ])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_rclone_and_wsgidav() {
    for server in [servers::rclone(), servers::wsgidav()] {
        let target = OnWebDav {
            server,
            next: AtomicUsize::new(0),
        };
        conformance::run_all::<MediaData, _>(&target).await;
        // ETags of what the suite left behind: rclone quotes them, WsgiDAV
        // does not; both come out the same, without quotes.
        let media = Arc::new(
            WebDavMedia::new(
                WebDavConfig::new(&format!("{}account0/", target.server.url())).unwrap(),
            )
            .unwrap(),
        );
        let r = move_all(
            media.clone(),
            AuthData::basic("alice", "secret"),
            Arc::new(MemoryImporter::<MediaData>::new()),
            AuthData::None,
        )
        .await;
        assert_eq!(r.state, JobState::Complete, "{r}");
        let etags = media.etags();
        assert!(etags.len() >= 75, "{} ETags", etags.len());
        assert!(
            etags.values().all(|t| !t.is_empty() && !t.contains('"')),
            "{etags:?}"
        );
    }
}

use dtp_core::store::{JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{Exporter, Importer, Transfer, TransferDriver, TransferOptions, TransferReport};
use dtp_models::MediaRef;
use dtp_models::media::{Album, MediaItem, MediaKind};
use dtp_testkit::{Dataset, MemoryExporter, MemoryImporter, sample_media_bytes};
use sha2::{Digest, Sha256};

fn sha_of(key: &str) -> String {
    let bytes = sample_media_bytes(key).unwrap();
    let mut h = Sha256::new();
    let mut off = 0;
    while off < bytes.len() {
        let c = bytes.chunk(off, 4 << 20);
        off += c.len() as u64;
        h.update(&c);
    }
    hex::encode(h.finalize())
}

async fn move_all(
    from: Arc<dyn Exporter<MediaData>>,
    from_auth: AuthData,
    to: Arc<dyn Importer<MediaData>>,
    to_auth: AuthData,
) -> TransferReport {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new("media", "media", [dtp_models::DataType::Media]))
        .await
        .unwrap()
        .id;
    TransferDriver::new(store)
        .with_options(TransferOptions::default().with_item_concurrency(4))
        .run(
            &job,
            Transfer::new(from, to)
                .with_export_auth(from_auth)
                .with_import_auth(to_auth),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_photos_in_five_albums_and_a_512_mib_video_on_rclone() {
    let server = servers::rclone();
    let auth = AuthData::basic("alice", "secret");
    let mut items = Vec::new();
    let mut expected = std::collections::HashMap::new();
    for n in 0..200u64 {
        let len = 20_000 + n * 97;
        let key = format!("rand:{n}:{len}");
        let sha = sha_of(&key);
        let name = format!("IMG_{n:04}.jpg");
        expected.insert(name.clone(), sha.clone());
        items.push(
            MediaItem::new(
                format!("p{n}"),
                MediaKind::Photo,
                name,
                MediaRef::new(key)
                    .with_size(len)
                    .with_mime_type("image/jpeg")
                    .with_sha256(sha),
            )
            .in_album(format!("a{}", n % 5)),
        );
    }
    let video_len = 512u64 << 20;
    let video_key = format!("rand:4242:{video_len}");
    let video_sha = sha_of(&video_key);
    expected.insert("VID_big.mp4".into(), video_sha.clone());
    items.push(
        MediaItem::new(
            "v1",
            MediaKind::Video,
            "VID_big.mp4",
            MediaRef::new(video_key)
                .with_size(video_len)
                .with_mime_type("video/mp4")
                .with_sha256(video_sha),
        )
        .in_album("a0"),
    );
    let source = Arc::new(MemoryExporter::fixed(
        Dataset {
            containers: (0..5)
                .map(|a| Album::new(format!("a{a}"), format!("Album {a}")))
                .collect(),
            items,
            media: Default::default(),
        },
        25,
    ));
    let dav = Arc::new(
        WebDavMedia::new(WebDavConfig::new(&format!("{}photos/", server.url())).unwrap()).unwrap(),
    );
    let r = move_all(source, AuthData::None, dav.clone(), auth.clone()).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert!(r.failures.is_empty(), "{r}");

    // The files on disk are the bytes, whole.
    let disk = server.dir.path().join("root/photos");
    let video = disk.join("Album 0/VID_big.mp4");
    assert_eq!(std::fs::metadata(&video).unwrap().len(), video_len);
    for a in 0..5 {
        let files = std::fs::read_dir(disk.join(format!("Album {a}")))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("IMG_")
            })
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".json")
            })
            .count();
        assert_eq!(files, 40, "album {a}");
    }

    // Back out of WebDAV: every hash equal.
    let sink = Arc::new(MemoryImporter::<MediaData>::new());
    let r = move_all(dav, auth, sink.clone(), AuthData::None).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let got = sink.destination().items();
    assert_eq!(got.len(), 201);
    for i in &got {
        assert_eq!(
            i.media_sha256.as_deref(),
            Some(expected[&i.item.filename].as_str()),
            "{}",
            i.item.filename
        );
    }
}
