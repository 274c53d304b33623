//! Microsoft identity platform configuration as data for `dtp-auth`: the v2
//! endpoints and the Graph scopes per data type and mode, `offline_access`
//! (without it no refresh token is issued) and `User.Read` always included
//! (docs/provider-notes.md M1).
//!
//! Microsoft **rotates** refresh tokens: every refresh answer carries a new
//! one. `dtp-auth` keeps the new one ([`OAuth2AuthDataGenerator`](dtp_auth::OAuth2AuthDataGenerator)'s refresh
//! replaces the refresh token when the answer has one), and the driver seals
//! the refreshed credentials into the job store when a sealer is set
//! (`TransferOptions::with_sealer`); a [`TokenSource`](dtp_auth::TokenSource)
//! hands them to its [`TokenPersister`](dtp_auth::TokenPersister). The
//! crate's tests check both paths against a rotating token endpoint.

use dtp_auth::OAuth2Config;
use dtp_core::{AuthMode, DataType};

/// The identity platform host.
pub const LOGIN_HOST: &str = "https://login.microsoftonline.com";

/// Scopes asked for every data type and mode.
pub const ALWAYS_SCOPES: [&str; 2] = ["offline_access", "User.Read"];

/// The Graph permissions (least privileged) for `data_type` in `mode`,
/// without the [`ALWAYS_SCOPES`].
pub fn graph_scopes(data_type: DataType, mode: AuthMode) -> &'static [&'static str] {
    use AuthMode::{Export, Import};
    match (data_type, mode) {
        (DataType::Media, Export) => &["Files.Read"],
        (DataType::Media, Import) => &["Files.ReadWrite"],
        (DataType::Contacts, Export) => &["Contacts.Read"],
        (DataType::Contacts, Import) => &["Contacts.ReadWrite"],
        (DataType::Calendar, Export) => &["Calendars.Read"],
        (DataType::Calendar, Import) => &["Calendars.ReadWrite"],
        (DataType::Mail, Export) => &["Mail.Read"],
        (DataType::Mail, Import) => &["Mail.ReadWrite"],
        (DataType::Tasks, Export) => &["Tasks.Read"],
        (DataType::Tasks, Import) => &["Tasks.ReadWrite"],
        _ => &[],
    }
}

/// Every scope to request for `data_type` in `mode`, `offline_access` first.
pub fn scopes(data_type: DataType, mode: AuthMode) -> Vec<String> {
    ALWAYS_SCOPES
        .iter()
        .chain(graph_scopes(data_type, mode))
        .map(|s| s.to_string())
        .collect()
}

/// An [`OAuth2Config`] for Microsoft: `tenant` is `common`, `consumers`,
/// `organizations` or a tenant id; every data type and mode configured.
/// Add the client secret with [`OAuth2Config::with_client_secret`] for a
/// confidential client.
pub fn oauth2_config(tenant: &str, client_id: &str) -> OAuth2Config {
    oauth2_config_at(LOGIN_HOST, tenant, client_id)
}

/// [`oauth2_config`] against another identity host (a mock server in tests).
pub fn oauth2_config_at(host: &str, tenant: &str, client_id: &str) -> OAuth2Config {
    let host = host.trim_end_matches('/');
    let mut config = OAuth2Config::new(
        "microsoft",
        format!("{host}/{tenant}/oauth2/v2.0/authorize"),
        format!("{host}/{tenant}/oauth2/v2.0/token"),
        client_id,
    )
    .with_client_auth(dtp_auth::ClientAuthMethod::Post)
    .with_always_scopes(ALWAYS_SCOPES);
    for dt in DataType::ALL {
        for mode in [AuthMode::Export, AuthMode::Import] {
            config = config.with_scopes(dt, mode, graph_scopes(dt, mode).iter().copied());
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_and_mode_has_offline_access_and_its_permission() {
        let c = oauth2_config("common", "app");
        assert!(c.validate().is_ok());
        for dt in DataType::ALL {
            let export = c.scopes_for(dt, AuthMode::Export).unwrap();
            let import = c.scopes_for(dt, AuthMode::Import).unwrap();
            assert_eq!(export[0], "offline_access");
            assert!(
                export.iter().any(|s| s.ends_with(".Read")),
                "{dt:?} {export:?}"
            );
            assert!(
                import.iter().any(|s| s.ends_with(".ReadWrite")),
                "{dt:?} {import:?}"
            );
            assert!(
                !export.iter().any(|s| s.ends_with(".ReadWrite")),
                "{dt:?} {export:?}"
            );
        }
        assert_eq!(
            c.scopes_for(DataType::Mail, AuthMode::Import).unwrap(),
            ["offline_access", "User.Read", "Mail.ReadWrite"]
        );
        assert!(c.token_url.ends_with("/common/oauth2/v2.0/token"));
    }
}
