//! End-to-end transfers between the local archive and Graph (the fake):
//! archive → Graph → a new archive with content equal, a rerun as a new job
//! adding nothing, and a crash in the middle of an import resumed with
//! nothing lost and nothing duplicated.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dtp_adapters_local::LocalArchive;
use dtp_core::store::{JobId, JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{
    AuthData, Exporter, Importer, Record, Transfer, TransferDriver, TransferOptions, TransferReport,
};
use dtp_testkit::{CrashPoint, FaultPlan, FaultyImporter, MemoryImporter, Op, SampleModel};
use serde_json::Value;

/// The sample archive of the repository.
pub fn sample_archive() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/sample")
}

pub async fn new_job<M: SampleModel>(store: &Arc<dyn JobStore>) -> JobId {
    store
        .create_job(NewJob::new("from", "to", [M::DATA_TYPE]))
        .await
        .unwrap()
        .id
}

pub async fn run<M: SampleModel>(
    store: &Arc<dyn JobStore>,
    job: &JobId,
    exporter: Arc<dyn Exporter<M>>,
    importer: Arc<dyn Importer<M>>,
    export_auth: AuthData,
    import_auth: AuthData,
) -> TransferReport {
    TransferDriver::new(store.clone())
        .with_options(TransferOptions::default().with_item_concurrency(4))
        .run(
            job,
            Transfer::new(exporter, importer)
                .with_export_auth(export_auth)
                .with_import_auth(import_auth),
        )
        .await
        .unwrap()
}

/// Everything an exporter yields, as sorted normalized JSON: ids stripped,
/// container references replaced by container names.
pub async fn snapshot<M: SampleModel>(
    exporter: Arc<dyn Exporter<M>>,
    auth: AuthData,
    normalize: &dyn Fn(&mut Value),
) -> (Vec<String>, Vec<String>) {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job::<M>(&store).await;
    let sink = Arc::new(MemoryImporter::<M>::new());
    let r = run(&store, &job, exporter, sink.clone(), auth, AuthData::None).await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let dest = sink.destination();
    let containers: Vec<M::Container> = dest.containers().into_iter().map(|(_, c)| c).collect();
    let strip = |v: &mut Value| strip_fields(v, M::ID_FIELDS);
    let norm_container = |c: &M::Container| {
        let mut v = serde_json::to_value(c).unwrap();
        strip(&mut v);
        normalize(&mut v);
        v.to_string()
    };
    // Items name their containers by the normalized container record.
    let names: HashMap<String, String> = containers
        .iter()
        .map(|c| (c.source_id().to_string(), norm_container(c)))
        .collect();
    let mut cs: Vec<String> = containers.iter().map(norm_container).collect();
    let mut is: Vec<String> = dest
        .items()
        .into_iter()
        .map(|i| {
            let mut v = serde_json::to_value(&i.item).unwrap();
            // Normalized before the ids go: it may look at references.
            normalize(&mut v);
            strip(&mut v);
            let mut in_: Vec<String> = M::container_refs(&i.item)
                .iter()
                .map(|c| names.get(*c).cloned().unwrap_or_default())
                .collect();
            in_.sort();
            serde_json::json!({"record": v, "in": in_, "sha256": i.media_sha256}).to_string()
        })
        .collect();
    cs.sort();
    is.sort();
    (cs, is)
}

fn strip_fields(v: &mut Value, fields: &[&str]) {
    match v {
        Value::Object(m) => {
            for f in fields {
                m.remove(*f);
            }
            m.values_mut().for_each(|x| strip_fields(x, fields));
        }
        Value::Array(xs) => xs.iter_mut().for_each(|x| strip_fields(x, fields)),
        _ => {}
    }
}

/// What one end-to-end run measured.
pub struct E2e {
    pub items: usize,
}

/// archive → Graph (twice, the second as a new job), Graph → new archive,
/// both archives compared; then a crash mid-import into a second Graph
/// account, resumed. `graph()` makes a fresh Graph account and returns its
/// exporter, importer, credentials and an item counter.
pub async fn archive_graph_archive<M, G, Fut>(
    source: &Path,
    graph: G,
    normalize: &dyn Fn(&mut Value),
) -> E2e
where
    M: SampleModel,
    LocalArchive: Exporter<M> + Importer<M>,
    G: Fn() -> Fut,
    Fut: std::future::Future<
            Output = (
                Arc<dyn Exporter<M>>,
                Arc<dyn Importer<M>>,
                AuthData,
                Box<dyn Fn() -> usize + Send + Sync>,
            ),
        >,
{
    let src: Arc<dyn Exporter<M>> = Arc::new(LocalArchive::open_source(source).unwrap());
    let (g_exp, g_imp, g_auth, count) = graph().await;
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());

    // archive → Graph
    let job = new_job::<M>(&store).await;
    let r = run(
        &store,
        &job,
        src.clone(),
        g_imp.clone(),
        AuthData::None,
        g_auth.clone(),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "archive → Graph: {r}");
    let n = count();
    assert!(n > 0, "nothing reached Graph");
    assert_eq!(r.per_type[&M::DATA_TYPE].created as usize, n, "{r}");

    // A new job adds nothing.
    let job2 = new_job::<M>(&store).await;
    let r = run(
        &store,
        &job2,
        src.clone(),
        g_imp.clone(),
        AuthData::None,
        g_auth.clone(),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "rerun: {r}");
    assert_eq!(count(), n, "a rerun as a new job added items");

    // Graph → a new archive; content equal.
    let out = tempfile::tempdir().unwrap();
    let dest = LocalArchive::open_destination(out.path()).unwrap();
    let job3 = new_job::<M>(&store).await;
    let r = run(
        &store,
        &job3,
        g_exp.clone(),
        Arc::new(dest.clone()),
        g_auth.clone(),
        AuthData::None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "Graph → archive: {r}");
    dest.finish().unwrap();
    let want = snapshot::<M>(src.clone(), AuthData::None, normalize).await;
    let back: Arc<dyn Exporter<M>> = Arc::new(LocalArchive::open_source(out.path()).unwrap());
    let got = snapshot::<M>(back, AuthData::None, normalize).await;
    assert_eq!(
        got.0, want.0,
        "containers differ after archive → Graph → archive"
    );
    assert_eq!(got.1.len(), want.1.len());
    for (g, w) in got.1.iter().zip(&want.1) {
        assert_eq!(g, w, "items differ after archive → Graph → archive");
    }

    // Crash in the middle of an import into a fresh account, then resume.
    let (g_exp2, g_imp2, g_auth2, count2) = graph().await;
    let plan = FaultPlan::new();
    let faulty: Arc<dyn Importer<M>> = Arc::new(FaultyImporter::new(g_imp2.clone(), plan.clone()));
    let store2: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job4 = new_job::<M>(&store2).await;
    let mut crashes = 0;
    for (nth, after) in [(2u64, false), (1, true)] {
        plan.arm_crash(CrashPoint {
            op: Op::ImportItem,
            nth,
            after,
        });
        let run_fut = run(
            &store2,
            &job4,
            src.clone(),
            faulty.clone(),
            AuthData::None,
            g_auth2.clone(),
        );
        tokio::select! {
            r = run_fut => panic!("the run finished before its crash point: {r}"),
            _ = plan.crashed() => crashes += 1,
        }
    }
    plan.disarm();
    let r = run(
        &store2,
        &job4,
        src.clone(),
        faulty,
        AuthData::None,
        g_auth2.clone(),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "resume: {r}");
    assert_eq!(crashes, 2);
    assert_eq!(
        count2(),
        n,
        "after crash + resume: lost or duplicated items"
    );
    let again = snapshot::<M>(g_exp2, g_auth2, normalize).await;
    let first = snapshot::<M>(g_exp, g_auth, normalize).await;
    assert_eq!(
        again, first,
        "the resumed account differs from the clean one"
    );
    E2e { items: n }
}
