//! WebDAV photos and videos ([`MediaData`]): an album is a folder, a photo
//! or video is a file in it, and what the file cannot hold (title,
//! description, other albums, capture time, location, the source's hash)
//! lives in a JSON sidecar next to it.
//!
//! Layout under the root folder:
//!
//! ```text
//! <root>/<album title>/.dtp-album.json      the album (title, description, …)
//! <root>/<album title>/IMG_0001.jpg         the bytes, streamed
//! <root>/<album title>/IMG_0001.jpg.dtp.json  sidecar: the item, its albums, SHA-256
//! <root>/IMG_0002.jpg                       an item in no album
//! ```
//!
//! The sidecar is written after the file: it marks the upload complete, so a
//! rerun or a resume skips items whose sidecar names the same source item,
//! and re-uploads a file that has none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use async_trait::async_trait;
use bytes::Bytes;
use dtp_core::{
    AuthData, ByteStream, Cursor, Error, ExportContext, ExportPage, Exporter, ImportContext,
    Importer, MediaRef, Result,
};
use dtp_models::media::{Album, MediaData, MediaItem, MediaKind};
use futures::{Stream, StreamExt};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::client::{Body, DavClient, HttpOptions, resolve};
use crate::names::{file_name, short_hash};
use crate::xml::DAV;

const ALBUM_FILE: &str = ".dtp-album.json";
const SIDECAR: &str = ".dtp.json";

/// Configuration of a WebDAV media folder.
///
/// ```
/// use dtp_adapters_dav::WebDavConfig;
/// let cfg = WebDavConfig::new("https://files.example.org/remote.php/dav/files/ada/Photos/").unwrap();
/// assert!(cfg.root().as_str().ends_with("/Photos/"));
/// ```
#[derive(Debug, Clone)]
pub struct WebDavConfig {
    root: Url,
    page_size: usize,
    http: HttpOptions,
}

impl WebDavConfig {
    /// Media under the folder `root` (created on import if missing).
    pub fn new(root: &str) -> Result<Self> {
        let mut root =
            Url::parse(root).map_err(|e| Error::invalid_data(format!("bad WebDAV root: {e}")))?;
        if !root.path().ends_with('/') {
            let p = format!("{}/", root.path());
            root.set_path(&p);
        }
        Ok(WebDavConfig {
            root,
            page_size: 50,
            http: HttpOptions::default(),
        })
    }

    /// The root folder.
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// Files per export page (default 50).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// HTTP client options.
    pub fn with_http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }
}

/// The sidecar stored next to each file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sidecar {
    /// The item as it came from the source (its `album_ids` are source ids).
    item: MediaItem,
    /// The folders (URL paths) of every album the item is in.
    albums: Vec<String>,
    /// SHA-256 of the bytes as uploaded.
    sha256: String,
    /// Length of the bytes as uploaded.
    len: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FolderCursor {
    /// The folder URL.
    f: String,
    /// Files already exported from it.
    o: usize,
}

/// A WebDAV folder of albums of photos and videos. Implements [`Exporter`]
/// and [`Importer`] for [`MediaData`]. Container ids are folder URLs; item
/// ids are file URLs.
pub struct WebDavMedia {
    client: DavClient,
    config: WebDavConfig,
    etags: Mutex<HashMap<String, String>>,
    root_ready: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for WebDavMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebDavMedia")
            .field("root", &self.config.root.as_str())
            .finish_non_exhaustive()
    }
}

/// A child of folder `dir`: a file, or a folder when `folder`.
fn child(dir: &Url, name: &str, folder: bool) -> Result<Url> {
    let mut u = dir.clone();
    {
        let mut segs = u
            .path_segments_mut()
            .map_err(|_| Error::invalid_data("the WebDAV root cannot have children"))?;
        segs.pop_if_empty().push(name);
        if folder {
            segs.push("");
        }
    }
    Ok(u)
}

/// The decoded last segment of a URL path.
fn last_segment(u: &Url) -> String {
    let seg = u
        .path()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    percent_encoding::percent_decode_str(&seg)
        .decode_utf8_lossy()
        .into_owned()
}

fn kind_of(name: &str) -> MediaKind {
    let lower = name.to_ascii_lowercase();
    if [".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".3gp"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        MediaKind::Video
    } else {
        MediaKind::Photo
    }
}

struct Entry {
    url: Url,
    folder: bool,
    len: Option<u64>,
    mime: Option<String>,
    etag: Option<String>,
}

impl WebDavMedia {
    /// A media folder with `config`.
    pub fn new(config: WebDavConfig) -> Result<Self> {
        Ok(WebDavMedia {
            client: DavClient::new("webdav", &config.http)?,
            config,
            etags: Mutex::new(HashMap::new()),
            root_ready: tokio::sync::OnceCell::new(),
        })
    }

    /// The ETag of every file listed so far (path → ETag, quotes removed:
    /// some servers, e.g. WsgiDAV, send them unquoted).
    pub fn etags(&self) -> HashMap<String, String> {
        self.etags.lock().map(|m| m.clone()).unwrap_or_default()
    }

    async fn list(&self, auth: &AuthData, dir: &Url) -> Result<Vec<Entry>> {
        let (answered, ms) = self
            .client
            .propfind(
                auth,
                dir,
                1,
                &[
                    "d:resourcetype",
                    "d:getcontentlength",
                    "d:getcontenttype",
                    "d:getetag",
                ],
            )
            .await?;
        let mut out = Vec::new();
        for r in &ms.responses {
            if r.status.is_some_and(|s| s == 404) {
                continue;
            }
            let url = resolve(&answered, &r.href)?;
            if url.path().trim_end_matches('/') == dir.path().trim_end_matches('/') {
                continue;
            }
            let folder = r
                .prop(DAV, "resourcetype")
                .is_some_and(|p| p.has(DAV, "collection"));
            let etag = r.text(DAV, "getetag").map(|t| {
                t.trim_matches('"')
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .to_string()
            });
            if let (Some(t), Ok(mut m)) = (&etag, self.etags.lock()) {
                m.insert(url.path().to_string(), t.clone());
            }
            out.push(Entry {
                url,
                folder,
                len: r.text(DAV, "getcontentlength").and_then(|l| l.parse().ok()),
                mime: r.text(DAV, "getcontenttype"),
                etag,
            });
        }
        out.sort_by(|a, b| a.url.as_str().cmp(b.url.as_str()));
        Ok(out)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        auth: &AuthData,
        url: &Url,
    ) -> Result<Option<T>> {
        let a = self
            .client
            .send(auth, Method::GET, url, &[], Body::Empty, None)
            .await?;
        if matches!(a.status.as_u16(), 404 | 410) {
            return Ok(None);
        }
        let a = self.client.check(&Method::GET, a)?;
        serde_json::from_slice(&a.body)
            .map(Some)
            .map_err(|e| Error::invalid_data(format!("unreadable sidecar {}: {e}", url.path())))
    }

    async fn put_bytes(&self, auth: &AuthData, url: &Url, json: Bytes) -> Result<()> {
        let a = self
            .client
            .send(
                auth,
                Method::PUT,
                url,
                &[],
                Body::Bytes {
                    content_type: "application/json",
                    bytes: json,
                },
                None,
            )
            .await?;
        self.client.check(&Method::PUT, a).map(|_| ())
    }

    async fn mkcol(&self, auth: &AuthData, url: &Url) -> Result<()> {
        let m = Method::from_bytes(b"MKCOL").expect("valid method");
        let a = self
            .client
            .send(auth, m.clone(), url, &[], Body::Empty, None)
            .await?;
        // 405: exists already.
        if a.status.as_u16() == 405 {
            return Ok(());
        }
        self.client.check(&m, a).map(|_| ())
    }

    async fn ensure_root(&self, ctx: &ImportContext) -> Result<()> {
        self.root_ready
            .get_or_try_init(|| async {
                ctx.call("mkcol", |auth| async move {
                    self.mkcol(&auth, &self.config.root).await
                })
                .await
            })
            .await
            .map(|_| ())
    }

    async fn album_of(&self, auth: &AuthData, folder: &Url) -> Result<Album> {
        let meta: Option<Album> = self
            .get_json(auth, &child(folder, ALBUM_FILE, false)?)
            .await?;
        let mut album = meta.unwrap_or_else(|| Album::new("", last_segment(folder)));
        album.id = folder.path().to_string();
        Ok(album)
    }

    async fn item_of(&self, auth: &AuthData, e: &Entry, with_sidecar: bool) -> Result<MediaItem> {
        let name = last_segment(&e.url);
        let sidecar: Option<Sidecar> = if with_sidecar {
            self.get_json(
                auth,
                &child(&parent(&e.url), &format!("{name}{SIDECAR}"), false)?,
            )
            .await?
        } else {
            None
        };
        let mut item = match sidecar {
            Some(s) => {
                let mut item = s.item;
                item.album_ids = s.albums;
                item
            }
            None => {
                let mut content = MediaRef::new("");
                content.size = e.len;
                content.mime_type = e.mime.clone();
                let mut item = MediaItem::new("", kind_of(&name), name.clone(), content);
                let dir = parent(&e.url);
                if dir.path() != self.config.root.path() {
                    item.album_ids = vec![dir.path().to_string()];
                }
                item
            }
        };
        item.id = e.url.path().to_string();
        item.content.key = e.url.as_str().to_string();
        if item.content.size.is_none() {
            item.content.size = e.len;
        }
        let _ = &e.etag;
        Ok(item)
    }
}

fn parent(u: &Url) -> Url {
    let mut p = u.clone();
    if let Ok(mut segs) = p.path_segments_mut() {
        segs.pop_if_empty().pop().push("");
    }
    p
}

#[async_trait]
impl Exporter<MediaData> for WebDavMedia {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<MediaData>> {
        if cursor.is_root() {
            let entries = self.list(auth, &self.config.root).await?;
            let mut page = ExportPage::new();
            for e in entries.iter().filter(|e| e.folder) {
                page = page.with_container(self.album_of(auth, &e.url).await?);
            }
            for e in entries.iter().filter(|e| e.folder) {
                page = page.with_next(Cursor::new(&FolderCursor {
                    f: e.url.as_str().to_string(),
                    o: 0,
                })?);
            }
            // Files at the root: items in no album.
            page = page.with_next(Cursor::new(&FolderCursor {
                f: self.config.root.as_str().to_string(),
                o: 0,
            })?);
            return Ok(page);
        }
        let fc: FolderCursor = cursor.decode()?;
        let dir = Url::parse(&fc.f).map_err(|e| Error::invalid_data(format!("bad cursor: {e}")))?;
        let entries = self.list(auth, &dir).await?;
        let names: std::collections::HashSet<String> = entries
            .iter()
            .filter(|e| !e.folder)
            .map(|e| last_segment(&e.url))
            .collect();
        let files: Vec<&Entry> = entries
            .iter()
            .filter(|e| {
                let n = last_segment(&e.url);
                !e.folder && !n.ends_with(SIDECAR) && n != ALBUM_FILE
            })
            .collect();
        let mut page = ExportPage::new();
        let end = (fc.o + self.config.page_size).min(files.len());
        for e in files.iter().skip(fc.o).take(end.saturating_sub(fc.o)) {
            let has_sidecar = names.contains(&format!("{}{SIDECAR}", last_segment(&e.url)));
            page = page.with_item(self.item_of(auth, e, has_sidecar).await?);
        }
        if end < files.len() {
            page = page.with_next(Cursor::new(&FolderCursor { f: fc.f, o: end })?);
        }
        Ok(page)
    }

    async fn open_media(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        media: &MediaRef,
    ) -> Result<ByteStream> {
        let url = Url::parse(&media.key)
            .map_err(|e| Error::invalid_data(format!("bad media key: {e}")))?;
        let (_, stream) = self.client.get_stream(auth, &url).await?;
        Ok(match &media.sha256 {
            Some(want) => Box::pin(Verify::new(stream, want.clone(), media.key.clone())),
            None => stream,
        })
    }
}

/// Passes bytes through while hashing them; fails at the end when the
/// SHA-256 is not the expected one.
struct Verify {
    inner: ByteStream,
    hasher: Option<Sha256>,
    want: String,
    what: String,
}

impl Verify {
    fn new(inner: ByteStream, want: String, what: String) -> Self {
        Verify {
            inner,
            hasher: Some(Sha256::new()),
            want: want.to_ascii_lowercase(),
            what,
        }
    }
}

impl Stream for Verify {
    type Item = Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(b))) => {
                if let Some(h) = self.hasher.as_mut() {
                    h.update(&b);
                }
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(None) => match self.hasher.take() {
                Some(h) => {
                    let got = hex::encode(h.finalize());
                    if got == self.want {
                        Poll::Ready(None)
                    } else {
                        Poll::Ready(Some(Err(Error::invalid_data(format!(
                            "SHA-256 of `{}` is {got}, expected {}",
                            self.what, self.want
                        )))))
                    }
                }
                None => Poll::Ready(None),
            },
            other => other,
        }
    }
}

/// Counts and hashes bytes as they stream out to the server.
struct Tally {
    hasher: Sha256,
    len: u64,
}

#[async_trait]
impl Importer<MediaData> for WebDavMedia {
    async fn import_container(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        album: &Album,
    ) -> Result<dtp_core::Imported> {
        async move {
            self.ensure_root(ctx).await?;
            let folder = child(&self.config.root, &file_name(&album.title), true)?;
            let json = Bytes::from(serde_json::to_vec(album)?);
            let (folder_ref, json_ref) = (&folder, &json);
            ctx.call("create_album", |auth| async move {
                self.mkcol(&auth, folder_ref).await?;
                self.put_bytes(
                    &auth,
                    &child(folder_ref, ALBUM_FILE, false)?,
                    json_ref.clone(),
                )
                .await
            })
            .await?;
            Ok(folder.to_string())
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        item: &MediaItem,
    ) -> Result<dtp_core::Imported> {
        async move {
        self.ensure_root(ctx).await?;
        let mut albums = Vec::new();
        for a in &item.album_ids {
            let id = ctx.require_container(a)?;
            albums
                .push(Url::parse(&id).map_err(|e| Error::internal(format!("bad album id: {e}")))?);
        }
        let dir = albums
            .first()
            .cloned()
            .unwrap_or_else(|| self.config.root.clone());
        // The stable name: the file name, or with a short hash of the
        // source id when another item holds it.
        let mut name = file_name(&item.filename);
        for attempt in 0..2 {
            let sidecar_url = child(&dir, &format!("{name}{SIDECAR}"), false)?;
            let existing: Option<Sidecar> = ctx
                .call("get_sidecar", |auth| {
                    let u = sidecar_url.clone();
                    async move { self.get_json(&auth, &u).await }
                })
                .await?;
            match existing {
                Some(s) if s.item.id == item.id => {
                    return Ok(child(&dir, &name, false)?.to_string());
                }
                Some(_) if attempt == 0 => {
                    name = format!("{}-{}", short_hash(&item.id, 8), file_name(&item.filename));
                }
                _ => break,
            }
        }
        let file = child(&dir, &name, false)?;
        let tally = Arc::new(Mutex::new(Tally {
            hasher: Sha256::new(),
            len: 0,
        }));
        let content_type = item
            .content
            .mime_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".to_string());
        {
            let (file_ref, tally_ref, ct) = (&file, &tally, &content_type);
            ctx.call("upload", |auth| async move {
                if let Ok(mut t) = tally_ref.lock() {
                    *t = Tally {
                        hasher: Sha256::new(),
                        len: 0,
                    };
                }
                let source = ctx.open_media(&item.content).await?;
                let t2 = tally_ref.clone();
                let counted = source.map(move |chunk| {
                    if let (Ok(b), Ok(mut t)) = (&chunk, t2.lock()) {
                        t.hasher.update(b);
                        t.len += b.len() as u64;
                    }
                    chunk
                });
                let a = self
                    .client
                    .send(
                        &auth,
                        Method::PUT,
                        file_ref,
                        &[],
                        Body::Stream {
                            content_type: ct.clone(),
                            len: None,
                            stream: Box::pin(counted),
                        },
                        None,
                    )
                    .await?;
                self.client.check(&Method::PUT, a).map(|_| ())
            })
            .await
            .map_err(|e| e.with_item(item.id.clone()))?;
        }
        let (sha, len) = {
            let t = tally
                .lock()
                .map_err(|_| Error::internal("hash state poisoned"))?;
            (hex::encode(t.hasher.clone().finalize()), t.len)
        };
        let wrong = item
            .content
            .sha256
            .as_ref()
            .is_some_and(|want| !want.eq_ignore_ascii_case(&sha))
            || item.content.size.is_some_and(|s| s != len);
        if wrong {
            return Err(Error::invalid_data(format!(
                "the bytes of `{}` do not match the source's size or SHA-256 (got {len} bytes, {sha})",
                item.filename
            ))
            .with_item(item.id.clone()));
        }
        let sidecar = Sidecar {
            item: item.clone(),
            albums: albums.iter().map(|u| u.path().to_string()).collect(),
            sha256: sha,
            len,
        };
        let json = Bytes::from(serde_json::to_vec(&sidecar)?);
        let sidecar_url = child(&dir, &format!("{name}{SIDECAR}"), false)?;
        let (u, j) = (&sidecar_url, &json);
        ctx.call("put_sidecar", |auth| async move {
            self.put_bytes(&auth, u, j.clone()).await
        })
        .await?;
        Ok(file.to_string())
    }
        .await
        .map(dtp_core::Imported::from)
    }
}
