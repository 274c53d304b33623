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
//!
//! # What the conversions keep, and where they cannot
//!
//! Reading a vCard or an iCalendar object and writing it back gives a model
//! equal to the one read, property by property (tested over a corpus of
//! real exports, and by property tests). Values that do not fit the model
//! (a `REV` that is no timestamp, an escaped `GEO`, an impossible date) are
//! kept verbatim, with a [`Warning`] naming the line. What is *not* kept:
//!
//! * the physical form: folding, line endings, property order, parameter
//!   order, `ENCODING`/`CHARSET` of vCard 2.1 (values are decoded), and
//!   letter case of `TYPE` values (lower-cased);
//! * whitespace around items of comma-separated lists (`NICKNAME`,
//!   `CATEGORIES`, components of `N`/`ADR`), which `calcard` trims;
//! * a lone quoted `TYPE` value containing a comma (`TYPE="a,b"`), which
//!   `calcard` splits into the known types it names;
//! * UTC offsets under one hour (`+00:30`) in vCard dates, which `calcard`
//!   writes as `Z`;
//! * in vCard 3.0 output: `PREF` ranks (3.0 has only `TYPE=pref`) and dates
//!   without a year (3.0 has no syntax for them);
//! * verbatim vCard properties with binary values (`LOGO`, `SOUND`, `KEY`)
//!   are written as `ENCODING=b` base64 even in 4.0 output (read back
//!   by `calcard` and most 4.0 readers, but not the `data:` URI form 4.0
//!   prefers);
//! * input that is neither UTF-8 nor in the charset it declares is read as
//!   ISO-8859-1 (with a warning), so no byte is dropped.
//!
//! Raw mail is never converted: its bytes are carried as they are.
#![forbid(unsafe_code)]

mod bytes;
pub mod calendar;
mod common;
pub mod contacts;
mod datetime;
pub mod digest;
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
