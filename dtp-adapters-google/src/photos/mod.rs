//! Importing photos and videos into **Google Photos** through the Library
//! API (<https://developers.google.com/photos/library/reference/rest>).
//!
//! | step | call |
//! |---|---|
//! | album | `POST /v1/albums` `{"album":{"title"}}` (title cut at 500 characters) |
//! | bytes ≤ [`PhotosOptions::with_simple_upload_max`] | `POST /v1/uploads`, `X-Goog-Upload-Protocol: raw`, `X-Goog-Upload-Content-Type`, `X-Goog-Upload-File-Name` (ASCII names), body streamed from the source; the answer is the **upload token as raw text** |
//! | larger bytes | resumable: `POST /v1/uploads` `X-Goog-Upload-Command: start` → `X-Goog-Upload-URL` + `X-Goog-Upload-Chunk-Granularity`; then chunks (a multiple of the granularity, [`PhotosOptions::with_chunk_size`]) `upload` / `upload, finalize` with `X-Goog-Upload-Offset`; after a failed chunk, `query` → `X-Goog-Upload-Size-Received` and resend from there |
//! | items | `POST /v1/mediaItems:batchCreate` with at most **50** items, `fileName` and `description` (cut at 1000 characters), into the item's first album; per-item failures come **inside a 200** as `newMediaItemResults[].status` |
//! | other albums | `POST /v1/albums/{id}:batchAddMediaItems` (≤ 50 ids) |
//!
//! # Idempotency
//!
//! Every record goes through the run's [`IdempotentExecutor`](dtp_core::IdempotentExecutor)
//! under its source id, so a finished item is never created twice by a rerun.
//! Upload tokens are single-use and create nothing by themselves: a crash
//! after an upload but before its `batchCreate` leaves only an unused token
//! (it expires in a day), and the resumed run uploads again and creates the
//! item once. A crash after `batchCreate` but before the checkpoint leaves an
//! item the job store does not know: on resume ([`ImportContext::is_recovering`])
//! the importer lists the items this app created (`GET /v1/mediaItems`, which
//! since 2025 returns exactly those) and albums (`GET /v1/albums`), and adopts
//! an unclaimed one with the same file name and description (album: title)
//! instead of creating it again. The same search runs within a run when a
//! `batchCreate` lost its answer (reset, timeout, 5xx) and its retry finds
//! the spent tokens refused. Two source items with the same file name
//! and description in the same interrupted page cannot be told apart this way;
//! they are matched in page order.
//!
//! # Errors
//!
//! Google's two error formats are mapped to `ErrorKind`s;
//! Photos' storage-full answer (`400 INVALID_ARGUMENT`, "The remaining
//! storage in the user's account is not enough …", either as the HTTP answer
//! or as an item status) is `DestinationFull`, matched on a configurable
//! substring (the client's [`ErrorPolicy`](crate::ErrorPolicy)).

mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use dtp_core::{
    AuthData, ByteStream, Error, ErrorKind, ExportPage, ImportContext, Importer, RateLimit, Record,
    Result,
};
use dtp_models::media::{Album, MediaData, MediaItem};
use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, Url};

use crate::client::{Api, Body, GoogleClient, Request};
use crate::limits::{self, Side};

/// Most items one `mediaItems.batchCreate` takes.
pub const BATCH_CREATE_MAX: usize = 50;
/// Most ids one `albums.batchAddMediaItems` takes.
pub const BATCH_ADD_MAX: usize = 50;
/// Longest album title Photos keeps.
const TITLE_MAX: usize = 500;
/// Longest item description Photos keeps.
const DESCRIPTION_MAX: usize = 1000;
/// Service name on errors that are not HTTP answers.
const SERVICE: &str = "google.photos";

/// How the importer uploads bytes.
#[derive(Debug, Clone)]
pub struct PhotosOptions {
    simple_upload_max: u64,
    chunk_size: usize,
}

impl Default for PhotosOptions {
    fn default() -> Self {
        PhotosOptions {
            simple_upload_max: 8 * 1024 * 1024,
            chunk_size: 8 * 1024 * 1024,
        }
    }
}

impl PhotosOptions {
    /// The defaults: simple uploads up to 8 MiB, resumable chunks of 8 MiB.
    pub fn new() -> Self {
        Self::default()
    }

    /// Files up to this size (and files of unknown size) go up in one
    /// streamed request; larger ones use the resumable protocol.
    pub fn with_simple_upload_max(mut self, bytes: u64) -> Self {
        self.simple_upload_max = bytes;
        self
    }

    /// Bytes per resumable chunk (rounded down to the server's granularity,
    /// at least one granule). This bounds the importer's memory per upload
    /// in flight.
    pub fn with_chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes.max(1);
        self
    }
}

/// Writes photos and videos into Google Photos. See the [module docs](self).
pub struct GooglePhotosImporter {
    client: GoogleClient,
    opts: PhotosOptions,
    /// Destination id → the source key (`c:`/`i:` + source id) that
    /// recovery adopted it for, in this process: an id is never handed to
    /// two records, but the same record may adopt it again after another
    /// crash. Ids this process created are not in it: a crashed run's
    /// creations must stay adoptable by the resumed run.
    claimed: Mutex<HashMap<String, String>>,
    /// Source ids of items whose `batchCreate` may have been applied
    /// although its answer was lost (a transport error or 5xx after the
    /// request left): before creating them again, look for them.
    uncertain: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for GooglePhotosImporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GooglePhotosImporter")
            .field("client", &self.client)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

fn cut(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// An uploaded item waiting for `batchCreate`.
struct Uploaded<'a> {
    item: &'a MediaItem,
    token: String,
}

impl GooglePhotosImporter {
    /// An importer using `client`.
    pub fn new(client: GoogleClient) -> Self {
        Self::with_options(client, PhotosOptions::default())
    }

    /// An importer using `client`, uploading as `opts` says.
    pub fn with_options(client: GoogleClient, opts: PhotosOptions) -> Self {
        GooglePhotosImporter {
            client,
            opts,
            claimed: Mutex::new(HashMap::new()),
            uncertain: Mutex::new(HashSet::new()),
        }
    }

    fn uncertain(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.uncertain.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// If an earlier `batchCreate` of `item` lost its answer, the item the
    /// app created for it (adopted, with its other albums added again).
    async fn recover_uncertain(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &MediaItem,
    ) -> Result<Option<String>> {
        if !self.uncertain().contains(&item.id) {
            return Ok(None);
        }
        let existing = self.list_items(auth).await?;
        let found = self.adopt(item, &existing);
        if let Some(id) = &found {
            for a in Self::albums_of(ctx, item).iter().skip(1) {
                self.add_to_album(auth, a, &[id.as_str()]).await?;
            }
        }
        self.uncertain().remove(&item.id);
        Ok(found)
    }

    fn claimed(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.claimed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `POST /v1/albums`.
    async fn create_album(&self, auth: &AuthData, title: &str) -> Result<String> {
        let title = if title.trim().is_empty() {
            "Untitled"
        } else {
            cut(title, TITLE_MAX)
        };
        let body = wire::CreateAlbum {
            album: wire::NewAlbum { title },
        };
        let album: wire::AlbumJson = self
            .client
            .json(
                auth,
                Request::post(Api::PhotosLibrary, "v1/albums").json(&body)?,
            )
            .await?;
        Ok(album.id)
    }

    /// Every album this app created (`GET /v1/albums`).
    async fn list_albums(&self, auth: &AuthData) -> Result<Vec<wire::AlbumJson>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = Request::get(Api::PhotosLibrary, "v1/albums")
                .query("pageSize", "50")
                .query_opt("pageToken", token.take());
            let page: wire::AlbumsPage = self.client.json(auth, req).await?;
            out.extend(page.albums);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Every media item this app created (`GET /v1/mediaItems`).
    async fn list_items(&self, auth: &AuthData) -> Result<Vec<wire::MediaItemJson>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = Request::get(Api::PhotosLibrary, "v1/mediaItems")
                .query("pageSize", "100")
                .query_opt("pageToken", token.take());
            let page: wire::MediaItemsPage = self.client.json(auth, req).await?;
            out.extend(page.media_items);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// How many albums and media items this app created in the account
    /// (`GET /v1/albums`, `GET /v1/mediaItems`; read-only, with
    /// `photoslibrary.readonly.appcreateddata`): what recovery searches.
    pub async fn app_created_counts(&self, auth: &AuthData) -> Result<(usize, usize)> {
        let albums = self.list_albums(auth).await?.len();
        let items = self.list_items(auth).await?.len();
        Ok((albums, items))
    }

    /// Finds an app-created item that looks like `item` and nobody claimed.
    fn adopt(&self, item: &MediaItem, existing: &[wire::MediaItemJson]) -> Option<String> {
        let want_desc = item
            .description
            .as_deref()
            .map(|d| cut(d, DESCRIPTION_MAX))
            .filter(|d| !d.is_empty());
        let me = format!("i:{}", item.id);
        let mut claimed = self.claimed();
        let found = existing.iter().find(|m| {
            claimed.get(&m.id).is_none_or(|who| *who == me)
                && m.filename.as_deref() == Some(item.filename.as_str())
                && m.description.as_deref().filter(|d| !d.is_empty()) == want_desc
        })?;
        claimed.insert(found.id.clone(), me);
        Some(found.id.clone())
    }

    /// Uploads the bytes of `item`; returns the upload token.
    async fn upload(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &MediaItem,
    ) -> Result<String> {
        let media = &item.content;
        let stream = ctx.open_media(media).await?;
        let mime = media
            .mime_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        // `X-Goog-Upload-File-Name` is recommended; header values are ASCII,
        // so other names travel only in batchCreate's `fileName`.
        let name = Some(item.filename.as_str())
            .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x20..0x7f).contains(&b)));
        match media.size {
            Some(size) if size > self.opts.simple_upload_max => {
                self.upload_resumable(auth, stream, mime, name, size).await
            }
            _ => {
                self.upload_simple(auth, stream, mime, name, media.size)
                    .await
            }
        }
    }

    /// One request; the body streams from the source.
    async fn upload_simple(
        &self,
        auth: &AuthData,
        stream: ByteStream,
        mime: &str,
        name: Option<&str>,
        size: Option<u64>,
    ) -> Result<String> {
        let mut req = Request::post(Api::PhotosUpload, "v1/uploads")
            .header("X-Goog-Upload-Content-Type", mime)
            .header("X-Goog-Upload-Protocol", "raw");
        if let Some(n) = name {
            req = req.header("X-Goog-Upload-File-Name", n);
        }
        let req = req.body(Body::Stream {
            content_type: "application/octet-stream".into(),
            len: size,
            stream,
        });
        token_of(&self.client.send(auth, req).await?)
    }

    /// The resumable protocol, in chunks of at most `chunk_size` bytes.
    async fn upload_resumable(
        &self,
        auth: &AuthData,
        mut stream: ByteStream,
        mime: &str,
        name: Option<&str>,
        size: u64,
    ) -> Result<String> {
        let mut req = Request::post(Api::PhotosUpload, "v1/uploads")
            .header("Content-Length", "0")
            .header("X-Goog-Upload-Command", "start")
            .header("X-Goog-Upload-Content-Type", mime)
            .header("X-Goog-Upload-Protocol", "resumable")
            .header("X-Goog-Upload-Raw-Size", size.to_string());
        if let Some(n) = name {
            req = req.header("X-Goog-Upload-File-Name", n);
        }
        let resp = self.client.send(auth, req).await?;
        let header = |name: &str| resp.header(name).map(str::to_string);
        let session = header("X-Goog-Upload-URL").ok_or_else(|| {
            Error::invalid_data("resumable upload start answered without X-Goog-Upload-URL")
                .with_service(SERVICE)
        })?;
        let session = Url::parse(&session).map_err(|e| {
            Error::invalid_data(format!("bad X-Goog-Upload-URL: {e}")).with_service(SERVICE)
        })?;
        let granularity = header("X-Goog-Upload-Chunk-Granularity")
            .and_then(|g| g.trim().parse::<usize>().ok())
            .filter(|g| *g > 0)
            .unwrap_or(256 * 1024);
        let chunk = (self.opts.chunk_size / granularity).max(1) * granularity;

        let mut offset: u64 = 0;
        let mut pending = BytesMut::new();
        let mut ended = false;
        loop {
            // Fill one chunk (or up to the end).
            while pending.len() < chunk && !ended {
                match stream.next().await {
                    Some(part) => pending.extend_from_slice(&part?),
                    None => ended = true,
                }
            }
            let take = pending.len().min(chunk);
            let body = pending.split_to(take).freeze();
            let end = offset + body.len() as u64;
            if end > size {
                return Err(Error::invalid_data(format!(
                    "the source sent more than the announced {size} bytes"
                ))
                .with_service(SERVICE));
            }
            if ended && pending.is_empty() && end < size {
                return Err(Error::invalid_data(format!(
                    "the source ended after {end} of the announced {size} bytes"
                ))
                .with_service(SERVICE));
            }
            let last = end == size;
            let token = self.send_chunk(auth, &session, body, offset, last).await?;
            offset = end;
            if last {
                if !pending.is_empty() || (!ended && stream.next().await.is_some()) {
                    return Err(Error::invalid_data(format!(
                        "the source sent more than the announced {size} bytes"
                    ))
                    .with_service(SERVICE));
                }
                return token.ok_or_else(|| {
                    Error::invalid_data("finalize answered without an upload token")
                        .with_service(SERVICE)
                });
            }
        }
    }

    /// Sends one chunk; after a passing failure asks the server how much it
    /// has (`query`) and resends the rest of the chunk, up to three times.
    async fn send_chunk(
        &self,
        auth: &AuthData,
        session: &Url,
        body: Bytes,
        offset: u64,
        last: bool,
    ) -> Result<Option<String>> {
        let command = if last { "upload, finalize" } else { "upload" };
        let mut from: u64 = offset;
        let mut attempts = 0;
        loop {
            let skip = (from - offset) as usize;
            let part = body.slice(skip..);
            let req = Request::absolute(Api::PhotosUpload, Method::POST, session.clone())
                .header("X-Goog-Upload-Command", command)
                .header("X-Goog-Upload-Offset", from.to_string())
                .body(Body::Bytes {
                    content_type: "application/octet-stream".into(),
                    bytes: part,
                });
            let sent = self.client.send(auth, req).await;
            match sent {
                Ok(answer) if last => return token_of(&answer).map(Some),
                Ok(_) => return Ok(None),
                Err(e) if e.is_retryable() && attempts < 3 => {
                    attempts += 1;
                    tracing::debug!(error = %e, "chunk failed; asking the server what it has");
                    let received = self.query(auth, session).await?;
                    let end = offset + body.len() as u64;
                    if received < offset || received > end {
                        return Err(Error::transient(format!(
                            "upload session has {received} bytes, expected {offset}..={end}"
                        ))
                        .with_service(SERVICE));
                    }
                    if received == end && !last {
                        return Ok(None);
                    }
                    from = received;
                    if let Some(wait) = e.retry_after() {
                        tokio::time::sleep(wait).await;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `X-Goog-Upload-Command: query` → bytes the server holds.
    async fn query(&self, auth: &AuthData, session: &Url) -> Result<u64> {
        let req = Request::absolute(Api::PhotosUpload, Method::POST, session.clone())
            .header("Content-Length", "0")
            .header("X-Goog-Upload-Command", "query");
        let answer = self.client.send(auth, req).await?;
        answer
            .header("X-Goog-Upload-Size-Received")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                Error::invalid_data("query answered without X-Goog-Upload-Size-Received")
                    .with_service(SERVICE)
            })
    }

    /// `POST /v1/mediaItems:batchCreate` for at most 50 uploads into one
    /// album; one result per upload, in order.
    async fn batch_create(
        &self,
        auth: &AuthData,
        album: Option<&str>,
        batch: &[Uploaded<'_>],
    ) -> Result<Vec<Result<String>>> {
        debug_assert!(batch.len() <= BATCH_CREATE_MAX);
        let body = wire::BatchCreate {
            album_id: album,
            new_media_items: batch
                .iter()
                .map(|u| wire::NewMediaItem {
                    description: u
                        .item
                        .description
                        .as_deref()
                        .map(|d| cut(d, DESCRIPTION_MAX))
                        .filter(|d| !d.is_empty()),
                    simple_media_item: wire::SimpleMediaItem {
                        upload_token: &u.token,
                        file_name: &u.item.filename,
                    },
                })
                .collect(),
        };
        let answer: wire::BatchCreateResponse = match self
            .client
            .json(
                auth,
                Request::post(Api::PhotosLibrary, "v1/mediaItems:batchCreate").json(&body)?,
            )
            .await
        {
            Ok(a) => a,
            Err(e) => {
                // A lost answer (reset, timeout, 5xx) may hide applied
                // creations: remember to look for these items first.
                if e.is_retryable() {
                    let mut u = self.uncertain();
                    for up in batch {
                        u.insert(up.item.id.clone());
                    }
                }
                return Err(e);
            }
        };
        let mut by_token: HashMap<&str, &wire::NewMediaItemResult> = HashMap::new();
        for r in &answer.new_media_item_results {
            if let Some(t) = r.upload_token.as_deref() {
                by_token.insert(t, r);
            }
        }
        let storage = &self.client.config().error_policy.storage_full_patterns;
        Ok(batch
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let r = by_token
                    .get(u.token.as_str())
                    .copied()
                    .or_else(|| answer.new_media_item_results.get(i));
                let Some(r) = r else {
                    return Err(
                        Error::transient("batchCreate returned no result for an item")
                            .with_service(SERVICE),
                    );
                };
                let status = r.status.clone().unwrap_or_default();
                match &r.media_item {
                    Some(m) if status.code == 0 => Ok(m.id.clone()),
                    _ if status.code == 0 => Err(Error::invalid_data(
                        "batchCreate result has neither a media item nor an error",
                    )
                    .with_service(SERVICE)),
                    _ => Err(rpc_status_error(status.code, &status.message, storage)),
                }
            })
            .collect())
    }

    /// `POST /v1/albums/{id}:batchAddMediaItems`.
    async fn add_to_album(&self, auth: &AuthData, album: &str, ids: &[&str]) -> Result<()> {
        for chunk in ids.chunks(BATCH_ADD_MAX) {
            let req = Request::post(
                Api::PhotosLibrary,
                format!("v1/albums/{album}:batchAddMediaItems"),
            )
            .json(&wire::BatchAdd {
                media_item_ids: chunk.to_vec(),
            })?;
            self.client.send(auth, req).await?;
        }
        Ok(())
    }

    /// Uploads one item's bytes with the driver's retries.
    async fn upload_one<'a>(
        &self,
        ctx: &ImportContext,
        item: &'a MediaItem,
    ) -> (&'a MediaItem, Result<String>) {
        let token = ctx
            .call("upload", |auth| async move {
                self.upload(ctx, &auth, item).await
            })
            .await;
        (item, token)
    }

    /// Destination ids of the item's albums (first: the one `batchCreate`
    /// puts it in). Albums not imported by this job are skipped.
    fn albums_of(ctx: &ImportContext, item: &MediaItem) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &item.album_ids {
            if let Some(id) = ctx.container_id(a)
                && !out.contains(&id)
            {
                out.push(id);
            }
        }
        out
    }
}

/// The upload token: the whole answer, as raw text (not JSON).
fn token_of(answer: &crate::client::Answer) -> Result<String> {
    let text = answer.text()?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::invalid_data("the upload answered an empty token").with_service(SERVICE));
    }
    Ok(token.to_string())
}

/// Maps a per-item `google.rpc.Status` inside a 200 answer
/// (`newMediaItemResults[].status`) to an [`Error`]; a message matching
/// one of `storage_full` (lower-case substrings) is `DestinationFull`.
pub(crate) fn rpc_status_error(code: i32, message: &str, storage_full: &[String]) -> Error {
    let lower = message.to_lowercase();
    let storage = storage_full
        .iter()
        .any(|p| !p.is_empty() && lower.contains(p.as_str()));
    let kind = match code {
        _ if storage => ErrorKind::DestinationFull,
        // CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, ABORTED, INTERNAL, UNAVAILABLE
        1 | 2 | 4 | 10 | 13 | 14 => ErrorKind::Transient,
        // INVALID_ARGUMENT, ALREADY_EXISTS, FAILED_PRECONDITION, OUT_OF_RANGE
        3 | 6 | 9 | 11 => ErrorKind::InvalidData,
        5 => ErrorKind::NotFound,
        7 => ErrorKind::PermissionDenied,
        8 => ErrorKind::RateLimited { retry_after: None },
        12 => ErrorKind::Unsupported,
        16 => ErrorKind::Unauthenticated,
        _ => ErrorKind::Internal,
    };
    Error::new(
        kind,
        format!("batchCreate item status {code}: {}", cut(message, 300)),
    )
    .with_service(SERVICE)
}

#[async_trait]
impl Importer<MediaData> for GooglePhotosImporter {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        album: &Album,
    ) -> Result<dtp_core::Imported> {
        async move { self.create_album(auth, &album.title).await }
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
            if let Some(id) = self.recover_uncertain(ctx, auth, item).await? {
                return Ok(id);
            }
            let token = self.upload(ctx, auth, item).await?;
            let albums = Self::albums_of(ctx, item);
            let uploaded = [Uploaded { item, token }];
            let id = self
                .batch_create(auth, albums.first().map(String::as_str), &uploaded)
                .await?
                .pop()
                .unwrap_or_else(|| {
                    Err(Error::internal("batchCreate of one item returned nothing"))
                })?;
            for a in albums.iter().skip(1) {
                self.add_to_album(auth, a, &[id.as_str()]).await?;
            }
            Ok(id)
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
        let title = cut(&album.title, TITLE_MAX);
        let albums = self.list_albums(auth).await?;
        let me = format!("c:{}", album.id);
        let mut claimed = self.claimed();
        let found = albums
            .into_iter()
            .find(|a| a.title == title && claimed.get(&a.id).is_none_or(|who| *who == me));
        Ok(found.map(|a| {
            claimed.insert(a.id.clone(), me);
            a.id
        }))
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &MediaItem,
    ) -> Result<Option<String>> {
        let existing = self.list_items(auth).await?;
        let Some(id) = self.adopt(item, &existing) else {
            return Ok(None);
        };
        // The interrupted run may have stopped between `batchCreate` and
        // the other albums: add them again (adding a member is harmless).
        for a in Self::albums_of(ctx, item).iter().skip(1) {
            self.add_to_album(auth, a, &[id.as_str()]).await?;
        }
        Ok(Some(id))
    }

    /// Batches: containers one by one, then all uploads of the page (at
    /// most [`ImportContext::item_concurrency`] at once), then
    /// `batchCreate` per destination album in groups of 50, then the extra
    /// album memberships.
    async fn import_page(&self, ctx: &ImportContext, page: &ExportPage<MediaData>) -> Result<()> {
        for album in &page.containers {
            let key = ctx.container_key(album.source_id());
            ctx.executor()
                .execute(&key, album.display_name(), || async {
                    if ctx.is_recovering() {
                        let found = ctx
                            .call("find_existing_container", |auth| async move {
                                self.find_existing_container(ctx, &auth, album).await
                            })
                            .await?;
                        if let Some(id) = found {
                            return Ok(id);
                        }
                    }
                    ctx.call("import_container", |auth| async move {
                        self.import_container(ctx, &auth, album).await
                    })
                    .await
                    .map(|made| made.id)
                })
                .await
                .map_err(|e| e.with_item(album.source_id()))?;
        }

        // Items without a result yet (a rerun skips the rest).
        let mut seen = HashSet::new();
        let mut todo: Vec<&MediaItem> = page
            .items
            .iter()
            .filter(|i| seen.insert(i.source_id()))
            .filter(|i| {
                ctx.executor()
                    .lookup(&ctx.item_key(i.source_id()))
                    .is_none()
            })
            .collect();

        // Extra album memberships to add at the end: album → item ids.
        let mut extra: HashMap<String, Vec<String>> = HashMap::new();

        // After a crash: adopt what the interrupted run already created (and
        // add its other albums again: the run may have stopped before).
        if ctx.is_recovering() {
            let existing = ctx
                .call("find_existing_item", |auth| async move {
                    self.list_items(&auth).await
                })
                .await?;
            todo.retain(|item| match self.adopt(item, &existing) {
                Some(id) => {
                    for a in Self::albums_of(ctx, item).into_iter().skip(1) {
                        extra.entry(a).or_default().push(id.clone());
                    }
                    ctx.executor().record(&ctx.item_key(item.source_id()), id);
                    false
                }
                None => true,
            });
        }

        // Upload every item's bytes.
        let futs: Vec<_> = todo
            .into_iter()
            .map(|item| self.upload_one(ctx, item))
            .collect();
        let uploads: Vec<(&MediaItem, Result<String>)> = futures::stream::iter(futs)
            .buffered(ctx.item_concurrency().max(1))
            .collect()
            .await;
        let mut groups: Vec<(Option<String>, Vec<Uploaded<'_>>)> = Vec::new();
        for (item, token) in uploads {
            match token {
                Ok(token) => {
                    let album = Self::albums_of(ctx, item).into_iter().next();
                    match groups.iter_mut().find(|(a, _)| *a == album) {
                        Some((_, list)) => list.push(Uploaded { item, token }),
                        None => groups.push((album, vec![Uploaded { item, token }])),
                    }
                }
                Err(e) if e.is_job_level() => return Err(e.with_item(item.source_id())),
                Err(e) => ctx.executor().record_failure(
                    &ctx.item_key(item.source_id()),
                    item.display_name(),
                    &e,
                ),
            }
        }

        // Create them, 50 at a time, serially (as Google asks).
        for (album, list) in &groups {
            for batch in list.chunks(BATCH_CREATE_MAX) {
                let results = match ctx
                    .call("batch_create", |auth| async move {
                        self.batch_create(&auth, album.as_deref(), batch).await
                    })
                    .await
                {
                    Ok(r) => r,
                    Err(e) if e.is_job_level() => return Err(e),
                    // The whole call was refused for a reason of its items
                    // (400): each item of the batch fails, the job goes on.
                    Err(e) => {
                        for u in batch {
                            ctx.executor().record_failure(
                                &ctx.item_key(u.item.source_id()),
                                u.item.display_name(),
                                &e,
                            );
                        }
                        continue;
                    }
                };
                let mut existing: Option<Vec<wire::MediaItemJson>> = None;
                for (u, r) in batch.iter().zip(results) {
                    let key = ctx.item_key(u.item.source_id());
                    let uncertain = self.uncertain().remove(&u.item.id);
                    let r = match r {
                        // A retried batch whose first answer was lost: the
                        // spent token fails now, the item may exist.
                        Err(e) if uncertain && !e.is_retryable() && !e.is_job_level() => {
                            if existing.is_none() {
                                existing = Some(
                                    ctx.call("find_existing_item", |auth| async move {
                                        self.list_items(&auth).await
                                    })
                                    .await?,
                                );
                            }
                            let found = existing
                                .as_deref()
                                .and_then(|list| self.adopt(u.item, list));
                            match found {
                                Some(id) => Ok((id, false)),
                                None => Err(e),
                            }
                        }
                        // A passing per-item failure: the token may be
                        // spent, so start over for this item alone.
                        Err(e) if e.is_retryable() => {
                            let item = u.item;
                            ctx.call("import_item", |auth| async move {
                                self.import_item(ctx, &auth, item).await
                            })
                            .await
                            .map(|made| (made.id, true))
                        }
                        other => other.map(|id| (id, false)),
                    };
                    match r {
                        Ok((id, albums_done)) => {
                            if !albums_done {
                                for a in Self::albums_of(ctx, u.item).into_iter().skip(1) {
                                    extra.entry(a).or_default().push(id.clone());
                                }
                            }
                            ctx.executor().record(&key, id);
                        }
                        Err(e) if e.is_job_level() => {
                            return Err(e.with_item(u.item.source_id()));
                        }
                        Err(e) => ctx
                            .executor()
                            .record_failure(&key, u.item.display_name(), &e),
                    }
                }
            }
        }
        for (album, ids) in &extra {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            let ids = &ids;
            ctx.call("batch_add_media_items", |auth| async move {
                self.add_to_album(&auth, album, ids).await
            })
            .await?;
        }
        Ok(())
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        let cfg = self.client.config();
        cfg.rate_limits
            .then(|| limits::rate_limit(Api::PhotosLibrary, Side::Import, &cfg.account, 0))
    }
}

/// Collects a byte stream into memory (tests of small fixtures only).
#[doc(hidden)]
pub async fn collect_stream(stream: ByteStream) -> Result<Vec<u8>> {
    stream
        .try_fold(Vec::new(), |mut acc, b| async move {
            acc.extend_from_slice(&b);
            Ok(acc)
        })
        .await
}
