//! The async runtime every subcommand runs on: two worker threads and few blocking threads.

use std::time::Duration;

/// Threads running tasks.
pub const WORKER_THREADS: usize = 2;

/// Threads for blocking work (manifest scans, file reads and writes), at most. Few, because
/// glibc gave each thread that allocates an arena of its own (up to 8 per core) and an arena
/// keeps what is freed in it: with tokio's default (512), bursts of file operations grew the
/// pool to a dozen threads, so a dozen arenas, and the agent's resident memory crept up for
/// twenty minutes of churn while its live heap stayed under 3 MB (R4, docs/reliability.md).
/// The binary now keeps every thread on one arena (`one_malloc_arena` in main.rs); the pool
/// stays small anyway, as the agent's blocking work is sequential (one scan at a time, files
/// written one by one): two threads leave one for a file operation while a scan runs.
pub const BLOCKING_THREADS: usize = 2;

/// An idle blocking thread exits after this long; a new one may then take another arena.
pub const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(60);

/// The runtime.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Many blocking tasks at once (a burst of file operations) all finish, on at most
    /// [`BLOCKING_THREADS`] threads.
    #[test]
    fn blocking_work_runs_on_a_few_threads() {
        let runtime = build().unwrap();
        let threads: BTreeSet<String> = runtime.block_on(async {
            let tasks: Vec<_> = (0..32)
                .map(|_| {
                    tokio::task::spawn_blocking(|| {
                        // Long enough that the burst overlaps: each task holds its thread.
                        std::thread::sleep(Duration::from_millis(5));
                        format!("{:?}", std::thread::current().id())
                    })
                })
                .collect();
            let mut out = BTreeSet::new();
            for t in tasks {
                out.insert(t.await.unwrap());
            }
            out
        });
        assert!(
            !threads.is_empty() && threads.len() <= BLOCKING_THREADS,
            "blocking tasks ran on {} threads: {threads:?}",
            threads.len()
        );
    }
}
