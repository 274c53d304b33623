//! Outlook mail against the stateful Graph fake: the conformance suite
//! (MIME import, folders, flags, idempotency by Message-ID + hash) and the
//! end-to-end transfer with the local archive (Maildir).

mod common;

use std::sync::Arc;

use common::fake::GraphFake;
use common::target::GraphTarget;
use common::{auth, client_for};
use dtp_adapters_microsoft::OutlookMail;
use dtp_models::mail::MailData;
use dtp_testkit::conformance;
use serde_json::Value;

/// Folders: Graph names its well-known folders itself ("Sent Items") and
/// gives them their role; the Inbox is `INBOX` either way. A folder with a
/// role (or the INBOX) compares by that role, the others by path.
/// Messages: Graph does not report a MIME size before the download.
fn graph_view(v: &mut Value) {
    let Some(m) = v.as_object_mut() else { return };
    if m.contains_key("path") {
        m.remove("separator");
        m.remove("name");
        let role = m.remove("role");
        let special = match (role, m.get("path").and_then(Value::as_str)) {
            (Some(r), _) => Some(r),
            (None, Some(p)) if p.eq_ignore_ascii_case("INBOX") => Some(Value::from("INBOX")),
            _ => None,
        };
        if let Some(r) = special {
            m.clear();
            m.insert("special".into(), r);
        }
    }
    if let Some(r) = m
        .get_mut("raw")
        .and_then(|r| r.get_mut("ref"))
        .and_then(Value::as_object_mut)
    {
        r.remove("size");
    }
}

#[tokio::test]
async fn mail_conformance() {
    let target = GraphTarget::new(OutlookMail::new, graph_view);
    conformance::run_all::<MailData, _>(&target).await;
}

#[tokio::test]
async fn archive_to_graph_to_archive() {
    let e2e = common::e2e::archive_graph_archive::<MailData, _, _>(
        &common::e2e::sample_archive(),
        || async {
            let (server, fake) = GraphFake::start("at-e2e", true).await;
            let a = Arc::new(OutlookMail::new(client_for(&fake)));
            let counter: Box<dyn Fn() -> usize + Send + Sync> = Box::new(move || {
                let _keep = &server;
                fake.count("message")
            });
            (
                a.clone() as Arc<dyn dtp_core::Exporter<MailData>>,
                a as Arc<dyn dtp_core::Importer<MailData>>,
                auth("at-e2e"),
                counter,
            )
        },
        &graph_view,
    )
    .await;
    assert!(e2e.items >= 3);
}

const MIME: &[u8] = b"Message-ID: <m1@example.org>\r\nDate: Fri, 15 Mar 2024 12:00:00 +0100\r\nFrom: Ada <ada@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: Hello\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi Bob.\r\n";

fn one_message(flags: dtp_models::mail::Flags) -> dtp_testkit::MemoryExporter<MailData> {
    use dtp_models::mail::{Folder, Message};
    let date = chrono::DateTime::parse_from_rfc3339("2024-03-15T12:00:05+01:00").unwrap();
    let mut ds = dtp_testkit::Dataset::<MailData>::generate(&dtp_testkit::DatasetSpec::new(0, 0));
    ds.containers = vec![Folder::new("f1", "INBOX/Projects")];
    ds.items = vec![
        Message::new("m1", "f1", MIME.to_vec())
            .with_flags(flags)
            .with_internal_date(date),
    ];
    dtp_testkit::MemoryExporter::fixed(ds, 10)
}

/// The MIME path: base64 MIME as text/plain, then a PATCH with read state,
/// flag, keywords and the two extended properties, then a move. The draft
/// bit Graph forces stays on the Graph side, and the export restores the
/// original flags and date from the extended property.
#[tokio::test]
async fn mime_import_then_patch_and_move() {
    use dtp_models::mail::Flags;
    let (server, fake) = GraphFake::start("at-1", false).await;
    let a = Arc::new(OutlookMail::new(client_for(&fake)));
    let flags = Flags::new()
        .with_seen(true)
        .with_answered(true)
        .with_flagged(true)
        .with_keyword("Work");
    let src = Arc::new(one_message(flags.clone()));
    let store: Arc<dyn dtp_core::store::JobStore> =
        Arc::new(dtp_core::store::MemoryJobStore::new());
    let job = common::e2e::new_job::<MailData>(&store).await;
    let r = common::e2e::run(
        &store,
        &job,
        src,
        a.clone(),
        dtp_core::AuthData::None,
        auth("at-1"),
    )
    .await;
    assert_eq!(r.state, dtp_core::store::JobState::Complete, "{r}");
    let reqs = server.received_requests().await.unwrap();
    let create = reqs
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == "/v1.0/me/messages")
        .unwrap();
    assert_eq!(create.headers.get("content-type").unwrap(), "text/plain");
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&create.body)
            .unwrap(),
        MIME
    );
    let patch = reqs.iter().find(|r| r.method.as_str() == "PATCH").unwrap();
    let patch: Value = serde_json::from_slice(&patch.body).unwrap();
    assert_eq!(patch["isRead"], true);
    assert_eq!(patch["flag"]["flagStatus"], "flagged");
    assert_eq!(patch["categories"][0], "Work");
    assert!(reqs.iter().any(|r| r.url.path().ends_with("/move")));
    // In Graph: a draft (forced) in INBOX/Projects.
    {
        let s = fake.state.lock().unwrap();
        let msg = &s.items["message"][0];
        assert_eq!(msg.body["isDraft"], true);
        let projects = s.containers["mailFolder"]
            .iter()
            .find(|f| f.body["displayName"] == "Projects")
            .unwrap();
        assert_eq!(projects.parent, "AAMkInbox=");
        assert_eq!(msg.parent, projects.id);
    }
    // Exported: the original flags and date, not Graph's draft / import time.
    let sink = Arc::new(dtp_testkit::MemoryImporter::<MailData>::new());
    let job = common::e2e::new_job::<MailData>(&store).await;
    let r = common::e2e::run(
        &store,
        &job,
        a,
        sink.clone(),
        auth("at-1"),
        dtp_core::AuthData::None,
    )
    .await;
    assert_eq!(r.state, dtp_core::store::JobState::Complete, "{r}");
    let items = sink.destination().items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].item.flags, flags);
    assert_eq!(
        items[0].item.internal_date.unwrap().to_rfc3339(),
        "2024-03-15T12:00:05+01:00"
    );
    use sha2::Digest;
    assert_eq!(
        items[0].media_sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(MIME)).as_str())
    );
    let folders = sink.destination().containers();
    assert!(
        folders.iter().any(|(_, f)| f.path == "INBOX/Projects"),
        "{folders:?}"
    );
}

/// A run that died between the MIME create and the PATCH left an unmarked
/// draft: the next run adopts it (same Message-ID, same bytes) instead of
/// creating a second copy.
#[tokio::test]
async fn an_unmarked_copy_is_adopted_by_hash() {
    let (_server, fake) = GraphFake::start("at-1", false).await;
    let c = client_for(&fake);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(MIME);
    c.execute(
        &auth("at-1"),
        dtp_adapters_microsoft::GraphRequest::post(c.url("me/messages").unwrap())
            .bytes("text/plain", b64.into()),
    )
    .await
    .unwrap();
    assert_eq!(fake.count("message"), 1);
    let a = Arc::new(OutlookMail::new(c));
    let src = Arc::new(one_message(dtp_models::mail::Flags::new()));
    let store: Arc<dyn dtp_core::store::JobStore> =
        Arc::new(dtp_core::store::MemoryJobStore::new());
    let job = common::e2e::new_job::<MailData>(&store).await;
    let r = common::e2e::run(&store, &job, src, a, dtp_core::AuthData::None, auth("at-1")).await;
    assert_eq!(r.state, dtp_core::store::JobState::Complete, "{r}");
    assert_eq!(fake.count("message"), 1, "a second copy was created");
    let s = fake.state.lock().unwrap();
    assert_eq!(
        s.items["message"][0].ext.len(),
        2,
        "the adopted copy was marked"
    );
}

/// A message whose base64 would exceed Graph's 4 MB request limit is one
/// record skipped as `unsupported` (listed with its reason: the job is
/// complete, nothing failed), and nothing is sent for it.
#[tokio::test]
async fn an_oversized_message_fails_as_unsupported() {
    use dtp_models::mail::{Folder, Message};
    let (server, fake) = GraphFake::start("at-1", false).await;
    let mut raw = MIME.to_vec();
    raw.resize(dtp_adapters_microsoft::mail::MAX_MIME_BYTES + 1, b'x');
    let mut ds = dtp_testkit::Dataset::<MailData>::generate(&dtp_testkit::DatasetSpec::new(0, 0));
    ds.containers = vec![Folder::new("f1", "INBOX")];
    ds.items = vec![Message::new("big", "f1", raw)];
    let src = Arc::new(dtp_testkit::MemoryExporter::fixed(ds, 10));
    let a = Arc::new(OutlookMail::new(client_for(&fake)));
    let store: Arc<dyn dtp_core::store::JobStore> =
        Arc::new(dtp_core::store::MemoryJobStore::new());
    let job = common::e2e::new_job::<MailData>(&store).await;
    let r = common::e2e::run(&store, &job, src, a, dtp_core::AuthData::None, auth("at-1")).await;
    assert_eq!(r.state, dtp_core::store::JobState::Complete, "{r}");
    assert!(r.failures.is_empty(), "{r}");
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].kind.as_str(), "unsupported");
    assert!(r.skipped[0].message.contains("larger than"), "{r}");
    assert_eq!(r.per_type[&dtp_core::DataType::Mail].unsupported, 1, "{r}");
    assert_eq!(fake.count("message"), 0);
    let posts = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/v1.0/me/messages")
        .count();
    assert_eq!(posts, 0);
}
