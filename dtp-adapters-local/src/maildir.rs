//! Mail: one Maildir per folder under `mail/` (`cur`, `new`, `tmp`), flags
//! in file names (`<unique>:2,FRS`), keywords as Dovecot's lower-case
//! letters listed in the folder's `dovecot-keywords`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use chrono::{DateTime, FixedOffset};
use dtp_core::{Error, ImportContext, Imported, MediaRef, Result};
use dtp_models::mail::{Flags, Folder, MailData, Message, RawMessage};

use crate::fsutil::{self, io_error, safe_name, sha256_hex};
use crate::{Index, LocalArchive, TempFile, stream_to_temp};

const ROOT: &str = "mail";
const KEYWORDS: &str = "dovecot-keywords";

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir()
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for d in fsutil::list_dir(dir)? {
        if !d.is_dir()
            || matches!(
                d.file_name().and_then(|n| n.to_str()),
                Some("cur" | "new" | "tmp")
            )
        {
            continue;
        }
        if is_maildir(&d) {
            out.push(d.clone());
        }
        walk(&d, out)?;
    }
    Ok(())
}

fn read_keywords(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string(dir.join(KEYWORDS)) {
        for line in text.lines() {
            if let Some((n, k)) = line.split_once(' ')
                && let Ok(n) = n.parse::<usize>()
                && n < 26
            {
                if out.len() <= n {
                    out.resize(n + 1, String::new());
                }
                out[n] = k.to_string();
            }
        }
    }
    out
}

fn flags_of(info: &str, keywords: &[String]) -> Flags {
    let mut f = Flags::new();
    for c in info.chars() {
        f = match c {
            'D' => f.with_draft(true),
            'F' => f.with_flagged(true),
            'R' => f.with_answered(true),
            'S' => f.with_seen(true),
            'T' => f.with_deleted(true),
            'a'..='z' => match keywords.get((c as u8 - b'a') as usize) {
                Some(k) if !k.is_empty() => f.with_keyword(k.clone()),
                _ => f,
            },
            _ => f,
        };
    }
    f
}

fn info_of(flags: &Flags, keywords: &[String]) -> String {
    let mut s = String::new();
    for (on, c) in [
        (flags.draft, 'D'),
        (flags.flagged, 'F'),
        (flags.answered, 'R'),
        (flags.seen, 'S'),
        (flags.deleted, 'T'),
    ] {
        if on {
            s.push(c);
        }
    }
    for k in &flags.keywords {
        if let Some(i) = keywords.iter().position(|x| x == k) {
            s.push((b'a' + i as u8) as char);
        }
    }
    s
}

/// `1700000000.dtp-…` names carry the internal date.
fn internal_date_of(unique: &str) -> Option<DateTime<FixedOffset>> {
    let (secs, rest) = unique.split_once('.')?;
    if !rest.starts_with("dtp-") {
        return None;
    }
    DateTime::from_timestamp(secs.parse().ok()?, 0).map(|d| d.fixed_offset())
}

pub(crate) fn scan(archive: &LocalArchive) -> Result<Index<MailData>> {
    let mut dirs = Vec::new();
    walk(&archive.root().join(ROOT), &mut dirs)?;
    let mut containers = Vec::new();
    let mut by_unique: BTreeMap<String, Message> = BTreeMap::new();
    for dir in &dirs {
        let rel = archive.rel(dir);
        let mut folder = archive.container_record::<Folder>(&rel).unwrap_or_else(|| {
            let path = rel.strip_prefix("mail/").unwrap_or(&rel).to_string();
            let f = Folder::new(rel.clone(), path.clone());
            if path.eq_ignore_ascii_case("INBOX") {
                f.with_role(dtp_models::mail::SpecialUse::Inbox)
            } else {
                f
            }
        });
        folder.id = rel.clone();
        containers.push(folder);
        let keywords = read_keywords(dir);
        for sub in ["cur", "new"] {
            for file in fsutil::list_dir(&dir.join(sub))? {
                if !file.is_file() {
                    continue;
                }
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let (unique, info) = match name.split_once(":2,") {
                    Some((u, i)) => (u.to_string(), i.to_string()),
                    None => (
                        name.split(':').next().unwrap_or(&name).to_string(),
                        String::new(),
                    ),
                };
                if let Some(m) = by_unique.get_mut(&unique) {
                    if !m.folder_ids.contains(&rel) {
                        m.folder_ids.push(rel.clone());
                    }
                    continue;
                }
                let len = std::fs::metadata(&file)
                    .map_err(|e| io_error(e, &name))?
                    .len();
                let raw = MediaRef::new(archive.rel(&file))
                    .with_size(len)
                    .with_mime_type("message/rfc822");
                let mut m = Message::new(unique.clone(), rel.clone(), raw)
                    .with_flags(flags_of(&info, &keywords));
                if let Some(d) = internal_date_of(&unique) {
                    m = m.with_internal_date(d);
                }
                by_unique.insert(unique, m);
            }
        }
    }
    Ok(Index {
        containers,
        items: by_unique.into_values().collect(),
    })
}

impl LocalArchive {
    pub(crate) fn import_folder(&self, folder: &Folder) -> Result<String> {
        let segments: Vec<String> = folder
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(safe_name)
            .collect();
        let rel = if segments.is_empty() {
            format!("{ROOT}/{}", safe_name(&folder.id))
        } else {
            format!("{ROOT}/{}", segments.join("/"))
        };
        let dir = self.path(&rel)?;
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| io_error(e, &rel))?;
        }
        let mut record = folder.clone();
        record.id = rel.clone();
        self.remember_container(&rel, &record)?;
        Ok(rel)
    }

    /// The folder's keyword letters, adding `wanted` ones (up to 26).
    async fn keywords(&self, rel: &str, wanted: &[String]) -> Result<Vec<String>> {
        let dir = self.path(rel)?;
        let state = self.state::<Vec<String>>(&format!("{rel}/{KEYWORDS}"));
        let mut guard = state.lock().await;
        let kws = guard.get_or_insert_with(|| read_keywords(&dir));
        let mut changed = false;
        for k in wanted {
            if !kws.contains(k) {
                if kws.len() >= 26 || k.contains(char::is_whitespace) {
                    tracing::warn!(
                        folder = rel,
                        keyword = k,
                        "keyword not representable in Maildir"
                    );
                    continue;
                }
                kws.push(k.clone());
                changed = true;
            }
        }
        if changed {
            let text: String = kws
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{i} {k}\n"))
                .collect();
            fsutil::atomic_write(&dir.join(KEYWORDS), text.as_bytes())?;
        }
        Ok(kws.clone())
    }

    pub(crate) async fn import_message(
        &self,
        ctx: &ImportContext,
        m: &Message,
    ) -> Result<Imported> {
        let mut folders = Vec::new();
        for f in &m.folder_ids {
            folders.push(ctx.require_container(f)?);
        }
        let Some(first) = folders.first().cloned() else {
            return Err(Error::invalid_data("the message is in no folder"));
        };
        let tmp_dir = self.path(&first)?.join("tmp");
        let (tmp, hash, len) = match &m.raw {
            RawMessage::Inline(b) => {
                let tmp = TempFile(Some(fsutil::temp_path_in(&tmp_dir)));
                std::fs::create_dir_all(&tmp_dir).map_err(|e| io_error(e, &first))?;
                std::fs::write(tmp.path(), b.as_slice()).map_err(|e| io_error(e, &first))?;
                (tmp, sha256_hex(b.as_slice()), b.len() as u64)
            }
            RawMessage::Ref(r) => {
                let stream = ctx.open_media(r).await?;
                stream_to_temp(stream, &tmp_dir).await?
            }
            _ => return Err(Error::unsupported("a message body of an unknown kind")),
        };
        let unique = match m.internal_date {
            Some(d) => format!("{}.dtp-{}", d.timestamp(), &hash[..32]),
            None => format!("dtp-{}", &hash[..32]),
        };
        let mut wrote = false;
        for rel in &folders {
            let dir = self.path(rel)?;
            // The folder's message names, listed once per run.
            let names = self.state::<HashSet<String>>(&format!("{rel}#uniques"));
            let mut names = names.lock().await;
            let known = names.get_or_insert_with(|| {
                let mut set = HashSet::new();
                for sub in ["cur", "new"] {
                    for p in fsutil::list_dir(&dir.join(sub)).unwrap_or_default() {
                        if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
                            set.insert(n.split(':').next().unwrap_or(n).to_string());
                        }
                    }
                }
                set
            });
            if known.contains(&unique) {
                continue;
            }
            let kws = self.keywords(rel, &m.flags.keywords).await?;
            let name = format!("{unique}:2,{}", info_of(&m.flags, &kws));
            let target = dir.join("cur").join(&name);
            std::fs::create_dir_all(dir.join("cur")).map_err(|e| io_error(e, rel))?;
            // A hard link per folder: the same bytes, never a partial file.
            match std::fs::hard_link(tmp.path(), &target) {
                Ok(()) => wrote = true,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(_) => {
                    // Another file system: copy through a temporary file.
                    let t2 = TempFile(Some(fsutil::temp_path_in(&dir.join("tmp"))));
                    std::fs::copy(tmp.path(), t2.path()).map_err(|e| io_error(e, rel))?;
                    if fsutil::place_no_clobber(t2.path(), &target).map_err(|e| io_error(e, rel))? {
                        wrote = true;
                    }
                }
            }
            known.insert(unique.clone());
            if let Some(d) = m.internal_date {
                let when = std::time::SystemTime::from(d);
                if let Ok(f) = std::fs::File::options().write(true).open(&target) {
                    let _ = f.set_modified(when);
                }
            }
        }
        drop(tmp);
        let status = if wrote {
            self.note_written(len)
        } else {
            self.note_present()
        };
        Ok(Imported::new(unique, status))
    }
}
