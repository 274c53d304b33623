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
                ("AAMkJunkEmail=", "Junk Email"),
                ("AAMkArchive=", "Archive"),
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

fn expand_ids(expand: Option<&str>) -> Vec<String> {
    let Some(e) = expand else { return Vec::new() };
    if !e.starts_with("singleValueExtendedProperties(") {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut rest = e;
    while let Some(at) = rest.find("id eq") {
        if let Some(v) = literal_after(rest, "id eq") {
            out.push(v);
        }
        rest = &rest[at + 5..];
    }
    out
}

fn render(item: &Item, expand: Option<&str>) -> Value {
    let mut m = item.body.clone();
    m.insert("id".into(), Value::from(item.id.clone()));
    let ids = expand_ids(expand);
    if !ids.is_empty() {
        let props: Vec<Value> = item
            .ext
            .iter()
            .filter(|(k, _)| ids.iter().any(|id| k.eq_ignore_ascii_case(id)))
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
                url::Url::parse(&self.base)
                    .unwrap()
                    .origin()
                    .ascii_serialization(),
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
                Ok(true) => {
                    let mut v = render(it, q.get("$expand"));
                    if kind == "event" || kind == "eventInstance" {
                        event_view(&mut v, &it.id);
                    }
                    out.push(v)
                }
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

    /// Calendar, To Do and mail routes.
    fn route_more(
        &self,
        req: &Request,
        q: &Query,
        s: &mut State,
        m: &str,
        segs: &[&str],
    ) -> ResponseTemplate {
        match (m, segs) {
            // ---- calendars (https://learn.microsoft.com/en-us/graph/api/resources/calendar)
            ("GET", ["me", "calendars"]) => self.list(req, q, s, "calendar", None, true),
            ("POST", ["me", "calendars"]) => {
                let name = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .and_then(|v| v["name"].as_str().map(str::to_string));
                let Some(name) = name else {
                    return error(400, "ErrorInvalidRequest", "name is required.");
                };
                if s.containers
                    .get("calendar")
                    .is_some_and(|v| v.iter().any(|c| c.body["name"] == name.as_str()))
                {
                    return error(
                        409,
                        "ErrorFolderExists",
                        "A folder with the specified name already exists.",
                    );
                }
                self.create(s, "calendar", "", &req.body, true)
            }
            ("GET", ["me", "calendars", id, "events"]) => {
                if !Self::has_container(s, "calendar", id) {
                    return not_found();
                }
                self.list(req, q, s, "event", Some(id), false)
            }
            ("POST", ["me", "calendars", id, "events"]) => {
                if !Self::has_container(s, "calendar", id) {
                    return not_found();
                }
                let Ok(mut v) = serde_json::from_slice::<Value>(&req.body) else {
                    return error(400, "RequestBodyRead", "Invalid JSON in the request body.");
                };
                if let Err(msg) = check_event(&mut v) {
                    return error(400, "ErrorInvalidRequest", &msg);
                }
                let body = serde_json::to_vec(&v).unwrap();
                let id = id.to_string();
                self.create(s, "event", &id, &body, false)
            }
            ("GET", ["me", "events", id, "instances"]) => {
                if q.get("startDateTime").is_none() || q.get("endDateTime").is_none() {
                    return error(
                        400,
                        "ErrorInvalidParameter",
                        "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
                    );
                }
                self.instances(req, q, s, id)
            }
            ("PATCH", ["me", "events", id]) => {
                let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(&req.body) else {
                    return error(400, "RequestBodyRead", "Invalid JSON in the request body.");
                };
                if let Some(item) = s
                    .items
                    .get_mut("event")
                    .and_then(|v| v.iter_mut().find(|i| i.id == *id))
                {
                    for (k, v) in patch {
                        item.body.insert(k, v);
                    }
                    let mut out = render(item, None);
                    event_view(&mut out, id);
                    return ResponseTemplate::new(200).set_body_json(out);
                }
                let Some(occ) = self.occurrence(s, id) else {
                    return not_found();
                };
                let mut body = occ.body.clone();
                for (k, v) in patch {
                    body.insert(k, v);
                }
                body.insert("type".into(), Value::from("exception"));
                let list = s.items.entry("eventInstance").or_default();
                list.retain(|i| i.id != *id);
                let item = Item {
                    id: id.to_string(),
                    parent: occ.parent.clone(),
                    body,
                    ext: BTreeMap::new(),
                    mime: None,
                };
                let mut out = render(&item, None);
                event_view(&mut out, id);
                list.push(item);
                ResponseTemplate::new(200).set_body_json(out)
            }
            ("DELETE", ["me", "events", id]) => {
                if let Some(v) = s.items.get_mut("event")
                    && v.iter().any(|i| i.id == *id)
                {
                    v.retain(|i| i.id != *id);
                    return ResponseTemplate::new(204);
                }
                let Some(occ) = self.occurrence(s, id) else {
                    return not_found();
                };
                let mut body = occ.body.clone();
                body.insert("deleted".into(), Value::from(true));
                let list = s.items.entry("eventInstance").or_default();
                list.retain(|i| i.id != *id);
                list.push(Item {
                    id: id.to_string(),
                    parent: occ.parent.clone(),
                    body,
                    ext: BTreeMap::new(),
                    mime: None,
                });
                ResponseTemplate::new(204)
            }
            _ => self.route_todo(req, q, s, m, segs),
        }
    }

    /// The occurrence `id` (`{master}_OCC_{yyyymmddHHMM}`) of a series, as
    /// stored or as generated.
    fn occurrence(&self, s: &State, id: &str) -> Option<Item> {
        if let Some(i) = s
            .items
            .get("eventInstance")
            .and_then(|v| v.iter().find(|i| i.id == id))
        {
            return Some(i.clone());
        }
        let (master, _) = id.split_once("_OCC_")?;
        expand_series(s, master, None)
            .into_iter()
            .find(|i| i.id == id)
    }

    /// `GET /me/events/{id}/instances`: the series expanded in the window,
    /// stored exceptions replacing their occurrence, deleted ones left out.
    fn instances(&self, req: &Request, q: &Query, s: &State, master: &str) -> ResponseTemplate {
        let parse = |k: &str| {
            q.get(k)
                .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
                .map(|d| d.naive_utc())
        };
        let (Some(from), Some(to)) = (parse("startDateTime"), parse("endDateTime")) else {
            return error(
                400,
                "ErrorInvalidParameter",
                "startDateTime and endDateTime must be ISO 8601.",
            );
        };
        let stored: Vec<Item> = s
            .items
            .get("eventInstance")
            .map(|v| v.iter().filter(|i| i.parent == master).cloned().collect())
            .unwrap_or_default();
        let mut out: Vec<Value> = Vec::new();
        let original = |i: &Item| {
            i.body
                .get("originalStart")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        for occ in expand_series(s, master, Some((from, to))) {
            let replaced = stored.iter().find(|x| {
                x.id == occ.id || (original(x).is_some() && original(x) == original(&occ))
            });
            match replaced {
                Some(x) if x.body.get("deleted") == Some(&Value::from(true)) => {}
                Some(x) => {
                    let mut v = render(x, None);
                    event_view(&mut v, &x.id);
                    out.push(v);
                }
                None => {
                    let mut v = render(&occ, None);
                    event_view(&mut v, &occ.id);
                    out.push(v);
                }
            }
        }
        // Stored instances of a series the fake cannot expand (seeded).
        for x in &stored {
            let listed = out.iter().any(|v| v["id"] == x.id.as_str());
            if !listed && x.body.get("deleted").is_none() && !x.id.contains("_OCC_") {
                let mut v = render(x, None);
                event_view(&mut v, &x.id);
                out.push(v);
            }
        }
        self.page(req, q, out)
    }

    /// To Do and mail routes.
    fn route_todo(
        &self,
        req: &Request,
        q: &Query,
        s: &mut State,
        m: &str,
        segs: &[&str],
    ) -> ResponseTemplate {
        match (m, segs) {
            // ---- To Do (https://learn.microsoft.com/en-us/graph/api/resources/todo-overview)
            ("GET", ["me", "todo", "lists"]) => self.list(req, q, s, "todoList", None, true),
            ("POST", ["me", "todo", "lists"]) => {
                let ok = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .is_some_and(|v| v["displayName"].is_string());
                if !ok {
                    return error(400, "invalidRequest", "displayName is required.");
                }
                self.create(s, "todoList", "", &req.body, true)
            }
            ("GET", ["me", "todo", "lists", l, "tasks"]) => {
                if !Self::has_container(s, "todoList", l) {
                    return not_found();
                }
                let expand = q.get("$expand").unwrap_or("").to_string();
                let checklist: Vec<Item> =
                    s.items.get("checklistItem").cloned().unwrap_or_default();
                // Rendered with the expansions To Do supports.
                let all: Vec<Item> = s.items.get("todoTask").cloned().unwrap_or_default();
                let mut out = Vec::new();
                for it in all.iter().filter(|i| i.parent == *l) {
                    let mut v = render(it, None);
                    if !expand.contains("linkedResources") {
                        v.as_object_mut().unwrap().remove("linkedResources");
                    }
                    if expand.contains("checklistItems") {
                        let items: Vec<Value> = checklist
                            .iter()
                            .filter(|c| c.parent == it.id)
                            .map(|c| render(c, None))
                            .collect();
                        v["checklistItems"] = Value::from(items);
                    }
                    out.push(v);
                }
                if s.failure == Some(Failure::TruncatedJson) {
                    return ResponseTemplate::new(200)
                        .insert_header("content-type", "application/json")
                        .set_body_string("{\"value\":[{\"id\":\"AAMk");
                }
                self.page(req, q, out)
            }
            ("POST", ["me", "todo", "lists", l, "tasks"]) => {
                if !Self::has_container(s, "todoList", l) {
                    return not_found();
                }
                let Ok(mut v) = serde_json::from_slice::<Value>(&req.body) else {
                    return error(400, "invalidRequest", "Invalid JSON.");
                };
                if !v["title"].is_string() {
                    return error(400, "invalidRequest", "title is required.");
                }
                if let Some(st) = v["status"].as_str()
                    && ![
                        "notStarted",
                        "inProgress",
                        "completed",
                        "waitingOnOthers",
                        "deferred",
                    ]
                    .contains(&st)
                {
                    return error(400, "invalidRequest", "Invalid status.");
                }
                if v["linkedResources"].as_array().is_some_and(|a| a.len() > 1) {
                    // https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/654
                    return error(
                        400,
                        "invalidRequest",
                        "Only one item in linkedResources is allowed.",
                    );
                }
                if let Some(lr) = v.get_mut("linkedResources").and_then(Value::as_array_mut) {
                    for (i, r) in lr.iter_mut().enumerate() {
                        r["id"] = Value::from(format!("lr{i}"));
                    }
                }
                let body = serde_json::to_vec(&v).unwrap();
                let l = l.to_string();
                self.create(s, "todoTask", &l, &body, false)
            }
            ("GET", ["me", "todo", "lists", l, "tasks", t, "checklistItems"]) => {
                let known = s
                    .items
                    .get("todoTask")
                    .is_some_and(|v| v.iter().any(|i| i.id == *t && i.parent == *l));
                if !known {
                    return not_found();
                }
                self.list(req, q, s, "checklistItem", Some(t), false)
            }
            ("POST", ["me", "todo", "lists", l, "tasks", t, "checklistItems"]) => {
                let known = s
                    .items
                    .get("todoTask")
                    .is_some_and(|v| v.iter().any(|i| i.id == *t && i.parent == *l));
                if !known {
                    return not_found();
                }
                let Ok(mut v) = serde_json::from_slice::<Value>(&req.body) else {
                    return error(400, "invalidRequest", "Invalid JSON.");
                };
                if !v["displayName"].is_string() {
                    return error(400, "invalidRequest", "displayName is required.");
                }
                if v["isChecked"] == true && v.get("checkedDateTime").is_none() {
                    v["checkedDateTime"] = Value::from("2025-01-01T00:00:00Z");
                }
                let body = serde_json::to_vec(&v).unwrap();
                let t = t.to_string();
                self.create(s, "checklistItem", &t, &body, false)
            }
            _ => self.route_mail(req, q, s, m, segs),
        }
    }

    /// Mail routes (https://learn.microsoft.com/en-us/graph/api/resources/mail-api-overview).
    fn route_mail(
        &self,
        req: &Request,
        q: &Query,
        s: &mut State,
        m: &str,
        segs: &[&str],
    ) -> ResponseTemplate {
        match (m, segs) {
            ("GET", ["me", "mailFolders"]) => self.mail_folders(req, q, s, "AAMkMsgRoot="),
            ("POST", ["me", "mailFolders"]) => self.new_mail_folder(req, s, "AAMkMsgRoot="),
            ("GET", ["me", "mailFolders", id]) => {
                let id = well_known_folder(id);
                match s
                    .containers
                    .get("mailFolder")
                    .and_then(|v| v.iter().find(|f| f.id == id))
                {
                    Some(f) => ResponseTemplate::new(200).set_body_json(mail_folder_view(f, s)),
                    None => not_found(),
                }
            }
            ("GET", ["me", "mailFolders", id, "childFolders"]) => {
                let id = well_known_folder(id);
                if !Self::has_container(s, "mailFolder", &id) {
                    return not_found();
                }
                self.mail_folders(req, q, s, &id)
            }
            ("POST", ["me", "mailFolders", id, "childFolders"]) => {
                let id = well_known_folder(id);
                if !Self::has_container(s, "mailFolder", &id) {
                    return not_found();
                }
                self.new_mail_folder(req, s, &id)
            }
            ("GET", ["me", "mailFolders", id, "messages"]) => {
                let id = well_known_folder(id);
                if !Self::has_container(s, "mailFolder", &id) {
                    return not_found();
                }
                self.list(req, q, s, "message", Some(&id), false)
            }
            ("GET", ["me", "messages"]) => self.list(req, q, s, "message", None, false),
            ("POST", ["me", "messages"]) => {
                let ct = req
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !ct.starts_with("text/plain") {
                    return error(
                        400,
                        "ErrorInvalidRequest",
                        "this fake creates messages from MIME only",
                    );
                }
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
                use base64::Engine;
                let text: String = String::from_utf8_lossy(&req.body)
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let Ok(mime) = base64::engine::general_purpose::STANDARD.decode(text.as_bytes())
                else {
                    return error(
                        400,
                        "ErrorMimeContentInvalidBase64String",
                        "Invalid base64 string for MIME content.",
                    );
                };
                let mid = dtp_adapters_microsoft::mail::message_id(&mime)
                    .unwrap_or_else(|| format!("<generated-{}@fake.outlook.com>", s.next + 1));
                let id = s.id("message");
                let body = json!({
                    "parentFolderId": "AAMkDrafts=", "isDraft": true, "isRead": true,
                    "receivedDateTime": "2026-11-28T00:00:00Z", "internetMessageId": mid,
                    "flag": {"flagStatus": "notFlagged"}, "categories": []
                });
                let item = Item {
                    id,
                    parent: "AAMkDrafts=".into(),
                    body: body.as_object().unwrap().clone(),
                    ext: BTreeMap::new(),
                    mime: Some(mime),
                };
                let out = render(&item, None);
                s.creates += 1;
                s.items.entry("message").or_default().push(item);
                ResponseTemplate::new(201).set_body_json(out)
            }
            ("PATCH", ["me", "messages", id]) => {
                let Ok(Value::Object(mut patch)) = serde_json::from_slice::<Value>(&req.body)
                else {
                    return error(400, "RequestBodyRead", "Invalid JSON.");
                };
                let Some(item) = s
                    .items
                    .get_mut("message")
                    .and_then(|v| v.iter_mut().find(|i| i.id == *id))
                else {
                    return not_found();
                };
                if let Some(Value::Array(props)) = patch.remove("singleValueExtendedProperties") {
                    for p in props {
                        if let (Some(k), Some(v)) = (p["id"].as_str(), p["value"].as_str()) {
                            item.ext.insert(k.into(), v.into());
                        }
                    }
                }
                // PidTagMessageFlags is read-only after the first save: isDraft cannot change.
                patch.remove("isDraft");
                for (k, v) in patch {
                    item.body.insert(k, v);
                }
                let out = render(item, None);
                ResponseTemplate::new(200).set_body_json(out)
            }
            ("POST", ["me", "messages", id, "move"]) => {
                let dest = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .and_then(|v| v["destinationId"].as_str().map(well_known_folder));
                let Some(dest) = dest else {
                    return error(400, "ErrorInvalidRequest", "destinationId is required.");
                };
                if !Self::has_container(s, "mailFolder", &dest) {
                    return not_found();
                }
                let new_id = s.id("message");
                let Some(item) = s
                    .items
                    .get_mut("message")
                    .and_then(|v| v.iter_mut().find(|i| i.id == *id))
                else {
                    return not_found();
                };
                // A move gives the message a new id.
                item.id = new_id;
                item.parent = dest.clone();
                item.body.insert("parentFolderId".into(), Value::from(dest));
                let out = render(item, None);
                ResponseTemplate::new(201).set_body_json(out)
            }
            ("GET", ["me", "messages", id, "$value"]) => {
                match s
                    .items
                    .get("message")
                    .and_then(|v| v.iter().find(|i| i.id == *id))
                    .and_then(|i| i.mime.clone())
                {
                    Some(mime) => ResponseTemplate::new(200)
                        .insert_header("content-type", "text/plain")
                        .set_body_bytes(mime),
                    None => not_found(),
                }
            }
            _ => error(400, "BadRequest", "Resource not found for the segment."),
        }
    }

    fn mail_folders(&self, req: &Request, q: &Query, s: &State, parent: &str) -> ResponseTemplate {
        let all: Vec<Value> = s
            .containers
            .get("mailFolder")
            .map(|v| {
                v.iter()
                    .filter(|f| f.parent == parent)
                    .map(|f| mail_folder_view(f, s))
                    .collect()
            })
            .unwrap_or_default();
        if s.failure == Some(Failure::TruncatedJson) {
            return ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string("{\"value\":[{\"id\":\"AAMk");
        }
        self.page(req, q, all)
    }

    fn new_mail_folder(&self, req: &Request, s: &mut State, parent: &str) -> ResponseTemplate {
        let name = serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|v| v["displayName"].as_str().map(str::to_string));
        let Some(name) = name else {
            return error(400, "ErrorInvalidRequest", "displayName is required.");
        };
        let exists = s.containers.get("mailFolder").is_some_and(|v| {
            v.iter()
                .any(|c| c.parent == parent && c.body["displayName"] == name.as_str())
        });
        if exists {
            return error(
                409,
                "ErrorFolderExists",
                "A folder with the specified name already exists.",
            );
        }
        self.create(s, "mailFolder", parent, &req.body, true)
    }
}

impl Respond for GraphFake {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.route(req)
    }
}

/// What Graph requires of a created event, and its defaults.
fn check_event(v: &mut Value) -> Result<(), String> {
    for k in ["start", "end"] {
        let dt = v[k]["dateTime"]
            .as_str()
            .ok_or(format!("{k} is required"))?;
        let zone = v[k]["timeZone"]
            .as_str()
            .ok_or(format!("{k}.timeZone is required"))?;
        let t = chrono::NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M:%S%.f")
            .map_err(|_| format!("{k}.dateTime is malformed"))?;
        if dtp_adapters_microsoft::tz::local_to_utc(t, zone).is_none() {
            return Err(format!("{k}.timeZone {zone} is not supported"));
        }
        if v["isAllDay"] == true && t.time() != chrono::NaiveTime::MIN {
            return Err("all-day events must start and end at midnight".into());
        }
    }
    if v.get("attendees")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err("this fake refuses attendees: Graph would send invitations".into());
    }
    let m = v.as_object_mut().unwrap();
    m.entry("isReminderOn").or_insert(Value::from(true));
    if m["isReminderOn"] == true {
        m.entry("reminderMinutesBeforeStart")
            .or_insert(Value::from(15));
    }
    m.entry("isAllDay").or_insert(Value::from(false));
    Ok(())
}

/// An event as Graph returns it with `Prefer: outlook.timezone="UTC"`:
/// times in UTC, the zone given at creation in `originalStartTimeZone`.
fn event_view(v: &mut Value, id: &str) {
    let all_day = v["isAllDay"] == true;
    for (k, orig) in [
        ("start", "originalStartTimeZone"),
        ("end", "originalEndTimeZone"),
    ] {
        let (Some(dt), Some(zone)) = (v[k]["dateTime"].as_str(), v[k]["timeZone"].as_str()) else {
            continue;
        };
        let zone = zone.to_string();
        let Ok(t) = chrono::NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M:%S%.f") else {
            continue;
        };
        let utc = if all_day {
            t
        } else {
            dtp_adapters_microsoft::tz::local_to_utc(t, &zone).unwrap_or(t)
        };
        v[k] = json!({"dateTime": dtp_adapters_microsoft::calendar::fmt_graph_time(utc), "timeZone": "UTC"});
        if v.get(orig).is_none() {
            v[orig] = Value::from(zone);
        }
    }
    if v.get("type").is_none() {
        v["type"] = Value::from(if v.get("recurrence").is_some_and(|r| !r.is_null()) {
            "seriesMaster"
        } else {
            "singleInstance"
        });
    }
    if v.get("iCalUId").is_none() {
        v["iCalUId"] = Value::from(format!("040000008200E00074C5B7101A82E008{}", hex_of(id)));
    }
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

fn well_known_folder(id: &str) -> String {
    match id.to_ascii_lowercase().as_str() {
        "inbox" => "AAMkInbox=".into(),
        "drafts" => "AAMkDrafts=".into(),
        "sentitems" => "AAMkSentItems=".into(),
        "deleteditems" => "AAMkDeletedItems=".into(),
        "junkemail" => "AAMkJunkEmail=".into(),
        "archive" => "AAMkArchive=".into(),
        "msgfolderroot" => "AAMkMsgRoot=".into(),
        _ => id.to_string(),
    }
}

/// A mailFolder with its counts, as Graph computes them.
fn mail_folder_view(f: &Item, s: &State) -> Value {
    let mut v = render(f, None);
    let children = s
        .containers
        .get("mailFolder")
        .map_or(0, |v| v.iter().filter(|c| c.parent == f.id).count());
    let items = s
        .items
        .get("message")
        .map_or(0, |v| v.iter().filter(|m| m.parent == f.id).count());
    v["parentFolderId"] = Value::from(f.parent.clone());
    v["childFolderCount"] = Value::from(children);
    v["totalItemCount"] = Value::from(items);
    v["unreadItemCount"] = Value::from(0);
    v["isHidden"] = Value::from(false);
    v
}

/// The occurrences of series `master` (daily, weekly, absoluteMonthly,
/// absoluteYearly patterns; numbered, endDate and noEnd ranges), optionally
/// only those starting in `window` (UTC).
fn expand_series(
    s: &State,
    master: &str,
    window: Option<(chrono::NaiveDateTime, chrono::NaiveDateTime)>,
) -> Vec<Item> {
    use chrono::{Datelike, NaiveDate, NaiveDateTime};
    let Some(m) = s
        .items
        .get("event")
        .and_then(|v| v.iter().find(|i| i.id == master))
    else {
        return Vec::new();
    };
    let Some(rec) = m.body.get("recurrence").filter(|r| !r.is_null()) else {
        return Vec::new();
    };
    let parse = |v: &Value| {
        NaiveDateTime::parse_from_str(v["dateTime"].as_str()?, "%Y-%m-%dT%H:%M:%S%.f").ok()
    };
    let (Some(start), Some(end)) = (parse(&m.body["start"]), parse(&m.body["end"])) else {
        return Vec::new();
    };
    let zone = m.body["start"]["timeZone"]
        .as_str()
        .unwrap_or("UTC")
        .to_string();
    let all_day = m.body.get("isAllDay") == Some(&Value::from(true));
    let dur = end - start;
    let p = &rec["pattern"];
    let interval = p["interval"].as_i64().unwrap_or(1).max(1);
    let r = &rec["range"];
    let count = r["numberOfOccurrences"]
        .as_u64()
        .filter(|_| r["type"] == "numbered");
    let until = r["endDate"]
        .as_str()
        .filter(|_| r["type"] == "endDate")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let horizon = start.date() + chrono::Duration::days(366 * 3);
    let days: Vec<u32> = p["daysOfWeek"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    [
                        "monday",
                        "tuesday",
                        "wednesday",
                        "thursday",
                        "friday",
                        "saturday",
                        "sunday",
                    ]
                    .iter()
                    .position(|x| Some(*x) == d.as_str())
                    .map(|i| i as u32)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut dates: Vec<NaiveDate> = Vec::new();
    let mut d = start.date();
    while d <= until.unwrap_or(horizon)
        && d <= horizon
        && count.is_none_or(|c| (dates.len() as u64) < c)
    {
        let hit = match p["type"].as_str().unwrap_or("") {
            "daily" => (d - start.date()).num_days() % interval == 0,
            "weekly" => {
                let weeks = (d.week(chrono::Weekday::Mon).first_day()
                    - start.date().week(chrono::Weekday::Mon).first_day())
                .num_days()
                    / 7;
                weeks % interval == 0 && days.contains(&d.weekday().num_days_from_monday())
            }
            "absoluteMonthly" => {
                d.day() as i64 == p["dayOfMonth"].as_i64().unwrap_or(0)
                    && ((d.year() - start.year()) as i64 * 12 + d.month() as i64
                        - start.month() as i64)
                        % interval
                        == 0
            }
            "absoluteYearly" => {
                d.day() as i64 == p["dayOfMonth"].as_i64().unwrap_or(0)
                    && d.month() as i64 == p["month"].as_i64().unwrap_or(0)
                    && (d.year() - start.year()) as i64 % interval == 0
            }
            _ => false,
        };
        if hit {
            dates.push(d);
        }
        d = d.succ_opt().unwrap();
    }
    let mut out = Vec::new();
    for date in dates {
        let local = date.and_time(start.time());
        let utc = if all_day {
            local
        } else {
            dtp_adapters_microsoft::tz::local_to_utc(local, &zone).unwrap_or(local)
        };
        if let Some((from, to)) = window
            && (utc < from || utc > to)
        {
            continue;
        }
        let mut body = m.body.clone();
        body.remove("recurrence");
        body.insert("type".into(), Value::from("occurrence"));
        body.insert("seriesMasterId".into(), Value::from(master));
        body.insert(
            "originalStart".into(),
            Value::from(format!("{}Z", utc.format("%Y-%m-%dT%H:%M:%S"))),
        );
        body.insert("start".into(), json!({"dateTime": dtp_adapters_microsoft::calendar::fmt_graph_time(local), "timeZone": zone}));
        body.insert("end".into(), json!({"dateTime": dtp_adapters_microsoft::calendar::fmt_graph_time(local + dur), "timeZone": zone}));
        out.push(Item {
            id: format!("{master}_OCC_{}", local.format("%Y%m%d%H%M")),
            parent: master.to_string(),
            body,
            ext: BTreeMap::new(),
            mime: None,
        });
    }
    out
}
