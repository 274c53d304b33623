//! Outlook personal contacts (`/me/contacts`, `/me/contactFolders`).
//!
//! **Export** walks every contact folder, not only the default one
//! (`GET /me/contacts` covers the default folder only): the default folder
//! first (as the address book [`DEFAULT_FOLDER`], emitted only when it holds
//! contacts), then `GET /me/contactFolders` and, for each folder, its
//! `childFolders`, recursively. Each folder is an address book; its contacts
//! are listed page by page following `@odata.nextLink`. Nested folders come
//! out as separate address books (the model has no nesting).
//!
//! **Mapping** keeps everything Graph returns that the contact model can
//! hold: names (`givenName`, `middleName`, `surname`, `title`, `generation`
//! → `N`), `nickName`, e-mail addresses (with their display name as an
//! `X-NAME` parameter), business / home / mobile phones (types `work`,
//! `home`, `cell`), the three postal addresses (`work`, `home`, `other`),
//! company and department (`ORG`), `jobTitle` (`TITLE`), `profession`
//! (`ROLE`), `businessHomePage` (`URL`), `imAddresses` (`IMPP`), spouse,
//! children, manager and assistant (`RELATED`), `birthday`,
//! `personalNotes`, `categories`; the rest (`initials`, `fileAs`,
//! `officeLocation`, the three `yomi…` names) as `X-MS-…` properties, which
//! the importer writes back. Graph has no e-mail types, so the `home` /
//! `work` type of an e-mail address does not survive a trip through Graph.
//!
//! **Import** puts each address book into the contact folder of the same
//! name (created with `POST /me/contactFolders` when missing;
//! [`DEFAULT_FOLDER`] is the default folder), and each contact with a
//! single-value extended property holding its source key (the vCard UID
//! when it has one, else the source id). Before creating, the importer looks
//! for a contact with that key in the folder, so a rerun, a new job into
//! the same account, or a resumed run after a crash never makes a second
//! copy.

use async_trait::async_trait;
use dtp_core::{
    AuthData, Cursor, Error, ExportContext, ExportPage, Exporter, ImportContext, Importer,
    RateLimit, Result,
};
use dtp_models::contacts::{
    Address, AddressBook, Contact, ContactsData, Organization, StructuredName, TypedValue,
};
use dtp_models::props::{Param, RawProperty};
use dtp_models::{DateOrText, PartialDateTime};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::{GraphClient, segment};
use crate::ext::{self, ExtendedProperty};

/// The source id given to the default contacts folder.
pub const DEFAULT_FOLDER: &str = "@default-contacts";

/// Contacts per page.
const PAGE: usize = 50;

/// Outlook contacts through Graph: exporter and importer.
#[derive(Debug, Clone)]
pub struct OutlookContacts {
    client: GraphClient,
}

impl OutlookContacts {
    /// Contacts of the account `client` acts for.
    pub fn new(client: GraphClient) -> Self {
        OutlookContacts { client }
    }

    fn contacts_url(&self, folder: &str) -> Result<url::Url> {
        let path = if folder == DEFAULT_FOLDER {
            "me/contacts".to_string()
        } else {
            format!("me/contactFolders/{}/contacts", segment(folder))
        };
        let q = ext::query(&[
            ("$top", &PAGE.to_string()),
            ("$expand", &ext::expand(&ext::source_key_id())),
        ]);
        self.client.url(&format!("{path}?{q}"))
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum ContactsCursor {
    /// A page of folders (top level or a folder's children) at `url`.
    Folders { url: String },
    /// A page of contacts of `folder` at `url`.
    Contacts { folder: String, url: String },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphFolder {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
}

/// A Graph `contact` (<https://learn.microsoft.com/en-us/graph/api/resources/contact>).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GraphContact {
    #[serde(skip_serializing)]
    id: Option<String>,
    #[serde(skip_serializing)]
    parent_folder_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    middle_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    surname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nick_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    initials: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_as: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    email_addresses: Vec<EmailAddress>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    im_addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    business_phones: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    home_phones: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    home_address: Option<PhysicalAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    business_address: Option<PhysicalAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    other_address: Option<PhysicalAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    office_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profession: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manager: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assistant_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    business_home_page: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    birthday: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spouse_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    children: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    personal_notes: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    categories: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    yomi_given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    yomi_surname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    yomi_company_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    single_value_extended_properties: Vec<ExtendedProperty>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct EmailAddress {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
struct PhysicalAddress {
    #[serde(skip_serializing_if = "Option::is_none")]
    street: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_or_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

fn opt(v: &[String]) -> Option<String> {
    let joined = v.join(" ");
    (!joined.is_empty()).then_some(joined)
}

const X_PROPS: [&str; 6] = [
    "X-MS-INITIALS",
    "X-MS-FILEAS",
    "X-MS-OFFICELOCATION",
    "X-MS-YOMIGIVENNAME",
    "X-MS-YOMISURNAME",
    "X-MS-YOMICOMPANYNAME",
];

impl GraphContact {
    fn x_fields(&self) -> [&Option<String>; 6] {
        [
            &self.initials,
            &self.file_as,
            &self.office_location,
            &self.yomi_given_name,
            &self.yomi_surname,
            &self.yomi_company_name,
        ]
    }

    fn x_fields_mut(&mut self) -> [&mut Option<String>; 6] {
        [
            &mut self.initials,
            &mut self.file_as,
            &mut self.office_location,
            &mut self.yomi_given_name,
            &mut self.yomi_surname,
            &mut self.yomi_company_name,
        ]
    }

    /// Converts to the common model, in address book `book`.
    pub fn to_model(&self, book: &str) -> Result<Contact> {
        let id = self
            .id
            .clone()
            .ok_or_else(|| Error::invalid_data("a Graph contact without an id"))?;
        let display = nonempty(&self.display_name)
            .map(str::to_string)
            .or_else(|| {
                opt(&[
                    self.given_name.clone().unwrap_or_default(),
                    self.surname.clone().unwrap_or_default(),
                ])
            })
            .unwrap_or_default();
        let mut c = Contact::new(id, book, display);
        let one = |v: &Option<String>| -> Vec<String> {
            nonempty(v).map(str::to_string).into_iter().collect()
        };
        let mut name = StructuredName::default();
        name.family = one(&self.surname);
        name.given = one(&self.given_name);
        name.additional = one(&self.middle_name);
        name.prefixes = one(&self.title);
        name.suffixes = one(&self.generation);
        if name != StructuredName::default() {
            c.name = Some(name);
        }
        if let Some(n) = nonempty(&self.nick_name) {
            c.nicknames.push(n.to_string());
        }
        for e in &self.email_addresses {
            let Some(addr) = nonempty(&e.address) else {
                continue;
            };
            let mut tv = TypedValue::new(addr, &[]);
            if let Some(name) = nonempty(&e.name).filter(|n| *n != addr) {
                tv = tv.with_param(Param::new("X-NAME", &[name]));
            }
            c.emails.push(tv);
        }
        if let Some(m) = nonempty(&self.mobile_phone) {
            c.phones.push(TypedValue::new(m, &["cell"]));
        }
        for p in self.business_phones.iter().filter(|p| !p.is_empty()) {
            c.phones.push(TypedValue::new(p, &["work"]));
        }
        for p in self.home_phones.iter().filter(|p| !p.is_empty()) {
            c.phones.push(TypedValue::new(p, &["home"]));
        }
        for (a, ty) in [
            (&self.home_address, "home"),
            (&self.business_address, "work"),
            (&self.other_address, "other"),
        ] {
            if let Some(a) = a.as_ref().filter(|a| **a != PhysicalAddress::default()) {
                let mut adr = Address::new().with_types(&[ty]);
                adr.street = nonempty(&a.street)
                    .map(str::to_string)
                    .into_iter()
                    .collect();
                adr.locality = nonempty(&a.city).map(str::to_string).into_iter().collect();
                adr.region = nonempty(&a.state).map(str::to_string).into_iter().collect();
                adr.postal_code = nonempty(&a.postal_code)
                    .map(str::to_string)
                    .into_iter()
                    .collect();
                adr.country = nonempty(&a.country_or_region)
                    .map(str::to_string)
                    .into_iter()
                    .collect();
                c.addresses.push(adr);
            }
        }
        if nonempty(&self.company_name).is_some() || nonempty(&self.department).is_some() {
            let mut org = Organization::new(self.company_name.clone().unwrap_or_default());
            if let Some(d) = nonempty(&self.department) {
                org = org.with_unit(d);
            }
            c.organizations.push(org);
        }
        if let Some(t) = nonempty(&self.job_title) {
            c.titles.push(TypedValue::new(t, &[]));
        }
        if let Some(p) = nonempty(&self.profession) {
            c.roles.push(TypedValue::new(p, &[]));
        }
        if let Some(u) = nonempty(&self.business_home_page) {
            c.urls.push(TypedValue::new(u, &["work"]));
        }
        for im in self.im_addresses.iter().filter(|s| !s.is_empty()) {
            c.ims.push(TypedValue::new(im, &[]));
        }
        if let Some(s) = nonempty(&self.spouse_name) {
            c.related.push(TypedValue::new(s, &["spouse"]));
        }
        for ch in self.children.iter().filter(|s| !s.is_empty()) {
            c.related.push(TypedValue::new(ch, &["child"]));
        }
        if let Some(m) = nonempty(&self.manager) {
            c.related.push(TypedValue::new(m, &["x-manager"]));
        }
        if let Some(a) = nonempty(&self.assistant_name) {
            c.related.push(TypedValue::new(a, &["x-assistant"]));
        }
        if let Some(b) = nonempty(&self.birthday) {
            c.birthday = Some(parse_birthday(b));
        }
        if let Some(n) = nonempty(&self.personal_notes) {
            c.notes.push(TypedValue::new(n, &[]));
        }
        c.categories = self.categories.clone();
        for (name, value) in X_PROPS.iter().zip(self.x_fields()) {
            if let Some(v) = nonempty(value) {
                c.properties.push(RawProperty::text(*name, v));
            }
        }
        if let Some(key) = ext::find(
            &self.single_value_extended_properties,
            &ext::source_key_id(),
        ) && let Some(uid) = key.strip_prefix("uid:")
        {
            c.uid = Some(uid.to_string());
        }
        Ok(c)
    }

    /// Builds the Graph body for a model contact.
    pub fn from_model(c: &Contact) -> Self {
        let mut g = GraphContact {
            display_name: Some(c.formatted_name.clone()),
            ..Default::default()
        };
        if let Some(n) = &c.name {
            g.given_name = opt(&n.given);
            g.surname = opt(&n.family);
            g.middle_name = opt(&n.additional);
            g.title = opt(&n.prefixes);
            g.generation = opt(&n.suffixes);
        }
        g.nick_name = c.nicknames.first().cloned();
        g.email_addresses = c
            .emails
            .iter()
            .map(|e| EmailAddress {
                address: Some(e.value.clone()),
                name: e
                    .params
                    .iter()
                    .find(|p| p.name == "X-NAME")
                    .and_then(|p| p.values.first().cloned()),
            })
            .collect();
        for p in &c.phones {
            let has = |t: &str| p.types.iter().any(|x| x.eq_ignore_ascii_case(t));
            if has("cell") && g.mobile_phone.is_none() {
                g.mobile_phone = Some(p.value.clone());
            } else if has("work") {
                g.business_phones.push(p.value.clone());
            } else {
                g.home_phones.push(p.value.clone());
            }
        }
        for a in &c.addresses {
            let has = |t: &str| a.types.iter().any(|x| x.eq_ignore_ascii_case(t));
            let slot = if has("work") {
                &mut g.business_address
            } else if has("home") && g.home_address.is_none() {
                &mut g.home_address
            } else if g.other_address.is_none() {
                &mut g.other_address
            } else if g.home_address.is_none() {
                &mut g.home_address
            } else {
                continue;
            };
            if slot.is_some() {
                continue;
            }
            let street: Vec<String> = a
                .po_box
                .iter()
                .chain(&a.extended)
                .chain(&a.street)
                .cloned()
                .collect();
            *slot = Some(PhysicalAddress {
                street: (!street.is_empty()).then(|| street.join("\n")),
                city: opt(&a.locality),
                state: opt(&a.region),
                postal_code: opt(&a.postal_code),
                country_or_region: opt(&a.country),
            });
        }
        if let Some(o) = c.organizations.first() {
            g.company_name = (!o.name.is_empty()).then(|| o.name.clone());
            g.department = opt(&o.units);
        }
        g.job_title = c.titles.first().map(|t| t.value.clone());
        g.profession = c.roles.first().map(|t| t.value.clone());
        g.business_home_page = c.urls.first().map(|t| t.value.clone());
        g.im_addresses = c.ims.iter().map(|t| t.value.clone()).collect();
        for r in &c.related {
            let has = |t: &str| r.types.iter().any(|x| x.eq_ignore_ascii_case(t));
            if has("spouse") && g.spouse_name.is_none() {
                g.spouse_name = Some(r.value.clone());
            } else if has("child") {
                g.children.push(r.value.clone());
            } else if has("x-manager") {
                g.manager = Some(r.value.clone());
            } else if has("x-assistant") || has("agent") {
                g.assistant_name = Some(r.value.clone());
            }
        }
        if let Some(DateOrText::Date(d)) = &c.birthday
            && let (Some(y), Some(m), Some(day)) = (d.year, d.month, d.day)
        {
            g.birthday = Some(format!("{y:04}-{m:02}-{day:02}T00:00:00Z"));
        }
        let notes: Vec<String> = c.notes.iter().map(|n| n.value.clone()).collect();
        g.personal_notes = (!notes.is_empty()).then(|| notes.join("\n\n"));
        g.categories = c.categories.clone();
        for (name, slot) in X_PROPS.iter().zip(g.x_fields_mut()) {
            if let Some(p) = c.properties.iter().find(|p| p.name == *name) {
                *slot = Some(p.text_value());
            }
        }
        g.single_value_extended_properties =
            vec![ExtendedProperty::new(ext::source_key_id(), source_key(c))];
        g
    }
}

fn parse_birthday(s: &str) -> DateOrText {
    let date = s.get(..10).unwrap_or(s);
    let parts: Vec<&str> = date.split('-').collect();
    if let [y, m, d] = parts[..]
        && let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u16>(), m.parse::<u8>(), d.parse::<u8>())
    {
        return DateOrText::Date(PartialDateTime::ymd(y, m, d));
    }
    DateOrText::Text(s.to_string())
}

/// The key an imported contact carries: its vCard UID, else its source id.
pub fn source_key(c: &Contact) -> String {
    match &c.uid {
        Some(uid) if !uid.is_empty() => format!("uid:{uid}"),
        _ => format!("src:{}", c.id),
    }
}

#[async_trait]
impl Exporter<ContactsData> for OutlookContacts {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<ContactsData>> {
        if cursor.is_root() {
            // The default folder first: its contacts' first page.
            let url = self.contacts_url(DEFAULT_FOLDER)?;
            let page = self
                .client
                .get_page::<GraphContact>(auth, url, None)
                .await?;
            let mut out = ExportPage::new();
            if !page.value.is_empty() || page.next_link.is_some() {
                out = out.with_container(AddressBook::new(DEFAULT_FOLDER, "Contacts"));
                for g in &page.value {
                    out = out.with_item(g.to_model(DEFAULT_FOLDER)?);
                }
                if let Some(next) = page.next_link {
                    out = out.with_next(Cursor::new(&ContactsCursor::Contacts {
                        folder: DEFAULT_FOLDER.into(),
                        url: next,
                    })?);
                }
            }
            let folders = self.client.url("me/contactFolders?%24top=100")?;
            return Ok(out.with_next(Cursor::new(&ContactsCursor::Folders {
                url: folders.to_string(),
            })?));
        }
        match cursor.decode::<ContactsCursor>()? {
            ContactsCursor::Folders { url } => {
                let url = self.client.link(&url)?;
                let page = self.client.get_page::<GraphFolder>(auth, url, None).await?;
                let mut out = ExportPage::new();
                for f in page.value {
                    let name = f.display_name.clone().unwrap_or_default();
                    out = out
                        .with_container(AddressBook::new(f.id.clone(), name))
                        .with_next(Cursor::new(&ContactsCursor::Contacts {
                            folder: f.id.clone(),
                            url: self.contacts_url(&f.id)?.to_string(),
                        })?)
                        .with_next(Cursor::new(&ContactsCursor::Folders {
                            url: self
                                .client
                                .url(&format!(
                                    "me/contactFolders/{}/childFolders?%24top=100",
                                    segment(&f.id)
                                ))?
                                .to_string(),
                        })?);
                }
                if let Some(next) = page.next_link {
                    out = out.with_next(Cursor::new(&ContactsCursor::Folders { url: next })?);
                }
                Ok(out)
            }
            ContactsCursor::Contacts { folder, url } => {
                let url = self.client.link(&url)?;
                let page = match self.client.get_page::<GraphContact>(auth, url, None).await {
                    Ok(p) => p,
                    // The folder vanished since it was listed.
                    Err(e) if *e.kind() == dtp_core::ErrorKind::NotFound => {
                        return Ok(ExportPage::new());
                    }
                    Err(e) => return Err(e),
                };
                let mut out = ExportPage::new();
                for g in &page.value {
                    out = out.with_item(g.to_model(&folder)?);
                }
                if let Some(next) = page.next_link {
                    out = out.with_next(Cursor::new(&ContactsCursor::Contacts {
                        folder,
                        url: next,
                    })?);
                }
                Ok(out)
            }
        }
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        Some(self.client.outlook_rate_limit())
    }
}

impl OutlookContacts {
    async fn find_folder(&self, auth: &AuthData, name: &str) -> Result<Option<String>> {
        let url = self.client.url("me/contactFolders?%24top=100")?;
        let all: Vec<GraphFolder> = self.client.get_all(auth, url, None).await?;
        Ok(all
            .into_iter()
            .find(|f| f.display_name.as_deref() == Some(name))
            .map(|f| f.id))
    }

    async fn find_contact(
        &self,
        auth: &AuthData,
        folder: &str,
        key: &str,
    ) -> Result<Option<String>> {
        let base = if folder == DEFAULT_FOLDER {
            "me/contacts".to_string()
        } else {
            format!("me/contactFolders/{}/contacts", segment(folder))
        };
        ext::find_by_source_key(&self.client, auth, &base, key).await
    }

    fn destination_folder(&self, ctx: &ImportContext, c: &Contact) -> Result<String> {
        ctx.require_container(&c.address_book_id)
    }
}

#[async_trait]
impl Importer<ContactsData> for OutlookContacts {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        book: &AddressBook,
    ) -> Result<dtp_core::Imported> {
        async move {
            if book.id == DEFAULT_FOLDER {
                return Ok(DEFAULT_FOLDER.to_string());
            }
            if let Some(id) = self.find_folder(auth, &book.name).await? {
                return Ok(id);
            }
            let url = self.client.url("me/contactFolders")?;
            let created: GraphFolder = self
                .client
                .post_json(auth, url, &json!({ "displayName": book.name }))
                .await?;
            Ok(created.id)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        contact: &Contact,
    ) -> Result<dtp_core::Imported> {
        async move {
            let folder = self.destination_folder(ctx, contact)?;
            let key = source_key(contact);
            if let Some(id) = self.find_contact(auth, &folder, &key).await? {
                return Ok(id);
            }
            let path = if folder == DEFAULT_FOLDER {
                "me/contacts".to_string()
            } else {
                format!("me/contactFolders/{}/contacts", segment(&folder))
            };
            let body = GraphContact::from_model(contact);
            let created: GraphContact = self
                .client
                .post_json(auth, self.client.url(&path)?, &body)
                .await?;
            created
                .id
                .ok_or_else(|| Error::invalid_data("Graph created a contact without an id"))
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        book: &AddressBook,
    ) -> Result<Option<String>> {
        if book.id == DEFAULT_FOLDER {
            return Ok(Some(DEFAULT_FOLDER.to_string()));
        }
        self.find_folder(auth, &book.name).await
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        contact: &Contact,
    ) -> Result<Option<String>> {
        let folder = self.destination_folder(ctx, contact)?;
        self.find_contact(auth, &folder, &source_key(contact)).await
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        Some(self.client.outlook_rate_limit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_contact_maps_without_loss() {
        let g: GraphContact =
            serde_json::from_value(crate::test_fixture!("me_contacts.item")).unwrap();
        let c = g.to_model("book").unwrap();
        assert_eq!(c.uid.as_deref(), Some("abc-123"));
        assert_eq!(c.phones.len(), 3);
        assert_eq!(c.addresses.len(), 1);
        assert_eq!(c.related.len(), 5);
        assert_eq!(c.properties.len(), 6);
        // Back to Graph and again to the model: the same contact.
        let mut back = GraphContact::from_model(&c);
        back.id = Some("AAMkAGI2THk0AAA=".into());
        let again = back.to_model("book").unwrap();
        assert_eq!(again, c);
        // And the Graph fields themselves survive.
        let v1 = serde_json::to_value(&g).unwrap();
        let mut v2 = serde_json::to_value(&back).unwrap();
        let mut v1 = v1;
        for v in [&mut v1, &mut v2] {
            let m = v.as_object_mut().unwrap();
            m.remove("businessAddress");
            m.remove("otherAddress");
        }
        assert_eq!(v1, v2);
    }

    #[test]
    fn sample_without_uid_keys_by_source_id() {
        let c = Contact::new("contact-1", "b", "X");
        assert_eq!(source_key(&c), "src:contact-1");
        let g = GraphContact::from_model(&c);
        let mut g2 = g.clone();
        g2.id = Some("id".into());
        assert_eq!(g2.to_model("b").unwrap().uid, None);
    }
}
