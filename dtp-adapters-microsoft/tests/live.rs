//! Live checks against a real Microsoft account, read-only: the first page
//! of each data type. Skipped (with the reason printed) unless
//! `DTP_MICROSOFT_ACCESS_TOKEN` is set; `DTP_MICROSOFT_GRAPH_URL` overrides
//! the API root (default `https://graph.microsoft.com/v1.0/`).

use dtp_adapters_microsoft::{
    GraphClient, GraphConfig, MicrosoftTodo, OutlookCalendar, OutlookContacts, OutlookMail,
};
use dtp_core::{AuthData, Cursor, DataModel, ExportContext, Exporter, OAuthTokens};

fn live() -> Option<(GraphClient, AuthData)> {
    let Ok(token) = std::env::var("DTP_MICROSOFT_ACCESS_TOKEN") else {
        println!(
            "skipped: live Microsoft Graph tests need DTP_MICROSOFT_ACCESS_TOKEN (a delegated token with Contacts.Read, Calendars.Read, Tasks.Read, Mail.Read)"
        );
        return None;
    };
    let mut config = GraphConfig::new();
    if let Ok(base) = std::env::var("DTP_MICROSOFT_GRAPH_URL") {
        config = config
            .with_base_url(&base)
            .expect("DTP_MICROSOFT_GRAPH_URL is a URL");
    }
    Some((
        GraphClient::new(config).expect("client"),
        AuthData::OAuth2(OAuthTokens::new(token)),
    ))
}

async fn first_page<M: DataModel>(exporter: &dyn Exporter<M>, auth: &AuthData) {
    let ctx = ExportContext::detached(M::DATA_TYPE);
    let page = exporter
        .export(&ctx, auth, &Cursor::root())
        .await
        .unwrap_or_else(|e| panic!("{:?}: {e}", M::DATA_TYPE));
    println!(
        "{:?}: {} containers, {} items, {} cursors on the first page",
        M::DATA_TYPE,
        page.containers.len(),
        page.items.len(),
        page.next.len()
    );
}

#[tokio::test]
async fn live_first_pages() {
    let Some((client, auth)) = live() else { return };
    first_page(&OutlookContacts::new(client.clone()), &auth).await;
    first_page(&OutlookCalendar::new(client.clone()), &auth).await;
    first_page(&MicrosoftTodo::new(client.clone()), &auth).await;
    first_page(&OutlookMail::new(client), &auth).await;
}
