//! Idempotent import: every import step runs once per stable key; on a rerun
//! (or after a restart) its stored result comes back instead of a duplicate.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::spi::{ImportStatus, Imported};
use crate::store::{ItemError, JobId, JobStore};
use crate::{DataType, Error, Result};

/// Whether a key names a container or an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A container (album, calendar, folder, …).
    Container,
    /// An item.
    Item,
}

/// A stable idempotency key: data type, kind and source id.
///
/// ```
/// use dtp_core::{DataType, ImportKey};
/// let k = ImportKey::item(DataType::Contacts, "c-17");
/// assert_eq!(k.as_str(), "contacts/i/c-17");
/// assert_eq!(k.source_id(), "c-17");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ImportKey {
    text: String,
    data_type: DataType,
    kind: KeyKind,
    prefix_len: usize,
}

impl ImportKey {
    fn build(data_type: DataType, kind: KeyKind, source_id: &str) -> Self {
        let tag = match kind {
            KeyKind::Container => "c",
            KeyKind::Item => "i",
        };
        let mut text = String::with_capacity(data_type.as_str().len() + 3 + source_id.len());
        text.push_str(data_type.as_str());
        text.push('/');
        text.push_str(tag);
        text.push('/');
        let prefix_len = text.len();
        text.push_str(source_id);
        ImportKey {
            text,
            data_type,
            kind,
            prefix_len,
        }
    }

    /// The key of a container.
    pub fn container(data_type: DataType, source_id: &str) -> Self {
        Self::build(data_type, KeyKind::Container, source_id)
    }

    /// The key of an item.
    pub fn item(data_type: DataType, source_id: &str) -> Self {
        Self::build(data_type, KeyKind::Item, source_id)
    }

    /// The prefix every container key of `data_type` starts with.
    pub fn container_prefix(data_type: DataType) -> String {
        format!("{}/c/", data_type.as_str())
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key as stored, without a copy.
    pub(crate) fn into_string(self) -> String {
        self.text
    }

    /// The source id inside the key.
    pub fn source_id(&self) -> &str {
        &self.text[self.prefix_len..]
    }

    /// The data type.
    pub fn data_type(&self) -> DataType {
        self.data_type
    }

    /// Container or item.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }
}

impl fmt::Debug for ImportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImportKey({})", self.text)
    }
}

impl fmt::Display for ImportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// How a key's result came to be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Read from the store: done by an earlier run or page.
    Stored,
    /// Done in this page, not yet checkpointed, with what the importer did.
    New(ImportStatus),
}

pub(crate) use crate::hash::FastHash;

#[derive(Debug, Default)]
struct State {
    /// Every container result of this data type (few, always kept), by
    /// source id: importers look their container up once per item.
    containers: HashMap<String, (String, Origin), FastHash>,
    /// Item results of the current page, by full key: every key of the page
    /// is entered by [`IdempotentExecutor::prefetch`] (`None` until it has a
    /// result), so the key strings are allocated once per item and moved on
    /// into the checkpoint. Also results of other data types' containers.
    items: HashMap<String, Option<(String, Origin)>, FastHash>,
    /// Failures of the current page (records skipped as unsupported too:
    /// their kind tells them apart).
    failures: Vec<ItemError>,
    /// Containers of this data type that failed, in this run or an earlier
    /// one, by source id: their items fail with the container's reason.
    failed_containers: HashMap<String, ItemError, FastHash>,
    /// Where item keys are built for lookups: the driver looks every item's
    /// key up a few times per page, and allocating it each time showed in
    /// the benchmarks.
    scratch: String,
}

impl State {
    /// The key of item `source_id`, built in `scratch`.
    fn item_key<'s>(scratch: &'s mut String, data_type: DataType, source_id: &str) -> &'s str {
        scratch.clear();
        scratch.push_str(data_type.as_str());
        scratch.push_str("/i/");
        scratch.push_str(source_id);
        scratch
    }
}

/// Runs import steps at most once per [`ImportKey`].
///
/// Results of the current page are kept in memory and written to the
/// [`JobStore`] with the page's checkpoint, in one transaction; container
/// results stay in memory for the whole run. Item-level failures are recorded
/// and the run goes on; job-level failures propagate.
#[derive(Clone)]
pub struct IdempotentExecutor {
    job: JobId,
    data_type: DataType,
    store: Arc<dyn JobStore>,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for IdempotentExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotentExecutor")
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}

/// What one page's import left behind, drained at checkpoint.
#[derive(Debug, Default)]
pub(crate) struct PageOutcome {
    /// New results (items and containers) to write with the checkpoint.
    pub results: Vec<(String, String)>,
    pub failures: Vec<ItemError>,
    /// For each of the page's item keys, how its result came to be known.
    pub item_origins: Vec<Option<Origin>>,
    /// Source ids of the containers created in this page.
    pub new_containers: HashSet<String, FastHash>,
}

impl IdempotentExecutor {
    /// An executor for `job`, with the container results of `data_type`
    /// loaded from the store.
    pub async fn load(store: Arc<dyn JobStore>, job: JobId, data_type: DataType) -> Result<Self> {
        let prefix = ImportKey::container_prefix(data_type);
        let containers = store
            .results_with_prefix(&job, &prefix)
            .await?
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_string(), (v, Origin::Stored))))
            .collect();
        let failed_containers = store
            .item_errors(&job)
            .await?
            .into_iter()
            .filter_map(|e| Some((e.key.strip_prefix(&prefix)?.to_string(), e)))
            .collect();
        Ok(IdempotentExecutor {
            job,
            data_type,
            store,
            state: Arc::new(Mutex::new(State {
                containers,
                failed_containers,
                ..State::default()
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the maps half-updated (each update is
        // one insert), so a poisoned lock is safe to keep using.
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Where `key`'s result lives: `(true, source id)` for a container of
    /// this executor's data type, `(false, full key)` otherwise.
    fn slot<'k>(&self, key: &'k ImportKey) -> (bool, &'k str) {
        if key.kind == KeyKind::Container && key.data_type == self.data_type {
            (true, key.source_id())
        } else {
            (false, key.as_str())
        }
    }

    /// The destination id of this data type's container `source_id`, without
    /// building its key.
    pub(crate) fn container_result(&self, source_id: &str) -> Option<String> {
        self.lock()
            .containers
            .get(source_id)
            .map(|(v, _)| v.clone())
    }

    /// Why this data type's container `source_id` failed, if it did (in
    /// this run or an earlier one of the job).
    pub(crate) fn container_failure(&self, source_id: &str) -> Option<ItemError> {
        self.lock().failed_containers.get(source_id).cloned()
    }

    /// The job this executor serves.
    pub fn job_id(&self) -> &JobId {
        &self.job
    }

    /// The known result of `key` (containers of this run, items of the
    /// current page), without asking the store.
    pub fn lookup(&self, key: &ImportKey) -> Option<String> {
        let (container, k) = self.slot(key);
        let st = self.lock();
        let found = if container {
            st.containers.get(k)
        } else {
            st.items.get(k).and_then(Option::as_ref)
        };
        found.map(|(v, _)| v.clone())
    }

    /// The result of `key`, asking the store when it is not in memory.
    pub async fn lookup_stored(&self, key: &ImportKey) -> Result<Option<String>> {
        if let Some(v) = self.lookup(key) {
            return Ok(Some(v));
        }
        let found = self
            .store
            .results(&self.job, std::slice::from_ref(&key.text))
            .await?;
        Ok(found.get(&key.text).cloned())
    }

    /// Records a result obtained outside [`execute`](Self::execute) (e.g. by
    /// a batch call). A plain id means a record written anew.
    pub fn record(&self, key: &ImportKey, result: impl Into<Imported>) {
        let (container, k) = self.slot(key);
        let Imported { id, status } = result.into();
        let entry = (id, Origin::New(status));
        let mut st = self.lock();
        if container {
            st.failed_containers.remove(k);
            st.containers.insert(k.to_string(), entry);
        } else if let Some(slot) = st.items.get_mut(k) {
            *slot = Some(entry);
        } else {
            st.items.insert(k.to_string(), Some(entry));
        }
    }

    /// Records an item-level failure obtained outside
    /// [`execute`](Self::execute). An [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) error
    /// records the record as skipped (this destination cannot hold it), with
    /// the message as the reason.
    pub fn record_failure(&self, key: &ImportKey, name: &str, error: &Error) {
        let failure = ItemError::new(key.data_type, key.as_str(), key.source_id(), name, error);
        let mut st = self.lock();
        if key.kind == KeyKind::Container && key.data_type == self.data_type {
            st.failed_containers
                .insert(key.source_id().to_string(), failure.clone());
        }
        st.failures.push(failure);
    }

    /// Runs `step` unless `key` already has a result, which is returned
    /// instead. On success the result is recorded (a plain id as a record
    /// written anew, an [`Imported`] as it says). An item-level error is
    /// recorded and `Ok(None)` returned; a job-level error is returned.
    pub async fn execute<F, Fut, T>(
        &self,
        key: &ImportKey,
        name: &str,
        step: F,
    ) -> Result<Option<String>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
        T: Into<Imported>,
    {
        if let Some(done) = self.lookup(key) {
            return Ok(Some(done));
        }
        match step().await {
            Ok(result) => {
                let result: Imported = result.into();
                let id = result.id.clone();
                self.record(key, result);
                Ok(Some(id))
            }
            Err(e) if e.is_job_level() => Err(e),
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "item failed");
                self.record_failure(key, name, &e);
                Ok(None)
            }
        }
    }

    /// [`execute`](Self::execute) for the driver's own page import, for an
    /// item of this executor's data type, by source id: its key is only
    /// built (on the stack) to look it up, its entry from
    /// [`prefetch`](Self::prefetch) takes the result, and the result is not
    /// copied back to the caller.
    pub(crate) async fn execute_item<F, Fut>(
        &self,
        source_id: &str,
        name: &str,
        step: F,
    ) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Imported>>,
    {
        {
            let st = &mut *self.lock();
            let k = State::item_key(&mut st.scratch, self.data_type, source_id);
            if matches!(st.items.get(k), Some(Some(_))) {
                return Ok(());
            }
        }
        match step().await {
            Ok(Imported { id, status }) => {
                let entry = Some((id, Origin::New(status)));
                let st = &mut *self.lock();
                let k = State::item_key(&mut st.scratch, self.data_type, source_id);
                if let Some(slot) = st.items.get_mut(k) {
                    *slot = entry;
                } else {
                    st.items.insert(k.to_string(), entry);
                }
                Ok(())
            }
            Err(e) if e.is_job_level() => Err(e),
            Err(e) => {
                let key = ImportKey::item(self.data_type, source_id);
                tracing::warn!(key = %key, error = %e, "item failed");
                self.record_failure(&key, name, &e);
                Ok(())
            }
        }
    }

    /// Loads the stored results of `keys` (the items of the next page).
    /// Every key is entered for the page (without a result if none is
    /// stored), taking ownership of the strings.
    pub(crate) async fn prefetch(&self, keys: Vec<String>) -> Result<()> {
        let mut found = self.store.results(&self.job, &keys).await?;
        let mut st = self.lock();
        st.items.reserve(keys.len());
        for k in keys {
            let stored = if found.is_empty() {
                None
            } else {
                found.remove(&k).map(|v| (v, Origin::Stored))
            };
            match st.items.get_mut(&k) {
                // A key seen twice in one page keeps what it has.
                Some(slot) => {
                    if slot.is_none() {
                        *slot = stored;
                    }
                }
                None => {
                    st.items.insert(k, stored);
                }
            }
        }
        Ok(())
    }

    /// Takes what the current page produced and forgets its item results.
    /// `item_ids` are the source ids of the page's items, in page order: the
    /// outcome says for each how its result came to be known. Keys and
    /// results are moved out of the map, not copied.
    pub(crate) fn drain_page<'a>(&self, item_ids: impl Iterator<Item = &'a str>) -> PageOutcome {
        let mut guard = self.lock();
        let st = &mut *guard;
        let mut out = PageOutcome {
            item_origins: item_ids
                .map(|id| {
                    let k = State::item_key(&mut st.scratch, self.data_type, id);
                    st.items.get(k).and_then(|e| e.as_ref().map(|(_, o)| *o))
                })
                .collect(),
            ..PageOutcome::default()
        };
        out.results.reserve(st.items.len());
        for (k, entry) in st.items.drain() {
            if let Some((v, Origin::New(_))) = entry {
                out.results.push((k, v));
            }
        }
        for (source_id, (v, origin)) in st.containers.iter_mut() {
            if let Origin::New(status) = *origin {
                if status == ImportStatus::Created {
                    out.new_containers.insert(source_id.clone());
                }
                let key = ImportKey::container(self.data_type, source_id).into_string();
                out.results.push((key, v.clone()));
                *origin = Origin::Stored;
            }
        }
        out.failures = std::mem::take(&mut st.failures);
        out
    }
}
