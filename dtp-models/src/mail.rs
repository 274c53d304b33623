//! Mail messages, grouped in folders.
//!
//! A message travels as its raw RFC 5322 bytes, never re-encoded: inline
//! (small messages; base64 in JSON) or by [`MediaRef`] (large ones, streamed
//! by the driver). The header fields needed for de-duplication are derived
//! from those bytes on demand ([`HeaderView`], feature `mail`).

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::datetime::token_enum;
use crate::{DataModel, DataType, InlineBytes, MediaRef, Record};

/// Marker for the mail data type.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailData;

impl DataModel for MailData {
    const DATA_TYPE: DataType = DataType::Mail;
    type Container = Folder;
    type Item = Message;
}

token_enum! {
    /// Special-use role of a folder (RFC 6154), or the inbox.
    SpecialUse {
        /// The inbox.
        Inbox => "INBOX",
        /// Sent mail.
        Sent => "SENT",
        /// Drafts.
        Drafts => "DRAFTS",
        /// Trash.
        Trash => "TRASH",
        /// Junk / spam.
        Junk => "JUNK",
        /// Archive.
        Archive => "ARCHIVE",
        /// All mail (a virtual folder of every message).
        All => "ALL",
        /// Flagged / starred (virtual).
        Flagged => "FLAGGED",
    }
}

/// A mail folder (mailbox) or label.
///
/// ```
/// use dtp_models::mail::{Folder, SpecialUse};
/// let f = Folder::new("f1", "INBOX").with_role(SpecialUse::Inbox);
/// assert_eq!(f.path, "INBOX");
/// let sub = Folder::new("f2", "Archive/2023").with_separator("/");
/// assert_eq!(sub.display_name(), "2023");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Folder {
    /// Source id.
    pub id: String,
    /// Full path, segments joined by `/`.
    pub path: String,
    /// Display name, when it differs from the last path segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The source's hierarchy separator (`/`, `.`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// Special-use role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<SpecialUse>,
    /// Whether this is a label (one message in many) rather than a folder.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_label: bool,
}

impl Folder {
    /// A folder with an id and a path.
    pub fn new(id: impl Into<String>, path: impl Into<String>) -> Self {
        Folder {
            id: id.into(),
            path: path.into(),
            name: None,
            separator: None,
            role: None,
            is_label: false,
        }
    }

    /// Sets the special-use role.
    pub fn with_role(mut self, role: SpecialUse) -> Self {
        self.role = Some(role);
        self
    }

    /// Sets the hierarchy separator.
    pub fn with_separator(mut self, separator: impl Into<String>) -> Self {
        self.separator = Some(separator.into());
        self
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The display name: `name`, or the last segment of `path`.
    pub fn display_name(&self) -> &str {
        if let Some(n) = &self.name {
            return n;
        }
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

impl Record for Folder {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.path
    }
}

/// IMAP-style flags of a message.
///
/// ```
/// use dtp_models::mail::Flags;
/// let f = Flags::new().with_seen(true).with_keyword("$Forwarded");
/// assert!(f.seen);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Flags {
    /// `\Seen`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub seen: bool,
    /// `\Answered`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answered: bool,
    /// `\Flagged`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flagged: bool,
    /// `\Draft`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draft: bool,
    /// `\Deleted`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Keywords (`$Forwarded`, `$Junk`, user keywords).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

impl Flags {
    /// No flag set.
    pub fn new() -> Self {
        Flags::default()
    }

    /// Sets `\Seen`.
    pub fn with_seen(mut self, on: bool) -> Self {
        self.seen = on;
        self
    }

    /// Sets `\Answered`.
    pub fn with_answered(mut self, on: bool) -> Self {
        self.answered = on;
        self
    }

    /// Sets `\Flagged`.
    pub fn with_flagged(mut self, on: bool) -> Self {
        self.flagged = on;
        self
    }

    /// Sets `\Draft`.
    pub fn with_draft(mut self, on: bool) -> Self {
        self.draft = on;
        self
    }

    /// Sets `\Deleted`.
    pub fn with_deleted(mut self, on: bool) -> Self {
        self.deleted = on;
        self
    }

    /// Adds a keyword.
    pub fn with_keyword(mut self, keyword: impl Into<String>) -> Self {
        self.keywords.push(keyword.into());
        self
    }

    /// Whether no flag is set.
    pub fn is_empty(&self) -> bool {
        *self == Flags::default()
    }
}

/// Where a message's raw RFC 5322 bytes are.
///
/// ```
/// use dtp_models::MediaRef;
/// use dtp_models::mail::RawMessage;
/// let small = RawMessage::from(b"Subject: hi\r\n\r\nhello\r\n".to_vec());
/// assert_eq!(small.inline_bytes().map(<[u8]>::len), Some(22));
/// let large = RawMessage::from(MediaRef::new("INBOX/4711").with_size(60 << 20));
/// assert!(large.media_ref().is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RawMessage {
    /// The bytes, carried in the model (base64 in JSON).
    Inline(InlineBytes),
    /// A reference the driver resolves into a byte stream.
    Ref(MediaRef),
}

impl RawMessage {
    /// The inline bytes, if carried inline.
    pub fn inline_bytes(&self) -> Option<&[u8]> {
        match self {
            RawMessage::Inline(b) => Some(b.as_slice()),
            RawMessage::Ref(_) => None,
        }
    }

    /// The reference, if streamed.
    pub fn media_ref(&self) -> Option<&MediaRef> {
        match self {
            RawMessage::Ref(r) => Some(r),
            RawMessage::Inline(_) => None,
        }
    }

    /// Size in bytes, when known.
    pub fn size(&self) -> Option<u64> {
        match self {
            RawMessage::Inline(b) => Some(b.len() as u64),
            RawMessage::Ref(r) => r.size,
        }
    }
}

impl From<MediaRef> for RawMessage {
    fn from(r: MediaRef) -> Self {
        RawMessage::Ref(r)
    }
}

impl From<Vec<u8>> for RawMessage {
    fn from(b: Vec<u8>) -> Self {
        RawMessage::Inline(InlineBytes(b))
    }
}

impl From<InlineBytes> for RawMessage {
    fn from(b: InlineBytes) -> Self {
        RawMessage::Inline(b)
    }
}

/// A mail message: its raw bytes (never re-encoded), the folders or labels
/// holding it, its flags and its internal (received) date.
///
/// ```
/// use dtp_models::MediaRef;
/// use dtp_models::mail::Message;
/// let m = Message::new("m1", "f1", MediaRef::new("f1/1").with_size(42));
/// assert_eq!(m.folder_ids, vec!["f1".to_string()]);
///
/// let small = Message::new("m2", "f1", b"Message-ID: <a@b>\r\nSubject: hi\r\n\r\nbody".to_vec());
/// # #[cfg(feature = "mail")]
/// assert_eq!(small.headers().unwrap().message_id.as_deref(), Some("a@b"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// Source id.
    pub id: String,
    /// Source ids of the folders (or labels) holding it.
    pub folder_ids: Vec<String>,
    /// The raw message bytes.
    pub raw: RawMessage,
    /// Flags.
    #[serde(default, skip_serializing_if = "Flags::is_empty")]
    pub flags: Flags,
    /// Internal date: when the source received it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_date: Option<DateTime<FixedOffset>>,
}

impl Message {
    /// A message with an id, one folder and its raw bytes (inline bytes or a
    /// [`MediaRef`]).
    pub fn new(
        id: impl Into<String>,
        folder_id: impl Into<String>,
        raw: impl Into<RawMessage>,
    ) -> Self {
        Message {
            id: id.into(),
            folder_ids: vec![folder_id.into()],
            raw: raw.into(),
            flags: Flags::default(),
            internal_date: None,
        }
    }

    /// Adds another folder or label.
    pub fn in_folder(mut self, folder_id: impl Into<String>) -> Self {
        self.folder_ids.push(folder_id.into());
        self
    }

    /// Sets the flags.
    pub fn with_flags(mut self, flags: Flags) -> Self {
        self.flags = flags;
        self
    }

    /// Sets the internal date.
    pub fn with_internal_date(mut self, date: DateTime<FixedOffset>) -> Self {
        self.internal_date = Some(date);
        self
    }

    /// The header view, derived from the inline bytes (`None` when the bytes
    /// are streamed: use [`HeaderView::parse`] on them).
    #[cfg(feature = "mail")]
    pub fn headers(&self) -> Option<HeaderView> {
        self.raw.inline_bytes().map(HeaderView::parse)
    }
}

impl Record for Message {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.id
    }
    fn media(&self) -> Option<&MediaRef> {
        self.raw.media_ref()
    }
    fn size_bytes(&self) -> u64 {
        self.raw.size().unwrap_or(0)
    }
}

/// The header fields used to recognise a message again (de-duplication),
/// decoded from raw bytes. Encoded words (RFC 2047) in the subject are
/// decoded; the raw bytes are not touched.
///
/// ```
/// use dtp_models::mail::HeaderView;
/// let raw = b"Message-ID: <1@example.org>\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\nSubject: =?UTF-8?B?SGVsbG8gd29ybGQ=?=\r\n\r\n";
/// let h = HeaderView::parse(raw);
/// assert_eq!(h.message_id.as_deref(), Some("1@example.org"));
/// assert_eq!(h.subject.as_deref(), Some("Hello world"));
/// assert_eq!(h.date.unwrap().to_rfc3339(), "2003-07-01T10:52:37+02:00");
/// ```
#[cfg(feature = "mail")]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderView {
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// `Date`, when it parses.
    pub date: Option<DateTime<FixedOffset>>,
    /// `Subject`, decoded.
    pub subject: Option<String>,
}

#[cfg(feature = "mail")]
impl HeaderView {
    /// Parses the header block of a raw message. Never fails: absent or
    /// unparseable fields are `None`.
    pub fn parse(raw: &[u8]) -> HeaderView {
        let Some(msg) = mail_parser::MessageParser::new().parse_headers(raw) else {
            return HeaderView::default();
        };
        // RFC 5322 dates (obsolete zones such as `cst` included) by chrono's
        // strict parser; what it rejects, by mail-parser's lenient one.
        let strict = msg.header_raw("Date").and_then(|v| {
            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            DateTime::parse_from_rfc2822(&v).ok()
        });
        HeaderView {
            message_id: msg.message_id().map(str::to_string),
            date: strict.or_else(|| msg.date().and_then(to_chrono)),
            subject: msg.subject().map(str::to_string),
        }
    }

    /// A key for de-duplication: the Message-ID when present, else the date
    /// and subject.
    pub fn dedup_key(&self) -> Option<String> {
        if let Some(id) = &self.message_id {
            return Some(format!("id:{id}"));
        }
        match (&self.date, &self.subject) {
            (None, None) => None,
            (d, s) => Some(format!(
                "date:{}|subject:{}",
                d.map(|d| d.to_rfc3339()).unwrap_or_default(),
                s.as_deref().unwrap_or_default()
            )),
        }
    }
}

#[cfg(feature = "mail")]
fn to_chrono(d: &mail_parser::DateTime) -> Option<DateTime<FixedOffset>> {
    let secs = (i32::from(d.tz_hour) * 60 + i32::from(d.tz_minute)) * 60;
    let off = FixedOffset::east_opt(if d.tz_before_gmt { -secs } else { secs })?;
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))?;
    let t = date.and_hms_opt(u32::from(d.hour), u32::from(d.minute), u32::from(d.second))?;
    t.and_local_timezone(off).single()
}

/// One message of an mbox mailbox.
#[cfg(feature = "mail")]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MboxMessage {
    /// The envelope sender of the `From ` line.
    pub envelope_from: String,
    /// Internal date of the `From ` line (seconds since the epoch; 0 if absent).
    pub internal_date: u64,
    /// The message bytes (`>From ` un-quoted).
    pub raw: Vec<u8>,
}

/// Splits an mbox mailbox into its messages.
///
/// ```
/// use dtp_models::mail::split_mbox;
/// let mbox = b"From a@b Sat Jan  3 01:05:34 1996\nSubject: one\n\n1\nFrom c@d Sat Jan  3 01:05:35 1996\nSubject: two\n\n2\n";
/// assert_eq!(split_mbox(mbox).len(), 2);
/// ```
#[cfg(feature = "mail")]
pub fn split_mbox(data: &[u8]) -> Vec<MboxMessage> {
    mail_parser::mailbox::mbox::MessageIterator::new(data)
        .filter_map(Result::ok)
        .map(|m| MboxMessage {
            envelope_from: m.from().to_string(),
            internal_date: m.internal_date(),
            raw: m.unwrap_contents(),
        })
        .collect()
}

#[cfg(all(test, feature = "mail"))]
mod tests {
    use super::*;

    #[test]
    fn dedup_key_prefers_message_id_then_date_and_subject() {
        let with_id = HeaderView::parse(b"Message-ID: <a@b>\r\nSubject: x\r\n\r\n");
        assert_eq!(with_id.dedup_key().as_deref(), Some("id:a@b"));
        let without =
            HeaderView::parse(b"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\nSubject: x\r\n\r\n");
        assert_eq!(
            without.dedup_key().as_deref(),
            Some("date:2003-07-01T10:52:37+02:00|subject:x")
        );
        assert_eq!(HeaderView::parse(b"X-Other: 1\r\n\r\n").dedup_key(), None);
    }

    #[test]
    fn inline_and_streamed_messages_account_their_size() {
        let raw = b"Subject: x\r\n\r\nbody".to_vec();
        let len = raw.len() as u64;
        let m = Message::new("m", "f", raw);
        assert_eq!(m.size_bytes(), len);
        assert!(m.media().is_none());
        let r = Message::new("m", "f", MediaRef::new("k").with_size(7));
        assert_eq!(r.size_bytes(), 7);
        assert_eq!(r.media().map(|m| m.key.as_str()), Some("k"));
        assert!(r.headers().is_none());
    }
}
