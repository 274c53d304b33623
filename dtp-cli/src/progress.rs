//! Progress display: one indicatif bar per data type on a terminal, plain
//! log lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dtp_core::{DataType, EventSink, TransferEvent};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `1.2 MiB (340 KiB/s)`: the total, and the rate of this run.
fn bytes_msg(total: u64, this_run: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    format!(
        "{} ({}/s)",
        HumanBytes(total),
        HumanBytes((this_run as f64 / secs) as u64)
    )
}

#[derive(Default)]
struct TypeState {
    bar: Option<ProgressBar>,
    exported: u64,
    done: u64,
    bytes: u64,
    start_bytes: u64,
    failed: u64,
}

/// Shows transfer progress on stderr.
#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
    types: Arc<Mutex<HashMap<DataType, TypeState>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Progress {
    /// Bars when stderr is a terminal, lines otherwise.
    pub fn new() -> Self {
        let tty = std::io::stderr().is_terminal();
        Progress {
            multi: tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            types: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn style() -> ProgressStyle {
        ProgressStyle::with_template(
            "{prefix:>9.bold} [{bar:28.cyan/blue}] {pos:>5}/{len:5} items  {rate:>11}  {msg:<24} ETA {eta}",
        )
        .map(|s| {
            s.with_key(
                "rate",
                |st: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} items/s", st.per_sec());
                },
            )
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
    }

    fn bar(&self, st: &mut TypeState, t: DataType) {
        if st.bar.is_none()
            && let Some(m) = &self.multi
        {
            let b = m.add(ProgressBar::new(0));
            b.set_style(Self::style());
            b.set_prefix(t.as_str().to_string());
            b.enable_steady_tick(Duration::from_millis(200));
            st.bar = Some(b);
        }
    }

    /// The event sink to hand to the driver.
    pub fn sink(&self) -> EventSink {
        let me = self.clone();
        Arc::new(move |e: &TransferEvent| me.on_event(e))
    }

    fn on_event(&self, e: &TransferEvent) {
        let mut types = lock(&self.types);
        match e {
            TransferEvent::Started {
                data_type,
                resumed,
                counters,
                ..
            } => {
                let st = types.entry(*data_type).or_default();
                self.bar(st, *data_type);
                st.done = counters.created + counters.failed;
                st.exported = st.done;
                st.bytes = counters.bytes;
                st.start_bytes = counters.bytes;
                if let Some(b) = &st.bar {
                    b.set_length(st.exported);
                    b.set_position(st.done);
                    b.set_message(HumanBytes(st.bytes).to_string());
                } else {
                    eprintln!(
                        "{data_type}: {}",
                        if *resumed {
                            format!("resuming after {} items", st.done)
                        } else {
                            "started".to_string()
                        }
                    );
                }
            }
            TransferEvent::PageExported {
                data_type, items, ..
            } => {
                let st = types.entry(*data_type).or_default();
                st.exported += *items as u64;
                if let Some(b) = &st.bar {
                    b.set_length(st.exported.max(st.done));
                }
            }
            TransferEvent::PageImported {
                data_type,
                counters,
                ..
            } => {
                let st = types.entry(*data_type).or_default();
                // Every record of the page is accounted for once, whatever
                // became of it.
                st.done += counters.seen();
                st.bytes += counters.bytes;
                st.failed += counters.failed;
                match &st.bar {
                    Some(b) => {
                        b.set_length(st.exported.max(st.done));
                        b.set_position(st.done);
                        b.set_message(bytes_msg(st.bytes, st.bytes - st.start_bytes, b.elapsed()));
                    }
                    None => eprintln!(
                        "{data_type}: {} items done ({}), {} failed",
                        st.done,
                        HumanBytes(st.bytes),
                        st.failed
                    ),
                }
            }
            TransferEvent::ItemFailed { error } | TransferEvent::ItemSkipped { error } => {
                let what = if error.is_unsupported() {
                    "skipped"
                } else {
                    "failed"
                };
                let line = format!(
                    "{}: {what} `{}`: {}",
                    error.data_type, error.name, error.message
                );
                match &self.multi {
                    Some(m) => {
                        let _ = m.println(line);
                    }
                    None => eprintln!("{line}"),
                }
            }
            TransferEvent::Retrying {
                operation,
                attempt,
                delay,
                kind,
            } => {
                let line = format!(
                    "retrying {operation} (attempt {attempt}, {kind}) in {:.1}s",
                    delay.as_secs_f64()
                );
                match &self.multi {
                    Some(m) => {
                        let _ = m.println(line);
                    }
                    None => eprintln!("{line}"),
                }
            }
            TransferEvent::Finished { data_type, state } => {
                // The job's state: still `running` while other types remain.
                let state = match state {
                    dtp_core::store::JobState::Running => "done".to_string(),
                    s => s.to_string(),
                };
                let st = types.entry(*data_type).or_default();
                match &st.bar {
                    Some(b) => {
                        let msg = format!(
                            "{} {state}",
                            bytes_msg(st.bytes, st.bytes - st.start_bytes, b.elapsed())
                        );
                        if state == "stopped" {
                            // Keep the position where it stopped.
                            b.abandon_with_message(msg);
                        } else {
                            b.set_length(st.done);
                            b.finish_with_message(msg);
                        }
                    }
                    None => eprintln!("{data_type}: {state}"),
                }
            }
            _ => {}
        }
    }

    /// Stops drawing (bars stay on screen).
    pub fn finish(&self) {
        for st in lock(&self.types).values() {
            if let Some(b) = &st.bar
                && !b.is_finished()
            {
                b.abandon();
            }
        }
    }
}
