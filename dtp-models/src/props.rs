//! Format-neutral building blocks shared by the contact, calendar and task
//! models: parameters, verbatim properties and verbatim components.
//!
//! vCard and iCalendar share one content-line grammar
//! (`[group.]NAME;PARAM=value,value:VALUE`). Whatever a model does not
//! structure is kept here *verbatim* so it can be written back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One property parameter (`TYPE=work,voice`, `TZID=Europe/Berlin`, `PREF`).
///
/// ```
/// use dtp_models::props::Param;
/// let p = Param::new("TYPE", &["work", "voice"]);
/// assert_eq!(p.values.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Param {
    /// Upper-case parameter name.
    pub name: String,
    /// Decoded values; empty for a value-less parameter (vCard 2.1 `PREF`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl Param {
    /// A parameter with a name (upper-cased) and values.
    pub fn new(name: impl Into<String>, values: &[&str]) -> Self {
        Param {
            name: name.into().to_ascii_uppercase(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }
}

/// A property the structured model does not model, kept verbatim so it can
/// be written back unchanged.
///
/// `value` is the property value in content-line syntax (escaped, unfolded),
/// exactly as it is written after the `:`.
///
/// ```
/// use dtp_models::props::{Param, RawProperty};
/// let p = RawProperty::new("X-ABLABEL", "Spouse").with_group("item1");
/// assert_eq!(p.group.as_deref(), Some("item1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RawProperty {
    /// vCard property group (`item1` in `item1.EMAIL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Upper-case property name.
    pub name: String,
    /// Parameters, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Value in content-line syntax (escaped, unfolded).
    pub value: String,
}

impl RawProperty {
    /// A verbatim property with a name and a (content-line syntax) value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        RawProperty {
            group: None,
            name: name.into().to_ascii_uppercase(),
            params: Vec::new(),
            value: value.into(),
        }
    }

    /// A property whose value is TEXT (say, JSON an adapter keeps verbatim):
    /// `text` is escaped into content-line syntax, so it reads back the
    /// same from a vCard or iCalendar file. Read it with
    /// [`text_value`](Self::text_value). (Features `vcard` or `icalendar`.)
    ///
    /// ```
    /// use dtp_models::props::RawProperty;
    /// let p = RawProperty::text("X-JSON", r#"{"a":1,"b":2}"#);
    /// assert_eq!(p.value, r#"{"a":1\,"b":2}"#);
    /// assert_eq!(p.text_value(), r#"{"a":1,"b":2}"#);
    /// ```
    #[cfg(any(feature = "vcard", feature = "icalendar"))]
    pub fn text(name: impl Into<String>, text: &str) -> Self {
        Self::new(name, crate::text::escaped(text))
    }

    /// The value as TEXT: the content-line escapes (`\\`, `\;`, `\,`,
    /// `\n`) undone.
    #[cfg(any(feature = "vcard", feature = "icalendar"))]
    pub fn text_value(&self) -> String {
        crate::text::unescaped(&self.value)
    }

    /// Sets the group.
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

/// A component kept verbatim (a `VTIMEZONE`, a `VJOURNAL`, an unknown
/// `X-` component), with its sub-components.
///
/// ```
/// use dtp_models::props::{Component, RawProperty};
/// let tz = Component::new("VTIMEZONE").with_property(RawProperty::new("TZID", "Europe/Berlin"));
/// assert_eq!(tz.properties.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Component {
    /// Upper-case component name (`VTIMEZONE`).
    pub name: String,
    /// Its properties, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<RawProperty>,
    /// Its sub-components, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
}

impl Component {
    /// An empty component.
    pub fn new(name: impl Into<String>) -> Self {
        Component {
            name: name.into().to_ascii_uppercase(),
            properties: Vec::new(),
            components: Vec::new(),
        }
    }

    /// Adds a property.
    pub fn with_property(mut self, property: RawProperty) -> Self {
        self.properties.push(property);
        self
    }

    /// Adds a sub-component.
    pub fn with_component(mut self, component: Component) -> Self {
        self.components.push(component);
        self
    }

    /// The first property with this (case-insensitive) name.
    pub fn property(&self, name: &str) -> Option<&RawProperty> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

/// The group and the parameters a model did not structure, for a property
/// the model holds as a single field (`FN`, `SUMMARY`, `DTSTART`, …).
///
/// ```
/// use dtp_models::props::{Param, PropMeta};
/// let meta = PropMeta::default().with_param(Param::new("LANGUAGE", &["de"]));
/// assert!(!meta.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PropMeta {
    /// vCard property group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Parameters not otherwise modelled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

impl PropMeta {
    /// Adds a parameter.
    pub fn with_param(mut self, param: Param) -> Self {
        self.params.push(param);
        self
    }

    /// Whether there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.group.is_none() && self.params.is_empty()
    }
}

/// Per-property metadata of single-valued properties, keyed by upper-case
/// property name.
pub type MetaMap = BTreeMap<String, PropMeta>;
