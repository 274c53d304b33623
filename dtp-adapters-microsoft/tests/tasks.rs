//! Microsoft To Do against the stateful Graph fake: the conformance suite
//! (subtasks as checklist items) and the end-to-end transfer with the local
//! archive.

mod common;

use std::sync::Arc;

use common::fake::GraphFake;
use common::target::GraphTarget;
use common::{auth, client_for};
use dtp_adapters_microsoft::MicrosoftTodo;
use dtp_models::tasks::TasksData;
use dtp_testkit::conformance;
use serde_json::Value;

/// To Do has no "no status": a task without `STATUS` comes back
/// `NEEDS-ACTION` (`notStarted`), so the two compare equal.
fn status_default(v: &mut Value) {
    if v.get("status").and_then(Value::as_str) == Some("NEEDS-ACTION")
        && let Some(m) = v.as_object_mut()
    {
        m.remove("status");
    }
}

#[tokio::test]
async fn tasks_conformance() {
    let target = GraphTarget::new(MicrosoftTodo::new, status_default);
    conformance::run_all::<TasksData, _>(&target).await;
}

/// What To Do cannot hold: `PERCENT-COMPLETE`, `DTSTAMP`; for subtasks
/// (checklist items: title, checked, checked time) everything else.
fn todo_view(v: &mut Value) {
    status_default(v);
    let Some(m) = v.as_object_mut() else { return };
    m.remove("percent_complete");
    m.remove("dtstamp");
    if m.get("parent_id").is_some_and(|p| !p.is_null()) {
        m.retain(|k, _| ["title", "status", "completed", "parent_id"].contains(&k.as_str()));
    }
}

#[tokio::test]
async fn archive_to_graph_to_archive() {
    let e2e = common::e2e::archive_graph_archive::<TasksData, _, _>(
        &common::e2e::sample_archive(),
        || async {
            let (server, fake) = GraphFake::start("at-e2e", true).await;
            let a = Arc::new(MicrosoftTodo::new(client_for(&fake)));
            let counter: Box<dyn Fn() -> usize + Send + Sync> = Box::new(move || {
                let _keep = &server;
                fake.count("todoTask") + fake.count("checklistItem")
            });
            (
                a.clone() as Arc<dyn dtp_core::Exporter<TasksData>>,
                a as Arc<dyn dtp_core::Importer<TasksData>>,
                auth("at-e2e"),
                counter,
            )
        },
        &todo_view,
    )
    .await;
    assert_eq!(e2e.items, 4);
}
