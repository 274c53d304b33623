//! `manifest.json`: what the archive holds, in which schema versions, with
//! the SHA-256 of every media file.

use std::collections::BTreeMap;

use dtp_models::DataType;
use dtp_models::schema::schema_id;
use serde::{Deserialize, Serialize};

/// The manifest's own format name.
pub const MANIFEST_FORMAT: &str = "dtp-archive";
/// The manifest version this crate writes.
pub const MANIFEST_VERSION: u32 = 1;
/// The manifest's file name at the archive root.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Containers and items of one data type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TypeCount {
    /// Containers (albums, address books, calendars, task lists, folders).
    pub containers: u64,
    /// Items.
    pub items: u64,
}

/// One media file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaEntry {
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The archive's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Manifest {
    /// Always `dtp-archive`.
    pub format: String,
    /// The manifest version.
    pub version: u32,
    /// What wrote it.
    pub generator: String,
    /// Schema id of each data type's records (`dtp.contacts/1`).
    pub schemas: BTreeMap<String, String>,
    /// Counts per data type.
    pub counts: BTreeMap<String, TypeCount>,
    /// Container records (name, description, roles, …) by archive-relative
    /// path, as versioned JSON envelopes.
    pub containers: BTreeMap<String, serde_json::Value>,
    /// Every media file by archive-relative path.
    pub media: BTreeMap<String, MediaEntry>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            format: MANIFEST_FORMAT.to_string(),
            version: MANIFEST_VERSION,
            generator: format!("dtp-adapters-local {}", env!("CARGO_PKG_VERSION")),
            schemas: DataType::ALL
                .iter()
                .map(|t| (t.as_str().to_string(), schema_id(*t)))
                .collect(),
            counts: BTreeMap::new(),
            containers: BTreeMap::new(),
            media: BTreeMap::new(),
        }
    }
}
