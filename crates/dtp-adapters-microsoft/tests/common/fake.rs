//! A stateful fake of the Graph endpoints the adapters use, served by
//! wiremock: one responder over an in-memory mailbox, so that what is
//! imported can be exported again.
//!
//! It answers as Graph documents (see `tests/fixtures/graph/README.md`):
//! bearer token checked (401 `InvalidAuthenticationToken`), collections as
//! `{"@odata.context", "value", "@odata.nextLink"}` with an absolute
//! nextLink carrying `$skip` (Outlook style) and every other query
//! parameter of the request, `$top` (default 10), `$filter` on a
//! single-value extended property (`singleValueExtendedProperties/Any(…)`),
//! `$expand=singleValueExtendedProperties($filter=id eq '…')` (extended
//! properties are returned only when expanded), 201 on create, error bodies
//! `{"error":{"code","message"}}`, and one 429 with `Retry-After: 1` on the
//! first request when asked to throttle.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// How the fake misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Every create answers 507 `quotaLimitReached`.
    QuotaOnCreate,
    /// Every create answers 403 `ErrorQuotaExceeded` (a full mailbox).
    MailboxFullOnCreate,
    /// Every request answers 403 `ErrorAccessDenied`.
    AccessDenied,
    /// Every list answers a truncated JSON body.
    TruncatedJson,
    /// Every request answers 429 with `Retry-After: 0` (a 429 storm).
    AlwaysThrottled,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    /// Container id (folder, calendar, list, parent task for checklist items).
    pub parent: String,
    pub body: Map<String, Value>,
    pub ext: BTreeMap<String, String>,
    pub mime: Option<Vec<u8>>,
}

#[derive(Debug, Default)]
pub struct State {
    next: u64,
    pub token: String,
    pub throttle_first: bool,
    pub failure: Option<Failure>,
    /// Containers by kind (`contactFolder`, `calendar`, `todoList`, `mailFolder`).
    pub containers: BTreeMap<&'static str, Vec<Item>>,
    /// Items by kind (`contact`, `event`, `todoTask`, `checklistItem`, `message`).
    pub items: BTreeMap<&'static str, Vec<Item>>,
    pub requests: u64,
    pub creates: u64,
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        // Graph ids are long base64-ish strings; keep `=` and `-` to exercise encoding.
        format!("AAMk{prefix}-{:06}=", self.next)
    }
}

/// The fake; clone it to share the state.
#[derive(Clone)]
pub struct GraphFake {
    pub state: Arc<Mutex<State>>,
    pub base: String,
}

pub const DEFAULT_CONTACTS: &str = "AQMkDefaultContacts=";

impl GraphFake {
    /// Starts a server with an empty mailbox, token `token`.
    pub async fn start(token: &str, throttle_first: bool) -> (MockServer, GraphFake) {
        let server = MockServer::start().await;
        let fake = GraphFake {
            state: Arc::new(Mutex::new(State {
                token: token.to_string(),
                throttle_first,
                ..State::default()
            })),
            base: format!("{}/v1.0", server.uri()),
        };
        {
            let mut s = fake.state.lock().unwrap();
            // Well-known folders every mailbox has.
            s.containers.entry("calendar").or_default().push(Item {
                id: "AAMkDefaultCalendar=".into(),
                parent: String::new(),
                body: json!({"name": "Calendar", "isDefaultCalendar": true, "canEdit": true})
                    .as_object()
                    .unwrap()
                    .clone(),
                ext: BTreeMap::new(),
                mime: None,
            });
            s.containers.entry("todoList").or_default().push(Item {
                id: "AAMkDefaultTasks=".into(),
                parent: String::new(),
                body: json!({"displayName": "Tasks", "isOwner": true, "isShared": false, "wellknownListName": "defaultList"})
                    .as_object()
                    .unwrap()
                    .clone(),
                ext: BTreeMap::new(),
                mime: None,
            });
            for (id, name) in [
                ("AAMkInbox=", "Inbox"),
                ("AAMkDrafts=", "Drafts"),
                ("AAMkSentItems=", "Sent Items"),
                ("AAMkDeletedItems=", "Deleted Items"),
            ] {
                s.containers.entry("mailFolder").or_default().push(Item {
                    id: id.into(),
                    parent: "AAMkMsgRoot=".into(),
                    body: json!({"displayName": name}).as_object().unwrap().clone(),
                    ext: BTreeMap::new(),
                    mime: None,
                });
            }
        }
        Mock::given(any())
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (server, fake)
    }

    pub fn set_failure(&self, f: Failure) {
        self.state.lock().unwrap().failure = Some(f);
    }

    pub fn count(&self, kind: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .items
            .get(kind)
            .map_or(0, Vec::len)
    }

    pub fn container_count(&self, kind: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .containers
            .get(kind)
            .map_or(0, Vec::len)
    }
}

pub fn error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": "2025-01-01T00:00:00", "request-id": "00000000-0000-0000-0000-000000000001"}
        }
    }))
}

fn not_found() -> ResponseTemplate {
    error(
        404,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Extracts `'…'` literals following `marker` in an OData filter.
fn literal_after(filter: &str, marker: &str) -> Option<String> {
    let at = filter.find(marker)? + marker.len();
    let rest = filter[at..].trim_start();
    let rest = rest.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Whether `item` passes a `$filter` the fake understands; `Err` for one it
/// does not (Graph answers 400 for an unsupported filter).
fn passes(item: &Item, filter: Option<&str>) -> Result<bool, ()> {
    let Some(f) = filter else { return Ok(true) };
    if f.starts_with("singleValueExtendedProperties/Any(") {
        let id = literal_after(f, "ep/id eq").ok_or(())?;
        let value = literal_after(f, "ep/value eq").ok_or(())?;
        return Ok(item
            .ext
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(&id) && *v == value));
    }
    if f.starts_with("internetMessageId eq") {
        let v = literal_after(f, "internetMessageId eq").ok_or(())?;
        return Ok(item.body.get("internetMessageId").and_then(Value::as_str) == Some(&v));
    }
    Err(())
}

fn expand_id(expand: Option<&str>) -> Option<String> {
    let e = expand?;
    if !e.starts_with("singleValueExtendedProperties(") {
        return None;
    }
    literal_after(e, "id eq")
}

fn render(item: &Item, expand: Option<&str>) -> Value {
    let mut m = item.body.clone();
    m.insert("id".into(), Value::from(item.id.clone()));
    if let Some(id) = expand_id(expand) {
        let props: Vec<Value> = item
            .ext
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(&id))
            .map(|(k, v)| json!({"id": k, "value": v}))
            .collect();
        if !props.is_empty() {
            m.insert("singleValueExtendedProperties".into(), Value::from(props));
        }
    }
    Value::Object(m)
}

impl GraphFake {
    fn page(&self, req: &Request, q: &Query, items: Vec<Value>) -> ResponseTemplate {
        let top: usize = q
            .get("$top")
            .and_then(|t| t.parse().ok())
            .unwrap_or(10)
            .clamp(1, 1000);
        let skip: usize = q.get("$skip").and_then(|t| t.parse().ok()).unwrap_or(0);
        let total = items.len();
        let value: Vec<Value> = items.into_iter().skip(skip).take(top).collect();
        let mut body = json!({
            "@odata.context": format!("{}/$metadata#collection", self.base),
            "value": value,
        });
        if skip + top < total {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &q.pairs {
                if k != "$skip" {
                    ser.append_pair(k, v);
                }
            }
            ser.append_pair("$skip", &(skip + top).to_string());
            body["@odata.nextLink"] = Value::from(format!(
                "{}{}?{}",
                req.url.origin().ascii_serialization(),
                req.url.path(),
                ser.finish()
            ));
        }
        ResponseTemplate::new(200).set_body_json(body)
    }

    fn list(
        &self,
        req: &Request,
        q: &Query,
        s: &State,
        kind: &str,
        parent: Option<&str>,
        containers: bool,
    ) -> ResponseTemplate {
        let src = if containers { &s.containers } else { &s.items };
        let all = src.get(kind).cloned().unwrap_or_default();
        let mut out = Vec::new();
        for it in all.iter().filter(|i| parent.is_none_or(|p| i.parent == p)) {
            match passes(it, q.get("$filter")) {
                Ok(true) => out.push(render(it, q.get("$expand"))),
                Ok(false) => {}
                Err(()) => {
                    return error(
                        400,
                        "ErrorInvalidUrlQueryFilter",
                        "The query filter contains one or more invalid nodes.",
                    );
                }
            }
        }
        if s.failure == Some(Failure::TruncatedJson) {
            return ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string("{\"value\":[{\"id\":\"AAMk");
        }
        self.page(req, q, out)
    }

    fn create(
        &self,
        s: &mut State,
        kind: &'static str,
        parent: &str,
        body: &[u8],
        container: bool,
    ) -> ResponseTemplate {
        match s.failure {
            Some(Failure::QuotaOnCreate) => {
                return error(507, "quotaLimitReached", "Insufficient Space Available");
            }
            Some(Failure::MailboxFullOnCreate) => {
                return error(
                    403,
                    "ErrorQuotaExceeded",
                    "Cannot save changes made to an item to store.",
                );
            }
            _ => {}
        }
        let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(body) else {
            return error(400, "RequestBodyRead", "Invalid JSON in the request body.");
        };
        let mut ext = BTreeMap::new();
        if let Some(Value::Array(props)) = m.remove("singleValueExtendedProperties") {
            for p in props {
                let (Some(id), Some(v)) = (p["id"].as_str(), p["value"].as_str()) else {
                    return error(
                        400,
                        "ErrorInvalidExtendedProperty",
                        "The extended property is invalid.",
                    );
                };
                ext.insert(id.to_string(), v.to_string());
            }
        }
        m.remove("id");
        let id = s.id(kind);
        let stamp = "2025-01-01T00:00:00Z";
        m.insert("createdDateTime".into(), Value::from(stamp));
        m.insert("lastModifiedDateTime".into(), Value::from(stamp));
        m.insert("changeKey".into(), Value::from(format!("ck{}", s.next)));
        if matches!(kind, "contact" | "contactFolder" | "mailFolder" | "message") {
            m.insert("parentFolderId".into(), Value::from(parent.to_string()));
        }
        let item = Item {
            id,
            parent: parent.to_string(),
            body: m,
            ext,
            mime: None,
        };
        let out = render(&item, None);
        s.creates += 1;
        if container {
            s.containers.entry(kind).or_default().push(item);
        } else {
            s.items.entry(kind).or_default().push(item);
        }
        ResponseTemplate::new(201).set_body_json(out)
    }

    fn has_container(s: &State, kind: &str, id: &str) -> bool {
        s.containers
            .get(kind)
            .is_some_and(|v| v.iter().any(|c| c.id == id))
    }

    fn route(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.state.lock().unwrap();
        s.requests += 1;
        if s.throttle_first {
            s.throttle_first = false;
            return ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(super::fixture("error.429.TooManyRequests", &[]));
        }
        if s.failure == Some(Failure::AlwaysThrottled) {
            return ResponseTemplate::new(429)
                .insert_header("Retry-After", "0")
                .set_body_json(super::fixture("error.429.TooManyRequests", &[]));
        }
        let want = format!("Bearer {}", s.token);
        if req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            != Some(want.as_str())
        {
            return ResponseTemplate::new(401)
                .set_body_json(super::fixture("error.401.InvalidAuthenticationToken", &[]));
        }
        if s.failure == Some(Failure::AccessDenied) {
            return error(
                403,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            );
        }
        let Some(path) = req.url.path().strip_prefix("/v1.0/") else {
            return error(400, "BadRequest", "Invalid version.");
        };
        let segs: Vec<String> = path
            .split('/')
            .map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let q = Query {
            pairs: req
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        };
        let m = req.method.as_str();
        match (m, &segs[..]) {
            // ---- contacts (https://learn.microsoft.com/en-us/graph/api/resources/contact)
            ("GET", ["me", "contacts"]) => {
                self.list(req, &q, &s, "contact", Some(DEFAULT_CONTACTS), false)
            }
            ("POST", ["me", "contacts"]) => {
                self.create(&mut s, "contact", DEFAULT_CONTACTS, &req.body, false)
            }
            ("GET", ["me", "contactFolders"]) => {
                self.list(req, &q, &s, "contactFolder", Some(DEFAULT_CONTACTS), true)
            }
            ("POST", ["me", "contactFolders"]) => {
                let name = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .and_then(|v| v["displayName"].as_str().map(str::to_string));
                let Some(name) = name else {
                    return error(400, "ErrorInvalidRequest", "displayName is required.");
                };
                let exists = s.containers.get("contactFolder").is_some_and(|v| {
                    v.iter().any(|c| {
                        c.parent == DEFAULT_CONTACTS && c.body["displayName"] == name.as_str()
                    })
                });
                if exists {
                    return error(
                        409,
                        "ErrorFolderExists",
                        "A folder with the specified name already exists.",
                    );
                }
                self.create(&mut s, "contactFolder", DEFAULT_CONTACTS, &req.body, true)
            }
            ("GET", ["me", "contactFolders", id, "childFolders"]) => {
                if !Self::has_container(&s, "contactFolder", id) {
                    return not_found();
                }
                self.list(req, &q, &s, "contactFolder", Some(id), true)
            }
            ("GET", ["me", "contactFolders", id, "contacts"]) => {
                if !Self::has_container(&s, "contactFolder", id) {
                    return not_found();
                }
                self.list(req, &q, &s, "contact", Some(id), false)
            }
            ("POST", ["me", "contactFolders", id, "contacts"]) => {
                if !Self::has_container(&s, "contactFolder", id) {
                    return not_found();
                }
                let id = id.to_string();
                self.create(&mut s, "contact", &id, &req.body, false)
            }
            _ => self.route_more(req, &q, &mut s, m, &segs),
        }
    }

    /// Calendar, To Do and mail routes (extended by later modules).
    fn route_more(
        &self,
        _req: &Request,
        _q: &Query,
        _s: &mut State,
        _m: &str,
        _segs: &[&str],
    ) -> ResponseTemplate {
        error(400, "BadRequest", "Resource not found for the segment.")
    }
}

impl Respond for GraphFake {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.route(req)
    }
}
