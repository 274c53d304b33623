//! Tasks over the Google Tasks API (docs/provider-notes.md G6).
//!
//! **Export** ([`TasksExporter`]): `GET users/@me/lists` (pages) gives the
//! task lists; each list's tasks come from `GET lists/{id}/tasks` with
//! `showCompleted=true&showHidden=true` (so tasks completed in Google's own
//! apps and hidden by "clear completed" are not missed), every page read
//! and emitted as one page, parents before their subtasks and siblings in
//! Google's order (`position`). The default list is exported only when it
//! holds tasks (every account has one). `due` is date-only on Google's side
//! and becomes a date; `completed` and `updated` become UTC times; `hidden`
//! and `links` travel as `X-GOOGLE-TASK-HIDDEN` / `X-GOOGLE-TASK-LINKS`.
//!
//! **Import** ([`TasksImporter`]): lists with `POST users/@me/lists` (a list
//! of the same title is reused, so the default list receives the default
//! list), tasks with `POST lists/{id}/tasks?parent=…&previous=…` one at a
//! time in page order, so that hierarchy (`parent`) and order (`previous`,
//! the last sibling created before) are kept; `parent` and `position` in
//! the body are read-only on Google's side. A due time is reduced to its
//! date (Google cannot store a time). Google Tasks have no field an importer
//! could mark, so an existing task is recognised by its content (title,
//! notes, status, due date, parent) and claimed by at most one source task per job:
//! reruns and resumed runs add nothing, identical tasks stay distinct.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use dtp_core::{
    AuthData, Cursor, Error, ExportContext, ExportPage, Exporter, ImportContext, Importer,
    RateLimit, Record, Result,
};
use dtp_models::DateTimeValue;
use dtp_models::calendar::Status;
use dtp_models::props::RawProperty;
use dtp_models::tasks::{Task, TaskList, TasksData};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::{Api, GoogleClient, Request};
use crate::limits::{self, Side};

/// Property marking a hidden task.
pub const HIDDEN_PROPERTY: &str = "X-GOOGLE-TASK-HIDDEN";
/// Property carrying a task's `links` JSON.
pub const LINKS_PROPERTY: &str = "X-GOOGLE-TASK-LINKS";

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
enum TasksCursor {
    Lists {
        page_token: Option<String>,
        default_id: Option<String>,
    },
    Tasks {
        list: TaskList,
        /// Emit the list only if it holds tasks (the default list).
        only_if_not_empty: bool,
    },
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Page {
    items: Vec<Value>,
    next_page_token: Option<String>,
}

/// Exports task lists and tasks.
#[derive(Debug, Clone)]
pub struct TasksExporter {
    client: GoogleClient,
    page_size: u32,
}

impl TasksExporter {
    /// An exporter over `client`, reading 100 tasks per request.
    pub fn new(client: GoogleClient) -> Self {
        TasksExporter {
            client,
            page_size: 100,
        }
    }

    /// Sets the number of tasks per request (1–100).
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, 100);
        self
    }
}

/// Parents before children, siblings by `position`, otherwise Google's
/// order.
fn parent_first(tasks: Vec<Value>) -> Vec<Value> {
    let ids: HashSet<String> = tasks.iter().filter_map(|t| s(t, "id")).collect();
    let mut children: HashMap<Option<String>, Vec<Value>> = HashMap::new();
    for t in tasks {
        // A parent that is not in the listing (deleted): treat as top level.
        let parent = s(&t, "parent").filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(t);
    }
    for v in children.values_mut() {
        v.sort_by_key(|t| s(t, "position").unwrap_or_default());
    }
    let mut out = Vec::new();
    let mut stack: Vec<Value> = children.remove(&None).unwrap_or_default();
    stack.reverse();
    while let Some(t) = stack.pop() {
        let id = s(&t, "id");
        out.push(t);
        if let Some(mut kids) = children.remove(&id) {
            kids.reverse();
            stack.extend(kids);
        }
    }
    // Cycles cannot happen in Google's data; keep anything left anyway.
    for (_, rest) in children {
        out.extend(rest);
    }
    out
}

fn utc(v: &str) -> Option<DateTimeValue> {
    DateTime::parse_from_rfc3339(v)
        .ok()
        .map(|d| DateTimeValue::Utc(d.with_timezone(&Utc).naive_utc()))
}

/// Maps a Google task to the model.
pub fn task_from_google(t: &Value, list_id: &str) -> Result<Task> {
    let id = s(t, "id").ok_or_else(|| Error::invalid_data("a task without id"))?;
    let mut task = Task::new(&id, list_id, s(t, "title").unwrap_or_default());
    task.notes = s(t, "notes");
    task.status = s(t, "status").map(|x| {
        if x == "completed" {
            Status::Completed
        } else {
            Status::NeedsAction
        }
    });
    task.due = s(t, "due").and_then(|d| {
        DateTime::parse_from_rfc3339(&d)
            .ok()
            .map(|x| DateTimeValue::Date(x.with_timezone(&Utc).date_naive()))
    });
    task.completed = s(t, "completed").and_then(|c| utc(&c));
    task.last_modified = s(t, "updated").and_then(|c| utc(&c));
    task.parent_id = s(t, "parent");
    task.position = s(t, "position");
    if t.get("hidden").and_then(Value::as_bool) == Some(true) {
        task.properties
            .push(RawProperty::new(HIDDEN_PROPERTY, "TRUE"));
    }
    if let Some(l) = t
        .get("links")
        .filter(|l| l.as_array().is_some_and(|a| !a.is_empty()))
    {
        task.properties
            .push(RawProperty::text(LINKS_PROPERTY, &l.to_string()));
    }
    Ok(task)
}

fn due_to_google(d: &DateTimeValue) -> String {
    let date: NaiveDate = d.date();
    format!("{}T00:00:00.000Z", date.format("%Y-%m-%d"))
}

/// The `tasks.insert` body for `t` (hierarchy and order go in the query).
pub fn task_to_google(t: &Task) -> Value {
    let mut g = json!({"title": t.title});
    if let Some(n) = &t.notes {
        g["notes"] = json!(n);
    }
    let completed = matches!(t.status, Some(Status::Completed));
    g["status"] = json!(if completed {
        "completed"
    } else {
        "needsAction"
    });
    if let Some(d) = &t.due {
        g["due"] = json!(due_to_google(d));
    }
    if completed && let Some(DateTimeValue::Utc(c)) = &t.completed {
        g["completed"] = json!(format!("{}Z", c.format("%Y-%m-%dT%H:%M:%S%.3f")));
    }
    g
}

#[async_trait]
impl Exporter<TasksData> for TasksExporter {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<TasksData>> {
        let cur = if cursor.is_root() {
            let default: Value = self
                .client
                .json(auth, Request::get(Api::Tasks, "users/@me/lists/@default"))
                .await?;
            TasksCursor::Lists {
                page_token: None,
                default_id: s(&default, "id"),
            }
        } else {
            cursor.decode()?
        };
        match cur {
            TasksCursor::Lists {
                page_token,
                default_id,
            } => {
                let page: Page = self
                    .client
                    .json(
                        auth,
                        Request::get(Api::Tasks, "users/@me/lists")
                            .query("maxResults", "100")
                            .query_opt("pageToken", page_token.as_deref()),
                    )
                    .await?;
                let mut out = ExportPage::new();
                for l in &page.items {
                    let Some(id) = s(l, "id") else { continue };
                    let list = TaskList::new(&id, s(l, "title").unwrap_or_default());
                    let is_default = default_id.as_deref() == Some(id.as_str());
                    if !is_default {
                        out = out.with_container(list.clone());
                    }
                    out = out.with_next(Cursor::new(&TasksCursor::Tasks {
                        list,
                        only_if_not_empty: is_default,
                    })?);
                }
                if let Some(t) = page.next_page_token.filter(|t| !t.is_empty()) {
                    out = out.with_next(Cursor::new(&TasksCursor::Lists {
                        page_token: Some(t),
                        default_id,
                    })?);
                }
                Ok(out)
            }
            TasksCursor::Tasks {
                list,
                only_if_not_empty,
            } => {
                let mut all = Vec::new();
                let mut token: Option<String> = None;
                loop {
                    let page: Page = match self
                        .client
                        .json(
                            auth,
                            Request::get(Api::Tasks, format!("lists/{}/tasks", enc(&list.id)))
                                .query("showCompleted", "true")
                                .query("showHidden", "true")
                                .query("showDeleted", "false")
                                .query("maxResults", self.page_size.to_string())
                                .query_opt("pageToken", token.as_deref()),
                        )
                        .await
                    {
                        // The list vanished since it was listed.
                        Err(e) if *e.kind() == dtp_core::ErrorKind::NotFound => {
                            return Ok(ExportPage::new());
                        }
                        other => other?,
                    };
                    all.extend(page.items);
                    match page.next_page_token.filter(|t| !t.is_empty()) {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
                let mut out = ExportPage::new();
                if !(only_if_not_empty && all.is_empty()) {
                    out = out.with_container(list.clone());
                }
                for t in parent_first(all) {
                    if t.get("deleted").and_then(Value::as_bool) == Some(true) {
                        continue;
                    }
                    out = out.with_item(task_from_google(&t, &list.id)?);
                }
                Ok(out)
            }
        }
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        let c = self.client.config();
        c.rate_limits
            .then(|| limits::rate_limit(Api::Tasks, Side::Export, &c.account, 0))
    }
}

// ---------------------------------------------------------------- import

#[derive(Default)]
struct State {
    /// Destination lists loaded: list id → its tasks (id, fingerprint).
    lists: HashMap<String, Vec<(String, String)>>,
    /// (job, destination task id) → the source task it stands for: each
    /// destination task stands for one source task per job.
    claimed: HashMap<(String, String), String>,
    /// (list, parent) → the last sibling created, for `previous`.
    last_sibling: HashMap<(String, Option<String>), String>,
}

/// Imports task lists and tasks.
#[derive(Clone)]
pub struct TasksImporter {
    client: GoogleClient,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for TasksImporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TasksImporter")
    }
}

fn fingerprint(
    title: &str,
    notes: Option<&str>,
    completed: bool,
    due: Option<String>,
    parent: Option<&str>,
) -> String {
    json!([title, notes, completed, due, parent]).to_string()
}

fn fingerprint_google(t: &Value) -> String {
    fingerprint(
        &s(t, "title").unwrap_or_default(),
        s(t, "notes").as_deref(),
        s(t, "status").as_deref() == Some("completed"),
        s(t, "due").map(|d| d.get(..10).unwrap_or(&d).to_string()),
        s(t, "parent").as_deref(),
    )
}

impl TasksImporter {
    /// An importer over `client`.
    pub fn new(client: GoogleClient) -> Self {
        TasksImporter {
            client,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    async fn list_named(&self, auth: &AuthData, title: &str) -> Result<Option<String>> {
        let mut token: Option<String> = None;
        loop {
            let page: Page = self
                .client
                .json(
                    auth,
                    Request::get(Api::Tasks, "users/@me/lists")
                        .query("maxResults", "100")
                        .query_opt("pageToken", token.as_deref()),
                )
                .await?;
            if let Some(l) = page
                .items
                .iter()
                .find(|l| s(l, "title").as_deref() == Some(title))
            {
                return Ok(s(l, "id"));
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(None),
            }
        }
    }

    /// The destination tasks of `list` (loaded once per importer).
    async fn load(&self, auth: &AuthData, state: &mut State, list: &str) -> Result<()> {
        if state.lists.contains_key(list) {
            return Ok(());
        }
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page: Page = self
                .client
                .json(
                    auth,
                    Request::get(Api::Tasks, format!("lists/{}/tasks", enc(list)))
                        .query("showCompleted", "true")
                        .query("showHidden", "true")
                        .query("maxResults", "100")
                        .query_opt("pageToken", token.as_deref()),
                )
                .await?;
            for t in &page.items {
                if let Some(id) = s(t, "id") {
                    found.push((id, fingerprint_google(t)));
                }
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        state.lists.insert(list.to_string(), found);
        Ok(())
    }

    async fn destinations(ctx: &ImportContext, t: &Task) -> Result<(String, Option<String>)> {
        let list = ctx.require_container(&t.list_id)?;
        let parent = match &t.parent_id {
            None => None,
            Some(p) => Some(parent_destination(ctx, p).await?),
        };
        Ok((list, parent))
    }

    /// An unclaimed destination task with fingerprint `fp`, or the one this
    /// job already gave to `source`.
    fn find(state: &State, job: &str, source: &str, list: &str, fp: &str) -> Option<String> {
        let tasks = state.lists.get(list)?;
        tasks
            .iter()
            .find(|(id, f)| {
                f == fp
                    && state
                        .claimed
                        .get(&(job.to_string(), id.clone()))
                        .map(String::as_str)
                        == Some(source)
            })
            .or_else(|| {
                tasks.iter().find(|(id, f)| {
                    f == fp && !state.claimed.contains_key(&(job.to_string(), id.clone()))
                })
            })
            .map(|(id, _)| id.clone())
    }
}

/// The destination id of parent `p`; it may still be in flight on the same
/// page (the default import runs items concurrently), so wait briefly.
async fn parent_destination(ctx: &ImportContext, p: &str) -> Result<String> {
    for _ in 0..100 {
        if let Some(id) = ctx.item_id(p).await? {
            return Ok(id);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(Error::invalid_data(format!(
        "parent task `{p}` was not imported"
    )))
}

fn task_fingerprint(t: &Task, parent: Option<&str>) -> String {
    fingerprint(
        &t.title,
        t.notes.as_deref(),
        matches!(t.status, Some(Status::Completed)),
        t.due
            .as_ref()
            .map(|d| d.date().format("%Y-%m-%d").to_string()),
        parent,
    )
}

#[async_trait]
impl Importer<TasksData> for TasksImporter {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        l: &TaskList,
    ) -> Result<dtp_core::Imported> {
        async move {
            if let Some(id) = self.list_named(auth, &l.title).await? {
                return Ok(id);
            }
            let created: Value = self
                .client
                .json(
                    auth,
                    Request::post(Api::Tasks, "users/@me/lists")
                        .json(&json!({"title": l.title}))?,
                )
                .await?;
            s(&created, "id").ok_or_else(|| Error::invalid_data("tasklists.insert returned no id"))
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        l: &TaskList,
    ) -> Result<Option<String>> {
        self.list_named(auth, &l.title).await
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        t: &Task,
    ) -> Result<dtp_core::Imported> {
        async move {
            let (list, parent) = Self::destinations(ctx, t).await?;
            let fp = task_fingerprint(t, parent.as_deref());
            let job = ctx.job_id().to_string();
            let mut st = self.state.lock().await;
            self.load(auth, &mut st, &list).await?;
            if let Some(id) = Self::find(&st, &job, t.source_id(), &list, &fp) {
                st.claimed
                    .insert((job, id.clone()), t.source_id().to_string());
                st.last_sibling.insert((list, parent), id.clone());
                return Ok(id);
            }
            let previous = st
                .last_sibling
                .get(&(list.clone(), parent.clone()))
                .cloned();
            let created: Value = self
                .client
                .json(
                    auth,
                    Request::post(Api::Tasks, format!("lists/{}/tasks", enc(&list)))
                        .query_opt("parent", parent.clone())
                        .query_opt("previous", previous)
                        .json(&task_to_google(t))?,
                )
                .await
                .inspect_err(|e| {
                    // Google may have created it before the answer was lost: read
                    // the list again on the retry instead of creating twice.
                    if *e.kind() == dtp_core::ErrorKind::Transient {
                        st.lists.remove(&list);
                    }
                })?;
            let id = s(&created, "id")
                .ok_or_else(|| Error::invalid_data("tasks.insert returned no id"))?;
            st.claimed
                .insert((job, id.clone()), t.source_id().to_string());
            if let Some(v) = st.lists.get_mut(&list) {
                v.push((id.clone(), fingerprint_google(&created)));
            }
            st.last_sibling.insert((list, parent), id.clone());
            Ok(id)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        t: &Task,
    ) -> Result<Option<String>> {
        let (list, parent) = Self::destinations(ctx, t).await?;
        let fp = task_fingerprint(t, parent.as_deref());
        let mut st = self.state.lock().await;
        // What a crashed run created is on the server: read the list again.
        st.lists.remove(&list);
        self.load(auth, &mut st, &list).await?;
        let job = ctx.job_id().to_string();
        let found = Self::find(&st, &job, t.source_id(), &list, &fp);
        if let Some(id) = &found {
            st.claimed
                .insert((job, id.clone()), t.source_id().to_string());
            st.last_sibling.insert((list, parent), id.clone());
        }
        Ok(found)
    }

    /// One task at a time, in page order (parents first, siblings in
    /// order), so that `previous` keeps the order.
    async fn import_page(&self, ctx: &ImportContext, page: &ExportPage<TasksData>) -> Result<()> {
        let containers_only = ExportPage::<TasksData>::of(page.containers.clone(), Vec::new());
        dtp_core::import_page_default(self, ctx, &containers_only).await?;
        let mut seen = HashSet::new();
        for t in &page.items {
            if !seen.insert(t.source_id()) {
                continue;
            }
            let key = ctx.item_key(t.source_id());
            ctx.executor()
                .execute(&key, t.display_name(), || async {
                    if ctx.is_recovering() {
                        let found = ctx
                            .call("find_existing_item", |auth| async move {
                                self.find_existing_item(ctx, &auth, t).await
                            })
                            .await?;
                        if let Some(id) = found {
                            return Ok(id);
                        }
                    }
                    ctx.call("import_item", |auth| async move {
                        self.import_item(ctx, &auth, t).await
                    })
                    .await
                    .map(|made| made.id)
                })
                .await
                .map_err(|e| e.with_item(t.source_id()))?;
        }
        Ok(())
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        let c = self.client.config();
        c.rate_limits
            .then(|| limits::rate_limit(Api::Tasks, Side::Import, &c.account, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first_and_siblings_in_position_order() {
        let tasks = vec![
            json!({"id": "c2", "parent": "p", "position": "00000000000000000002"}),
            json!({"id": "c1", "parent": "p", "position": "00000000000000000001"}),
            json!({"id": "q", "position": "00000000000000000002"}),
            json!({"id": "p", "position": "00000000000000000001"}),
            json!({"id": "orphan", "parent": "gone", "position": "00000000000000000003"}),
        ];
        let ids: Vec<String> = parent_first(tasks)
            .iter()
            .map(|t| s(t, "id").unwrap())
            .collect();
        assert_eq!(ids, ["p", "c1", "c2", "q", "orphan"]);
    }

    #[test]
    fn due_is_date_only_both_ways() {
        let t = task_from_google(
            &json!({"id": "t", "title": "Pay", "status": "completed", "due": "2025-01-02T00:00:00.000Z",
                "completed": "2025-01-01T09:30:00.000Z", "hidden": true,
                "links": [{"type": "email", "description": "mail", "link": "https://mail.google.com/x"}]}),
            "l",
        )
        .unwrap();
        assert_eq!(
            t.due,
            Some(DateTimeValue::Date(
                NaiveDate::from_ymd_opt(2025, 1, 2).unwrap()
            ))
        );
        assert_eq!(t.properties.len(), 2);
        let g = task_to_google(&t);
        assert_eq!(g["due"], "2025-01-02T00:00:00.000Z");
        assert_eq!(g["status"], "completed");
        assert_eq!(g["completed"], "2025-01-01T09:30:00.000Z");
        // A due time is reduced to its date.
        let mut t2 = Task::new("x", "l", "x");
        t2.due = Some(DateTimeValue::zoned(
            "Europe/Berlin",
            NaiveDate::from_ymd_opt(2025, 3, 4)
                .unwrap()
                .and_hms_opt(18, 0, 0)
                .unwrap(),
        ));
        assert_eq!(task_to_google(&t2)["due"], "2025-03-04T00:00:00.000Z");
    }
}
