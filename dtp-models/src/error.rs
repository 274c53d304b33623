//! Errors and warnings of format conversions and of versioned JSON.

use std::fmt;

/// A problem a conversion recovered from: the data was kept (verbatim, or
/// in a fallback form) but a reader should know.
///
/// ```
/// use dtp_models::Warning;
/// let w = Warning::new(Some(3), Some("BDAY"), "not a date; kept verbatim");
/// assert_eq!(w.line, Some(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Warning {
    /// 1-based line in the input, when known.
    pub line: Option<usize>,
    /// The property or component concerned.
    pub property: Option<String>,
    /// What happened.
    pub message: String,
}

impl Warning {
    /// A warning.
    pub fn new(line: Option<usize>, property: Option<&str>, message: impl Into<String>) -> Self {
        Warning {
            line,
            property: property.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if let Some(p) = &self.property {
            write!(f, "{p}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The value a conversion produced, with the warnings it raised.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Parsed<T> {
    /// The converted value.
    pub value: T,
    /// Recoverable problems, in input order.
    pub warnings: Vec<Warning>,
}

impl<T> Parsed<T> {
    /// A value with warnings.
    pub fn new(value: T, warnings: Vec<Warning>) -> Self {
        Parsed { value, warnings }
    }
}

/// What kind of conversion failure this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConversionErrorKind {
    /// The input holds no object of the expected kind (no `BEGIN:VCARD`).
    NoData,
    /// A component was opened and never closed.
    UnterminatedComponent,
    /// A component was closed by the wrong `END:`.
    MismatchedComponentEnd,
    /// More nested components than the parser allows.
    TooManyComponents,
    /// The input is of another kind (an iCalendar where a vCard was expected).
    WrongKind,
    /// A value could not be written.
    Write,
}

/// A conversion that could not produce a model. It names the line and/or
/// the property at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConversionError {
    /// The kind of failure.
    pub kind: ConversionErrorKind,
    /// 1-based line in the input, when known.
    pub line: Option<usize>,
    /// The property or component at fault.
    pub property: Option<String>,
    /// Details.
    pub message: String,
}

impl ConversionError {
    /// An error.
    pub fn new(
        kind: ConversionErrorKind,
        line: Option<usize>,
        property: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        ConversionError {
            kind,
            line,
            property: property.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)?;
        if let Some(l) = self.line {
            write!(f, " at line {l}")?;
        }
        if let Some(p) = &self.property {
            write!(f, " ({p})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConversionError {}

/// Reading versioned JSON failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SchemaError {
    /// The input is not JSON, or does not match the model.
    Json(serde_json::Error),
    /// The `schema` field is missing or not of the form `dtp.<type>/<n>`.
    MissingSchema,
    /// The document is of another data type (`dtp.mail/1` read as calendar).
    WrongSchema {
        /// Expected schema name (`dtp.calendar`).
        expected: &'static str,
        /// What the document says.
        found: String,
    },
    /// Written by a newer crate: this version is not known.
    UnsupportedVersion {
        /// Schema name (`dtp.calendar`).
        schema: &'static str,
        /// The version found.
        found: u32,
        /// The newest version this crate reads.
        supported: u32,
    },
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaError::Json(e) => write!(f, "invalid JSON document: {e}"),
            SchemaError::MissingSchema => f.write_str(
                "missing or malformed `schema` field (expected e.g. \"dtp.calendar/1\")",
            ),
            SchemaError::WrongSchema { expected, found } => {
                write!(f, "expected a `{expected}` document, found `{found}`")
            }
            SchemaError::UnsupportedVersion {
                schema,
                found,
                supported,
            } => write!(
                f,
                "`{schema}/{found}` was written by a newer version of dtp-models; this version reads `{schema}` versions 1 to {supported}"
            ),
        }
    }
}

impl std::error::Error for SchemaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SchemaError::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for SchemaError {
    fn from(e: serde_json::Error) -> Self {
        SchemaError::Json(e)
    }
}
