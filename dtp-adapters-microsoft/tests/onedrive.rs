//! OneDrive photos and videos against a stateful fake of Microsoft Graph
//! (`onedrive_mock`): paging, downloads, upload sessions, fragment
//! rejections, throttling, token refresh, crash/resume in the middle of an
//! upload session, the conformance suite, end-to-end with the local archive,
//! and the peak memory of a 300 MiB video upload (in a child process).

mod onedrive_mock;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use dtp_adapters_microsoft::onedrive::{OneDriveConfig, OneDrivePhotos, Root};
use dtp_core::store::{JobId, JobState, JobStore, MemoryJobStore, NewJob, SqliteJobStore};
use dtp_core::{
    AuthData, AuthRefresher, DataType, Exporter, Importer, MediaRef, OAuthTokens, Result, Transfer,
    TransferDriver, TransferOptions, TransferReport,
};
use dtp_models::media::{Album, CaptureTime, MediaData, MediaItem, MediaKind};
use dtp_testkit::conformance::{self, Account, Capabilities, ConformanceTarget, ErrorCase};
use dtp_testkit::{Dataset, DatasetSpec, MemoryExporter, MemoryImporter};
use onedrive_mock::{FakeOneDrive, UNIT};
use sha2::{Digest, Sha256};

const TOKEN: &str = "token-ok";

fn oauth(token: &str) -> AuthData {
    AuthData::OAuth2(OAuthTokens::new(token))
}

fn adapter(fake: &FakeOneDrive) -> OneDrivePhotos {
    adapter_with(fake, |c| c)
}

fn adapter_with(
    fake: &FakeOneDrive,
    f: impl FnOnce(OneDriveConfig) -> OneDriveConfig,
) -> OneDrivePhotos {
    let config = OneDriveConfig::new()
        .with_base(&fake.base())
        .unwrap()
        .with_rate_limit(None);
    OneDrivePhotos::new(f(config)).unwrap()
}

async fn new_job(store: &Arc<dyn JobStore>) -> JobId {
    store
        .create_job(NewJob::new("test-source", "onedrive", [DataType::Media]))
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

fn import_transfer(
    source: Arc<dyn Exporter<MediaData>>,
    dest: &OneDrivePhotos,
    auth: AuthData,
) -> Transfer<MediaData> {
    Transfer::new(
        source,
        Arc::new(dest.clone()) as Arc<dyn Importer<MediaData>>,
    )
    .with_export_auth(AuthData::None)
    .with_import_auth(auth)
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Bytes a test item carries: deterministic, distinct per seed.
fn bytes_of(seed: u64, len: usize) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Bytes::from(
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>(),
    )
}

/// A fixed source: one album per name, each with `sizes` items.
fn source_of(
    albums: &[&str],
    sizes: &[usize],
) -> (MemoryExporter<MediaData>, HashMap<String, String>) {
    let mut ds = Dataset::<MediaData> {
        containers: Vec::new(),
        items: Vec::new(),
        media: HashMap::new(),
    };
    let mut want = HashMap::new();
    for (a, title) in albums.iter().enumerate() {
        ds.containers
            .push(Album::new(format!("a{a}"), *title).with_description(format!("about {title}")));
        for (i, size) in sizes.iter().enumerate() {
            let video = i % 2 == 1;
            let name = if video {
                format!("VID_{a}_{i}.mp4")
            } else {
                format!("IMG_{a}_{i}.jpg")
            };
            let key = format!("k/{a}/{i}");
            let bytes = bytes_of((a * 100 + i) as u64, *size);
            want.insert(format!("{title}/{name}"), sha_hex(&bytes));
            ds.media.insert(key.clone(), bytes);
            let kind = if video {
                MediaKind::Video
            } else {
                MediaKind::Photo
            };
            let mime = if video { "video/mp4" } else { "image/jpeg" };
            let taken = chrono::NaiveDate::from_ymd_opt(2021, 5, 1 + i as u32)
                .unwrap()
                .and_hms_opt(10, 20, 30)
                .unwrap();
            ds.items.push(
                MediaItem::new(
                    format!("m{a}-{i}"),
                    kind,
                    name,
                    MediaRef::new(key)
                        .with_size(*size as u64)
                        .with_mime_type(mime),
                )
                .in_album(format!("a{a}"))
                .with_description(format!("picture {i} of {title}"))
                .with_captured(CaptureTime::new(taken).with_utc_offset_minutes(120)),
            );
        }
    }
    (MemoryExporter::fixed(ds, 3), want)
}

/// Path → SHA-256 of every file under the fake's Photos folder.
fn files_in(fake: &FakeOneDrive) -> HashMap<String, String> {
    let photos = fake.photos_id();
    fake.with(|st| {
        st.files_under(&photos)
            .into_iter()
            .map(|(p, n)| (p, n.sha256))
            .collect()
    })
}

/// Checks the fragment log: per session, in order, contiguous, no overlap,
/// multiples of 320 KiB but the last; returns the sessions' byte counts.
fn check_fragments(fake: &FakeOneDrive) -> HashMap<String, u64> {
    let log = fake.with(|st| st.fragments.clone());
    let mut next: HashMap<String, u64> = HashMap::new();
    for f in log
        .iter()
        .filter(|f| matches!(f.status, 200 | 201 | 202 | 503))
    {
        let at = next.entry(f.session.clone()).or_default();
        assert_eq!(
            f.start, *at,
            "fragment {f:?} is not where the session stood"
        );
        let len = f.end + 1 - f.start;
        if f.status == 202 || f.status == 503 {
            assert!(
                len.is_multiple_of(UNIT),
                "fragment {f:?} is not a multiple of 320 KiB"
            );
        }
        *at = f.end + 1;
    }
    next
}

// ---------------------------------------------------------------- import

#[tokio::test]
async fn small_and_large_files_upload_with_metadata_and_rerun_adds_nothing() {
    let fake = FakeOneDrive::start(TOKEN).await;
    // 100 KiB simple uploads, 1 MiB + 5 bytes through 320 KiB fragments.
    let dest = adapter_with(&fake, |c| {
        c.with_simple_upload_limit(256 * 1024)
            .with_fragment_size(UNIT)
    });
    let (source, want) = source_of(&["Trips", "Zoo/Animals?"], &[100 * 1024, 1024 * 1024 + 5]);
    let source = Arc::new(source);
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let r = run(
        &store,
        &job,
        import_transfer(source.clone(), &dest, oauth(TOKEN)),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    // Names made safe: `Zoo/Animals?` → `Zoo_Animals_`.
    let want: HashMap<String, String> = want
        .into_iter()
        .map(|(k, v)| (k.replace("Zoo/Animals?", "Zoo_Animals_"), v))
        .collect();
    assert_eq!(files_in(&fake), want);
    let (simple, sessions, bad_auth) = fake.with(|st| {
        (
            st.simple_uploads,
            st.sessions_created,
            st.auth_on_preauthenticated,
        )
    });
    assert_eq!((simple, sessions, bad_auth), (2, 2, 0));
    let done = check_fragments(&fake);
    assert_eq!(done.len(), 2);
    assert!(done.values().all(|n| *n == 1024 * 1024 + 5));
    // Description and capture time (18:20:30+02:00 → 08:20:30Z... of the right day) kept.
    let photos = fake.photos_id();
    fake.with(|st| {
        let trips = st.folder_named(&photos, "Trips").unwrap();
        assert_eq!(trips.description.as_deref(), Some("about Trips"));
        for (_, n) in st.files_under(&trips.id) {
            assert!(n.description.as_deref().unwrap().starts_with("picture "));
            let fs = n.fs_created.as_deref().unwrap();
            assert!(fs.ends_with("T08:20:30Z"), "{fs}");
        }
    });
    // A new job into the same drive adds nothing.
    let job2 = new_job(&store).await;
    let before = fake.with(|st| (st.nodes.len(), st.simple_uploads, st.sessions_created));
    let r = run(&store, &job2, import_transfer(source, &dest, oauth(TOKEN))).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let after = fake.with(|st| (st.nodes.len(), st.simple_uploads, st.sessions_created));
    assert_eq!(before, after, "a rerun uploaded again");
}

#[tokio::test]
async fn refused_fragment_makes_the_importer_ask_the_session() {
    let fake = FakeOneDrive::start(TOKEN).await;
    // The 2nd fragment is acknowledged, then reported missing: the 3rd gets
    // 416 fragmentOutOfOrder and the importer must ask the session.
    fake.with(|st| st.faults.lose_fragment = Some(2));
    let dest = adapter_with(&fake, |c| {
        c.with_simple_upload_limit(0).with_fragment_size(UNIT)
    });
    let (source, want) = source_of(&["A"], &[5 * UNIT as usize + 17]);
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let r = run(
        &store,
        &job,
        import_transfer(Arc::new(source), &dest, oauth(TOKEN)),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(files_in(&fake), want);
    let (queries, log) = fake.with(|st| (st.status_queries, st.fragments.clone()));
    assert!(queries >= 1, "the session was never asked");
    assert!(
        log.iter().any(|f| f.status == 416),
        "no fragment was refused"
    );
    // The lost range was sent again, nothing else twice.
    let resent: Vec<_> = log
        .iter()
        .filter(|f| f.start == UNIT && f.status == 202)
        .collect();
    assert_eq!(resent.len(), 2, "{log:?}");
}

#[tokio::test]
async fn throttling_and_unavailable_are_retried_after_retry_after() {
    let fake = FakeOneDrive::start(TOKEN).await;
    fake.with(|st| {
        st.faults.throttle.insert("create_folder", 1);
        st.faults.throttle.insert("simple_upload", 1);
        st.faults.unavailable.insert("special", 1);
        // Stored, then 503: the retried import asks the session, sends the rest.
        st.faults.fail_after_storing = Some(2);
    });
    let dest = adapter_with(&fake, |c| {
        c.with_simple_upload_limit(64 * 1024)
            .with_fragment_size(UNIT)
    });
    let (source, want) = source_of(&["A"], &[1000, 3 * UNIT as usize + 1]);
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let started = Instant::now();
    let r = run(
        &store,
        &job,
        import_transfer(Arc::new(source), &dest, oauth(TOKEN)),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(files_in(&fake), want);
    let (sessions, queries) = fake.with(|st| (st.sessions_created, st.status_queries));
    assert_eq!(sessions, 1, "the retry started a new session");
    assert!(queries >= 1);
    let done = check_fragments(&fake);
    assert_eq!(
        done.values().copied().collect::<Vec<_>>(),
        vec![3 * UNIT + 1]
    );
}

struct Refresher(AtomicU32);

#[async_trait]
impl AuthRefresher for Refresher {
    async fn refresh(&self, _current: &AuthData) -> Result<AuthData> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(oauth("token-new"))
    }
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once() {
    let fake = FakeOneDrive::start("token-new").await;
    fake.with(|st| st.faults.expired_tokens.push("token-old".into()));
    let dest = adapter(&fake);
    let (source, want) = source_of(&["A"], &[10, 20]);
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let refresher = Arc::new(Refresher(AtomicU32::new(0)));
    let t = import_transfer(Arc::new(source), &dest, oauth("token-old"))
        .with_import_refresher(refresher.clone());
    let r = run(&store, &job, t).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(refresher.0.load(Ordering::SeqCst), 1);
    assert_eq!(files_in(&fake), want);
}

#[tokio::test]
async fn a_crash_in_the_middle_of_an_upload_session_resumes_that_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("jobs.sqlite");
    let fake = FakeOneDrive::start(TOKEN).await;
    let hang = Arc::new(tokio::sync::Notify::new());
    // The server stores the 4th fragment, then the "process" dies.
    fake.with(|st| st.faults.hang_after = Some((4, hang.clone())));
    // One big file through a session, small ones (same page) by simple PUT.
    let config = |c: OneDriveConfig| c.with_simple_upload_limit(8192).with_fragment_size(UNIT);
    let size = 10 * UNIT as usize + 333;
    let (source, want) = source_of(&["Video"], &[size, 1000, 2000, 3000]);
    let source = Arc::new(source);
    let job;
    {
        let store: Arc<dyn JobStore> = Arc::new(SqliteJobStore::open(&db).unwrap());
        job = new_job(&store).await;
        let dest = adapter_with(&fake, config);
        let transfer = import_transfer(source.clone(), &dest, oauth(TOKEN));
        tokio::select! {
            r = run(&store, &job, transfer) => panic!("the run ended before its crash: {r}"),
            _ = hang.notified() => {}
        }
        // Everything of the first run (driver, adapter, store) is dropped here.
    }
    let crashed_at = fake.with(|st| st.fragments.len());
    assert_eq!(crashed_at, 4);
    // A new process: a new store handle on the same file, a new adapter.
    let store: Arc<dyn JobStore> = Arc::new(SqliteJobStore::open(&db).unwrap());
    let dest = adapter_with(&fake, config);
    let r = run(&store, &job, import_transfer(source, &dest, oauth(TOKEN))).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert!(r.failures.is_empty(), "{r}");
    let (sessions, log, queries) =
        fake.with(|st| (st.sessions_created, st.fragments.clone(), st.status_queries));
    assert_eq!(sessions, 1, "the resumed job opened a new session");
    assert!(queries >= 1, "the resumed job did not ask the session");
    let after: Vec<_> = log[crashed_at..].to_vec();
    assert_eq!(after.first().map(|f| f.start), Some(4 * UNIT), "{after:?}");
    assert!(
        after.iter().all(|f| f.start != 0),
        "re-uploaded from byte 0"
    );
    // 0 lost, 0 duplicated: every byte exactly once, one file, same hash.
    let total: u64 = log.iter().map(|f| f.end + 1 - f.start).sum();
    assert_eq!(total, size as u64, "bytes sent twice: {log:?}");
    assert_eq!(
        check_fragments(&fake).values().copied().collect::<Vec<_>>(),
        vec![size as u64]
    );
    // Every item exactly once (the small ones too, whether or not the first
    // run had uploaded them): nothing renamed, nothing missing.
    assert_eq!(files_in(&fake), want);
    let files = fake.with(|st| st.nodes.values().filter(|n| !n.folder).count());
    assert_eq!(files, 4);
    let report = TransferDriver::new(store.clone())
        .report(&job)
        .await
        .unwrap();
    assert_eq!(report.per_type[&DataType::Media].created, 4, "{report}");
}

// ---------------------------------------------------------------- export

#[tokio::test]
async fn export_follows_next_links_and_downloads_without_the_token() {
    let fake = FakeOneDrive::start(TOKEN).await;
    let photos = fake.photos_id();
    let mut want = HashMap::new();
    let trip = fake.add_folder(&photos, "Trip", Some("summer"));
    for i in 0..23 {
        let b = bytes_of(i, 1000 + i as usize);
        fake.add_file(
            &trip,
            &format!("IMG_{i:03}.jpg"),
            &b,
            Some("2020-02-02T10:00:00Z"),
        );
        want.insert(format!("IMG_{i:03}.jpg"), sha_hex(&b));
    }
    let nested = fake.add_folder(&trip, "Best of", None);
    let b = bytes_of(99, 5000);
    fake.add_file(&nested, "VID_best.mp4", &b, None);
    want.insert("VID_best.mp4".into(), sha_hex(&b));
    fake.add_file(&trip, "notes.txt", b"not a photo", None);
    let b = bytes_of(7, 10);
    fake.add_file(&photos, "loose.png", &b, None);
    want.insert("loose.png".into(), sha_hex(&b));
    fake.with(|st| {
        st.faults.throttle.insert("children", 2);
        st.page_size = 10;
    });

    let src = adapter(&fake);
    let sink = Arc::new(MemoryImporter::<MediaData>::new());
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let t = Transfer::new(Arc::new(src) as Arc<dyn Exporter<MediaData>>, sink.clone())
        .with_export_auth(oauth(TOKEN))
        .with_import_auth(AuthData::None);
    let r = run(&store, &job, t).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let dest = sink.destination();
    let got: HashMap<String, String> = dest
        .items()
        .into_iter()
        .map(|i| (i.item.filename.clone(), i.media_sha256.clone().unwrap()))
        .collect();
    assert_eq!(got, want, "names and bytes differ");
    let albums: Vec<(String, Option<String>)> = dest
        .containers()
        .into_iter()
        .map(|(_, a)| (a.title, a.description))
        .collect();
    assert_eq!(albums.len(), 2);
    assert!(albums.contains(&("Trip".into(), Some("summer".into()))));
    assert!(albums.contains(&("Best of".into(), None)));
    for i in dest.items() {
        match i.item.filename.as_str() {
            "loose.png" => assert!(i.item.album_ids.is_empty()),
            "VID_best.mp4" => assert_eq!(i.item.album_ids, vec![nested.clone()]),
            f => {
                assert_eq!(i.item.album_ids, vec![trip.clone()], "{f}");
                let c = i.item.captured.unwrap().to_datetime().unwrap();
                assert_eq!(c.to_rfc3339(), "2020-02-02T10:00:00+00:00");
            }
        }
    }
    let (links, bad_auth, via_content) = fake.with(|st| {
        (
            st.next_links_followed,
            st.auth_on_preauthenticated,
            st.downloads_via_content,
        )
    });
    // Trip has 25 children in pages of 10: two nextLinks followed.
    assert_eq!(links, 2);
    assert_eq!(
        bad_auth, 0,
        "a bearer token went to a pre-authenticated URL"
    );
    assert_eq!(via_content, 0);
}

#[tokio::test]
async fn an_expired_download_url_falls_back_to_content_and_its_redirect() {
    let fake = FakeOneDrive::start(TOKEN).await;
    let photos = fake.photos_id();
    let album = fake.add_folder(&photos, "A", None);
    let b = bytes_of(1, 4321);
    fake.add_file(&album, "x.jpg", &b, None);
    fake.with(|st| st.faults.expired_download_urls = true);
    let sink = Arc::new(MemoryImporter::<MediaData>::new());
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let t = Transfer::new(
        Arc::new(adapter(&fake)) as Arc<dyn Exporter<MediaData>>,
        sink.clone(),
    )
    .with_export_auth(oauth(TOKEN))
    .with_import_auth(AuthData::None);
    let r = run(&store, &job, t).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let items = sink.destination().items();
    assert_eq!(items[0].media_sha256.as_deref(), Some(sha_hex(&b).as_str()));
    fake.with(|st| {
        assert_eq!(st.downloads_via_content, 1);
        assert_eq!(st.auth_on_preauthenticated, 0);
    });
}

// ---------------------------------------------------------------- conformance

struct Target;

impl Target {
    async fn account_with(&self, fault: impl FnOnce(&FakeOneDrive)) -> Result<Account<MediaData>> {
        let fake = FakeOneDrive::start(TOKEN).await;
        fault(&fake);
        let a = Arc::new(adapter(&fake));
        // Keep the server alive as long as the account.
        let keep = KeepAlive(fake, a.clone());
        let keep = Arc::new(keep);
        Ok(Account::new(keep.clone(), keep, oauth(TOKEN)))
    }
}

/// The adapter plus its fake server (dropped together).
struct KeepAlive(#[allow(dead_code)] FakeOneDrive, Arc<OneDrivePhotos>);

#[async_trait]
impl Exporter<MediaData> for KeepAlive {
    async fn export(
        &self,
        ctx: &dtp_core::ExportContext,
        auth: &AuthData,
        cursor: &dtp_core::Cursor,
    ) -> Result<dtp_core::ExportPage<MediaData>> {
        self.1.export(ctx, auth, cursor).await
    }
    async fn open_media(
        &self,
        ctx: &dtp_core::ExportContext,
        auth: &AuthData,
        media: &MediaRef,
    ) -> Result<dtp_core::ByteStream> {
        self.1.open_media(ctx, auth, media).await
    }
}

#[async_trait]
impl Importer<MediaData> for KeepAlive {
    async fn import_container(
        &self,
        ctx: &dtp_core::ImportContext,
        auth: &AuthData,
        c: &Album,
    ) -> Result<dtp_core::Imported> {
        self.1.import_container(ctx, auth, c).await
    }
    async fn import_item(
        &self,
        ctx: &dtp_core::ImportContext,
        auth: &AuthData,
        i: &MediaItem,
    ) -> Result<dtp_core::Imported> {
        self.1.import_item(ctx, auth, i).await
    }
    async fn find_existing_container(
        &self,
        ctx: &dtp_core::ImportContext,
        auth: &AuthData,
        c: &Album,
    ) -> Result<Option<String>> {
        self.1.find_existing_container(ctx, auth, c).await
    }
    async fn find_existing_item(
        &self,
        ctx: &dtp_core::ImportContext,
        auth: &AuthData,
        i: &MediaItem,
    ) -> Result<Option<String>> {
        self.1.find_existing_item(ctx, auth, i).await
    }
}

#[async_trait]
impl ConformanceTarget<MediaData> for Target {
    async fn fresh_account(&self) -> Result<Account<MediaData>> {
        self.account_with(|f| {
            // Every account's first listing and first upload are throttled.
            f.with(|st| {
                st.faults.throttle.insert("children", 1);
                st.faults.throttle.insert("simple_upload", 1);
            })
        })
        .await
    }

    fn capabilities(&self) -> Capabilities {
        // One album: a OneDrive folder cannot hold one file in two albums,
        // and the suite puts every tenth item of album n in album n-1 too
        // (the importer files it under its first album only; see the
        // module docs). Several albums are covered by the tests above and
        // the end-to-end test below.
        Capabilities::full().with_dataset(
            DatasetSpec::new(1, 25)
                .with_page_size(10)
                .with_media_size(2048),
        )
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<MediaData>>> {
        Ok(vec![
            ErrorCase {
                name: "507 quotaLimitReached".into(),
                account: self
                    .account_with(|f| f.with(|st| st.faults.quota_full = true))
                    .await?,
                on_import: true,
                expected_kind: dtp_core::ErrorKind::DestinationFull,
            },
            ErrorCase {
                name: "403 accessDenied".into(),
                account: self
                    .account_with(|f| f.with(|st| st.faults.forbidden = true))
                    .await?,
                on_import: false,
                expected_kind: dtp_core::ErrorKind::PermissionDenied,
            },
            ErrorCase {
                name: "401 without a refresher".into(),
                account: self
                    .account_with(|f| f.with(|st| st.faults.expired_tokens.push(TOKEN.into())))
                    .await?,
                on_import: true,
                expected_kind: dtp_core::ErrorKind::Unauthenticated,
            },
            ErrorCase {
                name: "truncated children JSON".into(),
                account: self
                    .account_with(|f| f.with(|st| st.faults.broken_listing = true))
                    .await?,
                on_import: false,
                expected_kind: dtp_core::ErrorKind::InvalidData,
            },
        ])
    }

    fn normalize(&self, value: &mut serde_json::Value) {
        // OneDrive stamps its own upload time on every file.
        if let Some(m) = value.as_object_mut() {
            m.remove("uploaded");
        }
    }
}

#[tokio::test]
async fn conformance_suite() {
    conformance::run_all::<MediaData, _>(&Target).await;
}

// ---------------------------------------------------------------- end to end

#[tokio::test]
async fn onedrive_to_local_archive_and_back_content_equal_rerun_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    // Source drive: two albums, a file bigger than the simple-upload limit.
    let src = FakeOneDrive::start(TOKEN).await;
    let photos = src.photos_id();
    let a = src.add_folder(&photos, "Holidays", Some("by the sea"));
    let b = src.add_folder(&photos, "Family", None);
    for i in 0..4u64 {
        src.add_file(
            &a,
            &format!("IMG_{i}.jpg"),
            &bytes_of(i, 3000 + i as usize),
            Some("2019-06-01T12:00:00Z"),
        );
    }
    src.add_file(
        &b,
        "VID_big.mp4",
        &bytes_of(42, 2 * UNIT as usize + 3),
        Some("2018-01-01T00:00:00Z"),
    );
    src.add_file(&b, "IMG_x.jpg", &bytes_of(43, 10), None);

    // OneDrive → archive.
    let local = Arc::new(dtp_adapters_local::LocalArchive::open_destination(&archive).unwrap());
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let t = Transfer::new(
        Arc::new(adapter(&src)) as Arc<dyn Exporter<MediaData>>,
        local.clone(),
    )
    .with_export_auth(oauth(TOKEN))
    .with_import_auth(AuthData::None);
    let r = run(&store, &job, t).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    local.finish().unwrap();

    // Archive → a second drive, with sessions for the big file.
    let dst = FakeOneDrive::start(TOKEN).await;
    let dest = adapter_with(&dst, |c| {
        c.with_simple_upload_limit(UNIT).with_fragment_size(UNIT)
    });
    let source = Arc::new(dtp_adapters_local::LocalArchive::open_source(&archive).unwrap());
    let store2: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job2 = new_job(&store2).await;
    let r = run(
        &store2,
        &job2,
        import_transfer(source.clone(), &dest, oauth(TOKEN)),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");

    // Same names, albums and bytes.
    assert_eq!(files_in(&dst), files_in(&src));
    assert_eq!(files_in(&dst).len(), 6);
    let dst_photos = dst.photos_id();
    dst.with(|st| {
        let h = st.folder_named(&dst_photos, "Holidays").unwrap();
        assert_eq!(h.description.as_deref(), Some("by the sea"));
        for (_, n) in st.files_under(&h.id) {
            let t = chrono::DateTime::parse_from_rfc3339(n.fs_created.as_deref().unwrap()).unwrap();
            assert_eq!(
                t.to_rfc3339(),
                "2019-06-01T12:00:00+00:00",
                "capture time lost"
            );
        }
    });
    assert_eq!(dst.with(|st| st.sessions_created), 1);

    // A new job from the same archive adds nothing.
    let before = dst.with(|st| (st.nodes.len(), st.simple_uploads, st.sessions_created));
    let job3 = new_job(&store2).await;
    let r = run(&store2, &job3, import_transfer(source, &dest, oauth(TOKEN))).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(
        dst.with(|st| (st.nodes.len(), st.simple_uploads, st.sessions_created)),
        before
    );
}

// ---------------------------------------------------------------- memory

const RSS_CHILD: &str = "DTP_ONEDRIVE_RSS_CHILD_BASE";
const BIG: u64 = 300 * 1024 * 1024;

fn big_source() -> MemoryExporter<MediaData> {
    let ds = Dataset::<MediaData> {
        containers: vec![Album::new("a", "Videos")],
        items: vec![
            MediaItem::new(
                "v",
                MediaKind::Video,
                "VID_300MiB.mp4",
                MediaRef::new(format!("rand:77:{BIG}"))
                    .with_size(BIG)
                    .with_mime_type("video/mp4"),
            )
            .in_album("a"),
        ],
        media: HashMap::new(),
    };
    MemoryExporter::fixed(ds, 10)
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The child half of the memory test: uploads the 300 MiB video to the
/// parent's fake and prints its peak RSS. Does nothing unless started by
/// `a_300_mib_video_uploads_in_bounded_memory`.
#[tokio::test]
async fn rss_child_upload() {
    let Ok(base) = std::env::var(RSS_CHILD) else {
        return;
    };
    let config = OneDriveConfig::new()
        .with_base(&base)
        .unwrap()
        .with_rate_limit(None);
    let dest = OneDrivePhotos::new(config).unwrap();
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let started = Instant::now();
    let r = run(
        &store,
        &job,
        import_transfer(Arc::new(big_source()), &dest, oauth(TOKEN)),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    println!(
        "RSS_CHILD_VMHWM_KIB={} RSS_CHILD_SECS={:.1}",
        vm_hwm_kib(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_mib_video_uploads_in_bounded_memory() {
    if std::env::var(RSS_CHILD).is_ok() {
        return;
    }
    let fake = FakeOneDrive::start_with(TOKEN, true).await;
    // The server compares every fragment with the generator's bytes at its
    // offset as it arrives (keeping nothing): byte-exact, and much cheaper
    // than SHA-256 in a debug build.
    let sample = dtp_testkit::sample_media_bytes(&format!("rand:77:{BIG}")).unwrap();
    fake.with(|st| st.verify_against = Some(sample));
    let exe = std::env::current_exe().unwrap();
    let base = fake.base();
    let started = Instant::now();
    let out = tokio::process::Command::new(exe)
        .args([
            "rss_child_upload",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(RSS_CHILD, &base)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kib: u64 = stdout
        .lines()
        .find_map(|l| l.split("RSS_CHILD_VMHWM_KIB=").nth(1))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("the child printed no peak RSS:\n{stdout}"));
    let child_secs = stdout
        .split("RSS_CHILD_SECS=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("?");
    println!(
        "300 MiB upload: child peak RSS {} MiB, transfer {child_secs} s, whole test {:.1} s",
        kib / 1024,
        started.elapsed().as_secs_f64()
    );
    assert!(kib <= 64 * 1024, "peak RSS {kib} KiB > 64 MiB");
    let (verified, mismatched) = fake.with(|st| (st.verified, st.mismatched));
    assert_eq!(mismatched, 0, "fragments arrived with wrong bytes");
    assert_eq!(verified, BIG, "not every byte arrived exactly once");
    let photos = fake.photos_id();
    let file = fake.with(|st| {
        st.files_under(&photos)
            .into_iter()
            .find(|(p, _)| p == "Videos/VID_300MiB.mp4")
            .map(|(_, n)| (n.size, n.content.is_some()))
    });
    assert_eq!(file, Some((BIG, false)), "the file, not kept by the server");
    let (sessions, frags) = fake.with(|st| (st.sessions_created, st.fragments.len()));
    assert_eq!(sessions, 1);
    assert_eq!(frags as u64, BIG.div_ceil(16 * UNIT));
}

// ---------------------------------------------------------------- edge cases

#[tokio::test]
async fn a_missing_photos_folder_under_read_only_scopes_exports_nothing() {
    let fake = FakeOneDrive::start(TOKEN).await;
    fake.with(|st| st.faults.read_only = true);
    let sink = Arc::new(MemoryImporter::<MediaData>::new());
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let t = Transfer::new(
        Arc::new(adapter(&fake)) as Arc<dyn Exporter<MediaData>>,
        sink.clone(),
    )
    .with_export_auth(oauth(TOKEN))
    .with_import_auth(AuthData::None);
    let r = run(&store, &job, t).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert!(sink.destination().items().is_empty());
    assert_eq!(fake.count("special"), 1);
}

#[tokio::test]
async fn a_different_file_of_the_same_name_is_kept_and_the_new_one_renamed() {
    let fake = FakeOneDrive::start(TOKEN).await;
    let photos = fake.photos_id();
    let album = fake.add_folder(&photos, "A", None);
    fake.add_file(&album, "IMG_0_0.jpg", b"someone else's photo", None);
    let (source, _) = source_of(&["A"], &[64]);
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let r = run(
        &store,
        &job,
        import_transfer(Arc::new(source), &adapter(&fake), oauth(TOKEN)),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let names: std::collections::BTreeSet<String> = files_in(&fake).into_keys().collect();
    let want: std::collections::BTreeSet<String> = ["A/IMG_0_0.jpg", "A/IMG_0_0 1.jpg"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, want);
}

#[tokio::test]
async fn a_source_without_a_size_is_measured_then_sent_through_a_session() {
    let fake = FakeOneDrive::start(TOKEN).await;
    let bytes = bytes_of(5, 3 * UNIT as usize + 9);
    let ds = Dataset::<MediaData> {
        containers: vec![Album::new("a", "A")],
        items: vec![
            MediaItem::new("m", MediaKind::Video, "VID.mp4", MediaRef::new("k")).in_album("a"),
        ],
        media: [("k".to_string(), bytes.clone())].into_iter().collect(),
    };
    let dest = adapter_with(&fake, |c| {
        c.with_simple_upload_limit(UNIT).with_fragment_size(UNIT)
    });
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let r = run(
        &store,
        &job,
        import_transfer(Arc::new(MemoryExporter::fixed(ds, 5)), &dest, oauth(TOKEN)),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(files_in(&fake).get("A/VID.mp4"), Some(&sha_hex(&bytes)));
    assert_eq!(
        fake.with(|st| (st.simple_uploads, st.sessions_created)),
        (0, 1)
    );
}

// ---------------------------------------------------------------- live

/// Against the real Graph, only with `DTP_MICROSOFT_ACCESS_TOKEN` (a token
/// with `Files.Read`; `DTP_MICROSOFT_GRAPH_URL` overrides the API root):
/// exports the first page of the Photos folder and streams the bytes of at
/// most 3 items. Read-only. Skipped otherwise.
#[tokio::test]
async fn live_onedrive_photos_export() {
    let Ok(token) = std::env::var("DTP_MICROSOFT_ACCESS_TOKEN") else {
        println!(
            "skipped: set DTP_MICROSOFT_ACCESS_TOKEN (Files.Read) to export from a real OneDrive"
        );
        return;
    };
    let mut config = OneDriveConfig::new().with_page_size(50);
    if let Ok(base) = std::env::var("DTP_MICROSOFT_GRAPH_URL") {
        config = config
            .with_base(&base)
            .expect("DTP_MICROSOFT_GRAPH_URL is a URL");
    }
    let od = OneDrivePhotos::new(config).unwrap();
    let ctx = dtp_core::ExportContext::detached(DataType::Media);
    let auth = oauth(&token);
    let page = od
        .export(&ctx, &auth, &dtp_core::Cursor::root())
        .await
        .unwrap();
    println!(
        "live: {} albums, {} items on the first page",
        page.containers.len(),
        page.items.len()
    );
    for item in page.items.iter().take(3) {
        use futures::StreamExt;
        let mut s = od.open_media(&ctx, &auth, &item.content).await.unwrap();
        let mut n = 0u64;
        while let Some(c) = s.next().await {
            n += c.unwrap().len() as u64;
        }
        assert_eq!(Some(n), item.content.size, "{}", item.filename);
    }
}

#[tokio::test]
async fn a_name_taken_meanwhile_by_another_file_renames_ours() {
    let fake = FakeOneDrive::start(TOKEN).await;
    fake.with(|st| {
        st.faults.sneak_in = Some(("IMG_0_0.jpg".into(), b"another client's photo".to_vec()));
    });
    let dest = adapter_with(&fake, |c| {
        c.with_simple_upload_limit(UNIT).with_fragment_size(UNIT)
    });
    let (source, want) = source_of(&["A"], &[100, 2 * UNIT as usize + 1]);
    // The session path too: the video's name is taken when its session opens.
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let r = run(
        &store,
        &job,
        import_transfer(Arc::new(source), &dest, oauth(TOKEN)),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let files = files_in(&fake);
    assert_eq!(
        files.get("A/IMG_0_0 1.jpg"),
        want.get("A/IMG_0_0.jpg"),
        "{files:?}"
    );
    assert_eq!(
        files.get("A/IMG_0_0.jpg"),
        Some(&sha_hex(b"another client's photo"))
    );
    assert_eq!(files.get("A/VID_0_1.mp4"), want.get("A/VID_0_1.mp4"));
    // Now a session: the name is taken when createUploadSession arrives.
    let fake = FakeOneDrive::start(TOKEN).await;
    fake.with(|st| st.faults.sneak_in = Some(("VID_0_1.mp4".into(), b"x".to_vec())));
    let dest = adapter_with(&fake, |c| {
        c.with_simple_upload_limit(UNIT).with_fragment_size(UNIT)
    });
    let (source, want) = source_of(&["A"], &[100, 2 * UNIT as usize + 1]);
    let job = new_job(&store).await;
    let r = run(
        &store,
        &job,
        import_transfer(Arc::new(source), &dest, oauth(TOKEN)),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let files = files_in(&fake);
    assert_eq!(
        files.get("A/VID_0_1 1.mp4"),
        want.get("A/VID_0_1.mp4"),
        "{files:?}"
    );
    assert_eq!(files.len(), 3);
}

#[tokio::test]
async fn an_expired_session_is_replaced_by_a_new_one() {
    let fake = FakeOneDrive::start(TOKEN).await;
    fake.with(|st| st.faults.expire_session_after = Some(2));
    let dest = adapter_with(&fake, |c| {
        c.with_simple_upload_limit(0).with_fragment_size(UNIT)
    });
    let (source, want) = source_of(&["A"], &[4 * UNIT as usize + 5]);
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let r = run(
        &store,
        &job,
        import_transfer(Arc::new(source), &dest, oauth(TOKEN)),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(files_in(&fake), want);
    assert_eq!(fake.with(|st| st.sessions_created), 2);
}

#[tokio::test]
async fn export_from_a_folder_by_path() {
    let fake = FakeOneDrive::start(TOKEN).await;
    let docs = fake.add_folder("ROOT", "Documents", None);
    let trips = fake.add_folder(&docs, "Trips 2024", None);
    let album = fake.add_folder(&trips, "Rome", None);
    let b = bytes_of(3, 77);
    fake.add_file(&album, "IMG_1.jpg", &b, None);
    fake.add_file(&fake.photos_id(), "elsewhere.jpg", b"not exported", None);
    let src = adapter_with(&fake, |c| {
        c.with_root(Root::Path("Documents/Trips 2024".into()))
    });
    let sink = Arc::new(MemoryImporter::<MediaData>::new());
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let t = Transfer::new(Arc::new(src) as Arc<dyn Exporter<MediaData>>, sink.clone())
        .with_export_auth(oauth(TOKEN))
        .with_import_auth(AuthData::None);
    let r = run(&store, &job, t).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let items = sink.destination().items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].item.filename, "IMG_1.jpg");
    assert_eq!(items[0].item.album_ids, vec![album]);
    assert_eq!(items[0].media_sha256.as_deref(), Some(sha_hex(&b).as_str()));
}

#[tokio::test]
async fn import_into_a_chosen_folder_creates_it() {
    let fake = FakeOneDrive::start(TOKEN).await;
    // "Imports" exists, "From Google" does not.
    let imports = fake.add_folder("ROOT", "Imports", None);
    let dest = adapter_with(&fake, |c| {
        c.with_root(Root::Path("Imports/From Google".into()))
    });
    let (source, want) = source_of(&["Trip"], &[10, 20]);
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store).await;
    let r = run(
        &store,
        &job,
        import_transfer(Arc::new(source), &dest, oauth(TOKEN)),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let target = fake
        .with(|st| st.folder_named(&imports, "From Google"))
        .unwrap();
    let got: HashMap<String, String> = fake.with(|st| {
        st.files_under(&target.id)
            .into_iter()
            .map(|(p, n)| (p, n.sha256))
            .collect()
    });
    assert_eq!(got, want);
    let folders = fake.with(|st| st.nodes.values().filter(|n| n.folder).count());
    // root, Imports, From Google, Trip (no Photos folder touched).
    assert_eq!(folders, 4);
}
