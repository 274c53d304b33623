//! The adapter conformance suite: public async functions an adapter crate
//! calls from its own tests, with a [`ConformanceTarget`] that hands out fresh,
//! empty accounts at a faithful fake (or real loopback server) of its service.
//!
//! Each check moves generated sample data *into* the service with the
//! adapter's importer and back *out* with its exporter, through the real
//! driver, and compares what came back with what went in (service-assigned ids
//! aside). A check the service cannot do is skipped with its reason printed.
//!
//! ```no_run
//! # use dtp_testkit::conformance::{self, ConformanceTarget};
//! # async fn demo<T: ConformanceTarget<dtp_models::contacts::ContactsData>>(target: T) {
//! conformance::run_all(&target).await; // panics with a clear message on the first failed check
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use dtp_core::store::{JobId, JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{
    AuthData, ErrorKind, Exporter, Importer, Record, Result, Transfer, TransferDriver,
    TransferOptions, TransferReport,
};
use rand::{Rng, SeedableRng};

use crate::faults::{CrashPoint, FaultPlan, FaultyImporter, Op};
use crate::memory::{MemoryExporter, MemoryImporter};
use crate::sample::{DatasetSpec, SampleModel};

/// One account (mailbox, address book home, folder) at the service under test.
pub struct Account<M: SampleModel> {
    /// Reads from this account.
    pub exporter: Arc<dyn Exporter<M>>,
    /// Writes into this account.
    pub importer: Arc<dyn Importer<M>>,
    /// Credentials for both.
    pub auth: AuthData,
}

impl<M: SampleModel> Account<M> {
    /// An account reached through `exporter` and `importer` with `auth`.
    pub fn new(
        exporter: Arc<dyn Exporter<M>>,
        importer: Arc<dyn Importer<M>>,
        auth: AuthData,
    ) -> Self {
        Account {
            exporter,
            importer,
            auth,
        }
    }
}

/// The checks of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Check {
    /// Import then export many pages over several containers; content equal.
    RoundTrip,
    /// Running a finished job again imports nothing.
    RerunSameJob,
    /// A new job into an account that already holds the data adds nothing
    /// (needs destination-side de-duplication: UIDs, Message-IDs, …).
    RerunNewJob,
    /// Crashes at seeded points, then resume: nothing lost or duplicated.
    CrashResume,
    /// Exporting an empty account yields nothing and completes.
    EmptySource,
    /// Names in many scripts, with emoji, survive.
    UnicodeNames,
    /// The adapter maps its service's errors to the right kinds.
    ErrorMapping,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What the service can do: every check runs unless marked unsupported with a
/// reason.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    skipped: BTreeMap<Check, String>,
    spec: Option<DatasetSpec>,
}

impl Capabilities {
    /// Every check runs.
    pub fn full() -> Self {
        Self::default()
    }

    /// `check` is skipped, for `reason` (printed when the suite runs).
    pub fn without(mut self, check: Check, reason: impl Into<String>) -> Self {
        self.skipped.insert(check, reason.into());
        self
    }

    /// Uses `spec` as the sample dataset (default: 3 containers × 25 items,
    /// pages of 10, 2 KiB media).
    pub fn with_dataset(mut self, spec: DatasetSpec) -> Self {
        self.spec = Some(spec);
        self
    }

    fn skip_reason(&self, check: Check) -> Option<&str> {
        self.skipped.get(&check).map(String::as_str)
    }

    fn spec(&self) -> DatasetSpec {
        self.spec.unwrap_or_else(|| {
            DatasetSpec::new(3, 25)
                .with_page_size(10)
                .with_media_size(2048)
        })
    }
}

/// An account wired to fail, and the error kind the adapter must report.
pub struct ErrorCase<M: SampleModel> {
    /// What is being provoked (for messages).
    pub name: String,
    /// The failing account.
    pub account: Account<M>,
    /// Whether the failure shows when importing (else when exporting).
    pub on_import: bool,
    /// The kind the report must name (as the stop reason or an item
    /// failure). Compared by name: a `RateLimited` wait does not matter.
    pub expected_kind: ErrorKind,
}

/// A service under test.
#[async_trait]
pub trait ConformanceTarget<M: SampleModel>: Send + Sync {
    /// A fresh, empty account.
    async fn fresh_account(&self) -> Result<Account<M>>;

    /// What the service can do.
    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }

    /// Accounts wired to fail in the ways the service fails (429 with
    /// `Retry-After`, 401, quota, malformed answers, …).
    async fn error_cases(&self) -> Result<Vec<ErrorCase<M>>> {
        Ok(Vec::new())
    }

    /// Adjusts a record's JSON before comparison, for fields the service
    /// legitimately rewrites (say which in the implementation).
    fn normalize(&self, value: &mut serde_json::Value) {
        let _ = value;
    }
}

fn skip(check: Check, reason: &str) {
    println!("conformance: skipped {check}: {reason}");
}

/// Says that `check` passed for `M`, so a run lists every check it passed.
fn passed<M: SampleModel>(check: Check) {
    println!("conformance: passed {check} ({})", M::DATA_TYPE);
}

async fn run_job<M: SampleModel>(
    store: &Arc<dyn JobStore>,
    job: &JobId,
    exporter: Arc<dyn Exporter<M>>,
    importer: Arc<dyn Importer<M>>,
    export_auth: AuthData,
    import_auth: AuthData,
) -> TransferReport {
    TransferDriver::new(store.clone())
        .with_options(TransferOptions::default().with_item_concurrency(4))
        .run(
            job,
            Transfer::new(exporter, importer)
                .with_export_auth(export_auth)
                .with_import_auth(import_auth),
        )
        .await
        .unwrap_or_else(|e| panic!("conformance: the driver failed: {e}"))
}

async fn new_job<M: SampleModel>(store: &Arc<dyn JobStore>, what: &str) -> JobId {
    store
        .create_job(NewJob::new(
            format!("conformance:{what}"),
            "conformance",
            [M::DATA_TYPE],
        ))
        .await
        .unwrap_or_else(|e| panic!("conformance: cannot create a job: {e}"))
        .id
}

async fn import_sample<M: SampleModel>(
    account: &Account<M>,
    source: &Arc<MemoryExporter<M>>,
    check: Check,
) -> TransferReport {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job::<M>(&store, "import").await;
    let report = run_job(
        &store,
        &job,
        source.clone(),
        account.importer.clone(),
        AuthData::None,
        account.auth.clone(),
    )
    .await;
    assert_eq!(
        report.state,
        JobState::Complete,
        "{check}: importing the sample did not complete:\n{report}"
    );
    report
}

/// Exports everything in `account` into memory.
async fn export_all<M: SampleModel>(account: &Account<M>, check: Check) -> MemoryImporter<M> {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job::<M>(&store, "export").await;
    let sink = Arc::new(MemoryImporter::<M>::new());
    let report = run_job(
        &store,
        &job,
        account.exporter.clone(),
        sink.clone(),
        account.auth.clone(),
        AuthData::None,
    )
    .await;
    assert_eq!(
        report.state,
        JobState::Complete,
        "{check}: exporting the account did not complete:\n{report}"
    );
    MemoryImporter::into_destination(sink.destination())
}

fn strip_ids(value: &mut serde_json::Value, fields: &[&str]) {
    match value {
        serde_json::Value::Object(map) => {
            for f in fields {
                map.remove(*f);
            }
            for v in map.values_mut() {
                strip_ids(v, fields);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| strip_ids(v, fields)),
        _ => {}
    }
}

/// Everything comparable about a set of containers and items, ids aside:
/// containers as JSON, items as JSON plus the names of their containers and
/// referenced items, sorted.
fn fingerprint<M: SampleModel, T: ConformanceTarget<M> + ?Sized>(
    target: &T,
    containers: &[M::Container],
    items: &[M::Item],
) -> (Vec<String>, Vec<String>) {
    let container_names: HashMap<&str, &str> = containers
        .iter()
        .map(|c| (c.source_id(), c.display_name()))
        .collect();
    let item_names: HashMap<&str, &str> = items
        .iter()
        .map(|i| (i.source_id(), i.display_name()))
        .collect();
    let norm = |v: serde_json::Value| {
        let mut v = v;
        strip_ids(&mut v, M::ID_FIELDS);
        target.normalize(&mut v);
        v
    };
    let mut cs: Vec<String> = containers
        .iter()
        .map(|c| norm(serde_json::to_value(c).unwrap_or_default()).to_string())
        .collect();
    let mut is: Vec<String> = items
        .iter()
        .map(|i| {
            let mut names: Vec<&str> = M::container_refs(i)
                .iter()
                .map(|c| {
                    container_names
                        .get(c)
                        .copied()
                        .unwrap_or("<missing container>")
                })
                .collect();
            names.sort_unstable();
            let refs: Vec<&str> = M::item_refs(i)
                .iter()
                .map(|r| item_names.get(r).copied().unwrap_or("<missing item>"))
                .collect();
            serde_json::json!({
                "record": norm(serde_json::to_value(i).unwrap_or_default()),
                "containers": names,
                "refs": refs,
            })
            .to_string()
        })
        .collect();
    cs.sort_unstable();
    is.sort_unstable();
    (cs, is)
}

fn assert_equivalent<M: SampleModel, T: ConformanceTarget<M> + ?Sized>(
    target: &T,
    check: Check,
    source: &MemoryExporter<M>,
    exported: &MemoryImporter<M>,
) {
    let want = source.dataset();
    let dest = exported.destination();
    let got_containers: Vec<M::Container> = dest.containers().into_iter().map(|(_, c)| c).collect();
    let got_items: Vec<M::Item> = dest.items().into_iter().map(|i| i.item).collect();
    let (wc, wi) = fingerprint(target, &want.containers, &want.items);
    let (gc, gi) = fingerprint(target, &got_containers, &got_items);
    assert_eq!(
        gi.len(),
        wi.len(),
        "{check}: {} items came back, {} went in",
        gi.len(),
        wi.len()
    );
    assert_eq!(gc, wc, "{check}: containers differ");
    if gi != wi {
        let first = gi.iter().zip(&wi).find(|(g, w)| g != w);
        panic!(
            "{check}: items differ; first difference:\n got: {:?}\nwant: {:?}",
            first.map(|p| p.0),
            first.map(|p| p.1)
        );
    }
    // Media bytes came back whole.
    for item in dest.items() {
        if let Some(m) = item.item.media() {
            assert!(
                item.media_sha256.is_some(),
                "{check}: no bytes for media `{}`",
                m.key
            );
            if let Some(size) = m.size {
                assert_eq!(
                    item.media_len, size,
                    "{check}: media `{}` has the wrong length",
                    m.key
                );
            }
        }
    }
}

/// Imports a multi-page, multi-container sample and exports it back: equal.
pub async fn round_trip<M: SampleModel, T: ConformanceTarget<M> + ?Sized>(target: &T) {
    round_trip_with(target, Check::RoundTrip, target.capabilities().spec()).await
}

async fn round_trip_with<M: SampleModel, T: ConformanceTarget<M> + ?Sized>(
    target: &T,
    check: Check,
    spec: DatasetSpec,
) {
    let caps = target.capabilities();
    for needed in [check, Check::RoundTrip] {
        if let Some(reason) = caps.skip_reason(needed) {
            return skip(check, reason);
        }
    }
    let account = target
        .fresh_account()
        .await
        .unwrap_or_else(|e| panic!("{check}: no fresh account: {e}"));
    let source = Arc::new(MemoryExporter::<M>::generated(spec));
    let report = import_sample(&account, &source, check).await;
    assert_eq!(
        report.per_type[&M::DATA_TYPE].created as usize,
        spec.total_items(),
        "{check}: {report}"
    );
    let exported = export_all(&account, check).await;
    assert_equivalent(target, check, &source, &exported);
    passed::<M>(check);
}

/// Running a finished job again imports nothing; with destination-side
/// de-duplication, a new job into the same account adds nothing either.
pub async fn rerun_adds_nothing<M: SampleModel, T: ConformanceTarget<M> + ?Sized>(target: &T) {
    let caps = target.capabilities();
    if let Some(reason) = caps.skip_reason(Check::RerunSameJob) {
        return skip(Check::RerunSameJob, reason);
    }
    let account = target
        .fresh_account()
        .await
        .unwrap_or_else(|e| panic!("rerun: no fresh account: {e}"));
    let source = Arc::new(MemoryExporter::<M>::generated(caps.spec()));
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job::<M>(&store, "rerun").await;
    for _ in 0..2 {
        let r = run_job(
            &store,
            &job,
            source.clone(),
            account.importer.clone(),
            AuthData::None,
            account.auth.clone(),
        )
        .await;
        assert_eq!(r.state, JobState::Complete, "RerunSameJob: {r}");
    }
    let compare = caps.skip_reason(Check::RoundTrip).is_none();
    // Compared before the new job runs, so that a duplicate the new job
    // creates is reported under RerunNewJob, where it belongs.
    if compare {
        let exported = export_all(&account, Check::RerunSameJob).await;
        assert_equivalent(target, Check::RerunSameJob, &source, &exported);
    }
    passed::<M>(Check::RerunSameJob);
    if let Some(reason) = caps.skip_reason(Check::RerunNewJob) {
        skip(Check::RerunNewJob, reason);
    } else {
        let second = new_job::<M>(&store, "rerun-new-job").await;
        let r = run_job(
            &store,
            &second,
            source.clone(),
            account.importer.clone(),
            AuthData::None,
            account.auth.clone(),
        )
        .await;
        assert_eq!(r.state, JobState::Complete, "RerunNewJob: {r}");
        if compare {
            let exported = export_all(&account, Check::RerunNewJob).await;
            assert_equivalent(target, Check::RerunNewJob, &source, &exported);
        }
        passed::<M>(Check::RerunNewJob);
    }
}

/// Crashes an import at seeded random points and resumes each time: the
/// account ends with everything exactly once.
pub async fn crash_resume<M: SampleModel, T: ConformanceTarget<M> + ?Sized>(target: &T) {
    let caps = target.capabilities();
    if let Some(reason) = caps.skip_reason(Check::CrashResume) {
        return skip(Check::CrashResume, reason);
    }
    let spec = caps.spec();
    let account = target
        .fresh_account()
        .await
        .unwrap_or_else(|e| panic!("crash: no fresh account: {e}"));
    let source = Arc::new(MemoryExporter::<M>::generated(spec));
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job::<M>(&store, "crash").await;
    let plan = FaultPlan::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xC0FFEE);
    let importer: Arc<dyn Importer<M>> =
        Arc::new(FaultyImporter::new(account.importer.clone(), plan.clone()));
    let mut crashes = 0;
    for attempt in 0..12 {
        if attempt < 10 {
            // Early calls only, so that each resumed run still reaches its crash.
            let (op, nth) = if crashes == 0 && rng.random_bool(0.2) {
                (
                    Op::ImportContainer,
                    rng.random_range(1..=spec.containers.max(1) as u64),
                )
            } else {
                (
                    Op::ImportItem,
                    rng.random_range(1..=(spec.total_items() as u64 / 12).max(1)),
                )
            };
            plan.arm_crash(CrashPoint {
                op,
                nth,
                after: rng.random_bool(0.5),
            });
        } else {
            plan.disarm();
        }
        let run = run_job(
            &store,
            &job,
            source.clone(),
            importer.clone(),
            AuthData::None,
            account.auth.clone(),
        );
        tokio::select! {
            report = run => {
                assert_eq!(report.state, JobState::Complete, "CrashResume: {report}");
                break;
            }
            _ = plan.crashed() => crashes += 1,
        }
    }
    println!(
        "conformance: CrashResume: {crashes} crashes, then resumed to completion ({} item calls in the last run)",
        plan.calls(Op::ImportItem)
    );
    assert!(
        crashes >= 3,
        "CrashResume: only {crashes} crash points were reached"
    );
    if caps.skip_reason(Check::RoundTrip).is_none() {
        let exported = export_all(&account, Check::CrashResume).await;
        assert_equivalent(target, Check::CrashResume, &source, &exported);
    }
    passed::<M>(Check::CrashResume);
}

/// Exporting an empty account yields nothing and completes.
pub async fn empty_source<M: SampleModel, T: ConformanceTarget<M> + ?Sized>(target: &T) {
    if let Some(reason) = target.capabilities().skip_reason(Check::EmptySource) {
        return skip(Check::EmptySource, reason);
    }
    let account = target
        .fresh_account()
        .await
        .unwrap_or_else(|e| panic!("empty: no fresh account: {e}"));
    let exported = export_all(&account, Check::EmptySource).await;
    let dest = exported.destination();
    assert_eq!(
        dest.items().len(),
        0,
        "EmptySource: items came out of an empty account"
    );
    passed::<M>(Check::EmptySource);
}

/// Names in many scripts, with emoji, survive a round trip.
pub async fn unicode_names<M: SampleModel, T: ConformanceTarget<M> + ?Sized>(target: &T) {
    let spec = target.capabilities().spec().with_unicode_names(true);
    round_trip_with(target, Check::UnicodeNames, spec).await
}

/// Each error case stops or fails the transfer with the expected kind.
pub async fn error_mapping<M: SampleModel, T: ConformanceTarget<M> + ?Sized>(target: &T) {
    if let Some(reason) = target.capabilities().skip_reason(Check::ErrorMapping) {
        return skip(Check::ErrorMapping, reason);
    }
    let cases = target
        .error_cases()
        .await
        .unwrap_or_else(|e| panic!("ErrorMapping: cannot build the error cases: {e}"));
    if cases.is_empty() {
        return skip(Check::ErrorMapping, "the target declares no error cases");
    }
    for case in cases {
        let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
        let job = new_job::<M>(&store, &case.name).await;
        let source = Arc::new(MemoryExporter::<M>::generated(
            DatasetSpec::new(1, 3).with_media_size(64),
        ));
        let sink = Arc::new(MemoryImporter::<M>::new());
        let report = if case.on_import {
            run_job(
                &store,
                &job,
                source,
                case.account.importer.clone(),
                AuthData::None,
                case.account.auth.clone(),
            )
            .await
        } else {
            run_job(
                &store,
                &job,
                case.account.exporter.clone(),
                sink,
                case.account.auth.clone(),
                AuthData::None,
            )
            .await
        };
        let kinds: Vec<&str> = report
            .stop_reason
            .iter()
            .map(|r| r.kind.as_str())
            .chain(report.failures.iter().map(|f| f.kind.as_str()))
            .collect();
        assert!(
            kinds.contains(&case.expected_kind.as_str()),
            "ErrorMapping `{}`: expected {}, the report says {kinds:?}:\n{report}",
            case.name,
            case.expected_kind.as_str()
        );
    }
    passed::<M>(Check::ErrorMapping);
}

/// Runs every check; each prints `conformance: passed …` or
/// `conformance: skipped …: reason`, and the first failed check panics.
pub async fn run_all<M: SampleModel, T: ConformanceTarget<M> + ?Sized>(target: &T) {
    round_trip(target).await;
    rerun_adds_nothing(target).await;
    crash_resume(target).await;
    empty_source(target).await;
    unicode_names(target).await;
    error_mapping(target).await;
}
