//! [`DavService`]: the `caldav`, `carddav` and `webdav` services of a
//! registry.

use std::sync::Arc;

use async_trait::async_trait;
use dtp_core::registry::{AuthKind, Endpoint, Role, ServiceFactory};
use dtp_core::{DataType, Result};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::media::MediaData;
use dtp_models::tasks::TasksData;

use crate::{CalDav, CardDav, DavConfig, WebDavConfig, WebDavMedia};

/// Which DAV protocol a [`DavService`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Cal,
    Card,
    Web,
}

/// A CalDAV, CardDAV or WebDAV server as a registry service. The location
/// is the server's URL; the credentials (user name + app password) are the
/// job's [`AuthData`](dtp_core::AuthData).
///
/// ```
/// use dtp_adapters_dav::DavService;
/// use dtp_core::registry::ServiceFactory;
/// let names: Vec<String> = DavService::all().iter().map(|s| s.name().to_string()).collect();
/// assert_eq!(names, ["caldav", "carddav", "webdav"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DavService(Protocol);

impl DavService {
    /// `caldav`: calendars and task lists.
    pub fn caldav() -> Self {
        DavService(Protocol::Cal)
    }

    /// `carddav`: address books.
    pub fn carddav() -> Self {
        DavService(Protocol::Card)
    }

    /// `webdav`: photos and videos, one folder per album.
    pub fn webdav() -> Self {
        DavService(Protocol::Web)
    }

    /// The three services.
    pub fn all() -> [DavService; 3] {
        [Self::caldav(), Self::carddav(), Self::webdav()]
    }
}

#[async_trait]
impl ServiceFactory for DavService {
    fn name(&self) -> &str {
        match self.0 {
            Protocol::Cal => "caldav",
            Protocol::Card => "carddav",
            Protocol::Web => "webdav",
        }
    }

    fn description(&self) -> &str {
        match self.0 {
            Protocol::Cal => {
                "CalDAV server: calendars and task lists (Nextcloud, Fastmail, iCloud, Radicale, …)"
            }
            Protocol::Card => {
                "CardDAV server: address books (Nextcloud, Fastmail, iCloud, Radicale, …)"
            }
            Protocol::Web => "WebDAV folder: photos and videos, one folder per album",
        }
    }

    fn auth(&self) -> AuthKind {
        AuthKind::AppPassword
    }

    fn example_location(&self) -> &str {
        match self.0 {
            Protocol::Web => "https://cloud.example.org/remote.php/dav/files/ada/Photos/",
            _ => "https://cloud.example.org/remote.php/dav/",
        }
    }

    fn exports(&self) -> Vec<DataType> {
        match self.0 {
            Protocol::Cal => vec![DataType::Calendar, DataType::Tasks],
            Protocol::Card => vec![DataType::Contacts],
            Protocol::Web => vec![DataType::Media],
        }
    }

    fn imports(&self) -> Vec<DataType> {
        self.exports()
    }

    async fn open(&self, location: &str, role: Role) -> Result<Endpoint> {
        let endpoint = Endpoint::new();
        Ok(match self.0 {
            Protocol::Cal => {
                let dav = Arc::new(CalDav::new(DavConfig::new(location)?)?);
                endpoint
                    .with_side::<CalendarData, _>(role, &dav)
                    .with_side::<TasksData, _>(role, &dav)
            }
            Protocol::Card => {
                let dav = Arc::new(CardDav::new(DavConfig::new(location)?)?);
                endpoint.with_side::<ContactsData, _>(role, &dav)
            }
            Protocol::Web => {
                let dav = Arc::new(WebDavMedia::new(WebDavConfig::new(location)?)?);
                endpoint.with_side::<MediaData, _>(role, &dav)
            }
        })
    }
}
