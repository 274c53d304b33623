//! The conformance suite against the `google-takeout` reader: each account
//! is an extracted Takeout folder, written by a test-only importer in
//! Takeout's layout (year folder + album folders, `metadata.json`, one
//! `.supplemental-metadata.json` sidecar per copy), and read back by
//! `GoogleTakeout`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_adapters_google::takeout::GoogleTakeout;
use dtp_core::{
    AuthData, ByteStream, Cursor, Error, ExportContext, ExportPage, Exporter, ImportContext,
    Importer, MediaRef, Result,
};
use dtp_models::media::{Album, MediaData, MediaItem};
use dtp_testkit::conformance::{self, Account, Capabilities, ConformanceTarget, ErrorCase};
use futures::StreamExt;

const GP: &str = "Takeout/Google Photos";

fn folder_name(title: &str) -> String {
    title.replace(['/', '\\'], "_")
}

fn io(e: std::io::Error) -> Error {
    Error::transient(format!("writing the Takeout: {e}"))
}

/// Writes records as Takeout does (test-only).
struct TakeoutWriter {
    root: PathBuf,
}

impl TakeoutWriter {
    fn gp(&self) -> PathBuf {
        self.root.join(GP)
    }
}

#[async_trait]
impl Importer<MediaData> for TakeoutWriter {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        _auth: &AuthData,
        album: &Album,
    ) -> Result<dtp_core::Imported> {
        async move {
            let name = folder_name(&album.title);
            let dir = self.gp().join(&name);
            std::fs::create_dir_all(&dir).map_err(io)?;
            let meta = serde_json::json!({"title": album.title,
            "description": album.description.clone().unwrap_or_default(), "access": "protected"});
            std::fs::write(dir.join("metadata.json"), meta.to_string()).map_err(io)?;
            Ok(name)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        item: &MediaItem,
    ) -> Result<dtp_core::Imported> {
        async move {
            let mut folders = vec!["Photos from 2024".to_string()];
            for a in &item.album_ids {
                folders.extend(ctx.container_id(a));
            }
            let mut bytes = Vec::new();
            let mut s = ctx.open_media(&item.content).await?;
            while let Some(c) = s.next().await {
                bytes.extend_from_slice(&c?);
            }
            let sidecar = serde_json::json!({
                "title": item.filename,
                "description": item.description.clone().unwrap_or_default(),
                "creationTime": {"timestamp": "1714557600", "formatted": "x"},
                "url": format!("https://photos.google.com/photo/{}", item.id),
            })
            .to_string();
            for f in folders {
                let dir = self.gp().join(f);
                std::fs::create_dir_all(&dir).map_err(io)?;
                std::fs::write(dir.join(&item.filename), &bytes).map_err(io)?;
                // The sidecar last: its presence means the copy is whole.
                std::fs::write(
                    dir.join(format!("{}.supplemental-metadata.json", item.filename)),
                    &sidecar,
                )
                .map_err(io)?;
            }
            Ok(item.id.clone())
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        _ctx: &ImportContext,
        _auth: &AuthData,
        album: &Album,
    ) -> Result<Option<String>> {
        let name = folder_name(&album.title);
        Ok(self
            .gp()
            .join(&name)
            .join("metadata.json")
            .exists()
            .then_some(name))
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        item: &MediaItem,
    ) -> Result<Option<String>> {
        let mut folders = vec!["Photos from 2024".to_string()];
        for a in &item.album_ids {
            folders.extend(ctx.container_id(a));
        }
        let whole = folders.iter().all(|f| {
            self.gp()
                .join(f)
                .join(format!("{}.supplemental-metadata.json", item.filename))
                .exists()
        });
        Ok(whole.then(|| item.id.clone()))
    }
}

/// Opens the Takeout when an export starts (so it sees what was written).
struct TakeoutReader {
    root: PathBuf,
    current: Mutex<Option<Arc<GoogleTakeout>>>,
}

impl TakeoutReader {
    fn takeout(&self, fresh: bool) -> Result<Arc<GoogleTakeout>> {
        let mut cur = self.current.lock().unwrap();
        if fresh || cur.is_none() {
            *cur = Some(Arc::new(GoogleTakeout::open(&self.root)?.with_page_size(7)));
        }
        Ok(cur.clone().expect("set"))
    }
}

#[async_trait]
impl Exporter<MediaData> for TakeoutReader {
    async fn export(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<MediaData>> {
        self.takeout(cursor.is_root())?
            .export(ctx, auth, cursor)
            .await
    }

    async fn open_media(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        media: &MediaRef,
    ) -> Result<ByteStream> {
        self.takeout(false)?.open_media(ctx, auth, media).await
    }
}

struct TakeoutTarget {
    dir: tempfile::TempDir,
    n: Mutex<usize>,
}

impl TakeoutTarget {
    fn new_root(&self) -> PathBuf {
        let mut n = self.n.lock().unwrap();
        *n += 1;
        let root = self.dir.path().join(format!("account-{n}"));
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    fn account(&self, root: &Path) -> Account<MediaData> {
        Account::new(
            Arc::new(TakeoutReader {
                root: root.to_path_buf(),
                current: Mutex::new(None),
            }),
            Arc::new(TakeoutWriter {
                root: root.to_path_buf(),
            }),
            AuthData::None,
        )
    }
}

#[async_trait]
impl ConformanceTarget<MediaData> for TakeoutTarget {
    async fn fresh_account(&self) -> Result<Account<MediaData>> {
        let root = self.new_root();
        Ok(self.account(&root))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<MediaData>>> {
        let root = self.new_root();
        std::fs::write(root.join("takeout-001.zip"), b"PK\x03\x04 not a zip").unwrap();
        Ok(vec![ErrorCase {
            name: "a corrupt zip part".into(),
            account: self.account(&root),
            on_import: false,
            expected_kind: dtp_core::ErrorKind::InvalidData,
        }])
    }

    /// The Takeout keeps titles, descriptions, album membership, names and
    /// bytes; upload time is what the writer stamps.
    fn normalize(&self, value: &mut serde_json::Value) {
        if let Some(obj) = value.as_object_mut() {
            obj.remove("uploaded");
            obj.remove("favorite");
        }
    }
}

#[tokio::test]
async fn takeout_reader_conformance() {
    let target = TakeoutTarget {
        dir: tempfile::tempdir().unwrap(),
        n: Mutex::new(0),
    };
    conformance::run_all::<MediaData, _>(&target).await;
}
