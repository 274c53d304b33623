//! Through the driver: an expired access token is refreshed once at the
//! identity platform (a wiremock token endpoint that rotates refresh
//! tokens), the transfer completes, and the job store keeps the rotated
//! refresh token (sealed), so a resumed job does not use the old one.

mod common;

use std::sync::Arc;

use common::fake::GraphFake;
use common::{client_for, fixture};
use dtp_adapters_microsoft::OutlookContacts;
use dtp_adapters_microsoft::auth::oauth2_config_at;
use dtp_auth::{OAuth2AuthDataGenerator, XChaChaSealer};
use dtp_core::store::{JobState, JobStore, MemoryJobStore, NewJob};
use dtp_core::{
    AuthData, AuthMode, AuthSealer, OAuthTokens, Transfer, TransferDriver, TransferOptions,
};
use dtp_models::contacts::ContactsData;
use dtp_testkit::{DatasetSpec, MemoryExporter};
use secrecy::ExposeSecret;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn expired_token_is_refreshed_and_the_rotated_refresh_token_is_sealed_in_the_store() {
    // Graph accepts only the refreshed token.
    let (_graph, fake) = GraphFake::start("at-2", false).await;
    let login = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/common/oauth2/v2.0/token"))
        .and(|req: &wiremock::Request| {
            url::form_urlencoded::parse(&req.body).any(|(k, v)| k == "refresh_token" && v == "rt-1")
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture(
            "token.refresh.rotated",
            &[("access_token", "at-2"), ("refresh_token", "rt-2")],
        )))
        .expect(1)
        .mount(&login)
        .await;
    let generator = Arc::new(
        OAuth2AuthDataGenerator::new(oauth2_config_at(&login.uri(), "common", "app")).unwrap(),
    );
    let sealer = Arc::new(XChaChaSealer::new(&[7; 32]));
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
    let job = store
        .create_job(NewJob::new(
            "memory",
            "outlook",
            [dtp_core::DataType::Contacts],
        ))
        .await
        .unwrap()
        .id;
    let src = Arc::new(MemoryExporter::<ContactsData>::generated(DatasetSpec::new(
        1, 5,
    )));
    let dest = Arc::new(OutlookContacts::new(client_for(&fake)));
    let expired = AuthData::OAuth2(
        OAuthTokens::new("at-1")
            .with_refresh_token("rt-1")
            .with_expires_at(1),
    );
    let report = TransferDriver::new(store.clone())
        .with_options(TransferOptions::default().with_sealer(sealer.clone()))
        .run(
            &job,
            Transfer::new(src, dest)
                .with_export_auth(AuthData::None)
                .with_import_auth(expired)
                .with_import_refresher(generator),
        )
        .await
        .unwrap();
    assert_eq!(report.state, JobState::Complete, "{report}");
    assert_eq!(fake.count("contact"), 5);
    let sealed = store
        .auth(&job, AuthMode::Import)
        .await
        .unwrap()
        .expect("refreshed auth stored");
    match sealer.open(&sealed).unwrap() {
        AuthData::OAuth2(t) => {
            assert_eq!(t.access_token.expose_secret(), "at-2");
            assert_eq!(t.refresh_token.unwrap().expose_secret(), "rt-2");
        }
        other => panic!("not OAuth: {other}"),
    }
}
