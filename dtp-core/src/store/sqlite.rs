//! The embedded default store: one SQLite file, no server.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::queue::{JobQueue, Lease, QueueStats, Release, lease_lost};
use super::{
    Checkpoint, Counters, ItemError, JobId, JobRecord, JobState, JobStore, NewJob, StopReason,
    TypeProgress, now_unix, unknown_job,
};
use crate::{AuthMode, Cursor, DataType, Error, ErrorKind, Result, SealedAuth};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many
/// ran. Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema
    "CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        data_types TEXT NOT NULL,
        state TEXT NOT NULL,
        stop_kind TEXT,
        stop_message TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        seq INTEGER NOT NULL
    );
    CREATE TABLE progress (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        data_type TEXT NOT NULL,
        frontier TEXT NOT NULL,
        finished INTEGER NOT NULL,
        counters TEXT NOT NULL,
        PRIMARY KEY (job_id, data_type)
    );
    CREATE TABLE results (
        job_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (job_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE item_errors (
        job_id TEXT NOT NULL,
        key TEXT NOT NULL,
        data_type TEXT NOT NULL,
        item_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (job_id, key)
    );
    CREATE TABLE auth (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        mode TEXT NOT NULL,
        sealed BLOB NOT NULL,
        PRIMARY KEY (job_id, mode)
    );",
    // 2: the job queue and its leases (see `JobQueue`)
    "ALTER TABLE jobs ADD COLUMN queue_state TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN lease_expires_ms INTEGER;
    ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_waiting ON jobs (seq) WHERE queue_state = 'queued';",
];

/// A job store in one SQLite file (bundled SQLite; WAL journal).
///
/// Each checkpoint is one transaction. Credentials are stored only as
/// [`SealedAuth`] (ciphertext produced by an [`AuthSealer`](crate::AuthSealer)).
///
/// ```no_run
/// # async fn demo() -> dtp_core::Result<()> {
/// use dtp_core::store::{JobStore, NewJob, SqliteJobStore};
/// use dtp_core::DataType;
/// let store = SqliteJobStore::open("jobs.sqlite")?;
/// let job = store.create_job(NewJob::new("local:./in", "local:./out", [DataType::Contacts])).await?;
/// println!("created {}", job.id);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteJobStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteJobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteJobStore").finish_non_exhaustive()
    }
}

fn db_err(e: rusqlite::Error) -> Error {
    let kind = match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            ErrorKind::Transient
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
            ErrorKind::Internal
        }
        _ => ErrorKind::Internal,
    };
    Error::new(kind, "job store (SQLite) failed")
        .with_operation("job_store")
        .with_source(e)
}

impl SqliteJobStore {
    /// Opens (creating if needed) the store at `path` and migrates it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let conn = Connection::open(path.as_ref()).map_err(db_err)?;
        Self::from_connection(conn)
    }

    /// A store in a private in-memory SQLite database.
    pub fn open_in_memory() -> Result<Self> {
        Self::from_connection(Connection::open_in_memory().map_err(db_err)?)
    }

    fn from_connection(mut conn: Connection) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db_err)?;
        // WAL + NORMAL: a commit survives a process crash; a power loss may
        // drop the last commits, which resume treats like a crash.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err)?;
        migrate(&mut conn)?;
        Ok(SqliteJobStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The schema version of this store.
    pub fn schema_version(&self) -> Result<u32> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| Error::internal("SQLite store lock poisoned"))?;
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db_err)
    }

    /// Runs `f` on the connection without an await point: a caller whose
    /// future is dropped either never started the operation or saw it finish,
    /// as with a process crash. (On `spawn_blocking`, a dropped run's write
    /// could land after a resumed run had read older progress.) On a
    /// multi-thread runtime the worker is handed off while SQLite works.
    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        let work = move || {
            let mut guard = conn
                .lock()
                .map_err(|_| Error::internal("SQLite store lock poisoned"))?;
            f(&mut guard)
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(work)
            }
            _ => work(),
        }
    }
}

/// The latest schema version this build knows.
pub(crate) const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db_err)?;
    if current > SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "job store schema version {current} is newer than this build knows ({SCHEMA_VERSION}); upgrade dtp"
            ),
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction().map_err(db_err)?;
        tx.execute_batch(sql).map_err(db_err)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
    }
    Ok(())
}

fn parse_data_type(s: &str) -> Result<DataType> {
    s.parse()
        .map_err(|_| Error::invalid_data(format!("unknown data type `{s}` in store")))
}

type RawJobRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

fn read_job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawJobRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn job_from_row(row: RawJobRow) -> Result<JobRecord> {
    let (id, source, destination, types, state, stop_kind, stop_message, created_at, updated_at) =
        row;
    let data_types = types
        .split(',')
        .filter(|s| !s.is_empty())
        .map(parse_data_type)
        .collect::<Result<Vec<_>>>()?;
    Ok(JobRecord {
        id: id.parse()?,
        source,
        destination,
        data_types,
        state: state.parse()?,
        stop_reason: stop_kind.map(|kind| StopReason {
            kind: ErrorKind::from_stored(&kind),
            message: stop_message.unwrap_or_default(),
        }),
        created_at,
        updated_at,
    })
}

const JOB_COLUMNS: &str =
    "id, source, destination, data_types, state, stop_kind, stop_message, created_at, updated_at";

fn ensure_job(conn: &Connection, id: &JobId) -> Result<()> {
    let found: Option<i64> = conn
        .query_row("SELECT 1 FROM jobs WHERE id = ?1", [id.as_str()], |r| {
            r.get(0)
        })
        .optional()
        .map_err(db_err)?;
    found.map(|_| ()).ok_or_else(|| unknown_job(id))
}

fn write_checkpoint(
    conn: &mut Connection,
    id: &JobId,
    cp: &Checkpoint,
    lease: Option<&Lease>,
) -> Result<()> {
    let frontier = serde_json::to_string(&cp.frontier)?;
    let counters = serde_json::to_string(&cp.counters)?;
    let tx = conn.transaction().map_err(db_err)?;
    {
        touch(&tx, id, lease)?;
        tx.execute(
            "INSERT INTO progress (job_id, data_type, frontier, finished, counters) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (job_id, data_type) DO UPDATE SET frontier = excluded.frontier,
                finished = excluded.finished, counters = excluded.counters",
            params![id.as_str(), cp.data_type.as_str(), frontier, cp.finished, counters],
        )
        .map_err(db_err)?;
        let mut put = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO results (job_id, key, value) VALUES (?1, ?2, ?3)",
            )
            .map_err(db_err)?;
        for (k, v) in &cp.results {
            put.execute(params![id.as_str(), k, v]).map_err(db_err)?;
        }
        let mut resolve = tx
            .prepare_cached("DELETE FROM item_errors WHERE job_id = ?1 AND key = ?2")
            .map_err(db_err)?;
        for k in &cp.resolved_errors {
            resolve.execute(params![id.as_str(), k]).map_err(db_err)?;
        }
        let mut err = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO item_errors (job_id, key, data_type, item_id, name, kind, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db_err)?;
        for e in &cp.errors {
            err.execute(params![
                id.as_str(),
                e.key,
                e.data_type.as_str(),
                e.item_id,
                e.name,
                e.kind.as_str(),
                e.message
            ])
            .map_err(db_err)?;
        }
    }
    tx.commit().map_err(db_err)
}

/// Touches the job row, under `lease` if given (fenced by its token).
fn touch(conn: &Connection, id: &JobId, lease: Option<&Lease>) -> Result<()> {
    let changed = match lease {
        None => conn.execute(
            "UPDATE jobs SET updated_at = ?2 WHERE id = ?1",
            params![id.as_str(), now_unix()],
        ),
        Some(l) => conn.execute(
            "UPDATE jobs SET updated_at = ?2 WHERE id = ?1 AND lease_token = ?3
               AND lease_owner = ?4 AND queue_state = 'queued'",
            params![id.as_str(), now_unix(), l.token, l.worker],
        ),
    }
    .map_err(db_err)?;
    if changed == 1 {
        return Ok(());
    }
    ensure_job(conn, id)?;
    Err(match lease {
        Some(l) => lease_lost(l),
        None => unknown_job(id),
    })
}

fn write_state(
    conn: &mut Connection,
    id: &JobId,
    state: JobState,
    reason: Option<StopReason>,
    lease: Option<&Lease>,
) -> Result<()> {
    let (kind, message) = match reason {
        Some(r) => (Some(r.kind.as_str()), Some(r.message)),
        None => (None, None),
    };
    let tx = conn.transaction().map_err(db_err)?;
    touch(&tx, id, lease)?;
    tx.execute(
        "UPDATE jobs SET state = ?2, stop_kind = ?3, stop_message = ?4 WHERE id = ?1",
        params![id.as_str(), state.as_str(), kind, message],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

fn write_auth(
    conn: &mut Connection,
    id: &JobId,
    mode: AuthMode,
    blob: &[u8],
    lease: Option<&Lease>,
) -> Result<()> {
    let tx = conn.transaction().map_err(db_err)?;
    match lease {
        Some(_) => touch(&tx, id, lease)?,
        None => ensure_job(&tx, id)?,
    }
    tx.execute(
        "INSERT OR REPLACE INTO auth (job_id, mode, sealed) VALUES (?1, ?2, ?3)",
        params![id.as_str(), mode.as_str(), blob],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

/// Writes one result at once, under `lease` if given (fenced by its token).
fn write_result(
    conn: &mut Connection,
    id: &JobId,
    key: &str,
    value: &str,
    lease: Option<&Lease>,
) -> Result<()> {
    let tx = conn.transaction().map_err(db_err)?;
    touch(&tx, id, lease)?;
    tx.prepare_cached("INSERT OR REPLACE INTO results (job_id, key, value) VALUES (?1, ?2, ?3)")
        .map_err(db_err)?
        .execute(params![id.as_str(), key, value])
        .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn millis(d: std::time::Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128 / 2) as i64
}

#[async_trait]
impl JobStore for SqliteJobStore {
    async fn create_job(&self, job: NewJob) -> Result<JobRecord> {
        self.run(move |conn| {
            let now = now_unix();
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
            let types: Vec<&str> = record.data_types.iter().map(|t| t.as_str()).collect();
            conn.execute(
                "INSERT INTO jobs (id, source, destination, data_types, state, created_at, updated_at, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs))",
                params![
                    record.id.as_str(),
                    record.source,
                    record.destination,
                    types.join(","),
                    record.state.as_str(),
                    now
                ],
            )
            .map_err(db_err)?;
            Ok(record)
        })
        .await
    }

    async fn job(&self, id: &JobId) -> Result<JobRecord> {
        let id = id.clone();
        self.run(move |conn| {
            let row = conn
                .query_row(
                    &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                    [id.as_str()],
                    read_job_row,
                )
                .optional()
                .map_err(db_err)?;
            job_from_row(row.ok_or_else(|| unknown_job(&id))?)
        })
        .await
    }

    async fn list_jobs(&self) -> Result<Vec<JobRecord>> {
        self.run(|conn| {
            let mut stmt = conn
                .prepare(&format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY seq DESC"))
                .map_err(db_err)?;
            let rows = stmt.query_map([], read_job_row).map_err(db_err)?;
            rows.map(|r| job_from_row(r.map_err(db_err)?)).collect()
        })
        .await
    }

    async fn progress(&self, id: &JobId, data_type: DataType) -> Result<TypeProgress> {
        let id = id.clone();
        self.run(move |conn| {
            ensure_job(conn, &id)?;
            let row: Option<(String, bool, String)> = conn
                .query_row(
                    "SELECT frontier, finished, counters FROM progress WHERE job_id = ?1 AND data_type = ?2",
                    params![id.as_str(), data_type.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db_err)?;
            match row {
                None => Ok(TypeProgress::default()),
                Some((frontier, finished, counters)) => Ok(TypeProgress {
                    frontier: Some(serde_json::from_str::<Vec<Cursor>>(&frontier)?),
                    finished,
                    counters: serde_json::from_str::<Counters>(&counters)?,
                }),
            }
        })
        .await
    }

    async fn results(&self, id: &JobId, keys: &[String]) -> Result<HashMap<String, String>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let id = id.clone();
        let keys = keys.to_vec();
        self.run(move |conn| {
            // One read transaction for the whole batch: outside a transaction
            // every statement takes and releases the file locks (fcntl) again.
            let tx = conn.transaction().map_err(db_err)?;
            let mut found = HashMap::new();
            {
                let mut stmt = tx
                    .prepare_cached("SELECT value FROM results WHERE job_id = ?1 AND key = ?2")
                    .map_err(db_err)?;
                for k in keys {
                    let v: Option<String> = stmt
                        .query_row(params![id.as_str(), k], |r| r.get(0))
                        .optional()
                        .map_err(db_err)?;
                    if let Some(v) = v {
                        found.insert(k, v);
                    }
                }
            }
            tx.commit().map_err(db_err)?;
            Ok(found)
        })
        .await
    }

    async fn results_with_prefix(
        &self,
        id: &JobId,
        prefix: &str,
    ) -> Result<HashMap<String, String>> {
        let id = id.clone();
        let prefix = prefix.to_string();
        self.run(move |conn| {
            // Range scan on the primary key: [prefix, prefix + U+10FFFF).
            let upper = format!("{prefix}\u{10FFFF}");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key, value FROM results WHERE job_id = ?1 AND key >= ?2 AND key < ?3",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![id.as_str(), prefix, upper], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(db_err)?;
            rows.map(|r| r.map_err(db_err)).collect()
        })
        .await
    }

    async fn put_result(&self, id: &JobId, key: &str, value: &str) -> Result<()> {
        let id = id.clone();
        let (key, value) = (key.to_string(), value.to_string());
        self.run(move |conn| write_result(conn, &id, &key, &value, None))
            .await
    }

    async fn checkpoint(&self, id: &JobId, cp: &Checkpoint) -> Result<()> {
        let id = id.clone();
        let cp = cp.clone();
        self.run(move |conn| write_checkpoint(conn, &id, &cp, None))
            .await
    }

    async fn set_state(
        &self,
        id: &JobId,
        state: JobState,
        reason: Option<StopReason>,
    ) -> Result<()> {
        let id = id.clone();
        self.run(move |conn| write_state(conn, &id, state, reason, None))
            .await
    }

    async fn item_errors(&self, id: &JobId) -> Result<Vec<ItemError>> {
        let id = id.clone();
        self.run(move |conn| {
            ensure_job(conn, &id)?;
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key, data_type, item_id, name, kind, message FROM item_errors WHERE job_id = ?1 ORDER BY key",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map([id.as_str()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })
                .map_err(db_err)?;
            rows.map(|r| {
                let (key, dt, item_id, name, kind, message) = r.map_err(db_err)?;
                Ok(ItemError {
                    data_type: parse_data_type(&dt)?,
                    key,
                    item_id,
                    name,
                    kind: ErrorKind::from_stored(&kind),
                    message,
                })
            })
            .collect()
        })
        .await
    }

    async fn put_auth(&self, id: &JobId, mode: AuthMode, sealed: &SealedAuth) -> Result<()> {
        let id = id.clone();
        let blob = sealed.0.clone();
        self.run(move |conn| write_auth(conn, &id, mode, &blob, None))
            .await
    }

    async fn auth(&self, id: &JobId, mode: AuthMode) -> Result<Option<SealedAuth>> {
        let id = id.clone();
        self.run(move |conn| {
            ensure_job(conn, &id)?;
            let blob: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT sealed FROM auth WHERE job_id = ?1 AND mode = ?2",
                    params![id.as_str(), mode.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            Ok(blob.map(SealedAuth))
        })
        .await
    }
}

fn lease_of(row: (String, i64, i64, i64), worker: &str) -> Result<Lease> {
    let (id, token, attempts, expires) = row;
    Ok(Lease::new(
        id.parse()?,
        worker,
        token,
        attempts.max(0) as u32,
        expires,
    ))
}

/// The queue on one SQLite file: for workers on one machine (claims are
/// serialised by SQLite's write lock; lease times by this machine's clock).
#[async_trait]
impl JobQueue for SqliteJobStore {
    async fn enqueue(&self, id: &JobId) -> Result<()> {
        let id = id.clone();
        self.run(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE jobs SET queue_state = 'queued', lease_owner = NULL,
                       lease_expires_ms = NULL WHERE id = ?1",
                    [id.as_str()],
                )
                .map_err(db_err)?;
            if changed == 0 {
                return Err(unknown_job(&id));
            }
            Ok(())
        })
        .await
    }

    async fn claim(&self, worker: &str, lease_for: std::time::Duration) -> Result<Option<Lease>> {
        let worker = worker.to_string();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let now = now_ms();
            let next: Option<(String, i64, i64)> = tx
                .query_row(
                    "SELECT id, lease_token, attempts FROM jobs WHERE queue_state = 'queued'
                       AND (lease_expires_ms IS NULL OR lease_expires_ms <= ?1)
                     ORDER BY seq LIMIT 1",
                    [now],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db_err)?;
            let Some((id, token, attempts)) = next else {
                return Ok(None);
            };
            let expires = now.saturating_add(millis(lease_for));
            tx.execute(
                "UPDATE jobs SET lease_owner = ?2, lease_token = ?3, attempts = ?4,
                   lease_expires_ms = ?5 WHERE id = ?1",
                params![id, worker, token + 1, attempts + 1, expires],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            lease_of((id, token + 1, attempts + 1, expires), &worker).map(Some)
        })
        .await
    }

    async fn renew(&self, lease: &Lease, lease_for: std::time::Duration) -> Result<Lease> {
        let lease = lease.clone();
        self.run(move |conn| {
            let expires = now_ms().saturating_add(millis(lease_for));
            let changed = conn
                .execute(
                    "UPDATE jobs SET lease_expires_ms = ?5 WHERE id = ?1 AND lease_token = ?2
                       AND lease_owner = ?3 AND queue_state = ?4",
                    params![
                        lease.job_id.as_str(),
                        lease.token,
                        lease.worker,
                        "queued",
                        expires
                    ],
                )
                .map_err(db_err)?;
            if changed == 0 {
                ensure_job(conn, &lease.job_id)?;
                return Err(lease_lost(&lease));
            }
            Ok(Lease::new(
                lease.job_id.clone(),
                lease.worker.clone(),
                lease.token,
                lease.attempt,
                expires,
            ))
        })
        .await
    }

    async fn release(&self, lease: &Lease, release: Release) -> Result<()> {
        let lease = lease.clone();
        let next = if release == Release::Done {
            "done"
        } else {
            "queued"
        };
        self.run(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE jobs SET queue_state = ?4, lease_owner = NULL, lease_expires_ms = NULL
                     WHERE id = ?1 AND lease_token = ?2 AND lease_owner = ?3
                       AND queue_state = 'queued'",
                    params![lease.job_id.as_str(), lease.token, lease.worker, next],
                )
                .map_err(db_err)?;
            if changed == 0 {
                ensure_job(conn, &lease.job_id)?;
                return Err(lease_lost(&lease));
            }
            Ok(())
        })
        .await
    }

    async fn queue_stats(&self) -> Result<QueueStats> {
        self.run(|conn| {
            let now = now_ms();
            conn.query_row(
                "SELECT
                   COALESCE(SUM(queue_state = 'queued' AND (lease_expires_ms IS NULL OR lease_expires_ms <= ?1)), 0),
                   COALESCE(SUM(queue_state = 'queued' AND lease_expires_ms > ?1), 0),
                   COALESCE(SUM(queue_state = 'done'), 0)
                 FROM jobs",
                [now],
                |r| {
                    let n = |v: i64| v.max(0) as u64;
                    Ok(QueueStats::new(n(r.get(0)?), n(r.get(1)?), n(r.get(2)?)))
                },
            )
            .map_err(db_err)
        })
        .await
    }

    async fn checkpoint_leased(&self, lease: &Lease, checkpoint: &Checkpoint) -> Result<()> {
        let lease = lease.clone();
        let cp = checkpoint.clone();
        self.run(move |conn| write_checkpoint(conn, &lease.job_id, &cp, Some(&lease)))
            .await
    }

    async fn set_state_leased(
        &self,
        lease: &Lease,
        state: JobState,
        reason: Option<StopReason>,
    ) -> Result<()> {
        let lease = lease.clone();
        self.run(move |conn| write_state(conn, &lease.job_id, state, reason, Some(&lease)))
            .await
    }

    async fn put_auth_leased(
        &self,
        lease: &Lease,
        mode: AuthMode,
        sealed: &SealedAuth,
    ) -> Result<()> {
        let lease = lease.clone();
        let blob = sealed.0.clone();
        self.run(move |conn| write_auth(conn, &lease.job_id, mode, &blob, Some(&lease)))
            .await
    }

    async fn put_result_leased(&self, lease: &Lease, key: &str, value: &str) -> Result<()> {
        let lease = lease.clone();
        let (key, value) = (key.to_string(), value.to_string());
        self.run(move |conn| write_result(conn, &lease.job_id, &key, &value, Some(&lease)))
            .await
    }
}
