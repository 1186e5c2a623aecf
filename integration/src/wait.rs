//! Waiting for a condition with a deadline, polling often, instead of sleeping and hoping.

use std::time::Duration;

use anyhow::anyhow;
use tokio::time::Instant;

/// How often conditions are polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(15);

/// Polls `f` every [`POLL_INTERVAL`] until it returns `true`; fails with an error naming
/// `what` once `deadline` has passed. A call of `f` still running at the deadline is dropped.
///
/// `f` is an async closure: either `|| async move { .. }` or `async || { .. }`, which may
/// borrow and mutate the caller's state between polls.
pub async fn wait_until<F>(what: &str, deadline: Duration, mut f: F) -> anyhow::Result<()>
where
    F: AsyncFnMut() -> bool,
{
    let until = Instant::now() + deadline;
    loop {
        if let Ok(true) = tokio::time::timeout_at(until, f()).await {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(anyhow!("timed out after {deadline:?} waiting until {what}"));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls `f` every [`POLL_INTERVAL`] until it returns `Ok`, and returns that value; fails
/// once `deadline` has passed with an error naming `what` and holding the last error seen.
pub async fn wait_for<T, F>(what: &str, deadline: Duration, mut f: F) -> anyhow::Result<T>
where
    F: AsyncFnMut() -> anyhow::Result<T>,
{
    let until = Instant::now() + deadline;
    let mut last: Option<anyhow::Error> = None;
    loop {
        match tokio::time::timeout_at(until, f()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => last = Some(e),
            Err(_) => {}
        }
        if Instant::now() >= until {
            return Err(match last {
                Some(e) => {
                    anyhow!("timed out after {deadline:?} waiting for {what}; last error: {e:#}")
                }
                None => anyhow!("timed out after {deadline:?} waiting for {what}"),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
