//! Test kit for dtp-rs: in-memory services, fault injection and the adapter
//! conformance suite.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
