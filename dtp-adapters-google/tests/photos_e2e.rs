//! End to end through the driver: local archive → Google Photos (fake) with
//! the batching importer, rerun, crash/resume (including a crash between
//! the uploads and `batchCreate`), then Google Photos (fake) → local archive
//! through the Data Portability exporter; content compared by SHA-256,
//! file names, descriptions and albums.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::photos_mock::{BatchCrash, GRANULARITY, PhotosMock, TOKEN};
use common::takeout::{bytes, sha256};
use dtp_adapters_google::client::{Endpoints, GoogleClient, GoogleConfig};
use dtp_adapters_google::error::ErrorPolicy;
use dtp_adapters_google::photos::{GooglePhotosImporter, PhotosOptions};
use dtp_adapters_google::portability::{GooglePhotosPortability, PortabilityOptions};
use dtp_adapters_google::testing::oauth;
use dtp_adapters_local::LocalArchive;
use dtp_core::store::{JobId, JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{
    AuthData, DataType, MediaRef, Transfer, TransferDriver, TransferOptions, TransferReport,
};
use dtp_models::media::{Album, MediaData, MediaItem, MediaKind};
use dtp_testkit::{Dataset, MemoryExporter, MemoryImporter};

fn client(mock: &PhotosMock) -> GoogleClient {
    GoogleClient::new(
        GoogleConfig::new("test@example.com")
            .with_endpoints(Endpoints::single_host(&mock.uri()).unwrap())
            .with_rate_limits(false)
            .with_error_policy(ErrorPolicy::default().with_photos_min_retry_after(None))
            .with_request_timeout(Duration::from_secs(20)),
    )
    .unwrap()
}

fn importer(mock: &PhotosMock) -> Arc<GooglePhotosImporter> {
    Arc::new(GooglePhotosImporter::with_options(
        client(mock),
        PhotosOptions::new()
            .with_simple_upload_max(64 * 1024)
            .with_chunk_size(2 * GRANULARITY),
    ))
}

/// What a photo library should hold: file name → (sha256, description,
/// album titles).
type Content = BTreeMap<String, (String, Option<String>, BTreeSet<String>)>;

/// 2 albums; 64 items in "Holidays" (two `batchCreate` batches), 6 in
/// "Family", one in both; three items big enough for resumable uploads.
fn source_dataset() -> (Dataset<MediaData>, Content) {
    let albums = vec![
        Album::new("a-hol", "Holidays").with_description("Summer trips"),
        Album::new("a-fam", "Family"),
    ];
    let mut items = Vec::new();
    let mut media = HashMap::new();
    let mut want = Content::new();
    for n in 0..70usize {
        let (album, title) = if n < 64 {
            ("a-hol", "Holidays")
        } else {
            ("a-fam", "Family")
        };
        let video = n % 9 == 4;
        let name = if video {
            format!("VID_{n:04}.mp4")
        } else if n == 3 {
            // Not ASCII: no X-Goog-Upload-File-Name, the name still arrives.
            format!("Café_été_{n:04}.jpg")
        } else {
            format!("IMG_{n:04}.jpg")
        };
        let size = if n % 30 == 7 {
            600 * 1024 + n
        } else {
            3000 + n
        };
        let b = bytes(100 + n as u64, size);
        let key = format!("src/{name}");
        let mut item = MediaItem::new(
            format!("s{n}"),
            if video {
                MediaKind::Video
            } else {
                MediaKind::Photo
            },
            name.clone(),
            MediaRef::new(key.clone())
                .with_size(size as u64)
                .with_mime_type(if video { "video/mp4" } else { "image/jpeg" }),
        )
        .in_album(album);
        let mut titles = BTreeSet::from([title.to_string()]);
        if n == 5 {
            item = item.in_album("a-fam");
            titles.insert("Family".into());
        }
        let description = (n % 4 != 0).then(|| format!("Picture {n} — été ✓"));
        if let Some(d) = &description {
            item = item.with_description(d);
        }
        want.insert(name, (sha256(&b), description, titles));
        media.insert(key, Bytes::from(b));
        items.push(item);
    }
    (
        Dataset {
            containers: albums,
            items,
            media,
        },
        want,
    )
}

fn mock_content(mock: &PhotosMock) -> Content {
    let st = mock.state();
    let mut out = Content::new();
    for i in &st.items {
        let titles = i
            .albums
            .iter()
            .filter_map(|a| {
                st.albums
                    .iter()
                    .find(|x| &x.id == a)
                    .map(|x| x.title.clone())
            })
            .collect();
        let prev = out.insert(
            i.filename.clone(),
            (i.sha256.clone(), i.description.clone(), titles),
        );
        assert!(prev.is_none(), "duplicate {} at Google Photos", i.filename);
    }
    out
}

async fn new_job(store: &Arc<dyn JobStore>, what: &str) -> JobId {
    store
        .create_job(NewJob::new(what, "google-photos", [DataType::Media]))
        .await
        .unwrap()
        .id
}

async fn run(
    store: &Arc<dyn JobStore>,
    job: &JobId,
    transfer: Transfer<MediaData>,
) -> TransferReport {
    TransferDriver::new(store.clone())
        .with_options(TransferOptions::default().with_item_concurrency(4))
        .run(job, transfer)
        .await
        .unwrap()
}

/// The dataset written as a portable local archive (the source of the
/// tests), and its directory.
async fn local_source(dir: &std::path::Path) -> (std::path::PathBuf, Content) {
    let (dataset, want) = source_dataset();
    let path = dir.join("source-archive");
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store, "memory").await;
    let dest = Arc::new(LocalArchive::open_destination(&path).unwrap());
    let report = run(
        &store,
        &job,
        Transfer::new(Arc::new(MemoryExporter::fixed(dataset, 20)), dest.clone()),
    )
    .await;
    assert_eq!(report.state, JobState::Complete, "{report}");
    dest.finish().unwrap();
    (path, want)
}

#[tokio::test]
async fn local_archive_to_google_photos_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let (src, want) = local_source(dir.path()).await;
    let mock = PhotosMock::start().await;
    // A 429 on the first batchCreate and one item failing with INTERNAL
    // inside a 200: both retried.
    mock.state().rate_limit_next_batch = true;
    mock.state().fail_next_item_internal = true;
    // The first resumable chunk breaks half way (503 after the server kept
    // one granule): the importer asks (`query`) and sends the rest.
    mock.state().drop_next_chunk_half = true;

    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store, "local").await;
    let transfer = || {
        Transfer::<MediaData>::new(
            Arc::new(LocalArchive::open_source(&src).unwrap()),
            importer(&mock),
        )
        .with_import_auth(oauth(TOKEN))
    };
    let report = run(&store, &job, transfer()).await;
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert_eq!(mock_content(&mock), want, "Google Photos holds the archive");
    {
        let st = mock.state();
        assert!(
            st.batch_sizes.iter().all(|n| (1..=50).contains(n)),
            "{:?}",
            st.batch_sizes
        );
        assert!(
            st.batch_sizes.contains(&50),
            "items were batched: {:?}",
            st.batch_sizes
        );
        assert!(st.chunks >= 6, "big items went up in resumable chunks");
        assert_eq!(st.max_chunk, 2 * GRANULARITY);
        assert_eq!(st.queries, 1, "the broken chunk was resumed after a query");
        assert!(st.uploads_raw > 0, "small items went up in one request");
        assert_eq!(st.albums.len(), 2);
    }

    // A rerun of the finished job adds nothing.
    let (items, albums, batches) = {
        let st = mock.state();
        (st.items.len(), st.albums.len(), st.batch_sizes.len())
    };
    let report = run(&store, &job, transfer()).await;
    assert_eq!(report.state, JobState::Complete, "{report}");
    {
        let st = mock.state();
        assert_eq!(
            (st.items.len(), st.albums.len(), st.batch_sizes.len()),
            (items, albums, batches)
        );
    }

    // Back out through the Data Portability API into a new local archive.
    let out = dir.path().join("from-google");
    let job2 = new_job(&store, "google-photos").await;
    let dest = Arc::new(LocalArchive::open_destination(&out).unwrap());
    let exporter = GooglePhotosPortability::new(
        client(&mock),
        PortabilityOptions::new()
            .with_poll_interval(Duration::from_millis(5))
            .with_work_dir(dir.path()),
    );
    let report = run(
        &store,
        &job2,
        Transfer::<MediaData>::new(Arc::new(exporter), dest.clone()).with_export_auth(oauth(TOKEN)),
    )
    .await;
    assert_eq!(report.state, JobState::Complete, "{report}");
    dest.finish().unwrap();
    assert_eq!(mock.state().portability_initiates, 1);

    // Read that archive: same bytes, names, descriptions, albums.
    let sink = Arc::new(MemoryImporter::<MediaData>::new());
    let job3 = new_job(&store, "local").await;
    let report = run(
        &store,
        &job3,
        Transfer::<MediaData>::new(
            Arc::new(LocalArchive::open_source(&out).unwrap()),
            sink.clone(),
        ),
    )
    .await;
    assert_eq!(report.state, JobState::Complete, "{report}");
    let d = sink.destination();
    let album_titles: HashMap<String, String> = d
        .containers()
        .into_iter()
        .map(|(_, a)| (a.id.clone(), a.title.clone()))
        .collect();
    let mut got = Content::new();
    for i in d.items() {
        let titles = i
            .item
            .album_ids
            .iter()
            .map(|a| album_titles[a].clone())
            .collect();
        got.insert(
            i.item.filename.clone(),
            (
                i.media_sha256.clone().unwrap(),
                i.item.description.clone(),
                titles,
            ),
        );
    }
    assert_eq!(got, want, "Google Photos → local archive: content equal");
    // The work directory was cleaned up with the exporter.
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("dtp-portability-")
    }));
}

/// Crashes while `batchCreate` is in flight — before Google applies it
/// (uploads done, tokens lost) and after (items exist, the answer is lost)
/// — then resumes: everything exactly once.
#[tokio::test]
async fn crash_between_upload_and_batch_create_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let (src, want) = local_source(dir.path()).await;
    for crashes in [
        vec![BatchCrash {
            nth: 1,
            after: false,
        }],
        vec![BatchCrash {
            nth: 1,
            after: true,
        }],
        vec![
            BatchCrash {
                nth: 2,
                after: true,
            },
            BatchCrash {
                nth: 1,
                after: false,
            },
            BatchCrash {
                nth: 1,
                after: true,
            },
        ],
    ] {
        let mock = PhotosMock::start().await;
        let imp = importer(&mock);
        let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
        let job = new_job(&store, "local").await;
        let transfer = || {
            Transfer::<MediaData>::new(
                Arc::new(LocalArchive::open_source(&src).unwrap()),
                imp.clone(),
            )
            .with_import_auth(oauth(TOKEN))
        };
        for crash in &crashes {
            mock.arm_crash(*crash);
            tokio::select! {
                report = run(&store, &job, transfer()) => panic!("the run ended before its crash: {report}"),
                _ = mock.crashed() => {}
            }
        }
        let report = run(&store, &job, transfer()).await;
        assert_eq!(report.state, JobState::Complete, "{crashes:?}: {report}");
        assert_eq!(
            mock_content(&mock),
            want,
            "{crashes:?}: 0 lost, 0 duplicated"
        );
        let st = mock.state();
        if !crashes[0].after {
            assert!(st.uploads_raw > 0);
        }
    }
}

#[tokio::test]
async fn wrong_credentials_stop_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let (src, _) = local_source(dir.path()).await;
    let mock = PhotosMock::start().await;
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    for (auth, kind) in [
        (oauth("ya29.revoked"), "unauthenticated"),
        (AuthData::None, "reauthorize"),
    ] {
        let job = new_job(&store, "local").await;
        let report = run(
            &store,
            &job,
            Transfer::<MediaData>::new(
                Arc::new(LocalArchive::open_source(&src).unwrap()),
                importer(&mock),
            )
            .with_import_auth(auth),
        )
        .await;
        assert_eq!(report.state, JobState::Stopped, "{report}");
        assert_eq!(report.stop_reason.as_ref().unwrap().kind.as_str(), kind);
    }
    assert!(mock.state().items.is_empty());
}

/// `batchCreate` applied, but its answer lost (503): the retry finds the
/// spent tokens refused and adopts the created items instead of failing or
/// creating them twice — in the batching importer and in `import_item`.
#[tokio::test]
async fn a_lost_batch_create_answer_creates_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (src, want) = local_source(dir.path()).await;
    for batching in [true, false] {
        let mock = PhotosMock::start().await;
        mock.state().lose_next_batch_answer = true;
        let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
        let job = new_job(&store, "local").await;
        let imp: Arc<dyn dtp_core::Importer<MediaData>> = if batching {
            importer(&mock)
        } else {
            // The fault wrapper forwards only item calls: the per-item path.
            Arc::new(dtp_testkit::FaultyImporter::new(
                importer(&mock),
                dtp_testkit::FaultPlan::new(),
            ))
        };
        let report = run(
            &store,
            &job,
            Transfer::<MediaData>::new(Arc::new(LocalArchive::open_source(&src).unwrap()), imp)
                .with_import_auth(oauth(TOKEN)),
        )
        .await;
        assert_eq!(
            report.state,
            JobState::Complete,
            "batching={batching}: {report}"
        );
        assert_eq!(mock_content(&mock), want, "batching={batching}");
        assert!(
            mock.state().rejected_tokens > 0 || !batching,
            "the retry re-sent spent tokens"
        );
    }
}
