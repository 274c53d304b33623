//! In-memory services: an exporter over generated or fixed data, and an
//! importer that records exactly what it received.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use dtp_core::{
    AuthData, ByteStream, Cursor, DataModel, Error, ExportContext, ExportPage, Exporter,
    ImportContext, Importer, MediaRef, Record, Result,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sample::{DatasetSpec, SampleBytes, SampleModel, sample_media_bytes};

const CHUNK: usize = 64 * 1024;

/// A fixed dataset: containers, items grouped under their first container,
/// and the bytes behind media keys that are not generated.
#[derive(Debug, Clone)]
pub struct Dataset<M: DataModel> {
    /// Containers, in export order.
    pub containers: Vec<M::Container>,
    /// Items, in export order.
    pub items: Vec<M::Item>,
    /// Bytes for media keys (other keys must be test-kit generated).
    pub media: HashMap<String, Bytes>,
}

impl<M: SampleModel> Dataset<M> {
    /// Materializes a generated dataset (for small specs).
    pub fn generate(spec: &DatasetSpec) -> Self {
        let containers = (0..spec.containers)
            .map(|c| M::sample_container(spec, c))
            .collect();
        let items = (0..spec.containers)
            .flat_map(|c| (0..spec.items_per_container).map(move |i| (c, i)))
            .map(|(c, i)| M::sample_item(spec, c, i))
            .collect();
        Dataset {
            containers,
            items,
            media: HashMap::new(),
        }
    }
}

enum Source<M: DataModel> {
    Generated(DatasetSpec),
    Fixed {
        containers: Vec<M::Container>,
        /// Items per container index.
        items: Vec<Vec<M::Item>>,
        media: HashMap<String, Bytes>,
        page_size: usize,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t")]
enum MemCursor {
    #[serde(rename = "c")]
    Containers { offset: usize },
    #[serde(rename = "i")]
    Items { container: usize, offset: usize },
}

/// An exporter over generated or fixed data. Generated data is never held in
/// memory: a million items cost nothing until exported.
///
/// ```
/// use dtp_models::contacts::ContactsData;
/// use dtp_testkit::{DatasetSpec, MemoryExporter};
/// let exporter = MemoryExporter::<ContactsData>::generated(DatasetSpec::new(3, 10));
/// assert_eq!(exporter.total_items(), 30);
/// ```
pub struct MemoryExporter<M: DataModel> {
    source: Source<M>,
}

impl<M: SampleModel> MemoryExporter<M> {
    /// Exports data generated from `spec`.
    pub fn generated(spec: DatasetSpec) -> Self {
        MemoryExporter {
            source: Source::Generated(spec),
        }
    }

    /// Exports a fixed dataset, `page_size` records per page. Items go under
    /// their first container; items without one are dropped from the export
    /// (a dataset must link every item).
    pub fn fixed(dataset: Dataset<M>, page_size: usize) -> Self {
        let index: HashMap<String, usize> = dataset
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.source_id().to_string(), i))
            .collect();
        let mut items = vec![Vec::new(); dataset.containers.len()];
        for item in dataset.items {
            if let Some(i) = M::container_refs(&item).first().and_then(|c| index.get(*c)) {
                items[*i].push(item);
            }
        }
        MemoryExporter {
            source: Source::Fixed {
                containers: dataset.containers,
                items,
                media: dataset.media,
                page_size: page_size.max(1),
            },
        }
    }

    /// Items this exporter will export in all.
    pub fn total_items(&self) -> usize {
        match &self.source {
            Source::Generated(spec) => spec.total_items(),
            Source::Fixed { items, .. } => items.iter().map(Vec::len).sum(),
        }
    }

    /// Every container and item, materialized (for comparisons in tests).
    pub fn dataset(&self) -> Dataset<M> {
        match &self.source {
            Source::Generated(spec) => Dataset::generate(spec),
            Source::Fixed {
                containers,
                items,
                media,
                ..
            } => Dataset {
                containers: containers.clone(),
                items: items.iter().flatten().cloned().collect(),
                media: media.clone(),
            },
        }
    }

    fn page_size(&self) -> usize {
        match &self.source {
            Source::Generated(spec) => spec.page_size,
            Source::Fixed { page_size, .. } => *page_size,
        }
    }

    fn container_count(&self) -> usize {
        match &self.source {
            Source::Generated(spec) => spec.containers,
            Source::Fixed { containers, .. } => containers.len(),
        }
    }

    fn items_in(&self, container: usize) -> usize {
        match &self.source {
            Source::Generated(spec) => spec.items_per_container,
            Source::Fixed { items, .. } => items.get(container).map_or(0, Vec::len),
        }
    }

    fn container(&self, i: usize) -> M::Container {
        match &self.source {
            Source::Generated(spec) => M::sample_container(spec, i),
            Source::Fixed { containers, .. } => containers[i].clone(),
        }
    }

    fn item(&self, c: usize, i: usize) -> M::Item {
        match &self.source {
            Source::Generated(spec) => M::sample_item(spec, c, i),
            Source::Fixed { items, .. } => items[c][i].clone(),
        }
    }

    /// The bytes behind `media`, if this exporter has them.
    pub fn media_bytes(&self, media: &MediaRef) -> Option<SampleBytes> {
        if let Source::Fixed { media: fixed, .. } = &self.source
            && let Some(b) = fixed.get(&media.key)
        {
            return Some(SampleBytes::Whole(b.clone()));
        }
        sample_media_bytes(&media.key)
    }
}

/// Streams `bytes` in chunks of 64 KiB, generating each on demand.
pub(crate) fn stream_bytes(bytes: SampleBytes) -> ByteStream {
    let len = bytes.len();
    futures::stream::unfold(0u64, move |offset| {
        let bytes = bytes.clone();
        async move {
            if offset >= len {
                return None;
            }
            let chunk = bytes.chunk(offset, CHUNK);
            let next = offset + chunk.len() as u64;
            Some((Ok(chunk), next))
        }
    })
    .boxed()
}

#[async_trait]
impl<M: SampleModel> Exporter<M> for MemoryExporter<M> {
    async fn export(
        &self,
        _ctx: &ExportContext,
        _auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<M>> {
        let page_size = self.page_size();
        let at = if cursor.is_root() {
            MemCursor::Containers { offset: 0 }
        } else {
            cursor.decode()?
        };
        let mut page = ExportPage::new();
        match at {
            MemCursor::Containers { offset } => {
                let end = (offset + page_size).min(self.container_count());
                for c in offset..end {
                    page.containers.push(self.container(c));
                    if self.items_in(c) > 0 {
                        page.next.push(Cursor::new(&MemCursor::Items {
                            container: c,
                            offset: 0,
                        })?);
                    }
                }
                if end < self.container_count() {
                    page.next
                        .push(Cursor::new(&MemCursor::Containers { offset: end })?);
                }
            }
            MemCursor::Items { container, offset } => {
                if container >= self.container_count() {
                    return Err(Error::invalid_data(format!(
                        "cursor names container {container}, which does not exist"
                    )));
                }
                let total = self.items_in(container);
                let end = (offset + page_size).min(total);
                page.items
                    .extend((offset..end).map(|i| self.item(container, i)));
                if end < total {
                    page.next.push(Cursor::new(&MemCursor::Items {
                        container,
                        offset: end,
                    })?);
                }
            }
        }
        Ok(page)
    }

    async fn open_media(
        &self,
        _ctx: &ExportContext,
        _auth: &AuthData,
        media: &MediaRef,
    ) -> Result<ByteStream> {
        let bytes = self.media_bytes(media).ok_or_else(|| {
            Error::not_found(format!("no bytes behind media key `{}`", media.key))
        })?;
        Ok(stream_bytes(bytes))
    }
}

/// An item as the in-memory destination received it.
#[derive(Debug)]
pub struct ImportedItem<M: DataModel> {
    /// The id the destination gave it.
    pub new_id: String,
    /// The item, as exported.
    pub item: M::Item,
    /// Destination ids of its containers.
    pub container_ids: Vec<String>,
    /// Lower-case hex SHA-256 of the media bytes received, if any.
    pub media_sha256: Option<String>,
    /// Number of media bytes received.
    pub media_len: u64,
}

impl<M: DataModel> Clone for ImportedItem<M> {
    fn clone(&self) -> Self {
        ImportedItem {
            new_id: self.new_id.clone(),
            item: self.item.clone(),
            container_ids: self.container_ids.clone(),
            media_sha256: self.media_sha256.clone(),
            media_len: self.media_len,
        }
    }
}

struct DestState<M: DataModel> {
    containers: Vec<(String, M::Container)>,
    items: Vec<ImportedItem<M>>,
    by_source_container: HashMap<String, String>,
    by_source_item: HashMap<String, String>,
    item_creates: u64,
    container_creates: u64,
    next_id: u64,
}

/// What the in-memory destination holds. Cheap to clone (shared).
pub struct Destination<M: DataModel> {
    state: Arc<Mutex<DestState<M>>>,
    keep: bool,
}

impl<M: DataModel> Clone for Destination<M> {
    fn clone(&self) -> Self {
        Destination {
            state: self.state.clone(),
            keep: self.keep,
        }
    }
}

impl<M: DataModel> Destination<M> {
    fn new(keep: bool) -> Self {
        Destination {
            state: Arc::new(Mutex::new(DestState {
                containers: Vec::new(),
                items: Vec::new(),
                by_source_container: HashMap::new(),
                by_source_item: HashMap::new(),
                item_creates: 0,
                container_creates: 0,
                next_id: 0,
            })),
            keep,
        }
    }

    fn lock(&self) -> MutexGuard<'_, DestState<M>> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Containers created, with their destination ids.
    pub fn containers(&self) -> Vec<(String, M::Container)> {
        self.lock().containers.clone()
    }

    /// Items created.
    pub fn items(&self) -> Vec<ImportedItem<M>> {
        self.lock().items.clone()
    }

    /// How many item creations happened (duplicates included).
    pub fn item_creates(&self) -> u64 {
        self.lock().item_creates
    }

    /// How many container creations happened (duplicates included).
    pub fn container_creates(&self) -> u64 {
        self.lock().container_creates
    }
}

/// The result of comparing a destination with the source dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// Source item ids missing at the destination.
    pub missing: Vec<String>,
    /// Source item ids created more than once.
    pub duplicated: Vec<String>,
    /// Items whose content or container placement differs.
    pub mismatched: Vec<String>,
    /// Source container ids missing or created more than once.
    pub container_problems: Vec<String>,
    /// Items at the destination that the source does not have.
    pub unexpected: Vec<String>,
}

impl Verification {
    /// Whether the destination equals the source.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty()
            && self.duplicated.is_empty()
            && self.mismatched.is_empty()
            && self.container_problems.is_empty()
            && self.unexpected.is_empty()
    }
}

impl<M: SampleModel> Destination<M> {
    /// Compares everything received with `source`: every container and item
    /// exactly once, items equal, placed in the right containers, media bytes
    /// equal to what `exporter` serves.
    pub fn verify(&self, source: &Dataset<M>, exporter: &MemoryExporter<M>) -> Verification
    where
        M::Item: PartialEq,
        M::Container: PartialEq,
    {
        let st = self.lock();
        let mut v = Verification::default();
        let mut containers_by_source: HashMap<&str, Vec<&(String, M::Container)>> = HashMap::new();
        for c in &st.containers {
            containers_by_source
                .entry(c.1.source_id())
                .or_default()
                .push(c);
        }
        let mut new_container_id: HashMap<&str, &str> = HashMap::new();
        for c in &source.containers {
            match containers_by_source.get(c.source_id()).map(Vec::as_slice) {
                Some([one]) if one.1 == *c => {
                    new_container_id.insert(c.source_id(), one.0.as_str());
                }
                Some([_]) => v
                    .container_problems
                    .push(format!("{} differs", c.source_id())),
                Some(many) if many.len() > 1 => v
                    .container_problems
                    .push(format!("{} duplicated", c.source_id())),
                _ => v
                    .container_problems
                    .push(format!("{} missing", c.source_id())),
            }
        }
        let mut items_by_source: BTreeMap<&str, Vec<&ImportedItem<M>>> = BTreeMap::new();
        for it in &st.items {
            items_by_source
                .entry(it.item.source_id())
                .or_default()
                .push(it);
        }
        let mut expected = std::collections::HashSet::new();
        for item in &source.items {
            expected.insert(item.source_id());
            let got = match items_by_source.get(item.source_id()).map(Vec::as_slice) {
                None | Some([]) => {
                    v.missing.push(item.source_id().to_string());
                    continue;
                }
                Some([one]) => *one,
                Some(_) => {
                    v.duplicated.push(item.source_id().to_string());
                    continue;
                }
            };
            let want_containers: Vec<Option<&str>> = M::container_refs(item)
                .iter()
                .map(|c| new_container_id.get(c).copied())
                .collect();
            let got_containers: Vec<Option<&str>> =
                got.container_ids.iter().map(|c| Some(c.as_str())).collect();
            let media_ok = match item.media() {
                None => true,
                Some(m) => match exporter.media_bytes(m) {
                    Some(bytes) => {
                        let mut h = Sha256::new();
                        let mut off = 0;
                        while off < bytes.len() {
                            let chunk = bytes.chunk(off, CHUNK);
                            off += chunk.len() as u64;
                            h.update(&chunk);
                        }
                        got.media_sha256.as_deref() == Some(hex::encode(h.finalize()).as_str())
                            && got.media_len == bytes.len()
                    }
                    None => false,
                },
            };
            if got.item != *item || want_containers != got_containers || !media_ok {
                v.mismatched.push(item.source_id().to_string());
            }
        }
        for id in items_by_source.keys() {
            if !expected.contains(id) {
                v.unexpected.push(id.to_string());
            }
        }
        v
    }
}

/// An importer into memory that records exactly what it received, and (like a
/// real service storing the source UID) can find a record created by an
/// interrupted run.
///
/// ```
/// use dtp_models::tasks::TasksData;
/// use dtp_testkit::MemoryImporter;
/// let importer = MemoryImporter::<TasksData>::new();
/// assert_eq!(importer.destination().item_creates(), 0);
/// ```
pub struct MemoryImporter<M: DataModel> {
    dest: Destination<M>,
}

impl<M: DataModel> Default for MemoryImporter<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: DataModel> MemoryImporter<M> {
    /// An importer into a new, empty destination.
    pub fn new() -> Self {
        MemoryImporter {
            dest: Destination::new(true),
        }
    }

    /// An importer that checks and counts but keeps nothing (for
    /// benchmarks of millions of items).
    pub fn discarding() -> Self {
        MemoryImporter {
            dest: Destination::new(false),
        }
    }

    /// An importer writing into an existing destination (e.g. after a crash).
    pub fn into_destination(dest: Destination<M>) -> Self {
        MemoryImporter { dest }
    }

    /// The destination's contents.
    pub fn destination(&self) -> Destination<M> {
        self.dest.clone()
    }
}

async fn drain_media(ctx: &ImportContext, media: &MediaRef) -> Result<(String, u64)> {
    let mut stream = ctx.open_media(media).await?;
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        len += chunk.len() as u64;
        hasher.update(&chunk);
    }
    let digest = hex::encode(hasher.finalize());
    if let Some(size) = media.size
        && size != len
    {
        return Err(Error::invalid_data(format!(
            "media `{}`: expected {size} bytes, received {len}",
            media.key
        )));
    }
    if let Some(want) = &media.sha256
        && *want != digest
    {
        return Err(Error::invalid_data(format!(
            "media `{}`: SHA-256 mismatch",
            media.key
        )));
    }
    Ok((digest, len))
}

#[async_trait]
impl<M: SampleModel> Importer<M> for MemoryImporter<M> {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        _auth: &AuthData,
        container: &M::Container,
    ) -> Result<dtp_core::Imported> {
        async move {
            let mut st = self.dest.lock();
            st.next_id += 1;
            st.container_creates += 1;
            let id = crate::sample::numbered("dst-c", &[st.next_id as usize]);
            st.by_source_container
                .insert(container.source_id().to_string(), id.clone());
            st.containers.push((id.clone(), container.clone()));
            Ok(id)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        item: &M::Item,
    ) -> Result<dtp_core::Imported> {
        async move {
            let mut container_ids = Vec::new();
            for c in M::container_refs(item) {
                match ctx.container_id(c) {
                    // A discarding importer only checks the order of imports.
                    Some(id) if self.dest.keep => container_ids.push(id),
                    Some(_) => {}
                    None => {
                        return Err(Error::invalid_data(format!(
                            "container `{c}` was not imported"
                        )));
                    }
                }
            }
            for r in M::item_refs(item) {
                if ctx.item_id(r).await?.is_none() {
                    return Err(Error::invalid_data(format!(
                        "referenced item `{r}` was not imported"
                    )));
                }
            }
            let (media_sha256, media_len) = match item.media() {
                Some(m) => {
                    let (h, n) = drain_media(ctx, m).await?;
                    (Some(h), n)
                }
                None => (None, 0),
            };
            let mut st = self.dest.lock();
            st.next_id += 1;
            st.item_creates += 1;
            let id = crate::sample::numbered("dst-i", &[st.next_id as usize]);
            if self.dest.keep {
                st.by_source_item
                    .insert(item.source_id().to_string(), id.clone());
                st.items.push(ImportedItem {
                    new_id: id.clone(),
                    item: item.clone(),
                    container_ids,
                    media_sha256,
                    media_len,
                });
            }
            Ok(id)
        }
        .await
        .map(dtp_core::Imported::from)
    }

    async fn find_existing_container(
        &self,
        _ctx: &ImportContext,
        _auth: &AuthData,
        container: &M::Container,
    ) -> Result<Option<String>> {
        Ok(self
            .dest
            .lock()
            .by_source_container
            .get(container.source_id())
            .cloned())
    }

    async fn find_existing_item(
        &self,
        _ctx: &ImportContext,
        _auth: &AuthData,
        item: &M::Item,
    ) -> Result<Option<String>> {
        Ok(self
            .dest
            .lock()
            .by_source_item
            .get(item.source_id())
            .cloned())
    }
}
