//! WebDAV photos and videos against `rclone serve webdav` and WsgiDAV.

mod servers;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use dtp_adapters_dav::{WebDavConfig, WebDavMedia};
use dtp_core::{AuthData, Result};
use dtp_models::media::MediaData;
use dtp_testkit::conformance::{self, Account, ConformanceTarget, ErrorCase};

/// A WebDAV server; each account is a fresh folder under its root.
struct OnWebDav {
    server: servers::Server,
    next: AtomicUsize,
}

impl OnWebDav {
    fn account(&self, folder: &str, auth: AuthData) -> Result<Account<MediaData>> {
        let media = Arc::new(WebDavMedia::new(
            WebDavConfig::new(&format!("{}{folder}/", self.server.url()))?.with_page_size(10),
        )?);
        Ok(Account::new(media.clone(), media, auth))
    }
}

#[async_trait]
impl ConformanceTarget<MediaData> for OnWebDav {
    async fn fresh_account(&self) -> Result<Account<MediaData>> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        // A fresh account is an existing, empty folder.
        let status = reqwest::Client::new()
            .request(
                reqwest::Method::from_bytes(b"MKCOL").unwrap(),
                format!("{}account{n}/", self.server.url()),
            )
            .basic_auth("alice", Some("secret"))
            .send()
            .await
            .expect("MKCOL")
            .status();
        assert!(status.is_success(), "MKCOL: {status}");
        self.account(&format!("account{n}"), AuthData::basic("alice", "secret"))
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<MediaData>>> {
        Ok(vec![
            ErrorCase {
                name: "wrong password on import".into(),
                account: self.account("denied", AuthData::basic("alice", "wrong"))?,
                on_import: true,
                expected_kind: "unauthenticated",
            },
            ErrorCase {
                name: "wrong password on export".into(),
                account: self.account("denied", AuthData::basic("alice", "wrong"))?,
                on_import: false,
                expected_kind: "unauthenticated",
            },
            ErrorCase {
                name: "missing folder on export".into(),
                account: self.account("never-created", AuthData::basic("alice", "secret"))?,
                on_import: false,
                expected_kind: "not_found",
            },
        ])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_rclone_and_wsgidav() {
    for server in [servers::rclone(), servers::wsgidav()] {
        let target = OnWebDav {
            server,
            next: AtomicUsize::new(0),
        };
        conformance::run_all::<MediaData, _>(&target).await;
    }
}
