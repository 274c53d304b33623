//! Common data models for dtp-rs.
//!
//! Every data type has a *container* (album, address book, calendar, task list,
//! mail folder) and an *item* (media item, contact, event, task, message). An
//! exporter returns pages of both; an importer writes them. The models know
//! nothing of I/O: bytes of photos, videos and large messages travel as a
//! [`MediaRef`] that the transfer driver resolves into a byte stream.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod calendar;
mod common;
pub mod contacts;
pub mod mail;
pub mod media;
pub mod tasks;

pub use common::{DataModel, DataType, MediaRef, ParseDataTypeError, Record};
