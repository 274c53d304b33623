//! Golden JSON fixtures (`tests/fixtures/*.v1.json`): written once by
//! version 1 of each schema and never edited. These tests prove they still
//! read (and upgrade) into the models they were written from, and that
//! documents from the future are refused clearly.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use dtp_models::calendar::{
    Alarm, Attachment, CalAddress, Calendar, CalendarData, Classification, Event, Geo,
    RecurrenceDate, Status, Transparency,
};
use dtp_models::contacts::{
    Address, AddressBook, Contact, ContactsData, Organization, Photo, PhotoSource, StructuredName,
    TypedValue,
};
use dtp_models::mail::{Flags, Folder, MailData, Message, SpecialUse};
use dtp_models::media::{Album, CaptureTime, GeoLocation, MediaData, MediaItem, MediaKind};
use dtp_models::props::{Component, Param, PropMeta, RawProperty};
use dtp_models::schema::{Page, Versioned};
use dtp_models::tasks::{Task, TaskList, TasksData};
use dtp_models::{
    DataModel, DateOrText, DateTimeValue, InlineBytes, MediaRef, PartialDateTime, SchemaError,
};

fn fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn dt(y: i32, m: u32, d: u32, h: u32, mi: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, mi, 0)
        .unwrap()
}

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

fn media_page() -> Page<MediaData> {
    Page::new(
        vec![
            Album::new("a1", "Holidays 2024")
                .with_description("Brittany")
                .with_cover("p1")
                .with_created(utc(2024, 8, 1)),
        ],
        vec![
            MediaItem::new(
                "p1",
                MediaKind::Photo,
                "IMG_0001.HEIC",
                MediaRef::new("albums/a1/p1")
                    .with_size(2_345_678)
                    .with_mime_type("image/heic")
                    .with_sha256(
                        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    ),
            )
            .in_album("a1")
            .in_album("a2")
            .with_title("Sunset")
            .with_description("Pointe du Raz")
            .with_captured(CaptureTime::new(dt(2024, 7, 14, 21, 42)).with_utc_offset_minutes(120))
            .with_uploaded(utc(2024, 7, 15))
            .with_favorite(true)
            .with_location(GeoLocation::new(48.0395, -4.7404).with_altitude(72.5))
            .with_dimensions(4032, 3024),
            MediaItem::new(
                "v1",
                MediaKind::Video,
                "MOV_0002.mov",
                MediaRef::new("albums/a1/v1"),
            )
            .in_album("a1")
            .with_duration_ms(12_480),
        ],
    )
}

fn contacts_page() -> Page<ContactsData> {
    let mut ada = Contact::new("c1", "b1", "Ada Lovelace")
        .with_uid("urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1")
        .with_name(StructuredName::new("Lovelace", "Ada"))
        .with_email(TypedValue::new("ada@example.org", &["work"]).with_pref(1))
        .with_phone(TypedValue::new("+44 20 7946 0000", &["cell", "voice"]).with_group("item1"))
        .with_address(
            Address::new()
                .with_street("12 St James's Square")
                .with_locality("London")
                .with_postal_code("SW1Y 4JH")
                .with_country("United Kingdom")
                .with_types(&["home"]),
        )
        .with_organization(Organization::new("Analytical Engine Ltd").with_unit("Research"))
        .with_birthday(DateOrText::Date(PartialDateTime::month_day(12, 10)))
        .with_note("First programmer.")
        .with_photo(Photo::new(PhotoSource::Inline {
            media_type: Some("image/png".into()),
            data: InlineBytes(vec![0x89, b'P', b'N', b'G']),
        }))
        .with_property(RawProperty::new("X-ABLABEL", "Lab").with_group("item1"));
    ada.nicknames = vec!["Enchantress of Numbers".into()];
    ada.categories = vec!["Friends".into(), "Science".into()];
    ada.revision = Some(
        PartialDateTime::ymd(2024, 1, 2)
            .with_time(3, 4, 5)
            .with_utc_offset(0),
    );
    ada.meta.insert(
        "FN".into(),
        PropMeta::default().with_param(Param::new("LANGUAGE", &["en"])),
    );
    Page::new(
        vec![AddressBook::new("b1", "Friends").with_description("People I know")],
        vec![ada],
    )
}

fn calendar_page() -> Page<CalendarData> {
    let day = NaiveDate::from_ymd_opt(2024, 5, 6).unwrap();
    let tz = Component::new("VTIMEZONE")
        .with_property(RawProperty::new("TZID", "Europe/Berlin"))
        .with_component(
            Component::new("STANDARD")
                .with_property(RawProperty::new("DTSTART", "19701025T030000"))
                .with_property(RawProperty::new("TZOFFSETFROM", "+0200"))
                .with_property(RawProperty::new("TZOFFSETTO", "+0100")),
        );
    let mut series = Event::new("s1", "cal1", "s1@example.org", "Standup")
        .with_start(DateTimeValue::zoned(
            "Europe/Berlin",
            day.and_hms_opt(9, 0, 0).unwrap(),
        ))
        .with_end(DateTimeValue::zoned(
            "Europe/Berlin",
            day.and_hms_opt(9, 15, 0).unwrap(),
        ))
        .with_rrule("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR")
        .with_exdate(DateTimeValue::zoned("Europe/Berlin", dt(2024, 5, 9, 9, 0)))
        .with_location("Room 1")
        .with_organizer(CalAddress::new("mailto:lead@example.org").with_name("Lead"))
        .with_attendee(
            CalAddress::new("mailto:ada@example.org")
                .with_role("REQ-PARTICIPANT")
                .with_partstat("ACCEPTED")
                .with_rsvp(true),
        )
        .with_alarm(Alarm::new("DISPLAY", "-PT5M").with_description("Standup"))
        .with_override(
            Event::new("s1", "cal1", "s1@example.org", "Standup (moved)")
                .with_recurrence_id(DateTimeValue::zoned("Europe/Berlin", dt(2024, 5, 7, 9, 0)))
                .with_start(DateTimeValue::zoned("Europe/Berlin", dt(2024, 5, 7, 10, 0)))
                .with_end(DateTimeValue::zoned(
                    "Europe/Berlin",
                    dt(2024, 5, 7, 10, 15),
                )),
        )
        .with_property(RawProperty::new("X-MICROSOFT-CDO-BUSYSTATUS", "BUSY"));
    series.rdate = vec![RecurrenceDate::At(DateTimeValue::Date(day))];
    series.status = Some(Status::Confirmed);
    series.transparency = Some(Transparency::Opaque);
    series.class = Some(Classification::Public);
    series.geo = Some(Geo::new(52.52, 13.405));
    series.categories = vec!["Work".into()];
    series.attachments = vec![Attachment::uri("https://example.org/agenda.pdf")];
    series.dtstamp = Some(DateTimeValue::Utc(dt(2024, 5, 1, 8, 0)));
    series.sequence = Some(2);
    series.meta.insert(
        "SUMMARY".into(),
        PropMeta::default().with_param(Param::new("LANGUAGE", &["en"])),
    );
    Page::new(
        vec![
            Calendar::new("cal1", "Work")
                .with_description("Team calendar")
                .with_color("#3366ff")
                .with_timezone("Europe/Berlin")
                .with_vtimezone(tz),
        ],
        vec![
            series,
            Event::new("d1", "cal1", "d1@example.org", "Holiday").with_start(DateTimeValue::Date(
                NaiveDate::from_ymd_opt(2024, 12, 25).unwrap(),
            )),
        ],
    )
}

fn tasks_page() -> Page<TasksData> {
    let mut sub = Task::new("t2", "l1", "Buy milk")
        .with_parent("t1")
        .with_uid("t2@example.org")
        .with_status(Status::Completed)
        .with_completed(DateTimeValue::Utc(dt(2024, 6, 1, 18, 30)))
        .with_position("00000000000000000001");
    sub.percent_complete = Some(100);
    sub.priority = Some(5);
    Page::new(
        vec![TaskList::new("l1", "Groceries").with_description("Weekly")],
        vec![
            Task::new("t1", "l1", "Shopping")
                .with_uid("t1@example.org")
                .with_notes("Saturday morning")
                .with_status(Status::NeedsAction)
                .with_due(DateTimeValue::Date(
                    NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
                )),
            sub,
        ],
    )
}

fn mail_page() -> Page<MailData> {
    let internal = DateTime::parse_from_rfc3339("2024-03-01T10:00:00+01:00").unwrap();
    Page::new(
        vec![
            Folder::new("f1", "INBOX")
                .with_role(SpecialUse::Inbox)
                .with_separator("/"),
            Folder::new("f2", "Archive/2023").with_name("2023"),
        ],
        vec![
            Message::new(
                "m1",
                "f1",
                b"Message-ID: <1@example.org>\r\nSubject: Hi\r\n\r\nHello\r\n".to_vec(),
            )
            .in_folder("f2")
            .with_flags(
                Flags::new()
                    .with_seen(true)
                    .with_flagged(true)
                    .with_keyword("$Forwarded"),
            )
            .with_internal_date(internal),
            Message::new(
                "m2",
                "f2",
                MediaRef::new("f2/4711")
                    .with_size(60 << 20)
                    .with_mime_type("message/rfc822"),
            ),
        ],
    )
}

fn check<M: DataModel>(file: &str, expected: Page<M>)
where
    M::Container: PartialEq,
    M::Item: PartialEq,
{
    let text = fixture(file);
    let read = Page::<M>::from_json(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(
        read, expected,
        "{file} no longer reads into the model it was written from"
    );
    // What this version writes reads back the same.
    assert_eq!(
        Page::<M>::from_json(&expected.to_json().unwrap()).unwrap(),
        expected
    );
}

#[test]
fn media_v1_fixture_reads() {
    check("media.v1.json", media_page());
}

#[test]
fn contacts_v1_fixture_reads() {
    check("contacts.v1.json", contacts_page());
}

#[test]
fn calendar_v1_fixture_reads() {
    check("calendar.v1.json", calendar_page());
}

#[test]
fn tasks_v1_fixture_reads() {
    check("tasks.v1.json", tasks_page());
}

#[test]
fn mail_v1_fixture_reads() {
    check("mail.v1.json", mail_page());
}

#[test]
fn single_record_v1_fixture_reads() {
    let text = fixture("contact.record.v1.json");
    let c = Contact::from_versioned_json(&text).unwrap();
    assert_eq!(c, contacts_page().items[0]);
    // A contact envelope is not an event.
    assert!(matches!(
        Event::from_versioned_json(&text),
        Err(SchemaError::WrongSchema { .. })
    ));
}

#[test]
fn fixtures_carry_their_schema_ids() {
    for (file, id) in [
        ("media.v1.json", "dtp.media/1"),
        ("contacts.v1.json", "dtp.contacts/1"),
        ("calendar.v1.json", "dtp.calendar/1"),
        ("tasks.v1.json", "dtp.tasks/1"),
        ("mail.v1.json", "dtp.mail/1"),
        ("contact.record.v1.json", "dtp.contacts/1"),
    ] {
        let v: serde_json::Value = serde_json::from_str(&fixture(file)).unwrap();
        assert_eq!(v["schema"], id, "{file}");
    }
}

#[test]
fn a_future_version_is_a_clear_error() {
    let mut v: serde_json::Value = serde_json::from_str(&fixture("calendar.v1.json")).unwrap();
    v["schema"] = "dtp.calendar/999".into();
    let err = Page::<CalendarData>::from_json(&v.to_string()).unwrap_err();
    match &err {
        SchemaError::UnsupportedVersion {
            schema,
            found,
            supported,
        } => {
            assert_eq!((*schema, *found, *supported), ("dtp.calendar", 999, 1));
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("dtp.calendar/999") && msg.contains("newer"),
        "{msg}"
    );
}

#[test]
fn missing_wrong_or_malformed_schema_is_refused() {
    let page = fixture("calendar.v1.json");
    let mut v: serde_json::Value = serde_json::from_str(&page).unwrap();
    v.as_object_mut().unwrap().remove("schema");
    assert!(matches!(
        Page::<CalendarData>::from_json(&v.to_string()),
        Err(SchemaError::MissingSchema)
    ));
    for bad in ["dtp.calendar", "dtp.calendar/x", "dtp.calendar/0", ""] {
        v["schema"] = bad.into();
        assert!(
            matches!(
                Page::<CalendarData>::from_json(&v.to_string()),
                Err(SchemaError::MissingSchema)
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        Page::<MailData>::from_json(&page),
        Err(SchemaError::WrongSchema {
            expected: "dtp.mail",
            ..
        })
    ));
    assert!(matches!(
        Page::<CalendarData>::from_json("{not json"),
        Err(SchemaError::Json(_))
    ));
}

#[test]
fn unknown_fields_are_ignored_on_read() {
    let mut v: serde_json::Value = serde_json::from_str(&fixture("tasks.v1.json")).unwrap();
    v["added_later"] = serde_json::json!({"x": 1});
    v["items"][0]["a_future_field"] = "ignored".into();
    let read = Page::<TasksData>::from_json(&v.to_string()).unwrap();
    assert_eq!(read, tasks_page());
}
