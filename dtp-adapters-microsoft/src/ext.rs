//! Single-value extended properties: how this crate marks what it created so
//! that a rerun or a resumed run finds it instead of creating a duplicate.
//!
//! Outlook items (contacts, events, messages) take custom named properties
//! (<https://learn.microsoft.com/en-us/graph/api/resources/extended-properties-overview>):
//! the id is `String {propertySetGuid} Name <name>`. They are written with
//! the item (`singleValueExtendedProperties` in the create body), read back
//! with `$expand=singleValueExtendedProperties($filter=id eq '…')`, and
//! searched with `$filter=singleValueExtendedProperties/Any(ep: ep/id eq '…'
//! and ep/value eq '…')`
//! (<https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get>).

use serde::{Deserialize, Serialize};

use crate::client::odata_string;

/// The property set of dtp-rs's named properties.
pub const PROPERTY_SET: &str = "{8d3c2c4e-5f1b-4a57-9b1e-6d0c4a1e7f21}";

/// The id of the property holding an imported record's source key.
pub fn source_key_id() -> String {
    format!("String {PROPERTY_SET} Name dtpSourceKey")
}

/// One single-value extended property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedProperty {
    /// `String {guid} Name …` or `Integer 0x0E07`.
    pub id: String,
    /// The value, as a string.
    #[serde(default)]
    pub value: Option<String>,
}

impl ExtendedProperty {
    /// A property.
    pub fn new(id: impl Into<String>, value: impl Into<String>) -> Self {
        ExtendedProperty {
            id: id.into(),
            value: Some(value.into()),
        }
    }
}

/// `$filter` matching items whose property `id` equals `value`.
pub fn filter_eq(id: &str, value: &str) -> String {
    format!(
        "singleValueExtendedProperties/Any(ep: ep/id eq {} and ep/value eq {})",
        odata_string(id),
        odata_string(value)
    )
}

/// `$expand` returning the property `id` with each item.
pub fn expand(id: &str) -> String {
    format!(
        "singleValueExtendedProperties($filter=id eq {})",
        odata_string(id)
    )
}

/// The value of property `id` among `props` (ids compare case-insensitively,
/// as Graph may normalise their case).
pub fn find<'a>(props: &'a [ExtendedProperty], id: &str) -> Option<&'a str> {
    props
        .iter()
        .find(|p| p.id.eq_ignore_ascii_case(id))
        .and_then(|p| p.value.as_deref())
}

/// The id of the item in `collection` (a path under the API root, e.g.
/// `me/contacts`) whose source-key property is `key`, if one exists: how
/// every importer here finds what an earlier run created.
pub async fn find_by_source_key(
    client: &crate::client::GraphClient,
    auth: &dtp_core::AuthData,
    collection: &str,
    key: &str,
) -> dtp_core::Result<Option<String>> {
    let q = query(&[
        ("$filter", &filter_eq(&source_key_id(), key)),
        ("$select", "id"),
        ("$top", "1"),
    ]);
    let url = client.url(&format!("{collection}?{q}"))?;
    let page = client
        .get_page::<serde_json::Map<String, serde_json::Value>>(auth, url, None)
        .await?;
    Ok(page
        .value
        .first()
        .and_then(|v| v.get("id"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_string))
}

/// A query string (`$filter=…&$top=1`, without the `?`), spaces as `%20`.
pub fn query(pairs: &[(&str, &str)]) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'$');
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encoding::utf8_percent_encode(k, SET),
                percent_encoding::utf8_percent_encode(v, SET)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}
