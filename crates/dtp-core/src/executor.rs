//! Idempotent import: every import step runs once per stable key; on a rerun
//! (or after a restart) its stored result comes back instead of a duplicate.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

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
    /// Done in this page, not yet checkpointed.
    New,
}

/// The hasher of the executor's maps: keys are hashed several times per
/// item, and SipHash showed up as a tenth of the driver's time.
pub(crate) type FastHash = foldhash::fast::RandomState;

#[derive(Debug, Default)]
struct State {
    /// Every container result of this data type (few, always kept), by
    /// source id: importers look their container up once per item.
    containers: HashMap<String, (String, Origin), FastHash>,
    /// Item results of the current page (prefetched or new), and results of
    /// other data types' containers, by full key.
    items: HashMap<String, (String, Origin), FastHash>,
    /// Failures of the current page.
    failures: Vec<ItemError>,
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
    /// Source ids of the containers that got their result in this page.
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
        Ok(IdempotentExecutor {
            job,
            data_type,
            store,
            state: Arc::new(Mutex::new(State {
                containers,
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

    /// The job this executor serves.
    pub fn job_id(&self) -> &JobId {
        &self.job
    }

    /// The known result of `key` (containers of this run, items of the
    /// current page), without asking the store.
    pub fn lookup(&self, key: &ImportKey) -> Option<String> {
        let (container, k) = self.slot(key);
        let st = self.lock();
        let map = if container { &st.containers } else { &st.items };
        map.get(k).map(|(v, _)| v.clone())
    }

    /// Whether `key` has a known result (no copy of it).
    fn is_done(&self, key: &ImportKey) -> bool {
        let (container, k) = self.slot(key);
        let st = self.lock();
        let map = if container { &st.containers } else { &st.items };
        map.contains_key(k)
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
    /// a batch call).
    pub fn record(&self, key: &ImportKey, result: impl Into<String>) {
        let (container, k) = self.slot(key);
        let mut st = self.lock();
        let map = if container {
            &mut st.containers
        } else {
            &mut st.items
        };
        map.insert(k.to_string(), (result.into(), Origin::New));
    }

    /// Records an item-level failure obtained outside
    /// [`execute`](Self::execute).
    pub fn record_failure(&self, key: &ImportKey, name: &str, error: &Error) {
        let failure = ItemError::new(key.data_type, key.as_str(), key.source_id(), name, error);
        self.lock().failures.push(failure);
    }

    /// Runs `step` unless `key` already has a result, which is returned
    /// instead. On success the result is recorded. An item-level error is
    /// recorded and `Ok(None)` returned; a job-level error is returned.
    pub async fn execute<F, Fut>(
        &self,
        key: &ImportKey,
        name: &str,
        step: F,
    ) -> Result<Option<String>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String>>,
    {
        if let Some(done) = self.lookup(key) {
            return Ok(Some(done));
        }
        match step().await {
            Ok(result) => {
                self.record(key, result.clone());
                Ok(Some(result))
            }
            Err(e) if e.is_job_level() => Err(e),
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "item failed");
                self.record_failure(key, name, &e);
                Ok(None)
            }
        }
    }

    /// [`execute`](Self::execute) for the driver's own page import: the key
    /// is moved into the page's results and the result is not copied back
    /// to the caller (a few allocations per item less on the hot path).
    pub(crate) async fn execute_once<F, Fut>(
        &self,
        key: ImportKey,
        name: &str,
        step: F,
    ) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String>>,
    {
        if self.is_done(&key) {
            return Ok(());
        }
        match step().await {
            Ok(result) => {
                let (container, _) = self.slot(&key);
                let mut st = self.lock();
                if container {
                    st.containers
                        .insert(key.source_id().to_string(), (result, Origin::New));
                } else {
                    st.items.insert(key.into_string(), (result, Origin::New));
                }
                Ok(())
            }
            Err(e) if e.is_job_level() => Err(e),
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "item failed");
                self.record_failure(&key, name, &e);
                Ok(())
            }
        }
    }

    /// Loads the stored results of `keys` (the items of the next page).
    pub(crate) async fn prefetch(&self, keys: &[String]) -> Result<()> {
        let found = self.store.results(&self.job, keys).await?;
        let mut st = self.lock();
        for (k, v) in found {
            st.items.insert(k, (v, Origin::Stored));
        }
        Ok(())
    }

    /// Takes what the current page produced and forgets its item results.
    /// `item_keys` are the page's item keys, in page order: the outcome says
    /// for each how its result came to be known. Keys and results are moved
    /// out of the map, not copied, and each key is hashed once.
    pub(crate) fn drain_page(&self, item_keys: &[String]) -> PageOutcome {
        let mut st = self.lock();
        let mut out = PageOutcome {
            item_origins: item_keys
                .iter()
                .map(|k| st.items.get(k.as_str()).map(|(_, o)| *o))
                .collect(),
            ..PageOutcome::default()
        };
        out.results.reserve(st.items.len());
        for (k, (v, origin)) in st.items.drain() {
            if origin == Origin::New {
                out.results.push((k, v));
            }
        }
        for (source_id, (v, origin)) in st.containers.iter_mut() {
            if *origin == Origin::New {
                out.new_containers.insert(source_id.clone());
                let key = ImportKey::container(self.data_type, source_id).into_string();
                out.results.push((key, v.clone()));
                *origin = Origin::Stored;
            }
        }
        out.failures = std::mem::take(&mut st.failures);
        out
    }
}
