//! IMAP adapter for dtp-rs: export and import mail ([`MailData`]) with any
//! IMAP4rev1 server (Gmail, Outlook.com, Fastmail, iCloud, Dovecot, Cyrus, …).
//!
//! * [`ImapExporter`] lists folders (hierarchy separator, SPECIAL-USE
//!   roles), then pages through each folder by UID range (`UID FETCH …
//!   (FLAGS INTERNALDATE RFC822.SIZE)`, then `BODY.PEEK[]` for the page's
//!   small messages in one more command, kept in a bounded cache until the
//!   importer streams them). Large messages (above
//!   [`ImapConfig::page_fetch_max`]) are fetched when the importer asks, in
//!   partial ranges (`BODY.PEEK[]<offset.length>`), so they are never whole
//!   in memory. `\Seen` is never set on the source. Cursors hold
//!   (UIDVALIDITY, last UID); a changed UIDVALIDITY restarts that folder.
//!   [`SyncState`] carries the marks to a later run for incremental export.
//! * [`ImapImporter`] creates folders (mapping Sent/Drafts/Trash/Junk/
//!   Archive and the inbox onto the destination's own), APPENDs each message
//!   with its flags and internal date, streaming the literal (its size is
//!   known up front from [`MediaRef::size`](dtp_core::MediaRef)), and is
//!   idempotent: a message already in the folder (same Message-ID and size;
//!   without a Message-ID, same SHA-256 of the bytes) is not appended again.
//!   That also makes a crash between APPEND and checkpoint exact: the
//!   resumed run finds the message (`find_existing_item`) instead of
//!   appending it twice. Labels (a message in several folders) become
//!   `UID COPY`s.
//! * Credentials: [`AuthData::Basic`](dtp_core::AuthData) logs in with
//!   `AUTHENTICATE PLAIN` (or `LOGIN`, see [`ImapConfig::with_login_command`]),
//!   OAuth tokens with `AUTHENTICATE XOAUTH2`. No secret is ever logged or
//!   put in an error; the connection pool remembers only a hash of the
//!   credentials to notice a refreshed token.
//! * Errors: a refused login is `Reauthorize` (password) or
//!   `Unauthenticated` (token: the driver refreshes it once); `[OVERQUOTA]`
//!   is `DestinationFull`; `[LIMIT]`/`[INUSE]` are `RateLimited`; a lost
//!   connection or timeout is `Transient` (the broken connection is dropped
//!   and the retry opens a new one); a message the server rejects is an
//!   item-level `InvalidData` carrying the server's text.
//!
//! # The IMAP client, and why
//!
//! [`async-imap`](https://crates.io/crates/async-imap) 0.12 on tokio
//! (`default-features = false, features = ["runtime-tokio"]`), with TLS from
//! `tokio-rustls` (ring provider, `webpki-roots`). It is maintained (the
//! Delta Chat project uses it in production), speaks tokio without an
//! async-std runtime, parses with `imap-proto`, and exposes its raw command
//! and response primitives, which this crate needs for the one thing its
//! high-level API cannot do: APPEND of a literal written chunk by chunk from
//! a byte stream (its `append` wants the whole message in one slice). The
//! synchronous `imap` crate would need a thread per connection; `imap-next`
//! is lower level than needed here.
//!
//! Plain TCP is refused unless the server is on loopback (tests, local
//! servers); STARTTLS is not offered, implicit TLS (port 993) is.
//!
//! # Limits
//!
//! * A message is recognised at the destination by Message-ID and size;
//!   two different messages with the same Message-ID and the same size in
//!   one folder count as one. Without a Message-ID, by size and SHA-256.
//! * Byte-identical messages without a Message-ID in one folder stay
//!   distinct within a run; after a crash, a twin on the interrupted page
//!   may be matched to a copy imported on an earlier page (one twin lost).
//! * A crash while an APPEND is in flight is exact once the server has
//!   finished that APPEND; a restart within milliseconds could race it.
//! * Incremental export sees new messages only, not flag changes or
//!   deletions (no CONDSTORE/QRESYNC yet); Gmail's X-GM-LABELS are not
//!   read, so Gmail labels export as one copy per folder.
//! * No STARTTLS.
//!
//! ```no_run
//! use std::sync::Arc;
//! use dtp_adapters_imap::{ImapConfig, ImapExporter, ImapImporter};
//! let from = Arc::new(ImapExporter::new(ImapConfig::tls("imap.example.org")));
//! let to = Arc::new(ImapImporter::new(ImapConfig::tls("mail.example.net")));
//! # let _ = (from, to);
//! ```
#![forbid(unsafe_code)]

mod config;
mod conn;
mod error;
mod export;
mod import;
mod service;
pub mod utf7;

pub use config::{ImapConfig, Security};
pub use dtp_models::mail::MailData;
pub use export::{FolderMark, ImapExporter, SyncState};
pub use import::ImapImporter;
pub use service::ImapService;
