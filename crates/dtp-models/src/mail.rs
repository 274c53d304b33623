//! Mail messages, grouped in folders.

use serde::{Deserialize, Serialize};

use crate::{DataModel, DataType, MediaRef, Record};

/// Marker for the mail data type.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailData;

impl DataModel for MailData {
    const DATA_TYPE: DataType = DataType::Mail;
    type Container = Folder;
    type Item = Message;
}

/// A mail folder (mailbox).
///
/// ```
/// use dtp_models::mail::Folder;
/// let f = Folder::new("f1", "INBOX");
/// assert_eq!(f.path, "INBOX");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Folder {
    /// Source id.
    pub id: String,
    /// Full path, segments joined by `/`.
    pub path: String,
}

impl Folder {
    /// A folder with an id and a path.
    pub fn new(id: impl Into<String>, path: impl Into<String>) -> Self {
        Folder {
            id: id.into(),
            path: path.into(),
        }
    }
}

impl Record for Folder {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.path
    }
}

/// A mail message. Its raw RFC 5322 bytes travel through [`MediaRef`], never
/// re-encoded.
///
/// ```
/// use dtp_models::MediaRef;
/// use dtp_models::mail::Message;
/// let m = Message::new("m1", "f1", MediaRef::new("f1/1").with_size(42));
/// assert_eq!(m.folder_ids, vec!["f1".to_string()]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// Source id.
    pub id: String,
    /// Source ids of the folders (or labels) holding it.
    pub folder_ids: Vec<String>,
    /// The raw message bytes.
    pub raw: MediaRef,
}

impl Message {
    /// A message with an id, one folder and its raw bytes.
    pub fn new(id: impl Into<String>, folder_id: impl Into<String>, raw: MediaRef) -> Self {
        Message {
            id: id.into(),
            folder_ids: vec![folder_id.into()],
            raw,
        }
    }
}

impl Record for Message {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.id
    }
    fn media(&self) -> Option<&MediaRef> {
        Some(&self.raw)
    }
}
