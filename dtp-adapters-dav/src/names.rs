//! Stable resource and collection names derived from UIDs and source ids.

use sha2::{Digest, Sha256};

/// Whether `s` can be used verbatim as one path segment.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

/// Lower-case hex SHA-256 of `s`, first `n` characters.
pub fn short_hash(s: &str, n: usize) -> String {
    let h = hex::encode(Sha256::digest(s.as_bytes()));
    h[..n.min(h.len())].to_string()
}

/// The resource name of an item with `uid`: the UID itself when it is a safe
/// path segment, else a hash of it; plus `ext`. The same UID always gives the
/// same name, so a rerun finds (and overwrites or skips) what it wrote.
///
/// ```
/// use dtp_adapters_dav::names::resource_name;
/// assert_eq!(resource_name("abc-1@example.org", "ics"), "abc-1@example.org.ics");
/// assert_eq!(resource_name("a/b c", "ics").len(), 32 + 4);
/// ```
pub fn resource_name(uid: &str, ext: &str) -> String {
    if plain(uid) {
        format!("{uid}.{ext}")
    } else {
        format!("{}.{ext}", short_hash(uid, 32))
    }
}

/// The collection name for a source container id: its last path segment when
/// safe, else a hash.
pub fn collection_name(source_id: &str) -> String {
    let last = source_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(source_id);
    if plain(last) {
        last.to_string()
    } else {
        format!("c-{}", short_hash(source_id, 16))
    }
}

/// A file or folder name with path separators and control characters
/// replaced (for WebDAV albums and media files).
pub fn file_name(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        "_".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_safe() {
        assert_eq!(resource_name("u1", "vcf"), "u1.vcf");
        assert_eq!(resource_name("../x", "vcf"), resource_name("../x", "vcf"));
        assert!(!resource_name("../x", "vcf").contains('/'));
        assert_eq!(collection_name("/alice/cal-1/"), "cal-1");
        assert!(collection_name("Kalender ü").starts_with("c-"));
        assert_eq!(file_name("a/b"), "a_b");
        assert_eq!(file_name(".."), "_");
    }
}
