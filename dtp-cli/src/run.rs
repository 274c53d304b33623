//! Transfers, resumes, dry runs and verification.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use dtp_core::registry::{Endpoint, Registry, Role};
use dtp_core::store::{JobId, JobRecord, JobState, JobStore, NewJob, SqliteJobStore};
use dtp_core::{
    AuthData, Cursor, DataModel, DataType, Error, ErrorKind, ExportContext, Exporter, Record,
    Transfer, TransferDriver, TransferOptions, TransferReport,
};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::MailData;
use dtp_models::media::{MediaData, MediaKind};
use dtp_models::tasks::TasksData;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::creds::Credentials;
use crate::progress::Progress;
use crate::{CliError, paths};

/// The store of jobs in the data folder.
pub fn open_store() -> Result<Arc<dyn JobStore>, CliError> {
    let path = paths::job_store();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::new(
                2,
                format!("cannot create the data folder {}: {e}", dir.display()),
            )
        })?;
    }
    let store = SqliteJobStore::open(&path).map_err(|e| {
        CliError::new(
            1,
            format!(
                "cannot open the job store {}: {}",
                path.display(),
                e.message()
            ),
        )
    })?;
    Ok(Arc::new(store))
}

/// A resolved `service:location`.
pub struct Side {
    pub spec: String,
    pub service: String,
    pub endpoint: Endpoint,
    pub auth: AuthData,
}

/// Opens `spec` for `role`, with the stored credentials of its service.
pub async fn open_side(registry: &Registry, spec: &str, role: Role) -> Result<Side, CliError> {
    let (service, location) = registry.resolve(spec).map_err(|e| {
        let hint = if e.kind() == &ErrorKind::NotFound {
            ": run `dtp services` to list them"
        } else {
            ""
        };
        CliError::new(2, format!("{}{hint}", e.message()))
    })?;
    let auth = match service.auth() {
        dtp_core::registry::AuthKind::None => AuthData::None,
        _ => {
            // Credentials saved for this exact location win over those saved
            // for the whole service.
            let creds = Credentials::new(paths::config_dir());
            let get = |key: &str| {
                creds
                    .get(key)
                    .map_err(|e| CliError::from_error(&e, service.name(), None))
            };
            match get(spec)? {
                Some(a) => Some(a),
                None => get(service.name())?,
            }
            .ok_or_else(|| {
                CliError::new(
                    3,
                    format!(
                        "not signed in to `{}`: run `dtp auth login {}` first",
                        service.name(),
                        service.name()
                    ),
                )
            })?
        }
    };
    let endpoint = service.open(location, role).await.map_err(|e| {
        let what = match role {
            Role::Source => "source",
            _ => "destination",
        };
        let mut err = CliError::from_error(&e, service.name(), None);
        err.message = format!("{what} {spec}: {}", err.message);
        err
    })?;
    Ok(Side {
        spec: spec.to_string(),
        service: service.name().to_string(),
        endpoint,
        auth,
    })
}

/// What `--types` asked for: data types, and which media kinds when only
/// photos or only videos were named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Selection {
    /// Data types, in [`DataType::ALL`] order.
    pub types: Vec<DataType>,
    /// `Some` when only photos or only videos are wanted.
    pub media_kinds: Option<Vec<MediaKind>>,
}

/// Parses `--types` (photos and videos are both media; naming only one of
/// them moves only that kind).
pub fn parse_types(list: &[String]) -> Result<Selection, CliError> {
    let mut out = Vec::new();
    let (mut photos, mut videos, mut media) = (false, false, false);
    for raw in list.iter().flat_map(|s| s.split(',')) {
        let t = match raw.trim().to_ascii_lowercase().as_str() {
            "photos" | "photo" => {
                photos = true;
                DataType::Media
            }
            "videos" | "video" => {
                videos = true;
                DataType::Media
            }
            "media" => {
                media = true;
                DataType::Media
            }
            "contacts" | "contact" => DataType::Contacts,
            "calendar" | "calendars" | "events" => DataType::Calendar,
            "tasks" | "task" => DataType::Tasks,
            "mail" | "email" => DataType::Mail,
            "" => continue,
            other => {
                return Err(CliError::new(
                    2,
                    format!(
                        "unknown data type `{other}`: use photos, videos, contacts, calendar, tasks or mail"
                    ),
                ));
            }
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out.sort();
    let media_kinds = match (photos, videos, media) {
        (true, false, false) => Some(vec![MediaKind::Photo]),
        (false, true, false) => Some(vec![MediaKind::Video]),
        _ => None,
    };
    Ok(Selection {
        types: out,
        media_kinds,
    })
}

/// Exports only some kinds of media (albums all the same).
struct KindFilter {
    inner: Arc<dyn Exporter<MediaData>>,
    kinds: Vec<MediaKind>,
}

#[async_trait::async_trait]
impl Exporter<MediaData> for KindFilter {
    async fn export(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        cursor: &Cursor,
    ) -> dtp_core::Result<dtp_core::ExportPage<MediaData>> {
        let mut page = self.inner.export(ctx, auth, cursor).await?;
        page.items.retain(|i| self.kinds.contains(&i.kind));
        Ok(page)
    }

    async fn open_media(
        &self,
        ctx: &ExportContext,
        auth: &AuthData,
        media: &dtp_core::MediaRef,
    ) -> dtp_core::Result<dtp_core::ByteStream> {
        self.inner.open_media(ctx, auth, media).await
    }

    fn rate_limit(&self) -> Option<dtp_core::RateLimit> {
        self.inner.rate_limit()
    }
}

impl Side {
    /// Restricts the media this side exports to `kinds`.
    pub fn only_media_kinds(mut self, kinds: Option<&[MediaKind]>) -> Self {
        if let Some(kinds) = kinds
            && let Some(inner) = self.endpoint.exporter::<MediaData>()
        {
            self.endpoint = self
                .endpoint
                .with_exporter::<MediaData>(Arc::new(KindFilter {
                    inner,
                    kinds: kinds.to_vec(),
                }));
        }
        self
    }
}

fn options_file(job: &JobId) -> std::path::PathBuf {
    paths::data_dir()
        .join("jobs")
        .join(format!("{}.json", job.as_str()))
}

/// Saves what `--types` selected beyond data types, for `resume` and `verify`.
pub fn save_selection(job: &JobId, selection: &Selection) -> Result<(), CliError> {
    let path = options_file(job);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::new(1, format!("{}: {e}", dir.display())))?;
    }
    let text = serde_json::to_vec(selection).map_err(|e| CliError::new(1, e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| CliError::new(1, format!("{}: {e}", path.display())))
}

/// The selection saved for `job` (everything, when none was saved).
pub fn load_selection(job: &JobId) -> Selection {
    std::fs::read(options_file(job))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The data types both sides can move (restricted to `wanted` if given).
pub fn plan_types(from: &Side, to: &Side, wanted: &[DataType]) -> Result<Vec<DataType>, CliError> {
    let exports = from.endpoint.exports();
    let imports = to.endpoint.imports();
    if wanted.is_empty() {
        let both: Vec<DataType> = exports
            .into_iter()
            .filter(|t| imports.contains(t))
            .collect();
        if both.is_empty() {
            return Err(CliError::new(
                2,
                format!("{} and {} share no data type", from.spec, to.spec),
            ));
        }
        return Ok(both);
    }
    for t in wanted {
        if !exports.contains(t) {
            return Err(CliError::new(
                2,
                format!("{} cannot export {t}", from.service),
            ));
        }
        if !imports.contains(t) {
            return Err(CliError::new(
                2,
                format!("{} cannot import {t}", to.service),
            ));
        }
    }
    Ok(wanted.to_vec())
}

async fn run_one<M: DataModel>(
    driver: &TransferDriver,
    job: &JobId,
    from: &Side,
    to: &Side,
) -> Result<TransferReport, CliError> {
    let (Some(exporter), Some(importer)) =
        (from.endpoint.exporter::<M>(), to.endpoint.importer::<M>())
    else {
        return Err(CliError::new(
            2,
            format!("{} cannot be moved between these services", M::DATA_TYPE),
        ));
    };
    driver
        .run(
            job,
            Transfer::new(exporter, importer)
                .with_export_auth(from.auth.clone())
                .with_import_auth(to.auth.clone()),
        )
        .await
        .map_err(|e| CliError::new(1, format!("the job store failed: {}", e.message())))
}

/// What the end of a run prints and returns.
pub struct Outcome {
    pub report: TransferReport,
    pub interrupted: bool,
    pub summary: Option<String>,
}

/// Runs (or resumes) every data type of `job`, with progress and Ctrl-C.
pub async fn run_job(
    store: Arc<dyn JobStore>,
    job: &JobRecord,
    from: &Side,
    to: &Side,
    concurrency: usize,
) -> Result<Outcome, CliError> {
    let cancel = CancellationToken::new();
    let progress = Progress::new();
    let mut options = TransferOptions::default();
    // Attempts per call before an unreachable service stops the job
    // (default 8, about a minute of backoff).
    if let Some(n) = std::env::var("DTP_MAX_ATTEMPTS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        let retry = options.retry.clone().with_max_attempts(n.max(1));
        options = options.with_retry(retry);
    }
    let driver = TransferDriver::new(store.clone()).with_options(
        options
            .with_item_concurrency(concurrency.max(1))
            .with_events(progress.sink())
            .with_cancellation(cancel.clone()),
    );
    let signal = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
                // A second Ctrl-C leaves at once (the checkpoint is saved).
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        })
    };
    let mut last = None;
    for t in &job.data_types {
        let report = match t {
            DataType::Media => run_one::<MediaData>(&driver, &job.id, from, to).await,
            DataType::Contacts => run_one::<ContactsData>(&driver, &job.id, from, to).await,
            DataType::Calendar => run_one::<CalendarData>(&driver, &job.id, from, to).await,
            DataType::Tasks => run_one::<TasksData>(&driver, &job.id, from, to).await,
            DataType::Mail => run_one::<MailData>(&driver, &job.id, from, to).await,
            other => Err(CliError::new(2, format!("{other} is not supported"))),
        };
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                progress.finish();
                signal.abort();
                return Err(e);
            }
        };
        let stop = report.state == JobState::Stopped;
        last = Some(report);
        if stop || cancel.is_cancelled() {
            break;
        }
    }
    progress.finish();
    signal.abort();
    if let Err(e) = to.endpoint.finish() {
        eprintln!("warning: {}", e.message());
    }
    let report = match last {
        Some(_) => driver
            .report(&job.id)
            .await
            .map_err(|e| CliError::new(1, e.message().to_string()))?,
        None => return Err(CliError::new(2, "the job moves no data type")),
    };
    Ok(Outcome {
        interrupted: cancel.is_cancelled(),
        report,
        summary: to.endpoint.summary(),
    })
}

/// Creates a job for `from` → `to`.
pub async fn create_job(
    store: &Arc<dyn JobStore>,
    from: &Side,
    to: &Side,
    types: &[DataType],
) -> Result<JobRecord, CliError> {
    store
        .create_job(NewJob::new(
            from.spec.clone(),
            to.spec.clone(),
            types.iter().copied(),
        ))
        .await
        .map_err(|e| CliError::new(1, format!("cannot create the job: {}", e.message())))
}

/// Finds a job by id (or a unique prefix of it).
pub async fn find_job(store: &Arc<dyn JobStore>, id: &str) -> Result<JobRecord, CliError> {
    let jobs = store
        .list_jobs()
        .await
        .map_err(|e| CliError::new(1, e.message().to_string()))?;
    let matches: Vec<&JobRecord> = jobs
        .iter()
        .filter(|j| j.id.as_str() == id || (id.len() >= 4 && j.id.as_str().starts_with(id)))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CliError::new(
            2,
            format!("no job `{id}`: run `dtp jobs` to list them"),
        )),
        _ => Err(CliError::new(
            2,
            format!("`{id}` matches several jobs: give more of the id"),
        )),
    }
}

/// Counts of one side, per data type.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Survey {
    pub containers: u64,
    pub items: u64,
    pub bytes: u64,
    /// Items with media bytes (photos, videos, streamed messages).
    pub media: u64,
}

async fn survey<M: DataModel>(
    exporter: Arc<dyn Exporter<M>>,
    auth: &AuthData,
) -> Result<Survey, Error> {
    let ctx = ExportContext::detached(M::DATA_TYPE);
    let mut out = Survey::default();
    let mut frontier = VecDeque::from([Cursor::root()]);
    let mut seen_items = std::collections::HashSet::new();
    let mut seen_containers = std::collections::HashSet::new();
    while let Some(cursor) = frontier.pop_front() {
        let page = exporter.export(&ctx, auth, &cursor).await?;
        for c in &page.containers {
            if seen_containers.insert(c.source_id().to_string()) {
                out.containers += 1;
            }
        }
        for item in &page.items {
            if !seen_items.insert(item.source_id().to_string()) {
                continue;
            }
            out.items += 1;
            out.bytes += item.size_bytes();
            if item.media().is_some() {
                out.media += 1;
            }
        }
        frontier.extend(page.next);
    }
    Ok(out)
}

/// Surveys `types` of one side.
pub async fn survey_side(
    side: &Side,
    types: &[DataType],
) -> Result<BTreeMap<DataType, Survey>, CliError> {
    let mut out = BTreeMap::new();
    for t in types {
        let e = &side.endpoint;
        let missing = || CliError::new(2, format!("{} cannot export {t}", side.service));
        let r = match t {
            DataType::Media => {
                survey(e.exporter::<MediaData>().ok_or_else(missing)?, &side.auth).await
            }
            DataType::Contacts => {
                survey(
                    e.exporter::<ContactsData>().ok_or_else(missing)?,
                    &side.auth,
                )
                .await
            }
            DataType::Calendar => {
                survey(
                    e.exporter::<CalendarData>().ok_or_else(missing)?,
                    &side.auth,
                )
                .await
            }
            DataType::Tasks => {
                survey(e.exporter::<TasksData>().ok_or_else(missing)?, &side.auth).await
            }
            DataType::Mail => {
                survey(e.exporter::<MailData>().ok_or_else(missing)?, &side.auth).await
            }
            other => return Err(CliError::new(2, format!("{other} is not supported"))),
        };
        out.insert(
            *t,
            r.map_err(|e| CliError::from_error(&e, &side.service, None))?,
        );
    }
    Ok(out)
}
