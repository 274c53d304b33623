//! A stateful fake of the Google Tasks API, answering with the shapes of the
//! reference pages:
//!
//! * `GET tasks/v1/users/@me/lists` — <https://developers.google.com/tasks/reference/rest/v1/tasklists/list>
//!   (`maxResults` ≤ 1000; the account has its default list "My Tasks");
//! * `GET tasks/v1/users/@me/lists/@default` — <https://developers.google.com/tasks/reference/rest/v1/tasklists/get>;
//! * `POST tasks/v1/users/@me/lists` — <https://developers.google.com/tasks/reference/rest/v1/tasklists/insert>
//!   (`title` required);
//! * `GET tasks/v1/lists/{list}/tasks` — <https://developers.google.com/tasks/reference/rest/v1/tasks/list>
//!   (`maxResults` ≤ 100, default 20; `showCompleted` default true;
//!   `showHidden` default **false**: hidden tasks (completed and cleared)
//!   are left out unless asked for);
//! * `POST tasks/v1/lists/{list}/tasks?parent=&previous=` — <https://developers.google.com/tasks/reference/rest/v1/tasks/insert>
//!   (`parent` must be a task of the list, `previous` a sibling under the
//!   same parent, else 400; `parent`/`position` in the body are read-only
//!   and ignored; `due` keeps only its date: the time part is discarded).

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{FakeAuth, json_response, legacy_error, page_offset, page_token, query_param};

/// One task list of the fake: tasks in display order (each parent followed
/// by its subtasks).
#[derive(Debug, Clone)]
pub struct FakeList {
    /// The id.
    pub id: String,
    /// The title.
    pub title: String,
    /// The tasks, in display order.
    pub tasks: Vec<Value>,
}

/// What the fake holds.
#[derive(Debug, Default)]
pub struct TasksState {
    /// Lists, the default first.
    pub lists: Vec<FakeList>,
    next_id: u64,
}

/// The Tasks fake.
#[derive(Clone)]
pub struct TasksFake {
    state: Arc<Mutex<TasksState>>,
    auth: Arc<FakeAuth>,
}

impl std::fmt::Debug for TasksFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TasksFake")
    }
}

fn bad(m: &str) -> ResponseTemplate {
    json_response(400, legacy_error(400, "global", "invalid", m))
}

fn not_found() -> ResponseTemplate {
    json_response(404, legacy_error(404, "global", "notFound", "Not Found"))
}

fn list_json(l: &FakeList) -> Value {
    json!({"kind": "tasks#taskList", "id": l.id, "etag": "\"l1\"", "title": l.title,
        "updated": "2026-01-01T00:00:00.000Z",
        "selfLink": format!("https://www.googleapis.com/tasks/v1/users/@me/lists/{}", l.id)})
}

impl TasksFake {
    /// Starts a fake accepting `token`, with the default list.
    pub async fn start(token: &str) -> (MockServer, TasksFake) {
        let server = MockServer::start().await;
        let fake = TasksFake {
            state: Arc::new(Mutex::new(TasksState {
                lists: vec![FakeList {
                    id: "MTAxMjM0NTY3ODkwMTIzNDU2Nzg6MDow".into(),
                    title: "My Tasks".into(),
                    tasks: Vec::new(),
                }],
                next_id: 0,
            })),
            auth: Arc::new(FakeAuth::new(token, true)),
        };
        Mock::given(wiremock::matchers::path_regex("^/tasks/v1/"))
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (server, fake)
    }

    /// The token check and fault knobs.
    pub fn auth(&self) -> &FakeAuth {
        &self.auth
    }

    /// Runs `f` on the state.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut TasksState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds a list; returns its id.
    pub fn seed_list(&self, title: &str) -> String {
        self.with_state(|st| st.create_list(title))
    }

    /// Inserts a task as `tasks.insert` would; returns its id.
    pub fn seed_task(
        &self,
        list: &str,
        task: Value,
        parent: Option<&str>,
        previous: Option<&str>,
    ) -> String {
        self.with_state(|st| match st.insert(list, task, parent, previous) {
            Ok(v) => v["id"].as_str().unwrap_or_default().to_string(),
            Err(_) => panic!("seed task refused"),
        })
    }

    /// Marks a task hidden (as "clear completed" does).
    pub fn hide(&self, list: &str, id: &str) {
        self.with_state(|st| {
            if let Some(t) = st
                .lists
                .iter_mut()
                .find(|l| l.id == list)
                .and_then(|l| l.tasks.iter_mut().find(|t| t["id"] == json!(id)))
            {
                t["hidden"] = json!(true);
            }
        })
    }
}

impl TasksState {
    fn create_list(&mut self, title: &str) -> String {
        self.next_id += 1;
        let id = format!("TGlzdC{:08}", self.next_id);
        self.lists.push(FakeList {
            id: id.clone(),
            title: title.into(),
            tasks: Vec::new(),
        });
        id
    }

    fn insert(
        &mut self,
        list: &str,
        body: Value,
        parent: Option<&str>,
        previous: Option<&str>,
    ) -> Result<Value, ResponseTemplate> {
        self.next_id += 1;
        let n = self.next_id;
        let Some(l) = self.lists.iter_mut().find(|l| l.id == list) else {
            return Err(not_found());
        };
        let Value::Object(mut t) = body else {
            return Err(bad("Invalid task."));
        };
        if let Some(p) = parent
            && !l.tasks.iter().any(|x| x["id"] == json!(p))
        {
            return Err(bad("Invalid Value: parent"));
        }
        // Where it goes: after `previous` (and its subtasks), else first
        // under its parent.
        let pos = match previous {
            Some(prev) => {
                let Some(i) = l.tasks.iter().position(|x| x["id"] == json!(prev)) else {
                    return Err(bad("Invalid Value: previous"));
                };
                if l.tasks[i].get("parent").and_then(Value::as_str) != parent {
                    return Err(bad("Invalid Value: previous"));
                }
                let mut j = i + 1;
                while j < l.tasks.len() && l.tasks[j]["parent"] == json!(prev) {
                    j += 1;
                }
                j
            }
            None => match parent {
                Some(p) => {
                    l.tasks
                        .iter()
                        .position(|x| x["id"] == json!(p))
                        .unwrap_or(0)
                        + 1
                }
                None => 0,
            },
        };
        let id = format!("dGFzay{n:010}");
        t.remove("parent");
        t.remove("position");
        t.insert("kind".into(), json!("tasks#task"));
        t.insert("id".into(), json!(id));
        t.insert("etag".into(), json!(format!("\"t{n}\"")));
        t.insert("updated".into(), json!("2026-01-01T00:00:00.000Z"));
        t.insert(
            "selfLink".into(),
            json!(format!(
                "https://www.googleapis.com/tasks/v1/lists/{list}/tasks/{id}"
            )),
        );
        t.insert(
            "webViewLink".into(),
            json!(format!("https://tasks.google.com/task/{id}")),
        );
        t.entry("status").or_insert(json!("needsAction"));
        if let Some(d) = t.get("due").and_then(Value::as_str) {
            let date = d.get(..10).unwrap_or(d).to_string();
            t.insert("due".into(), json!(format!("{date}T00:00:00.000Z")));
        }
        if t["status"] == json!("completed") {
            t.entry("completed")
                .or_insert(json!("2026-01-01T00:00:00.000Z"));
        } else {
            t.remove("completed");
        }
        if let Some(p) = parent {
            t.insert("parent".into(), json!(p));
        }
        l.tasks.insert(pos, Value::Object(t));
        // Positions: sibling order, zero-padded.
        let mut counters: std::collections::HashMap<Option<String>, u64> = Default::default();
        for x in &mut l.tasks {
            let p = x.get("parent").and_then(Value::as_str).map(str::to_string);
            let c = counters.entry(p).or_default();
            x["position"] = json!(format!("{:020}", *c));
            *c += 1;
        }
        Ok(l.tasks[pos].clone())
    }
}

impl Respond for TasksFake {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(r) = self.auth.check(req) {
            return r;
        }
        let path = req.url.path().trim_start_matches("/tasks/v1/").to_string();
        let segs: Vec<String> = path
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let paged = |all: Vec<Value>, scope: &str, size: usize, kind: &str| {
            let offset = match query_param(req, "pageToken") {
                None => 0,
                Some(t) => match page_offset(scope, &t) {
                    Some(o) => o,
                    None => return bad("Invalid page token."),
                },
            };
            let end = (offset + size).min(all.len());
            let mut out = Map::new();
            out.insert("kind".into(), json!(kind));
            out.insert("etag".into(), json!("\"p\""));
            out.insert(
                "items".into(),
                json!(all[offset.min(all.len())..end].to_vec()),
            );
            if end < all.len() {
                out.insert("nextPageToken".into(), json!(page_token(scope, end)));
            }
            json_response(200, Value::Object(out))
        };
        match (req.method.as_str(), seg.as_slice()) {
            ("GET", ["users", "@me", "lists"]) => {
                let size: usize = query_param(req, "maxResults")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1000);
                if !(1..=1000).contains(&size) {
                    return bad("Invalid maxResults.");
                }
                let all = st.lists.iter().map(list_json).collect();
                paged(all, &format!("lists:{size}"), size, "tasks#taskLists")
            }
            ("GET", ["users", "@me", "lists", "@default"]) => {
                json_response(200, list_json(&st.lists[0]))
            }
            ("POST", ["users", "@me", "lists"]) => {
                let Some(title) = body.get("title").and_then(Value::as_str) else {
                    return bad("Missing title.");
                };
                let id = st.create_list(title);
                let l = st.lists.iter().find(|l| l.id == id).cloned();
                json_response(200, l.map(|l| list_json(&l)).unwrap_or(Value::Null))
            }
            ("GET", ["lists", list, "tasks"]) => {
                if let Some(r) = self.auth.throttle(legacy_error(
                    429,
                    "usageLimits",
                    "rateLimitExceeded",
                    "Rate Limit Exceeded",
                )) {
                    return r;
                }
                let size: usize = query_param(req, "maxResults")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(20);
                if !(1..=100).contains(&size) {
                    return bad("Invalid maxResults.");
                }
                let show_completed = query_param(req, "showCompleted").as_deref() != Some("false");
                let show_hidden = query_param(req, "showHidden").as_deref() == Some("true");
                let Some(l) = st.lists.iter().find(|l| l.id == *list) else {
                    return not_found();
                };
                let all: Vec<Value> = l
                    .tasks
                    .iter()
                    .filter(|t| show_hidden || t.get("hidden") != Some(&json!(true)))
                    .filter(|t| show_completed || t["status"] != json!("completed"))
                    .cloned()
                    .collect();
                paged(
                    all,
                    &format!("tasks:{list}:{size}:{show_completed}:{show_hidden}"),
                    size,
                    "tasks#tasks",
                )
            }
            ("POST", ["lists", list, "tasks"]) => {
                let list = list.to_string();
                let parent = query_param(req, "parent");
                let previous = query_param(req, "previous");
                match st.insert(&list, body, parent.as_deref(), previous.as_deref()) {
                    Ok(v) => self.auth.deliver(json_response(200, v)),
                    Err(r) => r,
                }
            }
            _ => not_found(),
        }
    }
}
