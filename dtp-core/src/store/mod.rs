//! Job stores: where a transfer's progress lives, so a crash resumes from the
//! last checkpoint instead of the start.
//!
//! A store keeps, per job: the job record and state, per data type the cursor
//! frontier and counters, the idempotency results (source key → destination
//! id), item errors, and sealed credentials. Each [`Checkpoint`] is written in
//! one atomic step.

mod memory;
mod queue;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{AuthMode, Cursor, DataType, Error, ErrorKind, Result, SealedAuth};

pub use memory::MemoryJobStore;
pub use queue::{JobQueue, Lease, LeasedStore, QueueStats, Release, lease_lost};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteJobStore;

/// Identifies a job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A new random id.
    pub fn random() -> Self {
        JobId(uuid::Uuid::new_v4().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for JobId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty()
            || s.len() > 128
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::invalid_data(format!("`{s}` is not a job id")));
        }
        Ok(JobId(s.to_string()))
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobState {
    /// Created, not started.
    Created,
    /// A driver is working on it (or died while doing so: resume it).
    Running,
    /// Every data type finished and no item failed (records skipped as
    /// unsupported are listed in the report).
    Complete,
    /// Every data type finished, some items failed (see the item errors).
    Partial,
    /// Stopped before the end (see the stop reason); resumable.
    Stopped,
}

impl JobState {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Created => "created",
            JobState::Running => "running",
            JobState::Complete => "complete",
            JobState::Partial => "partial",
            JobState::Stopped => "stopped",
        }
    }

    /// Whether the job has finished (complete or partial).
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Complete | JobState::Partial)
    }
}

/// Parses a stable name ([`JobState::as_str`]), as stores keep it.
impl FromStr for JobState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "created" => JobState::Created,
            "running" => JobState::Running,
            "complete" => JobState::Complete,
            "partial" => JobState::Partial,
            "stopped" => JobState::Stopped,
            other => {
                return Err(Error::invalid_data(format!(
                    "unknown job state `{other}` in store"
                )));
            }
        })
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StopReason {
    /// What kind of error stopped it (stored and serialized as its stable
    /// name, `"destination_full"`, `"cancelled"`, …).
    pub kind: ErrorKind,
    /// A human-readable explanation (never a secret).
    pub message: String,
}

impl StopReason {
    /// A reason from an error.
    pub fn from_error(e: &Error) -> Self {
        StopReason {
            kind: stored_kind(e),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a new job moves, from where to where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NewJob {
    /// A description of the source (e.g. `local:./archive`); never a secret.
    pub source: String,
    /// A description of the destination; never a secret.
    pub destination: String,
    /// The data types to move.
    pub data_types: Vec<DataType>,
}

impl NewJob {
    /// A job moving `data_types` from `source` to `destination`.
    pub fn new(
        source: impl Into<String>,
        destination: impl Into<String>,
        data_types: impl IntoIterator<Item = DataType>,
    ) -> Self {
        NewJob {
            source: source.into(),
            destination: destination.into(),
            data_types: data_types.into_iter().collect(),
        }
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobRecord {
    /// Its id.
    pub id: JobId,
    /// Source description.
    pub source: String,
    /// Destination description.
    pub destination: String,
    /// Data types it moves.
    pub data_types: Vec<DataType>,
    /// Its state.
    pub state: JobState,
    /// Why it stopped, when [`JobState::Stopped`].
    pub stop_reason: Option<StopReason>,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: i64,
    /// Last change, seconds since the Unix epoch.
    pub updated_at: i64,
}

/// Running totals for one data type of a job: the loss ledger. Every source
/// record the job met is counted exactly once, as created, already there,
/// updated, failed (with its reason in the item errors) or unsupported
/// (skipped, with its reason in the item errors).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Counters {
    /// Containers created at the destination.
    pub containers: u64,
    /// Items created at the destination.
    #[serde(alias = "items")]
    pub created: u64,
    /// Items that were already at the destination, equal (written by an
    /// earlier run of this job, or found there): nothing was written.
    #[serde(alias = "skipped")]
    pub already_there: u64,
    /// Items whose older version at the destination was brought up to date.
    pub updated: u64,
    /// Items that failed (see the item errors).
    pub failed: u64,
    /// Records skipped because the destination or the data type cannot carry
    /// them (see the item errors of kind `unsupported`).
    pub unsupported: u64,
    /// Bytes of media written.
    pub bytes: u64,
    /// Pages imported.
    pub pages: u64,
}

impl Counters {
    /// Items that are at the destination: created, already there or updated.
    pub fn done(&self) -> u64 {
        self.created + self.already_there + self.updated
    }

    /// Every source record accounted for: done, failed or unsupported.
    pub fn seen(&self) -> u64 {
        self.done() + self.failed + self.unsupported
    }

    /// The sum of two sets of totals.
    pub fn plus(self, other: Counters) -> Counters {
        Counters {
            containers: self.containers + other.containers,
            created: self.created + other.created,
            already_there: self.already_there + other.already_there,
            updated: self.updated + other.updated,
            failed: self.failed + other.failed,
            unsupported: self.unsupported + other.unsupported,
            bytes: self.bytes + other.bytes,
            pages: self.pages + other.pages,
        }
    }
}

/// Progress of one data type of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TypeProgress {
    /// The cursors still to visit; `None` if the export never started.
    pub frontier: Option<Vec<Cursor>>,
    /// Whether this data type is done.
    pub finished: bool,
    /// Totals so far.
    pub counters: Counters,
}

/// An item (or container) that failed, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ItemError {
    /// The data type.
    pub data_type: DataType,
    /// The idempotency key of the item.
    pub key: String,
    /// The source id.
    pub item_id: String,
    /// Its display name.
    pub name: String,
    /// What kind of error it was (stored and serialized as its stable name).
    pub kind: ErrorKind,
    /// What went wrong.
    pub message: String,
}

impl ItemError {
    /// An item error from an [`Error`].
    pub fn new(
        data_type: DataType,
        key: impl Into<String>,
        item_id: impl Into<String>,
        name: impl Into<String>,
        error: &Error,
    ) -> Self {
        ItemError {
            data_type,
            key: key.into(),
            item_id: item_id.into(),
            name: name.into(),
            kind: stored_kind(error),
            message: error.to_string(),
        }
    }

    /// Whether this record was skipped because the destination (or the data
    /// type) cannot carry it, rather than failed.
    pub fn is_unsupported(&self) -> bool {
        self.kind == ErrorKind::Unsupported
    }

    /// The kind to fail a dependent record with (an item of a container that
    /// failed): the recorded kind when it is one an item can fail with,
    /// `Internal` otherwise.
    pub fn kind_or_internal(&self) -> ErrorKind {
        match self.kind {
            ErrorKind::NotFound
            | ErrorKind::InvalidData
            | ErrorKind::Unsupported
            | ErrorKind::PermissionDenied
            | ErrorKind::DestinationFull
            | ErrorKind::QuotaExhausted
            | ErrorKind::Transient => self.kind.clone(),
            _ => ErrorKind::Internal,
        }
    }
}

/// One atomic write of a transfer's progress for one data type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The data type.
    pub data_type: DataType,
    /// The cursors still to visit after everything in this checkpoint.
    pub frontier: Vec<Cursor>,
    /// Whether the data type is done.
    pub finished: bool,
    /// Absolute totals.
    pub counters: Counters,
    /// New idempotency results (key → destination id).
    pub results: Vec<(String, String)>,
    /// New item errors.
    pub errors: Vec<ItemError>,
    /// Keys whose earlier error is resolved (they succeeded since).
    pub resolved_errors: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint with a frontier and counters and nothing else.
    pub fn new(data_type: DataType, frontier: Vec<Cursor>, counters: Counters) -> Self {
        Checkpoint {
            data_type,
            frontier,
            finished: false,
            counters,
            results: Vec::new(),
            errors: Vec::new(),
            resolved_errors: Vec::new(),
        }
    }
}

/// Persistence for jobs. Every method is one atomic operation.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Creates a job in state [`JobState::Created`].
    async fn create_job(&self, job: NewJob) -> Result<JobRecord>;

    /// Reads a job; [`NotFound`](crate::ErrorKind::NotFound) if unknown.
    async fn job(&self, id: &JobId) -> Result<JobRecord>;

    /// Every job, newest first.
    async fn list_jobs(&self) -> Result<Vec<JobRecord>>;

    /// Progress of one data type (default progress if never checkpointed).
    async fn progress(&self, id: &JobId, data_type: DataType) -> Result<TypeProgress>;

    /// The stored results among `keys`.
    async fn results(&self, id: &JobId, keys: &[String]) -> Result<HashMap<String, String>>;

    /// Every stored result whose key starts with `prefix`.
    async fn results_with_prefix(
        &self,
        id: &JobId,
        prefix: &str,
    ) -> Result<HashMap<String, String>>;

    /// Writes a checkpoint atomically.
    async fn checkpoint(&self, id: &JobId, checkpoint: &Checkpoint) -> Result<()>;

    /// [`checkpoint`](Self::checkpoint), taking the checkpoint by value so a
    /// store that keeps results in memory can move them instead of copying
    /// them. The driver calls this one; the default borrows.
    async fn checkpoint_owned(&self, id: &JobId, checkpoint: Checkpoint) -> Result<()> {
        self.checkpoint(id, &checkpoint).await
    }

    /// Writes one result at once, outside any checkpoint: adapter state that
    /// must survive a crash in the middle of one record (say, the URL of a
    /// resumable upload session), read back with [`results`](Self::results).
    /// The default says the store cannot; importers then fall back to
    /// starting such records over.
    async fn put_result(&self, id: &JobId, key: &str, value: &str) -> Result<()> {
        let _ = (id, key, value);
        Err(crate::Error::unsupported(
            "this job store cannot write a result outside a checkpoint",
        ))
    }

    /// Sets the job's state (and stop reason).
    async fn set_state(
        &self,
        id: &JobId,
        state: JobState,
        reason: Option<StopReason>,
    ) -> Result<()>;

    /// The item errors recorded for a job.
    async fn item_errors(&self, id: &JobId) -> Result<Vec<ItemError>>;

    /// Stores sealed credentials for one side of a job.
    async fn put_auth(&self, id: &JobId, mode: AuthMode, sealed: &SealedAuth) -> Result<()>;

    /// Reads sealed credentials for one side of a job.
    async fn auth(&self, id: &JobId, mode: AuthMode) -> Result<Option<SealedAuth>>;
}

/// The kind as a store keeps it: by name, so a `RateLimited` wait is
/// dropped and a record reads back equal from every store.
fn stored_kind(e: &Error) -> ErrorKind {
    ErrorKind::from_stored(e.kind().as_str())
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn unknown_job(id: &JobId) -> Error {
    Error::not_found(format!("no job `{id}` in the store"))
}

#[cfg(test)]
mod put_result_tests {
    use super::*;

    async fn put_then_read(store: &dyn JobStore) -> JobId {
        let job = store
            .create_job(NewJob::new("s", "d", [DataType::Media]))
            .await
            .unwrap()
            .id;
        store.put_result(&job, "media/p/x", "one").await.unwrap();
        store.put_result(&job, "media/p/x", "two").await.unwrap();
        let got = store
            .results(&job, &["media/p/x".to_string()])
            .await
            .unwrap();
        assert_eq!(got.get("media/p/x").map(String::as_str), Some("two"));
        assert!(
            store.put_result(&JobId::random(), "k", "v").await.is_err(),
            "an unknown job must be refused"
        );
        job
    }

    #[tokio::test]
    async fn memory_store_writes_one_result_at_once() {
        put_then_read(&MemoryJobStore::new()).await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_store_writes_one_result_that_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.sqlite");
        let job = put_then_read(&SqliteJobStore::open(&path).unwrap()).await;
        let again = SqliteJobStore::open(&path).unwrap();
        let got = again
            .results(&job, &["media/p/x".to_string()])
            .await
            .unwrap();
        assert_eq!(got.get("media/p/x").map(String::as_str), Some("two"));
    }
}
