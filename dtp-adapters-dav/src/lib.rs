//! CalDAV (events, tasks), CardDAV (contacts) and WebDAV (photos, videos)
//! adapters for dtp-rs: one crate for the standard protocols that reach
//! Nextcloud, Fastmail, iCloud, Radicale, Baïkal, SOGo, Synology, Zimbra,
//! mailbox.org and any self-hosted server.
//!
//! | type | protocol | models | containers | items |
//! |---|---|---|---|---|
//! | [`CalDav`] | CalDAV (RFC 4791) | [`CalendarData`](dtp_models::calendar::CalendarData), [`TasksData`](dtp_models::tasks::TasksData) | calendar collections (`VEVENT` / `VTODO`) | one resource per UID: a series with its overrides, or a task |
//! | [`CardDav`] | CardDAV (RFC 6352) | [`ContactsData`](dtp_models::contacts::ContactsData) | address books | one vCard per UID |
//! | [`WebDavMedia`] | WebDAV (RFC 4918) | [`MediaData`](dtp_models::media::MediaData) | folders (album = folder) | a file plus a JSON sidecar |
//!
//! # What each side does
//!
//! **Discovery** ([`DavConfig::new`] with any URL of the server): `PROPFIND`
//! of `current-user-principal` at the URL, else at `/.well-known/caldav` or
//! `/.well-known/carddav` (redirects followed on the same origin), then the
//! principal's `calendar-home-set` / `addressbook-home-set`, then the home's
//! collections with their resource types, names, descriptions, colours,
//! `supported-calendar-component-set` and `supported-address-data`.
//! [`DavConfig::with_home`] skips discovery.
//!
//! **Export**: every collection is a container. Its members are listed with
//! a `sync-collection` REPORT (RFC 6578; `PROPFIND Depth: 1` where the server
//! has none) and fetched in pages with `calendar-multiget` /
//! `addressbook-multiget`; each resource's ETag is kept
//! ([`CalDav::etags`]). The cursor holds the hrefs still to fetch and the
//! collection's sync token; [`CalDav::sync_tokens`] hands the tokens out, and
//! [`DavConfig::with_sync_tokens`] makes a later export fetch only what
//! changed since (incremental). Data is converted with `dtp-models`
//! (`parse_icalendar`, `parse_vcards`). A multiget answer that is not
//! well-formed XML is fetched again href by href, so the error
//! ([`InvalidData`](dtp_core::ErrorKind::InvalidData)) names the one
//! resource at fault. Task lists come as one page with parents before
//! their subtasks.
//!
//! **Import**: `MKCALENDAR` with the right `supported-calendar-component-set`
//! (`VEVENT` for calendars, `VTODO` for task lists), extended `MKCOL` for
//! address books. Each item is `PUT` under a name derived from its UID
//! ([`names::resource_name`]) with `If-None-Match: *`; a `412` means an
//! earlier run wrote it, and [`OnExisting`] decides (overwrite by default,
//! or skip): a rerun never makes a second resource. `find_existing_*`
//! (`HEAD` of the derived name, `PROPFIND` of the collection) make a resumed
//! page exact after a crash. A recurring series travels as one resource with
//! its overridden instances. Contacts are written as vCard 4.0 only where
//! the address book advertises 4.0, else as vCard 3.0 (Radicale and
//! Xandikos advertise only 3.0).
//!
//! **WebDAV media**: see [`webdav`]. Uploads stream the exporter's
//! [`ByteStream`](dtp_core::ByteStream) as a chunked request body, downloads
//! stream the response; SHA-256 and size are checked when the source knows
//! them. Moving a 512 MiB video peaks at about 13 MiB RSS in the transfer
//! process (`examples/webdav_video.rs`).
//!
//! **Errors**: 401 → `Unauthenticated`, 403 → `PermissionDenied`, 404/410 →
//! `NotFound`, 412 → the idempotency rule above, 413/507 →
//! `DestinationFull`, 429/503 → `RateLimited` with `Retry-After` (seconds or
//! an HTTP date), 423 and other 5xx → `Transient`, dropped connections and
//! timeouts → `Transient`, malformed multistatus XML → `InvalidData`.
//! Requests go through [`ImportContext::call`](dtp_core::ImportContext::call)
//! so the driver retries and honours `Retry-After`. Credentials are
//! [`AuthData::Basic`](dtp_core::AuthData::Basic) (app passwords) or a
//! bearer token ([`AuthData::OAuth2`](dtp_core::AuthData::OAuth2),
//! [`AuthData::ApiKey`](dtp_core::AuthData::ApiKey)); they are never stored
//! in the adapters and never appear in `Debug` output, logs or errors.
//!
//! # Known limits
//!
//! - `VTIMEZONE` definitions: an exported event keeps its `TZID`s, but the
//!   models have no per-event slot for the resource's `VTIMEZONE`
//!   components, so DAV → DAV transfers write events without them (both
//!   Radicale and Xandikos accept that; IANA ids resolve). The importer does
//!   write the source calendar's `VTIMEZONE`s when the source model carries
//!   them (e.g. an archive export).
//! - A `VEVENT` without `DTSTART` is rejected by servers such as Radicale; the
//!   importer adds a placeholder `DTSTART` marked `X-DTP-NO-DTSTART`, which
//!   the exporter removes again.
//! - The driver stops a job on any export error, so an unreadable resource
//!   stops the export with `InvalidData` naming that resource (its checkpoint
//!   kept) rather than being skipped.
//! - Items without a UID get their source id as UID (a stable resource name
//!   needs one).
//!
//! # Why a small client and not `libdav`
//!
//! `libdav` (0.11, ISC, MSRV 1.86) is a well-kept CalDAV/CardDAV client, but
//! it is built on `hyper` + `tower-service` rather than `reqwest` (a second
//! HTTP stack beside the workspace's one `reqwest`), parses answers into a
//! DOM with `roxmltree`, pulls in a DNS resolver for SRV discovery, and has
//! no plain WebDAV file API (streamed PUT/GET of large media). What the
//! adapters need is a handful of requests (`PROPFIND`, `REPORT`, `PUT`,
//! `MKCOL`, `MKCALENDAR`, `HEAD`, `GET`), so this crate has its own small
//! client ([`DavClient`]) over the workspace `reqwest`, with a tolerant,
//! namespace-aware `multistatus` reader on `quick-xml` ([`xml`]), one error
//! mapping for all three protocols, and streaming bodies.
//!
//! # Tested against real servers
//!
//! `tests/` start Radicale, Xandikos, `rclone serve webdav` and WsgiDAV on
//! free 127.0.0.1 ports (installed by `tests/servers/setup.sh`, which the
//! tests run themselves when a server is missing) and run the `dtp-testkit`
//! conformance suite on each, a Radicale → Xandikos → Radicale transfer, a
//! fault-injecting proxy, and a 512 MiB video.
//!
//! # Example: a Nextcloud calendar into another DAV server
//!
//! ```no_run
//! use std::sync::Arc;
//! use dtp_adapters_dav::{CalDav, DavConfig};
//! use dtp_core::store::{JobStore, MemoryJobStore, NewJob};
//! use dtp_core::{AuthData, DataType, Transfer, TransferDriver};
//! use dtp_models::calendar::CalendarData;
//!
//! # async fn demo() -> dtp_core::Result<()> {
//! // Nextcloud: the DAV root; discovery finds the principal and
//! // /remote.php/dav/calendars/ada/ from there. Use an app password.
//! let nextcloud = Arc::new(CalDav::new(DavConfig::new(
//!     "https://cloud.example.org/remote.php/dav/",
//! )?)?);
//! let nextcloud_auth = AuthData::basic("ada", "app-password-from-settings");
//!
//! // Any other CalDAV server, here a Radicale; a bearer token works too
//! // (AuthData::api_key / OAuth2 tokens).
//! let radicale = Arc::new(CalDav::new(DavConfig::new("https://dav.example.net/")?)?);
//! let radicale_auth = AuthData::basic("ada", "secret");
//!
//! let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
//! let job = store
//!     .create_job(NewJob::new("ada", "nextcloud-to-radicale", [DataType::Calendar]))
//!     .await?;
//! let report = TransferDriver::new(store)
//!     .run(
//!         &job.id,
//!         Transfer::<CalendarData>::new(nextcloud.clone(), radicale)
//!             .with_export_auth(nextcloud_auth)
//!             .with_import_auth(radicale_auth),
//!     )
//!     .await?;
//! println!("{report}");
//! // Keep the sync tokens: a later run with DavConfig::with_sync_tokens
//! // exports only what changed in Nextcloud since.
//! let tokens = nextcloud.sync_tokens();
//! # let _ = tokens;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod caldav;
pub mod carddav;
pub mod client;
mod groupware;
pub mod names;
mod service;
pub mod webdav;
pub mod xml;

pub use caldav::CalDav;
pub use carddav::CardDav;
pub use client::{DavClient, HttpOptions};
pub use groupware::{DavConfig, OnExisting};
pub use service::DavService;
pub use webdav::{WebDavConfig, WebDavMedia};
