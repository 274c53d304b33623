//! Export: folders as albums, image and video files as items, pages by
//! `@odata.nextLink`, bytes by the pre-authenticated download URL.

use std::collections::{HashMap, VecDeque};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dtp_core::{
    AuthData, ByteStream, Cursor, Error, ExportContext, ExportPage, Exporter, MediaRef, RateLimit,
    Result,
};
use dtp_models::media::{Album, CaptureTime, MediaData, MediaItem, MediaKind};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::http::{Body, Opened};
use super::model::{Collection, DriveItem};
use super::{OneDrivePhotos, Root, SERVICE, segment};

/// The export cursor: one page of one folder's children.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum OdCursor {
    /// A page of a folder's children: the first (`next_link` absent) or the
    /// one an `@odata.nextLink` named (kept exactly as given).
    Children {
        folder: String,
        /// The album the folder is (`None` for the root).
        album: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_link: Option<String>,
    },
}

/// The media locator: the item id only. The pre-authenticated download URL
/// seen when listing is a credential (anyone holding it can read the file
/// for about an hour), so it never goes into the `MediaRef` (which importers
/// may write or log); it waits in [`DownloadUrls`] instead.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MediaKey {
    #[serde(rename = "onedrive")]
    id: String,
}

/// Download URLs seen in listings, by item id, until their item is opened
/// (each is used once). Bounded: past [`DownloadUrls::CAP`] entries the
/// oldest are dropped and their items are fetched through `/content`.
#[derive(Default)]
pub(crate) struct DownloadUrls {
    urls: HashMap<String, String>,
    order: VecDeque<String>,
}

impl std::fmt::Debug for DownloadUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URLs are credentials: only their number is shown.
        write!(f, "DownloadUrls({})", self.urls.len())
    }
}

impl DownloadUrls {
    const CAP: usize = 4096;

    fn put(&mut self, id: &str, url: &str) {
        if self.urls.insert(id.to_string(), url.to_string()).is_none() {
            self.order.push_back(id.to_string());
        }
        while self.order.len() > Self::CAP {
            if let Some(old) = self.order.pop_front() {
                self.urls.remove(&old);
            }
        }
    }

    fn take(&mut self, id: &str) -> Option<String> {
        let url = self.urls.remove(id)?;
        if let Some(i) = self.order.iter().position(|x| x == id) {
            self.order.remove(i);
        }
        Some(url)
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The kind of a file by its MIME type (or its name's extension when
/// OneDrive gave none); `None` for files that are neither photo nor video.
fn media_kind(item: &DriveItem) -> Option<MediaKind> {
    if item.video.is_some() {
        return Some(MediaKind::Video);
    }
    match item.mime_type() {
        Some(m) if m.starts_with("image/") => Some(MediaKind::Photo),
        Some(m) if m.starts_with("video/") => Some(MediaKind::Video),
        _ if item.photo.is_some() || item.image.is_some() => Some(MediaKind::Photo),
        _ => {
            let ext = item.name.rsplit_once('.')?.1.to_ascii_lowercase();
            match ext.as_str() {
                "jpg" | "jpeg" | "png" | "gif" | "heic" | "heif" | "webp" | "tif" | "tiff"
                | "bmp" | "dng" | "raw" | "cr2" | "nef" | "arw" => Some(MediaKind::Photo),
                "mp4" | "mov" | "m4v" | "avi" | "mkv" | "3gp" | "wmv" | "webm" => {
                    Some(MediaKind::Video)
                }
                _ => None,
            }
        }
    }
}

/// The capture time: EXIF `takenDateTime` (UTC), else a client-set
/// `fileSystemInfo.createdDateTime` (one that differs from the item's own
/// creation time in OneDrive).
fn capture_time(item: &DriveItem) -> Option<CaptureTime> {
    let at = item
        .photo
        .as_ref()
        .and_then(|p| p.taken_date_time.as_deref())
        .and_then(parse_time)
        .or_else(|| {
            let fs = item
                .file_system_info
                .as_ref()?
                .created_date_time
                .as_deref()
                .and_then(parse_time)?;
            let created = item.created_date_time.as_deref().and_then(parse_time);
            (created != Some(fs)).then_some(fs)
        })?;
    Some(CaptureTime::new(at.naive_utc()).with_utc_offset_minutes(0))
}

pub(crate) fn to_media_item(item: &DriveItem, album: Option<&str>) -> Option<MediaItem> {
    if !item.is_file() {
        return None;
    }
    let kind = media_kind(item)?;
    let key = MediaKey {
        id: item.id.clone(),
    };
    let mut content = MediaRef::new(serde_json::to_string(&key).ok()?);
    if let Some(size) = item.size {
        content = content.with_size(size);
    }
    if let Some(m) = item.mime_type() {
        content = content.with_mime_type(m);
    }
    if let Some(h) = item
        .file
        .as_ref()
        .and_then(|f| f.hashes.as_ref())
        .and_then(|h| h.sha256_hash.as_deref())
    {
        content = content.with_sha256(h.to_ascii_lowercase());
    }
    let mut out = MediaItem::new(item.id.clone(), kind, item.name.clone(), content);
    if let Some(a) = album {
        out = out.in_album(a);
    }
    if let Some(d) = item.description.as_deref().filter(|d| !d.is_empty()) {
        out = out.with_description(d);
    }
    if let Some(c) = capture_time(item) {
        out = out.with_captured(c);
    }
    if let Some(u) = item.created_date_time.as_deref().and_then(parse_time) {
        out = out.with_uploaded(u);
    }
    let (w, h) = match (&item.image, &item.video) {
        (Some(i), _) => (i.width, i.height),
        (None, Some(v)) => (v.width, v.height),
        _ => (None, None),
    };
    if let (Some(w), Some(h)) = (w, h) {
        out = out.with_dimensions(w, h);
    }
    if let Some(d) = item.video.as_ref().and_then(|v| v.duration) {
        out = out.with_duration_ms(d);
    }
    Some(out)
}

fn to_album(item: &DriveItem) -> Album {
    let mut a = Album::new(item.id.clone(), item.name.clone());
    if let Some(d) = item.description.as_deref().filter(|d| !d.is_empty()) {
        a = a.with_description(d);
    }
    a
}

impl OneDrivePhotos {
    /// The root folder's item (`GET /me/drive/special/photos`, `…/root:/{path}`
    /// or `…/items/{id}`).
    pub(crate) async fn root_item(&self, auth: &AuthData) -> Result<DriveItem> {
        let path = match &self.config.root {
            Root::Photos => "me/drive/special/photos".to_string(),
            Root::Path(p) if p.trim_matches('/').is_empty() => "me/drive/root".to_string(),
            Root::Path(p) => {
                let segs: Vec<String> = p.trim_matches('/').split('/').map(segment).collect();
                format!("me/drive/root:/{}:", segs.join("/"))
            }
            Root::Item(id) => format!("me/drive/items/{}", segment(id)),
        };
        let url = self.config.url(&path)?;
        let answer = self
            .http
            .graph(Method::GET, url.as_str(), auth, Body::Empty)
            .await?;
        if !answer.is_success() {
            return Err(answer.error());
        }
        answer.json()
    }

    fn children_url(&self, folder: &str) -> Result<String> {
        let mut url = self
            .config
            .url(&format!("me/drive/items/{}/children", segment(folder)))?;
        if let Some(n) = self.config.page_size {
            url.query_pairs_mut().append_pair("$top", &n.to_string());
        }
        Ok(url.into())
    }

    async fn children_page(
        &self,
        auth: &AuthData,
        folder: &str,
        album: Option<String>,
        next_link: Option<&str>,
    ) -> Result<ExportPage<MediaData>> {
        let url = match next_link {
            Some(link) => link.to_string(),
            None => self.children_url(folder)?,
        };
        let answer = self
            .http
            .graph(Method::GET, &url, auth, Body::Empty)
            .await?;
        if !answer.is_success() {
            let err = answer.error();
            // A folder removed since it was listed: nothing to export there.
            if err.kind() == &dtp_core::ErrorKind::NotFound
                && next_link.is_none()
                && album.is_some()
            {
                return Ok(ExportPage::new());
            }
            return Err(err);
        }
        let page: Collection<DriveItem> = answer.json()?;
        let mut out = ExportPage::new();
        for item in &page.value {
            if item.is_folder() {
                out = out.with_container(to_album(item)).with_next(Cursor::new(
                    &OdCursor::Children {
                        folder: item.id.clone(),
                        album: Some(item.id.clone()),
                        next_link: None,
                    },
                )?);
            } else if let Some(m) = to_media_item(item, album.as_deref()) {
                if let Some(url) = &item.download_url
                    && let Ok(mut cache) = self.download_urls.lock()
                {
                    cache.put(&item.id, url);
                }
                out = out.with_item(m);
            }
        }
        if let Some(link) = page.next_link {
            out = out.with_next(Cursor::new(&OdCursor::Children {
                folder: folder.to_string(),
                album,
                next_link: Some(link),
            })?);
        }
        Ok(out)
    }

    async fn stream_from(&self, auth: &AuthData, key: &MediaKey) -> Result<ByteStream> {
        let cached = self
            .download_urls
            .lock()
            .ok()
            .and_then(|mut c| c.take(&key.id));
        if let Some(url) = &cached {
            match self.http.open(url, None).await {
                Ok(Opened::Stream { stream, .. }) => return Ok(stream),
                Ok(Opened::Redirect(to)) => return self.follow(&to).await,
                // Expired or revoked pre-authenticated URL: ask Graph again.
                Err(e)
                    if matches!(
                        e.kind(),
                        dtp_core::ErrorKind::NotFound
                            | dtp_core::ErrorKind::Unauthenticated
                            | dtp_core::ErrorKind::PermissionDenied
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        let url = self
            .config
            .url(&format!("me/drive/items/{}/content", segment(&key.id)))?;
        match self.http.open(url.as_str(), Some(auth)).await? {
            Opened::Stream { stream, .. } => Ok(stream),
            Opened::Redirect(to) => self.follow(&to).await,
        }
    }

    /// Follows the `302` of `/content` to its pre-authenticated target,
    /// without the bearer token.
    async fn follow(&self, to: &str) -> Result<ByteStream> {
        match self.http.open(to, None).await? {
            Opened::Stream { stream, .. } => Ok(stream),
            Opened::Redirect(_) => Err(Error::invalid_data(
                "the download URL redirected again".to_string(),
            )
            .with_service(SERVICE)),
        }
    }
}

#[async_trait]
impl Exporter<MediaData> for OneDrivePhotos {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<MediaData>> {
        if cursor.is_root() {
            let root = match self.root_item(auth).await {
                Ok(r) => r,
                // With read-only scopes Graph does not create the Photos
                // special folder: 404 means there are no photos to export.
                Err(e)
                    if e.kind() == &dtp_core::ErrorKind::NotFound
                        && self.config.root == Root::Photos =>
                {
                    return Ok(ExportPage::new());
                }
                Err(e) => return Err(e),
            };
            return self.children_page(auth, &root.id, None, None).await;
        }
        match cursor.decode::<OdCursor>()? {
            OdCursor::Children {
                folder,
                album,
                next_link,
            } => {
                self.children_page(auth, &folder, album, next_link.as_deref())
                    .await
            }
        }
    }

    async fn open_media(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        media: &MediaRef,
    ) -> Result<ByteStream> {
        let key: MediaKey = serde_json::from_str(&media.key)
            .map_err(|_| Error::invalid_data("not a OneDrive media key"))?;
        self.stream_from(auth, &key).await
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        self.config.rate_limit.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Collection<DriveItem> {
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/onedrive/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn maps_drive_items_to_media() {
        let p1 = fixture("get-me-drive-items-children.page1.json");
        assert!(
            to_media_item(&p1.value[0], None).is_none(),
            "a folder is no item"
        );
        let img = to_media_item(&p1.value[1], Some("F-ALBUM-1")).unwrap();
        assert_eq!(img.kind, MediaKind::Photo);
        assert_eq!(img.filename, "IMG_0001.jpg");
        assert_eq!(img.album_ids, vec!["F-ALBUM-1".to_string()]);
        assert_eq!((img.width, img.height), (Some(4032), Some(3024)));
        let c = img.captured.unwrap();
        assert_eq!(
            c.to_datetime().unwrap().to_rfc3339(),
            "2023-07-30T18:22:01+00:00"
        );
        assert_eq!(img.content.size, Some(11));
        let key: MediaKey = serde_json::from_str(&img.content.key).unwrap();
        assert_eq!(key.id, "I-1");
        assert!(
            !img.content.key.contains("tempauth"),
            "a credential in the key"
        );

        let p2 = fixture("get-me-drive-items-children.page2.json");
        let vid = to_media_item(&p2.value[0], None).unwrap();
        assert_eq!(vid.kind, MediaKind::Video);
        assert_eq!(vid.duration_ms, Some(12000));
        assert_eq!(vid.description.as_deref(), Some("Sunset"));
        // fileSystemInfo differs from createdDateTime: a client set it.
        assert_eq!(
            vid.captured.unwrap().to_datetime().unwrap().to_rfc3339(),
            "2023-07-31T20:00:00+00:00"
        );
        assert!(
            to_media_item(&p2.value[1], None).is_none(),
            "packages are skipped"
        );
        let album = to_album(&p1.value[0]);
        assert_eq!(album.title, "Holidays 2023");
        assert_eq!(album.description.as_deref(), Some("Trip to the sea"));
    }

    #[test]
    fn download_url_cache_is_bounded_and_single_use() {
        let mut c = DownloadUrls::default();
        for i in 0..DownloadUrls::CAP + 10 {
            c.put(&i.to_string(), &format!("u{i}"));
        }
        assert_eq!(c.urls.len(), DownloadUrls::CAP);
        assert_eq!(c.take("0"), None, "the oldest were dropped");
        let last = (DownloadUrls::CAP + 9).to_string();
        assert_eq!(c.take(&last).as_deref(), Some(format!("u{last}").as_str()));
        assert_eq!(c.take(&last), None);
        assert!(!format!("{c:?}").contains('u'));
    }

    #[test]
    fn capture_time_is_not_invented_from_upload_time() {
        let item: DriveItem = serde_json::from_value(serde_json::json!({
            "id": "x", "name": "a.jpg", "size": 1,
            "createdDateTime": "2024-01-01T00:00:00Z",
            "file": {"mimeType": "image/jpeg"},
            "fileSystemInfo": {"createdDateTime": "2024-01-01T00:00:00Z"}
        }))
        .unwrap();
        assert!(to_media_item(&item, None).unwrap().captured.is_none());
    }
}
