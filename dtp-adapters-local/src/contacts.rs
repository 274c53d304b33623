//! Contacts: `contacts/<address book>.vcf`, vCard 4.0, one file per book.

use std::collections::{HashMap, HashSet};

use dtp_core::{Error, ImportContext, Imported, Result};
use dtp_models::contacts::{AddressBook, Contact, ContactsData};
use dtp_models::vcard::{VCardVersion, parse_vcards, write_vcard};

use crate::fsutil::{self, io_error, safe_name, sha256_hex};
use crate::{Index, LocalArchive};

const ROOT: &str = "contacts";

/// What a `.vcf` holds, loaded once per import run.
pub(crate) struct VcfState {
    content: Vec<u8>,
    uids: HashMap<String, String>,
    hashes: HashSet<String>,
}

/// The canonical text of a contact (ids aside), for comparisons.
fn canonical(c: &Contact) -> String {
    write_vcard(c, VCardVersion::V4)
}

fn parse(bytes: &[u8], rel: &str) -> Result<Vec<Contact>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let parsed = parse_vcards(bytes, rel).map_err(|e| Error::from(e).with_item(rel))?;
    for w in &parsed.warnings {
        tracing::warn!(file = rel, warning = %w, "vCard");
    }
    Ok(parsed.value)
}

pub(crate) fn scan(archive: &LocalArchive) -> Result<Index<ContactsData>> {
    let mut containers = Vec::new();
    let mut items = Vec::new();
    for file in fsutil::list_dir(&archive.root().join(ROOT))? {
        if !file.is_file()
            || !file
                .to_string_lossy()
                .to_ascii_lowercase()
                .ends_with(".vcf")
        {
            continue;
        }
        let rel = archive.rel(&file);
        let mut book = archive
            .container_record::<AddressBook>(&rel)
            .unwrap_or_else(|| {
                let stem = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                AddressBook::new(rel.clone(), stem)
            });
        book.id = rel.clone();
        containers.push(book);
        let bytes = std::fs::read(&file).map_err(|e| io_error(e, &rel))?;
        for mut c in parse(&bytes, &rel)? {
            c.id = format!("{rel}#{}", c.id);
            c.address_book_id = rel.clone();
            items.push(c);
        }
    }
    Ok(Index { containers, items })
}

impl LocalArchive {
    pub(crate) fn import_address_book(&self, book: &AddressBook) -> Result<String> {
        let rel = format!("{ROOT}/{}.vcf", safe_name(&book.name));
        fsutil::write_new(&self.path(&rel)?, b"")?;
        let mut record = book.clone();
        record.id = rel.clone();
        self.remember_container(&rel, &record)?;
        Ok(rel)
    }

    pub(crate) async fn import_contact(
        &self,
        ctx: &ImportContext,
        c: &Contact,
    ) -> Result<Imported> {
        let rel = ctx.require_container(&c.address_book_id)?;
        let path = self.path(&rel)?;
        let state = self.state::<VcfState>(&rel);
        let mut guard = state.lock().await;
        if guard.is_none() {
            let content = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(io_error(e, &rel)),
            };
            let mut st = VcfState {
                uids: HashMap::new(),
                hashes: HashSet::new(),
                content: Vec::new(),
            };
            for existing in parse(&content, &rel)? {
                let h = sha256_hex(canonical(&existing).as_bytes());
                if let Some(uid) = &existing.uid {
                    st.uids.insert(uid.clone(), h.clone());
                }
                st.hashes.insert(h);
            }
            st.content = content;
            *guard = Some(st);
        }
        let Some(st) = guard.as_mut() else {
            return Err(Error::internal("address book state vanished"));
        };
        let text = canonical(c);
        // Compare as the file will read back.
        let h = match parse(text.as_bytes(), &rel)?.first() {
            Some(back) => sha256_hex(canonical(back).as_bytes()),
            None => return Err(Error::invalid_data("the contact writes no vCard")),
        };
        let id = match &c.uid {
            Some(uid) => format!("{rel}#{uid}"),
            None => format!("{rel}#sha256:{}", &h[..16]),
        };
        let present = match &c.uid {
            Some(uid) => match st.uids.get(uid) {
                Some(existing) if *existing == h => true,
                Some(_) => {
                    return Err(Error::invalid_data(format!(
                        "{rel} already holds a different contact with UID `{uid}`; it was not overwritten"
                    )));
                }
                None => false,
            },
            None => st.hashes.contains(&h),
        };
        if present {
            return Ok(Imported::new(id, self.note_present()));
        }
        let mut content = st.content.clone();
        if !content.is_empty() && !content.ends_with(b"\n") {
            content.extend_from_slice(b"\r\n");
        }
        content.extend_from_slice(text.as_bytes());
        fsutil::atomic_write(&path, &content)?;
        st.content = content;
        if let Some(uid) = &c.uid {
            st.uids.insert(uid.clone(), h.clone());
        }
        st.hashes.insert(h);
        Ok(Imported::new(id, self.note_written(0)))
    }
}
