//! Per-(service, account) rate limits, shared by every run in a process.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota};

/// A request budget for one service and account, declared by an adapter.
///
/// ```
/// use std::num::NonZeroU32;
/// use dtp_core::RateLimit;
/// let limit = RateLimit::per_second("example.photos:alice", NonZeroU32::new(10).unwrap());
/// assert_eq!(limit.key(), "example.photos:alice");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    key: String,
    quota: Quota,
}

impl RateLimit {
    /// `n` requests per second (bursts of up to `n`) for `key`.
    pub fn per_second(key: impl Into<String>, n: NonZeroU32) -> Self {
        RateLimit {
            key: key.into(),
            quota: Quota::per_second(n),
        }
    }

    /// `n` requests per minute (bursts of up to `n`) for `key`.
    pub fn per_minute(key: impl Into<String>, n: NonZeroU32) -> Self {
        RateLimit {
            key: key.into(),
            quota: Quota::per_minute(n),
        }
    }

    /// Sets the burst size.
    pub fn with_burst(mut self, burst: NonZeroU32) -> Self {
        self.quota = self.quota.allow_burst(burst);
        self
    }

    /// The (service, account) key the budget is shared under.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// One limiter per key; give the same registry to every driver in a process so
/// concurrent jobs of one account share its budget.
#[derive(Debug, Clone, Default)]
pub struct RateLimiters {
    limiters: Arc<Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>>,
}

impl RateLimiters {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The limiter for `limit`'s key, created on first use.
    pub(crate) fn get(&self, limit: &RateLimit) -> Arc<DefaultDirectRateLimiter> {
        let mut map = match self.limiters.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(limit.key.clone())
            .or_insert_with(|| Arc::new(DefaultDirectRateLimiter::direct(limit.quota)))
            .clone()
    }
}
