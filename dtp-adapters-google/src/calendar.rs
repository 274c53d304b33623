//! Calendars over the Calendar API v3 (docs/provider-notes.md G4).
//!
//! **Export** ([`CalendarExporter`]): `GET users/me/calendarList` (pages of
//! up to 250) gives the calendars (free/busy-only entries are skipped: their
//! events cannot be read); then per calendar `GET calendars/{id}/events`
//! with `singleEvents=false`, so a recurring event comes once as its series.
//! For each series the exceptions are fetched with
//! `events.list?iCalUID=…&showDeleted=true`: a modified instance (one with
//! `recurringEventId`/`originalStartTime`) becomes an override of the series,
//! a cancelled one an `EXDATE`. Instances listed on their own come with
//! their series, except when the series is not in the calendar (an
//! invitation to one occurrence): such an instance is exported alone with
//! its `RECURRENCE-ID`, and imported as a plain event that remembers it. All-day events (`date`) become dates;
//! timed events with a `timeZone` become local times in that zone (the
//! offset Google writes is converted with the IANA database), others UTC.
//! Attendees (with response status, optional, resource, comment, extra
//! guests), the organizer and reminders (`popup`/`email` overrides as
//! `VALARM`s; `useDefault` kept) map onto the model; writable fields the
//! model has no slot for (colour, extended properties, attachments,
//! conference data, guest permissions, source, event type) travel verbatim
//! as `X-GOOGLE-EVENT-<FIELD>` JSON properties. A page token the server no
//! longer accepts (410 `fullSyncRequired`) restarts that calendar's listing;
//! the records already exported are the same records, so the driver's
//! idempotent keys keep them once. The primary calendar is exported only if
//! it holds events (every account has one, the destination too); it is
//! marked `X-GOOGLE-PRIMARY` and imported into the destination's primary.
//!
//! **Import** ([`CalendarImporter`]): calendars with `POST calendars` (an
//! owned calendar of the same name is reused; the colour set with
//! `PATCH users/me/calendarList/{id}?colorRgbFormat=true`), events with
//! `POST calendars/{id}/events/import` keyed by `iCalUID`: the series first,
//! then each override with `recurringEventId` and `originalStartTime`.
//! `events.import` adds a private copy and sends no invitations (it takes no
//! `sendUpdates`; the fake fails any request that would e-mail guests).
//! Before importing, `events.list?iCalUID=` looks for the event, so reruns
//! and resumed runs add nothing. An event without a start (which Google
//! requires) gets a placeholder all-day start marked in its private
//! extended properties, removed again on export.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use dtp_core::{
    AuthData, Cursor, Error, ExportContext, ExportPage, Exporter, ImportContext, Importer,
    RateLimit, Result,
};
use dtp_models::DateTimeValue;
use dtp_models::calendar::{
    Alarm, CalAddress, Calendar, CalendarData, Classification, Event, Status, Transparency,
};
use dtp_models::props::{Param, RawProperty};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::client::{Api, GoogleClient, Request};
use crate::error::is_full_sync_required;
use crate::limits::{self, Side};

/// Prefix of the properties carrying event fields verbatim.
pub const RAW_PREFIX: &str = "X-GOOGLE-EVENT-";
/// Property marking the primary calendar.
pub const PRIMARY_PROPERTY: &str = "X-GOOGLE-PRIMARY";
/// Property marking an event that uses the calendar's default reminders.
pub const DEFAULT_REMINDERS_PROPERTY: &str = "X-GOOGLE-USE-DEFAULT-REMINDERS";
/// Property holding a recurrence line other than `RRULE`/`EXDATE`.
pub const RECURRENCE_PROPERTY: &str = "X-GOOGLE-RECURRENCE";

/// Event fields carried verbatim (writable, no slot in the model).
const VERBATIM: &[&str] = &[
    "colorId",
    "extendedProperties",
    "attachments",
    "conferenceData",
    "source",
    "guestsCanInviteOthers",
    "guestsCanModify",
    "guestsCanSeeOtherGuests",
    "anyoneCanAddSelf",
    "privateCopy",
    "locked",
    "endTimeUnspecified",
    "eventType",
    "gadget",
    "focusTimeProperties",
    "outOfOfficeProperties",
    "workingLocationProperties",
    "birthdayProperties",
];

/// Private extended properties the importer adds and the exporter removes.
const NO_START: &str = "dtp.noStart";
const NO_END: &str = "dtp.noEnd";
const DURATION: &str = "dtp.duration";
/// The original start of a lone instance (an invitation to one occurrence),
/// kept because Google stores it as a plain event.
const ORPHAN_ORIGINAL_START: &str = "dtp.originalStartTime";

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
enum CalCursor {
    List {
        page_token: Option<String>,
    },
    Events {
        calendar_id: String,
        page_token: Option<String>,
        /// The container still to emit with the first non-empty page (the
        /// primary calendar).
        pending: Option<Box<Calendar>>,
    },
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct CalendarListPage {
    items: Vec<Value>,
    next_page_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct EventsPage {
    items: Vec<Value>,
    next_page_token: Option<String>,
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
}

/// Exports calendars and events.
#[derive(Debug, Clone)]
pub struct CalendarExporter {
    client: GoogleClient,
    page_size: u32,
}

impl CalendarExporter {
    /// An exporter over `client`, 250 events per page.
    pub fn new(client: GoogleClient) -> Self {
        CalendarExporter {
            client,
            page_size: 250,
        }
    }

    /// Sets the page size (1–2500).
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, 2500);
        self
    }

    async fn events_page(
        &self,
        auth: &AuthData,
        calendar_id: &str,
        page_token: Option<&str>,
    ) -> Result<EventsPage> {
        self.client
            .json(
                auth,
                Request::get(
                    Api::Calendar,
                    format!("calendars/{}/events", enc(calendar_id)),
                )
                .query("singleEvents", "false")
                .query("maxResults", self.page_size.to_string())
                .query_opt("pageToken", page_token),
            )
            .await
    }

    /// Whether the series `id` is readable in `calendar` (not deleted).
    async fn series_exists(&self, auth: &AuthData, calendar: &str, id: &str) -> Result<bool> {
        match self
            .client
            .json::<Value>(
                auth,
                Request::get(
                    Api::Calendar,
                    format!("calendars/{}/events/{}", enc(calendar), enc(id)),
                ),
            )
            .await
        {
            Ok(v) => Ok(s(&v, "status").as_deref() != Some("cancelled")),
            Err(e) if *e.kind() == dtp_core::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The series with its exceptions attached.
    async fn with_exceptions(
        &self,
        auth: &AuthData,
        calendar_id: &str,
        master: &Value,
    ) -> Result<Event> {
        let mut ev = event_from_google(master, calendar_id)?;
        let Some(uid) = s(master, "iCalUID") else {
            return Ok(ev);
        };
        let master_id = s(master, "id").unwrap_or_default();
        let mut token: Option<String> = None;
        loop {
            let page: EventsPage = self
                .client
                .json(
                    auth,
                    Request::get(
                        Api::Calendar,
                        format!("calendars/{}/events", enc(calendar_id)),
                    )
                    .query("iCalUID", &uid)
                    .query("showDeleted", "true")
                    .query("singleEvents", "false")
                    .query_opt("pageToken", token.as_deref()),
                )
                .await?;
            for inst in &page.items {
                if s(inst, "recurringEventId").as_deref() != Some(master_id.as_str()) {
                    continue;
                }
                let Some(orig) = inst.get("originalStartTime").and_then(time_from_google) else {
                    continue;
                };
                if s(inst, "status").as_deref() == Some("cancelled") {
                    if !ev.exdate.contains(&orig) {
                        ev.exdate.push(orig);
                    }
                } else {
                    let mut o = event_from_google(inst, calendar_id)?;
                    o.id = ev.id.clone();
                    o.recurrence_id = Some(orig);
                    ev.overrides.push(o);
                }
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(ev)
    }
}

fn calendar_from_entry(e: &Value) -> Option<Calendar> {
    let id = s(e, "id")?;
    let name = s(e, "summaryOverride")
        .or_else(|| s(e, "summary"))
        .unwrap_or_else(|| id.clone());
    let mut c = Calendar::new(&id, name);
    c.description = s(e, "description");
    c.color = s(e, "backgroundColor");
    c.timezone = s(e, "timeZone");
    if e.get("primary").and_then(Value::as_bool) == Some(true) {
        c.properties
            .push(RawProperty::new(PRIMARY_PROPERTY, "TRUE"));
    }
    Some(c)
}

#[async_trait]
impl Exporter<CalendarData> for CalendarExporter {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<CalendarData>> {
        let cur = if cursor.is_root() {
            CalCursor::List { page_token: None }
        } else {
            cursor.decode()?
        };
        match cur {
            CalCursor::List { page_token } => {
                let page: CalendarListPage = self
                    .client
                    .json(
                        auth,
                        Request::get(Api::Calendar, "users/me/calendarList")
                            .query("maxResults", "250")
                            .query_opt("pageToken", page_token.as_deref()),
                    )
                    .await?;
                let mut out = ExportPage::new();
                for e in &page.items {
                    if s(e, "accessRole").as_deref() == Some("freeBusyReader")
                        || e.get("deleted").and_then(Value::as_bool) == Some(true)
                    {
                        continue;
                    }
                    let Some(cal) = calendar_from_entry(e) else {
                        continue;
                    };
                    let primary = e.get("primary").and_then(Value::as_bool) == Some(true);
                    let next = CalCursor::Events {
                        calendar_id: cal.id.clone(),
                        page_token: None,
                        pending: primary.then(|| Box::new(cal.clone())),
                    };
                    if !primary {
                        out = out.with_container(cal);
                    }
                    out = out.with_next(Cursor::new(&next)?);
                }
                if let Some(t) = page.next_page_token.filter(|t| !t.is_empty()) {
                    out = out.with_next(Cursor::new(&CalCursor::List {
                        page_token: Some(t),
                    })?);
                }
                Ok(out)
            }
            CalCursor::Events {
                calendar_id,
                page_token,
                mut pending,
            } => {
                let page = match self
                    .events_page(auth, &calendar_id, page_token.as_deref())
                    .await
                {
                    Err(e) if page_token.is_some() && is_full_sync_required(&e) => {
                        tracing::info!(calendar = %calendar_id, "page token expired (410); listing the calendar again");
                        self.events_page(auth, &calendar_id, None).await?
                    }
                    other => other?,
                };
                let mut out = ExportPage::new();
                let on_page: std::collections::HashSet<String> =
                    page.items.iter().filter_map(|i| s(i, "id")).collect();
                let mut masters: BTreeMap<String, bool> = BTreeMap::new();
                for item in &page.items {
                    if s(item, "status").as_deref() == Some("cancelled") {
                        continue;
                    }
                    if let Some(master) = s(item, "recurringEventId") {
                        // An instance comes with its series, unless the
                        // series is not in this calendar (an invitation to
                        // one occurrence): then it stands alone.
                        if on_page.contains(&master) {
                            continue;
                        }
                        let exists = match masters.get(&master) {
                            Some(e) => *e,
                            None => {
                                let e = self.series_exists(auth, &calendar_id, &master).await?;
                                masters.insert(master.clone(), e);
                                e
                            }
                        };
                        if exists {
                            continue;
                        }
                        let mut ev = event_from_google(item, &calendar_id)?;
                        ev.recurrence_id = item.get("originalStartTime").and_then(time_from_google);
                        if let Some(c) = pending.take() {
                            out = out.with_container(*c);
                        }
                        out = out.with_item(ev);
                        continue;
                    }
                    let ev = if item.get("recurrence").is_some() {
                        self.with_exceptions(auth, &calendar_id, item).await?
                    } else {
                        event_from_google(item, &calendar_id)?
                    };
                    if let Some(c) = pending.take() {
                        out = out.with_container(*c);
                    }
                    out = out.with_item(ev);
                }
                if let Some(t) = page.next_page_token.filter(|t| !t.is_empty()) {
                    out = out.with_next(Cursor::new(&CalCursor::Events {
                        calendar_id,
                        page_token: Some(t),
                        pending,
                    })?);
                }
                Ok(out)
            }
        }
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        let c = self.client.config();
        c.rate_limits
            .then(|| limits::rate_limit(Api::Calendar, Side::Export, &c.account, 0))
    }
}

// ---------------------------------------------------------------- times

/// A Google `EventDateTime` (`date`, or `dateTime` + optional `timeZone`).
fn time_from_google(t: &Value) -> Option<DateTimeValue> {
    if let Some(d) = s(t, "date") {
        return NaiveDate::parse_from_str(&d, "%Y-%m-%d")
            .ok()
            .map(DateTimeValue::Date);
    }
    let dt = s(t, "dateTime")?;
    let tz = s(t, "timeZone");
    match DateTime::parse_from_rfc3339(&dt) {
        Ok(at) => match tz.as_deref().and_then(|z| z.parse::<chrono_tz::Tz>().ok()) {
            Some(zone) => Some(DateTimeValue::zoned(
                tz.unwrap_or_default(),
                at.with_timezone(&zone).naive_local(),
            )),
            None => Some(DateTimeValue::Utc(at.with_timezone(&Utc).naive_utc())),
        },
        // A local time with its zone named apart.
        Err(_) => {
            let local = NaiveDateTime::parse_from_str(&dt, "%Y-%m-%dT%H:%M:%S").ok()?;
            Some(match tz {
                Some(z) => DateTimeValue::zoned(z, local),
                None => DateTimeValue::Floating(local),
            })
        }
    }
}

fn time_to_google(t: &DateTimeValue) -> Value {
    match t {
        DateTimeValue::Date(d) => json!({"date": d.format("%Y-%m-%d").to_string()}),
        DateTimeValue::Utc(u) => json!({"dateTime": format!("{}Z", u.format("%Y-%m-%dT%H:%M:%S"))}),
        DateTimeValue::Zoned { tzid, local } => {
            json!({"dateTime": local.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": tzid})
        }
        // Google has no floating time: UTC is the closest.
        DateTimeValue::Floating(l) => {
            json!({"dateTime": format!("{}Z", l.format("%Y-%m-%dT%H:%M:%S"))})
        }
        _ => json!({}),
    }
}

fn ical_stamp(t: &DateTimeValue) -> (String, String) {
    match t {
        DateTimeValue::Date(d) => (";VALUE=DATE".into(), d.format("%Y%m%d").to_string()),
        DateTimeValue::Utc(u) => (String::new(), format!("{}Z", u.format("%Y%m%dT%H%M%S"))),
        DateTimeValue::Zoned { tzid, local } => (
            format!(";TZID={tzid}"),
            local.format("%Y%m%dT%H%M%S").to_string(),
        ),
        DateTimeValue::Floating(l) => (String::new(), l.format("%Y%m%dT%H%M%S").to_string()),
        _ => (String::new(), String::new()),
    }
}

/// Parses an `EXDATE` line into its values.
fn parse_exdate(line: &str) -> Option<Vec<DateTimeValue>> {
    let (head, values) = line.split_once(':')?;
    let mut tzid = None;
    let mut is_date = false;
    for p in head.split(';').skip(1) {
        let (k, v) = p.split_once('=')?;
        if k.eq_ignore_ascii_case("TZID") {
            tzid = Some(v.to_string());
        } else if k.eq_ignore_ascii_case("VALUE") && v.eq_ignore_ascii_case("DATE") {
            is_date = true;
        }
    }
    values
        .split(',')
        .map(|v| {
            let v = v.trim();
            if is_date || v.len() == 8 {
                return NaiveDate::parse_from_str(v, "%Y%m%d")
                    .ok()
                    .map(DateTimeValue::Date);
            }
            let (body, utc) = match v.strip_suffix('Z') {
                Some(b) => (b, true),
                None => (v, false),
            };
            let local = NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S").ok()?;
            Some(match (&tzid, utc) {
                (_, true) => DateTimeValue::Utc(local),
                (Some(z), false) => DateTimeValue::zoned(z.clone(), local),
                (None, false) => DateTimeValue::Floating(local),
            })
        })
        .collect()
}

/// Parses a negative trigger (`-PT15M`, `-PT1H`, `-P1D`, `-P1W`, `PT0S`) into
/// minutes before the start.
fn trigger_minutes(trigger: &str) -> Option<i64> {
    let t = trigger.trim();
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let rest = rest.strip_prefix('P')?;
    let mut minutes = 0i64;
    let mut num = String::new();
    let mut in_time = false;
    for c in rest.chars() {
        match c {
            'T' => in_time = true,
            '0'..='9' => num.push(c),
            unit => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                minutes += match (unit, in_time) {
                    ('W', false) => n * 7 * 24 * 60,
                    ('D', false) => n * 24 * 60,
                    ('H', true) => n * 60,
                    ('M', true) => n,
                    ('S', true) => n / 60,
                    _ => return None,
                };
            }
        }
    }
    if !num.is_empty() {
        return None;
    }
    Some(if neg || minutes == 0 {
        minutes
    } else {
        -minutes
    })
    .filter(|m| *m >= 0)
}

fn duration_minutes(d: &str) -> Option<i64> {
    // A positive duration: reuse the trigger parser on its negation.
    trigger_minutes(&format!("-{}", d.trim_start_matches('+')))
}

// ---------------------------------------------------------------- events

fn partstat_from(s: &str) -> &'static str {
    match s {
        "accepted" => "ACCEPTED",
        "declined" => "DECLINED",
        "tentative" => "TENTATIVE",
        _ => "NEEDS-ACTION",
    }
}

fn partstat_to(s: &str) -> &'static str {
    match s.to_ascii_uppercase().as_str() {
        "ACCEPTED" => "accepted",
        "DECLINED" => "declined",
        "TENTATIVE" => "tentative",
        _ => "needsAction",
    }
}

fn mailto(email: &str) -> String {
    format!("mailto:{email}")
}

fn email_of(address: &str) -> &str {
    address
        .strip_prefix("mailto:")
        .or_else(|| address.strip_prefix("MAILTO:"))
        .unwrap_or(address)
}

/// Maps a Google event to the model (no exceptions attached).
pub fn event_from_google(g: &Value, calendar_id: &str) -> Result<Event> {
    let id = s(g, "id").ok_or_else(|| Error::invalid_data("an event without id"))?;
    let uid = s(g, "iCalUID").unwrap_or_else(|| id.clone());
    let mut ev = Event::new(&id, calendar_id, uid, s(g, "summary").unwrap_or_default());
    ev.description = s(g, "description");
    ev.location = s(g, "location");
    let private: BTreeMap<String, String> = g
        .pointer("/extendedProperties/private")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    if !private.contains_key(NO_START) {
        ev.start = g.get("start").and_then(time_from_google);
    }
    if let Some(orig) = private.get(ORPHAN_ORIGINAL_START) {
        ev.recurrence_id = serde_json::from_str::<Value>(orig)
            .ok()
            .as_ref()
            .and_then(time_from_google);
    }
    if let Some(d) = private.get(DURATION) {
        ev.duration = Some(d.clone());
    } else if !private.contains_key(NO_END) && !private.contains_key(NO_START) {
        ev.end = g.get("end").and_then(time_from_google);
    }
    ev.status = s(g, "status").map(|x| match x.as_str() {
        "tentative" => Status::Tentative,
        "cancelled" => Status::Cancelled,
        _ => Status::Confirmed,
    });
    ev.transparency = s(g, "transparency").map(|t| {
        if t == "transparent" {
            Transparency::Transparent
        } else {
            Transparency::Opaque
        }
    });
    ev.class = s(g, "visibility").and_then(|v| match v.as_str() {
        "public" => Some(Classification::Public),
        "private" => Some(Classification::Private),
        "confidential" => Some(Classification::Confidential),
        _ => None,
    });
    ev.sequence = g.get("sequence").and_then(Value::as_i64);
    for line in g
        .get("recurrence")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let upper = line.to_ascii_uppercase();
        if let Some(rule) = upper.starts_with("RRULE:").then(|| &line[6..]) {
            ev.rrule.push(rule.to_string());
        } else if upper.starts_with("EXDATE")
            && let Some(values) = parse_exdate(line)
        {
            ev.exdate.extend(values);
        } else {
            ev.properties
                .push(RawProperty::new(RECURRENCE_PROPERTY, line));
        }
    }
    if let Some(o) = g.get("organizer")
        && let Some(email) = s(o, "email")
    {
        let mut a = CalAddress::new(mailto(&email));
        a.name = s(o, "displayName");
        ev.organizer = Some(a);
    }
    for at in g
        .get("attendees")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(email) = s(at, "email") else {
            continue;
        };
        let mut a = CalAddress::new(mailto(&email));
        a.name = s(at, "displayName");
        a.role = Some(
            if at.get("optional").and_then(Value::as_bool) == Some(true) {
                "OPT-PARTICIPANT"
            } else {
                "REQ-PARTICIPANT"
            }
            .to_string(),
        );
        a.partstat = Some(partstat_from(&s(at, "responseStatus").unwrap_or_default()).to_string());
        if at.get("resource").and_then(Value::as_bool) == Some(true) {
            a.params.push(Param::new("CUTYPE", &["RESOURCE"]));
        }
        if let Some(c) = s(at, "comment") {
            a.params.push(Param::new("X-GOOGLE-COMMENT", &[c.as_str()]));
        }
        if let Some(n) = at
            .get("additionalGuests")
            .and_then(Value::as_i64)
            .filter(|n| *n > 0)
        {
            a.params
                .push(Param::new("X-NUM-GUESTS", &[n.to_string().as_str()]));
        }
        ev.attendees.push(a);
    }
    if let Some(r) = g.get("reminders") {
        if r.get("useDefault").and_then(Value::as_bool) == Some(true) {
            ev.properties
                .push(RawProperty::new(DEFAULT_REMINDERS_PROPERTY, "TRUE"));
        }
        for o in r
            .get("overrides")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let minutes = o.get("minutes").and_then(Value::as_i64).unwrap_or(0);
            let action = if s(o, "method").as_deref() == Some("email") {
                "EMAIL"
            } else {
                "DISPLAY"
            };
            ev.alarms.push(Alarm::new(action, format!("-PT{minutes}M")));
        }
    }
    for f in VERBATIM {
        let Some(v) = g.get(*f) else { continue };
        // Every importable event is of the default type.
        if *f == "eventType" && v == "default" {
            continue;
        }
        let mut v = v.clone();
        if *f == "extendedProperties" {
            if let Some(p) = v.get_mut("private").and_then(Value::as_object_mut) {
                p.retain(|k, _| !k.starts_with("dtp."));
            }
            if let Some(m) = v.as_object_mut() {
                m.retain(|_, x| !x.as_object().is_some_and(Map::is_empty));
            }
            if v.as_object().is_some_and(Map::is_empty) {
                continue;
            }
        }
        ev.properties.push(RawProperty::text(
            format!("{RAW_PREFIX}{}", f.to_ascii_uppercase()),
            &v.to_string(),
        ));
    }
    Ok(ev)
}

/// The `events.import` body for `ev` (a series or a single event; overrides
/// are imported apart with [`override_body`]).
pub fn event_to_google(ev: &Event, uid: &str) -> Value {
    let mut g = Map::new();
    g.insert("iCalUID".into(), json!(uid));
    if !ev.summary.is_empty() {
        g.insert("summary".into(), json!(ev.summary));
    }
    if let Some(d) = &ev.description {
        g.insert("description".into(), json!(d));
    }
    if let Some(l) = &ev.location {
        g.insert("location".into(), json!(l));
    }
    let mut private = Map::new();
    let start = match &ev.start {
        Some(s) => s.clone(),
        None => {
            private.insert(NO_START.into(), json!("1"));
            DateTimeValue::Date(NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date"))
        }
    };
    let end = match (&ev.end, &ev.duration, &ev.start) {
        (Some(e), _, Some(_)) => e.clone(),
        (_, Some(d), Some(_)) => {
            private.insert(DURATION.into(), json!(d));
            add_minutes(&start, duration_minutes(d).unwrap_or(0))
        }
        _ => {
            if ev.start.is_some() {
                private.insert(NO_END.into(), json!("1"));
            }
            match &start {
                DateTimeValue::Date(d) => DateTimeValue::Date(d.succ_opt().unwrap_or(*d)),
                other => other.clone(),
            }
        }
    };
    if let Some(rid) = &ev.recurrence_id {
        private.insert(
            ORPHAN_ORIGINAL_START.into(),
            json!(time_to_google(rid).to_string()),
        );
    }
    g.insert("start".into(), time_to_google(&start));
    g.insert("end".into(), time_to_google(&end));
    if let Some(st) = &ev.status {
        g.insert(
            "status".into(),
            json!(match st {
                Status::Tentative => "tentative",
                Status::Cancelled => "cancelled",
                _ => "confirmed",
            }),
        );
    }
    if let Some(t) = &ev.transparency {
        g.insert(
            "transparency".into(),
            json!(if *t == Transparency::Transparent {
                "transparent"
            } else {
                "opaque"
            }),
        );
    }
    if let Some(c) = &ev.class {
        let v = match c {
            Classification::Public => Some("public"),
            Classification::Private => Some("private"),
            Classification::Confidential => Some("confidential"),
            _ => None,
        };
        if let Some(v) = v {
            g.insert("visibility".into(), json!(v));
        }
    }
    if let Some(n) = ev.sequence {
        g.insert("sequence".into(), json!(n));
    }
    let mut recurrence: Vec<String> = ev.rrule.iter().map(|r| format!("RRULE:{r}")).collect();
    for x in &ev.exdate {
        let (params, value) = ical_stamp(x);
        recurrence.push(format!("EXDATE{params}:{value}"));
    }
    recurrence.extend(
        ev.properties
            .iter()
            .filter(|p| p.name == RECURRENCE_PROPERTY)
            .map(|p| p.value.clone()),
    );
    if !recurrence.is_empty() {
        g.insert("recurrence".into(), json!(recurrence));
    }
    if let Some(o) = &ev.organizer {
        let mut m = Map::new();
        m.insert("email".into(), json!(email_of(&o.address)));
        if let Some(n) = &o.name {
            m.insert("displayName".into(), json!(n));
        }
        g.insert("organizer".into(), Value::Object(m));
    }
    let attendees: Vec<Value> = ev
        .attendees
        .iter()
        .map(|a| {
            let mut m = Map::new();
            m.insert("email".into(), json!(email_of(&a.address)));
            if let Some(n) = &a.name {
                m.insert("displayName".into(), json!(n));
            }
            if a.role
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case("OPT-PARTICIPANT"))
            {
                m.insert("optional".into(), json!(true));
            }
            m.insert(
                "responseStatus".into(),
                json!(partstat_to(a.partstat.as_deref().unwrap_or(""))),
            );
            for p in &a.params {
                let first = p.values.first().cloned().unwrap_or_default();
                match p.name.as_str() {
                    "CUTYPE" if first.eq_ignore_ascii_case("RESOURCE") => {
                        m.insert("resource".into(), json!(true));
                    }
                    "X-GOOGLE-COMMENT" => {
                        m.insert("comment".into(), json!(first));
                    }
                    "X-NUM-GUESTS" => {
                        if let Ok(n) = first.parse::<i64>() {
                            m.insert("additionalGuests".into(), json!(n));
                        }
                    }
                    _ => {}
                }
            }
            Value::Object(m)
        })
        .collect();
    if !attendees.is_empty() {
        g.insert("attendees".into(), json!(attendees));
    }
    let use_default = ev
        .properties
        .iter()
        .any(|p| p.name == DEFAULT_REMINDERS_PROPERTY);
    let overrides: Vec<Value> = ev
        .alarms
        .iter()
        .filter_map(|a| {
            let minutes = trigger_minutes(a.trigger.as_deref()?)?;
            let method = if a
                .action
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case("EMAIL"))
            {
                "email"
            } else {
                "popup"
            };
            Some(json!({"method": method, "minutes": minutes.min(40320)}))
        })
        .take(5)
        .collect();
    g.insert(
        "reminders".into(),
        json!({"useDefault": use_default && overrides.is_empty(), "overrides": overrides}),
    );
    for p in &ev.properties {
        let Some(field) = p.name.strip_prefix(RAW_PREFIX) else {
            continue;
        };
        let Some(name) = VERBATIM.iter().find(|f| f.eq_ignore_ascii_case(field)) else {
            continue;
        };
        if let Some(v) = crate::contacts::raw_json(p) {
            g.insert((*name).to_string(), v);
        }
    }
    if !private.is_empty() {
        let ep = g.entry("extendedProperties").or_insert_with(|| json!({}));
        if let Some(m) = ep.as_object_mut() {
            let pm = m.entry("private").or_insert_with(|| json!({}));
            if let Some(pm) = pm.as_object_mut() {
                pm.extend(private);
            }
        }
    }
    Value::Object(g)
}

fn add_minutes(t: &DateTimeValue, minutes: i64) -> DateTimeValue {
    let d = chrono::Duration::minutes(minutes);
    match t {
        DateTimeValue::Date(x) => DateTimeValue::Date(*x + chrono::Duration::days(minutes / 1440)),
        DateTimeValue::Utc(x) => DateTimeValue::Utc(*x + d),
        DateTimeValue::Floating(x) => DateTimeValue::Floating(*x + d),
        DateTimeValue::Zoned { tzid, local } => DateTimeValue::zoned(tzid.clone(), *local + d),
        other => other.clone(),
    }
}

/// The `events.import` body of an override of series `master_id`.
pub fn override_body(o: &Event, uid: &str, master_id: &str) -> Option<Value> {
    let rid = o.recurrence_id.as_ref()?;
    let mut g = event_to_google(o, uid);
    if let Value::Object(m) = &mut g {
        m.remove("recurrence");
        // An override is linked by recurringEventId, not by the private mark.
        if let Some(Value::Object(ep)) = m.get_mut("extendedProperties") {
            if let Some(Value::Object(p)) = ep.get_mut("private") {
                p.remove(ORPHAN_ORIGINAL_START);
                if p.is_empty() {
                    ep.remove("private");
                }
            }
            if ep.is_empty() {
                m.remove("extendedProperties");
            }
        }
        m.insert("recurringEventId".into(), json!(master_id));
        m.insert("originalStartTime".into(), time_to_google(rid));
    }
    Some(g)
}

// ---------------------------------------------------------------- import

/// A UID derived from a source id, for events that have none.
fn derived_uid(source_id: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(source_id.as_bytes());
    format!("dtp-{}@dtp-rs", &hex::encode(h)[..24])
}

/// Imports calendars and events.
#[derive(Debug, Clone)]
pub struct CalendarImporter {
    client: GoogleClient,
}

impl CalendarImporter {
    /// An importer over `client`.
    pub fn new(client: GoogleClient) -> Self {
        CalendarImporter { client }
    }

    /// The events sharing `uid` in `calendar` (series and its exceptions).
    async fn by_uid(&self, auth: &AuthData, calendar: &str, uid: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page: EventsPage = self
                .client
                .json(
                    auth,
                    Request::get(Api::Calendar, format!("calendars/{}/events", enc(calendar)))
                        .query("iCalUID", uid)
                        .query("showDeleted", "true")
                        .query("singleEvents", "false")
                        .query_opt("pageToken", token.as_deref()),
                )
                .await?;
            out.extend(page.items);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }

    async fn import(&self, auth: &AuthData, calendar: &str, body: &Value) -> Result<String> {
        let created: Value = self
            .client
            .json(
                auth,
                Request::post(
                    Api::Calendar,
                    format!("calendars/{}/events/import", enc(calendar)),
                )
                .query("conferenceDataVersion", "1")
                .query("supportsAttachments", "true")
                .json(body)?,
            )
            .await?;
        s(&created, "id").ok_or_else(|| Error::invalid_data("events.import returned no id"))
    }

    async fn owned_calendar_named(&self, auth: &AuthData, name: &str) -> Result<Option<String>> {
        let mut token: Option<String> = None;
        loop {
            let page: CalendarListPage = self
                .client
                .json(
                    auth,
                    Request::get(Api::Calendar, "users/me/calendarList")
                        .query("maxResults", "250")
                        .query("minAccessRole", "owner")
                        .query_opt("pageToken", token.as_deref()),
                )
                .await?;
            for e in &page.items {
                if s(e, "summary").as_deref() == Some(name)
                    && e.get("primary").and_then(Value::as_bool) != Some(true)
                {
                    return Ok(s(e, "id"));
                }
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(None),
            }
        }
    }

    fn destination_calendar(ctx: &ImportContext, ev: &Event) -> Result<String> {
        ctx.require_container(&ev.calendar_id)
    }

    async fn existing(&self, auth: &AuthData, calendar: &str, uid: &str) -> Result<Option<String>> {
        let found = self.by_uid(auth, calendar, uid).await?;
        Ok(found
            .iter()
            .find(|e| {
                e.get("recurringEventId").is_none()
                    && s(e, "status").as_deref() != Some("cancelled")
            })
            .and_then(|e| s(e, "id")))
    }
}

fn is_primary(c: &Calendar) -> bool {
    c.properties.iter().any(|p| p.name == PRIMARY_PROPERTY)
}

#[async_trait]
impl Importer<CalendarData> for CalendarImporter {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        c: &Calendar,
    ) -> Result<dtp_core::Imported> {
        async move {
            if is_primary(c) {
                return Ok("primary".into());
            }
            if let Some(id) = self.owned_calendar_named(auth, &c.name).await? {
                return Ok(id);
            }
            let mut body = json!({"summary": c.name});
            if let Some(d) = &c.description {
                body["description"] = json!(d);
            }
            if let Some(tz) = &c.timezone {
                body["timeZone"] = json!(tz);
            }
            let created: Value = self
                .client
                .json(auth, Request::post(Api::Calendar, "calendars").json(&body)?)
                .await?;
            let id = s(&created, "id")
                .ok_or_else(|| Error::invalid_data("calendars.insert returned no id"))?;
            // The colour is the user's view of it: a calendarList property.
            if let Some(color) = c
                .color
                .as_deref()
                .filter(|x| x.starts_with('#') && x.len() == 7)
            {
                let patch = Request::new(
                    Api::Calendar,
                    reqwest::Method::PATCH,
                    format!("users/me/calendarList/{}", enc(&id)),
                )
                .query("colorRgbFormat", "true")
                .json(&json!({"backgroundColor": color, "foregroundColor": "#000000"}))?;
                if let Err(e) = self.client.send(auth, patch).await {
                    tracing::warn!(calendar = %id, error = %e, "calendar colour not set");
                }
            }
            Ok(id)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        c: &Calendar,
    ) -> Result<Option<String>> {
        if is_primary(c) {
            return Ok(Some("primary".into()));
        }
        self.owned_calendar_named(auth, &c.name).await
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        ev: &Event,
    ) -> Result<dtp_core::Imported> {
        async move {
            let calendar = Self::destination_calendar(ctx, ev)?;
            let uid = if ev.uid.is_empty() {
                derived_uid(&ev.id)
            } else {
                ev.uid.clone()
            };
            let found = self.by_uid(auth, &calendar, &uid).await?;
            let master_id = match found.iter().find(|e| {
                e.get("recurringEventId").is_none()
                    && s(e, "status").as_deref() != Some("cancelled")
            }) {
                Some(e) => s(e, "id").unwrap_or_default(),
                None => {
                    self.import(auth, &calendar, &event_to_google(ev, &uid))
                        .await?
                }
            };
            for o in &ev.overrides {
                let Some(body) = override_body(o, &uid, &master_id) else {
                    continue;
                };
                let already = found.iter().any(|e| {
                    s(e, "recurringEventId").as_deref() == Some(master_id.as_str())
                        && e.get("originalStartTime").and_then(time_from_google)
                            == o.recurrence_id.clone()
                });
                if !already {
                    self.import(auth, &calendar, &body).await?;
                }
            }
            Ok(master_id)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        ev: &Event,
    ) -> Result<Option<String>> {
        let calendar = Self::destination_calendar(ctx, ev)?;
        let uid = if ev.uid.is_empty() {
            derived_uid(&ev.id)
        } else {
            ev.uid.clone()
        };
        // A series is complete only with its overrides: import_item adds the
        // missing ones, so only a single event counts as found here.
        if !ev.overrides.is_empty() {
            return Ok(None);
        }
        self.existing(auth, &calendar, &uid).await
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        let c = self.client.config();
        c.rate_limits
            .then(|| limits::rate_limit(Api::Calendar, Side::Import, &c.account, 0))
    }
}

/// Converts `t` to the instant it denotes (UTC), when it has one.
pub fn instant(t: &DateTimeValue) -> Option<DateTime<Utc>> {
    match t {
        DateTimeValue::Utc(u) => Some(Utc.from_utc_datetime(u)),
        DateTimeValue::Zoned { tzid, local } => {
            let tz: chrono_tz::Tz = tzid.parse().ok()?;
            tz.from_local_datetime(local)
                .earliest()
                .map(|d| d.with_timezone(&Utc))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_between_zones_and_back() {
        let t = time_from_google(
            &json!({"dateTime": "2025-03-10T14:00:00Z", "timeZone": "America/New_York"}),
        )
        .unwrap();
        assert_eq!(
            t,
            DateTimeValue::zoned(
                "America/New_York",
                NaiveDateTime::parse_from_str("2025-03-10T10:00:00", "%Y-%m-%dT%H:%M:%S").unwrap()
            )
        );
        assert_eq!(
            time_to_google(&t),
            json!({"dateTime": "2025-03-10T10:00:00", "timeZone": "America/New_York"})
        );
        let d = time_from_google(&json!({"date": "2025-01-02"})).unwrap();
        assert!(d.is_date());
        let u = time_from_google(&json!({"dateTime": "2025-01-02T10:00:00+01:00"})).unwrap();
        assert_eq!(
            u,
            DateTimeValue::Utc(
                NaiveDateTime::parse_from_str("2025-01-02T09:00:00", "%Y-%m-%dT%H:%M:%S").unwrap()
            )
        );
    }

    #[test]
    fn exdates_and_triggers_parse() {
        let v = parse_exdate("EXDATE;TZID=Europe/Berlin:20250106T100000,20250113T100000").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].tzid(), Some("Europe/Berlin"));
        assert!(parse_exdate("EXDATE;VALUE=DATE:20250106").unwrap()[0].is_date());
        assert_eq!(trigger_minutes("-PT15M"), Some(15));
        assert_eq!(trigger_minutes("-PT1H30M"), Some(90));
        assert_eq!(trigger_minutes("-P1D"), Some(1440));
        assert_eq!(trigger_minutes("PT0S"), Some(0));
        assert_eq!(trigger_minutes("PT15M"), None);
        assert_eq!(duration_minutes("PT45M"), Some(45));
    }

    #[test]
    fn an_event_maps_to_the_model_and_back() {
        let g = json!({
            "kind": "calendar#event", "id": "abc123", "iCalUID": "abc123@google.com",
            "status": "confirmed", "summary": "Weekly sync", "location": "Room 1",
            "start": {"dateTime": "2025-01-06T15:00:00Z", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2025-01-06T16:00:00Z", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE;TZID=Europe/Berlin:20250113T160000", "RDATE;VALUE=DATE:20250201"],
            "organizer": {"email": "ada@example.org", "displayName": "Ada", "self": true},
            "attendees": [{"email": "bob@example.org", "responseStatus": "accepted", "optional": true, "comment": "late"},
                          {"email": "room@resource.calendar.google.com", "resource": true, "responseStatus": "needsAction"}],
            "reminders": {"useDefault": false, "overrides": [{"method": "email", "minutes": 1440}, {"method": "popup", "minutes": 10}]},
            "colorId": "5",
            "extendedProperties": {"private": {"k": "v", "dtp.noEnd": "1"}}
        });
        let ev = event_from_google(&g, "cal").unwrap();
        assert_eq!(ev.rrule, ["FREQ=WEEKLY;BYDAY=MO"]);
        assert_eq!(ev.exdate.len(), 1);
        assert_eq!(ev.attendees[0].role.as_deref(), Some("OPT-PARTICIPANT"));
        assert_eq!(ev.alarms.len(), 2);
        assert!(ev.end.is_none(), "dtp.noEnd removes the placeholder end");
        let back = event_to_google(&ev, "abc123@google.com");
        assert_eq!(back["recurrence"][0], "RRULE:FREQ=WEEKLY;BYDAY=MO");
        assert_eq!(
            back["recurrence"][1],
            "EXDATE;TZID=Europe/Berlin:20250113T160000"
        );
        assert_eq!(back["recurrence"][2], "RDATE;VALUE=DATE:20250201");
        assert_eq!(
            back["start"],
            json!({"dateTime": "2025-01-06T16:00:00", "timeZone": "Europe/Berlin"})
        );
        assert_eq!(back["attendees"][0]["comment"], "late");
        assert_eq!(back["attendees"][1]["resource"], true);
        assert_eq!(
            back["reminders"]["overrides"][0],
            json!({"method": "email", "minutes": 1440})
        );
        assert_eq!(back["colorId"], "5");
        assert_eq!(back["extendedProperties"]["private"]["k"], "v");
        assert_eq!(back["extendedProperties"]["private"]["dtp.noEnd"], "1");
    }
}
