//! Microsoft To Do (`/me/todo/lists`, `/me/todo/lists/{id}/tasks`).
//!
//! **Export**: every task list, then its tasks page by page (following
//! `@odata.nextLink`) with `$expand=checklistItems,linkedResources`. A task
//! maps to the model with its title, body (notes), status (`notStarted` →
//! `NEEDS-ACTION`, `inProgress` → `IN-PROCESS`, `completed` → `COMPLETED`,
//! `waitingOnOthers` / `deferred` → `X-MS-WAITINGONOTHERS` /
//! `X-MS-DEFERRED`), importance (`high` → priority 1, `low` → 9), due and
//! start dates, reminder (an absolute alarm), completion time, categories
//! and recurrence (as an `RRULE`). Each **checklist item** becomes a subtask
//! (its `parent_id` is the task), after its task on the same page, with its
//! title, checked state (`COMPLETED` / `NEEDS-ACTION`) and `checkedDateTime`.
//!
//! **Import**: lists into the list of the same name (created when missing);
//! tasks with `POST …/tasks`, carrying a `linkedResource` whose
//! `externalId` is the source key (the UID, else the source id): before
//! creating, the importer looks the key up among the list's tasks (listed
//! once per list and cached), so reruns and resumed runs never duplicate.
//! A subtask becomes a checklist item of its parent's task (a sub-subtask
//! goes to the top task: To Do does not nest further); checklist items are
//! matched by title under their task.
//!
//! **Lost on the way through To Do** (no field for them): `PERCENT-COMPLETE`,
//! `DTSTAMP`, `SEQUENCE`, unknown properties; and for subtasks everything
//! but title, checked state and completion time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_core::{
    AuthData, Cursor, Error, ErrorKind, ExportContext, ExportPage, Exporter, ImportContext,
    Importer, RateLimit, Result,
};
use dtp_models::DateTimeValue;
use dtp_models::calendar::Alarm;
use dtp_models::calendar::Status;
use dtp_models::tasks::{Task, TaskList, TasksData};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::calendar::{
    GraphDateTime, Recurrence, from_graph_time, graph_to_rrule, rrule_to_graph, to_graph_time,
};
use crate::client::{GraphClient, Page, segment};
use crate::ext;

/// Tasks per page.
const PAGE: usize = 50;

/// The `applicationName` of the linked resource carrying the source key.
pub const APP_NAME: &str = "dtp-rs";

/// Separates a task id and a checklist item id in a subtask's id.
const SUB: &str = "|checklist|";

/// Microsoft To Do through Graph: exporter and importer.
#[derive(Debug, Clone)]
pub struct MicrosoftTodo {
    client: GraphClient,
    /// Source key → task id, per destination list (loaded once per list).
    keys: Arc<Mutex<HashMap<String, HashMap<String, String>>>>,
    loading: Arc<tokio::sync::Mutex<()>>,
}

impl MicrosoftTodo {
    /// To Do of the account `client` acts for.
    pub fn new(client: GraphClient) -> Self {
        MicrosoftTodo {
            client,
            keys: Arc::default(),
            loading: Arc::default(),
        }
    }

    fn tasks_url(&self, list: &str) -> Result<url::Url> {
        let q = ext::query(&[
            ("$top", &PAGE.to_string()),
            ("$expand", "checklistItems,linkedResources"),
        ]);
        self.client
            .url(&format!("me/todo/lists/{}/tasks?{q}", segment(list)))
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum TodoCursor {
    Lists {
        url: String,
    },
    Tasks {
        list: String,
        url: String,
        /// The default list, emitted with its first page only when it holds
        /// tasks (every account has one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pending: Option<TaskList>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphList {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    wellknown_list_name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Body {
    content: Option<String>,
    content_type: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct LinkedResource {
    #[serde(skip_serializing_if = "Option::is_none")]
    application_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ChecklistItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_checked: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checked_date_time: Option<String>,
}

/// A Graph `todoTask` (<https://learn.microsoft.com/en-us/graph/api/resources/todotask>).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct GraphTask {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Body>,
    #[serde(skip_serializing_if = "Option::is_none")]
    importance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_reminder_on: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reminder_date_time: Option<GraphDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    due_date_time: Option<GraphDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_date_time: Option<GraphDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_date_time: Option<GraphDateTime>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    categories: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recurrence: Option<Recurrence>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    linked_resources: Vec<LinkedResource>,
    #[serde(skip_serializing)]
    checklist_items: Vec<ChecklistItem>,
}

/// The key an imported task carries.
pub fn source_key(t: &Task) -> String {
    match &t.uid {
        Some(u) if !u.is_empty() => format!("uid:{u}"),
        _ => format!("src:{}", t.id),
    }
}

fn status_to_graph(s: Option<&Status>) -> &'static str {
    match s {
        Some(Status::InProcess) => "inProgress",
        Some(Status::Completed) => "completed",
        Some(Status::Other(o)) if o == "X-MS-WAITINGONOTHERS" => "waitingOnOthers",
        Some(Status::Other(o)) if o == "X-MS-DEFERRED" => "deferred",
        _ => "notStarted",
    }
}

fn status_from_graph(s: Option<&str>) -> Option<Status> {
    Some(match s? {
        "inProgress" => Status::InProcess,
        "completed" => Status::Completed,
        "waitingOnOthers" => Status::Other("X-MS-WAITINGONOTHERS".into()),
        "deferred" => Status::Other("X-MS-DEFERRED".into()),
        _ => Status::NeedsAction,
    })
}

/// A due/start date: To Do keeps dates; a time of day is kept when given.
fn time_from_graph(g: &GraphDateTime) -> Option<DateTimeValue> {
    let t = crate::calendar::parse_graph_time(&g.date_time)?;
    if t.time() == chrono::NaiveTime::MIN {
        return Some(DateTimeValue::Date(t.date()));
    }
    from_graph_time(g, false, Some(&g.time_zone))
}

fn utc_from_graph(g: &GraphDateTime) -> Option<DateTimeValue> {
    let t = crate::calendar::parse_graph_time(&g.date_time)?;
    Some(DateTimeValue::Utc(crate::tz::local_to_utc(
        t,
        &g.time_zone,
    )?))
}

fn utc_to_graph(v: &DateTimeValue) -> GraphDateTime {
    to_graph_time(v).0
}

fn trigger_time(a: &Alarm) -> Option<chrono::NaiveDateTime> {
    let t = a.trigger.as_deref()?;
    chrono::NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%SZ").ok()
}

fn task_body(t: &Task) -> GraphTask {
    let mut g = GraphTask {
        title: Some(t.title.clone()),
        status: Some(status_to_graph(t.status.as_ref()).into()),
        importance: Some(
            match t.priority {
                Some(1..=4) => "high",
                Some(6..=9) => "low",
                _ => "normal",
            }
            .into(),
        ),
        categories: t.categories.clone(),
        ..GraphTask::default()
    };
    if let Some(n) = &t.notes {
        g.body = Some(Body {
            content: Some(n.clone()),
            content_type: Some("text".into()),
        });
    }
    g.due_date_time = t.due.as_ref().map(utc_to_graph);
    g.start_date_time = t.start.as_ref().map(utc_to_graph);
    g.completed_date_time = t.completed.as_ref().map(utc_to_graph);
    if let Some(at) = t.alarms.iter().find_map(trigger_time) {
        g.is_reminder_on = Some(true);
        g.reminder_date_time = Some(utc_to_graph(&DateTimeValue::Utc(at)));
    } else {
        g.is_reminder_on = Some(false);
    }
    if let (Some(rule), 1) = (t.rrule.first(), t.rrule.len()) {
        let start = t.due.as_ref().or(t.start.as_ref()).map(|d| d.date());
        if let Some(s) = start {
            g.recurrence = rrule_to_graph(rule, s, None);
        }
    }
    g.linked_resources = vec![LinkedResource {
        application_name: Some(APP_NAME.into()),
        display_name: Some(t.title.clone()),
        external_id: Some(source_key(t)),
        web_url: None,
    }];
    g
}

fn to_model(g: &GraphTask, list: &str) -> Result<(Task, Vec<Task>)> {
    let id =
        g.id.clone()
            .ok_or_else(|| Error::invalid_data("a To Do task without an id"))?;
    let mut t = Task::new(id.clone(), list, g.title.clone().unwrap_or_default());
    t.notes = g
        .body
        .as_ref()
        .and_then(|b| b.content.clone())
        .filter(|c| !c.trim().is_empty());
    t.status = status_from_graph(g.status.as_deref());
    t.priority = match g.importance.as_deref() {
        Some("high") => Some(1),
        Some("low") => Some(9),
        _ => None,
    };
    t.due = g.due_date_time.as_ref().and_then(time_from_graph);
    t.start = g.start_date_time.as_ref().and_then(time_from_graph);
    t.completed = g.completed_date_time.as_ref().and_then(utc_from_graph);
    if g.is_reminder_on == Some(true)
        && let Some(DateTimeValue::Utc(at)) = g.reminder_date_time.as_ref().and_then(utc_from_graph)
    {
        t.alarms.push(Alarm::new(
            "DISPLAY",
            at.format("%Y%m%dT%H%M%SZ").to_string(),
        ));
    }
    t.categories = g.categories.clone();
    if let Some(r) = &g.recurrence
        && let Some(rule) = graph_to_rrule(r)
    {
        t.rrule = vec![rule];
    }
    if let Some(key) = g
        .linked_resources
        .iter()
        .find(|l| l.application_name.as_deref() == Some(APP_NAME))
        .and_then(|l| l.external_id.as_deref())
        && let Some(uid) = key.strip_prefix("uid:")
    {
        t.uid = Some(uid.to_string());
    }
    let mut subs = Vec::new();
    for c in &g.checklist_items {
        let Some(cid) = &c.id else { continue };
        let mut s = Task::new(
            format!("{id}{SUB}{cid}"),
            list,
            c.display_name.clone().unwrap_or_default(),
        )
        .with_parent(id.clone());
        if c.is_checked == Some(true) {
            s.status = Some(Status::Completed);
            s.completed = c
                .checked_date_time
                .as_deref()
                .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                .map(|d| DateTimeValue::Utc(d.naive_utc()));
        } else {
            s.status = Some(Status::NeedsAction);
        }
        subs.push(s);
    }
    Ok((t, subs))
}

#[async_trait]
impl Exporter<TasksData> for MicrosoftTodo {
    async fn export(
        &self,
        _ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<TasksData>> {
        let c = if cursor.is_root() {
            TodoCursor::Lists {
                url: self.client.url("me/todo/lists?%24top=50")?.to_string(),
            }
        } else {
            cursor.decode()?
        };
        match c {
            TodoCursor::Lists { url } => {
                let url = self.client.link(&url)?;
                let page: Page<GraphList> = self.client.get_page(auth, url, None).await?;
                let mut out = ExportPage::new();
                for l in page.value {
                    if l.wellknown_list_name.as_deref() == Some("flaggedEmails") {
                        continue; // a view of flagged mail, not tasks of their own
                    }
                    let model = TaskList::new(l.id.clone(), l.display_name.unwrap_or_default());
                    let pending = if l.wellknown_list_name.as_deref() == Some("defaultList") {
                        Some(model)
                    } else {
                        out = out.with_container(model);
                        None
                    };
                    out = out.with_next(Cursor::new(&TodoCursor::Tasks {
                        url: self.tasks_url(&l.id)?.to_string(),
                        list: l.id,
                        pending,
                    })?);
                }
                if let Some(n) = page.next_link {
                    out = out.with_next(Cursor::new(&TodoCursor::Lists { url: n })?);
                }
                Ok(out)
            }
            TodoCursor::Tasks { list, url, pending } => {
                let url = self.client.link(&url)?;
                let page: Page<GraphTask> = match self.client.get_page(auth, url, None).await {
                    Ok(p) => p,
                    Err(e) if *e.kind() == ErrorKind::NotFound => return Ok(ExportPage::new()),
                    Err(e) => return Err(e),
                };
                let mut out = ExportPage::new();
                if let Some(l) = pending
                    && (!page.value.is_empty() || page.next_link.is_some())
                {
                    out = out.with_container(l);
                }
                for g in &page.value {
                    let (t, subs) = to_model(g, &list)?;
                    out = out.with_item(t);
                    for s in subs {
                        out = out.with_item(s);
                    }
                }
                if let Some(n) = page.next_link {
                    out = out.with_next(Cursor::new(&TodoCursor::Tasks {
                        list,
                        url: n,
                        pending: None,
                    })?);
                }
                Ok(out)
            }
        }
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        Some(self.client.outlook_rate_limit())
    }
}

impl MicrosoftTodo {
    async fn find_list(&self, auth: &AuthData, name: &str) -> Result<Option<String>> {
        let url = self.client.url("me/todo/lists?%24top=50")?;
        let all: Vec<GraphList> = self.client.get_all(auth, url, None).await?;
        Ok(all
            .into_iter()
            .find(|l| l.display_name.as_deref() == Some(name))
            .map(|l| l.id))
    }

    /// The task carrying `key` in `list`, from the per-list cache (loaded on
    /// first use).
    async fn find_task(&self, auth: &AuthData, list: &str, key: &str) -> Result<Option<String>> {
        let cached = |this: &Self| -> Option<Option<String>> {
            let keys = this.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.get(list).map(|m| m.get(key).cloned())
        };
        if let Some(found) = cached(self) {
            return Ok(found);
        }
        let _one = self.loading.lock().await;
        if let Some(found) = cached(self) {
            return Ok(found);
        }
        let q = ext::query(&[
            ("$top", "100"),
            ("$expand", "linkedResources"),
            ("$select", "id"),
        ]);
        let url = self
            .client
            .url(&format!("me/todo/lists/{}/tasks?{q}", segment(list)))?;
        let all: Vec<GraphTask> = self.client.get_all(auth, url, None).await?;
        let mut map = HashMap::new();
        for t in all {
            let Some(id) = t.id else { continue };
            for l in t.linked_resources {
                if l.application_name.as_deref() == Some(APP_NAME)
                    && let Some(k) = l.external_id
                {
                    map.insert(k, id.clone());
                }
            }
        }
        let found = map.get(key).cloned();
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(list.to_string(), map);
        Ok(found)
    }

    async fn find_checklist_item(
        &self,
        auth: &AuthData,
        list: &str,
        task: &str,
        title: &str,
    ) -> Result<Option<String>> {
        let url = self.client.url(&format!(
            "me/todo/lists/{}/tasks/{}/checklistItems",
            segment(list),
            segment(task)
        ))?;
        let all: Vec<ChecklistItem> = self.client.get_all(auth, url, None).await?;
        Ok(all
            .into_iter()
            .find(|c| c.display_name.as_deref() == Some(title))
            .and_then(|c| c.id)
            .map(|cid| format!("{task}{SUB}{cid}")))
    }

    fn list_of(&self, ctx: &ImportContext, t: &Task) -> Result<String> {
        ctx.require_container(&t.list_id)
    }

    /// The destination task a subtask goes under (the top task when the
    /// parent is itself a checklist item).
    async fn parent_task(&self, ctx: &ImportContext, t: &Task) -> Result<Option<String>> {
        let Some(parent) = &t.parent_id else {
            return Ok(None);
        };
        // The parent may still be in flight on the same page.
        for _ in 0..100 {
            if let Some(id) = ctx.item_id(parent).await? {
                let top = id.split(SUB).next().unwrap_or(&id).to_string();
                return Ok(Some(top));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(Error::invalid_data(format!(
            "the parent `{parent}` of task `{}` was not imported",
            t.id
        )))
    }
}

#[async_trait]
impl Importer<TasksData> for MicrosoftTodo {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        list: &TaskList,
    ) -> Result<dtp_core::Imported> {
        async move {
            if let Some(id) = self.find_list(auth, &list.title).await? {
                return Ok(id);
            }
            let created: Value = self
                .client
                .post_json(
                    auth,
                    self.client.url("me/todo/lists")?,
                    &json!({"displayName": list.title}),
                )
                .await?;
            created["id"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::invalid_data("Graph created a list without an id"))
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        task: &Task,
    ) -> Result<dtp_core::Imported> {
        async move {
            let list = self.list_of(ctx, task)?;
            if let Some(parent) = self.parent_task(ctx, task).await? {
                if let Some(id) = self
                    .find_checklist_item(auth, &list, &parent, &task.title)
                    .await?
                {
                    return Ok(id);
                }
                let mut body = json!({
                    "displayName": task.title,
                    "isChecked": task.status == Some(Status::Completed),
                });
                if let Some(DateTimeValue::Utc(c)) = &task.completed {
                    body["checkedDateTime"] =
                        Value::from(c.format("%Y-%m-%dT%H:%M:%SZ").to_string());
                }
                let url = self.client.url(&format!(
                    "me/todo/lists/{}/tasks/{}/checklistItems",
                    segment(&list),
                    segment(&parent)
                ))?;
                let created: ChecklistItem = self.client.post_json(auth, url, &body).await?;
                let cid = created.id.ok_or_else(|| {
                    Error::invalid_data("Graph created a checklist item without an id")
                })?;
                return Ok(format!("{parent}{SUB}{cid}"));
            }
            let key = source_key(task);
            if let Some(id) = self.find_task(auth, &list, &key).await? {
                return Ok(id);
            }
            let url = self
                .client
                .url(&format!("me/todo/lists/{}/tasks", segment(&list)))?;
            let created: GraphTask = self.client.post_json(auth, url, &task_body(task)).await?;
            let id = created
                .id
                .ok_or_else(|| Error::invalid_data("Graph created a task without an id"))?;
            self.keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(list)
                .or_default()
                .insert(key, id.clone());
            Ok(id)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        _ctx: &ImportContext,
        auth: &AuthData,
        list: &TaskList,
    ) -> Result<Option<String>> {
        self.find_list(auth, &list.title).await
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        task: &Task,
    ) -> Result<Option<String>> {
        let list = self.list_of(ctx, task)?;
        if let Some(parent) = self.parent_task(ctx, task).await? {
            return self
                .find_checklist_item(auth, &list, &parent, &task.title)
                .await;
        }
        // A crashed run may have created it after the cache was loaded.
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&list);
        self.find_task(auth, &list, &source_key(task)).await
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        Some(self.client.outlook_rate_limit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_task_with_checklist_maps() {
        let g: GraphTask =
            serde_json::from_value(crate::test_fixture!("me_todo_lists_tasks.item")).unwrap();
        let (t, subs) = to_model(&g, "l").unwrap();
        assert_eq!(t.uid.as_deref(), Some("move@example.org"));
        assert_eq!(t.status, Some(Status::InProcess));
        assert_eq!(t.priority, Some(1));
        assert_eq!(
            t.due,
            Some(DateTimeValue::Date(
                chrono::NaiveDate::from_ymd_opt(2024, 4, 30).unwrap()
            ))
        );
        assert_eq!(t.alarms[0].trigger.as_deref(), Some("20240429T080000Z"));
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].parent_id.as_deref(), Some("AAMkT="));
        assert_eq!(subs[0].status, Some(Status::Completed));
        let back = task_body(&t);
        assert_eq!(back.status.as_deref(), Some("inProgress"));
        assert_eq!(back.importance.as_deref(), Some("high"));
        assert_eq!(
            back.due_date_time.unwrap().date_time,
            "2024-04-30T00:00:00.0000000"
        );
        assert_eq!(
            back.linked_resources[0].external_id.as_deref(),
            Some("uid:move@example.org")
        );
    }
}
