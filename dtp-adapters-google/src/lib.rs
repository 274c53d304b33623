//! Google adapters for dtp-rs: People (contacts), Calendar, Tasks and Gmail
//! (and, in the `photos`, `portability` and `takeout` modules, Photos)
//! over Google's REST APIs.
//!
//! | data type | exporter / importer | API | module |
//! |---|---|---|---|
//! | contacts | [`PeopleExporter`] / [`PeopleImporter`] | People API (`connections.list`, `batchCreateContacts`, `contactGroups`) | [`contacts`] |
//! | calendar | [`CalendarExporter`] / [`CalendarImporter`] | Calendar API v3 (`calendarList`, `events.list`, `events.import`) | [`calendar`] |
//! | tasks | [`TasksExporter`] / [`TasksImporter`] | Tasks API (`tasklists`, `tasks.list`, `tasks.insert`) | [`tasks`] |
//! | mail | [`GmailExporter`] / [`GmailImporter`] | Gmail API (`labels`, `messages.list/get?format=raw`, `messages.import`) | [`mail`] |
//!
//! Each module's docs say what is mapped, how reruns and resumed runs stay
//! exactly-once at the destination, and what Google cannot store.
//!
//! ```no_run
//! # async fn demo() -> dtp_core::Result<()> {
//! use std::sync::Arc;
//! use dtp_adapters_google::{CalendarExporter, GoogleClient, GoogleConfig};
//! let client = GoogleClient::new(GoogleConfig::new("alice@example.com"))?;
//! let exporter = Arc::new(CalendarExporter::new(client));
//! // Transfer::new(exporter, importer).with_export_auth(oauth_tokens) …
//! # let _ = exporter; Ok(()) }
//! ```
//!
//! Shared pieces:
//!
//! * [`client`]: [`GoogleClient`] — one `reqwest` client, a base URL per
//!   [`Api`] ([`Endpoints::single_host`] points every API at a mock server
//!   on its real paths), the bearer token of the call's
//!   [`AuthData`](dtp_core::AuthData), typed errors;
//! * [`error`]: both Google error formats mapped to
//!   [`ErrorKind`](dtp_core::ErrorKind)s (rate limits with `Retry-After`,
//!   daily quotas, storage full, 401, `invalid_grant`, 5xx);
//! * [`limits`]: Google's published per-user quotas as driver rate limits;
//! * [`scopes`]: OAuth scopes per data type and mode, and a ready
//!   `dtp_auth::OAuth2Config`;
//! * `testing` (feature `testing`): wiremock helpers and fixtures.
//!
//! Token refresh is the driver's: give the `Transfer` an
//! `AuthRefresher` (e.g. `dtp_auth::OAuth2AuthDataGenerator` built from
//! [`scopes::google_oauth2_config`]); a 401 from Google is
//! `Unauthenticated`, the driver refreshes once and retries, and a refused
//! refresh (`invalid_grant`) is `Reauthorize`.
#![forbid(unsafe_code)]

pub mod calendar;
pub mod client;
pub mod contacts;
pub mod error;
pub mod limits;
pub mod mail;
pub mod photos;
pub mod portability;
pub mod scopes;
mod service;
pub mod takeout;
pub mod tasks;
#[cfg(feature = "testing")]
pub mod testing;

pub use calendar::{CalendarExporter, CalendarImporter};
pub use client::{Answer, Api, Body, Endpoints, GoogleClient, GoogleConfig, Request};
pub use contacts::{PeopleExporter, PeopleImporter};
pub use error::{ErrorPolicy, GoogleError, google_error, is_full_sync_required};
pub use mail::{GmailExporter, GmailImporter};
pub use service::{GoogleService, GoogleTakeoutService};
pub use tasks::{TasksExporter, TasksImporter};
