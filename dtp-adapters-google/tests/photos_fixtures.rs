//! Single-scenario wiremock tests built on the JSON fixtures of
//! `tests/fixtures/` (see `PHOTOS.md` there): the upload token as raw text,
//! a partial `batchCreate` failure inside a 200, rate limits, the daily
//! quota, storage full, and the Data Portability job states.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::takeout::{Sidecar, TkFile, bytes, write_zip};
use dtp_adapters_google::photos::GooglePhotosImporter;
use dtp_adapters_google::portability::{GooglePhotosPortability, PortabilityOptions};
use dtp_adapters_google::testing::{client_for, fixture, oauth};
use dtp_core::store::{JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{DataType, MediaRef, Transfer, TransferDriver, TransferReport};
use dtp_models::media::{Album, MediaData, MediaItem, MediaKind};
use dtp_testkit::{Dataset, MemoryExporter, MemoryImporter};
use serde_json::Value;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "ya29.fixture";

fn source() -> MemoryExporter<MediaData> {
    let items = [
        ("IMG_0001.jpg", Some("first")),
        ("IMG_0002.jpg", Some("second")),
        ("VID_0003.mp4", None),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, (name, desc))| {
        let video = name.ends_with(".mp4");
        let mut i = MediaItem::new(
            format!("s{n}"),
            if video {
                MediaKind::Video
            } else {
                MediaKind::Photo
            },
            name,
            MediaRef::new(format!("k{n}"))
                .with_size(1000 + n as u64)
                .with_mime_type(if video { "video/mp4" } else { "image/jpeg" }),
        )
        .in_album("a1");
        if let Some(d) = desc {
            i = i.with_description(d);
        }
        i
    })
    .collect();
    let media = (0..3)
        .map(|n| (format!("k{n}"), Bytes::from(bytes(n, 1000 + n as usize))))
        .collect();
    MemoryExporter::fixed(
        Dataset {
            containers: vec![Album::new("a1", "Holidays")],
            items,
            media,
        },
        10,
    )
}

/// Serves the fixture's tokens one per upload, as raw text.
struct Tokens(Vec<String>, AtomicUsize);

impl Respond for Tokens {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let n = self.1.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_raw(self.0[n % self.0.len()].clone(), "text/plain")
    }
}

async fn photos_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/albums"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("photos.albums.create")))
        .mount(&server)
        .await;
    let tokens: Vec<String> = fixture("photos.uploads.tokens")["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    Mock::given(method("POST"))
        .and(path("/v1/uploads"))
        .and(header("x-goog-upload-protocol", "raw"))
        .respond_with(Tokens(tokens, AtomicUsize::new(0)))
        .mount(&server)
        .await;
    server
}

async fn import(server: &MockServer) -> TransferReport {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new("memory", "google-photos", [DataType::Media]))
        .await
        .unwrap()
        .id;
    TransferDriver::new(store)
        .run(
            &job,
            Transfer::<MediaData>::new(
                Arc::new(source()),
                Arc::new(GooglePhotosImporter::new(client_for(server))),
            )
            .with_import_auth(oauth(TOKEN)),
        )
        .await
        .unwrap()
}

fn batch_bodies(reqs: &[Request]) -> Vec<Value> {
    reqs.iter()
        .filter(|r| r.url.path() == "/v1/mediaItems:batchCreate")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn raw_upload_tokens_and_a_partial_batch_failure() {
    let server = photos_server().await;
    Mock::given(method("POST"))
        .and(path("/v1/mediaItems:batchCreate"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("photos.mediaItems.batchCreate.partial")),
        )
        .mount(&server)
        .await;
    let report = import(&server).await;
    assert_eq!(report.state, JobState::Partial, "{report}");
    assert_eq!(report.failures.len(), 1, "{report}");
    let f = &report.failures[0];
    assert_eq!(
        (f.item_id.as_str(), f.kind.as_str()),
        ("s1", "invalid_data")
    );
    assert_eq!(report.per_type[&DataType::Media].created, 2, "{report}");

    let reqs = server.received_requests().await.unwrap();
    // Bytes went up raw, with the item's type and the bearer token.
    let uploads: Vec<&Request> = reqs
        .iter()
        .filter(|r| r.url.path() == "/v1/uploads")
        .collect();
    assert_eq!(uploads.len(), 3);
    for u in &uploads {
        assert_eq!(
            u.headers["authorization"],
            format!("Bearer {TOKEN}").as_str()
        );
        assert!(u.headers.contains_key("x-goog-upload-content-type"));
    }
    let mut names: Vec<&str> = uploads
        .iter()
        .map(|u| u.headers["x-goog-upload-file-name"].to_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["IMG_0001.jpg", "IMG_0002.jpg", "VID_0003.mp4"]);
    let mut lens: Vec<usize> = uploads.iter().map(|u| u.body.len()).collect();
    lens.sort_unstable();
    assert_eq!(lens, [1000, 1001, 1002]);
    // One batchCreate with the three raw tokens, names and descriptions,
    // into the created album.
    let bodies = batch_bodies(&reqs);
    assert_eq!(bodies.len(), 1);
    let b = &bodies[0];
    assert_eq!(b["albumId"], "AF1QipN3tPvTuSo3GTSlp0k0v0v2zUIGdnJf9p1oaBmW");
    let items = b["newMediaItems"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let mut names: Vec<(&str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["simpleMediaItem"]["fileName"].as_str().unwrap(),
                i["simpleMediaItem"]["uploadToken"].as_str().unwrap(),
            )
        })
        .collect();
    names.sort_unstable();
    assert!(
        names.iter().all(|(_, t)| t.starts_with("CAIS6QIA")),
        "{names:?}"
    );
    assert!(items.iter().any(|i| i["description"] == "first"));
    assert!(
        items.iter().any(|i| i.get("description").is_none()),
        "no empty description sent"
    );
}

#[tokio::test]
async fn rate_limited_batch_create_is_retried_after_retry_after() {
    let server = photos_server().await;
    Mock::given(method("POST"))
        .and(path("/v1/mediaItems:batchCreate"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(fixture("photos.mediaItems.batchCreate.429")),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let mut ok = fixture("photos.mediaItems.batchCreate.partial");
    ok["newMediaItemResults"][1] = ok["newMediaItemResults"][0].clone();
    ok["newMediaItemResults"][1]["uploadToken"] =
        fixture("photos.uploads.tokens")["tokens"][1].clone();
    ok["newMediaItemResults"][1]["mediaItem"]["id"] = "AF1QipMediaItem0002".into();
    Mock::given(method("POST"))
        .and(path("/v1/mediaItems:batchCreate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok))
        .with_priority(2)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let report = import(&server).await;
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(batch_bodies(&reqs).len(), 2);
}

#[tokio::test]
async fn daily_quota_stops_the_job_with_the_reason() {
    let server = photos_server().await;
    Mock::given(method("POST"))
        .and(path("/v1/mediaItems:batchCreate"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(fixture("photos.mediaItems.batchCreate.429-daily")),
        )
        .mount(&server)
        .await;
    let report = import(&server).await;
    assert_eq!(report.state, JobState::Stopped, "{report}");
    let reason = report.stop_reason.unwrap();
    assert_eq!(reason.kind.as_str(), "quota_exhausted");
    assert!(reason.message.contains("per day"), "{}", reason.message);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(batch_bodies(&reqs).len(), 1, "not retried");
}

#[tokio::test]
async fn storage_full_stops_the_job() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/albums"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("photos.albums.create")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/uploads"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(fixture("photos.uploads.400-storage-full")),
        )
        .mount(&server)
        .await;
    let report = import(&server).await;
    assert_eq!(report.state, JobState::Stopped, "{report}");
    assert_eq!(
        report.stop_reason.unwrap().kind.as_str(),
        "destination_full"
    );
    let reqs = server.received_requests().await.unwrap();
    assert!(batch_bodies(&reqs).is_empty());
}

/// Serves the job states in order (the last one repeats).
struct States(Vec<Value>, AtomicUsize);

impl Respond for States {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let n = self.1.fetch_add(1, Ordering::SeqCst).min(self.0.len() - 1);
        ResponseTemplate::new(200).set_body_json(self.0[n].clone())
    }
}

async fn portability_server(states: Vec<Value>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/portabilityArchive:initiate"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("dataportability.portabilityArchive.initiate")),
        )
        .mount(&server)
        .await;
    let base = server.uri();
    let states = states
        .into_iter()
        .map(|s| serde_json::from_str(&s.to_string().replace("{{BASE}}", &base)).unwrap())
        .collect();
    Mock::given(method("GET"))
        .and(path(
            "/v1/archiveJobs/0b9a3c7e-5d1f-4a8e-9c2b-7f6e5d4c3b2a/portabilityArchiveState",
        ))
        .respond_with(States(states, AtomicUsize::new(0)))
        .mount(&server)
        .await;
    server
}

async fn export(server: &MockServer) -> (TransferReport, Arc<MemoryImporter<MediaData>>) {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new("google-photos", "memory", [DataType::Media]))
        .await
        .unwrap()
        .id;
    let sink = Arc::new(MemoryImporter::<MediaData>::new());
    let exporter = GooglePhotosPortability::new(
        client_for(server),
        PortabilityOptions::new().with_poll_interval(Duration::from_millis(5)),
    );
    let report = TransferDriver::new(store)
        .run(
            &job,
            Transfer::<MediaData>::new(Arc::new(exporter), sink.clone())
                .with_export_auth(oauth(TOKEN)),
        )
        .await
        .unwrap();
    (report, sink)
}

#[tokio::test]
async fn portability_job_in_progress_then_complete_is_downloaded_and_read() {
    let server = portability_server(vec![
        fixture("dataportability.archiveJobs.getPortabilityArchiveState.in-progress"),
        fixture("dataportability.archiveJobs.getPortabilityArchiveState.complete"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("t.zip");
    let img = bytes(9, 5000);
    write_zip(
        &zip,
        &[
            TkFile::new(
                "Takeout/Google Photos/Photos from 2024/IMG_9.jpg",
                img.clone(),
            ),
            TkFile::new(
                "Takeout/Google Photos/Photos from 2024/IMG_9.jpg.supplemental-metadata.json",
                Sidecar {
                    title: "IMG_9.jpg",
                    description: "from the archive",
                    taken: 1_700_000_000,
                    created: 1_700_000_100,
                    geo: Some((10.0, 20.0, 0.0)),
                    geo_exif: None,
                    url: None,
                    favorited: false,
                }
                .json(),
            ),
        ],
        true,
    );
    Mock::given(method("GET"))
        .and(path_regex(r"^/storage/0b9a3c7e/takeout-001\.zip$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(std::fs::read(&zip).unwrap(), "application/zip"),
        )
        .mount(&server)
        .await;
    let (report, sink) = export(&server).await;
    assert_eq!(report.state, JobState::Complete, "{report}");
    let items = sink.destination().items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].item.filename, "IMG_9.jpg");
    assert_eq!(
        items[0].item.description.as_deref(),
        Some("from the archive")
    );
    assert_eq!(
        items[0].media_sha256.as_deref(),
        Some(common::takeout::sha256(&img).as_str())
    );
    let reqs = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(body["resources"], serde_json::json!(["photos.library"]));
    let download = reqs
        .iter()
        .find(|r| r.url.path().starts_with("/storage/"))
        .unwrap();
    assert!(
        !download.headers.contains_key("authorization"),
        "signed URLs are fetched without the bearer token"
    );
    assert!(download.url.query().unwrap().contains("X-Goog-Signature"));
}

#[tokio::test]
async fn portability_job_that_failed_stops_the_export() {
    let server = portability_server(vec![fixture(
        "dataportability.archiveJobs.getPortabilityArchiveState.failed",
    )])
    .await;
    let (report, sink) = export(&server).await;
    assert_eq!(report.state, JobState::Stopped, "{report}");
    assert!(report.stop_reason.unwrap().message.contains("FAILED"));
    assert!(sink.destination().items().is_empty());
}

#[tokio::test]
async fn a_refused_batch_fails_its_items_and_the_job_goes_on() {
    let server = photos_server().await;
    Mock::given(method("POST"))
        .and(path("/v1/mediaItems:batchCreate"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(fixture("photos.mediaItems.batchCreate.400")),
        )
        .mount(&server)
        .await;
    let report = import(&server).await;
    assert_eq!(report.state, JobState::Partial, "{report}");
    assert_eq!(report.failures.len(), 3, "{report}");
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.kind.as_str() == "invalid_data")
    );
    assert_eq!(report.per_type[&DataType::Media].containers, 1);
}
