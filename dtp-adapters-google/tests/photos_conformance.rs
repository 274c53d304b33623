//! The testkit conformance suite for media against the stateful Google
//! Photos fake: import through the Library API importer (uploads +
//! `batchCreate`), export back through the Data Portability API exporter
//! (archive job → Takeout zips → Takeout reader).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::photos_mock::{PhotosMock, TOKEN};
use dtp_adapters_google::client::{Endpoints, GoogleClient, GoogleConfig};
use dtp_adapters_google::error::ErrorPolicy;
use dtp_adapters_google::photos::{GooglePhotosImporter, PhotosOptions};
use dtp_adapters_google::portability::{GooglePhotosPortability, PortabilityOptions};
use dtp_adapters_google::testing::oauth;
use dtp_core::{AuthData, Result};
use dtp_models::media::MediaData;
use dtp_testkit::conformance::{self, Account, Capabilities, Check, ConformanceTarget, ErrorCase};

fn client(mock: &PhotosMock) -> GoogleClient {
    GoogleClient::new(
        GoogleConfig::new("test@example.com")
            .with_endpoints(Endpoints::single_host(&mock.uri()).unwrap())
            .with_rate_limits(false)
            .with_error_policy(ErrorPolicy::default().with_photos_min_retry_after(None))
            .with_request_timeout(Duration::from_secs(20)),
    )
    .unwrap()
}

struct PhotosTarget {
    mocks: Mutex<Vec<PhotosMock>>,
}

impl PhotosTarget {
    async fn account_with(
        &self,
        auth: AuthData,
        setup: impl FnOnce(&PhotosMock),
    ) -> Account<MediaData> {
        let mock = PhotosMock::start().await;
        setup(&mock);
        let c = client(&mock);
        let importer = GooglePhotosImporter::with_options(
            c.clone(),
            // 1 KiB samples: half the items resumable, half simple.
            PhotosOptions::new().with_simple_upload_max(1024),
        );
        let exporter = GooglePhotosPortability::new(
            c,
            PortabilityOptions::new()
                .with_poll_interval(Duration::from_millis(5))
                .with_page_size(10),
        );
        self.mocks.lock().unwrap().push(mock);
        Account::new(Arc::new(exporter), Arc::new(importer), auth)
    }
}

#[async_trait]
impl ConformanceTarget<MediaData> for PhotosTarget {
    async fn fresh_account(&self) -> Result<Account<MediaData>> {
        Ok(self.account_with(oauth(TOKEN), |_| {}).await)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full().without(
            Check::RerunNewJob,
            "Google Photos keeps no source id a new job could match on; only a run's own job store (and, after a crash, the app-created items) prevents duplicates",
        )
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<MediaData>>> {
        Ok(vec![
            ErrorCase {
                name: "storage full (400 INVALID_ARGUMENT remaining storage)".into(),
                account: self
                    .account_with(oauth(TOKEN), |m| m.state().storage_full = true)
                    .await,
                on_import: true,
                expected_kind: dtp_core::ErrorKind::DestinationFull,
            },
            ErrorCase {
                name: "portability resources not authorized (403)".into(),
                account: self
                    .account_with(oauth(TOKEN), |m| m.state().portability_forbidden = true)
                    .await,
                on_import: false,
                expected_kind: dtp_core::ErrorKind::PermissionDenied,
            },
            ErrorCase {
                name: "expired token, no refresher (401)".into(),
                account: self.account_with(oauth("ya29.expired"), |_| {}).await,
                on_import: true,
                expected_kind: dtp_core::ErrorKind::Unauthenticated,
            },
            ErrorCase {
                name: "not OAuth credentials".into(),
                account: self.account_with(AuthData::None, |_| {}).await,
                on_import: false,
                expected_kind: dtp_core::ErrorKind::Reauthorize,
            },
        ])
    }

    /// What Google Photos keeps: file name, description, kind, bytes (size,
    /// type) and album membership; album titles. It does not keep album
    /// descriptions (the Library API has none), and capture/upload times
    /// come back from the archive as Google computed them.
    fn normalize(&self, value: &mut serde_json::Value) {
        if let Some(obj) = value.as_object_mut() {
            let is_item = obj.contains_key("filename");
            let drop: &[&str] = if is_item {
                &[
                    "captured",
                    "uploaded",
                    "location",
                    "favorite",
                    "title",
                    "width",
                    "height",
                    "duration_ms",
                ]
            } else {
                &["description", "created", "cover_item_id"]
            };
            for k in drop {
                obj.remove(*k);
            }
            if let Some(c) = obj.get_mut("content").and_then(|c| c.as_object_mut()) {
                c.remove("sha256");
            }
        }
    }
}

#[tokio::test]
async fn photos_conformance() {
    let target = PhotosTarget {
        mocks: Mutex::new(Vec::new()),
    };
    conformance::run_all::<MediaData, _>(&target).await;
    // The fakes saw what the suite promised: batches within Google's limit,
    // and every crash-resume account without a duplicate.
    for m in target.mocks.lock().unwrap().iter() {
        let st = m.state();
        assert!(st.batch_sizes.iter().all(|n| (1..=50).contains(n)));
        let mut names: Vec<(&str, Option<&str>)> = st
            .items
            .iter()
            .map(|i| (i.filename.as_str(), i.description.as_deref()))
            .collect();
        let before = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), before, "a fake holds a duplicate item");
    }
}
