//! Cursors: where an exporter resumes. Opaque to the driver, serializable so
//! they can be checkpointed.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A position in an export: the next page of a container, or a sub-container
/// still to visit. The adapter decides what is inside; the driver only stores
/// it.
///
/// ```
/// use dtp_core::Cursor;
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct AlbumPage { album: String, page_token: Option<String> }
/// let c = Cursor::new(&AlbumPage { album: "a1".into(), page_token: None }).unwrap();
/// let back: AlbumPage = c.decode().unwrap();
/// assert_eq!(back.album, "a1");
/// assert!(Cursor::root().is_root());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(serde_json::Value);

impl Cursor {
    /// The start of an export: the exporter lists its top-level containers.
    pub fn root() -> Self {
        Cursor(serde_json::Value::Null)
    }

    /// Whether this is [`Cursor::root`].
    pub fn is_root(&self) -> bool {
        self.0.is_null()
    }

    /// Wraps an adapter's own cursor type.
    pub fn new<T: Serialize>(value: &T) -> Result<Self> {
        let v = serde_json::to_value(value)
            .map_err(|e| Error::internal("cursor does not serialize").with_source(e))?;
        Ok(Cursor(v))
    }

    /// Reads the adapter's own cursor type back; a mismatch is
    /// [`InvalidData`](crate::ErrorKind::InvalidData).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(&self.0).map_err(|e| Error::invalid_data(format!("unreadable cursor: {e}")))
    }

    /// The raw JSON value.
    pub fn as_json(&self) -> &serde_json::Value {
        &self.0
    }
}
