//! Outlook contacts against the stateful Graph fake: the testkit conformance
//! suite, every folder exported (not only the default one), and the
//! end-to-end transfer with the local archive.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::fake::{Failure, GraphFake};
use common::{auth, client_for};
use dtp_adapters_microsoft::OutlookContacts;
use dtp_core::Result;
use dtp_models::contacts::ContactsData;
use dtp_testkit::conformance::{self, Account, Capabilities, ConformanceTarget, ErrorCase};

struct Target {
    servers: Mutex<Vec<wiremock::MockServer>>,
}

impl Target {
    async fn account(&self, failure: Option<Failure>, token: &str) -> Account<ContactsData> {
        let (server, fake) = GraphFake::start("at-conformance", true).await;
        if let Some(f) = failure {
            fake.set_failure(f);
        }
        let adapter = Arc::new(OutlookContacts::new(client_for(&fake)));
        self.servers.lock().unwrap().push(server);
        Account::new(adapter.clone(), adapter, auth(token))
    }
}

#[async_trait]
impl ConformanceTarget<ContactsData> for Target {
    async fn fresh_account(&self) -> Result<Account<ContactsData>> {
        Ok(self.account(None, "at-conformance").await)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<ContactsData>>> {
        let case = |name: &str, account, on_import, kind| ErrorCase {
            name: name.to_string(),
            account,
            on_import,
            expected_kind: kind,
        };
        Ok(vec![
            case(
                "507 quotaLimitReached on create",
                self.account(Some(Failure::QuotaOnCreate), "at-conformance")
                    .await,
                true,
                dtp_core::ErrorKind::DestinationFull,
            ),
            case(
                "403 ErrorQuotaExceeded (full mailbox)",
                self.account(Some(Failure::MailboxFullOnCreate), "at-conformance")
                    .await,
                true,
                dtp_core::ErrorKind::DestinationFull,
            ),
            case(
                "403 ErrorAccessDenied",
                self.account(Some(Failure::AccessDenied), "at-conformance")
                    .await,
                false,
                dtp_core::ErrorKind::PermissionDenied,
            ),
            case(
                "401 with no refresher",
                self.account(None, "at-expired").await,
                false,
                dtp_core::ErrorKind::Unauthenticated,
            ),
            case(
                "truncated JSON page",
                self.account(Some(Failure::TruncatedJson), "at-conformance")
                    .await,
                false,
                dtp_core::ErrorKind::InvalidData,
            ),
        ])
    }

    /// Graph e-mail addresses have no type (`emailAddresses` is
    /// `{name, address}`), so the `home`/`work` type of an address does not
    /// come back.
    fn normalize(&self, value: &mut serde_json::Value) {
        if let Some(emails) = value.get_mut("emails").and_then(|e| e.as_array_mut()) {
            for e in emails {
                if let Some(m) = e.as_object_mut() {
                    m.remove("types");
                }
            }
        }
    }
}

#[tokio::test]
async fn contacts_conformance() {
    let target = Target {
        servers: Mutex::new(Vec::new()),
    };
    conformance::run_all(&target).await;
}

/// What Graph cannot hold of a vCard contact: e-mail types, phone types
/// beyond business/home/mobile (a fax becomes a home number), phone
/// preferences and their order (Graph keeps mobile, business, home lists).
fn graph_view(v: &mut serde_json::Value) {
    if let Some(emails) = v.get_mut("emails").and_then(|e| e.as_array_mut()) {
        for e in emails.iter_mut() {
            if let Some(m) = e.as_object_mut() {
                m.remove("types");
                m.remove("pref");
            }
        }
    }
    if let Some(phones) = v.get_mut("phones").and_then(|e| e.as_array_mut()) {
        let mut values: Vec<String> = phones
            .iter()
            .filter_map(|p| p["value"].as_str().map(str::to_string))
            .collect();
        values.sort();
        *phones = values.into_iter().map(serde_json::Value::from).collect();
    }
}

#[tokio::test]
async fn archive_to_graph_to_archive() {
    let e2e = common::e2e::archive_graph_archive::<ContactsData, _, _>(
        &common::e2e::sample_archive(),
        || async {
            let (server, fake) = GraphFake::start("at-e2e", true).await;
            let a = Arc::new(OutlookContacts::new(client_for(&fake)));
            let counter: Box<dyn Fn() -> usize + Send + Sync> = Box::new(move || {
                let _keep = &server;
                fake.count("contact")
            });
            (
                a.clone() as Arc<dyn dtp_core::Exporter<ContactsData>>,
                a as Arc<dyn dtp_core::Importer<ContactsData>>,
                auth("at-e2e"),
                counter,
            )
        },
        &graph_view,
    )
    .await;
    assert_eq!(e2e.items, 3);
}

fn seed(
    fake: &GraphFake,
    kind: &'static str,
    container: bool,
    id: &str,
    parent: &str,
    body: serde_json::Value,
) {
    let mut s = fake.state.lock().unwrap();
    let item = common::fake::Item {
        id: id.into(),
        parent: parent.into(),
        body: body.as_object().unwrap().clone(),
        ext: Default::default(),
        mime: None,
    };
    if container {
        s.containers.entry(kind).or_default().push(item);
    } else {
        s.items.entry(kind).or_default().push(item);
    }
}

#[tokio::test]
async fn every_folder_is_exported_with_paging() {
    use common::fake::DEFAULT_CONTACTS;
    let (_server, fake) = GraphFake::start("at-1", false).await;
    seed(
        &fake,
        "contactFolder",
        true,
        "AAMkTop=",
        DEFAULT_CONTACTS,
        serde_json::json!({"displayName": "Work"}),
    );
    seed(
        &fake,
        "contactFolder",
        true,
        "AAMkChild=",
        "AAMkTop=",
        serde_json::json!({"displayName": "Suppliers"}),
    );
    for i in 0..57 {
        seed(
            &fake,
            "contact",
            false,
            &format!("AAMkDef{i}="),
            DEFAULT_CONTACTS,
            serde_json::json!({"displayName": format!("Default {i}"), "givenName": "D"}),
        );
    }
    for i in 0..3 {
        seed(
            &fake,
            "contact",
            false,
            &format!("AAMkTop{i}="),
            "AAMkTop=",
            serde_json::json!({"displayName": format!("Work {i}")}),
        );
    }
    seed(
        &fake,
        "contact",
        false,
        "AAMkCh0=",
        "AAMkChild=",
        serde_json::json!({"displayName": "Supplier 0", "emailAddresses": [{"name": "S", "address": "s@example.com"}]}),
    );
    let a = Arc::new(OutlookContacts::new(client_for(&fake)));
    let (containers, items) = common::e2e::snapshot::<ContactsData>(a, auth("at-1"), &|_| {}).await;
    assert_eq!(containers.len(), 3, "{containers:?}");
    assert!(containers.iter().any(|c| c.contains("\"Suppliers\"")));
    assert!(containers.iter().any(|c| c.contains("\"Contacts\"")));
    assert_eq!(items.len(), 61);
    assert_eq!(
        items
            .iter()
            .filter(|i| i.contains(r#"\"name\":\"Contacts\""#))
            .count(),
        57
    );
    assert_eq!(
        items
            .iter()
            .filter(|i| i.contains(r#"\"name\":\"Suppliers\""#))
            .count(),
        1
    );
    // The default folder's 57 contacts took several pages of 50.
    let reqs = fake.state.lock().unwrap().requests;
    assert!(reqs >= 6, "{reqs} requests");
}

/// A 429 with `Retry-After: 1` on the first call: the driver waits at least
/// that long, retries, and the transfer completes with nothing lost.
#[tokio::test]
async fn throttled_first_call_is_retried_after_retry_after() {
    let (server, fake) = GraphFake::start("at-1", true).await;
    let a = Arc::new(OutlookContacts::new(client_for(&fake)));
    let src = Arc::new(dtp_testkit::MemoryExporter::<ContactsData>::generated(
        dtp_testkit::DatasetSpec::new(2, 7),
    ));
    let store: Arc<dyn dtp_core::store::JobStore> =
        Arc::new(dtp_core::store::MemoryJobStore::new());
    let job = common::e2e::new_job::<ContactsData>(&store).await;
    let started = std::time::Instant::now();
    let r = common::e2e::run(&store, &job, src, a, dtp_core::AuthData::None, auth("at-1")).await;
    assert_eq!(r.state, dtp_core::store::JobState::Complete, "{r}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.count("contact"), 14);
    let reqs = server.received_requests().await.unwrap();
    assert!(reqs.len() >= 2);
    // The throttled request was sent again, identically.
    assert_eq!(reqs[0].url, reqs[1].url);
    assert_eq!(reqs[0].method, reqs[1].method);
}

/// A 429 storm (`Retry-After: 0` on every call): the driver retries up to
/// its policy, then stops the job as `rate_limited` with the checkpoint
/// kept, and nothing was written.
#[tokio::test]
async fn a_throttling_storm_stops_the_job_as_rate_limited() {
    let (server, fake) = GraphFake::start("at-1", false).await;
    fake.set_failure(Failure::AlwaysThrottled);
    let a = Arc::new(OutlookContacts::new(client_for(&fake)));
    let src = Arc::new(dtp_testkit::MemoryExporter::<ContactsData>::generated(
        dtp_testkit::DatasetSpec::new(1, 3),
    ));
    let store: Arc<dyn dtp_core::store::JobStore> =
        Arc::new(dtp_core::store::MemoryJobStore::new());
    let job = common::e2e::new_job::<ContactsData>(&store).await;
    let report = dtp_core::TransferDriver::new(store.clone())
        .with_options(
            dtp_core::TransferOptions::default()
                .with_retry(dtp_core::RetryPolicy::default().with_max_attempts(4)),
        )
        .run(
            &job,
            dtp_core::Transfer::new(src, a)
                .with_export_auth(dtp_core::AuthData::None)
                .with_import_auth(auth("at-1")),
        )
        .await
        .unwrap();
    assert_eq!(report.state, dtp_core::store::JobState::Stopped, "{report}");
    let stop = report.stop_reason.as_ref().expect("a stop reason");
    assert_eq!(stop.kind.as_str(), "rate_limited", "{report}");
    assert_eq!(fake.count("contact"), 0);
    let calls = server.received_requests().await.unwrap().len();
    assert_eq!(calls, 4, "one call per allowed attempt, no hammering");
}
