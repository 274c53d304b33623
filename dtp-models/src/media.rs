//! Photos and videos, grouped in albums.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
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
    /// Source id of the media item used as the cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_item_id: Option<String>,
    /// When the album was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
}

impl Album {
    /// An album with an id and a title.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Album {
            id: id.into(),
            title: title.into(),
            description: None,
            cover_item_id: None,
            created: None,
        }
    }

    /// Sets the cover item.
    pub fn with_cover(mut self, item_id: impl Into<String>) -> Self {
        self.cover_item_id = Some(item_id.into());
        self
    }

    /// Sets the creation time.
    pub fn with_created(mut self, created: DateTime<Utc>) -> Self {
        self.created = Some(created);
        self
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

/// When a photo or video was taken: the camera's wall-clock time and, when
/// the device recorded it, its UTC offset (EXIF `OffsetTimeOriginal`).
///
/// ```
/// use chrono::NaiveDate;
/// use dtp_models::media::CaptureTime;
/// let t = CaptureTime::new(NaiveDate::from_ymd_opt(2023, 7, 1).unwrap().and_hms_opt(18, 4, 5).unwrap())
///     .with_utc_offset_minutes(120);
/// assert_eq!(t.to_datetime().unwrap().to_rfc3339(), "2023-07-01T18:04:05+02:00");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CaptureTime {
    /// Wall-clock time at the place of capture.
    pub local: NaiveDateTime,
    /// Offset from UTC in minutes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset_minutes: Option<i32>,
}

impl CaptureTime {
    /// A capture time without a known offset.
    pub fn new(local: NaiveDateTime) -> Self {
        CaptureTime {
            local,
            utc_offset_minutes: None,
        }
    }

    /// Sets the UTC offset.
    pub fn with_utc_offset_minutes(mut self, minutes: i32) -> Self {
        self.utc_offset_minutes = Some(minutes);
        self
    }

    /// The instant, when the offset is known and valid.
    pub fn to_datetime(&self) -> Option<DateTime<FixedOffset>> {
        let off = FixedOffset::east_opt(self.utc_offset_minutes? * 60)?;
        self.local.and_local_timezone(off).single()
    }
}

/// A position on Earth (WGS 84).
///
/// ```
/// use dtp_models::media::GeoLocation;
/// let g = GeoLocation::new(48.8584, 2.2945).with_altitude(35.0);
/// assert_eq!(g.altitude, Some(35.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GeoLocation {
    /// Latitude in degrees, north positive.
    pub latitude: f64,
    /// Longitude in degrees, east positive.
    pub longitude: f64,
    /// Altitude in metres above sea level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<f64>,
}

impl GeoLocation {
    /// A position without altitude.
    pub fn new(latitude: f64, longitude: f64) -> Self {
        GeoLocation {
            latitude,
            longitude,
            altitude: None,
        }
    }

    /// Sets the altitude.
    pub fn with_altitude(mut self, altitude: f64) -> Self {
        self.altitude = Some(altitude);
        self
    }
}

/// A photo or a video. Its bytes travel separately, through [`MediaRef`]
/// (which also carries the size, the MIME type and the SHA-256 when known).
///
/// One item can belong to several albums: it is exported once, with every
/// album id in `album_ids`.
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
    /// Title, when the service keeps one apart from the file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description or caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Source ids of the albums this item belongs to (it is exported once).
    #[serde(default)]
    pub album_ids: Vec<String>,
    /// Where the bytes are.
    pub content: MediaRef,
    /// When it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured: Option<CaptureTime>,
    /// When it was uploaded to the source service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<DateTime<Utc>>,
    /// Marked as a favourite.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub favorite: bool,
    /// Where it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoLocation>,
    /// Width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Duration of a video in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
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
            title: None,
            description: None,
            album_ids: Vec::new(),
            content,
            captured: None,
            uploaded: None,
            favorite: false,
            location: None,
            width: None,
            height: None,
            duration_ms: None,
        }
    }

    /// Sets the title.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the capture time.
    pub fn with_captured(mut self, captured: CaptureTime) -> Self {
        self.captured = Some(captured);
        self
    }

    /// Sets the upload time.
    pub fn with_uploaded(mut self, uploaded: DateTime<Utc>) -> Self {
        self.uploaded = Some(uploaded);
        self
    }

    /// Marks it as a favourite (or not).
    pub fn with_favorite(mut self, favorite: bool) -> Self {
        self.favorite = favorite;
        self
    }

    /// Sets where it was taken.
    pub fn with_location(mut self, location: GeoLocation) -> Self {
        self.location = Some(location);
        self
    }

    /// Sets width and height in pixels.
    pub fn with_dimensions(mut self, width: u32, height: u32) -> Self {
        self.width = Some(width);
        self.height = Some(height);
        self
    }

    /// Sets the duration of a video.
    pub fn with_duration_ms(mut self, duration_ms: u64) -> Self {
        self.duration_ms = Some(duration_ms);
        self
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
