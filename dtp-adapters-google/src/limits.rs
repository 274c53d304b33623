//! Google's published per-user quotas as [`RateLimit`]s, keyed by API and
//! account so that every job of one account shares one budget.
//!
//! The driver takes one permit per call it makes (one `export` page, one
//! `import_item`, one `find_existing_*`), so each budget is stated in those
//! units:
//!
//! | API | published per-user quota | budget here |
//! |---|---|---|
//! | Calendar | 600 requests per minute per user per project (Calendar "Usage limits" page) | 600/min |
//! | Gmail | 15,000 quota units per user per minute; `messages.import` 25 units, `messages.list`/`get` 5 | import 600 items/min; export pages of `page` messages: 15,000 / (5 × (page + 1)) pages/min |
//! | People | per-minute read/write quotas per user, numbers not published in the reference (UNCONFIRMED; a console showed 180 reads/min) | 90/min, mutations sequential |
//! | Tasks | 50,000 queries per project per day; per-user per-minute limit not published (UNCONFIRMED) | 300/min |
//! | Photos Library | 10,000 requests per project per day; 429 above unpublished limits | 300/min |

use std::num::NonZeroU32;

use dtp_core::{RateLimit, RateLimitKey};

use crate::client::Api;

/// Which side a budget is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Reading (export pages).
    Export,
    /// Writing (imported items).
    Import,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least 1")
}

/// Calls per minute the driver may make on `api` for `side`; `page_size` is
/// the number of records per export page where one page costs several
/// requests (Gmail: one `messages.get` per message).
pub fn calls_per_minute(api: Api, side: Side, page_size: u32) -> u32 {
    match (api, side) {
        (Api::Calendar, _) => 600,
        (Api::Gmail, Side::Import) => 15_000 / 25,
        (Api::Gmail, Side::Export) => 15_000 / (5 * (page_size + 1)),
        (Api::People, _) => 90,
        (Api::Tasks, _) => 300,
        _ => 300,
    }
}

/// The budget for `api`, `side` and `account`, keyed
/// `"google.calendar:import:alice@example.com"`.
pub fn rate_limit(api: Api, side: Side, account: &str, page_size: u32) -> RateLimit {
    let n = calls_per_minute(api, side, page_size);
    let side_name = match side {
        Side::Export => "export",
        Side::Import => "import",
    };
    RateLimit::per_minute(
        RateLimitKey::new(api.service_name(), account).with_scope(side_name),
        nz(n),
    )
    .with_burst(nz((n / 6).max(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_follow_the_published_units() {
        assert_eq!(calls_per_minute(Api::Gmail, Side::Import, 0), 600);
        assert_eq!(calls_per_minute(Api::Gmail, Side::Export, 49), 60);
        assert_eq!(calls_per_minute(Api::Calendar, Side::Export, 250), 600);
        let l = rate_limit(Api::Calendar, Side::Import, "alice", 0);
        assert_eq!(l.key().to_string(), "google.calendar:import:alice");
    }
}
