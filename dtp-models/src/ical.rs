//! iCalendar (RFC 5545) ⇄ [`CalendarObject`]: calendars, events (series
//! with their overridden instances), tasks, and verbatim components
//! (feature `icalendar`, parsing by `calcard`).
//!
//! `VEVENT`s sharing a UID are grouped: the one without `RECURRENCE-ID` is
//! the series, the others its [`Event::overrides`]. `VTIMEZONE`s are kept
//! verbatim on the [`Calendar`]. Unmodelled properties, parameters and
//! components are kept verbatim and written back.
//!
//! ```
//! use dtp_models::ical::{parse_icalendar, write_icalendar};
//! let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//EN\r\n\
//!     BEGIN:VEVENT\r\nUID:s1\r\nDTSTART;TZID=Europe/Paris:20240506T090000\r\n\
//!     RRULE:FREQ=DAILY;COUNT=5\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n\
//!     BEGIN:VEVENT\r\nUID:s1\r\nRECURRENCE-ID;TZID=Europe/Paris:20240507T090000\r\n\
//!     DTSTART;TZID=Europe/Paris:20240507T100000\r\nSUMMARY:Standup (moved)\r\nEND:VEVENT\r\n\
//!     END:VCALENDAR\r\n";
//! let objects = parse_icalendar(text.as_bytes(), "cal1").unwrap().value;
//! let series = &objects[0].events[0];
//! assert_eq!(series.rrule, vec!["FREQ=DAILY;COUNT=5"]);
//! assert_eq!(series.overrides[0].summary, "Standup (moved)");
//! let again = parse_icalendar(write_icalendar(&objects[0]).as_bytes(), "cal1").unwrap().value;
//! assert_eq!(again, objects);
//! ```

use std::collections::HashSet;

use calcard::common::{IanaParse, IanaString};
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarParameter,
    ICalendarParameterName, ICalendarParameterValue, ICalendarProperty, ICalendarValue,
    ICalendarValueType, Uri,
};
use calcard::{Entry, Parser};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::calendar::{
    Alarm, Attachment, AttachmentValue, CalAddress, Calendar, CalendarObject, Classification,
    Event, Geo, RecurrenceDate, Status, Transparency,
};
use crate::error::{ConversionError, ConversionErrorKind};
use crate::props::{Component, MetaMap, Param, PropMeta, RawProperty};
use crate::tasks::Task;
use crate::text::{
    content_line, decode_input, line_of, line_of_property, push_param, structural_error,
    structure_warnings, value_of_written_line,
};
use crate::{DateTimeValue, InlineBytes, Parsed, Warning};

/// The `PRODID` written when a calendar carries none.
pub const DEFAULT_PRODID: &str = "-//dtp-rs//dtp-models//EN";

/// Parses every iCalendar object in `input` into [`CalendarObject`]s whose
/// calendar has id `calendar_id`.
///
/// Events and tasks get their UID as id (`event-<n>` / `task-<n>` when they
/// have none; a `-<n>` suffix when a UID repeats). Unreadable lines are
/// reported as warnings; fails only when no object could be read.
pub fn parse_icalendar(
    input: &[u8],
    calendar_id: &str,
) -> Result<Parsed<Vec<CalendarObject>>, ConversionError> {
    let mut warnings = Vec::new();
    let text = decode_input(input, &mut warnings);
    structure_warnings(&text, &mut warnings);
    let mut parser = Parser::new(&text);
    let mut objects = Vec::new();
    let mut first_error = None;
    for _ in 0..=text.len() {
        match parser.entry() {
            Entry::Eof => break,
            Entry::ICalendar(ical) => {
                objects.push(object_from_ical(&ical, calendar_id, &text, &mut warnings))
            }
            Entry::InvalidLine(line) => warnings.push(Warning::new(
                line_of(&text, &line),
                None,
                format!("unreadable line outside any component skipped: {line:?}"),
            )),
            Entry::VCard(_) => {
                let e = ConversionError::new(
                    ConversionErrorKind::WrongKind,
                    line_of(&text, "BEGIN:VCARD"),
                    Some("BEGIN"),
                    "a vCard where an iCalendar object was expected",
                );
                warnings.push(Warning::new(e.line, Some("BEGIN"), e.message.clone()));
                first_error.get_or_insert(e);
            }
            other => {
                let e = structural_error(&text, other, "VCALENDAR");
                warnings.push(Warning::new(
                    e.line,
                    e.property.as_deref(),
                    e.message.clone(),
                ));
                first_error.get_or_insert(e);
            }
        }
    }
    if objects.is_empty() {
        return Err(first_error.unwrap_or_else(|| {
            ConversionError::new(
                ConversionErrorKind::NoData,
                None,
                None,
                "no BEGIN:VCALENDAR found",
            )
        }));
    }
    Ok(Parsed::new(objects, warnings))
}

fn object_from_ical(
    ical: &ICalendar,
    calendar_id: &str,
    text: &str,
    warnings: &mut Vec<Warning>,
) -> CalendarObject {
    let mut obj = CalendarObject::new(Calendar::new(calendar_id, ""));
    let Some(root) = ical.components.first() else {
        return obj;
    };
    let children: Vec<u32> = if root.component_type == ICalendarComponentType::VCalendar {
        for entry in &root.entries {
            calendar_property(&mut obj.calendar, entry);
        }
        root.component_ids.clone()
    } else {
        vec![0]
    };
    let mut pending: Vec<Event> = Vec::new();
    for id in children {
        let Some(comp) = ical.components.get(id as usize) else {
            continue;
        };
        match comp.component_type {
            ICalendarComponentType::VTimezone => {
                obj.calendar.timezones.push(verbatim(ical, comp, 0))
            }
            ICalendarComponentType::VEvent => {
                let f = extract(ical, comp, Kind::Event, text, warnings);
                let ev = event_from(f, calendar_id);
                if ev.recurrence_id.is_some() {
                    pending.push(ev);
                } else {
                    obj.events.push(ev);
                }
            }
            ICalendarComponentType::VTodo => {
                let f = extract(ical, comp, Kind::Task, text, warnings);
                obj.tasks.push(task_from(f, calendar_id));
            }
            _ => obj.components.push(verbatim(ical, comp, 0)),
        }
    }
    // Overridden instances join their series (the first with their UID);
    // those without one stay events of their own.
    for ev in pending {
        match obj
            .events
            .iter_mut()
            .find(|m| m.recurrence_id.is_none() && m.uid == ev.uid && !ev.uid.is_empty())
        {
            Some(master) => master.overrides.push(ev),
            None => obj.events.push(ev),
        }
    }
    let mut used = HashSet::new();
    for (n, ev) in obj.events.iter_mut().enumerate() {
        ev.id = unique_id(&ev.uid, "event", n + 1, &mut used);
        for o in &mut ev.overrides {
            o.id = ev.id.clone();
        }
    }
    for (n, t) in obj.tasks.iter_mut().enumerate() {
        t.id = unique_id(t.uid.as_deref().unwrap_or(""), "task", n + 1, &mut used);
    }
    obj
}

fn unique_id(uid: &str, prefix: &str, n: usize, used: &mut HashSet<String>) -> String {
    let base = if uid.is_empty() {
        format!("{prefix}-{n}")
    } else {
        uid.to_string()
    };
    let mut id = base.clone();
    let mut k = 1;
    while !used.insert(id.clone()) {
        k += 1;
        id = format!("{base}-{k}");
    }
    id
}

fn calendar_property(cal: &mut Calendar, entry: &ICalendarEntry) {
    let name = entry.name.as_str().to_ascii_uppercase();
    let text = single_text(entry);
    let meta = meta_of(entry, &[]);
    let slot = match name.as_str() {
        "X-WR-CALNAME" if cal.name.is_empty() && !cal.meta.contains_key("X-WR-CALNAME") => {
            Some(&mut cal.name)
        }
        _ => None,
    };
    if let (Some(slot), Some(t)) = (slot, text.clone()) {
        *slot = t;
        set_meta(&mut cal.meta, &name, meta);
        return;
    }
    let opt = match name.as_str() {
        "X-WR-CALDESC" => Some(&mut cal.description),
        "COLOR" => Some(&mut cal.color),
        "X-WR-TIMEZONE" => Some(&mut cal.timezone),
        _ => None,
    };
    if let (Some(opt), Some(t)) = (opt, text)
        && opt.is_none()
    {
        *opt = Some(t);
        set_meta(&mut cal.meta, &name, meta);
        return;
    }
    if entry.name == ICalendarProperty::Version
        && entry.params.is_empty()
        && single_text(entry).as_deref() == Some("2.0")
    {
        // Always written (as 2.0) by the writer.
        return;
    }
    cal.properties.push(raw_property(entry));
}

fn verbatim(ical: &ICalendar, comp: &ICalendarComponent, depth: usize) -> Component {
    let mut c = Component::new(comp.component_type.as_str());
    c.properties = comp.entries.iter().map(raw_property).collect();
    if depth < 64 {
        for id in &comp.component_ids {
            if let Some(sub) = ical.components.get(*id as usize) {
                c.components.push(verbatim(ical, sub, depth + 1));
            }
        }
    }
    c
}

fn param_text(name: &ICalendarParameterName, v: &ICalendarParameterValue) -> Option<String> {
    match (name, v) {
        (_, ICalendarParameterValue::Null) => None,
        (ICalendarParameterName::Range, ICalendarParameterValue::Bool(true)) => {
            Some("THISANDFUTURE".into())
        }
        (_, v) => v.clone().into_text().map(|c| c.into_owned()),
    }
}

fn params_of(entry: &ICalendarEntry, skip: &[ICalendarParameterName]) -> Vec<Param> {
    let mut out = Vec::new();
    for p in &entry.params {
        if skip.contains(&p.name) {
            continue;
        }
        push_param(
            &mut out,
            &p.name.as_str().to_ascii_uppercase(),
            param_text(&p.name, &p.value),
        );
    }
    out
}

fn raw_property(entry: &ICalendarEntry) -> RawProperty {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = entry.write_to(&mut s);
    let mut params = Vec::new();
    // calcard consumes ENCODING=BASE64 when reading and adds it back when
    // writing binary values; the verbatim copy must say it too.
    if matches!(entry.values.first(), Some(ICalendarValue::Binary(_))) {
        params.push(Param::new("ENCODING", &["BASE64"]));
    }
    params.extend(params_of(entry, &[]));
    RawProperty {
        group: None,
        name: entry.name.as_str().to_string(),
        params,
        value: value_of_written_line(&s),
    }
}

fn meta_of(entry: &ICalendarEntry, skip: &[ICalendarParameterName]) -> PropMeta {
    PropMeta {
        group: None,
        params: params_of(entry, skip),
    }
}

fn set_meta(meta: &mut MetaMap, name: &str, m: PropMeta) {
    if m.is_empty() {
        meta.remove(name);
    } else {
        meta.insert(name.to_string(), m);
    }
}

fn single_text(entry: &ICalendarEntry) -> Option<String> {
    match entry.values.as_slice() {
        [ICalendarValue::Text(s)] => Some(s.clone()),
        [] => Some(String::new()),
        _ => None,
    }
}

fn uri_or_text(entry: &ICalendarEntry) -> Option<String> {
    match entry.values.as_slice() {
        [ICalendarValue::Uri(Uri::Location(s))] | [ICalendarValue::Text(s)] => Some(s.clone()),
        _ => None,
    }
}

fn tzid_of(entry: &ICalendarEntry) -> Option<String> {
    entry.params.iter().find_map(|p| match (&p.name, &p.value) {
        (ICalendarParameterName::Tzid, ICalendarParameterValue::Text(t)) => Some(t.clone()),
        _ => None,
    })
}

fn has_value_date(entry: &ICalendarEntry) -> bool {
    entry.params.iter().any(|p| {
        p.name == ICalendarParameterName::Value
            && matches!(
                p.value,
                ICalendarParameterValue::Value(ICalendarValueType::Date)
            )
    })
}

/// A calcard date-time as a model value; `None` when it does not fit one of
/// the four RFC 5545 forms (an offset other than Z, an impossible date).
fn to_dt(
    d: &calcard::common::PartialDateTime,
    tzid: Option<&str>,
    date_only: bool,
) -> Option<(DateTimeValue, bool)> {
    let date = NaiveDate::from_ymd_opt(i32::from(d.year?), u32::from(d.month?), u32::from(d.day?))?;
    if d.hour.is_none() || date_only {
        if d.hour.is_some() || d.tz_hour.is_some() {
            return None;
        }
        return Some((DateTimeValue::Date(date), false));
    }
    let time = NaiveTime::from_hms_opt(
        u32::from(d.hour?),
        u32::from(d.minute.unwrap_or(0)),
        u32::from(d.second.unwrap_or(0)),
    )?;
    let local = NaiveDateTime::new(date, time);
    match (d.tz_hour, d.tz_minute) {
        (Some(0), None | Some(0)) => Some((DateTimeValue::Utc(local), false)),
        (None, _) => match tzid {
            Some(t) => Some((DateTimeValue::zoned(t, local), true)),
            None => Some((DateTimeValue::Floating(local), false)),
        },
        _ => None,
    }
}

/// A single date-time property: its value and the parameters left over.
fn date_prop(entry: &ICalendarEntry) -> Option<(DateTimeValue, PropMeta)> {
    let [ICalendarValue::PartialDateTime(d)] = entry.values.as_slice() else {
        return None;
    };
    let tzid = tzid_of(entry);
    let (v, used_tz) = to_dt(d, tzid.as_deref(), has_value_date(entry))?;
    let mut skip = vec![ICalendarParameterName::Value];
    if used_tz {
        skip.push(ICalendarParameterName::Tzid);
    }
    Some((v, meta_of(entry, &skip)))
}

/// A multi-valued date list (`EXDATE`, `RDATE`) with no parameters but
/// `TZID` and `VALUE`.
fn date_list(entry: &ICalendarEntry) -> Option<Vec<RecurrenceDate>> {
    if entry.params.iter().any(|p| {
        !matches!(
            p.name,
            ICalendarParameterName::Tzid | ICalendarParameterName::Value
        )
    }) {
        return None;
    }
    let tzid = tzid_of(entry);
    let date_only = has_value_date(entry);
    let mut out = Vec::new();
    for v in &entry.values {
        match v {
            ICalendarValue::PartialDateTime(d) => {
                let (dt, used_tz) = to_dt(d, tzid.as_deref(), date_only)?;
                if tzid.is_some() && !used_tz {
                    return None;
                }
                out.push(RecurrenceDate::At(dt));
            }
            ICalendarValue::Period(p) => out.push(RecurrenceDate::Period {
                period: p.to_string(),
                tzid: tzid.clone(),
            }),
            _ => return None,
        }
    }
    if out.is_empty() { None } else { Some(out) }
}

fn cal_address(entry: &ICalendarEntry) -> Option<CalAddress> {
    let address = uri_or_text(entry)?;
    let mut a = CalAddress::new(address);
    let mut rest = Vec::new();
    for p in &entry.params {
        match (&p.name, &p.value) {
            (ICalendarParameterName::Cn, ICalendarParameterValue::Text(t)) if a.name.is_none() => {
                a.name = Some(t.clone())
            }
            (ICalendarParameterName::Role, v) if a.role.is_none() => {
                a.role = param_text(&p.name, v).map(|s| s.to_ascii_uppercase())
            }
            (ICalendarParameterName::Partstat, v) if a.partstat.is_none() => {
                a.partstat = param_text(&p.name, v).map(|s| s.to_ascii_uppercase())
            }
            (ICalendarParameterName::Rsvp, ICalendarParameterValue::Bool(b))
                if a.rsvp.is_none() =>
            {
                a.rsvp = Some(*b)
            }
            (name, v) => push_param(
                &mut rest,
                &name.as_str().to_ascii_uppercase(),
                param_text(name, v),
            ),
        }
    }
    a.params = rest;
    Some(a)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Event,
    Task,
}

/// The union of what events and tasks model.
#[derive(Default)]
struct Fields {
    uid: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    location: Option<String>,
    geo: Option<Geo>,
    start: Option<DateTimeValue>,
    end: Option<DateTimeValue>,
    due: Option<DateTimeValue>,
    completed: Option<DateTimeValue>,
    duration: Option<String>,
    rrule: Vec<String>,
    rdate: Vec<RecurrenceDate>,
    exdate: Vec<DateTimeValue>,
    recurrence_id: Option<DateTimeValue>,
    status: Option<Status>,
    transparency: Option<Transparency>,
    class: Option<Classification>,
    priority: Option<u8>,
    percent: Option<u8>,
    organizer: Option<CalAddress>,
    attendees: Vec<CalAddress>,
    alarms: Vec<Alarm>,
    categories: Vec<String>,
    url: Option<String>,
    attachments: Vec<Attachment>,
    created: Option<DateTimeValue>,
    last_modified: Option<DateTimeValue>,
    dtstamp: Option<DateTimeValue>,
    sequence: Option<i64>,
    parent: Option<String>,
    meta: MetaMap,
    properties: Vec<RawProperty>,
    components: Vec<Component>,
}

fn extract(
    ical: &ICalendar,
    comp: &ICalendarComponent,
    kind: Kind,
    text: &str,
    warnings: &mut Vec<Warning>,
) -> Fields {
    let mut f = Fields::default();
    for entry in &comp.entries {
        let unfit_candidate = is_unfit_candidate(&f, &entry.name, kind);
        if !take(&mut f, entry, kind) {
            let raw = raw_property(entry);
            if unfit_candidate {
                warnings.push(Warning::new(
                    line_of_property(text, &raw.name, &raw.value),
                    Some(&raw.name),
                    format!(
                        "value {:?} (in {}) does not fit the model; kept verbatim",
                        raw.value.chars().take(40).collect::<String>(),
                        f.uid.as_deref().unwrap_or("a component without UID")
                    ),
                ));
            }
            f.properties.push(raw);
        }
    }
    for id in &comp.component_ids {
        let Some(sub) = ical.components.get(*id as usize) else {
            continue;
        };
        if sub.component_type == ICalendarComponentType::VAlarm {
            f.alarms.push(alarm_from(ical, sub));
        } else {
            f.components.push(verbatim(ical, sub, 1));
        }
    }
    f
}

/// Whether a refusal by `take` would mean "malformed value" (as opposed to
/// a second occurrence, or a property this kind does not model).
fn is_unfit_candidate(f: &Fields, name: &ICalendarProperty, kind: Kind) -> bool {
    use ICalendarProperty as P;
    let ev = kind == Kind::Event;
    match name {
        P::Dtstart => f.start.is_none(),
        P::Dtend if ev => f.end.is_none(),
        P::Due if !ev => f.due.is_none(),
        P::Completed if !ev => f.completed.is_none(),
        P::RecurrenceId => f.recurrence_id.is_none(),
        P::Created => f.created.is_none(),
        P::LastModified => f.last_modified.is_none(),
        P::Dtstamp => f.dtstamp.is_none(),
        P::Geo if ev => f.geo.is_none(),
        P::Priority => f.priority.is_none(),
        P::Sequence => f.sequence.is_none(),
        P::Exdate => true,
        P::Rdate => ev,
        _ => false,
    }
}

/// Sets a single-valued text field on its first occurrence.
fn set_text(
    slot: &mut Option<String>,
    meta: &mut MetaMap,
    entry: &ICalendarEntry,
    value: Option<String>,
) -> bool {
    if slot.is_some() {
        return false;
    }
    let Some(v) = value else { return false };
    *slot = Some(v);
    set_meta(
        meta,
        &entry.name.as_str().to_ascii_uppercase(),
        meta_of(entry, &[]),
    );
    true
}

fn set_date(slot: &mut Option<DateTimeValue>, meta: &mut MetaMap, entry: &ICalendarEntry) -> bool {
    if slot.is_some() {
        return false;
    }
    let Some((v, m)) = date_prop(entry) else {
        return false;
    };
    *slot = Some(v);
    set_meta(meta, &entry.name.as_str().to_ascii_uppercase(), m);
    true
}

fn take(f: &mut Fields, entry: &ICalendarEntry, kind: Kind) -> bool {
    use ICalendarProperty as P;
    let ev = kind == Kind::Event;
    let task = kind == Kind::Task;
    match &entry.name {
        P::Uid => set_text(&mut f.uid, &mut f.meta, entry, single_text(entry)),
        P::Summary => set_text(&mut f.summary, &mut f.meta, entry, single_text(entry)),
        P::Description => set_text(&mut f.description, &mut f.meta, entry, single_text(entry)),
        P::Location if ev => set_text(&mut f.location, &mut f.meta, entry, single_text(entry)),
        P::Url => set_text(&mut f.url, &mut f.meta, entry, uri_or_text(entry)),
        P::Duration if ev && f.duration.is_none() && entry.params.is_empty() => {
            match entry.values.as_slice() {
                [ICalendarValue::Duration(d)] => {
                    f.duration = Some(d.to_string());
                    true
                }
                _ => false,
            }
        }
        P::Geo if ev && f.geo.is_none() && entry.params.is_empty() => match entry.values.as_slice()
        {
            [ICalendarValue::Float(a), ICalendarValue::Float(b)]
                if a.is_finite() && b.is_finite() =>
            {
                f.geo = Some(Geo::new(*a, *b));
                true
            }
            _ => false,
        },
        P::Dtstart => set_date(&mut f.start, &mut f.meta, entry),
        P::Dtend if ev => set_date(&mut f.end, &mut f.meta, entry),
        P::Due if task => set_date(&mut f.due, &mut f.meta, entry),
        P::Completed if task => set_date(&mut f.completed, &mut f.meta, entry),
        P::RecurrenceId => set_date(&mut f.recurrence_id, &mut f.meta, entry),
        P::Created => set_date(&mut f.created, &mut f.meta, entry),
        P::LastModified => set_date(&mut f.last_modified, &mut f.meta, entry),
        P::Dtstamp => set_date(&mut f.dtstamp, &mut f.meta, entry),
        P::Rrule if entry.params.is_empty() => match entry.values.as_slice() {
            [ICalendarValue::RecurrenceRule(r)] => {
                f.rrule.push(r.to_string());
                true
            }
            _ => false,
        },
        P::Exdate => match date_list(entry) {
            Some(list) if list.iter().all(|d| matches!(d, RecurrenceDate::At(_))) => {
                f.exdate.extend(list.into_iter().filter_map(|d| match d {
                    RecurrenceDate::At(v) => Some(v),
                    RecurrenceDate::Period { .. } => None,
                }));
                true
            }
            _ => false,
        },
        P::Rdate if ev => match date_list(entry) {
            Some(list) => {
                f.rdate.extend(list);
                true
            }
            None => false,
        },
        P::Status if f.status.is_none() && entry.params.is_empty() => {
            let s = match entry.values.as_slice() {
                [ICalendarValue::Status(s)] => s.as_str().to_string(),
                [ICalendarValue::Text(s)] if !s.is_empty() => s.clone(),
                _ => return false,
            };
            f.status = Some(Status::parse(&s));
            true
        }
        P::Transp if ev && f.transparency.is_none() && entry.params.is_empty() => {
            let s = match entry.values.as_slice() {
                [ICalendarValue::Transparency(s)] => s.as_str().to_string(),
                [ICalendarValue::Text(s)] if !s.is_empty() => s.clone(),
                _ => return false,
            };
            f.transparency = Some(Transparency::parse(&s));
            true
        }
        P::Class if f.class.is_none() && entry.params.is_empty() => {
            let s = match entry.values.as_slice() {
                [ICalendarValue::Classification(s)] => s.as_str().to_string(),
                [ICalendarValue::Text(s)] if !s.is_empty() => s.clone(),
                _ => return false,
            };
            f.class = Some(Classification::parse(&s));
            true
        }
        P::Priority if f.priority.is_none() && entry.params.is_empty() => {
            match entry.values.as_slice() {
                [ICalendarValue::Integer(n)] if (0..=9).contains(n) => {
                    f.priority = Some(*n as u8);
                    true
                }
                _ => false,
            }
        }
        P::PercentComplete if task && f.percent.is_none() && entry.params.is_empty() => {
            match entry.values.as_slice() {
                [ICalendarValue::Integer(n)] if (0..=100).contains(n) => {
                    f.percent = Some(*n as u8);
                    true
                }
                _ => false,
            }
        }
        P::Sequence if f.sequence.is_none() && entry.params.is_empty() => {
            match entry.values.as_slice() {
                [ICalendarValue::Integer(n)] => {
                    f.sequence = Some(*n);
                    true
                }
                _ => false,
            }
        }
        P::Organizer if ev && f.organizer.is_none() => match cal_address(entry) {
            Some(a) => {
                f.organizer = Some(a);
                true
            }
            None => false,
        },
        P::Attendee if ev => match cal_address(entry) {
            Some(a) => {
                f.attendees.push(a);
                true
            }
            None => false,
        },
        P::Categories => {
            let mut values = Vec::new();
            for v in &entry.values {
                match v {
                    ICalendarValue::Text(s) if !s.is_empty() => values.push(s.clone()),
                    _ => return false,
                }
            }
            if values.is_empty() {
                return false;
            }
            let meta = meta_of(entry, &[]);
            if !f.categories.is_empty()
                && f.meta.get("CATEGORIES").cloned().unwrap_or_default() != meta
            {
                return false;
            }
            f.categories.extend(values);
            set_meta(&mut f.meta, "CATEGORIES", meta);
            true
        }
        P::Attach if ev => {
            let binary = entry.params.iter().any(|p| {
                p.name == ICalendarParameterName::Value
                    && matches!(
                        p.value,
                        ICalendarParameterValue::Value(ICalendarValueType::Binary)
                    )
            });
            let (value, skip) = match entry.values.as_slice() {
                // calcard hands back base64 that decodes to UTF-8 as text;
                // VALUE=BINARY says what it is.
                [ICalendarValue::Uri(Uri::Location(s))] | [ICalendarValue::Text(s)] if binary => (
                    AttachmentValue::Inline(InlineBytes(s.clone().into_bytes())),
                    vec![ICalendarParameterName::Value],
                ),
                [ICalendarValue::Uri(Uri::Location(s))] | [ICalendarValue::Text(s)] => {
                    (AttachmentValue::Uri(s.clone()), vec![])
                }
                [ICalendarValue::Binary(b)] => (
                    AttachmentValue::Inline(InlineBytes(b.clone())),
                    vec![ICalendarParameterName::Value],
                ),
                _ => return false,
            };
            f.attachments.push(Attachment {
                value,
                params: params_of(entry, &skip),
            });
            true
        }
        P::RelatedTo if task && f.parent.is_none() => {
            let parent = entry.params.iter().all(|p| {
                p.name == ICalendarParameterName::Reltype
                    && param_text(&p.name, &p.value)
                        .is_some_and(|t| t.eq_ignore_ascii_case("PARENT"))
            });
            match (parent, single_text(entry)) {
                (true, Some(uid)) if !uid.is_empty() => {
                    f.parent = Some(uid);
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

fn alarm_from(ical: &ICalendar, comp: &ICalendarComponent) -> Alarm {
    let mut a = Alarm {
        action: None,
        trigger: None,
        description: None,
        summary: None,
        meta: MetaMap::new(),
        properties: Vec::new(),
        components: Vec::new(),
    };
    for entry in &comp.entries {
        let taken = match &entry.name {
            ICalendarProperty::Action if a.action.is_none() && entry.params.is_empty() => {
                match entry.values.as_slice() {
                    [ICalendarValue::Action(x)] => {
                        a.action = Some(x.as_str().to_string());
                        true
                    }
                    [ICalendarValue::Text(s)] if !s.is_empty() => {
                        a.action = Some(s.to_ascii_uppercase());
                        true
                    }
                    _ => false,
                }
            }
            ICalendarProperty::Trigger if a.trigger.is_none() => {
                let raw = raw_property(entry);
                if raw.value.is_empty() {
                    false
                } else {
                    a.trigger = Some(raw.value);
                    set_meta(
                        &mut a.meta,
                        "TRIGGER",
                        PropMeta {
                            group: None,
                            params: raw.params,
                        },
                    );
                    true
                }
            }
            ICalendarProperty::Description => {
                set_text(&mut a.description, &mut a.meta, entry, single_text(entry))
            }
            ICalendarProperty::Summary => {
                set_text(&mut a.summary, &mut a.meta, entry, single_text(entry))
            }
            _ => false,
        };
        if !taken {
            a.properties.push(raw_property(entry));
        }
    }
    a.components = comp
        .component_ids
        .iter()
        .filter_map(|id| ical.components.get(*id as usize))
        .map(|c| verbatim(ical, c, 2))
        .collect();
    a
}

fn event_from(f: Fields, calendar_id: &str) -> Event {
    let mut e = Event::new(
        String::new(),
        calendar_id,
        f.uid.unwrap_or_default(),
        f.summary.unwrap_or_default(),
    );
    e.description = f.description;
    e.location = f.location;
    e.geo = f.geo;
    e.start = f.start;
    e.end = f.end;
    e.duration = f.duration;
    e.rrule = f.rrule;
    e.rdate = f.rdate;
    e.exdate = f.exdate;
    e.recurrence_id = f.recurrence_id;
    e.status = f.status;
    e.transparency = f.transparency;
    e.class = f.class;
    e.priority = f.priority;
    e.organizer = f.organizer;
    e.attendees = f.attendees;
    e.alarms = f.alarms;
    e.categories = f.categories;
    e.url = f.url;
    e.attachments = f.attachments;
    e.created = f.created;
    e.last_modified = f.last_modified;
    e.dtstamp = f.dtstamp;
    e.sequence = f.sequence;
    e.meta = f.meta;
    e.properties = f.properties;
    e.components = f.components;
    e
}

fn task_from(f: Fields, list_id: &str) -> Task {
    let mut t = Task::new(String::new(), list_id, f.summary.unwrap_or_default());
    t.uid = f.uid;
    t.parent_id = f.parent;
    t.notes = f.description;
    t.status = f.status;
    t.due = f.due;
    t.start = f.start;
    t.completed = f.completed;
    t.priority = f.priority;
    t.percent_complete = f.percent;
    t.categories = f.categories;
    t.rrule = f.rrule;
    t.recurrence_id = f.recurrence_id;
    t.class = f.class;
    t.url = f.url;
    t.alarms = f.alarms;
    t.created = f.created;
    t.last_modified = f.last_modified;
    t.dtstamp = f.dtstamp;
    t.sequence = f.sequence;
    t.meta = f.meta;
    t.properties = f.properties;
    t.components = f.components;
    t
}

// ---------------------------------------------------------------- writing

/// Writes a whole [`CalendarObject`] as one `VCALENDAR`.
pub fn write_icalendar(obj: &CalendarObject) -> String {
    let mut w = Writer::default();
    w.begin("VCALENDAR");
    w.calendar_props(&obj.calendar);
    for tz in timezones_for(&obj.calendar, &obj.events) {
        w.component(tz);
    }
    for e in &obj.events {
        w.event(e);
    }
    for t in &obj.tasks {
        w.task(t);
    }
    for c in &obj.components {
        w.component(c);
    }
    w.end("VCALENDAR");
    w.out
}

/// Writes one event (series and overrides) in a `VCALENDAR` carrying the
/// calendar's properties and time zones — what a CalDAV server stores as
/// one resource.
pub fn write_event(calendar: &Calendar, event: &Event) -> String {
    let mut w = Writer::default();
    w.begin("VCALENDAR");
    w.calendar_props(calendar);
    for tz in timezones_for(calendar, std::slice::from_ref(event)) {
        w.component(tz);
    }
    w.event(event);
    w.end("VCALENDAR");
    w.out
}

/// The `TZID` of a `VTIMEZONE` component, as written.
fn tzid_of_component(c: &Component) -> Option<&str> {
    c.properties
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case("TZID"))
        .map(|p| p.value.as_str())
}

/// The calendar's `VTIMEZONE`s, then those the events (and their overrides)
/// carry from their source resources ([`Event::timezones`]), each TZID once:
/// a definition whose TZID is already written (by the calendar or an earlier
/// event) is skipped.
fn timezones_for<'a>(calendar: &'a Calendar, events: &'a [Event]) -> Vec<&'a Component> {
    let mut out: Vec<&Component> = calendar.timezones.iter().collect();
    let mut seen: HashSet<&str> = out.iter().filter_map(|c| tzid_of_component(c)).collect();
    let carried = events.iter().flat_map(|e| {
        e.timezones
            .iter()
            .chain(e.overrides.iter().flat_map(|o| &o.timezones))
    });
    for tz in carried {
        match tzid_of_component(tz) {
            Some(id) if !seen.insert(id) => {}
            None if out.contains(&tz) => {}
            _ => out.push(tz),
        }
    }
    out
}

/// Writes one task in a `VCALENDAR` (with the calendar's time zones, when
/// given).
pub fn write_task(calendar: Option<&Calendar>, task: &Task) -> String {
    let mut w = Writer::default();
    w.begin("VCALENDAR");
    match calendar {
        Some(c) => {
            w.calendar_props(c);
            for tz in &c.timezones {
                w.component(tz);
            }
        }
        None => {
            w.line("VERSION", &[], "2.0");
            w.line("PRODID", &[], DEFAULT_PRODID);
        }
    }
    w.task(task);
    w.end("VCALENDAR");
    w.out
}

#[derive(Default)]
struct Writer {
    out: String,
}

fn pname(name: &str) -> ICalendarParameterName {
    ICalendarParameterName::try_parse(name.as_bytes())
        .unwrap_or_else(|| ICalendarParameterName::Other(name.to_string()))
}

fn to_params(params: &[Param]) -> Vec<ICalendarParameter> {
    let mut out = Vec::new();
    for p in params {
        let name = pname(&p.name);
        if p.values.is_empty() {
            out.push(ICalendarParameter {
                name: name.clone(),
                value: ICalendarParameterValue::Null,
            });
        }
        for v in &p.values {
            let value = if name == ICalendarParameterName::Value {
                ICalendarValueType::parse(v.as_bytes())
                    .map(ICalendarParameterValue::Value)
                    .unwrap_or_else(|| ICalendarParameterValue::Text(v.clone()))
            } else {
                ICalendarParameterValue::Text(v.clone())
            };
            out.push(ICalendarParameter {
                name: name.clone(),
                value,
            });
        }
    }
    out
}

fn fmt_dt(v: &DateTimeValue) -> String {
    match v {
        DateTimeValue::Date(d) => d.format("%Y%m%d").to_string(),
        DateTimeValue::Floating(t) | DateTimeValue::Zoned { local: t, .. } => t
            .with_nanosecond(0)
            .unwrap_or(*t)
            .format("%Y%m%dT%H%M%S")
            .to_string(),
        DateTimeValue::Utc(t) => t
            .with_nanosecond(0)
            .unwrap_or(*t)
            .format("%Y%m%dT%H%M%SZ")
            .to_string(),
    }
}

fn dt_params(v: &DateTimeValue) -> Vec<Param> {
    match v {
        DateTimeValue::Date(_) => vec![Param::new("VALUE", &["DATE"])],
        DateTimeValue::Zoned { tzid, .. } => vec![Param {
            name: "TZID".into(),
            values: vec![tzid.clone()],
        }],
        _ => vec![],
    }
}

impl Writer {
    fn begin(&mut self, name: &str) {
        self.out.push_str("BEGIN:");
        self.out.push_str(name);
        self.out.push_str("\r\n");
    }

    fn end(&mut self, name: &str) {
        self.out.push_str("END:");
        self.out.push_str(name);
        self.out.push_str("\r\n");
    }

    /// A line whose value is already in content-line syntax.
    fn line(&mut self, name: &str, params: &[Param], value: &str) {
        content_line(&mut self.out, None, name, params, value);
    }

    /// A line written by calcard from typed values.
    fn entry(
        &mut self,
        name: ICalendarProperty,
        params: Vec<ICalendarParameter>,
        values: Vec<ICalendarValue>,
    ) {
        let e = ICalendarEntry {
            name,
            params,
            values,
        };
        // Writing to a String cannot fail.
        let _ = e.write_to(&mut self.out);
    }

    fn text(&mut self, meta: &MetaMap, key: &str, name: ICalendarProperty, value: &str) {
        let params = meta
            .get(key)
            .map(|m| to_params(&m.params))
            .unwrap_or_default();
        self.entry(name, params, vec![ICalendarValue::Text(value.to_string())]);
    }

    fn uri(&mut self, name: ICalendarProperty, params: Vec<ICalendarParameter>, value: &str) {
        self.entry(
            name,
            params,
            vec![ICalendarValue::Uri(Uri::Location(value.to_string()))],
        );
    }

    fn date(&mut self, meta: &MetaMap, key: &str, v: &DateTimeValue) {
        let mut params = dt_params(v);
        if let Some(m) = meta.get(key) {
            params.extend(m.params.iter().cloned());
        }
        self.line(key, &params, &fmt_dt(v));
    }

    fn calendar_props(&mut self, c: &Calendar) {
        let has_version = c
            .properties
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case("VERSION"));
        let has_prodid = c
            .properties
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case("PRODID"));
        if !has_version {
            self.line("VERSION", &[], "2.0");
        }
        if !has_prodid {
            self.line("PRODID", &[], DEFAULT_PRODID);
        }
        for p in &c.properties {
            self.line(&p.name, &p.params, &p.value);
        }
        let other = |n: &str| ICalendarProperty::Other(n.to_string());
        if !c.name.is_empty() || c.meta.contains_key("X-WR-CALNAME") {
            self.text(&c.meta, "X-WR-CALNAME", other("X-WR-CALNAME"), &c.name);
        }
        if let Some(d) = &c.description {
            self.text(&c.meta, "X-WR-CALDESC", other("X-WR-CALDESC"), d);
        }
        if let Some(t) = &c.timezone {
            self.text(&c.meta, "X-WR-TIMEZONE", other("X-WR-TIMEZONE"), t);
        }
        if let Some(col) = &c.color {
            self.text(&c.meta, "COLOR", ICalendarProperty::Color, col);
        }
    }

    fn component(&mut self, c: &Component) {
        self.begin(&c.name);
        for p in &c.properties {
            self.line(&p.name, &p.params, &p.value);
        }
        for s in &c.components {
            self.component(s);
        }
        self.end(&c.name);
    }

    fn cal_address(&mut self, name: ICalendarProperty, a: &CalAddress) {
        let mut params = Vec::new();
        if let Some(n) = &a.name {
            params.push(Param {
                name: "CN".into(),
                values: vec![n.clone()],
            });
        }
        if let Some(r) = &a.role {
            params.push(Param::new("ROLE", &[r]));
        }
        if let Some(p) = &a.partstat {
            params.push(Param::new("PARTSTAT", &[p]));
        }
        if let Some(r) = a.rsvp {
            params.push(Param::new("RSVP", &[if r { "TRUE" } else { "FALSE" }]));
        }
        params.extend(a.params.iter().cloned());
        self.uri(name, to_params(&params), &a.address);
    }

    fn alarm(&mut self, a: &Alarm) {
        self.begin("VALARM");
        if let Some(x) = &a.action {
            self.line("ACTION", &[], x);
        }
        if let Some(t) = &a.trigger {
            let params = a
                .meta
                .get("TRIGGER")
                .map(|m| m.params.clone())
                .unwrap_or_default();
            self.line("TRIGGER", &params, t);
        }
        if let Some(d) = &a.description {
            self.text(&a.meta, "DESCRIPTION", ICalendarProperty::Description, d);
        }
        if let Some(s) = &a.summary {
            self.text(&a.meta, "SUMMARY", ICalendarProperty::Summary, s);
        }
        for p in &a.properties {
            self.line(&p.name, &p.params, &p.value);
        }
        for c in &a.components {
            self.component(c);
        }
        self.end("VALARM");
    }

    #[allow(clippy::too_many_arguments)]
    fn common_head(
        &mut self,
        meta: &MetaMap,
        uid: &str,
        dtstamp: Option<&DateTimeValue>,
        summary: &str,
        description: Option<&String>,
    ) {
        if !uid.is_empty() || meta.contains_key("UID") {
            self.text(meta, "UID", ICalendarProperty::Uid, uid);
        }
        if let Some(d) = dtstamp {
            self.date(meta, "DTSTAMP", d);
        }
        if !summary.is_empty() || meta.contains_key("SUMMARY") {
            self.text(meta, "SUMMARY", ICalendarProperty::Summary, summary);
        }
        if let Some(d) = description {
            self.text(meta, "DESCRIPTION", ICalendarProperty::Description, d);
        }
    }

    fn categories(&mut self, meta: &MetaMap, categories: &[String]) {
        if !categories.is_empty() {
            let params = meta
                .get("CATEGORIES")
                .map(|m| to_params(&m.params))
                .unwrap_or_default();
            self.entry(
                ICalendarProperty::Categories,
                params,
                categories
                    .iter()
                    .cloned()
                    .map(ICalendarValue::Text)
                    .collect(),
            );
        }
    }

    fn tail(
        &mut self,
        e_class: Option<&Classification>,
        priority: Option<u8>,
        url: Option<&String>,
        meta: &MetaMap,
    ) {
        if let Some(c) = e_class {
            self.line("CLASS", &[], &crate::text::escaped(c.as_str()));
        }
        if let Some(p) = priority {
            self.line("PRIORITY", &[], &p.to_string());
        }
        if let Some(u) = url {
            let params = meta
                .get("URL")
                .map(|m| to_params(&m.params))
                .unwrap_or_default();
            self.uri(ICalendarProperty::Url, params, u);
        }
    }

    fn event(&mut self, e: &Event) {
        self.begin("VEVENT");
        let m = &e.meta;
        self.common_head(
            m,
            &e.uid,
            e.dtstamp.as_ref(),
            &e.summary,
            e.description.as_ref(),
        );
        if let Some(l) = &e.location {
            self.text(m, "LOCATION", ICalendarProperty::Location, l);
        }
        if let Some(g) = &e.geo {
            self.line("GEO", &[], &format!("{};{}", g.latitude, g.longitude));
        }
        if let Some(s) = &e.start {
            self.date(m, "DTSTART", s);
        }
        if let Some(s) = &e.end {
            self.date(m, "DTEND", s);
        }
        if let Some(d) = &e.duration {
            self.line("DURATION", &[], d);
        }
        if let Some(r) = &e.recurrence_id {
            self.date(m, "RECURRENCE-ID", r);
        }
        for r in &e.rrule {
            self.line("RRULE", &[], r);
        }
        for r in &e.rdate {
            match r {
                RecurrenceDate::At(v) => {
                    let mut p = dt_params(v);
                    if !v.is_date() && !matches!(v, DateTimeValue::Zoned { .. }) {
                        p.clear();
                    }
                    self.line("RDATE", &p, &fmt_dt(v));
                }
                RecurrenceDate::Period { period, tzid } => {
                    let mut p = Vec::new();
                    if let Some(t) = tzid {
                        p.push(Param {
                            name: "TZID".into(),
                            values: vec![t.clone()],
                        });
                    }
                    p.push(Param::new("VALUE", &["PERIOD"]));
                    self.line("RDATE", &p, period);
                }
            }
        }
        for x in &e.exdate {
            self.line("EXDATE", &dt_params(x), &fmt_dt(x));
        }
        if let Some(s) = &e.status {
            self.line("STATUS", &[], &crate::text::escaped(s.as_str()));
        }
        if let Some(t) = &e.transparency {
            self.line("TRANSP", &[], &crate::text::escaped(t.as_str()));
        }
        self.tail(e.class.as_ref(), e.priority, e.url.as_ref(), m);
        if let Some(o) = &e.organizer {
            self.cal_address(ICalendarProperty::Organizer, o);
        }
        for a in &e.attendees {
            self.cal_address(ICalendarProperty::Attendee, a);
        }
        self.categories(m, &e.categories);
        for a in &e.attachments {
            match &a.value {
                AttachmentValue::Uri(u) => {
                    self.uri(ICalendarProperty::Attach, to_params(&a.params), u)
                }
                AttachmentValue::Inline(b) => {
                    let mut params = vec![ICalendarParameter {
                        name: ICalendarParameterName::Value,
                        value: ICalendarParameterValue::Value(ICalendarValueType::Binary),
                    }];
                    params.extend(to_params(&a.params));
                    self.entry(
                        ICalendarProperty::Attach,
                        params,
                        vec![ICalendarValue::Binary(b.0.clone())],
                    );
                }
            }
        }
        self.stamps(m, e.created.as_ref(), e.last_modified.as_ref(), e.sequence);
        for p in &e.properties {
            self.line(&p.name, &p.params, &p.value);
        }
        for a in &e.alarms {
            self.alarm(a);
        }
        for c in &e.components {
            self.component(c);
        }
        self.end("VEVENT");
        for o in &e.overrides {
            self.event(o);
        }
    }

    fn stamps(
        &mut self,
        m: &MetaMap,
        created: Option<&DateTimeValue>,
        modified: Option<&DateTimeValue>,
        seq: Option<i64>,
    ) {
        if let Some(c) = created {
            self.date(m, "CREATED", c);
        }
        if let Some(c) = modified {
            self.date(m, "LAST-MODIFIED", c);
        }
        if let Some(s) = seq {
            self.line("SEQUENCE", &[], &s.to_string());
        }
    }

    fn task(&mut self, t: &Task) {
        self.begin("VTODO");
        let m = &t.meta;
        self.common_head(
            m,
            t.uid.as_deref().unwrap_or(""),
            t.dtstamp.as_ref(),
            &t.title,
            t.notes.as_ref(),
        );
        if let Some(s) = &t.start {
            self.date(m, "DTSTART", s);
        }
        if let Some(s) = &t.due {
            self.date(m, "DUE", s);
        }
        if let Some(s) = &t.completed {
            self.date(m, "COMPLETED", s);
        }
        if let Some(r) = &t.recurrence_id {
            self.date(m, "RECURRENCE-ID", r);
        }
        for r in &t.rrule {
            self.line("RRULE", &[], r);
        }
        if let Some(s) = &t.status {
            self.line("STATUS", &[], &crate::text::escaped(s.as_str()));
        }
        if let Some(p) = t.percent_complete {
            self.line("PERCENT-COMPLETE", &[], &p.to_string());
        }
        self.tail(t.class.as_ref(), t.priority, t.url.as_ref(), m);
        if let Some(p) = &t.parent_id {
            self.text(&MetaMap::new(), "", ICalendarProperty::RelatedTo, p);
        }
        self.categories(m, &t.categories);
        self.stamps(m, t.created.as_ref(), t.last_modified.as_ref(), t.sequence);
        for p in &t.properties {
            self.line(&p.name, &p.params, &p.value);
        }
        for a in &t.alarms {
            self.alarm(a);
        }
        for c in &t.components {
            self.component(c);
        }
        self.end("VTODO");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOWS_TZ: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Microsoft Corporation//Outlook 16.0//EN\r\n\
        BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\n\
        BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n\
        RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n\
        BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n\
        RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n\
        BEGIN:VEVENT\r\nUID:win-tz-1\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:Review\r\n\
        DTSTART;TZID=W. Europe Standard Time:20240506T090000\r\n\
        DTEND;TZID=W. Europe Standard Time:20240506T100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn an_events_own_vtimezones_are_written_once_and_read_back_unchanged() {
        let obj = parse_icalendar(WINDOWS_TZ.as_bytes(), "cal")
            .unwrap()
            .value
            .remove(0);
        assert_eq!(obj.calendar.timezones.len(), 1);
        let mut e = obj.events[0].clone();
        e.timezones = obj.calendar.timezones.clone();
        // Alone, and with a calendar that already defines the same TZID.
        for cal in [Calendar::new("cal", ""), obj.calendar.clone()] {
            let out = write_event(&cal, &e);
            assert_eq!(out.matches("BEGIN:VTIMEZONE").count(), 1, "{out}");
            let back = parse_icalendar(out.as_bytes(), "cal")
                .unwrap()
                .value
                .remove(0);
            assert_eq!(back.calendar.timezones, obj.calendar.timezones, "{out}");
            let mut want = e.clone();
            want.timezones.clear();
            assert_eq!(back.events, vec![want], "{out}");
        }
    }
}
