//! The bundled sample (`examples/data/sample`) is itself a local archive:
//! every data type reads back with the content it was written with, and its
//! manifest matches what the archive holds (counts, SHA-256 of every photo).
//!
//! `DTP_REGENERATE_SAMPLE_MANIFEST=1` rewrites the manifest instead.

use std::collections::VecDeque;
use std::path::PathBuf;

use dtp_adapters_local::LocalArchive;
use dtp_core::{AuthData, Cursor, DataModel, ExportContext, Exporter};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::{MailData, SpecialUse};
use dtp_models::media::MediaData;
use dtp_models::tasks::TasksData;

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/sample")
}

async fn all<M: DataModel>(a: &LocalArchive) -> (Vec<M::Container>, Vec<M::Item>)
where
    LocalArchive: Exporter<M>,
{
    let ctx = ExportContext::detached(M::DATA_TYPE);
    let (mut cs, mut is) = (Vec::new(), Vec::new());
    let mut frontier = VecDeque::from([Cursor::root()]);
    while let Some(c) = frontier.pop_front() {
        let page = a.export(&ctx, &AuthData::None, &c).await.unwrap();
        cs.extend(page.containers);
        is.extend(page.items);
        frontier.extend(page.next);
    }
    (cs, is)
}

#[tokio::test]
async fn the_sample_reads_back_completely() {
    let a = LocalArchive::open_source(sample()).unwrap();

    let (albums, photos) = all::<MediaData>(&a).await;
    assert_eq!(albums.len(), 2);
    assert_eq!(photos.len(), 3);
    let harbour = photos
        .iter()
        .find(|p| p.title.as_deref() == Some("Harbour at dusk"))
        .unwrap();
    assert_eq!(harbour.album_ids.len(), 2, "in two albums, stored once");
    assert!(harbour.favorite && harbour.location.is_some() && harbour.captured.is_some());
    for p in &photos {
        let bytes = std::fs::read(a.root().join(&p.content.key)).unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG");
        assert!(bytes.windows(4).any(|w| w == b"Exif"), "with EXIF");
    }

    let (books, contacts) = all::<ContactsData>(&a).await;
    assert_eq!(books.len(), 1);
    assert_eq!(contacts.len(), 3);
    assert!(
        contacts.iter().all(|c| c.phones.len() >= 2),
        "several numbers each"
    );

    let (cals, events) = all::<CalendarData>(&a).await;
    assert_eq!(cals.len(), 1);
    assert_eq!(cals[0].timezones.len(), 1, "VTIMEZONE kept");
    let choir = events
        .iter()
        .find(|e| e.summary == "Choir practice")
        .unwrap();
    assert_eq!(choir.rrule.len(), 1);
    assert_eq!(choir.overrides.len(), 2);
    assert_eq!(choir.exdate.len(), 1);
    assert_eq!(events.len(), 3);

    let (lists, tasks) = all::<TasksData>(&a).await;
    assert_eq!(lists.len(), 1);
    assert_eq!(tasks.len(), 4);
    let parent = tasks.iter().find(|t| t.parent_id.is_none()).unwrap();
    assert_eq!(
        tasks
            .iter()
            .filter(|t| t.parent_id.as_deref() == Some(parent.id.as_str()))
            .count(),
        3
    );

    let (folders, messages) = all::<MailData>(&a).await;
    assert_eq!(folders.len(), 3);
    assert!(
        folders
            .iter()
            .any(|f| f.path == "INBOX" && f.role == Some(SpecialUse::Inbox))
    );
    assert_eq!(messages.len(), 4);
    assert!(messages.iter().any(|m| m.flags.seen && m.flags.answered));
    assert!(messages.iter().any(|m| m.flags.flagged && !m.flags.seen));
    assert!(
        messages
            .iter()
            .any(|m| m.flags.keywords == vec!["$Moving".to_string()])
    );
}

#[tokio::test]
async fn the_sample_manifest_matches_its_content() {
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sample().join("manifest.json")).unwrap()).unwrap();
    if std::env::var_os("DTP_REGENERATE_SAMPLE_MANIFEST").is_some() {
        LocalArchive::open_destination(sample())
            .unwrap()
            .finish()
            .unwrap();
        return;
    }
    // Recompute on a copy, so the test never writes into the repository.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&sample(), copy.path());
    let fresh = LocalArchive::open_destination(copy.path())
        .unwrap()
        .finish()
        .unwrap();
    let fresh = serde_json::to_value(&fresh).unwrap();
    for key in ["counts", "media", "containers", "schemas"] {
        assert_eq!(on_disk[key], fresh[key], "manifest `{key}` is stale");
    }
    assert_eq!(fresh["media"].as_object().unwrap().len(), 3);
    assert_eq!(fresh["counts"]["mail"]["items"], 4);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
