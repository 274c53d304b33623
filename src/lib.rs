//! dtp-rs: move a person's photos, videos, contacts, calendars, mail and tasks
//! directly from one online service into another.
//!
//! This facade re-exports the crates of the family; each adapter, the job
//! stores and the test kit are behind a cargo feature:
//!
//! | feature | what it adds | services in [`registry()`] |
//! |---|---|---|
//! | `sqlite` (default) | the embedded SQLite job store | |
//! | `local` (default) | `adapters::local`: the portable archive | `local` |
//! | `dav` | `adapters::dav`: CalDAV, CardDAV, WebDAV | `caldav`, `carddav`, `webdav` |
//! | `imap` | `adapters::imap`: IMAP mail | `imap` |
//! | `google` | `adapters::google`: Google's REST APIs and Takeout | `google`, `google-takeout` |
//! | `microsoft` | `adapters::microsoft`: Microsoft Graph | `microsoft` |
//! | `postgres` | `store_postgres`: the PostgreSQL job store and queue | |
//! | `testkit` | `testkit`: in-memory services, faults, the conformance suite | |
//!
//! ```
//! let registry = dtp::registry();
//! # #[cfg(feature = "local")]
//! assert!(registry.get("local").is_ok());
//! ```
#![forbid(unsafe_code)]

pub use dtp_auth as auth;
pub use dtp_core as core;
pub use dtp_models as models;
/// The PostgreSQL job store and queue for fleets of workers (feature `postgres`).
#[cfg(feature = "postgres")]
pub use dtp_store_postgres as store_postgres;
/// In-memory services, fault injection and the conformance suite (feature `testkit`).
#[cfg(feature = "testkit")]
pub use dtp_testkit as testkit;

/// Adapters, each behind its cargo feature.
pub mod adapters {
    /// CalDAV, CardDAV and WebDAV (feature `dav`).
    #[cfg(feature = "dav")]
    pub use dtp_adapters_dav as dav;
    /// Google People, Calendar, Tasks, Gmail and Photos, and Takeout (feature `google`).
    #[cfg(feature = "google")]
    pub use dtp_adapters_google as google;
    /// IMAP mail (feature `imap`).
    #[cfg(feature = "imap")]
    pub use dtp_adapters_imap as imap;
    /// The portable archive in a local folder (feature `local`).
    #[cfg(feature = "local")]
    pub use dtp_adapters_local as local;
    /// Microsoft Graph: Outlook contacts, calendar, mail, To Do, OneDrive (feature `microsoft`).
    #[cfg(feature = "microsoft")]
    pub use dtp_adapters_microsoft as microsoft;
}

/// A registry of the services of every adapter feature this build has on,
/// each with its crate's own factory and default settings (production
/// endpoints). Register a configured factory under the same name to replace
/// one.
pub fn registry() -> dtp_core::registry::Registry {
    #[allow(unused_mut)]
    let mut registry = dtp_core::registry::Registry::new();
    #[cfg(feature = "local")]
    registry.register(std::sync::Arc::new(dtp_adapters_local::LocalService::new()));
    #[cfg(feature = "dav")]
    for dav in dtp_adapters_dav::DavService::all() {
        registry.register(std::sync::Arc::new(dav));
    }
    #[cfg(feature = "imap")]
    registry.register(std::sync::Arc::new(dtp_adapters_imap::ImapService::new()));
    #[cfg(feature = "google")]
    {
        registry.register(std::sync::Arc::new(
            dtp_adapters_google::GoogleService::new(),
        ));
        registry.register(std::sync::Arc::new(
            dtp_adapters_google::GoogleTakeoutService::new(),
        ));
    }
    #[cfg(feature = "microsoft")]
    registry.register(std::sync::Arc::new(
        dtp_adapters_microsoft::MicrosoftService::new(),
    ));
    registry
}
