//! CardDAV (RFC 6352): address books of contacts ([`ContactsData`]).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use dtp_core::{
    AuthData, Cursor, Error, ExportContext, ExportPage, Exporter, ImportContext, Importer, Result,
};
use dtp_models::contacts::{AddressBook, Contact, ContactsData};
use dtp_models::vcard::{VCardVersion, parse_vcards, write_vcard};
use url::Url;

use crate::groupware::{CollCursor, DavConfig, Groupware, Proto, decode_cursor};
use crate::names::{collection_name, resource_name};

/// A CardDAV account: exports and imports address books.
///
/// Container ids are address book URLs; item ids are vCard UIDs. Contacts
/// are written as vCard 4.0 where the address book advertises it in
/// `supported-address-data`, else as vCard 3.0 (the version every CardDAV
/// server must accept).
pub struct CardDav {
    inner: Arc<Groupware>,
}

impl std::fmt::Debug for CardDav {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardDav")
            .field("base", &self.inner.config.base.as_str())
            .finish_non_exhaustive()
    }
}

impl CardDav {
    /// A CardDAV account with `config`.
    pub fn new(config: DavConfig) -> Result<Self> {
        Ok(CardDav {
            inner: Arc::new(Groupware::new(config, Proto::CardDav)?),
        })
    }

    /// The sync token of every address book listed by the last export.
    pub fn sync_tokens(&self) -> HashMap<String, String> {
        self.inner.sync_tokens()
    }

    /// The ETag of every resource exported so far (resource path → ETag).
    pub fn etags(&self) -> HashMap<String, String> {
        self.inner.etags()
    }

    fn container_url(ctx: &ImportContext, source_id: &str) -> Result<Url> {
        let id = ctx.require_container(source_id)?;
        Url::parse(&id).map_err(|e| Error::internal(format!("bad container id: {e}")))
    }

    fn version_for(&self, coll: &Url) -> VCardVersion {
        let versions = self
            .inner
            .created
            .lock()
            .ok()
            .and_then(|m| m.get(coll.as_str()).map(|c| c.vcard_versions.clone()))
            .unwrap_or_default();
        if versions.iter().any(|v| v == "4.0") {
            VCardVersion::V4
        } else {
            VCardVersion::V3
        }
    }
}

fn contact_uid(c: &Contact) -> String {
    c.uid.clone().unwrap_or_else(|| c.id.clone())
}

#[async_trait]
impl Exporter<ContactsData> for CardDav {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<ContactsData>> {
        if cursor.is_root() {
            let colls = self.inner.collections(auth).await?;
            let mut page = ExportPage::new();
            for c in &colls {
                let name = c
                    .name
                    .clone()
                    .unwrap_or_else(|| collection_name(c.url.path()));
                let mut book = AddressBook::new(c.url.as_str(), name);
                book.description = c.description.clone();
                page = page
                    .with_container(book)
                    .with_next(Cursor::new(&CollCursor {
                        c: c.url.as_str().to_string(),
                        h: None,
                        t: None,
                    })?);
            }
            return Ok(page);
        }
        let cc: CollCursor = decode_cursor(cursor)?;
        let (bodies, next) = self.inner.page(auth, &cc).await?;
        let mut page = ExportPage::new();
        for (href, body) in bodies {
            let parsed = parse_vcards(&body, &cc.c).map_err(|e| {
                Error::from(e)
                    .with_service("carddav")
                    .with_item(href.clone())
            })?;
            for c in parsed.value {
                page = page.with_item(c);
            }
        }
        if let Some(n) = next {
            page = page.with_next(Cursor::new(&n)?);
        }
        Ok(page)
    }
}

#[async_trait]
impl Importer<ContactsData> for CardDav {
    async fn import_container(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        b: &AddressBook,
    ) -> Result<dtp_core::Imported> {
        async move {
            let url = self
                .inner
                .ensure_collection(
                    ctx,
                    &b.id,
                    &b.name,
                    b.description.as_deref(),
                    None,
                    None,
                    "contacts",
                    true,
                )
                .await?
                .ok_or_else(|| Error::internal("address book not created"))?;
            Ok(url.to_string())
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        b: &AddressBook,
    ) -> Result<Option<String>> {
        Ok(self
            .inner
            .ensure_collection(ctx, &b.id, &b.name, None, None, None, "contacts", false)
            .await?
            .map(|u| u.to_string()))
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        contact: &Contact,
    ) -> Result<dtp_core::Imported> {
        async move {
            let coll = Self::container_url(ctx, &contact.address_book_id)?;
            let uid = contact_uid(contact);
            let mut c = contact.clone();
            c.uid = Some(uid.clone());
            let body = write_vcard(&c, self.version_for(&coll));
            self.inner
                .put(
                    ctx,
                    &coll,
                    &resource_name(&uid, "vcf"),
                    "text/vcard; charset=utf-8",
                    body,
                )
                .await
                .map_err(|err| err.with_item(contact.id.clone()))?;
            Ok(uid)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        contact: &Contact,
    ) -> Result<Option<String>> {
        let Ok(coll) = Self::container_url(ctx, &contact.address_book_id) else {
            return Ok(None);
        };
        let uid = contact_uid(contact);
        let url = crate::client::resolve(&coll, &resource_name(&uid, "vcf"))?;
        Ok(self.inner.exists(ctx, &url).await?.then_some(uid))
    }
}
