//! Exponential backoff between retries: the first delay, doubled after each failure up to
//! a cap, back to the first after a success. Shared by the reconcile loop's failed syncs
//! and the supervisor's HAProxy restarts.

use std::time::Duration;

/// Delays for consecutive failures: `first`, `2 × first`, … up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `first`, never above `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
        }
    }

    /// The delay before the next retry; the one after is twice as long (up to the cap).
    pub fn failed(&mut self) -> Duration {
        let now = self.next.min(self.max);
        self.next = (now * 2).min(self.max);
        now
    }

    /// After a success: the next failure waits the first delay again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// Retries driven by tokio's clock, paused: each one happens exactly its delay after
    /// the failure before it.
    #[tokio::test(start_paused = true)]
    async fn retries_wait_doubling_delays_up_to_the_cap_and_start_over_after_a_success() {
        let mut b = Backoff::new(MS(100), Duration::from_secs(5));
        let start = tokio::time::Instant::now();
        let mut at = Vec::new();
        for i in 0..9 {
            if i == 7 {
                b.reset();
            }
            tokio::time::sleep(b.failed()).await;
            at.push(start.elapsed().as_millis());
        }
        // 100, 200, 400, 800, 1600, 3200, 5000 (capped); then reset: 100, 200.
        assert_eq!(at, [100, 300, 700, 1500, 3100, 6300, 11300, 11400, 11600]);
    }
}
