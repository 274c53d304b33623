//! Photos and videos: `photos/<album>/<original file>` plus a
//! `<file>.json` sidecar holding a versioned `dtp.media` record.

use std::path::Path;

use dtp_core::{Error, ImportContext, Imported, MediaRef, Result};
use dtp_models::media::{Album, MediaData, MediaItem, MediaKind};
use dtp_models::schema::Versioned;

use crate::fsutil::{self, io_error, safe_name};
use crate::{Index, LocalArchive, stream_to_temp};

const ROOT: &str = "photos";
const UNSORTED: &str = "photos/Unsorted";
const SIDECAR: &str = ".json";

const VIDEO_EXT: [&str; 9] = [
    "mp4", "mov", "m4v", "avi", "mkv", "webm", "3gp", "mts", "wmv",
];

fn ext_of(name: &str) -> String {
    Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// A MIME type from a file extension.
fn mime_of(name: &str) -> &'static str {
    match ext_of(name).as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "webp" => "image/webp",
        "tif" | "tiff" => "image/tiff",
        "dng" => "image/x-adobe-dng",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "avi" => "video/x-msvideo",
        "mkv" => "video/x-matroska",
        "webm" => "video/webm",
        "3gp" => "video/3gpp",
        _ => "application/octet-stream",
    }
}

fn is_sidecar(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(SIDECAR) && Path::new(&name[..name.len() - SIDECAR.len()]).exists()
}

fn sidecar_of(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(SIDECAR);
    s.into()
}

pub(crate) fn scan(archive: &LocalArchive) -> Result<Index<MediaData>> {
    let mut containers = Vec::new();
    let mut items = Vec::new();
    let root = archive.root().join(ROOT);
    let albums: Vec<_> = fsutil::list_dir(&root)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    let album_rels: Vec<String> = albums.iter().map(|p| archive.rel(p)).collect();
    for (dir, rel) in albums.iter().zip(&album_rels) {
        let mut album = archive.container_record::<Album>(rel).unwrap_or_else(|| {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Album::new(rel.clone(), name)
        });
        album.id = rel.clone();
        containers.push(album);
        for file in fsutil::list_dir(dir)? {
            if !file.is_file() || is_sidecar(&file) {
                continue;
            }
            items.push(read_item(archive, &file, rel, &album_rels)?);
        }
    }
    Ok(Index { containers, items })
}

fn read_item(
    archive: &LocalArchive,
    file: &Path,
    album_rel: &str,
    albums: &[String],
) -> Result<MediaItem> {
    let rel = archive.rel(file);
    let len = std::fs::metadata(file)
        .map_err(|e| io_error(e, &rel))?
        .len();
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sidecar = sidecar_of(file);
    let from_sidecar = match std::fs::read_to_string(&sidecar) {
        Ok(text) => match MediaItem::from_versioned_json(&text) {
            Ok(item) => Some(item),
            Err(e) => {
                tracing::warn!(file = %sidecar.display(), error = %e, "unreadable sidecar; using the file alone");
                None
            }
        },
        Err(_) => None,
    };
    let mut item = match from_sidecar {
        Some(mut item) => {
            item.album_ids.retain(|a| albums.contains(a));
            // A sidecar's hash only stands for the file it was written with.
            if item.content.size != Some(len) {
                item.content.sha256 = None;
            }
            item
        }
        None => {
            let kind = if VIDEO_EXT.contains(&ext_of(&name).as_str()) {
                MediaKind::Video
            } else {
                MediaKind::Photo
            };
            MediaItem::new(
                rel.clone(),
                kind,
                name.clone(),
                MediaRef::new(rel.clone()).with_mime_type(mime_of(&name)),
            )
        }
    };
    if item.album_ids.is_empty() {
        item.album_ids.push(album_rel.to_string());
    }
    item.id = rel.clone();
    item.content.key = rel;
    item.content.size = Some(len);
    Ok(item)
}

/// `IMG_1.jpg`, `IMG_1 (2).jpg`, `IMG_1 (3).jpg`, …
fn candidate(base: &str, n: usize) -> String {
    if n == 1 {
        return base.to_string();
    }
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
        _ => format!("{base} ({n})"),
    }
}

/// The SHA-256 of an archive file: from its sidecar when that matches its
/// length, else by reading it.
fn existing_hash(path: &Path) -> std::io::Result<(String, u64)> {
    let len = std::fs::metadata(path)?.len();
    if let Ok(text) = std::fs::read_to_string(sidecar_of(path))
        && let Ok(item) = MediaItem::from_versioned_json(&text)
        && item.content.size == Some(len)
        && let Some(h) = item.content.sha256
    {
        return Ok((h, len));
    }
    fsutil::hash_file(path)
}

impl LocalArchive {
    pub(crate) fn import_album(&self, album: &Album) -> Result<String> {
        let rel = format!("{ROOT}/{}", safe_name(&album.title));
        let dir = self.path(&rel)?;
        std::fs::create_dir_all(&dir).map_err(|e| io_error(e, dir.display()))?;
        let mut record = album.clone();
        record.id = rel.clone();
        self.remember_container(&rel, &record)?;
        Ok(rel)
    }

    pub(crate) async fn import_media_item(
        &self,
        ctx: &ImportContext,
        item: &MediaItem,
    ) -> Result<Imported> {
        let albums: Vec<String> = item
            .album_ids
            .iter()
            .filter_map(|a| ctx.container_id(a))
            .collect();
        let dir_rel = albums.first().cloned().unwrap_or_else(|| UNSORTED.into());
        let dir = self.path(&dir_rel)?;
        let mut base = safe_name(&item.filename);
        if item.filename.trim().is_empty() {
            base = safe_name(&item.id);
        }
        // Known hash: look before moving any bytes.
        if let (Some(h), Some(n)) = (&item.content.sha256, item.content.size)
            && let Some(rel) = self.find_same(&dir, &base, h, n)?
        {
            self.ensure_sidecar(&rel, item, &albums, h, n)?;
            return Ok(Imported::new(rel, self.note_present()));
        }
        let stream = ctx.open_media(&item.content).await?;
        let (tmp, hash, len) = stream_to_temp(stream, &dir).await?;
        if let Some(size) = item.content.size
            && size != len
        {
            return Err(Error::transient(format!(
                "`{}`: {len} bytes arrived, {size} were announced",
                item.filename
            )));
        }
        let guard = self.state::<()>(&dir_rel);
        let _held = guard.lock().await;
        for n in 1..100_000 {
            let name = candidate(&base, n);
            let target = dir.join(&name);
            let rel = format!("{dir_rel}/{name}");
            if target.exists() {
                let (h, l) = existing_hash(&target).map_err(|e| io_error(e, &rel))?;
                if h == hash && l == len {
                    self.ensure_sidecar(&rel, item, &albums, &hash, len)?;
                    return Ok(Imported::new(rel, self.note_present()));
                }
                continue;
            }
            match fsutil::place_no_clobber(tmp.path(), &target) {
                Ok(true) => {
                    self.ensure_sidecar(&rel, item, &albums, &hash, len)?;
                    return Ok(Imported::new(rel, self.note_written(len)));
                }
                Ok(false) => continue,
                Err(e) => return Err(io_error(e, &rel)),
            }
        }
        Err(Error::invalid_data(format!(
            "too many different files named `{base}` in {dir_rel}"
        )))
    }

    fn find_same(&self, dir: &Path, base: &str, hash: &str, len: u64) -> Result<Option<String>> {
        for n in 1..100_000 {
            let name = candidate(base, n);
            let target = dir.join(&name);
            if !target.exists() {
                return Ok(None);
            }
            let (h, l) = existing_hash(&target).map_err(|e| io_error(e, &name))?;
            if h == hash && l == len {
                return Ok(Some(self.rel(&target)));
            }
        }
        Ok(None)
    }

    /// Writes the sidecar of `rel` unless one is there already.
    fn ensure_sidecar(
        &self,
        rel: &str,
        item: &MediaItem,
        albums: &[String],
        hash: &str,
        len: u64,
    ) -> Result<()> {
        let path = sidecar_of(&self.path(rel)?);
        if path.exists() {
            return Ok(());
        }
        let mut record = item.clone();
        record.id = rel.to_string();
        record.album_ids = albums.to_vec();
        let mut content = MediaRef::new(rel).with_size(len).with_sha256(hash);
        content.mime_type = item.content.mime_type.clone();
        record.content = content;
        let text = record
            .to_versioned_json()
            .map_err(|e| Error::internal("sidecar").with_source(e))?;
        fsutil::write_new(&path, text.as_bytes())?;
        Ok(())
    }
}
