//! Calendar: conformance against the Calendar fake, end to end with the
//! local archive (series with overrides and cancelled instances, all-day and
//! zoned events, attendees, reminders), 410 on a page token, no invitations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_adapters_google::testing::calendar::CalendarFake;
use dtp_adapters_google::testing::{
    self, client_for, failing_server, fixture, json_response, legacy_error,
};
use dtp_adapters_google::{CalendarExporter, CalendarImporter};
use dtp_adapters_local::LocalArchive;
use dtp_core::store::JobState;
use dtp_core::{AuthData, Exporter, Importer, Result};
use dtp_models::calendar::{CalendarData, Event};
use dtp_testkit::conformance::{self, Account, Capabilities, ConformanceTarget, ErrorCase};
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::common::{comparable, export_all, run};

const TOKEN: &str = "ya29.calendar-token";

struct CalendarTarget {
    servers: Mutex<Vec<MockServer>>,
}

impl CalendarTarget {
    fn account(&self, server: MockServer) -> Account<CalendarData> {
        let client = client_for(&server);
        self.servers.lock().unwrap().push(server);
        Account::new(
            Arc::new(CalendarExporter::new(client.clone()).with_page_size(10)),
            Arc::new(CalendarImporter::new(client)),
            testing::oauth(TOKEN),
        )
    }
}

#[async_trait]
impl ConformanceTarget<CalendarData> for CalendarTarget {
    async fn fresh_account(&self) -> Result<Account<CalendarData>> {
        let (server, _fake) = CalendarFake::start(TOKEN).await;
        Ok(self.account(server))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<CalendarData>>> {
        let mut cases = Vec::new();
        for (name, status, body, on_import, kind) in [
            (
                "403 quotaExceeded (Calendar usage limits) on import",
                403,
                legacy_error(
                    403,
                    "usageLimits",
                    "quotaExceeded",
                    "Calendar usage limits exceeded.",
                ),
                true,
                dtp_core::ErrorKind::QuotaExhausted,
            ),
            (
                "403 forbidden on export",
                403,
                legacy_error(403, "global", "forbidden", "Forbidden"),
                false,
                dtp_core::ErrorKind::PermissionDenied,
            ),
            (
                "401 authError without refresher on export",
                401,
                legacy_error(401, "global", "authError", "Invalid Credentials"),
                false,
                dtp_core::ErrorKind::Unauthenticated,
            ),
        ] {
            cases.push(ErrorCase {
                name: name.into(),
                account: self.account(failing_server(json_response(status, body)).await),
                on_import,
                expected_kind: kind,
            });
        }
        Ok(cases)
    }

    /// Google gives every new calendar a colour and (when none is asked
    /// for) the account's time zone, and every event its defaults: status
    /// `confirmed`, `sequence` 0, the account as organizer. The sample has
    /// none of these.
    fn normalize(&self, value: &mut Value) {
        let Some(o) = value.as_object_mut() else {
            return;
        };
        if o.contains_key("name") && !o.contains_key("summary") {
            o.remove("color");
            o.remove("timezone");
        }
        if o.contains_key("summary") {
            if o.get("status") == Some(&json!("CONFIRMED")) {
                o.remove("status");
            }
            if o.get("sequence") == Some(&json!(0)) {
                o.remove("sequence");
            }
            if o.get("organizer") == Some(&json!({"address": "mailto:test@example.com"})) {
                o.remove("organizer");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_passes_the_conformance_suite() {
    conformance::run_all::<CalendarData, _>(&CalendarTarget {
        servers: Mutex::new(Vec::new()),
    })
    .await;
}

/// Seeds the fixture's events into a new calendar "Team" (exceptions linked
/// to the new series id).
fn seed(fake: &CalendarFake) -> String {
    let cal = fake.seed_calendar("Team");
    fake.with_state(|s| {
        let c = s.calendars.iter_mut().find(|c| c.id == cal).unwrap();
        c.color = Some("#ff8800".into());
        c.time_zone = Some("America/New_York".into());
    });
    let page = fixture("calendar.events.list");
    let mut ids: HashMap<String, String> = HashMap::new();
    for ev in page["items"].as_array().unwrap() {
        let mut ev = ev.clone();
        let old = ev["id"].as_str().unwrap().to_string();
        let m = ev.as_object_mut().unwrap();
        for k in [
            "id", "etag", "htmlLink", "created", "updated", "creator", "kind",
        ] {
            m.remove(k);
        }
        if let Some(r) = m.get("recurringEventId").and_then(Value::as_str) {
            let new = ids[r].clone();
            m.insert("recurringEventId".into(), json!(new));
        }
        let new = fake.seed_event(&cal, ev);
        ids.insert(old, new);
    }
    cal
}

/// What differs legitimately between services: ids, and the timestamps the
/// destination sets.
const IDS: &[&str] = &["id", "calendar_id", "created", "last_modified"];

/// What an iCalendar file legitimately changes: `RRULE` parts reordered.
fn as_in_ics(events: &[Event]) -> Vec<Event> {
    fn fix(e: &mut Event) {
        for r in &mut e.rrule {
            let mut parts: Vec<&str> = r.split(';').collect();
            parts.sort_unstable();
            *r = parts.join(";");
        }
        e.overrides.iter_mut().for_each(fix);
    }
    let mut out = events.to_vec();
    out.iter_mut().for_each(fix);
    out
}

fn by_summary<'a>(events: &'a [Event], s: &str) -> &'a Event {
    events.iter().find(|e| e.summary == s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_to_archive_to_google_keeps_series_overrides_and_attendees() {
    let (server, fake) = CalendarFake::start(TOKEN).await;
    seed(&fake);
    let client = client_for(&server);
    let exporter: Arc<dyn Exporter<CalendarData>> =
        Arc::new(CalendarExporter::new(client.clone()).with_page_size(2));
    let (cals, events) = export_all(exporter.clone(), testing::oauth(TOKEN)).await;
    // The empty primary calendar is not exported; "Team" is.
    assert_eq!(
        cals.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["Team"]
    );
    assert_eq!(cals[0].color.as_deref(), Some("#ff8800"));
    assert_eq!(cals[0].timezone.as_deref(), Some("America/New_York"));
    assert_eq!(
        events.len(),
        3,
        "the series (with its exceptions), the holiday, the flight"
    );
    let sync = by_summary(&events, "Weekly sync");
    assert_eq!(sync.rrule, ["FREQ=WEEKLY;BYDAY=MO;COUNT=10"]);
    assert_eq!(sync.overrides.len(), 1);
    assert_eq!(sync.overrides[0].summary, "Weekly sync (moved)");
    assert_eq!(sync.exdate.len(), 1, "the cancelled instance");
    assert_eq!(sync.attendees.len(), 3);
    assert_eq!(sync.alarms.len(), 2);
    assert_eq!(
        sync.start.as_ref().unwrap().tzid(),
        Some("Europe/Berlin"),
        "local time in the event's zone"
    );
    assert!(
        by_summary(&events, "Company holiday 🎉")
            .start
            .as_ref()
            .unwrap()
            .is_date()
    );
    let flight = by_summary(&events, "Flight to Tokyo ✈ 東京");
    assert_eq!(
        flight.end.as_ref().unwrap().tzid(),
        Some("America/Los_Angeles")
    );

    // Google → archive → content equal.
    let dir = tempfile::tempdir().unwrap();
    let archive = LocalArchive::open_destination(dir.path()).unwrap();
    let r = run(
        exporter.clone(),
        Arc::new(archive.clone()),
        testing::oauth(TOKEN),
        AuthData::None,
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    archive.finish().unwrap();
    let (_, from_archive) = export_all::<CalendarData>(
        Arc::new(LocalArchive::open_source(dir.path()).unwrap()),
        AuthData::None,
    )
    .await;
    assert_eq!(
        comparable(&as_in_ics(&from_archive), IDS),
        comparable(&as_in_ics(&events), IDS),
        "archive content"
    );

    // Archive → a fresh Google account → content equal, no invitations.
    let (server2, fake2) = CalendarFake::start(TOKEN).await;
    let client2 = client_for(&server2);
    let source: Arc<dyn Exporter<CalendarData>> =
        Arc::new(LocalArchive::open_source(dir.path()).unwrap());
    let importer: Arc<dyn Importer<CalendarData>> =
        Arc::new(CalendarImporter::new(client2.clone()));
    let r = run(
        source.clone(),
        importer,
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let (_, back) = export_all::<CalendarData>(
        Arc::new(CalendarExporter::new(client2.clone())),
        testing::oauth(TOKEN),
    )
    .await;
    // Calendars too: name, description, colour and time zone.
    let (cals2, _) = export_all::<CalendarData>(
        Arc::new(CalendarExporter::new(client2.clone())),
        testing::oauth(TOKEN),
    )
    .await;
    assert_eq!(
        comparable(&cals2, &["id", "properties"]),
        comparable(&cals, &["id", "properties"])
    );
    assert_eq!(
        comparable(&as_in_ics(&back), IDS),
        comparable(&as_in_ics(&events), IDS),
        "Google content after the round trip"
    );
    assert_eq!(fake2.with_state(|s| s.invitations_sent), 0);
    let imports = server2
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().ends_with("/events/import"))
        .count();
    assert_eq!(imports, 4, "3 events + 1 override, each imported once");

    // A rerun (new job, new importer) adds nothing.
    let count = |f: &CalendarFake| {
        f.with_state(|s| {
            s.calendars.iter().map(|c| c.events.len()).sum::<usize>() + s.calendars.len()
        })
    };
    let before = count(&fake2);
    let r = run(
        source,
        Arc::new(CalendarImporter::new(client2)),
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(count(&fake2), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_page_token_restarts_the_listing_without_loss() {
    let (server, fake) = CalendarFake::start(TOKEN).await;
    seed(&fake);
    fake.with_state(|s| s.expire_next_page_token = true);
    let (_, events) = export_all::<CalendarData>(
        Arc::new(CalendarExporter::new(client_for(&server)).with_page_size(1)),
        testing::oauth(TOKEN),
    )
    .await;
    assert_eq!(
        fake.with_state(|s| s.gone_sent),
        1,
        "one 410 fullSyncRequired"
    );
    let mut names: Vec<&str> = events.iter().map(|e| e.summary.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Company holiday 🎉",
            "Flight to Tokyo ✈ 東京",
            "Weekly sync"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_invited_instance_is_exported_and_imported_with_its_recurrence_id() {
    let (server, fake) = CalendarFake::start(TOKEN).await;
    let cal = fake.seed_calendar("Invitations");
    // An instance of a series that lives in someone else's calendar.
    fake.with_state(|s| {
        let c = s.calendars.iter_mut().find(|c| c.id == cal).unwrap();
        c.events.push(
            json!({"kind": "calendar#event", "id": "othr5eries_20250310T090000Z",
            "status": "confirmed", "summary": "Their standup (this week)",
            "recurringEventId": "othr5eries",
            "originalStartTime": {"dateTime": "2025-03-10T09:00:00Z", "timeZone": "UTC"},
            "start": {"dateTime": "2025-03-10T09:30:00Z", "timeZone": "UTC"},
            "end": {"dateTime": "2025-03-10T09:45:00Z", "timeZone": "UTC"},
            "iCalUID": "othr5eries@google.com", "reminders": {"useDefault": true},
            "organizer": {"email": "boss@example.org"}, "sequence": 0}),
        );
    });
    let (_, events) = export_all::<CalendarData>(
        Arc::new(CalendarExporter::new(client_for(&server))),
        testing::oauth(TOKEN),
    )
    .await;
    assert_eq!(events.len(), 1, "the lone instance is not dropped");
    assert!(events[0].recurrence_id.is_some());
    // Into another account and back: same record.
    let (server2, _fake2) = CalendarFake::start(TOKEN).await;
    let src = dtp_testkit::MemoryExporter::fixed(
        {
            let mut d = dtp_testkit::Dataset::<CalendarData>::generate(
                &dtp_testkit::DatasetSpec::new(0, 0),
            );
            d.containers = vec![dtp_models::calendar::Calendar::new(&cal, "Invitations")];
            d.items = events.clone();
            d
        },
        10,
    );
    let r = run(
        Arc::new(src),
        Arc::new(CalendarImporter::new(client_for(&server2))),
        AuthData::None,
        testing::oauth(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let (_, back) = export_all::<CalendarData>(
        Arc::new(CalendarExporter::new(client_for(&server2))),
        testing::oauth(TOKEN),
    )
    .await;
    assert_eq!(comparable(&back, IDS), comparable(&events, IDS));
}
