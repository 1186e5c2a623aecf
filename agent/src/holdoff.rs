//! Coalescing a burst of changes: wait until none came for a quiet time, but never longer
//! than a maximum delay after the first. The reconcile loop and the manifests source share it.

use std::time::Duration;

use tokio::time::Instant;

/// How long a burst is waited out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holdoff {
    /// The wait ends once no change came for this long...
    pub quiet: Duration,
    /// ...or this long after the first change, whichever is sooner.
    pub max_delay: Duration,
}

impl Holdoff {
    /// Starts waiting out a burst whose first change came now.
    pub fn begin(self) -> Burst {
        let limit = Instant::now() + self.max_delay;
        Burst {
            quiet: self.quiet,
            limit,
            deadline: (Instant::now() + self.quiet).min(limit),
        }
    }
}

/// A burst being waited out: the caller sleeps until [`Burst::deadline`] unless a change
/// comes first, and tells [`Burst::changed`] of each one. A change due with the deadline
/// comes second (`select!` with the sleep first, `biased`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    quiet: Duration,
    limit: Instant,
    deadline: Instant,
}

impl Burst {
    /// When the wait ends, unless a change comes first.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Another change came: the wait goes on for a quiet time (`true`), or ends now because
    /// the maximum delay has passed (`false`).
    pub fn changed(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.limit {
            return false;
        }
        self.deadline = (now + self.quiet).min(self.limit);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;
    use tokio::time::sleep_until;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// Why a test's wait ended.
    #[derive(Debug, PartialEq, Eq)]
    enum Ended {
        Quiet,
        Limit,
        Closed,
    }

    fn holdoff(quiet: u64, max_delay: u64) -> Holdoff {
        Holdoff {
            quiet: MS(quiet),
            max_delay: MS(max_delay),
        }
    }

    /// Waits out a burst whose first change is at 0 ms and whose further changes are sent at
    /// `changes_at` (virtual ms, tokio's clock paused; `close_at` closes the channel then),
    /// the way the manifests source and the reconcile loop do; returns when and why the
    /// wait ended, and how many changes it took in.
    async fn settled_after(
        h: Holdoff,
        changes_at: &[u64],
        close_at: Option<u64>,
    ) -> (u128, Ended, usize) {
        let (tx, mut rx) = mpsc::channel(256);
        let start = Instant::now();
        let changes = changes_at.to_vec();
        let sender = tokio::spawn(async move {
            for at in changes {
                sleep_until(start + MS(at)).await;
                tx.send(at).await.unwrap();
            }
            match close_at {
                Some(at) => sleep_until(start + MS(at)).await,
                // Keeps the channel open until the test ends.
                None => std::future::pending::<()>().await,
            }
        });
        let mut taken = 0;
        let mut burst = h.begin();
        let why = loop {
            tokio::select! {
                biased;
                () = sleep_until(burst.deadline()) => {
                    break if start.elapsed() >= h.max_delay { Ended::Limit } else { Ended::Quiet };
                }
                change = rx.recv() => match change {
                    Some(_) => {
                        taken += 1;
                        if !burst.changed() {
                            break Ended::Limit;
                        }
                    }
                    None => break Ended::Closed,
                },
            }
        };
        let took = start.elapsed().as_millis();
        sender.abort();
        (took, why, taken)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_waited_out_until_a_quiet_time_after_its_last_change() {
        let h = holdoff(10, 100);
        // No further change: one quiet time.
        assert_eq!(settled_after(h, &[], None).await, (10, Ended::Quiet, 0));
        // Changes 5 ms apart keep it waiting: the quiet time counts from the last one.
        assert_eq!(
            settled_after(h, &[5, 10, 15], None).await,
            (25, Ended::Quiet, 3)
        );
        // A change after the quiet time is not waited for; one due with it neither (the
        // deadline wins).
        assert_eq!(settled_after(h, &[11], None).await, (10, Ended::Quiet, 0));
        assert_eq!(settled_after(h, &[10], None).await, (10, Ended::Quiet, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_never_waited_out_beyond_the_max_delay() {
        let burst: Vec<u64> = (1..=50).map(|i| i * 5).collect();
        // A burst that never pauses for a quiet time ends at the maximum delay: the changes
        // before it are taken in, the rest are left for the next wait.
        assert_eq!(
            settled_after(holdoff(10, 100), &burst, None).await,
            (100, Ended::Limit, 19)
        );
        // The last quiet time is cut at the maximum delay too (130 ms without it).
        assert_eq!(
            settled_after(holdoff(50, 100), &[40, 80], None).await,
            (100, Ended::Limit, 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_channel_ends_the_wait_at_once() {
        assert_eq!(
            settled_after(holdoff(10, 100), &[5], Some(7)).await,
            (7, Ended::Closed, 1)
        );
    }

    /// The manifests source's burst holdoff, as `ManifestsSource::run` states it.
    #[tokio::test(start_paused = true)]
    async fn the_manifests_burst_holdoff_is_30_ms_quiet_and_300_ms_at_most() {
        let h = crate::source::manifests::BURST;
        assert_eq!(h, holdoff(30, 300));
        assert_eq!(
            settled_after(h, &[20, 40], None).await,
            (70, Ended::Quiet, 2)
        );
        let steady: Vec<u64> = (1..=100).map(|i| i * 20).collect();
        assert_eq!(
            settled_after(h, &steady, None).await,
            (300, Ended::Limit, 14)
        );
    }
}
