//! OAuth 2.0 scopes per data type and mode, as data for `dtp-auth`
//! (docs/provider-notes.md G1.3), and a ready [`OAuth2Config`] for Google.
//!
//! Read scopes are the narrowest that cover the exporter's calls; write
//! scopes cover the importer's calls *and* the reads it makes to find what
//! an interrupted run already created (crash recovery, rerun
//! de-duplication), so an import-only grant suffices for an import.

use dtp_auth::OAuth2Config;
use dtp_core::{AuthMode, DataType};

/// The prefix of every Google scope except `https://mail.google.com/`.
pub const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/";

/// Google's authorization endpoint.
pub const AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google's token endpoint (code exchange and refresh).
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google's revocation endpoint.
pub const REVOKE_URL: &str = "https://oauth2.googleapis.com/revoke";

/// One row of the scope table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeSet {
    /// The data type.
    pub data_type: DataType,
    /// Export (read) scopes.
    pub export: &'static [&'static str],
    /// Import (write) scopes.
    pub import: &'static [&'static str],
}

/// The scopes per data type and mode.
///
/// * Contacts: `contacts.readonly` / `contacts` (`batchCreateContacts`,
///   `contactGroups.create` need `contacts`).
/// * Calendar: `calendar.readonly` / `calendar` (`calendars.insert` needs
///   the full `calendar` scope; `events.import` alone would take
///   `calendar.events`).
/// * Tasks: `tasks.readonly` / `tasks`.
/// * Mail: `gmail.readonly` / `gmail.modify` (`messages.import` accepts
///   `gmail.insert`, but finding already-imported messages by `Message-ID`
///   and listing labels needs read access; `gmail.labels` creates labels).
///   Every mailbox scope is *restricted* (CASA assessment for public apps).
/// * Media (Photos): upload and album creation with
///   `photoslibrary.appendonly`, re-reading app-created items with
///   `photoslibrary.readonly.appcreateddata`, whole-library export through
///   the Data Portability API with `dataportability.photos.library`
///   (*secondary*). The Photos modules of this crate own these rows.
pub const SCOPES: &[ScopeSet] = &[
    ScopeSet {
        data_type: DataType::Contacts,
        export: &["https://www.googleapis.com/auth/contacts.readonly"],
        import: &["https://www.googleapis.com/auth/contacts"],
    },
    ScopeSet {
        data_type: DataType::Calendar,
        export: &["https://www.googleapis.com/auth/calendar.readonly"],
        import: &["https://www.googleapis.com/auth/calendar"],
    },
    ScopeSet {
        data_type: DataType::Tasks,
        export: &["https://www.googleapis.com/auth/tasks.readonly"],
        import: &["https://www.googleapis.com/auth/tasks"],
    },
    ScopeSet {
        data_type: DataType::Mail,
        export: &["https://www.googleapis.com/auth/gmail.readonly"],
        import: &[
            "https://www.googleapis.com/auth/gmail.modify",
            "https://www.googleapis.com/auth/gmail.labels",
        ],
    },
    ScopeSet {
        data_type: DataType::Media,
        export: &[
            "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata",
            "https://www.googleapis.com/auth/dataportability.photos.library",
        ],
        import: &[
            "https://www.googleapis.com/auth/photoslibrary.appendonly",
            "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata",
        ],
    },
];

/// The scopes for `data_type` in `mode`; empty when Google is not
/// configured for it.
pub fn scopes_for(data_type: DataType, mode: AuthMode) -> &'static [&'static str] {
    SCOPES
        .iter()
        .find(|s| s.data_type == data_type)
        .map(|s| match mode {
            AuthMode::Export => s.export,
            AuthMode::Import => s.import,
        })
        .unwrap_or(&[])
}

/// An [`OAuth2Config`] for Google with every data type's scopes, PKCE (added
/// by `dtp-auth`), `access_type=offline` (for a refresh token) and
/// `prompt=consent` (so a refresh token comes back on every consent).
///
/// ```
/// use dtp_adapters_google::scopes::google_oauth2_config;
/// use dtp_core::{AuthMode, DataType};
/// let config = google_oauth2_config("my-app.apps.googleusercontent.com", Some("secret"));
/// assert!(config.validate().is_ok());
/// assert_eq!(
///     config.scopes_for(DataType::Tasks, AuthMode::Export).unwrap(),
///     ["https://www.googleapis.com/auth/tasks.readonly"]
/// );
/// ```
pub fn google_oauth2_config(client_id: &str, client_secret: Option<&str>) -> OAuth2Config {
    let mut c = OAuth2Config::new("google", AUTHORIZE_URL, TOKEN_URL, client_id)
        .with_revocation_url(REVOKE_URL)
        .with_authorize_param("access_type", "offline")
        .with_authorize_param("prompt", "consent")
        .with_authorize_param("include_granted_scopes", "true")
        .with_client_auth(dtp_auth::ClientAuthMethod::Post);
    if let Some(s) = client_secret {
        c = c.with_client_secret(s);
    }
    for set in SCOPES {
        c = c
            .with_scopes(set.data_type, AuthMode::Export, set.export.iter().copied())
            .with_scopes(set.data_type, AuthMode::Import, set.import.iter().copied());
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_type_has_read_and_write_scopes() {
        for dt in DataType::ALL {
            for mode in [AuthMode::Export, AuthMode::Import] {
                let s = scopes_for(dt, mode);
                assert!(!s.is_empty(), "{dt} {mode}");
                assert!(s.iter().all(|x| x.starts_with(SCOPE_PREFIX)), "{s:?}");
            }
        }
        // The removed Photos scopes are never requested (provider notes G2).
        for set in SCOPES {
            for s in set.export.iter().chain(set.import) {
                assert!(!s.ends_with("/photoslibrary.readonly"));
                assert!(!s.ends_with("/photoslibrary"));
                assert!(!s.ends_with("/photoslibrary.sharing"));
            }
        }
        let c = google_oauth2_config("id", None);
        assert!(
            c.extra_authorize_params
                .contains(&("access_type".into(), "offline".into()))
        );
        assert_eq!(
            c.scopes_for(DataType::Mail, AuthMode::Import)
                .unwrap()
                .len(),
            2
        );
    }
}
