//! Live tests against a real Google account: they run only when
//! `DTP_GOOGLE_ACCESS_TOKEN` is set (a token with the read scopes of the
//! data types), and only read (export a first page). Without it they print
//! why they were skipped.

use std::sync::Arc;

use dtp_adapters_google::{GoogleClient, GoogleConfig, PeopleExporter};
use dtp_core::{AuthData, Cursor, ExportContext, Exporter, OAuthTokens};
use dtp_models::contacts::ContactsData;

fn live_auth() -> Option<AuthData> {
    match std::env::var("DTP_GOOGLE_ACCESS_TOKEN") {
        Ok(t) if !t.is_empty() => Some(AuthData::OAuth2(OAuthTokens::new(t))),
        _ => {
            println!(
                "live Google test skipped: DTP_GOOGLE_ACCESS_TOKEN is not set (an OAuth access token with contacts.readonly, calendar.readonly, tasks.readonly and gmail.readonly)"
            );
            None
        }
    }
}

#[tokio::test]
async fn live_contacts_first_pages_export() {
    let Some(auth) = live_auth() else { return };
    let client = GoogleClient::new(GoogleConfig::new("live")).unwrap();
    let exporter: Arc<dyn Exporter<ContactsData>> = Arc::new(PeopleExporter::new(client));
    let ctx = ExportContext::detached(dtp_core::DataType::Contacts);
    let page = exporter.export(&ctx, &auth, &Cursor::root()).await.unwrap();
    assert!(
        !page.next.is_empty(),
        "the groups page leads to the connections"
    );
    let page = exporter.export(&ctx, &auth, &page.next[0]).await.unwrap();
    println!(
        "live: first connections page: {} contacts",
        page.items.len()
    );
}
