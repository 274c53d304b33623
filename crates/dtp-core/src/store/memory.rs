use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

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
    results: HashMap<String, String, crate::executor::FastHash>,
    errors: BTreeMap<String, ItemError>,
    auth: HashMap<AuthMode, SealedAuth>,
    seq: u64,
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
            j.record.state = state;
            j.record.stop_reason = reason;
            j.record.updated_at = now_unix();
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
