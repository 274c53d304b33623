//! Gmail: conformance against the Gmail fake, end to end with the local
//! archive (Maildir), the media upload path for large messages, and
//! idempotency by Message-ID + hash across jobs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use dtp_adapters_google::mail::{GmailExporter, GmailImporter, SIMPLE_UPLOAD_MAX};
use dtp_adapters_google::testing::gmail::GmailFake;
use dtp_adapters_google::testing::{self, client_for, failing_server, json_response, legacy_error};
use dtp_adapters_local::LocalArchive;
use dtp_core::store::JobState;
use dtp_core::{AuthData, Exporter, Importer, MediaRef, Result};
use dtp_models::mail::{Folder, MailData, Message};
use dtp_testkit::conformance::{self, Account, Capabilities, ConformanceTarget, ErrorCase};
use dtp_testkit::{Dataset, DatasetSpec, MemoryExporter, MemoryImporter};
use serde_json::Value;
use wiremock::MockServer;

use crate::common::run;

const TOKEN: &str = "ya29.gmail-token";

struct GmailTarget {
    servers: Mutex<Vec<MockServer>>,
}

impl GmailTarget {
    fn account(&self, server: MockServer) -> Account<MailData> {
        let client = client_for(&server);
        self.servers.lock().unwrap().push(server);
        Account::new(
            Arc::new(GmailExporter::new(client.clone()).with_page_size(10)),
            Arc::new(GmailImporter::new(client)),
            testing::oauth(TOKEN),
        )
    }
}

#[async_trait]
impl ConformanceTarget<MailData> for GmailTarget {
    async fn fresh_account(&self) -> Result<Account<MailData>> {
        let (server, _fake) = GmailFake::start(TOKEN).await;
        Ok(self.account(server))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<MailData>>> {
        let mut cases = Vec::new();
        for (name, status, body, on_import, kind) in [
            (
                "403 storageQuotaExceeded (mailbox full) on import",
                403,
                legacy_error(
                    403,
                    "usageLimits",
                    "storageQuotaExceeded",
                    "The user has exceeded their storage quota.",
                ),
                true,
                dtp_core::ErrorKind::DestinationFull,
            ),
            (
                "403 dailyLimitExceeded on export",
                403,
                legacy_error(
                    403,
                    "usageLimits",
                    "dailyLimitExceeded",
                    "Quota exceeded for quota metric 'Queries' and limit 'Queries per day'",
                ),
                false,
                dtp_core::ErrorKind::QuotaExhausted,
            ),
            (
                "401 authError without refresher on import",
                401,
                legacy_error(401, "global", "authError", "Invalid Credentials"),
                true,
                dtp_core::ErrorKind::Unauthenticated,
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

    /// Gmail names its system folders (role, `/` separator, label flag) and
    /// sets the internal date from the Date header; the sample has none.
    fn normalize(&self, value: &mut Value) {
        if let Some(o) = value.as_object_mut() {
            for k in ["role", "separator", "is_label", "name", "internal_date"] {
                o.remove(k);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_passes_the_conformance_suite() {
    conformance::run_all::<MailData, _>(&GmailTarget {
        servers: Mutex::new(Vec::new()),
    })
    .await;
}

fn raw(n: u32, subject: &str) -> Vec<u8> {
    format!(
        "Message-ID: <m{n}@example.org>\r\nDate: Tue, 2 Jan 2024 1{}:00:00 +0100\r\nFrom: Ada <ada@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody {n} ✓\r\n",
        n % 10
    )
    .into_bytes()
}

/// Every message of an account as (sha256, sorted folder paths, flags).
async fn contents(exporter: Arc<dyn Exporter<MailData>>, auth: AuthData) -> Vec<String> {
    let sink = Arc::new(MemoryImporter::<MailData>::new());
    let r = run(exporter, sink.clone(), auth, AuthData::None, None).await;
    assert!(r.is_complete(), "{r}");
    let dest = sink.destination();
    let folders: BTreeMap<String, Folder> = dest
        .containers()
        .into_iter()
        .map(|(_, f)| (f.id.clone(), f))
        .collect();
    let mut out: Vec<String> = dest
        .items()
        .into_iter()
        .map(|i| {
            let mut paths: Vec<String> = i
                .item
                .folder_ids
                .iter()
                .map(|f| folders.get(f).map(|x| x.path.clone()).unwrap_or_default())
                .collect();
            paths.sort();
            let mut kw = i.item.flags.keywords.clone();
            kw.sort();
            format!(
                "{} {:?} seen={} flagged={} draft={} kw={kw:?}",
                i.media_sha256.unwrap_or_default(),
                paths,
                i.item.flags.seen,
                i.item.flags.flagged,
                i.item.flags.draft
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmail_to_archive_to_gmail_keeps_bytes_labels_and_flags() {
    let (server, fake) = GmailFake::start(TOKEN).await;
    let receipts = fake.seed_label("Receipts/2025");
    fake.seed_message(&raw(1, "Inbox unread"), &["INBOX", "UNREAD", "IMPORTANT"]);
    fake.seed_message(
        &raw(2, "Starred receipt 🧾"),
        &["INBOX", "STARRED", &receipts],
    );
    fake.seed_message(&raw(3, "Archived"), &[]);
    fake.seed_message(&raw(4, "Sent"), &["SENT"]);
    fake.seed_message(&raw(5, "Spam"), &["SPAM", "UNREAD"]);
    let exporter: Arc<dyn Exporter<MailData>> =
        Arc::new(GmailExporter::new(client_for(&server)).with_page_size(2));
    let original = contents(exporter.clone(), testing::oauth(TOKEN)).await;
    assert_eq!(original.len(), 5, "{original:#?}");
    assert!(
        original
            .iter()
            .any(|c| c.contains("[\"INBOX\", \"Receipts/2025\"]") && c.contains("flagged=true")),
        "{original:#?}"
    );
    assert!(
        original
            .iter()
            .any(|c| c.contains("[\"[Gmail]/All Mail\"]")),
        "{original:#?}"
    );

    // Gmail → archive (Maildir).
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
    let source: Arc<dyn Exporter<MailData>> =
        Arc::new(LocalArchive::open_source(dir.path()).unwrap());
    assert_eq!(
        contents(source.clone(), AuthData::None).await,
        original,
        "archive content"
    );

    // Archive → a fresh Gmail account: same bytes, labels and flags.
    let (server2, fake2) = GmailFake::start(TOKEN).await;
    let client2 = client_for(&server2);
    let r = run(
        source.clone(),
        Arc::new(GmailImporter::new(client2.clone())),
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let back = contents(
        Arc::new(GmailExporter::new(client2.clone())),
        testing::oauth(TOKEN),
    )
    .await;
    assert_eq!(back, original, "Gmail content after the round trip");
    let calls = fake2.with_state(|s| s.imports.clone());
    assert_eq!(calls.len(), 5);
    for c in &calls {
        assert_eq!(c.internal_date_source.as_deref(), Some("dateHeader"));
        assert_eq!(c.never_mark_spam.as_deref(), Some("true"));
    }
    // The internal date comes from the Date header.
    let dates: Vec<i64> =
        fake2.with_state(|s| s.messages.iter().map(|m| m.internal_date).collect());
    assert!(
        dates
            .iter()
            .all(|d| *d < 1_704_300_000_000 && *d > 1_704_100_000_000),
        "{dates:?}"
    );

    // A new job with a new importer adds nothing (Message-ID + hash).
    let r = run(
        source,
        Arc::new(GmailImporter::new(client2)),
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(fake2.with_state(|s| s.messages.len()), 5);
    assert_eq!(fake2.with_state(|s| s.imports.len()), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_above_the_simple_limit_takes_the_upload_path() {
    let (server, fake) = GmailFake::start(TOKEN).await;
    let mut big = raw(7, "Big attachment");
    let body_len = SIMPLE_UPLOAD_MAX as usize + 700_000;
    big.extend(
        std::iter::repeat_n(b'x', body_len)
            .collect::<Vec<_>>()
            .chunks(76)
            .flat_map(|c| {
                let mut l = c.to_vec();
                l.extend_from_slice(b"\r\n");
                l
            }),
    );
    let small = raw(8, "Small");
    let mut dataset = Dataset::<MailData>::generate(&DatasetSpec::new(0, 0));
    dataset.containers = vec![Folder::new("f", "INBOX")];
    dataset.items = vec![
        Message::new(
            "big",
            "f",
            MediaRef::new("big")
                .with_size(big.len() as u64)
                .with_mime_type("message/rfc822"),
        ),
        Message::new(
            "small",
            "f",
            MediaRef::new("small")
                .with_size(small.len() as u64)
                .with_mime_type("message/rfc822"),
        ),
    ];
    dataset.media.insert("big".into(), Bytes::from(big.clone()));
    dataset
        .media
        .insert("small".into(), Bytes::from(small.clone()));
    let importer: Arc<dyn Importer<MailData>> = Arc::new(GmailImporter::new(client_for(&server)));
    let r = run(
        Arc::new(MemoryExporter::fixed(dataset, 10)),
        importer,
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let calls = fake.with_state(|s| s.imports.clone());
    let mut sizes: Vec<(bool, usize)> = calls.iter().map(|c| (c.upload, c.size)).collect();
    sizes.sort();
    assert_eq!(sizes, [(false, small.len()), (true, big.len())]);
    let stored = fake.with_state(|s| {
        s.messages
            .iter()
            .find(|m| m.raw.len() == big.len())
            .map(|m| m.raw == big)
    });
    assert_eq!(stored, Some(true), "the big message arrived byte for byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_above_the_import_limit_fails_alone_before_any_upload() {
    let (server, fake) = GmailFake::start(TOKEN).await;
    let small = raw(9, "Fits");
    let mut dataset = Dataset::<MailData>::generate(&DatasetSpec::new(0, 0));
    dataset.containers = vec![Folder::new("f", "INBOX")];
    dataset.items = vec![
        Message::new(
            "huge",
            "f",
            MediaRef::new("huge")
                .with_size(dtp_adapters_google::mail::UPLOAD_MAX + 1)
                .with_mime_type("message/rfc822"),
        ),
        Message::new(
            "small",
            "f",
            MediaRef::new("small").with_size(small.len() as u64),
        ),
    ];
    dataset.media.insert("small".into(), Bytes::from(small));
    let r = run(
        Arc::new(MemoryExporter::fixed(dataset, 10)),
        Arc::new(GmailImporter::new(client_for(&server))),
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Partial, "{r}");
    assert_eq!(r.failures.len(), 1, "{r}");
    assert_eq!(r.failures[0].item_id, "huge");
    assert_eq!(r.failures[0].kind.as_str(), "invalid_data");
    assert_eq!(
        fake.with_state(|s| s.imports.len()),
        1,
        "only the small one was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_message_exports_byte_for_byte_with_its_labels() {
    let fx = testing::fixture("gmail.users.messages.get");
    let raw = dtp_adapters_google::mail::decode_raw(fx["raw"].as_str().unwrap()).unwrap();
    let labels: Vec<&str> = fx["labelIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let (server, fake) = GmailFake::start(TOKEN).await;
    let id = fake.seed_message(&raw, &labels);
    // The fake answers as the fixture does: string numbers, unpadded base64url.
    let got: Value = client_for(&server)
        .json(
            &testing::oauth(TOKEN),
            dtp_adapters_google::Request::get(
                dtp_adapters_google::Api::Gmail,
                format!("gmail/v1/users/me/messages/{id}"),
            )
            .query("format", "raw"),
        )
        .await
        .unwrap();
    assert_eq!(got["internalDate"], fx["internalDate"]);
    assert_eq!(got["raw"], fx["raw"]);
    assert!(got["historyId"].is_string());
    let sink = Arc::new(MemoryImporter::<MailData>::new());
    let r = run(
        Arc::new(GmailExporter::new(client_for(&server))),
        sink.clone(),
        testing::oauth(TOKEN),
        AuthData::None,
        None,
    )
    .await;
    assert!(r.is_complete(), "{r}");
    let items = sink.destination().items();
    assert_eq!(items.len(), 1);
    let m = &items[0];
    use sha2::Digest;
    assert_eq!(
        m.media_sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&raw)).as_str())
    );
    assert!(m.item.flags.flagged && m.item.flags.seen);
    assert_eq!(m.item.flags.keywords, ["IMPORTANT", "CATEGORY_PERSONAL"]);
    assert_eq!(
        m.item.internal_date.unwrap().timestamp_millis(),
        1_762_362_900_000
    );
}
