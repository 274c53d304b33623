//! Test kit for dtp-rs: in-memory services for every data type, fault
//! injection (errors, latency, crashes), and the conformance suite every
//! adapter crate runs against a faithful fake of its service.
#![forbid(unsafe_code)]

pub mod conformance;
mod faults;
mod memory;
mod sample;
pub mod store_suite;

pub use faults::{CrashPoint, FaultPlan, FaultyExporter, FaultyImporter, FaultyStore, Op};
pub use memory::{
    Dataset, Destination, ImportedItem, MemoryExporter, MemoryImporter, Verification,
};
pub use sample::{DatasetSpec, SampleBytes, SampleModel, sample_media_bytes};
