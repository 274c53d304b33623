//! A stateful fake of the Calendar API v3, answering with the shapes of the
//! reference pages:
//!
//! * `GET calendar/v3/users/me/calendarList` — <https://developers.google.com/calendar/api/v3/reference/calendarList/list>
//!   (`maxResults` ≤ 250, opaque `nextPageToken`, `nextSyncToken` on the last
//!   page only; the account has its primary calendar, `primary: true`);
//! * `POST calendar/v3/calendars` — <https://developers.google.com/calendar/api/v3/reference/calendars/insert>
//!   (`summary` required);
//! * `GET calendar/v3/calendars/{id}/events` — <https://developers.google.com/calendar/api/v3/reference/events/list>
//!   (`maxResults` ≤ 2500; `iCalUID` filter returning the series and its
//!   exceptions; cancelled exceptions only with `showDeleted=true`; the first
//!   page of a non-empty listing is **empty with a `nextPageToken`**;
//!   `dateTime` values written in UTC; optionally one 410
//!   `fullSyncRequired` (legacy error format, provider notes G4) for a page token);
//! * `GET calendar/v3/calendars/{id}/events/{eventId}` — <https://developers.google.com/calendar/api/v3/reference/events/get>;
//! * `POST calendar/v3/calendars/{id}/events/import` — <https://developers.google.com/calendar/api/v3/reference/events/import>
//!   (`iCalUID`, `start`, `end` required, else 400; ids are base32hex;
//!   exceptions need an existing `recurringEventId` and get ids
//!   `<series>_<originalStart>`; importing an `iCalUID` (+ `originalStartTime`)
//!   that exists updates it — the behaviour is UNCONFIRMED, the importer does
//!   not rely on it).
//!
//! Any request with `sendUpdates` other than `none` counts as e-mailing the
//! guests ([`CalendarState::invitations_sent`]).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{FakeAuth, json_response, legacy_error, page_offset, page_token, query_param};

/// One calendar of the fake.
#[derive(Debug, Clone)]
pub struct FakeCalendar {
    /// The id.
    pub id: String,
    /// The summary.
    pub summary: String,
    /// Whether it is the primary calendar.
    pub primary: bool,
    /// Its time zone, when set on insert (else the account's).
    pub time_zone: Option<String>,
    /// Its colour, when set with `calendarList.patch`.
    pub color: Option<String>,
    /// Events in creation order (series, exceptions, single events).
    pub events: Vec<Value>,
}

/// What the fake holds.
#[derive(Debug, Default)]
pub struct CalendarState {
    /// Calendars in creation order (the primary first).
    pub calendars: Vec<FakeCalendar>,
    /// Requests that would have e-mailed guests.
    pub invitations_sent: usize,
    /// Whether the next request with a page token gets 410.
    pub expire_next_page_token: bool,
    /// 410 answers sent.
    pub gone_sent: usize,
    next_id: u64,
}

/// The Calendar fake.
#[derive(Clone)]
pub struct CalendarFake {
    state: Arc<Mutex<CalendarState>>,
    auth: Arc<FakeAuth>,
}

impl std::fmt::Debug for CalendarFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CalendarFake")
    }
}

const ACCOUNT: &str = "test@example.com";

fn not_found() -> ResponseTemplate {
    json_response(404, legacy_error(404, "global", "notFound", "Not Found"))
}

fn bad(message: &str) -> ResponseTemplate {
    json_response(400, legacy_error(400, "global", "required", message))
}

/// `dateTime` + `timeZone` as Google answers it: the instant in UTC.
fn normalize_time(t: &mut Value) {
    let Some(m) = t.as_object_mut() else { return };
    let Some(dt) = m
        .get("dateTime")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let instant = match DateTime::parse_from_rfc3339(&dt) {
        Ok(d) => Some(d.with_timezone(&Utc)),
        Err(_) => {
            let local = NaiveDateTime::parse_from_str(&dt, "%Y-%m-%dT%H:%M:%S").ok();
            let tz = m
                .get("timeZone")
                .and_then(Value::as_str)
                .and_then(|z| z.parse::<chrono_tz::Tz>().ok());
            match (local, tz) {
                (Some(l), Some(z)) => z
                    .from_local_datetime(&l)
                    .earliest()
                    .map(|d| d.with_timezone(&Utc)),
                _ => None,
            }
        }
    };
    if let Some(i) = instant {
        m.insert(
            "dateTime".into(),
            json!(i.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
    }
}

fn valid_time(t: Option<&Value>) -> bool {
    let Some(t) = t else { return false };
    if t.get("date").and_then(Value::as_str).is_some() {
        return true;
    }
    let Some(dt) = t.get("dateTime").and_then(Value::as_str) else {
        return false;
    };
    DateTime::parse_from_rfc3339(dt).is_ok()
        || (t.get("timeZone").and_then(Value::as_str).is_some()
            && NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M:%S").is_ok())
}

fn base32hex(n: u64) -> String {
    const A: &[u8] = b"0123456789abcdefghijklmnopqrstuv";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::new();
    for _ in 0..26 {
        out.push(A[(x % 32) as usize] as char);
        x = x / 32 + n;
    }
    out
}

impl CalendarFake {
    /// Starts a fake accepting `token`, with its primary calendar.
    pub async fn start(token: &str) -> (MockServer, CalendarFake) {
        let server = MockServer::start().await;
        let fake = CalendarFake {
            state: Arc::new(Mutex::new(CalendarState {
                calendars: vec![FakeCalendar {
                    id: ACCOUNT.into(),
                    summary: ACCOUNT.into(),
                    primary: true,
                    time_zone: None,
                    color: None,
                    events: Vec::new(),
                }],
                ..CalendarState::default()
            })),
            auth: Arc::new(FakeAuth::new(token, true)),
        };
        Mock::given(wiremock::matchers::path_regex("^/calendar/v3/"))
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (server, fake)
    }

    /// The token check.
    pub fn auth(&self) -> &FakeAuth {
        &self.auth
    }

    /// Runs `f` on the state.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut CalendarState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds a calendar; returns its id.
    pub fn seed_calendar(&self, summary: &str) -> String {
        self.with_state(|st| st.create_calendar(summary))
    }

    /// Imports `event` into calendar `id` as `events.import` would; returns
    /// the event id.
    pub fn seed_event(&self, calendar: &str, event: Value) -> String {
        self.with_state(|st| match st.import(calendar, event) {
            Ok(v) => v["id"].as_str().unwrap_or_default().to_string(),
            Err(_) => panic!("seed event refused"),
        })
    }

    /// Events of calendar `id` (series, exceptions, single events).
    pub fn events(&self, calendar: &str) -> Vec<Value> {
        self.with_state(|st| {
            st.calendars
                .iter()
                .find(|c| c.id == calendar || (calendar == "primary" && c.primary))
                .map(|c| c.events.clone())
                .unwrap_or_default()
        })
    }
}

impl CalendarState {
    fn create_calendar(&mut self, summary: &str) -> String {
        self.create_calendar_in(summary, None)
    }

    fn create_calendar_in(&mut self, summary: &str, time_zone: Option<String>) -> String {
        self.next_id += 1;
        let id = format!("{}@group.calendar.google.com", base32hex(self.next_id));
        self.calendars.push(FakeCalendar {
            id: id.clone(),
            summary: summary.to_string(),
            primary: false,
            time_zone,
            color: None,
            events: Vec::new(),
        });
        id
    }

    fn calendar_mut(&mut self, id: &str) -> Option<&mut FakeCalendar> {
        self.calendars
            .iter_mut()
            .find(|c| c.id == id || (id == "primary" && c.primary))
    }

    fn import(&mut self, calendar: &str, body: Value) -> Result<Value, ResponseTemplate> {
        let Value::Object(mut ev) = body else {
            return Err(bad("Invalid event."));
        };
        let Some(uid) = ev
            .get("iCalUID")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Err(bad("Missing iCalUID."));
        };
        if !valid_time(ev.get("start")) {
            return Err(bad("Missing start time."));
        }
        if !valid_time(ev.get("end")) {
            return Err(bad("Missing end time."));
        }
        for k in ["start", "end", "originalStartTime"] {
            if let Some(t) = ev.get_mut(k) {
                normalize_time(t);
            }
        }
        self.next_id += 1;
        let n = self.next_id;
        let Some(cal) = self.calendar_mut(calendar) else {
            return Err(not_found());
        };
        let recurring = ev
            .get("recurringEventId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let original = ev.get("originalStartTime").cloned();
        if let Some(master) = &recurring
            && !cal.events.iter().any(|e| e["id"] == json!(master))
        {
            return Err(bad("Invalid recurringEventId."));
        }
        let existing = cal.events.iter().position(|e| {
            e["iCalUID"] == json!(uid)
                && e.get("recurringEventId").and_then(Value::as_str) == recurring.as_deref()
                && e.get("originalStartTime") == original.as_ref()
        });
        let id = match (&existing, &recurring, &original) {
            (Some(i), _, _) => cal.events[*i]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            (None, Some(master), Some(orig)) => {
                let stamp = orig
                    .get("dateTime")
                    .and_then(Value::as_str)
                    .map(|d| d.replace(['-', ':'], ""))
                    .or_else(|| {
                        orig.get("date")
                            .and_then(Value::as_str)
                            .map(|d| d.replace('-', ""))
                    })
                    .unwrap_or_default();
                format!("{master}_{stamp}")
            }
            _ => base32hex(n),
        };
        ev.insert("kind".into(), json!("calendar#event"));
        ev.insert("id".into(), json!(id));
        ev.insert("etag".into(), json!(format!("\"{n}\"")));
        ev.insert(
            "htmlLink".into(),
            json!(format!("https://www.google.com/calendar/event?eid={id}")),
        );
        ev.insert("created".into(), json!("2026-01-01T00:00:00.000Z"));
        ev.insert("updated".into(), json!("2026-01-01T00:00:00.000Z"));
        ev.insert("creator".into(), json!({"email": ACCOUNT, "self": true}));
        ev.entry("organizer")
            .or_insert_with(|| json!({"email": ACCOUNT, "self": true}));
        ev.entry("status").or_insert_with(|| json!("confirmed"));
        ev.entry("sequence").or_insert_with(|| json!(0));
        ev.entry("eventType").or_insert_with(|| json!("default"));
        ev.entry("reminders")
            .or_insert_with(|| json!({"useDefault": true}));
        let v = Value::Object(ev);
        match existing {
            Some(i) => cal.events[i] = v.clone(),
            None => cal.events.push(v.clone()),
        }
        Ok(v)
    }
}

fn entry_json(c: &FakeCalendar) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!("calendar#calendarListEntry"));
    m.insert("etag".into(), json!("\"1\""));
    m.insert("id".into(), json!(c.id));
    m.insert("summary".into(), json!(c.summary));
    m.insert(
        "timeZone".into(),
        json!(c.time_zone.as_deref().unwrap_or("Europe/Berlin")),
    );
    m.insert("colorId".into(), json!("14"));
    m.insert(
        "backgroundColor".into(),
        json!(c.color.as_deref().unwrap_or("#9fe1e7")),
    );
    m.insert("foregroundColor".into(), json!("#000000"));
    m.insert("selected".into(), json!(true));
    m.insert("accessRole".into(), json!("owner"));
    m.insert(
        "defaultReminders".into(),
        json!([{"method": "popup", "minutes": 10}]),
    );
    if c.primary {
        m.insert("primary".into(), json!(true));
    }
    Value::Object(m)
}

impl Respond for CalendarFake {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(r) = self.auth.check(req) {
            return r;
        }
        if query_param(req, "sendUpdates").is_some_and(|v| v != "none") {
            self.with_state(|st| st.invitations_sent += 1);
        }
        let path = req
            .url
            .path()
            .trim_start_matches("/calendar/v3/")
            .to_string();
        let segs: Vec<String> = path
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let method = req.method.as_str();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
        match (method, seg.as_slice()) {
            ("GET", ["users", "me", "calendarList"]) => {
                if let Some(r) = self.auth.throttle(legacy_error(
                    429,
                    "usageLimits",
                    "rateLimitExceeded",
                    "Rate Limit Exceeded",
                )) {
                    return r;
                }
                let size: usize = query_param(req, "maxResults")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(100);
                if !(1..=250).contains(&size) {
                    return bad("Invalid maxResults.");
                }
                // Every calendar of the fake is owned, so `minAccessRole`
                // filters nothing.
                let all: Vec<Value> = st.calendars.iter().map(entry_json).collect();
                let scope = format!("calendarList:{size}");
                let offset = match query_param(req, "pageToken") {
                    None => 0,
                    Some(t) => match page_offset(&scope, &t) {
                        Some(o) => o,
                        None => return bad("Invalid page token."),
                    },
                };
                let end = (offset + size).min(all.len());
                let mut out = json!({"kind": "calendar#calendarList", "etag": "\"p1\"",
                    "items": all[offset.min(all.len())..end].to_vec()});
                if end < all.len() {
                    out["nextPageToken"] = json!(page_token(&scope, end));
                } else {
                    out["nextSyncToken"] = json!("CKC9sync");
                }
                json_response(200, out)
            }
            ("PATCH", ["users", "me", "calendarList", cal]) => {
                // https://developers.google.com/calendar/api/v3/reference/calendarList/patch
                let rgb = query_param(req, "colorRgbFormat").as_deref() == Some("true");
                let color = body
                    .get("backgroundColor")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if color.is_some() && !rgb {
                    return bad("colorRgbFormat must be true to set RGB colours.");
                }
                let Some(c) = st.calendar_mut(cal) else {
                    return not_found();
                };
                if color.is_some() {
                    c.color = color;
                }
                let e = entry_json(c);
                json_response(200, e)
            }
            ("POST", ["calendars"]) => {
                let Some(summary) = body.get("summary").and_then(Value::as_str) else {
                    return bad("Missing title.");
                };
                let tz = body
                    .get("timeZone")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let id = st.create_calendar_in(summary, tz);
                let mut out = json!({"kind": "calendar#calendar", "etag": "\"c1\"", "id": id,
                    "summary": summary, "timeZone": body.get("timeZone").cloned().unwrap_or(json!("UTC"))});
                if let Some(d) = body.get("description") {
                    out["description"] = d.clone();
                }
                json_response(200, out)
            }
            ("GET", ["calendars", cal, "events"]) => {
                if query_param(req, "singleEvents").as_deref() == Some("true") {
                    return bad("singleEvents=true is not served by this fake.");
                }
                let size: usize = query_param(req, "maxResults")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(250);
                if !(1..=2500).contains(&size) {
                    return bad("Invalid maxResults.");
                }
                let show_deleted = query_param(req, "showDeleted").as_deref() == Some("true");
                let uid = query_param(req, "iCalUID");
                let token = query_param(req, "pageToken");
                if token.is_some() && st.expire_next_page_token {
                    st.expire_next_page_token = false;
                    st.gone_sent += 1;
                    return json_response(
                        410,
                        legacy_error(
                            410,
                            "calendar",
                            "fullSyncRequired",
                            "Sync token is no longer valid, a full sync is required.",
                        ),
                    );
                }
                let Some(c) = st.calendar_mut(cal) else {
                    return not_found();
                };
                let all: Vec<Value> = c
                    .events
                    .iter()
                    .filter(|e| uid.as_ref().is_none_or(|u| e["iCalUID"] == json!(u)))
                    .filter(|e| {
                        show_deleted
                            || e["status"] != json!("cancelled")
                            || e.get("recurringEventId").is_some()
                    })
                    .cloned()
                    .collect();
                let scope = format!("events:{cal}:{size}:{uid:?}:{show_deleted}");
                let (offset, empty_first) = match &token {
                    None => (0, !all.is_empty() && uid.is_none()),
                    Some(t) => match page_offset(&scope, t) {
                        Some(o) => (o, false),
                        None => return bad("Invalid page token."),
                    },
                };
                let mut out = json!({"kind": "calendar#events", "etag": "\"e1\"",
                    "summary": c.summary, "updated": "2026-01-01T00:00:00.000Z",
                    "timeZone": "Europe/Berlin", "accessRole": "owner",
                    "defaultReminders": [{"method": "popup", "minutes": 10}], "items": []});
                if empty_first {
                    out["nextPageToken"] = json!(page_token(&scope, 0));
                } else {
                    let end = (offset + size).min(all.len());
                    out["items"] = json!(all[offset.min(all.len())..end].to_vec());
                    if end < all.len() {
                        out["nextPageToken"] = json!(page_token(&scope, end));
                    } else {
                        out["nextSyncToken"] = json!("CPDAlvWDx70CEPDAlvWDx70CGAU=");
                    }
                }
                json_response(200, out)
            }
            ("GET", ["calendars", cal, "events", id]) => {
                // https://developers.google.com/calendar/api/v3/reference/events/get
                let Some(c) = st.calendar_mut(cal) else {
                    return not_found();
                };
                match c.events.iter().find(|e| e["id"] == json!(id)) {
                    Some(e) => json_response(200, e.clone()),
                    None => not_found(),
                }
            }
            ("POST", ["calendars", cal, "events", "import"]) => {
                let cal = cal.to_string();
                match st.import(&cal, body) {
                    Ok(v) => self.auth.deliver(json_response(200, v)),
                    Err(r) => r,
                }
            }
            _ => not_found(),
        }
    }
}
