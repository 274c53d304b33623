//! The shared job-store and queue suites against PostgreSQL, on a server the
//! test starts on loopback.

use std::sync::Arc;

use dtp_core::store::{JobQueue, JobStore};
use dtp_store_postgres::test_server::PgServer;
use dtp_store_postgres::{PostgresJobStore, SCHEMA_VERSION};
use dtp_testkit::store_suite::{run_queue_suite, run_store_suite};

fn server() -> PgServer {
    PgServer::start().unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_keeps_the_job_store_and_queue_contracts() {
    let pg = server();
    let store = PostgresJobStore::connect(&pg.create_database().unwrap())
        .await
        .unwrap();
    run_store_suite(Arc::new(store.clone())).await;
    let queue = PostgresJobStore::connect(&pg.create_database().unwrap())
        .await
        .unwrap();
    run_queue_suite(Arc::new(queue)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_versioned_and_run_once_under_concurrent_starts() {
    let pg = server();
    let url = pg.create_database().unwrap();
    // Eight workers start at once against an empty database.
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresJobStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await.unwrap().expect("every concurrent start succeeds"));
    }
    assert_eq!(stores[0].schema_version().await.unwrap(), SCHEMA_VERSION);
    // A job written by one is read by another; a reconnect migrates nothing.
    let job = stores[3]
        .create_job(dtp_core::store::NewJob::new(
            "local:a",
            "local:b",
            [dtp_core::DataType::Tasks],
        ))
        .await
        .unwrap();
    stores[5].enqueue(&job.id).await.unwrap();
    let again = PostgresJobStore::connect(&url).await.unwrap();
    assert_eq!(again.job(&job.id).await.unwrap(), job);
    assert_eq!(again.queue_stats().await.unwrap().waiting, 1);
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_typed_errors() {
    let e = PostgresJobStore::connect("postgres://u:secret-pw@[nonsense")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &dtp_core::ErrorKind::InvalidData);
    assert!(!e.to_string().contains("secret-pw"), "{e}");
    // Nothing listens on this port: a transient error, not a panic.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut opts = dtp_store_postgres::PoolOptions::default();
    opts.wait = std::time::Duration::from_secs(2);
    let e = PostgresJobStore::connect_with(
        &format!("postgres://u:secret-pw@127.0.0.1:{port}/db"),
        opts,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), &dtp_core::ErrorKind::Transient, "{e}");
    assert!(!format!("{e} {e:?}").contains("secret-pw"));
}
