//! WebDAV XML: request bodies, and a tolerant `multistatus` reader (RFC 4918
//! §13) over `quick-xml` with namespace resolution.

use std::collections::HashMap;

use dtp_core::{Error, Result};
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// The `DAV:` namespace.
pub const DAV: &str = "DAV:";
/// The CalDAV namespace (RFC 4791).
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// The CardDAV namespace (RFC 6352).
pub const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
/// Apple's namespace (`calendar-color`).
pub const APPLE_ICAL: &str = "http://apple.com/ns/ical/";

/// An element seen inside a property: namespace, local name, attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI (empty when unbound).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Attributes (local name → value).
    pub attrs: HashMap<String, String>,
}

impl Element {
    /// Whether this element is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }
}

/// The value of one property: its text, the elements nested in it, and the
/// `DAV:href`s it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropValue {
    /// All text inside the property, entity references resolved.
    pub text: String,
    /// Every element nested in the property, in document order.
    pub children: Vec<Element>,
    /// The text of every nested `DAV:href`.
    pub hrefs: Vec<String>,
}

impl PropValue {
    /// Whether a nested element `{ns}name` exists.
    pub fn has(&self, ns: &str, name: &str) -> bool {
        self.children.iter().any(|c| c.is(ns, name))
    }
}

/// One `DAV:response` of a multistatus.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The resource's href (as sent, percent-encoded).
    pub href: String,
    /// The response-level status code (e.g. 404 for a missing resource in a
    /// multiget, or for a deleted member in sync-collection).
    pub status: Option<u16>,
    /// Properties found (propstat with a 2xx status), by `(ns, local name)`.
    pub props: HashMap<(String, String), PropValue>,
}

impl Response {
    /// The property `{ns}name`, if found.
    pub fn prop(&self, ns: &str, name: &str) -> Option<&PropValue> {
        self.props.get(&(ns.to_string(), name.to_string()))
    }

    /// The text of `{ns}name`, trimmed, if found and not empty.
    pub fn text(&self, ns: &str, name: &str) -> Option<String> {
        self.prop(ns, name)
            .map(|p| p.text.trim().to_string())
            .filter(|t| !t.is_empty())
    }
}

/// A parsed multistatus: its responses and the `DAV:sync-token`, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Multistatus {
    /// The responses.
    pub responses: Vec<Response>,
    /// The new sync token (sync-collection REPORT).
    pub sync_token: Option<String>,
}

/// Properties of one `propstat` and its status.
type PropStat = (Vec<((String, String), PropValue)>, Option<u16>);

fn status_code(line: &str) -> Option<u16> {
    // "HTTP/1.1 200 OK"
    line.split_whitespace().nth(1)?.parse().ok()
}

fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// Parses a `multistatus` body. Malformed XML is
/// [`InvalidData`](dtp_core::ErrorKind::InvalidData).
pub fn parse_multistatus(body: &[u8]) -> Result<Multistatus> {
    let bad = |e: String| Error::invalid_data(format!("malformed multistatus XML: {e}"));
    let mut reader = NsReader::from_reader(body);
    let mut buf = Vec::new();
    let mut out = Multistatus::default();
    // Path of (ns, local) from the root.
    let mut path: Vec<(String, String)> = Vec::new();
    let mut saw_multistatus = false;
    let mut cur: Option<Response> = None;
    // Inside a propstat: collected props and the propstat status.
    let mut propstat: Option<PropStat> = None;
    // The property being read (depth of its element in `path`).
    let mut prop: Option<(usize, (String, String), PropValue)> = None;
    let mut text = String::new();
    loop {
        let (ns, ev) = reader
            .read_resolved_event_into(&mut buf)
            .map_err(|e| bad(e.to_string()))?;
        let ns = match ns {
            ResolveResult::Bound(n) => AsRef::<str>::as_ref(&n).to_string(),
            _ => String::new(),
        };
        match ev {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = AsRef::<str>::as_ref(&e.local_name()).to_string();
                if path.is_empty() {
                    if !(ns == DAV && name == "multistatus") {
                        return Err(bad(format!("root element is `{name}`, not multistatus")));
                    }
                    saw_multistatus = true;
                }
                text.clear();
                if let Some((_, _, value)) = prop.as_mut() {
                    let mut attrs = HashMap::new();
                    for a in e.attributes().flatten() {
                        let k = AsRef::<str>::as_ref(&a.key.local_name()).to_string();
                        let v = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map(|v| v.into_owned())
                            .unwrap_or_default();
                        attrs.insert(k, v);
                    }
                    value.children.push(Element {
                        ns: ns.clone(),
                        name: name.clone(),
                        attrs,
                    });
                } else if ns == DAV && name == "response" && path.len() == 1 {
                    cur = Some(Response::default());
                } else if ns == DAV && name == "propstat" && cur.is_some() {
                    propstat = Some((Vec::new(), None));
                } else if path.last().is_some_and(|(n, l)| n == DAV && l == "prop")
                    && propstat.is_some()
                {
                    prop = Some((path.len(), (ns.clone(), name.clone()), PropValue::default()));
                }
                if empty {
                    // Close it at once.
                    end_element(
                        &ns,
                        &name,
                        path.len(),
                        &mut text,
                        &mut out,
                        &mut cur,
                        &mut propstat,
                        &mut prop,
                    );
                } else {
                    path.push((ns, name));
                }
            }
            Event::End(ref e) => {
                let name = AsRef::<str>::as_ref(&e.local_name()).to_string();
                path.pop();
                end_element(
                    &ns,
                    &name,
                    path.len(),
                    &mut text,
                    &mut out,
                    &mut cur,
                    &mut propstat,
                    &mut prop,
                );
            }
            Event::Text(t) => {
                let s = t.into_inner();
                text.push_str(&s);
                if let Some((_, _, v)) = prop.as_mut() {
                    v.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                let s = t.into_inner().into_owned();
                text.push_str(&s);
                if let Some((_, _, v)) = prop.as_mut() {
                    v.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref().map_err(|e| bad(e.to_string()))?
                } else {
                    entity(&r.into_inner())
                };
                let Some(c) = c else {
                    return Err(bad("unknown entity reference".into()));
                };
                text.push(c);
                if let Some((_, _, v)) = prop.as_mut() {
                    v.text.push(c);
                }
            }
            _ => {}
        }
        buf.clear();
    }
    if !saw_multistatus {
        return Err(bad("no multistatus element".into()));
    }
    if !path.is_empty() {
        return Err(bad("the document ends inside an element".into()));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn end_element(
    ns: &str,
    name: &str,
    depth: usize,
    text: &mut String,
    out: &mut Multistatus,
    cur: &mut Option<Response>,
    propstat: &mut Option<PropStat>,
    prop: &mut Option<(usize, (String, String), PropValue)>,
) {
    if let Some((d, _, value)) = prop.as_mut() {
        if depth > *d {
            if ns == DAV && name == "href" {
                value.hrefs.push(text.trim().to_string());
            }
            text.clear();
            return;
        }
        if depth == *d {
            let (_, key, value) = prop.take().expect("checked above");
            if let Some((props, _)) = propstat.as_mut() {
                props.push((key, value));
            }
            text.clear();
            return;
        }
    }
    match (ns == DAV, name) {
        (true, "href") if depth == 2 => {
            if let Some(r) = cur.as_mut() {
                r.href = text.trim().to_string();
            }
        }
        (true, "status") if depth == 3 => {
            if let Some((_, status)) = propstat.as_mut() {
                *status = status_code(text);
            }
        }
        (true, "status") if depth == 2 => {
            if let Some(r) = cur.as_mut() {
                r.status = status_code(text);
            }
        }
        (true, "propstat") => {
            if let (Some(r), Some((props, status))) = (cur.as_mut(), propstat.take())
                && status.is_none_or(|s| (200..300).contains(&s))
            {
                r.props.extend(props);
            }
        }
        (true, "response") if depth == 1 => {
            if let Some(r) = cur.take()
                && !r.href.is_empty()
            {
                out.responses.push(r);
            }
        }
        (true, "sync-token") if depth == 1 => {
            let t = text.trim();
            if !t.is_empty() {
                out.sync_token = Some(t.to_string());
            }
        }
        _ => {}
    }
    text.clear();
}

/// Escapes text for an XML element or attribute.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// A `PROPFIND` body asking for `props` (each `prefix:name`, with the
/// prefixes `d` = DAV:, `c` = CalDAV, `card` = CardDAV, `ic` = Apple iCal).
pub fn propfind(props: &[&str]) -> String {
    let mut s = String::from(concat!(
        r#"<?xml version="1.0" encoding="utf-8"?>"#,
        r#"<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" "#,
        r#"xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:ic="http://apple.com/ns/ical/"><d:prop>"#
    ));
    for p in props {
        s.push('<');
        s.push_str(p);
        s.push_str("/>");
    }
    s.push_str("</d:prop></d:propfind>");
    s
}

/// A `sync-collection` REPORT body (RFC 6578) from `token` (empty: initial).
pub fn sync_collection(token: Option<&str>) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token>{}</d:sync-token>"#,
            r#"<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
        ),
        escape(token.unwrap_or(""))
    )
}

/// A `calendar-multiget` (CalDAV) or `addressbook-multiget` (CardDAV) body.
pub fn multiget(caldav: bool, hrefs: &[String]) -> String {
    let (root, ns, data) = if caldav {
        ("c:calendar-multiget", CALDAV, "c:calendar-data")
    } else {
        ("c:addressbook-multiget", CARDDAV, "c:address-data")
    };
    let mut s = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><{root} xmlns:d="DAV:" xmlns:c="{ns}"><d:prop><d:getetag/><{data}/></d:prop>"#
    );
    for h in hrefs {
        s.push_str("<d:href>");
        s.push_str(&escape(h));
        s.push_str("</d:href>");
    }
    s.push_str("</");
    s.push_str(root);
    s.push('>');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_multistatus_with_namespaces_entities_and_failed_propstats() {
        let body = br#"<?xml version="1.0"?>
<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <D:response>
  <D:href>/alice/cal/</D:href>
  <D:propstat><D:prop>
    <D:resourcetype><D:collection/><C:calendar/></D:resourcetype>
    <D:displayname>Work &amp; play&#x1F600;</D:displayname>
    <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  </D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
  <D:propstat><D:prop><D:getetag/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>
 </D:response>
 <D:response><D:href>/alice/cal/gone.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>
 <D:sync-token>http://x/sync/3</D:sync-token>
</D:multistatus>"#;
        let ms = parse_multistatus(body).unwrap();
        assert_eq!(ms.responses.len(), 2);
        let r = &ms.responses[0];
        assert_eq!(r.href, "/alice/cal/");
        assert!(r.prop(DAV, "resourcetype").unwrap().has(CALDAV, "calendar"));
        assert_eq!(r.text(DAV, "displayname").unwrap(), "Work & play😀");
        let comps = r.prop(CALDAV, "supported-calendar-component-set").unwrap();
        assert_eq!(comps.children[0].attrs["name"], "VEVENT");
        assert!(r.prop(DAV, "getetag").is_none());
        assert_eq!(ms.responses[1].status, Some(404));
        assert_eq!(ms.sync_token.as_deref(), Some("http://x/sync/3"));
    }

    #[test]
    fn malformed_xml_is_invalid_data() {
        for body in [
            &b"<d:multistatus xmlns:d=\"DAV:\"><d:response>"[..],
            b"<html>oops</html>",
            b"not xml at all",
            b"<d:multistatus xmlns:d=\"DAV:\"><d:response></d:wrong></d:multistatus>",
        ] {
            let err = parse_multistatus(body).unwrap_err();
            assert_eq!(err.kind(), &dtp_core::ErrorKind::InvalidData, "{body:?}");
        }
    }

    #[test]
    fn bodies_escape_hrefs_and_tokens() {
        let b = multiget(true, &["/a/b&c.ics".into()]);
        assert!(b.contains("<d:href>/a/b&amp;c.ics</d:href>"));
        assert!(sync_collection(Some("t<1>")).contains("t&lt;1&gt;"));
    }
}
