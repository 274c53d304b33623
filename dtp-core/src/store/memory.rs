use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::queue::{JobQueue, Lease, QueueStats, Release, lease_lost};
use super::{
    Checkpoint, ItemError, JobId, JobRecord, JobState, JobStore, NewJob, StopReason, TypeProgress,
    now_unix, unknown_job,
};
use crate::{AuthMode, DataType, Error, Result, SealedAuth};

/// A job store in memory: for tests and short-lived tools. Nothing survives
/// the process.
#[derive(Debug, Default)]
pub struct MemoryJobStore {
    jobs: Mutex<BTreeMap<JobId, JobData>>,
}

#[derive(Debug)]
struct JobData {
    record: JobRecord,
    progress: HashMap<DataType, TypeProgress>,
    /// Every idempotency result; the hot map of a long run (one insert and
    /// one or two lookups per item), hence the fast hasher.
    results: HashMap<String, String, crate::hash::FastHash>,
    errors: BTreeMap<String, ItemError>,
    auth: HashMap<AuthMode, SealedAuth>,
    seq: u64,
    queue: QueueEntry,
}

/// A job's place in the queue.
#[derive(Debug, Default)]
struct QueueEntry {
    status: QueueStatus,
    token: i64,
    attempts: u32,
    owner: Option<String>,
    expires: Option<Instant>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum QueueStatus {
    #[default]
    NotQueued,
    Queued,
    Done,
}

impl QueueEntry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_some_and(|e| e > now)
    }

    fn holds(&self, lease: &Lease) -> bool {
        self.status == QueueStatus::Queued
            && self.token == lease.token
            && self.owner.as_deref() == Some(lease.worker.as_str())
    }
}

fn expiry_ms(lease_for: Duration) -> i64 {
    now_unix_ms().saturating_add(lease_for.as_millis().min(i64::MAX as u128) as i64)
}

fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl MemoryJobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_job<T>(&self, id: &JobId, f: impl FnOnce(&mut JobData) -> Result<T>) -> Result<T> {
        let mut jobs = self
            .jobs
            .lock()
            .map_err(|_| Error::internal("memory job store lock poisoned"))?;
        let job = jobs.get_mut(id).ok_or_else(|| unknown_job(id))?;
        f(job)
    }
}

#[async_trait]
impl JobStore for MemoryJobStore {
    async fn create_job(&self, job: NewJob) -> Result<JobRecord> {
        let now = now_unix();
        let mut jobs = self
            .jobs
            .lock()
            .map_err(|_| Error::internal("memory job store lock poisoned"))?;
        let seq = jobs.len() as u64;
        let record = JobRecord {
            id: JobId::random(),
            source: job.source,
            destination: job.destination,
            data_types: job.data_types,
            state: JobState::Created,
            stop_reason: None,
            created_at: now,
            updated_at: now,
        };
        jobs.insert(
            record.id.clone(),
            JobData {
                record: record.clone(),
                progress: HashMap::new(),
                results: HashMap::default(),
                errors: BTreeMap::new(),
                auth: HashMap::new(),
                seq,
                queue: QueueEntry::default(),
            },
        );
        Ok(record)
    }

    async fn job(&self, id: &JobId) -> Result<JobRecord> {
        self.with_job(id, |j| Ok(j.record.clone()))
    }

    async fn list_jobs(&self) -> Result<Vec<JobRecord>> {
        let jobs = self
            .jobs
            .lock()
            .map_err(|_| Error::internal("memory job store lock poisoned"))?;
        let mut all: Vec<&JobData> = jobs.values().collect();
        all.sort_by_key(|j| std::cmp::Reverse((j.record.created_at, j.seq)));
        Ok(all.into_iter().map(|j| j.record.clone()).collect())
    }

    async fn progress(&self, id: &JobId, data_type: DataType) -> Result<TypeProgress> {
        self.with_job(id, |j| {
            Ok(j.progress.get(&data_type).cloned().unwrap_or_default())
        })
    }

    async fn results(&self, id: &JobId, keys: &[String]) -> Result<HashMap<String, String>> {
        self.with_job(id, |j| {
            Ok(keys
                .iter()
                .filter_map(|k| j.results.get(k).map(|v| (k.clone(), v.clone())))
                .collect())
        })
    }

    async fn results_with_prefix(
        &self,
        id: &JobId,
        prefix: &str,
    ) -> Result<HashMap<String, String>> {
        self.with_job(id, |j| {
            Ok(j.results
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect())
        })
    }

    async fn put_result(&self, id: &JobId, key: &str, value: &str) -> Result<()> {
        self.with_job(id, |j| {
            j.results.insert(key.to_string(), value.to_string());
            Ok(())
        })
    }

    async fn checkpoint(&self, id: &JobId, cp: &Checkpoint) -> Result<()> {
        self.checkpoint_owned(id, cp.clone()).await
    }

    async fn checkpoint_owned(&self, id: &JobId, cp: Checkpoint) -> Result<()> {
        self.with_job(id, |j| {
            apply_checkpoint(j, cp);
            Ok(())
        })
    }

    async fn set_state(
        &self,
        id: &JobId,
        state: JobState,
        reason: Option<StopReason>,
    ) -> Result<()> {
        self.with_job(id, |j| {
            apply_state(j, state, reason);
            Ok(())
        })
    }

    async fn item_errors(&self, id: &JobId) -> Result<Vec<ItemError>> {
        self.with_job(id, |j| Ok(j.errors.values().cloned().collect()))
    }

    async fn put_auth(&self, id: &JobId, mode: AuthMode, sealed: &SealedAuth) -> Result<()> {
        self.with_job(id, |j| {
            j.auth.insert(mode, sealed.clone());
            Ok(())
        })
    }

    async fn auth(&self, id: &JobId, mode: AuthMode) -> Result<Option<SealedAuth>> {
        self.with_job(id, |j| Ok(j.auth.get(&mode).cloned()))
    }
}

/// Applies a checkpoint, moving its results into the map (the hot path of
/// a long run: no copy of any key or result).
fn apply_checkpoint(j: &mut JobData, cp: Checkpoint) {
    j.progress.insert(
        cp.data_type,
        TypeProgress {
            frontier: Some(cp.frontier),
            finished: cp.finished,
            counters: cp.counters,
        },
    );
    j.results.extend(cp.results);
    for k in &cp.resolved_errors {
        j.errors.remove(k);
    }
    for e in cp.errors {
        j.errors.insert(e.key.clone(), e);
    }
    j.record.updated_at = now_unix();
}

fn apply_state(j: &mut JobData, state: JobState, reason: Option<StopReason>) {
    j.record.state = state;
    j.record.stop_reason = reason;
    j.record.updated_at = now_unix();
}

impl MemoryJobStore {
    fn with_lease<T>(&self, lease: &Lease, f: impl FnOnce(&mut JobData) -> T) -> Result<T> {
        self.with_job(&lease.job_id, |j| {
            if j.queue.holds(lease) {
                Ok(f(j))
            } else {
                Err(lease_lost(lease))
            }
        })
    }
}

#[async_trait]
impl JobQueue for MemoryJobStore {
    async fn enqueue(&self, id: &JobId) -> Result<()> {
        self.with_job(id, |j| {
            j.queue.status = QueueStatus::Queued;
            j.queue.owner = None;
            j.queue.expires = None;
            Ok(())
        })
    }

    async fn claim(&self, worker: &str, lease_for: Duration) -> Result<Option<Lease>> {
        let now = Instant::now();
        let mut jobs = self
            .jobs
            .lock()
            .map_err(|_| Error::internal("memory job store lock poisoned"))?;
        let next = jobs
            .values_mut()
            .filter(|j| j.queue.status == QueueStatus::Queued && !j.queue.live(now))
            .min_by_key(|j| j.seq);
        Ok(next.map(|j| {
            j.queue.token += 1;
            j.queue.attempts += 1;
            j.queue.owner = Some(worker.to_string());
            j.queue.expires = Some(now + lease_for);
            Lease {
                job_id: j.record.id.clone(),
                worker: worker.to_string(),
                token: j.queue.token,
                attempt: j.queue.attempts,
                expires_at_ms: expiry_ms(lease_for),
            }
        }))
    }

    async fn renew(&self, lease: &Lease, lease_for: Duration) -> Result<Lease> {
        self.with_lease(lease, |j| {
            j.queue.expires = Some(Instant::now() + lease_for);
            Lease {
                expires_at_ms: expiry_ms(lease_for),
                ..lease.clone()
            }
        })
    }

    async fn release(&self, lease: &Lease, release: Release) -> Result<()> {
        self.with_lease(lease, |j| {
            j.queue.owner = None;
            j.queue.expires = None;
            if release == Release::Done {
                j.queue.status = QueueStatus::Done;
            }
        })
    }

    async fn queue_stats(&self) -> Result<QueueStats> {
        let now = Instant::now();
        let jobs = self
            .jobs
            .lock()
            .map_err(|_| Error::internal("memory job store lock poisoned"))?;
        let mut stats = QueueStats::default();
        for j in jobs.values() {
            match j.queue.status {
                QueueStatus::Queued if j.queue.live(now) => stats.leased += 1,
                QueueStatus::Queued => stats.waiting += 1,
                QueueStatus::Done => stats.done += 1,
                QueueStatus::NotQueued => {}
            }
        }
        Ok(stats)
    }

    async fn put_result_leased(&self, lease: &Lease, key: &str, value: &str) -> Result<()> {
        self.with_lease(lease, |j| {
            j.results.insert(key.to_string(), value.to_string());
        })
    }

    async fn checkpoint_leased(&self, lease: &Lease, checkpoint: &Checkpoint) -> Result<()> {
        self.with_lease(lease, |j| apply_checkpoint(j, checkpoint.clone()))
    }

    async fn set_state_leased(
        &self,
        lease: &Lease,
        state: JobState,
        reason: Option<StopReason>,
    ) -> Result<()> {
        self.with_lease(lease, |j| apply_state(j, state, reason))
    }

    async fn put_auth_leased(
        &self,
        lease: &Lease,
        mode: AuthMode,
        sealed: &SealedAuth,
    ) -> Result<()> {
        self.with_lease(lease, |j| {
            j.auth.insert(mode, sealed.clone());
        })
    }
}
