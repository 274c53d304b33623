//! Versioned schema migrations.
//!
//! `dtp_schema_migrations` records each version applied. Migrations run in
//! one transaction under an advisory lock, so workers starting at once
//! migrate exactly once. Never edit a released entry: append a new one.

use dtp_core::{Error, ErrorKind, Result};
use tokio_postgres::{Client, GenericClient};

use crate::db_err;

/// The schema, one entry per version (index 0 is version 1).
const MIGRATIONS: &[&str] = &[
    // 1: the job store (as the SQLite store) plus the queue and its leases.
    r#"
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        data_types TEXT NOT NULL,
        state TEXT NOT NULL,
        stop_kind TEXT,
        stop_message TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        queue_state TEXT NOT NULL DEFAULT 'none'
            CHECK (queue_state IN ('none', 'queued', 'done')),
        lease_owner TEXT,
        lease_token BIGINT NOT NULL DEFAULT 0,
        lease_expires_at TIMESTAMPTZ,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_waiting ON jobs (seq) WHERE queue_state = 'queued';
    CREATE TABLE progress (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        data_type TEXT NOT NULL,
        frontier TEXT NOT NULL,
        finished BOOLEAN NOT NULL,
        counters TEXT NOT NULL,
        PRIMARY KEY (job_id, data_type)
    );
    CREATE TABLE results (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        key TEXT COLLATE "C" NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (job_id, key)
    );
    CREATE TABLE item_errors (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
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
        sealed BYTEA NOT NULL,
        PRIMARY KEY (job_id, mode)
    );
    "#,
];

/// The latest schema version this build knows.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// An arbitrary constant naming dtp's migration lock.
const MIGRATION_LOCK: i64 = 0x6474_705f_6d69_6772; // "dtp_migr"

pub(crate) async fn current_version<C: GenericClient>(client: &C) -> Result<u32> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('dtp_schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(db_err)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let v: Option<i32> = client
        .query_one("SELECT max(version) FROM dtp_schema_migrations", &[])
        .await
        .map_err(db_err)?
        .get(0);
    Ok(v.unwrap_or(0).max(0) as u32)
}

pub(crate) async fn migrate(client: &mut Client) -> Result<()> {
    let tx = client.transaction().await.map_err(db_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS dtp_schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(db_err)?;
    let current = current_version(&tx).await?;
    if current > SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "job store schema version {current} is newer than this build knows ({SCHEMA_VERSION}); upgrade dtp"
            ),
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql).await.map_err(db_err)?;
        tx.execute(
            "INSERT INTO dtp_schema_migrations (version) VALUES ($1)",
            &[&((i + 1) as i32)],
        )
        .await
        .map_err(db_err)?;
        tracing::info!(version = i + 1, "job store schema migrated");
    }
    tx.commit().await.map_err(db_err)
}
