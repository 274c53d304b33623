//! Where a Takeout's files are: zip files (read entry by entry, as streams)
//! or an extracted folder.

use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use dtp_core::{ByteStream, Error, Result};

/// Largest JSON file read into memory (sidecars are a few KiB).
const MAX_JSON: u64 = 4 * 1024 * 1024;
/// Size of the chunks media bytes are streamed in.
const CHUNK: usize = 256 * 1024;

/// One part of a Takeout: a zip file or a folder.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A zip file (`takeout-…-001.zip`).
    Zip(PathBuf),
    /// An extracted folder.
    Dir(PathBuf),
}

/// A file of a source.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Index of the source.
    pub source: usize,
    /// Path inside the source, `/`-separated.
    pub name: String,
    /// Uncompressed size in bytes.
    pub size: u64,
}

pub(crate) fn io_error(e: std::io::Error, what: impl std::fmt::Display) -> Error {
    let msg = format!("{what}: {e}");
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::not_found(msg),
        std::io::ErrorKind::PermissionDenied => {
            Error::new(dtp_core::ErrorKind::PermissionDenied, msg)
        }
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
            Error::invalid_data(msg)
        }
        _ => Error::transient(msg),
    }
    .with_service("google-takeout")
}

fn zip_error(e: zip::result::ZipError, what: impl std::fmt::Display) -> Error {
    match e {
        zip::result::ZipError::Io(io) => io_error(io, what),
        zip::result::ZipError::FileNotFound => {
            Error::not_found(format!("{what}: no such entry")).with_service("google-takeout")
        }
        other => Error::invalid_data(format!("{what}: not a readable zip archive: {other}"))
            .with_service("google-takeout"),
    }
}

fn is_zip_name(p: &Path) -> bool {
    p.extension()
        .map(|e| e.eq_ignore_ascii_case("zip"))
        .unwrap_or(false)
}

/// The sources at `path`: the zip file itself, the zip files directly
/// inside a folder (a multi-part Takeout), or else the folder.
pub(crate) fn sources_at(path: &Path) -> Result<Vec<Source>> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(e, path.display()))?;
    if meta.is_file() {
        return Ok(vec![Source::Zip(path.to_path_buf())]);
    }
    let mut zips = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| io_error(e, path.display()))? {
        let entry = entry.map_err(|e| io_error(e, path.display()))?;
        let p = entry.path();
        if p.is_file() && is_zip_name(&p) {
            zips.push(p);
        }
    }
    if zips.is_empty() {
        return Ok(vec![Source::Dir(path.to_path_buf())]);
    }
    zips.sort();
    Ok(zips.into_iter().map(Source::Zip).collect())
}

fn open_zip(path: &Path) -> Result<zip::ZipArchive<std::io::BufReader<std::fs::File>>> {
    let f = std::fs::File::open(path).map_err(|e| io_error(e, path.display()))?;
    zip::ZipArchive::new(std::io::BufReader::new(f)).map_err(|e| zip_error(e, path.display()))
}

/// Every file of `source` (blocking).
pub(crate) fn list(source: &Source, index: usize) -> Result<Vec<Entry>> {
    match source {
        Source::Zip(path) => {
            let mut z = open_zip(path)?;
            let mut out = Vec::with_capacity(z.len());
            for i in 0..z.len() {
                let f = z
                    .by_index_raw(i)
                    .map_err(|e| zip_error(e, path.display()))?;
                if f.is_dir() {
                    continue;
                }
                let Ok(name) = f.name() else {
                    tracing::warn!(entry = i, "zip entry with an undecodable name skipped");
                    continue;
                };
                out.push(Entry {
                    source: index,
                    name: name.replace('\\', "/"),
                    size: f.size(),
                });
            }
            Ok(out)
        }
        Source::Dir(root) => {
            let mut out = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).map_err(|e| io_error(e, dir.display()))? {
                    let entry = entry.map_err(|e| io_error(e, dir.display()))?;
                    let p = entry.path();
                    let ft = entry.file_type().map_err(|e| io_error(e, p.display()))?;
                    if ft.is_dir() {
                        stack.push(p);
                    } else if ft.is_file() {
                        let size = entry
                            .metadata()
                            .map_err(|e| io_error(e, p.display()))?
                            .len();
                        let Ok(rel) = p.strip_prefix(root) else {
                            continue;
                        };
                        let name = rel
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect::<Vec<_>>()
                            .join("/");
                        out.push(Entry {
                            source: index,
                            name,
                            size,
                        });
                    }
                }
            }
            Ok(out)
        }
    }
}

/// Reads several small files of one source (blocking); files larger than
/// 4 MiB or unreadable come back as `None`.
pub(crate) fn read_small(source: &Source, names: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
    match source {
        Source::Zip(path) => {
            let mut z = open_zip(path)?;
            Ok(names
                .iter()
                .map(|n| {
                    let f = z.by_name(n).ok()?;
                    if f.size() > MAX_JSON {
                        return None;
                    }
                    let mut buf = Vec::with_capacity(f.size() as usize);
                    f.take(MAX_JSON).read_to_end(&mut buf).ok()?;
                    Some(buf)
                })
                .collect())
        }
        Source::Dir(root) => Ok(names
            .iter()
            .map(|n| {
                let p = root.join(n);
                let len = std::fs::metadata(&p).ok()?.len();
                if len > MAX_JSON {
                    return None;
                }
                std::fs::read(p).ok()
            })
            .collect()),
    }
}

/// Streams one file of `source` in chunks, never holding it whole.
pub(crate) fn open_stream(source: &Source, name: &str) -> ByteStream {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(4);
    let source = source.clone();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || {
        let pump = |r: &mut dyn Read| -> Result<()> {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = r.read(&mut buf).map_err(|e| io_error(e, &name))?;
                if n == 0 {
                    return Ok(());
                }
                if tx
                    .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
                {
                    // The reader went away: stop quietly.
                    return Ok(());
                }
            }
        };
        let result = match &source {
            Source::Zip(path) => open_zip(path).and_then(|mut z| {
                let mut f = z
                    .by_name(&name)
                    .map_err(|e| zip_error(e, format!("{}: {name}", path.display())))?;
                pump(&mut f)
            }),
            Source::Dir(root) => {
                let p = root.join(&name);
                std::fs::File::open(&p)
                    .map_err(|e| io_error(e, p.display()))
                    .and_then(|mut f| pump(&mut f))
            }
        };
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
