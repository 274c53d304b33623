//! The archive's write rules: a different record or file is never
//! overwritten, a same-named different photo gets a new name, a rerun from a
//! new job writes nothing, and no temporary file is left behind.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use dtp_adapters_local::LocalArchive;
use dtp_core::store::{JobStore, MemoryJobStore, NewJob};
use dtp_core::{AuthData, Importer, MediaRef, Transfer, TransferDriver, TransferReport};
use dtp_models::contacts::{AddressBook, Contact, ContactsData, TypedValue};
use dtp_models::media::{Album, MediaData, MediaItem, MediaKind};
use dtp_testkit::{Dataset, MemoryExporter};

async fn run<M: dtp_testkit::SampleModel>(
    dataset: Dataset<M>,
    dest: &LocalArchive,
) -> TransferReport
where
    LocalArchive: Importer<M>,
{
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new("memory", "local", [M::DATA_TYPE]))
        .await
        .unwrap();
    TransferDriver::new(store)
        .run(
            &job.id,
            Transfer::new(
                Arc::new(MemoryExporter::fixed(dataset, 10)),
                Arc::new(dest.clone()),
            )
            .with_import_auth(AuthData::None),
        )
        .await
        .unwrap()
}

fn ada(phone: &str) -> Contact {
    Contact::new("c1", "b1", "Ada Lovelace")
        .with_uid("urn:uuid:ada")
        .with_phone(TypedValue::new(phone, &["cell"]))
}

#[tokio::test]
async fn a_different_contact_with_the_same_uid_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let dest = LocalArchive::open_destination(dir.path()).unwrap();
    let book = AddressBook::new("b1", "Friends");
    let first = Dataset::<ContactsData> {
        containers: vec![book.clone()],
        items: vec![ada("+44 1")],
        media: HashMap::new(),
    };
    assert!(run(first.clone(), &dest).await.is_complete());
    let file = dir.path().join("contacts/Friends.vcf");
    let before = std::fs::read(&file).unwrap();

    // Same contact again, from a new job: nothing written.
    assert!(run(first, &dest).await.is_complete());
    assert_eq!(std::fs::read(&file).unwrap(), before);

    // Same UID, different content: a failed item with the reason, file untouched.
    let changed = Dataset::<ContactsData> {
        containers: vec![book],
        items: vec![ada("+44 2")],
        media: HashMap::new(),
    };
    let report = run(changed, &dest).await;
    assert_eq!(report.failures.len(), 1, "{report}");
    assert_eq!(report.failures[0].kind.as_str(), "invalid_data");
    assert!(report.failures[0].message.contains("not overwritten"));
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(dest.stats().written, 1);
    assert_eq!(dest.stats().already_present, 1);
}

fn photo(id: &str, key: &str) -> MediaItem {
    MediaItem::new(
        id,
        MediaKind::Photo,
        "IMG_0001.jpg",
        MediaRef::new(key).with_size(4).with_mime_type("image/jpeg"),
    )
    .in_album("a1")
}

#[tokio::test]
async fn a_different_photo_with_the_same_name_gets_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let dest = LocalArchive::open_destination(dir.path()).unwrap();
    let mut media = HashMap::new();
    media.insert("k1".to_string(), Bytes::from_static(b"AAAA"));
    media.insert("k2".to_string(), Bytes::from_static(b"BBBB"));
    let data = Dataset::<MediaData> {
        containers: vec![Album::new("a1", "Trip")],
        items: vec![photo("p1", "k1"), photo("p2", "k2")],
        media,
    };
    assert!(run(data.clone(), &dest).await.is_complete());
    let album = dir.path().join("photos/Trip");
    let mut got: Vec<(String, Vec<u8>)> = std::fs::read_dir(&album)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    got.sort();
    // Which of the two keeps the plain name depends on import order.
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["IMG_0001 (2).jpg", "IMG_0001.jpg"]);
    let mut contents: Vec<&[u8]> = got.iter().map(|(_, b)| b.as_slice()).collect();
    contents.sort();
    assert_eq!(contents, vec![b"AAAA".as_slice(), b"BBBB".as_slice()]);
    // A rerun from a new job: both recognised by content, nothing new.
    assert!(run(data, &dest).await.is_complete());
    assert_eq!(dest.stats().written, 2);
    assert_eq!(dest.stats().already_present, 2);
    let names: Vec<String> = std::fs::read_dir(&album)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "two photos and two sidecars: {names:?}");
    assert!(
        names.iter().all(|n| !n.starts_with(".dtp-tmp")),
        "temporary files left: {names:?}"
    );
    // The manifest has the SHA-256 of both.
    let m = dest.finish().unwrap();
    assert_eq!(m.media.len(), 2);
    let aaaa = "63c1dd951ffedf6f7fd968ad4efa39b8ed584f162f46e715114ee184f8de9201";
    assert!(m.media.values().any(|e| e.sha256 == aaaa && e.size == 4));
}

#[test]
fn finish_reclaims_temporary_files_of_killed_runs_only() {
    let dir = tempfile::tempdir().unwrap();
    let album = dir.path().join("photos/Trip");
    std::fs::create_dir_all(&album).unwrap();
    let stale = album.join(".dtp-tmp-dead");
    let live = album.join(".dtp-tmp-live");
    std::fs::write(&stale, b"half a photo").unwrap();
    std::fs::write(&live, b"being written").unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let archive = LocalArchive::open_destination(dir.path()).unwrap();
    let m = archive.finish().unwrap();
    assert!(!stale.exists(), "a stale temporary file is removed");
    assert!(live.exists(), "a fresh one may belong to a running writer");
    assert!(m.media.is_empty(), "temporary files are never media");
}
