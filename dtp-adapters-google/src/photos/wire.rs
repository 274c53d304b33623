//! Request and response bodies of the Photos Library API
//! (<https://developers.google.com/photos/library/reference/rest>). Unknown
//! fields are ignored; numbers Google sends as strings are kept as strings.

use serde::{Deserialize, Serialize};

/// `albums.create` request: `{"album":{"title":…}}`.
#[derive(Debug, Serialize)]
pub(crate) struct CreateAlbum<'a> {
    pub album: NewAlbum<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct NewAlbum<'a> {
    pub title: &'a str,
}

/// An `Album` (only what the importer reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlbumJson {
    pub id: String,
    #[serde(default)]
    pub title: String,
}

/// `albums.list` response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlbumsPage {
    #[serde(default)]
    pub albums: Vec<AlbumJson>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// A `MediaItem` (only what the importer reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MediaItemJson {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
}

/// `mediaItems.list` response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MediaItemsPage {
    #[serde(default)]
    pub media_items: Vec<MediaItemJson>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// `mediaItems.batchCreate` request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchCreate<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub album_id: Option<&'a str>,
    pub new_media_items: Vec<NewMediaItem<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewMediaItem<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub simple_media_item: SimpleMediaItem<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SimpleMediaItem<'a> {
    pub upload_token: &'a str,
    pub file_name: &'a str,
}

/// A `google.rpc.Status`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RpcStatus {
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub message: String,
}

/// One entry of `newMediaItemResults`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewMediaItemResult {
    #[serde(default)]
    pub upload_token: Option<String>,
    #[serde(default)]
    pub status: Option<RpcStatus>,
    #[serde(default)]
    pub media_item: Option<MediaItemJson>,
}

/// `mediaItems.batchCreate` response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchCreateResponse {
    #[serde(default)]
    pub new_media_item_results: Vec<NewMediaItemResult>,
}

/// `albums.batchAddMediaItems` request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchAdd<'a> {
    pub media_item_ids: Vec<&'a str>,
}
