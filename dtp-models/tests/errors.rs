//! Malformed input never panics: it gives a typed error naming the line
//! and/or property, or the data is kept verbatim with a warning.

#![cfg(all(feature = "vcard", feature = "icalendar"))]

use dtp_models::ConversionErrorKind;
use dtp_models::ical::{parse_icalendar, write_icalendar};
use dtp_models::vcard::{VCardVersion, parse_vcards, write_vcard};

#[test]
fn empty_input_is_no_data() {
    for input in [&b""[..], b"\r\n\r\n", b"hello world"] {
        let e = parse_vcards(input, "b").unwrap_err();
        assert_eq!(e.kind, ConversionErrorKind::NoData, "{input:?}");
        let e = parse_icalendar(input, "c").unwrap_err();
        assert_eq!(e.kind, ConversionErrorKind::NoData, "{input:?}");
    }
}

#[test]
fn an_icalendar_is_not_a_vcard_and_vice_versa() {
    let ical = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
    let e = parse_vcards(ical, "b").unwrap_err();
    assert_eq!(e.kind, ConversionErrorKind::WrongKind);
    assert_eq!(e.line, Some(1));
    let vcard = b"\r\nBEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\nEND:VCARD\r\n";
    let e = parse_icalendar(vcard, "c").unwrap_err();
    assert_eq!(e.kind, ConversionErrorKind::WrongKind);
    assert_eq!(e.line, Some(2));
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn mismatched_end_keeps_the_event_and_names_the_line() {
    let text = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    let p = parse_icalendar(text, "c").unwrap();
    assert_eq!(p.value[0].events[0].uid, "1");
    let w: Vec<_> = p
        .warnings
        .iter()
        .map(|w| (w.line, w.property.as_deref()))
        .collect();
    assert!(w.contains(&(Some(5), Some("END"))), "{:?}", p.warnings);
    assert!(w.contains(&(Some(3), Some("BEGIN"))), "{:?}", p.warnings);
}

#[test]
fn unterminated_component_keeps_its_content_and_names_the_line() {
    let text = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\n";
    let p = parse_icalendar(text, "c").unwrap();
    assert_eq!(p.value[0].events[0].uid, "1");
    let lines: Vec<_> = p.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [Some(1), Some(3)], "{:?}", p.warnings);
    assert!(
        p.warnings
            .iter()
            .all(|w| w.message.contains("never closed"))
    );
}

#[test]
fn a_broken_card_does_not_lose_the_good_ones() {
    let text = b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Good\r\nEND:VCARD\r\n\
                 BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n\
                 BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Also good\r\nEND:VCARD\r\n";
    let p = parse_vcards(text, "b").unwrap();
    let names: Vec<&str> = p.value.iter().map(|c| c.formatted_name.as_str()).collect();
    assert_eq!(names, ["Good", "Also good"]);
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(p.warnings[0].line, Some(5));
}

#[test]
fn malformed_vcard_values_are_kept_verbatim_with_a_warning() {
    let text = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada\r\nREV:yesterday-ish\r\nEND:VCARD\r\n";
    let p = parse_vcards(text.as_bytes(), "b").unwrap();
    let c = &p.value[0];
    assert_eq!(c.revision, None);
    let rev = c
        .properties
        .iter()
        .find(|p| p.name == "REV")
        .expect("REV kept");
    assert_eq!(rev.value, "yesterday-ish");
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(p.warnings[0].line, Some(4));
    assert_eq!(p.warnings[0].property.as_deref(), Some("REV"));
    // And it is written back.
    assert!(write_vcard(c, VCardVersion::V4).contains("REV:yesterday-ish\r\n"));
}

#[test]
fn malformed_icalendar_dates_are_kept_verbatim_with_a_warning() {
    let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:e1\r\n\
                DTSTART:20240231T100000Z\r\nDTEND:2024-05-06\r\nSUMMARY:Bad dates\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let p = parse_icalendar(text.as_bytes(), "c").unwrap();
    let e = &p.value[0].events[0];
    assert_eq!(e.start, None, "30 February is no date");
    let names: Vec<&str> = e.properties.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"DTSTART"), "{names:?}");
    let w = p
        .warnings
        .iter()
        .find(|w| w.property.as_deref() == Some("DTSTART"))
        .expect("warning");
    assert_eq!(w.line, Some(6));
    // Written back verbatim, it reads back the same.
    let again = parse_icalendar(write_icalendar(&p.value[0]).as_bytes(), "c").unwrap();
    assert_eq!(again.value, p.value);
}

#[test]
fn latin1_input_is_kept_byte_for_byte_in_meaning() {
    // No charset declared and not UTF-8: read as ISO-8859-1, with a warning.
    let text = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ren\xe9\r\nEND:VCARD\r\n";
    let p = parse_vcards(text, "b").unwrap();
    assert_eq!(p.value[0].formatted_name, "René");
    assert!(p.warnings[0].message.contains("ISO-8859-1"));
}
