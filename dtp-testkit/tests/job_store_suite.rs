//! The shared job-store suite against the in-process stores (the PostgreSQL
//! store runs the same suite in dtp-store-postgres).

use std::sync::Arc;

use dtp_core::store::{MemoryJobStore, SqliteJobStore};
use dtp_testkit::store_suite::{run_queue_suite, run_store_suite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_keeps_the_job_store_contract() {
    run_store_suite(Arc::new(MemoryJobStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_keeps_the_queue_contract() {
    run_queue_suite(Arc::new(MemoryJobStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_keeps_the_job_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteJobStore::open(dir.path().join("jobs.sqlite")).unwrap();
    run_store_suite(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_in_memory_keeps_the_job_store_contract() {
    run_store_suite(Arc::new(SqliteJobStore::open_in_memory().unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_keeps_the_queue_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteJobStore::open(dir.path().join("jobs.sqlite")).unwrap();
    run_queue_suite(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_sqlite_store_migrates_and_keeps_its_jobs() {
    use dtp_core::store::{JobQueue, JobStore, NewJob};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.sqlite");
    let id = {
        let store = SqliteJobStore::open(&path).unwrap();
        let job = store
            .create_job(NewJob::new(
                "local:a",
                "local:b",
                [dtp_core::DataType::Tasks],
            ))
            .await
            .unwrap();
        job.id
    };
    // Roll the file back to schema 1, as an older build wrote it.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "BEGIN; DROP INDEX jobs_waiting;
             ALTER TABLE jobs DROP COLUMN queue_state; ALTER TABLE jobs DROP COLUMN lease_owner;
             ALTER TABLE jobs DROP COLUMN lease_token; ALTER TABLE jobs DROP COLUMN lease_expires_ms;
             ALTER TABLE jobs DROP COLUMN attempts; PRAGMA user_version = 1; COMMIT;",
        )
        .unwrap();
    }
    let store = SqliteJobStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    assert_eq!(store.job(&id).await.unwrap().id, id);
    store.enqueue(&id).await.unwrap();
    let lease = store
        .claim("w", std::time::Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the old job is claimable");
    assert_eq!(lease.job_id, id);
}
