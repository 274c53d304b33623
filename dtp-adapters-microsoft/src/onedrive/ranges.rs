//! Byte ranges of OneDrive upload sessions: parsing the session's
//! `nextExpectedRanges`, planning chunks (multiples of 320 KiB, in order) and
//! formatting `Content-Range`.
//!
//! Reference: <https://learn.microsoft.com/graph/api/resources/uploadsession>
//! ("zero-indexed ranges of the format `{start}-{end}`", e.g. `0-26`; an open
//! end `26-` means "from 26 to the end") and
//! <https://learn.microsoft.com/graph/api/driveitem-createuploadsession>
//! (fragments in order; each fragment a multiple of 320 KiB except the last;
//! each request under 60 MiB).

use dtp_core::{Error, Result};

/// Every fragment except the last must be a multiple of this (320 KiB).
pub const FRAGMENT_UNIT: u64 = 320 * 1024;

/// The largest fragment Graph accepts in one request is just under 60 MiB;
/// this is the largest multiple of [`FRAGMENT_UNIT`] below it (191 units).
pub const MAX_FRAGMENT: u64 = 191 * FRAGMENT_UNIT;

/// The default fragment size: 16 × 320 KiB = 5 MiB (Microsoft recommends
/// 5–10 MiB per request).
pub const DEFAULT_FRAGMENT: u64 = 16 * FRAGMENT_UNIT;

/// One range the server still expects: `start..=end` (inclusive), or from
/// `start` to the end of the file when `end` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedRange {
    /// First byte expected.
    pub start: u64,
    /// Last byte expected (inclusive), if the server gave one.
    pub end: Option<u64>,
}

/// Parses one entry of `nextExpectedRanges` (`"26-"`, `"0-25"`, or the
/// single-offset form `"26"` that Outlook attachment sessions use).
pub fn parse_range(s: &str) -> Result<ExpectedRange> {
    let bad = || Error::invalid_data(format!("unreadable nextExpectedRanges entry `{s}`"));
    let s = s.trim();
    let (start, end) = match s.split_once('-') {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (s, None),
    };
    let start: u64 = start.parse().map_err(|_| bad())?;
    let end = match end {
        None | Some("") => None,
        Some(e) => {
            let e: u64 = e.parse().map_err(|_| bad())?;
            if e < start {
                return Err(bad());
            }
            Some(e)
        }
    };
    Ok(ExpectedRange { start, end })
}

/// Where the upload must continue: the lowest start among the ranges the
/// server still expects (uploads go in order, so everything before it is
/// stored). `None` when the list is empty (nothing missing).
pub fn resume_offset(ranges: &[String], total: u64) -> Result<Option<u64>> {
    let mut lowest: Option<u64> = None;
    for r in ranges {
        let r = parse_range(r)?;
        if r.start >= total && total > 0 {
            return Err(Error::invalid_data(format!(
                "the upload session expects byte {} of a {total}-byte file",
                r.start
            )));
        }
        lowest = Some(lowest.map_or(r.start, |l: u64| l.min(r.start)));
    }
    Ok(lowest)
}

/// Rounds a wanted fragment size to a valid one: a multiple of 320 KiB, at
/// least one unit and at most [`MAX_FRAGMENT`].
pub fn fragment_size(wanted: u64) -> u64 {
    let units = (wanted / FRAGMENT_UNIT).clamp(1, MAX_FRAGMENT / FRAGMENT_UNIT);
    units * FRAGMENT_UNIT
}

/// The next fragment to send from `offset` of a `total`-byte file with
/// fragments of `fragment` bytes (already valid, see [`fragment_size`]):
/// `(start, len)`. Every fragment but the last has length `fragment`, a
/// multiple of 320 KiB, wherever the server asks to resume.
pub fn next_fragment(offset: u64, total: u64, fragment: u64) -> Option<(u64, u64)> {
    if offset >= total {
        return None;
    }
    let len = fragment.min(total - offset);
    Some((offset, len))
}

/// The `Content-Range` header of a fragment: `bytes {start}-{end}/{total}`.
pub fn content_range(start: u64, len: u64, total: u64) -> String {
    format!("bytes {start}-{}/{total}", start + len - 1)
}

/// Parses a `Content-Range: bytes a-b/total` header (as the mock server and
/// the tests read it): `(start, end_inclusive, total)`.
pub fn parse_content_range(s: &str) -> Option<(u64, u64, u64)> {
    let rest = s.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, t) = (a.parse().ok()?, b.parse().ok()?, total.parse().ok()?);
    (a <= b && b < t).then_some((a, b, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documented_forms() {
        assert_eq!(
            parse_range("26-").unwrap(),
            ExpectedRange {
                start: 26,
                end: None
            }
        );
        assert_eq!(
            parse_range("0-26").unwrap(),
            ExpectedRange {
                start: 0,
                end: Some(26)
            }
        );
        assert_eq!(parse_range("12345").unwrap().start, 12345);
        for bad in ["", "-", "x-", "5-3", "1-2-3", "-7"] {
            assert!(parse_range(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn resume_offset_takes_the_lowest_start() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(resume_offset(&r(&["0-"]), 100).unwrap(), Some(0));
        assert_eq!(
            resume_offset(&r(&["77-99", "12-50"]), 100).unwrap(),
            Some(12)
        );
        assert_eq!(resume_offset(&r(&[]), 100).unwrap(), None);
        assert!(resume_offset(&r(&["100-"]), 100).is_err());
        assert!(resume_offset(&r(&["abc"]), 100).is_err());
    }

    #[test]
    fn fragments_are_multiples_of_320_kib_except_the_last() {
        assert_eq!(fragment_size(1), FRAGMENT_UNIT);
        assert_eq!(fragment_size(5 * 1024 * 1024), DEFAULT_FRAGMENT);
        assert_eq!(fragment_size(u64::MAX), MAX_FRAGMENT);
        const { assert!(MAX_FRAGMENT < 60 * 1024 * 1024) };
        let total = 3 * DEFAULT_FRAGMENT + 12_345;
        let mut off = 0;
        let mut parts = Vec::new();
        while let Some((start, len)) = next_fragment(off, total, DEFAULT_FRAGMENT) {
            assert_eq!(start, off);
            parts.push(len);
            off += len;
        }
        assert_eq!(off, total);
        assert_eq!(parts.len(), 4);
        assert!(parts[..3].iter().all(|l| l % FRAGMENT_UNIT == 0));
        assert_eq!(parts[3], 12_345);
        assert_eq!(next_fragment(total, total, DEFAULT_FRAGMENT), None);
    }

    #[test]
    fn content_range_round_trips() {
        assert_eq!(content_range(0, 26, 128), "bytes 0-25/128");
        assert_eq!(parse_content_range("bytes 0-25/128"), Some((0, 25, 128)));
        assert_eq!(
            parse_content_range("bytes 26-127/128"),
            Some((26, 127, 128))
        );
        assert_eq!(parse_content_range("bytes 5-4/128"), None);
        assert_eq!(parse_content_range("bytes 0-128/128"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }
}
