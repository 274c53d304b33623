//! OneDrive photos and videos ([`MediaData`](dtp_models::media::MediaData))
//! through Microsoft Graph `driveItem`s: an album is a folder.
//!
//! ```text
//! <root>/                       the Photos special folder (default) or a chosen folder
//! <root>/<album title>/         one folder per album (description kept, OneDrive Personal)
//! <root>/<album title>/IMG.jpg  the bytes, streamed; capture time in fileSystemInfo
//! <root>/IMG.jpg                an item in no album
//! ```
//!
//! **Export** ([`OneDrivePhotos`] as an `Exporter`): the root's children are
//! listed (`GET /me/drive/items/{id}/children`), every folder becomes an
//! album (nested folders too, each its own album) and every image or video
//! file an item; other files and packages (OneNote notebooks) are skipped.
//! Pages follow `@odata.nextLink` exactly as given (the link is the cursor).
//! Bytes are streamed from the item's pre-authenticated
//! `@microsoft.graph.downloadUrl` without the bearer token; if that URL has
//! expired (it lives about an hour) the item's `/content` is asked with the
//! token and its `302 Found` followed, again without the token. The download
//! URL is a credential: it is kept in memory (bounded, used once), never in
//! the item's `MediaRef`, which holds only the item id. Capture time
//! comes from the `photo` facet (`takenDateTime`, UTC), else from a
//! `fileSystemInfo.createdDateTime` a client set (one differing from the
//! item's own creation time); width, height and duration from the `image`
//! and `video` facets.
//!
//! **Import** ([`OneDrivePhotos`] as an `Importer`): an album is a folder
//! created under the root with `@microsoft.graph.conflictBehavior: fail`; a
//! `409 nameAlreadyExists` means it is there already (a rerun, or a folder
//! of that name the user had), and it is used. An item goes into the folder
//! of its first album (a folder cannot hold one file twice; further album
//! memberships are not represented). Files up to
//! [`OneDriveConfig::with_simple_upload_limit`] (4 MiB) are sent with one
//! `PUT …:/{name}:/content?@microsoft.graph.conflictBehavior=fail`, then the
//! description and `fileSystemInfo` (capture time) are set with a `PATCH`.
//! Larger files go through an upload session (`createUploadSession`, with
//! the same conflict behaviour, the description, `fileSystemInfo` and
//! `fileSize` in its `item`): fragments of
//! [`OneDriveConfig::with_fragment_size`] (a multiple of 320 KiB, 5 MiB by
//! default), in order, to the pre-authenticated `uploadUrl` without the
//! bearer token, each answered `202` with `nextExpectedRanges` until the
//! last, answered `201` with the driveItem. A fragment refused with `416`
//! or a `fragmentOverlap` / `fragmentOutOfOrder` code makes the importer
//! ask the session (`GET uploadUrl`) where to continue. The `uploadUrl` is
//! saved in the job store as soon as the session exists
//! ([`ImportContext::save_progress`](dtp_core::ImportContext::save_progress)),
//! so a retried or resumed import — in this process or after a crash —
//! asks the same session for its `nextExpectedRanges` and sends only what is
//! missing, never the whole file again. Only one fragment (plus the
//! simple-upload buffer of at most 4 MiB) is held in memory per item.
//!
//! **Reruns** add nothing: before uploading, the importer looks the file up
//! by name in the destination folder; the same name with the same size is
//! taken as the earlier upload (`find_existing_item` does the same after a
//! crash). The same name with a different size is a different file, uploaded
//! with `conflictBehavior: rename` (OneDrive appends a number).
//!
//! **Errors**: as the rest of the crate: `429`/`503` with `Retry-After` →
//! `RateLimited`, `401` → `Unauthenticated` (the driver refreshes the token
//! once), `403` → `PermissionDenied`, `507` or `quotaLimitReached` →
//! `DestinationFull`, `404`/`410` → `NotFound`, other 5xx and broken
//! connections → `Transient`, unreadable answers → `InvalidData`. Every
//! call goes through [`ImportContext::call`](dtp_core::ImportContext::call)
//! (import) or the driver's export retries.
//!
//! Reference pages: `driveitem-list-children`, `drive-get-specialfolder`,
//! `driveitem-get-content`, `driveitem-put-content`,
//! `driveitem-createuploadsession`, `resources/uploadsession`, `errors`,
//! `throttling`, `paging` (all under <https://learn.microsoft.com/graph/>).

mod export;
mod http;
mod import;
pub mod model;
pub mod ranges;

use std::num::NonZeroU32;
use std::time::Duration;

use dtp_core::{Error, RateLimit, RateLimitKey, Result};
use url::Url;

/// The service name in errors and reports.
pub(crate) const SERVICE: &str = "microsoft.onedrive";

/// The Graph endpoint.
pub const GRAPH_BASE: &str = "https://graph.microsoft.com/v1.0/";

/// Simple uploads are used up to this size (4 MiB; the legacy OneDrive
/// page's limit, safe on every drive type).
pub const SIMPLE_UPLOAD_LIMIT: u64 = 4 * 1024 * 1024;

/// The folder albums live in (export: read from; import: created under).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Root {
    /// The Photos special folder (`/me/drive/special/photos`).
    Photos,
    /// A folder by path from the drive root (`Pictures/Trips`); the drive
    /// root itself with an empty path. An import creates the folders of the
    /// path that are missing.
    Path(String),
    /// A folder by item id.
    Item(String),
}

/// Where and how to reach OneDrive.
#[derive(Debug, Clone)]
pub struct OneDriveConfig {
    pub(crate) base: Url,
    pub(crate) root: Root,
    pub(crate) fragment: u64,
    pub(crate) simple_limit: u64,
    pub(crate) page_size: Option<u32>,
    pub(crate) timeout: Duration,
    pub(crate) rate_limit: Option<RateLimit>,
}

impl Default for OneDriveConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl OneDriveConfig {
    /// Graph v1.0, the Photos special folder, 5 MiB fragments.
    pub fn new() -> Self {
        OneDriveConfig {
            base: Url::parse(GRAPH_BASE).expect("constant URL"),
            root: Root::Photos,
            fragment: ranges::DEFAULT_FRAGMENT,
            simple_limit: SIMPLE_UPLOAD_LIMIT,
            page_size: None,
            timeout: Duration::from_secs(300),
            rate_limit: Some(default_rate_limit(RateLimitKey::service_wide(SERVICE))),
        }
    }

    /// Another Graph base URL (a national cloud, or a mock server in tests);
    /// it must end with the version segment, e.g. `http://127.0.0.1:1234/v1.0/`.
    pub fn with_base(mut self, base: &str) -> Result<Self> {
        let mut base = Url::parse(base)
            .map_err(|e| Error::invalid_data(format!("bad Graph base URL: {e}")))?;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        self.base = base;
        Ok(self)
    }

    /// The folder to export from and import into.
    pub fn with_root(mut self, root: Root) -> Self {
        self.root = root;
        self
    }

    /// Upload-session fragment size, rounded down to a multiple of 320 KiB
    /// (at least 320 KiB, at most 60 MiB).
    pub fn with_fragment_size(mut self, bytes: u64) -> Self {
        self.fragment = ranges::fragment_size(bytes);
        self
    }

    /// Largest file sent with a simple upload (default 4 MiB); larger files
    /// use an upload session.
    pub fn with_simple_upload_limit(mut self, bytes: u64) -> Self {
        self.simple_limit = bytes.min(SIMPLE_UPLOAD_LIMIT);
        self
    }

    /// Asks for pages of `n` children (`$top`).
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n.max(1));
        self
    }

    /// The read timeout of one request.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Keys the declared request budget by `account` (OneDrive's limits are
    /// per user), so drivers sharing a `RateLimiters` registry share it.
    pub fn with_account(mut self, account: &str) -> Self {
        self.rate_limit = Some(default_rate_limit(RateLimitKey::new(SERVICE, account)));
        self
    }

    /// The request budget declared to the driver (`None`: no limit).
    pub fn with_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// A URL under the Graph base (`me/drive/items/x/children`).
    pub(crate) fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| Error::internal(format!("bad Graph URL `{path}`: {e}")))
    }
}

/// OneDrive's budget: about 3,000 requests per user per 5 minutes, i.e. 10
/// per second (bursts of 20).
fn default_rate_limit(key: RateLimitKey) -> RateLimit {
    RateLimit::per_second(key, NonZeroU32::new(10).expect("10"))
        .with_burst(NonZeroU32::new(20).expect("20"))
}

/// OneDrive photos and videos: an [`Exporter`](dtp_core::Exporter) and an
/// [`Importer`](dtp_core::Importer) of [`MediaData`](dtp_models::media::MediaData).
#[derive(Debug, Clone)]
pub struct OneDrivePhotos {
    pub(crate) config: OneDriveConfig,
    pub(crate) http: http::Http,
    pub(crate) import_state: std::sync::Arc<import::ImportState>,
    pub(crate) download_urls: std::sync::Arc<std::sync::Mutex<export::DownloadUrls>>,
}

impl OneDrivePhotos {
    /// A OneDrive photos adapter with `config`.
    pub fn new(config: OneDriveConfig) -> Result<Self> {
        let http = http::Http::new(config.timeout)?;
        Ok(OneDrivePhotos {
            config,
            http,
            import_state: Default::default(),
            download_urls: Default::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OneDriveConfig {
        &self.config
    }
}

/// Percent-encodes one path segment for Graph path addressing
/// (`items/{id}:/{name}:/…`).
pub(crate) fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A OneDrive-safe file or folder name: the characters OneDrive refuses
/// (`" * : < > ? / \ |`) become `_`, leading/trailing spaces and trailing
/// dots are dropped, and an empty name becomes `_`.
pub fn safe_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| match c {
            '"' | '*' | ':' | '<' | '>' | '?' | '/' | '\\' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    s = s.trim().trim_end_matches('.').to_string();
    if s.is_empty() { "_".to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe_and_encoded() {
        assert_eq!(safe_name("Ελ/日/😀"), "Ελ_日_😀");
        assert_eq!(safe_name(" a:b? "), "a_b_");
        assert_eq!(safe_name("..."), "_");
        assert_eq!(segment("a b/ü"), "a%20b%2F%C3%BC");
    }

    #[test]
    fn config_rounds_fragments() {
        let c = OneDriveConfig::new().with_fragment_size(1_000_000);
        assert_eq!(c.fragment, 3 * ranges::FRAGMENT_UNIT);
        let c = c.with_base("http://127.0.0.1:9/v1.0").unwrap();
        assert_eq!(
            c.url("me/drive/special/photos").unwrap().as_str(),
            "http://127.0.0.1:9/v1.0/me/drive/special/photos"
        );
    }
}
