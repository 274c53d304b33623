//! Content-line plumbing shared by the vCard and iCalendar conversions:
//! input decoding, escaping, parameter quoting, folding. Parsing itself is
//! `calcard`'s; these helpers only *write*, mirroring `calcard`'s own writer
//! so that what is written reads back the same.

use calcard::Entry;

use crate::Warning;
use crate::error::{ConversionError, ConversionErrorKind};
use crate::props::Param;

/// Longest line, in octets, before folding (RFC 5545 / RFC 6350).
const FOLD_AT: usize = 75;

/// Turns input bytes into text for the parser, never failing: UTF-8 (a BOM
/// is dropped); else UTF-8 once folds are undone (some writers fold inside
/// multi-byte characters); else the first `CHARSET=` the input names (e.g.
/// Shift_JIS in vCard 2.1); else ISO-8859-1, which keeps every byte.
pub(crate) fn decode_input(bytes: &[u8], warnings: &mut Vec<Warning>) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let unfolded = unfold_bytes(bytes);
    if let Ok(s) = String::from_utf8(unfolded.clone()) {
        return s;
    }
    if let Some(charset) = find_charset(&unfolded)
        && let Some(decoder) =
            mail_parser::decoders::charsets::map::charset_decoder(charset.as_bytes())
    {
        warnings.push(Warning::new(
            None,
            None,
            format!("input is not UTF-8; decoded as {charset} (the charset it declares)"),
        ));
        return decoder(&unfolded);
    }
    warnings.push(Warning::new(
        None,
        None,
        "input is not UTF-8 and declares no known charset; decoded as ISO-8859-1",
    ));
    unfolded.iter().map(|&b| char::from(b)).collect()
}

fn unfold_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"\r\n ") || rest.starts_with(b"\r\n\t") {
            i += 3;
        } else if rest.starts_with(b"\n ") || rest.starts_with(b"\n\t") {
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn find_charset(bytes: &[u8]) -> Option<String> {
    let needle = b"CHARSET=";
    let pos = bytes
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))?;
    let rest = &bytes[pos + needle.len()..];
    let end = rest
        .iter()
        .position(|b| matches!(b, b';' | b':' | b',' | b'\r' | b'\n'))
        .unwrap_or(rest.len());
    let cs = std::str::from_utf8(&rest[..end]).ok()?.trim_matches('"');
    (!cs.is_empty()).then(|| cs.to_string())
}

/// Warnings for the component structure `calcard` silently repairs: an
/// `END:` that closes another component than the open one, and components
/// never closed. (Lines are physical lines; folded `BEGIN`/`END` lines do
/// not occur in practice.)
pub(crate) fn structure_warnings(text: &str, warnings: &mut Vec<Warning>) {
    let mut stack: Vec<(String, usize)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}').trim_end();
        let Some((key, name)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_uppercase();
        if key.eq_ignore_ascii_case("BEGIN") {
            stack.push((name, i + 1));
        } else if key.eq_ignore_ascii_case("END") {
            match stack.iter().rposition(|(n, _)| *n == name) {
                Some(pos) => {
                    for (open, at) in stack.drain(pos..).skip(1) {
                        warnings.push(Warning::new(
                            Some(at),
                            Some("BEGIN"),
                            format!(
                                "BEGIN:{open} is closed implicitly by END:{name} at line {}",
                                i + 1
                            ),
                        ));
                    }
                }
                None => {
                    let open = stack.last().map(|(n, _)| n.as_str()).unwrap_or("nothing");
                    warnings.push(Warning::new(
                        Some(i + 1),
                        Some("END"),
                        format!("END:{name} does not close an open component (open: {open})"),
                    ));
                }
            }
        }
    }
    for (open, at) in stack {
        warnings.push(Warning::new(
            Some(at),
            Some("BEGIN"),
            format!("BEGIN:{open} is never closed; its content so far is kept"),
        ));
    }
}

/// 1-based number of the first line of `text` that contains `needle`.
pub(crate) fn line_of(text: &str, needle: &str) -> Option<usize> {
    let needle = needle.trim();
    if needle.is_empty() {
        return None;
    }
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// 1-based line where property `name` (optionally grouped) starts with a
/// value beginning like `value`; falls back to the first line of `name`.
pub(crate) fn line_of_property(text: &str, name: &str, value: &str) -> Option<usize> {
    let hint: String = value.chars().take(12).collect();
    let starts = |l: &str| {
        let l = l.trim_start_matches('\u{feff}');
        let bare = match l.find(['.', ';', ':']) {
            Some(i) if l.as_bytes()[i] == b'.' => &l[i + 1..],
            _ => l,
        };
        let b = bare.as_bytes();
        b.get(..name.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(name.as_bytes()))
            && matches!(b.get(name.len()), Some(b';' | b':') | None)
    };
    let mut first = None;
    for (i, l) in text.lines().enumerate() {
        if starts(l) {
            first.get_or_insert(i + 1);
            if l.contains(&hint) {
                return Some(i + 1);
            }
        }
    }
    first
}

/// Escapes a TEXT value (backslash, newline, CR, and optionally `;` `,`).
#[cfg_attr(not(feature = "icalendar"), allow(dead_code))]
pub(crate) fn escape_text(out: &mut String, value: &str, semicolon: bool, comma: bool) {
    for ch in value.chars() {
        match ch {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            ';' if semicolon => out.push_str("\\;"),
            ',' if comma => out.push_str("\\,"),
            _ => out.push(ch),
        }
    }
}

/// A TEXT value with its escapes undone (RFC 5545 3.3.11, RFC 6350 3.4);
/// an unknown escape is kept as it is.
pub(crate) fn unescaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(n @ ('\\' | ';' | ',')) => out.push(n),
            Some('n' | 'N') => out.push('\n'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Escaped TEXT value.
pub(crate) fn escaped(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 4);
    escape_text(&mut s, value, true, true);
    s
}

fn write_param_value(out: &mut String, value: &str) {
    let quote = value
        .bytes()
        .any(|b| matches!(b, b',' | b':' | b'=' | b' ' | b';' | b'"'));
    if quote {
        out.push('"');
    }
    for ch in value.chars() {
        match ch as u32 {
            0x0A => out.push_str("\\n"),
            0x0D => out.push_str("\\r"),
            0x5C => out.push_str("\\\\"),
            0x22 => out.push_str("\\\""),
            0x20 | 0x09 | 0x21 | 0x23..=0x7E | 0x80.. => out.push(ch),
            _ => {}
        }
    }
    if quote {
        out.push('"');
    }
}

/// Writes one folded content line `[group.]NAME;PARAM=…:value\r\n`.
/// `value` must already be in content-line syntax (escaped).
pub(crate) fn content_line(
    out: &mut String,
    group: Option<&str>,
    name: &str,
    params: &[Param],
    value: &str,
) {
    let mut line = String::with_capacity(name.len() + value.len() + 16);
    if let Some(g) = group {
        line.push_str(g);
        line.push('.');
    }
    line.push_str(name);
    for p in params {
        line.push(';');
        line.push_str(&p.name);
        for (i, v) in p.values.iter().enumerate() {
            line.push(if i == 0 { '=' } else { ',' });
            write_param_value(&mut line, v);
        }
    }
    line.push(':');
    line.push_str(value);
    fold(out, &line);
}

/// Folds a line at 75 octets (never inside a character) and ends it with CRLF.
pub(crate) fn fold(out: &mut String, line: &str) {
    let mut len = 0;
    for ch in line.chars() {
        let l = ch.len_utf8();
        if len + l > FOLD_AT {
            out.push_str("\r\n ");
            len = 1;
        }
        out.push(ch);
        len += l;
    }
    out.push_str("\r\n");
}

/// Given a line written by `calcard` (possibly folded), returns the value
/// part after the first `:` outside double quotes, unfolded, without CRLF.
pub(crate) fn value_of_written_line(line: &str) -> String {
    let unfolded = line.replace("\r\n ", "");
    let unfolded = unfolded.trim_end_matches(['\r', '\n']);
    let mut in_quotes = false;
    for (i, ch) in unfolded.char_indices() {
        match ch {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => return unfolded[i + 1..].to_string(),
            _ => {}
        }
    }
    String::new()
}

/// Appends `value` to `params` as a parameter named `name`, merging with the
/// previous parameter of the same name (`TYPE=a` `TYPE=b` → `TYPE=a,b`).
pub(crate) fn push_param(params: &mut Vec<Param>, name: &str, value: Option<String>) {
    match (params.last_mut(), value) {
        (Some(last), Some(v)) if last.name == name && !last.values.is_empty() => {
            last.values.push(v)
        }
        (_, v) => params.push(Param {
            name: name.to_string(),
            values: v.into_iter().collect(),
        }),
    }
}

/// The typed error for a structural `calcard` entry.
pub(crate) fn structural_error(text: &str, entry: Entry, expected: &str) -> ConversionError {
    match entry {
        Entry::UnexpectedComponentEnd { expected: e, found } => ConversionError::new(
            ConversionErrorKind::MismatchedComponentEnd,
            line_of(text, &format!("END:{}", found.as_str())),
            Some("END"),
            format!("END:{} closes BEGIN:{}", found.as_str(), e.as_str()),
        ),
        Entry::UnterminatedComponent(name) => ConversionError::new(
            ConversionErrorKind::UnterminatedComponent,
            line_of(text, &format!("BEGIN:{name}")),
            Some("BEGIN"),
            format!("BEGIN:{name} is never closed"),
        ),
        Entry::TooManyComponents => ConversionError::new(
            ConversionErrorKind::TooManyComponents,
            None,
            None,
            "too many nested components",
        ),
        _ => ConversionError::new(
            ConversionErrorKind::NoData,
            None,
            None,
            format!("no BEGIN:{expected} found"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_lines_within_75_octets_and_characters_whole() {
        let value = "é".repeat(100);
        let mut out = String::new();
        content_line(&mut out, None, "NOTE", &[], &value);
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("NOTE:{value}\r\n"));
    }

    #[test]
    fn parameters_are_quoted_and_escaped_like_calcard() {
        let mut out = String::new();
        let params = [
            Param::new("TYPE", &["work", "a,b"]),
            Param::new("LABEL", &["1 Main St\nSpringfield"]),
            Param::new("PREF", &[]),
        ];
        content_line(&mut out, Some("item1"), "ADR", &params, ";;1 Main St");
        assert_eq!(
            out,
            "item1.ADR;TYPE=work,\"a,b\";LABEL=\"1 Main St\\nSpringfield\";PREF:;;1 Main St\r\n"
        );
    }

    #[test]
    fn text_escaping_covers_the_special_characters() {
        assert_eq!(escaped("a;b,c\\d\ne\rf"), "a\\;b\\,c\\\\d\\ne\\rf");
    }

    #[test]
    fn value_of_written_line_skips_quoted_colons_and_unfolds() {
        let line = "ATTENDEE;CN=\"Doe: John\";ROLE=CHAIR:mailto:j\r\n @example.org\r\n";
        assert_eq!(value_of_written_line(line), "mailto:j@example.org");
    }

    #[test]
    fn push_param_merges_consecutive_values_only() {
        let mut p = Vec::new();
        push_param(&mut p, "TYPE", Some("a".into()));
        push_param(&mut p, "TYPE", Some("b".into()));
        push_param(&mut p, "PREF", None);
        push_param(&mut p, "TYPE", Some("c".into()));
        let names: Vec<(&str, usize)> = p
            .iter()
            .map(|x| (x.name.as_str(), x.values.len()))
            .collect();
        assert_eq!(names, [("TYPE", 2), ("PREF", 0), ("TYPE", 1)]);
    }

    #[test]
    fn decoding_prefers_utf8_then_unfolded_utf8_then_declared_charset() {
        let mut w = Vec::new();
        assert_eq!(
            decode_input(b"\xEF\xBB\xBFFN:Z\xC3\xBCrich", &mut w),
            "FN:Zürich"
        );
        // A fold inside a two-byte character.
        assert_eq!(decode_input(b"FN:Z\xC3\r\n \xBCrich", &mut w), "FN:Zürich");
        assert!(w.is_empty());
        // ISO-8859-1 declared.
        let s = decode_input(b"N;CHARSET=ISO-8859-1:M\xFCller", &mut w);
        assert_eq!(s, "N;CHARSET=ISO-8859-1:Müller");
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn line_numbers_of_properties() {
        let text = "BEGIN:VCARD\nFN:A\nitem1.REV:x\nREV:yesterday\n";
        assert_eq!(line_of_property(text, "REV", "yesterday"), Some(4));
        assert_eq!(line_of_property(text, "REV", "nothing like it"), Some(3));
        assert_eq!(line_of_property(text, "NOTE", ""), None);
        assert_eq!(line_of(text, "FN:A"), Some(2));
    }

    #[test]
    fn structure_warnings_report_mismatches_and_unclosed_components() {
        let mut w = Vec::new();
        structure_warnings("BEGIN:A\nBEGIN:B\nEND:A\nEND:C\nBEGIN:D\n", &mut w);
        let got: Vec<(Option<usize>, Option<&str>)> =
            w.iter().map(|x| (x.line, x.property.as_deref())).collect();
        assert_eq!(
            got,
            [
                (Some(2), Some("BEGIN")),
                (Some(4), Some("END")),
                (Some(5), Some("BEGIN"))
            ]
        );
    }
}
