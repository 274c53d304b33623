//! Where the IMAP server is and how to talk to it.

use std::time::Duration;

/// Transport security.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Security {
    /// Implicit TLS (IMAPS, usually port 993) with rustls, trusting the
    /// Mozilla roots of `webpki-roots` plus `extra_roots` (DER certificates,
    /// e.g. a test CA).
    Tls {
        /// Additional trusted root certificates, DER-encoded.
        extra_roots: Vec<Vec<u8>>,
    },
    /// Plain TCP. Refused unless the server's address is loopback: meant
    /// for tests and local servers only.
    Plain,
}

/// Settings of one IMAP account's server.
///
/// ```
/// use dtp_adapters_imap::ImapConfig;
/// let c = ImapConfig::tls("imap.example.org").with_max_connections(3);
/// assert_eq!(c.port, 993);
/// let local = ImapConfig::plain_loopback(1143);
/// assert_eq!(local.host, "127.0.0.1");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImapConfig {
    /// Host name (checked against the TLS certificate).
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS or plain.
    pub security: Security,
    /// The account name for XOAUTH2 (OAuth credentials carry no user name).
    pub username: Option<String>,
    /// Most connections open at once (the pool bound).
    pub max_connections: usize,
    /// Messages per exported page.
    pub page_size: usize,
    /// Messages larger than this are fetched in partial ranges of this many
    /// bytes (`BODY.PEEK[]<offset.length>`), so they are never whole in
    /// memory.
    pub fetch_chunk: u32,
    /// Messages up to this size are fetched with `BODY.PEEK[]` together
    /// with their page (one command for the page) and handed to the importer
    /// from a bounded cache; larger ones are fetched when the importer asks.
    /// 0 turns this off.
    pub page_fetch_max: u32,
    /// How long one command (or one chunk of a literal) may take.
    pub command_timeout: Duration,
    /// Log in with `LOGIN` instead of `AUTHENTICATE PLAIN`.
    pub use_login_command: bool,
}

impl ImapConfig {
    /// Implicit TLS on port 993.
    pub fn tls(host: impl Into<String>) -> Self {
        ImapConfig {
            host: host.into(),
            port: 993,
            security: Security::Tls {
                extra_roots: Vec::new(),
            },
            username: None,
            max_connections: 4,
            page_size: 200,
            fetch_chunk: 1 << 20,
            page_fetch_max: 256 << 10,
            command_timeout: Duration::from_secs(120),
            use_login_command: false,
        }
    }

    /// Plain TCP to `127.0.0.1:port` (tests, local servers).
    pub fn plain_loopback(port: u16) -> Self {
        ImapConfig {
            port,
            security: Security::Plain,
            ..ImapConfig::tls("127.0.0.1")
        }
    }

    /// Sets the port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Trusts an additional root certificate (DER) for TLS.
    pub fn with_extra_root(mut self, der: Vec<u8>) -> Self {
        if let Security::Tls { extra_roots } = &mut self.security {
            extra_roots.push(der);
        }
        self
    }

    /// Sets the user name used with XOAUTH2.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Sets the pool bound (at least 1).
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets the page size (at least 1).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// Sets the partial-fetch chunk size (at least 4 KiB).
    pub fn with_fetch_chunk(mut self, bytes: u32) -> Self {
        self.fetch_chunk = bytes.max(4096);
        self
    }

    /// Sets the largest message fetched with its page (0: none).
    pub fn with_page_fetch_max(mut self, bytes: u32) -> Self {
        self.page_fetch_max = bytes;
        self
    }

    /// Sets the command timeout.
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Uses `LOGIN` rather than `AUTHENTICATE PLAIN` for passwords.
    pub fn with_login_command(mut self, on: bool) -> Self {
        self.use_login_command = on;
        self
    }
}
