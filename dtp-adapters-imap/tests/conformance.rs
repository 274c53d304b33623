//! The dtp-testkit conformance suite against a real Dovecot on loopback:
//! every check, one fresh user each.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use dtp_adapters_imap::{ImapExporter, ImapImporter, MailData};
use dtp_core::{AuthData, Result};
use dtp_testkit::conformance::{self, Account, ConformanceTarget, ErrorCase};

struct DovecotTarget {
    server: common::Dovecot,
}

#[async_trait]
impl ConformanceTarget<MailData> for DovecotTarget {
    async fn fresh_account(&self) -> Result<Account<MailData>> {
        let (_, auth) = self.server.add_user();
        Ok(Account::new(
            Arc::new(self.server.exporter()),
            Arc::new(self.server.importer()),
            auth,
        ))
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<MailData>>> {
        let (name, _) = self.server.add_user();
        let wrong = AuthData::basic(name, "not-the-password");
        // 200 bytes of quota: not even one ~250-byte sample message fits.
        let (_, small) = self.server.add_quota_user();
        let account = |auth| {
            Account::new(
                Arc::new(ImapExporter::new(self.server.config())),
                Arc::new(ImapImporter::new(self.server.config())),
                auth,
            )
        };
        Ok(vec![
            ErrorCase {
                name: "wrong password on import".into(),
                account: account(wrong.clone()),
                on_import: true,
                expected_kind: dtp_core::ErrorKind::Reauthorize,
            },
            ErrorCase {
                name: "wrong password on export".into(),
                account: account(wrong),
                on_import: false,
                expected_kind: dtp_core::ErrorKind::Reauthorize,
            },
            ErrorCase {
                name: "over quota".into(),
                account: account(small),
                on_import: true,
                expected_kind: dtp_core::ErrorKind::DestinationFull,
            },
        ])
    }

    /// What the server legitimately adds: the hierarchy separator and the
    /// inbox role of folders, and the internal date it assigns to messages
    /// that came without one.
    fn normalize(&self, value: &mut serde_json::Value) {
        if let Some(map) = value.as_object_mut() {
            map.remove("separator");
            map.remove("role");
            map.remove("internal_date");
        }
    }
}

fn quota_config() -> String {
    "mail_plugins = $mail_plugins quota\n\
     protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}\n\
     plugin {\n  quota = maildir:User quota\n}\n"
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_passes_the_conformance_suite() {
    let server = common::Dovecot::start_with(common::Setup {
        extra: quota_config(),
        quota_rule: Some("userdb_quota_rule=*:storage=200B".into()),
        ..Default::default()
    });
    let target = DovecotTarget { server };
    conformance::run_all(&target).await;
}
