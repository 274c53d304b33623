//! Helpers shared by the test modules.

use std::sync::Arc;

use dtp_core::store::{JobStore, MemoryJobStore, NewJob};
use dtp_core::{
    AuthData, AuthRefresher, DataModel, Exporter, Importer, Record, Transfer, TransferDriver,
    TransferOptions, TransferReport,
};
use dtp_testkit::MemoryImporter;

/// Runs one transfer in a fresh in-memory job store.
pub async fn run<M: DataModel>(
    exporter: Arc<dyn Exporter<M>>,
    importer: Arc<dyn Importer<M>>,
    export_auth: AuthData,
    import_auth: AuthData,
    import_refresher: Option<Arc<dyn AuthRefresher>>,
) -> TransferReport {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new("test", "test", [M::DATA_TYPE]))
        .await
        .unwrap()
        .id;
    let mut t = Transfer::new(exporter, importer)
        .with_export_auth(export_auth)
        .with_import_auth(import_auth);
    if let Some(r) = import_refresher {
        t = t.with_import_refresher(r);
    }
    TransferDriver::new(store)
        .with_options(TransferOptions::default().with_item_concurrency(4))
        .run(&job, t)
        .await
        .unwrap()
}

/// Exports everything `exporter` yields into memory: (containers, items).
pub async fn export_all<M: dtp_testkit::SampleModel>(
    exporter: Arc<dyn Exporter<M>>,
    auth: AuthData,
) -> (Vec<M::Container>, Vec<M::Item>) {
    let sink = Arc::new(MemoryImporter::<M>::new());
    let report = run(exporter, sink.clone(), auth, AuthData::None, None).await;
    assert!(report.is_complete(), "{report}");
    let dest = sink.destination();
    (
        dest.containers().into_iter().map(|(_, c)| c).collect(),
        dest.items().into_iter().map(|i| i.item).collect(),
    )
}

/// Records as sorted JSON strings with the given id fields removed
/// (everywhere in the tree), for content comparison across services.
pub fn comparable<R: Record>(records: &[R], id_fields: &[&str]) -> Vec<String> {
    fn strip(v: &mut serde_json::Value, f: &[&str]) {
        match v {
            serde_json::Value::Object(m) => {
                for k in f {
                    m.remove(*k);
                }
                m.values_mut().for_each(|v| strip(v, f));
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| strip(v, f)),
            _ => {}
        }
    }
    let mut out: Vec<String> = records
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap();
            strip(&mut v, id_fields);
            v.to_string()
        })
        .collect();
    out.sort();
    out
}
