//! Test harness: a real Dovecot on loopback, one per test, in a fresh temp
//! folder, killed on drop; one user per scenario.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dtp_adapters_imap::{ImapConfig, ImapExporter, ImapImporter};
use dtp_core::AuthData;
use futures::TryStreamExt;
use sha2::{Digest, Sha256};

/// Installs Dovecot with the crate's setup script when it is missing.
pub fn ensure_dovecot() {
    static ONCE: Mutex<bool> = Mutex::new(false);
    let mut done = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return;
    }
    let present = Command::new("sh")
        .args(["-c", "command -v dovecot >/dev/null && command -v openssl"])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !present {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dovecot/setup.sh");
        let status = Command::new("bash")
            .arg(script)
            .status()
            .expect("run setup.sh");
        assert!(status.success(), "installing Dovecot with {script} failed");
    }
    *done = true;
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// How a test server is set up.
#[derive(Default, Clone)]
pub struct Setup {
    /// Special-use folders created for every user: (name, flag).
    pub special: Vec<(&'static str, &'static str)>,
    /// Extra configuration appended to dovecot.conf.
    pub extra: String,
    /// userdb extra fields of the users handed out by `add_quota_user`.
    pub quota_rule: Option<String>,
    /// Serve implicit TLS (IMAPS) only, with a certificate for `localhost`
    /// from a CA made for this server.
    pub tls: bool,
}

/// Makes a CA and a `localhost`/127.0.0.1 server certificate in `dir` with
/// the openssl command; returns the CA certificate (DER).
fn make_certificates(dir: &Path) -> Vec<u8> {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=dtp-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "req.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    run(&["x509", "-in", "ca.pem", "-outform", "der", "-out", "ca.der"]);
    std::fs::read(dir.join("ca.der")).expect("ca.der")
}

/// Users written at start: Dovecot notices a changed users file by its
/// mtime, which two quick appends in the same second would not change.
const USERS: u32 = 64;

/// A running Dovecot.
pub struct Dovecot {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    /// The test CA (DER) when serving TLS.
    pub ca_der: Option<Vec<u8>>,
    next_user: AtomicU32,
    next_quota: AtomicU32,
}

impl Dovecot {
    pub fn start() -> Dovecot {
        Self::start_with(Setup::default())
    }

    pub fn start_with(setup: Setup) -> Dovecot {
        ensure_dovecot();
        // A free port can be taken by another test between our probe and
        // Dovecot's bind: then Dovecot exits, and we start again.
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&setup) {
                Ok(server) => return server,
                Err(log) => last = log,
            }
        }
        panic!("Dovecot did not start; log:\n{last}");
    }

    fn try_start(setup: &Setup) -> Result<Dovecot, String> {
        let dir = tempfile::Builder::new()
            .prefix("dtp-dovecot-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        // The mail processes run as nobody: they must reach DIR/mail.
        Command::new("chmod")
            .arg("755")
            .arg(d)
            .status()
            .expect("chmod");
        Command::new("chown")
            .args(["nobody:nogroup"])
            .arg(d.join("mail"))
            .status()
            .expect("chown");
        let mut users = String::new();
        for n in 0..USERS {
            users.push_str(&format!("user{n}:{{PLAIN}}pw-{n}-secret::::::\n"));
        }
        if let Some(rule) = &setup.quota_rule {
            for n in 0..8 {
                users.push_str(&format!("quota{n}:{{PLAIN}}pw-{n}-secret::::::{rule}\n"));
            }
        }
        std::fs::write(d.join("users"), users).expect("users file");
        let port = free_port();
        let ca_der = setup.tls.then(|| make_certificates(d));
        let (ssl, plain_port, tls_port) = if setup.tls {
            (
                format!(
                    "required\nssl_cert = <{0}/cert.pem\nssl_key = <{0}/key.pem",
                    d.display()
                ),
                0,
                port,
            )
        } else {
            ("no".to_string(), port, 0)
        };
        let mut mailboxes = String::new();
        for (name, flag) in &setup.special {
            mailboxes.push_str(&format!(
                "  mailbox \"{name}\" {{\n    special_use = {flag}\n    auto = create\n  }}\n"
            ));
        }
        let dp = d.display();
        let conf = format!(
            r#"protocols = imap
listen = 127.0.0.1
base_dir = {dp}/run
state_dir = {dp}/state
log_path = {dp}/dovecot.log
ssl = {ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{dp}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dp}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {dp}/users
  default_fields = uid=nobody gid=nogroup home={dp}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}
service imap-login {{
  inet_listener imap {{
    port = {plain_port}
  }}
  inet_listener imaps {{
    port = {tls_port}
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{extra}
"#,
            extra = setup.extra
        );
        std::fs::write(d.join("dovecot.conf"), conf).expect("dovecot.conf");
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dovecot");
        let mut server = Dovecot {
            dir,
            child,
            port,
            ca_der,
            next_user: AtomicU32::new(0),
            next_quota: AtomicU32::new(0),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.ca_der.is_some() {
                // TLS: a listening port is enough.
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return Ok(());
                }
            } else if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::Read;
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 64];
                if let Ok(n) = s.read(&mut buf)
                    && buf[..n].starts_with(b"* OK")
                {
                    return Ok(());
                }
            }
            if matches!(self.child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                return Err(self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// A user of its own (one per test scenario).
    pub fn add_user(&self) -> (String, AuthData) {
        let n = self.next_user.fetch_add(1, Ordering::SeqCst);
        assert!(n < USERS, "more users than provisioned");
        let name = format!("user{n}");
        (
            name.clone(),
            AuthData::basic(name, format!("pw-{n}-secret")),
        )
    }

    /// A user with `Setup::quota_rule`.
    pub fn add_quota_user(&self) -> (String, AuthData) {
        let n = self.next_quota.fetch_add(1, Ordering::SeqCst);
        assert!(n < 8, "more quota users than provisioned");
        let name = format!("quota{n}");
        (
            name.clone(),
            AuthData::basic(name, format!("pw-{n}-secret")),
        )
    }

    /// Replaces the userdb extra fields of `user` (e.g. a bigger quota).
    pub fn set_quota_rule(&self, user: &str, rule: &str) {
        // Dovecot notices the change by mtime (seconds).
        std::thread::sleep(Duration::from_millis(1100));
        let path = self.dir.path().join("users");
        let users = std::fs::read_to_string(&path).expect("users file");
        let prefix = format!("{user}:");
        let updated: String = users
            .lines()
            .map(|l| {
                if l.starts_with(&prefix) {
                    let fields: Vec<&str> = l.splitn(8, ':').collect();
                    format!("{}:{}::::::{rule}\n", fields[0], fields[1])
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&path, updated).expect("users file");
    }

    pub fn config(&self) -> ImapConfig {
        match &self.ca_der {
            Some(ca) => ImapConfig::tls("localhost")
                .with_port(self.port)
                .with_extra_root(ca.clone()),
            None => ImapConfig::plain_loopback(self.port),
        }
    }

    pub fn exporter(&self) -> ImapExporter {
        ImapExporter::new(self.config())
    }

    pub fn importer(&self) -> ImapImporter {
        ImapImporter::new(self.config())
    }

    pub fn mail_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("mail")
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message as the server shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub sha256: String,
    pub len: usize,
    pub flags: Vec<String>,
    /// Seconds since the epoch.
    pub internal_date: i64,
}

/// A raw IMAP dump of an account, independent of the adapter: folder name
/// (as the server lists it) → (attributes, messages sorted).
pub async fn dump(port: u16, auth: &AuthData) -> BTreeMap<String, (Vec<String>, Vec<Seen>)> {
    let AuthData::Basic { username, password } = auth else {
        panic!("basic auth expected")
    };
    use secrecy::ExposeSecret;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    let mut session = client
        .login(username, password.expose_secret())
        .await
        .map_err(|(e, _)| e)
        .expect("login");
    let names: Vec<async_imap::types::Name> = session
        .list(Some(""), Some("*"))
        .await
        .expect("list")
        .try_collect()
        .await
        .expect("list");
    let mut out = BTreeMap::new();
    for n in &names {
        let attrs: Vec<String> = n
            .attributes()
            .iter()
            .map(|a| format!("{a:?}"))
            .filter(|a| !a.contains("Children"))
            .collect();
        if attrs
            .iter()
            .any(|a| a.contains("NoSelect") || a.contains("NonExistent"))
        {
            continue;
        }
        session.examine(n.name()).await.expect("examine");
        let mut msgs = Vec::new();
        let fetched: Vec<async_imap::types::Fetch> = match session
            .uid_fetch("1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
            .await
        {
            Ok(s) => s.try_collect().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        for f in &fetched {
            let Some(body) = f.body() else { continue };
            let mut flags: Vec<String> = f
                .flags()
                .filter(|f| !matches!(f, async_imap::types::Flag::Recent))
                .map(|f| format!("{f:?}"))
                .collect();
            flags.sort();
            msgs.push(Seen {
                sha256: hex::encode(Sha256::digest(body)),
                len: body.len(),
                flags,
                internal_date: f.internal_date().map(|d| d.timestamp()).unwrap_or(0),
            });
        }
        msgs.sort();
        out.insert(n.name().to_string(), (attrs, msgs));
    }
    let _ = session.logout().await;
    out
}

/// A TCP proxy on loopback in front of `port` that, while `armed`, cuts
/// each connection after `cut_after` bytes have flowed in the chosen
/// direction; counts the cuts.
pub struct CuttingProxy {
    pub port: u16,
    pub cuts: std::sync::Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    /// `downstream`: count server→client bytes (mid-FETCH); else
    /// client→server (mid-APPEND). The first `max_cuts` connections are cut
    /// once that many bytes have flowed (if they get that far).
    pub async fn start(target: u16, downstream: bool, cut_after: u64, max_cuts: u32) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cuts = std::sync::Arc::new(AtomicU32::new(0));
        let c = cuts.clone();
        let armed_count = std::sync::Arc::new(AtomicU32::new(0));
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let cuts = c.clone();
                // The first `max_cuts` connections are armed.
                let armed = armed_count.fetch_add(1, Ordering::SeqCst) < max_cuts;
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let limit = if armed { cut_after } else { u64::MAX };
                    let counted = async |r: &mut tokio::net::tcp::OwnedReadHalf,
                                         w: &mut tokio::net::tcp::OwnedWriteHalf,
                                         limit: u64|
                           -> bool {
                        let mut n = 0u64;
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let Ok(k) = r.read(&mut buf).await else {
                                return false;
                            };
                            if k == 0 {
                                return false;
                            }
                            let allowed = (limit - n).min(k as u64) as usize;
                            if w.write_all(&buf[..allowed]).await.is_err() {
                                return false;
                            }
                            n += allowed as u64;
                            if n >= limit {
                                return true;
                            }
                        }
                    };
                    let (up_limit, down_limit) = if downstream {
                        (u64::MAX, limit)
                    } else {
                        (limit, u64::MAX)
                    };
                    let cut = tokio::select! {
                        c = counted(&mut cr, &mut sw, up_limit) => c,
                        c = counted(&mut sr, &mut cw, down_limit) => c,
                    };
                    if cut {
                        cuts.fetch_add(1, Ordering::SeqCst);
                    }
                    // Dropping the halves closes both connections.
                });
            }
        });
        CuttingProxy { port, cuts, task }
    }

    pub fn cuts(&self) -> u32 {
        self.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
