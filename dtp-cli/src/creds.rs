//! Credentials sealed with dtp-auth's XChaCha20-Poly1305 sealer in
//! `<config>/credentials.json` (0600). The key comes from `DTP_SECRET_KEY`
//! (64 hex digits) or `<config>/secret.key`, created 0600 on first use.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use dtp_auth::{AuthSealer, XChaChaSealer, key_from_hex};
use dtp_core::{AuthData, Error, ErrorKind, SealedAuth};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

/// One stored credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// `basic`, `oauth2`, …
    pub kind: String,
    /// Seconds since the epoch.
    pub saved_at: i64,
    /// The sealed [`AuthData`], base64.
    sealed: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    credentials: BTreeMap<String, Entry>,
}

/// The credential file of a config folder.
pub struct Credentials {
    dir: PathBuf,
}

fn io(e: std::io::Error, what: &Path) -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        format!("{}: {e}", what.display()),
    )
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io(e, &tmp))?;
    f.write_all(bytes).map_err(|e| io(e, &tmp))?;
    f.sync_all().map_err(|e| io(e, &tmp))?;
    std::fs::rename(&tmp, path).map_err(|e| io(e, path))
}

impl Credentials {
    /// The credentials in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Credentials { dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("credentials.json")
    }

    fn key_file(&self) -> PathBuf {
        self.dir.join("secret.key")
    }

    /// The sealer of this config folder (key from `DTP_SECRET_KEY` or the key file).
    pub fn sealer(&self) -> Result<XChaChaSealer, Error> {
        if let Ok(hex) = std::env::var("DTP_SECRET_KEY") {
            let key = key_from_hex(&hex).map_err(|_| {
                Error::invalid_data("DTP_SECRET_KEY must be 64 hexadecimal digits (32 bytes)")
            })?;
            return Ok(XChaChaSealer::new(key.expose_secret()));
        }
        let path = self.key_file();
        match std::fs::metadata(&path) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(Error::new(
                        ErrorKind::PermissionDenied,
                        format!(
                            "{} is readable by others: run `chmod 600 {}`",
                            path.display(),
                            path.display()
                        ),
                    ));
                }
                let text = std::fs::read_to_string(&path).map_err(|e| io(e, &path))?;
                let key = key_from_hex(&text).map_err(|_| {
                    Error::invalid_data(format!("{} does not hold a key", path.display()))
                })?;
                Ok(XChaChaSealer::new(key.expose_secret()))
            }
            Err(_) => {
                let key = XChaChaSealer::generate_key();
                write_private(&path, hex::encode(key.expose_secret()).as_bytes())?;
                Ok(XChaChaSealer::new(key.expose_secret()))
            }
        }
    }

    fn load(&self) -> Result<File, Error> {
        match std::fs::read(self.file()) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                Error::invalid_data(format!("{} is damaged: {e}", self.file().display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File {
                version: 1,
                ..File::default()
            }),
            Err(e) => Err(io(e, &self.file())),
        }
    }

    fn store(&self, f: &File) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(f).map_err(|e| Error::internal(e.to_string()))?;
        write_private(&self.file(), &bytes)
    }

    /// Seals and saves `auth` for `service`.
    pub fn save(&self, service: &str, auth: &AuthData) -> Result<(), Error> {
        let sealed = self.sealer()?.seal(auth)?;
        let mut f = self.load()?;
        f.version = 1;
        f.credentials.insert(
            service.to_string(),
            Entry {
                kind: auth.kind_name().to_string(),
                saved_at: chrono::Utc::now().timestamp(),
                sealed: base64::engine::general_purpose::STANDARD.encode(&sealed.0),
            },
        );
        self.store(&f)
    }

    /// The credentials of `service`, opened.
    pub fn get(&self, service: &str) -> Result<Option<AuthData>, Error> {
        let f = self.load()?;
        let Some(e) = f.credentials.get(service) else {
            return Ok(None);
        };
        let blob = base64::engine::general_purpose::STANDARD
            .decode(&e.sealed)
            .map_err(|_| Error::invalid_data("a stored credential is damaged"))?;
        let auth = self.sealer()?.open(&SealedAuth(blob)).map_err(|_| {
            Error::new(
                ErrorKind::Reauthorize,
                format!(
                    "the stored credentials of `{service}` cannot be opened with this key: run `dtp auth login {service}` again"
                ),
            )
        })?;
        Ok(Some(auth))
    }

    /// Every stored service with its entry.
    pub fn list(&self) -> Result<Vec<(String, Entry)>, Error> {
        Ok(self.load()?.credentials.into_iter().collect())
    }

    /// Forgets `service`; whether it was there.
    pub fn remove(&self, service: &str) -> Result<bool, Error> {
        let mut f = self.load()?;
        let had = f.credentials.remove(service).is_some();
        if had {
            self.store(&f)?;
        }
        Ok(had)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_sealed_private_and_need_the_key() {
        // The key file path (no DTP_SECRET_KEY in the test environment).
        // SAFETY of env: tests in this module do not set DTP_SECRET_KEY.
        assert!(std::env::var("DTP_SECRET_KEY").is_err());
        let dir = tempfile::tempdir().unwrap();
        let creds = Credentials::new(dir.path().to_path_buf());
        let auth = AuthData::Basic {
            username: "ada".into(),
            password: "correct horse battery staple".to_string().into(),
        };
        creds.save("imap", &auth).unwrap();
        let raw = std::fs::read_to_string(dir.path().join("credentials.json")).unwrap();
        assert!(!raw.contains("correct horse"), "password in clear: {raw}");
        for f in ["credentials.json", "secret.key"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f} has mode {mode:o}");
        }
        match creds.get("imap").unwrap() {
            Some(AuthData::Basic { username, password }) => {
                assert_eq!(username, "ada");
                assert_eq!(password.expose_secret(), "correct horse battery staple");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(creds.list().unwrap().len(), 1);
        // Another key cannot open it.
        std::fs::write(dir.path().join("secret.key"), "ab".repeat(32)).unwrap();
        let err = creds.get("imap").unwrap_err();
        assert!(err.message().contains("dtp auth login imap"), "{err}");
        assert!(!err.to_string().contains("correct horse"));
        assert!(creds.remove("imap").unwrap());
        assert!(creds.get("imap").unwrap().is_none());
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.key"), "ab".repeat(32)).unwrap();
        std::fs::set_permissions(
            dir.path().join("secret.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let creds = Credentials::new(dir.path().to_path_buf());
        let err = creds.save("imap", &AuthData::None).unwrap_err();
        assert!(err.message().contains("chmod 600"), "{err}");
    }
}
