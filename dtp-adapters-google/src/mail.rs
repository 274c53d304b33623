//! Mail over the Gmail API (docs/provider-notes.md G5).
//!
//! **Export** ([`GmailExporter`]): `GET gmail/v1/users/me/labels` gives the
//! folders: every user label (nested names use `/`) up front, and the system
//! labels that hold mail (`INBOX`, `SENT`, `DRAFT`, `TRASH`, `SPAM`) on the
//! first page that needs them; a message with none of those is in
//! "All Mail" (`[Gmail]/All Mail`, role `ALL`). Messages come from
//! `messages.list` (with `includeSpamTrash=true`; empty pages that carry a
//! `nextPageToken` are followed) and `messages.get?format=raw`: the
//! base64url `raw` (decoded leniently, padded or not) is the RFC 5322
//! message, `UNREAD` ⇄ not seen, `STARRED` ⇄ flagged, `DRAFT` ⇄ draft, other
//! system labels (`IMPORTANT`, `CATEGORY_*`) travel as keywords, and the
//! string-typed `internalDate` (epoch ms) becomes the internal date. A
//! message is a [`MediaRef`] (`gmail:<id>`, exact size) whose bytes
//! [`open_media`](Exporter::open_media) serves from a small cache filled by
//! the export (else fetches it again).
//!
//! **Import** ([`GmailImporter`]): folders map to system labels by role or
//! name, others to user labels (an existing label of the same name is
//! reused). Messages go through `messages.import` with
//! `internalDateSource=dateHeader` (the original date), `neverMarkSpam=true`
//! and their label ids: as a JSON `raw` body up to
//! [`SIMPLE_UPLOAD_MAX`], above it as a streamed `multipart/related`
//! upload to `upload/gmail/v1/users/me/messages/import` (Gmail's media
//! upload path; at most [`UPLOAD_MAX`]).
//! Idempotent by Message-ID + hash: before importing, the importer searches
//! `rfc822msgid:` and compares the SHA-256 of the candidates' raw bytes, so
//! reruns and resumed runs add nothing (a message without Message-ID relies
//! on the job store alone).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use dtp_core::{
    AuthData, ByteStream, Cursor, Error, ExportContext, ExportPage, Exporter, ImportContext,
    Importer, MediaRef, RateLimit, Result,
};
use dtp_models::mail::{Flags, Folder, MailData, Message, RawMessage, SpecialUse};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::client::{Api, Body, GoogleClient, Request};
use crate::limits::{self, Side};

/// The largest message sent as a JSON `raw` body; larger ones use the media
/// upload path (the upload guide suggests simple uploads of 5 MB or less).
pub const SIMPLE_UPLOAD_MAX: u64 = 5 * 1024 * 1024;
/// The largest message `messages.import` takes: "the maximum size of the
/// message is 150MB" (the method's current description; older discovery
/// documents gave `maxSize` 50 MB). Larger messages fail alone, before any
/// byte is sent.
pub const UPLOAD_MAX: u64 = 157_286_400;
/// The synthetic folder of messages without a folder label.
pub const ALL_MAIL: &str = "ALL_MAIL";
/// Messages per export page (one `messages.get` each).
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Bytes of raw messages the exporter keeps for `open_media`.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// System labels that are folders: (label id, folder path, role).
const SYSTEM_FOLDERS: &[(&str, &str, &str)] = &[
    ("INBOX", "INBOX", "INBOX"),
    ("SENT", "Sent", "SENT"),
    ("DRAFT", "Drafts", "DRAFTS"),
    ("TRASH", "Trash", "TRASH"),
    ("SPAM", "Spam", "JUNK"),
];

/// Decodes base64url leniently (padded or not; the standard alphabet too).
pub fn decode_raw(s: &str) -> Result<Vec<u8>> {
    let t = s.trim().trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
        .map_err(|e| Error::invalid_data(format!("raw message is not base64url: {e}")))
}

/// Encodes base64url without padding (what Gmail sends).
pub fn encode_raw(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
}

fn system_folder(id: &str) -> Option<Folder> {
    SYSTEM_FOLDERS
        .iter()
        .find(|(l, _, _)| *l == id)
        .map(|(l, p, r)| Folder::new(*l, *p).with_role(SpecialUse::parse(r)))
        .or_else(|| {
            (id == ALL_MAIL).then(|| {
                Folder::new(ALL_MAIL, "[Gmail]/All Mail")
                    .with_role(SpecialUse::All)
                    .with_separator("/")
            })
        })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MailCursor {
    page_token: Option<String>,
    /// System folders already emitted.
    emitted: BTreeSet<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ListPage {
    messages: Vec<Value>,
    next_page_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Labels {
    labels: Vec<Value>,
}

#[derive(Default)]
struct Cache {
    order: VecDeque<String>,
    map: HashMap<String, Bytes>,
    bytes: usize,
}

impl Cache {
    fn put(&mut self, id: String, b: Bytes) {
        if b.len() > CACHE_BYTES / 4 {
            return;
        }
        self.bytes += b.len();
        self.map.insert(id.clone(), b);
        self.order.push_back(id);
        while self.bytes > CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.map.remove(&old) {
                self.bytes -= b.len();
            }
        }
    }

    fn take(&mut self, id: &str) -> Option<Bytes> {
        let b = self.map.remove(id)?;
        self.bytes -= b.len();
        self.order.retain(|x| x != id);
        Some(b)
    }
}

/// Exports Gmail labels and messages.
#[derive(Clone)]
pub struct GmailExporter {
    client: GoogleClient,
    page_size: u32,
    cache: Arc<Mutex<Cache>>,
}

impl std::fmt::Debug for GmailExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GmailExporter")
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl GmailExporter {
    /// An exporter over `client`, [`DEFAULT_PAGE_SIZE`] messages per page.
    pub fn new(client: GoogleClient) -> Self {
        GmailExporter {
            client,
            page_size: DEFAULT_PAGE_SIZE,
            cache: Arc::new(Mutex::new(Cache::default())),
        }
    }

    /// Sets the page size (1–500).
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, 500);
        self
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn get_raw(&self, auth: &AuthData, id: &str) -> Result<(Value, Vec<u8>)> {
        let mut m: Value = self
            .client
            .json(
                auth,
                Request::get(Api::Gmail, format!("gmail/v1/users/me/messages/{id}"))
                    .query("format", "raw"),
            )
            .await?;
        let raw = s(&m, "raw").ok_or_else(|| Error::invalid_data("message without raw"))?;
        let bytes = decode_raw(&raw)?;
        if let Some(o) = m.as_object_mut() {
            o.remove("raw");
        }
        Ok((m, bytes))
    }
}

/// Maps a `messages.get` answer (without `raw`) and the raw size to a
/// message.
fn message_from_gmail(m: &Value, size: u64) -> Result<(Message, Vec<String>)> {
    let id = s(m, "id").ok_or_else(|| Error::invalid_data("a message without id"))?;
    let labels: Vec<String> = m
        .get("labelIds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    let mut folders: Vec<String> = Vec::new();
    let mut flags = Flags::new().with_seen(true);
    for l in &labels {
        match l.as_str() {
            "UNREAD" => flags.seen = false,
            "STARRED" => flags.flagged = true,
            "CHAT" => {}
            "INBOX" | "SENT" | "TRASH" | "SPAM" => folders.push(l.clone()),
            "DRAFT" => {
                flags.draft = true;
                folders.push(l.clone());
            }
            other if other.starts_with("Label_") => folders.push(l.clone()),
            other => flags.keywords.push(other.to_string()),
        }
    }
    if folders.is_empty() {
        folders.push(ALL_MAIL.into());
    }
    let media = MediaRef::new(format!("gmail:{id}"))
        .with_size(size)
        .with_mime_type("message/rfc822");
    let mut msg = Message::new(&id, folders[0].clone(), media);
    for f in &folders[1..] {
        msg = msg.in_folder(f.clone());
    }
    msg = msg.with_flags(flags);
    if let Some(ms) = s(m, "internalDate").and_then(|x| x.parse::<i64>().ok())
        && let Some(d) = Utc.timestamp_millis_opt(ms).single()
    {
        msg = msg.with_internal_date(d.fixed_offset());
    }
    Ok((msg, folders))
}

#[async_trait]
impl Exporter<MailData> for GmailExporter {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<MailData>> {
        if cursor.is_root() {
            let labels: Labels = self
                .client
                .json(auth, Request::get(Api::Gmail, "gmail/v1/users/me/labels"))
                .await?;
            let mut out = ExportPage::new();
            for l in &labels.labels {
                if s(l, "type").as_deref() != Some("user") {
                    continue;
                }
                let (Some(id), Some(name)) = (s(l, "id"), s(l, "name")) else {
                    continue;
                };
                let mut f = Folder::new(id, name).with_separator("/");
                f.is_label = true;
                out = out.with_container(f);
            }
            return Ok(out.with_next(Cursor::new(&MailCursor {
                page_token: None,
                emitted: BTreeSet::new(),
            })?));
        }
        let mut cur: MailCursor = cursor.decode()?;
        let page: ListPage = self
            .client
            .json(
                auth,
                Request::get(Api::Gmail, "gmail/v1/users/me/messages")
                    .query("maxResults", self.page_size.to_string())
                    .query("includeSpamTrash", "true")
                    .query_opt("pageToken", cur.page_token.as_deref()),
            )
            .await?;
        let mut out = ExportPage::new();
        for m in &page.messages {
            let Some(id) = s(m, "id") else { continue };
            let (meta, bytes) = match self.get_raw(auth, &id).await {
                // Deleted since it was listed.
                Err(e) if *e.kind() == dtp_core::ErrorKind::NotFound => continue,
                other => other?,
            };
            if meta
                .get("labelIds")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|l| l == "CHAT"))
            {
                continue;
            }
            let (msg, folders) = message_from_gmail(&meta, bytes.len() as u64)?;
            for f in folders {
                if !f.starts_with("Label_")
                    && cur.emitted.insert(f.clone())
                    && let Some(folder) = system_folder(&f)
                {
                    out = out.with_container(folder);
                }
            }
            self.cache().put(id, Bytes::from(bytes));
            out = out.with_item(msg);
        }
        if let Some(t) = page.next_page_token.filter(|t| !t.is_empty()) {
            cur.page_token = Some(t);
            out = out.with_next(Cursor::new(&cur)?);
        }
        Ok(out)
    }

    async fn open_media(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        media: &MediaRef,
    ) -> Result<ByteStream> {
        let id = media.key.strip_prefix("gmail:").ok_or_else(|| {
            Error::invalid_data(format!("not a Gmail message key `{}`", media.key))
        })?;
        let cached = self.cache().take(id);
        let bytes = match cached {
            Some(b) => b,
            None => Bytes::from(self.get_raw(auth, id).await?.1),
        };
        Ok(Box::pin(futures::stream::once(async move { Ok(bytes) })))
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        let c = self.client.config();
        c.rate_limits
            .then(|| limits::rate_limit(Api::Gmail, Side::Export, &c.account, self.page_size))
    }
}

// ---------------------------------------------------------------- import

/// Imports Gmail labels and messages.
#[derive(Clone)]
pub struct GmailImporter {
    client: GoogleClient,
    labels: Arc<tokio::sync::Mutex<Option<HashMap<String, String>>>>,
}

impl std::fmt::Debug for GmailImporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GmailImporter")
    }
}

/// The Message-ID header of a raw message (unfolded, without `<>`).
pub fn message_id(raw: &[u8]) -> Option<String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut value: Option<String> = None;
    for line in head.lines() {
        if let Some(v) = &mut value {
            if line.starts_with([' ', '\t']) {
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((name, v)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("message-id")
        {
            value = Some(v.trim().to_string());
        }
    }
    let v = value?;
    let v = v
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!v.is_empty()).then(|| v.to_string())
}

impl GmailImporter {
    /// An importer over `client`.
    pub fn new(client: GoogleClient) -> Self {
        GmailImporter {
            client,
            labels: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// The id of the user label `name`, created if missing.
    async fn label(&self, auth: &AuthData, name: &str) -> Result<String> {
        let mut guard = self.labels.lock().await;
        if guard.is_none() {
            let labels: Labels = self
                .client
                .json(auth, Request::get(Api::Gmail, "gmail/v1/users/me/labels"))
                .await?;
            *guard = Some(
                labels
                    .labels
                    .iter()
                    .filter_map(|l| Some((s(l, "name")?.to_lowercase(), s(l, "id")?)))
                    .collect(),
            );
        }
        let map = guard.get_or_insert_with(HashMap::new);
        if let Some(id) = map.get(&name.to_lowercase()) {
            return Ok(id.clone());
        }
        let created: Value = match self
            .client
            .json(
                auth,
                Request::post(Api::Gmail, "gmail/v1/users/me/labels").json(&json!({
                    "name": name,
                    "labelListVisibility": "labelShow",
                    "messageListVisibility": "show"
                }))?,
            )
            .await
        {
            Ok(v) => v,
            // Created by an attempt whose answer was lost (the retry meets
            // a conflict), or meanwhile: read the labels again.
            Err(e) => {
                *guard = None;
                drop(guard);
                if e.is_retryable()
                    || crate::error::google_error(&e).is_some_and(|g| g.http_status == 409)
                {
                    let labels: Labels = self
                        .client
                        .json(auth, Request::get(Api::Gmail, "gmail/v1/users/me/labels"))
                        .await?;
                    if let Some(id) = labels.labels.iter().find_map(|l| {
                        (s(l, "name")?.to_lowercase() == name.to_lowercase()).then(|| s(l, "id"))?
                    }) {
                        return Ok(id);
                    }
                }
                return Err(e);
            }
        };
        let id =
            s(&created, "id").ok_or_else(|| Error::invalid_data("labels.create returned no id"))?;
        map.insert(name.to_lowercase(), id.clone());
        Ok(id)
    }

    /// A message already in the mailbox with this Message-ID and these
    /// exact bytes.
    async fn existing(&self, auth: &AuthData, raw: &[u8]) -> Result<Option<String>> {
        let Some(mid) = message_id(raw) else {
            return Ok(None);
        };
        let page: ListPage = self
            .client
            .json(
                auth,
                Request::get(Api::Gmail, "gmail/v1/users/me/messages")
                    .query("q", format!("rfc822msgid:{mid}"))
                    .query("includeSpamTrash", "true"),
            )
            .await?;
        let want = Sha256::digest(raw);
        for m in &page.messages {
            let Some(id) = s(m, "id") else { continue };
            let got: Value = self
                .client
                .json(
                    auth,
                    Request::get(Api::Gmail, format!("gmail/v1/users/me/messages/{id}"))
                        .query("format", "raw"),
                )
                .await?;
            let bytes = decode_raw(&s(&got, "raw").unwrap_or_default())?;
            if Sha256::digest(&bytes) == want {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    async fn read_all(ctx: &ImportContext, m: &Message) -> Result<Vec<u8>> {
        match &m.raw {
            RawMessage::Inline(b) => Ok(b.as_slice().to_vec()),
            RawMessage::Ref(r) => {
                if r.size.is_some_and(|n| n > UPLOAD_MAX) {
                    return Err(too_large(r.size.unwrap_or_default()));
                }
                let mut stream = ctx.open_media(r).await?;
                let mut out = Vec::with_capacity(r.size.unwrap_or(0) as usize);
                while let Some(chunk) = stream.next().await {
                    out.extend_from_slice(&chunk?);
                    if out.len() as u64 > UPLOAD_MAX {
                        return Err(too_large(out.len() as u64));
                    }
                }
                Ok(out)
            }
            _ => Err(Error::unsupported("unknown raw message form")),
        }
    }

    fn label_ids(ctx: &ImportContext, m: &Message) -> Vec<String> {
        let mut ids: Vec<String> = m
            .folder_ids
            .iter()
            .filter_map(|f| ctx.container_id(f))
            .filter(|l| l != ALL_MAIL)
            .collect();
        if !m.flags.seen {
            ids.push("UNREAD".into());
        }
        if m.flags.flagged {
            ids.push("STARRED".into());
        }
        for k in &m.flags.keywords {
            if k == "IMPORTANT" || k.starts_with("CATEGORY_") {
                ids.push(k.clone());
            }
        }
        ids.sort();
        ids.dedup();
        ids
    }

    async fn import_raw(&self, auth: &AuthData, raw: Vec<u8>, labels: &[String]) -> Result<String> {
        let len = raw.len() as u64;
        let req = if len <= SIMPLE_UPLOAD_MAX {
            Request::post(Api::Gmail, "gmail/v1/users/me/messages/import")
                .json(&json!({"raw": encode_raw(&raw), "labelIds": labels}))?
        } else {
            // multipart/related: the metadata, then the message bytes.
            let boundary = format!(
                "dtp-{:x}",
                Sha256::digest(&raw)[..8]
                    .iter()
                    .fold(0u64, |a, b| a << 8 | u64::from(*b))
            );
            let head = format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{}\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n",
                json!({"labelIds": labels})
            );
            let tail = format!("\r\n--{boundary}--\r\n");
            let total = head.len() as u64 + len + tail.len() as u64;
            let chunks: Vec<Result<Bytes>> = std::iter::once(Ok(Bytes::from(head)))
                .chain(
                    raw.chunks(256 * 1024)
                        .map(|c| Ok(Bytes::copy_from_slice(c)))
                        .collect::<Vec<_>>(),
                )
                .chain(std::iter::once(Ok(Bytes::from(tail))))
                .collect();
            Request::post(Api::Gmail, "upload/gmail/v1/users/me/messages/import")
                .query("uploadType", "multipart")
                .body(Body::Stream {
                    content_type: format!("multipart/related; boundary={boundary}"),
                    len: Some(total),
                    stream: Box::pin(futures::stream::iter(chunks)),
                })
        };
        let created: Value = self
            .client
            .json(
                auth,
                req.query("internalDateSource", "dateHeader")
                    .query("neverMarkSpam", "true")
                    .query("processForCalendar", "false"),
            )
            .await?;
        s(&created, "id").ok_or_else(|| Error::invalid_data("messages.import returned no id"))
    }
}

fn too_large(n: u64) -> Error {
    Error::invalid_data(format!(
        "the message has {n} bytes; Gmail imports at most {UPLOAD_MAX}"
    ))
}

/// The destination label of `f`: a system label by role or name, else a
/// user label by name.
fn system_label_for(f: &Folder) -> Option<&'static str> {
    let by_role = match &f.role {
        Some(SpecialUse::Inbox) => Some("INBOX"),
        Some(SpecialUse::Sent) => Some("SENT"),
        Some(SpecialUse::Drafts) => Some("DRAFT"),
        Some(SpecialUse::Trash) => Some("TRASH"),
        Some(SpecialUse::Junk) => Some("SPAM"),
        Some(SpecialUse::All) | Some(SpecialUse::Archive) => Some(ALL_MAIL),
        Some(SpecialUse::Flagged) => Some("STARRED"),
        _ => None,
    };
    by_role.or_else(|| {
        let p = f.path.as_str();
        SYSTEM_FOLDERS
            .iter()
            .find(|(id, path, _)| p.eq_ignore_ascii_case(id) || p.eq_ignore_ascii_case(path))
            .map(|(id, _, _)| *id)
    })
}

#[async_trait]
impl Importer<MailData> for GmailImporter {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        f: &Folder,
    ) -> Result<dtp_core::Imported> {
        async move {
            if let Some(l) = system_label_for(f) {
                return Ok(l.to_string());
            }
            self.label(auth, &f.path).await
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        f: &Folder,
    ) -> Result<Option<String>> {
        // Creating is idempotent by name already.
        self.import_container(ctx, auth, f)
            .await
            .map(|made| Some(made.id))
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        m: &Message,
    ) -> Result<dtp_core::Imported> {
        async move {
            let raw = Self::read_all(ctx, m).await?;
            if let Some(id) = self.existing(auth, &raw).await? {
                return Ok(id);
            }
            let labels = Self::label_ids(ctx, m);
            self.import_raw(auth, raw, &labels).await
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        m: &Message,
    ) -> Result<Option<String>> {
        let raw = Self::read_all(ctx, m).await?;
        self.existing(auth, &raw).await
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        let c = self.client.config();
        c.rate_limits
            .then(|| limits::rate_limit(Api::Gmail, Side::Import, &c.account, 0))
    }
}

/// The epoch milliseconds of a raw message's `Date` header, if readable.
pub fn date_header_millis(raw: &[u8]) -> Option<i64> {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(64 * 1024)]);
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some((name, v)) = line.split_once(':')
            && name.eq_ignore_ascii_case("date")
        {
            let v = v.trim();
            let v = v.split(" (").next().unwrap_or(v);
            return DateTime::parse_from_rfc2822(v)
                .ok()
                .map(|d| d.timestamp_millis());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_decodes_leniently() {
        let raw = b"Subject: \xc3\xa4?\r\n\r\nhi>>>";
        let enc = encode_raw(raw);
        assert!(!enc.contains('=') && !enc.contains('+') && !enc.contains('/'));
        assert_eq!(decode_raw(&enc).unwrap(), raw);
        let padded = base64::engine::general_purpose::URL_SAFE.encode(raw);
        assert_eq!(decode_raw(&padded).unwrap(), raw);
        assert!(decode_raw("!!!").is_err());
    }

    #[test]
    fn message_ids_and_dates_are_read_from_headers() {
        let raw = b"From: a@b\r\nMessage-ID:\r\n <abc@x.example>\r\nDate: Mon, 1 Jan 2024 10:05:00 +0000\r\n\r\nMessage-ID: <body@no>\r\n";
        assert_eq!(message_id(raw).as_deref(), Some("abc@x.example"));
        assert_eq!(date_header_millis(raw), Some(1_704_103_500_000));
        assert_eq!(message_id(b"Subject: x\r\n\r\n"), None);
    }

    #[test]
    fn labels_map_to_folders_and_flags() {
        let (m, folders) = message_from_gmail(
            &json!({"id": "18c", "labelIds": ["INBOX", "UNREAD", "STARRED", "Label_3", "IMPORTANT", "CATEGORY_PERSONAL"],
                "internalDate": "1700000000000", "historyId": "123", "sizeEstimate": 2048}),
            10,
        )
        .unwrap();
        assert_eq!(folders, ["INBOX", "Label_3"]);
        assert!(!m.flags.seen && m.flags.flagged);
        assert_eq!(m.flags.keywords, ["IMPORTANT", "CATEGORY_PERSONAL"]);
        assert_eq!(
            m.internal_date.unwrap().timestamp_millis(),
            1_700_000_000_000
        );
        let (_, folders) = message_from_gmail(&json!({"id": "1", "labelIds": []}), 1).unwrap();
        assert_eq!(folders, [ALL_MAIL]);
    }
}
