//! The contract every job store keeps, as one suite that runs against each
//! store: [`run_store_suite`] for any [`JobStore`], [`run_queue_suite`] for
//! stores that are also a [`JobQueue`] (leases and fencing).
//!
//! Each check panics with what broke. Give every run a fresh, empty store.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use dtp_core::store::{
    Checkpoint, Counters, ItemError, JobId, JobQueue, JobState, JobStore, LeasedStore, NewJob,
    Release, StopReason,
};
use dtp_core::{AuthMode, Cursor, DataType, Error, ErrorKind, ImportKey, SealedAuth};

fn job(source: &str) -> NewJob {
    NewJob::new(source, "local:./out", [DataType::Contacts, DataType::Media])
}

fn counters(items: u64) -> Counters {
    let mut c = Counters::default();
    c.created = items;
    c.pages = items / 10;
    c.bytes = items * 1000;
    c
}

fn assert_kind<T: std::fmt::Debug>(r: dtp_core::Result<T>, kind: ErrorKind, what: &str) {
    match r {
        Err(e) => assert_eq!(e.kind(), &kind, "{what}: wrong error {e}"),
        Ok(v) => panic!("{what}: expected {kind}, got Ok({v:?})"),
    }
}

/// Runs every [`JobStore`] check against `store` (fresh and empty).
pub async fn run_store_suite(store: Arc<dyn JobStore>) {
    jobs_are_created_read_and_listed_newest_first(&store).await;
    unknown_jobs_are_not_found(&store).await;
    checkpoints_replace_progress_atomically(&store).await;
    results_are_found_by_key_and_by_prefix(&store).await;
    item_errors_are_recorded_replaced_and_resolved(&store).await;
    states_and_stop_reasons_round_trip(&store).await;
    sealed_auth_is_kept_per_side(&store).await;
    single_results_are_written_at_once(&store).await;
    concurrent_checkpoints_of_different_jobs_all_land(&store).await;
}

async fn single_results_are_written_at_once(store: &Arc<dyn JobStore>) {
    let a = store.create_job(job("local:put")).await.unwrap().id;
    store.put_result(&a, "media/p/x", "one").await.unwrap();
    store.put_result(&a, "media/p/x", "two").await.unwrap();
    let got = store.results(&a, &["media/p/x".to_string()]).await.unwrap();
    assert_eq!(got.get("media/p/x").map(String::as_str), Some("two"));
    assert!(
        store
            .put_result(&JobId::random(), "media/p/x", "v")
            .await
            .is_err(),
        "a result for an unknown job is refused"
    );
}

async fn jobs_are_created_read_and_listed_newest_first(store: &Arc<dyn JobStore>) {
    let before = store.list_jobs().await.unwrap().len();
    let a = store.create_job(job("local:a")).await.unwrap();
    let b = store.create_job(job("local:b")).await.unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.state, JobState::Created);
    assert_eq!(a.stop_reason, None);
    assert_eq!(
        a.data_types,
        vec![DataType::Contacts, DataType::Media],
        "data types keep their order"
    );
    let read = store.job(&a.id).await.unwrap();
    assert_eq!(read, a, "a job reads back as created");
    let all = store.list_jobs().await.unwrap();
    assert_eq!(all.len(), before + 2);
    assert_eq!(all[0].id, b.id, "newest first");
    assert_eq!(all[1].id, a.id);
}

async fn unknown_jobs_are_not_found(store: &Arc<dyn JobStore>) {
    let ghost = JobId::random();
    let nf = ErrorKind::NotFound;
    assert_kind(store.job(&ghost).await, nf.clone(), "job");
    assert_kind(
        store.progress(&ghost, DataType::Contacts).await,
        nf.clone(),
        "progress",
    );
    let cp = Checkpoint::new(DataType::Contacts, vec![Cursor::root()], counters(1));
    assert_kind(
        store.checkpoint(&ghost, &cp).await,
        nf.clone(),
        "checkpoint",
    );
    assert_kind(
        store.set_state(&ghost, JobState::Running, None).await,
        nf.clone(),
        "set_state",
    );
    assert_kind(store.item_errors(&ghost).await, nf.clone(), "item_errors");
    assert_kind(
        store
            .put_auth(&ghost, AuthMode::Export, &SealedAuth(vec![1]))
            .await,
        nf.clone(),
        "put_auth",
    );
    assert_kind(store.auth(&ghost, AuthMode::Export).await, nf, "auth");
}

async fn checkpoints_replace_progress_atomically(store: &Arc<dyn JobStore>) {
    let j = store.create_job(job("local:cp")).await.unwrap();
    let p = store.progress(&j.id, DataType::Contacts).await.unwrap();
    assert_eq!(p.frontier, None, "never checkpointed: no frontier");
    assert!(!p.finished);
    assert_eq!(p.counters, Counters::default());

    let frontier = vec![
        Cursor::new(&serde_json::json!({"page": 2, "token": "ü/✓"})).unwrap(),
        Cursor::root(),
    ];
    let mut cp = Checkpoint::new(DataType::Contacts, frontier.clone(), counters(20));
    cp.results = vec![("k1".into(), "v1".into())];
    store.checkpoint(&j.id, &cp).await.unwrap();
    let p = store.progress(&j.id, DataType::Contacts).await.unwrap();
    assert_eq!(p.frontier.as_deref(), Some(&frontier[..]));
    assert_eq!(p.counters, counters(20));
    assert!(!p.finished);
    let other = store.progress(&j.id, DataType::Media).await.unwrap();
    assert_eq!(other.frontier, None, "data types are separate");

    let mut done = Checkpoint::new(DataType::Contacts, Vec::new(), counters(30));
    done.finished = true;
    store.checkpoint(&j.id, &done).await.unwrap();
    let p = store.progress(&j.id, DataType::Contacts).await.unwrap();
    assert_eq!(p.frontier.as_deref(), Some(&[][..]), "frontier replaced");
    assert!(p.finished);
    assert_eq!(p.counters, counters(30));
    let kept = store.results(&j.id, &["k1".to_string()]).await.unwrap();
    assert_eq!(
        kept.get("k1").map(String::as_str),
        Some("v1"),
        "results accumulate"
    );
}

async fn results_are_found_by_key_and_by_prefix(store: &Arc<dyn JobStore>) {
    let j = store.create_job(job("local:results")).await.unwrap();
    let other = store.create_job(job("local:results2")).await.unwrap();
    let mut all: Vec<(String, String)> = Vec::new();
    for i in 0..1000 {
        let key = ImportKey::item(DataType::Contacts, &format!("item-{i}"))
            .as_str()
            .to_string();
        all.push((key, format!("dest-{i}")));
    }
    for id in ["album-1", "älbum/2", "album-1x"] {
        let key = ImportKey::container(DataType::Media, id)
            .as_str()
            .to_string();
        all.push((key, format!("c-{id}")));
    }
    all.push((
        ImportKey::container(DataType::Contacts, "book")
            .as_str()
            .to_string(),
        "c-book".into(),
    ));
    let mut cp = Checkpoint::new(DataType::Contacts, vec![Cursor::root()], counters(0));
    cp.results = all.clone();
    store.checkpoint(&j.id, &cp).await.unwrap();
    // Another job's results never leak in.
    let mut cp2 = Checkpoint::new(DataType::Contacts, vec![Cursor::root()], counters(0));
    cp2.results = vec![(all[0].0.clone(), "other-job".into())];
    store.checkpoint(&other.id, &cp2).await.unwrap();

    // A result written again is replaced.
    let mut again = Checkpoint::new(DataType::Contacts, vec![Cursor::root()], counters(0));
    again.results = vec![(all[1].0.clone(), "dest-1-again".into())];
    store.checkpoint(&j.id, &again).await.unwrap();

    let asked: Vec<String> = vec![
        all[0].0.clone(),
        all[1].0.clone(),
        all[999].0.clone(),
        "missing".into(),
    ];
    let found = store.results(&j.id, &asked).await.unwrap();
    assert_eq!(found.len(), 3, "only stored keys come back: {found:?}");
    assert_eq!(found[&all[0].0], "dest-0");
    assert_eq!(found[&all[1].0], "dest-1-again");
    assert_eq!(found[&all[999].0], "dest-999");
    assert!(store.results(&j.id, &[]).await.unwrap().is_empty());

    let media = store
        .results_with_prefix(&j.id, &ImportKey::container_prefix(DataType::Media))
        .await
        .unwrap();
    let expected: HashMap<String, String> = all[1000..1003].iter().cloned().collect();
    assert_eq!(
        media, expected,
        "prefix scan finds exactly the media containers"
    );
    let items_prefix = {
        let k = ImportKey::item(DataType::Contacts, "x");
        let s = k.as_str();
        s[..s.len() - 1].to_string()
    };
    let items = store
        .results_with_prefix(&j.id, &items_prefix)
        .await
        .unwrap();
    assert_eq!(items.len(), 1000, "prefix scan finds every item");
    let other_items = store
        .results_with_prefix(&other.id, &items_prefix)
        .await
        .unwrap();
    assert_eq!(other_items.len(), 1);
}

async fn item_errors_are_recorded_replaced_and_resolved(store: &Arc<dyn JobStore>) {
    let j = store.create_job(job("local:errors")).await.unwrap();
    assert!(store.item_errors(&j.id).await.unwrap().is_empty());
    let e1 = ItemError::new(
        DataType::Contacts,
        "k-a",
        "a",
        "Ada",
        &Error::invalid_data("bad vCard"),
    );
    let e2 = ItemError::new(
        DataType::Media,
        "k-b",
        "b",
        "beach.jpg",
        &Error::not_found("gone"),
    );
    let mut cp = Checkpoint::new(DataType::Contacts, vec![Cursor::root()], counters(0));
    cp.errors = vec![e1.clone(), e2.clone()];
    store.checkpoint(&j.id, &cp).await.unwrap();
    let mut got = store.item_errors(&j.id).await.unwrap();
    got.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(got, vec![e1.clone(), e2.clone()]);

    // A new error for the same key replaces the old one; a resolved key goes.
    let e1b = ItemError::new(
        DataType::Contacts,
        "k-a",
        "a",
        "Ada",
        &Error::unsupported("no such field"),
    );
    let mut cp = Checkpoint::new(DataType::Contacts, vec![Cursor::root()], counters(0));
    cp.errors = vec![e1b.clone()];
    cp.resolved_errors = vec!["k-b".into()];
    store.checkpoint(&j.id, &cp).await.unwrap();
    assert_eq!(store.item_errors(&j.id).await.unwrap(), vec![e1b]);
}

async fn states_and_stop_reasons_round_trip(store: &Arc<dyn JobStore>) {
    let j = store.create_job(job("local:state")).await.unwrap();
    store
        .set_state(&j.id, JobState::Running, None)
        .await
        .unwrap();
    assert_eq!(store.job(&j.id).await.unwrap().state, JobState::Running);
    let reason = StopReason::from_error(&Error::new(ErrorKind::DestinationFull, "quota reached"));
    store
        .set_state(&j.id, JobState::Stopped, Some(reason.clone()))
        .await
        .unwrap();
    let r = store.job(&j.id).await.unwrap();
    assert_eq!(r.state, JobState::Stopped);
    assert_eq!(r.stop_reason, Some(reason));
    assert!(r.updated_at >= j.created_at);
    store
        .set_state(&j.id, JobState::Complete, None)
        .await
        .unwrap();
    let r = store.job(&j.id).await.unwrap();
    assert_eq!(r.state, JobState::Complete);
    assert_eq!(r.stop_reason, None, "a new state clears the stop reason");
}

async fn sealed_auth_is_kept_per_side(store: &Arc<dyn JobStore>) {
    let j = store.create_job(job("local:auth")).await.unwrap();
    assert_eq!(store.auth(&j.id, AuthMode::Export).await.unwrap(), None);
    let blob: Vec<u8> = (0..=255u8).collect();
    store
        .put_auth(&j.id, AuthMode::Export, &SealedAuth(blob.clone()))
        .await
        .unwrap();
    store
        .put_auth(&j.id, AuthMode::Import, &SealedAuth(vec![9, 0, 9]))
        .await
        .unwrap();
    assert_eq!(
        store.auth(&j.id, AuthMode::Export).await.unwrap(),
        Some(SealedAuth(blob)),
        "bytes survive exactly (all 256 values)"
    );
    store
        .put_auth(&j.id, AuthMode::Export, &SealedAuth(vec![1]))
        .await
        .unwrap();
    assert_eq!(
        store.auth(&j.id, AuthMode::Export).await.unwrap(),
        Some(SealedAuth(vec![1])),
        "replaced"
    );
    assert_eq!(
        store.auth(&j.id, AuthMode::Import).await.unwrap(),
        Some(SealedAuth(vec![9, 0, 9]))
    );
}

async fn concurrent_checkpoints_of_different_jobs_all_land(store: &Arc<dyn JobStore>) {
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            store
                .create_job(job(&format!("local:c{i}")))
                .await
                .unwrap()
                .id,
        );
    }
    let tasks: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 1..=10u64 {
                    let mut cp =
                        Checkpoint::new(DataType::Contacts, vec![Cursor::root()], counters(n));
                    cp.results = vec![(format!("key-{n}"), format!("{id}-{n}"))];
                    store.checkpoint(&id, &cp).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for id in &ids {
        let p = store.progress(id, DataType::Contacts).await.unwrap();
        assert_eq!(p.counters, counters(10), "last checkpoint wins for {id}");
        let keys: Vec<String> = (1..=10).map(|n| format!("key-{n}")).collect();
        let r = store.results(id, &keys).await.unwrap();
        assert_eq!(r.len(), 10);
        assert_eq!(r["key-7"], format!("{id}-7"));
    }
}

/// Runs every [`JobQueue`] check against `queue` (fresh and empty). Takes a
/// few seconds: it lets short leases expire.
pub async fn run_queue_suite(queue: Arc<dyn JobQueue>) {
    claims_follow_the_queue_order_and_exclude_each_other(&queue).await;
    concurrent_claims_hand_out_each_job_once(&queue).await;
    release_done_or_requeue(&queue).await;
    an_expired_lease_is_claimable_and_the_old_owner_is_fenced(&queue).await;
    renewed_leases_do_not_expire(&queue).await;
}

async fn new_job(queue: &Arc<dyn JobQueue>, name: &str) -> JobId {
    queue.create_job(job(name)).await.unwrap().id
}

async fn drain(queue: &Arc<dyn JobQueue>) {
    // Leaves nothing waiting from an earlier check.
    while let Some(l) = queue.claim("drain", Duration::from_secs(60)).await.unwrap() {
        queue.release(&l, Release::Done).await.unwrap();
    }
}

async fn claims_follow_the_queue_order_and_exclude_each_other(queue: &Arc<dyn JobQueue>) {
    drain(queue).await;
    let lease = Duration::from_secs(60);
    assert!(
        queue.claim("w1", lease).await.unwrap().is_none(),
        "nothing queued, nothing claimed"
    );
    assert_kind(
        queue.enqueue(&JobId::random()).await,
        ErrorKind::NotFound,
        "enqueue of an unknown job",
    );
    let never_queued = new_job(queue, "local:not-queued").await;
    let a = new_job(queue, "local:qa").await;
    let b = new_job(queue, "local:qb").await;
    let c = new_job(queue, "local:qc").await;
    for id in [&a, &b, &c] {
        queue.enqueue(id).await.unwrap();
    }
    let stats = queue.queue_stats().await.unwrap();
    assert_eq!((stats.waiting, stats.leased), (3, 0), "{stats:?}");
    let l1 = queue.claim("w1", lease).await.unwrap().expect("a job");
    let l2 = queue.claim("w2", lease).await.unwrap().expect("a job");
    let l3 = queue.claim("w3", lease).await.unwrap().expect("a job");
    assert_eq!(
        [&l1.job_id, &l2.job_id, &l3.job_id],
        [&a, &b, &c],
        "oldest first"
    );
    assert!(
        queue.claim("w4", lease).await.unwrap().is_none(),
        "all leased"
    );
    assert_ne!(l1.job_id, never_queued);
    assert_eq!((l1.worker.as_str(), l1.attempt), ("w1", 1));
    assert!(l1.token > 0);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (l1.expires_at_ms - now_ms - 60_000).abs() < 10_000,
        "expiry about a minute ahead: {} vs now {now_ms}",
        l1.expires_at_ms
    );
    let stats = queue.queue_stats().await.unwrap();
    assert_eq!((stats.waiting, stats.leased), (0, 3), "{stats:?}");
    for l in [l1, l2, l3] {
        queue.release(&l, Release::Done).await.unwrap();
    }
}

async fn concurrent_claims_hand_out_each_job_once(queue: &Arc<dyn JobQueue>) {
    drain(queue).await;
    let mut ids = HashSet::new();
    for i in 0..40 {
        let id = new_job(queue, &format!("local:cc{i}")).await;
        queue.enqueue(&id).await.unwrap();
        ids.insert(id);
    }
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(l) = queue
                    .claim(&format!("w{w}"), Duration::from_secs(60))
                    .await
                    .unwrap()
                {
                    mine.push(l);
                }
                mine
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    let got: HashSet<JobId> = claimed.iter().map(|l| l.job_id.clone()).collect();
    assert_eq!(claimed.len(), 40, "each job claimed exactly once");
    assert_eq!(got, ids);
    for l in claimed {
        queue.release(&l, Release::Done).await.unwrap();
    }
}

async fn release_done_or_requeue(queue: &Arc<dyn JobQueue>) {
    drain(queue).await;
    let lease = Duration::from_secs(60);
    let a = new_job(queue, "local:rel").await;
    queue.enqueue(&a).await.unwrap();
    let l1 = queue.claim("w1", lease).await.unwrap().unwrap();
    queue.release(&l1, Release::Requeue).await.unwrap();
    let l2 = queue
        .claim("w2", lease)
        .await
        .unwrap()
        .expect("a requeued job is claimable at once");
    assert_eq!(l2.job_id, a);
    assert_eq!(l2.attempt, 2);
    assert!(l2.token > l1.token, "tokens grow with each claim");
    assert_kind(
        queue.release(&l1, Release::Done).await,
        ErrorKind::LeaseLost,
        "release of an old lease",
    );
    let before = queue.queue_stats().await.unwrap();
    queue.release(&l2, Release::Done).await.unwrap();
    let after = queue.queue_stats().await.unwrap();
    assert_eq!(after.done, before.done + 1);
    assert_eq!(after.leased + 1, before.leased);
    assert!(
        queue.claim("w3", lease).await.unwrap().is_none(),
        "a done job is not handed out"
    );
    assert_kind(
        queue.renew(&l2, lease).await,
        ErrorKind::LeaseLost,
        "renew after release",
    );
    // Enqueued again (e.g. a provider retries a stopped job), it runs again.
    queue.enqueue(&a).await.unwrap();
    let l3 = queue.claim("w3", lease).await.unwrap().expect("requeued");
    assert_eq!(l3.job_id, a);
    queue.release(&l3, Release::Done).await.unwrap();
}

async fn an_expired_lease_is_claimable_and_the_old_owner_is_fenced(queue: &Arc<dyn JobQueue>) {
    drain(queue).await;
    let short = Duration::from_millis(300);
    let a = new_job(queue, "local:fence").await;
    queue.enqueue(&a).await.unwrap();
    let old = queue.claim("old", short).await.unwrap().unwrap();
    let old_view: Arc<dyn JobStore> = Arc::new(LeasedStore::new(queue.clone(), old.clone()));
    // While the lease holds, writes through the lease land.
    let mut cp = Checkpoint::new(DataType::Contacts, vec![Cursor::root()], counters(10));
    cp.results = vec![("k-old".into(), "v-old".into())];
    old_view.checkpoint(&a, &cp).await.unwrap();
    old_view
        .set_state(&a, JobState::Running, None)
        .await
        .unwrap();
    assert!(
        queue.claim("new", short).await.unwrap().is_none(),
        "not claimable while the lease holds"
    );
    // A leased view writes only its own job.
    let other = new_job(queue, "local:other").await;
    assert!(old_view.checkpoint(&other, &cp).await.is_err());

    tokio::time::sleep(short + Duration::from_millis(300)).await;
    let new = queue
        .claim("new", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("an expired lease makes the job claimable");
    assert_eq!(new.job_id, a);
    assert_eq!(new.attempt, 2);
    assert!(new.token > old.token);
    let new_view: Arc<dyn JobStore> = Arc::new(LeasedStore::new(queue.clone(), new.clone()));
    let resumed = new_view.progress(&a, DataType::Contacts).await.unwrap();
    assert_eq!(
        resumed.counters,
        counters(10),
        "the new owner resumes from the old owner's last checkpoint"
    );
    let mut cp_new = Checkpoint::new(
        DataType::Contacts,
        vec![Cursor::new(&"p2").unwrap()],
        counters(20),
    );
    cp_new.results = vec![("k-new".into(), "v-new".into())];
    new_view.checkpoint(&a, &cp_new).await.unwrap();

    // The old owner wakes up: every write is refused, nothing changes.
    let mut stale = Checkpoint::new(DataType::Contacts, vec![Cursor::root()], counters(11));
    stale.results = vec![("k-new".into(), "v-stale".into())];
    let lost = old_view.checkpoint(&a, &stale).await;
    assert_kind(lost, ErrorKind::LeaseLost, "stale checkpoint");
    let e = old_view.checkpoint(&a, &stale).await.unwrap_err();
    assert_eq!(
        e.context().operation,
        Some("job_store"),
        "a lost lease is a store failure to the driver"
    );
    assert_kind(
        old_view
            .set_state(
                &a,
                JobState::Stopped,
                Some(StopReason::from_error(&Error::cancelled())),
            )
            .await,
        ErrorKind::LeaseLost,
        "stale set_state",
    );
    assert_kind(
        old_view
            .put_auth(&a, AuthMode::Import, &SealedAuth(vec![6]))
            .await,
        ErrorKind::LeaseLost,
        "stale put_auth",
    );
    // Adapter state written outside a checkpoint (an upload session URL) is
    // fenced the same way: the new owner's value stays.
    new_view
        .put_result(&a, "media/p/x", "session-new")
        .await
        .unwrap();
    assert_kind(
        old_view.put_result(&a, "media/p/x", "session-stale").await,
        ErrorKind::LeaseLost,
        "stale put_result",
    );
    let kept = new_view
        .results(&a, &["media/p/x".to_string()])
        .await
        .unwrap();
    assert_eq!(
        kept.get("media/p/x").map(String::as_str),
        Some("session-new"),
        "a stale put_result must not overwrite the new owner's value"
    );
    assert_kind(
        queue.renew(&old, short).await,
        ErrorKind::LeaseLost,
        "stale renew",
    );
    assert_kind(
        queue.release(&old, Release::Requeue).await,
        ErrorKind::LeaseLost,
        "stale release",
    );
    let p = queue.progress(&a, DataType::Contacts).await.unwrap();
    assert_eq!(
        p.counters,
        counters(20),
        "the new owner's checkpoint stands"
    );
    assert_eq!(
        p.frontier,
        Some(vec![Cursor::new(&"p2").unwrap()]),
        "the new owner's frontier stands"
    );
    let r = queue
        .results(&a, &["k-new".to_string(), "k-old".to_string()])
        .await
        .unwrap();
    assert_eq!(r["k-new"], "v-new");
    assert_eq!(r["k-old"], "v-old");
    assert_eq!(queue.job(&a).await.unwrap().state, JobState::Running);
    assert_eq!(queue.auth(&a, AuthMode::Import).await.unwrap(), None);
    queue.release(&new, Release::Done).await.unwrap();
}

async fn renewed_leases_do_not_expire(queue: &Arc<dyn JobQueue>) {
    drain(queue).await;
    let short = Duration::from_millis(400);
    let a = new_job(queue, "local:renew").await;
    queue.enqueue(&a).await.unwrap();
    let mut l = queue.claim("w1", short).await.unwrap().unwrap();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let renewed = queue.renew(&l, short).await.unwrap();
        assert_eq!(renewed.token, l.token, "renewal keeps the token");
        assert!(renewed.expires_at_ms >= l.expires_at_ms);
        l = renewed;
        assert!(
            queue.claim("w2", short).await.unwrap().is_none(),
            "a renewed lease keeps others out"
        );
    }
    let view = LeasedStore::new(queue.clone(), l.clone());
    view.checkpoint(
        &a,
        &Checkpoint::new(DataType::Contacts, vec![Cursor::root()], counters(1)),
    )
    .await
    .unwrap();
    queue.release(&l, Release::Done).await.unwrap();
}
