//! The core of dtp-rs: the traits an adapter implements ([`Exporter`],
//! [`Importer`], [`AuthDataGenerator`]), typed errors, cursors, idempotent
//! import, job stores, retry and rate limiting, and the transfer driver.
//!
//! Nothing here knows any provider.
#![forbid(unsafe_code)]

pub mod auth;
mod byte_stream;
mod cursor;
mod driver;
mod error;
mod events;
mod executor;
mod hash;
mod ratelimit;
pub mod registry;
mod retry;
mod spi;
pub mod store;
mod window;

/// The attribute every `impl Exporter` / `impl Importer` block needs
/// (`#[dtp_core::async_trait]`), re-exported so an adapter does not add
/// `async-trait` itself. Without it the compiler only says E0195
/// ("lifetime parameters do not match the trait declaration").
pub use async_trait::async_trait;
pub use auth::{
    AuthData, AuthDataGenerator, AuthMode, AuthRefresher, AuthSealer, OAuthTokens, SealedAuth,
};
pub use byte_stream::ByteStream;
pub use cursor::Cursor;
pub use driver::{ImportContext, Transfer, TransferDriver, TransferOptions};
pub use dtp_models::{DataModel, DataType, MediaRef, Record};
pub use error::{Error, ErrorContext, ErrorKind, ErrorScope, Result};
pub use events::{EventSink, TransferEvent, TransferReport};
pub use executor::{IdempotentExecutor, ImportKey, KeyKind};
pub use ratelimit::{RateLimit, RateLimitKey, RateLimiters};
pub use retry::RetryPolicy;
pub use spi::{
    ExportContext, ExportPage, Exporter, ImportStatus, Imported, Importer, RecordProblem,
    import_page_default,
};
