//! Import: albums as folders, simple uploads up to 4 MiB, resumable upload
//! sessions above, reruns recognised by name and size.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use dtp_core::{
    AuthData, ByteStream, Error, ErrorKind, ImportContext, Importer, RateLimit, Result,
};
use dtp_models::media::{Album, MediaData, MediaItem};
use futures::StreamExt;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::http::{Answer, Body};
use super::model::{DriveItem, UploadSession};
use super::ranges::{content_range, next_fragment, resume_offset};
use super::{OneDrivePhotos, Root, SERVICE, safe_name, segment};

/// What is saved in the job store while an upload session is open. The
/// `uploadUrl` is pre-authenticated (a credential for this one upload): it is
/// never logged, and `Debug` leaves it out.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
struct SavedSession {
    upload_url: String,
    parent: String,
    name: String,
    size: u64,
}

impl std::fmt::Debug for SavedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedSession")
            .field("parent", &self.parent)
            .field("name", &self.name)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// How often one `import_item` call may re-position (ask the session where
/// to continue, re-open the source) without making progress.
const MAX_REPOSITIONS: u32 = 6;

/// The source bytes, read in fragments, with the position kept.
struct Source {
    stream: ByteStream,
    pending: Bytes,
    pos: u64,
}

impl Source {
    fn new(stream: ByteStream) -> Self {
        Source {
            stream,
            pending: Bytes::new(),
            pos: 0,
        }
    }

    async fn next_bytes(&mut self) -> Result<Option<Bytes>> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        loop {
            match self.stream.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(b)) if b.is_empty() => continue,
                Some(Ok(b)) => return Ok(Some(b)),
            }
        }
    }

    /// Discards bytes up to `target` (which must not be behind).
    async fn skip_to(&mut self, target: u64) -> Result<()> {
        while self.pos < target {
            let Some(mut b) = self.next_bytes().await? else {
                return Err(short_source(self.pos, target));
            };
            let want = (target - self.pos) as usize;
            if b.len() > want {
                self.pending = b.split_off(want);
            }
            self.pos += b.len() as u64;
        }
        Ok(())
    }

    /// Reads exactly `len` bytes (fewer only if the source ends).
    async fn read(&mut self, len: usize) -> Result<Bytes> {
        let mut buf = BytesMut::with_capacity(len);
        while buf.len() < len {
            let Some(mut b) = self.next_bytes().await? else {
                break;
            };
            let want = len - buf.len();
            if b.len() > want {
                self.pending = b.split_off(want);
            }
            buf.extend_from_slice(&b);
        }
        self.pos += buf.len() as u64;
        Ok(buf.freeze())
    }
}

const TOO_BIG_FOR_SIMPLE: &str = "the source has more bytes than a simple upload takes";

/// The length of a stream, read through without keeping it.
async fn measure(mut stream: ByteStream) -> Result<u64> {
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        n += chunk?.len() as u64;
    }
    Ok(n)
}

fn short_source(got: u64, want: u64) -> Error {
    Error::invalid_data(format!(
        "the source sent {got} bytes where {want} were announced"
    ))
}

/// A fragment code that means "ask the session where to continue".
fn is_fragment_rejection(answer: &Answer) -> bool {
    answer.status.as_u16() == 416
        || answer.codes().iter().any(|c| {
            matches!(
                c.as_str(),
                "invalidRange"
                    | "fragmentOverlap"
                    | "fragmentOutOfOrder"
                    | "fragmentLengthMismatch"
            )
        })
}

fn is_name_conflict(answer: &Answer) -> bool {
    answer.status.as_u16() == 409 && answer.codes().iter().any(|c| c == "nameAlreadyExists")
}

/// `fileSystemInfo` for a capture time (UTC; a time without a known offset
/// is written as if it were UTC, Graph keeps no zone).
fn file_system_info(item: &MediaItem) -> Option<serde_json::Value> {
    let c = item.captured?;
    let at = match c.to_datetime() {
        Some(d) => d.with_timezone(&chrono::Utc),
        None => c.local.and_utc(),
    };
    let s = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Some(json!({ "createdDateTime": s, "lastModifiedDateTime": s }))
}

fn metadata_patch(item: &MediaItem) -> Option<serde_json::Value> {
    let mut patch = serde_json::Map::new();
    if let Some(d) = &item.description {
        patch.insert("description".into(), json!(d));
    }
    if let Some(fs) = file_system_info(item) {
        patch.insert("fileSystemInfo".into(), fs);
    }
    (!patch.is_empty()).then_some(serde_json::Value::Object(patch))
}

/// Whether `existing` already carries what `item` wants set.
fn metadata_matches(existing: &DriveItem, item: &MediaItem) -> bool {
    let desc_ok = item.description.is_none() || existing.description == item.description;
    let fs_ok = match file_system_info(item) {
        None => true,
        Some(fs) => {
            let want = fs["createdDateTime"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
            let have = existing
                .file_system_info
                .as_ref()
                .and_then(|f| f.created_date_time.as_deref())
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
            want.is_some() && want == have
        }
    };
    desc_ok && fs_ok
}

/// The import side's cache: the root folder's id.
#[derive(Debug, Default)]
pub(crate) struct ImportState {
    root_id: Mutex<Option<String>>,
}

impl OneDrivePhotos {
    fn state(&self) -> &Arc<ImportState> {
        &self.import_state
    }

    async fn root_id(&self, auth: &AuthData) -> Result<String> {
        if let Some(id) = self
            .state()
            .root_id
            .lock()
            .map(|g| g.clone())
            .ok()
            .flatten()
        {
            return Ok(id);
        }
        let id = match self.root_item(auth).await {
            Ok(item) => item.id,
            // A chosen folder that does not exist yet is created.
            Err(e) if e.kind() == &ErrorKind::NotFound => match &self.config.root {
                Root::Path(path) => self.create_path(auth, path).await?,
                _ => return Err(e),
            },
            Err(e) => return Err(e),
        };
        if let Ok(mut g) = self.state().root_id.lock() {
            *g = Some(id.clone());
        }
        Ok(id)
    }

    /// Creates the folders of `path` (from the drive root) that are missing;
    /// returns the last one's id.
    async fn create_path(&self, auth: &AuthData, path: &str) -> Result<String> {
        let url = self.config.url("me/drive/root")?;
        let answer = self
            .http
            .graph(Method::GET, url.as_str(), auth, Body::Empty)
            .await?;
        if !answer.is_success() {
            return Err(answer.error());
        }
        let mut at = answer.json::<DriveItem>()?.id;
        for seg in path.split('/').filter(|s| !s.trim().is_empty()) {
            at = self.folder_in(auth, &at, &safe_name(seg)).await?.id;
        }
        Ok(at)
    }

    /// The folder `name` in `parent`, created if missing
    /// (`conflictBehavior: fail`; a 409 means it is there).
    async fn folder_in(&self, auth: &AuthData, parent: &str, name: &str) -> Result<DriveItem> {
        let url = self
            .config
            .url(&format!("me/drive/items/{}/children", segment(parent)))?;
        let body = json!({
            "name": name,
            "folder": {},
            "@microsoft.graph.conflictBehavior": "fail",
        });
        let answer = self
            .http
            .graph(Method::POST, url.as_str(), auth, Body::Json(body))
            .await?;
        if answer.is_success() {
            return answer.json();
        }
        if is_name_conflict(&answer)
            && let Some(d) = self.child_by_name(auth, parent, name).await?
            && d.is_folder()
        {
            return Ok(d);
        }
        Err(answer.error())
    }

    /// The child `name` of folder `parent`, if there is one.
    async fn child_by_name(
        &self,
        auth: &AuthData,
        parent: &str,
        name: &str,
    ) -> Result<Option<DriveItem>> {
        let url = self.config.url(&format!(
            "me/drive/items/{}:/{}",
            segment(parent),
            segment(name)
        ))?;
        let answer = self
            .http
            .graph(Method::GET, url.as_str(), auth, Body::Empty)
            .await?;
        match answer.status.as_u16() {
            404 => Ok(None),
            _ if answer.is_success() => answer.json().map(Some),
            _ => Err(answer.error()),
        }
    }

    async fn patch_item(&self, auth: &AuthData, id: &str, patch: serde_json::Value) -> Result<()> {
        let url = self
            .config
            .url(&format!("me/drive/items/{}", segment(id)))?;
        let answer = self
            .http
            .graph(Method::PATCH, url.as_str(), auth, Body::Json(patch))
            .await?;
        if answer.is_success() {
            Ok(())
        } else {
            Err(answer.error())
        }
    }

    async fn parent_for(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &MediaItem,
    ) -> Result<String> {
        match item.album_ids.first() {
            Some(album) => ctx.require_container(album),
            None => self.root_id(auth).await,
        }
    }

    /// A file of the same name and size in `parent`: the earlier upload.
    async fn existing_upload(
        &self,
        auth: &AuthData,
        parent: &str,
        name: &str,
        item: &MediaItem,
    ) -> Result<(Option<DriveItem>, bool)> {
        let found = self.child_by_name(auth, parent, name).await?;
        Ok(match found {
            Some(d)
                if d.is_file() && (item.content.size.is_none() || d.size == item.content.size) =>
            {
                (Some(d), true)
            }
            Some(d) => (Some(d), false),
            None => (None, false),
        })
    }

    async fn load_session(&self, ctx: &ImportContext, item: &MediaItem) -> Option<SavedSession> {
        match ctx.load_progress(&item.id).await {
            Ok(Some(s)) if !s.is_empty() => serde_json::from_str(&s).ok(),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a saved upload session");
                None
            }
        }
    }

    async fn save_session(&self, ctx: &ImportContext, item: &MediaItem, s: Option<&SavedSession>) {
        let value = match s {
            Some(s) => match serde_json::to_string(s) {
                Ok(v) => v,
                Err(_) => return,
            },
            None => String::new(),
        };
        if let Err(e) = ctx.save_progress(&item.id, &value).await
            && (e.kind() != &ErrorKind::Unsupported || s.is_some())
        {
            tracing::warn!(error = %e, "cannot save the upload session; a crash would start it over");
        }
    }

    async fn simple_upload(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &MediaItem,
        parent: &str,
        name: &str,
        conflict: &str,
    ) -> Result<DriveItem> {
        let mut src = Source::new(ctx.open_media(&item.content).await?);
        let limit = self.config.simple_limit as usize;
        let bytes = src.read(limit + 1).await?;
        if bytes.len() > limit {
            // Only when the source did not know the size: caller measures.
            return Err(Error::new(ErrorKind::Unsupported, TOO_BIG_FOR_SIMPLE));
        }
        if let Some(size) = item.content.size
            && bytes.len() as u64 != size
        {
            return Err(short_source(bytes.len() as u64, size));
        }
        let content_type = item
            .content
            .mime_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let mut conflict = conflict;
        loop {
            let mut url = self.config.url(&format!(
                "me/drive/items/{}:/{}:/content",
                segment(parent),
                segment(name)
            ))?;
            url.query_pairs_mut()
                .append_pair("@microsoft.graph.conflictBehavior", conflict);
            let answer = self
                .http
                .graph(
                    Method::PUT,
                    url.as_str(),
                    auth,
                    Body::Bytes {
                        content_type: content_type.clone(),
                        bytes: bytes.clone(),
                    },
                )
                .await?;
            if answer.is_success() {
                return answer.json();
            }
            if !is_name_conflict(&answer) || conflict != "fail" {
                return Err(answer.error());
            }
            // Created meanwhile: ours (same size) is taken; another file of
            // that name is kept and this one renamed.
            match self.existing_upload(auth, parent, name, item).await? {
                (Some(d), true) => return Ok(d),
                _ => conflict = "rename",
            }
        }
    }

    async fn create_session(
        &self,
        auth: &AuthData,
        item: &MediaItem,
        parent: &str,
        name: &str,
        conflict: &str,
        size: u64,
    ) -> Result<SavedSession> {
        let url = self.config.url(&format!(
            "me/drive/items/{}:/{}:/createUploadSession",
            segment(parent),
            segment(name)
        ))?;
        let mut props = serde_json::Map::new();
        props.insert("@microsoft.graph.conflictBehavior".into(), json!(conflict));
        props.insert("name".into(), json!(name));
        props.insert("fileSize".into(), json!(size));
        if let Some(d) = &item.description {
            props.insert("description".into(), json!(d));
        }
        if let Some(fs) = file_system_info(item) {
            props.insert("fileSystemInfo".into(), fs);
        }
        let answer = self
            .http
            .graph(
                Method::POST,
                url.as_str(),
                auth,
                Body::Json(json!({ "item": props })),
            )
            .await?;
        if !answer.is_success() {
            return Err(answer.error());
        }
        let s: UploadSession = answer.json()?;
        let upload_url = s.upload_url.ok_or_else(|| {
            Error::invalid_data("createUploadSession answered without an uploadUrl")
                .with_service(SERVICE)
        })?;
        Ok(SavedSession {
            upload_url,
            parent: parent.to_string(),
            name: name.to_string(),
            size,
        })
    }

    /// Where the session wants the next byte: `Ok(None)` if the session is
    /// gone (expired, or completed and turned into the file).
    async fn session_offset(&self, s: &SavedSession) -> Result<Option<u64>> {
        let answer = self
            .http
            .anonymous(Method::GET, &s.upload_url, Body::Empty)
            .await?;
        if answer.status.as_u16() == 404 || answer.status.as_u16() == 410 {
            return Ok(None);
        }
        if !answer.is_success() {
            return Err(answer.error());
        }
        let status: UploadSession = answer.json()?;
        Ok(Some(
            resume_offset(&status.next_expected_ranges, s.size)?.unwrap_or(s.size),
        ))
    }

    async fn session_upload(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &MediaItem,
        parent: &str,
        name: &str,
        size: u64,
    ) -> Result<String> {
        // Continue a saved session of this item if it is still open.
        let mut session = None;
        let mut offset = 0;
        if let Some(saved) = self.load_session(ctx, item).await
            && saved.parent == parent
            && saved.size == size
        {
            match self.session_offset(&saved).await? {
                Some(o) => {
                    tracing::debug!(offset = o, "resuming an upload session");
                    offset = o;
                    session = Some(saved);
                }
                None => {
                    // Gone: either expired, or completed before a crash.
                    if let (Some(d), true) = self.existing_upload(auth, parent, name, item).await? {
                        self.save_session(ctx, item, None).await;
                        return Ok(d.id);
                    }
                    self.save_session(ctx, item, None).await;
                }
            }
        }
        let session = match session {
            Some(s) => s,
            None => {
                let conflict = match self.existing_upload(auth, parent, name, item).await? {
                    (Some(d), true) => return self.finish_existing(auth, d, item).await,
                    (Some(_), false) => "rename",
                    (None, _) => "fail",
                };
                let s = match self
                    .create_session(auth, item, parent, name, conflict, size)
                    .await
                {
                    Ok(s) => s,
                    Err(e) if e.kind() == &ErrorKind::InvalidData && conflict == "fail" => {
                        // 409: created meanwhile (a concurrent or lost earlier
                        // run): ours is taken, another file is kept and this
                        // one renamed.
                        match self.existing_upload(auth, parent, name, item).await? {
                            (Some(d), true) => return self.finish_existing(auth, d, item).await,
                            (Some(_), false) => {
                                self.create_session(auth, item, parent, name, "rename", size)
                                    .await?
                            }
                            (None, _) => return Err(e),
                        }
                    }
                    Err(e) => return Err(e),
                };
                self.save_session(ctx, item, Some(&s)).await;
                s
            }
        };

        let fragment = self.config.fragment;
        let mut src = Source::new(ctx.open_media(&item.content).await?);
        let mut repositions = 0;
        loop {
            if src.pos > offset {
                // The session wants bytes already read: read the source again.
                src = Source::new(ctx.open_media(&item.content).await?);
            }
            src.skip_to(offset).await?;
            let Some((start, len)) = next_fragment(offset, size, fragment) else {
                return Err(
                    Error::transient("the upload session has every byte but gave no item")
                        .with_service(SERVICE),
                );
            };
            let bytes = src.read(len as usize).await?;
            if (bytes.len() as u64) < len {
                return Err(short_source(start + bytes.len() as u64, size));
            }
            let answer = self
                .http
                .put_fragment(&session.upload_url, &content_range(start, len, size), bytes)
                .await?;
            match answer.status.as_u16() {
                200 | 201 => {
                    let done: DriveItem = answer.json()?;
                    self.save_session(ctx, item, None).await;
                    return Ok(done.id);
                }
                202 => {
                    let s: UploadSession = answer.json()?;
                    let next = resume_offset(&s.next_expected_ranges, size)?.unwrap_or(size);
                    if next == start + len {
                        offset = next;
                        repositions = 0;
                        continue;
                    }
                    offset = next;
                }
                404 | 410 => {
                    // The session expired: the next attempt starts a new one.
                    self.save_session(ctx, item, None).await;
                    return Err(
                        Error::transient("the upload session expired").with_service(SERVICE)
                    );
                }
                _ if is_name_conflict(&answer) => {
                    self.save_session(ctx, item, None).await;
                    if let (Some(d), true) = self.existing_upload(auth, parent, name, item).await? {
                        return Ok(d.id);
                    }
                    // Another file took the name while we uploaded: the next
                    // attempt opens a session that renames.
                    return Err(
                        Error::transient("another file took the name during the upload")
                            .with_service(SERVICE),
                    );
                }
                _ if is_fragment_rejection(&answer) => {
                    tracing::debug!(status = %answer.status, "fragment refused; asking the session");
                    match self.session_offset(&session).await? {
                        Some(o) => offset = o,
                        None => {
                            self.save_session(ctx, item, None).await;
                            return Err(Error::transient("the upload session is gone")
                                .with_service(SERVICE));
                        }
                    }
                }
                _ => return Err(answer.error()),
            }
            repositions += 1;
            if repositions > MAX_REPOSITIONS {
                return Err(
                    Error::transient("the upload session keeps asking for other ranges")
                        .with_service(SERVICE),
                );
            }
        }
    }

    /// An earlier upload found by name and size: set what it misses.
    async fn finish_existing(
        &self,
        auth: &AuthData,
        d: DriveItem,
        item: &MediaItem,
    ) -> Result<String> {
        if !metadata_matches(&d, item)
            && let Some(patch) = metadata_patch(item)
        {
            self.patch_item(auth, &d.id, patch).await?;
        }
        Ok(d.id)
    }
}

#[async_trait]
impl Importer<MediaData> for OneDrivePhotos {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        album: &Album,
    ) -> Result<dtp_core::Imported> {
        async move {
            let root = self.root_id(auth).await?;
            let folder = self
                .folder_in(auth, &root, &safe_name(&album.title))
                .await?;
            if album.description.is_some() && folder.description != album.description {
                self.patch_item(
                    auth,
                    &folder.id,
                    json!({ "description": album.description }),
                )
                .await?;
            }
            Ok(folder.id)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &MediaItem,
    ) -> Result<dtp_core::Imported> {
        async move {
            let parent = self.parent_for(ctx, auth, item).await?;
            let name = safe_name(&item.filename);
            match item.content.size {
                Some(size) if size > self.config.simple_limit => {
                    self.session_upload(ctx, auth, item, &parent, &name, size)
                        .await
                }
                _ => {
                    let conflict = match self.existing_upload(auth, &parent, &name, item).await? {
                        (Some(d), true) => return self.finish_existing(auth, d, item).await,
                        (Some(_), false) => "rename",
                        (None, _) => "fail",
                    };
                    match self
                        .simple_upload(ctx, auth, item, &parent, &name, conflict)
                        .await
                    {
                        Ok(d) => self.finish_existing(auth, d, item).await,
                        Err(e) if e.message() == TOO_BIG_FOR_SIMPLE => {
                            // The source gave no size and has more than a simple
                            // upload takes: measure it (streamed), then a session.
                            let size = measure(ctx.open_media(&item.content).await?).await?;
                            self.session_upload(ctx, auth, item, &parent, &name, size)
                                .await
                        }
                        Err(e) => Err(e),
                    }
                }
            }
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        album: &Album,
    ) -> Result<Option<String>> {
        let root = self.root_id(auth).await?;
        Ok(self
            .child_by_name(auth, &root, &safe_name(&album.title))
            .await?
            .filter(DriveItem::is_folder)
            .map(|d| d.id))
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &MediaItem,
    ) -> Result<Option<String>> {
        let parent = match self.parent_for(ctx, auth, item).await {
            Ok(p) => p,
            Err(_) => return Ok(None),
        };
        match self
            .existing_upload(auth, &parent, &safe_name(&item.filename), item)
            .await?
        {
            (Some(d), true) => Ok(Some(self.finish_existing(auth, d, item).await?)),
            _ => Ok(None),
        }
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        self.config.rate_limit.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_session_never_shows_its_upload_url() {
        let s = SavedSession {
            upload_url: "https://up.example/up/SECRET-TOKEN".into(),
            parent: "p".into(),
            name: "n.jpg".into(),
            size: 9,
        };
        assert!(!format!("{s:?}").contains("SECRET"));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SavedSession>(&json).unwrap(), s);
    }

    #[test]
    fn capture_time_becomes_utc_file_system_info() {
        let t = chrono::NaiveDate::from_ymd_opt(2023, 7, 1)
            .unwrap()
            .and_hms_opt(18, 4, 5)
            .unwrap();
        let item = MediaItem::new(
            "m",
            dtp_models::media::MediaKind::Photo,
            "a.jpg",
            dtp_core::MediaRef::new("k"),
        )
        .with_captured(dtp_models::media::CaptureTime::new(t).with_utc_offset_minutes(120));
        let fs = file_system_info(&item).unwrap();
        assert_eq!(fs["createdDateTime"], "2023-07-01T16:04:05Z");
        // Without a known offset the wall-clock time is written as UTC.
        let item = MediaItem::new(
            "m",
            dtp_models::media::MediaKind::Photo,
            "a.jpg",
            dtp_core::MediaRef::new("k"),
        )
        .with_captured(dtp_models::media::CaptureTime::new(t));
        assert_eq!(
            file_system_info(&item).unwrap()["createdDateTime"],
            "2023-07-01T18:04:05Z"
        );
    }
}
