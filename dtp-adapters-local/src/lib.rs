//! The portable archive: a folder on disk, in standard formats that other
//! software opens without dtp, that dtp-rs can export from and import into.
//!
//! ```text
//! archive/
//!   manifest.json                      schema versions, counts, SHA-256 of every media file,
//!                                      container records (names, descriptions, mail roles)
//!   photos/<album>/<original file>     photos and videos, bytes as they came
//!   photos/<album>/<file>.json         sidecar: title, description, capture time, albums,
//!                                      favourite, geo (a versioned dtp.media record)
//!   contacts/<address book>.vcf        vCard 4.0, one file per address book
//!   calendars/<calendar>.ics           iCalendar, one VCALENDAR per calendar
//!   tasks/<task list>.ics              iCalendar VTODOs (subtasks by RELATED-TO)
//!   mail/<folder>/{cur,new,tmp}/       Maildir, flags in file names (`:2,FRS`),
//!                                      keywords in `dovecot-keywords`
//! ```
//!
//! Import is idempotent, also across jobs: media files are matched by
//! content hash, contacts/events/tasks by UID (or content when they have
//! none), messages by a content-derived Maildir name. Every file is written
//! atomically (temporary file + rename or hard link), and a different
//! existing file is never replaced: a conflicting record fails as
//! `invalid_data` with the reason. Media bytes are streamed both ways.
//!
//! ```no_run
//! # async fn demo() -> dtp_core::Result<()> {
//! use std::sync::Arc;
//! use dtp_adapters_local::LocalArchive;
//! use dtp_models::contacts::ContactsData;
//! let source = LocalArchive::open_source("examples/data/sample")?;
//! let dest = LocalArchive::open_destination("./dtp-out")?;
//! let transfer = dtp_core::Transfer::<ContactsData>::new(Arc::new(source), Arc::new(dest.clone()));
//! // … run it with a TransferDriver, then:
//! dest.finish()?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod contacts;
mod fsutil;
mod ics;
mod maildir;
pub mod manifest;
mod media;
mod service;

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_core::{
    AuthData, ByteStream, Cursor, DataModel, DataType, Error, ExportContext, ExportPage, Exporter,
    ImportContext, ImportStatus, Imported, Importer, MediaRef, Result,
};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::MailData;
use dtp_models::media::MediaData;
use dtp_models::schema::Versioned;
use dtp_models::tasks::TasksData;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

pub use manifest::{MANIFEST_FILE, Manifest, MediaEntry, TypeCount};
pub use service::LocalService;

use fsutil::io_error;

/// Items per exported page.
const PAGE_SIZE: usize = 100;

/// What an importer did to the archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImportStats {
    /// Items written as new files or entries.
    pub written: u64,
    /// Items that were already in the archive (nothing written).
    pub already_present: u64,
    /// Media bytes written.
    pub bytes_written: u64,
}

/// Top-level folder of each data type.
pub fn type_folder(data_type: DataType) -> &'static str {
    match data_type {
        DataType::Media => "photos",
        DataType::Contacts => "contacts",
        DataType::Calendar => "calendars",
        DataType::Tasks => "tasks",
        DataType::Mail => "mail",
        _ => "other",
    }
}

/// A portable archive folder: an [`Exporter`] and [`Importer`] for every
/// data type. Cheap to clone (clones share state).
#[derive(Clone)]
pub struct LocalArchive {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalArchive")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

type Shared<T> = Arc<tokio::sync::Mutex<Option<T>>>;

pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    containers: Mutex<BTreeMap<String, serde_json::Value>>,
    manifest: Mutex<Manifest>,
    dirty: AtomicBool,
    locks: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
    index: Mutex<HashMap<DataType, Arc<dyn Any + Send + Sync>>>,
    written: AtomicU64,
    present: AtomicU64,
    bytes: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.dirty.load(Ordering::SeqCst)
            && let Err(e) = write_manifest(self)
        {
            tracing::warn!(error = %e, "could not write the archive manifest");
        }
    }
}

/// An index of one data type, built by scanning the archive.
pub(crate) struct Index<M: DataModel> {
    pub(crate) containers: Vec<M::Container>,
    pub(crate) items: Vec<M::Item>,
}

#[derive(Serialize, Deserialize)]
struct PageCursor {
    o: usize,
}

impl LocalArchive {
    /// An archive to read: `path` must be an existing folder.
    pub fn open_source(path: impl AsRef<Path>) -> Result<Self> {
        let root = path.as_ref().to_path_buf();
        match std::fs::metadata(&root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::invalid_data(format!(
                    "{} is a file, not an archive folder",
                    root.display()
                )));
            }
            Err(e) => return Err(io_error(e, format!("no archive at {}", root.display()))),
        }
        Self::new(root)
    }

    /// An archive to write into: `path` is created if missing.
    pub fn open_destination(path: impl AsRef<Path>) -> Result<Self> {
        let root = path.as_ref().to_path_buf();
        if root.exists() && !root.is_dir() {
            return Err(Error::invalid_data(format!(
                "{} is a file, not an archive folder",
                root.display()
            )));
        }
        std::fs::create_dir_all(&root).map_err(|e| io_error(e, root.display()))?;
        Self::new(root)
    }

    fn new(root: PathBuf) -> Result<Self> {
        let manifest_path = root.join(MANIFEST_FILE);
        let manifest = match std::fs::read(&manifest_path) {
            Ok(bytes) => serde_json::from_slice::<Manifest>(&bytes).map_err(|e| {
                Error::invalid_data(format!("{} is not readable: {e}", manifest_path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => return Err(io_error(e, manifest_path.display())),
        };
        Ok(LocalArchive {
            inner: Arc::new(Inner {
                root,
                containers: Mutex::new(manifest.containers.clone()),
                manifest: Mutex::new(manifest),
                dirty: AtomicBool::new(false),
                locks: Mutex::new(HashMap::new()),
                index: Mutex::new(HashMap::new()),
                written: AtomicU64::new(0),
                present: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
            }),
        })
    }

    /// The archive folder.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// What imports into this archive did so far.
    pub fn stats(&self) -> ImportStats {
        ImportStats {
            written: self.inner.written.load(Ordering::SeqCst),
            already_present: self.inner.present.load(Ordering::SeqCst),
            bytes_written: self.inner.bytes.load(Ordering::SeqCst),
        }
    }

    /// Rewrites `manifest.json` from what the archive holds now (counts and
    /// media hashes by scanning). Called after an import; also done when the
    /// last clone is dropped.
    pub fn finish(&self) -> Result<Manifest> {
        remove_stale_temps(&self.inner.root, std::time::Duration::from_secs(15 * 60));
        let m = write_manifest(&self.inner)?;
        self.inner.dirty.store(false, Ordering::SeqCst);
        Ok(m)
    }

    /// The manifest as last written or read.
    pub fn manifest(&self) -> Manifest {
        lock(&self.inner.manifest).clone()
    }

    /// Counts a record written anew.
    pub(crate) fn note_written(&self, bytes: u64) -> ImportStatus {
        self.inner.written.fetch_add(1, Ordering::SeqCst);
        self.inner.bytes.fetch_add(bytes, Ordering::SeqCst);
        self.inner.dirty.store(true, Ordering::SeqCst);
        ImportStatus::Created
    }

    /// Counts a record found already in the archive, equal.
    pub(crate) fn note_present(&self) -> ImportStatus {
        self.inner.present.fetch_add(1, Ordering::SeqCst);
        self.inner.dirty.store(true, Ordering::SeqCst);
        ImportStatus::AlreadyThere
    }

    pub(crate) fn path(&self, rel: &str) -> Result<PathBuf> {
        fsutil::resolve(&self.inner.root, rel)
    }

    pub(crate) fn rel(&self, path: &Path) -> String {
        fsutil::rel_of(&self.inner.root, path)
    }

    /// A per-key async lock holding `T` (loaded lazily).
    pub(crate) fn state<T: Send + 'static>(&self, key: &str) -> Shared<T> {
        let mut locks = lock(&self.inner.locks);
        let entry = locks
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(None::<T>)) as Arc<dyn Any + Send + Sync>
            })
            .clone();
        drop(locks);
        match entry.downcast::<tokio::sync::Mutex<Option<T>>>() {
            Ok(s) => s,
            // A key is only ever used with one state type.
            Err(_) => Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// The stored record of a container, when the manifest has one.
    pub(crate) fn container_record<T: Versioned + serde::de::DeserializeOwned>(
        &self,
        rel: &str,
    ) -> Option<T> {
        let v = lock(&self.inner.containers).get(rel).cloned()?;
        T::from_versioned_json(&v.to_string()).ok()
    }

    /// Records a container and writes the manifest.
    pub(crate) fn remember_container<T: Versioned>(&self, rel: &str, record: &T) -> Result<()> {
        {
            let mut cs = lock(&self.inner.containers);
            if cs.contains_key(rel) {
                return Ok(());
            }
            // Our own records always serialize: a failure is a bug, kept
            // with its source.
            let json = record
                .to_versioned_json()
                .map_err(|e| Error::internal("container record").with_source(e))?;
            let v: serde_json::Value = serde_json::from_str(&json)
                .map_err(|e| Error::internal("container record").with_source(e))?;
            cs.insert(rel.to_string(), v);
        }
        self.inner.dirty.store(true, Ordering::SeqCst);
        // Containers are few: keep their records on disk at once (counts and
        // hashes are refreshed by `finish`).
        let mut m = lock(&self.inner.manifest).clone();
        m.containers = lock(&self.inner.containers).clone();
        save_manifest(&self.inner.root, &m)?;
        *lock(&self.inner.manifest) = m;
        Ok(())
    }

    fn cached_index<M: LocalModel>(&self, rebuild: bool) -> Result<Arc<Index<M>>> {
        if !rebuild
            && let Some(any) = lock(&self.inner.index).get(&M::DATA_TYPE).cloned()
            && let Ok(ix) = any.downcast::<Index<M>>()
        {
            return Ok(ix);
        }
        if let Ok(bytes) = std::fs::read(self.inner.root.join(MANIFEST_FILE))
            && let Ok(m) = serde_json::from_slice::<Manifest>(&bytes)
        {
            // Another process (or value) may have written since we opened.
            lock(&self.inner.containers).extend(m.containers);
        }
        let ix = Arc::new(M::scan(self)?);
        lock(&self.inner.index).insert(M::DATA_TYPE, ix.clone());
        Ok(ix)
    }

    async fn export_page<M: LocalModel>(&self, cursor: &Cursor) -> Result<ExportPage<M>> {
        let (offset, root) = if cursor.is_root() {
            (0, true)
        } else {
            (cursor.decode::<PageCursor>()?.o, false)
        };
        let this = self.clone();
        let ix = tokio::task::spawn_blocking(move || this.cached_index::<M>(root))
            .await
            .map_err(|e| Error::internal(format!("archive scan: {e}")))??;
        let mut page = ExportPage::<M>::new();
        if offset == 0 {
            for c in &ix.containers {
                page = page.with_container(c.clone());
            }
        }
        let end = (offset + PAGE_SIZE).min(ix.items.len());
        for item in ix.items.get(offset..end).unwrap_or_default() {
            page = page.with_item(item.clone());
        }
        if end < ix.items.len() {
            page = page.with_next(Cursor::new(&PageCursor { o: end })?);
        }
        Ok(page)
    }

    async fn open_file(&self, ctx: &ExportContext, media: &MediaRef) -> Result<ByteStream> {
        let path = self.path(&media.key)?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| io_error(e, format!("{} in the archive", media.key)))?;
        let key = media.key.clone();
        let cancel = ctx.cancellation().clone();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024)
            .take_until(cancel.cancelled_owned())
            .map(move |r| r.map_err(|e| io_error(e, &key)));
        Ok(Box::pin(stream))
    }
}

/// Removes temporary files a killed run left behind (not written to for
/// `age`: a live writer touches its file all the time). They never counted
/// as done; this only reclaims their space.
fn remove_stale_temps(dir: &Path, age: std::time::Duration) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            remove_stale_temps(&path, age);
        } else if entry
            .file_name()
            .to_string_lossy()
            .starts_with(fsutil::TMP_PREFIX)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|e| e > age)
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn save_manifest(root: &Path, m: &Manifest) -> Result<()> {
    let text =
        serde_json::to_vec_pretty(m).map_err(|e| Error::internal(format!("manifest: {e}")))?;
    fsutil::atomic_write(&root.join(MANIFEST_FILE), &text)
}

fn write_manifest(inner: &Inner) -> Result<Manifest> {
    // A throwaway archive value over the same folder, for scanning.
    let archive = LocalArchive {
        inner: Arc::new(Inner {
            root: inner.root.clone(),
            containers: Mutex::new(lock(&inner.containers).clone()),
            manifest: Mutex::new(Manifest::default()),
            dirty: AtomicBool::new(false),
            locks: Mutex::new(HashMap::new()),
            index: Mutex::new(HashMap::new()),
            written: AtomicU64::new(0),
            present: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }),
    };
    let mut m = Manifest {
        containers: lock(&inner.containers).clone(),
        ..Manifest::default()
    };
    fn count<M: LocalModel>(a: &LocalArchive, m: &mut Manifest) -> Result<Arc<Index<M>>> {
        let ix = Arc::new(M::scan(a)?);
        m.counts.insert(
            M::DATA_TYPE.as_str().to_string(),
            TypeCount {
                containers: ix.containers.len() as u64,
                items: ix.items.len() as u64,
            },
        );
        Ok(ix)
    }
    let media = count::<MediaData>(&archive, &mut m)?;
    count::<ContactsData>(&archive, &mut m)?;
    count::<CalendarData>(&archive, &mut m)?;
    count::<TasksData>(&archive, &mut m)?;
    count::<MailData>(&archive, &mut m)?;
    for item in &media.items {
        let key = &item.content.key;
        let (sha256, size) = match (&item.content.sha256, item.content.size) {
            (Some(h), Some(n)) => (h.clone(), n),
            _ => {
                let p = archive.path(key)?;
                fsutil::hash_file(&p).map_err(|e| io_error(e, key))?
            }
        };
        m.media.insert(key.clone(), MediaEntry { sha256, size });
    }
    // Nothing in it was written: an empty archive gets no manifest.
    let empty = m.counts.values().all(|c| c.containers == 0 && c.items == 0);
    if !empty || inner.root.join(MANIFEST_FILE).exists() {
        save_manifest(&inner.root, &m)?;
    }
    drop(archive);
    *lock(&inner.manifest) = m.clone();
    Ok(m)
}

/// A data model the archive stores (every one).
pub(crate) trait LocalModel: DataModel {
    /// Scans the archive for this data type.
    fn scan(archive: &LocalArchive) -> Result<Index<Self>>
    where
        Self: Sized;
}

macro_rules! local_model {
    ($m:ty, $scan:path, $ic:ident, $ii:ident) => {
        impl LocalModel for $m {
            fn scan(archive: &LocalArchive) -> Result<Index<Self>> {
                $scan(archive)
            }
        }

        #[async_trait]
        impl Exporter<$m> for LocalArchive {
            async fn export(
                &self,
                _ctx: &ExportContext,
                _auth: &AuthData,
                cursor: &Cursor,
            ) -> Result<ExportPage<$m>> {
                self.export_page::<$m>(cursor).await
            }

            async fn open_media(
                &self,
                ctx: &ExportContext,
                _auth: &AuthData,
                media: &MediaRef,
            ) -> Result<ByteStream> {
                self.open_file(ctx, media).await
            }
        }

        #[async_trait]
        impl Importer<$m> for LocalArchive {
            async fn import_container(
                &self,
                _ctx: &ImportContext,
                _auth: &AuthData,
                container: &<$m as DataModel>::Container,
            ) -> Result<Imported> {
                self.$ic(container).map(Imported::from)
            }

            async fn import_item(
                &self,
                ctx: &ImportContext,
                _auth: &AuthData,
                item: &<$m as DataModel>::Item,
            ) -> Result<Imported> {
                self.$ii(ctx, item).await
            }
        }
    };
}

local_model!(MediaData, media::scan, import_album, import_media_item);
local_model!(
    ContactsData,
    contacts::scan,
    import_address_book,
    import_contact
);
local_model!(
    CalendarData,
    ics::scan_calendars,
    import_calendar,
    import_event
);
local_model!(
    TasksData,
    ics::scan_task_lists,
    import_task_list,
    import_task
);
local_model!(MailData, maildir::scan, import_folder, import_message);

/// Removes a temporary file when dropped, unless disarmed.
pub(crate) struct TempFile(pub(crate) Option<PathBuf>);

impl TempFile {
    pub(crate) fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Streams `stream` into a new temporary file in `dir`; returns it with the
/// SHA-256 and length of what was written.
pub(crate) async fn stream_to_temp(
    mut stream: ByteStream,
    dir: &Path,
) -> Result<(TempFile, String, u64)> {
    use sha2::Digest;
    use tokio::io::AsyncWriteExt;
    std::fs::create_dir_all(dir).map_err(|e| io_error(e, dir.display()))?;
    let tmp = TempFile(Some(fsutil::temp_path_in(dir)));
    let mut f = tokio::fs::File::create(tmp.path())
        .await
        .map_err(|e| io_error(e, dir.display()))?;
    let mut h = sha2::Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        h.update(&chunk);
        n += chunk.len() as u64;
        f.write_all(&chunk)
            .await
            .map_err(|e| io_error(e, dir.display()))?;
    }
    f.flush().await.map_err(|e| io_error(e, dir.display()))?;
    f.sync_all().await.map_err(|e| io_error(e, dir.display()))?;
    Ok((tmp, hex::encode(h.finalize()), n))
}
