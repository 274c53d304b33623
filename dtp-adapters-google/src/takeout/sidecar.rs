//! The JSON files of a Google Photos Takeout: one sidecar per photo or video
//! and one `metadata.json` per album folder, plus the rules that pair a media
//! file with its sidecar.
//!
//! Google does not document this format. The shapes below follow what
//! Takeout archives contain and what the tools that read them agree on
//! (see `tests/fixtures/takeout/README.md` for the sources):
//!
//! ```json
//! { "title": "IMG_0001.jpg", "description": "Beach",
//!   "creationTime":   { "timestamp": "1563198245", "formatted": "…" },
//!   "photoTakenTime": { "timestamp": "1563198005", "formatted": "…" },
//!   "geoData":     { "latitude": 40.71, "longitude": -74.0, "altitude": 10.0,
//!                    "latitudeSpan": 0.0, "longitudeSpan": 0.0 },
//!   "geoDataExif": { … },
//!   "favorited": true,
//!   "url": "https://photos.google.com/photo/AF1Qip…" }
//! ```
//!
//! Timestamps are Unix seconds as JSON **strings**; a position of `0.0, 0.0`
//! means "none".

use chrono::{DateTime, Utc};
use serde::Deserialize;

use dtp_models::media::{CaptureTime, GeoLocation};

#[derive(Debug, Clone, Default, Deserialize)]
struct Timestamp {
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
}

impl Timestamp {
    fn instant(&self) -> Option<DateTime<Utc>> {
        let secs = match self.timestamp.as_ref()? {
            serde_json::Value::String(s) => s.trim().parse::<i64>().ok()?,
            serde_json::Value::Number(n) => n.as_i64()?,
            _ => return None,
        };
        DateTime::<Utc>::from_timestamp(secs, 0)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Geo {
    #[serde(default)]
    latitude: f64,
    #[serde(default)]
    longitude: f64,
    #[serde(default)]
    altitude: f64,
}

impl Geo {
    fn location(&self) -> Option<GeoLocation> {
        let valid = self.latitude.is_finite()
            && self.longitude.is_finite()
            && self.latitude.abs() <= 90.0
            && self.longitude.abs() <= 180.0;
        if !valid || (self.latitude == 0.0 && self.longitude == 0.0) {
            return None;
        }
        let mut g = GeoLocation::new(self.latitude, self.longitude);
        if self.altitude.is_finite() && self.altitude != 0.0 {
            g = g.with_altitude(self.altitude);
        }
        Some(g)
    }
}

/// The sidecar of one photo or video.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MediaSidecar {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    creation_time: Option<Timestamp>,
    #[serde(default)]
    photo_taken_time: Option<Timestamp>,
    #[serde(default)]
    geo_data: Option<Geo>,
    #[serde(default)]
    geo_data_exif: Option<Geo>,
    #[serde(default)]
    pub favorited: bool,
    #[serde(default)]
    pub url: Option<String>,
}

impl MediaSidecar {
    /// Parses a sidecar; `None` if the JSON is not a media sidecar (album
    /// metadata, print orders, comments …).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let obj = v.as_object()?;
        // A media sidecar has a capture or upload time; album metadata has
        // neither (it has `date`).
        if !obj.contains_key("photoTakenTime") && !obj.contains_key("creationTime") {
            return None;
        }
        serde_json::from_value(v).ok()
    }

    /// When it was taken (UTC, from `photoTakenTime`).
    pub fn captured(&self) -> Option<CaptureTime> {
        let t = self.photo_taken_time.as_ref()?.instant()?;
        Some(CaptureTime::new(t.naive_utc()).with_utc_offset_minutes(0))
    }

    /// When it was uploaded (`creationTime`).
    pub fn uploaded(&self) -> Option<DateTime<Utc>> {
        self.creation_time.as_ref()?.instant()
    }

    /// The position the user set (`geoData`), else the one the camera
    /// recorded (`geoDataExif`).
    pub fn location(&self) -> Option<GeoLocation> {
        self.geo_data
            .as_ref()
            .and_then(Geo::location)
            .or_else(|| self.geo_data_exif.as_ref().and_then(Geo::location))
    }

    /// A key naming the item, the same in every folder the item appears in.
    pub fn identity(&self, size: u64) -> String {
        if let Some(url) = self.url.as_deref().filter(|u| !u.trim().is_empty()) {
            return format!("url|{}", url.trim());
        }
        let ts = |t: &Option<Timestamp>| {
            t.as_ref()
                .and_then(Timestamp::instant)
                .map(|d| d.timestamp().to_string())
                .unwrap_or_default()
        };
        format!(
            "meta|{}|{}|{}|{}",
            self.title.as_deref().unwrap_or(""),
            ts(&self.photo_taken_time),
            ts(&self.creation_time),
            size
        )
    }

    /// The description, if not empty.
    pub fn description(&self) -> Option<String> {
        self.description
            .as_deref()
            .map(str::trim_end)
            .filter(|d| !d.is_empty())
            .map(str::to_string)
    }
}

/// The `metadata.json` of an album folder.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct AlbumMetadata {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    date: Option<Timestamp>,
}

impl AlbumMetadata {
    /// Parses album metadata; `None` if the JSON is something else.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let mut v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        // Older Takeouts wrap it: `{"albumData": {"title", "description", "date"}}`.
        if let Some(inner) = v.get_mut("albumData").map(serde_json::Value::take) {
            v = inner;
        }
        let obj = v.as_object()?;
        if obj.contains_key("photoTakenTime") || !obj.contains_key("title") {
            return None;
        }
        serde_json::from_value(v).ok()
    }

    /// When the album was created.
    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.date.as_ref()?.instant()
    }
}

/// Names Takeout gives the album metadata file, in the languages seen.
pub(crate) fn is_album_metadata_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    matches!(
        lower.as_str(),
        "metadata.json"
            | "metadaten.json"
            | "métadonnées.json"
            | "metadatos.json"
            | "metadati.json"
            | "metadados.json"
            | "metagegevens.json"
    )
}

/// Suffixes Takeout appends to the edited copy of a photo, in the languages
/// seen (`IMG_1-edited.jpg` next to `IMG_1.jpg`).
const EDITED_SUFFIXES: [&str; 8] = [
    "-edited",
    "-bearbeitet",
    "-modifié",
    "-editado",
    "-modificato",
    "-bewerkt",
    "-redigert",
    "-edytowane",
];

/// Splits `name` into stem and extension (with its dot).
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// `IMG_1(2).jpg` → `("IMG_1.jpg", Some(2))`.
fn split_counter(name: &str) -> (String, Option<u32>) {
    let (stem, ext) = split_ext(name);
    if let Some(open) = stem.rfind('(')
        && stem.ends_with(')')
        && let Ok(n) = stem[open + 1..stem.len() - 1].parse::<u32>()
    {
        return (format!("{}{}", &stem[..open], ext), Some(n));
    }
    (name.to_string(), None)
}

/// If `name` is an edited copy, the name of its original.
pub(crate) fn edited_original(name: &str) -> Option<String> {
    let (stem, ext) = split_ext(name);
    let lower = stem.to_lowercase();
    EDITED_SUFFIXES.iter().find_map(|suffix| {
        if lower.ends_with(suffix) {
            let cut = stem.len() - suffix.len();
            // `to_lowercase` keeps byte lengths for these suffixes' scripts,
            // but guard the boundary anyway.
            stem.is_char_boundary(cut)
                .then(|| format!("{}{}", &stem[..cut], ext))
        } else {
            None
        }
    })
}

/// Length at which Takeout starts truncating sidecar file names.
const TRUNCATED_LEN: usize = 46;

/// Finds the sidecar of media file `name` among the folder's JSON file
/// names (`jsons`). Tries, in order: `<name>.supplemental-metadata.json`,
/// `<name>.json`, the duplicate-counter forms (`IMG(1).jpg` ↔
/// `IMG.jpg.supplemental-metadata(1).json` / `IMG.jpg(1).json`), then names
/// Takeout truncated (`IMG….jpg.supplemental-met.json`).
pub(crate) fn find_sidecar<'a>(name: &str, jsons: &[&'a str]) -> Option<&'a str> {
    let has = |cand: &str| jsons.iter().copied().find(|j| *j == cand);
    let (base, counter) = split_counter(name);
    let exact: Vec<String> = match counter {
        None => vec![
            format!("{name}.supplemental-metadata.json"),
            format!("{name}.json"),
        ],
        Some(n) => vec![
            format!("{base}.supplemental-metadata({n}).json"),
            format!("{base}({n}).json"),
            format!("{name}.supplemental-metadata.json"),
            format!("{name}.json"),
        ],
    };
    if let Some(found) = exact.iter().find_map(|c| has(c)) {
        return Some(found);
    }
    // Truncated names: the sidecar's name without `.json` (and without the
    // counter) is a prefix of `<base>.supplemental-metadata`.
    let full = format!("{base}.supplemental-metadata");
    jsons.iter().copied().find(|j| {
        if j.chars().count() < TRUNCATED_LEN {
            return false;
        }
        let Some(core) = j.strip_suffix(".json") else {
            return false;
        };
        let core = match counter {
            Some(n) => match core.strip_suffix(&format!("({n})")) {
                Some(c) => c,
                None => return false,
            },
            None => core,
        };
        core.len() > base.len() / 2 && full.starts_with(core)
    })
}

/// Whether a folder name is one of Takeout's year folders
/// ("Photos from 2019", "Fotos von 2019", "Photos de 2019" …), or an older
/// Takeout's date folder ("2019-07-15", "2019-07-15 #2"): these name no
/// album.
pub(crate) fn is_year_folder(name: &str) -> bool {
    let t = name.trim();
    let date = t.split(" #").next().unwrap_or(t);
    let b = date.as_bytes();
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return true;
    }
    let digits: String = t.chars().rev().take_while(|c| c.is_ascii_digit()).collect();
    if digits.len() != 4 {
        return false;
    }
    let head = t[..t.len() - 4].trim().to_lowercase();
    ["photos", "fotos", "foto", "photo"]
        .iter()
        .any(|p| head.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_times_and_geo() {
        let s = MediaSidecar::parse(
            br#"{"title":"IMG_1.jpg","description":"Beach ","imageViews":"3",
                "creationTime":{"timestamp":"1563198245","formatted":"x"},
                "photoTakenTime":{"timestamp":"1563198005","formatted":"x"},
                "geoData":{"latitude":0.0,"longitude":0.0,"altitude":0.0,"latitudeSpan":0.0,"longitudeSpan":0.0},
                "geoDataExif":{"latitude":40.7128,"longitude":-74.006,"altitude":10.5},
                "favorited":true}"#,
        )
        .unwrap();
        let c = s.captured().unwrap();
        assert_eq!(
            c.to_datetime().unwrap().to_rfc3339(),
            "2019-07-15T13:40:05+00:00"
        );
        assert_eq!(s.uploaded().unwrap().timestamp(), 1563198245);
        let g = s.location().unwrap();
        assert_eq!(
            (g.latitude, g.longitude, g.altitude),
            (40.7128, -74.006, Some(10.5))
        );
        assert_eq!(s.description().as_deref(), Some("Beach"));
        assert!(s.favorited);
        assert!(
            s.identity(5)
                .starts_with("meta|IMG_1.jpg|1563198005|1563198245|5")
        );
    }

    #[test]
    fn album_metadata_is_not_a_media_sidecar() {
        let album = br#"{"title":"Trip","description":"","access":"protected","date":{"timestamp":"1500000000","formatted":"x"}}"#;
        assert!(MediaSidecar::parse(album).is_none());
        let a = AlbumMetadata::parse(album).unwrap();
        assert_eq!(a.title.as_deref(), Some("Trip"));
        assert_eq!(a.created().unwrap().timestamp(), 1500000000);
        let old = br#"{"albumData":{"title":"Old trip","description":"2015","date":{"timestamp":"1420070400","formatted":"x"}}}"#;
        let a = AlbumMetadata::parse(old).unwrap();
        assert_eq!(a.title.as_deref(), Some("Old trip"));
        assert_eq!(a.created().unwrap().timestamp(), 1420070400);
        assert!(MediaSidecar::parse(b"[1,2]").is_none());
        assert!(MediaSidecar::parse(b"{not json").is_none());
    }

    #[test]
    fn sidecar_names() {
        let jsons = [
            "IMG_1.jpg.supplemental-metadata.json",
            "IMG_2.jpg.json",
            "IMG_3.jpg.supplemental-metadata(1).json",
            "Screenshot_20200101-123456_Some_long_app.jp.json",
            "PXL_20230405_101010123.MP.jpg.supplemental-me.json",
            "IMG_4.jpg(2).json",
        ];
        assert_eq!(find_sidecar("IMG_1.jpg", &jsons), Some(jsons[0]));
        assert_eq!(find_sidecar("IMG_2.jpg", &jsons), Some(jsons[1]));
        assert_eq!(find_sidecar("IMG_3(1).jpg", &jsons), Some(jsons[2]));
        assert_eq!(find_sidecar("IMG_3.jpg", &jsons), None);
        assert_eq!(
            find_sidecar("Screenshot_20200101-123456_Some_long_app.jpg", &jsons),
            Some(jsons[3])
        );
        assert_eq!(
            find_sidecar("PXL_20230405_101010123.MP.jpg", &jsons),
            Some(jsons[4])
        );
        assert_eq!(find_sidecar("IMG_4(2).jpg", &jsons), Some(jsons[5]));
        assert_eq!(find_sidecar("IMG_10.jpg", &jsons), None);
    }

    #[test]
    fn edited_and_year_folders() {
        assert_eq!(
            edited_original("IMG_1-edited.jpg").as_deref(),
            Some("IMG_1.jpg")
        );
        assert_eq!(
            edited_original("IMG_1-bearbeitet.JPG").as_deref(),
            Some("IMG_1.JPG")
        );
        assert_eq!(edited_original("IMG_1.jpg"), None);
        assert!(is_year_folder("Photos from 2019"));
        assert!(is_year_folder("Fotos von 2021"));
        assert!(is_year_folder("2019-07-15"));
        assert!(is_year_folder("2019-07-15 #2"));
        assert!(!is_year_folder("2019-07-15 Wedding"));
        assert!(!is_year_folder("Holidays 2019 in Rome"));
        assert!(!is_year_folder("Trip"));
        assert!(is_album_metadata_name("metadata.json"));
        assert!(!is_album_metadata_name("IMG_1.jpg.json"));
    }
}
