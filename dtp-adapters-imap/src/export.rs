//! Export: folders, then each folder's messages in UID order, page by page.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use dtp_core::{
    AuthData, ByteStream, Cursor, Error, ExportContext, ExportPage, Exporter, MediaRef, Result,
};
use dtp_models::mail::{Flags, Folder, MailData, Message, SpecialUse};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::config::ImapConfig;
use crate::conn::{Conn, Pool, Pooled, timed};
use crate::error::{self, Op};
use crate::utf7;

/// How far a folder has been exported: its UIDVALIDITY and the highest UID
/// seen. A later export starts after it; a changed UIDVALIDITY starts the
/// folder over (the importer's de-duplication keeps that safe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderMark {
    /// UIDVALIDITY of the folder.
    pub uid_validity: u32,
    /// The highest UID exported.
    pub last_uid: u32,
}

/// Per-folder marks (by the server's mailbox name) for incremental export.
///
/// Persist [`ImapExporter::sync_state`] after a completed transfer and pass
/// it to [`ImapExporter::with_sync_state`] next time: only new mail is
/// exported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// Marks by mailbox name.
    pub folders: BTreeMap<String, FolderMark>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "imap", rename_all = "snake_case")]
enum ImapCursor {
    Folder {
        mailbox: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid_validity: Option<u32>,
        after: u32,
    },
}

/// Reads mail from an IMAP account.
///
/// The root page lists every selectable folder (with hierarchy separator
/// and SPECIAL-USE role); each folder is then exported in pages of
/// [`ImapConfig::page_size`] UIDs (`UID FETCH … (UID FLAGS INTERNALDATE
/// RFC822.SIZE)`, then `BODY.PEEK[]` of the page's messages up to
/// [`ImapConfig::page_fetch_max`], held in a bounded cache for
/// [`open_media`](Exporter::open_media)). Larger messages are fetched by
/// `open_media` in partial ranges of [`ImapConfig::fetch_chunk`] bytes.
/// `BODY.PEEK` never sets `\Seen` on the source.
#[derive(Debug)]
pub struct ImapExporter {
    pool: Arc<Pool>,
    since: SyncState,
    seen: Mutex<SyncState>,
    bodies: Mutex<BodyCache>,
}

/// Bodies fetched with their page, waiting for `open_media`; bounded (the
/// oldest go first, and are fetched again if asked for).
#[derive(Debug, Default)]
struct BodyCache {
    map: HashMap<String, Bytes>,
    order: VecDeque<String>,
    bytes: usize,
}

/// The most bytes of page-fetched bodies kept waiting.
const CACHE_MAX: usize = 32 << 20;

impl BodyCache {
    fn put(&mut self, key: String, body: Bytes) {
        self.bytes += body.len();
        if let Some(old) = self.map.insert(key.clone(), body) {
            self.bytes -= old.len();
        } else {
            self.order.push_back(key);
        }
        while self.bytes > CACHE_MAX {
            let Some(k) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.map.remove(&k) {
                self.bytes -= b.len();
            }
        }
    }

    fn take(&mut self, key: &str) -> Option<Bytes> {
        let b = self.map.remove(key)?;
        self.bytes -= b.len();
        if let Some(i) = self.order.iter().position(|k| k == key) {
            self.order.remove(i);
        }
        Some(b)
    }
}

impl ImapExporter {
    /// An exporter for the account at `config`.
    pub fn new(config: ImapConfig) -> Self {
        ImapExporter {
            pool: Arc::new(Pool::new(config)),
            since: SyncState::default(),
            seen: Mutex::new(SyncState::default()),
            bodies: Mutex::new(BodyCache::default()),
        }
    }

    /// Exports only mail after `state` (from an earlier
    /// [`sync_state`](Self::sync_state)).
    pub fn with_sync_state(mut self, state: SyncState) -> Self {
        self.seen = Mutex::new(state.clone());
        self.since = state;
        self
    }

    /// The marks of everything exported so far (including the state this
    /// exporter started from).
    pub fn sync_state(&self) -> SyncState {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn mark(&self, mailbox: &str, uid_validity: u32, last_uid: u32) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let entry = seen
            .folders
            .entry(mailbox.to_string())
            .or_insert(FolderMark {
                uid_validity,
                last_uid,
            });
        if entry.uid_validity != uid_validity {
            *entry = FolderMark {
                uid_validity,
                last_uid,
            };
        } else {
            entry.last_uid = entry.last_uid.max(last_uid);
        }
    }

    async fn list(&self, auth: &AuthData) -> Result<Vec<ListedFolder>> {
        let mut pooled = self.pool.get(auth).await?;
        let folders = list_folders(pooled.conn()).await?;
        pooled.release();
        Ok(folders)
    }

    async fn export_folder(
        &self,
        auth: &AuthData,
        mailbox: &str,
        uid_validity: Option<u32>,
        after: u32,
    ) -> Result<ExportPage<MailData>> {
        let page_size = self.pool.config().page_size;
        let mut pooled = self.pool.get(auth).await?;
        let conn = pooled.conn();
        let timeout = conn.timeout();
        let v = conn.open_mailbox(mailbox, true).await?;
        let after = match uid_validity {
            Some(old) if old != v => {
                tracing::warn!(
                    mailbox,
                    old,
                    new = v,
                    "UIDVALIDITY changed: exporting the folder again from the start"
                );
                0
            }
            _ => after,
        };
        let session = &mut conn.session;
        let found = timed(timeout, async {
            session
                .uid_search(format!("UID {}:*", after.saturating_add(1)))
                .await
                .map_err(|e| error::map(Op::Export, e))
        })
        .await?;
        let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > after).collect();
        uids.sort_unstable();
        let more = uids.len() > page_size;
        uids.truncate(page_size);
        let mut page = ExportPage::new();
        if uids.is_empty() {
            conn.drain();
            pooled.release();
            self.mark(mailbox, v, after);
            return Ok(page);
        }
        let set = uid_set(&uids);
        let fetched: Vec<async_imap::types::Fetch> = timed(timeout, async {
            session
                .uid_fetch(&set, "(UID FLAGS INTERNALDATE RFC822.SIZE)")
                .await
                .map_err(|e| error::map(Op::Export, e))?
                .try_collect()
                .await
                .map_err(|e| error::map(Op::Export, e))
        })
        .await?;
        // Small messages: their bytes in one more command for the page.
        let small_max = u64::from(self.pool.config().page_fetch_max);
        let small: Vec<u32> = fetched
            .iter()
            .filter(|f| f.size.is_some_and(|s| u64::from(s) <= small_max))
            .filter_map(|f| f.uid)
            .filter(|u| *u > after && uids.binary_search(u).is_ok())
            .collect();
        let mut exact: HashMap<u32, u64> = HashMap::new();
        if !small.is_empty() {
            let mut small = small;
            small.sort_unstable();
            small.dedup();
            let set = uid_set(&small);
            let bodies: Vec<async_imap::types::Fetch> = timed(timeout, async {
                session
                    .uid_fetch(&set, "(UID BODY.PEEK[])")
                    .await
                    .map_err(|e| error::map(Op::Export, e))?
                    .try_collect()
                    .await
                    .map_err(|e| error::map(Op::Export, e))
            })
            .await?;
            let mut cache = self.bodies.lock().unwrap_or_else(|p| p.into_inner());
            for f in bodies {
                if let (Some(uid), Some(body)) = (f.uid, f.body())
                    && small.binary_search(&uid).is_ok()
                {
                    // The bytes in hand are the truth, whatever RFC822.SIZE said.
                    exact.insert(uid, body.len() as u64);
                    cache.put(media_key(v, uid, mailbox), Bytes::copy_from_slice(body));
                }
            }
        }
        let mut items: Vec<(u32, Message)> = Vec::with_capacity(fetched.len());
        for f in &fetched {
            let Some(uid) = f.uid else { continue };
            if uid <= after || uids.binary_search(&uid).is_err() {
                continue; // an unsolicited FETCH for another message
            }
            let key = media_key(v, uid, mailbox);
            let mut media = MediaRef::new(key.clone()).with_mime_type("message/rfc822");
            if let Some(size) = exact.get(&uid).copied().or(f.size.map(u64::from)) {
                media = media.with_size(size);
            }
            let mut msg = Message::new(key, mailbox, media).with_flags(flags_of(f));
            if let Some(d) = f.internal_date() {
                msg = msg.with_internal_date(d);
            }
            items.push((uid, msg));
        }
        drop(fetched);
        conn.drain();
        pooled.release();
        items.sort_by_key(|(uid, _)| *uid);
        items.dedup_by_key(|(uid, _)| *uid);
        let last = uids.last().copied().unwrap_or(after);
        page.items = items.into_iter().map(|(_, m)| m).collect();
        if more {
            page = page.with_next(Cursor::new(&ImapCursor::Folder {
                mailbox: mailbox.to_string(),
                uid_validity: Some(v),
                after: last,
            })?);
        }
        self.mark(mailbox, v, last);
        Ok(page)
    }
}

pub(crate) struct ListedFolder {
    pub(crate) name: String,
    pub(crate) separator: Option<String>,
    pub(crate) role: Option<SpecialUse>,
    pub(crate) selectable: bool,
}

/// LIST "" "*": every folder with its separator and SPECIAL-USE role.
pub(crate) async fn list_folders(conn: &mut Conn) -> Result<Vec<ListedFolder>> {
    use async_imap::types::NameAttribute as A;
    let timeout = conn.timeout();
    let session = &mut conn.session;
    let names: Vec<async_imap::types::Name> = timed(timeout, async {
        session
            .list(Some(""), Some("*"))
            .await
            .map_err(|e| error::map(Op::Other, e))?
            .try_collect()
            .await
            .map_err(|e| error::map(Op::Other, e))
    })
    .await?;
    conn.drain();
    let mut out = Vec::with_capacity(names.len());
    for n in &names {
        let mut role = None;
        let mut selectable = true;
        for a in n.attributes() {
            match a {
                A::NoSelect => selectable = false,
                A::Sent => role = Some(SpecialUse::Sent),
                A::Drafts => role = Some(SpecialUse::Drafts),
                A::Trash => role = Some(SpecialUse::Trash),
                A::Junk => role = Some(SpecialUse::Junk),
                A::Archive => role = Some(SpecialUse::Archive),
                A::All => role = Some(SpecialUse::All),
                A::Flagged => role = Some(SpecialUse::Flagged),
                A::Extension(x) if x.eq_ignore_ascii_case("\\NonExistent") => selectable = false,
                _ => {}
            }
        }
        if n.name().eq_ignore_ascii_case("INBOX") {
            role = Some(SpecialUse::Inbox);
        }
        out.push(ListedFolder {
            name: n.name().to_string(),
            separator: n.delimiter().map(str::to_string),
            role,
            selectable,
        });
    }
    Ok(out)
}

/// The folder model of a listed mailbox: id = the server's name, path = the
/// decoded segments joined by `/`.
fn folder_model(f: &ListedFolder) -> Folder {
    let segments: Vec<String> = match f.separator.as_deref() {
        Some(sep) if !sep.is_empty() => f.name.split(sep).map(decode_segment).collect(),
        _ => vec![decode_segment(&f.name)],
    };
    let path = if f.role == Some(SpecialUse::Inbox) {
        "INBOX".to_string()
    } else {
        segments.join("/")
    };
    let mut folder = Folder::new(f.name.clone(), path);
    if let Some(sep) = &f.separator {
        folder = folder.with_separator(sep.clone());
    }
    if let Some(role) = f.role.clone() {
        folder = folder.with_role(role);
    }
    folder
}

fn decode_segment(s: &str) -> String {
    utf7::decode(s).unwrap_or_else(|| s.to_string())
}

fn flags_of(f: &async_imap::types::Fetch) -> Flags {
    use async_imap::types::Flag;
    let mut flags = Flags::new();
    for flag in f.flags() {
        match flag {
            Flag::Seen => flags.seen = true,
            Flag::Answered => flags.answered = true,
            Flag::Flagged => flags.flagged = true,
            Flag::Draft => flags.draft = true,
            Flag::Deleted => flags.deleted = true,
            Flag::Recent | Flag::MayCreate => {}
            Flag::Custom(k) => {
                if !k.starts_with('\\') {
                    flags.keywords.push(k.to_string());
                }
            }
        }
    }
    flags.keywords.sort();
    flags
}

/// `1:3,5,7:9` for sorted UIDs.
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

fn media_key(uid_validity: u32, uid: u32, mailbox: &str) -> String {
    format!("imap:{uid_validity}:{uid}:{mailbox}")
}

fn parse_media_key(key: &str) -> Option<(u32, u32, &str)> {
    let mut parts = key.splitn(4, ':');
    if parts.next()? != "imap" {
        return None;
    }
    let v = parts.next()?.parse().ok()?;
    let uid = parts.next()?.parse().ok()?;
    Some((v, uid, parts.next()?))
}

const CHUNK: usize = 64 * 1024;

/// Fetches `BODY.PEEK[]` (or the range `<offset.len>`) of one message.
async fn fetch_body(
    conn: &mut Conn,
    uid: u32,
    range: Option<(u64, u32)>,
) -> Result<Option<async_imap::types::Fetch>> {
    let timeout = conn.timeout();
    let query = match range {
        Some((off, len)) => format!("(UID BODY.PEEK[]<{off}.{len}>)"),
        None => "(UID BODY.PEEK[])".to_string(),
    };
    let session = &mut conn.session;
    let fetched: Vec<async_imap::types::Fetch> = timed(timeout, async {
        session
            .uid_fetch(uid.to_string(), &query)
            .await
            .map_err(|e| error::map(Op::Export, e))?
            .try_collect()
            .await
            .map_err(|e| error::map(Op::Export, e))
    })
    .await?;
    conn.drain();
    Ok(fetched
        .into_iter()
        .find(|f| f.uid == Some(uid) && f.body().is_some()))
}

/// Yields a fetched body in chunks, keeping the one buffer it arrived in.
fn chunks_of(fetch: async_imap::types::Fetch) -> ByteStream {
    Box::pin(futures::stream::unfold(
        (fetch, 0usize),
        |(fetch, off)| async move {
            let body = fetch.body().unwrap_or_default();
            if off >= body.len() {
                return None;
            }
            let end = (off + CHUNK).min(body.len());
            let chunk = Bytes::copy_from_slice(&body[off..end]);
            Some((Ok(chunk), (fetch, end)))
        },
    ))
}

fn ranged(pooled: Pooled, uid: u32, size: u64, chunk: u32) -> ByteStream {
    Box::pin(futures::stream::try_unfold(
        (Some(pooled), 0u64),
        move |(pooled, off)| async move {
            let Some(mut pooled) = pooled else {
                return Ok(None);
            };
            if off >= size {
                // Nothing may follow the announced size: a server whose
                // RFC822.SIZE understates the message must not truncate it.
                let probe = fetch_body(pooled.conn(), uid, Some((size, 1))).await?;
                if probe
                    .as_ref()
                    .and_then(|f| f.body())
                    .is_some_and(|b| !b.is_empty())
                {
                    return Err(Error::invalid_data(format!(
                        "message {uid} is longer than the {size} bytes the server announced"
                    )));
                }
                pooled.release();
                return Ok(None);
            }
            let fetched = fetch_body(pooled.conn(), uid, Some((off, chunk))).await?;
            let data = fetched
                .as_ref()
                .and_then(|f| f.body())
                .map(Bytes::copy_from_slice)
                .unwrap_or_default();
            drop(fetched);
            if data.is_empty() {
                // Shorter than RFC822.SIZE said; the importer notices.
                pooled.release();
                return Ok(None);
            }
            let next = off + data.len() as u64;
            Ok(Some((data, (Some(pooled), next))))
        },
    ))
}

#[async_trait]
impl Exporter<MailData> for ImapExporter {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<MailData>> {
        if cursor.is_root() {
            let folders = self.list(auth).await?;
            let mut page = ExportPage::new();
            for f in folders.iter().filter(|f| f.selectable) {
                page = page.with_container(folder_model(f));
                let mark = self.since.folders.get(&f.name);
                page = page.with_next(Cursor::new(&ImapCursor::Folder {
                    mailbox: f.name.clone(),
                    uid_validity: mark.map(|m| m.uid_validity),
                    after: mark.map_or(0, |m| m.last_uid),
                })?);
            }
            return Ok(page);
        }
        match cursor.decode::<ImapCursor>()? {
            ImapCursor::Folder {
                mailbox,
                uid_validity,
                after,
            } => {
                self.export_folder(auth, &mailbox, uid_validity, after)
                    .await
            }
        }
    }

    async fn open_media(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        media: &MediaRef,
    ) -> Result<ByteStream> {
        let (v, uid, mailbox) = parse_media_key(&media.key)
            .ok_or_else(|| Error::not_found(format!("not an IMAP message: {}", media.key)))?;
        let cached = self
            .bodies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(&media.key);
        if let Some(body) = cached {
            return Ok(Box::pin(futures::stream::once(async move { Ok(body) })));
        }
        let chunk = self.pool.config().fetch_chunk;
        let large = media.size.is_some_and(|s| s > u64::from(chunk));
        let mut pooled = self.pool.get(auth).await?;
        // Small messages skip the NOOP and retry with it if the UID is not
        // visible on this connection yet.
        let now = pooled
            .conn()
            .open_mailbox_with(mailbox, true, large)
            .await?;
        if now != v {
            pooled.release();
            return Err(Error::not_found(format!(
                "the folder {mailbox} was reset (UIDVALIDITY {v} is now {now}); export it again"
            )));
        }
        match media.size {
            Some(size) if size > u64::from(chunk) => Ok(ranged(pooled, uid, size, chunk)),
            _ => {
                let mut fetched = fetch_body(pooled.conn(), uid, None).await?;
                if fetched.is_none() {
                    // This connection may not have seen the message arrive yet.
                    pooled.conn().open_mailbox(mailbox, true).await?;
                    fetched = fetch_body(pooled.conn(), uid, None).await?;
                }
                pooled.release();
                match fetched {
                    Some(f) => Ok(chunks_of(f)),
                    None => Err(Error::not_found(format!(
                        "message {uid} is no longer in {mailbox}"
                    ))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_cache_is_bounded_and_hands_out_once() {
        let mut c = BodyCache::default();
        c.put("a".into(), Bytes::from(vec![0u8; 10]));
        assert_eq!(c.take("a").map(|b| b.len()), Some(10));
        assert_eq!(c.take("a"), None);
        for i in 0..40 {
            c.put(format!("k{i}"), Bytes::from(vec![0u8; 1 << 20]));
        }
        assert!(c.bytes <= CACHE_MAX);
        assert_eq!(c.take("k0"), None, "the oldest went first");
        assert!(c.take("k39").is_some());
    }

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn media_keys_round_trip_with_colons_in_names() {
        let k = media_key(7, 42, "Work: 2024/Q1");
        assert_eq!(parse_media_key(&k), Some((7, 42, "Work: 2024/Q1")));
        assert_eq!(parse_media_key("rand:1:2"), None);
    }

    #[test]
    fn folder_paths_are_decoded() {
        let f = folder_model(&ListedFolder {
            name: "Archive/&ZeVnLIqe-".into(),
            separator: Some("/".into()),
            role: None,
            selectable: true,
        });
        assert_eq!(f.path, "Archive/日本語");
        assert_eq!(f.id, "Archive/&ZeVnLIqe-");
        let dot = folder_model(&ListedFolder {
            name: "INBOX.Sent".into(),
            separator: Some(".".into()),
            role: Some(SpecialUse::Sent),
            selectable: true,
        });
        assert_eq!(dot.path, "INBOX/Sent");
        assert_eq!(dot.role, Some(SpecialUse::Sent));
    }
}
