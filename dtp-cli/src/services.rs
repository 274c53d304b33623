//! The services this build of `dtp` knows: each adapter crate's own
//! factories.

use std::sync::Arc;

use dtp_adapters_dav::DavService;
use dtp_adapters_google::GoogleTakeoutService;
use dtp_adapters_local::LocalService;
use dtp_core::registry::Registry;

/// Every service compiled in.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(LocalService::new()));
    for dav in DavService::all() {
        r.register(Arc::new(dav));
    }
    r.register(Arc::new(GoogleTakeoutService::new()));
    r
}
