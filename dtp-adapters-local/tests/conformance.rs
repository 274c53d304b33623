//! The testkit conformance suite against the local archive, for every data
//! type: round trip, reruns (same job and a new job: destination-side
//! de-duplication), crash/resume with nothing lost or duplicated, empty
//! source, names in many scripts.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_adapters_local::LocalArchive;
use dtp_core::{AuthData, Result};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::MailData;
use dtp_models::media::MediaData;
use dtp_models::tasks::TasksData;
use dtp_testkit::SampleModel;
use dtp_testkit::conformance::{self, Account, Capabilities, Check, ConformanceTarget};

/// Fresh archive folders in one temporary directory.
struct Local {
    dirs: Mutex<Vec<tempfile::TempDir>>,
}

impl Local {
    fn new() -> Self {
        Local {
            dirs: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl<M: SampleModel> ConformanceTarget<M> for Local
where
    LocalArchive: dtp_core::Exporter<M> + dtp_core::Importer<M>,
{
    async fn fresh_account(&self) -> Result<Account<M>> {
        let dir = tempfile::tempdir().expect("temporary folder");
        let importer = LocalArchive::open_destination(dir.path())?;
        // The exporter is a separate value over the same folder, as a later
        // `dtp` run reading the archive would be.
        let exporter = LocalArchive::open_source(dir.path())?;
        self.dirs.lock().unwrap().push(dir);
        Ok(Account::new(
            Arc::new(exporter),
            Arc::new(importer),
            AuthData::None,
        ))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full().without(
            Check::ErrorMapping,
            "local disk failures (disk full, permissions) are mapped in fsutil and tested end to end by the CLI tests on a full tmpfs",
        )
    }

    /// The archive adds what the source lacked and a standard format needs:
    /// the SHA-256 of every media file (in the sidecar) and a UID on every
    /// task (iCalendar requires one).
    fn normalize(&self, value: &mut serde_json::Value) {
        if let Some(o) = value.as_object_mut() {
            if let Some(c) = o.get_mut("content").and_then(|c| c.as_object_mut()) {
                c.remove("sha256");
            }
            if o.contains_key("title") && o.contains_key("uid") && !o.contains_key("summary") {
                o.remove("uid");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_passes_the_conformance_suite() {
    conformance::run_all::<MediaData, _>(&Local::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_pass_the_conformance_suite() {
    conformance::run_all::<ContactsData, _>(&Local::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendars_pass_the_conformance_suite() {
    conformance::run_all::<CalendarData, _>(&Local::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_pass_the_conformance_suite() {
    conformance::run_all::<TasksData, _>(&Local::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_passes_the_conformance_suite() {
    conformance::run_all::<MailData, _>(&Local::new()).await;
}
