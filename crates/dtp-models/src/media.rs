//! Photos and videos, grouped in albums.

use serde::{Deserialize, Serialize};

use crate::{DataModel, DataType, MediaRef, Record};

/// Marker for the photos-and-videos data type.
#[derive(Debug, Clone, Copy, Default)]
pub struct MediaData;

impl DataModel for MediaData {
    const DATA_TYPE: DataType = DataType::Media;
    type Container = Album;
    type Item = MediaItem;
}

/// A photo album.
///
/// ```
/// use dtp_models::media::Album;
/// let album = Album::new("a1", "Holidays 2024");
/// assert_eq!(album.title, "Holidays 2024");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Album {
    /// Source id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Album {
    /// An album with an id and a title.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Album {
            id: id.into(),
            title: title.into(),
            description: None,
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

impl Record for Album {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.title
    }
}

/// Whether a media item is a still photo or a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MediaKind {
    /// A still image.
    Photo,
    /// A video.
    Video,
}

/// A photo or a video. Its bytes travel separately, through [`MediaRef`].
///
/// ```
/// use dtp_models::MediaRef;
/// use dtp_models::media::{MediaItem, MediaKind};
/// let item = MediaItem::new("p1", MediaKind::Photo, "IMG_0001.jpg", MediaRef::new("k/p1").with_size(10))
///     .in_album("a1");
/// assert_eq!(item.album_ids, vec!["a1".to_string()]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaItem {
    /// Source id.
    pub id: String,
    /// Photo or video.
    pub kind: MediaKind,
    /// File name or title.
    pub filename: String,
    /// Description or caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Source ids of the albums this item belongs to (it is exported once).
    #[serde(default)]
    pub album_ids: Vec<String>,
    /// Where the bytes are.
    pub content: MediaRef,
}

impl MediaItem {
    /// A media item with its id, kind, file name and bytes.
    pub fn new(
        id: impl Into<String>,
        kind: MediaKind,
        filename: impl Into<String>,
        content: MediaRef,
    ) -> Self {
        MediaItem {
            id: id.into(),
            kind,
            filename: filename.into(),
            description: None,
            album_ids: Vec::new(),
            content,
        }
    }

    /// Adds an album membership.
    pub fn in_album(mut self, album_id: impl Into<String>) -> Self {
        self.album_ids.push(album_id.into());
        self
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

impl Record for MediaItem {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.filename
    }
    fn media(&self) -> Option<&MediaRef> {
        Some(&self.content)
    }
}
