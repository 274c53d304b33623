//! Modified UTF-7 mailbox names (RFC 3501 section 5.1.3).

use base64::Engine as _;

const ALPHABET: base64::alphabet::Alphabet = match base64::alphabet::Alphabet::new(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,",
) {
    Ok(a) => a,
    Err(_) => panic!("static alphabet"),
};

const ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &ALPHABET,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Encodes a UTF-8 mailbox name as modified UTF-7.
///
/// ```
/// use dtp_adapters_imap::utf7::{encode, decode};
/// assert_eq!(encode("日本語"), "&ZeVnLIqe-");
/// assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
/// assert_eq!(decode("&ZeVnLIqe-").as_deref(), Some("日本語"));
/// ```
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&ENGINE.encode(bytes));
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a modified UTF-7 mailbox name; `None` if it is not valid
/// modified UTF-7 (callers then keep the name as it is).
pub fn decode(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find('-')?;
        let chunk = &after[..end];
        if chunk.is_empty() {
            out.push('&');
        } else {
            let bytes = ENGINE.decode(chunk).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            out.push_str(&String::from_utf16(&units).ok()?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_many_scripts() {
        for s in [
            "INBOX",
            "Entwürfe",
            "日本語の名前",
            "Ελληνικά",
            "emoji 📷🎉",
            "a&b",
            "~peter/mail/台北/日本語",
            "",
        ] {
            let e = encode(s);
            assert!(e.is_ascii(), "{e}");
            assert_eq!(decode(&e).as_deref(), Some(s), "{s} -> {e}");
        }
        // RFC 3501 example.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(decode("&ZeVn"), None);
        assert_eq!(decode("&!!!-"), None);
    }
}
