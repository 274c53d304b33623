//! Authorization for dtp-rs (OAuth 2.0 with PKCE, refresh, token persistence,
//! encrypted auth data).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use dtp_core::auth::*;
