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
