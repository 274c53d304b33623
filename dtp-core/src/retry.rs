//! Retry with exponential backoff and jitter that honours `Retry-After`.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// How the driver retries retryable errors
/// ([`RateLimited`](crate::ErrorKind::RateLimited),
/// [`Transient`](crate::ErrorKind::Transient)).
///
/// A service's `Retry-After` always wins over the computed backoff; attempts
/// and total waiting are bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff delay.
    pub initial_delay: Duration,
    /// Largest computed backoff delay (a `Retry-After` may be longer).
    pub max_delay: Duration,
    /// Largest total time spent waiting for one call.
    pub max_elapsed: Duration,
    /// Whether to add random jitter to computed delays.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_elapsed: Duration::from_secs(15 * 60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the number of attempts.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the first delay.
    pub fn with_initial_delay(mut self, d: Duration) -> Self {
        self.initial_delay = d;
        self
    }

    /// Sets the largest computed delay.
    pub fn with_max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Sets the largest total wait.
    pub fn with_max_elapsed(mut self, d: Duration) -> Self {
        self.max_elapsed = d;
        self
    }

    /// Turns jitter on or off.
    pub fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The computed backoff delays (backon's exponential builder).
    pub(crate) fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        let mut b = ExponentialBuilder::default()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        if self.jitter {
            b = b.with_jitter();
        }
        b.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_grows() {
        let p = RetryPolicy::default()
            .with_jitter(false)
            .with_max_attempts(5);
        let delays: Vec<_> = p.backoff().collect();
        assert_eq!(delays.len(), 4);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
        assert_eq!(delays[0], Duration::from_millis(500));
        assert!(delays.iter().all(|d| *d <= p.max_delay));
    }
}
