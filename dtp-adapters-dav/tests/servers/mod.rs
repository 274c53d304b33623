//! Real DAV servers on loopback for the tests: Radicale, Xandikos, `rclone
//! serve webdav` and WsgiDAV. Each runs on a free 127.0.0.1 port in a fresh
//! temp folder and is killed when its guard drops. Missing servers are
//! installed by `setup.sh` (the README test command runs it too).
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers")
}

fn venv_bin(name: &str) -> PathBuf {
    dir().join(".venv/bin").join(name)
}

/// Runs setup.sh once per process (idempotent, serialised by a lock file).
pub fn ensure_installed() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let status = Command::new("bash")
            .arg(dir().join("setup.sh"))
            .status()
            .expect("cannot run tests/servers/setup.sh");
        assert!(status.success(), "tests/servers/setup.sh failed");
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A running server process; killed on drop.
pub struct Server {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
    /// Its files.
    pub dir: tempfile::TempDir,
    name: &'static str,
}

impl Server {
    fn start(name: &'static str, dir: tempfile::TempDir, port: u16, mut cmd: Command) -> Server {
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut server = Server {
            child,
            addr,
            dir,
            name,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{name} exited with {status}:\n{}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not start:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.name;
    }
}

/// Radicale with htpasswd (plain) auth; users can be added while it runs.
pub struct Radicale {
    /// The process.
    pub server: Server,
    next_user: AtomicUsize,
}

impl Radicale {
    /// Starts Radicale with user `alice:secret`.
    pub fn start() -> Radicale {
        ensure_installed();
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let d = dir.path();
        std::fs::write(d.join("users"), "alice:secret\n").expect("users");
        std::fs::write(
            d.join("config"),
            format!(
                "[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\nhtpasswd_filename = {}\nhtpasswd_encryption = plain\n[storage]\nfilesystem_folder = {}\n[logging]\nlevel = warning\n",
                d.join("users").display(),
                d.join("collections").display()
            ),
        )
        .expect("config");
        let mut cmd = Command::new(venv_bin("radicale"));
        cmd.arg("--config").arg(d.join("config"));
        Radicale {
            server: Server::start("radicale", dir, port, cmd),
            next_user: AtomicUsize::new(0),
        }
    }

    /// Adds a new user (a fresh, empty home) and returns its name; the
    /// password is `secret`.
    pub fn new_user(&self) -> String {
        use std::io::Write;
        let n = self.next_user.fetch_add(1, Ordering::SeqCst);
        let user = format!("user{n}");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.server.dir.path().join("users"))
            .expect("users");
        writeln!(f, "{user}:secret").expect("write users");
        user
    }

    /// The base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }
}

/// Xandikos (no auth, one principal `/user/`).
pub struct Xandikos {
    /// The process.
    pub server: Server,
    next_home: AtomicUsize,
}

impl Xandikos {
    /// Starts Xandikos with its default calendars and address book.
    pub fn start() -> Xandikos {
        ensure_installed();
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut cmd = Command::new(venv_bin("xandikos"));
        cmd.arg("-d")
            .arg(dir.path().join("data"))
            .arg("--defaults")
            .arg("-l")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(port.to_string());
        Xandikos {
            server: Server::start("xandikos", dir, port, cmd),
            next_home: AtomicUsize::new(0),
        }
    }

    /// Creates a fresh, empty collection home under the principal and
    /// returns its URL.
    pub async fn new_home(&self) -> String {
        let n = self.next_home.fetch_add(1, Ordering::SeqCst);
        let url = format!("{}user/home{n}/", self.server.url());
        let status = reqwest::Client::new()
            .request(reqwest::Method::from_bytes(b"MKCOL").unwrap(), &url)
            .send()
            .await
            .expect("MKCOL")
            .status();
        assert!(status.is_success(), "MKCOL {url}: {status}");
        url
    }

    /// The base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }
}

/// `rclone serve webdav` on a fresh folder, user `alice:secret`.
pub fn rclone() -> Server {
    ensure_installed();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("root")).expect("root");
    let port = free_port();
    let mut cmd = Command::new("rclone");
    cmd.arg("serve")
        .arg("webdav")
        .arg(dir.path().join("root"))
        .arg("--addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--user")
        .arg("alice")
        .arg("--pass")
        .arg("secret")
        .arg("--config")
        .arg(dir.path().join("rclone.conf"));
    Server::start("rclone", dir, port, cmd)
}

/// WsgiDAV on a fresh folder, user `alice:secret` (unquoted ETags).
pub fn wsgidav() -> Server {
    ensure_installed();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("root")).expect("root");
    let port = free_port();
    let conf = dir.path().join("wsgidav.yaml");
    std::fs::write(
        &conf,
        format!(
            "host: 127.0.0.1\nport: {port}\nprovider_mapping:\n  \"/\": \"{}\"\nhttp_authenticator:\n  domain_controller: null\n  accept_basic: true\n  accept_digest: false\n  default_to_digest: false\nsimple_dc:\n  user_mapping:\n    \"*\":\n      \"alice\":\n        password: \"secret\"\nverbose: 1\nlogging:\n  enable_loggers: []\n",
            dir.path().join("root").display()
        ),
    )
    .expect("config");
    let mut cmd = Command::new(venv_bin("wsgidav"));
    cmd.arg("--config").arg(&conf);
    Server::start("wsgidav", dir, port, cmd)
}
