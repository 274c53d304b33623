//! Helpers shared by the driver tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use dtp_core::store::{JobId, JobStore, NewJob};
use dtp_core::{EventSink, Transfer, TransferEvent};
use dtp_testkit::{MemoryExporter, MemoryImporter, SampleModel};

pub async fn new_job<M: SampleModel>(store: &Arc<dyn JobStore>) -> JobId {
    store
        .create_job(NewJob::new(
            "memory:source",
            "memory:destination",
            [M::DATA_TYPE],
        ))
        .await
        .expect("create job")
        .id
}

pub fn transfer<M: SampleModel>(
    exporter: Arc<MemoryExporter<M>>,
    importer: Arc<MemoryImporter<M>>,
) -> Transfer<M> {
    Transfer::new(exporter, importer)
}

/// Collects every event.
pub fn recorder() -> (EventSink, Arc<Mutex<Vec<TransferEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink_events = events.clone();
    let sink: EventSink =
        Arc::new(move |e: &TransferEvent| sink_events.lock().unwrap().push(e.clone()));
    (sink, events)
}
