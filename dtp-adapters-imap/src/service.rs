//! [`ImapService`]: the `imap` service of a registry.

use std::sync::Arc;

use async_trait::async_trait;
use dtp_core::registry::{AuthKind, Endpoint, Role, ServiceFactory};
use dtp_core::{DataType, Error, Result};
use dtp_models::mail::MailData;
use percent_encoding::percent_decode_str;
use url::Url;

use crate::{ImapConfig, ImapExporter, ImapImporter, Security};

/// The `imap` service: mail from and into any IMAP server.
///
/// The location is the server's URL: `imaps://host[:port]` (implicit TLS,
/// port 993 by default) or `imap://127.0.0.1:port` (plain TCP, accepted for
/// a server on loopback only). A user name in the URL
/// (`imaps://ada@host`) is the account for XOAUTH2; passwords come with the
/// job's credentials ([`AuthData::Basic`](dtp_core::AuthData)), never in the
/// location.
///
/// ```
/// use dtp_adapters_imap::ImapService;
/// use dtp_core::registry::ServiceFactory;
/// assert_eq!(ImapService::new().name(), "imap");
/// ```
#[derive(Debug, Clone)]
pub struct ImapService {
    settings: ImapConfig,
}

impl Default for ImapService {
    fn default() -> Self {
        ImapService {
            settings: ImapConfig::tls("localhost"),
        }
    }
}

impl ImapService {
    /// The default settings of [`ImapConfig`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes pool size, page size, timeouts and trusted roots from
    /// `settings`; host, port, TLS and user name come from each location.
    pub fn with_settings(mut self, settings: ImapConfig) -> Self {
        self.settings = settings;
        self
    }

    /// The configuration for `location`.
    fn config(&self, location: &str) -> Result<ImapConfig> {
        // The location is not echoed: a mistyped one may hold a password.
        let bad = |why: &str| {
            Error::invalid_data(format!(
                "not an IMAP location ({why}); for example imaps://imap.example.org"
            ))
        };
        let url = Url::parse(location).map_err(|e| bad(&e.to_string()))?;
        if url.password().is_some() {
            return Err(bad("a password does not go in the location"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut config = self.settings.clone();
        config.host = host.to_string();
        match url.scheme() {
            "imaps" => {
                config.port = url.port().unwrap_or(993);
                if config.security == Security::Plain {
                    config.security = Security::Tls {
                        extra_roots: Vec::new(),
                    };
                }
            }
            "imap" => {
                config.port = url.port().ok_or_else(|| bad("imap:// needs a port"))?;
                config.security = Security::Plain;
            }
            _ => return Err(bad("the scheme must be imaps or imap")),
        }
        if !url.username().is_empty() {
            let user = percent_decode_str(url.username()).decode_utf8_lossy();
            config.username = Some(user.into_owned());
        }
        Ok(config)
    }
}

#[async_trait]
impl ServiceFactory for ImapService {
    fn name(&self) -> &str {
        "imap"
    }

    fn description(&self) -> &str {
        "IMAP mailbox: every folder, flags and dates (Gmail, Outlook.com, Fastmail, iCloud, Dovecot, …)"
    }

    fn auth(&self) -> AuthKind {
        AuthKind::AppPassword
    }

    fn example_location(&self) -> &str {
        "imaps://imap.example.org"
    }

    fn exports(&self) -> Vec<DataType> {
        vec![DataType::Mail]
    }

    fn imports(&self) -> Vec<DataType> {
        vec![DataType::Mail]
    }

    async fn open(&self, location: &str, role: Role) -> Result<Endpoint> {
        let config = self.config(location)?;
        Ok(match role {
            Role::Destination => {
                Endpoint::new().with_importer::<MailData>(Arc::new(ImapImporter::new(config)))
            }
            _ => Endpoint::new().with_exporter::<MailData>(Arc::new(ImapExporter::new(config))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_give_host_port_security_and_user() {
        let service = ImapService::new();
        let c = service.config("imaps://imap.example.org").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("imap.example.org", 993));
        assert!(matches!(c.security, Security::Tls { .. }));
        assert_eq!(c.username, None);
        let c = service
            .config("imaps://ada%40example.org@mail.example.net:1993")
            .unwrap();
        assert_eq!((c.host.as_str(), c.port), ("mail.example.net", 1993));
        assert_eq!(c.username.as_deref(), Some("ada@example.org"));
        let c = service.config("imap://127.0.0.1:1143").unwrap();
        assert_eq!((c.port, &c.security), (1143, &Security::Plain));
        for bad in [
            "imap.example.org",
            "imap://127.0.0.1",
            "https://imap.example.org",
            "imaps://ada:secret@imap.example.org",
        ] {
            let e = service.config(bad).unwrap_err();
            assert_eq!(e.kind(), &dtp_core::ErrorKind::InvalidData, "{bad}");
            assert!(!e.to_string().contains("secret"), "{e}");
        }
    }

    #[test]
    fn settings_other_than_the_server_are_kept() {
        let service =
            ImapService::new().with_settings(ImapConfig::tls("ignored").with_page_size(7));
        let c = service.config("imaps://imap.example.org").unwrap();
        assert_eq!((c.host.as_str(), c.page_size), ("imap.example.org", 7));
    }
}
