//! Common data models for dtp-rs.
//!
//! Every data type has a *container* (album, address book, calendar, task list,
//! mail folder) and an *item* (media item, contact, event, task, message). An
//! exporter returns pages of both ([`schema::Page`]); an importer writes them.
//! The models know nothing of I/O: bytes of photos, videos and large messages
//! travel as a [`MediaRef`] that the transfer driver resolves into a byte
//! stream.
//!
//! The models are built so that nothing a source says is lost: whatever a
//! model does not structure is kept verbatim ([`props`]) and written back.
//!
//! | module | container | item | standard format (feature) |
//! |---|---|---|---|
//! | [`media`] | [`media::Album`] | [`media::MediaItem`] | – |
//! | [`contacts`] | [`contacts::AddressBook`] | [`contacts::Contact`] | vCard 2.1/3.0/4.0 ([`vcard`], `vcard`) |
//! | [`calendar`] | [`calendar::Calendar`] | [`calendar::Event`] | iCalendar ([`ical`], `icalendar`) |
//! | [`tasks`] | [`tasks::TaskList`] | [`tasks::Task`] | iCalendar `VTODO` ([`ical`], `icalendar`) |
//! | [`mail`] | [`mail::Folder`] | [`mail::Message`] | RFC 5322 header view (`mail`) |
//!
//! Serialized models are versioned: see [`schema`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bytes;
pub mod calendar;
mod common;
pub mod contacts;
mod datetime;
mod error;
pub mod mail;
pub mod media;
pub mod props;
pub mod schema;
pub mod tasks;

#[cfg(any(feature = "vcard", feature = "icalendar"))]
mod text;

#[cfg(feature = "icalendar")]
pub mod ical;
#[cfg(feature = "vcard")]
pub mod vcard;

pub use bytes::InlineBytes;
pub use common::{DataModel, DataType, MediaRef, ParseDataTypeError, Record};
pub use datetime::{DateOrText, DateTimeValue, PartialDateTime};
pub use error::{ConversionError, ConversionErrorKind, Parsed, SchemaError, Warning};
