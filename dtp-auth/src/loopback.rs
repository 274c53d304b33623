//! The loopback redirect of command-line tools (RFC 8252 section 7.3):
//! listen on `127.0.0.1` on a free port, receive the authorization redirect,
//! validate `state`, return the code.

use std::time::Duration;

use dtp_core::auth::{AuthCallback, AuthRequest, PendingAuth};
use dtp_core::{AuthData, AuthDataGenerator, AuthMode, DataType, Error, Result};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tracing::{debug, info};

use crate::error::AuthFailure;
use crate::oauth_client::constant_time_eq;

/// Largest request head accepted on the loopback listener.
const MAX_HEAD: usize = 16 * 1024;
/// Connections served at once.
const MAX_CONNECTIONS: usize = 16;
/// How long one connection may take to send its request.
const PER_CONNECTION: Duration = Duration::from_secs(10);

const PAGE_OK: &str = "<!doctype html><meta charset=utf-8><title>Authorized</title>\
<p>Authorization received. You can close this window and return to the terminal.</p>";
const PAGE_BAD: &str = "<!doctype html><meta charset=utf-8><title>Rejected</title>\
<p>This authorization response was rejected. Start the authorization again from the terminal.</p>";

/// A one-shot HTTP listener on `127.0.0.1` for the authorization redirect.
///
/// ```no_run
/// # async fn demo(generator: dtp_auth::OAuth2AuthDataGenerator) -> dtp_core::Result<()> {
/// use std::time::Duration;
/// use dtp_auth::LoopbackRedirect;
/// use dtp_core::{AuthMode, DataType};
///
/// let auth = LoopbackRedirect::authorize(
///     &generator,
///     DataType::Calendar,
///     AuthMode::Export,
///     Duration::from_secs(300),
///     |url| println!("Open this URL in your browser:\n{url}"),
/// )
/// .await?;
/// # let _ = auth; Ok(()) }
/// ```
#[derive(Debug)]
pub struct LoopbackRedirect {
    listener: TcpListener,
    port: u16,
    path: String,
}

impl LoopbackRedirect {
    /// Listens on `127.0.0.1` on a port chosen by the operating system, for
    /// redirects to `/callback`.
    pub async fn bind() -> Result<Self> {
        Self::bind_path("/callback").await
    }

    /// Like [`bind`](Self::bind), with another callback path (must start
    /// with `/`).
    pub async fn bind_path(path: &str) -> Result<Self> {
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(AuthFailure::Config {
                reason: "the loopback callback path must start with `/` and have no query".into(),
            }
            .into_error("loopback_bind"));
        }
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
            Error::transient("cannot listen on 127.0.0.1")
                .with_operation("loopback_bind")
                .with_source(e)
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::internal("no local address").with_source(e))?
            .port();
        Ok(LoopbackRedirect {
            listener,
            port,
            path: path.to_owned(),
        })
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The redirect URI to register the authorization with,
    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.path)
    }

    /// Waits up to `timeout` for the redirect of `pending`'s authorization.
    ///
    /// Requests for other paths get a 404 and are otherwise ignored. The
    /// redirect's `state` must equal `pending.state` exactly, otherwise the
    /// browser gets an error page and this returns
    /// [`AuthFailure::StateMismatch`] (or `MissingState`). A provider error
    /// (e.g. `access_denied`) is returned in the callback for
    /// [`AuthDataGenerator::complete`] to report. Running out of time is
    /// [`AuthFailure::RedirectTimeout`].
    pub async fn receive(self, pending: &PendingAuth, timeout: Duration) -> Result<AuthCallback> {
        let deadline = Instant::now() + timeout;
        // Connections are served concurrently, so a silent or slow client
        // (a port scanner, a browser pre-connect) cannot hold up the redirect.
        let mut connections = FuturesUnordered::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(AuthFailure::RedirectTimeout.into_error("loopback_receive"));
                }
                accepted = self.listener.accept(), if connections.len() < MAX_CONNECTIONS => {
                    match accepted {
                        Ok((stream, _)) => {
                            let limit = Instant::now() + PER_CONNECTION;
                            connections.push(tokio::time::timeout_at(limit, self.handle(stream, &pending.state)));
                        }
                        Err(e) => debug!(error = %e, "loopback accept failed"),
                    }
                }
                Some(outcome) = connections.next(), if !connections.is_empty() => {
                    if let Ok(Some(result)) = outcome {
                        return result;
                    }
                }
            }
        }
    }

    /// Handles one connection: `None` if it was not the redirect.
    async fn handle(
        &self,
        mut stream: TcpStream,
        state: &SecretString,
    ) -> Option<Result<AuthCallback>> {
        let target = match read_request_target(&mut stream).await {
            Ok(t) => t,
            Err(status) => {
                respond(&mut stream, status, PAGE_BAD).await;
                return None;
            }
        };
        let url = url::Url::parse(&format!("http://127.0.0.1{target}")).ok()?;
        if url.path() != self.path {
            respond(&mut stream, "404 Not Found", "").await;
            return None;
        }
        let mut callback = AuthCallback::default();
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "code" => callback.code = Some(SecretString::from(v.into_owned())),
                "state" => callback.state = Some(v.into_owned()),
                "error" => callback.error = Some(v.into_owned()),
                "error_description" => callback.error_description = Some(v.into_owned()),
                "iss" => callback.iss = Some(v.into_owned()),
                _ => {}
            }
        }
        let failure = match callback.state.as_deref() {
            None => Some(AuthFailure::MissingState),
            Some(s) if !constant_time_eq(s.as_bytes(), state.expose_secret().as_bytes()) => {
                Some(AuthFailure::StateMismatch)
            }
            Some(_) => None,
        };
        if let Some(f) = failure {
            respond(&mut stream, "400 Bad Request", PAGE_BAD).await;
            return Some(Err(f.into_error("loopback_receive")));
        }
        respond(&mut stream, "200 OK", PAGE_OK).await;
        info!(
            error = callback.error.is_some(),
            "authorization redirect received"
        );
        Some(Ok(callback))
    }

    /// The whole command-line login: binds a listener, starts the
    /// authorization for `data_type` in `mode` with its redirect URI, hands
    /// the authorization URL to `show_url` (print it, open a browser), waits
    /// up to `timeout` for the redirect and completes the authorization.
    pub async fn authorize(
        generator: &dyn AuthDataGenerator,
        data_type: DataType,
        mode: AuthMode,
        timeout: Duration,
        show_url: impl FnOnce(&str),
    ) -> Result<AuthData> {
        let listener = Self::bind().await?;
        let flow = generator
            .begin(AuthRequest::new(data_type, mode, listener.redirect_uri()))
            .await?;
        show_url(&flow.authorization_url);
        let callback = listener.receive(&flow.pending, timeout).await?;
        generator.complete(flow.pending, callback).await
    }
}

/// Reads the request head and returns the request target of a `GET`.
async fn read_request_target(stream: &mut TcpStream) -> std::result::Result<String, &'static str> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if head.len() > MAX_HEAD {
            return Err("431 Request Header Fields Too Large");
        }
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(_) => return Err("400 Bad Request"),
        }
    }
    let line_end = head
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("400 Bad Request")?;
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| "400 Bad Request")?;
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("400 Bad Request");
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err("400 Bad Request");
    }
    if method != "GET" {
        return Err("405 Method Not Allowed");
    }
    Ok(target.to_owned())
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // The browser may have gone away; nothing to do then.
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth_failure;
    use dtp_core::ErrorKind;

    fn pending(state: &str) -> PendingAuth {
        PendingAuth::new(
            AuthRequest::new(
                DataType::Mail,
                AuthMode::Export,
                "http://127.0.0.1/callback",
            ),
            state,
            Some("v".into()),
        )
    }

    async fn get(port: u16, target: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn returns_the_code_when_state_matches_and_ignores_other_paths() {
        let l = LoopbackRedirect::bind().await.unwrap();
        let port = l.port();
        assert_eq!(
            l.redirect_uri(),
            format!("http://127.0.0.1:{port}/callback")
        );
        let p = pending("st-1");
        let waiter = tokio::spawn(async move { l.receive(&p, Duration::from_secs(10)).await });
        assert!(get(port, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        let page = get(
            port,
            "/callback?code=c%2B1&state=st-1&iss=https%3A%2F%2Fid.example",
        )
        .await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        let cb = waiter.await.unwrap().unwrap();
        assert_eq!(cb.code.unwrap().expose_secret(), "c+1");
        assert_eq!(cb.state.as_deref(), Some("st-1"));
        assert_eq!(cb.iss.as_deref(), Some("https://id.example"));
    }

    #[tokio::test]
    async fn rejects_a_wrong_or_missing_state() {
        for (query, expected) in [
            ("code=c&state=forged", AuthFailure::StateMismatch),
            ("code=c", AuthFailure::MissingState),
        ] {
            let l = LoopbackRedirect::bind().await.unwrap();
            let port = l.port();
            let p = pending("st-2");
            let waiter = tokio::spawn(async move { l.receive(&p, Duration::from_secs(10)).await });
            let page = get(port, &format!("/callback?{query}")).await;
            assert!(page.starts_with("HTTP/1.1 400"), "{page}");
            let err = waiter.await.unwrap().unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
            assert_eq!(auth_failure(&err), Some(&expected));
        }
    }

    #[tokio::test]
    async fn passes_provider_errors_on_and_survives_garbage() {
        let l = LoopbackRedirect::bind().await.unwrap();
        let port = l.port();
        let p = pending("st-3");
        let waiter = tokio::spawn(async move { l.receive(&p, Duration::from_secs(10)).await });
        // Garbage and a POST do not end the wait.
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"POST /callback HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 405"), "{out}");
        get(port, "/callback?error=access_denied&state=st-3").await;
        let cb = waiter.await.unwrap().unwrap();
        assert_eq!(cb.error.as_deref(), Some("access_denied"));
        assert!(cb.code.is_none());
    }

    #[tokio::test]
    async fn times_out_cleanly_and_releases_the_port() {
        let l = LoopbackRedirect::bind().await.unwrap();
        let port = l.port();
        let started = std::time::Instant::now();
        let err = l
            .receive(&pending("s"), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(auth_failure(&err), Some(&AuthFailure::RedirectTimeout));
        assert_eq!(err.kind(), &ErrorKind::Cancelled);
        // The listener is gone.
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    }

    #[tokio::test]
    async fn a_silent_connection_does_not_hold_up_the_redirect() {
        let l = LoopbackRedirect::bind().await.unwrap();
        let port = l.port();
        let p = pending("st-4");
        let waiter = tokio::spawn(async move { l.receive(&p, Duration::from_secs(30)).await });
        let _silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let started = std::time::Instant::now();
        let page = get(port, "/callback?code=c4&state=st-4").await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        let cb = waiter.await.unwrap().unwrap();
        assert_eq!(cb.code.unwrap().expose_secret(), "c4");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
