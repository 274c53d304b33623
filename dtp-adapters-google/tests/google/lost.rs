//! Answers lost after Google carried a write out (a 500 after the commit):
//! the driver retries, and the importers read the account again instead of
//! creating twice. Every data type, nothing duplicated.

use std::sync::Arc;

use dtp_adapters_google::testing::calendar::CalendarFake;
use dtp_adapters_google::testing::gmail::GmailFake;
use dtp_adapters_google::testing::people::PeopleFake;
use dtp_adapters_google::testing::tasks::TasksFake;
use dtp_adapters_google::testing::{self, client_for};
use dtp_adapters_google::{CalendarImporter, GmailImporter, PeopleImporter, TasksImporter};
use dtp_core::AuthData;
use dtp_core::store::JobState;
use dtp_testkit::{DatasetSpec, MemoryExporter};

use crate::common::run;

const T: &str = "ya29.lost";

fn source<M: dtp_testkit::SampleModel>() -> Arc<MemoryExporter<M>> {
    Arc::new(MemoryExporter::generated(
        DatasetSpec::new(2, 6).with_page_size(4),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_lost_answers_duplicate_nothing() {
    let (server, fake) = PeopleFake::start(T).await;
    fake.auth().lose_next_answers(3);
    let r = run(
        source(),
        Arc::new(PeopleImporter::new(client_for(&server))),
        AuthData::None,
        testing::oauth(T),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(
        fake.with_state(|s| (s.people.len(), s.groups.len())),
        (12, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_lost_answers_duplicate_nothing() {
    let (server, fake) = CalendarFake::start(T).await;
    fake.auth().lose_next_answers(3);
    let r = run(
        source(),
        Arc::new(CalendarImporter::new(client_for(&server))),
        AuthData::None,
        testing::oauth(T),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let events: usize = fake.with_state(|s| s.calendars.iter().map(|c| c.events.len()).sum());
    assert_eq!(events, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_lost_answers_duplicate_nothing() {
    let (server, fake) = TasksFake::start(T).await;
    fake.auth().lose_next_answers(3);
    let r = run(
        source(),
        Arc::new(TasksImporter::new(client_for(&server))),
        AuthData::None,
        testing::oauth(T),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    let tasks: usize = fake.with_state(|s| s.lists.iter().map(|l| l.tasks.len()).sum());
    assert_eq!(tasks, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmail_lost_answers_duplicate_nothing() {
    let (server, fake) = GmailFake::start(T).await;
    fake.auth().lose_next_answers(3);
    let r = run(
        source(),
        Arc::new(GmailImporter::new(client_for(&server))),
        AuthData::None,
        testing::oauth(T),
        None,
    )
    .await;
    assert_eq!(r.state, JobState::Complete, "{r}");
    assert_eq!(fake.with_state(|s| s.messages.len()), 12);
}
