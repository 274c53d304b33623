//! The core of dtp-rs: the traits an adapter implements ([`Exporter`],
//! [`Importer`], [`AuthDataGenerator`]), typed errors, cursors, idempotent
//! import, job stores, retry and rate limiting, and the transfer driver.
//!
//! Nothing here knows any provider.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
mod cursor;
mod error;

pub use auth::{
    AuthData, AuthDataGenerator, AuthMode, AuthRefresher, AuthSealer, OAuthTokens, SealedAuth,
};
pub use cursor::Cursor;
pub use dtp_models::{DataModel, DataType, MediaRef, Record};
pub use error::{Error, ErrorContext, ErrorKind, ErrorScope, Result};
