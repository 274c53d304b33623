//! A stateful fake of Google Photos (Library API uploads, albums, media
//! items) and of the Data Portability API (archive jobs whose parts are
//! Takeout zips built from the fake's library), on one wiremock server.
//!
//! It answers with the documented shapes (see `tests/fixtures/README.md`):
//! the upload token as raw `text/plain`, `batchCreate` per-item statuses
//! inside a 200, int64 fields as strings, both error formats, resumable
//! sessions with offsets and `query`. It enforces what Google enforces:
//! the bearer token, at most 50 items per `batchCreate`, upload tokens used
//! once, chunk offsets, archive URLs fetched without `Authorization`.

#![allow(dead_code)]
// A refused request answers with wiremock's (large) `ResponseTemplate`.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const TOKEN: &str = "ya29.photos-test-token";
pub const GRANULARITY: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct MockAlbum {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone)]
pub struct MockItem {
    pub id: String,
    pub filename: String,
    pub description: Option<String>,
    pub mime: String,
    pub albums: Vec<String>,
    pub sha256: String,
    pub len: u64,
    pub bytes: Option<Vec<u8>>,
}

struct Upload {
    mime: String,
    sha256: String,
    len: u64,
    bytes: Option<Vec<u8>>,
    used: bool,
}

struct Session {
    mime: String,
    size: u64,
    received: u64,
    hasher: Sha256,
    fnv: u64,
    bytes: Option<Vec<u8>>,
}

/// FNV-1a 64 over `bytes`, continuing from `h` (the lean fake's digest:
/// SHA-256 of 300 MiB takes too long in a debug build).
pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Where `batchCreate` crashes the client: the test drops its run when
/// [`PhotosMock::crashed`] fires.
#[derive(Debug, Clone, Copy)]
pub struct BatchCrash {
    /// Which `batchCreate` call (1-based).
    pub nth: u64,
    /// Whether the items are created before the answer is lost.
    pub after: bool,
}

#[derive(Default)]
pub struct State {
    pub albums: Vec<MockAlbum>,
    pub items: Vec<MockItem>,
    uploads: HashMap<String, Upload>,
    sessions: HashMap<String, Session>,
    next: u64,
    uri: String,
    pub keep_bytes: bool,
    /// Counters.
    pub batch_sizes: Vec<usize>,
    pub uploads_raw: u64,
    pub chunks: u64,
    pub max_chunk: usize,
    pub queries: u64,
    pub rejected_tokens: u64,
    // Faults.
    pub rate_limit_next_batch: bool,
    pub fail_next_item_internal: bool,
    pub storage_full: bool,
    /// Apply the next `batchCreate`, then answer 503 (the answer is lost).
    pub lose_next_batch_answer: bool,
    pub drop_next_chunk_half: bool,
    pub crash: Option<BatchCrash>,
    batch_calls: u64,
    // Portability.
    jobs: HashMap<String, u32>,
    pub portability_initiates: u64,
    pub portability_forbidden: bool,
    pub archive_parts: usize,
}

#[derive(Clone)]
pub struct PhotosMock {
    pub server: Arc<MockServer>,
    state: Arc<Mutex<State>>,
    crashed: Arc<AtomicBool>,
    crash_notify: Arc<tokio::sync::Notify>,
}

fn bearer_ok(req: &Request) -> bool {
    req.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v == format!("Bearer {TOKEN}"))
        .unwrap_or(false)
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn query(req: &Request, name: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn rpc_error(code: u16, status: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({
        "error": {"code": code, "message": message, "status": status}
    }))
}

fn unauthenticated() -> ResponseTemplate {
    rpc_error(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
    )
}

pub const STORAGE_FULL_MESSAGE: &str =
    "The remaining storage in the user's account is not enough to perform this operation.";

impl PhotosMock {
    pub async fn start() -> Self {
        Self::start_with(MockServer::start().await, true).await
    }

    /// A mock that keeps no bytes and records no requests (big uploads).
    pub async fn start_lean() -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        Self::start_with(server, false).await
    }

    async fn start_with(server: MockServer, keep_bytes: bool) -> Self {
        let state = Arc::new(Mutex::new(State {
            keep_bytes,
            uri: server.uri(),
            archive_parts: 2,
            ..State::default()
        }));
        let mock = PhotosMock {
            server: Arc::new(server),
            state,
            crashed: Arc::new(AtomicBool::new(false)),
            crash_notify: Arc::new(tokio::sync::Notify::new()),
        };
        mock.mount().await;
        mock
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves when a [`BatchCrash`] fired.
    pub async fn crashed(&self) {
        loop {
            let n = self.crash_notify.notified();
            if self.crashed.load(Ordering::SeqCst) {
                return;
            }
            n.await;
        }
    }

    pub fn arm_crash(&self, crash: BatchCrash) {
        self.crashed.store(false, Ordering::SeqCst);
        let mut st = self.state();
        st.batch_calls = 0;
        st.crash = Some(crash);
    }

    async fn mount(&self) {
        let h = |f: fn(&PhotosMock, &Request) -> ResponseTemplate| Handler {
            mock: self.clone(),
            f,
        };
        Mock::given(method("POST"))
            .and(path("/v1/albums"))
            .respond_with(h(PhotosMock::albums_create))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/albums"))
            .respond_with(h(PhotosMock::albums_list))
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/uploads"))
            .respond_with(h(PhotosMock::uploads))
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/mediaItems:batchCreate"))
            .respond_with(h(PhotosMock::batch_create))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/mediaItems"))
            .respond_with(h(PhotosMock::items_list))
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/v1/albums/[^/]+:batchAddMediaItems$"))
            .respond_with(h(PhotosMock::batch_add))
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/portabilityArchive:initiate"))
            .respond_with(h(PhotosMock::initiate))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(
                r"^/v1/archiveJobs/[^/]+/portabilityArchiveState$",
            ))
            .respond_with(h(PhotosMock::archive_state))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/storage/[^/]+/part-\d+\.zip$"))
            .respond_with(h(PhotosMock::archive_part))
            .mount(&self.server)
            .await;
    }

    fn next_id(st: &mut State, prefix: &str) -> String {
        st.next += 1;
        format!("{prefix}{:06}", st.next)
    }

    fn albums_create(&self, req: &Request) -> ResponseTemplate {
        if !bearer_ok(req) {
            return unauthenticated();
        }
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
        };
        let Some(title) = body["album"]["title"].as_str() else {
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid album title.");
        };
        if title.chars().count() > 500 {
            return rpc_error(400, "INVALID_ARGUMENT", "Album title too long.");
        }
        let mut st = self.state();
        let id = Self::next_id(&mut st, "ALB");
        st.albums.push(MockAlbum {
            id: id.clone(),
            title: title.to_string(),
        });
        ResponseTemplate::new(200).set_body_json(json!({
            "id": id, "title": title,
            "productUrl": format!("https://photos.google.com/lr/album/{id}"),
            "isWriteable": true, "mediaItemsCount": "0",
        }))
    }

    fn page<T: Clone>(
        list: &[T],
        req: &Request,
        max: usize,
    ) -> Result<(Vec<T>, Option<String>), ResponseTemplate> {
        let size = query(req, "pageSize")
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(20)
            .clamp(1, max);
        let start = match query(req, "pageToken") {
            None => 0,
            Some(t) => match t.strip_prefix("pt-").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => n,
                None => return Err(rpc_error(400, "INVALID_ARGUMENT", "Invalid page token.")),
            },
        };
        let end = (start + size).min(list.len());
        let next = (end < list.len()).then(|| format!("pt-{end}"));
        Ok((list[start.min(end)..end].to_vec(), next))
    }

    fn albums_list(&self, req: &Request) -> ResponseTemplate {
        if !bearer_ok(req) {
            return unauthenticated();
        }
        let st = self.state();
        let (page, next) = match Self::page(&st.albums, req, 50) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let albums: Vec<Value> = page
            .iter()
            .map(|a| {
                let count = st.items.iter().filter(|i| i.albums.contains(&a.id)).count();
                json!({"id": a.id, "title": a.title, "isWriteable": true,
                       "mediaItemsCount": count.to_string(),
                       "productUrl": format!("https://photos.google.com/lr/album/{}", a.id)})
            })
            .collect();
        let mut body = json!({ "albums": albums });
        if let Some(n) = next {
            body["nextPageToken"] = json!(n);
        }
        ResponseTemplate::new(200).set_body_json(body)
    }

    fn token_response(token: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_raw(token.as_bytes().to_vec(), "text/plain")
    }

    fn uploads(&self, req: &Request) -> ResponseTemplate {
        if !bearer_ok(req) {
            return unauthenticated();
        }
        let mut st = self.state();
        if st.storage_full {
            return rpc_error(400, "INVALID_ARGUMENT", STORAGE_FULL_MESSAGE);
        }
        let command = header(req, "x-goog-upload-command").unwrap_or_default();
        if let Some(session_id) = query(req, "upload_id") {
            let keep = st.keep_bytes;
            let drop_half = std::mem::take(&mut st.drop_next_chunk_half);
            let Some(s) = st.sessions.get_mut(&session_id) else {
                return rpc_error(404, "NOT_FOUND", "No such upload session.");
            };
            if command == "query" {
                let (rec, size) = (s.received, s.size);
                st.queries += 1;
                return ResponseTemplate::new(200)
                    .insert_header(
                        "X-Goog-Upload-Status",
                        if rec == size { "final" } else { "active" },
                    )
                    .insert_header("X-Goog-Upload-Size-Received", rec.to_string());
            }
            let offset = header(req, "x-goog-upload-offset").and_then(|o| o.parse::<u64>().ok());
            if offset != Some(s.received) {
                return rpc_error(400, "INVALID_ARGUMENT", "Upload offset does not match.");
            }
            let finalize = command == "upload, finalize";
            if command != "upload" && !finalize {
                return rpc_error(400, "INVALID_ARGUMENT", "Unknown upload command.");
            }
            let mut body: &[u8] = &req.body;
            if !finalize && !body.len().is_multiple_of(GRANULARITY) {
                return rpc_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Chunk is not a multiple of the granularity.",
                );
            }
            if drop_half {
                // The connection "broke" half way: keep half, answer 503.
                body = &body[..body.len() / 2 / GRANULARITY * GRANULARITY];
            }
            if keep {
                s.hasher.update(body);
            } else {
                s.fnv = fnv1a(s.fnv, body);
            }
            s.received += body.len() as u64;
            if let Some(b) = s.bytes.as_mut().filter(|_| keep) {
                b.extend_from_slice(body);
            }
            let n = req.body.len();
            st.chunks += 1;
            st.max_chunk = st.max_chunk.max(n);
            if drop_half {
                return rpc_error(503, "UNAVAILABLE", "The service is currently unavailable.");
            }
            if !finalize {
                return ResponseTemplate::new(200).insert_header("X-Goog-Upload-Status", "active");
            }
            let s = st.sessions.remove(&session_id).expect("present");
            if s.received != s.size {
                return rpc_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Upload size does not match X-Goog-Upload-Raw-Size.",
                );
            }
            let token = Self::next_id(&mut st, "UPT");
            st.uploads.insert(
                token.clone(),
                Upload {
                    mime: s.mime,
                    sha256: if keep {
                        hex::encode(s.hasher.finalize())
                    } else {
                        format!("fnv1a64:{:016x}", s.fnv)
                    },
                    len: s.received,
                    bytes: s.bytes,
                    used: false,
                },
            );
            return Self::token_response(&token).insert_header("X-Goog-Upload-Status", "final");
        }
        let protocol = header(req, "x-goog-upload-protocol").unwrap_or_default();
        let mime = header(req, "x-goog-upload-content-type")
            .unwrap_or_else(|| "application/octet-stream".into());
        match (protocol.as_str(), command.as_str()) {
            ("raw", _) => {
                st.uploads_raw += 1;
                let token = Self::next_id(&mut st, "UPT");
                let keep = st.keep_bytes;
                st.uploads.insert(
                    token.clone(),
                    Upload {
                        mime,
                        sha256: hex::encode(Sha256::digest(&req.body)),
                        len: req.body.len() as u64,
                        bytes: keep.then(|| req.body.clone()),
                        used: false,
                    },
                );
                Self::token_response(&token)
            }
            ("resumable", "start") => {
                let Some(size) = header(req, "x-goog-upload-raw-size").and_then(|s| s.parse().ok())
                else {
                    return rpc_error(
                        400,
                        "INVALID_ARGUMENT",
                        "X-Goog-Upload-Raw-Size is required.",
                    );
                };
                let id = Self::next_id(&mut st, "SES");
                let keep = st.keep_bytes;
                st.sessions.insert(
                    id.clone(),
                    Session {
                        mime,
                        size,
                        received: 0,
                        hasher: Sha256::new(),
                        fnv: FNV_START,
                        bytes: keep.then(Vec::new),
                    },
                );
                let url = format!(
                    "{}/v1/uploads?upload_id={id}&upload_protocol=resumable",
                    st.uri
                );
                ResponseTemplate::new(200)
                    .insert_header("X-Goog-Upload-URL", url)
                    .insert_header("X-Goog-Upload-Chunk-Granularity", GRANULARITY.to_string())
                    .insert_header("X-Goog-Upload-Status", "active")
            }
            _ => rpc_error(400, "INVALID_ARGUMENT", "Unknown upload protocol."),
        }
    }

    fn item_json(i: &MockItem, uri: &str) -> Value {
        json!({
            "id": i.id,
            "description": i.description.clone().unwrap_or_default(),
            "productUrl": format!("https://photos.google.com/lr/photo/{}", i.id),
            "baseUrl": format!("{uri}/lh3/{}", i.id),
            "mimeType": i.mime,
            "filename": i.filename,
            "mediaMetadata": {"creationTime": "2024-05-01T10:00:00Z", "width": "4032", "height": "3024",
                              "photo": {}},
        })
    }

    fn batch_create(&self, req: &Request) -> ResponseTemplate {
        if !bearer_ok(req) {
            return unauthenticated();
        }
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
        };
        let mut st = self.state();
        st.batch_calls += 1;
        if std::mem::take(&mut st.rate_limit_next_batch) {
            return rpc_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user' of service 'photoslibrary.googleapis.com'.")
                .insert_header("Retry-After", "1");
        }
        let new_items = body["newMediaItems"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if new_items.is_empty() || new_items.len() > 50 {
            return rpc_error(
                400,
                "INVALID_ARGUMENT",
                "Request must contain between 1 and 50 newMediaItems.",
            );
        }
        let album = body["albumId"].as_str().map(str::to_string);
        if let Some(a) = &album
            && !st.albums.iter().any(|x| &x.id == a)
        {
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid album ID.");
        }
        let crash = st.crash.filter(|c| c.nth == st.batch_calls);
        if let Some(c) = crash {
            st.crash = None;
            if !c.after {
                drop(st);
                self.fire_crash();
                return ResponseTemplate::new(500).set_delay(Duration::from_secs(3600));
            }
        }
        st.batch_sizes.push(new_items.len());
        let uri = st.uri.clone();
        let mut results = Vec::new();
        for n in &new_items {
            let token = n["simpleMediaItem"]["uploadToken"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let file_name = n["simpleMediaItem"]["fileName"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let description = n["description"].as_str().map(str::to_string);
            if std::mem::take(&mut st.fail_next_item_internal) {
                results.push(json!({"uploadToken": token,
                    "status": {"code": 13, "message": "Internal error"}}));
                continue;
            }
            let valid = st.uploads.get(&token).map(|u| !u.used).unwrap_or(false);
            if !valid {
                st.rejected_tokens += 1;
                results.push(json!({"uploadToken": token,
                    "status": {"code": 3, "message": "Failed: There was an error while trying to create this media item."}}));
                continue;
            }
            let u = st.uploads.get_mut(&token).expect("checked");
            u.used = true;
            let item = MockItem {
                id: String::new(),
                filename: file_name,
                description,
                mime: u.mime.clone(),
                albums: album.iter().cloned().collect(),
                sha256: u.sha256.clone(),
                len: u.len,
                bytes: u.bytes.take(),
            };
            let id = Self::next_id(&mut st, "MI");
            let item = MockItem { id, ..item };
            results.push(
                json!({"uploadToken": token, "status": {"message": "Success"},
                                "mediaItem": Self::item_json(&item, &uri)}),
            );
            st.items.push(item);
        }
        if std::mem::take(&mut st.lose_next_batch_answer) {
            return rpc_error(503, "UNAVAILABLE", "The service is currently unavailable.");
        }
        if let Some(c) = crash
            && c.after
        {
            drop(st);
            self.fire_crash();
            return ResponseTemplate::new(500).set_delay(Duration::from_secs(3600));
        }
        ResponseTemplate::new(200).set_body_json(json!({"newMediaItemResults": results}))
    }

    fn fire_crash(&self) {
        self.crashed.store(true, Ordering::SeqCst);
        self.crash_notify.notify_waiters();
    }

    fn items_list(&self, req: &Request) -> ResponseTemplate {
        if !bearer_ok(req) {
            return unauthenticated();
        }
        let st = self.state();
        let (page, next) = match Self::page(&st.items, req, 100) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let items: Vec<Value> = page.iter().map(|i| Self::item_json(i, &st.uri)).collect();
        let mut body = json!({ "mediaItems": items });
        if let Some(n) = next {
            body["nextPageToken"] = json!(n);
        }
        ResponseTemplate::new(200).set_body_json(body)
    }

    fn batch_add(&self, req: &Request) -> ResponseTemplate {
        if !bearer_ok(req) {
            return unauthenticated();
        }
        let album = req
            .url
            .path()
            .trim_start_matches("/v1/albums/")
            .trim_end_matches(":batchAddMediaItems")
            .to_string();
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
        };
        let ids: Vec<String> = body["mediaItemIds"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() || ids.len() > 50 {
            return rpc_error(
                400,
                "INVALID_ARGUMENT",
                "Request must contain between 1 and 50 mediaItemIds.",
            );
        }
        let mut st = self.state();
        if !st.albums.iter().any(|a| a.id == album) {
            return rpc_error(404, "NOT_FOUND", "Requested entity was not found.");
        }
        for id in &ids {
            match st.items.iter_mut().find(|i| &i.id == id) {
                Some(i) => {
                    if !i.albums.contains(&album) {
                        i.albums.push(album.clone());
                    }
                }
                None => return rpc_error(400, "INVALID_ARGUMENT", "Invalid media item ID."),
            }
        }
        ResponseTemplate::new(200).set_body_json(json!({}))
    }

    fn initiate(&self, req: &Request) -> ResponseTemplate {
        if !bearer_ok(req) {
            return unauthenticated();
        }
        let mut st = self.state();
        if st.portability_forbidden {
            return rpc_error(
                403,
                "PERMISSION_DENIED",
                "Requested resources are not authorized by the OAuth token.",
            );
        }
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
        };
        if body["resources"]
            .as_array()
            .map(|a| a.is_empty())
            .unwrap_or(true)
        {
            return rpc_error(400, "INVALID_ARGUMENT", "resources must not be empty.");
        }
        st.portability_initiates += 1;
        let id = format!(
            "{:08x}-aaaa-bbbb-cccc-{:012x}",
            st.portability_initiates, st.next
        );
        st.jobs.insert(id.clone(), 0);
        ResponseTemplate::new(200)
            .set_body_json(json!({"archiveJobId": id, "accessType": "ACCESS_TYPE_ONE_TIME"}))
    }

    fn archive_state(&self, req: &Request) -> ResponseTemplate {
        if !bearer_ok(req) {
            return unauthenticated();
        }
        let job = req
            .url
            .path()
            .trim_start_matches("/v1/archiveJobs/")
            .trim_end_matches("/portabilityArchiveState")
            .to_string();
        let mut st = self.state();
        let parts = st.archive_parts;
        let uri = st.uri.clone();
        let Some(polls) = st.jobs.get_mut(&job) else {
            return rpc_error(404, "NOT_FOUND", "Archive job not found.");
        };
        *polls += 1;
        let name = format!("archiveJobs/{job}/portabilityArchiveState");
        if *polls == 1 {
            return ResponseTemplate::new(200)
                .set_body_json(json!({"state": "IN_PROGRESS", "name": name}));
        }
        let urls: Vec<String> = (1..=parts)
            .map(|p| {
                format!("{uri}/storage/{job}/part-{p}.zip?X-Goog-Signature=abc&X-Goog-Expires=3600")
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({
            "state": "COMPLETE", "urls": urls, "name": name,
            "exportTime": "2025-01-01T00:00:00Z"}))
    }

    fn archive_part(&self, req: &Request) -> ResponseTemplate {
        // Signed Cloud Storage URLs take no Authorization header.
        if req.headers.contains_key("authorization") {
            return ResponseTemplate::new(400).set_body_raw(
                "<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidArgument</Code><Message>Invalid argument.</Message><Details>Multiple authentication mechanisms are not allowed.</Details></Error>",
                "application/xml",
            );
        }
        let p = req.url.path().to_string();
        let part: usize = p
            .rsplit("part-")
            .next()
            .and_then(|s| s.trim_end_matches(".zip").parse().ok())
            .unwrap_or(0);
        let st = self.state();
        ResponseTemplate::new(200).set_body_raw(takeout_zip(&st, part), "application/zip")
    }
}

/// The library as a Takeout zip part (1-based): items are spread over the
/// parts; each part holds its items' year-folder copy, album copies and
/// sidecars, and every album's `metadata.json`.
pub fn takeout_zip(st: &State, part: usize) -> Vec<u8> {
    let parts = st.archive_parts.max(1);
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let safe = |s: &str| s.replace(['/', '\\'], "_");
    let gp = "Takeout/Google Photos";
    if part == 1 {
        for a in &st.albums {
            z.start_file(format!("{gp}/{}/metadata.json", safe(&a.title)), opts)
                .unwrap();
            z.write_all(
                serde_json::to_string(&json!({"title": a.title, "description": "",
                    "access": "protected", "date": {"timestamp": "1714557600", "formatted": "May 1, 2024"}}))
                .unwrap()
                .as_bytes(),
            )
            .unwrap();
        }
        z.start_file(format!("{gp}/archive_browser.html"), opts)
            .unwrap();
        z.write_all(b"<html></html>").unwrap();
    }
    let mut used: HashMap<(String, String), u32> = HashMap::new();
    for (n, i) in st.items.iter().enumerate() {
        if n % parts != part.saturating_sub(1) {
            continue;
        }
        let sidecar = serde_json::to_string(&json!({
            "title": i.filename,
            "description": i.description.clone().unwrap_or_default(),
            "imageViews": "0",
            "creationTime": {"timestamp": "1714557600", "formatted": "May 1, 2024, 10:00:00 AM UTC"},
            "photoTakenTime": {"timestamp": "1714557600", "formatted": "May 1, 2024, 10:00:00 AM UTC"},
            "geoData": {"latitude": 0.0, "longitude": 0.0, "altitude": 0.0, "latitudeSpan": 0.0, "longitudeSpan": 0.0},
            "url": format!("https://photos.google.com/photo/{}", i.id),
        }))
        .unwrap();
        let mut folders = vec!["Photos from 2024".to_string()];
        for a in &i.albums {
            if let Some(al) = st.albums.iter().find(|x| &x.id == a) {
                folders.push(safe(&al.title));
            }
        }
        for f in folders {
            // Takeout gives a second file of the same name in a folder a
            // counter, on the file and on its sidecar.
            let count = used.entry((f.clone(), i.filename.clone())).or_insert(0u32);
            let (file, side) = if *count == 0 {
                (
                    i.filename.clone(),
                    format!("{}.supplemental-metadata.json", i.filename),
                )
            } else {
                let (stem, ext) = match i.filename.rfind('.') {
                    Some(d) => (&i.filename[..d], &i.filename[d..]),
                    None => (i.filename.as_str(), ""),
                };
                (
                    format!("{stem}({count}){ext}"),
                    format!("{}.supplemental-metadata({count}).json", i.filename),
                )
            };
            *count += 1;
            z.start_file(format!("{gp}/{f}/{file}"), opts).unwrap();
            z.write_all(i.bytes.as_deref().unwrap_or_default()).unwrap();
            z.start_file(format!("{gp}/{f}/{side}"), opts).unwrap();
            z.write_all(sidecar.as_bytes()).unwrap();
        }
    }
    z.finish().unwrap().into_inner()
}

struct Handler {
    mock: PhotosMock,
    f: fn(&PhotosMock, &Request) -> ResponseTemplate,
}

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        (self.f)(&self.mock, req)
    }
}
