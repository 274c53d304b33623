//! The traits an adapter implements: [`Exporter`] and [`Importer`], one pair
//! per data model, plus the page and context types they exchange with the
//! driver.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;

use async_trait::async_trait;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::byte_stream::ByteStream;
use crate::driver::context::ImportContext;
use crate::ratelimit::RateLimit;
use crate::store::JobId;
use crate::window::try_for_each_in_window;
use crate::{
    AuthData, Cursor, DataModel, DataType, Error, ErrorKind, ErrorScope, MediaRef, Record, Result,
};

/// One page of an export: containers and items, plus the cursors still to
/// visit (the next page of the same container, and sub-containers).
///
/// Containers must appear in a page no later than their first item.
///
/// Every record the exporter finds ends up in exactly one place: `items`
/// (or `containers`), `failed` (it could not be read: one failed item, the
/// job goes on) or `skipped` (this data type cannot hold it, e.g. a
/// `VJOURNAL` in a calendar file). Nothing is dropped without a trace in
/// the report.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExportPage<M: DataModel> {
    /// Containers on this page.
    pub containers: Vec<M::Container>,
    /// Items on this page.
    pub items: Vec<M::Item>,
    /// Cursors still to visit.
    pub next: Vec<Cursor>,
    /// Records found on this page that could not be read.
    pub failed: Vec<RecordProblem>,
    /// Records found on this page that this data type cannot carry.
    pub skipped: Vec<RecordProblem>,
}

impl<M: DataModel> Default for ExportPage<M> {
    fn default() -> Self {
        ExportPage {
            containers: Vec::new(),
            items: Vec::new(),
            next: Vec::new(),
            failed: Vec::new(),
            skipped: Vec::new(),
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
            ..Self::default()
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

    /// Adds a record that could not be read (it ends as one failed item).
    pub fn with_failed(mut self, problem: RecordProblem) -> Self {
        self.failed.push(problem);
        self
    }

    /// Adds a record this data type cannot carry (it ends as skipped, with
    /// its reason).
    pub fn with_skipped(mut self, problem: RecordProblem) -> Self {
        self.skipped.push(problem);
        self
    }
}

/// A source record that did not become an item, and why: unreadable
/// ([`ExportPage::failed`]) or not something this data type can carry
/// ([`ExportPage::skipped`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordProblem {
    /// An id stable across exports of the same source (a record's id, or its
    /// file name and position when no id could be read): it keys the report
    /// entry, so a later run that reads the record clears it.
    pub id: String,
    /// A name for the report (file name, title).
    pub name: String,
    /// What kind of problem.
    pub kind: ErrorKind,
    /// What went wrong, for a person.
    pub message: String,
}

impl RecordProblem {
    /// A record that could not be read.
    pub fn unreadable(id: impl Into<String>, name: impl Into<String>, error: &Error) -> Self {
        RecordProblem {
            id: id.into(),
            name: name.into(),
            kind: error.kind().clone(),
            message: error.message().to_string(),
        }
    }

    /// A record this data type (or the destination) cannot carry.
    pub fn unsupported(
        id: impl Into<String>,
        name: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        RecordProblem {
            id: id.into(),
            name: name.into(),
            kind: ErrorKind::Unsupported,
            message: reason.into(),
        }
    }
}

/// What an importer did with one record at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ImportStatus {
    /// It was not there, and was written.
    Created,
    /// An equal record was already there: nothing was written.
    AlreadyThere,
    /// A different version was there and was brought up to date.
    Updated,
}

impl ImportStatus {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Created => "created",
            ImportStatus::AlreadyThere => "already_there",
            ImportStatus::Updated => "updated",
        }
    }
}

/// The outcome of importing one record: its id at the destination and what
/// was done.
///
/// ```
/// use dtp_core::{ImportStatus, Imported};
/// let new: Imported = "dest-7".to_string().into();
/// assert_eq!(new.status, ImportStatus::Created);
/// assert_eq!(Imported::already_there("dest-7").status, ImportStatus::AlreadyThere);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Imported {
    /// The record's id at the destination.
    pub id: String,
    /// What was done.
    pub status: ImportStatus,
}

impl Imported {
    /// An outcome with `status`.
    pub fn new(id: impl Into<String>, status: ImportStatus) -> Self {
        Imported {
            id: id.into(),
            status,
        }
    }

    /// A record written anew.
    pub fn created(id: impl Into<String>) -> Self {
        Imported {
            id: id.into(),
            status: ImportStatus::Created,
        }
    }

    /// A record found equal at the destination: nothing written.
    pub fn already_there(id: impl Into<String>) -> Self {
        Imported {
            id: id.into(),
            status: ImportStatus::AlreadyThere,
        }
    }

    /// A record whose older version at the destination was brought up to date.
    pub fn updated(id: impl Into<String>) -> Self {
        Imported {
            id: id.into(),
            status: ImportStatus::Updated,
        }
    }
}

/// A plain id means a record written anew.
impl From<String> for Imported {
    fn from(id: String) -> Self {
        Imported::created(id)
    }
}

/// A plain id means a record written anew.
impl From<&str> for Imported {
    fn from(id: &str) -> Self {
        Imported::created(id)
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
    /// Creates a container (or finds the equal one already there); returns
    /// its id at the destination and what was done.
    async fn import_container(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        container: &M::Container,
    ) -> Result<Imported>;

    /// Creates an item; returns its id at the destination and what was done
    /// ([`Imported::already_there`] when an equal item was there and
    /// nothing was written). Look the destination container up with
    /// [`ImportContext::require_container`]. An item this destination
    /// cannot hold fails with [`ErrorKind::Unsupported`]: it is reported as
    /// skipped, with the message as its reason.
    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &M::Item,
    ) -> Result<Imported>;

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
                    // Most likely written by this job's interrupted run, whose
                    // page was never counted: counted as created now.
                    if let Some(id) = found {
                        return Ok(Imported::created(id));
                    }
                }
                ctx.call("import_container", |auth| async move {
                    unwind_as_item_error(importer.import_container(ctx, &auth, container)).await
                })
                .await
            })
            .await
            .map_err(|e| e.with_item(container.source_id()))?;
    }
    // A second record with the same source id on one page is not imported
    // again: the page's accounting counts it as already there.
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
                        return Ok(Imported::created(id));
                    }
                }
                ctx.call("import_item", |auth| async move {
                    unwind_as_item_error(importer.import_item(ctx, &auth, item)).await
                })
                .await
            })
            .await
            .map_err(|e| e.with_item(item.source_id()))
    })
    .await
}

/// Runs one record's import; a panic in it fails that record (an internal
/// error of item scope) instead of the whole job or process.
async fn unwind_as_item_error<T>(call: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(Error::internal(format!(
            "the importer panicked on this record: {}",
            panic_message(panic.as_ref())
        ))
        .with_scope(ErrorScope::Item)),
    }
}

/// The message of a panic payload (`&str` or `String`), if it has one.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "no message"
    }
}
