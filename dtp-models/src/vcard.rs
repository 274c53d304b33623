//! vCard 2.1 / 3.0 / 4.0 ⇄ [`Contact`] (feature `vcard`, parsing by `calcard`).
//!
//! Reading accepts what real exporters emit (2.1 quoted-printable and
//! charsets, 3.0 `TYPE=pref`, Apple `itemN.` groups, …). Every property the
//! structured model does not hold is kept in [`Contact::properties`],
//! verbatim, and written back; parameters of modelled single-valued
//! properties are kept in [`Contact::meta`].
//!
//! What is written is always valid vCard, whatever was read: a line that is
//! no valid property (a name or parameter name outside `[A-Za-z0-9-]`, such
//! as KContacts' `X-messaging/aim-All` or the rest of a value continued onto
//! an unmarked line) is kept as its original text, escaped, in an
//! [`UNPARSED`] (`X-DTP-UNPARSED`) property, with a warning naming the line;
//! a vCard 2.1 value continued by a trailing `\` is joined (the break kept
//! as a newline in the value). A property with a `TYPE` value containing
//! `,` is kept verbatim, its parameters written back as read.
//!
//! Two renamings keep written cards acceptable to strict servers without
//! losing anything (both are read back under their original name): an `N`
//! beyond the first is written as [`EXTRA_N`] (`X-DTP-EXTRA-N`), and
//! `PROFILE` (RFC 2425's `PROFILE:VCARD`) always as [`PROFILE`]
//! (`X-DTP-PROFILE`).
//!
//! ```
//! use dtp_models::vcard::{parse_vcards, write_vcard, VCardVersion};
//! let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\n\
//!             TEL;TYPE=cell,pref:+44 20 7946 0000\r\nX-CUSTOM:kept\r\nEND:VCARD\r\n";
//! let parsed = parse_vcards(text.as_bytes(), "book1").unwrap();
//! let ada = &parsed.value[0];
//! assert_eq!(ada.phones[0].types, vec!["cell"]);
//! assert_eq!(ada.phones[0].pref, Some(1));
//! assert_eq!(ada.properties[0].name, "X-CUSTOM");
//! let v4 = write_vcard(ada, VCardVersion::V4);
//! assert_eq!(parse_vcards(v4.as_bytes(), "book1").unwrap().value[0], *ada);
//! ```

use calcard::common::{IanaParse, IanaString};
use calcard::vcard::{
    VCard, VCardEntry, VCardParameter, VCardParameterName, VCardParameterValue, VCardProperty,
    VCardValue, VCardValueType,
};
use calcard::{Entry, Parser};

use crate::contacts::{
    Address, Contact, Organization, Photo, PhotoSource, StructuredName, TypedValue,
};
use crate::error::{ConversionError, ConversionErrorKind};
use crate::props::{MetaMap, Param, PropMeta, RawProperty};
use crate::text::{
    content_line, decode_input, escaped, line_of, line_of_property, push_param, structural_error,
    structure_warnings, value_of_written_line,
};
use crate::{DateOrText, InlineBytes, Parsed, PartialDateTime, Warning};

/// The vCard version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VCardVersion {
    /// vCard 3.0 (RFC 2426), for servers that need it. `PREF=n` becomes
    /// `TYPE=pref` (the rank is lost); inline photos use `ENCODING=b`.
    V3,
    /// vCard 4.0 (RFC 6350), the default.
    V4,
}

/// Parses every vCard in `input` (any of 2.1, 3.0, 4.0; UTF-8 or the
/// charset the cards declare) into contacts of address book
/// `address_book_id`.
///
/// A contact's id is its `UID`, or `card-<n>` (its 1-based position) when it
/// has none. Lines the parser cannot read are reported as warnings (with the
/// line number and the text), and the other cards are kept. Fails only when
/// no card could be read at all.
pub fn parse_vcards(
    input: &[u8],
    address_book_id: &str,
) -> Result<Parsed<Vec<Contact>>, ConversionError> {
    let mut warnings = Vec::new();
    let text = restore_renamed(join_qp_soft_breaks(&join_backslash_continuations(
        &decode_input(input, &mut warnings),
    )));
    structure_warnings(&text, &mut warnings);
    let mut parser = Parser::new(&text);
    let mut contacts = Vec::new();
    let mut first_error = None;
    // `calcard` always advances; the bound is a belt-and-braces guard.
    for _ in 0..=text.len() {
        match parser.entry() {
            Entry::Eof => break,
            Entry::VCard(card) => {
                let n = contacts.len() + 1;
                contacts.push(contact_from_vcard(
                    &card,
                    address_book_id,
                    n,
                    &text,
                    &mut warnings,
                ));
            }
            Entry::InvalidLine(line) => warnings.push(Warning::new(
                line_of(&text, &line),
                None,
                format!("unreadable line outside any card skipped: {line:?}"),
            )),
            Entry::ICalendar(_) => {
                let e = ConversionError::new(
                    ConversionErrorKind::WrongKind,
                    line_of(&text, "BEGIN:VCALENDAR"),
                    Some("BEGIN"),
                    "an iCalendar object where a vCard was expected",
                );
                warnings.push(Warning::new(e.line, Some("BEGIN"), e.message.clone()));
                first_error.get_or_insert(e);
            }
            other => {
                let e = structural_error(&text, other, "VCARD");
                warnings.push(Warning::new(
                    e.line,
                    e.property.as_deref(),
                    e.message.clone(),
                ));
                first_error.get_or_insert(e);
            }
        }
    }
    if contacts.is_empty() {
        return Err(first_error.unwrap_or_else(|| {
            ConversionError::new(
                ConversionErrorKind::NoData,
                None,
                None,
                "no BEGIN:VCARD found",
            )
        }));
    }
    Ok(Parsed::new(contacts, warnings))
}

/// Gives the properties [`write_vcard`] renamed ([`EXTRA_N`], [`PROFILE`])
/// their own names back, on the text, so they are read exactly as the
/// original lines were (an `X-` property's value would be read as TEXT).
fn restore_renamed(text: String) -> String {
    if !text.to_ascii_uppercase().contains("X-DTP-EXTRA-N")
        && !text.to_ascii_uppercase().contains("X-DTP-PROFILE")
        && !text.to_ascii_uppercase().contains("X-DTP-QP")
    {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let end = line.find([';', ':']).unwrap_or(0);
        let head = &line[..end];
        let name_at = head.rfind('.').map_or(0, |d| d + 1);
        let name = &head[name_at..];
        let original = if line.starts_with([' ', '\t']) {
            None
        } else if name.eq_ignore_ascii_case(EXTRA_N) {
            Some("N")
        } else if name.eq_ignore_ascii_case(PROFILE) {
            Some("PROFILE")
        } else {
            None
        };
        let line = match original {
            Some(o) => format!("{}{o}{}", &line[..name_at], &line[end..]),
            None => line.to_string(),
        };
        let mark = format!(";{}={}", QP_MARK.0, QP_MARK.1);
        let marked = (!line.starts_with([' ', '\t']))
            .then(|| line.to_ascii_uppercase().find(&mark))
            .flatten()
            .filter(|&at| {
                line.as_bytes()
                    .get(at + mark.len())
                    .is_some_and(|b| matches!(b, b';' | b':'))
            });
        match marked {
            Some(at) => {
                out.push_str(&line[..at]);
                out.push_str(";QUOTED-PRINTABLE");
                out.push_str(&line[at + mark.len()..]);
            }
            None => out.push_str(&line),
        }
    }
    out
}

/// Joins a line that ends in an unescaped `\\` to the next line when that
/// one does not start a property: some vCard 2.1 writers continue a value
/// (an address's street lines) that way. The break becomes an escaped
/// newline (`\\n`), so the value keeps its lines, and the continuation is
/// not read as a bogus property. (Line numbers in warnings after such a join
/// count the joined lines as one.)
fn join_backslash_continuations(text: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    if !lines.iter().any(|l| l.trim_end().ends_with('\\')) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for (i, line) in lines.iter().enumerate() {
        let body = line.trim_end_matches(['\r', '\n']);
        let trailing = body.len() - body.trim_end_matches('\\').len();
        let continued = trailing % 2 == 1
            && lines
                .get(i + 1)
                .is_some_and(|next| !starts_property(next.trim_end_matches(['\r', '\n'])));
        if continued {
            out.push_str(&body[..body.len() - 1]);
            out.push_str("\\n");
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Joins a quoted-printable line that ends in a soft line break (`=`) to
/// the next line when that one does not start a property: vCard 2.1 writers
/// continue QP values on unindented lines, and without the join the parser
/// drops the continuation (the rest of the value was silently lost). A soft
/// break carries no character, so the lines are joined directly.
fn join_qp_soft_breaks(text: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len());
    let mut in_qp = false;
    for (i, line) in lines.iter().enumerate() {
        let body = line.trim_end_matches(['\r', '\n']);
        if !in_qp {
            // A property's parameters are what comes before its first ':'.
            in_qp = body
                .split_once(':')
                .is_some_and(|(head, _)| head.to_ascii_uppercase().contains("QUOTED-PRINTABLE"));
        }
        let continued = in_qp
            && body.ends_with('=')
            && lines
                .get(i + 1)
                .is_some_and(|next| !starts_property(next.trim_end_matches(['\r', '\n'])));
        if continued {
            out.push_str(&body[..body.len() - 1]);
        } else {
            out.push_str(line);
            in_qp = false;
        }
    }
    out
}

/// Whether a line starts like `[group.]NAME;` or `[group.]NAME:` (or is a
/// fold or blank, which is not a continuation either).
fn starts_property(line: &str) -> bool {
    if line.trim().is_empty() || line.starts_with([' ', '\t']) {
        return true;
    }
    let Some(end) = line.find([';', ':']) else {
        return false;
    };
    let head = &line[..end];
    let name = head
        .split_once('.')
        .map_or(head, |(g, n)| if valid_name(g) { n } else { "" });
    valid_name(name)
}

/// Converts one parsed card.
fn contact_from_vcard(
    card: &VCard,
    address_book_id: &str,
    position: usize,
    text: &str,
    warnings: &mut Vec<Warning>,
) -> Contact {
    let mut c = Contact::new(String::new(), address_book_id, String::new());
    let mut have_fn = false;
    for entry in &card.entries {
        if matches!(
            entry.name,
            VCardProperty::Begin | VCardProperty::End | VCardProperty::Version
        ) {
            continue;
        }
        if has_unsplittable_type(entry) {
            // Kept whole: see `has_unsplittable_type`.
            c.properties.push(raw_property(entry));
            continue;
        }
        let unfit_before = is_unfit_candidate(&c, entry, have_fn);
        if !take_modelled(&mut c, entry, &mut have_fn) {
            let raw = raw_property(entry);
            if !is_writable(&raw) {
                // A leftover line that is no property (e.g. the rest of a
                // value continued onto the next line): kept, as text, in a
                // property a strict reader accepts.
                let line = line_of(text, &raw.name);
                let original = line
                    .and_then(|n| text.lines().nth(n - 1))
                    .map(|l| l.trim_end_matches('\r').to_string())
                    .unwrap_or_else(|| raw_text(&raw));
                warnings.push(Warning::new(
                    line,
                    Some(UNPARSED),
                    format!(
                        "line {original:?} is not a valid vCard property (a name outside \
                         [A-Za-z0-9-]); kept as text in {UNPARSED}"
                    ),
                ));
                c.properties.push(unparsed(&original));
                continue;
            }
            if unfit_before {
                warnings.push(Warning::new(
                    line_of_property(text, &raw.name, &raw.value),
                    Some(&raw.name),
                    format!(
                        "value {:?} does not fit the model; kept verbatim",
                        raw.value.chars().take(40).collect::<String>()
                    ),
                ));
            }
            c.properties.push(raw);
        }
    }
    c.id = c
        .uid
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("card-{position}"));
    c
}

/// Name of the property that keeps a line which is not a valid property
/// (its name or a parameter name is not `[A-Za-z0-9-]+`, e.g. the rest of a
/// vCard 2.1 value continued onto an unmarked line). Its value is the
/// original text of the line, escaped as TEXT, so nothing is lost and the
/// card written stays valid: `X-DTP-UNPARSED:Packstation 999\;Hamburg`.
pub const UNPARSED: &str = "X-DTP-UNPARSED";

/// Whether `s` is a valid vCard property, group or parameter name.
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether a kept property can be written as a valid content line.
fn is_writable(p: &RawProperty) -> bool {
    valid_name(&p.name)
        && p.group.as_deref().is_none_or(valid_name)
        && p.params.iter().all(|q| valid_name(&q.name))
}

/// The property as one line of text (unfolded, no line break).
fn raw_text(p: &RawProperty) -> String {
    let mut s = String::new();
    content_line(&mut s, p.group.as_deref(), &p.name, &p.params, &p.value);
    s.replace("\r\n ", "").trim_end_matches("\r\n").to_string()
}

/// `text` kept in an [`UNPARSED`] property.
fn unparsed(text: &str) -> RawProperty {
    RawProperty::new(UNPARSED, escaped(text))
}

/// Whether a `TYPE` value contains `,`: `calcard` reads such a value (which
/// must be quoted) back as one type only when other TYPE values follow, and
/// otherwise splits it and drops what it does not know. The property is then
/// kept verbatim, its parameters written back exactly as read.
fn has_unsplittable_type(entry: &VCardEntry) -> bool {
    entry.params.iter().any(|p| {
        p.name == VCardParameterName::Type
            && matches!(&p.value, VCardParameterValue::Text(s) if s.contains(','))
    })
}

/// Whether a refusal by `take_modelled` would mean "malformed value" (as
/// opposed to "a second occurrence of a single-valued property").
fn is_unfit_candidate(c: &Contact, entry: &VCardEntry, have_fn: bool) -> bool {
    match entry.name {
        VCardProperty::Fn => !have_fn,
        VCardProperty::N => c.name.is_none(),
        VCardProperty::Uid => c.uid.is_none(),
        VCardProperty::Kind => c.kind.is_none(),
        VCardProperty::Bday => c.birthday.is_none(),
        VCardProperty::Anniversary => c.anniversary.is_none(),
        VCardProperty::Rev => c.revision.is_none(),
        VCardProperty::Email
        | VCardProperty::Tel
        | VCardProperty::Url
        | VCardProperty::Impp
        | VCardProperty::Related
        | VCardProperty::Title
        | VCardProperty::Role
        | VCardProperty::Note
        | VCardProperty::Adr
        | VCardProperty::Org => true,
        VCardProperty::Photo => !entry
            .values
            .iter()
            .all(|v| matches!(v, VCardValue::Text(s) if s.is_empty())),
        _ => false,
    }
}

/// Upper-case name of a property as written.
fn prop_name(entry: &VCardEntry) -> String {
    entry.name.as_str().to_ascii_uppercase()
}

/// Parameters as text, consecutive same-name values merged.
fn params_of(entry: &VCardEntry) -> Vec<Param> {
    let mut out: Vec<Param> = Vec::new();
    for p in &entry.params {
        let name = p.name.as_str().to_ascii_uppercase();
        let value = match &p.value {
            VCardParameterValue::Null => None,
            v => Some(v.clone().into_text().into_owned()),
        };
        push_param(&mut out, &name, value);
    }
    out
}

/// The entry kept verbatim.
fn raw_property(entry: &VCardEntry) -> RawProperty {
    let mut e = entry.clone();
    e.group = None;
    let mut s = String::new();
    let mut params = params_of(entry);
    // Binary values are kept as `ENCODING=b` base64, which reads back as
    // binary whatever the property (a `data:` URI would not, for a text
    // property such as ORG).
    let binary = e.values.iter().any(|v| matches!(v, VCardValue::Binary(_)));
    if binary {
        e.params.retain(|p| p.name != VCardParameterName::Type);
        params.retain(|p| p.name != "ENCODING");
        params.push(Param::new("ENCODING", &["b"]));
    }
    // Writing to a String cannot fail.
    let _ = e.write_to(&mut s, !binary);
    RawProperty {
        group: entry.group.clone(),
        name: entry.name.as_str().to_string(),
        params,
        value: value_of_written_line(&s),
    }
}

/// Splits TYPE / PREF off the other parameters.
struct Typed {
    types: Vec<String>,
    pref: Option<u8>,
    label: Option<String>,
    rest: Vec<Param>,
}

fn split_typed(entry: &VCardEntry, take_label: bool) -> Typed {
    let mut t = Typed {
        types: Vec::new(),
        pref: None,
        label: None,
        rest: Vec::new(),
    };
    for p in &entry.params {
        match (&p.name, &p.value) {
            (VCardParameterName::Type, v) => {
                let s = v.clone().into_text().to_ascii_lowercase();
                if s == "pref" {
                    t.pref.get_or_insert(1);
                } else if !s.is_empty() {
                    t.types.push(s);
                }
            }
            (VCardParameterName::Pref, VCardParameterValue::Null) if t.pref.is_none() => {
                t.pref = Some(1)
            }
            (VCardParameterName::Pref, VCardParameterValue::Integer(n)) if t.pref.is_none() => {
                t.pref = Some((*n).clamp(1, 100) as u8)
            }
            (VCardParameterName::Pref, VCardParameterValue::Text(s))
                if t.pref.is_none()
                    && s.trim().parse::<u8>().is_ok_and(|n| (1..=100).contains(&n)) =>
            {
                t.pref = s.trim().parse().ok()
            }
            (VCardParameterName::Label, VCardParameterValue::Text(s))
                if take_label && t.label.is_none() =>
            {
                t.label = Some(s.clone())
            }
            (name, v) => {
                let value = match v {
                    VCardParameterValue::Null => None,
                    v => Some(v.clone().into_text().into_owned()),
                };
                push_param(&mut t.rest, &name.as_str().to_ascii_uppercase(), value);
            }
        }
    }
    t
}

/// The single text value of an entry, if that is what it holds.
fn single_text(entry: &VCardEntry) -> Option<String> {
    match entry.values.as_slice() {
        [VCardValue::Text(s)] => Some(s.clone()),
        [] => Some(String::new()),
        _ => None,
    }
}

/// All values flattened to text (for comma lists).
fn text_list(entry: &VCardEntry) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for v in &entry.values {
        match v {
            VCardValue::Text(s) => out.push(s.clone()),
            VCardValue::Component(items) => out.extend(items.iter().cloned()),
            _ => return None,
        }
    }
    Some(out)
}

/// Values as components (each a list).
fn components(entry: &VCardEntry) -> Option<Vec<Vec<String>>> {
    entry
        .values
        .iter()
        .map(|v| match v {
            VCardValue::Text(s) if s.is_empty() => Some(Vec::new()),
            VCardValue::Text(s) => Some(vec![s.clone()]),
            VCardValue::Component(items) => Some(items.clone()),
            _ => None,
        })
        .collect()
}

fn meta_of(entry: &VCardEntry, skip_value: bool) -> PropMeta {
    let mut params = params_of(entry);
    if skip_value {
        params.retain(|p| p.name != "VALUE");
    }
    PropMeta {
        group: entry.group.clone(),
        params,
    }
}

fn to_partial(d: &calcard::common::PartialDateTime) -> PartialDateTime {
    PartialDateTime {
        year: d.year,
        month: d.month,
        day: d.day,
        hour: d.hour,
        minute: d.minute,
        second: d.second,
        utc_offset_minutes: d.tz_hour.map(|h| {
            let m = i16::from(h) * 60 + i16::from(d.tz_minute.unwrap_or(0));
            if d.tz_minus { -m } else { m }
        }),
    }
}

fn from_partial(d: &PartialDateTime) -> calcard::common::PartialDateTime {
    let (tz_hour, tz_minute, tz_minus) = match d.utc_offset_minutes {
        Some(m) => (
            Some((m.unsigned_abs() / 60) as u8),
            Some((m.unsigned_abs() % 60) as u8),
            m < 0,
        ),
        None => (None, None, false),
    };
    calcard::common::PartialDateTime {
        year: d.year,
        month: d.month,
        day: d.day,
        hour: d.hour,
        minute: d.minute,
        second: d.second,
        tz_hour,
        tz_minute,
        tz_minus,
    }
}

fn date_or_text(entry: &VCardEntry) -> Option<DateOrText> {
    match entry.values.as_slice() {
        [VCardValue::PartialDateTime(d)] => Some(DateOrText::Date(to_partial(d))),
        [VCardValue::Text(s)] => Some(DateOrText::Text(s.clone())),
        _ => None,
    }
}

/// Puts a modelled property into the contact; `false` keeps it verbatim.
fn take_modelled(c: &mut Contact, entry: &VCardEntry, have_fn: &mut bool) -> bool {
    let name = prop_name(entry);
    match &entry.name {
        VCardProperty::Fn if !*have_fn => {
            let Some(v) = single_text(entry) else {
                return false;
            };
            c.formatted_name = v;
            *have_fn = true;
            set_meta(&mut c.meta, &name, meta_of(entry, false));
            true
        }
        VCardProperty::N if c.name.is_none() => {
            let Some(mut comps) = components(entry) else {
                return false;
            };
            comps.resize(comps.len().max(5), Vec::new());
            let extra = comps.split_off(5);
            let mut it = comps.into_iter();
            c.name = Some(StructuredName {
                family: it.next().unwrap_or_default(),
                given: it.next().unwrap_or_default(),
                additional: it.next().unwrap_or_default(),
                prefixes: it.next().unwrap_or_default(),
                suffixes: it.next().unwrap_or_default(),
                extra_components: extra,
            });
            set_meta(&mut c.meta, &name, meta_of(entry, false));
            true
        }
        VCardProperty::Uid if c.uid.is_none() => {
            let Some(v) = single_text(entry) else {
                return false;
            };
            c.uid = Some(v);
            set_meta(&mut c.meta, &name, meta_of(entry, false));
            true
        }
        VCardProperty::Kind if c.kind.is_none() => {
            let v = match entry.values.as_slice() {
                [VCardValue::Kind(k)] => k.as_str().to_ascii_lowercase(),
                [VCardValue::Text(s)] => s.to_ascii_lowercase(),
                _ => return false,
            };
            c.kind = Some(v);
            set_meta(&mut c.meta, &name, meta_of(entry, false));
            true
        }
        VCardProperty::Nickname | VCardProperty::Categories => {
            let Some(values) = text_list(entry) else {
                return false;
            };
            let meta = meta_of(entry, false);
            let list = if entry.name == VCardProperty::Nickname {
                &mut c.nicknames
            } else {
                &mut c.categories
            };
            // A second NICKNAME/CATEGORIES merges only if it says the same
            // group and parameters; otherwise it stays verbatim.
            if !list.is_empty() && c.meta.get(&name).cloned().unwrap_or_default() != meta {
                return false;
            }
            if values.iter().all(String::is_empty) {
                return false;
            }
            list.extend(values);
            set_meta(&mut c.meta, &name, meta);
            true
        }
        VCardProperty::Email
        | VCardProperty::Tel
        | VCardProperty::Url
        | VCardProperty::Impp
        | VCardProperty::Related
        | VCardProperty::Title
        | VCardProperty::Role
        | VCardProperty::Note => {
            let Some(value) = single_text(entry) else {
                return false;
            };
            let t = split_typed(entry, false);
            let tv = TypedValue {
                value,
                types: t.types,
                pref: t.pref,
                group: entry.group.clone(),
                params: t.rest,
            };
            match entry.name {
                VCardProperty::Email => c.emails.push(tv),
                VCardProperty::Tel => c.phones.push(tv),
                VCardProperty::Url => c.urls.push(tv),
                VCardProperty::Impp => c.ims.push(tv),
                VCardProperty::Related => c.related.push(tv),
                VCardProperty::Title => c.titles.push(tv),
                VCardProperty::Role => c.roles.push(tv),
                _ => c.notes.push(tv),
            }
            true
        }
        VCardProperty::Adr => {
            let Some(mut comps) = components(entry) else {
                return false;
            };
            comps.resize(comps.len().max(7), Vec::new());
            let extra = comps.split_off(7);
            let t = split_typed(entry, true);
            let mut it = comps.into_iter();
            c.addresses.push(Address {
                po_box: it.next().unwrap_or_default(),
                extended: it.next().unwrap_or_default(),
                street: it.next().unwrap_or_default(),
                locality: it.next().unwrap_or_default(),
                region: it.next().unwrap_or_default(),
                postal_code: it.next().unwrap_or_default(),
                country: it.next().unwrap_or_default(),
                extra_components: extra,
                types: t.types,
                pref: t.pref,
                label: t.label,
                group: entry.group.clone(),
                params: t.rest,
            });
            true
        }
        VCardProperty::Org => {
            let mut parts = Vec::new();
            for v in &entry.values {
                match v {
                    VCardValue::Text(s) => parts.push(s.clone()),
                    // calcard types some quoted-printable UTF-8 values as
                    // binary; text it is.
                    VCardValue::Binary(d) if d.content_type.is_none() => {
                        match String::from_utf8(d.data.clone()) {
                            Ok(s) => parts.push(s),
                            Err(_) => return false,
                        }
                    }
                    _ => return false,
                }
            }
            if parts.is_empty() {
                return false;
            }
            let t = split_typed(entry, false);
            if t.pref.is_some() {
                return false;
            }
            let name = parts.remove(0);
            c.organizations.push(Organization {
                name,
                units: parts,
                types: t.types,
                group: entry.group.clone(),
                params: t.rest,
            });
            true
        }
        VCardProperty::Bday | VCardProperty::Anniversary => {
            let slot = if entry.name == VCardProperty::Bday {
                &mut c.birthday
            } else {
                &mut c.anniversary
            };
            if slot.is_some() {
                return false;
            }
            let Some(d) = date_or_text(entry) else {
                return false;
            };
            *slot = Some(d);
            set_meta(&mut c.meta, &name, meta_of(entry, true));
            true
        }
        VCardProperty::Rev if c.revision.is_none() => match entry.values.as_slice() {
            [VCardValue::PartialDateTime(d)] => {
                c.revision = Some(to_partial(d));
                set_meta(&mut c.meta, &name, meta_of(entry, true));
                true
            }
            _ => false,
        },
        VCardProperty::Photo => {
            let mut params = params_of(entry);
            let legacy_type = params
                .iter()
                .find(|p| p.name == "TYPE" && p.values.len() == 1)
                .map(|p| p.values[0].to_ascii_lowercase());
            let source = match entry.values.as_slice() {
                [VCardValue::Binary(d)] => PhotoSource::Inline {
                    media_type: d.content_type.clone(),
                    data: InlineBytes(d.data.clone()),
                },
                // Legacy base64 that happens to decode to UTF-8 comes back
                // from calcard as text; a URI always has a scheme.
                [VCardValue::Text(s)] if !s.is_empty() && !s.contains(':') => PhotoSource::Inline {
                    media_type: legacy_type
                        .as_deref()
                        .and_then(legacy_image_type)
                        .map(str::to_string),
                    data: InlineBytes(s.clone().into_bytes()),
                },
                [VCardValue::Text(s)] if !s.is_empty() => PhotoSource::Uri(s.clone()),
                _ => return false,
            };
            if let PhotoSource::Inline { media_type, .. } = &source {
                // ENCODING / VALUE=binary describe the transport, and a
                // legacy TYPE=JPEG restates the media type.
                params.retain(|p| p.name != "ENCODING" && p.name != "VALUE");
                if let (Some(mt), Some(t)) = (media_type, &legacy_type)
                    && legacy_image_type(t) == Some(mt.as_str())
                {
                    params.retain(|p| p.name != "TYPE");
                }
            }
            c.photos.push(Photo {
                source,
                group: entry.group.clone(),
                params,
            });
            true
        }
        _ => false,
    }
}

/// The media type a vCard 2.1/3.0 image `TYPE` token stands for.
fn legacy_image_type(token: &str) -> Option<&'static str> {
    Some(match token {
        "jpeg" | "jpg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "tiff" => "image/tiff",
        "heic" => "image/heic",
        "webp" => "image/webp",
        _ => return None,
    })
}

fn set_meta(meta: &mut MetaMap, name: &str, m: PropMeta) {
    if m.is_empty() {
        meta.remove(name);
    } else {
        meta.insert(name.to_string(), m);
    }
}

/// Writes one contact as a vCard.
pub fn write_vcard(contact: &Contact, version: VCardVersion) -> String {
    let mut out = String::with_capacity(256);
    write_into(&mut out, contact, version);
    out
}

/// Writes contacts as consecutive vCards.
pub fn write_vcards(contacts: &[Contact], version: VCardVersion) -> String {
    let mut out = String::with_capacity(256 * contacts.len());
    for c in contacts {
        write_into(&mut out, c, version);
    }
    out
}

fn param_name(name: &str) -> VCardParameterName {
    VCardParameterName::try_parse(name.as_bytes())
        .unwrap_or_else(|| VCardParameterName::Other(name.to_string()))
}

fn to_params(params: &[Param]) -> Vec<VCardParameter> {
    let mut out = Vec::new();
    for p in params {
        let name = param_name(&p.name);
        if p.values.is_empty() {
            out.push(VCardParameter {
                name: name.clone(),
                value: VCardParameterValue::Null,
            });
        }
        for v in &p.values {
            let value = if name == VCardParameterName::Value {
                VCardValueType::parse(v.as_bytes())
                    .map(VCardParameterValue::ValueType)
                    .unwrap_or_else(|| VCardParameterValue::Text(v.clone()))
            } else {
                VCardParameterValue::Text(v.clone())
            };
            out.push(VCardParameter {
                name: name.clone(),
                value,
            });
        }
    }
    out
}

fn typed_params(
    types: &[String],
    pref: Option<u8>,
    label: Option<&str>,
    rest: &[Param],
    version: VCardVersion,
) -> Vec<VCardParameter> {
    let mut out = Vec::new();
    for t in types {
        out.push(VCardParameter {
            name: VCardParameterName::Type,
            value: VCardParameterValue::Text(t.clone()),
        });
    }
    if let Some(p) = pref {
        out.push(match version {
            VCardVersion::V4 => VCardParameter {
                name: VCardParameterName::Pref,
                value: VCardParameterValue::Integer(u32::from(p)),
            },
            VCardVersion::V3 => VCardParameter {
                name: VCardParameterName::Type,
                value: VCardParameterValue::Text("pref".into()),
            },
        });
    }
    if let Some(l) = label {
        out.push(VCardParameter {
            name: VCardParameterName::Label,
            value: VCardParameterValue::Text(l.to_string()),
        });
    }
    out.extend(to_params(rest));
    out
}

struct CardWriter<'a> {
    out: &'a mut String,
    v4: bool,
}

impl CardWriter<'_> {
    fn entry(
        &mut self,
        group: Option<&String>,
        name: VCardProperty,
        params: Vec<VCardParameter>,
        values: Vec<VCardValue>,
    ) {
        let e = VCardEntry {
            group: group.cloned(),
            name,
            params,
            values,
        };
        // Writing to a String cannot fail.
        let _ = e.write_to(self.out, self.v4);
    }

    fn meta_entry(
        &mut self,
        meta: &MetaMap,
        key: &str,
        name: VCardProperty,
        extra: Vec<VCardParameter>,
        values: Vec<VCardValue>,
    ) {
        let m = meta.get(key);
        let mut params = extra;
        if let Some(m) = m {
            params.extend(to_params(&m.params));
        }
        self.entry(m.and_then(|m| m.group.as_ref()), name, params, values);
    }
}

fn comp_values(comps: Vec<&Vec<String>>) -> Vec<VCardValue> {
    comps
        .into_iter()
        .map(|c| match c.as_slice() {
            [] => VCardValue::Text(String::new()),
            [one] => VCardValue::Text(one.clone()),
            many => VCardValue::Component(many.to_vec()),
        })
        .collect()
}

fn write_into(out: &mut String, c: &Contact, version: VCardVersion) {
    out.push_str("BEGIN:VCARD\r\n");
    out.push_str(match version {
        VCardVersion::V4 => "VERSION:4.0\r\n",
        VCardVersion::V3 => "VERSION:3.0\r\n",
    });
    let mut w = CardWriter {
        out,
        v4: version == VCardVersion::V4,
    };
    if let Some(k) = &c.kind {
        w.meta_entry(
            &c.meta,
            "KIND",
            VCardProperty::Kind,
            vec![],
            vec![VCardValue::Text(k.clone())],
        );
    }
    w.meta_entry(
        &c.meta,
        "FN",
        VCardProperty::Fn,
        vec![],
        vec![VCardValue::Text(c.formatted_name.clone())],
    );
    if let Some(n) = &c.name {
        let mut comps = vec![&n.family, &n.given, &n.additional, &n.prefixes, &n.suffixes];
        comps.extend(n.extra_components.iter());
        w.meta_entry(&c.meta, "N", VCardProperty::N, vec![], comp_values(comps));
    }
    if !c.nicknames.is_empty() {
        let values = c.nicknames.iter().cloned().map(VCardValue::Text).collect();
        w.meta_entry(&c.meta, "NICKNAME", VCardProperty::Nickname, vec![], values);
    }
    for p in &c.photos {
        let (mut params, value) = match &p.source {
            PhotoSource::Uri(u) => (vec![], VCardValue::Text(u.clone())),
            PhotoSource::Inline { media_type, data } => (
                vec![],
                VCardValue::Binary(calcard::common::Data {
                    content_type: media_type.clone(),
                    data: data.0.clone(),
                }),
            ),
            // A streamed photo must be inlined by the importer before
            // writing; written alone it is a `dtp-media:` placeholder URI.
            PhotoSource::Ref(r) => (vec![], VCardValue::Text(format!("dtp-media:{}", r.key))),
        };
        params.extend(to_params(&p.params));
        w.entry(p.group.as_ref(), VCardProperty::Photo, params, vec![value]);
    }
    for (slot, key, prop) in [
        (&c.birthday, "BDAY", VCardProperty::Bday),
        (&c.anniversary, "ANNIVERSARY", VCardProperty::Anniversary),
    ] {
        match slot {
            Some(DateOrText::Date(d)) => w.meta_entry(
                &c.meta,
                key,
                prop,
                vec![],
                vec![VCardValue::PartialDateTime(from_partial(d))],
            ),
            Some(DateOrText::Text(t)) => w.meta_entry(
                &c.meta,
                key,
                prop,
                vec![VCardParameter {
                    name: VCardParameterName::Value,
                    value: VCardParameterValue::ValueType(VCardValueType::Text),
                }],
                vec![VCardValue::Text(t.clone())],
            ),
            None => {}
        }
    }
    for a in &c.addresses {
        let mut comps = vec![
            &a.po_box,
            &a.extended,
            &a.street,
            &a.locality,
            &a.region,
            &a.postal_code,
            &a.country,
        ];
        comps.extend(a.extra_components.iter());
        let params = typed_params(&a.types, a.pref, a.label.as_deref(), &a.params, version);
        w.entry(
            a.group.as_ref(),
            VCardProperty::Adr,
            params,
            comp_values(comps),
        );
    }
    for (list, prop) in [
        (&c.phones, VCardProperty::Tel),
        (&c.emails, VCardProperty::Email),
        (&c.ims, VCardProperty::Impp),
        (&c.titles, VCardProperty::Title),
        (&c.roles, VCardProperty::Role),
    ] {
        for tv in list {
            let params = typed_params(&tv.types, tv.pref, None, &tv.params, version);
            w.entry(
                tv.group.as_ref(),
                prop.clone(),
                params,
                vec![VCardValue::Text(tv.value.clone())],
            );
        }
    }
    for o in &c.organizations {
        let params = typed_params(&o.types, None, None, &o.params, version);
        let mut values = vec![VCardValue::Text(o.name.clone())];
        values.extend(o.units.iter().cloned().map(VCardValue::Text));
        w.entry(o.group.as_ref(), VCardProperty::Org, params, values);
    }
    for (list, prop) in [
        (&c.related, VCardProperty::Related),
        (&c.notes, VCardProperty::Note),
        (&c.urls, VCardProperty::Url),
    ] {
        for tv in list {
            let params = typed_params(&tv.types, tv.pref, None, &tv.params, version);
            w.entry(
                tv.group.as_ref(),
                prop.clone(),
                params,
                vec![VCardValue::Text(tv.value.clone())],
            );
        }
    }
    if !c.categories.is_empty() {
        let values = c.categories.iter().cloned().map(VCardValue::Text).collect();
        w.meta_entry(
            &c.meta,
            "CATEGORIES",
            VCardProperty::Categories,
            vec![],
            values,
        );
    }
    if let Some(u) = &c.uid {
        w.meta_entry(
            &c.meta,
            "UID",
            VCardProperty::Uid,
            vec![],
            vec![VCardValue::Text(u.clone())],
        );
    }
    if let Some(r) = &c.revision {
        w.meta_entry(
            &c.meta,
            "REV",
            VCardProperty::Rev,
            vec![],
            vec![VCardValue::PartialDateTime(from_partial(r))],
        );
    }
    // vCard allows one `N`: the modelled one (or else the first kept
    // verbatim) is written as `N`, any other under `X-DTP-EXTRA-N`.
    let mut n_written = c.name.is_some();
    for p in &c.properties {
        let renamed = match p.name.as_str() {
            "N" if n_written => Some(EXTRA_N),
            "PROFILE" => Some(PROFILE),
            _ => None,
        };
        n_written |= p.name == "N";
        let qp_guard = p.value.ends_with('=')
            && p.params
                .iter()
                .any(|q| q.name == "QUOTED-PRINTABLE" && q.values.is_empty());
        if renamed.is_some() || qp_guard {
            let mut p = p.clone();
            if let Some(name) = renamed {
                p.name = name.to_string();
            }
            if qp_guard {
                for q in &mut p.params {
                    if q.name == "QUOTED-PRINTABLE" && q.values.is_empty() {
                        *q = Param::new(QP_MARK.0, &[QP_MARK.1]);
                    }
                }
            }
            write_raw(w.out, &p);
        } else {
            write_raw(w.out, p);
        }
    }
    w.out.push_str("END:VCARD\r\n");
}

/// Name under which a second (third, …) `N` is written: vCard allows one
/// `N`, and strict servers (Radicale's vobject) refuse a card with two.
/// Read back as `N`, so the model is unchanged.
pub const EXTRA_N: &str = "X-DTP-EXTRA-N";

/// Name under which `PROFILE` (the RFC 2425 directory-profile line,
/// `PROFILE:VCARD`, found in vCard 3.0 exports such as Lotus Notes') is
/// written, always: vCard 4.0 has no `PROFILE` and strict servers
/// (Radicale's vobject) refuse a card with one. Read back as `PROFILE`, so
/// the model is unchanged.
pub const PROFILE: &str = "X-DTP-PROFILE";

/// What a bare `QUOTED-PRINTABLE` parameter of a verbatim property whose
/// value ends in `=` is written as (`X-DTP-QP=BARE`), and read back as: a
/// line mentioning quoted-printable that ends in `=` is a soft line break to
/// vobject (Radicale), which then swallows the next line (`END:VCARD`).
const QP_MARK: (&str, &str) = ("X-DTP-QP", "BARE");

fn write_raw(out: &mut String, p: &RawProperty) {
    if is_writable(p) {
        // A value in content-line syntax holds no line break; one that
        // does (a hand-built model) is escaped rather than split.
        let value = if p.value.contains(['\r', '\n']) {
            p.value.replace("\r\n", "\\n").replace(['\r', '\n'], "\\n")
        } else {
            p.value.clone()
        };
        content_line(out, p.group.as_deref(), &p.name, &p.params, &value);
    } else {
        // Never a line whose name is no vCard name (see `UNPARSED`).
        let u = unparsed(&raw_text(p));
        content_line(out, None, &u.name, &u.params, &u.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Parsed<Vec<Contact>> {
        parse_vcards(text.as_bytes(), "b").unwrap()
    }

    #[test]
    fn text_properties_read_back_the_same_text_through_a_file() {
        let json = r#"{"where":"Building 4, Floor 2","note":"a;b\\c\nd"}"#;
        let mut c = Contact::new("x", "b", "A");
        c.properties.push(RawProperty::text("X-JSON", json));
        for v in [VCardVersion::V3, VCardVersion::V4] {
            let back = parse(&write_vcard(&c, v));
            let p = back.value[0]
                .properties
                .iter()
                .find(|p| p.name == "X-JSON")
                .expect("kept");
            assert_eq!(p.text_value(), json, "{v:?}");
            assert_eq!(p, &c.properties[0], "{v:?}: stable through a file");
        }
    }

    #[test]
    fn a_line_that_is_no_property_is_kept_as_unparsed_text_and_warned() {
        let p =
            parse("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nsome junk;with, text\r\nEND:VCARD\r\n");
        let c = &p.value[0];
        assert_eq!(c.properties.len(), 1, "{:?}", c.properties);
        assert_eq!(c.properties[0].name, UNPARSED);
        assert_eq!(c.properties[0].value, "some junk\\;with\\, text");
        assert!(
            p.warnings
                .iter()
                .any(|w| w.line == Some(4) && w.property.as_deref() == Some(UNPARSED))
        );
        for v in [VCardVersion::V3, VCardVersion::V4] {
            let out = write_vcard(c, v);
            assert!(
                out.contains("\r\nX-DTP-UNPARSED:some junk\\;with\\, text\r\n"),
                "{out}"
            );
            assert_eq!(parse(&out).value[0], *c);
        }
    }

    #[test]
    fn the_writer_never_emits_an_invalid_name_or_a_bare_line_break() {
        let mut c = Contact::new("x", "b", "A");
        c.properties
            .push(RawProperty::new("Packstation 999", "Hamburg"));
        c.properties
            .push(RawProperty::new("X-OK", "two\r\nlines\nhere"));
        c.properties
            .push(RawProperty::new("X-P", "v").with_param(Param::new("BAD NAME", &["1"])));
        let out = write_vcard(&c, VCardVersion::V4);
        assert!(
            out.contains("\r\nX-DTP-UNPARSED:PACKSTATION 999:Hamburg\r\n"),
            "{out}"
        );
        assert!(out.contains("\r\nX-OK:two\\nlines\\nhere\r\n"), "{out}");
        assert!(
            out.contains("\r\nX-DTP-UNPARSED:X-P\\;BAD NAME=1:v\r\n"),
            "{out}"
        );
    }

    #[test]
    fn a_second_n_and_profile_are_written_under_x_names_and_read_back() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nPROFILE:VCARD\r\nFN:John Public\r\n\
                    N:Public;John;Quinlan;Mr.;Esq.\r\n\
                    N:Stevenson;John;Philip,Paul;Dr.;Jr.,M.D.,A.C.P.\r\nEND:VCARD\r\n";
        let c = &parse(text).value[0];
        assert_eq!(c.properties.len(), 2, "{:?}", c.properties);
        for v in [VCardVersion::V3, VCardVersion::V4] {
            let out = write_vcard(c, v);
            assert_eq!(out.matches("\r\nN:").count(), 1, "{out}");
            assert!(out.contains("\r\nX-DTP-PROFILE:VCARD\r\n"), "{out}");
            assert!(
                out.contains(
                    "\r\nX-DTP-EXTRA-N:Stevenson;John;Philip,Paul;Dr.;Jr.,M.D.,A.C.P.\r\n"
                ),
                "{out}"
            );
            assert!(!out.contains("\r\nPROFILE"), "{out}");
            assert_eq!(parse(&out).value[0], *c, "{out}");
        }
    }

    #[test]
    fn a_quoted_printable_value_ending_in_a_soft_break_is_not_followed_by_its_marker() {
        let text = "BEGIN:VCARD\nN:\nLABEL;QUOTED-PRINTABLE;WORK:401 Park Drive=0AUSA=0A=\n\
                    UID:pas-1\nEND:VCARD\n";
        let c = &parse(text).value[0];
        let out = write_vcard(c, VCardVersion::V3);
        assert!(
            out.contains("\r\nLABEL;X-DTP-QP=BARE;TYPE=WORK:401 Park Drive=0AUSA=0A=\r\n"),
            "{out}"
        );
        assert!(
            !out.to_ascii_lowercase().contains("quoted-printable"),
            "{out}"
        );
        assert_eq!(parse(&out).value[0], *c, "{out}");
    }

    #[test]
    fn qp_soft_breaks_join_only_onto_non_property_lines() {
        let text = "LABEL;QUOTED-PRINTABLE:a=0Ab=\r\nmore text\r\nUID:1\r\n";
        assert_eq!(
            join_qp_soft_breaks(text),
            "LABEL;QUOTED-PRINTABLE:a=0Abmore text\r\nUID:1\r\n"
        );
        // Not quoted-printable, or the next line is a property: untouched.
        let plain = "NOTE:x=\r\nmore\r\n";
        assert_eq!(join_qp_soft_breaks(plain), plain);
        let onto_property = "LABEL;ENCODING=QUOTED-PRINTABLE:a=\r\nUID:1\r\n";
        assert_eq!(join_qp_soft_breaks(onto_property), onto_property);
    }

    #[test]
    fn a_qp_continuation_line_is_not_lost() {
        let card = b"BEGIN:VCARD\r\nVERSION:2.1\r\nFN:x\r\nLABEL;QUOTED-PRINTABLE;WORK:401 Park Drive=0AUSA=0A=\r\nHerecomesyetanotherline\r\nEND:VCARD\r\n";
        let parsed = parse_vcards(card, "b").unwrap();
        let shown = format!("{:?}", parsed.value[0]);
        assert!(shown.contains("Herecomesyetanotherline"), "{shown}");
    }

    #[test]
    fn backslash_continuations_join_only_onto_non_property_lines() {
        let joined = join_backslash_continuations("ADR:;;a\\\r\nb c;d\r\nNOTE:x\\\r\nTEL:1\r\n");
        assert_eq!(joined, "ADR:;;a\\nb c;d\r\nNOTE:x\\\r\nTEL:1\r\n");
        // An escaped backslash at the end is no continuation.
        let text = "NOTE:a\\\\\r\nb c\r\n";
        assert_eq!(join_backslash_continuations(text), text);
    }
}
