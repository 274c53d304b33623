//! Outlook calendars against the stateful Graph fake: the conformance
//! suite, zones, all-day events, recurrence, exceptions, attendees kept
//! without invitations, and the end-to-end transfer with the local archive.

mod common;

use std::sync::Arc;

use common::fake::GraphFake;
use common::target::GraphTarget;
use common::{auth, client_for};
use dtp_adapters_microsoft::OutlookCalendar;
use dtp_models::calendar::CalendarData;
use dtp_testkit::conformance;

#[tokio::test]
async fn calendar_conformance() {
    let target = GraphTarget::new(OutlookCalendar::new, |_| {});
    conformance::run_all::<CalendarData, _>(&target).await;
}

#[tokio::test]
async fn archive_to_graph_to_archive() {
    let e2e = common::e2e::archive_graph_archive::<CalendarData, _, _>(
        &common::e2e::sample_archive(),
        || async {
            let (server, fake) = GraphFake::start("at-e2e", true).await;
            let a = Arc::new(OutlookCalendar::new(client_for(&fake)));
            let counter: Box<dyn Fn() -> usize + Send + Sync> = Box::new(move || {
                let _keep = &server;
                fake.count("event")
            });
            (
                a.clone() as Arc<dyn dtp_core::Exporter<CalendarData>>,
                a as Arc<dyn dtp_core::Importer<CalendarData>>,
                auth("at-e2e"),
                counter,
            )
        },
        &|_| {},
    )
    .await;
    assert!(e2e.items >= 1);
}

fn seed(fake: &GraphFake, kind: &'static str, id: &str, parent: &str, body: serde_json::Value) {
    let mut s = fake.state.lock().unwrap();
    s.items.entry(kind).or_default().push(common::fake::Item {
        id: id.into(),
        parent: parent.into(),
        body: body.as_object().unwrap().clone(),
        ext: Default::default(),
        mime: None,
    });
}

/// Events made in Outlook (not by dtp-rs): a weekly series master in a
/// Windows zone with one moved occurrence, native attendees, an all-day
/// event. The export shows masters + exceptions, IANA zones, dates.
#[tokio::test]
async fn outlook_made_series_exceptions_and_zones_export() {
    use chrono::NaiveDate;
    use dtp_models::DateTimeValue;
    let (_server, fake) = GraphFake::start("at-1", false).await;
    let cal = "AAMkDefaultCalendar=";
    seed(
        &fake,
        "event",
        "AAMkSeries=",
        cal,
        serde_json::json!({
            "subject": "Standup", "isAllDay": false, "isReminderOn": true, "reminderMinutesBeforeStart": 10,
            "start": {"dateTime": "2025-03-03T09:00:00.0000000", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2025-03-03T09:15:00.0000000", "timeZone": "Pacific Standard Time"},
            "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
                           "range": {"type": "numbered", "startDate": "2025-03-03", "numberOfOccurrences": 8, "recurrenceTimeZone": "Pacific Standard Time"}},
            "organizer": {"emailAddress": {"name": "Ada", "address": "ada@example.org"}},
            "attendees": [{"type": "optional", "status": {"response": "tentativelyAccepted", "time": "2025-01-01T00:00:00Z"},
                           "emailAddress": {"name": "Bob", "address": "bob@example.org"}}]
        }),
    );
    seed(
        &fake,
        "eventInstance",
        "AAMkSeriesX1=",
        "AAMkSeries=",
        serde_json::json!({
            "subject": "Standup (moved)", "type": "exception", "isAllDay": false, "seriesMasterId": "AAMkSeries=",
            "originalStart": "2025-03-10T16:00:00Z",
            "start": {"dateTime": "2025-03-10T10:00:00.0000000", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2025-03-10T10:15:00.0000000", "timeZone": "Pacific Standard Time"}
        }),
    );
    seed(
        &fake,
        "eventInstance",
        "AAMkSeriesO2=",
        "AAMkSeries=",
        serde_json::json!({
            "subject": "Standup", "type": "occurrence", "isAllDay": false,
            "start": {"dateTime": "2025-03-17T09:00:00.0000000", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2025-03-17T09:15:00.0000000", "timeZone": "Pacific Standard Time"}
        }),
    );
    // An occurrence deleted in Outlook.
    seed(
        &fake,
        "eventInstance",
        "AAMkSeries=_OCC_202503240900",
        "AAMkSeries=",
        serde_json::json!({"deleted": true, "originalStart": "2025-03-24T16:00:00Z"}),
    );
    seed(
        &fake,
        "event",
        "AAMkHoliday=",
        cal,
        serde_json::json!({
            "subject": "Holiday", "isAllDay": true, "isReminderOn": false,
            "start": {"dateTime": "2025-12-25T00:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2025-12-26T00:00:00.0000000", "timeZone": "UTC"}
        }),
    );
    let a = Arc::new(OutlookCalendar::new(client_for(&fake)));
    let sink = Arc::new(dtp_testkit::MemoryImporter::<CalendarData>::new());
    let store: Arc<dyn dtp_core::store::JobStore> =
        Arc::new(dtp_core::store::MemoryJobStore::new());
    let job = common::e2e::new_job::<CalendarData>(&store).await;
    let r = common::e2e::run(
        &store,
        &job,
        a,
        sink.clone(),
        auth("at-1"),
        dtp_core::AuthData::None,
    )
    .await;
    assert_eq!(r.state, dtp_core::store::JobState::Complete, "{r}");
    let items: Vec<_> = sink
        .destination()
        .items()
        .into_iter()
        .map(|i| i.item)
        .collect();
    assert_eq!(
        items.len(),
        2,
        "masters and single events only, no occurrences"
    );
    let series = items.iter().find(|e| e.summary == "Standup").unwrap();
    let nine = NaiveDate::from_ymd_opt(2025, 3, 3)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    assert_eq!(
        series.start,
        Some(DateTimeValue::zoned("America/Los_Angeles", nine))
    );
    assert_eq!(series.rrule, ["FREQ=WEEKLY;BYDAY=MO;WKST=SU;COUNT=8"]);
    assert_eq!(series.alarms[0].trigger.as_deref(), Some("-PT10M"));
    assert_eq!(
        series.organizer.as_ref().unwrap().address,
        "mailto:ada@example.org"
    );
    assert_eq!(series.attendees[0].partstat.as_deref(), Some("TENTATIVE"));
    assert_eq!(series.attendees[0].role.as_deref(), Some("OPT-PARTICIPANT"));
    assert_eq!(
        series.overrides.len(),
        1,
        "the exception, not the plain occurrence"
    );
    let moved = &series.overrides[0];
    assert_eq!(moved.summary, "Standup (moved)");
    let ten = NaiveDate::from_ymd_opt(2025, 3, 10)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    assert_eq!(
        moved.start,
        Some(DateTimeValue::zoned("America/Los_Angeles", ten))
    );
    assert!(moved.recurrence_id.is_some());
    let nine_24 = NaiveDate::from_ymd_opt(2025, 3, 24)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    assert_eq!(
        series.exdate,
        [DateTimeValue::zoned("America/Los_Angeles", nine_24)],
        "the deleted occurrence, and only it (the moved one is an exception)"
    );
    let holiday = items.iter().find(|e| e.summary == "Holiday").unwrap();
    assert_eq!(
        holiday.start,
        Some(DateTimeValue::Date(
            NaiveDate::from_ymd_opt(2025, 12, 25).unwrap()
        ))
    );
    assert!(holiday.alarms.is_empty());
}

/// What reaches Graph on import: Windows zone names, wall-clock times,
/// `isReminderOn` always stated, no `attendees` (they would be invited),
/// the source UID in an extended property and a transactionId.
#[tokio::test]
async fn import_sends_zones_reminders_and_no_attendees() {
    let (server, fake) = GraphFake::start("at-1", false).await;
    let src = Arc::new(
        dtp_adapters_local::LocalArchive::open_source(common::e2e::sample_archive()).unwrap(),
    );
    let a = Arc::new(OutlookCalendar::new(client_for(&fake)));
    let store: Arc<dyn dtp_core::store::JobStore> =
        Arc::new(dtp_core::store::MemoryJobStore::new());
    let job = common::e2e::new_job::<CalendarData>(&store).await;
    let r = common::e2e::run(&store, &job, src, a, dtp_core::AuthData::None, auth("at-1")).await;
    assert_eq!(r.state, dtp_core::store::JobState::Complete, "{r}");
    let posts: Vec<serde_json::Value> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/events"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(!posts.is_empty());
    for p in &posts {
        assert!(p.get("attendees").is_none(), "{p}");
        assert!(p["isReminderOn"].is_boolean(), "{p}");
        assert!(p["transactionId"].as_str().unwrap().starts_with("dtp-"));
        assert_eq!(
            p["singleValueExtendedProperties"].as_array().unwrap().len(),
            2
        );
    }
    let choir = posts
        .iter()
        .find(|p| p["subject"] == "Choir practice")
        .unwrap();
    assert_eq!(choir["start"]["timeZone"], "W. Europe Standard Time");
    assert!(
        choir["start"]["dateTime"]
            .as_str()
            .unwrap()
            .starts_with("2024-01-09T19:00:00")
    );
    assert_eq!(choir["recurrence"]["pattern"]["type"], "weekly");
    assert_eq!(choir["recurrence"]["range"]["numberOfOccurrences"], 10);
    assert_eq!(choir["reminderMinutesBeforeStart"], 30);
    let anniversary = posts
        .iter()
        .find(|p| p["subject"] == "Wedding anniversary")
        .unwrap();
    assert_eq!(anniversary["isAllDay"], true);
    assert_eq!(
        anniversary["recurrence"]["pattern"]["type"],
        "absoluteYearly"
    );
}

/// A series' overrides become Graph exceptions (the occurrence PATCHed) and
/// its EXDATE a deleted occurrence; a rerun changes nothing more.
#[tokio::test]
async fn overrides_and_exdates_become_native_exceptions() {
    let (server, fake) = GraphFake::start("at-1", false).await;
    let src = Arc::new(
        dtp_adapters_local::LocalArchive::open_source(common::e2e::sample_archive()).unwrap(),
    );
    let a = Arc::new(OutlookCalendar::new(client_for(&fake)));
    let store: Arc<dyn dtp_core::store::JobStore> =
        Arc::new(dtp_core::store::MemoryJobStore::new());
    for _ in 0..2 {
        let job = common::e2e::new_job::<CalendarData>(&store).await;
        let r = common::e2e::run(
            &store,
            &job,
            src.clone(),
            a.clone(),
            dtp_core::AuthData::None,
            auth("at-1"),
        )
        .await;
        assert_eq!(r.state, dtp_core::store::JobState::Complete, "{r}");
    }
    {
        let s = fake.state.lock().unwrap();
        let instances = &s.items["eventInstance"];
        let late = instances
            .iter()
            .find(|i| i.body["subject"] == "Choir practice (late start)")
            .expect("the moved occurrence is an exception");
        assert_eq!(late.body["type"], "exception");
        assert_eq!(late.body["originalStart"], "2024-01-23T18:00:00Z");
        assert!(
            late.body["start"]["dateTime"]
                .as_str()
                .unwrap()
                .starts_with("2024-01-23T20:00:00")
        );
        assert_eq!(late.body["start"]["timeZone"], "W. Europe Standard Time");
        assert!(
            instances
                .iter()
                .any(|i| i.body["subject"] == "Choir practice — dress rehearsal"
                    && i.body["location"]["displayName"] == "Konzerthaus, Probenraum 2")
        );
        let deleted: Vec<_> = instances
            .iter()
            .filter(|i| i.body.get("deleted").is_some())
            .collect();
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0].body["originalStart"], "2024-02-13T18:00:00Z");
        assert_eq!(instances.len(), 3, "the rerun added no exception");
    }
    let patches = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .count();
    assert_eq!(patches, 4, "two exceptions, patched once per run");
}
