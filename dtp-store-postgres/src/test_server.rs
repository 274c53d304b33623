//! A throwaway PostgreSQL server for tests (feature `test-server`).
//!
//! [`PgServer::start`] runs `initdb` and `pg_ctl start` in a fresh temporary
//! folder, listening on 127.0.0.1 only, on a free port, with `fsync=off`;
//! dropping the guard stops the server and removes the folder. A watchdog
//! shell stops it too if the test process dies without dropping the guard.
//! As root (CI), the server runs as the `postgres` user, as PostgreSQL
//! refuses to run as root.
//!
//! The binaries come from `$DTP_PG_BIN`, else the newest
//! `/usr/lib/postgresql/*/bin` (Debian), else `pg_config --bindir`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running PostgreSQL server, stopped when dropped.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    watchdog: Option<Child>,
    next_db: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

fn find_bin() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("DTP_PG_BIN") {
        return Ok(PathBuf::from(p));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .map_err(|_| no_postgres())?;
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if bin.join("initdb").exists() {
        Ok(bin)
    } else {
        Err(no_postgres())
    }
}

fn no_postgres() -> String {
    "PostgreSQL server binaries not found (set DTP_PG_BIN, or `apt-get install postgresql-15`; scripts/test installs it)".to_string()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

impl PgServer {
    /// Starts a server; `Err` with a reason if PostgreSQL is missing or does
    /// not start.
    pub fn start() -> Result<PgServer, String> {
        let bin = find_bin()?;
        let as_postgres = is_root();
        // As root the server runs as `postgres`, which must reach the folder:
        // keep it in /tmp whatever $TMPDIR says (it may be under /root).
        let mut builder = tempfile::Builder::new();
        builder.prefix("dtp-pg-");
        let dir = if as_postgres {
            builder.tempdir_in("/tmp")
        } else {
            builder.tempdir()
        }
        .map_err(|e| e.to_string())?;
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(dir.path()))?;
        }
        let mut server = PgServer {
            dir,
            bin,
            port: 0,
            as_postgres,
            watchdog: None,
            next_db: std::sync::atomic::AtomicU32::new(0),
        };
        let data = server.dir.path().join("data");
        server.pg(&format!(
            "{} -N -D {} -A trust -U postgres -E UTF8 --locale=C.UTF-8",
            quote(&server.bin.join("initdb")),
            quote(&data)
        ))?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let started = server.pg(&format!(
                "{} -D {} -l {} -w -t 30 -o \"-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\" start",
                quote(&server.bin.join("pg_ctl")),
                quote(&data),
                quote(&server.dir.path().join("log")),
                quote(server.dir.path()),
            ));
            match started {
                Ok(()) => {
                    server.port = port;
                    server.watchdog = server.spawn_watchdog().ok();
                    return Ok(server);
                }
                Err(e) => last = e,
            }
        }
        Err(format!(
            "PostgreSQL did not start: {last}\n{}",
            std::fs::read_to_string(server.dir.path().join("log")).unwrap_or_default()
        ))
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for database `db` (user `postgres`, no password).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a fresh, empty database and returns its URL.
    pub fn create_database(&self) -> Result<String, String> {
        let n = self
            .next_db
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("dtp_test_{n}");
        run(Command::new(self.bin.join("psql"))
            .arg(self.url("postgres"))
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!("CREATE DATABASE {name}")))?;
        Ok(self.url(&name))
    }

    fn pg(&self, cmd: &str) -> Result<(), String> {
        if self.as_postgres {
            run(Command::new("su").args(["postgres", "-s", "/bin/sh", "-c", cmd]))
        } else {
            run(Command::new("sh").args(["-c", cmd]))
        }
    }

    fn stop_command(&self) -> String {
        format!(
            "{} -D {} -m immediate -w stop",
            quote(&self.bin.join("pg_ctl")),
            quote(&self.dir.path().join("data"))
        )
    }

    fn spawn_watchdog(&self) -> std::io::Result<Child> {
        let stop = if self.as_postgres {
            format!(
                "su postgres -s /bin/sh -c {}",
                shell_word(&self.stop_command())
            )
        } else {
            self.stop_command()
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = quote(self.dir.path()),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }
}

fn shell_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.pg(&self.stop_command().replace("immediate", "fast"));
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}
