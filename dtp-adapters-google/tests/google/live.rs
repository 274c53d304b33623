//! Live tests against a real Google account. They run only when
//! `DTP_GOOGLE_ACCESS_TOKEN` is set (an OAuth access token with the read
//! scopes `contacts.readonly`, `calendar.readonly`, `tasks.readonly` and
//! `gmail.readonly`), and they only read: each exports its first pages.
//! Without the variable they print why they were skipped.

use std::sync::Arc;

use dtp_adapters_google::{
    CalendarExporter, GmailExporter, GoogleClient, GoogleConfig, PeopleExporter, TasksExporter,
};
use dtp_core::{AuthData, Cursor, DataModel, ExportContext, Exporter, OAuthTokens};
use dtp_models::calendar::CalendarData;
use dtp_models::contacts::ContactsData;
use dtp_models::mail::MailData;
use dtp_models::tasks::TasksData;

fn live_auth(what: &str) -> Option<AuthData> {
    match std::env::var("DTP_GOOGLE_ACCESS_TOKEN") {
        Ok(t) if !t.is_empty() => Some(AuthData::OAuth2(OAuthTokens::new(t))),
        _ => {
            println!(
                "live Google {what} test skipped: DTP_GOOGLE_ACCESS_TOKEN is not set (an OAuth access token with contacts.readonly, calendar.readonly, tasks.readonly and gmail.readonly)"
            );
            None
        }
    }
}

fn client() -> GoogleClient {
    GoogleClient::new(GoogleConfig::new("live")).unwrap()
}

/// Follows the first cursor of each page for up to `pages` pages.
async fn first_pages<M: DataModel>(
    exporter: Arc<dyn Exporter<M>>,
    auth: &AuthData,
    pages: usize,
) -> (usize, usize) {
    let ctx = ExportContext::detached(M::DATA_TYPE);
    let mut cursor = Cursor::root();
    let (mut containers, mut items) = (0, 0);
    for _ in 0..pages {
        let page = exporter.export(&ctx, auth, &cursor).await.unwrap();
        containers += page.containers.len();
        items += page.items.len();
        match page.next.into_iter().next() {
            Some(c) => cursor = c,
            None => break,
        }
    }
    (containers, items)
}

#[tokio::test]
async fn live_contacts_export() {
    let Some(auth) = live_auth("contacts") else {
        return;
    };
    let got = first_pages::<ContactsData>(Arc::new(PeopleExporter::new(client())), &auth, 3).await;
    println!("live contacts: {got:?} (containers, items)");
}

#[tokio::test]
async fn live_calendar_export() {
    let Some(auth) = live_auth("calendar") else {
        return;
    };
    let got =
        first_pages::<CalendarData>(Arc::new(CalendarExporter::new(client())), &auth, 3).await;
    println!("live calendar: {got:?} (containers, items)");
}

#[tokio::test]
async fn live_tasks_export() {
    let Some(auth) = live_auth("tasks") else {
        return;
    };
    let got = first_pages::<TasksData>(Arc::new(TasksExporter::new(client())), &auth, 3).await;
    println!("live tasks: {got:?} (containers, items)");
}

#[tokio::test]
async fn live_gmail_export() {
    let Some(auth) = live_auth("gmail") else {
        return;
    };
    let got = first_pages::<MailData>(
        Arc::new(GmailExporter::new(client()).with_page_size(5)),
        &auth,
        2,
    )
    .await;
    println!("live gmail: {got:?} (containers, items)");
}
