//! IMAP responses and I/O failures mapped to [`dtp_core::ErrorKind`].

use dtp_core::{Error, ErrorKind, ErrorScope};

pub(crate) const SERVICE: &str = "imap";

/// What was being done when a server said NO/BAD: decides the kind of an
/// otherwise unrecognised refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Login,
    Export,
    Append,
    Other,
}

/// Maps a tagged NO/BAD text (response code included, e.g.
/// `[OVERQUOTA] Quota exceeded`) to an error.
pub(crate) fn refusal(op: Op, bad: bool, text: &str) -> Error {
    let upper = text.to_ascii_uppercase();
    let code = upper
        .strip_prefix('[')
        .and_then(|r| r.split([']', ' ']).next())
        .unwrap_or("");
    let shown = truncate(text);
    let kind = match code {
        "OVERQUOTA" => ErrorKind::DestinationFull,
        "LIMIT" | "INUSE" => ErrorKind::RateLimited { retry_after: None },
        "UNAVAILABLE" | "SERVERBUG" => ErrorKind::Transient,
        "AUTHENTICATIONFAILED" | "AUTHORIZATIONFAILED" | "EXPIRED" => ErrorKind::Unauthenticated,
        "NOPERM" | "PRIVACYREQUIRED" => ErrorKind::PermissionDenied,
        "NONEXISTENT" => ErrorKind::NotFound,
        "TOOBIG" | "PARSE" | "CANNOT" => ErrorKind::InvalidData,
        _ if upper.contains("QUOTA EXCEEDED") || upper.contains("OVER QUOTA") => {
            ErrorKind::DestinationFull
        }
        _ if op == Op::Login => ErrorKind::Unauthenticated,
        _ if op == Op::Append => ErrorKind::InvalidData,
        _ if bad => ErrorKind::Internal,
        _ => ErrorKind::InvalidData,
    };
    let scope = match (&kind, op) {
        // A message the server refuses fails that message only.
        (ErrorKind::InvalidData, Op::Append) => ErrorScope::Item,
        (k, _) => k.default_scope(),
    };
    let word = if bad { "BAD" } else { "NO" };
    Error::new(kind, format!("server said {word}: {shown}"))
        .with_scope(scope)
        .with_service(SERVICE)
}

fn truncate(text: &str) -> String {
    let t = text.trim();
    if t.len() <= 300 {
        return t.to_string();
    }
    let mut end = 300;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &t[..end])
}

/// Maps an async-imap error. Connection-level failures are transient (the
/// pool reconnects on the next attempt).
pub(crate) fn map(op: Op, e: async_imap::error::Error) -> Error {
    use async_imap::error::Error as E;
    match e {
        E::No(text) => refusal(op, false, &server_text(&text)),
        E::Bad(text) => refusal(op, true, &server_text(&text)),
        E::Io(io) => io_error(io),
        E::ConnectionLost => Error::transient("the IMAP connection was lost").with_service(SERVICE),
        E::Parse(p) => Error::transient(format!(
            "unparseable IMAP response ({})",
            truncate(&p.to_string())
        ))
        .with_service(SERVICE),
        E::Validate(v) => {
            Error::invalid_data(format!("not sendable over IMAP: {v}")).with_service(SERVICE)
        }
        E::Append => {
            Error::transient("the server did not accept the APPEND literal").with_service(SERVICE)
        }
        other => Error::transient(format!("IMAP failure: {}", truncate(&other.to_string())))
            .with_service(SERVICE),
    }
}

/// async-imap reports a refusal as `code: …, info: Some("…")`, with known
/// response codes parsed out and unknown ones (`[OVERQUOTA]`) left in the
/// text: recover the server's own line.
fn server_text(text: &str) -> String {
    let Some(at) = text.find("info: Some(\"") else {
        return text.to_string();
    };
    let inner = &text[at + "info: Some(\"".len()..];
    let inner = inner.strip_suffix("\")").unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    let code = text
        .strip_prefix("code: Some(")
        .and_then(|r| r.split(')').next())
        .map(|c| format!("[{}] ", c.to_ascii_uppercase()))
        .unwrap_or_default();
    format!("{code}{out}")
}

/// Maps an I/O error: always transient (a dropped or reset connection).
pub(crate) fn io_error(e: std::io::Error) -> Error {
    Error::transient(format!("IMAP connection failed: {e}"))
        .with_service(SERVICE)
        .with_source(e)
}

/// The server answered something a well-behaved server never does.
pub(crate) fn protocol(what: impl Into<String>) -> Error {
    Error::transient(format!("unexpected IMAP response: {}", what.into())).with_service(SERVICE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_codes_map_to_kinds() {
        let k = |op, t: &str| refusal(op, false, t).kind().clone();
        assert_eq!(
            k(
                Op::Append,
                "[OVERQUOTA] Quota exceeded (mailbox for user is full)"
            ),
            ErrorKind::DestinationFull
        );
        assert_eq!(
            k(Op::Other, "Quota exceeded (mailbox for user is full)"),
            ErrorKind::DestinationFull
        );
        assert_eq!(
            k(Op::Append, "[LIMIT] Too many"),
            ErrorKind::RateLimited { retry_after: None }
        );
        assert_eq!(
            k(Op::Login, "[AUTHENTICATIONFAILED] Authentication failed."),
            ErrorKind::Unauthenticated
        );
        assert_eq!(k(Op::Login, "nope"), ErrorKind::Unauthenticated);
        assert_eq!(k(Op::Other, "[UNAVAILABLE] later"), ErrorKind::Transient);
        assert_eq!(
            server_text(r#"code: None, info: Some("[OVERQUOTA] Quota \"x\" exceeded")"#),
            r#"[OVERQUOTA] Quota "x" exceeded"#
        );
        assert_eq!(
            map(
                Op::Other,
                async_imap::error::Error::No(
                    r#"code: None, info: Some("[OVERQUOTA] Quota exceeded")"#.into()
                )
            )
            .kind(),
            &ErrorKind::DestinationFull
        );
        let rejected = refusal(Op::Append, false, "Message contains NUL");
        assert_eq!(rejected.kind(), &ErrorKind::InvalidData);
        assert_eq!(rejected.scope(), ErrorScope::Item);
        assert!(rejected.to_string().contains("Message contains NUL"));
    }
}
