//! Measures Dovecot → Dovecot transfers on loopback (starts both servers, as
//! the tests do; needs Dovecot, installed by `tests/dovecot/setup.sh`).
//!
//! ```text
//! cargo run --release -p dtp-adapters-imap --example measure -- many 5000
//! /usr/bin/time -v cargo run --release -p dtp-adapters-imap --example measure -- big 100
//! ```
//!
//! `many N` moves N messages (about 2–6 KiB each, 5 folders) and prints the
//! time; `big M` moves one message of M MiB and prints the time (run it under
//! `/usr/bin/time -v` for the peak RSS of this process; the servers are
//! separate processes). `MAIL_FSYNC=never` turns off Dovecot's fsync per
//! saved message, to see the adapter's own cost. The source mailboxes are written straight into
//! Dovecot's maildir, so seeding costs this process no memory.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use dtp_core::store::{JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{DataType, Transfer, TransferDriver, TransferOptions};

fn maildir(root: &Path, user: &str, folder: Option<&str>) -> std::path::PathBuf {
    let mut dir = root.join(user);
    if let Some(f) = folder {
        dir = dir.join(format!(".{f}"));
    }
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).expect("maildir");
    }
    dir
}

fn chown(root: &Path) {
    Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(root)
        .status()
        .expect("chown");
}

fn small_message(n: usize) -> Vec<u8> {
    let body = format!("This is line {n} of a perfectly ordinary message.\r\n").repeat(40 + n % 80);
    format!(
        "Message-ID: <measure-{n}@dtp.example>\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\nFrom: a@example.org\r\nTo: b@example.org\r\nSubject: measure {n}\r\n\r\n{body}"
    )
    .into_bytes()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("many");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5000);

    // MAIL_FSYNC=never measures without Dovecot's fsync per saved message
    // (the default, `optimized`, syncs every APPEND to disk).
    let setup = common::Setup {
        extra: std::env::var("MAIL_FSYNC")
            .map(|v| format!("mail_fsync = {v}\n"))
            .unwrap_or_default(),
        ..Default::default()
    };
    let src = common::Dovecot::start_with(setup.clone());
    let dst = common::Dovecot::start_with(setup);
    let (user, from) = src.add_user();
    let (_, to) = dst.add_user();
    let root = src.mail_dir();
    let (count, bytes) = match mode {
        "many" => {
            let folders = [
                None,
                Some("Work"),
                Some("Work.Old"),
                Some("Lists"),
                Some("Family"),
            ];
            let mut bytes = 0u64;
            for i in 0..n {
                let dir = maildir(&root, &user, folders[i % folders.len()]);
                let m = small_message(i);
                bytes += m.len() as u64;
                std::fs::write(
                    dir.join(format!("new/{}.M{i}P1.measure", 1_700_000_000 + i)),
                    m,
                )
                .expect("write message");
            }
            (n, bytes)
        }
        "big" => {
            let dir = maildir(&root, &user, None);
            let path = dir.join("new/1700000000.M1P1.big");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
            f.write_all(
                b"Message-ID: <big@dtp.example>\r\nFrom: a@example.org\r\nSubject: big\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            )
            .expect("write");
            let line =
                b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
            let lines = (n << 20) / line.len();
            for _ in 0..lines {
                f.write_all(line).expect("write");
            }
            f.flush().expect("flush");
            drop(f);
            (1, std::fs::metadata(&path).expect("size").len())
        }
        other => panic!("unknown mode {other} (many N | big MiB)"),
    };
    chown(&root);
    println!(
        "source: {count} messages, {:.1} MiB",
        bytes as f64 / (1 << 20) as f64
    );

    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new("measure", "measure", [DataType::Mail]))
        .await
        .expect("job")
        .id;
    let started = Instant::now();
    let report = TransferDriver::new(store.clone())
        .with_options(TransferOptions::default().with_item_concurrency(4))
        .run(
            &job,
            Transfer::new(Arc::new(src.exporter()), Arc::new(dst.importer()))
                .with_export_auth(from.clone())
                .with_import_auth(to.clone()),
        )
        .await
        .expect("driver");
    let took = started.elapsed();
    // Peak RSS of this process so far (the transfer), before any check
    // below reads messages into memory.
    let hwm = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        .unwrap_or_else(|| "?".into());
    println!("peak RSS during the transfer (VmHWM): {hwm} kB");
    assert_eq!(report.state, JobState::Complete, "{report}");
    let moved = report.per_type[&DataType::Mail].created as usize;
    assert_eq!(moved, count, "{report}");
    if mode == "big" {
        // Check the size without reading the message into memory.
        let exported = dtp_adapters_imap::ImapExporter::new(dst.config());
        let ctx = dtp_core::ExportContext::detached(DataType::Mail);
        let root = dtp_core::Exporter::export(&exported, &ctx, &to, &dtp_core::Cursor::root())
            .await
            .expect("list");
        let page = dtp_core::Exporter::export(&exported, &ctx, &to, &root.next[0])
            .await
            .expect("page");
        let size = page.items.first().and_then(|m| m.raw.size()).unwrap_or(0);
        assert_eq!(size, bytes, "the big message arrived whole");
        println!(
            "moved one {:.1} MiB message Dovecot → Dovecot in {:.2} s",
            size as f64 / (1 << 20) as f64,
            took.as_secs_f64()
        );
        return;
    }
    let at_dst = common::dump(dst.port, &to).await;
    let dst_count: usize = at_dst.values().map(|(_, m)| m.len()).sum();
    let dst_bytes: usize = at_dst
        .values()
        .flat_map(|(_, m)| m.iter().map(|s| s.len))
        .sum();
    assert_eq!(dst_count, count, "every message arrived");
    println!(
        "moved {moved} messages ({:.1} MiB as IMAP counts them) Dovecot → Dovecot in {:.2} s ({:.0} messages/s)",
        dst_bytes as f64 / (1 << 20) as f64,
        took.as_secs_f64(),
        moved as f64 / took.as_secs_f64()
    );
}
