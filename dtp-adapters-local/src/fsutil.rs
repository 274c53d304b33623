//! File-system helpers: atomic writes, no-clobber placement, safe names,
//! relative paths and I/O error mapping.

use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use dtp_core::{Error, ErrorKind};
use sha2::{Digest, Sha256};

/// Prefix of temporary files; never exported, removed when stale.
pub(crate) const TMP_PREFIX: &str = ".dtp-tmp-";

/// Maps an I/O error to the error kind the driver acts on.
pub(crate) fn io_error(e: io::Error, what: impl std::fmt::Display) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
            ErrorKind::DestinationFull
        }
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            ErrorKind::PermissionDenied
        }
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => ErrorKind::InvalidData,
        _ => ErrorKind::Transient,
    };
    let message = match kind {
        ErrorKind::DestinationFull => format!("{what}: no space left on the destination disk"),
        _ => format!("{what}: {e}"),
    };
    Error::new(kind, message)
        .with_service("local")
        .with_source(e)
}

/// A temporary path next to `target` (same directory, so rename is atomic).
pub(crate) fn temp_path_in(dir: &Path) -> PathBuf {
    dir.join(format!("{TMP_PREFIX}{}", uuid::Uuid::new_v4().simple()))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// flushed to disk, then renamed over `path`. A crash leaves either the old
/// file or the new one, never half of one.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> dtp_core::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::internal("a path without a parent folder"))?;
    std::fs::create_dir_all(dir).map_err(|e| io_error(e, dir.display()))?;
    let tmp = temp_path_in(dir);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(e, path.display()));
    }
    Ok(())
}

/// Moves the finished temporary file `tmp` to `target` unless `target`
/// exists (hard link, then unlink: never replaces anything). Returns
/// `Ok(false)` when `target` already exists.
pub(crate) fn place_no_clobber(tmp: &Path, target: &Path) -> io::Result<bool> {
    match std::fs::hard_link(tmp, target) {
        Ok(()) => {
            std::fs::remove_file(tmp)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` only if nothing is there yet (atomically).
/// Returns whether it wrote.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> dtp_core::Result<bool> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::internal("a path without a parent folder"))?;
    std::fs::create_dir_all(dir).map_err(|e| io_error(e, dir.display()))?;
    let tmp = temp_path_in(dir);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        place_no_clobber(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    result.map_err(|e| io_error(e, path.display()))
}

/// A file or folder name made from free text: path separators, control
/// characters and characters Windows forbids become `_`; no leading dot, at
/// most 120 bytes; never empty. The exact text is kept in the manifest.
pub(crate) fn safe_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        };
        if out.len() + c.len_utf8() > 120 {
            break;
        }
        out.push(c);
    }
    let trimmed = out
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' ']);
    if trimmed.is_empty() || matches!(trimmed, "cur" | "new" | "tmp") {
        format!("_{trimmed}")
    } else {
        trimmed.to_string()
    }
}

/// The archive-relative path of `path` with `/` separators.
pub(crate) fn rel_of(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Resolves an archive-relative path, refusing anything that would leave the
/// archive (`..`, absolute paths).
pub(crate) fn resolve(root: &Path, rel: &str) -> dtp_core::Result<PathBuf> {
    let p = Path::new(rel);
    if rel.is_empty()
        || p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(Error::invalid_data(format!(
            "`{rel}` is not a path inside the archive"
        )));
    }
    Ok(root.join(p))
}

/// Lower-case hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 and length of a file, read in chunks.
pub(crate) fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Sorted entries of a folder (empty when it does not exist), skipping
/// hidden and temporary files.
pub(crate) fn list_dir(dir: &Path) -> dtp_core::Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(e, dir.display())),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| io_error(e, dir.display()))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_never_escape_or_vanish() {
        assert_eq!(safe_name("Ελ/日/😀"), "Ελ_日_😀");
        assert_eq!(safe_name(".."), "_");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("cur"), "_cur");
        assert_eq!(safe_name("a\nb"), "a_b");
        assert!(safe_name(&"é".repeat(200)).len() <= 120);
    }

    #[test]
    fn io_errors_map_to_kinds_the_driver_acts_on() {
        let kind = |k: io::ErrorKind| io_error(io::Error::from(k), "x").kind().as_str();
        assert_eq!(kind(io::ErrorKind::StorageFull), "destination_full");
        assert_eq!(kind(io::ErrorKind::QuotaExceeded), "destination_full");
        assert_eq!(kind(io::ErrorKind::PermissionDenied), "permission_denied");
        assert_eq!(kind(io::ErrorKind::ReadOnlyFilesystem), "permission_denied");
        assert_eq!(kind(io::ErrorKind::NotFound), "not_found");
        assert_eq!(kind(io::ErrorKind::Interrupted), "transient");
        let full = io_error(io::Error::from(io::ErrorKind::StorageFull), "photos/a.jpg");
        assert!(full.message().contains("no space left"), "{full}");
        assert!(full.is_job_level(), "a full disk stops the job (resumable)");
    }

    #[test]
    fn resolve_refuses_paths_outside() {
        let root = Path::new("/archive");
        assert!(resolve(root, "../etc/passwd").is_err());
        assert!(resolve(root, "/etc/passwd").is_err());
        assert_eq!(
            resolve(root, "photos/a.jpg").unwrap(),
            Path::new("/archive/photos/a.jpg")
        );
    }

    #[test]
    fn no_clobber_keeps_the_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x");
        assert!(write_new(&target, b"one").unwrap());
        assert!(!write_new(&target, b"two").unwrap());
        assert_eq!(std::fs::read(&target).unwrap(), b"one");
        atomic_write(&target, b"three").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"three");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary files are cleaned up");
    }
}
