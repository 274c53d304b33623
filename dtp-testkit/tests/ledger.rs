//! The loss ledger: every source record ends as exactly one of created,
//! already there, updated, failed (with its reason) or skipped as
//! unsupported (with its reason), and the report and events say which.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_core::store::{JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{
    AuthData, Cursor, DataType, Error, ExportContext, ExportPage, Exporter, ImportContext,
    Imported, Importer, RecordProblem, Result, Transfer, TransferDriver, TransferEvent,
    TransferOptions,
};
use dtp_models::contacts::{AddressBook, Contact, ContactsData};

/// One page: two books and contacts whose names tell the importer what to
/// do with them, plus one unreadable and one unsupported record.
struct ScriptedSource;

#[async_trait]
impl Exporter<ContactsData> for ScriptedSource {
    async fn export(
        &self,
        _ctx: &ExportContext,
        _auth: &AuthData,
        _cursor: &Cursor,
    ) -> Result<ExportPage<ContactsData>> {
        let mut page = ExportPage::new()
            .with_container(AddressBook::new("good", "Good"))
            .with_container(AddressBook::new("broken", "Broken"));
        for (id, book) in [
            ("new-1", "good"),
            ("new-2", "good"),
            ("there-1", "good"),
            ("changed-1", "good"),
            ("bad-1", "good"),
            ("odd-1", "good"),
            ("panic-1", "good"),
            ("orphan-1", "broken"),
            ("orphan-2", "broken"),
        ] {
            page = page.with_item(Contact::new(id, book, id));
        }
        // The same record twice on one page: counted once as created, once
        // as already there; imported once.
        page = page.with_item(Contact::new("new-1", "good", "new-1 again"));
        Ok(page
            .with_failed(RecordProblem::unreadable(
                "cards.vcf#3",
                "cards.vcf (card 3)",
                &Error::invalid_data("line 17: no BEGIN:VCARD"),
            ))
            .with_skipped(RecordProblem::unsupported(
                "cal.ics#journal-1",
                "Diary entry",
                "VJOURNAL: this destination keeps no journals",
            )))
    }
}

#[derive(Default)]
struct ScriptedDestination {
    calls: Mutex<Vec<String>>,
}

#[async_trait]
impl Importer<ContactsData> for ScriptedDestination {
    async fn import_container(
        &self,
        _ctx: &ImportContext,
        _auth: &AuthData,
        c: &AddressBook,
    ) -> Result<Imported> {
        if c.id == "broken" {
            return Err(Error::invalid_data("the server refused the name"));
        }
        Ok(Imported::created(format!("dest-{}", c.id)))
    }

    async fn import_item(
        &self,
        ctx: &ImportContext,
        _auth: &AuthData,
        c: &Contact,
    ) -> Result<Imported> {
        self.calls.lock().unwrap().push(c.id.clone());
        let book = ctx.require_container(&c.address_book_id)?;
        let id = format!("{book}/{}", c.id);
        match c.id.split('-').next() {
            Some("new") => Ok(Imported::created(id)),
            Some("there") => Ok(Imported::already_there(id)),
            Some("changed") => Ok(Imported::updated(id)),
            Some("bad") => Err(Error::invalid_data("the server rejected the card")),
            Some("odd") => Err(Error::unsupported("this destination keeps no such card")),
            Some("panic") => panic!("importer bug on {}", c.id),
            _ => unreachable!("unexpected contact {}", c.id),
        }
    }
}

#[tokio::test]
async fn every_record_ends_in_exactly_one_ledger_class_with_its_reason() {
    let store = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new("scripted", "scripted", [DataType::Contacts]))
        .await
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let driver =
        TransferDriver::new(store.clone()).with_options(TransferOptions::default().with_events(
            Arc::new(move |e: &TransferEvent| sink.lock().unwrap().push(e.clone())),
        ));
    let destination = Arc::new(ScriptedDestination::default());
    let report = driver
        .run(
            &job.id,
            Transfer::new(Arc::new(ScriptedSource), destination.clone()),
        )
        .await
        .unwrap();

    let c = report.per_type[&DataType::Contacts];
    assert_eq!(c.containers, 1, "{report}");
    assert_eq!(c.created, 2, "new-1 and new-2 ({report})");
    assert_eq!(
        c.already_there, 2,
        "there-1 and the repeated new-1 ({report})"
    );
    assert_eq!(c.updated, 1, "{report}");
    // bad-1, panic-1, two orphans, the unreadable card, and the broken book.
    assert_eq!(c.failed, 6, "{report}");
    // odd-1 and the journal.
    assert_eq!(c.unsupported, 2, "{report}");
    // new-1 is created once; the repeat is not imported again.
    assert_eq!(
        destination
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|id| *id == "new-1")
            .count(),
        1
    );
    assert_eq!(report.total_created(), 2);
    // Every record of the page is accounted for exactly once: ten items and
    // the two problems the exporter reported, plus the failed book.
    assert_eq!(c.seen(), 10 + 2 + 1, "{report}");

    let failed: Vec<(&str, &str)> = report
        .failures
        .iter()
        .map(|e| (e.item_id.as_str(), e.message.as_str()))
        .collect();
    let reason = |id: &str| {
        failed
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, m)| *m)
            .unwrap_or_else(|| panic!("{id} is not among the failures: {failed:?}"))
    };
    assert!(reason("bad-1").contains("rejected the card"));
    assert!(reason("panic-1").contains("panicked") && reason("panic-1").contains("importer bug"));
    assert!(reason("cards.vcf#3").contains("no BEGIN:VCARD"));
    assert!(reason("broken").contains("refused the name"));
    for orphan in ["orphan-1", "orphan-2"] {
        let r = reason(orphan);
        assert!(
            r.contains("Broken") && r.contains("refused the name"),
            "an item of a failed container fails with the container's reason: {r}"
        );
        assert!(!r.contains("internal"), "not an internal error: {r}");
    }
    let skipped: Vec<&str> = report.skipped.iter().map(|e| e.item_id.as_str()).collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped.contains(&"odd-1") && skipped.contains(&"cal.ics#journal-1"));
    assert!(
        report
            .skipped
            .iter()
            .any(|e| e.message.contains("keeps no journals"))
    );
    // Failures make the job partial; skipped records alone would not.
    assert_eq!(report.state, JobState::Partial);
    let text = report.to_string();
    assert!(text.contains("skipped contacts `Diary entry`"), "{text}");
    assert!(text.contains("failed contacts `bad-1`"), "{text}");

    let events = events.lock().unwrap();
    let skipped_events = events
        .iter()
        .filter(|e| matches!(e, TransferEvent::ItemSkipped { .. }))
        .count();
    let failed_events = events
        .iter()
        .filter(|e| matches!(e, TransferEvent::ItemFailed { .. }))
        .count();
    assert_eq!((skipped_events, failed_events), (2, 6));
}

/// Only unsupported records: the job is complete, and still says what it
/// left out.
struct JournalOnly;

#[async_trait]
impl Exporter<ContactsData> for JournalOnly {
    async fn export(
        &self,
        _ctx: &ExportContext,
        _auth: &AuthData,
        _cursor: &Cursor,
    ) -> Result<ExportPage<ContactsData>> {
        Ok(ExportPage::new()
            .with_container(AddressBook::new("good", "Good"))
            .with_item(Contact::new("new-1", "good", "Ada"))
            .with_skipped(RecordProblem::unsupported(
                "x#1",
                "Group card",
                "KIND:group cards are not contacts here",
            )))
    }
}

#[tokio::test]
async fn skipped_records_alone_leave_the_job_complete_and_listed() {
    let store = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new("a", "b", [DataType::Contacts]))
        .await
        .unwrap();
    let report = TransferDriver::new(store.clone())
        .run(
            &job.id,
            Transfer::new(
                Arc::new(JournalOnly),
                Arc::new(ScriptedDestination::default()),
            ),
        )
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert_eq!(report.skipped.len(), 1);
    assert!(report.failures.is_empty());
    let c = report.per_type[&DataType::Contacts];
    assert_eq!((c.created, c.unsupported, c.failed), (1, 1, 0));
}
