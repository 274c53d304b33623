//! A fleet of `dtp worker` processes on a PostgreSQL queue (a server the
//! test starts on loopback): jobs queued with `dtp transfer --enqueue`,
//! workers killed with SIGKILL mid-run, a worker paused (SIGSTOP) past its
//! lease and resumed, SIGTERM shutdown. Every job must end complete, each
//! item exactly once.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtp_core::store::{JobId, JobQueue, JobState, JobStore};
use dtp_core::{DataType, TransferDriver};
use dtp_store_postgres::PostgresJobStore;
use dtp_store_postgres::test_server::PgServer;

const KEY: &str = "4242424242424242424242424242424242424242424242424242424242424242";

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/data/sample")
        .canonicalize()
        .unwrap()
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

struct Fleet {
    dir: tempfile::TempDir,
    url: String,
    store: Arc<PostgresJobStore>,
    _pg: PgServer,
}

impl Fleet {
    async fn new() -> Fleet {
        let pg = PgServer::start().unwrap_or_else(|e| panic!("{e}"));
        let url = pg.create_database().unwrap();
        let store = Arc::new(PostgresJobStore::connect(&url).await.unwrap());
        Fleet {
            dir: tempfile::tempdir().unwrap(),
            url,
            store,
            _pg: pg,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn dtp(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dtp"));
        c.env("DTP_DATA_DIR", self.path("data"))
            .env("DTP_CONFIG_DIR", self.path("config"))
            .env("DTP_SECRET_KEY", KEY)
            .stdin(Stdio::null());
        c
    }

    /// Queues `n` jobs sample → dest-i with `dtp transfer --enqueue`, eight
    /// processes at a time; returns their ids by destination.
    fn enqueue(&self, from: &Path, n: usize) -> Vec<(JobId, PathBuf)> {
        let mut out = Vec::new();
        for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
            let procs: Vec<_> = chunk
                .iter()
                .map(|i| {
                    let dest = self.path(&format!("dest-{i}"));
                    let child = self
                        .dtp()
                        .args(["transfer", "--json", "--enqueue", "--store", &self.url])
                        .arg("--from")
                        .arg(format!("local:{}", from.display()))
                        .arg("--to")
                        .arg(format!("local:{}", dest.display()))
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap();
                    (dest, child)
                })
                .collect();
            for (dest, child) in procs {
                let o = child.wait_with_output().unwrap();
                assert!(
                    o.status.success(),
                    "enqueue failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                assert_eq!(v["queued"], true);
                let id: JobId = v["job_id"].as_str().unwrap().parse().unwrap();
                out.push((id, dest));
            }
        }
        out
    }

    fn worker(&self, name: &str, jobs: usize, lease_secs: f64) -> Worker {
        let log = self.path(&format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = self
            .dtp()
            .args(["worker", "--store", &self.url, "--name", name])
            .args(["--jobs", &jobs.to_string()])
            .args(["--lease-secs", &lease_secs.to_string()])
            .args(["--poll-secs", "0.1", "--health-secs", "1"])
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Worker {
            name: name.to_string(),
            child,
            log,
        }
    }

    async fn wait_until(&self, what: &str, limit: Duration, mut done: impl FnMut(u64) -> bool) {
        let start = Instant::now();
        loop {
            let stats = self.store.queue_stats().await.unwrap();
            if done(stats.done) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct Worker {
    name: String,
    child: Child,
    log: PathBuf,
}

#[derive(Debug, Clone)]
struct Event {
    ts: u128,
    event: String,
    fields: HashMap<String, String>,
}

impl Worker {
    fn events(&self) -> Vec<Event> {
        events_of(&self.log)
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {}", self.name);
    }

    /// Jobs claimed and not (yet) finished, per the log.
    fn open_jobs(&self) -> Vec<String> {
        let mut open: Vec<String> = Vec::new();
        for e in self.events() {
            let job = e.fields.get("job").cloned().unwrap_or_default();
            match e.event.as_str() {
                "claimed" => open.push(job),
                "finished" | "lease_lost" | "job_failed" => open.retain(|j| j != &job),
                _ => {}
            }
        }
        open
    }

    fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                start.elapsed() < limit,
                "{} did not exit:\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Never leave a worker behind (a stopped one must be continued to die).
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn events_of(log: &Path) -> Vec<Event> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("dtp-worker "))
        .filter_map(|l| {
            let mut fields: HashMap<String, String> = l
                .split(' ')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Some(Event {
                ts: fields.remove("ts_ms")?.parse().ok()?,
                event: fields.remove("event")?,
                fields,
            })
        })
        .collect()
}

/// What a correct copy of `archive` holds: counts per type and the media
/// hashes (as a multiset), from its manifest.
fn contents(archive: &Path) -> (BTreeMap<String, (u64, u64)>, BTreeMap<String, usize>) {
    let text = std::fs::read_to_string(archive.join("manifest.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", archive.display()));
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let counts = m["counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, c)| {
            (
                t.clone(),
                (
                    c["containers"].as_u64().unwrap(),
                    c["items"].as_u64().unwrap(),
                ),
            )
        })
        .filter(|(_, (c, i))| *c + *i > 0)
        .collect();
    let mut hashes = BTreeMap::new();
    for e in m["media"].as_object().unwrap().values() {
        *hashes
            .entry(e["sha256"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    (counts, hashes)
}

/// Every job complete, its report whole, its destination an exact copy.
async fn check_exactly_once(
    store: &Arc<PostgresJobStore>,
    jobs: &[(JobId, PathBuf)],
    source: &Path,
) {
    let (want_counts, want_hashes) = contents(source);
    let want_items: u64 = want_counts.values().map(|(_, i)| i).sum();
    let driver = TransferDriver::new(store.clone());
    for (id, dest) in jobs {
        let report = driver.report(id).await.unwrap();
        assert_eq!(report.state, JobState::Complete, "job {id}: {report}");
        assert!(report.unfinished.is_empty(), "job {id}: {report}");
        assert!(report.failures.is_empty(), "job {id}: {report}");
        assert_eq!(
            report.total_items(),
            want_items,
            "job {id}: every item counted once: {report}"
        );
        let (counts, hashes) = contents(dest);
        assert_eq!(
            counts,
            want_counts,
            "job {id}: {} holds each item once",
            dest.display()
        );
        assert_eq!(
            hashes, want_hashes,
            "job {id}: media bytes identical, none twice"
        );
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_finish_200_jobs_exactly_once_despite_two_kill_9s() {
    let fleet = Fleet::new().await;
    let source = sample();
    let t0 = Instant::now();
    let jobs = fleet.enqueue(&source, 200);
    let enqueue_ms = t0.elapsed().as_millis();
    assert_eq!(fleet.store.queue_stats().await.unwrap().waiting, 200);

    let lease = 2.0;
    let started = Instant::now();
    let mut workers: Vec<Worker> = (0..4)
        .map(|i| fleet.worker(&format!("w{i}"), 2, lease))
        .collect();
    let seed = (now_ms() as u64) | 1;
    let mut rng = Rng(seed);
    println!("seed {seed}");
    // Two kills at random moments, each while the victim holds jobs.
    let mut kills: Vec<(String, u128, Vec<String>)> = Vec::new();
    for (round, victim) in [(0u64, 1usize), (1, 2)] {
        let at = 20 + round * 60 + rng.below(50);
        fleet
            .wait_until(&format!("{at} jobs done"), Duration::from_secs(90), |d| {
                d >= at
            })
            .await;
        let w = &mut workers[victim];
        let deadline = Instant::now() + Duration::from_secs(5);
        while w.open_jobs().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let held = w.open_jobs();
        w.child.kill().unwrap(); // SIGKILL
        let when = now_ms();
        w.child.wait().unwrap();
        println!("killed {} at {at} jobs done, holding {held:?}", w.name);
        kills.push((w.name.clone(), when, held));
    }
    fleet
        .wait_until("every job done", Duration::from_secs(120), |d| d >= 200)
        .await;
    let elapsed = started.elapsed();
    // The survivors shut down on SIGTERM, cleanly.
    for i in [0, 3] {
        workers[i].signal("TERM");
        let status = workers[i].wait_exit(Duration::from_secs(10));
        assert!(status.success(), "{} exited with {status}", workers[i].name);
        let ev = workers[i].events();
        assert!(
            ev.iter().any(|e| e.event == "stopped"),
            "{} logged its stop",
            workers[i].name
        );
        assert!(
            ev.iter().any(|e| e.event == "health"),
            "{} logged health",
            workers[i].name
        );
    }

    check_exactly_once(&fleet.store, &jobs, &source).await;

    // Each job a killed worker held was resumed by another worker.
    let all: Vec<(String, Event)> = workers
        .iter()
        .flat_map(|w| w.events().into_iter().map(|e| (w.name.clone(), e)))
        .collect();
    let mut resumptions = Vec::new();
    for (victim, when, held) in &kills {
        assert!(!held.is_empty(), "{victim} held no job when killed");
        for job in held {
            let resumed = all
                .iter()
                .filter(|(w, e)| {
                    w != victim
                        && e.event == "claimed"
                        && e.fields.get("job") == Some(job)
                        && e.ts >= *when
                })
                .map(|(_, e)| e)
                .min_by_key(|e| e.ts)
                .unwrap_or_else(|| panic!("job {job} of {victim} was never claimed again"));
            let attempt: u32 = resumed.fields["attempt"].parse().unwrap();
            assert!(attempt >= 2, "a resumed job counts its attempts");
            resumptions.push(resumed.ts - when);
        }
    }
    let claims = all.iter().filter(|(_, e)| e.event == "claimed").count();
    println!(
        "fleet: 200 jobs in {:.1}s ({:.0} jobs/min) with 4 workers (2 killed); {} claims; enqueue took {enqueue_ms} ms; death→resumption {:?} ms (lease {lease}s)",
        elapsed.as_secs_f64(),
        200.0 * 60.0 / elapsed.as_secs_f64(),
        claims,
        resumptions
    );
    assert!(
        resumptions
            .iter()
            .all(|ms| *ms < (lease as u128 * 1000) + 3000),
        "resumed within lease + 3 s: {resumptions:?}"
    );
    let _ = std::io::stdout().flush();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_paused_past_its_lease_cannot_overwrite_the_new_owners_checkpoint() {
    let fleet = Fleet::new().await;
    let source = sample();
    let jobs = fleet.enqueue(&source, 1);
    let (job, _) = &jobs[0];
    let lease = 1.0;

    // A claims the job and is paused at once, mid-job.
    let a = fleet.worker("paused", 1, lease);
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.open_jobs().is_empty() {
        assert!(Instant::now() < deadline, "A never claimed the job");
        std::thread::sleep(Duration::from_millis(1));
    }
    a.signal("STOP");
    assert!(
        !a.events().iter().any(|e| e.event == "finished"),
        "A was paused mid-job"
    );

    // B takes over once A's lease expires, and finishes the job.
    let b = fleet.worker("taker", 1, lease);
    fleet
        .wait_until("B finishes the job", Duration::from_secs(30), |d| d >= 1)
        .await;
    let claim = b
        .events()
        .into_iter()
        .find(|e| e.event == "claimed")
        .expect("B claimed");
    assert_eq!(claim.fields["job"], job.to_string());
    assert_eq!(claim.fields["attempt"], "2");
    let snapshot = |store: Arc<PostgresJobStore>, job: JobId| async move {
        let mut out = Vec::new();
        for t in DataType::ALL {
            out.push(format!("{:?}", store.progress(&job, t).await.unwrap()));
        }
        let record = store.job(&job).await.unwrap();
        out.push(format!("{:?} {:?}", record.state, record.stop_reason));
        out.push(format!("{:?}", store.item_errors(&job).await.unwrap()));
        out
    };
    let before = snapshot(fleet.store.clone(), job.clone()).await;
    assert_eq!(
        fleet.store.job(job).await.unwrap().state,
        JobState::Complete
    );

    // A wakes up: its lease is gone, it must notice and write nothing.
    a.signal("CONT");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ev = a.events();
        if ev.iter().any(|e| e.event == "lease_lost") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A did not report its lost lease:\n{}",
            std::fs::read_to_string(&a.log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ev = a.events();
    assert!(
        !ev.iter().any(|e| e.event == "finished"),
        "A must not finish (or release) a job it lost:\n{}",
        std::fs::read_to_string(&a.log).unwrap()
    );
    let after = snapshot(fleet.store.clone(), job.clone()).await;
    assert_eq!(before, after, "the new owner's progress is untouched");
    check_exactly_once(&fleet.store, &jobs, &source).await;
    for mut w in [a, b] {
        w.signal("TERM");
        assert!(w.wait_exit(Duration::from_secs(10)).success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_requeues_running_jobs_and_another_worker_finishes_them() {
    let fleet = Fleet::new().await;
    let source = sample();
    let jobs = fleet.enqueue(&source, 6);
    // A long lease: only the release on shutdown can free the jobs fast.
    let mut a = fleet.worker("leaving", 3, 60.0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.open_jobs().len() < 2 {
        assert!(Instant::now() < deadline, "A never took two jobs");
        std::thread::sleep(Duration::from_millis(1));
    }
    a.signal("TERM");
    assert!(a.wait_exit(Duration::from_secs(20)).success());
    let ev = a.events();
    let requeued = ev
        .iter()
        .filter(|e| {
            e.event == "finished" && e.fields.get("release").map(String::as_str) == Some("requeue")
        })
        .count();
    assert!(
        requeued >= 1,
        "a running job went back to the queue:\n{}",
        std::fs::read_to_string(&a.log).unwrap()
    );
    let left_open = a.open_jobs();
    assert!(
        left_open.is_empty(),
        "every claimed job was released: {left_open:?}"
    );
    let stats = fleet.store.queue_stats().await.unwrap();
    assert_eq!(
        stats.leased, 0,
        "no lease outlives a graceful shutdown: {stats:?}"
    );
    let started = Instant::now();
    let mut b = fleet.worker("staying", 3, 60.0);
    fleet
        .wait_until("all jobs", Duration::from_secs(60), |d| d >= 6)
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "requeued jobs did not wait for a 60 s lease"
    );
    println!("SIGTERM requeued {requeued} running job(s)");
    check_exactly_once(&fleet.store, &jobs, &source).await;
    b.signal("TERM");
    assert!(b.wait_exit(Duration::from_secs(10)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_credentials_travel_with_jobs_and_an_unopenable_one_stops_its_job() {
    use dtp_core::{AuthData, AuthMode, AuthSealer};
    let fleet = Fleet::new().await;
    let source = sample();
    let jobs = fleet.enqueue(&source, 2);
    let key = dtp_auth::key_from_hex(KEY).unwrap();
    let right = dtp_auth::XChaChaSealer::new(secrecy::ExposeSecret::expose_secret(&key));
    let wrong = dtp_auth::XChaChaSealer::new(&[9; 32]);
    let basic = AuthData::Basic {
        username: "ada".into(),
        password: "app-password-123".to_string().into(),
    };
    // Job 0 carries credentials sealed with the fleet's key, job 1 with another.
    fleet
        .store
        .put_auth(&jobs[0].0, AuthMode::Import, &right.seal(&basic).unwrap())
        .await
        .unwrap();
    fleet
        .store
        .put_auth(&jobs[1].0, AuthMode::Import, &wrong.seal(&basic).unwrap())
        .await
        .unwrap();
    let mut w = fleet.worker("keys", 2, 2.0);
    fleet
        .wait_until("both jobs leave the queue", Duration::from_secs(30), |d| {
            d >= 2
        })
        .await;
    w.signal("TERM");
    assert!(w.wait_exit(Duration::from_secs(10)).success());
    let log = std::fs::read_to_string(&w.log).unwrap();
    assert!(!log.contains("app-password-123"), "no secret in logs");
    check_exactly_once(&fleet.store, &jobs[..1], &source).await;
    let stopped = fleet.store.job(&jobs[1].0).await.unwrap();
    assert_eq!(stopped.state, JobState::Stopped, "{log}");
    let reason = stopped.stop_reason.expect("a stop reason");
    assert!(!reason.message.contains("app-password-123"));
    let failed = w
        .events()
        .into_iter()
        .filter(|e| e.event == "job_failed")
        .count();
    assert_eq!(failed, 1, "tried once, not requeued forever:\n{log}");
}
