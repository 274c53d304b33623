//! One error type for the whole SPI: a kind, whether it is retryable, whether
//! it fails one item or the whole job, context, and the source error.

use std::fmt;
use std::time::Duration;

/// What went wrong, in terms the driver can act on.
///
/// Adapters map every provider response to one of these; nothing downstream
/// ever inspects message strings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The service asks us to slow down; retry after `retry_after` if given,
    /// otherwise after backoff.
    RateLimited {
        /// How long the service asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The access token expired or was rejected: refresh it, then retry once.
    Unauthenticated,
    /// The user must authorize again (refresh refused, e.g. `invalid_grant`,
    /// access revoked).
    Reauthorize,
    /// The account may not do this (missing scope, forbidden resource).
    PermissionDenied,
    /// The destination has no room left (quota, storage full).
    DestinationFull,
    /// The resource does not exist (any more).
    NotFound,
    /// The data is malformed or rejected by the service.
    InvalidData,
    /// The service cannot do this at all.
    Unsupported,
    /// A passing failure: 5xx, timeout, reset connection.
    Transient,
    /// The work was cancelled.
    Cancelled,
    /// A daily or product quota is exhausted: waiting seconds will not help.
    QuotaExhausted,
    /// A bug or an impossible state in dtp-rs or an adapter.
    Internal,
    /// This worker's lease on the job ended (expired and claimed by another
    /// worker, or released): it must stop at once and write nothing more.
    LeaseLost,
}

/// Whether an error fails one item (the job goes on) or the whole job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorScope {
    /// Record the item as failed and continue with the rest.
    Item,
    /// Stop the job (its checkpoint is kept, so it can be resumed).
    Job,
}

impl ErrorKind {
    /// A stable snake_case name (`"rate_limited"`, `"destination_full"`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Reauthorize => "reauthorize",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::DestinationFull => "destination_full",
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidData => "invalid_data",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Transient => "transient",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::QuotaExhausted => "quota_exhausted",
            ErrorKind::Internal => "internal",
            ErrorKind::LeaseLost => "lease_lost",
        }
    }

    /// Every kind, in declaration order ([`RateLimited`](Self::RateLimited)
    /// without a wait).
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::RateLimited { retry_after: None },
        ErrorKind::Unauthenticated,
        ErrorKind::Reauthorize,
        ErrorKind::PermissionDenied,
        ErrorKind::DestinationFull,
        ErrorKind::NotFound,
        ErrorKind::InvalidData,
        ErrorKind::Unsupported,
        ErrorKind::Transient,
        ErrorKind::Cancelled,
        ErrorKind::QuotaExhausted,
        ErrorKind::Internal,
        ErrorKind::LeaseLost,
    ];

    /// The kind whose [`as_str`](Self::as_str) name is `name`, if any.
    /// `rate_limited` reads as [`RateLimited`](Self::RateLimited) without a
    /// wait: a stored name carries no duration.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The kind a store or a report recorded as `name`. A name this version
    /// does not know (written by a newer one) reads as
    /// [`Internal`](Self::Internal) instead of making the whole job
    /// unreadable; the record's message still says what happened.
    pub fn from_stored(name: &str) -> ErrorKind {
        ErrorKind::from_name(name).unwrap_or(ErrorKind::Internal)
    }

    /// Whether waiting and trying again can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ErrorKind::RateLimited { .. } | ErrorKind::Transient)
    }

    /// The default scope of this kind. Retryable kinds that exhausted their
    /// retries stop the job too: the item is not at fault, and a later resume
    /// can finish it.
    pub fn default_scope(&self) -> ErrorScope {
        match self {
            ErrorKind::NotFound | ErrorKind::InvalidData | ErrorKind::Unsupported => {
                ErrorScope::Item
            }
            _ => ErrorScope::Job,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::RateLimited {
                retry_after: Some(d),
            } => write!(f, "rate limited (retry after {:.1}s)", d.as_secs_f64()),
            ErrorKind::RateLimited { retry_after: None } => f.write_str("rate limited"),
            ErrorKind::Unauthenticated => f.write_str("unauthenticated"),
            ErrorKind::Reauthorize => f.write_str("authorization must be renewed"),
            ErrorKind::PermissionDenied => f.write_str("permission denied"),
            ErrorKind::DestinationFull => f.write_str("destination full"),
            ErrorKind::NotFound => f.write_str("not found"),
            ErrorKind::InvalidData => f.write_str("invalid data"),
            ErrorKind::Unsupported => f.write_str("unsupported"),
            ErrorKind::Transient => f.write_str("transient failure"),
            ErrorKind::Cancelled => f.write_str("cancelled"),
            ErrorKind::QuotaExhausted => f.write_str("quota exhausted"),
            ErrorKind::Internal => f.write_str("internal error"),
            ErrorKind::LeaseLost => f.write_str("lease lost"),
        }
    }
}

impl std::str::FromStr for ErrorKind {
    type Err = Error;

    /// Parses a stable name ([`ErrorKind::as_str`]); an unknown name is
    /// `InvalidData`.
    fn from_str(s: &str) -> Result<Self> {
        ErrorKind::from_name(s)
            .ok_or_else(|| Error::invalid_data(format!("`{s}` is not an error kind")))
    }
}

/// Written as its stable name (`"destination_full"`), so stored reasons and
/// JSON reports keep the shape they had when the field was a string. A
/// `RateLimited` wait is not written.
impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Read leniently, like [`ErrorKind::from_stored`]: old records keep
/// reading.
impl<'de> serde::Deserialize<'de> for ErrorKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(ErrorKind::from_stored(&name))
    }
}

/// Where an error happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorContext {
    /// The operation, e.g. `"export"`, `"import_item"`, `"checkpoint"`.
    pub operation: Option<&'static str>,
    /// The service: its name in the registry (`caldav`, `google-takeout`),
    /// followed by `.` and the API where one service speaks several
    /// (`google.people`, `microsoft.graph`, `microsoft.onedrive`). Rate-limit
    /// keys use the same names.
    pub service: Option<String>,
    /// The item or container the error is about.
    pub item_id: Option<String>,
}

/// The error type of dtp-rs.
///
/// ```
/// use std::time::Duration;
/// use dtp_core::{Error, ErrorKind};
/// let err = Error::rate_limited(Some(Duration::from_secs(2)), "429 from the photos API").with_service("example");
/// assert!(err.is_retryable());
/// assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
/// ```
pub struct Error(Box<Inner>);

// Boxed so that `Result<T, Error>` stays one pointer wide on the error side.
struct Inner {
    kind: ErrorKind,
    message: String,
    scope: ErrorScope,
    context: ErrorContext,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a message. The message must never contain a
    /// secret.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let scope = kind.default_scope();
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            scope,
            context: ErrorContext::default(),
            source: None,
        }))
    }

    /// Shorthand for [`ErrorKind::RateLimited`].
    pub fn rate_limited(
        retry_after: Option<std::time::Duration>,
        message: impl Into<String>,
    ) -> Self {
        Error::new(ErrorKind::RateLimited { retry_after }, message)
    }

    /// Shorthand for [`ErrorKind::InvalidData`].
    pub fn invalid_data(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidData, message)
    }

    /// Shorthand for [`ErrorKind::Transient`].
    pub fn transient(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Transient, message)
    }

    /// Shorthand for [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    /// Shorthand for [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    /// Shorthand for [`ErrorKind::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unsupported, message)
    }

    /// Shorthand for [`ErrorKind::Cancelled`].
    pub fn cancelled() -> Self {
        Error::new(ErrorKind::Cancelled, "the transfer was cancelled")
    }

    /// The kind.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The message, without context.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Whether this fails one item or the whole job.
    pub fn scope(&self) -> ErrorScope {
        self.0.scope
    }

    /// Whether this stops the whole job.
    pub fn is_job_level(&self) -> bool {
        self.0.scope == ErrorScope::Job
    }

    /// Whether waiting and trying again can succeed.
    pub fn is_retryable(&self) -> bool {
        self.0.kind.is_retryable()
    }

    /// The wait the service asked for, if any.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self.0.kind {
            ErrorKind::RateLimited { retry_after } => retry_after,
            _ => None,
        }
    }

    /// Where it happened.
    pub fn context(&self) -> &ErrorContext {
        &self.0.context
    }

    /// Overrides the scope (e.g. a `PermissionDenied` on one shared album is
    /// only an item failure).
    pub fn with_scope(mut self, scope: ErrorScope) -> Self {
        self.0.scope = scope;
        self
    }

    /// Sets the operation.
    pub fn with_operation(mut self, operation: &'static str) -> Self {
        self.0.context.operation = Some(operation);
        self
    }

    /// Sets the service.
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.0.context.service = Some(service.into());
        self
    }

    /// Sets the item or container id.
    pub fn with_item(mut self, item_id: impl Into<String>) -> Self {
        self.0.context.item_id = Some(item_id.into());
        self
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.kind)?;
        if let Some(op) = self.0.context.operation {
            write!(f, " during {op}")?;
        }
        if let Some(service) = &self.0.context.service {
            write!(f, " at {service}")?;
        }
        if let Some(item) = &self.0.context.item_id {
            write!(f, " (item {item})")?;
        }
        if !self.0.message.is_empty() {
            write!(f, ": {}", self.0.message)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind)
            .field("scope", &self.0.scope)
            .field("message", &self.0.message);
        if self.0.context != ErrorContext::default() {
            d.field("context", &self.0.context);
        }
        if let Some(source) = &self.0.source {
            d.field("source", &format_args!("{source}"));
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A vCard or iCalendar that could not be read or written is
/// [`InvalidData`](ErrorKind::InvalidData) (an item-level failure); the
/// conversion error stays attached as the source.
impl From<dtp_models::ConversionError> for Error {
    fn from(e: dtp_models::ConversionError) -> Self {
        Error::invalid_data(format!("conversion failed: {e}")).with_source(e)
    }
}

/// Versioned JSON that could not be read: [`Unsupported`](ErrorKind::Unsupported)
/// when a newer version wrote it, [`InvalidData`](ErrorKind::InvalidData)
/// otherwise; the schema error stays attached as the source.
impl From<dtp_models::SchemaError> for Error {
    fn from(e: dtp_models::SchemaError) -> Self {
        let kind = match e {
            dtp_models::SchemaError::UnsupportedVersion { .. } => ErrorKind::Unsupported,
            _ => ErrorKind::InvalidData,
        };
        Error::new(kind, format!("versioned JSON: {e}")).with_source(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::new(ErrorKind::InvalidData, "malformed JSON").with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_retryability_follow_the_kind() {
        assert!(Error::transient("x").is_retryable());
        assert!(Error::transient("x").is_job_level());
        assert!(!Error::invalid_data("x").is_retryable());
        assert_eq!(Error::invalid_data("x").scope(), ErrorScope::Item);
        assert!(Error::new(ErrorKind::DestinationFull, "").is_job_level());
        let e =
            Error::new(ErrorKind::PermissionDenied, "shared album").with_scope(ErrorScope::Item);
        assert!(!e.is_job_level());
    }

    #[test]
    fn kinds_parse_from_their_stable_names() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind.as_str().parse::<ErrorKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), kind);
        }
        let waited = ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(serde_json::to_string(&waited).unwrap(), "\"rate_limited\"");
        let err = "no_such_kind".parse::<ErrorKind>().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidData);
        // A name from a newer version does not make a stored record unreadable.
        let stored: ErrorKind = serde_json::from_str("\"from_the_future\"").unwrap();
        assert_eq!(stored, ErrorKind::Internal);
    }

    #[test]
    fn model_errors_convert_with_their_source() {
        use dtp_models::{ConversionError, ConversionErrorKind, SchemaError};
        use std::error::Error as _;
        let conversion =
            ConversionError::new(ConversionErrorKind::NoData, Some(1), None, "no BEGIN:VCARD");
        let e = Error::from(conversion.clone());
        assert_eq!(e.kind(), &ErrorKind::InvalidData);
        assert_eq!(e.scope(), ErrorScope::Item);
        assert!(e.message().contains("no BEGIN:VCARD"), "{e}");
        let source = e.source().expect("the conversion error is kept");
        assert_eq!(source.to_string(), conversion.to_string());

        let newer = SchemaError::UnsupportedVersion {
            schema: "dtp.calendar",
            found: 9,
            supported: 1,
        };
        let e = Error::from(newer);
        assert_eq!(e.kind(), &ErrorKind::Unsupported);
        assert!(e.source().is_some());
        let e = Error::from(SchemaError::MissingSchema);
        assert_eq!(e.kind(), &ErrorKind::InvalidData);
        assert!(e.source().unwrap().to_string().contains("schema"));
    }

    #[test]
    fn display_includes_context_in_order() {
        let e = Error::invalid_data("bad vCard line 3")
            .with_operation("import_item")
            .with_service("carddav")
            .with_item("c1");
        assert_eq!(
            e.to_string(),
            "invalid data during import_item at carddav (item c1): bad vCard line 3"
        );
    }
}
