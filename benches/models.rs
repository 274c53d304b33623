//! vCard and iCalendar parse + write throughput over the test corpus
//! (`dtp-models/tests/corpus/{vcard,ical}`).
//!
//! Each iteration parses every file of the corpus into models and writes
//! every model back (vCard 4.0 / iCalendar). Reported twice: in bytes of
//! input (MB/s) and in items (contacts; events + tasks) per second.
//!
//! Run: `cargo bench --bench models`
// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dtp_models::ical::{parse_icalendar, write_icalendar};
use dtp_models::vcard::{VCardVersion, parse_vcards, write_vcards};

fn corpus(dir: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dtp-models/tests/corpus")
        .join(dir);
    let mut paths: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn vcard_round(files: &[Vec<u8>]) -> usize {
    let mut written = 0;
    for f in files {
        if let Ok(p) = parse_vcards(f, "book") {
            written += write_vcards(&p.value, VCardVersion::V4).len();
        }
    }
    written
}

fn ical_round(files: &[Vec<u8>]) -> usize {
    let mut written = 0;
    for f in files {
        if let Ok(p) = parse_icalendar(f, "cal") {
            for obj in &p.value {
                written += write_icalendar(obj).len();
            }
        }
    }
    written
}

fn bench(c: &mut Criterion) {
    let vcards = corpus("vcard");
    let vcard_bytes: u64 = vcards.iter().map(|f| f.len() as u64).sum();
    let contacts: u64 = vcards
        .iter()
        .filter_map(|f| parse_vcards(f, "book").ok())
        .map(|p| p.value.len() as u64)
        .sum();

    let icals = corpus("ical");
    let ical_bytes: u64 = icals.iter().map(|f| f.len() as u64).sum();
    let items: u64 = icals
        .iter()
        .filter_map(|f| parse_icalendar(f, "cal").ok())
        .flat_map(|p| p.value)
        .map(|o| {
            (o.events
                .iter()
                .map(|e| 1 + e.overrides.len())
                .sum::<usize>()
                + o.tasks.len()) as u64
        })
        .sum();
    eprintln!(
        "corpus: {} vCard files, {vcard_bytes} bytes, {contacts} contacts; \
         {} iCalendar files, {ical_bytes} bytes, {items} events+overrides+tasks",
        vcards.len(),
        icals.len()
    );

    let mut g = c.benchmark_group("vcard_parse_write");
    g.throughput(Throughput::Bytes(vcard_bytes));
    g.bench_function("bytes", |b| {
        b.iter(|| black_box(vcard_round(black_box(&vcards))))
    });
    g.throughput(Throughput::Elements(contacts));
    g.bench_function("contacts", |b| {
        b.iter(|| black_box(vcard_round(black_box(&vcards))))
    });
    g.finish();

    let mut g = c.benchmark_group("icalendar_parse_write");
    g.throughput(Throughput::Bytes(ical_bytes));
    g.bench_function("bytes", |b| {
        b.iter(|| black_box(ical_round(black_box(&icals))))
    });
    g.throughput(Throughput::Elements(items));
    g.bench_function("items", |b| {
        b.iter(|| black_box(ical_round(black_box(&icals))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
