//! Connections: TCP or TLS, login, a bounded pool, and the commands
//! async-imap does not stream (APPEND of a literal from a byte stream).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use dtp_core::{AuthData, ByteStream, Error, ErrorKind, Result};
use futures::StreamExt;
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::rustls;

use crate::config::{ImapConfig, Security};
use crate::error::{self, Op, SERVICE};

/// The byte stream under an IMAP session: plain TCP (loopback only) or TLS.
#[derive(Debug)]
pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub(crate) type Session = async_imap::Session<Transport>;

/// One logged-in connection and what it has selected.
pub(crate) struct Conn {
    pub(crate) session: Session,
    /// The selected mailbox and whether it was opened read-only.
    selected: Option<(String, bool)>,
    /// UIDVALIDITY of the selected mailbox.
    pub(crate) uid_validity: Option<u32>,
    /// The server takes non-synchronizing literals (RFC 7888 LITERAL+).
    literal_plus: bool,
    timeout: Duration,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("selected", &self.selected)
            .finish_non_exhaustive()
    }
}

/// Runs `fut` with the command timeout; a timeout is transient.
pub(crate) async fn timed<T>(timeout: Duration, fut: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::transient(format!(
            "the IMAP server did not answer within {timeout:?}"
        ))
        .with_service(SERVICE)),
    }
}

struct Plain<'a> {
    username: &'a str,
    password: &'a str,
}

impl async_imap::Authenticator for Plain<'_> {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        let mut r = Vec::with_capacity(self.username.len() + self.password.len() + 2);
        r.push(0);
        r.extend_from_slice(self.username.as_bytes());
        r.push(0);
        r.extend_from_slice(self.password.as_bytes());
        r
    }
}

struct XOAuth2<'a> {
    username: &'a str,
    token: &'a str,
    sent: bool,
}

impl async_imap::Authenticator for XOAuth2<'_> {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        if self.sent {
            // The server sent its JSON error as a challenge: answer empty so it
            // finishes with a tagged NO.
            return Vec::new();
        }
        self.sent = true;
        format!(
            "user={}\x01auth=Bearer {}\x01\x01",
            self.username, self.token
        )
        .into_bytes()
    }
}

impl Conn {
    /// Connects, reads the greeting and logs in.
    pub(crate) async fn open(config: &ImapConfig, auth: &AuthData) -> Result<Conn> {
        let timeout = config.command_timeout;
        let transport = timed(timeout, connect(config)).await?;
        let mut client = async_imap::Client::new(transport);
        let greeting = timed(timeout, async {
            client.read_response().await.map_err(error::io_error)
        })
        .await?;
        if greeting.is_none() {
            return Err(error::protocol(
                "the server closed the connection before its greeting",
            ));
        }
        let login = async {
            match auth {
                AuthData::Basic { username, password } => {
                    let password = password.expose_secret();
                    if config.use_login_command {
                        client
                            .login(username, password)
                            .await
                            .map_err(|(e, _)| error::map(Op::Login, e))
                    } else {
                        client
                            .authenticate("PLAIN", Plain { username, password })
                            .await
                            .map_err(|(e, _)| error::map(Op::Login, e))
                    }
                }
                AuthData::OAuth2(_) | AuthData::ApiKey { .. } => {
                    let token = auth.bearer_token().unwrap_or_default();
                    let username = config.username.as_deref().ok_or_else(|| {
                        Error::new(
                            ErrorKind::Reauthorize,
                            "XOAUTH2 needs the account's user name (ImapConfig::with_username)",
                        )
                    })?;
                    client
                        .authenticate(
                            "XOAUTH2",
                            XOAuth2 {
                                username,
                                token,
                                sent: false,
                            },
                        )
                        .await
                        .map_err(|(e, _)| error::map(Op::Login, e))
                }
                _ => Err(Error::new(
                    ErrorKind::Reauthorize,
                    format!(
                        "IMAP needs a password or an OAuth token, got {}",
                        auth.kind_name()
                    ),
                )),
            }
        };
        let session = timed(timeout, login).await.map_err(|e| {
            // A refused password cannot be refreshed: the user must give a new one.
            if *e.kind() == ErrorKind::Unauthenticated && matches!(auth, AuthData::Basic { .. }) {
                Error::new(ErrorKind::Reauthorize, e.message().to_string()).with_service(SERVICE)
            } else {
                e
            }
        })?;
        let mut session = session;
        let caps = timed(timeout, async {
            session
                .capabilities()
                .await
                .map_err(|e| error::map(Op::Other, e))
        })
        .await?;
        let literal_plus = caps.has_str("LITERAL+");
        drop(caps);
        Ok(Conn {
            session,
            selected: None,
            uid_validity: None,
            literal_plus,
            timeout,
        })
    }

    /// The command timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Drops unsolicited responses the session queued (they are not needed
    /// and would otherwise pile up).
    pub(crate) fn drain(&mut self) {
        while self.session.unsolicited_responses.try_recv().is_ok() {}
    }

    /// Opens `mailbox` (EXAMINE when `read_only`), or brings it up to date
    /// when already open; returns its UIDVALIDITY.
    pub(crate) async fn open_mailbox(&mut self, mailbox: &str, read_only: bool) -> Result<u32> {
        self.open_mailbox_with(mailbox, read_only, true).await
    }

    /// [`open_mailbox`](Self::open_mailbox), without the NOOP when `refresh`
    /// is false (the caller retries with it if a UID is not visible yet).
    pub(crate) async fn open_mailbox_with(
        &mut self,
        mailbox: &str,
        read_only: bool,
        refresh: bool,
    ) -> Result<u32> {
        if let (Some((m, ro)), Some(v)) = (&self.selected, self.uid_validity)
            && m == mailbox
            && (*ro == read_only || !*ro)
        {
            if !refresh {
                return Ok(v);
            }
            // Still open: NOOP makes the server announce what other sessions
            // added meanwhile, so the next command sees it.
            let timeout = self.timeout;
            let session = &mut self.session;
            timed(timeout, async {
                session.noop().await.map_err(|e| error::map(Op::Other, e))
            })
            .await?;
            self.drain();
            return Ok(v);
        }
        self.selected = None;
        self.uid_validity = None;
        let timeout = self.timeout;
        let session = &mut self.session;
        let mb = timed(timeout, async {
            if read_only {
                session.examine(mailbox).await
            } else {
                session.select(mailbox).await
            }
            .map_err(|e| error::map(Op::Other, e))
        })
        .await?;
        self.drain();
        let v = mb.uid_validity.unwrap_or(0);
        self.selected = Some((mailbox.to_string(), read_only));
        self.uid_validity = Some(v);
        Ok(v)
    }

    /// APPENDs `size` bytes from `prefix` then `rest` to `mailbox`, with
    /// `flags` (a parenthesized list or empty) and `date` (an IMAP
    /// date-time). Returns `(uidvalidity, uid)` from APPENDUID when the
    /// server gives it. The bytes are written as they arrive; nothing is
    /// buffered here.
    pub(crate) async fn append_stream(
        &mut self,
        mailbox: &str,
        flags: &str,
        date: Option<&str>,
        size: u64,
        prefix: Bytes,
        rest: Option<ByteStream>,
    ) -> Result<Option<(u32, u32)>> {
        let mut command = format!("APPEND {}", quote(mailbox)?);
        if !flags.is_empty() {
            command.push(' ');
            command.push_str(flags);
        }
        if let Some(d) = date {
            command.push_str(&format!(" \"{d}\""));
        }
        let literal_plus = self.literal_plus;
        let plus = if literal_plus { "+" } else { "" };
        command.push_str(&format!(" {{{size}{plus}}}"));
        let timeout = self.timeout;
        // The selected mailbox's state may change (EXISTS); keep it, but an
        // error leaves the connection unusable anyway.
        let session = &mut self.session;
        let tag = timed(timeout, async {
            session
                .run_command(&command)
                .await
                .map_err(|e| error::map(Op::Append, e))
        })
        .await?;
        // Wait for the continuation (or a refusal before any byte is sent);
        // with LITERAL+ the bytes follow at once.
        if !literal_plus {
            loop {
                let resp = timed(timeout, async {
                    session.read_response().await.map_err(error::io_error)
                })
                .await?
                .ok_or_else(|| {
                    Error::transient("the IMAP connection was lost").with_service(SERVICE)
                })?;
                match resp.parsed() {
                    async_imap::imap_proto::Response::Continue { .. } => break,
                    async_imap::imap_proto::Response::Done {
                        tag: t,
                        status,
                        outcome,
                    } if *t == tag => {
                        return Err(done_error(status, outcome.information.as_deref()));
                    }
                    _ => {}
                }
            }
        }
        let mut written: u64 = 0;
        let stream = session.get_mut();
        let mut write = async |chunk: &[u8], written: &mut u64| -> Result<()> {
            let take = (size - *written).min(chunk.len() as u64) as usize;
            if chunk.len() > take {
                return Err(Error::invalid_data(format!(
                    "the message is longer than its announced size of {size} bytes"
                )));
            }
            timed(timeout, async {
                stream.write_all(chunk).await.map_err(error::io_error)
            })
            .await?;
            *written += chunk.len() as u64;
            Ok(())
        };
        write(&prefix, &mut written).await?;
        drop(prefix);
        if let Some(mut rest) = rest {
            while let Some(chunk) = rest.next().await {
                let chunk = chunk?;
                write(&chunk, &mut written).await?;
            }
        }
        if written != size {
            return Err(Error::invalid_data(format!(
                "the message has {written} bytes, not its announced {size}"
            )));
        }
        timed(timeout, async {
            stream.write_all(b"\r\n").await.map_err(error::io_error)?;
            stream.flush().await.map_err(error::io_error)
        })
        .await?;
        loop {
            let resp = timed(timeout, async {
                session.read_response().await.map_err(error::io_error)
            })
            .await?
            .ok_or_else(|| {
                Error::transient("the IMAP connection was lost").with_service(SERVICE)
            })?;
            if let async_imap::imap_proto::Response::Done {
                tag: t,
                status,
                outcome,
            } = resp.parsed()
                && *t == tag
            {
                if *status != async_imap::imap_proto::Status::Ok {
                    return Err(done_error(status, outcome.information.as_deref()));
                }
                if let Some(async_imap::imap_proto::ResponseCode::AppendUid(v, uids)) =
                    &outcome.code
                    && let Some(async_imap::imap_proto::rfc4315::UidSetMember::Uid(uid)) =
                        uids.first()
                {
                    return Ok(Some((*v, *uid)));
                }
                return Ok(None);
            }
        }
    }
}

fn done_error(status: &async_imap::imap_proto::Status, information: Option<&str>) -> Error {
    let bad = *status == async_imap::imap_proto::Status::Bad;
    error::refusal(Op::Append, bad, information.unwrap_or(""))
}

/// Quotes a mailbox name (or any string) as an IMAP quoted string.
pub(crate) fn quote(s: &str) -> Result<String> {
    if s.contains(['\r', '\n', '\0']) {
        return Err(Error::invalid_data(format!(
            "a line break or NUL cannot be sent in an IMAP name: {s:?}"
        )));
    }
    Ok(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

async fn connect(config: &ImapConfig) -> Result<Transport> {
    let tcp = TcpStream::connect((config.host.as_str(), config.port))
        .await
        .map_err(error::io_error)?;
    let _ = tcp.set_nodelay(true);
    match &config.security {
        Security::Plain => {
            let peer = tcp.peer_addr().map_err(error::io_error)?;
            if !peer.ip().is_loopback() {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    "plain-text IMAP is only allowed on loopback; use TLS",
                )
                .with_service(SERVICE));
            }
            Ok(Transport::Plain(tcp))
        }
        Security::Tls { extra_roots } => {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            for der in extra_roots {
                roots
                    .add(rustls::pki_types::CertificateDer::from(der.clone()))
                    .map_err(|e| {
                        Error::invalid_data(format!("an extra root certificate is unusable: {e}"))
                    })?;
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::internal(format!("TLS setup: {e}")))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from(config.host.clone())
                .map_err(|e| Error::invalid_data(format!("bad IMAP host name: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
                .connect(name, tcp)
                .await
                .map_err(|e| {
                    if e.kind() == io::ErrorKind::InvalidData {
                        Error::new(
                            ErrorKind::PermissionDenied,
                            format!("the IMAP server's TLS certificate is not trusted: {e}"),
                        )
                        .with_service(SERVICE)
                    } else {
                        error::io_error(e)
                    }
                })?;
            Ok(Transport::Tls(Box::new(stream)))
        }
    }
}

/// A bounded pool of logged-in connections for one account.
pub(crate) struct Pool {
    config: ImapConfig,
    permits: Arc<Semaphore>,
    idle: Mutex<Idle>,
}

struct Idle {
    /// Which credentials the idle connections logged in with (a counter
    /// bumped when they change; no secret is kept).
    generation: u64,
    fingerprint: Option<Vec<u8>>,
    conns: Vec<Conn>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.config)
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

/// A connection borrowed from the pool. Call [`Pooled::release`] after a
/// successful command sequence; dropping it otherwise closes the connection
/// (its state is unknown after an error).
pub(crate) struct Pooled {
    pool: Arc<Pool>,
    conn: Option<Conn>,
    generation: u64,
    _permit: OwnedSemaphorePermit,
}

impl Pooled {
    pub(crate) fn conn(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("present until released")
    }

    /// Returns the connection to the pool for reuse.
    pub(crate) fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.drain();
            let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.generation == self.generation {
                idle.conns.push(conn);
            }
        }
    }
}

/// A hash of the credentials, to notice that they changed (a refreshed
/// token) without keeping them.
fn fingerprint(auth: &AuthData) -> Vec<u8> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    match auth {
        AuthData::Basic { username, password } => {
            h.update(b"basic\0");
            h.update(username.as_bytes());
            h.update(b"\0");
            h.update(password.expose_secret().as_bytes());
        }
        other => {
            h.update(other.kind_name().as_bytes());
            h.update(b"\0");
            h.update(other.bearer_token().unwrap_or_default().as_bytes());
        }
    }
    h.finalize().to_vec()
}

impl Pool {
    pub(crate) fn new(config: ImapConfig) -> Pool {
        let max = config.max_connections.max(1);
        Pool {
            config,
            permits: Arc::new(Semaphore::new(max)),
            idle: Mutex::new(Idle {
                generation: 0,
                fingerprint: None,
                conns: Vec::new(),
            }),
        }
    }

    pub(crate) fn config(&self) -> &ImapConfig {
        &self.config
    }

    /// Borrows a connection logged in with `auth`: an idle one, or a new one
    /// when fewer than `max_connections` are open.
    pub(crate) async fn get(self: &Arc<Self>, auth: &AuthData) -> Result<Pooled> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::internal("the IMAP pool is closed"))?;
        let fp = fingerprint(auth);
        let (reuse, generation) = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.fingerprint.as_deref() != Some(&fp[..]) {
                idle.fingerprint = Some(fp);
                idle.generation += 1;
                idle.conns.clear();
            }
            (idle.conns.pop(), idle.generation)
        };
        let conn = match reuse {
            Some(c) => c,
            None => Conn::open(&self.config, auth).await?,
        };
        Ok(Pooled {
            pool: self.clone(),
            conn: Some(conn),
            generation,
            _permit: permit,
        })
    }
}
