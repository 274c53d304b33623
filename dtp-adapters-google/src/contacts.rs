//! Contacts over the People API (docs/provider-notes.md G3).
//!
//! **Export** ([`PeopleExporter`]): `GET v1/contactGroups` (every page) gives
//! the address books — one per user contact group; then
//! `GET v1/people/me/connections` with the full `personFields` list, page by
//! page (an empty page that still carries `nextPageToken` is followed). A
//! contact's address book is the group the importer filed it under (kept in
//! `clientData`), else its first user group, else "My Contacts"
//! (`contactGroups/myContacts`, emitted as an address book on the first page
//! that needs it); its other user groups (and `starred`) are its
//! `categories`.
//!
//! **Mapping**: names, nicknames, e-mail addresses, phone numbers (Google
//! `mobile` ⇄ vCard `cell`, `homeFax` ⇄ `home`+`fax`, …), postal addresses,
//! birthday, anniversary, organizations with titles and job descriptions,
//! biography, URLs, IM clients, relations and photos map onto the common
//! model. Nothing the API returns is lost: every Person field that the model
//! cannot carry exactly (a second name, a custom event, `userDefined`,
//! `sipAddresses`, `externalIds`, …) travels verbatim as an
//! `X-GOOGLE-PEOPLE-<FIELD>` property holding the field's JSON (output-only
//! sub-fields stripped) and is written back on import. The check is
//! mechanical: a field is kept verbatim exactly when mapping it to the model
//! and back does not reproduce it.
//!
//! **Import** ([`PeopleImporter`]): address books become contact groups
//! (`POST v1/contactGroups`; an existing group of the same name is reused),
//! "My Contacts" maps to the system group; categories become groups too.
//! Contacts are created with `POST v1/people:batchCreateContacts` in batches
//! of at most [`MAX_BATCH`] (200, the documented limit), serialised per
//! importer (Google asks for sequential mutations per user); a batch
//! refused as a whole falls back to one `createContact` per contact so that
//! only the bad one fails. Each created contact carries its source id in
//! `clientData` (`dtp.sourceId`): the importer finds contacts an earlier or
//! interrupted run created, so reruns and resumed runs add nothing.
//!
//! Contact photos are exported as URLs (Google serves them from its own
//! hosts). On import, a photo that carries bytes (inline in a vCard, or a
//! media reference streamed from the source) is uploaded with
//! `people.updateContactPhoto` after the contact is created; a URL photo is
//! not fetched.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use dtp_core::{
    AuthData, Cursor, Error, ExportContext, ExportPage, Exporter, ImportContext, Importer,
    RateLimit, Record, Result,
};
use dtp_models::contacts::{
    Address, AddressBook, Contact, ContactsData, Organization, Photo, PhotoSource, StructuredName,
    TypedValue,
};
use dtp_models::props::{Param, RawProperty};
use dtp_models::{DateOrText, PartialDateTime};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::client::{Api, GoogleClient, Request};
use crate::limits::{self, Side};

/// Every `personFields` value (the People API reference's list).
pub const PERSON_FIELDS: &str = "addresses,ageRanges,biographies,birthdays,calendarUrls,clientData,coverPhotos,emailAddresses,events,externalIds,genders,imClients,interests,locales,locations,memberships,metadata,miscKeywords,names,nicknames,occupations,organizations,phoneNumbers,photos,relations,sipAddresses,skills,urls,userDefined";

/// The most contacts one `batchCreateContacts` request may carry.
pub const MAX_BATCH: usize = 200;

/// The system group every contact belongs to.
pub const MY_CONTACTS: &str = "contactGroups/myContacts";
/// The system group of starred contacts.
pub const STARRED: &str = "contactGroups/starred";
/// The category name used for [`STARRED`].
pub const STARRED_CATEGORY: &str = "starred";

/// `clientData` key holding the source id of an imported contact.
pub const CLIENT_SOURCE_ID: &str = "dtp.sourceId";
/// `clientData` key holding the group a contact was filed under.
pub const CLIENT_ADDRESS_BOOK: &str = "dtp.addressBook";
/// `clientData` key holding the vCard UID of an imported contact.
pub const CLIENT_UID: &str = "dtp.uid";

/// Prefix of the properties that carry Person fields verbatim.
pub const RAW_PREFIX: &str = "X-GOOGLE-PEOPLE-";

/// Person fields that are output-only or handled apart (never compared or
/// written back verbatim).
const NOT_RAW: &[&str] = &[
    "resourceName",
    "etag",
    "metadata",
    "memberships",
    "photos",
    "coverPhotos",
    "ageRange",
    "ageRanges",
    "clientData",
];

/// Sub-fields the API computes (output only); stripped before comparing.
const OUTPUT_ONLY: &[&str] = &[
    "metadata",
    "formattedType",
    "canonicalForm",
    "displayName",
    "displayNameLastFirst",
    "formattedProtocol",
];

/// Fields the mapping carries (compared after a model round trip).
const MAPPED: &[&str] = &[
    "names",
    "nicknames",
    "emailAddresses",
    "phoneNumbers",
    "addresses",
    "birthdays",
    "events",
    "organizations",
    "biographies",
    "urls",
    "imClients",
    "relations",
];

/// The exporter's position.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
enum PeopleCursor {
    Groups {
        page_token: Option<String>,
        groups: BTreeMap<String, String>,
    },
    Connections {
        page_token: Option<String>,
        groups: BTreeMap<String, String>,
        my_contacts_emitted: bool,
    },
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GroupsPage {
    contact_groups: Vec<ContactGroup>,
    next_page_token: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
struct ContactGroup {
    resource_name: String,
    name: String,
    group_type: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ConnectionsPage {
    connections: Vec<Value>,
    next_page_token: Option<String>,
}

/// Exports contacts from the People API.
#[derive(Debug, Clone)]
pub struct PeopleExporter {
    client: GoogleClient,
    page_size: u32,
}

impl PeopleExporter {
    /// An exporter over `client`, 100 connections per page.
    pub fn new(client: GoogleClient) -> Self {
        PeopleExporter {
            client,
            page_size: 100,
        }
    }

    /// Sets the page size (1–1000).
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, 1000);
        self
    }
}

async fn list_groups_page(
    client: &GoogleClient,
    auth: &AuthData,
    page_token: Option<&str>,
) -> Result<GroupsPage> {
    client
        .json(
            auth,
            Request::get(Api::People, "v1/contactGroups")
                .query("pageSize", "1000")
                .query("groupFields", "name,groupType")
                .query_opt("pageToken", page_token),
        )
        .await
}

#[async_trait]
impl Exporter<ContactsData> for PeopleExporter {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<ContactsData>> {
        let cur = if cursor.is_root() {
            PeopleCursor::Groups {
                page_token: None,
                groups: BTreeMap::new(),
            }
        } else {
            cursor.decode()?
        };
        match cur {
            PeopleCursor::Groups {
                page_token,
                mut groups,
            } => {
                let page = list_groups_page(&self.client, auth, page_token.as_deref()).await?;
                let mut out = ExportPage::new();
                for g in page.contact_groups {
                    if g.group_type.as_deref() == Some("USER_CONTACT_GROUP") {
                        out = out.with_container(AddressBook::new(&g.resource_name, &g.name));
                        groups.insert(g.resource_name, g.name);
                    }
                }
                let next = match page.next_page_token.filter(|t| !t.is_empty()) {
                    Some(t) => PeopleCursor::Groups {
                        page_token: Some(t),
                        groups,
                    },
                    None => PeopleCursor::Connections {
                        page_token: None,
                        groups,
                        my_contacts_emitted: false,
                    },
                };
                Ok(out.with_next(Cursor::new(&next)?))
            }
            PeopleCursor::Connections {
                page_token,
                groups,
                mut my_contacts_emitted,
            } => {
                let page: ConnectionsPage = self
                    .client
                    .json(
                        auth,
                        Request::get(Api::People, "v1/people/me/connections")
                            .query("personFields", PERSON_FIELDS)
                            .query("pageSize", self.page_size.to_string())
                            .query_opt("pageToken", page_token.as_deref()),
                    )
                    .await?;
                let mut out = ExportPage::new();
                for p in &page.connections {
                    let c = person_to_contact(p, &groups)?;
                    if c.address_book_id == MY_CONTACTS && !my_contacts_emitted {
                        out = out.with_container(AddressBook::new(MY_CONTACTS, "My Contacts"));
                        my_contacts_emitted = true;
                    }
                    out = out.with_item(c);
                }
                if let Some(t) = page.next_page_token.filter(|t| !t.is_empty()) {
                    out = out.with_next(Cursor::new(&PeopleCursor::Connections {
                        page_token: Some(t),
                        groups,
                        my_contacts_emitted,
                    })?);
                }
                Ok(out)
            }
        }
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        let c = self.client.config();
        c.rate_limits
            .then(|| limits::rate_limit(Api::People, Side::Export, &c.account, 0))
    }
}

// ---------------------------------------------------------------- mapping

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
}

fn arr<'a>(p: &'a Value, k: &str) -> &'a [Value] {
    p.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn words(v: Option<String>) -> Vec<String> {
    v.map(|x| vec![x]).unwrap_or_default()
}

fn joined(v: &[String]) -> Option<String> {
    let j = v.join(" ");
    (!j.is_empty()).then_some(j)
}

/// Google phone types to vCard types.
fn phone_types_from_google(t: &str) -> Vec<String> {
    let v: &[&str] = match t {
        "mobile" => &["cell"],
        "homeFax" => &["home", "fax"],
        "workFax" => &["work", "fax"],
        "otherFax" => &["fax"],
        "workMobile" => &["work", "cell"],
        "workPager" => &["work", "pager"],
        _ => return vec![t.to_string()],
    };
    v.iter().map(|s| s.to_string()).collect()
}

fn phone_type_to_google(types: &[String]) -> Option<String> {
    let has = |t: &str| types.iter().any(|x| x.eq_ignore_ascii_case(t));
    let out = if has("fax") && has("home") {
        "homeFax"
    } else if has("fax") && has("work") {
        "workFax"
    } else if has("fax") {
        "otherFax"
    } else if has("cell") && has("work") {
        "workMobile"
    } else if has("pager") && has("work") {
        "workPager"
    } else if has("cell") {
        "mobile"
    } else {
        return types.first().map(|t| google_type(t));
    };
    Some(out.to_string())
}

/// Google's camelCase type tokens; a type that differs only in case (as
/// vCard files lower-case them) is written back in Google's spelling.
const GOOGLE_TYPES: &[&str] = &[
    "homePage",
    "appInstallPage",
    "googleVoice",
    "homeFax",
    "workFax",
    "otherFax",
    "workMobile",
    "workPager",
    "domesticPartner",
    "referredBy",
];

fn google_type(t: &str) -> String {
    GOOGLE_TYPES
        .iter()
        .find(|g| g.eq_ignore_ascii_case(t))
        .map(|g| g.to_string())
        .unwrap_or_else(|| t.to_string())
}

/// Reads the JSON kept verbatim in an `X-GOOGLE-*` property.
pub fn raw_json(prop: &RawProperty) -> Option<Value> {
    serde_json::from_str(&prop.text_value()).ok()
}

fn typed(value: String, t: Option<String>) -> TypedValue {
    let mut tv = TypedValue::new(value, &[]);
    tv.types = t.into_iter().collect();
    tv
}

fn date_of(v: &Value) -> Option<PartialDateTime> {
    let d = v.get("date")?;
    let n = |k: &str| d.get(k).and_then(Value::as_u64).filter(|x| *x > 0);
    let mut p = PartialDateTime::default();
    p.year = n("year").and_then(|x| u16::try_from(x).ok());
    p.month = n("month").and_then(|x| u8::try_from(x).ok());
    p.day = n("day").and_then(|x| u8::try_from(x).ok());
    (p.year.is_some() || p.month.is_some() || p.day.is_some()).then_some(p)
}

fn date_json(p: &PartialDateTime) -> Value {
    let mut m = Map::new();
    if let Some(y) = p.year {
        m.insert("year".into(), json!(y));
    }
    if let Some(x) = p.month {
        m.insert("month".into(), json!(x));
    }
    if let Some(x) = p.day {
        m.insert("day".into(), json!(x));
    }
    Value::Object(m)
}

/// The Person fields the model carries, as Google would take them on create.
fn mapped_fields(c: &Contact) -> Map<String, Value> {
    let mut p = Map::new();
    let mut name = Map::new();
    if let Some(n) = &c.name {
        for (k, v) in [
            ("familyName", &n.family),
            ("givenName", &n.given),
            ("middleName", &n.additional),
            ("honorificPrefix", &n.prefixes),
            ("honorificSuffix", &n.suffixes),
        ] {
            if let Some(j) = joined(v) {
                name.insert(k.into(), json!(j));
            }
        }
    }
    if !c.formatted_name.is_empty() {
        name.insert("unstructuredName".into(), json!(c.formatted_name));
    }
    if !name.is_empty() {
        p.insert("names".into(), json!([name]));
    }
    let list = |p: &mut Map<String, Value>, k: &str, v: Vec<Value>| {
        if !v.is_empty() {
            p.insert(k.into(), Value::Array(v));
        }
    };
    list(
        &mut p,
        "nicknames",
        c.nicknames.iter().map(|n| json!({"value": n})).collect(),
    );
    let with_type = |value: &str, t: Option<String>, key: &str| {
        let mut m = Map::new();
        m.insert(key.into(), json!(value));
        if let Some(t) = t {
            m.insert("type".into(), json!(google_type(&t)));
        }
        Value::Object(m)
    };
    list(
        &mut p,
        "emailAddresses",
        c.emails
            .iter()
            .map(|e| with_type(&e.value, e.types.first().cloned(), "value"))
            .collect(),
    );
    list(
        &mut p,
        "phoneNumbers",
        c.phones
            .iter()
            .map(|e| with_type(&e.value, phone_type_to_google(&e.types), "value"))
            .collect(),
    );
    list(
        &mut p,
        "addresses",
        c.addresses.iter().map(address_json).collect(),
    );
    match &c.birthday {
        Some(DateOrText::Date(d)) => {
            p.insert("birthdays".into(), json!([{"date": date_json(d)}]));
        }
        Some(DateOrText::Text(t)) => {
            p.insert("birthdays".into(), json!([{"text": t}]));
        }
        _ => {}
    }
    if let Some(DateOrText::Date(d)) = &c.anniversary {
        p.insert(
            "events".into(),
            json!([{"date": date_json(d), "type": "anniversary"}]),
        );
    }
    let orgs: Vec<Value> = c
        .organizations
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut m = Map::new();
            if !o.name.is_empty() {
                m.insert("name".into(), json!(o.name));
            }
            if let Some(d) = joined(&o.units) {
                m.insert("department".into(), json!(d));
            }
            if let Some(t) = o.types.first() {
                m.insert("type".into(), json!(t));
            }
            if let Some(t) = c.titles.get(i) {
                m.insert("title".into(), json!(t.value));
            }
            if let Some(r) = c.roles.get(i) {
                m.insert("jobDescription".into(), json!(r.value));
            }
            Value::Object(m)
        })
        .collect();
    list(&mut p, "organizations", orgs);
    if let Some(n) = c.notes.first() {
        p.insert(
            "biographies".into(),
            json!([{"value": n.value, "contentType": "TEXT_PLAIN"}]),
        );
    }
    list(
        &mut p,
        "urls",
        c.urls
            .iter()
            .map(|u| with_type(&u.value, u.types.first().cloned(), "value"))
            .collect(),
    );
    list(
        &mut p,
        "imClients",
        c.ims
            .iter()
            .map(|u| {
                let (proto, user) = u.value.split_once(':').unwrap_or(("", &u.value));
                let mut m = Map::new();
                m.insert("username".into(), json!(user));
                if !proto.is_empty() {
                    m.insert("protocol".into(), json!(proto));
                }
                if let Some(t) = u.types.first() {
                    m.insert("type".into(), json!(t));
                }
                Value::Object(m)
            })
            .collect(),
    );
    list(
        &mut p,
        "relations",
        c.related
            .iter()
            .map(|u| with_type(&u.value, u.types.first().cloned(), "person"))
            .collect(),
    );
    p
}

fn address_json(a: &Address) -> Value {
    let mut m = Map::new();
    for (k, v) in [
        ("poBox", &a.po_box),
        ("extendedAddress", &a.extended),
        ("streetAddress", &a.street),
        ("city", &a.locality),
        ("region", &a.region),
        ("postalCode", &a.postal_code),
        ("country", &a.country),
    ] {
        if let Some(j) = joined(v) {
            m.insert(k.into(), json!(j));
        }
    }
    if let Some(cc) = a
        .params
        .iter()
        .find(|p| p.name == "X-GOOGLE-COUNTRY-CODE")
        .and_then(|p| p.values.first())
    {
        m.insert("countryCode".into(), json!(cc));
    }
    if let Some(l) = &a.label {
        m.insert("formattedValue".into(), json!(l));
    }
    if let Some(t) = a.types.first() {
        m.insert("type".into(), json!(t));
    }
    Value::Object(m)
}

/// Removes output-only sub-fields, recursively, for comparison.
fn strip_output(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !OUTPUT_ONLY.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), strip_output(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_output).collect()),
        other => other.clone(),
    }
}

fn client_data(p: &Value) -> Vec<(String, String)> {
    arr(p, "clientData")
        .iter()
        .filter_map(|d| Some((s(d, "key")?, d.get("value")?.as_str()?.to_string())))
        .collect()
}

/// Maps a People API Person to a contact. `groups` maps user group resource
/// names to their names.
pub fn person_to_contact(p: &Value, groups: &BTreeMap<String, String>) -> Result<Contact> {
    let id =
        s(p, "resourceName").ok_or_else(|| Error::invalid_data("a person without resourceName"))?;
    let cdata = client_data(p);
    let cget = |k: &str| cdata.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    // Address book and categories from the memberships.
    let member_of: Vec<String> = arr(p, "memberships")
        .iter()
        .filter_map(|m| {
            m.get("contactGroupMembership")
                .and_then(|g| s(g, "contactGroupResourceName"))
        })
        .collect();
    let user_groups: Vec<&String> = member_of
        .iter()
        .filter(|g| groups.contains_key(*g))
        .collect();
    let book = cget(CLIENT_ADDRESS_BOOK)
        .filter(|b| user_groups.contains(&b))
        .or_else(|| user_groups.first().map(|g| g.to_string()))
        .unwrap_or_else(|| MY_CONTACTS.to_string());
    let names = arr(p, "names");
    let n0 = names.first();
    let formatted = n0
        .and_then(|n| s(n, "displayName").or_else(|| s(n, "unstructuredName")))
        .or_else(|| arr(p, "emailAddresses").first().and_then(|e| s(e, "value")))
        .or_else(|| arr(p, "phoneNumbers").first().and_then(|e| s(e, "value")))
        .or_else(|| arr(p, "organizations").first().and_then(|e| s(e, "name")))
        .unwrap_or_default();
    let mut c = Contact::new(&id, &book, formatted);
    if let Some(n) = n0 {
        let mut sn = StructuredName::default();
        sn.family = words(s(n, "familyName"));
        sn.given = words(s(n, "givenName"));
        sn.additional = words(s(n, "middleName"));
        sn.prefixes = words(s(n, "honorificPrefix"));
        sn.suffixes = words(s(n, "honorificSuffix"));
        if !(sn.family.is_empty()
            && sn.given.is_empty()
            && sn.additional.is_empty()
            && sn.prefixes.is_empty()
            && sn.suffixes.is_empty())
        {
            c.name = Some(sn);
        }
    }
    c.uid = cget(CLIENT_UID);
    c.nicknames = arr(p, "nicknames")
        .iter()
        .filter_map(|n| s(n, "value"))
        .collect();
    c.emails = arr(p, "emailAddresses")
        .iter()
        .filter_map(|e| Some(typed(s(e, "value")?, s(e, "type"))))
        .collect();
    c.phones = arr(p, "phoneNumbers")
        .iter()
        .filter_map(|e| {
            let mut tv = TypedValue::new(s(e, "value")?, &[]);
            tv.types = s(e, "type")
                .map(|t| phone_types_from_google(&t))
                .unwrap_or_default();
            Some(tv)
        })
        .collect();
    c.addresses = arr(p, "addresses")
        .iter()
        .map(|a| {
            let mut ad = Address::new();
            ad.po_box = words(s(a, "poBox"));
            ad.extended = words(s(a, "extendedAddress"));
            ad.street = words(s(a, "streetAddress"));
            ad.locality = words(s(a, "city"));
            ad.region = words(s(a, "region"));
            ad.postal_code = words(s(a, "postalCode"));
            ad.country = words(s(a, "country"));
            ad.label = s(a, "formattedValue");
            ad.types = s(a, "type").into_iter().collect();
            if let Some(cc) = s(a, "countryCode") {
                ad.params
                    .push(Param::new("X-GOOGLE-COUNTRY-CODE", &[cc.as_str()]));
            }
            ad
        })
        .collect();
    c.birthday = arr(p, "birthdays").first().and_then(|b| {
        date_of(b)
            .map(DateOrText::Date)
            .or_else(|| s(b, "text").map(DateOrText::Text))
    });
    c.anniversary = arr(p, "events")
        .iter()
        .find(|e| s(e, "type").as_deref() == Some("anniversary"))
        .and_then(date_of)
        .map(DateOrText::Date);
    for o in arr(p, "organizations") {
        let mut org = Organization::new(s(o, "name").unwrap_or_default());
        org.units = words(s(o, "department"));
        org.types = s(o, "type").into_iter().collect();
        c.organizations.push(org);
    }
    // Titles and job descriptions line up with their organizations only
    // while every earlier organization has one; otherwise the verbatim copy
    // below keeps them.
    for o in arr(p, "organizations") {
        match s(o, "title") {
            Some(t) => c.titles.push(TypedValue::new(t, &[])),
            None => break,
        }
    }
    for o in arr(p, "organizations") {
        match s(o, "jobDescription") {
            Some(t) => c.roles.push(TypedValue::new(t, &[])),
            None => break,
        }
    }
    if let Some(b) = arr(p, "biographies").first().and_then(|b| s(b, "value")) {
        c.notes.push(TypedValue::new(b, &[]));
    }
    c.urls = arr(p, "urls")
        .iter()
        .filter_map(|u| Some(typed(s(u, "value")?, s(u, "type"))))
        .collect();
    c.ims = arr(p, "imClients")
        .iter()
        .filter_map(|u| {
            let user = s(u, "username")?;
            let v = match s(u, "protocol") {
                Some(pr) => format!("{pr}:{user}"),
                None => user,
            };
            Some(typed(v, s(u, "type")))
        })
        .collect();
    c.related = arr(p, "relations")
        .iter()
        .filter_map(|u| Some(typed(s(u, "person")?, s(u, "type"))))
        .collect();
    c.photos = arr(p, "photos")
        .iter()
        .filter(|ph| !ph.get("default").and_then(Value::as_bool).unwrap_or(false))
        .filter_map(|ph| s(ph, "url"))
        .map(|u| Photo::new(PhotoSource::Uri(u)))
        .collect();
    // Categories: the other user groups, and starred.
    for g in &member_of {
        if *g == book {
            continue;
        }
        if let Some(name) = groups.get(g) {
            c.categories.push(name.clone());
        } else if g == STARRED {
            c.categories.push(STARRED_CATEGORY.to_string());
        }
    }
    // Everything the model did not carry exactly, verbatim.
    let back = mapped_fields(&c);
    if let Value::Object(fields) = p {
        for (k, v) in fields {
            if NOT_RAW.contains(&k.as_str()) {
                continue;
            }
            let original = strip_output(v);
            if original.as_array().is_some_and(Vec::is_empty) {
                continue;
            }
            let same = MAPPED.contains(&k.as_str())
                && back.get(k).map(strip_output).as_ref() == Some(&original);
            if !same {
                c.properties.push(RawProperty::text(
                    format!("{RAW_PREFIX}{}", k.to_ascii_uppercase()),
                    &original.to_string(),
                ));
            }
        }
    }
    let extra: Vec<Value> = cdata
        .iter()
        .filter(|(k, _)| !k.starts_with("dtp."))
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    if !extra.is_empty() {
        c.properties.push(RawProperty::text(
            format!("{RAW_PREFIX}CLIENTDATA"),
            &Value::Array(extra).to_string(),
        ));
    }
    Ok(c)
}

/// The Person body to create `c` with: the mapped fields, the verbatim
/// fields, `clientData` (source id, address book, UID) and `memberships`.
pub fn contact_to_person(c: &Contact, memberships: &[String], address_book: &str) -> Value {
    let mut p = mapped_fields(c);
    let mut cdata = vec![json!({"key": CLIENT_SOURCE_ID, "value": c.source_id()})];
    if address_book != MY_CONTACTS {
        cdata.push(json!({"key": CLIENT_ADDRESS_BOOK, "value": address_book}));
    }
    if let Some(u) = &c.uid {
        cdata.push(json!({"key": CLIENT_UID, "value": u}));
    }
    // Person fields as "FIELD" upper-cased; map back to the camelCase name.
    const ALL: &[&str] = &[
        "addresses",
        "biographies",
        "birthdays",
        "calendarUrls",
        "emailAddresses",
        "events",
        "externalIds",
        "genders",
        "imClients",
        "interests",
        "locales",
        "locations",
        "miscKeywords",
        "names",
        "nicknames",
        "occupations",
        "organizations",
        "phoneNumbers",
        "relations",
        "sipAddresses",
        "skills",
        "urls",
        "userDefined",
    ];
    for prop in &c.properties {
        let Some(field) = prop.name.strip_prefix(RAW_PREFIX) else {
            continue;
        };
        let Some(v) = raw_json(prop) else {
            continue;
        };
        if field == "CLIENTDATA" {
            if let Value::Array(items) = v {
                cdata.extend(items);
            }
            continue;
        }
        if let Some(name) = ALL.iter().find(|n| n.eq_ignore_ascii_case(field)) {
            p.insert((*name).to_string(), v);
        }
    }
    p.insert("clientData".into(), Value::Array(cdata));
    let ms: Vec<Value> = memberships
        .iter()
        .map(|g| json!({"contactGroupMembership": {"contactGroupResourceName": g}}))
        .collect();
    if !ms.is_empty() {
        p.insert("memberships".into(), Value::Array(ms));
    }
    Value::Object(p)
}

// ---------------------------------------------------------------- import

/// Whether `book` is Google's "My Contacts" (by id, or by that name from
/// another source, e.g. an archive of a Google export): it maps to the
/// system group instead of a new user group.
fn is_my_contacts(book: &AddressBook) -> bool {
    book.id == MY_CONTACTS || book.name.eq_ignore_ascii_case("My Contacts")
}

#[derive(Default)]
struct Index {
    loaded: bool,
    /// clientData `dtp.sourceId` → resource name.
    by_source: HashMap<String, String>,
    /// group name → resource name (user groups).
    groups: HashMap<String, String>,
}

/// Imports contacts through the People API.
#[derive(Clone)]
pub struct PeopleImporter {
    client: GoogleClient,
    batch_size: usize,
    index: Arc<Mutex<Index>>,
}

impl std::fmt::Debug for PeopleImporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeopleImporter")
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct BatchCreated {
    created_people: Vec<PersonResponse>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PersonResponse {
    person: Option<Value>,
    http_status_code: Option<u16>,
}

impl PeopleImporter {
    /// An importer over `client`, batches of [`MAX_BATCH`].
    pub fn new(client: GoogleClient) -> Self {
        PeopleImporter {
            client,
            batch_size: MAX_BATCH,
            index: Arc::new(Mutex::new(Index::default())),
        }
    }

    /// Sets the batch size (1–[`MAX_BATCH`]).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.clamp(1, MAX_BATCH);
        self
    }

    /// Lists every connection's `clientData` and every user group.
    async fn load(&self, auth: &AuthData, index: &mut Index) -> Result<()> {
        let mut by_source = HashMap::new();
        let mut token: Option<String> = None;
        loop {
            let page: ConnectionsPage = self
                .client
                .json(
                    auth,
                    Request::get(Api::People, "v1/people/me/connections")
                        .query("personFields", "clientData")
                        .query("pageSize", "1000")
                        .query_opt("pageToken", token.as_deref()),
                )
                .await?;
            for p in &page.connections {
                if let (Some(rn), Some((_, src))) = (
                    s(p, "resourceName"),
                    client_data(p)
                        .into_iter()
                        .find(|(k, _)| k == CLIENT_SOURCE_ID),
                ) {
                    by_source.insert(src, rn);
                }
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let mut groups = HashMap::new();
        let mut token: Option<String> = None;
        loop {
            let page = list_groups_page(&self.client, auth, token.as_deref()).await?;
            for g in page.contact_groups {
                if g.group_type.as_deref() == Some("USER_CONTACT_GROUP") {
                    groups.insert(g.name, g.resource_name);
                }
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        index.by_source = by_source;
        index.groups = groups;
        index.loaded = true;
        Ok(())
    }

    async fn ensure_loaded(&self, auth: &AuthData, index: &mut Index) -> Result<()> {
        if !index.loaded {
            self.load(auth, index).await?;
        }
        Ok(())
    }

    /// The group named `name`, created if missing.
    async fn group(&self, auth: &AuthData, index: &mut Index, name: &str) -> Result<String> {
        self.ensure_loaded(auth, index).await?;
        if let Some(g) = index.groups.get(name) {
            return Ok(g.clone());
        }
        let created: ContactGroup = match self
            .client
            .json(
                auth,
                Request::post(Api::People, "v1/contactGroups")
                    .json(&json!({"contactGroup": {"name": name}}))?,
            )
            .await
        {
            Ok(g) => g,
            // Created by an attempt whose answer was lost (the retry then
            // meets 409 ALREADY_EXISTS), or by someone else meanwhile.
            Err(e)
                if e.is_retryable()
                    || crate::error::google_error(&e).is_some_and(|g| g.http_status == 409) =>
            {
                self.load(auth, index).await?;
                return match index.groups.get(name) {
                    Some(g) => Ok(g.clone()),
                    None => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        if created.resource_name.is_empty() {
            return Err(Error::invalid_data(
                "contactGroups.create returned no resourceName",
            ));
        }
        index
            .groups
            .insert(name.to_string(), created.resource_name.clone());
        Ok(created.resource_name)
    }

    /// The body of one contact, with its groups resolved (created if
    /// needed).
    async fn body(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        index: &mut Index,
        c: &Contact,
    ) -> Result<Value> {
        let book = if c.address_book_id == MY_CONTACTS {
            MY_CONTACTS.to_string()
        } else {
            // (A "My Contacts" book from another source resolves to the
            // system group through its imported container id.)
            ctx.require_container(&c.address_book_id)?
        };
        let mut memberships = vec![MY_CONTACTS.to_string()];
        if book != MY_CONTACTS {
            memberships.push(book.clone());
        }
        for cat in &c.categories {
            let g = if cat.eq_ignore_ascii_case(STARRED_CATEGORY) {
                STARRED.to_string()
            } else {
                self.group(auth, index, cat).await?
            };
            if !memberships.contains(&g) {
                memberships.push(g);
            }
        }
        Ok(contact_to_person(c, &memberships, &book))
    }

    async fn create_one(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        c: &Contact,
    ) -> Result<String> {
        let mut index = self.index.lock().await;
        self.ensure_loaded(auth, &mut index).await?;
        if let Some(rn) = index.by_source.get(c.source_id()) {
            return Ok(rn.clone());
        }
        let body = self.body(ctx, auth, &mut index, c).await?;
        let person: Value = self
            .client
            .json(
                auth,
                Request::post(Api::People, "v1/people:createContact")
                    .query("personFields", "names,clientData")
                    .json(&body)?,
            )
            .await
            .inspect_err(|e| forget_if_maybe_done(&mut index, e))?;
        let rn = s(&person, "resourceName")
            .ok_or_else(|| Error::invalid_data("createContact returned no resourceName"))?;
        index
            .by_source
            .insert(c.source_id().to_string(), rn.clone());
        self.photo(ctx, auth, &rn, c).await;
        Ok(rn)
    }

    /// Uploads the contact's first photo that carries bytes (inline, or
    /// streamed from the source) with `people.updateContactPhoto`. A photo
    /// that cannot be uploaded is logged, not fatal: the contact exists.
    async fn photo(&self, ctx: &ImportContext, auth: &AuthData, rn: &str, c: &Contact) {
        let bytes = match photo_bytes(ctx, c).await {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(contact = %c.source_id(), error = %e, "contact photo not readable");
                return;
            }
        };
        use base64::Engine;
        let body = json!({
            "photoBytes": base64::engine::general_purpose::STANDARD.encode(&bytes),
            "personFields": "photos"
        });
        let req = match Request::new(
            Api::People,
            reqwest::Method::PATCH,
            format!("v1/{rn}:updateContactPhoto"),
        )
        .json(&body)
        {
            Ok(r) => r,
            Err(_) => return,
        };
        if let Err(e) = self.client.send(auth, req).await {
            tracing::warn!(contact = %c.source_id(), error = %e, "contact photo not uploaded");
        }
    }

    /// Creates `batch` with one `batchCreateContacts`; the resource names in
    /// order.
    async fn create_batch(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        batch: &[&Contact],
    ) -> Result<Vec<String>> {
        let mut index = self.index.lock().await;
        self.ensure_loaded(auth, &mut index).await?;
        // After an attempt that may have been carried out, the reloaded
        // index knows what it created: only the rest is sent.
        let todo: Vec<&Contact> = batch
            .iter()
            .copied()
            .filter(|c| !index.by_source.contains_key(c.source_id()))
            .collect();
        let mut bodies = Vec::with_capacity(todo.len());
        for c in &todo {
            bodies.push(json!({"contactPerson": self.body(ctx, auth, &mut index, c).await?}));
        }
        let created: BatchCreated = if todo.is_empty() {
            BatchCreated::default()
        } else {
            self.client
                .json(
                    auth,
                    Request::post(Api::People, "v1/people:batchCreateContacts")
                        .json(&json!({"contacts": bodies, "readMask": "clientData"}))?,
                )
                .await
                .inspect_err(|e| forget_if_maybe_done(&mut index, e))?
        };
        if created.created_people.len() != todo.len() {
            return Err(Error::invalid_data(format!(
                "batchCreateContacts created {} of {} contacts",
                created.created_people.len(),
                todo.len()
            )));
        }
        for (c, r) in todo.iter().zip(created.created_people) {
            let rn = r
                .person
                .as_ref()
                .and_then(|p| s(p, "resourceName"))
                .filter(|_| r.http_status_code.unwrap_or(200) == 200)
                .ok_or_else(|| {
                    Error::invalid_data(
                        "batchCreateContacts returned a person without resourceName",
                    )
                })?;
            self.photo(ctx, auth, &rn, c).await;
            index.by_source.insert(c.source_id().to_string(), rn);
        }
        batch
            .iter()
            .map(|c| {
                index
                    .by_source
                    .get(c.source_id())
                    .cloned()
                    .ok_or_else(|| Error::internal("a created contact is missing from the index"))
            })
            .collect()
    }
}

/// The largest contact photo uploaded.
const MAX_PHOTO: usize = 10 * 1024 * 1024;

/// The bytes of the contact's first photo that has bytes.
async fn photo_bytes(ctx: &ImportContext, c: &Contact) -> Result<Option<Vec<u8>>> {
    use futures::StreamExt;
    for p in &c.photos {
        match &p.source {
            PhotoSource::Inline { data, .. } => return Ok(Some(data.0.clone())),
            PhotoSource::Ref(m) => {
                let mut stream = ctx.open_media(m).await?;
                let mut out = Vec::new();
                while let Some(chunk) = stream.next().await {
                    out.extend_from_slice(&chunk?);
                    if out.len() > MAX_PHOTO {
                        return Err(Error::invalid_data("contact photo larger than 10 MiB"));
                    }
                }
                return Ok(Some(out));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// After a failure that may have happened after Google carried the request
/// out (a 5xx, a timeout, a reset connection), forget what is known, so
/// that the retry reads the server again instead of creating twice.
fn forget_if_maybe_done(index: &mut Index, e: &Error) {
    if *e.kind() == dtp_core::ErrorKind::Transient {
        index.loaded = false;
    }
}

#[async_trait]
impl Importer<ContactsData> for PeopleImporter {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        book: &AddressBook,
    ) -> Result<dtp_core::Imported> {
        async move {
            if is_my_contacts(book) {
                return Ok(MY_CONTACTS.to_string());
            }
            let mut index = self.index.lock().await;
            self.group(auth, &mut index, &book.name).await
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        c: &Contact,
    ) -> Result<dtp_core::Imported> {
        async move { self.create_one(ctx, auth, c).await }
            .await
            .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        book: &AddressBook,
    ) -> Result<Option<String>> {
        if is_my_contacts(book) {
            return Ok(Some(MY_CONTACTS.to_string()));
        }
        let mut index = self.index.lock().await;
        self.load(auth, &mut index).await?;
        Ok(index.groups.get(&book.name).cloned())
    }

    async fn find_existing_item(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        c: &Contact,
    ) -> Result<Option<String>> {
        let mut index = self.index.lock().await;
        if let Some(rn) = index.by_source.get(c.source_id()) {
            return Ok(Some(rn.clone()));
        }
        // Not known here: what a crashed run created may be on the server.
        self.load(auth, &mut index).await?;
        Ok(index.by_source.get(c.source_id()).cloned())
    }

    async fn import_page(
        &self,
        ctx: &ImportContext,
        page: &ExportPage<ContactsData>,
    ) -> Result<()> {
        // Containers the default way (idempotent, with find_existing when
        // recovering).
        let containers_only = ExportPage::<ContactsData>::of(page.containers.clone(), Vec::new());
        dtp_core::import_page_default(self, ctx, &containers_only).await?;
        if ctx.is_recovering() {
            let r = ctx
                .call("find_existing_item", |auth| async move {
                    let mut index = self.index.lock().await;
                    self.load(&auth, &mut index).await
                })
                .await;
            r?;
        }
        // Items not done yet; known ones (a rerun, a crashed run) recorded
        // without a request.
        let mut todo: Vec<&Contact> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for c in &page.items {
            if !seen.insert(c.source_id()) {
                continue;
            }
            let key = ctx.item_key(c.source_id());
            if ctx.executor().lookup(&key).is_some() {
                continue;
            }
            let known = self
                .index
                .lock()
                .await
                .by_source
                .get(c.source_id())
                .cloned();
            match known {
                Some(rn) => ctx.executor().record(&key, rn),
                None => todo.push(c),
            }
        }
        for chunk in todo.chunks(self.batch_size) {
            if chunk.len() > 1 {
                let res = ctx
                    .call("import_batch", |auth| async move {
                        self.create_batch(ctx, &auth, chunk).await
                    })
                    .await;
                match res {
                    Ok(ids) => {
                        for (c, id) in chunk.iter().zip(ids) {
                            ctx.executor().record(&ctx.item_key(c.source_id()), id);
                        }
                        continue;
                    }
                    Err(e) if e.is_job_level() => return Err(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "batch refused; creating one by one");
                    }
                }
            }
            // One by one: a bad contact fails alone.
            for c in chunk {
                let key = ctx.item_key(c.source_id());
                ctx.executor()
                    .execute(&key, c.display_name(), || {
                        ctx.call("import_item", |auth| async move {
                            self.create_one(ctx, &auth, c).await
                        })
                    })
                    .await
                    .map_err(|e| e.with_item(c.source_id()))?;
            }
        }
        Ok(())
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        let c = self.client.config();
        c.rate_limits
            .then(|| limits::rate_limit(Api::People, Side::Import, &c.account, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> BTreeMap<String, String> {
        [("contactGroups/abc".to_string(), "Friends".to_string())]
            .into_iter()
            .collect()
    }

    #[test]
    fn a_rich_person_maps_and_maps_back_without_loss() {
        let person = json!({
            "resourceName": "people/c1", "etag": "%Eg",
            "metadata": {"sources": [{"type": "CONTACT", "id": "1"}]},
            "names": [{"displayName": "Ada Lovelace", "givenName": "Ada", "familyName": "Lovelace",
                        "unstructuredName": "Ada Lovelace", "metadata": {"primary": true}}],
            "emailAddresses": [{"value": "ada@example.org", "type": "work", "formattedType": "Work"}],
            "phoneNumbers": [{"value": "+1 555 0100", "canonicalForm": "+15550100", "type": "mobile"},
                              {"value": "+1 555 0101", "type": "homeFax"}],
            "addresses": [{"streetAddress": "1 Main St", "city": "London", "countryCode": "GB", "type": "home"}],
            "birthdays": [{"date": {"month": 12, "day": 10}}],
            "events": [{"date": {"year": 2000, "month": 1, "day": 2}, "type": "anniversary"},
                       {"date": {"year": 2001, "month": 3, "day": 4}, "type": "graduation"}],
            "organizations": [{"name": "Analytical Engines", "title": "Programmer", "department": "R&D"}],
            "biographies": [{"value": "First programmer.", "contentType": "TEXT_PLAIN"}],
            "userDefined": [{"key": "shoe size", "value": "38"}],
            "sipAddresses": [{"value": "sip:ada@example.org", "type": "work"}],
            "memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}},
                            {"contactGroupMembership": {"contactGroupResourceName": "contactGroups/abc"}},
                            {"contactGroupMembership": {"contactGroupResourceName": "contactGroups/starred"}}],
            "clientData": [{"key": "other.app", "value": "42"}],
            "photos": [{"url": "https://lh3.example/p.jpg"}, {"url": "https://lh3.example/d.jpg", "default": true}]
        });
        let c = person_to_contact(&person, &groups()).unwrap();
        assert_eq!(c.formatted_name, "Ada Lovelace");
        assert_eq!(c.address_book_id, "contactGroups/abc");
        assert_eq!(c.categories, ["starred"]);
        assert_eq!(c.phones[0].types, ["cell"]);
        assert_eq!(c.phones[1].types, ["home", "fax"]);
        assert_eq!(c.titles[0].value, "Programmer");
        assert_eq!(c.photos.len(), 1);
        assert!(
            matches!(c.birthday, Some(DateOrText::Date(d)) if d.year.is_none() && d.month == Some(12))
        );
        // What the model cannot carry travels verbatim.
        let raw: Vec<&str> = c.properties.iter().map(|p| p.name.as_str()).collect();
        assert!(raw.contains(&"X-GOOGLE-PEOPLE-EVENTS"), "{raw:?}");
        assert!(raw.contains(&"X-GOOGLE-PEOPLE-USERDEFINED"), "{raw:?}");
        assert!(raw.contains(&"X-GOOGLE-PEOPLE-SIPADDRESSES"), "{raw:?}");
        assert!(raw.contains(&"X-GOOGLE-PEOPLE-CLIENTDATA"), "{raw:?}");
        assert!(!raw.contains(&"X-GOOGLE-PEOPLE-NAMES"), "{raw:?}");
        assert!(!raw.contains(&"X-GOOGLE-PEOPLE-PHONENUMBERS"), "{raw:?}");
        // And back: every writable field equals the original.
        let back = contact_to_person(
            &c,
            &["contactGroups/myContacts".into()],
            "contactGroups/abc",
        );
        for field in [
            "names",
            "emailAddresses",
            "phoneNumbers",
            "addresses",
            "birthdays",
            "events",
            "organizations",
            "biographies",
            "userDefined",
            "sipAddresses",
        ] {
            assert_eq!(
                strip_output(&back[field]),
                strip_output(&person[field]),
                "{field}"
            );
        }
        let cd = back["clientData"].as_array().unwrap();
        assert!(cd.contains(&json!({"key": "dtp.sourceId", "value": "people/c1"})));
        assert!(cd.contains(&json!({"key": "other.app", "value": "42"})));
    }

    #[test]
    fn a_contact_without_groups_is_in_my_contacts() {
        let p = json!({"resourceName": "people/c2", "names": [{"displayName": "Bob", "unstructuredName": "Bob"}]});
        let c = person_to_contact(&p, &groups()).unwrap();
        assert_eq!(c.address_book_id, MY_CONTACTS);
        assert!(c.name.is_none());
        assert!(c.properties.is_empty(), "{:?}", c.properties);
        assert!(person_to_contact(&json!({"names": []}), &groups()).is_err());
    }
}
