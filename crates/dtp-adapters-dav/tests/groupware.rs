//! CalDAV and CardDAV against real servers on loopback: the testkit
//! conformance suite on Radicale and Xandikos.

mod servers;

use std::sync::Arc;

use async_trait::async_trait;
use dtp_adapters_dav::{CalDav, CardDav, DavConfig};
use dtp_core::{AuthData, Result};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::tasks::TasksData;
use dtp_testkit::conformance::{self, Account, ErrorCase, ConformanceTarget};
use dtp_testkit::SampleModel;
use servers::{Radicale, Xandikos};

/// Builds an account of model `M` from a DAV config.
trait DavModel: SampleModel + Sized {
    fn account(config: DavConfig, auth: AuthData) -> Account<Self>;
}

impl DavModel for CalendarData {
    fn account(config: DavConfig, auth: AuthData) -> Account<Self> {
        let a = Arc::new(CalDav::new(config).unwrap());
        Account::new(a.clone(), a, auth)
    }
}

impl DavModel for TasksData {
    fn account(config: DavConfig, auth: AuthData) -> Account<Self> {
        let a = Arc::new(CalDav::new(config).unwrap());
        Account::new(a.clone(), a, auth)
    }
}

impl DavModel for ContactsData {
    fn account(config: DavConfig, auth: AuthData) -> Account<Self> {
        let a = Arc::new(CardDav::new(config).unwrap());
        Account::new(a.clone(), a, auth)
    }
}

/// The sample tasks and contacts have no UID; the importer gives each its
/// source id as UID (a stable resource name needs one), so the exported
/// record carries a `uid` the sample lacks. Events keep theirs.
fn drop_assigned_uids(value: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = value
        && (map.contains_key("formatted_name") || map.contains_key("title"))
    {
        map.remove("uid");
    }
}

struct OnRadicale(Radicale);

#[async_trait]
impl<M: DavModel> ConformanceTarget<M> for OnRadicale {
    async fn fresh_account(&self) -> Result<Account<M>> {
        let user = self.0.new_user();
        Ok(M::account(
            DavConfig::new(&self.0.url())?.with_page_size(10),
            AuthData::basic(user, "secret"),
        ))
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<M>>> {
        let user = self.0.new_user();
        let other = self.0.new_user();
        Ok(vec![
            ErrorCase {
                name: "wrong password on import".into(),
                account: M::account(
                    DavConfig::new(&self.0.url())?,
                    AuthData::basic(user.clone(), "wrong"),
                ),
                on_import: true,
                expected_kind: "unauthenticated",
            },
            ErrorCase {
                name: "wrong password on export".into(),
                account: M::account(
                    DavConfig::new(&self.0.url())?,
                    AuthData::basic(user.clone(), "wrong"),
                ),
                on_import: false,
                expected_kind: "unauthenticated",
            },
            ErrorCase {
                name: "another user's home".into(),
                account: M::account(
                    DavConfig::new(&self.0.url())?.with_home(&format!("/{other}/"))?,
                    AuthData::basic(user, "secret"),
                ),
                on_import: true,
                expected_kind: "permission_denied",
            },
        ])
    }

    /// Radicale also adds a `DTSTAMP` (required by RFC 5545) to events and
    /// tasks that have none; the samples have none.
    fn normalize(&self, value: &mut serde_json::Value) {
        drop_assigned_uids(value);
        if let serde_json::Value::Object(map) = value
            && (map.contains_key("summary") || map.contains_key("title"))
        {
            map.remove("dtstamp");
        }
    }
}

struct OnXandikos(Xandikos);

#[async_trait]
impl<M: DavModel> ConformanceTarget<M> for OnXandikos {
    async fn fresh_account(&self) -> Result<Account<M>> {
        let home = self.0.new_home().await;
        Ok(M::account(
            DavConfig::new(&self.0.url())?
                .with_home(&home)?
                .with_page_size(10),
            AuthData::None,
        ))
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<M>>> {
        Ok(vec![ErrorCase {
            name: "home set that does not exist".into(),
            account: M::account(
                DavConfig::new(&self.0.url())?.with_home("/user/nowhere/")?,
                AuthData::None,
            ),
            on_import: false,
            expected_kind: "not_found",
        }])
    }

    fn normalize(&self, value: &mut serde_json::Value) {
        drop_assigned_uids(value)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_radicale() {
    let target = OnRadicale(Radicale::start());
    conformance::run_all::<ContactsData, _>(&target).await;
    conformance::run_all::<CalendarData, _>(&target).await;
    conformance::run_all::<TasksData, _>(&target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_xandikos() {
    let target = OnXandikos(Xandikos::start());
    conformance::run_all::<ContactsData, _>(&target).await;
    conformance::run_all::<CalendarData, _>(&target).await;
    conformance::run_all::<TasksData, _>(&target).await;
}
