//! `dtp verify`: both sides read again, record by record. Each record gets a
//! key that names it in any service (a UID, or the hash of its bytes) and a
//! content digest (`dtp_models::digest`); records are matched by key and
//! compared over the fields both sides hold.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use dtp_core::{AuthData, Cursor, DataModel, DataType, Error, ExportContext, Exporter, Record};
use dtp_models::calendar::{CalendarData, Event};
use dtp_models::contacts::{Contact, ContactsData};
use dtp_models::digest::{ContentDigest, compare, hash_hex};
use dtp_models::mail::{MailData, Message};
use dtp_models::media::{MediaData, MediaItem};
use dtp_models::tasks::{Task, TasksData};
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::CliError;
use crate::run::Side;

/// An item `dtp verify` can match across services and compare.
trait Verifiable: Record {
    /// What names this record in any service. `bytes` is the SHA-256 of its
    /// media or message bytes, when it has them.
    fn verify_key(&self, bytes: Option<&str>) -> String;
    /// Its content, field by field.
    fn content(&self, bytes: Option<&str>) -> ContentDigest;
}

impl Verifiable for Contact {
    fn verify_key(&self, _: Option<&str>) -> String {
        match &self.uid {
            Some(uid) if !uid.is_empty() => format!("uid:{uid}"),
            _ => format!("name:{}", self.formatted_name),
        }
    }
    fn content(&self, _: Option<&str>) -> ContentDigest {
        ContentDigest::of_contact(self)
    }
}

impl Verifiable for Event {
    fn verify_key(&self, _: Option<&str>) -> String {
        format!("uid:{}", self.uid)
    }
    fn content(&self, _: Option<&str>) -> ContentDigest {
        ContentDigest::of_event(self)
    }
}

impl Verifiable for Task {
    fn verify_key(&self, _: Option<&str>) -> String {
        match &self.uid {
            Some(uid) if !uid.is_empty() => format!("uid:{uid}"),
            _ => format!("title:{}", self.title),
        }
    }
    fn content(&self, _: Option<&str>) -> ContentDigest {
        ContentDigest::of_task(self)
    }
}

impl Verifiable for Message {
    fn verify_key(&self, bytes: Option<&str>) -> String {
        format!("sha256:{}", bytes.unwrap_or_default())
    }
    fn content(&self, bytes: Option<&str>) -> ContentDigest {
        ContentDigest::of_message(self).with_field("raw", bytes.unwrap_or_default())
    }
}

impl Verifiable for MediaItem {
    fn verify_key(&self, bytes: Option<&str>) -> String {
        format!("sha256:{}", bytes.unwrap_or_default())
    }
    fn content(&self, bytes: Option<&str>) -> ContentDigest {
        ContentDigest::of_media(self).with_field("content", bytes.unwrap_or_default())
    }
}

/// One record as read from one side.
struct Read {
    key: String,
    name: String,
    digest: ContentDigest,
}

/// Everything one side holds of one data type.
#[derive(Default)]
struct SideRecords {
    records: Vec<Read>,
    /// Records the exporter could not read.
    unreadable: u64,
    /// Records with bytes whose bytes were hashed.
    hashed: u64,
}

async fn read_side<M>(exporter: Arc<dyn Exporter<M>>, auth: &AuthData) -> Result<SideRecords, Error>
where
    M: DataModel,
    M::Item: Verifiable,
{
    let ctx = ExportContext::detached(M::DATA_TYPE);
    let mut out = SideRecords::default();
    let mut frontier = VecDeque::from([Cursor::root()]);
    let mut seen = std::collections::HashSet::new();
    while let Some(cursor) = frontier.pop_front() {
        let page = exporter.export(&ctx, auth, &cursor).await?;
        out.unreadable += page.failed.len() as u64;
        for item in &page.items {
            if !seen.insert(item.source_id().to_string()) {
                continue;
            }
            let bytes = match (item.media(), inline_bytes(item)) {
                (_, Some(inline)) => Some(hash_hex(inline)),
                (Some(m), None) => {
                    let mut stream = exporter.open_media(&ctx, auth, m).await?;
                    let mut h = Sha256::new();
                    while let Some(chunk) = stream.next().await {
                        h.update(&chunk?);
                    }
                    Some(hex::encode(h.finalize()))
                }
                (None, None) => None,
            };
            if bytes.is_some() {
                out.hashed += 1;
            }
            out.records.push(Read {
                key: item.verify_key(bytes.as_deref()),
                name: item.display_name().to_string(),
                digest: item.content(bytes.as_deref()),
            });
        }
        frontier.extend(page.next);
    }
    Ok(out)
}

/// The bytes of a message carried inline (other records have none).
fn inline_bytes<R: Record>(item: &R) -> Option<&[u8]> {
    (item as &dyn std::any::Any)
        .downcast_ref::<Message>()
        .and_then(|m| m.raw.inline_bytes())
}

/// A record named in the verdict.
#[derive(Debug, Serialize)]
pub struct Named {
    /// What matched it across the two sides (UID, hash).
    pub key: String,
    /// Its name.
    pub name: String,
}

/// A record whose copies differ.
#[derive(Debug, Serialize)]
pub struct Different {
    /// What matched it across the two sides.
    pub key: String,
    /// Its name at the source.
    pub name: String,
    /// The fields that differ.
    pub fields: Vec<String>,
}

/// The comparison of one data type.
#[derive(Debug, Serialize)]
pub struct TypeCheck {
    /// Records read at the source.
    pub source_items: u64,
    /// Records read at the destination.
    pub destination_items: u64,
    /// Source records whose bytes (media, mail) were hashed.
    pub media_checked: u64,
    /// Source records with bytes that are not at the destination.
    pub media_missing: u64,
    /// Records the source or destination could not read.
    pub unreadable: u64,
    /// The fields compared: those both sides hold.
    pub compared_fields: Vec<String>,
    /// Source records not at the destination.
    pub missing: Vec<Named>,
    /// Records at both sides whose content differs.
    pub different: Vec<Different>,
    /// Destination records with no source record (there before, or added).
    pub extra: Vec<Named>,
    /// No record missing, none different.
    pub ok: bool,
}

fn judge(src: SideRecords, dst: SideRecords) -> TypeCheck {
    let compared = compare::common_fields(
        src.records.iter().map(|r| &r.digest),
        dst.records.iter().map(|r| &r.digest),
    );
    let destination_items = dst.records.len() as u64;
    let mut by_key: HashMap<String, Vec<Read>> = HashMap::new();
    for r in dst.records {
        by_key.entry(r.key.clone()).or_default().push(r);
    }
    let mut missing = Vec::new();
    let mut different = Vec::new();
    let mut media_missing = 0;
    for s in &src.records {
        let candidates = by_key.get_mut(&s.key);
        let Some(candidates) = candidates.filter(|c| !c.is_empty()) else {
            if s.key.starts_with("sha256:") {
                media_missing += 1;
            }
            missing.push(Named {
                key: s.key.clone(),
                name: s.name.clone(),
            });
            continue;
        };
        // Two records sharing a key: pair each with an equal copy first.
        let wanted = s.digest.over(&compared);
        let at = candidates
            .iter()
            .position(|d| d.digest.over(&compared) == wanted)
            .unwrap_or(0);
        let d = candidates.swap_remove(at);
        let fields = s.digest.differing(&d.digest, &compared);
        if !fields.is_empty() {
            different.push(Different {
                key: s.key.clone(),
                name: s.name.clone(),
                fields: fields.into_iter().map(str::to_string).collect(),
            });
        }
    }
    let mut extra: Vec<Named> = by_key
        .into_values()
        .flatten()
        .map(|r| Named {
            key: r.key,
            name: r.name,
        })
        .collect();
    extra.sort_by(|a, b| a.key.cmp(&b.key));
    TypeCheck {
        source_items: src.records.len() as u64,
        destination_items,
        media_checked: src.hashed,
        media_missing,
        unreadable: src.unreadable + dst.unreadable,
        compared_fields: compared.into_iter().collect(),
        ok: missing.is_empty() && different.is_empty(),
        missing,
        different,
        extra,
    }
}

async fn check<M>(from: &Side, to: &Side) -> Result<TypeCheck, CliError>
where
    M: DataModel,
    M::Item: Verifiable,
{
    let exporter = |side: &Side| {
        side.endpoint.exporter::<M>().ok_or_else(|| {
            CliError::new(
                2,
                format!("{} cannot export {}", side.service, M::DATA_TYPE),
            )
        })
    };
    let src = read_side::<M>(exporter(from)?, &from.auth)
        .await
        .map_err(|e| CliError::from_error(&e, &from.service, None))?;
    let dst = read_side::<M>(exporter(to)?, &to.auth)
        .await
        .map_err(|e| CliError::from_error(&e, &to.service, None))?;
    Ok(judge(src, dst))
}

/// Compares every data type in `types` between `from` and `to`.
pub async fn verify_types(
    from: &Side,
    to: &Side,
    types: &[DataType],
) -> Result<BTreeMap<DataType, TypeCheck>, CliError> {
    let mut out = BTreeMap::new();
    for t in types {
        let c = match t {
            DataType::Media => check::<MediaData>(from, to).await?,
            DataType::Contacts => check::<ContactsData>(from, to).await?,
            DataType::Calendar => check::<CalendarData>(from, to).await?,
            DataType::Tasks => check::<TasksData>(from, to).await?,
            DataType::Mail => check::<MailData>(from, to).await?,
            other => return Err(CliError::new(2, format!("{other} is not supported"))),
        };
        out.insert(*t, c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(records: Vec<Contact>) -> SideRecords {
        SideRecords {
            records: records
                .iter()
                .map(|c| Read {
                    key: c.verify_key(None),
                    name: c.display_name().to_string(),
                    digest: c.content(None),
                })
                .collect(),
            ..SideRecords::default()
        }
    }

    fn contact(uid: &str, name: &str) -> Contact {
        let mut c = Contact::new(format!("id-{uid}"), "book", name);
        c.uid = Some(uid.into());
        c
    }

    #[test]
    fn missing_different_and_extra_records_are_named() {
        let src = side(vec![
            contact("1", "Ada"),
            contact("2", "Grace"),
            contact("3", "Edsger"),
        ]);
        let dst = side(vec![
            contact("1", "Ada"),
            contact("2", "Grace Hopper"),
            contact("4", "Barbara"),
        ]);
        let v = judge(src, dst);
        assert!(!v.ok);
        assert_eq!(v.missing.len(), 1);
        assert_eq!(v.missing[0].key, "uid:3");
        assert_eq!(v.different.len(), 1);
        assert_eq!(v.different[0].fields, vec!["formatted_name"]);
        assert_eq!(v.extra.len(), 1);
        assert_eq!(v.extra[0].name, "Barbara");
    }

    #[test]
    fn records_sharing_a_key_pair_with_their_equal_copy() {
        let src = side(vec![contact("1", "Ada"), contact("1", "Ada L.")]);
        let dst = side(vec![contact("1", "Ada L."), contact("1", "Ada")]);
        let v = judge(src, dst);
        assert!(v.ok, "{v:?}");
        assert!(v.extra.is_empty());
    }
}
