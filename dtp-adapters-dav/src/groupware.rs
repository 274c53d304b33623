//! What CalDAV and CardDAV share: configuration, discovery, collection
//! listing, paged export over sync-collection + multiget, and idempotent PUTs.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use dtp_core::{AuthData, Cursor, Error, ErrorKind, ImportContext, Result};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::{Body, DavClient, HttpOptions, resolve};
use crate::xml::{self, APPLE_ICAL, CALDAV, CARDDAV, DAV, Response};

/// What a rerun does with a resource that already exists under the stable
/// name (`PUT` with `If-None-Match: *` answered 412).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnExisting {
    /// Write it again (the source's version wins). The default.
    #[default]
    Overwrite,
    /// Keep what is there.
    Skip,
}

/// Configuration of a CalDAV or CardDAV account.
///
/// ```
/// use dtp_adapters_dav::DavConfig;
/// let cfg = DavConfig::new("https://cloud.example.org/remote.php/dav/").unwrap()
///     .with_page_size(100);
/// assert_eq!(cfg.page_size(), 100);
/// ```
#[derive(Debug, Clone)]
pub struct DavConfig {
    pub(crate) base: Url,
    pub(crate) home: Option<Url>,
    pub(crate) page_size: usize,
    pub(crate) on_existing: OnExisting,
    pub(crate) http: HttpOptions,
    pub(crate) sync_tokens: HashMap<String, String>,
}

impl DavConfig {
    /// An account reached from `base_url` (the server root, a principal, or
    /// any URL where `current-user-principal` or `/.well-known/caldav`
    /// / `/.well-known/carddav` answers).
    pub fn new(base_url: &str) -> Result<Self> {
        let base = Url::parse(base_url)
            .map_err(|e| Error::invalid_data(format!("bad DAV base URL: {e}")))?;
        Ok(DavConfig {
            base,
            home: None,
            page_size: 50,
            on_existing: OnExisting::default(),
            http: HttpOptions::default(),
            sync_tokens: HashMap::new(),
        })
    }

    /// Uses `home` as the calendar or address book home set (skips
    /// discovery; new collections are created inside it).
    pub fn with_home(mut self, home: &str) -> Result<Self> {
        let mut u = self
            .base
            .join(home)
            .map_err(|e| Error::invalid_data(format!("bad home URL: {e}")))?;
        if !u.path().ends_with('/') {
            let p = format!("{}/", u.path());
            u.set_path(&p);
        }
        self.home = Some(u);
        Ok(self)
    }

    /// Items per multiget page (default 50).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// Items per multiget page.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// What to do with a resource that exists already.
    pub fn with_on_existing(mut self, on_existing: OnExisting) -> Self {
        self.on_existing = on_existing;
        self
    }

    /// HTTP client options.
    pub fn with_http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// Exports only what changed since these sync tokens (collection URL →
    /// token, as returned by `sync_tokens()` of an earlier export).
    pub fn with_sync_tokens(mut self, tokens: HashMap<String, String>) -> Self {
        self.sync_tokens = tokens;
        self
    }
}

/// Which protocol a [`Groupware`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    CalDav,
    CardDav,
}

/// A collection found in a home set.
#[derive(Debug, Clone)]
pub(crate) struct Collection {
    pub url: Url,
    pub name: Option<String>,
    pub description: Option<String>,
    pub color: Option<String>,
    /// Supported calendar components (empty: not advertised, i.e. all).
    pub components: Vec<String>,
    /// vCard versions the address book accepts (empty: not advertised).
    pub vcard_versions: Vec<String>,
}

impl Collection {
    pub fn supports(&self, comp: &str) -> bool {
        self.components.is_empty() || self.components.iter().any(|c| c == comp)
    }
}

/// Export cursor of one collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CollCursor {
    /// The collection URL.
    pub c: String,
    /// Member hrefs still to fetch; `None`: not listed yet.
    #[serde(default)]
    pub h: Option<Vec<String>>,
    /// The sync token seen when listing.
    #[serde(default)]
    pub t: Option<String>,
}

/// The machinery shared by the CalDAV and CardDAV adapters.
pub(crate) struct Groupware {
    pub client: DavClient,
    pub config: DavConfig,
    pub proto: Proto,
    home: tokio::sync::Mutex<Option<Url>>,
    tokens: Mutex<HashMap<String, String>>,
    etags: Mutex<HashMap<String, String>>,
    /// Collections created or found by the importer, by URL.
    pub created: Mutex<HashMap<String, Collection>>,
}

impl Groupware {
    pub fn new(config: DavConfig, proto: Proto) -> Result<Self> {
        let service = match proto {
            Proto::CalDav => "caldav",
            Proto::CardDav => "carddav",
        };
        Ok(Groupware {
            client: DavClient::new(service, &config.http)?,
            config,
            proto,
            home: tokio::sync::Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            etags: Mutex::new(HashMap::new()),
            created: Mutex::new(HashMap::new()),
        })
    }

    pub fn sync_tokens(&self) -> HashMap<String, String> {
        self.tokens.lock().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn etags(&self) -> HashMap<String, String> {
        self.etags.lock().map(|t| t.clone()).unwrap_or_default()
    }

    fn home_prop(&self) -> &'static str {
        match self.proto {
            Proto::CalDav => "c:calendar-home-set",
            Proto::CardDav => "card:addressbook-home-set",
        }
    }

    fn home_prop_name(&self) -> (&'static str, &'static str) {
        match self.proto {
            Proto::CalDav => (CALDAV, "calendar-home-set"),
            Proto::CardDav => (CARDDAV, "addressbook-home-set"),
        }
    }

    /// The home set: configured, or discovered (RFC 6764 well-known URI,
    /// `current-user-principal`, then the home-set property).
    pub async fn home(&self, auth: &AuthData) -> Result<Url> {
        let mut cached = self.home.lock().await;
        if let Some(h) = cached.as_ref() {
            return Ok(h.clone());
        }
        let home = match &self.config.home {
            Some(h) => h.clone(),
            None => self.discover(auth).await?,
        };
        *cached = Some(home.clone());
        Ok(home)
    }

    async fn principal_at(&self, auth: &AuthData, url: &Url) -> Result<Option<Url>> {
        let (answered, ms) = self
            .client
            .propfind(
                auth,
                url,
                0,
                &["d:current-user-principal", self.home_prop()],
            )
            .await?;
        let (ns, name) = self.home_prop_name();
        for r in &ms.responses {
            if let Some(h) = r.prop(ns, name).and_then(|p| p.hrefs.first()) {
                return Ok(Some(resolve(&answered, h)?));
            }
        }
        for r in &ms.responses {
            if let Some(p) = r
                .prop(DAV, "current-user-principal")
                .and_then(|p| p.hrefs.first())
            {
                return Ok(Some(resolve(&answered, p)?));
            }
        }
        Ok(None)
    }

    async fn discover(&self, auth: &AuthData) -> Result<Url> {
        let well_known = match self.proto {
            Proto::CalDav => "/.well-known/caldav",
            Proto::CardDav => "/.well-known/carddav",
        };
        let mut principal = match self.principal_at(auth, &self.config.base).await {
            Ok(p) => p,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Unsupported) => None,
            Err(e) => return Err(e),
        };
        if principal.is_none() {
            let wk = resolve(&self.config.base, well_known)?;
            principal = self.principal_at(auth, &wk).await?;
        }
        let principal = principal.ok_or_else(|| {
            Error::unsupported("no current-user-principal found at the base URL or well-known URI")
                .with_service(self.client.service())
        })?;
        // Ask the principal for its home set.
        let (answered, ms) = self
            .client
            .propfind(auth, &principal, 0, &[self.home_prop()])
            .await?;
        let (ns, name) = self.home_prop_name();
        for r in &ms.responses {
            if let Some(h) = r.prop(ns, name).and_then(|p| p.hrefs.first()) {
                return resolve(&answered, h);
            }
        }
        // A home-set href returned by the first PROPFIND is itself a home.
        Ok(principal)
    }

    /// The collections in the home set with their properties.
    pub async fn collections(&self, auth: &AuthData) -> Result<Vec<Collection>> {
        let home = self.home(auth).await?;
        let (answered, ms) = self
            .client
            .propfind(
                auth,
                &home,
                1,
                &[
                    "d:resourcetype",
                    "d:displayname",
                    "c:calendar-description",
                    "ic:calendar-color",
                    "c:supported-calendar-component-set",
                    "card:addressbook-description",
                    "card:supported-address-data",
                ],
            )
            .await?;
        if ms
            .responses
            .iter()
            .all(|r| r.status.is_some_and(|s| s == 404) || r.props.is_empty())
        {
            // 207 with only a 404 response (Xandikos) for a missing home.
            return Err(Error::not_found(format!("no home set at {}", home.path()))
                .with_service(self.client.service()));
        }
        let mut out = Vec::new();
        for r in &ms.responses {
            if let Some(c) = self.collection_of(&answered, r)?
                && c.url.path() != home.path()
            {
                out.push(c);
            }
        }
        out.sort_by(|a, b| a.url.as_str().cmp(b.url.as_str()));
        Ok(out)
    }

    fn collection_of(&self, base: &Url, r: &Response) -> Result<Option<Collection>> {
        let Some(rt) = r.prop(DAV, "resourcetype") else {
            return Ok(None);
        };
        let wanted = match self.proto {
            Proto::CalDav => rt.has(CALDAV, "calendar"),
            Proto::CardDav => rt.has(CARDDAV, "addressbook"),
        };
        if !wanted {
            return Ok(None);
        }
        let url = resolve(base, &r.href)?;
        let components = r
            .prop(CALDAV, "supported-calendar-component-set")
            .map(|p| {
                p.children
                    .iter()
                    .filter(|c| c.is(CALDAV, "comp"))
                    .filter_map(|c| c.attrs.get("name").map(|n| n.to_ascii_uppercase()))
                    .collect()
            })
            .unwrap_or_default();
        let vcard_versions = r
            .prop(CARDDAV, "supported-address-data")
            .map(|p| {
                p.children
                    .iter()
                    .filter_map(|c| c.attrs.get("version").cloned())
                    .collect()
            })
            .unwrap_or_default();
        let description = match self.proto {
            Proto::CalDav => r.text(CALDAV, "calendar-description"),
            Proto::CardDav => r.text(CARDDAV, "addressbook-description"),
        };
        Ok(Some(Collection {
            url,
            name: r.text(DAV, "displayname"),
            description,
            color: r.text(APPLE_ICAL, "calendar-color"),
            components,
            vcard_versions,
        }))
    }

    /// Lists member hrefs of a collection: sync-collection (from the
    /// configured token, if any) or, where unsupported, PROPFIND Depth 1.
    async fn list_members(
        &self,
        auth: &AuthData,
        coll: &Url,
    ) -> Result<(Vec<String>, Option<String>)> {
        let since = self.config.sync_tokens.get(coll.as_str()).cloned();
        let answer = self
            .client
            .report(auth, coll, Some(1), xml::sync_collection(since.as_deref()))
            .await?;
        if answer.status.is_success() {
            let ms = answer.multistatus()?;
            let mut hrefs = Vec::new();
            for r in &ms.responses {
                if r.status.is_some_and(|s| s == 404) {
                    continue; // deleted since the token: nothing to export
                }
                let u = resolve(coll, &r.href)?;
                if u.path() != coll.path() && !u.path().ends_with('/') {
                    hrefs.push(u.path().to_string());
                }
            }
            hrefs.sort();
            hrefs.dedup();
            return Ok((hrefs, ms.sync_token));
        }
        let err = self.client.check(&Method::GET, answer).unwrap_err();
        if err.is_retryable()
            || matches!(
                err.kind(),
                ErrorKind::Unauthenticated | ErrorKind::PermissionDenied
            ) && since.is_none()
        {
            return Err(err);
        }
        // No sync-collection (or an invalid old token): list everything.
        let (answered, ms) = self
            .client
            .propfind(auth, coll, 1, &["d:resourcetype", "d:getetag"])
            .await?;
        let mut hrefs = Vec::new();
        for r in &ms.responses {
            let u = resolve(&answered, &r.href)?;
            let is_coll = r
                .prop(DAV, "resourcetype")
                .is_some_and(|p| p.has(DAV, "collection"));
            if u.path() != coll.path() && !is_coll {
                hrefs.push(u.path().to_string());
            }
        }
        hrefs.sort();
        hrefs.dedup();
        Ok((hrefs, None))
    }

    /// One export page of a collection: lists it on the first visit, then
    /// multigets the next `page_size` hrefs. Returns the raw bodies by href
    /// and the cursor of the rest.
    pub async fn page(
        &self,
        auth: &AuthData,
        cursor: &CollCursor,
    ) -> Result<(Vec<(String, Bytes)>, Option<CollCursor>)> {
        let coll = Url::parse(&cursor.c)
            .map_err(|e| Error::invalid_data(format!("bad collection in cursor: {e}")))?;
        let (hrefs, token) = match &cursor.h {
            Some(h) => (h.clone(), cursor.t.clone()),
            None => {
                let (h, t) = self.list_members(auth, &coll).await?;
                if let (Some(t), Ok(mut map)) = (&t, self.tokens.lock()) {
                    map.insert(coll.as_str().to_string(), t.clone());
                }
                (h, t)
            }
        };
        let n = self.config.page_size.min(hrefs.len());
        let (now, rest) = hrefs.split_at(n);
        let next = (!rest.is_empty()).then(|| CollCursor {
            c: cursor.c.clone(),
            h: Some(rest.to_vec()),
            t: token.clone(),
        });
        if now.is_empty() {
            return Ok((Vec::new(), next));
        }
        let body = xml::multiget(self.proto == Proto::CalDav, now);
        let answer = self.client.report(auth, &coll, Some(1), body).await?;
        let answer = self.client.check(&Method::GET, answer)?;
        let ms = match answer.multistatus() {
            Ok(ms) => ms,
            Err(e) if now.len() > 1 => {
                // Find the culprit: fetch one by one (each as its own page).
                tracing::warn!(error = %e, "malformed multiget answer; fetching one by one");
                let mut out = Vec::new();
                for h in now {
                    let one = CollCursor {
                        c: cursor.c.clone(),
                        h: Some(vec![h.clone()]),
                        t: token.clone(),
                    };
                    let (items, _) = Box::pin(self.page(auth, &one)).await?;
                    out.extend(items);
                }
                return Ok((out, next));
            }
            Err(e) => return Err(e.with_item(now[0].clone())),
        };
        let data_prop = match self.proto {
            Proto::CalDav => (CALDAV, "calendar-data"),
            Proto::CardDav => (CARDDAV, "address-data"),
        };
        let mut out = Vec::new();
        for r in &ms.responses {
            if r.status.is_some_and(|s| s == 404) {
                continue; // deleted since listing
            }
            let href = resolve(&coll, &r.href)?.path().to_string();
            let Some(data) = r.prop(data_prop.0, data_prop.1) else {
                continue;
            };
            if let (Some(tag), Ok(mut map)) = (r.text(DAV, "getetag"), self.etags.lock()) {
                map.insert(href.clone(), tag);
            }
            out.push((href, Bytes::from(data.text.clone().into_bytes())));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok((out, next))
    }

    /// Finds or creates the collection for a source container: tries the
    /// derived name, then the name with `suffix` when a collection of the
    /// wrong kind holds the first.
    #[allow(clippy::too_many_arguments)] // private; each is one MKCOL property
    pub async fn ensure_collection(
        &self,
        ctx: &ImportContext,
        source_id: &str,
        display_name: &str,
        description: Option<&str>,
        color: Option<&str>,
        component: Option<&'static str>,
        suffix: &str,
        create: bool,
    ) -> Result<Option<Url>> {
        let home = ctx
            .call("discover", |auth| async move { self.home(&auth).await })
            .await?;
        let base = crate::names::collection_name(source_id);
        for name in [base.clone(), format!("{base}-{suffix}")] {
            let url = resolve(&home, &format!("{name}/"))?;
            let found = {
                let url = &url;
                ctx.call("propfind", |auth| async move {
                    match self
                        .client
                        .propfind(
                            &auth,
                            url,
                            0,
                            &[
                                "d:resourcetype",
                                "c:supported-calendar-component-set",
                                "card:supported-address-data",
                            ],
                        )
                        .await
                    {
                        // Xandikos answers 207 with a 404 response.
                        Ok((_, ms))
                            if ms.responses.iter().all(|r| {
                                r.status.is_some_and(|s| s == 404) || r.props.is_empty()
                            }) =>
                        {
                            Ok(None)
                        }
                        Ok((a, ms)) => {
                            let mut found = None;
                            for r in &ms.responses {
                                if let Some(c) = self.collection_of(&a, r)? {
                                    found = Some(c);
                                }
                            }
                            Ok(Some(found))
                        }
                        Err(e) if e.kind() == &ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(e),
                    }
                })
                .await?
            };
            match found {
                // Exists and is ours to use.
                Some(Some(c)) if component.is_none_or(|comp| c.supports(comp)) => {
                    if let Ok(mut m) = self.created.lock() {
                        m.insert(c.url.as_str().to_string(), c.clone());
                    }
                    return Ok(Some(c.url));
                }
                // Something else lives there: try the other name.
                Some(_) => continue,
                None if !create => return Ok(None),
                None => {
                    let body = self.mkcol_body(display_name, description, color, component);
                    let method = match self.proto {
                        Proto::CalDav => Method::from_bytes(b"MKCALENDAR").expect("valid"),
                        Proto::CardDav => Method::from_bytes(b"MKCOL").expect("valid"),
                    };
                    let url2 = &url;
                    let method = &method;
                    let body = &body;
                    ctx.call("create_collection", |auth| async move {
                        let a = self
                            .client
                            .send(
                                &auth,
                                method.clone(),
                                url2,
                                &[],
                                Body::xml(body.clone()),
                                None,
                            )
                            .await?;
                        // 405: it appeared meanwhile (a retried request that
                        // did succeed): fine.
                        if a.status.as_u16() == 405 {
                            return Ok(());
                        }
                        self.client.check(method, a).map(|_| ())
                    })
                    .await?;
                    let c = Collection {
                        url: url.clone(),
                        name: None,
                        description: None,
                        color: None,
                        components: component.map(|c| vec![c.to_string()]).unwrap_or_default(),
                        vcard_versions: Vec::new(),
                    };
                    if let Ok(mut m) = self.created.lock() {
                        m.insert(url.as_str().to_string(), c);
                    }
                    return Ok(Some(url));
                }
            }
        }
        Err(Error::invalid_data(format!(
            "no free collection name for `{display_name}` in the home set"
        )))
    }

    fn mkcol_body(
        &self,
        name: &str,
        description: Option<&str>,
        color: Option<&str>,
        component: Option<&str>,
    ) -> String {
        let mut props = format!("<d:displayname>{}</d:displayname>", xml::escape(name));
        match self.proto {
            Proto::CalDav => {
                if let Some(d) = description {
                    props.push_str(&format!(
                        "<c:calendar-description>{}</c:calendar-description>",
                        xml::escape(d)
                    ));
                }
                if let Some(c) = color {
                    props.push_str(&format!(
                        "<ic:calendar-color>{}</ic:calendar-color>",
                        xml::escape(c)
                    ));
                }
                if let Some(comp) = component {
                    props.push_str(&format!(
                        "<c:supported-calendar-component-set><c:comp name=\"{comp}\"/></c:supported-calendar-component-set>"
                    ));
                }
                format!(
                    concat!(
                        r#"<?xml version="1.0" encoding="utf-8"?>"#,
                        r#"<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:ic="http://apple.com/ns/ical/">"#,
                        r#"<d:set><d:prop>{}</d:prop></d:set></c:mkcalendar>"#
                    ),
                    props
                )
            }
            Proto::CardDav => {
                if let Some(d) = description {
                    props.push_str(&format!(
                        "<card:addressbook-description>{}</card:addressbook-description>",
                        xml::escape(d)
                    ));
                }
                format!(
                    concat!(
                        r#"<?xml version="1.0" encoding="utf-8"?>"#,
                        r#"<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">"#,
                        r#"<d:set><d:prop><d:resourcetype><d:collection/><card:addressbook/></d:resourcetype>{}</d:prop></d:set></d:mkcol>"#
                    ),
                    props
                )
            }
        }
    }

    /// PUTs `body` at `coll/name` with `If-None-Match: *`; on 412 applies
    /// the [`OnExisting`] rule. Never creates a second resource.
    pub async fn put(
        &self,
        ctx: &ImportContext,
        coll: &Url,
        name: &str,
        content_type: &'static str,
        body: String,
    ) -> Result<Url> {
        let url = resolve(coll, name)?;
        let body = Bytes::from(body);
        let on_existing = self.config.on_existing;
        let url_ref = &url;
        let body_ref = &body;
        ctx.call("put", |auth| async move {
            let a = self
                .client
                .send(
                    &auth,
                    Method::PUT,
                    url_ref,
                    &[("If-None-Match", "*".to_string())],
                    Body::Bytes {
                        content_type,
                        bytes: body_ref.clone(),
                    },
                    None,
                )
                .await?;
            if a.status.as_u16() != 412 {
                return self.client.check(&Method::PUT, a).map(|_| ());
            }
            if on_existing == OnExisting::Skip {
                return Ok(());
            }
            let a = self
                .client
                .send(
                    &auth,
                    Method::PUT,
                    url_ref,
                    &[],
                    Body::Bytes {
                        content_type,
                        bytes: body_ref.clone(),
                    },
                    None,
                )
                .await?;
            self.client.check(&Method::PUT, a).map(|_| ())
        })
        .await?;
        Ok(url)
    }

    /// Whether a resource exists (HEAD 2xx).
    pub async fn exists(&self, ctx: &ImportContext, url: &Url) -> Result<bool> {
        ctx.call("head", |auth| async move {
            let a = self
                .client
                .send(&auth, Method::HEAD, url, &[], Body::Empty, None)
                .await?;
            match a.status.as_u16() {
                s if (200..300).contains(&s) => Ok(true),
                404 | 410 => Ok(false),
                _ => self.client.check(&Method::HEAD, a).map(|_| false),
            }
        })
        .await
    }
}

/// Decodes a collection cursor.
pub(crate) fn decode_cursor(cursor: &Cursor) -> Result<CollCursor> {
    cursor.decode()
}
