//! The agent's clock for deadlines: tokio's, so a test on paused time drives them all.

use std::time::Instant;

/// Now, on tokio's clock (the wall clock's monotonic time, or a test's paused time); a
/// `std` instant so the pure planner needs no runtime. Outside a runtime, `std`'s now.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
