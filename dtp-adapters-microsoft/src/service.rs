//! [`MicrosoftService`]: the `microsoft` service of a registry.

use std::sync::Arc;

use async_trait::async_trait;
use dtp_core::registry::{AuthKind, Endpoint, Role, ServiceFactory};
use dtp_core::{DataType, Result};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::MailData;
use dtp_models::media::MediaData;
use dtp_models::tasks::TasksData;

use crate::onedrive::{OneDriveConfig, OneDrivePhotos};
use crate::{
    GraphClient, GraphConfig, MicrosoftTodo, OutlookCalendar, OutlookContacts, OutlookMail,
};

/// The `microsoft` service: Outlook contacts, calendars and mail, Microsoft
/// To Do, and OneDrive photos and videos, all over Microsoft Graph, both
/// ways.
///
/// The location names the account (`microsoft:ada@example.org`): it keys
/// the per-mailbox concurrency and rate limits. The credentials are the
/// job's OAuth tokens (scopes in [`crate::auth`]). Endpoints and limits come
/// from the [`GraphConfig`] and [`OneDriveConfig`] the service is built with
/// (production by default).
///
/// ```
/// use dtp_adapters_microsoft::MicrosoftService;
/// use dtp_core::registry::ServiceFactory;
/// let microsoft = MicrosoftService::new();
/// assert_eq!((microsoft.name(), microsoft.exports().len()), ("microsoft", 5));
/// ```
#[derive(Debug, Clone, Default)]
pub struct MicrosoftService {
    graph: GraphConfig,
    onedrive: OneDriveConfig,
}

impl MicrosoftService {
    /// Production Graph v1.0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `config` for Outlook and To Do; the location given to
    /// [`open`](ServiceFactory::open) replaces its account.
    pub fn with_graph_config(mut self, config: GraphConfig) -> Self {
        self.graph = config;
        self
    }

    /// Uses `config` for OneDrive; its rate limit is keyed by the location.
    pub fn with_onedrive_config(mut self, config: OneDriveConfig) -> Self {
        self.onedrive = config;
        self
    }
}

#[async_trait]
impl ServiceFactory for MicrosoftService {
    fn name(&self) -> &str {
        "microsoft"
    }

    fn description(&self) -> &str {
        "Microsoft account over Graph: Outlook contacts, calendars and mail, To Do, OneDrive photos and videos"
    }

    fn auth(&self) -> AuthKind {
        AuthKind::OAuth2
    }

    fn example_location(&self) -> &str {
        "ada@outlook.com"
    }

    fn exports(&self) -> Vec<DataType> {
        DataType::ALL.to_vec()
    }

    fn imports(&self) -> Vec<DataType> {
        DataType::ALL.to_vec()
    }

    async fn open(&self, location: &str, role: Role) -> Result<Endpoint> {
        let client = GraphClient::new(self.graph.clone().with_account(location))?;
        let contacts = Arc::new(OutlookContacts::new(client.clone()));
        let calendar = Arc::new(OutlookCalendar::new(client.clone()));
        let todo = Arc::new(MicrosoftTodo::new(client.clone()));
        let mail = Arc::new(OutlookMail::new(client));
        let photos = Arc::new(OneDrivePhotos::new(
            self.onedrive.clone().with_account(location),
        )?);
        Ok(Endpoint::new()
            .with_side::<ContactsData, _>(role, &contacts)
            .with_side::<CalendarData, _>(role, &calendar)
            .with_side::<TasksData, _>(role, &todo)
            .with_side::<MailData, _>(role, &mail)
            .with_side::<MediaData, _>(role, &photos))
    }
}
