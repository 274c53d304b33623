//! Faults against a real Dovecot: connections cut mid-FETCH and mid-APPEND,
//! a destination over quota (stopped, then resumed), labels, bad tokens.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use common::{CuttingProxy, Dovecot, Setup, dump};
use dtp_adapters_imap::{ImapExporter, ImapImporter, MailData};
use dtp_core::store::{JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{
    AuthData, DataType, Exporter, Importer, MediaRef, OAuthTokens, Transfer, TransferDriver,
    TransferOptions, TransferReport,
};
use dtp_models::mail::{Flags, Folder, Message};
use dtp_testkit::{Dataset, MemoryExporter};

fn message(n: usize, body_kib: usize) -> Vec<u8> {
    let line = format!("line of message {n} ").repeat(4);
    let mut body = String::new();
    while body.len() < body_kib * 1024 {
        body.push_str(&line);
        body.push_str("\r\n");
    }
    format!(
        "Message-ID: <fault-{n}@dtp.example>\r\nSubject: fault test {n}\r\nFrom: a@example.org\r\n\r\n{body}"
    )
    .into_bytes()
}

fn dataset(n: usize, body_kib: usize, folders: &[&str]) -> Dataset<MailData> {
    let containers = folders
        .iter()
        .map(|f| Folder::new(*f, *f))
        .collect::<Vec<_>>();
    let mut media = HashMap::new();
    let mut items = Vec::new();
    for i in 0..n {
        let bytes = message(i, body_kib);
        let key = format!("fault:{i}");
        let r = MediaRef::new(key.clone()).with_size(bytes.len() as u64);
        media.insert(key.clone(), Bytes::from(bytes));
        items.push(
            Message::new(key, folders[i % folders.len()], r)
                .with_flags(Flags::new().with_seen(i % 2 == 0)),
        );
    }
    Dataset {
        containers,
        items,
        media,
    }
}

async fn run(
    store: &Arc<dyn JobStore>,
    job: &dtp_core::store::JobId,
    exporter: Arc<dyn Exporter<MailData>>,
    importer: Arc<dyn Importer<MailData>>,
    from: &AuthData,
    to: &AuthData,
) -> TransferReport {
    TransferDriver::new(store.clone())
        .with_options({
            let o = TransferOptions::default().with_item_concurrency(4);
            if std::env::var("DTP_EVENTS").is_ok() {
                let t0 = std::time::Instant::now();
                o.with_events(std::sync::Arc::new(move |e: &dtp_core::TransferEvent| {
                    eprintln!("{:>8.2?} {e:?}", t0.elapsed())
                }))
            } else {
                o
            }
        })
        .run(
            job,
            Transfer::new(exporter, importer)
                .with_export_auth(from.clone())
                .with_import_auth(to.clone()),
        )
        .await
        .expect("driver")
}

async fn job(store: &Arc<dyn JobStore>) -> dtp_core::store::JobId {
    store
        .create_job(NewJob::new("fault", "imap-test", [DataType::Mail]))
        .await
        .expect("job")
        .id
}

async fn seed(server: &Dovecot, auth: &AuthData, data: Dataset<MailData>) {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let j = job(&store).await;
    let n = data.items.len() as u64;
    let r = run(
        &store,
        &j,
        Arc::new(MemoryExporter::fixed(data, 100)),
        Arc::new(server.importer()),
        &AuthData::None,
        auth,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "seed: {r}");
    assert_eq!(r.per_type[&DataType::Mail].created, n, "seed: {r}");
}

fn total(t: &std::collections::BTreeMap<String, (Vec<String>, Vec<common::Seen>)>) -> usize {
    t.values().map(|(_, m)| m.len()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_mid_fetch_and_mid_append_lose_and_duplicate_nothing() {
    let server = Dovecot::start();
    let (_, from) = server.add_user();
    seed(&server, &from, dataset(120, 24, &["INBOX", "Work"])).await;
    let want = dump(server.port, &from).await;
    assert_eq!(total(&want), 120);

    // Mid-FETCH: the source is reached through a proxy that cuts each of the
    // first 4 connections after 300 KB from the server.
    let (_, to) = server.add_user();
    let proxy = CuttingProxy::start(server.port, true, 300_000, 4).await;
    let exporter = Arc::new(ImapExporter::new(
        dtp_adapters_imap::ImapConfig::plain_loopback(proxy.port),
    ));
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let j = job(&store).await;
    let r = run(
        &store,
        &j,
        exporter,
        Arc::new(server.importer()),
        &from,
        &to,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(proxy.cuts(), 4, "every planned cut happened");
    let got = dump(server.port, &to).await;
    assert_eq!(got, want, "mid-FETCH cuts: destination differs");

    // Mid-APPEND: the destination is reached through a proxy that cuts each
    // of the first 4 connections after 200 KB from the client (inside a
    // literal: the messages are 24 KiB).
    let (_, to2) = server.add_user();
    let proxy = CuttingProxy::start(server.port, false, 200_000, 4).await;
    let importer = Arc::new(ImapImporter::new(
        dtp_adapters_imap::ImapConfig::plain_loopback(proxy.port),
    ));
    let j = job(&store).await;
    let r = run(
        &store,
        &j,
        Arc::new(server.exporter()),
        importer,
        &from,
        &to2,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(proxy.cuts(), 4, "every planned cut happened");
    let got = dump(server.port, &to2).await;
    assert_eq!(got, want, "mid-APPEND cuts: destination differs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_quota_stops_with_destination_full_and_resumes_after_more_room() {
    let server = Dovecot::start_with(Setup {
        extra: "mail_plugins = $mail_plugins quota\n\
                protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}\n\
                plugin {\n  quota = maildir:User quota\n}\n"
            .into(),
        quota_rule: Some("userdb_quota_rule=*:storage=100K".into()),
        ..Default::default()
    });
    let (_, from) = server.add_user();
    seed(&server, &from, dataset(40, 8, &["INBOX"])).await;
    let want = dump(server.port, &from).await;
    let (quota_user, to) = server.add_quota_user();

    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let j = job(&store).await;
    let r = run(
        &store,
        &j,
        Arc::new(server.exporter()),
        Arc::new(server.importer()),
        &from,
        &to,
    )
    .await;
    assert_eq!(r.state, JobState::Stopped, "{r}");
    let reason = r.stop_reason.clone().expect("a stop reason");
    assert_eq!(reason.kind.as_str(), "destination_full", "{r}");
    let partial = total(&dump(server.port, &to).await);
    assert!(
        partial > 0 && partial < 40,
        "{partial} messages fit in 100K"
    );
    let progress = store.progress(&j, DataType::Mail).await.expect("progress");
    assert!(progress.frontier.is_some(), "a checkpoint to resume from");

    // More room (the user's quota rule raised), then resume the same job.
    server.set_quota_rule(&quota_user, "userdb_quota_rule=*:storage=100M");
    let r = run(
        &store,
        &j,
        Arc::new(server.exporter()),
        Arc::new(server.importer()),
        &from,
        &to,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(
        dump(server.port, &to).await,
        want,
        "resumed: all, exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_become_folder_memberships_once() {
    let server = Dovecot::start();
    let (_, to) = server.add_user();
    let mut data = dataset(6, 1, &["INBOX", "Label A", "Label B"]);
    // Every message also carries the other two labels.
    for item in &mut data.items {
        let first = item.folder_ids[0].clone();
        for f in ["INBOX", "Label A", "Label B"] {
            if f != first {
                item.folder_ids.push(f.to_string());
            }
        }
    }
    for _ in 0..2 {
        // Twice, as two jobs: the second adds nothing.
        let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
        let j = job(&store).await;
        let r = run(
            &store,
            &j,
            Arc::new(MemoryExporter::fixed(data.clone(), 4)),
            Arc::new(server.importer()),
            &AuthData::None,
            &to,
        )
        .await;
        assert_eq!(r.state, JobState::Complete, "{r}");
        let tree = dump(server.port, &to).await;
        for f in ["INBOX", "Label A", "Label B"] {
            assert_eq!(tree[f].1.len(), 6, "{f} holds every message once: {tree:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bearer_token_is_unauthenticated_and_never_shown() {
    let server = Dovecot::start();
    let (name, _) = server.add_user();
    let token = "very-secret-token-value";
    let auth = AuthData::OAuth2(OAuthTokens::new(token));
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let j = job(&store).await;
    let exporter = Arc::new(ImapExporter::new(server.config().with_username(name)));
    let r = run(
        &store,
        &j,
        exporter,
        Arc::new(dtp_testkit::MemoryImporter::<MailData>::new()),
        &auth,
        &AuthData::None,
    )
    .await;
    assert_eq!(r.state, JobState::Stopped, "{r}");
    assert_eq!(
        r.stop_reason.as_ref().map(|s| s.kind.as_str()),
        Some("unauthenticated"),
        "{r}"
    );
    let shown = format!("{r} {r:?}");
    assert!(!shown.contains(token), "the token leaked: {shown}");
    // And a wrong password is never shown either.
    let wrong = AuthData::basic("user0", "hunter2-wrong");
    let j = job(&store).await;
    let r = run(
        &store,
        &j,
        Arc::new(server.exporter()),
        Arc::new(dtp_testkit::MemoryImporter::<MailData>::new()),
        &wrong,
        &AuthData::None,
    )
    .await;
    assert_eq!(
        r.stop_reason.as_ref().map(|s| s.kind.as_str()),
        Some("reauthorize"),
        "{r}"
    );
    assert!(!format!("{r} {r:?}").contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaps_with_rustls_moves_mail_and_refuses_an_untrusted_certificate() {
    let server = Dovecot::start_with(Setup {
        tls: true,
        ..Default::default()
    });
    let (_, auth) = server.add_user();
    // Through TLS in (import) and out (export).
    seed(&server, &auth, dataset(5, 2, &["INBOX", "Work"])).await;
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let j = job(&store).await;
    let sink = Arc::new(dtp_testkit::MemoryImporter::<MailData>::new());
    let r = run(
        &store,
        &j,
        Arc::new(server.exporter()),
        sink.clone(),
        &auth,
        &AuthData::None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(r.per_type[&DataType::Mail].created, 5, "{r}");

    // Without the test CA the certificate is not trusted: the job stops.
    let untrusted = dtp_adapters_imap::ImapConfig::tls("localhost").with_port(server.port);
    let j = job(&store).await;
    let r = run(
        &store,
        &j,
        Arc::new(ImapExporter::new(untrusted)),
        Arc::new(dtp_testkit::MemoryImporter::<MailData>::new()),
        &auth,
        &AuthData::None,
    )
    .await;
    assert_eq!(r.state, JobState::Stopped, "{r}");
    assert_eq!(
        r.stop_reason.as_ref().map(|s| s.kind.as_str()),
        Some("permission_denied"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_stream_through_in_ranges() {
    let server = Dovecot::start();
    let (user, from) = server.add_user();
    let (_, to) = server.add_user();
    // One 60 MiB message written straight into the source maildir, plus a few
    // 40 KiB ones fetched in 16 KiB ranges (nothing fetched with its page).
    let dir = server.mail_dir().join(&user);
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).expect("maildir");
    }
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(dir.join("new/1700000000.M1P1.big")).expect("create"),
        );
        f.write_all(b"Message-ID: <big@dtp.example>\r\nSubject: big\r\n\r\n")
            .expect("write");
        let line =
            b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789\r\n";
        for _ in 0..(60 << 20) / line.len() {
            f.write_all(line).expect("write");
        }
    }
    for i in 0..3 {
        std::fs::write(
            dir.join(format!("new/1700000001.M{i}P1.mid")),
            message(i, 40),
        )
        .expect("write");
    }
    std::process::Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(server.mail_dir())
        .status()
        .expect("chown");
    let want = dump(server.port, &from).await;
    assert_eq!(total(&want), 4);
    assert!(want["INBOX"].1.iter().any(|m| m.len > 60_000_000));

    // Through a proxy that cuts the first two connections 20 MB into what the
    // server sends: the big message's ranged FETCH breaks mid-way, the
    // half-written APPEND is abandoned, and the retry starts it over.
    let proxy = CuttingProxy::start(server.port, true, 20_000_000, 2).await;
    let config = dtp_adapters_imap::ImapConfig::plain_loopback(proxy.port)
        .with_fetch_chunk(16 << 10)
        .with_page_fetch_max(0);
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let j = job(&store).await;
    let r = run(
        &store,
        &j,
        Arc::new(ImapExporter::new(config)),
        Arc::new(server.importer()),
        &from,
        &to,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert!(proxy.cuts() >= 1, "the big message's FETCH was cut");
    assert_eq!(dump(server.port, &to).await, want, "byte-identical, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_server_rejects_fails_alone_with_the_servers_text() {
    let server = Dovecot::start();
    let (_, to) = server.add_user();
    let mut data = dataset(3, 1, &["INBOX"]);
    // An empty message: Dovecot refuses to save it.
    data.media.insert("fault:1".into(), Bytes::new());
    data.items[1].raw = MediaRef::new("fault:1").with_size(0).into();
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let j = job(&store).await;
    // LOGIN instead of AUTHENTICATE PLAIN, on the way.
    let importer = Arc::new(ImapImporter::new(server.config().with_login_command(true)));
    let r = run(
        &store,
        &j,
        Arc::new(MemoryExporter::fixed(data, 10)),
        importer,
        &AuthData::None,
        &to,
    )
    .await;
    assert_eq!(r.state, JobState::Partial, "{r}");
    assert_eq!(r.failures.len(), 1, "{r}");
    let failure = &r.failures[0];
    assert_eq!(failure.kind.as_str(), "invalid_data", "{r}");
    assert!(
        failure
            .message
            .contains("server said NO: Can't save a zero byte message"),
        "{r}"
    );
    assert_eq!(
        total(&dump(server.port, &to).await),
        2,
        "the others arrived"
    );
}
