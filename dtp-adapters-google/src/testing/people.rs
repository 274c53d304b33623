//! A stateful fake of the People API (contacts and contact groups), answering
//! with the shapes of the reference pages:
//!
//! * `GET v1/people/me/connections` — <https://developers.google.com/people/api/rest/v1/people.connections/list>
//!   (`personFields` required, else 400; `pageSize` 1–1000; opaque
//!   `nextPageToken`; empty arrays omitted; the first page of a non-empty
//!   listing is **empty but carries `nextPageToken`**, as Calendar and People
//!   pages may be);
//! * `POST v1/people:createContact` — <https://developers.google.com/people/api/rest/v1/people/createContact>
//!   (singleton fields `names`, `birthdays`, `biographies`, `genders` take at
//!   most one value, else 400; `displayName` computed; the contact joins
//!   `contactGroups/myContacts`);
//! * `POST v1/people:batchCreateContacts` — <https://developers.google.com/people/api/rest/v1/people/batchCreateContacts>
//!   (at most 200 contacts, `readMask` required; one invalid contact fails the
//!   whole batch with `BatchCreateContactsErrorDetails.contactErrors` in
//!   `error.details`; `createdPeople[]` of `PersonResponse`);
//! * `GET/POST v1/contactGroups` — <https://developers.google.com/people/api/rest/v1/contactGroups>
//!   (system groups listed with `groupType: SYSTEM_CONTACT_GROUP`; a second
//!   group of an existing name is 409 `ALREADY_EXISTS`).
//!
//! Every request must carry the valid bearer token (else 401 `authError`);
//! the first `connections` request of an account gets one 429
//! `RESOURCE_EXHAUSTED` with `Retry-After: 1`.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{FakeAuth, json_response, page_offset, page_token, query_param, rpc_error};

const SYSTEM_GROUPS: &[(&str, &str)] = &[
    ("contactGroups/myContacts", "myContacts"),
    ("contactGroups/starred", "starred"),
    ("contactGroups/chatBuddies", "chatBuddies"),
    ("contactGroups/all", "all"),
    ("contactGroups/friends", "friends"),
    ("contactGroups/family", "family"),
    ("contactGroups/coworkers", "coworkers"),
];

const SINGLETONS: &[&str] = &["names", "birthdays", "biographies", "genders"];

/// What the fake holds.
#[derive(Debug, Default)]
pub struct PeopleState {
    /// Contacts in creation order.
    pub people: Vec<Value>,
    /// User contact groups (`resourceName`, `name`).
    pub groups: Vec<(String, String)>,
    /// Requests answered, per path.
    pub requests: Vec<String>,
    /// Contacts per `batchCreateContacts` request.
    pub batch_sizes: Vec<usize>,
    /// `updateContactPhoto` requests carried out.
    pub photo_uploads: usize,
    next_id: u64,
}

/// The People fake. Cheap to clone; all clones share the state.
#[derive(Clone)]
pub struct PeopleFake {
    state: Arc<Mutex<PeopleState>>,
    auth: Arc<FakeAuth>,
}

impl std::fmt::Debug for PeopleFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeopleFake")
    }
}

impl PeopleFake {
    /// Starts a fake accepting `token` on a new mock server.
    pub async fn start(token: &str) -> (MockServer, PeopleFake) {
        let server = MockServer::start().await;
        let fake = PeopleFake {
            state: Arc::new(Mutex::new(PeopleState::default())),
            auth: Arc::new(FakeAuth::new(token, true)),
        };
        Mock::given(wiremock::matchers::path_regex(
            "^/v1/(people|contactGroups)",
        ))
        .respond_with(fake.clone())
        .mount(&server)
        .await;
        (server, fake)
    }

    /// The token check, to expire a token in tests.
    pub fn auth(&self) -> &FakeAuth {
        &self.auth
    }

    /// Runs `f` on the state.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut PeopleState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds a contact as if made in Google's UI; returns its resource name.
    pub fn seed(&self, person: Value) -> String {
        self.with_state(|st| st.insert(person).0)
    }

    /// Adds a user contact group; returns its resource name.
    pub fn seed_group(&self, name: &str) -> String {
        self.with_state(|st| st.create_group(name).unwrap_or_else(|_| name.to_string()))
    }
}

fn bad(message: &str) -> ResponseTemplate {
    json_response(400, rpc_error(400, "INVALID_ARGUMENT", None, message))
}

impl PeopleState {
    fn insert(&mut self, person: Value) -> (String, Value) {
        self.next_id += 1;
        let rn = format!("people/c{}", 7_000_000_000u64 + self.next_id);
        let mut p = match person {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        p.insert("resourceName".into(), json!(rn));
        p.insert(
            "etag".into(),
            json!(format!("%EgUBAgMJLhoEAQIFByIM{}", self.next_id)),
        );
        p.insert(
            "metadata".into(),
            json!({"sources": [{"type": "CONTACT", "id": format!("{:x}", self.next_id),
                "etag": "#abc", "updateTime": "2026-01-01T00:00:00.000Z"}],
                "objectType": "PERSON"}),
        );
        // Computed display names.
        if let Some(Value::Array(names)) = p.get_mut("names") {
            for n in names.iter_mut() {
                let given = n.get("givenName").and_then(Value::as_str).unwrap_or("");
                let family = n.get("familyName").and_then(Value::as_str).unwrap_or("");
                let display = n
                    .get("unstructuredName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{given} {family}").trim().to_string());
                if let Value::Object(m) = n {
                    m.insert("displayName".into(), json!(display));
                    m.insert(
                        "metadata".into(),
                        json!({"primary": true, "source": {"type": "CONTACT"}}),
                    );
                }
            }
        }
        // Every contact is in My Contacts.
        let mut ms = p
            .get("memberships")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mine = json!({"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}});
        if !ms.contains(&mine) {
            ms.insert(0, mine);
        }
        p.insert("memberships".into(), Value::Array(ms));
        let v = Value::Object(p);
        self.people.push(v.clone());
        (rn, v)
    }

    fn create_group(&mut self, name: &str) -> Result<String, ResponseTemplate> {
        if name.trim().is_empty() {
            return Err(bad("Contact group name must not be empty."));
        }
        if self.groups.iter().any(|(_, n)| n == name) {
            return Err(json_response(
                409,
                rpc_error(
                    409,
                    "ALREADY_EXISTS",
                    None,
                    "Contact group name already exists.",
                ),
            ));
        }
        self.next_id += 1;
        let rn = format!("contactGroups/{:x}", 0x5000 + self.next_id);
        self.groups.push((rn.clone(), name.to_string()));
        Ok(rn)
    }

    fn group_json(&self, rn: &str, name: &str, system: bool) -> Value {
        let members = self
            .people
            .iter()
            .filter(|p| {
                p["memberships"].as_array().is_some_and(|ms| {
                    ms.iter().any(|m| {
                        m["contactGroupMembership"]["contactGroupResourceName"] == json!(rn)
                    })
                })
            })
            .count();
        json!({"resourceName": rn, "etag": "grp-etag", "name": name,
            "formattedName": if system && name == "myContacts" { "My Contacts" } else { name },
            "groupType": if system { "SYSTEM_CONTACT_GROUP" } else { "USER_CONTACT_GROUP" },
            "memberCount": members})
    }

    /// Checks a Person body for create; the error answer if invalid.
    fn validate(&self, p: &Value) -> Result<(), String> {
        let Some(m) = p.as_object() else {
            return Err("The person must be an object.".into());
        };
        for f in SINGLETONS {
            if m.get(*f)
                .and_then(Value::as_array)
                .is_some_and(|a| a.len() > 1)
            {
                return Err(format!(
                    "Invalid person: {f} is a singleton field and must have at most one value."
                ));
            }
        }
        for key in ["resourceName", "etag", "metadata", "photos", "coverPhotos"] {
            if m.contains_key(key) {
                return Err(format!("Invalid person: {key} is read only."));
            }
        }
        if let Some(ms) = m.get("memberships").and_then(Value::as_array) {
            for g in ms {
                let rn = g["contactGroupMembership"]["contactGroupResourceName"]
                    .as_str()
                    .unwrap_or("");
                let known = SYSTEM_GROUPS.iter().any(|(r, _)| *r == rn)
                    || self.groups.iter().any(|(r, _)| r == rn);
                if !known {
                    return Err(format!("Contact group {rn} not found."));
                }
            }
        }
        Ok(())
    }
}

/// Keeps `resourceName`, `etag` and the fields of `mask` (comma-separated).
fn masked(p: &Value, mask: &str) -> Value {
    let keep: Vec<&str> = mask.split(',').map(str::trim).collect();
    let mut out = Map::new();
    if let Value::Object(m) = p {
        for (k, v) in m {
            if k == "resourceName" || k == "etag" || keep.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

impl Respond for PeopleFake {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(r) = self.auth.check(req) {
            return r;
        }
        let path = req.url.path().to_string();
        let method = req.method.as_str().to_string();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.requests.push(format!("{method} {path}"));
        match (method.as_str(), path.as_str()) {
            ("GET", "/v1/people/me/connections") => {
                if let Some(r) = self.auth.throttle(rpc_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    Some("RATE_LIMIT_EXCEEDED"),
                    "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'people.googleapis.com'.",
                )) {
                    return r;
                }
                let Some(fields) = query_param(req, "personFields") else {
                    return bad(
                        "personFields mask is required. Please specify one or more valid paths.",
                    );
                };
                let size: usize = query_param(req, "pageSize")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(100);
                if !(1..=1000).contains(&size) {
                    return bad("pageSize must be between 1 and 1000.");
                }
                let scope = format!("connections:{fields}:{size}");
                let (offset, empty_first) = match query_param(req, "pageToken") {
                    None => (0, !st.people.is_empty()),
                    Some(t) => match page_offset(&scope, &t) {
                        Some(o) => (o, false),
                        None => return bad("Request contains an invalid argument: pageToken."),
                    },
                };
                let total = st.people.len();
                let mut out = Map::new();
                if empty_first {
                    out.insert("nextPageToken".into(), json!(page_token(&scope, 0)));
                } else {
                    let end = (offset + size).min(total);
                    let page: Vec<Value> = st.people[offset.min(total)..end]
                        .iter()
                        .map(|p| masked(p, &fields))
                        .collect();
                    if !page.is_empty() {
                        out.insert("connections".into(), Value::Array(page));
                    }
                    if end < total {
                        out.insert("nextPageToken".into(), json!(page_token(&scope, end)));
                    }
                }
                out.insert("totalPeople".into(), json!(total));
                out.insert("totalItems".into(), json!(total));
                json_response(200, Value::Object(out))
            }
            ("POST", "/v1/people:createContact") => {
                if let Err(m) = st.validate(&body) {
                    return bad(&m);
                }
                let fields = query_param(req, "personFields").unwrap_or_default();
                let (_, p) = st.insert(body);
                self.auth.deliver(json_response(
                    200,
                    if fields.is_empty() {
                        p
                    } else {
                        masked(&p, &fields)
                    },
                ))
            }
            ("POST", "/v1/people:batchCreateContacts") => {
                let Some(contacts) = body.get("contacts").and_then(Value::as_array) else {
                    return bad("contacts is required.");
                };
                let Some(mask) = body.get("readMask").and_then(Value::as_str) else {
                    return bad("readMask is required.");
                };
                if contacts.len() > 200 {
                    return bad("Too many contacts in the request: at most 200 are allowed.");
                }
                let mut errors = Map::new();
                for (i, c) in contacts.iter().enumerate() {
                    if let Err(m) = st.validate(&c["contactPerson"]) {
                        errors.insert(i.to_string(), json!({"code": 3, "message": m}));
                    }
                }
                if !errors.is_empty() {
                    return json_response(
                        400,
                        json!({"error": {"code": 400, "message": "Request contains an invalid argument.",
                            "status": "INVALID_ARGUMENT",
                            "details": [{"@type": "type.googleapis.com/google.people.v1.BatchCreateContactsErrorDetails",
                                "contactErrors": errors}]}}),
                    );
                }
                st.batch_sizes.push(contacts.len());
                let created: Vec<Value> = contacts
                    .iter()
                    .map(|c| {
                        let (_, p) = st.insert(c["contactPerson"].clone());
                        let person = if mask.is_empty() {
                            Value::Null
                        } else {
                            masked(&p, mask)
                        };
                        json!({"httpStatusCode": 200, "person": person})
                    })
                    .collect();
                self.auth
                    .deliver(json_response(200, json!({"createdPeople": created})))
            }
            ("PATCH", p) if p.starts_with("/v1/people/") && p.ends_with(":updateContactPhoto") => {
                // https://developers.google.com/people/api/rest/v1/people/updateContactPhoto
                use base64::Engine;
                let rn = p
                    .trim_start_matches("/v1/")
                    .trim_end_matches(":updateContactPhoto")
                    .to_string();
                let Some(b64) = body.get("photoBytes").and_then(Value::as_str) else {
                    return bad("photoBytes is required.");
                };
                let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else {
                    return bad("Invalid value at 'photo_bytes' (TYPE_BYTES)");
                };
                let Some(person) = st
                    .people
                    .iter_mut()
                    .find(|x| x["resourceName"] == json!(rn))
                else {
                    return json_response(
                        404,
                        rpc_error(404, "NOT_FOUND", None, "Requested entity was not found."),
                    );
                };
                use sha2::Digest;
                let h = hex::encode(&sha2::Sha256::digest(&bytes)[..8]);
                person["photos"] = json!([{"metadata": {"primary": true, "source": {"type": "CONTACT"}},
                    "url": format!("https://lh3.googleusercontent.com/contacts/{h}")}]);
                let p = person.clone();
                st.photo_uploads += 1;
                json_response(200, json!({"person": masked(&p, "photos")}))
            }
            ("GET", "/v1/contactGroups") => {
                let mut all: Vec<Value> = SYSTEM_GROUPS
                    .iter()
                    .map(|(rn, n)| st.group_json(rn, n, true))
                    .collect();
                all.extend(st.groups.iter().map(|(rn, n)| st.group_json(rn, n, false)));
                let size: usize = query_param(req, "pageSize")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(30);
                let scope = format!("groups:{size}");
                let offset = match query_param(req, "pageToken") {
                    None => 0,
                    Some(t) => match page_offset(&scope, &t) {
                        Some(o) => o,
                        None => return bad("Request contains an invalid argument: pageToken."),
                    },
                };
                let end = (offset + size).min(all.len());
                let mut out = json!({"contactGroups": all[offset.min(all.len())..end].to_vec(),
                    "totalItems": all.len()});
                if end < all.len() {
                    out["nextPageToken"] = json!(page_token(&scope, end));
                }
                json_response(200, out)
            }
            ("POST", "/v1/contactGroups") => {
                let name = body["contactGroup"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                match st.create_group(&name) {
                    Ok(rn) => {
                        let g = st.group_json(&rn, &name, false);
                        self.auth.deliver(json_response(200, g))
                    }
                    Err(r) => r,
                }
            }
            _ => json_response(
                404,
                rpc_error(404, "NOT_FOUND", None, "Requested entity was not found."),
            ),
        }
    }
}
