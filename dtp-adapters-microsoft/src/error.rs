//! Graph errors → [`dtp_core::Error`].
//!
//! Graph answers a failed call with a JSON error body (docs/provider-notes.md M2.1,
//! <https://learn.microsoft.com/en-us/graph/errors>):
//!
//! ```json
//! { "error": { "code": "itemNotFound", "message": "…",
//!              "innerError": { "code": "…", "date": "…", "request-id": "…" } } }
//! ```
//!
//! `code` is the stable contract; nested `innerError` / `innererror` objects
//! carry more specific codes. The message is developer text: it is kept for
//! reports but never branched on. The identity platform's token endpoint
//! answers `{"error":"invalid_grant", …}` (a string, not an object); that is
//! [`ErrorKind::Reauthorize`].
//!
//! | answer | kind |
//! |---|---|
//! | 429, `activityLimitReached`, `TooManyRequests`, 509 | `RateLimited` (with `Retry-After`) |
//! | 503 with `Retry-After` | `RateLimited` |
//! | 507, `quotaLimitReached`, `ErrorQuotaExceeded`, `insufficientStorage` | `DestinationFull` |
//! | 401 | `Unauthenticated` (the driver refreshes once) |
//! | `invalid_grant`, `insufficient_claims` | `Reauthorize` |
//! | 403 | `PermissionDenied` |
//! | 404, 410, `itemNotFound`, `ErrorItemNotFound` | `NotFound` |
//! | 400, 409, 411, 412, 413, 415, 416, 422 | `InvalidData` |
//! | 405, 501, `notSupported` | `Unsupported` |
//! | 408, 423, 500, 502, 503, 504 and other 5xx | `Transient` |

use std::fmt;
use std::time::Duration;

use dtp_core::{Error, ErrorKind};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The service name errors of this crate carry.
pub const SERVICE: &str = "microsoft.graph";

/// The parsed Graph error body (or the identity platform's OAuth error).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphError {
    /// The HTTP status.
    pub status: u16,
    /// The top-level `error.code` (or the OAuth `error` string).
    pub code: Option<String>,
    /// The codes of nested `innerError` objects, outermost first.
    pub inner_codes: Vec<String>,
    /// The developer message (never branched on).
    pub message: Option<String>,
    /// The `request-id` Graph gives for support.
    pub request_id: Option<String>,
}

impl GraphError {
    /// Parses an error body; a body that is not a Graph error gives only the
    /// status.
    pub fn parse(status: u16, body: &[u8]) -> Self {
        let mut out = GraphError {
            status,
            ..GraphError::default()
        };
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return out;
        };
        match v.get("error") {
            Some(Value::Object(obj)) => {
                out.code = obj.get("code").and_then(Value::as_str).map(clip);
                out.message = obj.get("message").and_then(Value::as_str).map(clip);
                let mut inner = inner_of(obj);
                let mut depth = 0;
                while let Some(i) = inner {
                    if depth > 8 {
                        break;
                    }
                    depth += 1;
                    if let Some(code) = i.get("code").and_then(Value::as_str) {
                        out.inner_codes.push(clip(code));
                    }
                    if out.request_id.is_none() {
                        out.request_id = i
                            .get("request-id")
                            .or_else(|| i.get("requestId"))
                            .and_then(Value::as_str)
                            .map(clip);
                    }
                    inner = inner_of(i);
                }
            }
            // OAuth 2.0 token endpoint: {"error":"invalid_grant","error_description":"AADSTS…"}
            Some(Value::String(code)) => {
                out.code = Some(clip(code));
                out.message = v
                    .get("error_description")
                    .and_then(Value::as_str)
                    .map(|s| clip(s.lines().next().unwrap_or("")));
            }
            _ => {}
        }
        out
    }

    /// Every code, most specific last.
    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.code
            .iter()
            .chain(self.inner_codes.iter())
            .map(String::as_str)
    }

    /// Whether any code (top-level or inner) equals `code`, ignoring case.
    pub fn has_code(&self, code: &str) -> bool {
        self.codes().any(|c| c.eq_ignore_ascii_case(code))
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph answered {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        for c in &self.inner_codes {
            write!(f, "/{c}")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {}

fn inner_of(obj: &serde_json::Map<String, Value>) -> Option<&serde_json::Map<String, Value>> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("innererror"))
        .and_then(|(_, v)| v.as_object())
}

fn clip(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Parses `Retry-After`: delta-seconds (what Graph sends) or an IMF-fixdate.
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

/// The kind an answer maps to (the table in the module docs).
pub fn classify(status: StatusCode, headers: &HeaderMap, err: &GraphError) -> ErrorKind {
    let code = |c: &str| err.has_code(c);
    let after = retry_after(headers);
    if code("invalid_grant") || code("insufficient_claims") || code("interaction_required") {
        return ErrorKind::Reauthorize;
    }
    if status.as_u16() == 507
        || code("quotaLimitReached")
        || code("ErrorQuotaExceeded")
        || code("insufficientStorage")
    {
        return ErrorKind::DestinationFull;
    }
    if status.as_u16() == 429
        || status.as_u16() == 509
        || code("activityLimitReached")
        || code("TooManyRequests")
        || code("throttledRequest")
        || code("ApplicationThrottled")
        || (status.as_u16() == 503 && after.is_some())
    {
        return ErrorKind::RateLimited { retry_after: after };
    }
    match status.as_u16() {
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::PermissionDenied,
        404 | 410 => ErrorKind::NotFound,
        405 | 501 => ErrorKind::Unsupported,
        408 | 423 => ErrorKind::Transient,
        400 | 409 | 411 | 412 | 413 | 415 | 416 | 422 => {
            if code("notSupported") {
                ErrorKind::Unsupported
            } else if code("itemNotFound") || code("ErrorItemNotFound") {
                ErrorKind::NotFound
            } else {
                ErrorKind::InvalidData
            }
        }
        s if (500..600).contains(&s) => ErrorKind::Transient,
        _ => ErrorKind::Internal,
    }
}

/// The error of a non-success answer: its kind, a message naming the method,
/// path and Graph code (never a token or query string), and the parsed
/// [`GraphError`] as source.
pub fn status_error(
    method: &reqwest::Method,
    url: &url::Url,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    let parsed = GraphError::parse(status.as_u16(), body);
    let kind = classify(status, headers, &parsed);
    let mut msg = format!("{method} {} answered {status}", url.path());
    if let Some(code) = &parsed.code {
        msg.push_str(": ");
        msg.push_str(code);
    }
    if let Some(inner) = parsed.inner_codes.last() {
        msg.push('/');
        msg.push_str(inner);
    }
    Error::new(kind, msg)
        .with_service(SERVICE)
        .with_source(parsed)
}

/// A transport failure (connect, timeout, reset, broken body) → `Transient`;
/// a request that could not even be built → `Internal`.
pub fn transport_error(e: reqwest::Error) -> Error {
    let kind = if e.is_builder() {
        ErrorKind::Internal
    } else if e.is_decode() {
        ErrorKind::InvalidData
    } else {
        ErrorKind::Transient
    };
    // reqwest's Display includes the URL; strip it (query strings of
    // pre-authenticated URLs are credentials).
    let e = e.without_url();
    Error::new(kind, format!("HTTP transport: {e}"))
        .with_service(SERVICE)
        .with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn kind_of(status: u16, retry: Option<&str>, body: &str) -> ErrorKind {
        let mut h = HeaderMap::new();
        if let Some(r) = retry {
            h.insert(
                reqwest::header::RETRY_AFTER,
                HeaderValue::from_str(r).unwrap(),
            );
        }
        let st = StatusCode::from_u16(status).unwrap();
        classify(st, &h, &GraphError::parse(status, body.as_bytes()))
    }

    #[test]
    fn parses_nested_inner_errors_in_both_spellings() {
        let body = r#"{"error":{"code":"invalidRequest","message":"m",
            "innerError":{"code":"fragmentOverlap","request-id":"r1",
              "innererror":{"code":"deeper"}}}}"#;
        let e = GraphError::parse(400, body.as_bytes());
        assert_eq!(e.code.as_deref(), Some("invalidRequest"));
        assert_eq!(e.inner_codes, ["fragmentOverlap", "deeper"]);
        assert_eq!(e.request_id.as_deref(), Some("r1"));
        assert!(e.has_code("FRAGMENTOVERLAP"));
    }

    #[test]
    fn maps_statuses_and_codes() {
        assert_eq!(
            kind_of(
                429,
                Some("7"),
                r#"{"error":{"code":"TooManyRequests","message":"Please retry again later."}}"#
            ),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            kind_of(
                503,
                Some("3"),
                r#"{"error":{"code":"serviceNotAvailable"}}"#
            ),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(kind_of(503, None, ""), ErrorKind::Transient);
        assert_eq!(kind_of(507, None, ""), ErrorKind::DestinationFull);
        assert_eq!(
            kind_of(403, None, r#"{"error":{"code":"quotaLimitReached"}}"#),
            ErrorKind::DestinationFull
        );
        assert_eq!(
            kind_of(
                403,
                None,
                r#"{"error":{"code":"ErrorQuotaExceeded","message":"Cannot save changes made to an item to store."}}"#
            ),
            ErrorKind::DestinationFull
        );
        assert_eq!(
            kind_of(
                401,
                None,
                r#"{"error":{"code":"InvalidAuthenticationToken"}}"#
            ),
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            kind_of(
                400,
                None,
                r#"{"error":"invalid_grant","error_description":"AADSTS700082: expired"}"#
            ),
            ErrorKind::Reauthorize
        );
        assert_eq!(
            kind_of(404, None, r#"{"error":{"code":"ErrorItemNotFound"}}"#),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of(403, None, r#"{"error":{"code":"accessDenied"}}"#),
            ErrorKind::PermissionDenied
        );
        assert_eq!(kind_of(500, None, "<html>"), ErrorKind::Transient);
        assert_eq!(kind_of(502, None, ""), ErrorKind::Transient);
        assert_eq!(
            kind_of(409, None, r#"{"error":{"code":"nameAlreadyExists"}}"#),
            ErrorKind::InvalidData
        );
        assert_eq!(kind_of(400, None, "not json"), ErrorKind::InvalidData);
    }

    #[test]
    fn message_has_code_but_no_query() {
        let url = url::Url::parse("http://127.0.0.1/v1.0/me/messages?tempauth=SECRET").unwrap();
        let e = status_error(
            &reqwest::Method::GET,
            &url,
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            br#"{"error":{"code":"itemNotFound","message":"gone"}}"#,
        );
        let shown = format!("{e} {e:?}");
        assert!(shown.contains("itemNotFound"), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    #[test]
    fn retry_after_http_date() {
        let mut h = HeaderMap::new();
        let later = chrono::Utc::now() + chrono::Duration::seconds(30);
        h.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_str(&later.to_rfc2822().replace("+0000", "GMT")).unwrap(),
        );
        let d = retry_after(&h).unwrap();
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(25),
            "{d:?}"
        );
    }
}
