//! Outlook mail (`/me/mailFolders`, `/me/messages`).
//!
//! **Export** walks the folder tree (`GET /me/mailFolders`, then each
//! folder's `childFolders`), a folder's path being its ancestors' display
//! names joined by `/` (the Inbox is `INBOX`, as in IMAP). On import a
//! folder with a role goes to the mailbox's well-known folder of that role
//! (wherever the source kept it); other paths are created level by level
//! under the root (or under the Inbox for `INBOX/…`). The well-known
//! folders (`inbox`, `sentitems`, `drafts`, `deleteditems`, `junkemail`,
//! `archive`) get their role. A folder is exported when it holds messages,
//! or when it is an empty leaf that is not a well-known folder (pure parents
//! come back through their children's paths). Messages are listed page by
//! page (`@odata.nextLink`) and their bytes are the MIME that
//! `GET /me/messages/{id}/$value` streams. Flags: `isRead` → seen,
//! `flag.flagStatus == flagged` → flagged, `isDraft` → draft, categories →
//! keywords; the internal date is `receivedDateTime`.
//!
//! **Import: the MIME path.** Each message is created from its MIME bytes
//! (`POST /me/messages`, `Content-Type: text/plain`, body = base64 of the
//! whole message), then updated (`PATCH`: `isRead`, `flag`, categories,
//! and two single-value extended properties: the idempotency key and the
//! original flags and date), then moved into its folder
//! (`POST /me/messages/{id}/move`). Graph forces two things on this path:
//!
//! * the message is a **draft**: `PidTagMessageFlags` (0x0E07) keeps
//!   `mfUnsent`, it cannot be set in the MIME create and is read-only once
//!   the item is saved ([MS-OXCMSG] 2.2.1.6);
//! * `receivedDateTime` is the **import time** (`sentDateTime` comes from
//!   the MIME `Date`).
//!
//! The alternative, a JSON create with `singleValueExtendedProperties`
//! `Integer 0x0E07 = 1` (non-draft, read), would keep the draft bit right
//! but rebuild the message from JSON fields: the original headers, MIME
//! structure, signatures and inline parts would be lost and attachments
//! would need separate uploads. This adapter takes the **MIME path**,
//! because the message content is what a portability tool must not damage;
//! the original draft bit, answered / deleted flags and internal date are
//! kept in the extended property, so exporting the message again (to an
//! archive, IMAP, another account) restores them. In Outlook itself the
//! imported messages show as drafts sorted by import date.
//!
//! **Idempotency**: the key is the Message-ID plus the SHA-256 of the bytes
//! (`mid:<id>|sha256:<hex>`). Before creating, the importer looks for
//! messages with that Message-ID (`$filter=internetMessageId eq '…'`) and
//! takes one carrying the key, or, after a crash between create and update,
//! one whose MIME hashes the same; a message without Message-ID is found by
//! the key alone.
//!
//! Messages whose base64 form exceeds Graph's 4 MB request limit are
//! refused as `unsupported` (large messages would need an attachment upload
//! session; not done).

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use dtp_core::{
    AuthData, ByteStream, Cursor, Error, ErrorKind, ExportContext, ExportPage, Exporter,
    ImportContext, Importer, MediaRef, RateLimit, Result,
};
use dtp_models::mail::{Flags, Folder, MailData, Message, RawMessage, SpecialUse};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::client::{GraphClient, GraphRequest, Page, odata_string, segment};
use crate::ext::{self, ExtendedProperty};

/// Messages per page.
const PAGE: usize = 50;

/// The largest message imported: its base64 (4,000,000 characters) stays
/// under Graph's 4 MB request limit.
pub const MAX_MIME_BYTES: usize = 3_000_000;

/// Well-known folder names and their roles.
const WELL_KNOWN: [(&str, SpecialUse); 6] = [
    ("inbox", SpecialUse::Inbox),
    ("sentitems", SpecialUse::Sent),
    ("drafts", SpecialUse::Drafts),
    ("deleteditems", SpecialUse::Trash),
    ("junkemail", SpecialUse::Junk),
    ("archive", SpecialUse::Archive),
];

/// The id of the extended property holding the original flags and date.
pub fn extra_id() -> String {
    format!("String {} Name dtpMailExtra", ext::PROPERTY_SET)
}

/// Outlook mail through Graph: exporter and importer.
#[derive(Debug, Clone)]
pub struct OutlookMail {
    client: GraphClient,
}

impl OutlookMail {
    /// The mailbox `client` acts for.
    pub fn new(client: GraphClient) -> Self {
        OutlookMail { client }
    }

    fn messages_url(&self, folder: &str) -> Result<url::Url> {
        // Only the original flags and date are needed on export.
        let expand = ext::expand(&extra_id());
        let q = ext::query(&[
            ("$top", &PAGE.to_string()),
            (
                "$select",
                "id,internetMessageId,isRead,isDraft,flag,categories,receivedDateTime",
            ),
            ("$expand", &expand),
        ]);
        self.client
            .url(&format!("me/mailFolders/{}/messages?{q}", segment(folder)))
    }

    fn folders_url(&self, parent: Option<&str>) -> Result<url::Url> {
        match parent {
            None => self.client.url("me/mailFolders?%24top=100"),
            Some(p) => self.client.url(&format!(
                "me/mailFolders/{}/childFolders?%24top=100",
                segment(p)
            )),
        }
    }

    /// Ids of the well-known folders (a missing one is skipped).
    async fn well_known(&self, auth: &AuthData) -> Result<Vec<(String, SpecialUse)>> {
        let mut out = Vec::new();
        for (name, role) in WELL_KNOWN {
            let url = self.client.url(&format!("me/mailFolders/{name}"))?;
            match self.client.get_json::<GraphFolder>(auth, url).await {
                Ok(f) => out.push((f.id, role)),
                Err(e) if *e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum MailCursor {
    Folders {
        url: String,
        parent_path: Option<String>,
        well_known: Vec<(String, String)>,
    },
    Messages {
        folder: String,
        url: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphFolder {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    child_folder_count: Option<u64>,
    #[serde(default)]
    total_item_count: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct FollowupFlag {
    flag_status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct GraphMessage {
    id: Option<String>,
    parent_folder_id: Option<String>,
    internet_message_id: Option<String>,
    is_read: Option<bool>,
    is_draft: Option<bool>,
    flag: Option<FollowupFlag>,
    categories: Vec<String>,
    received_date_time: Option<String>,
    single_value_extended_properties: Vec<ExtendedProperty>,
}

/// What the importer keeps of the original in the extra property.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Extra {
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    answered: bool,
    #[serde(default)]
    deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    internal_date: Option<DateTime<FixedOffset>>,
}

fn role_name(role: &SpecialUse) -> Option<&'static str> {
    WELL_KNOWN.iter().find(|(_, r)| r == role).map(|(n, _)| *n)
}

fn to_model(g: &GraphMessage, folder: &str) -> Result<Message> {
    let id =
        g.id.clone()
            .ok_or_else(|| Error::invalid_data("a Graph message without an id"))?;
    let extra: Option<Extra> = ext::find(&g.single_value_extended_properties, &extra_id())
        .and_then(|s| serde_json::from_str(s).ok());
    let mut flags = Flags::new()
        .with_seen(g.is_read.unwrap_or(false))
        .with_flagged(g.flag.as_ref().and_then(|f| f.flag_status.as_deref()) == Some("flagged"));
    flags.keywords = g.categories.clone();
    let mut internal = g
        .received_date_time
        .as_deref()
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok());
    match &extra {
        Some(x) => {
            flags.draft = x.draft;
            flags.answered = x.answered;
            flags.deleted = x.deleted;
            internal = x.internal_date;
        }
        None => flags.draft = g.is_draft.unwrap_or(false),
    }
    let raw = MediaRef::new(id.clone()).with_mime_type("message/rfc822");
    let mut m = Message::new(id, folder, raw).with_flags(flags);
    m.internal_date = internal;
    Ok(m)
}

#[async_trait]
impl Exporter<MailData> for OutlookMail {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<MailData>> {
        let c = if cursor.is_root() {
            let wk = self
                .well_known(auth)
                .await?
                .into_iter()
                .map(|(id, role)| (id, role.as_str().to_string()))
                .collect();
            MailCursor::Folders {
                url: self.folders_url(None)?.to_string(),
                parent_path: None,
                well_known: wk,
            }
        } else {
            cursor.decode()?
        };
        match c {
            MailCursor::Folders {
                url,
                parent_path,
                well_known,
            } => {
                let url = self.client.link(&url)?;
                let page: Page<GraphFolder> = match self.client.get_page(auth, url, None).await {
                    Ok(p) => p,
                    Err(e) if *e.kind() == ErrorKind::NotFound => return Ok(ExportPage::new()),
                    Err(e) => return Err(e),
                };
                let mut out = ExportPage::new();
                for f in page.value {
                    let role = well_known
                        .iter()
                        .find(|(id, _)| *id == f.id)
                        .map(|(_, r)| SpecialUse::parse(r));
                    let name = f.display_name.clone().unwrap_or_default();
                    let path = match (&parent_path, &role) {
                        (None, Some(SpecialUse::Inbox)) => "INBOX".to_string(),
                        (None, _) => name.clone(),
                        (Some(p), _) => format!("{p}/{name}"),
                    };
                    let items = f.total_item_count.unwrap_or(1);
                    let children = f.child_folder_count.unwrap_or(1);
                    if items > 0 || (children == 0 && role.is_none()) {
                        let mut folder =
                            Folder::new(f.id.clone(), path.clone()).with_separator("/");
                        if let Some(r) = role {
                            folder = folder.with_role(r);
                        }
                        out = out.with_container(folder);
                    }
                    if items > 0 {
                        out = out.with_next(Cursor::new(&MailCursor::Messages {
                            folder: f.id.clone(),
                            url: self.messages_url(&f.id)?.to_string(),
                        })?);
                    }
                    if children > 0 {
                        out = out.with_next(Cursor::new(&MailCursor::Folders {
                            url: self.folders_url(Some(&f.id))?.to_string(),
                            parent_path: Some(path),
                            well_known: well_known.clone(),
                        })?);
                    }
                }
                if let Some(n) = page.next_link {
                    out = out.with_next(Cursor::new(&MailCursor::Folders {
                        url: n,
                        parent_path,
                        well_known,
                    })?);
                }
                Ok(out)
            }
            MailCursor::Messages { folder, url } => {
                let url = self.client.link(&url)?;
                let page: Page<GraphMessage> = match self.client.get_page(auth, url, None).await {
                    Ok(p) => p,
                    Err(e) if *e.kind() == ErrorKind::NotFound => return Ok(ExportPage::new()),
                    Err(e) => return Err(e),
                };
                let mut out = ExportPage::new();
                for g in &page.value {
                    out = out.with_item(to_model(g, &folder)?);
                }
                if let Some(n) = page.next_link {
                    out = out.with_next(Cursor::new(&MailCursor::Messages { folder, url: n })?);
                }
                Ok(out)
            }
        }
    }

    async fn open_media(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        media: &MediaRef,
    ) -> Result<ByteStream> {
        let url = self
            .client
            .url(&format!("me/messages/{}/$value", segment(&media.key)))?;
        let resp = self.client.execute(auth, GraphRequest::get(url)).await?;
        Ok(resp.into_stream())
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        Some(self.client.outlook_rate_limit())
    }
}

/// The Message-ID header of raw MIME (angle brackets kept), if any.
pub fn message_id(raw: &[u8]) -> Option<String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("message-id") {
            let mut v = value.trim().to_string();
            while let Some(next) = lines.peek() {
                if next.starts_with([' ', '\t']) {
                    v.push_str(next.trim());
                    lines.next();
                } else {
                    break;
                }
            }
            return (!v.is_empty()).then_some(v);
        }
    }
    None
}

/// The idempotency key of a message's bytes.
pub fn message_key(raw: &[u8]) -> String {
    let hash = hex::encode(Sha256::digest(raw));
    match message_id(raw) {
        Some(mid) => format!("mid:{mid}|sha256:{hash}"),
        None => format!("sha256:{hash}"),
    }
}

impl OutlookMail {
    async fn read_bytes(&self, ctx: &ImportContext, m: &Message) -> Result<Vec<u8>> {
        match &m.raw {
            RawMessage::Inline(b) => Ok(b.as_slice().to_vec()),
            RawMessage::Ref(r) => {
                let mut s = ctx.open_media(r).await?;
                let mut out = Vec::new();
                while let Some(chunk) = s.try_next().await? {
                    out.extend_from_slice(&chunk);
                    if out.len() > MAX_MIME_BYTES {
                        return Err(too_large(m));
                    }
                }
                Ok(out)
            }
            _ => Err(Error::unsupported("an unknown raw message form")),
        }
    }

    /// Finds an already-imported copy: by Message-ID (checking the key or,
    /// for an unmarked copy, the bytes' hash), else by the key alone.
    async fn find_message(
        &self,
        auth: &AuthData,
        raw: &[u8],
        key: &str,
    ) -> Result<Option<GraphMessage>> {
        let select = ("$select", "id,parentFolderId,internetMessageId");
        let expand = ext::expand(&ext::source_key_id());
        let filter = match message_id(raw) {
            Some(mid) => format!("internetMessageId eq {}", odata_string(&mid)),
            None => ext::filter_eq(&ext::source_key_id(), key),
        };
        let q = ext::query(&[
            ("$filter", &filter),
            select,
            ("$expand", &expand),
            ("$top", "25"),
        ]);
        let url = self.client.url(&format!("me/messages?{q}"))?;
        let found: Vec<GraphMessage> = self.client.get_all(auth, url, None).await?;
        let want_hash = hex::encode(Sha256::digest(raw));
        for g in found {
            match ext::find(&g.single_value_extended_properties, &ext::source_key_id()) {
                Some(k) if k == key => return Ok(Some(g)),
                Some(_) => continue,
                None => {
                    // Created, then the run died before it was marked.
                    let Some(id) = &g.id else { continue };
                    let url = self
                        .client
                        .url(&format!("me/messages/{}/$value", segment(id)))?;
                    let bytes = self
                        .client
                        .execute(auth, GraphRequest::get(url))
                        .await?
                        .bytes()
                        .await?;
                    if hex::encode(Sha256::digest(&bytes)) == want_hash {
                        return Ok(Some(g));
                    }
                }
            }
        }
        Ok(None)
    }

    async fn folder_id(&self, auth: &AuthData, parent: Option<&str>, name: &str) -> Result<String> {
        let url = self.folders_url(parent)?;
        let all: Vec<GraphFolder> = self.client.get_all(auth, url, None).await?;
        if let Some(f) = all.iter().find(|f| f.display_name.as_deref() == Some(name)) {
            return Ok(f.id.clone());
        }
        let url = match parent {
            None => self.client.url("me/mailFolders")?,
            Some(p) => self
                .client
                .url(&format!("me/mailFolders/{}/childFolders", segment(p)))?,
        };
        let created: GraphFolder = self
            .client
            .post_json(auth, url, &json!({"displayName": name}))
            .await?;
        Ok(created.id)
    }

    /// The destination folder of a model folder: a well-known folder for a
    /// role (or a top-level `INBOX`), else the path created level by level.
    async fn resolve_folder(&self, auth: &AuthData, f: &Folder) -> Result<String> {
        let sep = f
            .separator
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("/");
        let mut parts: Vec<&str> = f.path.split(sep).filter(|p| !p.is_empty()).collect();
        if parts.is_empty() {
            parts.push(f.path.as_str());
        }
        let mut parent: Option<String> = None;
        let mut start = 0;
        // A folder with a role is the mailbox's well-known folder, wherever
        // the source had it (Graph has one folder per role).
        let top_role = f.role.as_ref().and_then(role_name);
        if top_role.is_some() {
            parts.truncate(1);
        }
        let inbox = parts[0].eq_ignore_ascii_case("INBOX");
        if let Some(name) = top_role.or(inbox.then_some("inbox")) {
            let url = self.client.url(&format!("me/mailFolders/{name}"))?;
            let wk: GraphFolder = self.client.get_json(auth, url).await?;
            parent = Some(wk.id);
            start = 1;
        }
        for part in &parts[start..] {
            parent = Some(self.folder_id(auth, parent.as_deref(), part).await?);
        }
        parent.ok_or_else(|| Error::invalid_data("a folder with an empty path"))
    }

    async fn move_to(&self, auth: &AuthData, id: &str, folder: &str) -> Result<String> {
        let url = self
            .client
            .url(&format!("me/messages/{}/move", segment(id)))?;
        let moved: GraphMessage = self
            .client
            .post_json(auth, url, &json!({"destinationId": folder}))
            .await?;
        moved
            .id
            .ok_or_else(|| Error::invalid_data("Graph moved a message and gave no id"))
    }
}

fn too_large(m: &Message) -> Error {
    Error::unsupported(format!(
        "message `{}` is larger than {MAX_MIME_BYTES} bytes: Graph's MIME create takes at most 4 MB of base64",
        m.id
    ))
}

#[async_trait]
impl Importer<MailData> for OutlookMail {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        folder: &Folder,
    ) -> Result<dtp_core::Imported> {
        async move { self.resolve_folder(auth, folder).await }
            .await
            .map(dtp_core::Imported::from)
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        m: &Message,
    ) -> Result<dtp_core::Imported> {
        async move {
            let folder_src = m
                .folder_ids
                .first()
                .ok_or_else(|| Error::invalid_data(format!("message `{}` has no folder", m.id)))?;
            let folder = ctx.require_container(folder_src)?;
            let raw = self.read_bytes(ctx, m).await?;
            if raw.len() > MAX_MIME_BYTES {
                return Err(too_large(m));
            }
            let key = message_key(&raw);
            let (id, current_folder) = match self.find_message(auth, &raw, &key).await? {
                Some(g) => (
                    g.id.ok_or_else(|| Error::invalid_data("a Graph message without an id"))?,
                    g.parent_folder_id,
                ),
                None => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
                    let req = GraphRequest::post(self.client.url("me/messages")?)
                        .bytes("text/plain", Bytes::from(b64));
                    let created: GraphMessage =
                        self.client.execute(auth, req).await?.json().await?;
                    (
                        created.id.ok_or_else(|| {
                            Error::invalid_data("Graph created a message without an id")
                        })?,
                        created.parent_folder_id,
                    )
                }
            };
            let extra = Extra {
                draft: m.flags.draft,
                answered: m.flags.answered,
                deleted: m.flags.deleted,
                internal_date: m.internal_date,
            };
            let patch = json!({
                "isRead": m.flags.seen,
                "flag": {"flagStatus": if m.flags.flagged { "flagged" } else { "notFlagged" }},
                "categories": m.flags.keywords,
                "singleValueExtendedProperties": [
                    ExtendedProperty::new(ext::source_key_id(), key),
                    ExtendedProperty::new(extra_id(), serde_json::to_string(&extra)?),
                ],
            });
            let url = self.client.url(&format!("me/messages/{}", segment(&id)))?;
            let _: Value = self.client.patch_json(auth, url, &patch).await?;
            if current_folder.as_deref() == Some(folder.as_str()) {
                return Ok(id);
            }
            self.move_to(auth, &id, &folder).await
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
        self.resolve_folder(auth, folder).await.map(Some)
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        m: &Message,
    ) -> Result<Option<String>> {
        // import_item finds and finishes a half-imported copy itself.
        let _ = (ctx, auth, m);
        Ok(None)
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        Some(self.client.outlook_rate_limit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_and_key() {
        let raw =
            b"From: a@b\r\nMessage-ID:\r\n <x@y>\r\nSubject: s\r\n\r\nMessage-ID: <body@z>\r\n";
        assert_eq!(message_id(raw).as_deref(), Some("<x@y>"));
        assert!(message_key(raw).starts_with("mid:<x@y>|sha256:"));
        assert!(message_key(b"Subject: none\r\n\r\nx").starts_with("sha256:"));
    }

    #[test]
    fn extra_restores_original_flags_and_date() {
        let g: GraphMessage = serde_json::from_value(json!({
            "id": "AAMkM=", "isRead": true, "isDraft": true, "categories": ["$label1"],
            "flag": {"flagStatus": "flagged"}, "receivedDateTime": "2026-01-01T00:00:00Z",
            "singleValueExtendedProperties": [{"id": extra_id(), "value": "{\"draft\":false,\"answered\":true,\"internal_date\":\"2024-03-15T12:00:00+01:00\"}"}]
        }))
        .unwrap();
        let m = to_model(&g, "f").unwrap();
        assert!(m.flags.seen && m.flags.flagged && m.flags.answered && !m.flags.draft);
        assert_eq!(m.flags.keywords, ["$label1"]);
        assert_eq!(
            m.internal_date.unwrap().to_rfc3339(),
            "2024-03-15T12:00:00+01:00"
        );
        // Without the property: what Graph says.
        let g: GraphMessage = serde_json::from_value(
            json!({"id": "x", "isDraft": true, "receivedDateTime": "2026-01-01T00:00:00Z"}),
        )
        .unwrap();
        let m = to_model(&g, "f").unwrap();
        assert!(m.flags.draft);
        assert!(m.internal_date.is_some());
    }
}
