//! Registry services: [`GoogleService`] (`google`, the REST APIs) and
//! [`GoogleTakeoutService`] (`google-takeout`, a downloaded Takeout).

use std::sync::Arc;

use async_trait::async_trait;
use dtp_core::registry::{AuthKind, Endpoint, Role, ServiceFactory};
use dtp_core::{DataType, Error, Result};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::MailData;
use dtp_models::media::MediaData;
use dtp_models::tasks::TasksData;

use crate::photos::GooglePhotosImporter;
use crate::portability::{GooglePhotosPortability, PortabilityOptions};
use crate::takeout::GoogleTakeout;
use crate::{
    CalendarExporter, CalendarImporter, GmailExporter, GmailImporter, GoogleClient, GoogleConfig,
    PeopleExporter, PeopleImporter, TasksExporter, TasksImporter,
};

/// The `google` service: contacts (People API), calendars (Calendar API),
/// tasks (Tasks API) and mail (Gmail API) both ways; photos and videos are
/// exported through the Data Portability API and imported through the
/// Photos Library API.
///
/// The location names the account (`google:alice@example.com`): it keys
/// Google's per-user rate limits. The credentials are the job's OAuth
/// tokens (scopes per data type in [`crate::scopes`]). Endpoints and
/// timeouts come from the [`GoogleConfig`] the service is built with
/// (production by default; tests and self-hosters point it elsewhere).
///
/// ```
/// use dtp_adapters_google::GoogleService;
/// use dtp_core::DataType;
/// use dtp_core::registry::ServiceFactory;
/// let google = GoogleService::new();
/// assert_eq!(google.name(), "google");
/// assert!(google.imports().contains(&DataType::Mail));
/// ```
#[derive(Debug, Clone, Default)]
pub struct GoogleService {
    config: GoogleConfig,
    portability: PortabilityOptions,
}

impl GoogleService {
    /// Google's production endpoints.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `config` (endpoints, timeouts, error policy, rate limits); the
    /// location given to [`open`](ServiceFactory::open) replaces its
    /// account.
    pub fn with_config(mut self, config: GoogleConfig) -> Self {
        self.config = config;
        self
    }

    /// How photos are exported through the Data Portability API (work
    /// folder, polling).
    pub fn with_portability(mut self, options: PortabilityOptions) -> Self {
        self.portability = options;
        self
    }
}

#[async_trait]
impl ServiceFactory for GoogleService {
    fn name(&self) -> &str {
        "google"
    }

    fn description(&self) -> &str {
        "Google account over the REST APIs: People, Calendar, Tasks, Gmail; photos out through Data Portability, in through the Photos Library API"
    }

    fn auth(&self) -> AuthKind {
        AuthKind::OAuth2
    }

    fn example_location(&self) -> &str {
        "alice@gmail.com"
    }

    fn exports(&self) -> Vec<DataType> {
        DataType::ALL.to_vec()
    }

    fn imports(&self) -> Vec<DataType> {
        DataType::ALL.to_vec()
    }

    async fn open(&self, location: &str, role: Role) -> Result<Endpoint> {
        let mut config = self.config.clone();
        config.account = location.to_string();
        let client = GoogleClient::new(config)?;
        let c = || client.clone();
        Ok(match role {
            Role::Destination => Endpoint::new()
                .with_importer::<ContactsData>(Arc::new(PeopleImporter::new(c())))
                .with_importer::<CalendarData>(Arc::new(CalendarImporter::new(c())))
                .with_importer::<TasksData>(Arc::new(TasksImporter::new(c())))
                .with_importer::<MailData>(Arc::new(GmailImporter::new(c())))
                .with_importer::<MediaData>(Arc::new(GooglePhotosImporter::new(c()))),
            _ => Endpoint::new()
                .with_exporter::<ContactsData>(Arc::new(PeopleExporter::new(c())))
                .with_exporter::<CalendarData>(Arc::new(CalendarExporter::new(c())))
                .with_exporter::<TasksData>(Arc::new(TasksExporter::new(c())))
                .with_exporter::<MailData>(Arc::new(GmailExporter::new(c())))
                .with_exporter::<MediaData>(Arc::new(GooglePhotosPortability::new(
                    c(),
                    self.portability.clone(),
                ))),
        })
    }
}

/// The `google-takeout` service: a Google Photos Takeout already downloaded
/// (a `.zip`, a folder of `.zip` parts, or the extracted folder), as a
/// source of photos and videos. No credentials.
///
/// ```
/// use dtp_adapters_google::GoogleTakeoutService;
/// use dtp_core::registry::ServiceFactory;
/// assert!(GoogleTakeoutService::new().imports().is_empty(), "source only");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GoogleTakeoutService;

impl GoogleTakeoutService {
    /// The factory.
    pub fn new() -> Self {
        GoogleTakeoutService
    }
}

#[async_trait]
impl ServiceFactory for GoogleTakeoutService {
    fn name(&self) -> &str {
        crate::takeout::SERVICE
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

    async fn open(&self, location: &str, role: Role) -> Result<Endpoint> {
        if role == Role::Destination {
            return Err(Error::unsupported(
                "google-takeout is a source only: a Takeout cannot be written",
            ));
        }
        let takeout = Arc::new(GoogleTakeout::open(location)?);
        Ok(Endpoint::new().with_exporter::<MediaData>(takeout))
    }
}
