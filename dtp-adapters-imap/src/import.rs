//! Import: folders (special-use roles mapped onto the destination's own),
//! then messages by streaming APPEND, de-duplicated by Message-ID (or a
//! content hash when there is none).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use dtp_core::{AuthData, ByteStream, Error, ErrorKind, ImportContext, Importer, Result};
use dtp_models::mail::{Flags, Folder, HeaderView, MailData, Message, RawMessage, SpecialUse};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::config::ImapConfig;
use crate::conn::{Conn, Pool, quote, timed};
use crate::error::{self, Op};
use crate::export::{ListedFolder, list_folders};
use crate::utf7;

/// The most header bytes read before APPEND to find the Message-ID (a header
/// block this large is pathological; such a message is matched by content).
const HEAD_LIMIT: usize = 8 << 20;

/// Writes mail into an IMAP account.
///
/// Folders are created by path (each segment in modified UTF-7, joined with
/// the destination's separator); a folder with a special-use role (Sent,
/// Drafts, Trash, Junk, Archive) or the inbox maps onto the destination's
/// own folder of that role. Messages are appended with their flags and
/// internal date; a message already in the folder (same Message-ID and size,
/// or, without a Message-ID, the same bytes) is not appended again, so reruns
/// and resumed transfers never duplicate. A message in several folders
/// (labels) is appended once and copied (`UID COPY`) into the others.
#[derive(Debug)]
pub struct ImapImporter {
    pool: Arc<Pool>,
    folders: tokio::sync::Mutex<Option<DestFolders>>,
    indexes: Mutex<HashMap<String, Arc<FolderSlot>>>,
}

/// A destination folder's index, and whether it may be out of date: set by
/// an APPEND or COPY that did not finish (an error, or a cancelled future
/// when the process is stopping), so the next lookup asks the server again.
#[derive(Debug, Default)]
struct FolderSlot {
    index: tokio::sync::Mutex<FolderIndex>,
    stale: std::sync::atomic::AtomicBool,
    /// Held (shared) by every APPEND in flight.
    appending: Arc<tokio::sync::RwLock<()>>,
}

/// Marks a folder stale when dropped before [`StaleOnDrop::disarm`].
struct StaleOnDrop<'a>(Option<&'a std::sync::atomic::AtomicBool>);

impl StaleOnDrop<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for StaleOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(flag) = self.0 {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[derive(Debug)]
struct DestFolders {
    separator: String,
    by_role: HashMap<SpecialUse, String>,
    names: std::collections::HashSet<String>,
}

/// What a destination folder holds, to recognise messages already there.
#[derive(Debug, Default)]
struct FolderIndex {
    loaded: bool,
    uid_validity: u32,
    entries: Vec<Entry>,
    /// UID → the source item that claimed it (so two distinct source
    /// messages with identical bytes stay two messages).
    claims: HashMap<u32, String>,
}

#[derive(Debug)]
struct Entry {
    uid: u32,
    size: u64,
    message_id: Option<String>,
    sha256: Option<[u8; 32]>,
}

/// The bytes of one source message: what was read so far, and the rest.
struct Source {
    head: Bytes,
    rest: Option<ByteStream>,
    size: u64,
    message_id: Option<String>,
}

impl Source {
    /// Reads the whole message into one buffer (when a content hash is
    /// needed); the stream is consumed.
    async fn whole(&mut self) -> Result<Bytes> {
        if let Some(mut rest) = self.rest.take() {
            let mut buf = BytesMut::with_capacity(self.size as usize);
            buf.extend_from_slice(&self.head);
            while let Some(chunk) = rest.next().await {
                buf.extend_from_slice(&chunk?);
            }
            self.head = buf.freeze();
        }
        Ok(self.head.clone())
    }
}

fn header_end(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
}

fn message_id_of(head: &[u8]) -> Option<String> {
    HeaderView::parse(head)
        .message_id
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
}

async fn open_source(ctx: &ImportContext, msg: &Message) -> Result<Source> {
    match &msg.raw {
        RawMessage::Inline(_) => {
            let bytes = Bytes::copy_from_slice(msg.raw.inline_bytes().unwrap_or_default());
            Ok(Source {
                size: bytes.len() as u64,
                message_id: message_id_of(&bytes),
                head: bytes,
                rest: None,
            })
        }
        RawMessage::Ref(media) => {
            let mut stream = ctx.open_media(media).await?;
            let mut head = BytesMut::new();
            let mut ended = false;
            while !header_end(&head) && head.len() < HEAD_LIMIT {
                match stream.next().await {
                    Some(chunk) => head.extend_from_slice(&chunk?),
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            let mut src = Source {
                head: head.freeze(),
                rest: if ended { None } else { Some(stream) },
                size: 0,
                message_id: None,
            };
            src.message_id = message_id_of(&src.head);
            src.size = match media.size {
                Some(s) => s,
                // Without a size up front the literal length is unknown: read it
                // once into memory.
                None => src.whole().await?.len() as u64,
            };
            Ok(src)
        }
        _ => Err(Error::unsupported("unknown raw message form")),
    }
}

fn flag_list(flags: &Flags) -> String {
    let mut out: Vec<String> = Vec::new();
    for (on, name) in [
        (flags.seen, "\\Seen"),
        (flags.answered, "\\Answered"),
        (flags.flagged, "\\Flagged"),
        (flags.draft, "\\Draft"),
        (flags.deleted, "\\Deleted"),
    ] {
        if on {
            out.push(name.to_string());
        }
    }
    for k in &flags.keywords {
        let atom = !k.is_empty()
            && k.bytes().all(|b| {
                b.is_ascii_graphic()
                    && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
            });
        if atom {
            out.push(k.clone());
        } else {
            tracing::warn!(keyword = %k, "keyword is not an IMAP atom; left out");
        }
    }
    if out.is_empty() {
        String::new()
    } else {
        format!("({})", out.join(" "))
    }
}

fn item_id(uid_validity: u32, uid: u32, mailbox: &str) -> String {
    format!("{uid_validity}:{uid}:{mailbox}")
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl ImapImporter {
    /// An importer into the account at `config`.
    pub fn new(config: ImapConfig) -> Self {
        ImapImporter {
            pool: Arc::new(Pool::new(config)),
            folders: tokio::sync::Mutex::new(None),
            indexes: Mutex::new(HashMap::new()),
        }
    }

    fn index(&self, mailbox: &str) -> Arc<FolderSlot> {
        self.indexes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(mailbox.to_string())
            .or_default()
            .clone()
    }

    /// Where `folder` goes at the destination: `(name, exists)`.
    async fn destination_of(
        &self,
        conn: &mut Conn,
        folder: &Folder,
        refresh: bool,
    ) -> Result<(String, bool)> {
        let mut guard = self.folders.lock().await;
        if guard.is_none() || refresh {
            let listed = list_folders(conn).await?;
            *guard = Some(dest_folders(&listed));
        }
        let dest = guard
            .as_ref()
            .ok_or_else(|| Error::internal("folders not listed"))?;
        if folder.role == Some(SpecialUse::Inbox) || folder.path.eq_ignore_ascii_case("INBOX") {
            return Ok(("INBOX".to_string(), true));
        }
        if let Some(role) = folder.role.clone()
            && matches!(
                role,
                SpecialUse::Sent
                    | SpecialUse::Drafts
                    | SpecialUse::Trash
                    | SpecialUse::Junk
                    | SpecialUse::Archive
            )
            && let Some(name) = dest.by_role.get(&role)
        {
            return Ok((name.clone(), true));
        }
        let sep = dest.separator.as_str();
        let name = folder
            .path
            .split('/')
            .map(|seg| {
                let seg = if sep.is_empty() {
                    seg.to_string()
                } else {
                    seg.replace(sep, "_")
                };
                utf7::encode(&seg)
            })
            .collect::<Vec<_>>()
            .join(if sep.is_empty() { "/" } else { sep });
        let exists = dest.names.contains(&name);
        Ok((name, exists))
    }

    /// Loads (or reloads) what `mailbox` holds.
    async fn load_index(conn: &mut Conn, mailbox: &str, index: &mut FolderIndex) -> Result<()> {
        let v = conn.open_mailbox(mailbox, true).await?;
        let timeout = conn.timeout();
        let session = &mut conn.session;
        let fetched: Result<Vec<async_imap::types::Fetch>> = timed(timeout, async {
            session
                .uid_fetch(
                    "1:*".to_string(),
                    "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
                )
                .await
                .map_err(|e| error::map(Op::Other, e))?
                .try_collect()
                .await
                .map_err(|e| error::map(Op::Other, e))
        })
        .await;
        let fetched = match fetched {
            Ok(f) => f,
            // An empty mailbox: some servers answer `1:*` with NO/BAD.
            Err(e) if *e.kind() == ErrorKind::InvalidData => Vec::new(),
            Err(e) => return Err(e),
        };
        conn.drain();
        let mut entries = Vec::with_capacity(fetched.len());
        for f in &fetched {
            let Some(uid) = f.uid else { continue };
            entries.push(Entry {
                uid,
                size: u64::from(f.size.unwrap_or(0)),
                message_id: f.header().and_then(message_id_of),
                sha256: None,
            });
        }
        if index.uid_validity != v {
            index.claims.clear();
        }
        index.uid_validity = v;
        index.entries = entries;
        index.loaded = true;
        Ok(())
    }

    /// Finds the message of `src` (claimed for `key`) in `mailbox`.
    async fn find_in(
        &self,
        conn: &mut Conn,
        mailbox: &str,
        src: &mut Source,
        key: &str,
    ) -> Result<Option<String>> {
        let slot = self.index(mailbox);
        if slot.stale.load(std::sync::atomic::Ordering::SeqCst) {
            // An APPEND whose caller went away may still be running: let it
            // finish, so the reload below sees what it stored.
            drop(slot.appending.write().await);
        }
        let mut index = slot.index.lock().await;
        if slot.stale.swap(false, std::sync::atomic::Ordering::SeqCst) || !index.loaded {
            Self::load_index(conn, mailbox, &mut index).await?;
        }
        let idx = &mut *index;
        let claimable = |e: &Entry, claims: &HashMap<u32, String>| {
            e.size == src.size && claims.get(&e.uid).is_none_or(|k| k == key)
        };
        let found = match &src.message_id {
            Some(id) => idx
                .entries
                .iter()
                .find(|e| e.message_id.as_deref() == Some(id) && claimable(e, &idx.claims))
                .map(|e| e.uid),
            None => {
                let candidates: Vec<usize> = idx
                    .entries
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| claimable(e, &idx.claims))
                    .map(|(i, _)| i)
                    .collect();
                let mut hit = None;
                if !candidates.is_empty() {
                    let want = sha(&src.whole().await?);
                    for i in candidates {
                        if idx.entries[i].sha256.is_none() {
                            let uid = idx.entries[i].uid;
                            conn.open_mailbox(mailbox, true).await?;
                            let timeout = conn.timeout();
                            let session = &mut conn.session;
                            let fetched: Vec<async_imap::types::Fetch> = timed(timeout, async {
                                session
                                    .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                                    .await
                                    .map_err(|e| error::map(Op::Other, e))?
                                    .try_collect()
                                    .await
                                    .map_err(|e| error::map(Op::Other, e))
                            })
                            .await?;
                            conn.drain();
                            idx.entries[i].sha256 = fetched
                                .iter()
                                .find(|f| f.uid == Some(uid))
                                .and_then(|f| f.body())
                                .map(sha);
                        }
                        if idx.entries[i].sha256 == Some(want) {
                            hit = Some(idx.entries[i].uid);
                            break;
                        }
                    }
                }
                hit
            }
        };
        Ok(found.map(|uid| {
            idx.claims.insert(uid, key.to_string());
            item_id(idx.uid_validity, uid, mailbox)
        }))
    }

    fn destinations(ctx: &ImportContext, msg: &Message) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for fid in &msg.folder_ids {
            let name = ctx.require_container(fid)?;
            if !out.contains(&name) {
                out.push(name);
            }
        }
        if out.is_empty() {
            return Err(Error::invalid_data(format!(
                "message {} is in no folder",
                msg.id
            )));
        }
        Ok(out)
    }

    async fn import_message(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        msg: &Message,
        create: bool,
    ) -> Result<Option<String>> {
        let dests = Self::destinations(ctx, msg)?;
        let key = msg.id.clone();
        let mut src = open_source(ctx, msg).await?;
        let mut pooled = self.pool.get(auth).await?;
        let primary = &dests[0];
        let existing = self.find_in(pooled.conn(), primary, &mut src, &key).await?;
        let (id, v, uid) = match existing {
            Some(id) => {
                let (v, uid) = parse_item_id(&id).unwrap_or((0, 0));
                (id, v, uid)
            }
            None if !create => {
                pooled.release();
                return Ok(None);
            }
            None => {
                let date = msg
                    .internal_date
                    .map(|d| d.format("%d-%b-%Y %H:%M:%S %z").to_string());
                let Source {
                    head,
                    rest,
                    size,
                    message_id,
                } = src;
                let slot = self.index(primary);
                let unfinished = StaleOnDrop(Some(&slot.stale));
                // The APPEND runs as its own task: if this import is dropped
                // (the process is stopping), it still finishes and reads the
                // server's answer, and a later lookup waits for it.
                let permit = slot.appending.clone().read_owned().await;
                let flags = flag_list(&msg.flags);
                let mailbox = primary.clone();
                let task = tokio::spawn(async move {
                    let appended = pooled
                        .conn()
                        .append_stream(&mailbox, &flags, date.as_deref(), size, head, rest)
                        .await;
                    drop(permit);
                    (pooled, appended)
                });
                let appended;
                (pooled, appended) = task
                    .await
                    .map_err(|e| Error::internal(format!("the APPEND task failed: {e}")))?;
                let mut index = slot.index.lock().await;
                let done = match appended {
                    Ok(Some((v, uid))) if index.loaded && index.uid_validity == v => {
                        if !index.entries.iter().any(|e| e.uid == uid) {
                            index.entries.push(Entry {
                                uid,
                                size,
                                message_id,
                                sha256: None,
                            });
                        }
                        index.claims.insert(uid, key.clone());
                        (item_id(v, uid, primary), v, uid)
                    }
                    Ok(Some((v, uid))) => {
                        index.loaded = false;
                        (item_id(v, uid, primary), v, uid)
                    }
                    Ok(None) => {
                        // No UIDPLUS: learn the UID on the next lookup.
                        index.loaded = false;
                        (item_id(0, 0, primary), 0, 0)
                    }
                    Err(e) => {
                        // The server may have stored it before the failure:
                        // look again before any retry appends.
                        index.loaded = false;
                        return Err(e.with_item(msg.id.clone()));
                    }
                };
                unfinished.disarm();
                done
            }
        };
        // Labels: the same message in the other folders, by server-side copy.
        let conn = pooled.conn();
        for other in &dests[1..] {
            if uid == 0 {
                break;
            }
            let index = self.index(other);
            // Already there (a rerun, or a resumed run)? Recognised by content.
            let mut again = open_source(ctx, msg).await?;
            let found = self.find_in(conn, other, &mut again, &key).await?;
            drop(again);
            if found.is_some() || !create {
                continue;
            }
            let now = conn.open_mailbox(primary, false).await?;
            if now != v {
                break;
            }
            let _unfinished = StaleOnDrop(Some(&index.stale));
            let timeout = conn.timeout();
            let session = &mut conn.session;
            let target = quote(other)?;
            timed(timeout, async {
                session
                    .run_command_and_check_ok(format!("UID COPY {uid} {target}"))
                    .await
                    .map_err(|e| error::map(Op::Append, e))
            })
            .await?;
            conn.drain();
            index.index.lock().await.loaded = false;
        }
        pooled.release();
        Ok(Some(id))
    }
}

fn parse_item_id(id: &str) -> Option<(u32, u32)> {
    let mut parts = id.splitn(3, ':');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn dest_folders(listed: &[ListedFolder]) -> DestFolders {
    let separator = listed
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case("INBOX"))
        .or_else(|| listed.first())
        .and_then(|f| f.separator.clone())
        .unwrap_or_else(|| "/".to_string());
    let mut by_role = HashMap::new();
    for f in listed.iter().filter(|f| f.selectable) {
        if let Some(role) = f.role.clone() {
            by_role.entry(role).or_insert_with(|| f.name.clone());
        }
    }
    DestFolders {
        separator,
        by_role,
        names: listed
            .iter()
            .filter(|f| f.selectable)
            .map(|f| f.name.clone())
            .collect(),
    }
}

#[async_trait]
impl Importer<MailData> for ImapImporter {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        folder: &Folder,
    ) -> Result<dtp_core::Imported> {
        async move {
            let mut pooled = self.pool.get(auth).await?;
            let conn = pooled.conn();
            let (name, exists) = self.destination_of(conn, folder, false).await?;
            if !exists {
                let timeout = conn.timeout();
                let session = &mut conn.session;
                let created = timed(timeout, async {
                    session
                        .create(&name)
                        .await
                        .map_err(|e| error::map(Op::Other, e))
                })
                .await;
                if let Err(e) = created {
                    // Created meanwhile (another run): fine if it is there now.
                    let (_, now) = self.destination_of(conn, folder, true).await?;
                    if !now {
                        return Err(e.with_item(folder.id.clone()));
                    }
                }
                conn.drain();
                if let Some(dest) = self.folders.lock().await.as_mut() {
                    dest.names.insert(name.clone());
                }
            }
            pooled.release();
            Ok(name)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        msg: &Message,
    ) -> Result<dtp_core::Imported> {
        async move {
            self.import_message(ctx, auth, msg, true)
                .await?
                .ok_or_else(|| Error::internal("append returned no id"))
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        folder: &Folder,
    ) -> Result<Option<String>> {
        let mut pooled = self.pool.get(auth).await?;
        let (name, exists) = self.destination_of(pooled.conn(), folder, true).await?;
        pooled.release();
        Ok(exists.then_some(name))
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        msg: &Message,
    ) -> Result<Option<String>> {
        self.import_message(ctx, auth, msg, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_an_imap_list() {
        let f = Flags::new()
            .with_seen(true)
            .with_flagged(true)
            .with_keyword("$Forwarded")
            .with_keyword("bad word");
        assert_eq!(flag_list(&f), "(\\Seen \\Flagged $Forwarded)");
        assert_eq!(flag_list(&Flags::new()), "");
    }

    #[test]
    fn message_ids_come_from_the_head() {
        assert_eq!(
            message_id_of(b"Subject: x\r\nMessage-ID: <a@b>\r\n\r\nbody").as_deref(),
            Some("a@b")
        );
        assert_eq!(message_id_of(b"Subject: x\r\n\r\nbody"), None);
        assert!(header_end(b"A: b\n\nbody"));
        assert!(!header_end(b"A: b\r\nB: c"));
    }
}
