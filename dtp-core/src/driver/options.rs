//! The driver's knobs and what one data type's run moves.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::events::EventSink;
use crate::ratelimit::RateLimiters;
use crate::retry::RetryPolicy;
use crate::{AuthData, AuthRefresher, AuthSealer, DataModel, Exporter, Importer};

/// Knobs of the driver.
#[derive(Clone)]
#[non_exhaustive]
pub struct TransferOptions {
    /// How many pages the exporter may run ahead of the importer.
    pub page_lookahead: usize,
    /// How many items are imported at once.
    pub item_concurrency: usize,
    /// How retryable errors are retried.
    pub retry: RetryPolicy,
    /// Shared rate limiters (one per service and account).
    pub rate_limiters: RateLimiters,
    /// Where progress events go.
    pub events: Option<EventSink>,
    /// Cancels the run: it stops promptly and leaves a resumable checkpoint.
    pub cancel: CancellationToken,
    /// Seals refreshed credentials so the job store can keep them.
    pub sealer: Option<Arc<dyn AuthSealer>>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            page_lookahead: 4,
            item_concurrency: 8,
            retry: RetryPolicy::default(),
            rate_limiters: RateLimiters::new(),
            events: None,
            cancel: CancellationToken::new(),
            sealer: None,
        }
    }
}

impl std::fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferOptions")
            .field("page_lookahead", &self.page_lookahead)
            .field("item_concurrency", &self.item_concurrency)
            .field("retry", &self.retry)
            .field("events", &self.events.is_some())
            .field("cancelled", &self.cancel.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl TransferOptions {
    /// Sets how far the exporter may run ahead (at least 1 page).
    pub fn with_page_lookahead(mut self, pages: usize) -> Self {
        self.page_lookahead = pages.max(1);
        self
    }

    /// Sets how many items are imported at once (at least 1).
    pub fn with_item_concurrency(mut self, n: usize) -> Self {
        self.item_concurrency = n.max(1);
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Shares rate limiters with other drivers.
    pub fn with_rate_limiters(mut self, limiters: RateLimiters) -> Self {
        self.rate_limiters = limiters;
        self
    }

    /// Sends progress events to `sink`.
    pub fn with_events(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// Uses `cancel` to stop the run.
    pub fn with_cancellation(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Persists refreshed credentials, sealed by `sealer`.
    pub fn with_sealer(mut self, sealer: Arc<dyn AuthSealer>) -> Self {
        self.sealer = Some(sealer);
        self
    }
}

/// One data type's exporter and importer, with both sides' credentials.
pub struct Transfer<M: DataModel> {
    pub(crate) exporter: Arc<dyn Exporter<M>>,
    pub(crate) importer: Arc<dyn Importer<M>>,
    pub(crate) export_auth: AuthData,
    pub(crate) import_auth: AuthData,
    pub(crate) export_refresher: Option<Arc<dyn AuthRefresher>>,
    pub(crate) import_refresher: Option<Arc<dyn AuthRefresher>>,
}

impl<M: DataModel> Transfer<M> {
    /// A transfer from `exporter` to `importer`, without credentials.
    pub fn new(exporter: Arc<dyn Exporter<M>>, importer: Arc<dyn Importer<M>>) -> Self {
        Transfer {
            exporter,
            importer,
            export_auth: AuthData::None,
            import_auth: AuthData::None,
            export_refresher: None,
            import_refresher: None,
        }
    }

    /// Credentials for the source.
    pub fn with_export_auth(mut self, auth: AuthData) -> Self {
        self.export_auth = auth;
        self
    }

    /// Credentials for the destination.
    pub fn with_import_auth(mut self, auth: AuthData) -> Self {
        self.import_auth = auth;
        self
    }

    /// Refreshes the source's credentials on `Unauthenticated`.
    pub fn with_export_refresher(mut self, refresher: Arc<dyn AuthRefresher>) -> Self {
        self.export_refresher = Some(refresher);
        self
    }

    /// Refreshes the destination's credentials on `Unauthenticated`.
    pub fn with_import_refresher(mut self, refresher: Arc<dyn AuthRefresher>) -> Self {
        self.import_refresher = Some(refresher);
        self
    }
}
