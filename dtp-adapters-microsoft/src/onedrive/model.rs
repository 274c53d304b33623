//! The Graph `driveItem` resource and the collection / upload-session
//! envelopes, as far as photos and videos need them.
//!
//! Reference: <https://learn.microsoft.com/graph/api/resources/driveitem>,
//! <https://learn.microsoft.com/graph/api/resources/uploadsession>,
//! <https://learn.microsoft.com/graph/paging>.

use serde::{Deserialize, Serialize};

/// A `driveItem` (file or folder), the fields dtp-rs reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DriveItem {
    /// The item id.
    pub id: String,
    /// The file or folder name.
    #[serde(default)]
    pub name: String,
    /// Size in bytes (for a folder: of everything inside).
    #[serde(default)]
    pub size: Option<u64>,
    /// User-visible description (OneDrive Personal only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When the item was created in OneDrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// When the item was last modified in OneDrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
    /// Where the item lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_reference: Option<ItemReference>,
    /// Present on files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileFacet>,
    /// Present on folders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderFacet>,
    /// Present on packages (OneNote notebooks, …): neither file nor folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<serde_json::Value>,
    /// Image dimensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageFacet>,
    /// Photo metadata (EXIF), when OneDrive extracted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<PhotoFacet>,
    /// Video metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoFacet>,
    /// Client-side times (settable on upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_system_info: Option<FileSystemInfo>,
    /// Pre-authenticated, short-lived (about 1 hour) download URL: fetched
    /// without an `Authorization` header.
    #[serde(
        rename = "@microsoft.graph.downloadUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub download_url: Option<String>,
}

impl DriveItem {
    /// Whether this is a folder.
    pub fn is_folder(&self) -> bool {
        self.folder.is_some()
    }

    /// Whether this is a file (packages are neither).
    pub fn is_file(&self) -> bool {
        self.file.is_some() && self.package.is_none()
    }

    /// The MIME type of a file.
    pub fn mime_type(&self) -> Option<&str> {
        self.file.as_ref().and_then(|f| f.mime_type.as_deref())
    }
}

/// `parentReference`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ItemReference {
    /// The parent's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The drive id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive_id: Option<String>,
    /// The parent's path (`/drive/root:/Pictures`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The `file` facet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FileFacet {
    /// MIME type as OneDrive determined it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Hashes (which ones depends on the drive type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<Hashes>,
}

/// `file.hashes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Hashes {
    /// SHA-1 (OneDrive Personal), upper-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1_hash: Option<String>,
    /// SHA-256 (when the drive offers it), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_hash: Option<String>,
    /// QuickXorHash (OneDrive for Business, SharePoint), base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_xor_hash: Option<String>,
}

/// The `folder` facet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FolderFacet {
    /// Number of children.
    #[serde(default)]
    pub child_count: u64,
}

/// The `image` facet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageFacet {
    /// Width in pixels.
    #[serde(default)]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default)]
    pub height: Option<u32>,
}

/// The `photo` facet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PhotoFacet {
    /// When the photo was taken (from EXIF), UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_date_time: Option<String>,
}

/// The `video` facet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VideoFacet {
    /// Duration in milliseconds.
    #[serde(default)]
    pub duration: Option<u64>,
    /// Width in pixels.
    #[serde(default)]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default)]
    pub height: Option<u32>,
}

/// `fileSystemInfo`: the client's times, settable on upload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FileSystemInfo {
    /// Creation time on the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// Last modification time on the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
}

/// A page of a collection: `value` plus `@odata.nextLink` on every page but
/// the last.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Collection<T> {
    /// The records.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// The next page, to be requested exactly as given.
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

/// An upload session (create answer, `GET uploadUrl` answer, and the body of
/// a `202 Accepted` fragment answer, which has no `uploadUrl`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UploadSession {
    /// Where fragments go (pre-authenticated: no `Authorization` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_url: Option<String>,
    /// When the session expires (each fragment extends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date_time: Option<String>,
    /// Byte ranges still missing (`"26-"`, `"0-25"`).
    #[serde(default)]
    pub next_expected_ranges: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/tests/fixtures/onedrive/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("fixture");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("fixture json");
        if let Some(m) = v.as_object_mut() {
            m.remove("_source");
        }
        v
    }

    #[test]
    fn reads_documented_children_pages() {
        let p1: Collection<DriveItem> =
            serde_json::from_value(fixture("get-me-drive-items-children.page1.json")).unwrap();
        assert!(p1.next_link.as_deref().unwrap().contains("$skiptoken="));
        assert!(p1.value[0].is_folder());
        assert_eq!(p1.value[0].description.as_deref(), Some("Trip to the sea"));
        let img = &p1.value[1];
        assert!(img.is_file());
        assert_eq!(img.mime_type(), Some("image/jpeg"));
        assert_eq!(
            img.photo.as_ref().unwrap().taken_date_time.as_deref(),
            Some("2023-07-30T18:22:01Z")
        );
        assert!(img.download_url.as_deref().unwrap().contains("tempauth"));
        let p2: Collection<DriveItem> =
            serde_json::from_value(fixture("get-me-drive-items-children.page2.json")).unwrap();
        assert_eq!(p2.next_link, None);
        assert_eq!(p2.value[0].video.as_ref().unwrap().duration, Some(12000));
        assert!(!p2.value[1].is_file() && !p2.value[1].is_folder());
    }

    #[test]
    fn reads_documented_upload_session_answers() {
        let s: UploadSession =
            serde_json::from_value(fixture("post-createUploadSession.json")).unwrap();
        assert!(s.upload_url.is_some());
        assert_eq!(s.next_expected_ranges, vec!["0-".to_string()]);
        let a: UploadSession = serde_json::from_value(fixture("put-uploadUrl.202.json")).unwrap();
        assert_eq!(a.upload_url, None);
        assert_eq!(a.next_expected_ranges, vec!["26-".to_string()]);
        let g: UploadSession = serde_json::from_value(fixture("get-uploadUrl.json")).unwrap();
        assert_eq!(g.next_expected_ranges.len(), 2);
        let done: DriveItem = serde_json::from_value(fixture("put-uploadUrl.201.json")).unwrap();
        assert_eq!(done.size, Some(128));
        let special: DriveItem =
            serde_json::from_value(fixture("get-me-drive-special-photos.json")).unwrap();
        assert!(special.is_folder());
    }
}
