//! Outlook calendars (`/me/calendars`, `/me/calendars/{id}/events`).
//!
//! **Export** lists every calendar, then each calendar's events with
//! `GET /me/calendars/{id}/events`, which returns single events and series
//! **masters** (not the expanded `calendarView` occurrences), page by page
//! following `@odata.nextLink`, with `Prefer: outlook.timezone="UTC"` and
//! `Prefer: outlook.body-content-type="text"` re-sent on every page. A series
//! master's recurrence (`patternedRecurrence`) becomes an `RRULE`; its
//! modified occurrences (`type: exception`, read with
//! `GET /me/events/{id}/instances?startDateTime=…&endDateTime=…` over the
//! series' range, five years for an endless one) become the event's
//! overrides, and occurrences the pattern expects but the instances lack
//! (deleted in Outlook; v1.0 lists no cancelled occurrences) its `EXDATE`s. Times come back in UTC and are turned into wall-clock
//! times in the event's `originalStartTimeZone` / `originalEndTimeZone`
//! (Windows names mapped to IANA ids, see [`crate::tz`]); all-day events
//! are dates.
//!
//! **Import** creates each calendar's events in the calendar of the same
//! name (created when missing) with `POST /me/calendars/{id}/events`:
//! start/end as wall-clock time plus zone (an IANA id is sent as its Windows
//! name when the table knows it), all-day events as midnight-to-midnight
//! with `isAllDay`, the recurrence as `patternedRecurrence`, the first
//! relative alarm as the reminder (`isReminderOn` is always sent: Outlook
//! otherwise adds its default 15-minute reminder), categories, showAs and
//! sensitivity. A `transactionId` derived from the UID is sent, and a
//! single-value extended property holds the source key (`uid:<UID>`): the
//! importer looks for it before creating, so reruns and resumed runs never
//! duplicate.
//!
//! **Attendees are not sent as Graph attendees**: "when an event is sent,
//! the server sends invitations to all the attendees"
//! (<https://learn.microsoft.com/en-us/graph/api/user-post-events>) and
//! there is no switch to suppress them. A series' overrides become Graph
//! exceptions (the occurrence they replace, found by `originalStart` among
//! the series' instances, is `PATCH`ed) and its `EXDATE`s deleted
//! occurrences (`DELETE`). The attendees, the organizer, and
//! every other field Graph cannot hold (an `RRULE`
//! with no Graph equivalent, a missing `DTSTART`, unknown properties…) are
//! kept in a second extended property as JSON, which the exporter merges
//! back: a transfer through Outlook loses nothing, while Outlook itself
//! shows the event without attendee list. An
//! event without `DTSTART` (legal in iCalendar, impossible in Outlook) is
//! stored as an all-day event on 1970-01-01 and exported without a start.

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use dtp_core::{
    AuthData, Cursor, Error, ErrorKind, ExportContext, ExportPage, Exporter, ImportContext,
    Importer, RateLimit, Result,
};
use dtp_models::DateTimeValue;
use dtp_models::calendar::{
    Alarm, CalAddress, Calendar, CalendarData, Classification, Event, Transparency,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;

use crate::client::{GraphClient, segment};
use crate::ext::{self, ExtendedProperty};
use crate::tz;

/// Events per page.
const PAGE: usize = 50;

const PREFER_UTC: &str = "outlook.timezone=\"UTC\"";
const PREFER_TEXT: &str = "outlook.body-content-type=\"text\"";

/// The id of the extended property holding what Graph cannot hold.
pub fn extra_id() -> String {
    format!("String {} Name dtpEventExtra", ext::PROPERTY_SET)
}

/// Outlook calendars through Graph: exporter and importer.
#[derive(Debug, Clone)]
pub struct OutlookCalendar {
    client: GraphClient,
}

impl OutlookCalendar {
    /// Calendars of the account `client` acts for.
    pub fn new(client: GraphClient) -> Self {
        OutlookCalendar { client }
    }

    fn calendars_url(&self) -> Result<url::Url> {
        let q = ext::query(&[
            ("$top", "50"),
            ("$expand", &ext::expand(&calendar_extra_id())),
        ]);
        self.client.url(&format!("me/calendars?{q}"))
    }

    fn events_url(&self, calendar: &str) -> Result<url::Url> {
        // The extra property holds the UID too: one expanded property (a
        // single `id eq` filter, the documented form).
        let expand = ext::expand(&extra_id());
        let q = ext::query(&[("$top", &PAGE.to_string()), ("$expand", &expand)]);
        self.client
            .url(&format!("me/calendars/{}/events?{q}", segment(calendar)))
    }

    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        auth: &AuthData,
        url: url::Url,
    ) -> Result<crate::client::Page<T>> {
        let req = crate::client::GraphRequest::get(url)
            .prefer(PREFER_UTC)?
            .prefer(PREFER_TEXT)?;
        let page: crate::client::Page<T> = self.client.execute(auth, req).await?.json().await?;
        if let Some(n) = &page.next_link {
            self.client.link(n)?;
        }
        Ok(page)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum CalCursor {
    Calendars {
        url: String,
    },
    Events {
        calendar: String,
        url: String,
        /// The default calendar, emitted with its first page only when it
        /// holds events (every mailbox has one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pending: Option<Box<Calendar>>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphCalendar {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    hex_color: Option<String>,
    #[serde(default)]
    is_default_calendar: Option<bool>,
    #[serde(default)]
    single_value_extended_properties: Vec<ExtendedProperty>,
}

/// The id of the extended property holding a calendar's description, zone
/// and `VTIMEZONE`s.
pub fn calendar_extra_id() -> String {
    format!("String {} Name dtpCalendarExtra", ext::PROPERTY_SET)
}

/// `dateTimeTimeZone`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GraphDateTime {
    /// Wall-clock time, no offset.
    pub date_time: String,
    /// Windows or IANA zone name.
    pub time_zone: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ItemBody {
    content_type: Option<String>,
    content: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Location {
    display_name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct EmailAddress {
    name: Option<String>,
    address: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Recipient {
    email_address: EmailAddress,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ResponseStatus {
    response: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Attendee {
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<ResponseStatus>,
    email_address: EmailAddress,
}

/// `patternedRecurrence`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Recurrence {
    /// The pattern.
    pub pattern: Pattern,
    /// The range.
    pub range: Range,
}

/// `recurrencePattern`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Pattern {
    /// `daily`, `weekly`, `absoluteMonthly`, `relativeMonthly`, `absoluteYearly`, `relativeYearly`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Interval.
    pub interval: u32,
    /// Month (yearly).
    #[serde(skip_serializing_if = "is_zero")]
    pub month: u32,
    /// Day of month (absolute patterns).
    #[serde(skip_serializing_if = "is_zero")]
    pub day_of_month: u32,
    /// Days of week.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days_of_week: Vec<String>,
    /// First day of week.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_day_of_week: Option<String>,
    /// `first` … `last` (relative patterns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// `recurrenceRange`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Range {
    /// `endDate`, `noEnd`, `numbered`.
    #[serde(rename = "type")]
    pub kind: String,
    /// First date.
    pub start_date: String,
    /// Last date (`endDate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// Count (`numbered`).
    #[serde(skip_serializing_if = "is_zero")]
    pub number_of_occurrences: u32,
    /// Zone of the range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrence_time_zone: Option<String>,
}

/// A Graph `event` (<https://learn.microsoft.com/en-us/graph/api/resources/event>).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct GraphEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<ItemBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<GraphDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<GraphDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_start_time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_end_time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_all_day: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attendees: Vec<Attendee>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organizer: Option<Recipient>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recurrence: Option<Recurrence>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    show_as: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensitivity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    importance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_reminder_on: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reminder_minutes_before_start: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_cancelled: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    categories: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", rename = "iCalUId")]
    ical_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    single_value_extended_properties: Vec<ExtendedProperty>,
}

const DAYS: [(&str, &str); 7] = [
    ("MO", "monday"),
    ("TU", "tuesday"),
    ("WE", "wednesday"),
    ("TH", "thursday"),
    ("FR", "friday"),
    ("SA", "saturday"),
    ("SU", "sunday"),
];
const INDEX: [(i32, &str); 5] = [
    (1, "first"),
    (2, "second"),
    (3, "third"),
    (4, "fourth"),
    (-1, "last"),
];

fn day_name(code: &str) -> Option<&'static str> {
    DAYS.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

fn day_code(name: &str) -> Option<&'static str> {
    DAYS.iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(c, _)| *c)
}

fn weekday_code(d: NaiveDate) -> &'static str {
    DAYS[d.weekday().num_days_from_monday() as usize].0
}

/// Converts an `RRULE` value to a Graph recurrence starting on `start`;
/// `None` when Graph has no equivalent.
pub fn rrule_to_graph(rrule: &str, start: NaiveDate, zone: Option<&str>) -> Option<Recurrence> {
    let mut parts: Vec<(String, String)> = Vec::new();
    for p in rrule.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=')?;
        parts.push((k.to_ascii_uppercase(), v.to_ascii_uppercase()));
    }
    let get = |k: &str| parts.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    for (k, _) in &parts {
        if !matches!(
            k.as_str(),
            "FREQ"
                | "INTERVAL"
                | "COUNT"
                | "UNTIL"
                | "BYDAY"
                | "BYMONTHDAY"
                | "BYMONTH"
                | "BYSETPOS"
                | "WKST"
        ) {
            return None;
        }
    }
    let interval: u32 = get("INTERVAL").map_or(Some(1), |v| v.parse().ok())?;
    let mut pat = Pattern {
        interval,
        first_day_of_week: get("WKST").and_then(day_name).map(str::to_string),
        ..Pattern::default()
    };
    let byday: Vec<&str> = get("BYDAY")
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    let setpos: Option<i32> = match get("BYSETPOS") {
        Some(v) => Some(v.parse().ok()?),
        None => None,
    };
    let relative = |byday: &[&str]| -> Option<(Vec<String>, String)> {
        // "2TU" or "TU" + BYSETPOS=2; all days the same ordinal.
        let mut idx: Option<i32> = setpos;
        let mut days = Vec::new();
        for d in byday {
            let split = d.len().checked_sub(2)?;
            let (n, code) = d.split_at(split);
            if !n.is_empty() {
                let n: i32 = n.trim_start_matches('+').parse().ok()?;
                if idx.is_some_and(|i| i != n) {
                    return None;
                }
                idx = Some(n);
            }
            days.push(day_name(code)?.to_string());
        }
        let idx = idx?;
        let name = INDEX.iter().find(|(i, _)| *i == idx)?.1;
        Some((days, name.to_string()))
    };
    match get("FREQ")? {
        "DAILY" => {
            if !byday.is_empty() || setpos.is_some() || get("BYMONTHDAY").is_some() {
                return None;
            }
            pat.kind = "daily".into();
        }
        "WEEKLY" => {
            pat.kind = "weekly".into();
            pat.days_of_week = if byday.is_empty() {
                vec![day_name(weekday_code(start))?.to_string()]
            } else {
                byday
                    .iter()
                    .map(|d| day_name(d).map(str::to_string))
                    .collect::<Option<Vec<_>>>()?
            };
            if pat.first_day_of_week.is_none() {
                pat.first_day_of_week = Some("monday".into());
            }
            if setpos.is_some() {
                return None;
            }
        }
        "MONTHLY" => {
            if !byday.is_empty() {
                let (days, index) = relative(&byday)?;
                pat.kind = "relativeMonthly".into();
                pat.days_of_week = days;
                pat.index = Some(index);
            } else {
                pat.kind = "absoluteMonthly".into();
                pat.day_of_month = match get("BYMONTHDAY") {
                    Some(d) => d.parse().ok().filter(|d| (1..=31).contains(d))?,
                    None => start.day(),
                };
            }
        }
        "YEARLY" => {
            pat.month = match get("BYMONTH") {
                Some(m) => m.parse().ok().filter(|m| (1..=12).contains(m))?,
                None => start.month(),
            };
            if !byday.is_empty() {
                let (days, index) = relative(&byday)?;
                pat.kind = "relativeYearly".into();
                pat.days_of_week = days;
                pat.index = Some(index);
            } else {
                pat.kind = "absoluteYearly".into();
                pat.day_of_month = match get("BYMONTHDAY") {
                    Some(d) => d.parse().ok().filter(|d| (1..=31).contains(d))?,
                    None => start.day(),
                };
            }
        }
        _ => return None,
    }
    let mut range = Range {
        start_date: start.format("%Y-%m-%d").to_string(),
        recurrence_time_zone: zone.map(str::to_string),
        ..Range::default()
    };
    if let Some(c) = get("COUNT") {
        range.kind = "numbered".into();
        range.number_of_occurrences = c.parse().ok().filter(|c| *c > 0)?;
    } else if let Some(u) = get("UNTIL") {
        let d = NaiveDate::parse_from_str(u.get(..8)?, "%Y%m%d").ok()?;
        range.kind = "endDate".into();
        range.end_date = Some(d.format("%Y-%m-%d").to_string());
    } else {
        range.kind = "noEnd".into();
    }
    Some(Recurrence {
        pattern: pat,
        range,
    })
}

/// Converts a Graph recurrence to an `RRULE` value.
pub fn graph_to_rrule(r: &Recurrence) -> Option<String> {
    let p = &r.pattern;
    let mut out = Vec::new();
    let days = || -> Option<String> {
        Some(
            p.days_of_week
                .iter()
                .map(|d| day_code(d))
                .collect::<Option<Vec<_>>>()?
                .join(","),
        )
    };
    let index = || -> Option<i32> {
        let name = p.index.as_deref().unwrap_or("first");
        INDEX.iter().find(|(_, n)| *n == name).map(|(i, _)| *i)
    };
    match p.kind.as_str() {
        "daily" => out.push("FREQ=DAILY".to_string()),
        "weekly" => {
            out.push("FREQ=WEEKLY".into());
            out.push(format!("BYDAY={}", days()?));
        }
        "absoluteMonthly" => {
            out.push("FREQ=MONTHLY".into());
            out.push(format!("BYMONTHDAY={}", p.day_of_month));
        }
        "relativeMonthly" => {
            out.push("FREQ=MONTHLY".into());
            out.push(format!("BYDAY={}", days()?));
            out.push(format!("BYSETPOS={}", index()?));
        }
        "absoluteYearly" => {
            out.push("FREQ=YEARLY".into());
            out.push(format!("BYMONTH={}", p.month));
            out.push(format!("BYMONTHDAY={}", p.day_of_month));
        }
        "relativeYearly" => {
            out.push("FREQ=YEARLY".into());
            out.push(format!("BYMONTH={}", p.month));
            out.push(format!("BYDAY={}", days()?));
            out.push(format!("BYSETPOS={}", index()?));
        }
        _ => return None,
    }
    if p.interval > 1 {
        out.push(format!("INTERVAL={}", p.interval));
    }
    if let Some(w) = p.first_day_of_week.as_deref().and_then(day_code)
        && p.kind == "weekly"
        && w != "MO"
    {
        out.push(format!("WKST={w}"));
    }
    match r.range.kind.as_str() {
        "numbered" => out.push(format!("COUNT={}", r.range.number_of_occurrences)),
        "endDate" => {
            let d = NaiveDate::parse_from_str(r.range.end_date.as_deref()?, "%Y-%m-%d").ok()?;
            out.push(format!("UNTIL={}", d.format("%Y%m%d")));
        }
        _ => {}
    }
    Some(out.join(";"))
}

pub(crate) fn parse_graph_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim_end_matches('Z');
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()
}

/// Graph's `dateTime` form: seven fractional digits, no offset.
pub fn fmt_graph_time(t: NaiveDateTime) -> String {
    use chrono::Timelike;
    format!(
        "{}.{:07}",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.nanosecond() % 1_000_000_000 / 100
    )
}

/// How a model time is sent to Graph: wall-clock time, zone, all-day.
pub(crate) fn to_graph_time(v: &DateTimeValue) -> (GraphDateTime, bool) {
    match v {
        DateTimeValue::Date(d) => (
            GraphDateTime {
                date_time: fmt_graph_time(d.and_hms_opt(0, 0, 0).unwrap_or_default()),
                time_zone: "UTC".into(),
            },
            true,
        ),
        DateTimeValue::Utc(t) | DateTimeValue::Floating(t) => (
            GraphDateTime {
                date_time: fmt_graph_time(*t),
                time_zone: "UTC".into(),
            },
            false,
        ),
        DateTimeValue::Zoned { tzid, local } => (
            GraphDateTime {
                date_time: fmt_graph_time(*local),
                time_zone: tz::to_windows(tzid).unwrap_or(tzid).to_string(),
            },
            false,
        ),
        _ => (GraphDateTime::default(), false),
    }
}

/// The model time of a Graph time (in UTC, as asked), shown in `original`.
pub(crate) fn from_graph_time(
    g: &GraphDateTime,
    all_day: bool,
    original: Option<&str>,
) -> Option<DateTimeValue> {
    let t = parse_graph_time(&g.date_time)?;
    if all_day {
        return Some(DateTimeValue::Date(t.date()));
    }
    let utc = tz::local_to_utc(t, &g.time_zone)?;
    match original.filter(|z| !tz::is_utc(z)) {
        Some(zone) => match tz::utc_to_local(utc, zone) {
            Some(local) => Some(DateTimeValue::zoned(tz::to_iana(zone), local)),
            None => Some(DateTimeValue::Utc(utc)),
        },
        None => Some(DateTimeValue::Utc(utc)),
    }
}

/// The UTC instant (or date) a model time means, for comparisons.
fn instant(v: &DateTimeValue) -> Option<(bool, NaiveDateTime)> {
    match v {
        DateTimeValue::Date(d) => Some((true, d.and_hms_opt(0, 0, 0)?)),
        DateTimeValue::Utc(t) | DateTimeValue::Floating(t) => Some((false, *t)),
        DateTimeValue::Zoned { tzid, local } => Some((false, tz::local_to_utc(*local, tzid)?)),
        _ => None,
    }
}

fn alarm_minutes(a: &Alarm) -> Option<i64> {
    let t = a.trigger.as_deref()?;
    let neg = t.starts_with('-');
    let t = t.trim_start_matches(['-', '+']);
    let t = t.strip_prefix('P')?;
    let (days, time) = match t.split_once('T') {
        Some((d, time)) => (d, time),
        None => (t, ""),
    };
    let mut mins: i64 = 0;
    let mut num = String::new();
    for c in days.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: i64 = num.parse().ok()?;
            num.clear();
            mins += match c {
                'W' => n * 7 * 1440,
                'D' => n * 1440,
                _ => return None,
            };
        }
    }
    for c in time.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: i64 = num.parse().ok()?;
            num.clear();
            mins += match c {
                'H' => n * 60,
                'M' => n,
                'S' => n / 60,
                _ => return None,
            };
        }
    }
    if !neg && mins != 0 {
        return None; // after the start: no Outlook reminder for that
    }
    Some(mins)
}

fn transaction_id(uid: &str) -> String {
    let h = sha2::Sha256::digest(uid.as_bytes());
    format!("dtp-{}", &hex::encode(h)[..32])
}

/// The key an imported event carries.
pub fn source_key(e: &Event) -> String {
    format!("uid:{}", e.uid)
}

/// Fields kept in the extra property (everything but the ids).
fn extra_of(e: &Event) -> Result<String> {
    let mut v = serde_json::to_value(e)?;
    if let Some(m) = v.as_object_mut() {
        m.remove("id");
        m.remove("calendar_id");
    }
    let s = v.to_string();
    Ok(s)
}

fn event_body(e: &Event) -> Result<GraphEvent> {
    let mut g = GraphEvent {
        subject: Some(e.summary.clone()),
        ..GraphEvent::default()
    };
    if let Some(d) = &e.description {
        g.body = Some(ItemBody {
            content_type: Some("text".into()),
            content: Some(d.clone()),
        });
    }
    if let Some(l) = &e.location {
        g.location = Some(Location {
            display_name: Some(l.clone()),
        });
    }
    let start = e.start.clone().unwrap_or(DateTimeValue::Date(
        NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default(),
    ));
    let end = match (&e.end, &start) {
        (Some(end), _) => end.clone(),
        (None, DateTimeValue::Date(d)) => DateTimeValue::Date(d.succ_opt().unwrap_or(*d)),
        (None, other) => other.clone(),
    };
    let (gs, all_day) = to_graph_time(&start);
    let (mut ge, end_all_day) = to_graph_time(&end);
    if all_day != end_all_day {
        return Err(Error::invalid_data(format!(
            "event `{}` mixes a date and a date-time for its start and end",
            e.uid
        )));
    }
    if all_day && ge.date_time == gs.date_time {
        // Outlook needs an all-day event to span at least one day.
        let d = end.date().succ_opt().unwrap_or(end.date());
        ge = to_graph_time(&DateTimeValue::Date(d)).0;
    }
    g.start = Some(gs);
    g.end = Some(ge);
    g.is_all_day = Some(all_day);
    if let Some(rule) = e.rrule.first()
        && e.rrule.len() == 1
    {
        g.recurrence = rrule_to_graph(
            rule,
            start.date(),
            start.tzid().map(|z| tz::to_windows(z).unwrap_or(z)),
        );
    }
    if e.transparency == Some(Transparency::Transparent) {
        g.show_as = Some("free".into());
    }
    g.sensitivity = match e.class {
        Some(Classification::Private) => Some("private".into()),
        Some(Classification::Confidential) => Some("confidential".into()),
        _ => None,
    };
    g.importance = match e.priority {
        Some(1..=4) => Some("high".into()),
        Some(6..=9) => Some("low".into()),
        _ => None,
    };
    match e.alarms.iter().find_map(alarm_minutes) {
        Some(m) => {
            g.is_reminder_on = Some(true);
            g.reminder_minutes_before_start = Some(m);
        }
        None => g.is_reminder_on = Some(false),
    }
    g.categories = e.categories.clone();
    g.transaction_id = Some(transaction_id(&e.uid));
    g.single_value_extended_properties = vec![
        ExtendedProperty::new(ext::source_key_id(), source_key(e)),
        ExtendedProperty::new(extra_id(), extra_of(e)?),
    ];
    Ok(g)
}

fn to_model(g: &GraphEvent, calendar: &str) -> Result<Event> {
    let id =
        g.id.clone()
            .ok_or_else(|| Error::invalid_data("a Graph event without an id"))?;
    let extra: Option<Event> = ext::find(&g.single_value_extended_properties, &extra_id())
        .and_then(|s| {
            let mut v: Value = serde_json::from_str(s).ok()?;
            let m = v.as_object_mut()?;
            m.insert("id".into(), Value::from(id.clone()));
            m.insert("calendar_id".into(), Value::from(calendar));
            serde_json::from_value(v).ok()
        });
    let uid = extra
        .as_ref()
        .map(|e| e.uid.clone())
        .or_else(|| {
            ext::find(&g.single_value_extended_properties, &ext::source_key_id())
                .and_then(|k| k.strip_prefix("uid:"))
                .map(str::to_string)
        })
        .or_else(|| g.ical_uid.clone())
        .unwrap_or_else(|| id.clone());
    let summary = g.subject.clone().unwrap_or_default();
    let mut e = match extra.clone() {
        Some(mut x) => {
            x.summary = summary;
            x
        }
        None => {
            let mut e = Event::new(id.clone(), calendar, uid, summary);
            // Native attendees and organizer (events not created by dtp-rs).
            if let Some(o) = &g.organizer
                && let Some(a) = &o.email_address.address
            {
                let mut ca = CalAddress::new(format!("mailto:{a}"));
                if let Some(n) = &o.email_address.name {
                    ca = ca.with_name(n.clone());
                }
                e.organizer = Some(ca);
            }
            for a in &g.attendees {
                let Some(addr) = &a.email_address.address else {
                    continue;
                };
                let mut ca = CalAddress::new(format!("mailto:{addr}"));
                if let Some(n) = &a.email_address.name {
                    ca = ca.with_name(n.clone());
                }
                ca.role = match a.kind.as_deref() {
                    Some("optional") => Some("OPT-PARTICIPANT".into()),
                    Some("resource") => Some("NON-PARTICIPANT".into()),
                    _ => Some("REQ-PARTICIPANT".into()),
                };
                if let Some(r) = a.status.as_ref().and_then(|s| s.response.as_deref()) {
                    ca.partstat = match r {
                        "accepted" => Some("ACCEPTED".into()),
                        "declined" => Some("DECLINED".into()),
                        "tentativelyAccepted" => Some("TENTATIVE".into()),
                        _ => Some("NEEDS-ACTION".into()),
                    };
                }
                e.attendees.push(ca);
            }
            if g.is_cancelled == Some(true) {
                e.status = Some(dtp_models::calendar::Status::Cancelled);
            }
            e
        }
    };
    e.id = id;
    e.calendar_id = calendar.to_string();
    e.description = g
        .body
        .as_ref()
        .and_then(|b| b.content.clone())
        .filter(|c| !c.is_empty());
    e.location = g
        .location
        .as_ref()
        .and_then(|l| l.display_name.clone())
        .filter(|l| !l.is_empty());
    e.categories = g.categories.clone();
    // Times: native wins; the extra's spelling when it means the same.
    let all_day = g.is_all_day.unwrap_or(false);
    let native_start = g
        .start
        .as_ref()
        .and_then(|s| from_graph_time(s, all_day, g.original_start_time_zone.as_deref()));
    let native_end = g
        .end
        .as_ref()
        .and_then(|s| from_graph_time(s, all_day, g.original_end_time_zone.as_deref()));
    let pick =
        |native: Option<DateTimeValue>, kept: Option<&DateTimeValue>, placeholder: bool| match (
            native, kept,
        ) {
            (Some(n), Some(k)) if instant(&n) == instant(k) => Some(k.clone()),
            (Some(_), None) if placeholder => None,
            (n, _) => n,
        };
    let x = extra.as_ref();
    let no_start = x.is_some_and(|x| x.start.is_none());
    let no_end = x.is_some_and(|x| x.end.is_none());
    let start_unchanged = x.is_some_and(|x| {
        x.start.is_none()
            && native_start.as_ref().and_then(instant)
                == Some((
                    true,
                    NaiveDate::from_ymd_opt(1970, 1, 1)
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .unwrap_or_default(),
                ))
    });
    e.start = pick(
        native_start,
        x.and_then(|x| x.start.as_ref()),
        no_start && start_unchanged,
    );
    e.end = if no_end
        && (start_unchanged || x.is_some_and(|x| x.start.is_some() && e.start == x.start))
    {
        None
    } else {
        pick(native_end, x.and_then(|x| x.end.as_ref()), false)
    };
    // Recurrence: native wins; the kept RRULE when it means the same.
    match &g.recurrence {
        Some(r) => {
            let native = graph_to_rrule(r);
            let kept = x.and_then(|x| x.rrule.first()).filter(|k| {
                let start = x.and_then(|x| x.start.clone()).map(|s| s.date());
                start
                    .and_then(|s| rrule_to_graph(k, s, None))
                    .and_then(|rr| graph_to_rrule(&rr))
                    == native
            });
            e.rrule = match (kept, native) {
                (Some(k), _) => vec![k.clone()],
                (None, Some(n)) => vec![n],
                (None, None) => x.map(|x| x.rrule.clone()).unwrap_or_default(),
            };
        }
        None => {
            // Not recurring in Outlook: keep a rule Graph could not hold.
            let kept = x.map(|x| x.rrule.clone()).unwrap_or_default();
            let convertible = kept.len() == 1
                && x.and_then(|x| x.start.as_ref())
                    .is_some_and(|s| rrule_to_graph(&kept[0], s.date(), None).is_some());
            e.rrule = if convertible { Vec::new() } else { kept };
        }
    }
    // Reminder.
    let native_alarm = if g.is_reminder_on == Some(true) {
        g.reminder_minutes_before_start
    } else {
        None
    };
    let kept_alarm = x.and_then(|x| x.alarms.iter().find_map(alarm_minutes));
    if native_alarm != kept_alarm || x.is_none() {
        e.alarms = match native_alarm {
            Some(m) => vec![Alarm::new("DISPLAY", format!("-PT{m}M"))],
            None => x
                .map(|x| {
                    x.alarms
                        .iter()
                        .filter(|a| alarm_minutes(a).is_none())
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
        };
    }
    // showAs / sensitivity / importance.
    let kept_transp = x.and_then(|x| x.transparency.clone());
    e.transparency = match g.show_as.as_deref() {
        Some("free") => Some(Transparency::Transparent),
        _ if kept_transp == Some(Transparency::Transparent) => None,
        _ => kept_transp,
    };
    let kept_class = x.and_then(|x| x.class.clone());
    e.class = match g.sensitivity.as_deref() {
        Some("private") => Some(Classification::Private),
        Some("confidential") => Some(Classification::Confidential),
        _ if matches!(
            kept_class,
            Some(Classification::Private | Classification::Confidential)
        ) =>
        {
            None
        }
        _ => kept_class,
    };
    let kept_prio = x.and_then(|x| x.priority);
    let native_prio_class = g.importance.as_deref();
    e.priority = match (native_prio_class, kept_prio) {
        (Some("high"), Some(p @ 1..=4)) | (Some("low"), Some(p @ 6..=9)) => Some(p),
        (Some("high"), _) => Some(1),
        (Some("low"), _) => Some(9),
        (_, Some(p @ (0 | 5))) => Some(p),
        (_, _) => None,
    };
    Ok(e)
}

impl OutlookCalendar {
    async fn exceptions(
        &self,
        auth: &AuthData,
        master: &GraphEvent,
        calendar: &str,
    ) -> Result<(Vec<Event>, Vec<DateTimeValue>)> {
        let (Some(id), Some(r)) = (&master.id, &master.recurrence) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let start = NaiveDate::parse_from_str(&r.range.start_date, "%Y-%m-%d")
            .map_err(|_| Error::invalid_data("a recurrence without a start date"))?;
        let end = match r.range.end_date.as_deref() {
            Some(d) if r.range.kind == "endDate" => NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| Error::invalid_data("a recurrence with a bad end date"))?,
            _ => start + chrono::Duration::days(366 * 5),
        };
        let q = ext::query(&[
            (
                "startDateTime",
                &format!("{}T00:00:00Z", start.format("%Y-%m-%d")),
            ),
            (
                "endDateTime",
                &format!("{}T23:59:59Z", end.format("%Y-%m-%d")),
            ),
            ("$top", "100"),
        ]);
        let mut url = self
            .client
            .url(&format!("me/events/{}/instances?{q}", segment(id)))?;
        let mut out = Vec::new();
        let mut seen: Vec<NaiveDateTime> = Vec::new();
        loop {
            let page: crate::client::Page<GraphEvent> = self.page(auth, url).await?;
            for inst in &page.value {
                if let Some(t) = inst.original_start.as_deref().and_then(|os| {
                    chrono::DateTime::parse_from_rfc3339(os)
                        .map(|t| t.naive_utc())
                        .ok()
                        .or_else(|| parse_graph_time(os))
                }) {
                    seen.push(t);
                }
            }
            for inst in page
                .value
                .iter()
                .filter(|i| i.kind.as_deref() == Some("exception"))
            {
                let mut ev = to_model(inst, calendar)?;
                if let Some(os) = &inst.original_start {
                    let t = chrono::DateTime::parse_from_rfc3339(os)
                        .map(|t| t.naive_utc())
                        .ok()
                        .or_else(|| parse_graph_time(os));
                    if let Some(t) = t {
                        ev.recurrence_id = Some(if master.is_all_day == Some(true) {
                            DateTimeValue::Date(t.date())
                        } else {
                            DateTimeValue::Utc(t)
                        });
                    }
                }
                out.push(ev);
            }
            match page.next_link {
                Some(n) => url = self.client.link(&n)?,
                None => break,
            }
        }
        // Deleted occurrences: expected by the pattern, absent from the
        // instances (v1.0 has no list of cancelled occurrences).
        let mut exdates = Vec::new();
        let all_day = master.is_all_day == Some(true);
        let zone = master
            .original_start_time_zone
            .clone()
            .unwrap_or_else(|| "UTC".into());
        if let Some(first) = master
            .start
            .as_ref()
            .and_then(|s| from_graph_time(s, all_day, Some(&zone)))
        {
            let local = match &first {
                DateTimeValue::Date(d) => d.and_hms_opt(0, 0, 0),
                DateTimeValue::Zoned { local, .. } => Some(*local),
                DateTimeValue::Utc(t) | DateTimeValue::Floating(t) => Some(*t),
                _ => None,
            };
            if let Some(local) = local
                && let Some(expected) = expand(r, local, end)
            {
                for at in expected {
                    let utc = if all_day {
                        Some(at)
                    } else {
                        tz::local_to_utc(at, &zone)
                    };
                    let Some(utc) = utc else { continue };
                    let present = seen.iter().any(|s| {
                        if all_day {
                            s.date() == utc.date()
                        } else {
                            *s == utc
                        }
                    });
                    if !present {
                        exdates.push(match &first {
                            DateTimeValue::Date(_) => DateTimeValue::Date(at.date()),
                            DateTimeValue::Zoned { tzid, .. } => {
                                DateTimeValue::zoned(tzid.clone(), at)
                            }
                            _ => DateTimeValue::Utc(utc),
                        });
                    }
                }
            }
        }
        Ok((out, exdates))
    }
}

#[async_trait]
impl Exporter<CalendarData> for OutlookCalendar {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<CalendarData>> {
        let c = if cursor.is_root() {
            CalCursor::Calendars {
                url: self.calendars_url()?.to_string(),
            }
        } else {
            cursor.decode()?
        };
        match c {
            CalCursor::Calendars { url } => {
                let url = self.client.link(&url)?;
                let page = self
                    .client
                    .get_page::<GraphCalendar>(auth, url, None)
                    .await?;
                let mut out = ExportPage::new();
                for cal in page.value {
                    let name = cal.name.clone().unwrap_or_default();
                    let kept: Option<Calendar> =
                        ext::find(&cal.single_value_extended_properties, &calendar_extra_id())
                            .and_then(|s| {
                                let mut v: Value = serde_json::from_str(s).ok()?;
                                let m = v.as_object_mut()?;
                                m.insert("id".into(), Value::from(cal.id.clone()));
                                m.insert("name".into(), Value::from(name.clone()));
                                serde_json::from_value(v).ok()
                            });
                    let mut model = match kept {
                        Some(mut k) => {
                            k.id = cal.id.clone();
                            k.name = name;
                            k
                        }
                        None => Calendar::new(cal.id.clone(), name),
                    };
                    model.color = cal.hex_color.clone().filter(|c| !c.is_empty());
                    let pending = if cal.is_default_calendar == Some(true) {
                        Some(Box::new(model))
                    } else {
                        out = out.with_container(model);
                        None
                    };
                    out = out.with_next(Cursor::new(&CalCursor::Events {
                        url: self.events_url(&cal.id)?.to_string(),
                        calendar: cal.id,
                        pending,
                    })?);
                }
                if let Some(n) = page.next_link {
                    out = out.with_next(Cursor::new(&CalCursor::Calendars { url: n })?);
                }
                Ok(out)
            }
            CalCursor::Events {
                calendar,
                url,
                pending,
            } => {
                let url = self.client.link(&url)?;
                let page = match self.page::<GraphEvent>(auth, url).await {
                    Ok(p) => p,
                    Err(e) if *e.kind() == ErrorKind::NotFound => return Ok(ExportPage::new()),
                    Err(e) => return Err(e),
                };
                let mut out = ExportPage::new();
                if let Some(c) = pending
                    && (!page.value.is_empty() || page.next_link.is_some())
                {
                    out = out.with_container(*c);
                }
                for g in &page.value {
                    let mut ev = to_model(g, &calendar)?;
                    if g.kind.as_deref() == Some("seriesMaster") && ev.overrides.is_empty() {
                        let kept_overrides =
                            ext::find(&g.single_value_extended_properties, &extra_id()).is_some();
                        if !kept_overrides {
                            let (overrides, exdates) = self.exceptions(auth, g, &calendar).await?;
                            ev.overrides = overrides;
                            ev.exdate = exdates;
                        }
                    }
                    out = out.with_item(ev);
                }
                if let Some(n) = page.next_link {
                    out = out.with_next(Cursor::new(&CalCursor::Events {
                        calendar,
                        url: n,
                        pending: None,
                    })?);
                }
                Ok(out)
            }
        }
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        Some(self.client.outlook_rate_limit())
    }
}

impl OutlookCalendar {
    /// Turns a series' overrides into Graph exceptions (`PATCH` of the
    /// occurrence they replace) and its `EXDATE`s into deleted occurrences
    /// (`DELETE`), finding occurrences by `originalStart` with
    /// `GET /me/events/{id}/instances`.
    async fn apply_exceptions(&self, auth: &AuthData, master: &str, event: &Event) -> Result<()> {
        let mut wanted: Vec<(bool, NaiveDateTime)> = Vec::new();
        for o in &event.overrides {
            if let Some(i) = o.recurrence_id.as_ref().and_then(instant) {
                wanted.push(i);
            }
        }
        for x in &event.exdate {
            if let Some(i) = instant(x) {
                wanted.push(i);
            }
        }
        let (Some(min), Some(max)) = (
            wanted.iter().map(|w| w.1).min(),
            wanted.iter().map(|w| w.1).max(),
        ) else {
            return Ok(());
        };
        let q = ext::query(&[
            (
                "startDateTime",
                &format!(
                    "{}Z",
                    (min - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%S")
                ),
            ),
            (
                "endDateTime",
                &format!(
                    "{}Z",
                    (max + chrono::Duration::days(2)).format("%Y-%m-%dT%H:%M:%S")
                ),
            ),
            ("$top", "100"),
        ]);
        let mut url = self
            .client
            .url(&format!("me/events/{}/instances?{q}", segment(master)))?;
        let mut instances: Vec<GraphEvent> = Vec::new();
        loop {
            let page: crate::client::Page<GraphEvent> = self.page(auth, url).await?;
            instances.extend(page.value);
            match page.next_link {
                Some(n) => url = self.client.link(&n)?,
                None => break,
            }
        }
        let original = |g: &GraphEvent| -> Option<NaiveDateTime> {
            let os = g.original_start.as_deref()?;
            chrono::DateTime::parse_from_rfc3339(os)
                .map(|t| t.naive_utc())
                .ok()
                .or_else(|| parse_graph_time(os))
        };
        let find = |at: (bool, NaiveDateTime)| {
            instances.iter().find(|g| {
                original(g).is_some_and(|o| {
                    if at.0 {
                        o.date() == at.1.date()
                    } else {
                        o == at.1
                    }
                })
            })
        };
        for o in &event.overrides {
            let Some(at) = o.recurrence_id.as_ref().and_then(instant) else {
                continue;
            };
            let Some(inst) = find(at).and_then(|g| g.id.clone()) else {
                continue; // not an occurrence of the series (any more)
            };
            let b = event_body(o)?;
            let patch = json!({
                "subject": b.subject,
                "body": b.body,
                "location": b.location,
                "start": b.start,
                "end": b.end,
                "isAllDay": b.is_all_day,
            });
            let url = self.client.url(&format!("me/events/{}", segment(&inst)))?;
            let _: Value = self.client.patch_json(auth, url, &patch).await?;
        }
        for x in &event.exdate {
            let Some(at) = instant(x) else { continue };
            let Some(inst) = find(at).and_then(|g| g.id.clone()) else {
                continue; // already deleted
            };
            let url = self.client.url(&format!("me/events/{}", segment(&inst)))?;
            self.client
                .execute(auth, crate::client::GraphRequest::delete(url))
                .await?;
        }
        Ok(())
    }

    async fn find_calendar(&self, auth: &AuthData, name: &str) -> Result<Option<String>> {
        let url = self.client.url("me/calendars?%24top=50")?;
        let all: Vec<GraphCalendar> = self.client.get_all(auth, url, None).await?;
        Ok(all
            .into_iter()
            .find(|c| c.name.as_deref() == Some(name))
            .map(|c| c.id))
    }

    async fn find_event(
        &self,
        auth: &AuthData,
        calendar: &str,
        key: &str,
    ) -> Result<Option<String>> {
        let events = format!("me/calendars/{}/events", segment(calendar));
        ext::find_by_source_key(&self.client, auth, &events, key).await
    }

    fn destination(&self, ctx: &ImportContext, e: &Event) -> Result<String> {
        ctx.require_container(&e.calendar_id)
    }
}

#[async_trait]
impl Importer<CalendarData> for OutlookCalendar {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        cal: &Calendar,
    ) -> Result<dtp_core::Imported> {
        async move {
            if let Some(id) = self.find_calendar(auth, &cal.name).await? {
                return Ok(id);
            }
            let mut kept = serde_json::to_value(cal)?;
            if let Some(m) = kept.as_object_mut() {
                m.remove("id");
                m.remove("name");
                m.remove("color");
            }
            let mut body = json!({ "name": cal.name });
            if kept.as_object().is_some_and(|m| !m.is_empty()) {
                body["singleValueExtendedProperties"] =
                    json!([ExtendedProperty::new(calendar_extra_id(), kept.to_string())]);
            }
            if let Some(c) = &cal.color
                && c.starts_with('#')
            {
                body["hexColor"] = Value::from(c.clone());
            }
            let created: GraphCalendar = self
                .client
                .post_json(auth, self.client.url("me/calendars")?, &body)
                .await?;
            Ok(created.id)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        event: &Event,
    ) -> Result<dtp_core::Imported> {
        async move {
            let cal = self.destination(ctx, event)?;
            let body = event_body(event)?;
            let id = match self.find_event(auth, &cal, &source_key(event)).await? {
                Some(id) => id,
                None => {
                    let url = self
                        .client
                        .url(&format!("me/calendars/{}/events", segment(&cal)))?;
                    let created: GraphEvent = self.client.post_json(auth, url, &body).await?;
                    created.id.ok_or_else(|| {
                        Error::invalid_data("Graph created an event without an id")
                    })?
                }
            };
            // Exceptions and deleted occurrences, natively (idempotent: run
            // again after a crash they find the same occurrences).
            if body.recurrence.is_some()
                && (!event.overrides.is_empty() || !event.exdate.is_empty())
            {
                self.apply_exceptions(auth, &id, event).await?;
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
        cal: &Calendar,
    ) -> Result<Option<String>> {
        self.find_calendar(auth, &cal.name).await
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        event: &Event,
    ) -> Result<Option<String>> {
        let cal = self.destination(ctx, event)?;
        self.find_event(auth, &cal, &source_key(event)).await
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        Some(self.client.outlook_rate_limit())
    }
}

/// The wall-clock starts of a Graph recurrence's occurrences, from the
/// master's first start `first` up to the range's end (or `horizon`);
/// `None` for a pattern this function does not expand (several days with a
/// relative index).
fn expand(r: &Recurrence, first: NaiveDateTime, horizon: NaiveDate) -> Option<Vec<NaiveDateTime>> {
    use chrono::Weekday;
    let p = &r.pattern;
    let interval = i64::from(p.interval.max(1));
    let start = first.date();
    let until = match r.range.kind.as_str() {
        "endDate" => NaiveDate::parse_from_str(r.range.end_date.as_deref()?, "%Y-%m-%d").ok()?,
        _ => horizon,
    }
    .min(horizon);
    let count = (r.range.kind == "numbered").then_some(r.range.number_of_occurrences as usize);
    let days: Vec<u32> = p
        .days_of_week
        .iter()
        .filter_map(|d| DAYS.iter().position(|(_, n)| n.eq_ignore_ascii_case(d)))
        .map(|i| i as u32)
        .collect();
    let index = p
        .index
        .as_deref()
        .and_then(|n| INDEX.iter().find(|(_, x)| *x == n).map(|(i, _)| *i))
        .unwrap_or(1);
    if p.kind.starts_with("relative") && days.len() != 1 {
        return None;
    }
    let months_between = |d: NaiveDate| {
        i64::from(d.year() - start.year()) * 12 + i64::from(d.month()) - i64::from(start.month())
    };
    let relative_hit = |d: NaiveDate| {
        if d.weekday().num_days_from_monday() != days[0] {
            return false;
        }
        if index > 0 {
            (d.day() - 1) / 7 + 1 == index as u32
        } else {
            d.checked_add_signed(chrono::Duration::days(7))
                .is_none_or(|n| n.month() != d.month())
        }
    };
    let mut out = Vec::new();
    let mut d = start;
    while d <= until && count.is_none_or(|c| out.len() < c) {
        let hit = match p.kind.as_str() {
            "daily" => (d - start).num_days() % interval == 0,
            "weekly" => {
                let weeks = (d.week(Weekday::Mon).first_day()
                    - start.week(Weekday::Mon).first_day())
                .num_days()
                    / 7;
                weeks % interval == 0 && days.contains(&d.weekday().num_days_from_monday())
            }
            "absoluteMonthly" => d.day() == p.day_of_month && months_between(d) % interval == 0,
            "relativeMonthly" => months_between(d) % interval == 0 && relative_hit(d),
            "absoluteYearly" => {
                d.month() == p.month
                    && d.day() == p.day_of_month
                    && i64::from(d.year() - start.year()) % interval == 0
            }
            "relativeYearly" => {
                d.month() == p.month
                    && i64::from(d.year() - start.year()) % interval == 0
                    && relative_hit(d)
            }
            _ => return None,
        };
        if hit {
            out.push(d.and_time(first.time()));
        }
        d = d.succ_opt()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn rrules_round_trip_through_graph_patterns() {
        for (rule, kind) in [
            ("FREQ=DAILY;INTERVAL=2;COUNT=10", "daily"),
            ("FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20251231", "weekly"),
            ("FREQ=MONTHLY;BYMONTHDAY=15", "absoluteMonthly"),
            ("FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2", "relativeMonthly"),
            ("FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1", "absoluteYearly"),
            (
                "FREQ=YEARLY;BYMONTH=11;BYDAY=TH;BYSETPOS=4",
                "relativeYearly",
            ),
        ] {
            let g = rrule_to_graph(rule, d(2025, 1, 6), None).unwrap();
            assert_eq!(g.pattern.kind, kind, "{rule}");
            assert_eq!(graph_to_rrule(&g).unwrap(), rule);
        }
        assert_eq!(
            graph_to_rrule(
                &rrule_to_graph("FREQ=MONTHLY;BYDAY=-1FR", d(2025, 1, 31), None).unwrap()
            )
            .unwrap(),
            "FREQ=MONTHLY;BYDAY=FR;BYSETPOS=-1"
        );
        assert!(rrule_to_graph("FREQ=HOURLY", d(2025, 1, 1), None).is_none());
        assert!(rrule_to_graph("FREQ=MONTHLY;BYMONTHDAY=1,15", d(2025, 1, 1), None).is_none());
    }

    #[test]
    fn documented_event_maps_with_zone_and_reminder() {
        let g: GraphEvent =
            serde_json::from_value(crate::test_fixture!("me_calendars_events.item")).unwrap();
        let e = to_model(&g, "cal").unwrap();
        assert_eq!(e.uid, "040000008200E00074C5B7101A82E008");
        let nine = d(2025, 7, 1).and_hms_opt(9, 0, 0).unwrap();
        assert_eq!(e.start, Some(DateTimeValue::zoned("Europe/Berlin", nine)));
        assert_eq!(e.alarms[0].trigger.as_deref(), Some("-PT30M"));
        assert_eq!(e.attendees[0].partstat.as_deref(), Some("ACCEPTED"));
        assert_eq!(e.transparency, Some(Transparency::Transparent));
        assert_eq!(e.class, Some(Classification::Private));
        // Back to Graph: Windows name, wall-clock time, reminder, no attendees sent.
        let body = event_body(&e).unwrap();
        assert_eq!(
            body.start.as_ref().unwrap().time_zone,
            "W. Europe Standard Time"
        );
        assert!(
            body.start
                .as_ref()
                .unwrap()
                .date_time
                .starts_with("2025-07-01T09:00:00")
        );
        assert_eq!(body.reminder_minutes_before_start, Some(30));
        assert!(body.attendees.is_empty());
        assert_eq!(body.single_value_extended_properties.len(), 2);
    }

    #[test]
    fn patterns_expand_to_their_occurrences() {
        let nine = |y, m, day| d(y, m, day).and_hms_opt(9, 0, 0).unwrap();
        let r = rrule_to_graph("FREQ=MONTHLY;BYDAY=2TU;COUNT=3", d(2025, 1, 14), None).unwrap();
        assert_eq!(
            expand(&r, nine(2025, 1, 14), d(2030, 1, 1)).unwrap(),
            [nine(2025, 1, 14), nine(2025, 2, 11), nine(2025, 3, 11)]
        );
        let r = rrule_to_graph("FREQ=MONTHLY;BYDAY=-1FR;COUNT=3", d(2025, 1, 31), None).unwrap();
        assert_eq!(
            expand(&r, nine(2025, 1, 31), d(2030, 1, 1)).unwrap(),
            [nine(2025, 1, 31), nine(2025, 2, 28), nine(2025, 3, 28)]
        );
        let r = rrule_to_graph(
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20250120",
            d(2025, 1, 6),
            None,
        )
        .unwrap();
        assert_eq!(
            expand(&r, nine(2025, 1, 6), d(2030, 1, 1)).unwrap(),
            [nine(2025, 1, 6), nine(2025, 1, 9), nine(2025, 1, 20)]
        );
        let r = rrule_to_graph("FREQ=YEARLY", d(2024, 6, 15), None).unwrap();
        assert_eq!(
            expand(&r, nine(2024, 6, 15), d(2026, 12, 31))
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn all_day_and_missing_start() {
        let e = Event::new("e", "c", "u1", "Holiday")
            .with_start(DateTimeValue::Date(d(2025, 12, 25)))
            .with_end(DateTimeValue::Date(d(2025, 12, 26)));
        let b = event_body(&e).unwrap();
        assert_eq!(b.is_all_day, Some(true));
        let no_start = Event::new("e", "c", "u2", "Someday");
        let b = event_body(&no_start).unwrap();
        assert!(b.start.unwrap().date_time.starts_with("1970-01-01"));
        assert_eq!(b.is_reminder_on, Some(false));
    }
}
