//! The `google-takeout:` source: Takeouts built here from generated data
//! (and real EXIF photos in `tests/data/exif`), read as zip, as multi-part zips
//! and as an extracted folder, and moved into a local archive.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::takeout::{Sidecar, TkFile, album_metadata, bytes, sha256, write_dir, write_zip};
use dtp_adapters_google::takeout::GoogleTakeout;
use dtp_adapters_local::LocalArchive;
use dtp_core::store::{JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{
    AuthData, Cursor, DataType, ErrorKind, ExportContext, Exporter, MediaRef, Transfer,
    TransferDriver,
};
use dtp_models::media::{MediaData, MediaItem, MediaKind};
use dtp_testkit::MemoryImporter;

const GP: &str = "Takeout/Google Photos";
const TAKEN: i64 = 1_563_198_005; // 2019-07-15T13:40:05Z
const CREATED: i64 = 1_563_198_245;

/// A Takeout with every layout rule the reader knows, plus the expected
/// bytes of each item by file name.
fn fixture() -> (Vec<TkFile>, HashMap<String, Vec<u8>>) {
    let mut files = Vec::new();
    let mut want = HashMap::new();
    let mut add = |path: String, b: Vec<u8>| files.push(TkFile::new(path, b));

    // A photo in a year folder and in an album, with a new-style sidecar
    // carrying a url (the identity), geo and a description.
    let img1 = bytes(1, 70_000);
    let side1 = Sidecar {
        title: "IMG_0001.jpg",
        description: "Sunset at the pier",
        taken: TAKEN,
        created: CREATED,
        geo: Some((40.7128, -74.006, 10.5)),
        geo_exif: Some((1.0, 1.0, 0.0)),
        url: Some("https://photos.google.com/photo/AF1QipAAA"),
        favorited: true,
    }
    .json();
    for folder in ["Photos from 2019", "Trip to Lisbon"] {
        add(format!("{GP}/{folder}/IMG_0001.jpg"), img1.clone());
        add(
            format!("{GP}/{folder}/IMG_0001.jpg.supplemental-metadata.json"),
            side1.clone(),
        );
    }
    want.insert("IMG_0001.jpg".to_string(), img1);
    // Its edited copy (no sidecar of its own), in both folders.
    let edited = bytes(2, 50_000);
    for folder in ["Photos from 2019", "Trip to Lisbon"] {
        add(format!("{GP}/{folder}/IMG_0001-edited.jpg"), edited.clone());
    }
    want.insert("IMG_0001-edited.jpg".to_string(), edited);
    add(
        format!("{GP}/Trip to Lisbon/metadata.json"),
        album_metadata("Trip to Lisbon", "Spring 2019", 1_556_000_000),
    );

    // A video with an old-style `<name>.json` sidecar, geo only in EXIF.
    let vid = bytes(3, 333_333);
    add(format!("{GP}/Photos from 2020/VID_0002.mp4"), vid.clone());
    add(
        format!("{GP}/Photos from 2020/VID_0002.mp4.json"),
        Sidecar {
            title: "VID_0002.mp4",
            description: "",
            taken: 1_600_000_000,
            created: 1_600_000_100,
            geo: None,
            geo_exif: Some((38.7223, -9.1393, 0.0)),
            url: None,
            favorited: false,
        }
        .json(),
    );
    want.insert("VID_0002.mp4".to_string(), vid);

    // Two different photos that had the same name: the second got a
    // duplicate counter, and so did its sidecar.
    for (n, (file, sidecar)) in [
        ("IMG_0003.jpg", "IMG_0003.jpg.supplemental-metadata.json"),
        (
            "IMG_0003(1).jpg",
            "IMG_0003.jpg.supplemental-metadata(1).json",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let b = bytes(10 + n as u64, 20_000 + n);
        add(format!("{GP}/Photos from 2021/{file}"), b.clone());
        add(
            format!("{GP}/Photos from 2021/{sidecar}"),
            Sidecar {
                title: "IMG_0003.jpg",
                description: if n == 0 { "first" } else { "second" },
                taken: 1_610_000_000 + n as i64,
                created: 1_610_000_500,
                geo: None,
                geo_exif: None,
                url: None,
                favorited: false,
            }
            .json(),
        );
        want.insert(format!("IMG_0003.jpg#{n}"), b);
    }

    // A long name whose sidecar name Takeout truncated.
    let long = "Screenshot_20220101-101010_Some_Long_App_Name.png";
    let long_bytes = bytes(20, 4_321);
    add(format!("{GP}/Photos from 2022/{long}"), long_bytes.clone());
    add(
        format!("{GP}/Photos from 2022/Screenshot_20220101-101010_Some_Long_App_Na.json"),
        Sidecar {
            title: long,
            description: "truncated sidecar",
            taken: 1_641_031_810,
            created: 1_641_031_900,
            geo: None,
            geo_exif: None,
            url: None,
            favorited: false,
        }
        .json(),
    );
    want.insert(long.to_string(), long_bytes);

    // Real EXIF photos from the corpus, in an album without metadata.json;
    // the sidecar's time and place differ from the EXIF ones on purpose.
    for (i, name) in ["exiftool-GPS.jpg", "exiftool-Canon.jpg", "exifrs-exif.heic"]
        .into_iter()
        .enumerate()
    {
        let b = std::fs::read(format!(
            "{}/tests/data/exif/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        add(format!("{GP}/Corpus/{name}"), b.clone());
        add(
            format!("{GP}/Corpus/{name}.supplemental-metadata.json"),
            Sidecar {
                title: name,
                description: "",
                taken: 1_000_000_000 + i as i64,
                created: 1_700_000_000,
                geo: Some((48.8584, 2.2945, 35.0)),
                geo_exif: None,
                url: None,
                favorited: false,
            }
            .json(),
        );
        want.insert(name.to_string(), b);
    }
    // A file without any sidecar, and things that are not media.
    let orphan = bytes(30, 999);
    add(format!("{GP}/Photos from 2023/orphan.gif"), orphan.clone());
    want.insert("orphan.gif".to_string(), orphan);
    add(
        format!("{GP}/archive_browser.html"),
        b"<html></html>".to_vec(),
    );
    add(
        format!("{GP}/Photos from 2023/print-subscriptions.json"),
        b"[]".to_vec(),
    );
    add("Takeout/archive_browser.html".into(), b"<html/>".to_vec());
    (files, want)
}

fn by_name(items: &[MediaItem]) -> HashMap<String, &MediaItem> {
    let mut out = HashMap::new();
    for i in items {
        let key = if i.filename == "IMG_0003.jpg" {
            format!(
                "IMG_0003.jpg#{}",
                if i.description.as_deref() == Some("first") {
                    0
                } else {
                    1
                }
            )
        } else {
            i.filename.clone()
        };
        assert!(
            out.insert(key, i).is_none(),
            "{} exported twice",
            i.filename
        );
    }
    out
}

async fn read_all(t: &GoogleTakeout, m: &MediaRef) -> Vec<u8> {
    let s = t
        .open_media(
            &ExportContext::detached(DataType::Media),
            &AuthData::None,
            m,
        )
        .await
        .unwrap();
    dtp_adapters_google::photos::collect_stream(s)
        .await
        .unwrap()
}

async fn check(t: &GoogleTakeout, want: &HashMap<String, Vec<u8>>) {
    let (albums, items) = t.scan().await.unwrap();
    let mut titles: Vec<&str> = albums.iter().map(|a| a.title.as_str()).collect();
    titles.sort_unstable();
    assert_eq!(titles, ["Corpus", "Trip to Lisbon"]);
    let trip = albums.iter().find(|a| a.title == "Trip to Lisbon").unwrap();
    assert_eq!(trip.description.as_deref(), Some("Spring 2019"));
    assert_eq!(trip.created.unwrap().timestamp(), 1_556_000_000);

    let items_by = by_name(&items);
    let mut names: Vec<&String> = items_by.keys().collect();
    names.sort();
    let mut want_names: Vec<&String> = want.keys().collect();
    want_names.sort();
    assert_eq!(names, want_names);

    let img1 = items_by["IMG_0001.jpg"];
    assert_eq!(
        img1.album_ids,
        vec![trip.id.clone()],
        "one item, in its album"
    );
    assert_eq!(img1.description.as_deref(), Some("Sunset at the pier"));
    assert_eq!(
        img1.captured.unwrap().to_datetime().unwrap().timestamp(),
        TAKEN,
        "capture time comes from the sidecar"
    );
    assert_eq!(img1.uploaded.unwrap().timestamp(), CREATED);
    let g = img1.location.unwrap();
    assert_eq!(
        (g.latitude, g.longitude, g.altitude),
        (40.7128, -74.006, Some(10.5))
    );
    assert!(img1.favorite);
    assert_eq!(img1.kind, MediaKind::Photo);
    assert_eq!(img1.content.mime_type.as_deref(), Some("image/jpeg"));

    let edited = items_by["IMG_0001-edited.jpg"];
    assert_ne!(edited.id, img1.id);
    assert_eq!(edited.album_ids, img1.album_ids);
    assert_eq!(
        edited.captured, img1.captured,
        "edited copy keeps the original's metadata"
    );
    assert_eq!(edited.description, img1.description);

    let vid = items_by["VID_0002.mp4"];
    assert_eq!(vid.kind, MediaKind::Video);
    assert!(vid.album_ids.is_empty(), "year folders are not albums");
    assert_eq!(vid.description, None);
    let g = vid.location.unwrap();
    assert_eq!(
        (g.latitude, g.longitude),
        (38.7223, -9.1393),
        "geoDataExif as fallback"
    );

    let first = items_by["IMG_0003.jpg#0"];
    let second = items_by["IMG_0003.jpg#1"];
    assert_eq!(
        first.captured.unwrap().to_datetime().unwrap().timestamp(),
        1_610_000_000
    );
    assert_eq!(
        second.captured.unwrap().to_datetime().unwrap().timestamp(),
        1_610_000_001
    );

    let long = items_by["Screenshot_20220101-101010_Some_Long_App_Name.png"];
    assert_eq!(long.description.as_deref(), Some("truncated sidecar"));

    let gps = items_by["exiftool-GPS.jpg"];
    assert_eq!(
        gps.captured.unwrap().to_datetime().unwrap().timestamp(),
        1_000_000_000
    );
    assert_eq!(gps.location.unwrap().latitude, 48.8584);
    assert_eq!(
        items_by["exifrs-exif.heic"].content.mime_type.as_deref(),
        Some("image/heic")
    );

    let orphan = items_by["orphan.gif"];
    assert_eq!(
        orphan.captured, None,
        "no sidecar: no capture time (never the mtime)"
    );

    for (name, item) in &items_by {
        assert_eq!(item.content.size, Some(want[name].len() as u64), "{name}");
        let got = read_all(t, &item.content).await;
        assert_eq!(sha256(&got), sha256(&want[name]), "{name} bytes");
    }
}

#[tokio::test]
async fn zip_stored_deflated_and_folder_read_the_same() {
    let (files, want) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let zip_d = dir.path().join("takeout-20240101T000000Z-001.zip");
    write_zip(&zip_d, &files, true);
    let stored_dir = dir.path().join("stored");
    std::fs::create_dir(&stored_dir).unwrap();
    let zip_s = stored_dir.join("takeout.zip");
    write_zip(&zip_s, &files, false);
    let folder = dir.path().join("extracted");
    write_dir(&folder, &files);

    let a = GoogleTakeout::open(&zip_d).unwrap();
    let b = GoogleTakeout::open(&zip_s).unwrap();
    let c = GoogleTakeout::open(&folder).unwrap();
    // The Google Photos folder itself can be given too.
    let d = GoogleTakeout::open(folder.join("Takeout/Google Photos")).unwrap();
    for t in [&a, &b, &c, &d] {
        check(t, &want).await;
    }
    // Same ids whatever the container: reruns from another copy match.
    assert_eq!(ids(&a).await, ids(&c).await);
    assert_eq!(ids(&a).await, ids(&d).await);
}

async fn ids(t: &GoogleTakeout) -> Vec<String> {
    let (_, items) = t.scan().await.unwrap();
    let mut v: Vec<String> = items.into_iter().map(|i| i.id).collect();
    v.sort();
    v
}

#[tokio::test]
async fn multi_part_takeout_pairs_files_across_parts() {
    let (files, want) = fixture();
    let dir = tempfile::tempdir().unwrap();
    // Sidecars in part 2, media in part 1 (Takeout splits without caring).
    let (json, media): (Vec<TkFile>, Vec<TkFile>) =
        files.into_iter().partition(|f| f.path.ends_with(".json"));
    write_zip(&dir.path().join("takeout-001.zip"), &media, true);
    write_zip(&dir.path().join("takeout-002.zip"), &json, true);
    let t = GoogleTakeout::open(dir.path()).unwrap();
    check(&t, &want).await;
}

#[tokio::test]
async fn pages_and_cursors_are_stable() {
    let (files, _) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("t.zip");
    write_zip(&z, &files, true);
    let t = GoogleTakeout::open(&z).unwrap().with_page_size(3);
    let ctx = ExportContext::detached(DataType::Media);
    let root = t
        .export(&ctx, &AuthData::None, &Cursor::root())
        .await
        .unwrap();
    assert_eq!(root.containers.len(), 2);
    assert!(root.items.is_empty());
    let mut cursors = root.next.clone();
    let mut seen = Vec::new();
    while let Some(c) = cursors.pop() {
        // A fresh reader (another process after a crash) pages the same way.
        let again = GoogleTakeout::open(&z).unwrap().with_page_size(3);
        let p1 = t.export(&ctx, &AuthData::None, &c).await.unwrap();
        let p2 = again.export(&ctx, &AuthData::None, &c).await.unwrap();
        assert_eq!(p1.items, p2.items);
        assert!(p1.items.len() <= 3);
        seen.extend(p1.items.into_iter().map(|i| i.id));
        cursors.extend(p1.next);
    }
    let (_, all) = t.scan().await.unwrap();
    assert_eq!(seen.len(), all.len());
}

#[tokio::test]
async fn bad_inputs_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = GoogleTakeout::open(dir.path().join("missing.zip")).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);

    let junk = dir.path().join("junk.zip");
    std::fs::write(&junk, b"PK\x03\x04 this is not really a zip").unwrap();
    let t = GoogleTakeout::open(&junk).unwrap();
    let ctx = ExportContext::detached(DataType::Media);
    let err = t
        .export(&ctx, &AuthData::None, &Cursor::root())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidData);

    let (files, _) = fixture();
    let folder = dir.path().join("x");
    write_dir(&folder, &files);
    let t = GoogleTakeout::open(&folder).unwrap();
    for key in ["0:../../etc/passwd", "7:Takeout/x.jpg", "nonsense"] {
        let err = match t
            .open_media(&ctx, &AuthData::None, &MediaRef::new(key))
            .await
        {
            Ok(_) => panic!("{key} opened"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), &ErrorKind::NotFound, "{key}");
    }
    let err = t
        .export(
            &ctx,
            &AuthData::None,
            &Cursor::new(&serde_json::json!({"t": "bogus"})).unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidData);
}

/// Takeout → local archive through the driver; a rerun writes nothing new;
/// the archive holds every file byte for byte.
#[tokio::test]
async fn takeout_into_local_archive_end_to_end() {
    let (files, want) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("takeout.zip");
    write_zip(&z, &files, true);
    let out = dir.path().join("archive");
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new(
            "google-takeout:x",
            "local:y",
            [DataType::Media],
        ))
        .await
        .unwrap()
        .id;
    for run in 0..2 {
        let dest = Arc::new(LocalArchive::open_destination(&out).unwrap());
        let report = TransferDriver::new(store.clone())
            .run(
                &job,
                Transfer::<MediaData>::new(
                    Arc::new(GoogleTakeout::open(&z).unwrap().with_page_size(4)),
                    dest.clone(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(report.state, JobState::Complete, "{report}");
        dest.finish().unwrap();
        let stats = dest.stats();
        if run == 0 {
            assert_eq!(
                stats.written as usize,
                want.len(),
                "every item written once"
            );
        } else {
            assert_eq!(stats.written, 0, "a rerun adds nothing");
        }
    }
    // Read the archive back: same bytes, same metadata.
    let back = LocalArchive::open_source(&out).unwrap();
    let sink = Arc::new(MemoryImporter::<MediaData>::new());
    let job2 = store
        .create_job(NewJob::new("local:y", "memory", [DataType::Media]))
        .await
        .unwrap()
        .id;
    let report = TransferDriver::new(store.clone())
        .run(
            &job2,
            Transfer::<MediaData>::new(Arc::new(back), sink.clone()),
        )
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Complete, "{report}");
    let dest = sink.destination();
    let items: Vec<MediaItem> = dest.items().into_iter().map(|i| i.item).collect();
    let got = by_name(&items);
    assert_eq!(got.len(), want.len());
    for imported in dest.items() {
        let i = &imported.item;
        let key = if i.filename == "IMG_0003.jpg" {
            format!(
                "IMG_0003.jpg#{}",
                if i.description.as_deref() == Some("first") {
                    0
                } else {
                    1
                }
            )
        } else {
            i.filename.clone()
        };
        assert_eq!(
            imported.media_sha256.as_deref(),
            Some(sha256(&want[&key]).as_str()),
            "{key}"
        );
    }
    let img1 = got["IMG_0001.jpg"];
    assert_eq!(
        img1.captured.unwrap().to_datetime().unwrap().timestamp(),
        TAKEN
    );
    assert_eq!(img1.description.as_deref(), Some("Sunset at the pier"));
    assert_eq!(img1.album_ids.len(), 1);
}
