//! Tasks, grouped in task lists, with `VTODO` semantics (RFC 5545).

use serde::{Deserialize, Serialize};

use crate::calendar::{Alarm, Classification, Status};
use crate::props::{Component, MetaMap, RawProperty};
use crate::{DataModel, DataType, DateTimeValue, Record};

/// Marker for the tasks data type.
#[derive(Debug, Clone, Copy, Default)]
pub struct TasksData;

impl DataModel for TasksData {
    const DATA_TYPE: DataType = DataType::Tasks;
    type Container = TaskList;
    type Item = Task;
}

/// A task list.
///
/// ```
/// use dtp_models::tasks::TaskList;
/// let list = TaskList::new("l1", "Groceries");
/// assert_eq!(list.title, "Groceries");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskList {
    /// Source id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

impl TaskList {
    /// A task list with an id and a title.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        TaskList {
            id: id.into(),
            title: title.into(),
            description: None,
            color: None,
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

impl Record for TaskList {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.title
    }
}

/// A task (`VTODO`).
///
/// In iCalendar the parent is a `RELATED-TO` naming the parent's UID; tasks
/// read from iCalendar use their UID as `id`, so `parent_id` is the parent's
/// source id either way.
///
/// ```
/// use chrono::NaiveDate;
/// use dtp_models::DateTimeValue;
/// use dtp_models::calendar::Status;
/// use dtp_models::tasks::Task;
/// let t = Task::new("t1", "l1", "Buy milk")
///     .with_parent("t0")
///     .with_status(Status::NeedsAction)
///     .with_due(DateTimeValue::Date(NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()));
/// assert_eq!(t.parent_id.as_deref(), Some("t0"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Task {
    /// Source id.
    pub id: String,
    /// Source id of the list holding it.
    pub list_id: String,
    /// Title.
    pub title: String,
    /// Source id of the parent task, for subtasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// iCalendar UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Notes (`DESCRIPTION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Due date or date-time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTimeValue>,
    /// Start (`DTSTART`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTimeValue>,
    /// When it was completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<DateTimeValue>,
    /// Priority, 0 (undefined) to 9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Percent complete, 0–100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_complete: Option<u8>,
    /// Position among its siblings, as the source orders them (an opaque
    /// sortable string such as Google Tasks' `position`). Not written to
    /// iCalendar by this crate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    /// Categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Recurrence rules as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rrule: Vec<String>,
    /// For an overridden instance of a recurring task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence_id: Option<DateTimeValue>,
    /// Classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<Classification>,
    /// URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Reminders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<Alarm>,
    /// `CREATED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTimeValue>,
    /// `LAST-MODIFIED` (updated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<DateTimeValue>,
    /// `DTSTAMP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtstamp: Option<DateTimeValue>,
    /// `SEQUENCE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
    /// Unmodelled parameters of the modelled single-valued properties.
    #[serde(default, skip_serializing_if = "MetaMap::is_empty")]
    pub meta: MetaMap,
    /// Every property not modelled, verbatim and in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<RawProperty>,
    /// Sub-components other than alarms, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
}

impl Task {
    /// A task with an id, its list and a title.
    pub fn new(
        id: impl Into<String>,
        list_id: impl Into<String>,
        title: impl Into<String>,
    ) -> Self {
        Task {
            id: id.into(),
            list_id: list_id.into(),
            title: title.into(),
            parent_id: None,
            uid: None,
            notes: None,
            status: None,
            due: None,
            start: None,
            completed: None,
            priority: None,
            percent_complete: None,
            position: None,
            categories: Vec::new(),
            rrule: Vec::new(),
            recurrence_id: None,
            class: None,
            url: None,
            alarms: Vec::new(),
            created: None,
            last_modified: None,
            dtstamp: None,
            sequence: None,
            meta: MetaMap::new(),
            properties: Vec::new(),
            components: Vec::new(),
        }
    }

    /// Sets the UID.
    pub fn with_uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }

    /// Sets the notes.
    pub fn with_notes(mut self, notes: impl Into<String>) -> Self {
        self.notes = Some(notes.into());
        self
    }

    /// Sets the status.
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the due date.
    pub fn with_due(mut self, due: DateTimeValue) -> Self {
        self.due = Some(due);
        self
    }

    /// Sets the completion time.
    pub fn with_completed(mut self, completed: DateTimeValue) -> Self {
        self.completed = Some(completed);
        self
    }

    /// Sets the position among siblings.
    pub fn with_position(mut self, position: impl Into<String>) -> Self {
        self.position = Some(position.into());
        self
    }

    /// Makes this a subtask of `parent_id`.
    pub fn with_parent(mut self, parent_id: impl Into<String>) -> Self {
        self.parent_id = Some(parent_id.into());
        self
    }
}

impl Record for Task {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.title
    }
}
