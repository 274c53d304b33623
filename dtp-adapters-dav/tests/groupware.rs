//! CalDAV and CardDAV against real servers on loopback: the testkit
//! conformance suite on Radicale and Xandikos.

mod servers;

use std::sync::Arc;

use async_trait::async_trait;
use dtp_adapters_dav::{CalDav, CardDav, DavConfig};
use dtp_core::{AuthData, Result};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::tasks::TasksData;
use dtp_testkit::SampleModel;
use dtp_testkit::conformance::{self, Account, ConformanceTarget, ErrorCase};
use servers::{Radicale, Xandikos};

/// Builds an account of model `M` from a DAV config.
trait DavModel: SampleModel + Sized {
    fn account(config: DavConfig, auth: AuthData) -> Account<Self>;
}

impl DavModel for CalendarData {
    fn account(config: DavConfig, auth: AuthData) -> Account<Self> {
        let a = Arc::new(CalDav::new(config).unwrap());
        Account::new(a.clone(), a, auth)
    }
}

impl DavModel for TasksData {
    fn account(config: DavConfig, auth: AuthData) -> Account<Self> {
        let a = Arc::new(CalDav::new(config).unwrap());
        Account::new(a.clone(), a, auth)
    }
}

impl DavModel for ContactsData {
    fn account(config: DavConfig, auth: AuthData) -> Account<Self> {
        let a = Arc::new(CardDav::new(config).unwrap());
        Account::new(a.clone(), a, auth)
    }
}

/// The sample tasks and contacts have no UID; the importer gives each its
/// source id as UID (a stable resource name needs one), so the exported
/// record carries a `uid` the sample lacks. Events keep theirs.
fn drop_assigned_uids(value: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = value
        && (map.contains_key("formatted_name") || map.contains_key("title"))
    {
        map.remove("uid");
    }
}

struct OnRadicale(Radicale);

#[async_trait]
impl<M: DavModel> ConformanceTarget<M> for OnRadicale {
    async fn fresh_account(&self) -> Result<Account<M>> {
        let user = self.0.new_user();
        Ok(M::account(
            DavConfig::new(&self.0.url())?.with_page_size(10),
            AuthData::basic(user, "secret"),
        ))
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<M>>> {
        let user = self.0.new_user();
        let other = self.0.new_user();
        Ok(vec![
            ErrorCase {
                name: "wrong password on import".into(),
                account: M::account(
                    DavConfig::new(&self.0.url())?,
                    AuthData::basic(user.clone(), "wrong"),
                ),
                on_import: true,
                expected_kind: dtp_core::ErrorKind::Unauthenticated,
            },
            ErrorCase {
                name: "wrong password on export".into(),
                account: M::account(
                    DavConfig::new(&self.0.url())?,
                    AuthData::basic(user.clone(), "wrong"),
                ),
                on_import: false,
                expected_kind: dtp_core::ErrorKind::Unauthenticated,
            },
            ErrorCase {
                name: "another user's home".into(),
                account: M::account(
                    DavConfig::new(&self.0.url())?.with_home(&format!("/{other}/"))?,
                    AuthData::basic(user, "secret"),
                ),
                on_import: true,
                expected_kind: dtp_core::ErrorKind::PermissionDenied,
            },
        ])
    }

    /// Radicale also adds a `DTSTAMP` (required by RFC 5545) to events and
    /// tasks that have none; the samples have none.
    fn normalize(&self, value: &mut serde_json::Value) {
        drop_assigned_uids(value);
        if let serde_json::Value::Object(map) = value
            && (map.contains_key("summary") || map.contains_key("title"))
        {
            map.remove("dtstamp");
        }
    }
}

struct OnXandikos(Xandikos);

#[async_trait]
impl<M: DavModel> ConformanceTarget<M> for OnXandikos {
    async fn fresh_account(&self) -> Result<Account<M>> {
        let home = self.0.new_home().await;
        Ok(M::account(
            DavConfig::new(&self.0.url())?
                .with_home(&home)?
                .with_page_size(10),
            AuthData::None,
        ))
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<M>>> {
        Ok(vec![ErrorCase {
            name: "home set that does not exist".into(),
            account: M::account(
                DavConfig::new(&self.0.url())?.with_home("/user/nowhere/")?,
                AuthData::None,
            ),
            on_import: false,
            expected_kind: dtp_core::ErrorKind::NotFound,
        }])
    }

    fn normalize(&self, value: &mut serde_json::Value) {
        drop_assigned_uids(value)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_radicale() {
    let target = OnRadicale(Radicale::start());
    conformance::run_all::<ContactsData, _>(&target).await;
    conformance::run_all::<CalendarData, _>(&target).await;
    conformance::run_all::<TasksData, _>(&target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_xandikos() {
    let target = OnXandikos(Xandikos::start());
    conformance::run_all::<ContactsData, _>(&target).await;
    conformance::run_all::<CalendarData, _>(&target).await;
    conformance::run_all::<TasksData, _>(&target).await;
}

// ------------------------------------------------------------ cross-server

use dtp_core::store::{JobId, JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{Exporter, Importer, Transfer, TransferDriver, TransferOptions, TransferReport};
use dtp_models::contacts::AddressBook;
use dtp_testkit::{
    CrashPoint, Dataset, FaultPlan, FaultyImporter, MemoryExporter, MemoryImporter, Op,
};

async fn new_job<M: SampleModel>(store: &Arc<dyn JobStore>) -> JobId {
    store
        .create_job(NewJob::new("dav-test", "dav-test", [M::DATA_TYPE]))
        .await
        .unwrap()
        .id
}

async fn run<M: SampleModel>(
    store: &Arc<dyn JobStore>,
    job: &JobId,
    from: (Arc<dyn Exporter<M>>, AuthData),
    to: (Arc<dyn Importer<M>>, AuthData),
) -> TransferReport {
    TransferDriver::new(store.clone())
        .with_options(TransferOptions::default().with_item_concurrency(4))
        .run(
            job,
            Transfer::new(from.0, to.0)
                .with_export_auth(from.1)
                .with_import_auth(to.1),
        )
        .await
        .expect("driver")
}

/// Moves everything from one account to another in a new job.
async fn transfer<M: SampleModel>(from: &Account<M>, to: &Account<M>) -> TransferReport {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job::<M>(&store).await;
    let r = run(
        &store,
        &job,
        (from.exporter.clone(), from.auth.clone()),
        (to.importer.clone(), to.auth.clone()),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    r
}

/// Everything in an account, ids aside: one sorted JSON line per item with
/// its container's name and its parent's name in place of ids.
async fn snapshot<M: SampleModel>(account: &Account<M>) -> Vec<String> {
    let sink = Arc::new(MemoryImporter::<M>::new());
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job::<M>(&store).await;
    let r = run(
        &store,
        &job,
        (account.exporter.clone(), account.auth.clone()),
        (sink.clone(), AuthData::None),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let dest = sink.destination();
    let containers: std::collections::HashMap<String, String> = dest
        .containers()
        .into_iter()
        .map(|(_, c)| {
            (
                dtp_core::Record::source_id(&c).to_string(),
                dtp_core::Record::display_name(&c).to_string(),
            )
        })
        .collect();
    let items = dest.items();
    let names: std::collections::HashMap<String, String> = items
        .iter()
        .map(|i| {
            (
                dtp_core::Record::source_id(&i.item).to_string(),
                dtp_core::Record::display_name(&i.item).to_string(),
            )
        })
        .collect();
    let mut out: Vec<String> = items
        .iter()
        .map(|i| {
            let mut v = serde_json::to_value(&i.item).unwrap();
            let map = v.as_object_mut().unwrap();
            for k in ["calendar_id", "list_id", "address_book_id"] {
                if let Some(serde_json::Value::String(c)) = map.remove(k) {
                    map.insert("container".into(), containers.get(&c).cloned().into());
                }
            }
            if let Some(serde_json::Value::String(p)) = map.remove("parent_id") {
                map.insert("parent".into(), names.get(&p).cloned().into());
            }
            map.remove("id");
            // Overrides carry their calendar's id too.
            if let Some(serde_json::Value::Array(os)) = map.get_mut("overrides") {
                for o in os {
                    if let Some(o) = o.as_object_mut() {
                        o.remove("calendar_id");
                        o.remove("id");
                    }
                }
            }
            v.to_string()
        })
        .collect();
    out.sort();
    out
}

/// The `VTIMEZONE`s the Windows-TZID event of `calendar.ics` carries, as
/// seen in a snapshot.
fn windows_tz_of(events: &[String]) -> serde_json::Value {
    let e = events
        .iter()
        .find(|e| e.contains("windows-tz-review@dtp.test"))
        .expect("the Windows-TZID event");
    let v: serde_json::Value = serde_json::from_str(e).unwrap();
    let mut tz = v["timezones"].clone();
    sort_properties(&mut tz);
    tz
}

/// Sorts the properties of every component: Radicale (vobject) stores a
/// VTIMEZONE's properties in its own order (DTSTART first, then by name),
/// so the comparison is property by property, each byte-equal.
fn sort_properties(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Array(a) => a.iter_mut().for_each(sort_properties),
        serde_json::Value::Object(o) => {
            if let Some(serde_json::Value::Array(ps)) = o.get_mut("properties") {
                ps.sort_by_key(|p| p.to_string());
            }
            if let Some(cs) = o.get_mut("components") {
                sort_properties(cs);
            }
        }
        _ => {}
    }
}

/// That `VTIMEZONE`, as seeded (read from the fixture by `parse_icalendar`).
fn expected_windows_tz() -> serde_json::Value {
    let text = include_str!("fixtures/calendar.ics");
    let r = text
        .split("---\n")
        .find(|r| r.contains("W. Europe Standard Time"))
        .unwrap();
    let obj = dtp_models::ical::parse_icalendar(r.as_bytes(), "x")
        .unwrap()
        .value
        .remove(0);
    assert_eq!(obj.calendar.timezones.len(), 1);
    assert_eq!(obj.calendar.timezones[0].components.len(), 2);
    let mut tz = serde_json::to_value(&obj.calendar.timezones).unwrap();
    sort_properties(&mut tz);
    tz
}

fn assert_same(what: &str, got: &[String], want: &[String]) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} items, want {}",
        got.len(),
        want.len()
    );
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g, w, "{what}: items differ");
    }
}

async fn seed_collection(base: &str, path: &str, method: &str, body: &str, resources: &str) {
    let http = reqwest::Client::new();
    let url = format!("{base}{path}");
    let s = http
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            &url,
        )
        .basic_auth("alice", Some("secret"))
        .header("Content-Type", "application/xml")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert!(s.is_success(), "{method} {url}: {s}");
    for (n, r) in resources.split("---\n").enumerate() {
        let r = r.trim().replace('\n', "\r\n") + "\r\n";
        let s = http
            .put(format!("{url}r{n}.ics"))
            .basic_auth("alice", Some("secret"))
            .header("Content-Type", "text/calendar")
            .body(r)
            .send()
            .await
            .unwrap()
            .status();
        assert!(s.is_success(), "PUT {url}r{n}.ics: {s}");
    }
}

fn corpus_contacts() -> Vec<dtp_models::contacts::Contact> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dtp-models/tests/corpus/vcard");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "vcf"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
        let Ok(parsed) = dtp_models::vcard::parse_vcards(&std::fs::read(&f).unwrap(), "people")
        else {
            continue;
        };
        for (n, mut c) in parsed.value.into_iter().enumerate() {
            c.id = format!("{stem}-{n}");
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_to_xandikos_and_back() {
    let radicale = Radicale::start();
    let xandikos = Xandikos::start();
    let base = radicale.url();
    seed_collection(
        &base,
        "alice/work/",
        "MKCALENDAR",
        r#"<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:displayname>Work</d:displayname><c:supported-calendar-component-set><c:comp name="VEVENT"/></c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>"#,
        include_str!("fixtures/calendar.ics"),
    )
    .await;
    seed_collection(
        &base,
        "alice/todo/",
        "MKCALENDAR",
        r#"<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:displayname>Moving</d:displayname><c:supported-calendar-component-set><c:comp name="VTODO"/></c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>"#,
        include_str!("fixtures/tasks.ics"),
    )
    .await;
    // The address book: every corpus vCard that parses, through our importer.
    let contacts = corpus_contacts();
    let parsed = contacts.len();
    // Cards sharing a UID (kcontacts-vcard4 and -vcard7 both carry
    // `pas-id-3E136F9B00000000`) are one resource: the later overwrites.
    let shared_uids = parsed
        - contacts
            .iter()
            .map(|c| c.uid.clone().unwrap_or_else(|| c.id.clone()))
            .collect::<std::collections::HashSet<_>>()
            .len();
    let alice = AuthData::basic("alice", "secret");
    let rad_cards =
        <ContactsData as DavModel>::account(DavConfig::new(&base).unwrap(), alice.clone());
    let seed = Arc::new(MemoryExporter::<ContactsData>::fixed(
        Dataset {
            containers: vec![AddressBook::new("people", "People")],
            items: contacts,
            media: Default::default(),
        },
        25,
    ));
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job::<ContactsData>(&store).await;
    let r = run(
        &store,
        &job,
        (seed, AuthData::None),
        (rad_cards.importer.clone(), alice.clone()),
    )
    .await;
    // Radicale (vobject) refuses none of the corpus cards: a second `N` goes
    // as X-DTP-EXTRA-N, `PROFILE:VCARD` as X-DTP-PROFILE, a bare
    // QUOTED-PRINTABLE parameter before a trailing `=` as X-DTP-QP=BARE
    // (vobject would read the `=` as a soft break and swallow END:VCARD),
    // names with `/` as X-DTP-UNPARSED; all are read back as they were.
    let refused = r.failures.len();
    assert_eq!(
        refused,
        0,
        "Radicale refused corpus vCards:\n{r}\n{}",
        radicale.server.log()
    );
    assert_eq!(r.state, JobState::Complete, "{r}");

    let rad_cal =
        <CalendarData as DavModel>::account(DavConfig::new(&base).unwrap(), alice.clone());
    let rad_tasks = <TasksData as DavModel>::account(DavConfig::new(&base).unwrap(), alice.clone());
    let src_events = snapshot(&rad_cal).await;
    let src_tasks = snapshot(&rad_tasks).await;
    let src_cards = snapshot(&rad_cards).await;
    assert_eq!(src_events.len(), 7, "{src_events:#?}");
    // The event with a Windows TZID carries its resource's VTIMEZONE,
    // property by property as seeded.
    let win_tz = windows_tz_of(&src_events);
    assert_eq!(win_tz, expected_windows_tz(), "{src_events:#?}");
    assert!(
        src_events
            .iter()
            .any(|e| e.contains("Standup (moved)") && e.contains("Standup (long)")),
        "the series travels with its overrides: {src_events:#?}"
    );
    assert_eq!(src_tasks.len(), 4);
    assert_eq!(
        src_tasks
            .iter()
            .filter(|t| t.contains(r#""parent":"Move house""#))
            .count(),
        2,
        "{src_tasks:#?}"
    );
    assert_eq!(
        src_cards.len(),
        parsed - refused - shared_uids,
        "every accepted corpus vCard is in Radicale"
    );
    println!(
        "cross-server: {} events, {} tasks, {} contacts",
        src_events.len(),
        src_tasks.len(),
        src_cards.len()
    );

    // Radicale → Xandikos.
    let home = xandikos.new_home().await;
    let xcfg = || {
        DavConfig::new(&xandikos.url())
            .unwrap()
            .with_home(&home)
            .unwrap()
    };
    let x_cal = <CalendarData as DavModel>::account(xcfg(), AuthData::None);
    let x_tasks = <TasksData as DavModel>::account(xcfg(), AuthData::None);
    let x_cards = <ContactsData as DavModel>::account(xcfg(), AuthData::None);
    transfer(&rad_cal, &x_cal).await;
    transfer(&rad_tasks, &x_tasks).await;
    // Contacts: crash midway (testkit crash points), resume, 0 lost 0 dup.
    let plan = FaultPlan::new();
    let faulty: Arc<dyn Importer<ContactsData>> =
        Arc::new(FaultyImporter::new(x_cards.importer.clone(), plan.clone()));
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job::<ContactsData>(&store).await;
    let mut crashes = 0;
    for attempt in 0..4 {
        if attempt < 3 {
            plan.arm_crash(CrashPoint {
                op: Op::ImportItem,
                nth: 7 + attempt * 5,
                after: attempt % 2 == 0,
            });
        } else {
            plan.disarm();
        }
        let run = run(
            &store,
            &job,
            (rad_cards.exporter.clone(), alice.clone()),
            (faulty.clone(), AuthData::None),
        );
        tokio::select! {
            r = run => { assert_eq!(r.state, JobState::Complete, "{r}"); break; }
            _ = plan.crashed() => crashes += 1,
        }
    }
    assert_eq!(crashes, 3, "the crash points were reached");
    let x_events = snapshot(&x_cal).await;
    assert_same("events at Xandikos", &x_events, &src_events);
    assert_eq!(
        windows_tz_of(&x_events),
        expected_windows_tz(),
        "the custom VTIMEZONE arrives at Xandikos unchanged"
    );
    assert_same("tasks at Xandikos", &snapshot(&x_tasks).await, &src_tasks);
    assert_same(
        "contacts at Xandikos after 3 crashes",
        &snapshot(&x_cards).await,
        &src_cards,
    );

    // Rerun in a new job: zero new resources.
    let count = |url: String| async move {
        let body = reqwest::Client::new()
            .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), &url)
            .header("Depth", "infinity")
            .header("Content-Type", "application/xml")
            .body(r#"<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.matches("getetag>").count()
    };
    let before = count(home.clone()).await;
    transfer(&rad_cal, &x_cal).await;
    transfer(&rad_tasks, &x_tasks).await;
    transfer(&rad_cards, &x_cards).await;
    assert_eq!(
        count(home.clone()).await,
        before,
        "a rerun created resources"
    );
    assert_same("events after rerun", &snapshot(&x_cal).await, &src_events);

    // And back: Xandikos → a new Radicale user.
    let user = radicale.new_user();
    let back = AuthData::basic(user, "secret");
    let r_cal = <CalendarData as DavModel>::account(DavConfig::new(&base).unwrap(), back.clone());
    let r_tasks = <TasksData as DavModel>::account(DavConfig::new(&base).unwrap(), back.clone());
    let r_cards = <ContactsData as DavModel>::account(DavConfig::new(&base).unwrap(), back);
    transfer(&x_cal, &r_cal).await;
    transfer(&x_tasks, &r_tasks).await;
    transfer(&x_cards, &r_cards).await;
    assert_same(
        "events back at Radicale",
        &snapshot(&r_cal).await,
        &src_events,
    );
    assert_same(
        "tasks back at Radicale",
        &snapshot(&r_tasks).await,
        &src_tasks,
    );
    assert_same(
        "contacts back at Radicale",
        &snapshot(&r_cards).await,
        &src_cards,
    );
}

// ------------------------------------------------------------------ faults

use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback TCP proxy in front of a server: the first `busy` connections
/// get `503` with `Retry-After: 1`; after that every `drop_every`-th
/// connection is dropped, alternately before the request reaches the server
/// and after the server has handled it (its answer is lost).
struct FaultProxy {
    addr: std::net::SocketAddr,
    busy_answers: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    async fn start(upstream: std::net::SocketAddr, busy: usize, drop_every: usize) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let busy_answers = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let (b, d) = (busy_answers.clone(), dropped.clone());
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                n += 1;
                let (b, d) = (b.clone(), d.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    if n <= busy {
                        let _ = client.read(&mut buf).await;
                        let _ = client
                            .write_all(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                        b.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    if drop_every > 0 && n.is_multiple_of(drop_every) {
                        d.fetch_add(1, Ordering::SeqCst);
                        if (n / drop_every).is_multiple_of(2) {
                            // Before the request reaches the server.
                            let _ = client.read(&mut buf).await;
                            return;
                        }
                        // After the server handled it: forward the request,
                        // wait for the answer, then lose it.
                        let (mut cr, _cw) = client.split();
                        let (mut sr, mut sw) = server.split();
                        let forward = async {
                            loop {
                                match cr.read(&mut buf).await {
                                    Ok(0) | Err(_) => break,
                                    Ok(k) => {
                                        if sw.write_all(&buf[..k]).await.is_err() {
                                            break;
                                        }
                                    }
                                }
                            }
                        };
                        let mut answer = [0u8; 1];
                        tokio::select! {
                            _ = forward => {}
                            _ = sr.read(&mut answer) => {}
                        }
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        FaultProxy {
            addr,
            busy_answers,
            dropped,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// One connection per request, so that the proxy sees every request.
fn no_reuse(cfg: DavConfig) -> DavConfig {
    cfg.with_http(dtp_adapters_dav::HttpOptions::default().with_reuse_connections(false))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_dropping_server_still_ends_complete_without_duplicates() {
    let radicale = Radicale::start();
    let user = radicale.new_user();
    let auth = AuthData::basic(user.clone(), "secret");
    let proxy = FaultProxy::start(radicale.server.addr, 4, 6).await;
    let spec = dtp_testkit::DatasetSpec::new(2, 30).with_page_size(10);

    // Import contacts and events through the proxy.
    let cards = <ContactsData as DavModel>::account(
        no_reuse(DavConfig::new(&proxy.url()).unwrap()),
        auth.clone(),
    );
    let source = Arc::new(MemoryExporter::<ContactsData>::generated(spec));
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job::<ContactsData>(&store).await;
    let r = run(
        &store,
        &job,
        (source, AuthData::None),
        (cards.importer.clone(), auth.clone()),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let cal = <CalendarData as DavModel>::account(
        no_reuse(DavConfig::new(&proxy.url()).unwrap()),
        auth.clone(),
    );
    let source = Arc::new(MemoryExporter::<CalendarData>::generated(spec));
    let job = new_job::<CalendarData>(&store).await;
    let r = run(
        &store,
        &job,
        (source, AuthData::None),
        (cal.importer.clone(), auth.clone()),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let busy = proxy.busy_answers.load(Ordering::SeqCst);
    let dropped = proxy.dropped.load(Ordering::SeqCst);
    assert_eq!(busy, 4, "the proxy answered 503 to the first requests");
    assert!(dropped >= 10, "only {dropped} connections were dropped");

    // Count the resources directly (no proxy): complete, no duplicates.
    let count = |path: String| {
        let base = radicale.url();
        let user = user.clone();
        async move {
            let body = reqwest::Client::new()
                .request(
                    reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
                    format!("{base}{user}/{path}/"),
                )
                .basic_auth(&user, Some("secret"))
                .header("Depth", "1")
                .header("Content-Type", "application/xml")
                .body(r#"<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            body.matches(".vcf</").count() + body.matches(".ics</").count()
        }
    };
    for (coll, n) in [("book-0", 30), ("book-1", 30), ("cal-0", 30), ("cal-1", 30)] {
        assert_eq!(count(coll.to_string()).await, n, "{coll}");
    }
    // Export through the same faulty proxy: everything, once.
    let direct =
        <ContactsData as DavModel>::account(DavConfig::new(&radicale.url()).unwrap(), auth.clone());
    let want = snapshot(&direct).await;
    assert_eq!(want.len(), 60);
    assert_same(
        "contacts exported through the faulty proxy",
        &snapshot(&cards).await,
        &want,
    );
    let direct =
        <CalendarData as DavModel>::account(DavConfig::new(&radicale.url()).unwrap(), auth);
    assert_same(
        "events exported through the faulty proxy",
        &snapshot(&cal).await,
        &snapshot(&direct).await,
    );
    println!(
        "faults: {busy} busy answers, {} dropped connections",
        proxy.dropped.load(Ordering::SeqCst)
    );
}

// ------------------------------------------------------------- incremental

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_export_with_sync_tokens_brings_only_what_changed() {
    let radicale = Radicale::start();
    let auth = AuthData::basic(radicale.new_user(), "secret");
    let spec = dtp_testkit::DatasetSpec::new(1, 12).with_page_size(5);
    let first =
        Arc::new(CalDav::new(DavConfig::new(&radicale.url()).unwrap().with_page_size(5)).unwrap());
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = new_job::<CalendarData>(&store).await;
    let r = run(
        &store,
        &job,
        (
            Arc::new(MemoryExporter::<CalendarData>::generated(spec)),
            AuthData::None,
        ),
        (first.clone(), auth.clone()),
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let account = Account::<CalendarData>::new(first.clone(), first.clone(), auth.clone());
    assert_eq!(snapshot(&account).await.len(), 12);
    let tokens = first.sync_tokens();
    assert_eq!(tokens.len(), 1, "one collection, one token: {tokens:?}");
    assert_eq!(first.etags().len(), 12, "every resource's ETag is kept");

    // One new event and one changed event at the server.
    let cal_url = tokens.keys().next().unwrap().clone();
    let http = reqwest::Client::new();
    let user = match &auth {
        AuthData::Basic { username, .. } => username.clone(),
        _ => unreachable!(),
    };
    for (name, uid, summary) in [
        ("new.ics", "new@dtp.test", "Added later"),
        (
            "uid-0-3@dtp.invalid.ics",
            "uid-0-3@dtp.invalid",
            "Meeting 3 renamed",
        ),
    ] {
        let s = http
            .put(format!("{cal_url}{name}"))
            .basic_auth(&user, Some("secret"))
            .header("Content-Type", "text/calendar")
            .body(format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240101T100000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
            .send()
            .await
            .unwrap()
            .status();
        assert!(s.is_success(), "{s}");
    }
    let later = Arc::new(
        CalDav::new(
            DavConfig::new(&radicale.url())
                .unwrap()
                .with_sync_tokens(tokens.clone()),
        )
        .unwrap(),
    );
    let changed = snapshot(&Account::<CalendarData>::new(
        later.clone(),
        later.clone(),
        auth,
    ))
    .await;
    assert_eq!(changed.len(), 2, "{changed:#?}");
    assert!(changed.iter().any(|e| e.contains("Added later")));
    assert!(changed.iter().any(|e| e.contains("Meeting 3 renamed")));
    assert_ne!(later.sync_tokens(), tokens, "the token moved on");
}
