//! The reconcile loop: waits for store changes (held off, batched), has [`Syncer`] sync
//! HAProxy with them, and writes runtime changes to disk when idle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::syncer::{Synced, Syncer};
use crate::apply::Applier;
use crate::clock;
use crate::holdoff::Holdoff;
use crate::http::{Health, Status};
use crate::problem::Problem;
use crate::store::Store;
use crate::translate::{BadSetting, Settings};

/// What wakes the reconcile loop besides the store.
pub(super) struct Wakers {
    /// The source's problems (a file that stops or starts parsing).
    pub(super) source_problems: watch::Receiver<Vec<Problem>>,
    /// HAProxy starts by the supervisor (with `--spawn-haproxy`).
    pub(super) haproxy_starts: Option<watch::Receiver<u64>>,
    /// Shutdown.
    pub(super) shutdown: watch::Receiver<bool>,
}

/// When the reconcile loop syncs.
#[derive(Debug, Clone, Copy)]
pub(super) struct LoopTiming {
    /// Sync at least this often (and observe everything at least this often).
    pub(super) resync_period: Duration,
    /// A change waits until no further change came for this long...
    pub(super) holdoff: Duration,
    /// ...but no longer than this since the first one.
    pub(super) max_delay: Duration,
}

/// Runtime changes are written to the config directory once no sync came for this long...
pub(super) const FLUSH_IDLE: Duration = Duration::from_millis(100);
/// ...and at the latest this long after the first one not yet written.
pub(super) const FLUSH_MAX: Duration = Duration::from_secs(1);
/// The files last written are compared with the disk this often (a stat each), so one
/// deleted or edited behind the agent's back is named and written again.
pub(super) const DISK_CHECK: Duration = Duration::from_secs(2);

/// Why reconciling stopped before shutdown (the agent then exits non-zero).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Stopped {
    /// Translation failed: a setting HAProxy cannot take.
    #[error(transparent)]
    Translation(#[from] BadSetting),
    /// The source feeding the store ended.
    #[error("the source of objects stopped")]
    SourceStopped,
}

/// Keeps HAProxy in step with the store until shutdown (`Ok`), or until translation fails
/// (`Err`, which [`super::flags::check_settings`] makes unreachable; should it happen, `/healthz` stops
/// saying 200 before this returns: the agent must not look healthy while nothing reconciles).
pub(super) async fn reconcile_loop(
    store: &Store,
    settings: &Settings,
    applier: &mut Applier,
    status: &Arc<Status>,
    timing: LoopTiming,
    wakers: Wakers,
) -> Result<(), Stopped> {
    let Wakers {
        mut source_problems,
        mut haproxy_starts,
        mut shutdown,
    } = wakers;
    let mut rx = store.subscribe();
    let mut syncer = Syncer::new(settings, status);
    // The `/debug/state` model is built here, from the translator's config, when asked.
    let mut desired_requests = status.desired_requests();
    let mut woke = clock::now();
    let mut sync_now = true;
    let mut next_sync = clock::now() + timing.resync_period;
    let mut next_disk_check = clock::now() + DISK_CHECK;
    loop {
        if sync_now {
            next_sync = clock::now() + timing.resync_period;
            let snapshot = rx.borrow_and_update().clone();
            let extra = source_problems.borrow_and_update().clone();
            if snapshot.synced {
                match syncer
                    .sync(snapshot, extra, applier, &mut shutdown, woke)
                    .await?
                {
                    Synced::Again(Some(at)) => next_sync = at,
                    Synced::Again(None) => {}
                    Synced::Shutdown => return Ok(()),
                }
            }
        }
        // Runtime changes reach the config directory off the path to HAProxy's ack.
        let flush_at = applier.files_due(clock::now(), FLUSH_IDLE, FLUSH_MAX);
        sync_now = true;
        tokio::select! {
            _ = rx.changed() => {
                woke = clock::now();
                settle(&mut rx, timing).await;
                continue;
            }
            // A source that ended drops its sender: its problems can change no more.
            Ok(()) = source_problems.changed() => {}
            Ok(()) = started(&mut haproxy_starts) => {}
            _ = tokio::time::sleep_until(next_sync.into()) => {}
            _ = sleep_until_some(flush_at) => {
                if let Some(desired) = syncer.translator().config() {
                    applier.flush_files(desired).await;
                }
                sync_now = false;
            }
            _ = tokio::time::sleep_until(next_disk_check.into()) => {
                next_disk_check = clock::now() + DISK_CHECK;
                if syncer.synced_once() {
                    applier.check_files().await;
                }
                sync_now = false;
            }
            Some(request) = recv_some(&mut desired_requests) => {
                let doc = syncer
                    .translator()
                    .config()
                    .map_or_else(|| serde_json::json!({}), crate::debug::desired);
                let _ = request.send(doc);
                sync_now = false;
            }
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
        }
        woke = clock::now();
    }
}

/// Runs `reconciling` until it ends, or until the source feeding the store ends without a
/// shutdown (it panicked, or gave up): then nothing new would ever be reconciled, so
/// `/healthz` stops saying 200 and this returns an error, for the agent to exit non-zero.
pub(super) async fn unless_source_ends(
    reconciling: impl std::future::Future<Output = Result<(), Stopped>>,
    source: &mut Option<tokio::task::JoinHandle<()>>,
    shutdown: &watch::Receiver<bool>,
    status: &Status,
) -> Result<(), Stopped> {
    tokio::select! {
        r = reconciling => r,
        Some(_) = until_done(source) => {
            *source = None;
            if *shutdown.borrow() {
                return Ok(());
            }
            let e = Stopped::SourceStopped;
            tracing::error!(error = %e, "nothing reconciles any more");
            status.set_health(Health {
                synced: false,
                haproxy_up: false,
                detail: Some(format!("{e}, the agent stops")),
            });
            Err(e)
        }
    }
}

/// The task's end; never when there is none.
pub(super) async fn until_done(
    task: &mut Option<tokio::task::JoinHandle<()>>,
) -> Option<Result<(), tokio::task::JoinError>> {
    match task {
        Some(t) => Some(t.await),
        None => std::future::pending().await,
    }
}

/// The next item of `rx`; never when there is none.
pub(super) async fn recv_some<T>(rx: &mut Option<tokio::sync::mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// After a change: waits until no further change came for the holdoff, or the maximum
/// delay since the first one passed.
pub(super) async fn settle(
    rx: &mut watch::Receiver<Arc<crate::store::Snapshot>>,
    timing: LoopTiming,
) {
    let mut burst = Holdoff {
        quiet: timing.holdoff,
        max_delay: timing.max_delay,
    }
    .begin();
    loop {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(burst.deadline()) => return,
            r = rx.changed() => {
                if r.is_err() || !burst.changed() {
                    return;
                }
            }
        }
    }
}

/// Sleeps until `at`; never when `None`.
pub(super) async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// How this agent was started, for `/debug/config`: its arguments, its `HAPROXY_AGENT_*`
/// environment (what clap read) and its working directory.
pub(super) fn invocation() -> serde_json::Value {
    let env: serde_json::Map<String, serde_json::Value> = std::env::vars()
        .filter(|(k, _)| k.starts_with("HAPROXY_AGENT_"))
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::json!({
        "args": std::env::args().skip(1).collect::<Vec<_>>(),
        "env": env,
        "cwd": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
    })
}

/// Resolves when the supervisor started HAProxy again; never without a supervisor.
pub(super) async fn started(
    starts: &mut Option<watch::Receiver<u64>>,
) -> Result<(), watch::error::RecvError> {
    match starts {
        Some(rx) => rx.changed().await,
        None => std::future::pending().await,
    }
}
