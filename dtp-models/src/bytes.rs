//! Inline bytes, serialized as standard base64 in JSON.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes carried inside a model (a small photo, a small raw message). In
/// JSON they are a standard base64 string; the bytes themselves are never
/// altered.
///
/// ```
/// use dtp_models::InlineBytes;
/// let b = InlineBytes::from(b"hello".to_vec());
/// assert_eq!(serde_json::to_string(&b).unwrap(), "\"aGVsbG8=\"");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct InlineBytes(pub Vec<u8>);

impl InlineBytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for InlineBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InlineBytes({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for InlineBytes {
    fn from(v: Vec<u8>) -> Self {
        InlineBytes(v)
    }
}

impl From<&[u8]> for InlineBytes {
    fn from(v: &[u8]) -> Self {
        InlineBytes(v.to_vec())
    }
}

impl AsRef<[u8]> for InlineBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for InlineBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for InlineBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map(InlineBytes)
            .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}
