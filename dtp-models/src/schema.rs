//! Versioned JSON: every serialized page or record carries its schema id and
//! version, e.g. `"schema": "dtp.calendar/1"`.
//!
//! Reading accepts every version this crate ever wrote and upgrades it to
//! the current shape; a version from the future is a
//! [`SchemaError::UnsupportedVersion`], never a silent partial read.
//! Unknown fields are ignored, so a document written by a newer *minor*
//! revision of the same version still reads.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::calendar::{Calendar, CalendarData, Event};
use crate::contacts::{AddressBook, Contact, ContactsData};
use crate::error::SchemaError;
use crate::mail::{Folder, MailData, Message};
use crate::media::{Album, MediaData, MediaItem};
use crate::tasks::{Task, TaskList, TasksData};
use crate::{DataModel, DataType, Record};

/// The schema name of a data type (`dtp.calendar`).
pub fn schema_name(data_type: DataType) -> &'static str {
    match data_type {
        DataType::Media => "dtp.media",
        DataType::Contacts => "dtp.contacts",
        DataType::Calendar => "dtp.calendar",
        DataType::Tasks => "dtp.tasks",
        DataType::Mail => "dtp.mail",
    }
}

/// The version this crate writes for a data type.
pub fn current_version(data_type: DataType) -> u32 {
    match data_type {
        DataType::Media
        | DataType::Contacts
        | DataType::Calendar
        | DataType::Tasks
        | DataType::Mail => 1,
    }
}

/// The `schema` field value this crate writes (`dtp.calendar/1`).
pub fn schema_id(data_type: DataType) -> String {
    format!("{}/{}", schema_name(data_type), current_version(data_type))
}

/// Splits `dtp.calendar/1` into its name and version.
fn split_schema(s: &str) -> Option<(&str, u32)> {
    let (name, v) = s.rsplit_once('/')?;
    let v: u32 = v.parse().ok()?;
    (v >= 1).then_some((name, v))
}

/// Checks the envelope, then upgrades the document in place to the current
/// version of `data_type`.
fn check_and_upgrade(data_type: DataType, doc: &mut Value) -> Result<(), SchemaError> {
    let expected = schema_name(data_type);
    let schema = doc
        .get("schema")
        .and_then(Value::as_str)
        .ok_or(SchemaError::MissingSchema)?
        .to_string();
    let (name, version) = split_schema(&schema).ok_or(SchemaError::MissingSchema)?;
    if name != expected {
        return Err(SchemaError::WrongSchema {
            expected,
            found: schema.clone(),
        });
    }
    let current = current_version(data_type);
    if version > current {
        return Err(SchemaError::UnsupportedVersion {
            schema: expected,
            found: version,
            supported: current,
        });
    }
    // Upgrade steps, oldest first: `(data type, from version) => transform`.
    // Version 1 is the first released version of every data type, so there
    // is no step yet; a change of shape adds one here (and a golden fixture
    // of the new version in tests/fixtures/).
    #[allow(clippy::never_loop, clippy::match_single_binding)]
    for from in version..current {
        match (data_type, from) {
            _ => unreachable_upgrade(data_type, from)?,
        }
    }
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("schema".into(), Value::String(schema_id(data_type)));
    }
    Ok(())
}

fn unreachable_upgrade(data_type: DataType, from: u32) -> Result<(), SchemaError> {
    // Only reachable if `current_version` was raised without adding a step.
    Err(SchemaError::UnsupportedVersion {
        schema: schema_name(data_type),
        found: from,
        supported: current_version(data_type),
    })
}

/// A page of one data type: its containers and items, as an exporter
/// returns them. Serialized with its schema envelope.
///
/// ```
/// use dtp_models::calendar::{Calendar, CalendarData, Event};
/// use dtp_models::schema::Page;
/// let page = Page::<CalendarData>::new(
///     vec![Calendar::new("cal1", "Work")],
///     vec![Event::new("e1", "cal1", "uid-1", "Standup")],
/// );
/// let json = page.to_json().unwrap();
/// assert!(json.contains("\"schema\":\"dtp.calendar/1\""));
/// assert_eq!(Page::<CalendarData>::from_json(&json).unwrap(), page);
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "", deserialize = ""))]
#[non_exhaustive]
pub struct Page<M: DataModel> {
    /// Containers (albums, address books, calendars, task lists, folders).
    #[serde(default)]
    pub containers: Vec<M::Container>,
    /// Items (media items, contacts, events, tasks, messages).
    #[serde(default)]
    pub items: Vec<M::Item>,
}

impl<M: DataModel> Page<M> {
    /// A page.
    pub fn new(containers: Vec<M::Container>, items: Vec<M::Item>) -> Self {
        Page { containers, items }
    }

    /// The page as a JSON value with its `schema` field.
    pub fn to_json_value(&self) -> Result<Value, SchemaError> {
        let mut v = serde_json::to_value(self)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("schema".into(), Value::String(schema_id(M::DATA_TYPE)));
        }
        Ok(v)
    }

    /// The page as JSON text with its `schema` field.
    pub fn to_json(&self) -> Result<String, SchemaError> {
        Ok(serde_json::to_string(&self.to_json_value()?)?)
    }

    /// Reads a page of any version this crate wrote, upgrading it.
    pub fn from_json_value(mut v: Value) -> Result<Self, SchemaError> {
        check_and_upgrade(M::DATA_TYPE, &mut v)?;
        Ok(serde_json::from_value(v)?)
    }

    /// Reads a page from JSON text; see [`Page::from_json_value`].
    pub fn from_json(s: &str) -> Result<Self, SchemaError> {
        Self::from_json_value(serde_json::from_str(s)?)
    }
}

impl<M: DataModel> Clone for Page<M> {
    fn clone(&self) -> Self {
        Page {
            containers: self.containers.clone(),
            items: self.items.clone(),
        }
    }
}

impl<M: DataModel> std::fmt::Debug for Page<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("data_type", &M::DATA_TYPE)
            .field("containers", &self.containers)
            .field("items", &self.items)
            .finish()
    }
}

impl<M: DataModel> PartialEq for Page<M>
where
    M::Container: PartialEq,
    M::Item: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        self.containers == other.containers && self.items == other.items
    }
}

/// A record type that can travel alone in a versioned envelope
/// `{"schema": "dtp.contacts/1", "kind": "contact", "record": {…}}`.
pub trait Versioned: Record {
    /// Its data type.
    const DATA_TYPE: DataType;
    /// Its kind within the data type (`album`, `media_item`, `contact`, …).
    const KIND: &'static str;

    /// The record in its envelope, as JSON text.
    fn to_versioned_json(&self) -> Result<String, SchemaError> {
        let env = serde_json::json!({
            "schema": schema_id(Self::DATA_TYPE),
            "kind": Self::KIND,
            "record": serde_json::to_value(self)?,
        });
        Ok(serde_json::to_string(&env)?)
    }

    /// Reads an enveloped record of any version this crate wrote.
    fn from_versioned_json(s: &str) -> Result<Self, SchemaError>
    where
        Self: DeserializeOwned,
    {
        let mut v: Value = serde_json::from_str(s)?;
        check_and_upgrade(Self::DATA_TYPE, &mut v)?;
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind != Self::KIND {
            return Err(SchemaError::WrongSchema {
                expected: schema_name(Self::DATA_TYPE),
                found: format!("{} record of kind `{kind}`", schema_id(Self::DATA_TYPE)),
            });
        }
        let record = v.get_mut("record").map(Value::take).unwrap_or(Value::Null);
        Ok(serde_json::from_value(record)?)
    }
}

macro_rules! versioned {
    ($($t:ty => $model:ty, $kind:literal;)*) => {$(
        impl Versioned for $t {
            const DATA_TYPE: DataType = <$model as DataModel>::DATA_TYPE;
            const KIND: &'static str = $kind;
        }
    )*};
}

versioned! {
    Album => MediaData, "album";
    MediaItem => MediaData, "media_item";
    AddressBook => ContactsData, "address_book";
    Contact => ContactsData, "contact";
    Calendar => CalendarData, "calendar";
    Event => CalendarData, "event";
    TaskList => TasksData, "task_list";
    Task => TasksData, "task";
    Folder => MailData, "folder";
    Message => MailData, "message";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_ids_split() {
        assert_eq!(split_schema("dtp.calendar/1"), Some(("dtp.calendar", 1)));
        assert_eq!(split_schema("dtp.calendar/12"), Some(("dtp.calendar", 12)));
        assert_eq!(split_schema("dtp.calendar/0"), None);
        assert_eq!(split_schema("dtp.calendar/-1"), None);
        assert_eq!(split_schema("dtp.calendar"), None);
    }

    #[test]
    fn every_data_type_has_its_own_schema() {
        let names: Vec<&str> = DataType::ALL.iter().map(|d| schema_name(*d)).collect();
        assert_eq!(
            names,
            [
                "dtp.media",
                "dtp.contacts",
                "dtp.calendar",
                "dtp.tasks",
                "dtp.mail"
            ]
        );
        for d in DataType::ALL {
            assert_eq!(schema_id(d), format!("{}/1", schema_name(d)));
        }
    }

    #[test]
    fn reading_rewrites_the_schema_to_the_current_version() {
        let mut v = serde_json::json!({"schema": "dtp.tasks/1", "items": []});
        check_and_upgrade(DataType::Tasks, &mut v).unwrap();
        assert_eq!(v["schema"], "dtp.tasks/1");
        let mut v = serde_json::json!({"schema": "dtp.tasks/2"});
        assert!(matches!(
            check_and_upgrade(DataType::Tasks, &mut v),
            Err(SchemaError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            })
        ));
    }
}
