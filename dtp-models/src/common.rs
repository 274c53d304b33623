use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The kinds of data dtp-rs moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DataType {
    /// Photos and videos, grouped in albums.
    Media,
    /// Contacts, grouped in address books.
    Contacts,
    /// Calendar events, grouped in calendars.
    Calendar,
    /// Tasks, grouped in task lists.
    Tasks,
    /// Mail messages, grouped in folders.
    Mail,
}

impl DataType {
    /// Every data type, in a stable order.
    pub const ALL: [DataType; 5] = [
        DataType::Media,
        DataType::Contacts,
        DataType::Calendar,
        DataType::Tasks,
        DataType::Mail,
    ];

    /// The stable lower-case name (`"media"`, `"contacts"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Media => "media",
            DataType::Contacts => "contacts",
            DataType::Calendar => "calendar",
            DataType::Tasks => "tasks",
            DataType::Mail => "mail",
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a string names no [`DataType`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDataTypeError(pub String);

impl fmt::Display for ParseDataTypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown data type `{}` (expected one of: media, photos, videos, contacts, calendar, tasks, mail)",
            self.0
        )
    }
}

impl std::error::Error for ParseDataTypeError {}

impl FromStr for DataType {
    type Err = ParseDataTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "media" | "photos" | "videos" | "photo" | "video" => Ok(DataType::Media),
            "contacts" | "contact" => Ok(DataType::Contacts),
            "calendar" | "calendars" | "events" => Ok(DataType::Calendar),
            "tasks" | "task" | "todo" => Ok(DataType::Tasks),
            "mail" | "email" | "messages" => Ok(DataType::Mail),
            _ => Err(ParseDataTypeError(s.to_string())),
        }
    }
}

/// A reference to bytes (a photo, a video, a large message body) that stay at
/// the source until an importer streams them.
///
/// The `key` is owned by the exporter that produced it: only that exporter
/// knows how to open it.
///
/// ```
/// use dtp_models::MediaRef;
/// let r = MediaRef::new("albums/1/IMG_0001.jpg").with_size(2_048).with_mime_type("image/jpeg");
/// assert_eq!(r.size, Some(2_048));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaRef {
    /// Exporter-specific locator of the bytes.
    pub key: String,
    /// Size in bytes, when the source knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// MIME type, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Lower-case hex SHA-256 of the bytes, when the source knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl MediaRef {
    /// A reference with only its key.
    pub fn new(key: impl Into<String>) -> Self {
        MediaRef {
            key: key.into(),
            size: None,
            mime_type: None,
            sha256: None,
        }
    }

    /// Sets the size in bytes.
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// Sets the MIME type.
    pub fn with_mime_type(mut self, mime: impl Into<String>) -> Self {
        self.mime_type = Some(mime.into());
        self
    }

    /// Sets the SHA-256 (lower-case hex).
    pub fn with_sha256(mut self, sha256: impl Into<String>) -> Self {
        self.sha256 = Some(sha256.into());
        self
    }
}

/// What the transfer driver needs to know about any container or item.
pub trait Record:
    Clone + fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The id the *source* service gave this record. Stable across exports of
    /// the same source, unique within its data type and kind (container or
    /// item); it keys idempotent import.
    fn source_id(&self) -> &str;

    /// A human-readable name for reports and logs (title, file name, subject).
    fn display_name(&self) -> &str;

    /// Bytes that travel with this record outside the model, if any.
    fn media(&self) -> Option<&MediaRef> {
        None
    }

    /// Bytes this record accounts for in transfer reports.
    fn size_bytes(&self) -> u64 {
        self.media().and_then(|m| m.size).unwrap_or(0)
    }
}

/// Ties a data type's container and item models together.
pub trait DataModel: Send + Sync + 'static {
    /// Which data type this is.
    const DATA_TYPE: DataType;
    /// The container model (album, address book, calendar, task list, folder).
    type Container: Record;
    /// The item model (media item, contact, event, task, message).
    type Item: Record;
}
