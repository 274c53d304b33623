//! CalDAV (RFC 4791): calendars of events ([`CalendarData`]) and task lists
//! ([`TasksData`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_core::{
    AuthData, Cursor, Error, ExportContext, ExportPage, Exporter, ImportContext, Importer, Result,
};
use dtp_models::DateTimeValue;
use dtp_models::calendar::{Calendar, CalendarData, CalendarObject, Event};
use dtp_models::ical::{parse_icalendar, write_event, write_task};
use dtp_models::props::RawProperty;
use dtp_models::tasks::{Task, TaskList, TasksData};
use url::Url;

use crate::groupware::{CollCursor, Collection, DavConfig, Groupware, Proto, decode_cursor};
use crate::names::{collection_name, resource_name};

const ICS: &str = "text/calendar; charset=utf-8";

/// Marks a `DTSTART` the importer added because the source event had none
/// (RFC 4791 servers such as Radicale reject a `VEVENT` without one); the
/// exporter removes both again, so the round trip is exact.
const NO_DTSTART: &str = "X-DTP-NO-DTSTART";

fn add_placeholder_start(e: &mut Event) {
    if e.start.is_none() {
        e.start = Some(DateTimeValue::Date(
            chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date"),
        ));
        e.properties.push(RawProperty::new(NO_DTSTART, "TRUE"));
    }
}

fn remove_placeholder_start(e: &mut Event) {
    let before = e.properties.len();
    e.properties
        .retain(|p| !p.name.eq_ignore_ascii_case(NO_DTSTART));
    if e.properties.len() != before {
        e.start = None;
    }
}

/// A CalDAV account: exports and imports calendars (events, with recurring
/// series and their overrides as one resource) and task lists (`VTODO`,
/// subtasks via `RELATED-TO`).
///
/// Implements [`Exporter`] and [`Importer`] for both [`CalendarData`] and
/// [`TasksData`]. Container ids are collection URLs; item ids are UIDs.
pub struct CalDav {
    inner: Arc<Groupware>,
    /// Source calendars seen by the importer (for their time zones and
    /// calendar-level properties), by source id.
    calendars: Mutex<HashMap<String, Calendar>>,
}

impl std::fmt::Debug for CalDav {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalDav")
            .field("base", &self.inner.config.base.as_str())
            .finish_non_exhaustive()
    }
}

impl CalDav {
    /// A CalDAV account with `config`.
    pub fn new(config: DavConfig) -> Result<Self> {
        Ok(CalDav {
            inner: Arc::new(Groupware::new(config, Proto::CalDav)?),
            calendars: Mutex::new(HashMap::new()),
        })
    }

    /// The sync token of every collection listed by the last export
    /// (collection URL → token): pass them to
    /// [`DavConfig::with_sync_tokens`] to export only what changed since.
    pub fn sync_tokens(&self) -> HashMap<String, String> {
        self.inner.sync_tokens()
    }

    /// The ETag of every resource exported so far (resource path → ETag).
    pub fn etags(&self) -> HashMap<String, String> {
        self.inner.etags()
    }

    /// The collections of the calendar home that hold `component`
    /// (`VEVENT` or `VTODO`).
    async fn list(&self, auth: &AuthData, component: &str) -> Result<Vec<Collection>> {
        Ok(self
            .inner
            .collections(auth)
            .await?
            .into_iter()
            .filter(|c| c.supports(component))
            .collect())
    }

    /// Reads one page of a collection as calendar objects.
    async fn objects(
        &self,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<(Vec<CalendarObject>, Option<Cursor>)> {
        let cc: CollCursor = decode_cursor(cursor)?;
        let (bodies, next) = self.inner.page(auth, &cc).await?;
        let mut out = Vec::new();
        for (href, body) in bodies {
            let parsed = parse_icalendar(&body, &cc.c).map_err(|e| {
                Error::from(e)
                    .with_service("caldav")
                    .with_item(href.clone())
            })?;
            for w in &parsed.warnings {
                tracing::debug!(href = %href, warning = %w, "iCalendar warning");
            }
            out.extend(parsed.value);
        }
        let next = next.map(|n| Cursor::new(&n)).transpose()?;
        Ok((out, next))
    }

    fn root_cursors(colls: &[Collection]) -> Result<Vec<Cursor>> {
        colls
            .iter()
            .map(|c| {
                Cursor::new(&CollCursor {
                    c: c.url.as_str().to_string(),
                    h: None,
                    t: None,
                })
            })
            .collect()
    }

    fn container_url(ctx: &ImportContext, source_id: &str) -> Result<Url> {
        let id = ctx.require_container(source_id)?;
        Url::parse(&id).map_err(|e| Error::internal(format!("bad container id: {e}")))
    }
}

fn name_of(c: &Collection) -> String {
    c.name
        .clone()
        .unwrap_or_else(|| collection_name(c.url.path()))
}

#[async_trait]
impl Exporter<CalendarData> for CalDav {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<CalendarData>> {
        if cursor.is_root() {
            let colls = self.list(auth, "VEVENT").await?;
            let mut page = ExportPage::new();
            for c in &colls {
                let mut cal = Calendar::new(c.url.as_str(), name_of(c));
                cal.description = c.description.clone();
                cal.color = c.color.clone();
                page = page.with_container(cal);
            }
            for cur in Self::root_cursors(&colls)? {
                page = page.with_next(cur);
            }
            return Ok(page);
        }
        let (objects, next) = self.objects(auth, cursor).await?;
        let mut page = ExportPage::new();
        for obj in objects {
            for mut e in obj.events {
                // The resource's VTIMEZONEs travel with its event (a custom
                // or Windows TZID means nothing without its definition).
                e.timezones = obj.calendar.timezones.clone();
                remove_placeholder_start(&mut e);
                for o in &mut e.overrides {
                    remove_placeholder_start(o);
                }
                page = page.with_item(e);
            }
        }
        if let Some(n) = next {
            page = page.with_next(n);
        }
        Ok(page)
    }
}

fn event_uid(e: &Event) -> String {
    if e.uid.is_empty() {
        e.id.clone()
    } else {
        e.uid.clone()
    }
}

#[async_trait]
impl Importer<CalendarData> for CalDav {
    async fn import_container(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        c: &Calendar,
    ) -> Result<dtp_core::Imported> {
        async move {
            if let Ok(mut m) = self.calendars.lock() {
                m.insert(c.id.clone(), c.clone());
            }
            let url = self
                .inner
                .ensure_collection(
                    ctx,
                    &c.id,
                    &c.name,
                    c.description.as_deref(),
                    c.color.as_deref(),
                    Some("VEVENT"),
                    "events",
                    true,
                )
                .await?
                .ok_or_else(|| Error::internal("collection not created"))?;
            Ok(url.to_string())
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        c: &Calendar,
    ) -> Result<Option<String>> {
        if let Ok(mut m) = self.calendars.lock() {
            m.insert(c.id.clone(), c.clone());
        }
        Ok(self
            .inner
            .ensure_collection(
                ctx,
                &c.id,
                &c.name,
                None,
                None,
                Some("VEVENT"),
                "events",
                false,
            )
            .await?
            .map(|u| u.to_string()))
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        event: &Event,
    ) -> Result<dtp_core::Imported> {
        async move {
            let coll = Self::container_url(ctx, &event.calendar_id)?;
            let uid = event_uid(event);
            let mut e = event.clone();
            e.uid = uid.clone();
            add_placeholder_start(&mut e);
            for o in &mut e.overrides {
                add_placeholder_start(o);
            }
            // One resource per series: the overrides travel inside it.
            let mut cal = Calendar::new(event.calendar_id.clone(), "");
            if let Some(src) = self
                .calendars
                .lock()
                .ok()
                .and_then(|m| m.get(&event.calendar_id).cloned())
            {
                cal.timezones = src.timezones;
                cal.properties = src.properties;
            }
            let body = write_event(&cal, &e);
            self.inner
                .put(ctx, &coll, &resource_name(&uid, "ics"), ICS, body)
                .await
                .map_err(|err| err.with_item(event.id.clone()))?;
            Ok(uid)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        event: &Event,
    ) -> Result<Option<String>> {
        let Ok(coll) = Self::container_url(ctx, &event.calendar_id) else {
            return Ok(None);
        };
        let uid = event_uid(event);
        let url = crate::client::resolve(&coll, &resource_name(&uid, "ics"))?;
        Ok(self.inner.exists(ctx, &url).await?.then_some(uid))
    }
}

fn task_uid(t: &Task) -> String {
    t.uid.clone().unwrap_or_else(|| t.id.clone())
}

#[async_trait]
impl Exporter<TasksData> for CalDav {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<TasksData>> {
        if cursor.is_root() {
            let colls = self.list(auth, "VTODO").await?;
            let mut page = ExportPage::new();
            for c in &colls {
                let mut list = TaskList::new(c.url.as_str(), name_of(c));
                list.description = c.description.clone();
                list.color = c.color.clone();
                page = page.with_container(list);
            }
            for cur in Self::root_cursors(&colls)? {
                page = page.with_next(cur);
            }
            return Ok(page);
        }
        // A task list is one page, parents before their subtasks: an
        // importer must see a parent before the tasks that point to it, and
        // which task is whose parent is only known after fetching them.
        let mut tasks = Vec::new();
        let mut cursor = cursor.clone();
        loop {
            let (objects, next) = self.objects(auth, &cursor).await?;
            tasks.extend(objects.into_iter().flat_map(|o| o.tasks));
            match next {
                Some(n) => cursor = n,
                None => break,
            }
        }
        let mut page = ExportPage::new();
        for t in parents_first(tasks) {
            page = page.with_item(t);
        }
        Ok(page)
    }
}

#[async_trait]
impl Importer<TasksData> for CalDav {
    async fn import_container(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        l: &TaskList,
    ) -> Result<dtp_core::Imported> {
        async move {
            let url = self
                .inner
                .ensure_collection(
                    ctx,
                    &l.id,
                    &l.title,
                    l.description.as_deref(),
                    l.color.as_deref(),
                    Some("VTODO"),
                    "tasks",
                    true,
                )
                .await?
                .ok_or_else(|| Error::internal("collection not created"))?;
            Ok(url.to_string())
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        l: &TaskList,
    ) -> Result<Option<String>> {
        Ok(self
            .inner
            .ensure_collection(
                ctx,
                &l.id,
                &l.title,
                None,
                None,
                Some("VTODO"),
                "tasks",
                false,
            )
            .await?
            .map(|u| u.to_string()))
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        task: &Task,
    ) -> Result<dtp_core::Imported> {
        async move {
            let coll = Self::container_url(ctx, &task.list_id)?;
            let uid = task_uid(task);
            let mut t = task.clone();
            t.uid = Some(uid.clone());
            if let Some(parent) = &task.parent_id {
                // The parent's UID at the destination (its import result).
                t.parent_id = Some(ctx.item_id(parent).await?.unwrap_or_else(|| parent.clone()));
            }
            let body = write_task(None, &t);
            self.inner
                .put(ctx, &coll, &resource_name(&uid, "ics"), ICS, body)
                .await
                .map_err(|err| err.with_item(task.id.clone()))?;
            Ok(uid)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        task: &Task,
    ) -> Result<Option<String>> {
        let Ok(coll) = Self::container_url(ctx, &task.list_id) else {
            return Ok(None);
        };
        let uid = task_uid(task);
        let url = crate::client::resolve(&coll, &resource_name(&uid, "ics"))?;
        Ok(self.inner.exists(ctx, &url).await?.then_some(uid))
    }
}

/// Orders tasks so that every parent comes before its subtasks (cycles and
/// missing parents keep their order).
fn parents_first(tasks: Vec<Task>) -> Vec<Task> {
    let ids: std::collections::HashSet<String> = tasks.iter().map(|t| t.id.clone()).collect();
    let mut placed: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut pending = tasks;
    let mut out = Vec::with_capacity(pending.len());
    loop {
        let before = pending.len();
        let (ready, rest): (Vec<Task>, Vec<Task>) = pending.into_iter().partition(|t| {
            t.parent_id
                .as_ref()
                .is_none_or(|p| !ids.contains(p) || placed.contains(p))
        });
        for t in &ready {
            placed.insert(t.id.clone());
        }
        out.extend(ready);
        pending = rest;
        if pending.is_empty() || pending.len() == before {
            out.extend(pending);
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first() {
        let t = |id: &str, parent: Option<&str>| {
            let t = Task::new(id, "l", id);
            match parent {
                Some(p) => t.with_parent(p),
                None => t,
            }
        };
        let out = parents_first(vec![
            t("c", Some("b")),
            t("b", Some("a")),
            t("a", None),
            t("x", Some("missing")),
        ]);
        let ids: Vec<&str> = out.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a", "x", "b", "c"]);
    }
}
