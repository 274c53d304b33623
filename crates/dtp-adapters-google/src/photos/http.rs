//! HTTP plumbing of the Photos adapters: transport errors, `Retry-After`,
//! and the mapping of Google's error answers to [`ErrorKind`]s, including
//! Photos' own storage-full answer (a `400 INVALID_ARGUMENT` whose message
//! says the remaining storage is not enough).

use std::time::Duration;

use dtp_core::{Error, ErrorKind, Result};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

/// Service name put on Photos errors.
pub(crate) const SERVICE: &str = "google-photos";

/// A reqwest failure (connection refused, reset, timeout) as an [`Error`].
/// Never carries the URL (it may hold a signed query).
pub(crate) fn transport_error(e: reqwest::Error, service: &str) -> Error {
    let kind = if e.is_builder() {
        ErrorKind::Internal
    } else if e.is_decode() {
        ErrorKind::InvalidData
    } else {
        ErrorKind::Transient
    };
    Error::new(kind, "request failed")
        .with_service(service)
        .with_source(e.without_url())
}

/// `Retry-After` in seconds.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    errors: Vec<LegacyError>,
    #[serde(default)]
    details: Vec<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct LegacyError {
    #[serde(default)]
    reason: String,
}

/// The reasons found in both Google error formats: legacy `errors[].reason`
/// and `details[]` `ErrorInfo.reason`.
fn reasons(d: &ErrorDetail) -> Vec<String> {
    let mut out: Vec<String> = d.errors.iter().map(|e| e.reason.clone()).collect();
    for v in &d.details {
        if let Some(r) = v.get("reason").and_then(|r| r.as_str()) {
            out.push(r.to_string());
        }
    }
    out
}

/// Maps a Google error answer to an [`Error`].
///
/// `storage_full` is the substring of a `400` message that means the
/// user's storage is full (Photos answers `400 INVALID_ARGUMENT` "The
/// remaining storage in the user's account is not enough to perform this
/// operation."); matching is case-insensitive.
pub(crate) fn google_error(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    storage_full: &str,
    service: &str,
) -> Error {
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
        .unwrap_or_default();
    let reasons = reasons(&detail);
    let has = |r: &str| reasons.iter().any(|x| x.eq_ignore_ascii_case(r));
    let msg_lower = detail.message.to_lowercase();
    let per_day = msg_lower.contains("per day") || has("dailyLimitExceeded");
    let storage = !storage_full.is_empty() && msg_lower.contains(&storage_full.to_lowercase());
    let kind = match status.as_u16() {
        400 if storage => ErrorKind::DestinationFull,
        400 | 409 | 413 | 422 => ErrorKind::InvalidData,
        401 => ErrorKind::Unauthenticated,
        403 if has("rateLimitExceeded") || has("userRateLimitExceeded") => {
            ErrorKind::RateLimited { retry_after }
        }
        403 if per_day || has("quotaExceeded") => ErrorKind::QuotaExhausted,
        403 if has("storageQuotaExceeded") || storage => ErrorKind::DestinationFull,
        403 => ErrorKind::PermissionDenied,
        404 | 410 => ErrorKind::NotFound,
        429 if per_day => ErrorKind::QuotaExhausted,
        429 => ErrorKind::RateLimited { retry_after },
        503 if retry_after.is_some() => ErrorKind::RateLimited { retry_after },
        408 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Internal,
    };
    let status_name = detail.status.as_deref().unwrap_or("");
    Error::new(
        kind,
        format!(
            "HTTP {} {status_name}: {}",
            status.as_u16(),
            truncate(&detail.message, 300)
        ),
    )
    .with_service(service)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// Returns `resp` if it succeeded, else its body mapped to an [`Error`].
pub(crate) async fn ensure_ok(
    resp: reqwest::Response,
    storage_full: &str,
    service: &str,
) -> Result<reqwest::Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let wait = retry_after(resp.headers());
    let body = resp.bytes().await.unwrap_or_default();
    Err(google_error(status, wait, &body, storage_full, service))
}

/// Maps a per-item `google.rpc.Status` code inside a 200 answer
/// (`newMediaItemResults[].status`) to an [`Error`].
pub(crate) fn rpc_status_error(code: i32, message: &str, storage_full: &str) -> Error {
    let storage =
        !storage_full.is_empty() && message.to_lowercase().contains(&storage_full.to_lowercase());
    let kind = match code {
        _ if storage => ErrorKind::DestinationFull,
        // CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, ABORTED, INTERNAL, UNAVAILABLE
        1 | 2 | 4 | 10 | 13 | 14 => ErrorKind::Transient,
        // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE, ALREADY_EXISTS
        3 | 9 | 11 | 6 => ErrorKind::InvalidData,
        5 => ErrorKind::NotFound,
        7 => ErrorKind::PermissionDenied,
        8 => ErrorKind::RateLimited { retry_after: None },
        16 => ErrorKind::Unauthenticated,
        12 => ErrorKind::Unsupported,
        _ => ErrorKind::Internal,
    };
    Error::new(
        kind,
        format!("item status {code}: {}", truncate(message, 300)),
    )
    .with_service(SERVICE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, body: &str) -> ErrorKind {
        google_error(
            StatusCode::from_u16(status).unwrap(),
            None,
            body.as_bytes(),
            "remaining storage",
            SERVICE,
        )
        .kind()
        .clone()
    }

    #[test]
    fn maps_google_errors() {
        let full = r#"{"error":{"code":400,"message":"The remaining storage in the user's account is not enough to perform this operation.","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(kind(400, full), ErrorKind::DestinationFull);
        assert_eq!(
            kind(400, r#"{"error":{"code":400,"message":"Invalid upload token","status":"INVALID_ARGUMENT"}}"#),
            ErrorKind::InvalidData
        );
        let legacy = r#"{"error":{"code":403,"message":"x","errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}]}}"#;
        assert!(matches!(kind(403, legacy), ErrorKind::RateLimited { .. }));
        let daily = r#"{"error":{"code":429,"message":"Quota exceeded for quota metric 'All requests' and limit 'All requests per day' of service 'photoslibrary.googleapis.com'","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(kind(429, daily), ErrorKind::QuotaExhausted);
        assert!(matches!(kind(429, "not json"), ErrorKind::RateLimited { .. }));
        assert_eq!(kind(401, "{}"), ErrorKind::Unauthenticated);
        assert_eq!(kind(403, r#"{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}"#), ErrorKind::PermissionDenied);
        assert_eq!(kind(503, ""), ErrorKind::Transient);
        assert_eq!(
            rpc_status_error(3, "The remaining storage in the user's account is not enough", "remaining storage").kind(),
            &ErrorKind::DestinationFull
        );
        assert_eq!(rpc_status_error(13, "Internal error", "remaining storage").kind(), &ErrorKind::Transient);
    }
}
