//! CalDAV (events, tasks), CardDAV (contacts) and WebDAV (photos, videos)
//! adapters for dtp-rs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod caldav;
pub mod carddav;
pub mod client;
mod groupware;
pub mod names;
pub mod webdav;
pub mod xml;

pub use caldav::CalDav;
pub use carddav::CardDav;
pub use client::{DavClient, HttpOptions};
pub use groupware::{DavConfig, OnExisting};
pub use webdav::{WebDavConfig, WebDavMedia};
