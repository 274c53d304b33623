//! The traits an adapter implements: [`Exporter`] and [`Importer`], one pair
//! per data model, plus the page and context types they exchange with the
//! driver.

use std::collections::HashSet;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::byte_stream::ByteStream;
use crate::driver::context::ImportContext;
use crate::ratelimit::RateLimit;
use crate::store::JobId;
use crate::window::try_for_each_in_window;
use crate::{AuthData, Cursor, DataModel, DataType, Error, MediaRef, Record, Result};

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
        import_page_default(self, ctx, page).await
    }

    /// The request rate this importer's service allows, if it must be kept.
    fn rate_limit(&self) -> Option<RateLimit> {
        None
    }
}

/// The default page import: containers in order, then items with at most
/// [`ImportContext::item_concurrency`] in flight, each through the idempotent
/// executor (with recovery lookups after a resume, retries and rate limits).
///
/// An importer that overrides [`Importer::import_page`] (say, to prepare a
/// batch) can call this for the part it does not handle itself.
pub async fn import_page_default<M, I>(
    importer: &I,
    ctx: &ImportContext,
    page: &ExportPage<M>,
) -> Result<()>
where
    M: DataModel,
    I: Importer<M> + ?Sized,
{
    for container in &page.containers {
        let key = ctx.container_key(container.source_id());
        ctx.executor
            .execute(&key, container.display_name(), || async {
                if ctx.is_recovering() {
                    let found = ctx
                        .call("find_existing_container", |auth| async move {
                            importer
                                .find_existing_container(ctx, &auth, container)
                                .await
                        })
                        .await?;
                    if let Some(id) = found {
                        return Ok(id);
                    }
                }
                ctx.call("import_container", |auth| async move {
                    importer.import_container(ctx, &auth, container).await
                })
                .await
            })
            .await
            .map_err(|e| e.with_item(container.source_id()))?;
    }
    let mut seen: HashSet<&str, crate::executor::FastHash> =
        HashSet::with_capacity_and_hasher(page.items.len(), Default::default());
    let unique: Vec<&M::Item> = page
        .items
        .iter()
        .filter(|i| seen.insert(i.source_id()))
        .collect();
    drop(seen);
    try_for_each_in_window(unique, ctx.item_concurrency(), |item| async move {
        ctx.executor
            .execute_item(item.source_id(), item.display_name(), || async {
                if ctx.is_recovering() {
                    let found = ctx
                        .call("find_existing_item", |auth| async move {
                            importer.find_existing_item(ctx, &auth, item).await
                        })
                        .await?;
                    if let Some(id) = found {
                        return Ok(id);
                    }
                }
                ctx.call("import_item", |auth| async move {
                    importer.import_item(ctx, &auth, item).await
                })
                .await
            })
            .await
            .map_err(|e| e.with_item(item.source_id()))
    })
    .await
}
