//! The traits an adapter implements: [`Exporter`] and [`Importer`], one pair
//! per data model, plus the page and context types they exchange with the
//! driver.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use tokio_util::sync::CancellationToken;

use crate::executor::{IdempotentExecutor, ImportKey};
use crate::ratelimit::RateLimit;
use crate::store::JobId;
use crate::{AuthData, Cursor, DataModel, DataType, Error, MediaRef, Result};

/// Bytes of a photo, video or large message, as a stream of chunks. Never one
/// whole buffer.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send + 'static>>;

/// One page of an export: containers and items, plus the cursors still to
/// visit (the next page of the same container, and sub-containers).
///
/// Containers must appear in a page no later than their first item.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExportPage<M: DataModel> {
    /// Containers on this page.
    pub containers: Vec<M::Container>,
    /// Items on this page.
    pub items: Vec<M::Item>,
    /// Cursors still to visit.
    pub next: Vec<Cursor>,
}

impl<M: DataModel> Default for ExportPage<M> {
    fn default() -> Self {
        ExportPage {
            containers: Vec::new(),
            items: Vec::new(),
            next: Vec::new(),
        }
    }
}

impl<M: DataModel> ExportPage<M> {
    /// An empty page.
    pub fn new() -> Self {
        Self::default()
    }

    /// A page of items and containers with no further cursors.
    pub fn of(containers: Vec<M::Container>, items: Vec<M::Item>) -> Self {
        ExportPage {
            containers,
            items,
            next: Vec::new(),
        }
    }

    /// Adds a container.
    pub fn with_container(mut self, container: M::Container) -> Self {
        self.containers.push(container);
        self
    }

    /// Adds an item.
    pub fn with_item(mut self, item: M::Item) -> Self {
        self.items.push(item);
        self
    }

    /// Adds a cursor to visit later.
    pub fn with_next(mut self, cursor: Cursor) -> Self {
        self.next.push(cursor);
        self
    }
}

/// What an exporter learns about the run it serves.
#[derive(Debug, Clone)]
pub struct ExportContext {
    pub(crate) job_id: JobId,
    pub(crate) data_type: DataType,
    pub(crate) cancel: CancellationToken,
}

impl ExportContext {
    /// A context outside any driver run (for unit tests of an exporter).
    pub fn detached(data_type: DataType) -> Self {
        ExportContext {
            job_id: JobId::random(),
            data_type,
            cancel: CancellationToken::new(),
        }
    }

    /// The job being run.
    pub fn job_id(&self) -> &JobId {
        &self.job_id
    }

    /// The data type being exported.
    pub fn data_type(&self) -> DataType {
        self.data_type
    }

    /// Fires when the run is cancelled; long operations should watch it.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }
}

/// Reads one data type from a service, page by page.
///
/// ```
/// use async_trait::async_trait;
/// use dtp_core::{AuthData, Cursor, ExportContext, ExportPage, Exporter, Result};
/// use dtp_models::tasks::{Task, TaskList, TasksData};
///
/// struct OneList;
///
/// #[async_trait]
/// impl Exporter<TasksData> for OneList {
///     async fn export(&self, _ctx: &ExportContext, _auth: &AuthData, cursor: &Cursor) -> Result<ExportPage<TasksData>> {
///         assert!(cursor.is_root());
///         Ok(ExportPage::new()
///             .with_container(TaskList::new("l1", "Chores"))
///             .with_item(Task::new("t1", "l1", "Water the plants")))
///     }
/// }
/// ```
#[async_trait]
pub trait Exporter<M: DataModel>: Send + Sync {
    /// Exports the page at `cursor` ([`Cursor::root`] first).
    async fn export(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<M>>;

    /// Opens the bytes behind a [`MediaRef`] this exporter produced.
    async fn open_media(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        media: &MediaRef,
    ) -> Result<ByteStream> {
        let _ = (ctx, auth);
        Err(Error::unsupported(format!(
            "this exporter has no media bytes (asked for `{}`)",
            media.key
        )))
    }

    /// The request rate this exporter's service allows, if it must be kept.
    fn rate_limit(&self) -> Option<RateLimit> {
        None
    }
}

/// Writes one data type into a service.
///
/// Implement [`import_container`](Importer::import_container) and
/// [`import_item`](Importer::import_item); the driver calls each at most once
/// per source record (idempotently, with retries and bounded concurrency).
/// Implement the `find_existing_*` hooks when the destination can tell whether
/// a record is already there (a UID, a Message-ID, a stored source id): after a
/// crash they make the page that was in flight exactly-once. Override
/// [`import_page`](Importer::import_page) to batch.
#[async_trait]
pub trait Importer<M: DataModel>: Send + Sync {
    /// Creates a container; returns its id at the destination.
    async fn import_container(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        container: &M::Container,
    ) -> Result<String>;

    /// Creates an item; returns its id at the destination. Look the
    /// destination container up with [`ImportContext::container_id`].
    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &M::Item,
    ) -> Result<String>;

    /// Finds a container created by an earlier, interrupted run.
    async fn find_existing_container(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        container: &M::Container,
    ) -> Result<Option<String>> {
        let _ = (ctx, auth, container);
        Ok(None)
    }

    /// Finds an item created by an earlier, interrupted run.
    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &M::Item,
    ) -> Result<Option<String>> {
        let _ = (ctx, auth, item);
        Ok(None)
    }

    /// Imports one page: containers first, then items with at most
    /// [`ImportContext::item_concurrency`] in flight. The default does this
    /// through the idempotent executor; batching importers override it.
    async fn import_page(&self, ctx: &ImportContext, page: &ExportPage<M>) -> Result<()> {
        crate::driver::import_page_default(self, ctx, page).await
    }

    /// The request rate this importer's service allows, if it must be kept.
    fn rate_limit(&self) -> Option<RateLimit> {
        None
    }
}

/// Opens media bytes on behalf of an importer (the driver wires it to the
/// exporter of the same run).
#[async_trait]
pub(crate) trait MediaSource: Send + Sync {
    async fn open(&self, media: &MediaRef) -> Result<ByteStream>;
}

/// What an importer gets from the driver: the idempotent executor, lookups of
/// already-imported records, media bytes, retries.
pub struct ImportContext {
    pub(crate) run: Arc<crate::driver::RunShared>,
    pub(crate) executor: IdempotentExecutor,
    pub(crate) media: Arc<dyn MediaSource>,
    pub(crate) recovering: bool,
}

impl std::fmt::Debug for ImportContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportContext")
            .field("job_id", &self.run.job_id)
            .field("data_type", &self.run.data_type)
            .field("recovering", &self.recovering)
            .finish_non_exhaustive()
    }
}

impl ImportContext {
    /// The job being run.
    pub fn job_id(&self) -> &JobId {
        &self.run.job_id
    }

    /// The data type being imported.
    pub fn data_type(&self) -> DataType {
        self.run.data_type
    }

    /// The idempotent executor of this run.
    pub fn executor(&self) -> &IdempotentExecutor {
        &self.executor
    }

    /// How many items may be imported at once.
    pub fn item_concurrency(&self) -> usize {
        self.run.options.item_concurrency
    }

    /// Whether this page may have been partly imported by a run that crashed:
    /// importers should look for existing records before creating new ones.
    pub fn is_recovering(&self) -> bool {
        self.recovering
    }

    /// Fires when the run is cancelled.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.run.options.cancel
    }

    /// The idempotency key of a container of this data type.
    pub fn container_key(&self, source_id: &str) -> ImportKey {
        ImportKey::container(self.run.data_type, source_id)
    }

    /// The idempotency key of an item of this data type.
    pub fn item_key(&self, source_id: &str) -> ImportKey {
        ImportKey::item(self.run.data_type, source_id)
    }

    /// The destination id of an imported container, by its source id.
    pub fn container_id(&self, source_id: &str) -> Option<String> {
        self.executor.container_result(source_id)
    }

    /// The destination id of an imported item (e.g. a parent task), by its
    /// source id; asks the job store if it was imported on an earlier page.
    pub async fn item_id(&self, source_id: &str) -> Result<Option<String>> {
        self.executor.lookup_stored(&self.item_key(source_id)).await
    }

    /// Saves state of a record still in flight (e.g. the URL of a resumable
    /// upload session) under `source_id`, in the job store at once, so that
    /// a run resumed after a crash finds it with
    /// [`load_progress`](Self::load_progress). Fails with `Unsupported` if
    /// the store cannot write outside a checkpoint.
    pub async fn save_progress(&self, source_id: &str, value: &str) -> Result<()> {
        let key = self.progress_key(source_id);
        self.run
            .store
            .put_result(&self.run.job_id, &key, value)
            .await
    }

    /// State saved by [`save_progress`](Self::save_progress) for
    /// `source_id`, by this run or an earlier run of the same job.
    pub async fn load_progress(&self, source_id: &str) -> Result<Option<String>> {
        let key = self.progress_key(source_id);
        let mut found = self
            .run
            .store
            .results(&self.run.job_id, std::slice::from_ref(&key))
            .await?;
        Ok(found.remove(&key))
    }

    fn progress_key(&self, source_id: &str) -> String {
        format!("{}/p/{source_id}", self.run.data_type.as_str())
    }

    /// Streams the bytes behind `media` from the source.
    pub async fn open_media(&self, media: &MediaRef) -> Result<ByteStream> {
        self.media.open(media).await
    }

    /// Runs one call to the destination with the driver's rate limit, retries
    /// (honouring `Retry-After`) and one token refresh on `Unauthenticated`.
    /// `call` receives the current credentials on every attempt.
    pub async fn call<T, F, Fut>(&self, operation: &'static str, call: F) -> Result<T>
    where
        F: FnMut(Arc<AuthData>) -> Fut + Send,
        Fut: std::future::Future<Output = Result<T>> + Send,
        T: Send,
    {
        crate::driver::call_with_retry(&self.run, &self.run.import_side, operation, call).await
    }
}
