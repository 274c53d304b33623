//! Microsoft Graph adapters for dtp-rs: Outlook contacts, calendar, mail,
//! Microsoft To Do, and OneDrive photos and videos.
//!
//! | type | model | containers | items | idempotency key at Graph |
//! |---|---|---|---|---|
//! | [`OutlookContacts`] | contacts | every contact folder (default, top level, child folders) | contacts | extended property (UID or source id) |
//! | [`OutlookCalendar`] | calendar | calendars | single events and series masters with their exceptions | extended property (UID) + `transactionId` |
//! | [`MicrosoftTodo`] | tasks | To Do lists | tasks; checklist items as subtasks | `linkedResource.externalId` |
//! | [`OutlookMail`] | mail | the folder tree | messages as MIME (`$value`) | extended property (Message-ID + SHA-256) |
//!
//! Each type's module documents its mapping, what Graph cannot hold, and
//! where Graph forces something (mail imported from MIME is a draft with
//! the import time as received date: see [`mail`]; attendees are not sent
//! as Graph attendees because Graph would invite them: see [`calendar`]).
//! Build one with a [`GraphClient`]:
//!
//! ```
//! use dtp_adapters_microsoft::{GraphClient, GraphConfig, OutlookContacts};
//! let client = GraphClient::new(GraphConfig::new().with_account("ada@example.org")).unwrap();
//! let contacts = OutlookContacts::new(client);
//! # let _ = contacts;
//! ```
//!
//! Shared by every data type:
//!
//! * [`client`]: the Graph HTTP client ([`GraphClient`]): configurable base
//!   URL, bearer token from the call's [`AuthData`](dtp_core::AuthData),
//!   `@odata.nextLink` followed verbatim (same origin only), redirects handed
//!   back to the caller, and the Outlook limit of 4 concurrent requests per
//!   mailbox per app kept by a semaphore shared per account;
//! * [`error`]: the Graph error body and statuses mapped to
//!   [`dtp_core::ErrorKind`] (429/503 + `Retry-After` → `RateLimited`, 507 /
//!   `quotaLimitReached` → `DestinationFull`, 401 → `Unauthenticated`,
//!   `invalid_grant` → `Reauthorize`, 5xx → `Transient`, 404 → `NotFound`);
//! * [`auth`]: scopes per data type and mode (with `offline_access`) and the
//!   identity platform endpoints, as an [`OAuth2Config`](dtp_auth::OAuth2Config)
//!   for `dtp-auth`, whose refresh keeps Microsoft's rotated refresh tokens.
#![forbid(unsafe_code)]

pub mod auth;
pub mod calendar;
pub mod client;
pub mod contacts;
pub mod error;
pub mod ext;
pub mod mail;
mod service;
pub mod tasks;
pub mod tz;

pub use calendar::OutlookCalendar;
pub use client::{GraphClient, GraphConfig, GraphRequest, GraphResponse, Page};
pub use contacts::OutlookContacts;
pub use error::GraphError;
pub use service::MicrosoftService;

/// Loads a fixture of `tests/fixtures/graph/` (its `_source` note removed).
#[cfg(test)]
#[macro_export]
#[doc(hidden)]
macro_rules! test_fixture {
    ($name:literal) => {{
        let mut v: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/graph/",
            $name,
            ".json"
        )))
        .expect("fixture is JSON");
        if let Some(m) = v.as_object_mut() {
            m.remove("_source");
        }
        v
    }};
}
pub use mail::OutlookMail;
pub use tasks::MicrosoftTodo;

// Data types of this branch are declared above this line.

// OneDrive photos and videos (`src/onedrive/`) are declared below this line.
pub mod onedrive;
