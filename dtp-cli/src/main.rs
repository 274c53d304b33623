//! `dtp`: move photos, videos, contacts, calendars, mail and tasks between
//! services and portable archives, resumably, without losing or duplicating
//! anything.
#![forbid(unsafe_code)]

mod creds;
mod fleet;
mod paths;
mod progress;
mod run;
mod services;
mod verify;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use dtp_core::registry::{AuthKind, Role};
use dtp_core::store::{JobState, StopReason};
use dtp_core::{AuthData, DataType, Error, ErrorKind, TransferReport};
use serde_json::json;

/// Move your data between services and portable archives.
#[derive(Parser, Debug)]
#[command(
    name = "dtp",
    version,
    about = "Move photos, videos, contacts, calendars, mail and tasks between services, resumably.",
    after_help = concat!("Examples:
  dtp services
  dtp transfer --from local:examples/data/sample --to local:./dtp-out
  dtp transfer --from local:./old --to local:./new --types contacts,calendar --json
  dtp jobs
  dtp resume 3f2a
  dtp verify 3f2a

Files: jobs in $DTP_DATA_DIR (default ~/.local/share/dtp), credentials in
$DTP_CONFIG_DIR (default ~/.config/dtp), sealed with $DTP_SECRET_KEY or a 0600 key file.

", "Exit codes:
  0    done, nothing failed
  1    finished with failed items, or verification found differences
  2    bad input (unknown service, bad location, missing archive, unknown job)
  3    credentials refused (wrong password, expired sign-in)
  4    the service could not be reached
  5    the destination is full
  130  interrupted (Ctrl-C); the job can be resumed")
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the services compiled in, with the data types each exports and imports.
    #[command(after_help = "Examples:\n  dtp services\n  dtp services --json")]
    Services {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign in to services and manage stored (encrypted) credentials.
    #[command(
        subcommand,
        after_help = "Examples:\n  dtp auth login imap --username ada@example.org\n  dtp auth list\n  dtp auth logout imap"
    )]
    Auth(AuthCommand),
    /// Move data from one service or archive into another.
    #[command(after_help = concat!("Examples:
  dtp transfer --from local:examples/data/sample --to local:./dtp-out
  dtp transfer --from local:./archive --to local:./copy --types photos,videos --concurrency 8
  dtp transfer --from local:./archive --to local:./copy --dry-run
  dtp transfer --from local:./archive --to local:./copy --json

Locations are SERVICE:LOCATION, e.g. local:./archive. Credentials are never
given on the command line: use `dtp auth login SERVICE`.
Ctrl-C saves a checkpoint and prints the command that resumes the job.
DTP_MAX_ATTEMPTS sets the attempts per request before an unreachable
service stops the job (default 8, about a minute of backoff).

", "Exit codes: 0 done; 1 items failed; 2 bad input; 3 credentials refused;
4 service unreachable; 5 destination full; 130 interrupted."))]
    Transfer(TransferArgs),
    /// Continue an interrupted or stopped job from its last checkpoint.
    #[command(after_help = "Examples:\n  dtp resume 3f2a9c1e-…\n  dtp resume 3f2a --json")]
    Resume {
        /// The job id (or a unique prefix of at least 4 characters).
        job: String,
        /// Items imported at once per data type.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run queued jobs from a shared PostgreSQL store, up to N at once, with leases.
    #[command(after_help = "Examples:
  dtp worker --store postgres://dtp@db.internal/dtp --jobs 8
  dtp worker --store postgres://dtp@127.0.0.1/dtp --lease-secs 10 --exit-when-idle

Queue jobs with `dtp transfer --from … --to … --store URL --enqueue`.
Workers need the DTP_SECRET_KEY the jobs were queued with (credentials travel
sealed). SIGTERM or Ctrl-C: running jobs stop at a checkpoint and go back to
the queue. A worker that dies loses its leases when they expire; another
worker resumes its jobs from their last checkpoint.
Logs one `dtp-worker ts_ms=… event=…` line per event on stdout, and a health
line (counts, jobs per minute, queue depth) every --health-secs.")]
    Worker(WorkerArgs),
    /// List jobs, or show one.
    #[command(after_help = "Examples:\n  dtp jobs\n  dtp jobs --json\n  dtp jobs show 3f2a")]
    Jobs {
        #[command(subcommand)]
        show: Option<JobsCommand>,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Re-read source and destination of a job and compare counts and media hashes.
    #[command(after_help = "Examples:\n  dtp verify 3f2a\n  dtp verify 3f2a --json")]
    Verify {
        /// The job id (or a unique prefix).
        job: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum JobsCommand {
    /// Show one job's report.
    #[command(after_help = "Examples:\n  dtp jobs show 3f2a\n  dtp jobs show 3f2a --json")]
    Show {
        /// The job id (or a unique prefix).
        job: String,
    },
}

#[derive(Subcommand, Debug)]
enum AuthCommand {
    /// Sign in to a service (browser for OAuth, prompt for app passwords).
    #[command(
        after_help = "Examples:\n  dtp auth login caldav --username ada\n  dtp auth login caldav:https://cloud.example.org/remote.php/dav/ --username ada\n\nSERVICE alone covers every location of it; SERVICE:LOCATION covers that one (and wins).\nThe password is read from the terminal without echo (or from stdin when it is not a terminal)."
    )]
    Login {
        /// The service.
        service: String,
        /// The user name (app-password services).
        #[arg(long)]
        username: Option<String>,
    },
    /// List stored credentials (never their secrets).
    #[command(after_help = "Examples:\n  dtp auth list")]
    List,
    /// Forget a service's stored credentials.
    #[command(after_help = "Examples:\n  dtp auth logout imap")]
    Logout {
        /// The service.
        service: String,
    },
}

#[derive(Args, Debug)]
struct TransferArgs {
    /// Where to read from: SERVICE:LOCATION (e.g. local:./archive).
    #[arg(long, value_name = "SERVICE:LOCATION")]
    from: String,
    /// Where to write to: SERVICE:LOCATION (e.g. local:./dtp-out).
    #[arg(long, value_name = "SERVICE:LOCATION")]
    to: String,
    /// Data types: photos, videos, contacts, calendar, tasks, mail (default: all both sides support).
    #[arg(long, value_delimiter = ',')]
    types: Vec<String>,
    /// Count what would move; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Items imported at once per data type.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Keep the job in this store instead of the local one: a
    /// postgres://USER@HOST:PORT/DATABASE URL (with --enqueue, for workers).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Queue the job for `dtp worker`s instead of running it here (needs --store).
    #[arg(long, requires = "store")]
    enqueue: bool,
}

#[derive(Args, Debug)]
struct WorkerArgs {
    /// The shared job store: postgres://USER@HOST:PORT/DATABASE.
    #[arg(long, value_name = "URL")]
    store: String,
    /// Jobs run at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Items imported at once per job.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds a lease lasts unless renewed (renewed every third of it).
    #[arg(long, default_value_t = 30.0)]
    lease_secs: f64,
    /// Seconds an idle worker waits before asking for work again.
    #[arg(long, default_value_t = 0.5)]
    poll_secs: f64,
    /// Seconds between health lines.
    #[arg(long, default_value_t = 10.0)]
    health_secs: f64,
    /// This worker's name (default: host name and process id).
    #[arg(long)]
    name: Option<String>,
    /// Exit once no job is waiting or running.
    #[arg(long)]
    exit_when_idle: bool,
}

/// A one-line error and its exit code.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    /// An error with exit `code`.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }

    /// From an SPI error, with what to do about it.
    pub fn from_error(e: &Error, service: &str, job: Option<&str>) -> Self {
        Self::from_kind(e.kind(), e.message(), service, job)
    }

    fn from_kind(kind: &ErrorKind, message: &str, service: &str, job: Option<&str>) -> Self {
        let resume = job
            .map(|j| format!(", then run `{}`", resume_command(j)))
            .unwrap_or_default();
        let (code, text) = match kind {
            ErrorKind::DestinationFull => (
                5,
                format!("the destination is full ({message}): free some space{resume}"),
            ),
            ErrorKind::Unauthenticated | ErrorKind::Reauthorize => (
                3,
                format!(
                    "{service} refused the credentials ({message}): check the password or run `dtp auth login {service}`"
                ),
            ),
            ErrorKind::Transient | ErrorKind::RateLimited { .. } | ErrorKind::QuotaExhausted => (
                4,
                format!(
                    "could not reach {service} ({message}): check the address and your connection{resume}"
                ),
            ),
            ErrorKind::NotFound
            | ErrorKind::InvalidData
            | ErrorKind::PermissionDenied
            | ErrorKind::Unsupported => (2, message.to_string()),
            _ => (1, message.to_string()),
        };
        CliError::new(code, text)
    }
}

/// The exact command that resumes `job`.
fn resume_command(job: &str) -> String {
    let argv0 = std::env::args().next().unwrap_or_else(|| "dtp".into());
    format!("{argv0} resume {job}")
}

fn service_of(spec: &str) -> &str {
    spec.split_once(':').map(|(s, _)| s).unwrap_or(spec)
}

fn report_json(
    report: &TransferReport,
    summary: Option<&str>,
    interrupted: bool,
) -> serde_json::Value {
    let mut v = serde_json::to_value(report).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("interrupted".into(), json!(interrupted));
        o.insert("total_items".into(), json!(report.total_items()));
        o.insert("total_bytes".into(), json!(report.total_bytes()));
        if let Some(s) = summary {
            o.insert("destination_summary".into(), json!(s));
        }
    }
    v
}

/// Prints a run's outcome; returns the exit code.
fn finish_run(
    out: run::Outcome,
    job: &dtp_core::store::JobRecord,
    json: bool,
) -> Result<u8, CliError> {
    let id = job.id.to_string();
    if json {
        println!(
            "{}",
            report_json(&out.report, out.summary.as_deref(), out.interrupted)
        );
    } else {
        print!("{}", out.report);
        if let Some(s) = &out.summary {
            println!("  {s}");
        }
    }
    if out.interrupted {
        eprintln!(
            "interrupted: progress is saved. Resume with:\n  {}",
            resume_command(&id)
        );
        return Ok(130);
    }
    match (&out.report.state, &out.report.stop_reason) {
        (JobState::Complete, _) => Ok(0),
        (JobState::Stopped, Some(StopReason { kind, message, .. })) => {
            // The remote side is the one to blame for refused credentials
            // or an unreachable host.
            let svc = match service_of(&job.destination) {
                "local" => service_of(&job.source),
                d => d,
            };
            Err(CliError::from_kind(kind, message, svc, Some(&id)))
        }
        (JobState::Partial, _) => {
            eprintln!(
                "{} items failed (listed above); fix them and run `{}` to retry them",
                out.report.failures.len(),
                resume_command(&id)
            );
            Ok(1)
        }
        _ => Ok(1),
    }
}

async fn transfer(args: TransferArgs) -> Result<u8, CliError> {
    let registry = services::registry();
    let selection = run::parse_types(&args.types)?;
    let wanted = selection.types.clone();
    let from = run::open_side(&registry, &args.from, Role::Source)
        .await?
        .only_media_kinds(selection.media_kinds.as_deref());
    let to_role = if args.dry_run {
        Role::Source
    } else {
        Role::Destination
    };
    let to = if args.dry_run {
        // A dry run writes nothing: only check the destination's service.
        let (svc, _) = registry
            .resolve(&args.to)
            .map_err(|e| CliError::new(2, e.message().to_string()))?;
        let mut e = dtp_core::registry::Endpoint::new();
        for t in svc.imports() {
            e = match t {
                DataType::Media => {
                    e.with_importer::<dtp_models::media::MediaData>(std::sync::Arc::new(NoImport))
                }
                DataType::Contacts => e.with_importer::<dtp_models::contacts::ContactsData>(
                    std::sync::Arc::new(NoImport),
                ),
                DataType::Calendar => e.with_importer::<dtp_models::calendar::CalendarData>(
                    std::sync::Arc::new(NoImport),
                ),
                DataType::Tasks => {
                    e.with_importer::<dtp_models::tasks::TasksData>(std::sync::Arc::new(NoImport))
                }
                DataType::Mail => {
                    e.with_importer::<dtp_models::mail::MailData>(std::sync::Arc::new(NoImport))
                }
                _ => e,
            };
        }
        run::Side {
            spec: args.to.clone(),
            service: svc.name().to_string(),
            endpoint: e,
            auth: AuthData::None,
        }
    } else {
        run::open_side(&registry, &args.to, to_role).await?
    };
    let types = run::plan_types(&from, &to, &wanted)?;
    if args.dry_run {
        let survey = run::survey_side(&from, &types).await?;
        if args.json {
            println!(
                "{}",
                json!({ "dry_run": true, "from": args.from, "to": args.to, "per_type": survey })
            );
        } else {
            println!("dry run: {} → {} (nothing written)", args.from, args.to);
            println!(
                "  {:<10} {:>10} {:>10} {:>12}",
                "type", "containers", "items", "bytes"
            );
            for (t, s) in &survey {
                println!(
                    "  {:<10} {:>10} {:>10} {:>12}",
                    t.as_str(),
                    s.containers,
                    s.items,
                    s.bytes
                );
            }
        }
        return Ok(0);
    }
    if args.enqueue {
        let Some(url) = args.store.as_deref() else {
            return Err(CliError::new(2, "--enqueue needs --store postgres://…"));
        };
        if selection.media_kinds.is_some() {
            return Err(CliError::new(
                2,
                "--enqueue moves whole data types: use --types media, not photos or videos alone",
            ));
        }
        let job = fleet::enqueue(url, &from, &to, &types).await?;
        if args.json {
            println!(
                "{}",
                json!({ "job_id": job.id, "queued": true, "source": job.source, "destination": job.destination, "data_types": job.data_types })
            );
        } else {
            println!(
                "queued job {}: {} → {}",
                job.id, job.source, job.destination
            );
        }
        return Ok(0);
    }
    let store: std::sync::Arc<dyn dtp_core::store::JobStore> = match args.store.as_deref() {
        Some(url) => fleet::connect(url, 4).await?,
        None => run::open_store()?,
    };
    let job = run::create_job(&store, &from, &to, &types).await?;
    run::save_selection(&job.id, &selection)?;
    if !args.json {
        eprintln!("job {}: {} → {}", job.id, job.source, job.destination);
    }
    let out = run::run_job(store, &job, &from, &to, args.concurrency).await?;
    finish_run(out, &job, args.json)
}

/// Stands in for an importer in dry runs (never called).
struct NoImport;

#[async_trait::async_trait]
impl<M: dtp_core::DataModel> dtp_core::Importer<M> for NoImport {
    async fn import_container(
        &self,
        _ctx: &dtp_core::ImportContext,
        _auth: &AuthData,
        _c: &M::Container,
    ) -> dtp_core::Result<dtp_core::Imported> {
        Err(Error::unsupported("a dry run writes nothing"))
    }
    async fn import_item(
        &self,
        _ctx: &dtp_core::ImportContext,
        _auth: &AuthData,
        _i: &M::Item,
    ) -> dtp_core::Result<dtp_core::Imported> {
        Err(Error::unsupported("a dry run writes nothing"))
    }
}

async fn worker(args: WorkerArgs) -> Result<u8, CliError> {
    let secs = |s: f64, what: &str| {
        if s.is_finite() && s > 0.0 && s < 86_400.0 {
            Ok(std::time::Duration::from_secs_f64(s))
        } else {
            Err(CliError::new(
                2,
                format!("{what} must be between 0 and 86400 seconds"),
            ))
        }
    };
    let name = args.name.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "worker".into());
        format!("{host}-{}", std::process::id())
    });
    fleet::worker(fleet::WorkerConfig {
        store: args.store,
        name,
        jobs: args.jobs.max(1),
        item_concurrency: args.concurrency.max(1),
        lease: secs(args.lease_secs, "--lease-secs")?,
        poll: secs(args.poll_secs, "--poll-secs")?,
        health_every: secs(args.health_secs, "--health-secs")?,
        exit_when_idle: args.exit_when_idle,
    })
    .await
}

async fn resume(job: String, concurrency: usize, json: bool) -> Result<u8, CliError> {
    let store = run::open_store()?;
    let record = run::find_job(&store, &job).await?;
    let registry = services::registry();
    let kinds = run::load_selection(&record.id).media_kinds;
    let from = run::open_side(&registry, &record.source, Role::Source)
        .await?
        .only_media_kinds(kinds.as_deref());
    let to = run::open_side(&registry, &record.destination, Role::Destination).await?;
    if !json {
        eprintln!(
            "resuming job {}: {} → {}",
            record.id, record.source, record.destination
        );
    }
    let out = run::run_job(store, &record, &from, &to, concurrency).await?;
    finish_run(out, &record, json)
}

async fn jobs(show: Option<JobsCommand>, json: bool) -> Result<u8, CliError> {
    let store = run::open_store()?;
    if let Some(JobsCommand::Show { job }) = show {
        let record = run::find_job(&store, &job).await?;
        let report = dtp_core::TransferDriver::new(store.clone())
            .report(&record.id)
            .await
            .map_err(|e| CliError::new(1, e.message().to_string()))?;
        if json {
            let mut v = report_json(&report, None, false);
            if let Some(o) = v.as_object_mut() {
                o.insert("source".into(), json!(record.source));
                o.insert("destination".into(), json!(record.destination));
                o.insert("created_at".into(), json!(record.created_at));
            }
            println!("{v}");
        } else {
            println!("{} → {}", record.source, record.destination);
            print!("{report}");
        }
        return Ok(0);
    }
    let mut list = store
        .list_jobs()
        .await
        .map_err(|e| CliError::new(1, e.message().to_string()))?;
    list.sort_by_key(|j| j.created_at);
    if json {
        let v: Vec<_> = list
            .iter()
            .map(|j| {
                json!({
                    "id": j.id, "state": j.state, "source": j.source, "destination": j.destination,
                    "data_types": j.data_types, "created_at": j.created_at, "updated_at": j.updated_at,
                    "stop_reason": j.stop_reason,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(0);
    }
    if list.is_empty() {
        println!("no jobs yet: start one with `dtp transfer --from … --to …`");
        return Ok(0);
    }
    println!(
        "{:<36}  {:<9} {:<19}  from → to",
        "job", "state", "created (UTC)"
    );
    for j in &list {
        let when = chrono::DateTime::from_timestamp(j.created_at, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        println!(
            "{:<36}  {:<9} {:<19}  {} → {}",
            j.id,
            j.state.as_str(),
            when,
            j.source,
            j.destination
        );
    }
    Ok(0)
}

async fn verify(job: String, json: bool) -> Result<u8, CliError> {
    let store = run::open_store()?;
    let record = run::find_job(&store, &job).await?;
    let registry = services::registry();
    let kinds = run::load_selection(&record.id).media_kinds;
    let from = run::open_side(&registry, &record.source, Role::Source)
        .await?
        .only_media_kinds(kinds.as_deref());
    // The destination is read, not written.
    let to = run::open_side(&registry, &record.destination, Role::Source).await?;
    let checks = verify::verify_types(&from, &to, &record.data_types).await?;
    let ok = checks.values().all(|c| c.ok);
    if json {
        println!(
            "{}",
            json!({ "job_id": record.id, "ok": ok, "per_type": checks })
        );
    } else {
        println!(
            "verify {}: {} → {}",
            record.id, record.source, record.destination
        );
        println!(
            "  {:<10} {:>8} {:>8} {:>8} {:>9} {:>7}  result",
            "type", "source", "dest", "missing", "different", "extra"
        );
        for (t, c) in &checks {
            println!(
                "  {:<10} {:>8} {:>8} {:>8} {:>9} {:>7}  {}",
                t.as_str(),
                c.source_items,
                c.destination_items,
                c.missing.len(),
                c.different.len(),
                c.extra.len(),
                if c.ok { "ok" } else { "DIFFERENT" }
            );
        }
        // The first few of each kind; --json lists them all.
        const SHOWN: usize = 20;
        for (t, c) in &checks {
            for m in c.missing.iter().take(SHOWN) {
                println!("  missing   {t} `{}` ({})", m.name, m.key);
            }
            for d in c.different.iter().take(SHOWN) {
                println!(
                    "  different {t} `{}` ({}): {}",
                    d.name,
                    d.key,
                    d.fields.join(", ")
                );
            }
            let more =
                c.missing.len().saturating_sub(SHOWN) + c.different.len().saturating_sub(SHOWN);
            if more > 0 {
                println!("  … and {more} more {t} records (see --json)");
            }
        }
        println!(
            "{}",
            if ok {
                "everything is there, with the same content"
            } else {
                "differences found"
            }
        );
    }
    Ok(if ok { 0 } else { 1 })
}

fn services_cmd(json: bool) -> Result<u8, CliError> {
    let registry = services::registry();
    let names = |ts: Vec<DataType>| ts.iter().map(|t| t.as_str()).collect::<Vec<_>>();
    if json {
        let v: Vec<_> = registry
            .services()
            .map(|s| {
                json!({
                    "name": s.name(), "description": s.description(), "auth": s.auth().as_str(),
                    "exports": names(s.exports()), "imports": names(s.imports()),
                    "example": format!("{}:{}", s.name(), s.example_location()),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(0);
    }
    for s in registry.services() {
        println!("{}  {}", s.name(), s.description());
        println!("  sign-in: {}", s.auth().as_str());
        println!("  exports: {}", names(s.exports()).join(", "));
        println!("  imports: {}", names(s.imports()).join(", "));
        println!("  example: {}:{}", s.name(), s.example_location());
    }
    Ok(0)
}

fn auth_cmd(cmd: AuthCommand) -> Result<u8, CliError> {
    let creds = creds::Credentials::new(paths::config_dir());
    let registry = services::registry();
    match cmd {
        AuthCommand::Login { service, username } => {
            // `caldav` (every location) or `caldav:https://host/dav/` (that one).
            let found = if service.contains(':') {
                registry.resolve(&service).map(|(s, _)| s)
            } else {
                registry.get(&service)
            };
            let svc = found.map_err(|e| {
                CliError::new(
                    2,
                    format!("{}: run `dtp services` to list them", e.message()),
                )
            })?;
            match svc.auth() {
                AuthKind::None => {
                    println!("`{service}` needs no sign-in");
                    Ok(0)
                }
                AuthKind::AppPassword => {
                    let username = match username {
                        Some(u) => u,
                        None => prompt_line("user name: ")?,
                    };
                    let password = if std::io::stdin().is_terminal() {
                        rpassword::prompt_password("app password: ").map_err(|e| {
                            CliError::new(2, format!("cannot read the password: {e}"))
                        })?
                    } else {
                        prompt_line("")?
                    };
                    if password.is_empty() {
                        return Err(CliError::new(2, "an empty password was given"));
                    }
                    let auth = AuthData::Basic {
                        username,
                        password: password.into(),
                    };
                    creds
                        .save(&service, &auth)
                        .map_err(|e| CliError::new(2, e.message().to_string()))?;
                    println!("saved credentials for `{service}` (encrypted)");
                    Ok(0)
                }
                _ => Err(CliError::new(
                    2,
                    format!(
                        "`{service}` signs in with OAuth, which this build has no client registration for"
                    ),
                )),
            }
        }
        AuthCommand::List => {
            let list = creds
                .list()
                .map_err(|e| CliError::new(2, e.message().to_string()))?;
            if list.is_empty() {
                println!("no stored credentials");
            }
            for (svc, e) in list {
                let when = chrono::DateTime::from_timestamp(e.saved_at, 0)
                    .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default();
                println!("{svc}  {}  saved {when} UTC", e.kind);
            }
            Ok(0)
        }
        AuthCommand::Logout { service } => {
            if creds
                .remove(&service)
                .map_err(|e| CliError::new(2, e.message().to_string()))?
            {
                println!("forgot the credentials of `{service}`");
                Ok(0)
            } else {
                Err(CliError::new(
                    2,
                    format!("no stored credentials for `{service}`"),
                ))
            }
        }
    }
}

fn prompt_line(prompt: &str) -> Result<String, CliError> {
    if !prompt.is_empty() {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(2, format!("cannot read stdin: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn main() -> ExitCode {
    // One line, never a backtrace, even on a bug.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("error: internal error (please report it): {msg}");
    }));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DTP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Services { json } => services_cmd(json),
            Command::Auth(cmd) => auth_cmd(cmd),
            Command::Transfer(args) => transfer(args).await,
            Command::Worker(args) => worker(args).await,
            Command::Resume {
                job,
                concurrency,
                json,
            } => resume(job, concurrency, json).await,
            Command::Jobs { show, json } => jobs(show, json).await,
            Command::Verify { job, json } => verify(job, json).await,
        }
    });
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", e.message.replace('\n', " "));
            ExitCode::from(e.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_map_to_one_line_advice_and_exit_codes() {
        let full = CliError::from_kind(
            &ErrorKind::DestinationFull,
            "no space left",
            "local",
            Some("j1"),
        );
        assert_eq!(full.code, 5);
        assert!(full.message.contains("free some space") && full.message.contains("resume j1"));
        let auth = CliError::from_kind(&ErrorKind::Unauthenticated, "401", "imap", None);
        assert_eq!(auth.code, 3);
        assert!(auth.message.contains("dtp auth login imap"));
        let net = CliError::from_kind(&ErrorKind::Transient, "connection refused", "caldav", None);
        assert_eq!(net.code, 4);
        assert!(net.message.contains("could not reach caldav"));
        assert_eq!(
            CliError::from_kind(&ErrorKind::NotFound, "no archive", "local", None).code,
            2
        );
        for e in [full, auth, net] {
            assert!(!e.message.contains('\n'));
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
