//! Contacts, grouped in address books.

use serde::{Deserialize, Serialize};

use crate::props::{MetaMap, Param, RawProperty};
use crate::{DataModel, DataType, DateOrText, InlineBytes, MediaRef, PartialDateTime, Record};

/// Marker for the contacts data type.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContactsData;

impl DataModel for ContactsData {
    const DATA_TYPE: DataType = DataType::Contacts;
    type Container = AddressBook;
    type Item = Contact;
}

/// An address book.
///
/// ```
/// use dtp_models::contacts::AddressBook;
/// let book = AddressBook::new("b1", "Friends");
/// assert_eq!(book.name, "Friends");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AddressBook {
    /// Source id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl AddressBook {
    /// An address book with an id and a name.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        AddressBook {
            id: id.into(),
            name: name.into(),
            description: None,
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

impl Record for AddressBook {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.name
    }
}

/// A typed value such as an e-mail address, a phone number, a URL, an IM
/// handle, a title or a note, with its preference and everything else its
/// vCard property said.
///
/// ```
/// use dtp_models::contacts::TypedValue;
/// let tel = TypedValue::new("+1 555 0100", &["cell", "voice"]).with_pref(1);
/// assert_eq!(tel.types, vec!["cell", "voice"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TypedValue {
    /// The value itself (decoded text, or a URI).
    pub value: String,
    /// Types such as `home`, `work`, `cell` (lower case).
    #[serde(default)]
    pub types: Vec<String>,
    /// Preference, 1 (most preferred) to 100; vCard 2.1/3.0 `PREF` maps to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pref: Option<u8>,
    /// vCard property group (`item1`), which ties it to an `X-ABLabel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Other parameters, kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

impl TypedValue {
    /// A value with types.
    pub fn new(value: impl Into<String>, types: &[&str]) -> Self {
        TypedValue {
            value: value.into(),
            types: types.iter().map(|t| t.to_string()).collect(),
            pref: None,
            group: None,
            params: Vec::new(),
        }
    }

    /// Sets the preference.
    pub fn with_pref(mut self, pref: u8) -> Self {
        self.pref = Some(pref);
        self
    }

    /// Sets the property group.
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Adds a parameter.
    pub fn with_param(mut self, param: Param) -> Self {
        self.params.push(param);
        self
    }
}

/// A structured name (vCard `N`). Each component may hold several values.
///
/// ```
/// use dtp_models::contacts::StructuredName;
/// let n = StructuredName::new("Lovelace", "Ada");
/// assert_eq!(n.family, vec!["Lovelace"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StructuredName {
    /// Family names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub family: Vec<String>,
    /// Given names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
    /// Additional (middle) names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<String>,
    /// Honorific prefixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// Honorific suffixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suffixes: Vec<String>,
    /// Components after the fifth (RFC 9554 adds some), kept in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_components: Vec<Vec<String>>,
}

impl StructuredName {
    /// A name with one family and one given name.
    pub fn new(family: impl Into<String>, given: impl Into<String>) -> Self {
        StructuredName {
            family: vec![family.into()],
            given: vec![given.into()],
            ..Default::default()
        }
    }
}

/// A postal address (vCard `ADR`). Each component may hold several values.
///
/// ```
/// use dtp_models::contacts::Address;
/// let a = Address::new().with_street("1 Main St").with_locality("Springfield").with_types(&["home"]);
/// assert_eq!(a.locality, vec!["Springfield"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Address {
    /// Post office box.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub po_box: Vec<String>,
    /// Extended address (apartment, suite).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extended: Vec<String>,
    /// Street address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub street: Vec<String>,
    /// Locality (city).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locality: Vec<String>,
    /// Region (state, province).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub region: Vec<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub postal_code: Vec<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub country: Vec<String>,
    /// Components after the seventh (RFC 9554 adds some), kept in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_components: Vec<Vec<String>>,
    /// Types such as `home`, `work` (lower case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Preference, 1 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pref: Option<u8>,
    /// Formatted label (vCard 4.0 `LABEL` parameter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// vCard property group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Other parameters, kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

impl Address {
    /// An empty address.
    pub fn new() -> Self {
        Address::default()
    }

    /// Adds a street line.
    pub fn with_street(mut self, street: impl Into<String>) -> Self {
        self.street.push(street.into());
        self
    }

    /// Adds a locality.
    pub fn with_locality(mut self, locality: impl Into<String>) -> Self {
        self.locality.push(locality.into());
        self
    }

    /// Adds a postal code.
    pub fn with_postal_code(mut self, code: impl Into<String>) -> Self {
        self.postal_code.push(code.into());
        self
    }

    /// Adds a country.
    pub fn with_country(mut self, country: impl Into<String>) -> Self {
        self.country.push(country.into());
        self
    }

    /// Sets the types.
    pub fn with_types(mut self, types: &[&str]) -> Self {
        self.types = types.iter().map(|t| t.to_string()).collect();
        self
    }
}

/// An organisation and its units (vCard `ORG`).
///
/// ```
/// use dtp_models::contacts::Organization;
/// let org = Organization::new("ACME").with_unit("Research");
/// assert_eq!(org.units, vec!["Research"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Organization {
    /// Organisation name.
    pub name: String,
    /// Units, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
    /// Types (lower case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// vCard property group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Other parameters, kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

impl Organization {
    /// An organisation with a name.
    pub fn new(name: impl Into<String>) -> Self {
        Organization {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Adds a unit.
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.units.push(unit.into());
        self
    }
}

/// Where a contact photo is.
///
/// ```
/// use dtp_models::contacts::PhotoSource;
/// use dtp_models::{InlineBytes, MediaRef};
/// let inline = PhotoSource::Inline { media_type: Some("image/png".into()), data: InlineBytes(vec![0x89, b'P']) };
/// let streamed = PhotoSource::Ref(MediaRef::new("photos/c1"));
/// assert_ne!(inline, streamed);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PhotoSource {
    /// A URI (http(s), or anything but `data:`).
    Uri(String),
    /// Bytes carried in the contact.
    Inline {
        /// MIME type, when stated.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_type: Option<String>,
        /// The image bytes.
        data: InlineBytes,
    },
    /// Bytes the driver streams separately.
    Ref(MediaRef),
}

/// A contact photo (vCard `PHOTO`).
///
/// ```
/// use dtp_models::contacts::{Photo, PhotoSource};
/// let p = Photo::new(PhotoSource::Uri("https://example.org/ada.jpg".into()));
/// assert!(matches!(p.source, PhotoSource::Uri(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Photo {
    /// The image.
    pub source: PhotoSource,
    /// vCard property group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Other parameters, kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

impl Photo {
    /// A photo.
    pub fn new(source: PhotoSource) -> Self {
        Photo {
            source,
            group: None,
            params: Vec::new(),
        }
    }
}

/// A contact, covering vCard 4.0 (RFC 6350) and what vCard 3.0 and 2.1
/// exporters emit. Every property the structure does not model is kept in
/// `properties`, verbatim, so it can be written back.
///
/// ```
/// use dtp_models::contacts::{Contact, TypedValue};
/// let c = Contact::new("c1", "b1", "Ada Lovelace").with_email(TypedValue::new("ada@example.org", &["work"]));
/// assert_eq!(c.emails.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Contact {
    /// Source id.
    pub id: String,
    /// Source id of the address book holding it.
    pub address_book_id: String,
    /// Formatted name (vCard `FN`).
    pub formatted_name: String,
    /// E-mail addresses.
    #[serde(default)]
    pub emails: Vec<TypedValue>,
    /// Phone numbers.
    #[serde(default)]
    pub phones: Vec<TypedValue>,
    /// vCard `UID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// vCard `KIND` (`individual`, `group`, `org`, …), lower case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Structured name (`N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<StructuredName>,
    /// Nicknames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nicknames: Vec<String>,
    /// Postal addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    /// Organisations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<Organization>,
    /// Job titles (`TITLE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub titles: Vec<TypedValue>,
    /// Roles (`ROLE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<TypedValue>,
    /// Web pages (`URL`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<TypedValue>,
    /// Instant-messaging and social handles (`IMPP`, as URIs such as
    /// `xmpp:ada@example.org`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ims: Vec<TypedValue>,
    /// Related persons (`RELATED`), typed `spouse`, `child`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<TypedValue>,
    /// Birthday, possibly without a year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<DateOrText>,
    /// Anniversary, possibly without a year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anniversary: Option<DateOrText>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<TypedValue>,
    /// Photos.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<Photo>,
    /// Groups / categories the contact is filed under.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Last revision (`REV`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<PartialDateTime>,
    /// Group and unmodelled parameters of the single-valued properties
    /// (`FN`, `N`, `UID`, `KIND`, `BDAY`, `ANNIVERSARY`, `REV`, `NICKNAME`,
    /// `CATEGORIES`), keyed by property name.
    #[serde(default, skip_serializing_if = "MetaMap::is_empty")]
    pub meta: MetaMap,
    /// Every property the structure does not model, verbatim and in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<RawProperty>,
}

impl Contact {
    /// A contact with an id, its address book and a formatted name.
    pub fn new(
        id: impl Into<String>,
        address_book_id: impl Into<String>,
        formatted_name: impl Into<String>,
    ) -> Self {
        Contact {
            id: id.into(),
            address_book_id: address_book_id.into(),
            formatted_name: formatted_name.into(),
            emails: Vec::new(),
            phones: Vec::new(),
            uid: None,
            kind: None,
            name: None,
            nicknames: Vec::new(),
            addresses: Vec::new(),
            organizations: Vec::new(),
            titles: Vec::new(),
            roles: Vec::new(),
            urls: Vec::new(),
            ims: Vec::new(),
            related: Vec::new(),
            birthday: None,
            anniversary: None,
            notes: Vec::new(),
            photos: Vec::new(),
            categories: Vec::new(),
            revision: None,
            meta: MetaMap::new(),
            properties: Vec::new(),
        }
    }

    /// Sets the vCard UID.
    pub fn with_uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }

    /// Sets the structured name.
    pub fn with_name(mut self, name: StructuredName) -> Self {
        self.name = Some(name);
        self
    }

    /// Adds a postal address.
    pub fn with_address(mut self, address: Address) -> Self {
        self.addresses.push(address);
        self
    }

    /// Adds an organisation.
    pub fn with_organization(mut self, org: Organization) -> Self {
        self.organizations.push(org);
        self
    }

    /// Sets the birthday.
    pub fn with_birthday(mut self, birthday: DateOrText) -> Self {
        self.birthday = Some(birthday);
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(TypedValue::new(note, &[]));
        self
    }

    /// Adds a photo.
    pub fn with_photo(mut self, photo: Photo) -> Self {
        self.photos.push(photo);
        self
    }

    /// Adds a property kept verbatim.
    pub fn with_property(mut self, property: RawProperty) -> Self {
        self.properties.push(property);
        self
    }

    /// Adds an e-mail address.
    pub fn with_email(mut self, email: TypedValue) -> Self {
        self.emails.push(email);
        self
    }

    /// Adds a phone number.
    pub fn with_phone(mut self, phone: TypedValue) -> Self {
        self.phones.push(phone);
        self
    }
}

impl Record for Contact {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.formatted_name
    }

    fn media(&self) -> Option<&MediaRef> {
        self.photos.iter().find_map(|p| match &p.source {
            PhotoSource::Ref(r) => Some(r),
            _ => None,
        })
    }
}
