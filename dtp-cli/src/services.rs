//! The services this build of `dtp` knows.

use std::sync::Arc;

use dtp_adapters_dav::{CalDav, CardDav, DavConfig, WebDavConfig, WebDavMedia};
use dtp_adapters_google::takeout::GoogleTakeout;
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

/// Which DAV protocol a [`Dav`] service speaks.
#[derive(Clone, Copy)]
enum DavKind {
    Cal,
    Card,
    Web,
}

/// A CalDAV, CardDAV or WebDAV server; the location is its URL and the
/// credentials (user name + app password) come from `dtp auth login`.
struct Dav(DavKind);

impl ServiceFactory for Dav {
    fn name(&self) -> &str {
        match self.0 {
            DavKind::Cal => "caldav",
            DavKind::Card => "carddav",
            DavKind::Web => "webdav",
        }
    }
    fn description(&self) -> &str {
        match self.0 {
            DavKind::Cal => {
                "CalDAV server: calendars and task lists (Nextcloud, Fastmail, iCloud, Radicale, …)"
            }
            DavKind::Card => {
                "CardDAV server: address books (Nextcloud, Fastmail, iCloud, Radicale, …)"
            }
            DavKind::Web => "WebDAV folder: photos and videos, one folder per album",
        }
    }
    fn auth(&self) -> AuthKind {
        AuthKind::AppPassword
    }
    fn example_location(&self) -> &str {
        match self.0 {
            DavKind::Web => "https://cloud.example.org/remote.php/dav/files/ada/Photos/",
            _ => "https://cloud.example.org/remote.php/dav/",
        }
    }
    fn exports(&self) -> Vec<DataType> {
        match self.0 {
            DavKind::Cal => vec![DataType::Calendar, DataType::Tasks],
            DavKind::Card => vec![DataType::Contacts],
            DavKind::Web => vec![DataType::Media],
        }
    }
    fn imports(&self) -> Vec<DataType> {
        self.exports()
    }
    fn open(&self, location: &str, role: Role) -> Result<Endpoint> {
        let e = Endpoint::new();
        let dest = role == Role::Destination;
        Ok(match self.0 {
            DavKind::Cal => {
                let a = Arc::new(CalDav::new(DavConfig::new(location)?)?);
                if dest {
                    e.with_importer::<CalendarData>(a.clone())
                        .with_importer::<TasksData>(a)
                } else {
                    e.with_exporter::<CalendarData>(a.clone())
                        .with_exporter::<TasksData>(a)
                }
            }
            DavKind::Card => {
                let a = Arc::new(CardDav::new(DavConfig::new(location)?)?);
                if dest {
                    e.with_importer::<ContactsData>(a)
                } else {
                    e.with_exporter::<ContactsData>(a)
                }
            }
            DavKind::Web => {
                let a = Arc::new(WebDavMedia::new(WebDavConfig::new(location)?)?);
                if dest {
                    e.with_importer::<MediaData>(a)
                } else {
                    e.with_exporter::<MediaData>(a)
                }
            }
        })
    }
}

/// A Google Photos Takeout already downloaded: a `.zip`, a folder of
/// `.zip` parts, or the extracted folder. Source only.
struct GoogleTakeoutService;

impl ServiceFactory for GoogleTakeoutService {
    fn name(&self) -> &str {
        "google-takeout"
    }
    fn description(&self) -> &str {
        "Google Photos Takeout you downloaded (zip, folder of zip parts, or extracted folder); source only"
    }
    fn auth(&self) -> AuthKind {
        AuthKind::None
    }
    fn example_location(&self) -> &str {
        "./takeout-20240101T000000Z-001.zip"
    }
    fn exports(&self) -> Vec<DataType> {
        vec![DataType::Media]
    }
    fn imports(&self) -> Vec<DataType> {
        Vec::new()
    }
    fn open(&self, location: &str, role: Role) -> Result<Endpoint> {
        if role == Role::Destination {
            return Err(dtp_core::Error::unsupported(
                "google-takeout is a source only: a Takeout cannot be written",
            ));
        }
        let takeout = Arc::new(GoogleTakeout::open(location)?);
        Ok(Endpoint::new().with_exporter::<MediaData>(takeout))
    }
}

/// Every service compiled in.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(Local));
    r.register(Arc::new(Dav(DavKind::Cal)));
    r.register(Arc::new(Dav(DavKind::Card)));
    r.register(Arc::new(Dav(DavKind::Web)));
    r.register(Arc::new(GoogleTakeoutService));
    r
}
