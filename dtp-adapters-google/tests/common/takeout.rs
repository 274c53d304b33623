//! Builds Google Photos Takeouts (zip or folder) from generated data, in the
//! layout described in `tests/fixtures/takeout/README.md`.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

/// One file of a Takeout, by its path inside the archive.
#[derive(Debug, Clone)]
pub struct TkFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

impl TkFile {
    pub fn new(path: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        TkFile {
            path: path.into(),
            bytes: bytes.into(),
        }
    }
}

/// The media sidecar JSON Takeout writes next to a photo or video.
pub struct Sidecar<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub taken: i64,
    pub created: i64,
    pub geo: Option<(f64, f64, f64)>,
    pub geo_exif: Option<(f64, f64, f64)>,
    pub url: Option<&'a str>,
    pub favorited: bool,
}

impl Sidecar<'_> {
    pub fn json(&self) -> Vec<u8> {
        let geo = |g: Option<(f64, f64, f64)>| {
            let (la, lo, al) = g.unwrap_or((0.0, 0.0, 0.0));
            serde_json::json!({"latitude": la, "longitude": lo, "altitude": al,
                               "latitudeSpan": 0.0, "longitudeSpan": 0.0})
        };
        let mut v = serde_json::json!({
            "title": self.title,
            "description": self.description,
            "imageViews": "7",
            "creationTime": {"timestamp": self.created.to_string(), "formatted": "Jan 1, 2020, 0:00:00 AM UTC"},
            "photoTakenTime": {"timestamp": self.taken.to_string(), "formatted": "Jan 1, 2020, 0:00:00 AM UTC"},
            "geoData": geo(self.geo),
            "geoDataExif": geo(self.geo_exif),
            "googlePhotosOrigin": {"mobileUpload": {"deviceType": "ANDROID_PHONE"}},
        });
        if let Some(u) = self.url {
            v["url"] = serde_json::json!(u);
        }
        if self.favorited {
            v["favorited"] = serde_json::json!(true);
        }
        serde_json::to_vec_pretty(&v).unwrap()
    }
}

/// The `metadata.json` of an album folder.
pub fn album_metadata(title: &str, description: &str, ts: i64) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "title": title,
        "description": description,
        "access": "protected",
        "date": {"timestamp": ts.to_string(), "formatted": "x"},
    }))
    .unwrap()
}

/// Writes `files` as a zip; `deflate` compresses, else stores.
pub fn write_zip(path: &Path, files: &[TkFile], deflate: bool) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for file in files {
        z.start_file(file.path.as_str(), opts).unwrap();
        z.write_all(&file.bytes).unwrap();
    }
    z.finish().unwrap();
}

/// Writes `files` under `root`.
pub fn write_dir(root: &Path, files: &[TkFile]) {
    for file in files {
        let p = root.join(&file.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &file.bytes).unwrap();
    }
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}
