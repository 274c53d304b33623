//! Google's error answers mapped to [`dtp_core::ErrorKind`]s.
//!
//! Google APIs answer errors in two JSON formats (docs/provider-notes.md G7), and
//! often mix them:
//!
//! * the legacy ("v1") format of Calendar, Tasks and Gmail (G4, G7):
//!   `{"error":{"code":403,"message":"…","errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"…"}],"status":"PERMISSION_DENIED"}}`;
//! * the `google.rpc.Status` ("v2") format of People and Photos:
//!   `{"error":{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED",…}]}}`;
//!
//! and the OAuth token endpoint answers `{"error":"invalid_grant","error_description":"…"}`.
//! [`parse_error_body`] reads all three (every field optional) into a
//! [`GoogleError`], and [`map_error`] turns status + headers + body into a
//! [`dtp_core::Error`] whose source is that [`GoogleError`] (reach it with
//! [`google_error`]):
//!
//! | answer | kind | the driver… |
//! |---|---|---|
//! | 429; 403 `rateLimitExceeded`/`userRateLimitExceeded`; `RESOURCE_EXHAUSTED`; 503 with `Retry-After` | `RateLimited` (with `Retry-After`) | waits, retries |
//! | 403/429 `quotaExceeded`, `dailyLimitExceeded`, a "per day" quota | `QuotaExhausted` | stops the job with the reason |
//! | storage full: `storageQuotaExceeded`, Photos' 400 "remaining storage…" | `DestinationFull` | stops the job |
//! | 401, reason `authError` | `Unauthenticated` | refreshes the token once, retries |
//! | `invalid_grant` (token endpoint 400) | `Reauthorize` | stops: authorize again |
//! | other 403 | `PermissionDenied` | stops the job |
//! | 404, 410 (incl. `fullSyncRequired`, see [`is_full_sync_required`]) | `NotFound` | fails the item |
//! | 400, 409, 412, 413, 422, malformed JSON | `InvalidData` | fails the item |
//! | 500, 502, 503, 504, `backendError`, transport errors | `Transient` | retries with backoff |
//!
//! Messages carry the API, method, path, status, reason and Google's message;
//! never a token (tokens travel only in headers).

use std::fmt;
use std::time::Duration;

use dtp_core::{Error, ErrorKind};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::client::Api;

/// Message substrings that mean "the user's storage is full" on a 400/403
/// (Photos: DTP issue #885; Drive: `storageQuotaExceeded`).
pub const DEFAULT_STORAGE_FULL_PATTERNS: &[&str] = &[
    "remaining storage in the user's account",
    "storage quota has been exceeded",
    "storage quota exceeded",
    "not enough storage",
];

/// Reasons (legacy `errors[].reason` or `ErrorInfo.reason`, compared
/// case-insensitively) that mean "slow down and retry".
const RATE_LIMIT_REASONS: &[&str] = &[
    "ratelimitexceeded",
    "userratelimitexceeded",
    "rate_limit_exceeded",
    "too_many_requests",
];

/// Reasons that mean a daily or product quota is spent: waiting seconds will
/// not help, the job stops with the reason.
const QUOTA_REASONS: &[&str] = &[
    "quotaexceeded",
    "dailylimitexceeded",
    "dailylimitexceededunreg",
    "dailylimitexceeded402",
];

/// Reasons that mean the destination's storage is full.
const STORAGE_REASONS: &[&str] = &[
    "storagequotaexceeded",
    "mailboxfull",
    "quota_exceeded_storage",
];

/// What Google said, parsed from an error body of either format (every field
/// optional), or from an OAuth token-endpoint error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GoogleError {
    /// The HTTP status of the answer.
    pub http_status: u16,
    /// `error.code`.
    pub code: Option<i64>,
    /// `error.status` (`"RESOURCE_EXHAUSTED"`, `"PERMISSION_DENIED"`, …).
    pub status: Option<String>,
    /// `error.message` (or the token endpoint's `error_description`).
    pub message: Option<String>,
    /// Every reason found: legacy `errors[].reason`, `ErrorInfo.reason`, and
    /// the token endpoint's `error` (`"invalid_grant"`).
    pub reasons: Vec<String>,
    /// Legacy `errors[].domain` values and `ErrorInfo.domain`.
    pub domains: Vec<String>,
}

impl GoogleError {
    /// Whether any reason equals `reason` (case-insensitive).
    pub fn has_reason(&self, reason: &str) -> bool {
        self.reasons.iter().any(|r| r.eq_ignore_ascii_case(reason))
    }

    fn has_any_reason(&self, list: &[&str]) -> bool {
        self.reasons
            .iter()
            .any(|r| list.contains(&r.to_ascii_lowercase().as_str()))
    }

    fn message_contains(&self, needle: &str) -> bool {
        self.message.as_deref().is_some_and(|m| {
            m.to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase())
        })
    }
}

impl fmt::Display for GoogleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.http_status)?;
        if let Some(s) = &self.status {
            write!(f, " {s}")?;
        }
        if !self.reasons.is_empty() {
            write!(f, " [{}]", self.reasons.join(", "))?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GoogleError {}

#[derive(Deserialize)]
struct Envelope {
    error: Option<ErrorField>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Object(Box<ErrorObject>),
    Code(String),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorObject {
    code: Option<i64>,
    message: Option<String>,
    status: Option<String>,
    errors: Vec<LegacyItem>,
    details: Vec<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LegacyItem {
    domain: Option<String>,
    reason: Option<String>,
    message: Option<String>,
}

const MAX_MESSAGE: usize = 300;

fn shorten(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= MAX_MESSAGE {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX_MESSAGE).collect();
        out.push('…');
        out
    }
}

/// Parses an error body of either Google format (or an OAuth token-endpoint
/// error). A body that is not JSON yields a [`GoogleError`] with only the
/// HTTP status.
pub fn parse_error_body(http_status: u16, body: &[u8]) -> GoogleError {
    let mut out = GoogleError {
        http_status,
        ..GoogleError::default()
    };
    let Ok(env) = serde_json::from_slice::<Envelope>(body) else {
        return out;
    };
    match env.error {
        Some(ErrorField::Code(code)) => {
            out.reasons.push(code);
            out.message = env.error_description.as_deref().map(shorten);
        }
        Some(ErrorField::Object(obj)) => {
            out.code = obj.code;
            out.status = obj.status;
            out.message = obj.message.as_deref().map(shorten);
            for item in obj.errors {
                if let Some(r) = item.reason {
                    out.reasons.push(r);
                }
                if let Some(d) = item.domain {
                    out.domains.push(d);
                }
                if out.message.is_none() {
                    out.message = item.message.as_deref().map(shorten);
                }
            }
            for d in obj.details {
                let ty = d.get("@type").and_then(|t| t.as_str()).unwrap_or("");
                if ty.ends_with("google.rpc.ErrorInfo") {
                    if let Some(r) = d.get("reason").and_then(|r| r.as_str()) {
                        out.reasons.push(r.to_string());
                    }
                    if let Some(dm) = d.get("domain").and_then(|r| r.as_str()) {
                        out.domains.push(dm.to_string());
                    }
                } else if ty.ends_with("google.rpc.QuotaFailure")
                    && let Some(vs) = d.get("violations").and_then(|v| v.as_array())
                {
                    for v in vs {
                        if let Some(desc) = v.get("description").and_then(|x| x.as_str())
                            && out.message.is_none()
                        {
                            out.message = Some(shorten(desc));
                        }
                    }
                }
            }
        }
        None => {}
    }
    out
}

/// Parses `Retry-After` (delta-seconds, or an IMF-fixdate HTTP date).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let now = chrono::Utc::now();
    let delta = when.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or_default())
}

/// How to classify answers: the storage-full message patterns (configurable,
/// since Google's texts are not guaranteed) and the wait used for a 429
/// without `Retry-After` per API.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ErrorPolicy {
    /// Lower-case message substrings that mean "storage full".
    pub storage_full_patterns: Vec<String>,
    /// The wait to report for a Photos 429 without `Retry-After` (Google's
    /// best-practice page asks for at least 30 s; *secondary*).
    pub photos_min_retry_after: Option<Duration>,
}

impl Default for ErrorPolicy {
    fn default() -> Self {
        ErrorPolicy {
            storage_full_patterns: DEFAULT_STORAGE_FULL_PATTERNS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            photos_min_retry_after: Some(Duration::from_secs(30)),
        }
    }
}

impl ErrorPolicy {
    /// Adds a storage-full message substring.
    pub fn with_storage_full_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.storage_full_patterns
            .push(pattern.into().to_ascii_lowercase());
        self
    }

    /// Sets the default wait after a Photos 429 without `Retry-After`.
    pub fn with_photos_min_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.photos_min_retry_after = wait;
        self
    }
}

/// The kind for a Google error answer (see the module table).
pub fn classify(
    api: Api,
    status: StatusCode,
    headers: &HeaderMap,
    g: &GoogleError,
    policy: &ErrorPolicy,
) -> ErrorKind {
    let code = status.as_u16();
    let ra = retry_after(headers);
    let storage_full = g.has_any_reason(STORAGE_REASONS)
        || policy
            .storage_full_patterns
            .iter()
            .any(|p| g.message_contains(p));
    let daily = g.has_any_reason(QUOTA_REASONS)
        || g.message_contains("per day")
        || g.message_contains("usage limits exceeded");
    let rate =
        g.has_any_reason(RATE_LIMIT_REASONS) || g.status.as_deref() == Some("RESOURCE_EXHAUSTED");
    if g.has_reason("invalid_grant") {
        return ErrorKind::Reauthorize;
    }
    if storage_full && matches!(code, 400 | 403 | 413 | 429 | 507) {
        return ErrorKind::DestinationFull;
    }
    match code {
        401 => ErrorKind::Unauthenticated,
        403 | 429 if daily => ErrorKind::QuotaExhausted,
        429 => ErrorKind::RateLimited {
            retry_after: ra.or(match api {
                Api::PhotosLibrary | Api::PhotosUpload => policy.photos_min_retry_after,
                _ => None,
            }),
        },
        403 if rate => ErrorKind::RateLimited { retry_after: ra },
        403 if g.has_reason("authError") => ErrorKind::Unauthenticated,
        403 => ErrorKind::PermissionDenied,
        404 | 410 => ErrorKind::NotFound,
        503 if ra.is_some() => ErrorKind::RateLimited { retry_after: ra },
        408 | 500 | 502 | 503 | 504 => ErrorKind::Transient,
        400 | 409 | 411 | 412 | 413 | 415 | 422 => ErrorKind::InvalidData,
        501 => ErrorKind::Unsupported,
        s if s >= 500 => ErrorKind::Transient,
        _ => ErrorKind::InvalidData,
    }
}

/// Builds the error for a non-2xx answer: kind from [`classify`], message
/// naming the API, method, path and what Google said, source the parsed
/// [`GoogleError`].
pub fn map_error(
    api: Api,
    method: &reqwest::Method,
    path: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    policy: &ErrorPolicy,
) -> Error {
    let g = parse_error_body(status.as_u16(), body);
    let kind = classify(api, status, headers, &g, policy);
    let mut msg = format!("{method} {path} answered {g}");
    match &kind {
        ErrorKind::QuotaExhausted => {
            msg.push_str(" (a daily or product quota is spent; resume the job later)")
        }
        ErrorKind::DestinationFull => msg.push_str(" (the account's storage is full)"),
        ErrorKind::Reauthorize => msg.push_str(" (the user must authorize again)"),
        _ => {}
    }
    Error::new(kind, msg)
        .with_service(api.service_name())
        .with_source(g)
}

/// The [`GoogleError`] behind an error from this crate, if it came from a
/// Google error answer.
pub fn google_error(err: &Error) -> Option<&GoogleError> {
    std::error::Error::source(err).and_then(|s| s.downcast_ref::<GoogleError>())
}

/// Whether `err` is Calendar's 410 `fullSyncRequired` (a dead sync or page
/// token: start the listing again without it).
pub fn is_full_sync_required(err: &Error) -> bool {
    google_error(err).is_some_and(|g| g.http_status == 410 || g.has_reason("fullSyncRequired"))
}

/// Whether `err` is a Google error with `reason` (either format).
pub fn has_reason(err: &Error, reason: &str) -> bool {
    google_error(err).is_some_and(|g| g.has_reason(reason))
}

/// A transport failure (connect, reset, timeout, broken body): transient.
/// The URL is stripped; only the path is named.
pub fn transport_error(api: Api, method: &reqwest::Method, path: &str, e: reqwest::Error) -> Error {
    let e = e.without_url();
    Error::transient(format!("{method} {path}: {e}"))
        .with_service(api.service_name())
        .with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn kind(api: Api, status: u16, headers: &HeaderMap, body: &str) -> ErrorKind {
        map_error(
            api,
            &reqwest::Method::GET,
            "/x",
            StatusCode::from_u16(status).unwrap(),
            headers,
            body.as_bytes(),
            &ErrorPolicy::default(),
        )
        .kind()
        .clone()
    }

    fn legacy(code: u16, domain: &str, reason: &str, message: &str) -> String {
        serde_json::json!({"error":{"code":code,"message":message,
            "errors":[{"domain":domain,"reason":reason,"message":message}]}})
        .to_string()
    }

    fn rpc(code: u16, status: &str, reason: Option<&str>, message: &str) -> String {
        let mut details = vec![];
        if let Some(r) = reason {
            details.push(serde_json::json!({"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":r,"domain":"googleapis.com"}));
        }
        serde_json::json!({"error":{"code":code,"message":message,"status":status,"details":details}})
            .to_string()
    }

    #[test]
    fn both_formats_and_the_status_table() {
        let none = HeaderMap::new();
        let mut ra = HeaderMap::new();
        ra.insert("retry-after", HeaderValue::from_static("7"));
        let seven = Some(Duration::from_secs(7));
        // Legacy 403 rate limits are retryable, honouring Retry-After.
        for r in ["rateLimitExceeded", "userRateLimitExceeded"] {
            assert_eq!(
                kind(
                    Api::Calendar,
                    403,
                    &ra,
                    &legacy(403, "usageLimits", r, "Rate Limit Exceeded")
                ),
                ErrorKind::RateLimited { retry_after: seven }
            );
        }
        // 429 RESOURCE_EXHAUSTED (v2) without Retry-After.
        assert_eq!(
            kind(
                Api::People,
                429,
                &none,
                &rpc(
                    429,
                    "RESOURCE_EXHAUSTED",
                    Some("RATE_LIMIT_EXCEEDED"),
                    "Resource has been exhausted (e.g. check quota)."
                )
            ),
            ErrorKind::RateLimited { retry_after: None }
        );
        // Photos 429 without Retry-After waits at least 30 s.
        assert_eq!(
            kind(
                Api::PhotosLibrary,
                429,
                &none,
                &rpc(429, "RESOURCE_EXHAUSTED", None, "Quota exceeded")
            ),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(30))
            }
        );
        // Calendar quotaExceeded and daily limits stop the job.
        assert_eq!(
            kind(
                Api::Calendar,
                403,
                &none,
                &legacy(
                    403,
                    "usageLimits",
                    "quotaExceeded",
                    "Calendar usage limits exceeded."
                )
            ),
            ErrorKind::QuotaExhausted
        );
        assert_eq!(
            kind(
                Api::Gmail,
                403,
                &none,
                &legacy(
                    403,
                    "usageLimits",
                    "dailyLimitExceeded",
                    "Daily Limit Exceeded"
                )
            ),
            ErrorKind::QuotaExhausted
        );
        assert_eq!(
            kind(
                Api::PhotosLibrary,
                429,
                &none,
                &rpc(
                    429,
                    "RESOURCE_EXHAUSTED",
                    None,
                    "Quota exceeded for quota metric 'All requests' and limit 'All requests per day' of service 'photoslibrary.googleapis.com'"
                )
            ),
            ErrorKind::QuotaExhausted
        );
        // Storage full.
        assert_eq!(
            kind(
                Api::PhotosLibrary,
                400,
                &none,
                &rpc(
                    400,
                    "INVALID_ARGUMENT",
                    None,
                    "The remaining storage in the user's account is not enough to perform this operation."
                )
            ),
            ErrorKind::DestinationFull
        );
        assert_eq!(
            kind(
                Api::Gmail,
                403,
                &none,
                &legacy(
                    403,
                    "usageLimits",
                    "storageQuotaExceeded",
                    "The user's Drive storage quota has been exceeded."
                )
            ),
            ErrorKind::DestinationFull
        );
        // Auth.
        assert_eq!(
            kind(
                Api::Calendar,
                401,
                &none,
                &legacy(401, "global", "authError", "Invalid Credentials")
            ),
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            kind(
                Api::People,
                400,
                &none,
                r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#
            ),
            ErrorKind::Reauthorize
        );
        assert_eq!(
            kind(
                Api::People,
                403,
                &none,
                &rpc(
                    403,
                    "PERMISSION_DENIED",
                    None,
                    "The caller does not have permission"
                )
            ),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(
                Api::Calendar,
                410,
                &none,
                &legacy(
                    410,
                    "calendar",
                    "fullSyncRequired",
                    "Sync token is no longer valid, a full sync is required."
                )
            ),
            ErrorKind::NotFound
        );
        assert_eq!(kind(Api::Calendar, 404, &none, ""), ErrorKind::NotFound);
        assert_eq!(
            kind(
                Api::Calendar,
                409,
                &none,
                &legacy(
                    409,
                    "global",
                    "duplicate",
                    "The requested identifier already exists."
                )
            ),
            ErrorKind::InvalidData
        );
        assert_eq!(
            kind(Api::Calendar, 400, &none, "not json"),
            ErrorKind::InvalidData
        );
        for s in [500, 502, 503, 504] {
            assert_eq!(
                kind(
                    Api::Tasks,
                    s,
                    &none,
                    &legacy(s, "global", "backendError", "Backend Error")
                ),
                ErrorKind::Transient
            );
        }
        assert_eq!(
            kind(Api::Tasks, 503, &ra, ""),
            ErrorKind::RateLimited { retry_after: seven }
        );
    }

    #[test]
    fn the_parsed_error_is_the_source_and_full_sync_is_detectable() {
        let body = legacy(
            410,
            "calendar",
            "fullSyncRequired",
            "Sync token is no longer valid",
        );
        let err = map_error(
            Api::Calendar,
            &reqwest::Method::GET,
            "/calendar/v3/calendars/primary/events",
            StatusCode::GONE,
            &HeaderMap::new(),
            body.as_bytes(),
            &ErrorPolicy::default(),
        );
        assert!(is_full_sync_required(&err));
        assert!(has_reason(&err, "fullsyncrequired"));
        let g = google_error(&err).unwrap();
        assert_eq!(g.domains, ["calendar"]);
        assert!(err.to_string().contains("fullSyncRequired"), "{err}");
    }

    #[test]
    fn mixed_format_and_quota_failure_details_parse() {
        let body = r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).",
            "errors":[{"message":"Resource has been exhausted (e.g. check quota).","domain":"global","reason":"rateLimitExceeded"}],
            "status":"RESOURCE_EXHAUSTED",
            "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"subject":"QUOTA_EXCEEDED","description":"FBS quota limit exceeded"}]}]}}"#;
        let g = parse_error_body(429, body.as_bytes());
        assert_eq!(g.status.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert!(g.has_reason("RATELIMITEXCEEDED"));
        assert_eq!(g.code, Some(429));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
