//! A stateful fake of the Gmail API, answering with the shapes of the
//! reference pages:
//!
//! * `GET gmail/v1/users/me/labels` — <https://developers.google.com/gmail/api/reference/rest/v1/users.labels/list>
//!   (not paginated; system labels `type: system`, user labels `Label_N`);
//! * `POST gmail/v1/users/me/labels` — <https://developers.google.com/gmail/api/reference/rest/v1/users.labels/create>
//!   (a name that exists, or a system label's name, is refused with 409 —
//!   the exact status is UNCONFIRMED);
//! * `GET gmail/v1/users/me/messages` — <https://developers.google.com/gmail/api/reference/rest/v1/users.messages/list>
//!   (`maxResults` ≤ 500; only `{id, threadId}` per message; SPAM/TRASH only
//!   with `includeSpamTrash=true`; `q` understands `rfc822msgid:`; the first
//!   page of a non-empty listing is **empty with a `nextPageToken`**);
//! * `GET gmail/v1/users/me/messages/{id}?format=raw|minimal` — <https://developers.google.com/gmail/api/reference/rest/v1/users.messages/get>
//!   (`raw` base64url **without padding**, `internalDate` and `historyId`
//!   **strings**);
//! * `POST gmail/v1/users/me/messages/import` (JSON `{raw, labelIds}`) and
//!   `POST upload/gmail/v1/users/me/messages/import?uploadType=multipart|media`
//!   — <https://developers.google.com/gmail/api/reference/rest/v1/users.messages/import>
//!   (`internalDateSource` default `dateHeader`; unknown label ids are 400;
//!   at most 150 MB (the method description); this fake also refuses JSON `raw`
//!   bodies above 5 MiB with 413, so that large messages must take the
//!   upload path — the real JSON-body limit is UNCONFIRMED).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{FakeAuth, json_response, legacy_error, page_offset, page_token, query_param};
use crate::mail::{date_header_millis, decode_raw, encode_raw, message_id};

const SYSTEM: &[&str] = &[
    "INBOX",
    "SENT",
    "DRAFT",
    "TRASH",
    "SPAM",
    "STARRED",
    "UNREAD",
    "IMPORTANT",
    "CHAT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
];

/// One stored message.
#[derive(Debug, Clone)]
pub struct FakeMessage {
    /// The id.
    pub id: String,
    /// The raw RFC 5322 bytes.
    pub raw: Vec<u8>,
    /// Label ids.
    pub labels: Vec<String>,
    /// Epoch milliseconds.
    pub internal_date: i64,
}

/// One `messages.import` request as received.
#[derive(Debug, Clone)]
pub struct ImportCall {
    /// `gmail/v1/…` (JSON) or `upload/gmail/v1/…` (media upload).
    pub upload: bool,
    /// The `internalDateSource` parameter.
    pub internal_date_source: Option<String>,
    /// The `neverMarkSpam` parameter.
    pub never_mark_spam: Option<String>,
    /// Bytes of the message.
    pub size: usize,
}

/// What the fake holds.
#[derive(Debug, Default)]
pub struct GmailState {
    /// Messages, newest last.
    pub messages: Vec<FakeMessage>,
    /// User labels (id, name).
    pub labels: Vec<(String, String)>,
    /// Every import request.
    pub imports: Vec<ImportCall>,
    next_id: u64,
}

/// The Gmail fake.
#[derive(Clone)]
pub struct GmailFake {
    state: Arc<Mutex<GmailState>>,
    auth: Arc<FakeAuth>,
}

impl std::fmt::Debug for GmailFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GmailFake")
    }
}

fn bad(m: &str) -> ResponseTemplate {
    json_response(400, legacy_error(400, "global", "invalidArgument", m))
}

fn not_found() -> ResponseTemplate {
    json_response(
        404,
        legacy_error(404, "global", "notFound", "Requested entity was not found."),
    )
}

impl GmailFake {
    /// Starts a fake accepting `token`.
    pub async fn start(token: &str) -> (MockServer, GmailFake) {
        let server = MockServer::start().await;
        let fake = GmailFake {
            state: Arc::new(Mutex::new(GmailState::default())),
            auth: Arc::new(FakeAuth::new(token, true)),
        };
        Mock::given(wiremock::matchers::path_regex("^/(upload/)?gmail/v1/"))
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (server, fake)
    }

    /// The token check and fault knobs.
    pub fn auth(&self) -> &FakeAuth {
        &self.auth
    }

    /// Runs `f` on the state.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut GmailState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds a user label; returns its id.
    pub fn seed_label(&self, name: &str) -> String {
        self.with_state(|st| st.create_label(name).unwrap_or_default())
    }

    /// Adds a message; returns its id.
    pub fn seed_message(&self, raw: &[u8], labels: &[&str]) -> String {
        self.with_state(|st| {
            st.add(
                raw.to_vec(),
                labels.iter().map(|s| s.to_string()).collect(),
                true,
            )
        })
    }
}

impl GmailState {
    fn create_label(&mut self, name: &str) -> Option<String> {
        if SYSTEM.iter().any(|s| s.eq_ignore_ascii_case(name))
            || self
                .labels
                .iter()
                .any(|(_, n)| n.eq_ignore_ascii_case(name))
        {
            return None;
        }
        self.next_id += 1;
        let id = format!("Label_{}", self.next_id);
        self.labels.push((id.clone(), name.into()));
        Some(id)
    }

    fn add(&mut self, raw: Vec<u8>, labels: Vec<String>, date_header: bool) -> String {
        self.next_id += 1;
        let id = format!("18c{:013x}", 0x1_0000_0000u64 + self.next_id);
        let internal_date = if date_header {
            date_header_millis(&raw).unwrap_or(1_767_225_600_000)
        } else {
            1_767_225_600_000
        };
        self.messages.push(FakeMessage {
            id: id.clone(),
            raw,
            labels,
            internal_date,
        });
        id
    }

    fn known_label(&self, l: &str) -> bool {
        SYSTEM.contains(&l) || self.labels.iter().any(|(id, _)| id == l)
    }

    fn import(
        &mut self,
        auth: &FakeAuth,
        raw: Vec<u8>,
        labels: Vec<String>,
        req: &Request,
        upload: bool,
    ) -> ResponseTemplate {
        if raw.len() as u64 > crate::mail::UPLOAD_MAX {
            return json_response(
                413,
                legacy_error(
                    413,
                    "global",
                    "uploadTooLarge",
                    "Media larger than 157286400 bytes",
                ),
            );
        }
        if let Some(l) = labels.iter().find(|l| !self.known_label(l)) {
            return bad(&format!("Invalid label: {l}"));
        }
        let source = query_param(req, "internalDateSource");
        self.imports.push(ImportCall {
            upload,
            internal_date_source: source.clone(),
            never_mark_spam: query_param(req, "neverMarkSpam"),
            size: raw.len(),
        });
        let by_header = source.as_deref() != Some("receivedTime");
        let id = self.add(raw, labels, by_header);
        let m = self.messages.iter().find(|m| m.id == id).cloned();
        auth.deliver(json_response(
            200,
            m.map(|m| message_json(&m, false)).unwrap_or(Value::Null),
        ))
    }
}

fn message_json(m: &FakeMessage, with_raw: bool) -> Value {
    let mut v = json!({"id": m.id, "threadId": m.id, "labelIds": m.labels,
        "snippet": "", "historyId": format!("{}", 100_000 + m.raw.len()),
        "internalDate": m.internal_date.to_string(), "sizeEstimate": m.raw.len() + 120});
    if with_raw {
        v["raw"] = json!(encode_raw(&m.raw));
    }
    v
}

/// The parts of a `multipart/related` body: (headers, body) each.
fn multipart(body: &[u8], boundary: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut parts = Vec::new();
    let mut rest = body;
    let first = find(rest, d)?;
    rest = &rest[first + d.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, d)?;
        let part = &rest[..end];
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let split = find(part, b"\r\n\r\n")?;
        parts.push((
            String::from_utf8_lossy(&part[..split]).into_owned(),
            part[split + 4..].to_vec(),
        ));
        rest = &rest[end + d.len()..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Respond for GmailFake {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(r) = self.auth.check(req) {
            return r;
        }
        let path = req.url.path().to_string();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let upload = path.starts_with("/upload/");
        let p = path
            .trim_start_matches("/upload")
            .trim_start_matches("/gmail/v1/users/me/");
        let seg: Vec<&str> = p.split('/').collect();
        match (req.method.as_str(), seg.as_slice()) {
            ("GET", ["labels"]) => {
                let mut labels: Vec<Value> = SYSTEM
                    .iter()
                    .map(|s| {
                        json!({"id": s, "name": s, "type": "system",
                        "messageListVisibility": "hide", "labelListVisibility": "labelHide"})
                    })
                    .collect();
                labels.extend(st.labels.iter().map(|(id, n)| {
                    json!({"id": id, "name": n, "type": "user",
                    "messageListVisibility": "show", "labelListVisibility": "labelShow"})
                }));
                json_response(200, json!({"labels": labels}))
            }
            ("POST", ["labels"]) => {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                let Some(name) = body.get("name").and_then(Value::as_str) else {
                    return bad("Invalid label name");
                };
                match st.create_label(name) {
                    Some(id) => json_response(
                        200,
                        json!({"id": id, "name": name, "type": "user",
                        "messageListVisibility": "show", "labelListVisibility": "labelShow"}),
                    ),
                    None => json_response(
                        409,
                        legacy_error(409, "global", "conflict", "Label name exists or conflicts"),
                    ),
                }
            }
            ("GET", ["messages"]) => {
                if let Some(r) = self.auth.throttle(legacy_error(
                    429,
                    "global",
                    "rateLimitExceeded",
                    "Too many concurrent requests for user.",
                )) {
                    return r;
                }
                let size: usize = query_param(req, "maxResults")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(100);
                if !(1..=500).contains(&size) {
                    return bad("Invalid maxResults");
                }
                let spam_trash = query_param(req, "includeSpamTrash").as_deref() == Some("true");
                let q = query_param(req, "q");
                let msgid = match &q {
                    None => None,
                    Some(q) => match q.strip_prefix("rfc822msgid:") {
                        Some(m) => Some(m.trim_matches(['<', '>']).to_string()),
                        None => return bad("This fake understands only rfc822msgid: queries"),
                    },
                };
                // Newest first, as Gmail lists.
                let all: Vec<Value> = st
                    .messages
                    .iter()
                    .rev()
                    .filter(|m| spam_trash || !m.labels.iter().any(|l| l == "SPAM" || l == "TRASH"))
                    .filter(|m| {
                        msgid
                            .as_ref()
                            .is_none_or(|id| message_id(&m.raw).as_ref() == Some(id))
                    })
                    .map(|m| json!({"id": m.id, "threadId": m.id}))
                    .collect();
                let scope = format!("messages:{size}:{spam_trash}:{q:?}");
                let (offset, empty_first) = match query_param(req, "pageToken") {
                    None => (0, !all.is_empty() && q.is_none()),
                    Some(t) => match page_offset(&scope, &t) {
                        Some(o) => (o, false),
                        None => return bad("Invalid pageToken"),
                    },
                };
                let mut out = json!({"resultSizeEstimate": all.len()});
                if empty_first {
                    out["nextPageToken"] = json!(page_token(&scope, 0));
                } else {
                    let end = (offset + size).min(all.len());
                    if end > offset {
                        out["messages"] = json!(all[offset..end].to_vec());
                    }
                    if end < all.len() {
                        out["nextPageToken"] = json!(page_token(&scope, end));
                    }
                }
                json_response(200, out)
            }
            ("GET", ["messages", id]) => {
                let with_raw = query_param(req, "format").as_deref() == Some("raw");
                match st.messages.iter().find(|m| m.id == *id) {
                    Some(m) => json_response(200, message_json(m, with_raw)),
                    None => not_found(),
                }
            }
            ("POST", ["messages", "import"]) if !upload => {
                let body: Value = match serde_json::from_slice(&req.body) {
                    Ok(v) => v,
                    Err(_) => return bad("Invalid JSON payload"),
                };
                let Some(raw) = body.get("raw").and_then(Value::as_str) else {
                    return bad(
                        "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
                    );
                };
                let Ok(raw) = decode_raw(raw) else {
                    return bad("Invalid value for ByteString");
                };
                if raw.len() > 5 * 1024 * 1024 {
                    return json_response(
                        413,
                        legacy_error(
                            413,
                            "global",
                            "requestTooLarge",
                            "Request payload size exceeds the limit",
                        ),
                    );
                }
                let labels = labels_of(&body);
                st.import(&self.auth, raw, labels, req, false)
            }
            ("POST", ["messages", "import"]) => match query_param(req, "uploadType").as_deref() {
                Some("media") => st.import(&self.auth, req.body.clone(), Vec::new(), req, true),
                Some("multipart") => {
                    let ct = req
                        .headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let Some(boundary) = ct
                        .split(';')
                        .find_map(|p| p.trim().strip_prefix("boundary="))
                        .map(|b| b.trim_matches('"').to_string())
                    else {
                        return bad("multipart/related needs a boundary");
                    };
                    let Some(parts) = multipart(&req.body, &boundary) else {
                        return bad("Malformed multipart body");
                    };
                    if parts.len() != 2
                        || !parts[1].0.to_ascii_lowercase().contains("message/rfc822")
                    {
                        return bad("Expected metadata and a message/rfc822 part");
                    }
                    let meta: Value = serde_json::from_slice(&parts[0].1).unwrap_or(Value::Null);
                    st.import(&self.auth, parts[1].1.clone(), labels_of(&meta), req, true)
                }
                _ => bad("Invalid uploadType"),
            },
            _ => not_found(),
        }
    }
}

fn labels_of(v: &Value) -> Vec<String> {
    v.get("labelIds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect()
}
