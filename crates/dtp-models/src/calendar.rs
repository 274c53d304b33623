//! Calendar events, grouped in calendars.

use serde::{Deserialize, Serialize};

use crate::{DataModel, DataType, Record};

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
/// let cal = Calendar::new("cal1", "Work");
/// assert_eq!(cal.name, "Work");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Calendar {
    /// Source id.
    pub id: String,
    /// Display name.
    pub name: String,
}

impl Calendar {
    /// A calendar with an id and a name.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Calendar {
            id: id.into(),
            name: name.into(),
        }
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

/// A calendar event (a whole series, with its overridden instances).
///
/// ```
/// use dtp_models::calendar::Event;
/// let e = Event::new("e1", "cal1", "uid-1@example.org", "Standup");
/// assert_eq!(e.uid, "uid-1@example.org");
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
        }
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
