//! dtp-rs: move a person's photos, videos, contacts, calendars, mail and tasks
//! directly from one online service into another.
//!
//! This facade re-exports the crates of the family.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use dtp_auth as auth;
pub use dtp_core as core;
pub use dtp_models as models;
/// The PostgreSQL job store and queue for fleets of workers (feature `postgres`).
#[cfg(feature = "postgres")]
pub use dtp_store_postgres as store_postgres;
pub use dtp_testkit as testkit;

/// Adapters, each behind its cargo feature.
pub mod adapters {
    /// Google People, Calendar, Tasks, Gmail and Photos (feature `google`).
    #[cfg(feature = "google")]
    pub use dtp_adapters_google as google;
    /// The portable archive in a local folder (feature `local`).
    #[cfg(feature = "local")]
    pub use dtp_adapters_local as local;
    /// Microsoft Graph: Outlook contacts, calendar, mail, To Do, OneDrive (feature `microsoft`).
    #[cfg(feature = "microsoft")]
    pub use dtp_adapters_microsoft as microsoft;
}
