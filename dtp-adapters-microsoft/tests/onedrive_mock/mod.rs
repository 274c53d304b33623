//! A stateful fake of the Microsoft Graph drive endpoints OneDrive photos
//! use, on a loopback wiremock server. It answers with the documented shapes
//! (see `tests/fixtures/onedrive/README.md`) and enforces what Graph
//! enforces: a valid bearer token on Graph calls and NONE on the
//! pre-authenticated upload and download URLs (Graph answers 401 when one is
//! sent to an `uploadUrl`), `@odata.nextLink` paging with an opaque
//! `$skiptoken`, conflict behaviours (`fail` → 409 `nameAlreadyExists`),
//! case-insensitive names, simple uploads up to 4 MiB, upload-session
//! fragments in order, multiples of 320 KiB except the last, under 60 MiB,
//! with the exact `Content-Range`, 416 for ranges the session does not
//! expect, and a `302` from `/content` to the download URL.
//!
//! Bytes are hashed (SHA-256) as they arrive; they are kept only for files up
//! to `keep_limit`, so a 300 MiB upload costs the server no memory.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const UNIT: u64 = 320 * 1024;
const SIMPLE_LIMIT: usize = 4 * 1024 * 1024;
const MAX_FRAGMENT: u64 = 60 * 1024 * 1024;

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/onedrive/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let mut v: Value = serde_json::from_str(&text).expect("fixture json");
    if let Some(m) = v.as_object_mut() {
        m.remove("_source");
    }
    v
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    pub folder: bool,
    pub description: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub content: Option<Vec<u8>>,
    pub created: String,
    pub fs_created: Option<String>,
    pub mime: Option<String>,
    pub special: Option<&'static str>,
}

#[derive(Debug)]
struct Session {
    parent: String,
    name: String,
    /// The total, from `fileSize` or the first fragment.
    size: Option<u64>,
    received: u64,
    hasher: Sha256,
    content: Option<Vec<u8>>,
    description: Option<String>,
    fs_created: Option<String>,
    conflict: String,
    fragments: u64,
}

/// A fragment `PUT` the server saw: session, first and last byte, answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentLog {
    pub session: String,
    pub start: u64,
    pub end: u64,
    pub status: u16,
}

#[derive(Default)]
pub struct Faults {
    /// Route name → how many times to answer 429 (Retry-After: 1) first.
    pub throttle: HashMap<&'static str, u32>,
    /// Route name → how many times to answer 503 (Retry-After: 1) first.
    pub unavailable: HashMap<&'static str, u32>,
    /// Tokens that have expired (answered 401 InvalidAuthenticationToken).
    pub expired_tokens: Vec<String>,
    /// The n-th fragment (1-based, all sessions) is stored, then answered
    /// 503 with Retry-After: 1 (the client must ask the session and go on).
    pub fail_after_storing: Option<u64>,
    /// The n-th fragment is acknowledged (202) but then reported missing
    /// by the session (its bytes dropped): the next fragment gets 416 and
    /// the client must ask the session and send the missing range again.
    pub lose_fragment: Option<u64>,
    /// After storing the n-th fragment, notify and hold the answer back for
    /// a long time (a process that dies there never sees it).
    pub hang_after: Option<(u64, Arc<Notify>)>,
    /// Download URLs handed out in listings have expired (401).
    pub expired_download_urls: bool,
    /// Every upload answers 507 quotaLimitReached.
    pub quota_full: bool,
    /// Every Graph call answers 403 accessDenied.
    pub forbidden: bool,
    /// The children listing answers truncated JSON.
    pub broken_listing: bool,
    /// Another client creates a file of this name (with these bytes) just
    /// before the first upload of that name reaches the server.
    pub sneak_in: Option<(String, Vec<u8>)>,
    /// After storing the n-th fragment the session expires: every later
    /// request to it gets 404 itemNotFound / uploadSessionNotFound.
    pub expire_session_after: Option<u64>,
    /// Read-only scopes: `GET /me/drive/special/photos` does not create a
    /// missing Photos folder and answers 404 itemNotFound.
    pub read_only: bool,
}

pub struct State {
    pub base: String,
    pub valid_tokens: Vec<String>,
    pub nodes: HashMap<String, Node>,
    sessions: HashMap<String, Session>,
    next_id: u64,
    pub page_size: usize,
    pub keep_limit: u64,
    pub faults: Faults,
    pub fragments: Vec<FragmentLog>,
    pub fragment_count: u64,
    pub requests: HashMap<&'static str, u64>,
    pub auth_on_preauthenticated: u64,
    pub next_links_followed: u64,
    pub simple_uploads: u64,
    pub sessions_created: u64,
    pub status_queries: u64,
    pub downloads_via_content: u64,
    pub clock: u64,
    /// For big uploads: each fragment is compared byte for byte with these
    /// generated bytes at its offset (instead of hashed, which is slow in
    /// debug builds); `verified` counts matching bytes, `mismatched` the
    /// fragments that differ.
    pub verify_against: Option<dtp_testkit::SampleBytes>,
    pub verified: u64,
    pub mismatched: u64,
}

impl State {
    fn now(&mut self) -> String {
        self.clock += 1;
        let base = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
        (base + chrono::Duration::seconds(self.clock as i64))
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:04X}", self.next_id)
    }

    fn children(&self, parent: &str) -> Vec<&Node> {
        let mut v: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| n.parent.as_deref() == Some(parent))
            .collect();
        v.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.id.cmp(&b.id))
        });
        v
    }

    fn child_named(&self, parent: &str, name: &str) -> Option<&Node> {
        let lower = name.to_lowercase();
        self.nodes
            .values()
            .find(|n| n.parent.as_deref() == Some(parent) && n.name.to_lowercase() == lower)
    }

    fn item_json(&self, n: &Node) -> Value {
        let mut v = json!({
            "id": n.id,
            "name": n.name,
            "size": n.size,
            "eTag": format!("\"{{{}}},1\"", n.id),
            "createdDateTime": n.created,
            "lastModifiedDateTime": n.created,
            "fileSystemInfo": {
                "createdDateTime": n.fs_created.clone().unwrap_or_else(|| n.created.clone()),
                "lastModifiedDateTime": n.fs_created.clone().unwrap_or_else(|| n.created.clone()),
            },
        });
        if let Some(p) = &n.parent {
            v["parentReference"] = json!({ "driveId": "d1", "driveType": "personal", "id": p });
        }
        if let Some(d) = &n.description {
            v["description"] = json!(d);
        }
        if n.folder {
            v["folder"] = json!({ "childCount": self.children(&n.id).len() });
        } else {
            // No `hashes`: Personal drives give a SHA-1 the fake cannot
            // compute without another crate, and the adapter reads none.
            v["file"] = json!({
                "mimeType": n.mime.clone().unwrap_or_else(|| "application/octet-stream".into()),
            });
            v["@microsoft.graph.downloadUrl"] = json!(format!(
                "{}/download/{}?tempauth={}",
                self.base,
                n.id,
                if self.faults.expired_download_urls {
                    "expired"
                } else {
                    "fresh"
                }
            ));
        }
        if let Some(s) = n.special {
            v["specialFolder"] = json!({ "name": s });
        }
        v
    }

    fn unique_name(&self, parent: &str, name: &str) -> String {
        if self.child_named(parent, name).is_none() {
            return name.to_string();
        }
        let (stem, ext) = match name.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
            _ => (name.to_string(), String::new()),
        };
        (1..)
            .map(|i| format!("{stem} {i}{ext}"))
            .find(|n| self.child_named(parent, n).is_none())
            .expect("a free name")
    }

    /// Files (not folders) under `folder`, recursively: (path, node).
    pub fn files_under(&self, folder: &str) -> Vec<(String, Node)> {
        let mut out = Vec::new();
        for c in self.children(folder) {
            if c.folder {
                for (p, n) in self.files_under(&c.id) {
                    out.push((format!("{}/{p}", c.name), n));
                }
            } else {
                out.push((c.name.clone(), c.clone()));
            }
        }
        out
    }

    fn faults_free_sample(&self) -> Option<dtp_testkit::SampleBytes> {
        self.verify_against.clone()
    }

    pub fn folder_named(&self, parent: &str, name: &str) -> Option<Node> {
        self.child_named(parent, name).filter(|n| n.folder).cloned()
    }
}

fn mime_for(name: &str) -> String {
    let ext = name
        .rsplit_once('.')
        .map(|p| p.1.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "heic" => "image/heic",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        _ => "application/octet-stream",
    }
    .to_string()
}

fn error(status: u16, code: &str, inner: Option<&str>) -> ResponseTemplate {
    let mut e = json!({ "error": { "code": code, "message": "fake Graph error",
        "innerError": { "date": "2026-01-01T00:00:00", "request-id": "00000000-0000-4000-8000-000000000000" } } });
    if let Some(i) = inner {
        e["error"]["innerError"]["code"] = json!(i);
    }
    ResponseTemplate::new(status).set_body_json(e)
}

fn fixture_error(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(fixture(name))
}

fn query(req: &Request) -> HashMap<String, String> {
    req.url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The fake Graph service.
#[derive(Clone)]
pub struct FakeOneDrive {
    pub server: Arc<MockServer>,
    pub state: Arc<Mutex<State>>,
}

struct Route(Arc<Mutex<State>>);

impl Respond for Route {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.0.lock().unwrap();
        handle(&mut st, req)
    }
}

impl FakeOneDrive {
    /// A fake drive accepting `token`, with an empty root.
    pub async fn start(token: &str) -> Self {
        Self::start_with(token, false).await
    }

    /// The same; `quiet` disables wiremock's request recording (big bodies).
    pub async fn start_with(token: &str, quiet: bool) -> Self {
        let server = if quiet {
            MockServer::builder()
                .disable_request_recording()
                .start()
                .await
        } else {
            MockServer::start().await
        };
        let mut nodes = HashMap::new();
        nodes.insert(
            "ROOT".to_string(),
            Node {
                id: "ROOT".into(),
                name: "root".into(),
                parent: None,
                folder: true,
                description: None,
                size: 0,
                sha256: String::new(),
                content: None,
                created: "2025-01-01T00:00:00Z".into(),
                fs_created: None,
                mime: None,
                special: None,
            },
        );
        let state = Arc::new(Mutex::new(State {
            base: server.uri(),
            valid_tokens: vec![token.to_string()],
            nodes,
            sessions: HashMap::new(),
            next_id: 0,
            page_size: 10,
            keep_limit: 16 * 1024 * 1024,
            faults: Faults::default(),
            fragments: Vec::new(),
            fragment_count: 0,
            requests: HashMap::new(),
            auth_on_preauthenticated: 0,
            next_links_followed: 0,
            simple_uploads: 0,
            sessions_created: 0,
            status_queries: 0,
            downloads_via_content: 0,
            clock: 0,
            verify_against: None,
            verified: 0,
            mismatched: 0,
        }));
        Mock::given(any())
            .respond_with(Route(state.clone()))
            .mount(&server)
            .await;
        FakeOneDrive {
            server: Arc::new(server),
            state,
        }
    }

    /// The Graph base URL to configure the adapter with.
    pub fn base(&self) -> String {
        format!("{}/v1.0/", self.server.uri())
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// The Photos special folder's id (created if missing).
    pub fn photos_id(&self) -> String {
        self.with(ensure_photos)
    }

    /// Adds a file with `bytes` under `parent`.
    pub fn add_file(&self, parent: &str, name: &str, bytes: &[u8], taken: Option<&str>) -> String {
        self.with(|st| {
            let id = st.new_id("I");
            let created = st.now();
            let node = Node {
                id: id.clone(),
                name: name.into(),
                parent: Some(parent.into()),
                folder: false,
                description: None,
                size: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(bytes)),
                content: Some(bytes.to_vec()),
                created,
                fs_created: taken.map(str::to_string),
                mime: Some(mime_for(name)),
                special: None,
            };
            st.nodes.insert(id.clone(), node);
            id
        })
    }

    /// Adds a folder under `parent`.
    pub fn add_folder(&self, parent: &str, name: &str, description: Option<&str>) -> String {
        self.with(|st| {
            let id = st.new_id("F");
            let created = st.now();
            st.nodes.insert(
                id.clone(),
                Node {
                    id: id.clone(),
                    name: name.into(),
                    parent: Some(parent.into()),
                    folder: true,
                    description: description.map(str::to_string),
                    size: 0,
                    sha256: String::new(),
                    content: None,
                    created,
                    fs_created: None,
                    mime: None,
                    special: None,
                },
            );
            id
        })
    }

    pub fn count(&self, route: &str) -> u64 {
        self.with(|st| st.requests.get(route).copied().unwrap_or(0))
    }
}

fn ensure_photos(st: &mut State) -> String {
    if let Some(n) = st.nodes.values().find(|n| n.special == Some("photos")) {
        return n.id.clone();
    }
    let created = st.now();
    st.nodes.insert(
        "PHOTOS".into(),
        Node {
            id: "PHOTOS".into(),
            name: "Pictures".into(),
            parent: Some("ROOT".into()),
            folder: true,
            description: None,
            size: 0,
            sha256: String::new(),
            content: None,
            created,
            fs_created: None,
            mime: None,
            special: Some("photos"),
        },
    );
    "PHOTOS".into()
}

fn bump(st: &mut State, route: &'static str) -> Option<ResponseTemplate> {
    *st.requests.entry(route).or_default() += 1;
    if let Some(n) = st.faults.throttle.get_mut(route)
        && *n > 0
    {
        *n -= 1;
        return Some(
            fixture_error(429, "error.throttled-429.json").insert_header("Retry-After", "1"),
        );
    }
    if let Some(n) = st.faults.unavailable.get_mut(route)
        && *n > 0
    {
        *n -= 1;
        return Some(error(503, "serviceNotAvailable", None).insert_header("Retry-After", "1"));
    }
    None
}

fn check_token(st: &State, req: &Request) -> Option<ResponseTemplate> {
    let token = header(req, "authorization").and_then(|h| h.strip_prefix("Bearer "));
    match token {
        Some(t) if st.faults.expired_tokens.iter().any(|e| e == t) => Some(fixture_error(
            401,
            "error.InvalidAuthenticationToken-401.json",
        )),
        Some(t) if st.valid_tokens.iter().any(|v| v == t) => {
            if st.faults.forbidden {
                Some(error(403, "accessDenied", None))
            } else {
                None
            }
        }
        _ => Some(fixture_error(
            401,
            "error.InvalidAuthenticationToken-401.json",
        )),
    }
}

fn handle(st: &mut State, req: &Request) -> ResponseTemplate {
    let path = req.url.path().to_string();
    let method = req.method.as_str().to_string();
    // Pre-authenticated URLs: no bearer token allowed.
    if let Some(rest) = path.strip_prefix("/up/") {
        if header(req, "authorization").is_some() {
            st.auth_on_preauthenticated += 1;
            return error(401, "unauthenticated", None);
        }
        return upload_url(st, req, &method, rest.to_string());
    }
    if let Some(id) = path.strip_prefix("/download/") {
        if header(req, "authorization").is_some() {
            st.auth_on_preauthenticated += 1;
            return error(401, "unauthenticated", None);
        }
        if let Some(r) = bump(st, "download") {
            return r;
        }
        let q = query(req);
        if q.get("tempauth").map(String::as_str) != Some("fresh") {
            return error(401, "unauthenticated", None);
        }
        return match st.nodes.get(id).and_then(|n| n.content.clone()) {
            Some(bytes) => ResponseTemplate::new(200)
                .insert_header("Content-Type", "application/octet-stream")
                .set_body_bytes(bytes),
            None => error(404, "itemNotFound", None),
        };
    }
    let Some(api) = path.strip_prefix("/v1.0/") else {
        return error(404, "invalidRequest", None);
    };
    let api = api.to_string();
    if let Some(r) = check_token(st, req) {
        return r;
    }
    if api == "me/drive/special/photos" && method == "GET" {
        if let Some(r) = bump(st, "special") {
            return r;
        }
        if st.faults.read_only && !st.nodes.values().any(|n| n.special == Some("photos")) {
            return error(404, "itemNotFound", None);
        }
        let id = ensure_photos(st);
        let n = st.nodes[&id].clone();
        return ResponseTemplate::new(200).set_body_json(st.item_json(&n));
    }
    if api == "me/drive/root" && method == "GET" {
        let n = st.nodes["ROOT"].clone();
        return ResponseTemplate::new(200).set_body_json(st.item_json(&n));
    }
    if let Some(p) = api.strip_prefix("me/drive/root:/")
        && method == "GET"
    {
        let mut at = "ROOT".to_string();
        for seg in p.trim_end_matches(':').split('/') {
            match st.child_named(&at, &decode(seg)) {
                Some(n) => at = n.id.clone(),
                None => return error(404, "itemNotFound", None),
            }
        }
        let n = st.nodes[&at].clone();
        return ResponseTemplate::new(200).set_body_json(st.item_json(&n));
    }
    let Some(rest) = api.strip_prefix("me/drive/items/") else {
        return error(400, "invalidRequest", None);
    };
    // Path addressing: {id}:/{name}[:/{action}]
    if let Some((id, tail)) = rest.split_once(":/") {
        let id = decode(id);
        let (name, action) = match tail.split_once(":/") {
            Some((n, a)) => (decode(n), Some(a.to_string())),
            None => (decode(tail.trim_end_matches(':')), None),
        };
        if !st.nodes.get(&id).is_some_and(|n| n.folder) {
            return error(404, "itemNotFound", None);
        }
        return match (method.as_str(), action.as_deref()) {
            ("GET", None) => {
                if let Some(r) = bump(st, "get_by_path") {
                    return r;
                }
                match st.child_named(&id, &name).cloned() {
                    Some(n) => ResponseTemplate::new(200).set_body_json(st.item_json(&n)),
                    None => error(404, "itemNotFound", None),
                }
            }
            ("PUT", Some("content")) => simple_upload(st, req, &id, &name),
            ("POST", Some("createUploadSession")) => create_session(st, req, &id, &name),
            _ => error(400, "invalidRequest", None),
        };
    }
    let (id, action) = match rest.split_once('/') {
        Some((i, a)) => (decode(i), Some(a.to_string())),
        None => (decode(rest), None),
    };
    match (method.as_str(), action.as_deref()) {
        ("GET", None) => match st.nodes.get(&id).cloned() {
            Some(n) => ResponseTemplate::new(200).set_body_json(st.item_json(&n)),
            None => error(404, "itemNotFound", None),
        },
        ("GET", Some("children")) => list_children(st, req, &id),
        ("POST", Some("children")) => create_folder(st, req, &id),
        ("PATCH", None) => patch_item(st, req, &id),
        ("GET", Some("content")) => {
            if let Some(r) = bump(st, "content") {
                return r;
            }
            st.downloads_via_content += 1;
            match st.nodes.get(&id) {
                Some(n) if !n.folder => ResponseTemplate::new(302).insert_header(
                    "Location",
                    format!("{}/download/{}?tempauth=fresh", st.base, n.id).as_str(),
                ),
                _ => error(404, "itemNotFound", None),
            }
        }
        _ => error(400, "invalidRequest", None),
    }
}

fn list_children(st: &mut State, req: &Request, id: &str) -> ResponseTemplate {
    if let Some(r) = bump(st, "children") {
        return r;
    }
    if st.faults.broken_listing {
        return ResponseTemplate::new(200)
            .insert_header("Content-Type", "application/json")
            .set_body_string("{\"value\":[{\"id\":\"x\",\"name\":");
    }
    if !st.nodes.get(id).is_some_and(|n| n.folder) {
        return error(404, "itemNotFound", None);
    }
    let q = query(req);
    let top = q
        .get("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(st.page_size)
        .clamp(1, 200);
    let offset = match q.get("$skiptoken") {
        None => 0,
        Some(t) => {
            st.next_links_followed += 1;
            match t
                .strip_prefix("Paged=TRUE&p_ID=")
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(o) => o,
                None => return error(400, "invalidRequest", None),
            }
        }
    };
    let all: Vec<Node> = st.children(id).into_iter().cloned().collect();
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(top)
        .map(|n| st.item_json(n))
        .collect();
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('me')/drive/items('{id}')/children"),
        "value": page,
    });
    if offset + top < all.len() {
        let mut link =
            url::Url::parse(&format!("{}/v1.0/me/drive/items/{id}/children", st.base)).unwrap();
        link.query_pairs_mut()
            .append_pair("$top", &top.to_string())
            .append_pair("$skiptoken", &format!("Paged=TRUE&p_ID={}", offset + top));
        body["@odata.nextLink"] = json!(link.to_string());
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn create_folder(st: &mut State, req: &Request, parent: &str) -> ResponseTemplate {
    if let Some(r) = bump(st, "create_folder") {
        return r;
    }
    if !st.nodes.get(parent).is_some_and(|n| n.folder) {
        return error(404, "itemNotFound", None);
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return error(400, "invalidRequest", None);
    };
    let Some(name) = body["name"].as_str().map(str::to_string) else {
        return error(400, "invalidRequest", None);
    };
    if body.get("folder").is_none() || name.contains('/') {
        return error(400, "invalidRequest", None);
    }
    let conflict = body["@microsoft.graph.conflictBehavior"]
        .as_str()
        .unwrap_or("fail");
    let name = match (st.child_named(parent, &name).is_some(), conflict) {
        (true, "fail") => return fixture_error(409, "error.nameAlreadyExists-409.json"),
        (true, "rename") => st.unique_name(parent, &name),
        _ => name,
    };
    let id = st.new_id("F");
    let created = st.now();
    let node = Node {
        id: id.clone(),
        name,
        parent: Some(parent.into()),
        folder: true,
        description: None,
        size: 0,
        sha256: String::new(),
        content: None,
        created,
        fs_created: None,
        mime: None,
        special: None,
    };
    let json = st.item_json(&node);
    st.nodes.insert(id, node);
    ResponseTemplate::new(201).set_body_json(json)
}

fn patch_item(st: &mut State, req: &Request, id: &str) -> ResponseTemplate {
    if let Some(r) = bump(st, "patch") {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return error(400, "invalidRequest", None);
    };
    let Some(n) = st.nodes.get_mut(id) else {
        return error(404, "itemNotFound", None);
    };
    if let Some(d) = body.get("description") {
        n.description = d.as_str().map(str::to_string);
    }
    if let Some(fs) = body
        .get("fileSystemInfo")
        .and_then(|f| f["createdDateTime"].as_str())
    {
        if chrono::DateTime::parse_from_rfc3339(fs).is_err() {
            return error(400, "invalidRequest", None);
        }
        n.fs_created = Some(fs.to_string());
    }
    let n = n.clone();
    ResponseTemplate::new(200).set_body_json(st.item_json(&n))
}

fn sneak_in(st: &mut State, parent: &str, name: &str) {
    if st.faults.sneak_in.as_ref().is_some_and(|(n, _)| n == name) {
        let (n, bytes) = st.faults.sneak_in.take().unwrap();
        let id = st.new_id("I");
        let created = st.now();
        st.nodes.insert(
            id.clone(),
            Node {
                id,
                name: n.clone(),
                parent: Some(parent.into()),
                folder: false,
                description: None,
                size: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&bytes)),
                content: Some(bytes),
                created,
                fs_created: None,
                mime: Some(mime_for(&n)),
                special: None,
            },
        );
    }
}

fn simple_upload(st: &mut State, req: &Request, parent: &str, name: &str) -> ResponseTemplate {
    if let Some(r) = bump(st, "simple_upload") {
        return r;
    }
    sneak_in(st, parent, name);
    if st.faults.quota_full {
        return fixture_error(507, "error.quotaLimitReached-507.json");
    }
    if req.body.len() > SIMPLE_LIMIT {
        return error(413, "invalidRequest", Some("maxFileSizeExceeded"));
    }
    let conflict = query(req)
        .get("@microsoft.graph.conflictBehavior")
        .cloned()
        .unwrap_or_else(|| "replace".into());
    let existing = st.child_named(parent, name).map(|n| n.id.clone());
    let (name, replace) = match (existing, conflict.as_str()) {
        (Some(_), "fail") => return fixture_error(409, "error.nameAlreadyExists-409.json"),
        (Some(_), "rename") => (st.unique_name(parent, name), None),
        (Some(id), _) => (name.to_string(), Some(id)),
        (None, _) => (name.to_string(), None),
    };
    st.simple_uploads += 1;
    let bytes = req.body.clone();
    let id = replace.clone().unwrap_or_else(|| st.new_id("I"));
    let created = st.now();
    let node = Node {
        id: id.clone(),
        name: name.clone(),
        parent: Some(parent.into()),
        folder: false,
        description: None,
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        content: Some(bytes),
        created,
        fs_created: None,
        mime: Some(mime_for(&name)),
        special: None,
    };
    let json = st.item_json(&node);
    st.nodes.insert(id, node);
    ResponseTemplate::new(if replace.is_some() { 200 } else { 201 }).set_body_json(json)
}

fn create_session(st: &mut State, req: &Request, parent: &str, name: &str) -> ResponseTemplate {
    if let Some(r) = bump(st, "create_session") {
        return r;
    }
    sneak_in(st, parent, name);
    if st.faults.quota_full {
        return fixture_error(507, "error.quotaLimitReached-507.json");
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
    let item = &body["item"];
    let conflict = item["@microsoft.graph.conflictBehavior"]
        .as_str()
        .unwrap_or("replace")
        .to_string();
    if conflict == "fail" && st.child_named(parent, name).is_some() {
        return fixture_error(409, "error.nameAlreadyExists-409.json");
    }
    // fileSize is optional (OneDrive Personal's early quota check); without
    // it the total comes with the first fragment's Content-Range.
    let size = item["fileSize"].as_u64();
    let token = st.new_id("S");
    st.sessions_created += 1;
    st.sessions.insert(
        token.clone(),
        Session {
            parent: parent.into(),
            name: name.into(),
            size,
            received: 0,
            hasher: Sha256::new(),
            content: (size.unwrap_or(0) <= st.keep_limit).then(Vec::new),
            description: item["description"].as_str().map(str::to_string),
            fs_created: item["fileSystemInfo"]["createdDateTime"]
                .as_str()
                .map(str::to_string),
            conflict,
            fragments: 0,
        },
    );
    let mut v = fixture("post-createUploadSession.json");
    v["uploadUrl"] = json!(format!("{}/up/{token}", st.base));
    v["expirationDateTime"] = json!("2030-01-01T00:00:00Z");
    ResponseTemplate::new(200).set_body_json(v)
}

fn session_status(s: &Session) -> Value {
    let range = match s.size {
        Some(size) => format!("{}-{}", s.received, size - 1),
        None => format!("{}-", s.received),
    };
    json!({ "expirationDateTime": "2030-01-01T00:00:00Z", "nextExpectedRanges": [range] })
}

fn upload_url(st: &mut State, req: &Request, method: &str, token: String) -> ResponseTemplate {
    match method {
        "GET" => {
            st.status_queries += 1;
            match st.sessions.get(&token) {
                Some(s) => ResponseTemplate::new(200).set_body_json(session_status(s)),
                None => error(404, "itemNotFound", Some("uploadSessionNotFound")),
            }
        }
        "DELETE" => {
            st.sessions.remove(&token);
            ResponseTemplate::new(204)
        }
        "PUT" => put_fragment(st, req, token),
        _ => error(400, "invalidRequest", None),
    }
}

fn put_fragment(st: &mut State, req: &Request, token: String) -> ResponseTemplate {
    if let Some(r) = bump(st, "fragment") {
        return r;
    }
    let range = header(req, "content-range").and_then(|r| {
        let rest = r.strip_prefix("bytes ")?;
        let (a, t) = rest.split_once('/')?;
        let (s, e) = a.split_once('-')?;
        Some((
            s.parse::<u64>().ok()?,
            e.parse::<u64>().ok()?,
            t.parse::<u64>().ok()?,
        ))
    });
    let Some((start, end, total)) = range else {
        return error(400, "invalidRequest", None);
    };
    let len = req.body.len() as u64;
    let log = |st: &mut State, status: u16| {
        st.fragments.push(FragmentLog {
            session: token.clone(),
            start,
            end,
            status,
        })
    };
    let Some(s) = st.sessions.get(&token) else {
        log(st, 404);
        return error(404, "itemNotFound", Some("uploadSessionNotFound"));
    };
    if s.size.is_some_and(|size| size != total) || end < start || end + 1 - start != len {
        log(st, 400);
        return error(400, "invalidRequest", Some("fragmentLengthMismatch"));
    }
    if len > MAX_FRAGMENT || (end + 1 != total && !len.is_multiple_of(UNIT)) {
        log(st, 400);
        return error(400, "invalidRequest", Some("fragmentLengthMismatch"));
    }
    if start != s.received {
        let inner = if start < s.received {
            "fragmentOverlap"
        } else {
            "fragmentOutOfOrder"
        };
        log(st, 416);
        return error(416, "invalidRange", Some(inner));
    }
    st.fragment_count += 1;
    let nth = st.fragment_count;
    let keep_limit = st.keep_limit;
    let s = st.sessions.get_mut(&token).unwrap();
    if s.size.is_none() {
        s.size = Some(total);
        if total > keep_limit {
            s.content = None;
        }
    }
    s.fragments += 1;
    if st.faults.lose_fragment == Some(nth) {
        // Acknowledged, then reported missing: the bytes are not kept.
        let mut ack = session_status(s);
        ack["nextExpectedRanges"] = json!([format!("{}-", end + 1)]);
        log(st, 202);
        return ResponseTemplate::new(202).set_body_json(ack);
    }
    if let Some(sample) = &st.faults_free_sample() {
        if sample.chunk(start, req.body.len()) == req.body[..] {
            st.verified += len;
        } else {
            st.mismatched += 1;
        }
    } else {
        let s = st.sessions.get_mut(&token).unwrap();
        s.hasher.update(&req.body);
    }
    let s = st.sessions.get_mut(&token).unwrap();
    if let Some(c) = s.content.as_mut() {
        c.extend_from_slice(&req.body);
    }
    s.received = end + 1;
    if s.received < total {
        let body = session_status(s);
        if st.faults.expire_session_after == Some(nth) {
            st.faults.expire_session_after = None;
            st.sessions.remove(&token);
            log(st, 202);
            return ResponseTemplate::new(202).set_body_json(body);
        }
        if st.faults.fail_after_storing == Some(nth) {
            log(st, 503);
            return error(503, "serviceNotAvailable", None).insert_header("Retry-After", "1");
        }
        log(st, 202);
        let mut resp = ResponseTemplate::new(202).set_body_json(body);
        if let Some((n, notify)) = &st.faults.hang_after
            && *n == nth
        {
            notify.notify_one();
            resp = resp.set_delay(Duration::from_secs(60));
        }
        return resp;
    }
    // Complete: the session becomes the file.
    let s = st.sessions.remove(&token).unwrap();
    let existing = st.child_named(&s.parent, &s.name).map(|n| n.id.clone());
    let (name, replace) = match (existing, s.conflict.as_str()) {
        (Some(_), "fail") => {
            log(st, 409);
            return fixture_error(409, "error.nameAlreadyExists-409.json");
        }
        (Some(_), "rename") => (st.unique_name(&s.parent, &s.name), None),
        (Some(id), _) => (s.name.clone(), Some(id)),
        (None, _) => (s.name.clone(), None),
    };
    let id = replace.clone().unwrap_or_else(|| st.new_id("I"));
    let created = st.now();
    let node = Node {
        id: id.clone(),
        name: name.clone(),
        parent: Some(s.parent.clone()),
        folder: false,
        description: s.description.clone(),
        size: total,
        sha256: hex::encode(s.hasher.finalize()),
        content: s.content,
        created,
        fs_created: s.fs_created,
        mime: Some(mime_for(&name)),
        special: None,
    };
    let json = st.item_json(&node);
    st.nodes.insert(id, node);
    log(st, 201);
    ResponseTemplate::new(if replace.is_some() { 200 } else { 201 }).set_body_json(json)
}
