//! Authorization for dtp-rs: OAuth 2.0 (authorization code + PKCE), token
//! refresh and persistence, and encrypted auth data.
//!
//! * [`OAuth2AuthDataGenerator`]: an [`AuthDataGenerator`] for any OAuth 2.0
//!   provider described by an [`OAuth2Config`] (random `state`, PKCE S256,
//!   exact `state` check, code exchange over the workspace's `reqwest`,
//!   redirects never followed on token requests);
//! * [`TokenSource`]: what adapters ask for a valid access token (refresh
//!   ahead of expiry, one refresh for many callers, refresh-and-retry on 401,
//!   [`Reauthorize`](dtp_core::ErrorKind::Reauthorize) when refused, every
//!   new token handed to a [`TokenPersister`]);
//! * [`XChaChaSealer`]: an [`AuthSealer`] (XChaCha20-Poly1305) so job stores
//!   keep only ciphertext, and [`SealedAuthStore`] to save and load sealed
//!   credentials in a [`JobStore`](dtp_core::store::JobStore) (also as a
//!   token persister);
//! * [`LoopbackRedirect`]: the `127.0.0.1` redirect listener of command-line
//!   logins.
//!
//! Every error is a [`dtp_core::Error`] whose kind tells the driver what to
//! do and whose source is an [`AuthFailure`] telling why. No token, code,
//! verifier, `state` or secret ever appears in `Debug`, `Display`, logs or
//! errors.
#![forbid(unsafe_code)]

mod config;
mod error;
mod generator;
mod http;
mod loopback;
mod oauth_client;
mod sealer;
mod store;
mod token_source;

pub use config::{ClientAuthMethod, ModeScopes, OAuth2Config};
pub use dtp_core::auth::*;
pub use error::{AuthFailure, auth_failure};
pub use generator::OAuth2AuthDataGenerator;
pub use loopback::LoopbackRedirect;
pub use sealer::{XChaChaSealer, key_from_hex};
pub use store::{JobAuthPersister, SealedAuthStore};
pub use token_source::{
    Bearer, DEFAULT_REFRESH_SKEW, FnPersister, TokenPersister, TokenSource, TokenSourceBuilder,
    persist_fn,
};
