//! Content digests: a record's content field by field, to tell whether two
//! copies of it (at a source and a destination, in different services) hold
//! the same thing, and if not, which fields differ.
//!
//! A digest leaves out what is not content: ids each service gives its own
//! copy (`id`, the container ids, `parent_id`), the project's bookkeeping
//! (`meta`), and stamps a service rewrites when it stores a record
//! (`dtstamp`, `last_modified`, `revision`, `uploaded`). Every other field is
//! written as canonical JSON and hashed; lists are compared as multisets
//! (order is not content in `categories` or `emails`). Mail and media
//! content is their bytes: the caller hashes them (they may be streams) and
//! adds them with [`ContentDigest::with_field`].
//!
//! Two services rarely support the same fields. [`compare`] compares only
//! the fields that occur on both sides (at least one record each), so a
//! destination that cannot store, say, `geo` does not make every record
//! "different", while a field both sides hold and disagree on does.
//!
//! ```
//! use dtp_models::contacts::Contact;
//! use dtp_models::digest::{ContentDigest, compare};
//!
//! let a = Contact::new("src-1", "book-a", "Ada Lovelace");
//! let mut b = Contact::new("dst-9", "book-b", "Ada Lovelace");
//! assert_eq!(ContentDigest::of_contact(&a), ContentDigest::of_contact(&b));
//! b.formatted_name = "Ada King".into();
//! let (da, db) = (ContentDigest::of_contact(&a), ContentDigest::of_contact(&b));
//! let compared = compare::common_fields([&da], [&db]);
//! assert_eq!(da.differing(&db, &compared), vec!["formatted_name"]);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::calendar::Event;
use crate::contacts::Contact;
use crate::mail::Message;
use crate::media::MediaItem;
use crate::tasks::Task;

/// Fields no record's digest holds: ids and bookkeeping of one copy.
const NEVER: &[&str] = &["id", "meta"];

/// A record's content, one hash per field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentDigest {
    fields: BTreeMap<String, String>,
}

impl ContentDigest {
    /// The digest of any serializable record, leaving out `id`, `meta` and
    /// `leave_out`. Empty values (`null`, `[]`, `""`, `false`, `{}`) count as
    /// absent: a service that writes an empty field and one that omits it
    /// hold the same content.
    pub fn of<T: Serialize>(record: &T, leave_out: &[&str]) -> Self {
        let mut fields = BTreeMap::new();
        if let Ok(Value::Object(map)) = serde_json::to_value(record) {
            for (name, value) in map {
                if NEVER.contains(&name.as_str()) || leave_out.contains(&name.as_str()) {
                    continue;
                }
                if is_empty(&value) {
                    continue;
                }
                fields.insert(name, hash_hex(canonical(&value).as_bytes()));
            }
        }
        ContentDigest { fields }
    }

    /// A contact: everything but its ids and revision stamp.
    pub fn of_contact(c: &Contact) -> Self {
        Self::of(c, &["address_book_id", "revision"])
    }

    /// An event (with its overrides): everything but its ids and the stamps
    /// a server rewrites.
    pub fn of_event(e: &Event) -> Self {
        Self::of(e, &["calendar_id", "dtstamp", "last_modified"])
    }

    /// A task: everything but its ids, its place among its siblings (each
    /// service orders by its own keys) and the stamps a server rewrites.
    pub fn of_task(t: &Task) -> Self {
        Self::of(
            t,
            &[
                "list_id",
                "parent_id",
                "position",
                "dtstamp",
                "last_modified",
            ],
        )
    }

    /// A message without its bytes (flags and date); add the bytes' hash
    /// with [`with_field`](Self::with_field)`("raw", …)`.
    pub fn of_message(m: &Message) -> Self {
        Self::of(m, &["folder_ids", "raw"])
    }

    /// A photo or video without its bytes; add their hash with
    /// [`with_field`](Self::with_field)`("content", …)`.
    pub fn of_media(m: &MediaItem) -> Self {
        Self::of(m, &["album_ids", "content", "uploaded"])
    }

    /// Adds (or replaces) a field whose value the caller computed, e.g. the
    /// SHA-256 of a message's bytes.
    pub fn with_field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.insert(name.into(), value.into());
        self
    }

    /// The fields present, with their hashes.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The fields in `compared` on which `self` and `other` disagree (one
    /// has it and the other not, or both with different values).
    pub fn differing<'a>(&self, other: &Self, compared: &'a BTreeSet<String>) -> Vec<&'a str> {
        compared
            .iter()
            .filter(|f| self.fields.get(*f) != other.fields.get(*f))
            .map(String::as_str)
            .collect()
    }

    /// One hash over the fields in `compared`.
    pub fn over(&self, compared: &BTreeSet<String>) -> String {
        let mut text = String::new();
        for f in compared {
            if let Some(h) = self.fields.get(f) {
                let _ = write!(text, "{f}={h};");
            }
        }
        hash_hex(text.as_bytes())
    }
}

/// Comparing sets of digests.
pub mod compare {
    use std::collections::BTreeSet;

    use super::ContentDigest;

    /// The fields held by at least one digest on each side: the fields both
    /// services support.
    pub fn common_fields<'a>(
        left: impl IntoIterator<Item = &'a ContentDigest>,
        right: impl IntoIterator<Item = &'a ContentDigest>,
    ) -> BTreeSet<String> {
        let names = |side: &mut dyn Iterator<Item = &'a ContentDigest>| {
            let mut set = BTreeSet::new();
            for d in side {
                set.extend(d.fields.keys().cloned());
            }
            set
        };
        let l = names(&mut left.into_iter());
        let r = names(&mut right.into_iter());
        l.intersection(&r).cloned().collect()
    }
}

/// SHA-256 of `bytes`, as lower-case hex.
pub fn hash_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) => false,
    }
}

/// JSON with object keys sorted (serde_json's map is ordered) and arrays as
/// multisets: their elements sorted by their own canonical text.
fn canonical(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let mut parts: Vec<String> = items.iter().map(canonical).collect();
            parts.sort_unstable();
            format!("[{}]", parts.join(","))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .filter(|(_, v)| !is_empty(v))
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::TypedValue;

    #[test]
    fn ids_and_stamps_are_not_content_but_every_field_is() {
        let mut a = Contact::new("a", "book-1", "Grace Hopper");
        a.emails
            .push(TypedValue::new("grace@example.org", &["work"]));
        a.emails.push(TypedValue::new("g@example.org", &["home"]));
        let mut b = a.clone();
        b.id = "other".into();
        b.address_book_id = "book-2".into();
        b.emails.reverse();
        let (da, db) = (ContentDigest::of_contact(&a), ContentDigest::of_contact(&b));
        assert_eq!(da, db, "ids differ and list order is not content");
        b.emails[0].value = "grace@navy.mil".into();
        let db = ContentDigest::of_contact(&b);
        let all = compare::common_fields([&da], [&db]);
        assert_eq!(da.differing(&db, &all), vec!["emails"]);
        assert_ne!(da.over(&all), db.over(&all));
    }

    #[test]
    fn only_fields_both_sides_hold_are_compared() {
        let mut rich = Contact::new("a", "b", "Ada");
        rich.nicknames.push("Countess".into());
        let plain = Contact::new("x", "y", "Ada");
        let (dr, dp) = (
            ContentDigest::of_contact(&rich),
            ContentDigest::of_contact(&plain),
        );
        // The destination never holds nicknames: not a difference.
        let compared = compare::common_fields([&dr], [&dp]);
        assert!(!compared.contains("nicknames"));
        assert!(dr.differing(&dp, &compared).is_empty());
        // A destination that holds nicknames on some record compares them.
        let mut other = plain.clone();
        other.nicknames.push("Lady".into());
        let d_other = ContentDigest::of_contact(&other);
        let compared = compare::common_fields([&dr], [&dp, &d_other]);
        assert_eq!(dr.differing(&dp, &compared), vec!["nicknames"]);
    }

    #[test]
    fn computed_fields_join_the_digest() {
        let d = ContentDigest::default().with_field("raw", hash_hex(b"hello"));
        assert_eq!(
            d.fields().collect::<Vec<_>>(),
            vec![(
                "raw",
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            )]
        );
    }
}
