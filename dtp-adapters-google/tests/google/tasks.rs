//! Tasks: conformance against the Tasks fake, end to end with the local
//! archive (subtasks, order, hidden completed tasks, date-only due).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_adapters_google::testing::tasks::TasksFake;
use dtp_adapters_google::testing::{
    self, client_for, failing_server, fixture, json_response, legacy_error,
};
use dtp_adapters_google::{TasksExporter, TasksImporter};
use dtp_adapters_local::LocalArchive;
use dtp_core::store::JobState;
use dtp_core::{AuthData, Exporter, Result};
use dtp_models::tasks::{Task, TasksData};
use dtp_testkit::conformance::{self, Account, Capabilities, ConformanceTarget, ErrorCase};
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::common::{comparable, export_all, run};

const TOKEN: &str = "ya29.tasks-token";

struct TasksTarget {
    servers: Mutex<Vec<MockServer>>,
}

impl TasksTarget {
    fn account(&self, server: MockServer) -> Account<TasksData> {
        let client = client_for(&server);
        self.servers.lock().unwrap().push(server);
        Account::new(
            Arc::new(TasksExporter::new(client.clone()).with_page_size(7)),
            Arc::new(TasksImporter::new(client)),
            testing::oauth(TOKEN),
        )
    }
}

#[async_trait]
impl ConformanceTarget<TasksData> for TasksTarget {
    async fn fresh_account(&self) -> Result<Account<TasksData>> {
        let (server, _fake) = TasksFake::start(TOKEN).await;
        Ok(self.account(server))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<TasksData>>> {
        let mut cases = Vec::new();
        for (name, status, body, on_import, kind) in [
            (
                "403 userRateLimitExceeded storm then quota (daily) on import",
                403,
                legacy_error(
                    403,
                    "usageLimits",
                    "dailyLimitExceeded",
                    "Quota exceeded for quota metric 'Queries' and limit 'Queries per day'",
                ),
                true,
                dtp_core::ErrorKind::QuotaExhausted,
            ),
            (
                "404 unknown list on export of the lists",
                403,
                legacy_error(
                    403,
                    "global",
                    "insufficientPermissions",
                    "Request had insufficient authentication scopes.",
                ),
                false,
                dtp_core::ErrorKind::PermissionDenied,
            ),
        ] {
            cases.push(ErrorCase {
                name: name.into(),
                account: self.account(failing_server(json_response(status, body)).await),
                on_import,
                expected_kind: kind,
            });
        }
        Ok(cases)
    }

    /// Google gives every task a status (`needsAction`), a position and an
    /// update time; the sample tasks have none of them.
    fn normalize(&self, value: &mut Value) {
        if let Some(o) = value.as_object_mut() {
            o.remove("position");
            o.remove("last_modified");
            if o.get("status") == Some(&json!("NEEDS-ACTION")) {
                o.remove("status");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_pass_the_conformance_suite() {
    conformance::run_all::<TasksData, _>(&TasksTarget {
        servers: Mutex::new(Vec::new()),
    })
    .await;
}

fn seed(fake: &TasksFake) -> String {
    let list = fake.seed_list("Travel");
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut last: HashMap<Option<String>, String> = HashMap::new();
    for t in fixture("tasks.tasks.list")["items"].as_array().unwrap() {
        let mut body = t.clone();
        let m = body.as_object_mut().unwrap();
        let old = m["id"].as_str().unwrap().to_string();
        let parent = m
            .get("parent")
            .and_then(Value::as_str)
            .map(|p| ids[p].clone());
        let hidden = m.get("hidden") == Some(&json!(true));
        for k in [
            "id", "etag", "kind", "selfLink", "updated", "position", "parent", "hidden",
        ] {
            m.remove(k);
        }
        let prev = last.get(&parent).cloned();
        let new = fake.seed_task(&list, body, parent.as_deref(), prev.as_deref());
        if hidden {
            fake.hide(&list, &new);
        }
        last.insert(parent, new.clone());
        ids.insert(old, new);
    }
    list
}

const IDS: &[&str] = &["id", "list_id", "parent_id", "last_modified", "position"];

fn titles(tasks: &[Task]) -> Vec<&str> {
    tasks.iter().map(|t| t.title.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_to_archive_to_google_keeps_subtasks_order_and_hidden_tasks() {
    let (server, fake) = TasksFake::start(TOKEN).await;
    seed(&fake);
    let exporter: Arc<dyn Exporter<TasksData>> =
        Arc::new(TasksExporter::new(client_for(&server)).with_page_size(2));
    let (lists, tasks) = export_all(exporter.clone(), testing::oauth(TOKEN)).await;
    assert_eq!(
        lists.iter().map(|l| l.title.as_str()).collect::<Vec<_>>(),
        ["Travel"]
    );
    assert_eq!(tasks.len(), 5, "the hidden completed task too");
    let parent_of = |t: &Task| {
        t.parent_id
            .as_ref()
            .and_then(|p| tasks.iter().find(|x| &x.id == p))
            .map(|x| x.title.clone())
    };
    let flights = tasks.iter().find(|t| t.title == "Book flights ✈").unwrap();
    assert_eq!(parent_of(flights).as_deref(), Some("Plan the trip"));
    assert!(
        tasks
            .iter()
            .find(|t| t.title == "Plan the trip")
            .unwrap()
            .due
            .as_ref()
            .unwrap()
            .is_date()
    );

    // Google → archive: content equal.
    let dir = tempfile::tempdir().unwrap();
    let archive = LocalArchive::open_destination(dir.path()).unwrap();
    let r = run(
        exporter,
        Arc::new(archive.clone()),
        testing::oauth(TOKEN),
        AuthData::None,
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    archive.finish().unwrap();
    let source: Arc<dyn Exporter<TasksData>> =
        Arc::new(LocalArchive::open_source(dir.path()).unwrap());
    let (_, from_archive) = export_all::<TasksData>(source.clone(), AuthData::None).await;
    // The archive adds a UID (iCalendar needs one).
    let no_uid = |v: &[Task]| {
        v.iter()
            .cloned()
            .map(|mut t| {
                t.uid = None;
                t
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        comparable(&no_uid(&from_archive), IDS),
        comparable(&tasks, IDS),
        "archive content"
    );

    // Archive → a fresh account: same tasks, same hierarchy and order.
    let (server2, fake2) = TasksFake::start(TOKEN).await;
    let client2 = client_for(&server2);
    let r = run(
        source.clone(),
        Arc::new(TasksImporter::new(client2.clone())),
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let (_, back) = export_all::<TasksData>(
        Arc::new(TasksExporter::new(client2.clone())),
        testing::oauth(TOKEN),
    )
    .await;
    // Google keeps neither `hidden` nor `links` on insert (both read-only).
    let writable = |v: &[Task]| {
        v.iter()
            .cloned()
            .map(|mut t| {
                t.properties.clear();
                t.uid = None;
                t
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        comparable(&writable(&back), IDS),
        comparable(&writable(&tasks), IDS)
    );
    assert_eq!(
        titles(&back),
        titles(&tasks),
        "same order, parents before subtasks"
    );
    let back_flights = back.iter().find(|t| t.title == "Book flights ✈").unwrap();
    let back_parent = back
        .iter()
        .find(|t| Some(&t.id) == back_flights.parent_id.as_ref())
        .unwrap();
    assert_eq!(back_parent.title, "Plan the trip");

    // A rerun with a new importer adds nothing.
    let r = run(
        source,
        Arc::new(TasksImporter::new(client2)),
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let total = fake2.with_state(|s| s.lists.iter().map(|l| l.tasks.len()).sum::<usize>());
    assert_eq!(total, 5);
}
