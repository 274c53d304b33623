//! Dovecot → Dovecot transfers: the whole mail corpus plus 2,000 generated
//! messages in nested, non-ASCII and special-use folders; crashes at random
//! points with resume; rerun; incremental export; UIDVALIDITY change.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, TimeZone};
use common::{Dovecot, Seen, Setup, dump};
use dtp_adapters_imap::{ImapExporter, ImapImporter, MailData, SyncState, utf7};
use dtp_core::store::{JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{
    AuthData, DataType, Exporter, Importer, MediaRef, Transfer, TransferDriver, TransferOptions,
    TransferReport,
};
use dtp_models::mail::{Flags, Folder, Message, SpecialUse};
use dtp_testkit::{CrashPoint, Dataset, FaultPlan, FaultyImporter, MemoryExporter, Op};
use rand::{Rng, SeedableRng};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dtp-models/tests/corpus/mail"
    );
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n != "SOURCES.md"))
        .map(|p| {
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read(&p).expect("read corpus file"),
            )
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 59, "the whole mail corpus");
    files
}

/// Source folders: (id, path, role).
const FOLDERS: [(&str, &str, Option<SpecialUse>); 7] = [
    ("inbox", "INBOX", Some(SpecialUse::Inbox)),
    ("sent", "Sent Messages", Some(SpecialUse::Sent)),
    ("trash", "Deleted Messages", Some(SpecialUse::Trash)),
    ("projects", "Projects", None),
    ("unicode", "Projects/Ünïcødé 日本語", None),
    ("deep", "Projects/Ünïcødé 日本語/Ελληνικά ✓ & more", None),
    ("corpus", "Corpus", None),
];

fn source_setup() -> Setup {
    Setup {
        special: vec![
            ("Sent Messages", "\\Sent"),
            ("Deleted Messages", "\\Trash"),
            ("Drafts", "\\Drafts"),
        ],
        ..Default::default()
    }
}

fn dest_setup() -> Setup {
    Setup {
        special: vec![
            ("Sent", "\\Sent"),
            ("Trash", "\\Trash"),
            ("Drafts", "\\Drafts"),
        ],
        ..Default::default()
    }
}

fn generated_message(n: usize, with_id: bool) -> Vec<u8> {
    let id = if with_id {
        format!("Message-ID: <gen-{n}@dtp.example>\r\n")
    } else {
        String::new()
    };
    format!(
        "{id}Date: Tue, {} Mar 2022 10:{:02}:00 +0100\r\nFrom: Gen <gen@example.org>\r\nTo: You <you@example.org>\r\nSubject: =?UTF-8?B?w5xiZXI=?= message {n}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody of message {n}.\r\n{}\r\n",
        1 + n % 28,
        n % 60,
        "x".repeat(n % 300)
    )
    .into_bytes()
}

fn random_flags(rng: &mut impl Rng) -> Flags {
    let mut f = Flags::new()
        .with_seen(rng.random_bool(0.6))
        .with_answered(rng.random_bool(0.2))
        .with_flagged(rng.random_bool(0.1))
        .with_draft(rng.random_bool(0.05));
    for k in ["$Forwarded", "$Label1", "Work"] {
        if rng.random_bool(0.15) {
            f = f.with_keyword(k);
        }
    }
    f
}

fn random_date(rng: &mut impl Rng) -> DateTime<FixedOffset> {
    let secs = rng.random_range(978_307_200i64..1_735_689_600);
    let offset = FixedOffset::east_opt(rng.random_range(-12i32..=14) * 3600).expect("offset");
    offset.timestamp_opt(secs, 0).single().expect("date")
}

/// A dataset for seeding a source account: `messages` = (folder id, bytes).
fn dataset(messages: Vec<(&'static str, Vec<u8>)>, seed: u64, tag: &str) -> Dataset<MailData> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let containers = FOLDERS
        .iter()
        .map(|(id, path, role)| {
            let f = Folder::new(*id, *path);
            match role {
                Some(r) => f.with_role(r.clone()),
                None => f,
            }
        })
        .collect();
    let mut media = HashMap::new();
    let mut items = Vec::new();
    for (n, (folder, bytes)) in messages.into_iter().enumerate() {
        let key = format!("seed-{tag}:{n}");
        let r = MediaRef::new(key.clone())
            .with_size(bytes.len() as u64)
            .with_mime_type("message/rfc822");
        media.insert(key.clone(), Bytes::from(bytes));
        items.push(
            Message::new(key, folder, r)
                .with_flags(random_flags(&mut rng))
                .with_internal_date(random_date(&mut rng)),
        );
    }
    Dataset {
        containers,
        items,
        media,
    }
}

async fn new_job(store: &Arc<dyn JobStore>, name: &str) -> dtp_core::store::JobId {
    store
        .create_job(NewJob::new(name, "imap-test", [DataType::Mail]))
        .await
        .expect("job")
        .id
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
        .with_options(TransferOptions::default().with_item_concurrency(4))
        .run(
            job,
            Transfer::new(exporter, importer)
                .with_export_auth(from.clone())
                .with_import_auth(to.clone()),
        )
        .await
        .expect("driver")
}

/// Puts `data` into the account through the importer under test.
async fn seed(server: &Dovecot, auth: &AuthData, data: Dataset<MailData>) {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store, "seed").await;
    let n = data.items.len() as u64;
    let report = run(
        &store,
        &job,
        Arc::new(MemoryExporter::fixed(data, 250)),
        Arc::new(server.importer()),
        &AuthData::None,
        auth,
    )
    .await;
    assert_eq!(report.state, JobState::Complete, "seeding: {report}");
    assert!(report.failures.is_empty(), "seeding: {report}");
    assert_eq!(
        report.per_type[&DataType::Mail].created,
        n,
        "seeding: {report}"
    );
}

type Tree = BTreeMap<String, (Vec<String>, Vec<Seen>)>;

/// The source tree under the destination's names.
fn mapped(src: &Tree) -> Tree {
    src.iter()
        .map(|(name, v)| {
            let name = match name.as_str() {
                "Sent Messages" => "Sent".to_string(),
                "Deleted Messages" => "Trash".to_string(),
                other => other.to_string(),
            };
            (name, v.clone())
        })
        .collect()
}

fn count(t: &Tree) -> usize {
    t.values().map(|(_, m)| m.len()).sum()
}

fn assert_same(src: &Tree, dst: &Tree) {
    let want = mapped(src);
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        dst.keys().collect::<Vec<_>>(),
        "folder trees differ"
    );
    for (name, (attrs, msgs)) in &want {
        let (dattrs, dmsgs) = &dst[name];
        assert_eq!(attrs, dattrs, "special-use of {name}");
        assert_eq!(msgs.len(), dmsgs.len(), "message count in {name}");
        for (a, b) in msgs.iter().zip(dmsgs) {
            assert_eq!(a, b, "a message in {name} differs (bytes, flags or date)");
        }
    }
}

fn assert_unchanged(before: &Tree, after: &Tree, what: &str) {
    for (name, (_, msgs)) in after {
        let old = before.get(name).map(|(_, m)| m.clone()).unwrap_or_default();
        let added: Vec<&Seen> = msgs.iter().filter(|m| !old.contains(m)).collect();
        assert!(
            msgs.len() == old.len() && added.is_empty(),
            "{what} changed {name}: {} → {} messages, new: {added:?}",
            old.len(),
            msgs.len()
        );
    }
    assert_eq!(before.len(), after.len(), "{what} changed the folder tree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_to_dovecot_corpus_and_2000_messages_with_crashes_rerun_and_incremental() {
    let src = Dovecot::start_with(source_setup());
    let dst = Dovecot::start_with(dest_setup());
    let (_, from) = src.add_user();
    let (_, to) = dst.add_user();

    // Seed: the corpus into "Corpus" (a few also elsewhere), 2,000 generated
    // messages across the other folders; every 40th has no Message-ID.
    let folders = ["inbox", "sent", "trash", "projects", "unicode", "deep"];
    let mut messages: Vec<(&'static str, Vec<u8>)> = Vec::new();
    for (i, (_, bytes)) in corpus().into_iter().enumerate() {
        messages.push(("corpus", bytes.clone()));
        if i % 10 == 0 {
            messages.push((folders[i % folders.len()], bytes));
        }
    }
    for n in 0..2000 {
        messages.push((
            folders[n % folders.len()],
            generated_message(n, n % 40 != 7),
        ));
    }
    let seeded = messages.len();
    let started = Instant::now();
    seed(&src, &from, dataset(messages, 1, "a")).await;
    println!("seeded {seeded} messages in {:?}", started.elapsed());
    let src_tree = dump(src.port, &from).await;
    assert_eq!(count(&src_tree), seeded);
    let nested = format!(
        "Projects/{}/{}",
        utf7::encode("Ünïcødé 日本語"),
        utf7::encode("Ελληνικά ✓ & more")
    );
    assert!(src_tree.contains_key(&nested), "{:?}", src_tree.keys());

    // Transfer with crashes at random points; each resume is a fresh importer
    // (a restarted process).
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job(&store, "move").await;
    let exporter = Arc::new(ImapExporter::new(src.config().with_page_size(100)));
    let plan = FaultPlan::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xD0_7EC07);
    let mut crashes = 0;
    let started = Instant::now();
    let report = loop {
        if crashes < 6 {
            plan.arm_crash(CrashPoint {
                op: Op::ImportItem,
                nth: rng.random_range(1..400),
                after: rng.random_bool(0.5),
            });
        } else {
            plan.disarm();
        }
        let importer: Arc<dyn Importer<MailData>> = Arc::new(FaultyImporter::new(
            Arc::new(ImapImporter::new(dst.config())),
            plan.clone(),
        ));
        let r = run(&store, &job, exporter.clone(), importer, &from, &to);
        tokio::select! {
            report = r => break report,
            _ = plan.crashed() => {
                crashes += 1;
                // A restart takes a moment; APPENDs the old run had sent finish.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    println!(
        "moved {seeded} messages with {crashes} crashes in {:?}",
        started.elapsed()
    );
    assert_eq!(crashes, 6, "every crash point was reached");
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert!(report.failures.is_empty(), "{report}");
    let dst_tree = dump(dst.port, &to).await;
    assert_same(&src_tree, &dst_tree);
    assert_eq!(
        dst_tree["Sent"].0,
        vec!["Sent".to_string()],
        "Sent Messages went into the destination's own \\Sent folder"
    );
    let state: SyncState = exporter.sync_state();
    assert_eq!(state.folders.len(), src_tree.len());

    // Rerun as a new job with a fresh exporter and importer: nothing new.
    let job2 = new_job(&store, "rerun").await;
    let report = run(
        &store,
        &job2,
        Arc::new(src.exporter()),
        Arc::new(dst.importer()),
        &from,
        &to,
    )
    .await;
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert_unchanged(&dst_tree, &dump(dst.port, &to).await, "a rerun");

    // Incremental: 10 new messages at the source; a new job from the saved
    // sync state exports and appends exactly those 10.
    let new: Vec<(&'static str, Vec<u8>)> = (5000..5010)
        .map(|n| {
            (
                if n % 2 == 0 { "inbox" } else { "deep" },
                generated_message(n, true),
            )
        })
        .collect();
    seed(&src, &from, dataset(new, 2, "b")).await;
    let src_tree2 = dump(src.port, &from).await;
    assert_eq!(count(&src_tree2), seeded + 10);
    let job3 = new_job(&store, "incremental").await;
    let incremental = Arc::new(src.exporter().with_sync_state(state.clone()));
    let report = run(
        &store,
        &job3,
        incremental.clone(),
        Arc::new(dst.importer()),
        &from,
        &to,
    )
    .await;
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert_eq!(report.per_type[&DataType::Mail].created, 10, "{report}");
    let dst_tree2 = dump(dst.port, &to).await;
    assert_eq!(count(&dst_tree2), count(&dst_tree) + 10);
    assert_same(&src_tree2, &dst_tree2);

    // A folder whose UIDVALIDITY changed is exported again from its start;
    // de-duplication keeps the destination unchanged.
    let mut reset = incremental.sync_state();
    let corpus_mark = reset.folders.get_mut("Corpus").expect("Corpus mark");
    corpus_mark.uid_validity = corpus_mark.uid_validity.wrapping_add(1);
    let job4 = new_job(&store, "uidvalidity").await;
    let report = run(
        &store,
        &job4,
        Arc::new(src.exporter().with_sync_state(reset)),
        Arc::new(dst.importer()),
        &from,
        &to,
    )
    .await;
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert_eq!(
        report.per_type[&DataType::Mail].created as usize,
        src_tree2["Corpus"].1.len(),
        "the reset folder was exported again, and only it: {report}"
    );
    assert_unchanged(
        &dst_tree2,
        &dump(dst.port, &to).await,
        "the UIDVALIDITY reset",
    );
}
