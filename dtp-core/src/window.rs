//! A bounded window of futures, reused in place.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::Result;

/// Runs `step` for every element of `items`, at most `window` at a time,
/// stopping at the first error (like `try_for_each_concurrent`). The futures
/// live in `window` slots allocated once and reused in place, instead of one
/// heap task per item: with fast importers that allocation and its
/// bookkeeping cost as much as the rest of the per-item work. Every slot is
/// polled on each wake-up, which is cheap for the small windows used here.
pub(crate) async fn try_for_each_in_window<I, F, Fut>(
    items: I,
    window: usize,
    mut step: F,
) -> Result<()>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut items = items.into_iter().fuse();
    let mut slots: Vec<Pin<Box<Option<Fut>>>> =
        (0..window.max(1)).map(|_| Box::pin(None)).collect();
    futures::future::poll_fn(|cx| {
        loop {
            let mut busy = false;
            let mut freed = false;
            for slot in slots.iter_mut() {
                if slot.is_none() {
                    match items.next() {
                        Some(item) => slot.set(Some(step(item))),
                        None => continue,
                    }
                }
                if let Some(fut) = slot.as_mut().as_pin_mut() {
                    match fut.poll(cx) {
                        Poll::Ready(Ok(())) => {
                            slot.set(None);
                            freed = true;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => busy = true,
                    }
                }
            }
            if !freed {
                // Nothing finished in this round: either all is done or every
                // slot waits on its waker.
                return if busy {
                    Poll::Pending
                } else {
                    Poll::Ready(Ok(()))
                };
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::{Error, ErrorKind};

    #[tokio::test(start_paused = true)]
    async fn the_window_bounds_what_is_in_flight_and_runs_everything() {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let done = std::sync::Mutex::new(Vec::new());
        try_for_each_in_window(0..50u64, 4, |n| {
            let (in_flight, peak, done) = (&in_flight, &peak, &done);
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Uneven durations so slots free up out of order.
                tokio::time::sleep(Duration::from_millis(1 + n % 7)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                done.lock().unwrap().push(n);
                Ok(())
            }
        })
        .await
        .unwrap();
        let mut done = done.into_inner().unwrap();
        done.sort_unstable();
        assert_eq!(done, (0..50).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_error_stops_the_window() {
        let started = AtomicUsize::new(0);
        let err = try_for_each_in_window(0..100u64, 3, |n| {
            let started = &started;
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                if n == 10 {
                    Err(Error::invalid_data("item 10"))
                } else {
                    Ok(())
                }
            }
        })
        .await
        .unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::InvalidData);
        let started = started.load(Ordering::SeqCst);
        assert!((11..=13).contains(&started), "started {started} items");
    }

    #[tokio::test]
    async fn an_empty_input_finishes_at_once() {
        try_for_each_in_window(std::iter::empty::<u8>(), 8, |_| async { Ok(()) })
            .await
            .unwrap();
    }
}
