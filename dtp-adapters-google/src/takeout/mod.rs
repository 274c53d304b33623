//! Reading a Google Photos **Takeout**: the archive Google Takeout (or the
//! Data Portability API, see [`crate::portability`]) produces, either as the
//! downloaded zip file(s) or as the extracted folder.
//!
//! ```text
//! Takeout/Google Photos/
//!   Photos from 2019/                 year folders: every item, no album
//!     IMG_0001.jpg
//!     IMG_0001.jpg.supplemental-metadata.json   (older: IMG_0001.jpg.json)
//!     IMG_0001-edited.jpg             edited copy, shares the original's sidecar
//!   Holidays/                         album folders
//!     metadata.json                   {"title", "description", "date"}
//!     IMG_0001.jpg                    the same item again, with its sidecar
//!     IMG_0001.jpg.supplemental-metadata.json
//! ```
//!
//! What [`GoogleTakeout`] makes of it:
//!
//! * every folder that is not a year folder ("Photos from 2019") or an older
//!   Takeout's date folder ("2019-07-15"), or that has a `metadata.json`,
//!   is an [`Album`]; title, description and creation date come from
//!   `metadata.json` when there is one;
//! * every photo or video is exported **once**, with every album it appears
//!   in; copies are recognised by the sidecar's `url` (else by title, capture
//!   time, upload time and size);
//! * title, description, capture time (`photoTakenTime`, UTC), upload time,
//!   favourite flag and position (`geoData`, else `geoDataExif`) come from the
//!   sidecar — never from the file's modification time. Sidecars are paired
//!   with their file by name, including the duplicate-counter (`IMG(1).jpg` ↔
//!   `IMG.jpg.supplemental-metadata(1).json`) and truncated-name forms;
//! * an edited copy (`-edited`, `-bearbeitet`, `-modifié` …) is its own item,
//!   with the original's sidecar metadata and albums;
//! * bytes are streamed straight out of the zip entry or file
//!   ([`Exporter::open_media`]), never held whole.
//!
//! A multi-part Takeout is read by pointing at the folder holding all its
//! `takeout-…-NNN.zip` parts; a sidecar may be in another part than its file.
//!
//! Limits: the scan keeps one record per item in memory (a few hundred bytes
//! each); each media stream opens its zip part anew (reading the central
//! directory); `.tgz` Takeouts are not read (extract them first).
//!
//! ```no_run
//! # async fn demo() -> dtp_core::Result<()> {
//! use dtp_adapters_google::takeout::GoogleTakeout;
//! let source = GoogleTakeout::open("/home/me/Downloads/takeout-20240101T000000Z-001.zip")?;
//! # let _ = source; Ok(()) }
//! ```

mod archive;
mod sidecar;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use dtp_core::{
    AuthData, ByteStream, Cursor, Error, ExportContext, ExportPage, Exporter, MediaRef, Result,
};
use dtp_models::media::{Album, MediaData, MediaItem, MediaKind};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use archive::{Entry, Source};
use sidecar::{AlbumMetadata, MediaSidecar};

/// Names of the Photos folder inside `Takeout/`, in the languages seen.
const PRODUCT_NAMES: [&str; 8] = [
    "Google Photos",
    "Google Fotos",
    "Google Foto",
    "Google Фото",
    "Google フォト",
    "Google 포토",
    "Google 相簿",
    "Google 相册",
];

/// Default number of items per exported page.
const DEFAULT_PAGE_SIZE: usize = 100;

/// The service name used in errors and the CLI.
pub const SERVICE: &str = "google-takeout";

/// A Google Photos Takeout (zip, multi-part folder of zips, or extracted
/// folder) as an exporter of [`MediaData`]. See the [module docs](self).
pub struct GoogleTakeout {
    sources: Vec<Source>,
    page_size: usize,
    index: tokio::sync::OnceCell<Arc<Index>>,
    // Keeps a temporary download (Data Portability) alive as long as this.
    _keep: Option<Arc<dyn Send + Sync>>,
}

impl std::fmt::Debug for GoogleTakeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleTakeout")
            .field("sources", &self.sources)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl GoogleTakeout {
    /// Opens a Takeout at `path`: a `.zip` file, a folder holding the
    /// `.zip` parts of one Takeout, or an extracted folder (the `Takeout`
    /// folder, its `Google Photos` folder, or a folder of album folders).
    /// Nothing is read until the first export.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let sources = archive::sources_at(path.as_ref())?;
        Ok(Self::from_sources(sources, None))
    }

    /// A Takeout made of these zip files (e.g. downloaded archive parts),
    /// kept alive with `keep` (a temporary directory).
    pub(crate) fn from_zips(zips: Vec<PathBuf>, keep: Option<Arc<dyn Send + Sync>>) -> Self {
        Self::from_sources(zips.into_iter().map(Source::Zip).collect(), keep)
    }

    fn from_sources(sources: Vec<Source>, keep: Option<Arc<dyn Send + Sync>>) -> Self {
        GoogleTakeout {
            sources,
            page_size: DEFAULT_PAGE_SIZE,
            index: tokio::sync::OnceCell::new(),
            _keep: keep,
        }
    }

    /// Sets how many items one exported page holds (default 100).
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    async fn index(&self) -> Result<Arc<Index>> {
        self.index
            .get_or_try_init(|| async {
                let sources = self.sources.clone();
                tokio::task::spawn_blocking(move || build_index(&sources).map(Arc::new))
                    .await
                    .map_err(|e| Error::internal(format!("takeout scan panicked: {e}")))?
            })
            .await
            .cloned()
    }

    /// Every album and item of the Takeout (for tests and tools).
    pub async fn scan(&self) -> Result<(Vec<Album>, Vec<MediaItem>)> {
        let idx = self.index().await?;
        Ok((idx.albums.clone(), idx.items.clone()))
    }
}

/// Where an export resumes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum TakeoutCursor {
    /// Items from `offset` on (in the index's stable order).
    Items { offset: usize },
}

#[async_trait]
impl Exporter<MediaData> for GoogleTakeout {
    async fn export(
        &self,
        _ctx: &ExportContext,
        _auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<MediaData>> {
        let idx = self.index().await?;
        let offset = if cursor.is_root() {
            let mut page = ExportPage::new();
            page.containers = idx.albums.clone();
            if !idx.items.is_empty() {
                page.next
                    .push(Cursor::new(&TakeoutCursor::Items { offset: 0 })?);
            }
            return Ok(page);
        } else {
            match cursor.decode::<TakeoutCursor>()? {
                TakeoutCursor::Items { offset } => offset,
            }
        };
        let end = (offset + self.page_size).min(idx.items.len());
        let mut page = ExportPage::new();
        if offset < end {
            page.items = idx.items[offset..end].to_vec();
        }
        if end < idx.items.len() {
            page.next
                .push(Cursor::new(&TakeoutCursor::Items { offset: end })?);
        }
        Ok(page)
    }

    async fn open_media(
        &self,
        _ctx: &ExportContext,
        _auth: &AuthData,
        media: &MediaRef,
    ) -> Result<ByteStream> {
        let idx = self.index().await?;
        // Only keys this index handed out: no path from outside reaches the
        // file system.
        let Some(entry) = idx.files.get(&media.key) else {
            return Err(
                Error::not_found(format!("no file `{}` in this Takeout", media.key))
                    .with_service(SERVICE),
            );
        };
        let source = self
            .sources
            .get(entry.source)
            .ok_or_else(|| Error::internal("takeout source index out of range"))?;
        Ok(archive::open_stream(source, &entry.name))
    }
}

/// What a scan found.
#[derive(Debug, Default)]
struct Index {
    albums: Vec<Album>,
    items: Vec<MediaItem>,
    /// Media keys → their file.
    files: HashMap<String, Entry>,
}

/// `(folder, file name)` of an entry under the Photos folder, if it is one.
fn photos_path(name: &str, strip_product: bool) -> Option<(String, String)> {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    let rest: &[&str] = if strip_product {
        let at = parts.iter().position(|p| PRODUCT_NAMES.contains(p))?;
        &parts[at + 1..]
    } else {
        &parts
    };
    match rest {
        [folder, file] => Some((folder.to_string(), file.to_string())),
        _ => None,
    }
}

fn ext_of(name: &str) -> String {
    Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Kind and MIME type from a file name.
fn kind_of(name: &str) -> (MediaKind, &'static str) {
    let photo = |m| (MediaKind::Photo, m);
    let video = |m| (MediaKind::Video, m);
    match ext_of(name).as_str() {
        "jpg" | "jpeg" => photo("image/jpeg"),
        "png" => photo("image/png"),
        "gif" => photo("image/gif"),
        "heic" => photo("image/heic"),
        "heif" => photo("image/heif"),
        "webp" => photo("image/webp"),
        "avif" => photo("image/avif"),
        "bmp" => photo("image/bmp"),
        "tif" | "tiff" => photo("image/tiff"),
        "dng" => photo("image/x-adobe-dng"),
        "mp4" | "m4v" => video("video/mp4"),
        "mov" => video("video/quicktime"),
        "avi" => video("video/x-msvideo"),
        "mkv" => video("video/x-matroska"),
        "webm" => video("video/webm"),
        "3gp" => video("video/3gpp"),
        "mpg" | "mpeg" => video("video/mpeg"),
        "mts" | "m2ts" => video("video/mp2t"),
        "wmv" => video("video/x-ms-wmv"),
        _ => photo("application/octet-stream"),
    }
}

fn is_media_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !(lower.ends_with(".json")
        || lower.ends_with(".html")
        || lower.starts_with('.')
        || lower == "thumbs.db")
}

struct Builder {
    entry: Entry,
    filename: String,
    sidecar: Option<MediaSidecar>,
    albums: BTreeSet<String>,
}

fn build_index(sources: &[Source]) -> Result<Index> {
    let mut entries = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        entries.extend(archive::list(s, i)?);
    }
    let strip = entries.iter().any(|e| photos_path(&e.name, true).is_some());
    // folder → file name → entry (a later part wins nothing: first kept).
    let mut folders: BTreeMap<String, BTreeMap<String, Entry>> = BTreeMap::new();
    for e in entries {
        if let Some((folder, file)) = photos_path(&e.name, strip) {
            folders.entry(folder).or_default().entry(file).or_insert(e);
        }
    }
    // Read every JSON file, grouped by source.
    let mut wanted: Vec<Vec<(String, String, String)>> = vec![Vec::new(); sources.len()];
    for (folder, files) in &folders {
        for (file, e) in files {
            if file.to_ascii_lowercase().ends_with(".json") {
                wanted[e.source].push((folder.clone(), file.clone(), e.name.clone()));
            }
        }
    }
    let mut jsons: HashMap<(String, String), Vec<u8>> = HashMap::new();
    for (i, list) in wanted.into_iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let names: Vec<String> = list.iter().map(|(_, _, n)| n.clone()).collect();
        let read = archive::read_small(&sources[i], &names)?;
        for ((folder, file, _), bytes) in list.into_iter().zip(read) {
            if let Some(b) = bytes {
                jsons.insert((folder, file), b);
            }
        }
    }

    let mut albums = Vec::new();
    let mut items: BTreeMap<String, Builder> = BTreeMap::new();
    for (folder, files) in &folders {
        let mut album_meta = None;
        let mut sidecars: HashMap<&str, MediaSidecar> = HashMap::new();
        for file in files.keys() {
            let Some(bytes) = jsons.get(&(folder.clone(), file.clone())) else {
                continue;
            };
            if sidecar::is_album_metadata_name(file)
                && let Some(m) = AlbumMetadata::parse(bytes)
            {
                album_meta = Some(m);
            } else if let Some(s) = MediaSidecar::parse(bytes) {
                sidecars.insert(file.as_str(), s);
            }
        }
        let album_id = if album_meta.is_some() || !sidecar::is_year_folder(folder) {
            let id = format!("album:{folder}");
            let meta = album_meta.unwrap_or_default();
            let title = meta
                .title
                .clone()
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| folder.clone());
            let mut album = Album::new(id.clone(), title);
            if let Some(d) = meta.description.as_deref().filter(|d| !d.trim().is_empty()) {
                album = album.with_description(d);
            }
            if let Some(c) = meta.created() {
                album = album.with_created(c);
            }
            albums.push(album);
            Some(id)
        } else {
            None
        };
        let json_names: Vec<&str> = sidecars.keys().copied().collect();
        for (file, e) in files {
            if !is_media_name(file) {
                continue;
            }
            let mut edited = false;
            let mut found = sidecar::find_sidecar(file, &json_names);
            if found.is_none()
                && let Some(orig) = sidecar::edited_original(file)
            {
                found = sidecar::find_sidecar(&orig, &json_names);
                edited = found.is_some();
            }
            if found.is_none() {
                // Last resort: a sidecar naming this file in its title.
                found = json_names
                    .iter()
                    .copied()
                    .find(|j| sidecars[j].title.as_deref() == Some(file.as_str()));
            }
            let side = found.map(|j| sidecars[j].clone());
            let (identity, filename) = match &side {
                Some(s) if edited => (format!("{}#{file}", s.identity(0)), file.clone()),
                Some(s) => (
                    s.identity(e.size),
                    s.title
                        .clone()
                        .filter(|t| !t.trim().is_empty())
                        .unwrap_or_else(|| file.clone()),
                ),
                None => (format!("file|{file}|{}", e.size), file.clone()),
            };
            let b = items.entry(identity).or_insert_with(|| Builder {
                entry: e.clone(),
                filename,
                sidecar: side,
                albums: BTreeSet::new(),
            });
            if let Some(a) = &album_id {
                b.albums.insert(a.clone());
            }
        }
    }

    let mut files = HashMap::new();
    let mut out: Vec<(String, MediaItem)> = Vec::with_capacity(items.len());
    for (identity, b) in items {
        let id = format!(
            "gp-{}",
            &hex::encode(sha2::Sha256::digest(identity.as_bytes()))[..32]
        );
        let key = format!("{}:{}", b.entry.source, b.entry.name);
        let (kind, mime) = kind_of(&b.entry.name);
        let content = MediaRef::new(key.clone())
            .with_size(b.entry.size)
            .with_mime_type(mime);
        let mut item = MediaItem::new(id, kind, b.filename, content);
        if let Some(s) = &b.sidecar {
            if let Some(d) = s.description() {
                item = item.with_description(d);
            }
            if let Some(c) = s.captured() {
                item = item.with_captured(c);
            }
            if let Some(u) = s.uploaded() {
                item = item.with_uploaded(u);
            }
            if let Some(g) = s.location() {
                item = item.with_location(g);
            }
            item = item.with_favorite(s.favorited);
        }
        for a in b.albums {
            item = item.in_album(a);
        }
        out.push((b.entry.name.clone(), item));
        files.insert(key, b.entry);
    }
    // Stable order: by the path of the file, so a resumed export (even in
    // another process) pages the same way.
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    Ok(Index {
        albums,
        items: out.into_iter().map(|(_, i)| i).collect(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_paths() {
        assert_eq!(
            photos_path("Takeout/Google Photos/Trip/IMG.jpg", true),
            Some(("Trip".into(), "IMG.jpg".into()))
        );
        assert_eq!(
            photos_path("Takeout/Google Photos/archive_browser.html", true),
            None
        );
        assert_eq!(photos_path("Takeout/Mail/x/y", true), None);
        assert_eq!(
            photos_path("Trip/IMG.jpg", false),
            Some(("Trip".into(), "IMG.jpg".into()))
        );
        assert_eq!(kind_of("a.MP4").0, MediaKind::Video);
        assert!(!is_media_name("x.json"));
    }
}
