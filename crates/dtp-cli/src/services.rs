//! The services this build of `dtp` knows.

use std::sync::Arc;

use dtp_adapters_local::LocalArchive;
use dtp_core::registry::{AuthKind, Endpoint, Registry, Role, ServiceFactory};
use dtp_core::{DataType, Exporter, Importer, Result};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::MailData;
use dtp_models::media::MediaData;
use dtp_models::tasks::TasksData;

/// The portable archive in a local folder.
struct Local;

fn both<M: dtp_core::DataModel>(e: Endpoint, a: &Arc<LocalArchive>, role: Role) -> Endpoint
where
    LocalArchive: Exporter<M> + Importer<M>,
{
    match role {
        Role::Destination => e.with_importer::<M>(a.clone()),
        _ => e.with_exporter::<M>(a.clone()),
    }
}

impl ServiceFactory for Local {
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
    fn open(&self, location: &str, role: Role) -> Result<Endpoint> {
        let archive = Arc::new(match role {
            Role::Destination => LocalArchive::open_destination(location)?,
            _ => LocalArchive::open_source(location)?,
        });
        let mut e = Endpoint::new();
        e = both::<MediaData>(e, &archive, role);
        e = both::<ContactsData>(e, &archive, role);
        e = both::<CalendarData>(e, &archive, role);
        e = both::<TasksData>(e, &archive, role);
        e = both::<MailData>(e, &archive, role);
        if role == Role::Destination {
            let a = archive.clone();
            e = e.on_finish(move || a.finish().map(|_| ()));
            let a = archive.clone();
            e = e.on_summary(move || {
                let s = a.stats();
                format!(
                    "archive {}: {} new, {} already there, {} bytes of media written",
                    a.root().display(),
                    s.written,
                    s.already_present,
                    s.bytes_written
                )
            });
        }
        Ok(e)
    }
}

/// Every service compiled in.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(Local));
    r
}
