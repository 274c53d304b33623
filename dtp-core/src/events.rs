//! Progress events and the final report.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{Counters, ItemError, JobId, JobState, StopReason};
use crate::{AuthMode, DataType};

/// What happened during a transfer, as it happens.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransferEvent {
    /// A run of one data type started (or resumed from a checkpoint).
    Started {
        /// The job.
        job_id: JobId,
        /// The data type.
        data_type: DataType,
        /// Whether it continues from a checkpoint.
        resumed: bool,
        /// Totals carried over from earlier runs.
        counters: Counters,
    },
    /// The exporter delivered a page.
    PageExported {
        /// The data type.
        data_type: DataType,
        /// Containers on the page.
        containers: usize,
        /// Items on the page.
        items: usize,
    },
    /// An item was imported (emitted when its page is checkpointed).
    ItemImported {
        /// The data type.
        data_type: DataType,
        /// The source id.
        item_id: String,
        /// Its display name.
        name: String,
        /// Media bytes moved with it.
        bytes: u64,
    },
    /// A page was imported.
    PageImported {
        /// The data type.
        data_type: DataType,
        /// What this page added to the totals.
        counters: Counters,
    },
    /// An item failed; the transfer goes on.
    ItemFailed {
        /// The failure.
        error: ItemError,
    },
    /// A record was skipped because the destination (or the data type)
    /// cannot carry it; the transfer goes on.
    ItemSkipped {
        /// The record and the reason.
        error: ItemError,
    },
    /// A call failed with a retryable error and will be tried again.
    Retrying {
        /// The operation (`"export"`, `"import_item"`, …).
        operation: &'static str,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// How long the driver waits.
        delay: Duration,
        /// The error kind's stable name.
        kind: &'static str,
    },
    /// Credentials were refreshed after an `Unauthenticated` answer.
    AuthRefreshed {
        /// Which side.
        mode: AuthMode,
    },
    /// Progress was saved.
    Checkpoint {
        /// The data type.
        data_type: DataType,
        /// Totals so far.
        counters: Counters,
    },
    /// A run of one data type ended.
    Finished {
        /// The data type.
        data_type: DataType,
        /// The job's state afterwards.
        state: JobState,
    },
}

/// Receives [`TransferEvent`]s; called inline, so it must be quick.
pub type EventSink = Arc<dyn Fn(&TransferEvent) + Send + Sync>;

/// The outcome of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TransferReport {
    /// The job.
    pub job_id: JobId,
    /// Its state.
    pub state: JobState,
    /// Why it stopped, when stopped.
    pub stop_reason: Option<StopReason>,
    /// Totals per data type.
    pub per_type: BTreeMap<DataType, Counters>,
    /// Data types not finished yet.
    pub unfinished: Vec<DataType>,
    /// Every failed item, with its reason.
    pub failures: Vec<ItemError>,
    /// Every record skipped because the destination (or the data type)
    /// cannot carry it, with the reason.
    #[serde(default)]
    pub skipped: Vec<ItemError>,
}

impl TransferReport {
    /// Items at the destination over all data types: created, already there
    /// or updated.
    pub fn total_items(&self) -> u64 {
        self.per_type.values().map(Counters::done).sum()
    }

    /// Items created over all data types.
    pub fn total_created(&self) -> u64 {
        self.per_type.values().map(|c| c.created).sum()
    }

    /// Media bytes imported over all data types.
    pub fn total_bytes(&self) -> u64 {
        self.per_type.values().map(|c| c.bytes).sum()
    }

    /// Whether everything finished without failures.
    pub fn is_complete(&self) -> bool {
        self.state == JobState::Complete
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl fmt::Display for TransferReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "job {}: {}", self.job_id, self.state)?;
        if let Some(r) = &self.stop_reason {
            writeln!(f, "  stopped: {r}")?;
        }
        writeln!(
            f,
            "  {:<10} {:>10} {:>8} {:>8} {:>8} {:>10} {:>7} {:>8}",
            "type", "containers", "created", "there", "updated", "bytes", "failed", "skipped"
        )?;
        for (t, c) in &self.per_type {
            writeln!(
                f,
                "  {:<10} {:>10} {:>8} {:>8} {:>8} {:>10} {:>7} {:>8}",
                t.as_str(),
                c.containers,
                c.created,
                c.already_there,
                c.updated,
                human_bytes(c.bytes),
                c.failed,
                c.unsupported
            )?;
        }
        if !self.unfinished.is_empty() {
            let names: Vec<&str> = self.unfinished.iter().map(|t| t.as_str()).collect();
            writeln!(f, "  unfinished: {}", names.join(", "))?;
        }
        for e in &self.failures {
            writeln!(
                f,
                "  failed {} `{}` ({}): {}",
                e.data_type, e.name, e.item_id, e.message
            )?;
        }
        for e in &self.skipped {
            writeln!(
                f,
                "  skipped {} `{}` ({}): {}",
                e.data_type, e.name, e.item_id, e.message
            )?;
        }
        Ok(())
    }
}
