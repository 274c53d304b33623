//! [`LocalService`]: the `local` service of a registry.

use std::sync::Arc;

use async_trait::async_trait;
use dtp_core::registry::{AuthKind, Endpoint, Role, ServiceFactory};
use dtp_core::{DataType, Result};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::MailData;
use dtp_models::media::MediaData;
use dtp_models::tasks::TasksData;

use crate::LocalArchive;

/// The `local` service: a portable archive in a folder, every data type both
/// ways. The location is the folder (`local:./archive`); a destination
/// writes its manifest when the transfer finishes and sums up what it wrote.
///
/// ```
/// use dtp_adapters_local::LocalService;
/// use dtp_core::registry::{Registry, ServiceFactory};
/// let mut registry = Registry::new();
/// registry.register(std::sync::Arc::new(LocalService::new()));
/// assert_eq!(registry.get("local").unwrap().exports().len(), 5);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalService;

impl LocalService {
    /// The factory.
    pub fn new() -> Self {
        LocalService
    }
}

#[async_trait]
impl ServiceFactory for LocalService {
    fn name(&self) -> &str {
        "local"
    }

    fn description(&self) -> &str {
        "portable archive in a folder (.vcf, .ics, Maildir, photos + JSON sidecars)"
    }

    fn auth(&self) -> AuthKind {
        AuthKind::None
    }

    fn example_location(&self) -> &str {
        "./archive"
    }

    fn exports(&self) -> Vec<DataType> {
        DataType::ALL.to_vec()
    }

    fn imports(&self) -> Vec<DataType> {
        DataType::ALL.to_vec()
    }

    async fn open(&self, location: &str, role: Role) -> Result<Endpoint> {
        let archive = Arc::new(match role {
            Role::Destination => LocalArchive::open_destination(location)?,
            _ => LocalArchive::open_source(location)?,
        });
        let mut endpoint = Endpoint::new()
            .with_side::<MediaData, _>(role, &archive)
            .with_side::<ContactsData, _>(role, &archive)
            .with_side::<CalendarData, _>(role, &archive)
            .with_side::<TasksData, _>(role, &archive)
            .with_side::<MailData, _>(role, &archive);
        if role == Role::Destination {
            let a = archive.clone();
            endpoint = endpoint.on_finish(move || a.finish().map(|_| ()));
            endpoint = endpoint.on_summary(move || {
                let s = archive.stats();
                format!(
                    "archive {}: {} new, {} already there, {} bytes of media written",
                    archive.root().display(),
                    s.written,
                    s.already_present,
                    s.bytes_written
                )
            });
        }
        Ok(endpoint)
    }
}
