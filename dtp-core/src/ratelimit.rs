//! Per-(service, account) rate limits, shared by every run in a process.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota};

/// What a request budget is shared under: a service (named as in errors,
/// `google.calendar`, `microsoft.graph`), optionally a scope within it (say
/// `import`, where a provider budgets reads and writes apart), and the
/// account. Written `service[:scope][:account]`.
///
/// ```
/// use dtp_core::RateLimitKey;
/// let key = RateLimitKey::new("google.calendar", "alice@example.com").with_scope("import");
/// assert_eq!(key.to_string(), "google.calendar:import:alice@example.com");
/// assert_eq!(key.account(), Some("alice@example.com"));
/// assert_eq!(RateLimitKey::service_wide("example.photos").to_string(), "example.photos");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RateLimitKey {
    service: String,
    scope: Option<String>,
    account: Option<String>,
}

impl RateLimitKey {
    /// The budget of `account` at `service`.
    pub fn new(service: impl Into<String>, account: impl Into<String>) -> Self {
        RateLimitKey {
            service: service.into(),
            scope: None,
            account: Some(account.into()),
        }
    }

    /// One budget for every account of `service` (when the account is not
    /// known, or the provider limits the whole application).
    pub fn service_wide(service: impl Into<String>) -> Self {
        RateLimitKey {
            service: service.into(),
            scope: None,
            account: None,
        }
    }

    /// A separate budget within the service (`import`, `export`, …).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The scope within the service, if any.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The account, unless the budget is service-wide.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }
}

impl fmt::Display for RateLimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.service)?;
        for part in [&self.scope, &self.account].into_iter().flatten() {
            write!(f, ":{part}")?;
        }
        Ok(())
    }
}

/// A request budget for one service and account, declared by an adapter.
///
/// ```
/// use std::num::NonZeroU32;
/// use dtp_core::{RateLimit, RateLimitKey};
/// let limit = RateLimit::per_second(RateLimitKey::new("example.photos", "alice"), NonZeroU32::new(10).unwrap());
/// assert_eq!(limit.key().to_string(), "example.photos:alice");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    key: RateLimitKey,
    quota: Quota,
}

impl RateLimit {
    /// `n` requests per second (bursts of up to `n`) for `key`.
    pub fn per_second(key: RateLimitKey, n: NonZeroU32) -> Self {
        RateLimit {
            key,
            quota: Quota::per_second(n),
        }
    }

    /// `n` requests per minute (bursts of up to `n`) for `key`.
    pub fn per_minute(key: RateLimitKey, n: NonZeroU32) -> Self {
        RateLimit {
            key,
            quota: Quota::per_minute(n),
        }
    }

    /// Sets the burst size.
    pub fn with_burst(mut self, burst: NonZeroU32) -> Self {
        self.quota = self.quota.allow_burst(burst);
        self
    }

    /// The key the budget is shared under.
    pub fn key(&self) -> &RateLimitKey {
        &self.key
    }
}

/// One limiter per key; give the same registry to every driver in a process so
/// concurrent jobs of one account share its budget.
#[derive(Debug, Clone, Default)]
pub struct RateLimiters {
    limiters: Arc<Mutex<HashMap<RateLimitKey, Arc<DefaultDirectRateLimiter>>>>,
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
