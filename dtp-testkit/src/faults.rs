//! Fault injection: errors on chosen calls, latency, and crashes that stop a
//! run at a chosen point (the test drops the driver's future there).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use dtp_core::store::{
    Checkpoint, ItemError, JobId, JobRecord, JobState, JobStore, NewJob, StopReason, TypeProgress,
};
use dtp_core::{
    AuthData, AuthMode, ByteStream, Cursor, DataModel, DataType, Error, ErrorKind, ExportContext,
    ExportPage, Exporter, ImportContext, Importer, MediaRef, RateLimit, Result, SealedAuth,
};
use tokio::sync::Notify;

/// The calls a fault can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `Exporter::export`.
    Export,
    /// `Exporter::open_media`.
    OpenMedia,
    /// `Importer::import_container`.
    ImportContainer,
    /// `Importer::import_item`.
    ImportItem,
    /// `JobStore::checkpoint`.
    Checkpoint,
}

/// Where a run crashes: at the `nth` call (1-based) of `op`, before the call
/// takes effect or right after it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashPoint {
    /// The call.
    pub op: Op,
    /// Which one (1-based).
    pub nth: u64,
    /// Whether the call takes effect before the crash.
    pub after: bool,
}

#[derive(Debug, Clone)]
struct ErrorRule {
    op: Op,
    first: u64,
    times: u64,
    kind: ErrorKind,
    item_level: bool,
}

#[derive(Debug, Default)]
struct PlanState {
    calls: HashMap<Op, u64>,
    rules: Vec<ErrorRule>,
    crash: Option<CrashPoint>,
    injected: u64,
}

/// What goes wrong, shared by the faulty exporter, importer and store of one
/// test. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    state: Arc<Mutex<PlanState>>,
    latency: Arc<Mutex<Option<Duration>>>,
    crashed: Arc<AtomicBool>,
    crash_notify: Arc<Notify>,
}

enum Decision {
    Proceed,
    Fail(Error),
    CrashBefore,
    CrashAfter,
}

impl FaultPlan {
    /// A plan with no faults.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, PlanState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Calls `first ..= first + times - 1` (1-based) of `op` fail with `kind`.
    pub fn fail(self, op: Op, first: u64, times: u64, kind: ErrorKind) -> Self {
        self.lock().rules.push(ErrorRule {
            op,
            first,
            times,
            kind,
            item_level: false,
        });
        self
    }

    /// Like [`fail`](Self::fail), with the error's scope forced to one item.
    pub fn fail_item(self, op: Op, first: u64, times: u64, kind: ErrorKind) -> Self {
        self.lock().rules.push(ErrorRule {
            op,
            first,
            times,
            kind,
            item_level: true,
        });
        self
    }

    /// Every call waits `latency` first.
    pub fn with_latency(self, latency: Duration) -> Self {
        *self.latency.lock().unwrap_or_else(|p| p.into_inner()) = Some(latency);
        self
    }

    /// Arms a crash (replacing any armed one) and resets the call counts.
    pub fn arm_crash(&self, point: CrashPoint) {
        let mut st = self.lock();
        st.calls.clear();
        st.crash = Some(point);
        self.crashed.store(false, Ordering::SeqCst);
    }

    /// Removes the armed crash and clears a fired one.
    pub fn disarm(&self) {
        self.lock().crash = None;
        self.crashed.store(false, Ordering::SeqCst);
    }

    /// Whether the armed crash fired.
    pub fn has_crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// Resolves when the armed crash fires: `select!` on it and drop the run.
    pub async fn crashed(&self) {
        loop {
            let notified = self.crash_notify.notified();
            if self.has_crashed() {
                return;
            }
            notified.await;
        }
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    /// Calls of `op` so far (since the last [`arm_crash`](Self::arm_crash)).
    pub fn calls(&self, op: Op) -> u64 {
        self.lock().calls.get(&op).copied().unwrap_or(0)
    }

    fn decide(&self, op: Op) -> Decision {
        if self.has_crashed() {
            return Decision::CrashBefore;
        }
        let mut st = self.lock();
        let n = {
            let c = st.calls.entry(op).or_insert(0);
            *c += 1;
            *c
        };
        if let Some(crash) = st.crash
            && crash.op == op
            && crash.nth == n
        {
            st.crash = None;
            return if crash.after {
                Decision::CrashAfter
            } else {
                Decision::CrashBefore
            };
        }
        let hit = st
            .rules
            .iter()
            .find(|r| r.op == op && n >= r.first && n < r.first + r.times)
            .cloned();
        if let Some(rule) = hit {
            st.injected += 1;
            let mut e = Error::new(
                rule.kind.clone(),
                format!("injected fault on call {n} of {op:?}"),
            );
            if rule.item_level {
                e = e.with_scope(dtp_core::ErrorScope::Item);
            }
            return Decision::Fail(e);
        }
        Decision::Proceed
    }

    async fn hang(&self) -> ! {
        self.crashed.store(true, Ordering::SeqCst);
        self.crash_notify.notify_waiters();
        std::future::pending::<()>().await;
        unreachable!("a pending future never resolves")
    }

    /// Runs `call` under this plan for `op`.
    async fn around<T>(
        &self,
        op: Op,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let latency = *self.latency.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = latency {
            tokio::time::sleep(l).await;
        }
        match self.decide(op) {
            Decision::Proceed => call.await,
            Decision::Fail(e) => Err(e),
            Decision::CrashBefore => self.hang().await,
            Decision::CrashAfter => {
                let _ = call.await;
                self.hang().await
            }
        }
    }
}

/// Wraps an exporter with a [`FaultPlan`].
pub struct FaultyExporter<M: DataModel> {
    inner: Arc<dyn Exporter<M>>,
    plan: FaultPlan,
}

impl<M: DataModel> FaultyExporter<M> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Exporter<M>>, plan: FaultPlan) -> Self {
        FaultyExporter { inner, plan }
    }
}

#[async_trait]
impl<M: DataModel> Exporter<M> for FaultyExporter<M> {
    async fn export(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> Result<ExportPage<M>> {
        self.plan
            .around(Op::Export, self.inner.export(ctx, auth, cursor))
            .await
    }

    async fn open_media(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        media: &MediaRef,
    ) -> Result<ByteStream> {
        self.plan
            .around(Op::OpenMedia, self.inner.open_media(ctx, auth, media))
            .await
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        self.inner.rate_limit()
    }
}

/// Wraps an importer with a [`FaultPlan`].
pub struct FaultyImporter<M: DataModel> {
    inner: Arc<dyn Importer<M>>,
    plan: FaultPlan,
}

impl<M: DataModel> FaultyImporter<M> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Importer<M>>, plan: FaultPlan) -> Self {
        FaultyImporter { inner, plan }
    }
}

#[async_trait]
impl<M: DataModel> Importer<M> for FaultyImporter<M> {
    async fn import_container(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        container: &M::Container,
    ) -> Result<dtp_core::Imported> {
        self.plan
            .around(
                Op::ImportContainer,
                self.inner.import_container(ctx, auth, container),
            )
            .await
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &M::Item,
    ) -> Result<dtp_core::Imported> {
        self.plan
            .around(Op::ImportItem, self.inner.import_item(ctx, auth, item))
            .await
    }

    async fn find_existing_container(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        container: &M::Container,
    ) -> Result<Option<String>> {
        self.inner
            .find_existing_container(ctx, auth, container)
            .await
    }

    async fn find_existing_item(
        &self,
        ctx: &ImportContext,
        auth: &AuthData,
        item: &M::Item,
    ) -> Result<Option<String>> {
        self.inner.find_existing_item(ctx, auth, item).await
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        self.inner.rate_limit()
    }
}

/// Wraps a job store; [`Op::Checkpoint`] faults and crashes apply to
/// checkpoints (a crash "after" means the checkpoint committed).
pub struct FaultyStore {
    inner: Arc<dyn JobStore>,
    plan: FaultPlan,
}

impl FaultyStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn JobStore>, plan: FaultPlan) -> Self {
        FaultyStore { inner, plan }
    }
}

#[async_trait]
impl JobStore for FaultyStore {
    async fn create_job(&self, job: NewJob) -> Result<JobRecord> {
        self.inner.create_job(job).await
    }
    async fn job(&self, id: &JobId) -> Result<JobRecord> {
        self.inner.job(id).await
    }
    async fn list_jobs(&self) -> Result<Vec<JobRecord>> {
        self.inner.list_jobs().await
    }
    async fn progress(&self, id: &JobId, data_type: DataType) -> Result<TypeProgress> {
        self.inner.progress(id, data_type).await
    }
    async fn results(&self, id: &JobId, keys: &[String]) -> Result<HashMap<String, String>> {
        self.inner.results(id, keys).await
    }
    async fn results_with_prefix(
        &self,
        id: &JobId,
        prefix: &str,
    ) -> Result<HashMap<String, String>> {
        self.inner.results_with_prefix(id, prefix).await
    }
    async fn put_result(&self, id: &JobId, key: &str, value: &str) -> Result<()> {
        self.inner.put_result(id, key, value).await
    }
    async fn checkpoint(&self, id: &JobId, checkpoint: &Checkpoint) -> Result<()> {
        self.plan
            .around(Op::Checkpoint, self.inner.checkpoint(id, checkpoint))
            .await
    }
    async fn set_state(
        &self,
        id: &JobId,
        state: JobState,
        reason: Option<StopReason>,
    ) -> Result<()> {
        self.inner.set_state(id, state, reason).await
    }
    async fn item_errors(&self, id: &JobId) -> Result<Vec<ItemError>> {
        self.inner.item_errors(id).await
    }
    async fn put_auth(&self, id: &JobId, mode: AuthMode, sealed: &SealedAuth) -> Result<()> {
        self.inner.put_auth(id, mode, sealed).await
    }
    async fn auth(&self, id: &JobId, mode: AuthMode) -> Result<Option<SealedAuth>> {
        self.inner.auth(id, mode).await
    }
}
