//! Contacts, grouped in address books.

use serde::{Deserialize, Serialize};

use crate::{DataModel, DataType, Record};

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
}

impl AddressBook {
    /// An address book with an id and a name.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        AddressBook {
            id: id.into(),
            name: name.into(),
        }
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

/// A typed value such as an e-mail address or a phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TypedValue {
    /// The value itself.
    pub value: String,
    /// Types such as `home`, `work`, `cell`.
    #[serde(default)]
    pub types: Vec<String>,
}

impl TypedValue {
    /// A value with types.
    pub fn new(value: impl Into<String>, types: &[&str]) -> Self {
        TypedValue {
            value: value.into(),
            types: types.iter().map(|t| t.to_string()).collect(),
        }
    }
}

/// A contact.
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
        }
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
}
