//! Job queues with leases: many workers share one store, each job runs on
//! one worker at a time, and a worker that dies gives its job back when its
//! lease expires.
//!
//! A worker [`claim`](JobQueue::claim)s a queued job and gets a [`Lease`]
//! with a fencing token that grows with every claim of that job. It
//! [`renew`](JobQueue::renew)s the lease while it works (a heartbeat) and
//! [`release`](JobQueue::release)s it at the end. A job whose lease expired
//! is claimable again; the next owner resumes from the last checkpoint.
//!
//! Every write a leased worker makes goes through a [`LeasedStore`]: the
//! store checks the lease's token in the same transaction as the write, so a
//! worker that lost its lease (paused past it, partitioned away) gets a
//! [`ErrorKind::LeaseLost`] error and cannot overwrite the new owner's
//! progress.
//!
//! The fence guards the store, not the destination service: items such a
//! worker imports before it notices are found again by the new owner's
//! recovery lookups (`find_existing_*`), as after a crash. A worker should
//! stop as soon as a renewal or a write reports the lost lease.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{
    Checkpoint, ItemError, JobId, JobRecord, JobState, JobStore, NewJob, StopReason, TypeProgress,
};
use crate::{AuthMode, DataType, Error, ErrorKind, Result, SealedAuth};

/// A worker's claim on one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Lease {
    /// The job.
    pub job_id: JobId,
    /// Who holds it (a worker's name).
    pub worker: String,
    /// The fencing token: larger for every new claim of this job.
    pub token: i64,
    /// How many times the job was claimed, this claim included.
    pub attempt: u32,
    /// When the lease ends unless renewed, milliseconds since the Unix
    /// epoch, by the store's clock.
    pub expires_at_ms: i64,
}

impl Lease {
    /// A lease as a store hands it out.
    pub fn new(
        job_id: JobId,
        worker: impl Into<String>,
        token: i64,
        attempt: u32,
        expires_at_ms: i64,
    ) -> Self {
        Lease {
            job_id,
            worker: worker.into(),
            token,
            attempt,
            expires_at_ms,
        }
    }
}

/// What happens to a job when its worker releases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Release {
    /// The worker is done with it (finished, or stopped for a reason a retry
    /// cannot fix): it leaves the queue.
    Done,
    /// Back into the queue at once (e.g. the worker shuts down).
    Requeue,
}

/// Counts of the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QueueStats {
    /// Waiting for a worker (never claimed, released back, or whose lease
    /// expired).
    pub waiting: u64,
    /// Held by a worker under a live lease.
    pub leased: u64,
    /// Released as done.
    pub done: u64,
}

impl QueueStats {
    /// Counts as a store reports them.
    pub fn new(waiting: u64, leased: u64, done: u64) -> Self {
        QueueStats {
            waiting,
            leased,
            done,
        }
    }

    /// Jobs in the queue that are not done.
    pub fn pending(&self) -> u64 {
        self.waiting + self.leased
    }
}

/// A [`JobStore`] that is also a queue of jobs with leases.
#[async_trait]
pub trait JobQueue: JobStore {
    /// Puts an existing job into the queue (again, if it was done).
    async fn enqueue(&self, id: &JobId) -> Result<()>;

    /// Claims the oldest waiting job for `worker`, for `lease_for`; `None`
    /// when nothing waits.
    async fn claim(&self, worker: &str, lease_for: Duration) -> Result<Option<Lease>>;

    /// Extends a lease to `lease_for` from now;
    /// [`LeaseLost`](ErrorKind::LeaseLost) if the job was claimed by
    /// someone else or released meanwhile.
    async fn renew(&self, lease: &Lease, lease_for: Duration) -> Result<Lease>;

    /// Gives a job back; [`LeaseLost`](ErrorKind::LeaseLost) if the lease
    /// was no longer this worker's.
    async fn release(&self, lease: &Lease, release: Release) -> Result<()>;

    /// The queue's counts.
    async fn queue_stats(&self) -> Result<QueueStats>;

    /// [`JobStore::checkpoint`], applied only if `lease` still holds, in
    /// the same transaction.
    async fn checkpoint_leased(&self, lease: &Lease, checkpoint: &Checkpoint) -> Result<()>;

    /// [`JobStore::set_state`], applied only if `lease` still holds.
    async fn set_state_leased(
        &self,
        lease: &Lease,
        state: JobState,
        reason: Option<StopReason>,
    ) -> Result<()>;

    /// [`JobStore::put_auth`], applied only if `lease` still holds.
    async fn put_auth_leased(
        &self,
        lease: &Lease,
        mode: AuthMode,
        sealed: &SealedAuth,
    ) -> Result<()>;

    /// [`JobStore::put_result`] if `lease` is still held. The default says
    /// the queue cannot (importers then start such records over).
    async fn put_result_leased(&self, lease: &Lease, key: &str, value: &str) -> Result<()> {
        let _ = (lease, key, value);
        Err(crate::Error::unsupported(
            "this job queue cannot write a result outside a checkpoint",
        ))
    }
}

/// The error of a write under a lease that no longer holds.
pub fn lease_lost(lease: &Lease) -> Error {
    Error::new(
        ErrorKind::LeaseLost,
        format!(
            "worker `{}` lost its lease on job {} (token {})",
            lease.worker, lease.job_id, lease.token
        ),
    )
    .with_operation("job_store")
}

/// The store as one leased worker sees it: reads pass through, every write
/// is fenced by the lease. Hand it to a [`TransferDriver`](crate::TransferDriver)
/// instead of the queue itself.
pub struct LeasedStore {
    queue: Arc<dyn JobQueue>,
    lease: Lease,
}

impl std::fmt::Debug for LeasedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeasedStore")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl LeasedStore {
    /// A view of `queue` for the holder of `lease`.
    pub fn new(queue: Arc<dyn JobQueue>, lease: Lease) -> Self {
        LeasedStore { queue, lease }
    }

    /// The lease.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    fn check(&self, id: &JobId) -> Result<()> {
        if id == &self.lease.job_id {
            Ok(())
        } else {
            Err(Error::internal(format!(
                "a store leased for job {} cannot write job {id}",
                self.lease.job_id
            ))
            .with_operation("job_store"))
        }
    }
}

#[async_trait]
impl JobStore for LeasedStore {
    async fn create_job(&self, _job: NewJob) -> Result<JobRecord> {
        Err(Error::unsupported("a leased store cannot create jobs").with_operation("job_store"))
    }

    async fn job(&self, id: &JobId) -> Result<JobRecord> {
        self.queue.job(id).await
    }

    async fn list_jobs(&self) -> Result<Vec<JobRecord>> {
        self.queue.list_jobs().await
    }

    async fn progress(&self, id: &JobId, data_type: DataType) -> Result<TypeProgress> {
        self.queue.progress(id, data_type).await
    }

    async fn results(&self, id: &JobId, keys: &[String]) -> Result<HashMap<String, String>> {
        self.queue.results(id, keys).await
    }

    async fn results_with_prefix(
        &self,
        id: &JobId,
        prefix: &str,
    ) -> Result<HashMap<String, String>> {
        self.queue.results_with_prefix(id, prefix).await
    }

    async fn checkpoint(&self, id: &JobId, checkpoint: &Checkpoint) -> Result<()> {
        self.check(id)?;
        self.queue.checkpoint_leased(&self.lease, checkpoint).await
    }

    async fn set_state(
        &self,
        id: &JobId,
        state: JobState,
        reason: Option<StopReason>,
    ) -> Result<()> {
        self.check(id)?;
        self.queue
            .set_state_leased(&self.lease, state, reason)
            .await
    }

    async fn item_errors(&self, id: &JobId) -> Result<Vec<ItemError>> {
        self.queue.item_errors(id).await
    }

    async fn put_auth(&self, id: &JobId, mode: AuthMode, sealed: &SealedAuth) -> Result<()> {
        self.check(id)?;
        self.queue.put_auth_leased(&self.lease, mode, sealed).await
    }

    async fn put_result(&self, id: &JobId, key: &str, value: &str) -> Result<()> {
        self.check(id)?;
        self.queue.put_result_leased(&self.lease, key, value).await
    }

    async fn auth(&self, id: &JobId, mode: AuthMode) -> Result<Option<SealedAuth>> {
        self.queue.auth(id, mode).await
    }
}
