//! Contacts: conformance against the People fake, end to end with the local
//! archive, batching, errors and token refresh.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_adapters_google::contacts::{MAX_BATCH, PeopleExporter, PeopleImporter};
use dtp_adapters_google::testing::people::PeopleFake;
use dtp_adapters_google::testing::{
    self, client_for, failing_server, fixture, json_response, legacy_error, rpc_error,
};
use dtp_adapters_local::LocalArchive;
use dtp_core::store::JobState;
use dtp_core::{AuthData, Exporter, Importer, Result};
use dtp_models::contacts::ContactsData;
use dtp_testkit::conformance::{self, Account, Capabilities, ConformanceTarget, ErrorCase};
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

use crate::common::{comparable, export_all, run};

const TOKEN: &str = "ya29.people-token";

struct PeopleTarget {
    servers: Mutex<Vec<MockServer>>,
}

impl PeopleTarget {
    fn new() -> Self {
        PeopleTarget {
            servers: Mutex::new(Vec::new()),
        }
    }

    fn keep(&self, s: MockServer) -> dtp_adapters_google::GoogleClient {
        let c = client_for(&s);
        self.servers.lock().unwrap().push(s);
        c
    }

    fn account(&self, server: MockServer, auth: AuthData) -> Account<ContactsData> {
        let client = self.keep(server);
        Account::new(
            Arc::new(PeopleExporter::new(client.clone()).with_page_size(10)),
            Arc::new(PeopleImporter::new(client).with_batch_size(7)),
            auth,
        )
    }
}

#[async_trait]
impl ConformanceTarget<ContactsData> for PeopleTarget {
    async fn fresh_account(&self) -> Result<Account<ContactsData>> {
        let (server, _fake) = PeopleFake::start(TOKEN).await;
        Ok(self.account(server, testing::oauth(TOKEN)))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<ContactsData>>> {
        let mut cases = Vec::new();
        let mut case =
            |name: &str, server: MockServer, on_import: bool, kind: dtp_core::ErrorKind| {
                cases.push(ErrorCase {
                    name: name.into(),
                    account: self.account(server, testing::oauth(TOKEN)),
                    on_import,
                    expected_kind: kind,
                })
            };
        case(
            "403 PERMISSION_DENIED on export",
            failing_server(json_response(
                403,
                rpc_error(
                    403,
                    "PERMISSION_DENIED",
                    None,
                    "The caller does not have permission",
                ),
            ))
            .await,
            false,
            dtp_core::ErrorKind::PermissionDenied,
        );
        case(
            "401 with no refresher on import",
            failing_server(testing::unauthenticated()).await,
            true,
            dtp_core::ErrorKind::Unauthenticated,
        );
        case(
            "429 per-day quota on import",
            failing_server(json_response(
                429,
                rpc_error(429, "RESOURCE_EXHAUSTED", Some("RATE_LIMIT_EXCEEDED"),
                    "Quota exceeded for quota metric 'Critical read requests' and limit 'Critical read requests per day' of service 'people.googleapis.com'."),
            ))
            .await,
            true,
            dtp_core::ErrorKind::QuotaExhausted,
        );
        case(
            "403 legacy dailyLimitExceeded on export",
            failing_server(json_response(
                403,
                legacy_error(
                    403,
                    "usageLimits",
                    "dailyLimitExceeded",
                    "Daily Limit Exceeded",
                ),
            ))
            .await,
            false,
            dtp_core::ErrorKind::QuotaExhausted,
        );
        case(
            "truncated JSON on export",
            failing_server(ResponseTemplate::new(200).set_body_raw(
                b"{\"contactGroups\": [{\"resourceName\"".to_vec(),
                "application/json",
            ))
            .await,
            false,
            dtp_core::ErrorKind::InvalidData,
        );
        Ok(cases)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_pass_the_conformance_suite() {
    conformance::run_all::<ContactsData, _>(&PeopleTarget::new()).await;
}

/// The fixture's connections, plus a user group holding the second one.
fn seed(fake: &PeopleFake) -> usize {
    let group = fake.seed_group("Engine builders");
    let page = fixture("people.connections.list");
    let people = page["connections"].as_array().unwrap().clone();
    for (i, mut p) in people.clone().into_iter().enumerate() {
        let m = p.as_object_mut().unwrap();
        for k in ["resourceName", "etag", "metadata"] {
            m.remove(k);
        }
        if i == 1 {
            m["memberships"]
                .as_array_mut()
                .unwrap()
                .push(json!({"contactGroupMembership": {"contactGroupResourceName": group}}));
        }
        fake.seed(p);
    }
    people.len()
}

const IDS: &[&str] = &["id", "address_book_id"];

/// What a vCard file legitimately changes: type tokens lower-cased.
fn as_in_vcard(contacts: &[dtp_models::contacts::Contact]) -> Vec<dtp_models::contacts::Contact> {
    contacts
        .iter()
        .cloned()
        .map(|mut c| {
            for tv in c.emails.iter_mut().chain(&mut c.phones).chain(&mut c.urls) {
                tv.types = tv.types.iter().map(|t| t.to_ascii_lowercase()).collect();
            }
            c
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_to_archive_to_google_keeps_every_field() {
    let (server, fake) = PeopleFake::start(TOKEN).await;
    let n = seed(&fake);
    let client = client_for(&server);
    let exporter: Arc<dyn Exporter<ContactsData>> =
        Arc::new(PeopleExporter::new(client.clone()).with_page_size(2));
    let (books, contacts) = export_all(exporter.clone(), testing::oauth(TOKEN)).await;
    assert_eq!(contacts.len(), n);
    // Books: the user group, and My Contacts for the two without one.
    let mut names: Vec<&str> = books.iter().map(|b| b.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Engine builders", "My Contacts"]);
    let ada = contacts
        .iter()
        .find(|c| c.formatted_name == "Ada Lovelace")
        .unwrap();
    assert_eq!(ada.categories, ["starred"]);
    assert_eq!(ada.phones[1].types, ["work", "fax"]);
    assert!(
        ada.properties
            .iter()
            .any(|p| p.name == "X-GOOGLE-PEOPLE-EVENTS")
    );

    // Google → archive.
    let dir = tempfile::tempdir().unwrap();
    let archive = LocalArchive::open_destination(dir.path()).unwrap();
    let r = run(
        exporter.clone(),
        Arc::new(archive.clone()),
        testing::oauth(TOKEN),
        AuthData::None,
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    archive.finish().unwrap();
    let source = LocalArchive::open_source(dir.path()).unwrap();
    let (_, from_archive) = export_all::<ContactsData>(Arc::new(source), AuthData::None).await;
    assert_eq!(
        comparable(&as_in_vcard(&from_archive), IDS),
        comparable(&as_in_vcard(&contacts), IDS),
        "archive content"
    );

    // Archive → a fresh Google account; then its export equals the first.
    let (server2, fake2) = PeopleFake::start(TOKEN).await;
    let client2 = client_for(&server2);
    let importer: Arc<dyn Importer<ContactsData>> = Arc::new(PeopleImporter::new(client2.clone()));
    let source: Arc<dyn Exporter<ContactsData>> =
        Arc::new(LocalArchive::open_source(dir.path()).unwrap());
    let r = run(
        source.clone(),
        importer.clone(),
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let (_, back) = export_all::<ContactsData>(
        Arc::new(PeopleExporter::new(client2.clone())),
        testing::oauth(TOKEN),
    )
    .await;
    assert_eq!(
        comparable(&back, IDS),
        comparable(&contacts, IDS),
        "Google content after the round trip"
    );
    // One batch for the page (at most 200), groups created once.
    let (batches, groups) = fake2.with_state(|s| (s.batch_sizes.clone(), s.groups.len()));
    assert_eq!(batches, [n]);
    assert_eq!(groups, 1);

    // A rerun (a new job, a new importer) adds nothing.
    let importer: Arc<dyn Importer<ContactsData>> = Arc::new(PeopleImporter::new(client2));
    let r = run(
        source,
        importer,
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(fake2.with_state(|s| s.people.len()), n);
    assert_eq!(fake2.with_state(|s| s.groups.len()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_never_exceed_the_limit_and_a_refused_batch_fails_only_its_bad_contact() {
    use dtp_models::contacts::{AddressBook, Contact};
    use dtp_testkit::MemoryExporter;
    let (server, fake) = PeopleFake::start(TOKEN).await;
    let client = client_for(&server);
    let mut items: Vec<Contact> = (0..450)
        .map(|i| Contact::new(format!("c{i}"), "b", format!("Person {i}")))
        .collect();
    // Two values in a singleton field: Google refuses the contact (and the
    // batch holding it).
    let mut bad = Contact::new("bad", "b", "Bad");
    bad.properties.push(dtp_models::props::RawProperty::new(
        "X-GOOGLE-PEOPLE-BIRTHDAYS",
        r#"[{"text":"one"},{"text":"two"}]"#,
    ));
    items.insert(5, bad);
    let mut dataset =
        dtp_testkit::Dataset::<ContactsData>::generate(&dtp_testkit::DatasetSpec::new(0, 0));
    dataset.containers = vec![AddressBook::new("b", "Book")];
    dataset.items = items;
    let source = Arc::new(MemoryExporter::fixed(dataset, 500));
    let r = run(
        source,
        Arc::new(PeopleImporter::new(client)),
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Partial, "{r}");
    assert_eq!(r.failures.len(), 1, "{r}");
    assert_eq!(r.failures[0].item_id, "bad");
    let (people, batches) = fake.with_state(|s| (s.people.len(), s.batch_sizes.clone()));
    assert_eq!(people, 450);
    assert!(batches.iter().all(|b| *b <= MAX_BATCH), "{batches:?}");
    // The first batch was refused and created one by one; the rest batched.
    assert_eq!(batches, [200, 51], "{batches:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_once_and_invalid_grant_asks_to_reauthorize() {
    use dtp_models::contacts::{AddressBook, Contact};
    use dtp_testkit::MemoryExporter;
    let dataset = || {
        let mut d =
            dtp_testkit::Dataset::<ContactsData>::generate(&dtp_testkit::DatasetSpec::new(0, 0));
        d.containers = vec![AddressBook::new("b", "Book")];
        d.items = (0..3)
            .map(|i| Contact::new(format!("c{i}"), "b", format!("P {i}")))
            .collect();
        d
    };
    // The fake accepts only the refreshed token.
    let (server, fake) = PeopleFake::start("ya29.fresh").await;
    testing::mount_token_endpoint(&server, "rt-good", "ya29.fresh").await;
    let refresher = Arc::new(testing::refresher(&server).unwrap());
    let r = run(
        Arc::new(MemoryExporter::fixed(dataset(), 10)),
        Arc::new(PeopleImporter::new(client_for(&server))),
        AuthData::None,
        testing::oauth_refreshable(&server, "ya29.expired", "rt-good"),
        Some(refresher.clone()),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(fake.with_state(|s| s.people.len()), 3);
    let refreshes = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|q| q.url.path() == "/token")
        .count();
    assert_eq!(refreshes, 1, "one refresh for the whole job");

    // A revoked refresh token: the job stops asking to authorize again.
    let (server, _fake) = PeopleFake::start("ya29.fresh").await;
    testing::mount_token_endpoint(&server, "rt-other", "ya29.fresh").await;
    let r = run(
        Arc::new(MemoryExporter::fixed(dataset(), 10)),
        Arc::new(PeopleImporter::new(client_for(&server))),
        AuthData::None,
        testing::oauth_refreshable(&server, "ya29.expired", "rt-revoked"),
        Some(Arc::new(testing::refresher(&server).unwrap())),
    )
    .await;
    assert_eq!(r.state, JobState::Stopped, "{r}");
    assert_eq!(
        r.stop_reason.as_ref().unwrap().kind.as_str(),
        "reauthorize",
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_rate_limit_is_retried_after_retry_after() {
    use wiremock::matchers::{method, path};
    let (server, fake) = PeopleFake::start(TOKEN).await;
    fake.seed(json!({"names": [{"unstructuredName": "Only One"}]}));
    // One legacy-format 403 rateLimitExceeded on the groups listing first.
    wiremock::Mock::given(method("GET"))
        .and(path("/v1/contactGroups"))
        .respond_with(
            json_response(
                403,
                legacy_error(
                    403,
                    "usageLimits",
                    "rateLimitExceeded",
                    "Rate Limit Exceeded",
                ),
            )
            .insert_header("Retry-After", "1"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let (_, items) = export_all::<ContactsData>(
        Arc::new(PeopleExporter::new(client_for(&server))),
        testing::oauth(TOKEN),
    )
    .await;
    assert_eq!(items.len(), 1);
    // Two waits of Retry-After: 1 (the 403 and the fake's one 429).
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
}

#[tokio::test]
async fn errors_never_carry_the_token_and_transport_failures_are_transient() {
    use dtp_adapters_google::{Api, Request};
    let server = failing_server(testing::unauthenticated()).await;
    let client = client_for(&server);
    let auth = testing::oauth("ya29.SECRET-TOKEN");
    let err = client
        .json::<serde_json::Value>(&auth, Request::get(Api::People, "v1/contactGroups"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &dtp_core::ErrorKind::Unauthenticated);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("authError"), "{shown}");
    // Nothing listens on a port just released: a transport error, retryable.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = testing::client_for_uri(&format!("http://127.0.0.1:{port}"));
    let err = client
        .json::<serde_json::Value>(&auth, Request::get(Api::People, "v1/contactGroups"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &dtp_core::ErrorKind::Transient);
    assert!(!format!("{err} {err:?}").contains("SECRET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_photos_are_uploaded_after_the_contact_is_created() {
    use dtp_models::contacts::{AddressBook, Contact, Photo, PhotoSource};
    use dtp_testkit::MemoryExporter;
    let (server, fake) = PeopleFake::start(TOKEN).await;
    let mut d =
        dtp_testkit::Dataset::<ContactsData>::generate(&dtp_testkit::DatasetSpec::new(0, 0));
    d.containers = vec![AddressBook::new("b", "Book")];
    d.items = vec![
        Contact::new("p1", "b", "With photo").with_photo(Photo::new(PhotoSource::Inline {
            media_type: Some("image/png".into()),
            data: dtp_models::InlineBytes(vec![0x89, b'P', b'N', b'G', 1, 2, 3]),
        })),
        Contact::new("p2", "b", "URL photo only").with_photo(Photo::new(PhotoSource::Uri(
            "https://example.org/x.jpg".into(),
        ))),
    ];
    let r = run(
        Arc::new(MemoryExporter::fixed(d, 10)),
        Arc::new(PeopleImporter::new(client_for(&server))),
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(fake.with_state(|s| s.photo_uploads), 1);
    let (_, back) = export_all::<ContactsData>(
        Arc::new(PeopleExporter::new(client_for(&server))),
        testing::oauth(TOKEN),
    )
    .await;
    let with = back
        .iter()
        .find(|c| c.formatted_name == "With photo")
        .unwrap();
    assert!(
        matches!(&with.photos[..], [p] if matches!(&p.source, PhotoSource::Uri(u) if u.starts_with("https://lh3.googleusercontent.com/"))),
        "{:?}",
        with.photos
    );
}
