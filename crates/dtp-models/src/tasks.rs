//! Tasks, grouped in task lists.

use serde::{Deserialize, Serialize};

use crate::{DataModel, DataType, Record};

/// Marker for the tasks data type.
#[derive(Debug, Clone, Copy, Default)]
pub struct TasksData;

impl DataModel for TasksData {
    const DATA_TYPE: DataType = DataType::Tasks;
    type Container = TaskList;
    type Item = Task;
}

/// A task list.
///
/// ```
/// use dtp_models::tasks::TaskList;
/// let list = TaskList::new("l1", "Groceries");
/// assert_eq!(list.title, "Groceries");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskList {
    /// Source id.
    pub id: String,
    /// Title.
    pub title: String,
}

impl TaskList {
    /// A task list with an id and a title.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        TaskList {
            id: id.into(),
            title: title.into(),
        }
    }
}

impl Record for TaskList {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.title
    }
}

/// A task.
///
/// ```
/// use dtp_models::tasks::Task;
/// let t = Task::new("t1", "l1", "Buy milk").with_parent("t0");
/// assert_eq!(t.parent_id.as_deref(), Some("t0"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Task {
    /// Source id.
    pub id: String,
    /// Source id of the list holding it.
    pub list_id: String,
    /// Title.
    pub title: String,
    /// Source id of the parent task, for subtasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

impl Task {
    /// A task with an id, its list and a title.
    pub fn new(
        id: impl Into<String>,
        list_id: impl Into<String>,
        title: impl Into<String>,
    ) -> Self {
        Task {
            id: id.into(),
            list_id: list_id.into(),
            title: title.into(),
            parent_id: None,
        }
    }

    /// Makes this a subtask of `parent_id`.
    pub fn with_parent(mut self, parent_id: impl Into<String>) -> Self {
        self.parent_id = Some(parent_id.into());
        self
    }
}

impl Record for Task {
    fn source_id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> &str {
        &self.title
    }
}
