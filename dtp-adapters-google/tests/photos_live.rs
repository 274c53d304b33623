//! Live checks, skipped (with the reason printed) unless their variables
//! are set. They only read.
//!
//! * `DTP_GOOGLE_PHOTOS_ACCESS_TOKEN`: an OAuth access token with
//!   `photoslibrary.readonly.appcreateddata`; lists what this app created
//!   (the listing crash recovery relies on).
//! * `DTP_GOOGLE_TAKEOUT_PATH`: a Google Photos Takeout you downloaded (zip,
//!   folder of zip parts, or extracted folder); scanned, and the first
//!   items' bytes streamed and counted.

use dtp_adapters_google::photos::GooglePhotosImporter;
use dtp_adapters_google::takeout::GoogleTakeout;
use dtp_adapters_google::{GoogleClient, GoogleConfig};
use dtp_core::{AuthData, DataType, ExportContext, Exporter, OAuthTokens};
use futures::StreamExt;

#[tokio::test]
async fn live_photos_app_created_listing() {
    let token = match std::env::var("DTP_GOOGLE_PHOTOS_ACCESS_TOKEN") {
        Ok(t) if !t.is_empty() => t,
        _ => {
            println!(
                "live Google Photos test skipped: DTP_GOOGLE_PHOTOS_ACCESS_TOKEN is not set (an OAuth access token with photoslibrary.readonly.appcreateddata)"
            );
            return;
        }
    };
    let importer = GooglePhotosImporter::new(GoogleClient::new(GoogleConfig::new("live")).unwrap());
    let auth = AuthData::OAuth2(OAuthTokens::new(token));
    let (albums, items) = importer.app_created_counts(&auth).await.unwrap();
    println!("live Google Photos: {albums} albums and {items} items created by this app");
}

#[tokio::test]
async fn live_takeout_scan() {
    let Some(path) = std::env::var_os("DTP_GOOGLE_TAKEOUT_PATH") else {
        println!(
            "live Takeout test skipped: DTP_GOOGLE_TAKEOUT_PATH is not set (a downloaded Google Photos Takeout: zip, folder of zip parts, or extracted folder)"
        );
        return;
    };
    let takeout = GoogleTakeout::open(&path).unwrap();
    let (albums, items) = takeout.scan().await.unwrap();
    let with_time = items.iter().filter(|i| i.captured.is_some()).count();
    println!(
        "live Takeout: {} albums, {} items, {with_time} with a capture time from their sidecar",
        albums.len(),
        items.len()
    );
    let ctx = ExportContext::detached(DataType::Media);
    for item in items.iter().take(5) {
        let mut stream = takeout
            .open_media(&ctx, &AuthData::None, &item.content)
            .await
            .unwrap();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            n += chunk.unwrap().len() as u64;
        }
        assert_eq!(Some(n), item.content.size, "{}", item.filename);
    }
}
