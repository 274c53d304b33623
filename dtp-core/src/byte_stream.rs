//! The stream type media bytes travel in.

use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;

use crate::Result;

/// Bytes of a photo, video or large message, as a stream of chunks. Never one
/// whole buffer.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send + 'static>>;
