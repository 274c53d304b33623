//! A PostgreSQL job store and job queue for dtp-rs: the store for a fleet.
//!
//! [`PostgresJobStore`] keeps the same things as the SQLite store (jobs, per
//! data type progress, idempotency results, item errors, sealed credentials)
//! in a database that many worker processes on many machines share. It is
//! also a [`JobQueue`]: jobs are enqueued, a worker claims one with a lease
//! (`FOR UPDATE SKIP LOCKED`), renews it while it works and releases it at
//! the end; a job whose lease expired is claimable again and resumes from
//! its last checkpoint. Every write under a lease checks the lease's fencing
//! token in the same transaction, so a worker that lost its lease gets
//! [`ErrorKind::LeaseLost`](dtp_core::ErrorKind) and cannot write
//! over the new owner's progress.
//!
//! Lease times are taken from the database's clock, never the workers'.
//!
//! ```no_run
//! # async fn demo() -> dtp_core::Result<()> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use dtp_core::DataType;
//! use dtp_core::store::{JobQueue, JobStore, LeasedStore, NewJob};
//! use dtp_store_postgres::PostgresJobStore;
//!
//! let store = Arc::new(PostgresJobStore::connect("postgres://dtp@127.0.0.1/dtp").await?);
//! let job = store.create_job(NewJob::new("local:./in", "local:./out", [DataType::Contacts])).await?;
//! store.enqueue(&job.id).await?;
//! // In a worker:
//! if let Some(lease) = store.claim("worker-1", Duration::from_secs(30)).await? {
//!     let fenced = LeasedStore::new(store.clone(), lease);
//!     // TransferDriver::new(Arc::new(fenced)).run(...)
//! #   let _ = fenced;
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod schema;
#[cfg(feature = "test-server")]
pub mod test_server;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use dtp_core::store::{
    Checkpoint, Counters, ItemError, JobId, JobQueue, JobRecord, JobState, JobStore, Lease, NewJob,
    QueueStats, Release, StopReason, TypeProgress, lease_lost,
};
use dtp_core::{AuthMode, Cursor, DataType, Error, ErrorKind, Result, SealedAuth};
use tokio_postgres::{GenericClient, NoTls, Row};

pub use schema::SCHEMA_VERSION;

/// How the store connects.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Most connections the store opens at once.
    pub max_connections: usize,
    /// How long a caller waits for a free connection before a transient
    /// error.
    pub wait: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 8,
            wait: Duration::from_secs(30),
        }
    }
}

impl PoolOptions {
    /// Sets the most connections at once (at least 1).
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }
}

/// A job store and job queue in PostgreSQL (10 or later).
///
/// Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct PostgresJobStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresJobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("PostgresJobStore")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

fn db_err(e: tokio_postgres::Error) -> Error {
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    let transient = e.is_closed()
        || io
        || e.code().is_some_and(|c| {
            let c = c.code();
            // connection exceptions, serialization failures and deadlocks,
            // operator intervention (shutdown), insufficient resources
            c.starts_with("08") || c.starts_with("40") || c.starts_with("57") || c.starts_with("53")
        });
    let kind = if transient {
        ErrorKind::Transient
    } else {
        ErrorKind::Internal
    };
    let what = match e.as_db_error() {
        Some(db) => format!("job store (PostgreSQL) failed: {}", db.message()),
        // Connection and protocol errors name no credentials.
        None => format!("job store (PostgreSQL) failed: {e}"),
    };
    Error::new(kind, what)
        .with_operation("job_store")
        .with_source(e)
}

fn pool_err(e: deadpool_postgres::PoolError) -> Error {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_err(e),
        other => Error::new(
            ErrorKind::Transient,
            format!("job store (PostgreSQL): no connection: {other}"),
        )
        .with_operation("job_store"),
    }
}

fn unknown_job(id: &JobId) -> Error {
    Error::not_found(format!("no job `{id}` in the store"))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn parse_data_type(s: &str) -> Result<DataType> {
    s.parse()
        .map_err(|_| Error::invalid_data(format!("unknown data type `{s}` in store")))
}

fn parse_state(s: &str) -> Result<JobState> {
    s.parse()
}

const JOB_COLUMNS: &str =
    "id, source, destination, data_types, state, stop_kind, stop_message, created_at, updated_at";

fn job_from_row(r: &Row) -> Result<JobRecord> {
    let types: String = r.get(3);
    let data_types = types
        .split(',')
        .filter(|s| !s.is_empty())
        .map(parse_data_type)
        .collect::<Result<Vec<_>>>()?;
    let id: JobId = r.get::<_, String>(0).parse()?;
    let state = parse_state(&r.get::<_, String>(4))?;
    let stop_reason = r.get::<_, Option<String>>(5).map(|kind| {
        serde_json::json!({
            "kind": kind,
            "message": r.get::<_, Option<String>>(6).unwrap_or_default(),
        })
    });
    // JobRecord is non-exhaustive: built through its serde form.
    Ok(serde_json::from_value(serde_json::json!({
        "id": id,
        "source": r.get::<_, String>(1),
        "destination": r.get::<_, String>(2),
        "data_types": data_types,
        "state": state,
        "stop_reason": stop_reason,
        "created_at": r.get::<_, i64>(7),
        "updated_at": r.get::<_, i64>(8),
    }))?)
}

impl PostgresJobStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`, or
    /// `host=… user=… dbname=…`) with default pool options and brings the
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PoolOptions::default()).await
    }

    /// Connects with `options` and brings the schema up to date.
    pub async fn connect_with(url: &str, options: PoolOptions) -> Result<Self> {
        let config: tokio_postgres::Config = url.parse().map_err(|_| {
            // The parser's message may quote the URL (and its password).
            Error::invalid_data("not a PostgreSQL connection URL").with_operation("job_store")
        })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.wait))
            .create_timeout(Some(options.wait))
            .build()
            .map_err(|e| Error::internal(format!("job store pool: {e}")))?;
        let store = PostgresJobStore { pool };
        {
            let mut client = store.client().await?;
            schema::migrate(&mut client).await?;
        }
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_err)
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<u32> {
        let client = self.client().await?;
        schema::current_version(&**client).await
    }

    /// Connections open and idle now: (open, idle).
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.pool.status();
        (s.size, s.available)
    }
}

async fn ensure_job<C: GenericClient>(client: &C, id: &JobId) -> Result<()> {
    let row = client
        .query_opt("SELECT 1 FROM jobs WHERE id = $1", &[&id.as_str()])
        .await
        .map_err(db_err)?;
    row.map(|_| ()).ok_or_else(|| unknown_job(id))
}

/// Touches the job row, under the lease if one is given: the row lock it
/// takes serialises the write with any claim of the job. Errors with
/// not-found or lease-lost.
async fn touch<C: GenericClient>(client: &C, id: &JobId, lease: Option<&Lease>) -> Result<()> {
    let changed = match lease {
        None => client
            .execute(
                "UPDATE jobs SET updated_at = $2 WHERE id = $1",
                &[&id.as_str(), &now_unix()],
            )
            .await
            .map_err(db_err)?,
        Some(l) => client
            .execute(
                "UPDATE jobs SET updated_at = $2 WHERE id = $1 AND lease_token = $3
                   AND lease_owner = $4 AND queue_state = 'queued'",
                &[&id.as_str(), &now_unix(), &l.token, &l.worker],
            )
            .await
            .map_err(db_err)?,
    };
    if changed == 1 {
        return Ok(());
    }
    ensure_job(client, id).await?;
    Err(match lease {
        Some(l) => lease_lost(l),
        None => unknown_job(id),
    })
}

impl PostgresJobStore {
    async fn write_checkpoint(
        &self,
        id: &JobId,
        cp: &Checkpoint,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let frontier = serde_json::to_string(&cp.frontier)?;
        let counters = serde_json::to_string(&cp.counters)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        touch(&*tx, id, lease).await?;
        tx.execute(
            "INSERT INTO progress (job_id, data_type, frontier, finished, counters)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (job_id, data_type) DO UPDATE SET frontier = excluded.frontier,
                finished = excluded.finished, counters = excluded.counters",
            &[
                &id.as_str(),
                &cp.data_type.as_str(),
                &frontier,
                &cp.finished,
                &counters,
            ],
        )
        .await
        .map_err(db_err)?;
        if !cp.results.is_empty() {
            let (keys, values): (Vec<&str>, Vec<&str>) = cp
                .results
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .unzip();
            tx.execute(
                "INSERT INTO results (job_id, key, value)
                 SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v)
                 ON CONFLICT (job_id, key) DO UPDATE SET value = excluded.value",
                &[&id.as_str(), &keys, &values],
            )
            .await
            .map_err(db_err)?;
        }
        if !cp.resolved_errors.is_empty() {
            tx.execute(
                "DELETE FROM item_errors WHERE job_id = $1 AND key = ANY($2)",
                &[&id.as_str(), &cp.resolved_errors],
            )
            .await
            .map_err(db_err)?;
        }
        if !cp.errors.is_empty() {
            // The last error of a key wins, as with one upsert per error.
            let mut last: Vec<&ItemError> = Vec::new();
            for e in &cp.errors {
                match last.iter_mut().find(|x| x.key == e.key) {
                    Some(slot) => *slot = e,
                    None => last.push(e),
                }
            }
            let col = |f: fn(&ItemError) -> &str| last.iter().map(|e| f(e)).collect::<Vec<&str>>();
            tx.execute(
                "INSERT INTO item_errors (job_id, key, data_type, item_id, name, kind, message)
                 SELECT $1, k, d, i, n, c, m
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                   AS t(k, d, i, n, c, m)
                 ON CONFLICT (job_id, key) DO UPDATE SET data_type = excluded.data_type,
                   item_id = excluded.item_id, name = excluded.name, kind = excluded.kind,
                   message = excluded.message",
                &[
                    &id.as_str(),
                    &col(|e| e.key.as_str()),
                    &col(|e| e.data_type.as_str()),
                    &col(|e| e.item_id.as_str()),
                    &col(|e| e.name.as_str()),
                    &col(|e| e.kind.as_str()),
                    &col(|e| e.message.as_str()),
                ],
            )
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn write_state(
        &self,
        id: &JobId,
        state: JobState,
        reason: Option<StopReason>,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let (kind, message) = match reason {
            Some(r) => (Some(r.kind.as_str()), Some(r.message)),
            None => (None, None),
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        touch(&*tx, id, lease).await?;
        tx.execute(
            "UPDATE jobs SET state = $2, stop_kind = $3, stop_message = $4 WHERE id = $1",
            &[&id.as_str(), &state.as_str(), &kind, &message],
        )
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn write_auth(
        &self,
        id: &JobId,
        mode: AuthMode,
        sealed: &SealedAuth,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        match lease {
            Some(_) => touch(&*tx, id, lease).await?,
            None => ensure_job(&*tx, id).await?,
        }
        tx.execute(
            "INSERT INTO auth (job_id, mode, sealed) VALUES ($1, $2, $3)
             ON CONFLICT (job_id, mode) DO UPDATE SET sealed = excluded.sealed",
            &[&id.as_str(), &mode.as_str(), &sealed.0],
        )
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }
    /// Writes one result at once, under `lease` if given (fenced by its token).
    async fn write_result(
        &self,
        id: &JobId,
        key: &str,
        value: &str,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        match lease {
            Some(_) => touch(&*tx, id, lease).await?,
            None => ensure_job(&*tx, id).await?,
        }
        tx.execute(
            "INSERT INTO results (job_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (job_id, key) DO UPDATE SET value = excluded.value",
            &[&id.as_str(), &key, &value],
        )
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }
}

#[async_trait]
impl JobStore for PostgresJobStore {
    async fn create_job(&self, job: NewJob) -> Result<JobRecord> {
        let client = self.client().await?;
        let id = JobId::random();
        let types: Vec<&str> = job.data_types.iter().map(|t| t.as_str()).collect();
        let now = now_unix();
        let row = client
            .query_one(
                &format!(
                    "INSERT INTO jobs (id, source, destination, data_types, state, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {JOB_COLUMNS}"
                ),
                &[
                    &id.as_str(),
                    &job.source,
                    &job.destination,
                    &types.join(","),
                    &JobState::Created.as_str(),
                    &now,
                ],
            )
            .await
            .map_err(db_err)?;
        job_from_row(&row)
    }

    async fn job(&self, id: &JobId) -> Result<JobRecord> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"),
                &[&id.as_str()],
            )
            .await
            .map_err(db_err)?;
        job_from_row(&row.ok_or_else(|| unknown_job(id))?)
    }

    async fn list_jobs(&self) -> Result<Vec<JobRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY seq DESC"),
                &[],
            )
            .await
            .map_err(db_err)?;
        rows.iter().map(job_from_row).collect()
    }

    async fn progress(&self, id: &JobId, data_type: DataType) -> Result<TypeProgress> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT p.frontier, p.finished, p.counters FROM jobs j
                 LEFT JOIN progress p ON p.job_id = j.id AND p.data_type = $2
                 WHERE j.id = $1",
                &[&id.as_str(), &data_type.as_str()],
            )
            .await
            .map_err(db_err)?
            .ok_or_else(|| unknown_job(id))?;
        let frontier: Option<String> = row.get(0);
        let Some(frontier) = frontier else {
            return Ok(TypeProgress::default());
        };
        let mut p = TypeProgress::default();
        p.frontier = Some(serde_json::from_str::<Vec<Cursor>>(&frontier)?);
        p.finished = row.get(1);
        p.counters = serde_json::from_str::<Counters>(&row.get::<_, String>(2))?;
        Ok(p)
    }

    async fn results(&self, id: &JobId, keys: &[String]) -> Result<HashMap<String, String>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key, value FROM results WHERE job_id = $1 AND key = ANY($2)",
                &[&id.as_str(), &keys],
            )
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn results_with_prefix(
        &self,
        id: &JobId,
        prefix: &str,
    ) -> Result<HashMap<String, String>> {
        let client = self.client().await?;
        // Keys are in the "C" collation (byte order = code point order):
        // a range scan on the primary key, [prefix, prefix + U+10FFFF).
        let upper = format!("{prefix}\u{10FFFF}");
        let rows = client
            .query(
                "SELECT key, value FROM results WHERE job_id = $1 AND key >= $2 AND key < $3",
                &[&id.as_str(), &prefix, &upper],
            )
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn checkpoint(&self, id: &JobId, checkpoint: &Checkpoint) -> Result<()> {
        self.write_checkpoint(id, checkpoint, None).await
    }

    async fn set_state(
        &self,
        id: &JobId,
        state: JobState,
        reason: Option<StopReason>,
    ) -> Result<()> {
        self.write_state(id, state, reason, None).await
    }

    async fn item_errors(&self, id: &JobId) -> Result<Vec<ItemError>> {
        let client = self.client().await?;
        ensure_job(&**client, id).await?;
        let rows = client
            .query(
                "SELECT key, data_type, item_id, name, kind, message FROM item_errors
                 WHERE job_id = $1 ORDER BY key",
                &[&id.as_str()],
            )
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let data_type = parse_data_type(&r.get::<_, String>(1))?;
                Ok(serde_json::from_value(serde_json::json!({
                    "data_type": data_type,
                    "key": r.get::<_, String>(0),
                    "item_id": r.get::<_, String>(2),
                    "name": r.get::<_, String>(3),
                    "kind": r.get::<_, String>(4),
                    "message": r.get::<_, String>(5),
                }))?)
            })
            .collect()
    }

    async fn put_auth(&self, id: &JobId, mode: AuthMode, sealed: &SealedAuth) -> Result<()> {
        self.write_auth(id, mode, sealed, None).await
    }

    async fn put_result(&self, id: &JobId, key: &str, value: &str) -> Result<()> {
        self.write_result(id, key, value, None).await
    }

    async fn auth(&self, id: &JobId, mode: AuthMode) -> Result<Option<SealedAuth>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT a.sealed FROM jobs j LEFT JOIN auth a ON a.job_id = j.id AND a.mode = $2
                 WHERE j.id = $1",
                &[&id.as_str(), &mode.as_str()],
            )
            .await
            .map_err(db_err)?
            .ok_or_else(|| unknown_job(id))?;
        Ok(row.get::<_, Option<Vec<u8>>>(0).map(SealedAuth))
    }
}

fn lease_from_row(worker: &str, r: &Row) -> Result<Lease> {
    Ok(Lease::new(
        r.get::<_, String>(0).parse()?,
        worker,
        r.get::<_, i64>(1),
        r.get::<_, i32>(2).max(0) as u32,
        r.get::<_, i64>(3),
    ))
}

#[async_trait]
impl JobQueue for PostgresJobStore {
    async fn enqueue(&self, id: &JobId) -> Result<()> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE jobs SET queue_state = 'queued', lease_owner = NULL,
                   lease_expires_at = NULL WHERE id = $1",
                &[&id.as_str()],
            )
            .await
            .map_err(db_err)?;
        if changed == 0 {
            return Err(unknown_job(id));
        }
        Ok(())
    }

    async fn claim(&self, worker: &str, lease_for: Duration) -> Result<Option<Lease>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "WITH next AS (
                   SELECT id FROM jobs
                   WHERE queue_state = 'queued'
                     AND (lease_expires_at IS NULL OR lease_expires_at <= now())
                   ORDER BY seq LIMIT 1
                   FOR UPDATE SKIP LOCKED)
                 UPDATE jobs j SET lease_owner = $1, lease_token = j.lease_token + 1,
                   attempts = j.attempts + 1,
                   lease_expires_at = now() + $2::bigint * interval '1 millisecond'
                 FROM next WHERE j.id = next.id
                 RETURNING j.id, j.lease_token, j.attempts,
                   (extract(epoch FROM j.lease_expires_at) * 1000)::bigint",
                &[&worker, &millis(lease_for)],
            )
            .await
            .map_err(db_err)?;
        row.map(|r| lease_from_row(worker, &r)).transpose()
    }

    async fn renew(&self, lease: &Lease, lease_for: Duration) -> Result<Lease> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE jobs SET lease_expires_at = now() + $4::bigint * interval '1 millisecond'
                 WHERE id = $1 AND lease_token = $2 AND lease_owner = $3 AND queue_state = 'queued'
                 RETURNING id, lease_token, attempts,
                   (extract(epoch FROM lease_expires_at) * 1000)::bigint",
                &[
                    &lease.job_id.as_str(),
                    &lease.token,
                    &lease.worker,
                    &millis(lease_for),
                ],
            )
            .await
            .map_err(db_err)?;
        match row {
            Some(r) => lease_from_row(&lease.worker, &r),
            None => {
                ensure_job(&**client, &lease.job_id).await?;
                Err(lease_lost(lease))
            }
        }
    }

    async fn release(&self, lease: &Lease, release: Release) -> Result<()> {
        let next = match release {
            Release::Done => "done",
            _ => "queued",
        };
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE jobs SET queue_state = $4, lease_owner = NULL, lease_expires_at = NULL
                 WHERE id = $1 AND lease_token = $2 AND lease_owner = $3 AND queue_state = 'queued'",
                &[&lease.job_id.as_str(), &lease.token, &lease.worker, &next],
            )
            .await
            .map_err(db_err)?;
        if changed == 0 {
            ensure_job(&**client, &lease.job_id).await?;
            return Err(lease_lost(lease));
        }
        Ok(())
    }

    async fn queue_stats(&self) -> Result<QueueStats> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT
                   count(*) FILTER (WHERE queue_state = 'queued'
                     AND (lease_expires_at IS NULL OR lease_expires_at <= now())),
                   count(*) FILTER (WHERE queue_state = 'queued' AND lease_expires_at > now()),
                   count(*) FILTER (WHERE queue_state = 'done')
                 FROM jobs",
                &[],
            )
            .await
            .map_err(db_err)?;
        let n = |i: usize| row.get::<_, i64>(i).max(0) as u64;
        Ok(QueueStats::new(n(0), n(1), n(2)))
    }

    async fn checkpoint_leased(&self, lease: &Lease, checkpoint: &Checkpoint) -> Result<()> {
        self.write_checkpoint(&lease.job_id, checkpoint, Some(lease))
            .await
    }

    async fn set_state_leased(
        &self,
        lease: &Lease,
        state: JobState,
        reason: Option<StopReason>,
    ) -> Result<()> {
        self.write_state(&lease.job_id, state, reason, Some(lease))
            .await
    }

    async fn put_auth_leased(
        &self,
        lease: &Lease,
        mode: AuthMode,
        sealed: &SealedAuth,
    ) -> Result<()> {
        self.write_auth(&lease.job_id, mode, sealed, Some(lease))
            .await
    }

    async fn put_result_leased(&self, lease: &Lease, key: &str, value: &str) -> Result<()> {
        self.write_result(&lease.job_id, key, value, Some(lease))
            .await
    }
}
