//! The adapter conformance suite (placeholder replaced below).
