//! Calendar events, grouped in calendars.
//!
//! The model covers RFC 5545: an [`Event`] is a whole series (its master
//! component) with its overridden instances (`RECURRENCE-ID`) in
//! [`Event::overrides`]. `VTIMEZONE` definitions stay with the
//! [`Calendar`], verbatim. Anything not modelled is kept verbatim in
//! `properties` / `components`, and the parameters of modelled
//! single-valued properties in `meta`, so an event written back says what
//! it said when read.

use serde::{Deserialize, Serialize};

use crate::datetime::token_enum;
use crate::props::{Component, MetaMap, Param, RawProperty};
use crate::tasks::Task;
use crate::{DataModel, DataType, DateTimeValue, InlineBytes, Record};

/// Marker for the calendar data type.
#[derive(Debug, Clone, Copy, Default)]
pub struct CalendarData;

impl DataModel for CalendarData {
    const DATA_TYPE: DataType = DataType::Calendar;
    type Container = Calendar;
    type Item = Event;
}

/// A calendar.
///
/// ```
/// use dtp_models::calendar::Calendar;
/// let cal = Calendar::new("cal1", "Work").with_color("#3366ff").with_timezone("Europe/Paris");
/// assert_eq!(cal.name, "Work");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Calendar {
    /// Source id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Colour (`#rrggbb` or a CSS colour name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Default time zone id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `VTIMEZONE` definitions, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timezones: Vec<Component>,
    /// Calendar-level properties not modelled (`PRODID`, `METHOD`, …), verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<RawProperty>,
    /// Parameters of the modelled calendar-level properties.
    #[serde(default, skip_serializing_if = "MetaMap::is_empty")]
    pub meta: MetaMap,
}

impl Calendar {
    /// A calendar with an id and a name.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Calendar {
            id: id.into(),
            name: name.into(),
            description: None,
            color: None,
            timezone: None,
            timezones: Vec::new(),
            properties: Vec::new(),
            meta: MetaMap::new(),
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the colour.
    pub fn with_color(mut self, color: impl Into<String>) -> Self {
        self.color = Some(color.into());
        self
    }

    /// Sets the default time zone.
    pub fn with_timezone(mut self, tzid: impl Into<String>) -> Self {
        self.timezone = Some(tzid.into());
        self
    }

    /// Adds a `VTIMEZONE` definition.
    pub fn with_vtimezone(mut self, vtimezone: Component) -> Self {
        self.timezones.push(vtimezone);
        self
    }
}

impl Record for Calendar {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.name
    }
}

token_enum! {
    /// `STATUS` of an event, a task or a journal entry.
    Status {
        /// Tentative (events).
        Tentative => "TENTATIVE",
        /// Confirmed (events).
        Confirmed => "CONFIRMED",
        /// Cancelled.
        Cancelled => "CANCELLED",
        /// Needs action (tasks).
        NeedsAction => "NEEDS-ACTION",
        /// Completed (tasks).
        Completed => "COMPLETED",
        /// In process (tasks).
        InProcess => "IN-PROCESS",
        /// Draft (journals).
        Draft => "DRAFT",
        /// Final (journals).
        Final => "FINAL",
    }
}

token_enum! {
    /// `TRANSP`: whether an event blocks time.
    Transparency {
        /// Blocks time.
        Opaque => "OPAQUE",
        /// Does not block time.
        Transparent => "TRANSPARENT",
    }
}

token_enum! {
    /// `CLASS`: access classification.
    Classification {
        /// Public.
        Public => "PUBLIC",
        /// Private.
        Private => "PRIVATE",
        /// Confidential.
        Confidential => "CONFIDENTIAL",
    }
}

/// An organizer or attendee.
///
/// ```
/// use dtp_models::calendar::CalAddress;
/// let a = CalAddress::new("mailto:ada@example.org").with_name("Ada").with_partstat("ACCEPTED");
/// assert_eq!(a.partstat.as_deref(), Some("ACCEPTED"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CalAddress {
    /// Calendar user address, a URI (`mailto:…`).
    pub address: String,
    /// Common name (`CN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `ROLE` (`CHAIR`, `REQ-PARTICIPANT`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `PARTSTAT` (`ACCEPTED`, `DECLINED`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partstat: Option<String>,
    /// `RSVP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsvp: Option<bool>,
    /// Other parameters, kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

impl CalAddress {
    /// An address.
    pub fn new(address: impl Into<String>) -> Self {
        CalAddress {
            address: address.into(),
            name: None,
            role: None,
            partstat: None,
            rsvp: None,
            params: Vec::new(),
        }
    }

    /// Sets the common name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the role.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Sets the participation status.
    pub fn with_partstat(mut self, partstat: impl Into<String>) -> Self {
        self.partstat = Some(partstat.into());
        self
    }

    /// Sets RSVP.
    pub fn with_rsvp(mut self, rsvp: bool) -> Self {
        self.rsvp = Some(rsvp);
        self
    }
}

/// A reminder (`VALARM`).
///
/// ```
/// use dtp_models::calendar::Alarm;
/// let a = Alarm::new("DISPLAY", "-PT15M").with_description("Standup in 15 minutes");
/// assert_eq!(a.trigger.as_deref(), Some("-PT15M"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Alarm {
    /// `ACTION` (`DISPLAY`, `AUDIO`, `EMAIL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `TRIGGER` value as written: a duration (`-PT15M`) or a UTC date-time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// `DESCRIPTION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `SUMMARY` (email alarms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Parameters of the modelled properties (`TRIGGER;RELATED=END`).
    #[serde(default, skip_serializing_if = "MetaMap::is_empty")]
    pub meta: MetaMap,
    /// Other properties (`REPEAT`, `DURATION`, `ATTACH`, `X-…`), verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<RawProperty>,
    /// Sub-components, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
}

impl Alarm {
    /// An alarm with an action and a trigger.
    pub fn new(action: impl Into<String>, trigger: impl Into<String>) -> Self {
        Alarm {
            action: Some(action.into()),
            trigger: Some(trigger.into()),
            description: None,
            summary: None,
            meta: MetaMap::new(),
            properties: Vec::new(),
            components: Vec::new(),
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// What an attachment holds.
///
/// ```
/// use dtp_models::InlineBytes;
/// use dtp_models::calendar::AttachmentValue;
/// let v = AttachmentValue::Inline(InlineBytes(b"%PDF-1.7".to_vec()));
/// assert!(matches!(v, AttachmentValue::Inline(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttachmentValue {
    /// A URI.
    Uri(String),
    /// Inline bytes (`ENCODING=BASE64;VALUE=BINARY`).
    Inline(InlineBytes),
}

/// An attachment (`ATTACH`).
///
/// ```
/// use dtp_models::calendar::{Attachment, AttachmentValue};
/// let a = Attachment::uri("https://example.org/agenda.pdf");
/// assert!(matches!(a.value, AttachmentValue::Uri(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attachment {
    /// The attachment.
    pub value: AttachmentValue,
    /// Parameters (`FMTTYPE`, …), verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

impl Attachment {
    /// An attachment by URI.
    pub fn uri(uri: impl Into<String>) -> Self {
        Attachment {
            value: AttachmentValue::Uri(uri.into()),
            params: Vec::new(),
        }
    }
}

/// One `RDATE` value: a date(-time), or a period (value as written, e.g.
/// `19970101T180000Z/PT5H30M`) with its zone.
///
/// ```
/// use chrono::NaiveDate;
/// use dtp_models::DateTimeValue;
/// use dtp_models::calendar::RecurrenceDate;
/// let extra = RecurrenceDate::At(DateTimeValue::Date(NaiveDate::from_ymd_opt(2024, 12, 24).unwrap()));
/// let period = RecurrenceDate::Period { period: "19970101T180000Z/PT5H30M".into(), tzid: None };
/// assert_ne!(extra, period);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecurrenceDate {
    /// A date or date-time.
    At(DateTimeValue),
    /// A period.
    Period {
        /// `start/end` or `start/duration`, as written.
        period: String,
        /// Zone of the period's local times, when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tzid: Option<String>,
    },
}

/// A geographic position (`GEO`).
///
/// ```
/// use dtp_models::calendar::Geo;
/// let g = Geo::new(37.386013, -122.082932);
/// assert!(g.longitude < 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Geo {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
}

impl Geo {
    /// A position.
    pub fn new(latitude: f64, longitude: f64) -> Self {
        Geo {
            latitude,
            longitude,
        }
    }
}

/// A calendar event (a whole series, with its overridden instances).
///
/// ```
/// use chrono::NaiveDate;
/// use dtp_models::DateTimeValue;
/// use dtp_models::calendar::Event;
/// let day = NaiveDate::from_ymd_opt(2024, 5, 6).unwrap();
/// let e = Event::new("e1", "cal1", "uid-1@example.org", "Standup")
///     .with_start(DateTimeValue::zoned("Europe/Berlin", day.and_hms_opt(9, 0, 0).unwrap()))
///     .with_end(DateTimeValue::zoned("Europe/Berlin", day.and_hms_opt(9, 15, 0).unwrap()))
///     .with_rrule("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR");
/// assert_eq!(e.uid, "uid-1@example.org");
/// assert_eq!(e.rrule.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// Source id.
    pub id: String,
    /// Source id of the calendar holding it.
    pub calendar_id: String,
    /// iCalendar UID.
    pub uid: String,
    /// Summary (title).
    pub summary: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    /// Start (`DTSTART`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTimeValue>,
    /// End (`DTEND`); events give this or `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTimeValue>,
    /// Duration as written (`PT1H30M`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Recurrence rules as written (`FREQ=WEEKLY;BYDAY=MO`); usually one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rrule: Vec<String>,
    /// Extra occurrences (`RDATE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rdate: Vec<RecurrenceDate>,
    /// Excluded occurrences (`EXDATE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exdate: Vec<DateTimeValue>,
    /// For an overridden instance: which occurrence it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence_id: Option<DateTimeValue>,
    /// Overridden instances of this series (each with `recurrence_id`; read
    /// from iCalendar, they carry the series' `id`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Event>,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Transparency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transparency: Option<Transparency>,
    /// Classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<Classification>,
    /// Priority, 0 (undefined) to 9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Organizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer: Option<CalAddress>,
    /// Attendees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attendees: Vec<CalAddress>,
    /// Reminders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<Alarm>,
    /// Categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Attachments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// `CREATED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTimeValue>,
    /// `LAST-MODIFIED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<DateTimeValue>,
    /// `DTSTAMP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtstamp: Option<DateTimeValue>,
    /// `SEQUENCE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
    /// Unmodelled parameters of the modelled single-valued properties
    /// (`SUMMARY;LANGUAGE=de`, `RECURRENCE-ID;RANGE=THISANDFUTURE`), by name.
    #[serde(default, skip_serializing_if = "MetaMap::is_empty")]
    pub meta: MetaMap,
    /// Every property not modelled, verbatim and in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<RawProperty>,
    /// Sub-components other than alarms, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    /// `VTIMEZONE` definitions this event's source resource carried,
    /// verbatim (a CalDAV resource is one `VCALENDAR` with its own time
    /// zones; custom or Windows TZIDs such as `W. Europe Standard Time` are
    /// meaningless without them). Filled by exporters that read one event
    /// per resource; [`crate::ical::write_event`] writes them after the
    /// calendar's own, skipping any TZID the calendar already defines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timezones: Vec<Component>,
}

impl Event {
    /// An event with its id, calendar, UID and summary.
    pub fn new(
        id: impl Into<String>,
        calendar_id: impl Into<String>,
        uid: impl Into<String>,
        summary: impl Into<String>,
    ) -> Self {
        Event {
            id: id.into(),
            calendar_id: calendar_id.into(),
            uid: uid.into(),
            summary: summary.into(),
            description: None,
            location: None,
            geo: None,
            start: None,
            end: None,
            duration: None,
            rrule: Vec::new(),
            rdate: Vec::new(),
            exdate: Vec::new(),
            recurrence_id: None,
            overrides: Vec::new(),
            status: None,
            transparency: None,
            class: None,
            priority: None,
            organizer: None,
            attendees: Vec::new(),
            alarms: Vec::new(),
            categories: Vec::new(),
            url: None,
            attachments: Vec::new(),
            created: None,
            last_modified: None,
            dtstamp: None,
            sequence: None,
            meta: MetaMap::new(),
            properties: Vec::new(),
            components: Vec::new(),
            timezones: Vec::new(),
        }
    }

    /// Sets the start.
    pub fn with_start(mut self, start: DateTimeValue) -> Self {
        self.start = Some(start);
        self
    }

    /// Sets the end.
    pub fn with_end(mut self, end: DateTimeValue) -> Self {
        self.end = Some(end);
        self
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the location.
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// Adds a recurrence rule (as written in iCalendar, without `RRULE:`).
    pub fn with_rrule(mut self, rrule: impl Into<String>) -> Self {
        self.rrule.push(rrule.into());
        self
    }

    /// Adds an excluded occurrence.
    pub fn with_exdate(mut self, exdate: DateTimeValue) -> Self {
        self.exdate.push(exdate);
        self
    }

    /// Adds an overridden instance; its `recurrence_id` should be set.
    pub fn with_override(mut self, instance: Event) -> Self {
        self.overrides.push(instance);
        self
    }

    /// Sets which occurrence this instance overrides.
    pub fn with_recurrence_id(mut self, recurrence_id: DateTimeValue) -> Self {
        self.recurrence_id = Some(recurrence_id);
        self
    }

    /// Sets the organizer.
    pub fn with_organizer(mut self, organizer: CalAddress) -> Self {
        self.organizer = Some(organizer);
        self
    }

    /// Adds an attendee.
    pub fn with_attendee(mut self, attendee: CalAddress) -> Self {
        self.attendees.push(attendee);
        self
    }

    /// Adds an alarm.
    pub fn with_alarm(mut self, alarm: Alarm) -> Self {
        self.alarms.push(alarm);
        self
    }

    /// Adds a property kept verbatim.
    pub fn with_property(mut self, property: RawProperty) -> Self {
        self.properties.push(property);
        self
    }
}

impl Record for Event {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.summary
    }
}

/// Everything one iCalendar object (`VCALENDAR`) holds, as models: the
/// calendar (with its time zones and calendar-level properties), events,
/// tasks, and components kept verbatim (`VJOURNAL`, `VFREEBUSY`, …).
///
/// ```
/// use dtp_models::calendar::{Calendar, CalendarObject, Event};
/// let obj = CalendarObject::new(Calendar::new("cal1", "Work"))
///     .with_event(Event::new("e1", "cal1", "uid-1", "Standup"));
/// assert_eq!(obj.events.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CalendarObject {
    /// The calendar.
    pub calendar: Calendar,
    /// Events (series with their overrides).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// Tasks (`VTODO`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<Task>,
    /// Other components, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
}

impl CalendarObject {
    /// An object holding only a calendar.
    pub fn new(calendar: Calendar) -> Self {
        CalendarObject {
            calendar,
            events: Vec::new(),
            tasks: Vec::new(),
            components: Vec::new(),
        }
    }

    /// Adds an event.
    pub fn with_event(mut self, event: Event) -> Self {
        self.events.push(event);
        self
    }

    /// Adds a task.
    pub fn with_task(mut self, task: Task) -> Self {
        self.tasks.push(task);
        self
    }
}
