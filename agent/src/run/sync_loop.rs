//! The reconcile loop: waits for store changes (held off, batched), translates, applies,
//! publishes health, problems and history, and writes runtime changes to disk when idle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use haproxy::config::Config;
use tokio::sync::watch;
use tracing::Instrument;

use crate::apply::{Applier, ApplyError, SyncReport};
use crate::clock;
use crate::history::{MAX_PROBLEMS, SyncRecord, capped};
use crate::holdoff::Holdoff;
use crate::http::{Health, Status};
use crate::problem::Problem;
use crate::reconcile::{Desired, Scope};
use crate::store::Store;
use crate::translate::{Incremental, Settings};

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
) -> Result<(), String> {
    let Wakers {
        mut source_problems,
        mut haproxy_starts,
        mut shutdown,
    } = wakers;
    let mut rx = store.subscribe();
    let mut backoff =
        crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut synced_once = false;
    let mut logged = std::collections::BTreeSet::new();
    // The certificates in use: a host whose Secret turns bad keeps its certificate, from
    // the start on (the files a previous run left, which HAProxy is likely serving).
    let mut translator = Incremental::new(
        settings.clone(),
        crate::certs::remembered_on_disk(&settings.config_dir),
    );
    // The `/debug/state` model is built here, from the translator's config, when asked.
    let mut desired_requests = status.desired_requests();
    // What changed since the last successful sync (all of it after a failure).
    let mut pending = Scope::all();
    // The translation and source problems last published.
    let mut published: (Vec<Problem>, Vec<Problem>) = (Vec::new(), Vec::new());
    let mut certs = crate::cert_expiry::CertWatch::default();
    let mut woke = clock::now();
    let mut sync_now = true;
    let mut next_sync = clock::now() + timing.resync_period;
    let mut next_disk_check = clock::now() + DISK_CHECK;
    // The store and generation of the last sync, for the history's list of changes.
    let mut last_seen: Option<(u64, u64)> = None;
    loop {
        if sync_now {
            next_sync = clock::now() + timing.resync_period;
            let snapshot = rx.borrow_and_update().clone();
            let extra = source_problems.borrow_and_update().clone();
            if snapshot.synced {
                let mut record = SyncRecord::starting(snapshot.generation);
                record.note_changes(&snapshot, last_seen);
                last_seen = Some((snapshot.store_id(), snapshot.generation));
                let t = match translator.translate(&snapshot) {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::error!(error = %e, "translation failed");
                        status.set_health(Health {
                            synced: false,
                            haproxy_up: false,
                            detail: Some(format!("translation failed, the agent stops: {e}")),
                        });
                        return Err(e.to_string());
                    }
                };
                pending.extend(&Scope::from(&t.changed));
                status.set_gateway_status(&t.gateway_status);
                let span = tracing::info_span!(
                    "sync",
                    generation = snapshot.generation,
                    all = pending.all,
                    backends = pending.backends.len(),
                    routes = pending.routes,
                    tls = pending.tls,
                );
                drop(snapshot);
                // Problems can change while the config does not (a bad annotation added).
                let mut problems = t.problems.clone();
                problems.extend(certs.update(&t, settings, &status.metrics));
                let problems_now = (problems, extra);
                if !t.changed.is_empty() || problems_now != published {
                    publish(status, &t.config, &problems_now.0, &problems_now.1);
                    let (appeared, resolved) = log_problem_changes(&mut logged, &problems_now.0);
                    record.problems_appeared = appeared;
                    record.problems_resolved = resolved;
                    published = problems_now;
                }
                // A sync may wait on HAProxy for long (a reload is verified for up to 30 s); a
                // shutdown must not wait for it, least of all with --spawn-haproxy, where
                // HAProxy is being stopped meanwhile and such a reload can never be verified.
                let synced = tokio::select! {
                    r = applier.sync(Desired::from(&t), &pending).instrument(span) => r,
                    _ = shutdown.wait_for(|s| *s) => return Ok(()),
                };
                // The translator patches its config in place: nobody keeps a clone of it.
                drop(t);
                record.everything |= pending.all;
                record.error = synced.as_ref().err().map(ToString::to_string);
                match synced {
                    Ok(report) => {
                        synced_once = true;
                        backoff.reset();
                        pending = Scope::default();
                        if report.commands > 0 || !report.reloads.is_empty() {
                            status.metrics.sync_duration.observe(
                                clock::now().saturating_duration_since(woke).as_secs_f64(),
                            );
                            tracing::debug!(commands = report.commands, reloads = ?report.reloads, "synced");
                        }
                        status.set_health(Health {
                            synced: true,
                            haproxy_up: true,
                            detail: None,
                        });
                        if report.draining > 0 {
                            next_sync = clock::now() + Duration::from_millis(250);
                        }
                        set_sync_debug(status, &report);
                    }
                    Err(e) => {
                        pending = Scope::all();
                        let up = !matches!(e, ApplyError::Runtime(_) | ApplyError::Master(_));
                        tracing::warn!(error = %e, "sync failed");
                        status.set_health(Health {
                            synced: synced_once,
                            haproxy_up: up,
                            detail: Some(e.to_string()),
                        });
                        if !matches!(e, ApplyError::KnownBad) {
                            next_sync = clock::now() + backoff.failed();
                        }
                    }
                }
                // Recorded after the sync is measured and reported: off the ack path.
                let record = record.with_journal(applier.take_journal());
                if record.is_eventful() {
                    status.record_sync(record);
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
                if let Some(desired) = translator.config() {
                    applier.flush_files(desired).await;
                }
                sync_now = false;
            }
            _ = tokio::time::sleep_until(next_disk_check.into()) => {
                next_disk_check = clock::now() + DISK_CHECK;
                if synced_once {
                    applier.check_files().await;
                }
                sync_now = false;
            }
            Some(request) = recv_some(&mut desired_requests) => {
                let doc = translator
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
    reconciling: impl std::future::Future<Output = Result<(), String>>,
    source: &mut Option<tokio::task::JoinHandle<()>>,
    shutdown: &watch::Receiver<bool>,
    status: &Status,
) -> Result<(), String> {
    tokio::select! {
        r = reconciling => r,
        Some(_) = until_done(source) => {
            *source = None;
            if *shutdown.borrow() {
                return Ok(());
            }
            let e = "the source of objects stopped".to_string();
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

pub(super) fn publish(status: &Status, desired: &Config, problems: &[Problem], extra: &[Problem]) {
    let mut counts = std::collections::BTreeMap::new();
    for p in problems.iter().chain(extra) {
        *counts
            .entry((p.kind.label(), p.reason.label()))
            .or_insert(0i64) += 1;
    }
    status.metrics.set_problems(counts);
    let servers: usize = desired.backends.values().map(|b| b.servers.len()).sum();
    status.metrics.endpoints.set(servers as i64);
    status.metrics.backends.set(desired.backends.len() as i64);
    status.metrics.routes.set(desired.routes.len() as i64);
    status.set_problems(Arc::new(problems.iter().chain(extra).cloned().collect()));
}

/// Logs each translation problem once when it appears, naming its object, and once when it
/// is gone (manifest file problems are logged by the manifests source). Returns the first
/// of those that appeared and were resolved, for the history.
pub(super) fn log_problem_changes(
    logged: &mut std::collections::BTreeSet<Problem>,
    now: &[Problem],
) -> (Vec<String>, Vec<String>) {
    let current: std::collections::BTreeSet<Problem> = now.iter().cloned().collect();
    for p in current.difference(logged) {
        tracing::warn!(kind = p.kind.label(), object = %p.object, field = p.field.as_deref().unwrap_or(""), "{}", p.message);
    }
    for p in logged.difference(&current) {
        tracing::info!(kind = p.kind.label(), object = %p.object, "problem resolved");
    }
    let appeared = capped(current.difference(logged), MAX_PROBLEMS).0;
    let resolved = capped(logged.difference(&current), MAX_PROBLEMS).0;
    *logged = current;
    (appeared, resolved)
}

pub(super) fn set_sync_debug(status: &Status, report: &SyncReport) {
    status.set_last_sync(serde_json::json!({
        "commands": report.commands,
        "reloads": report.reloads,
        "draining": report.draining,
    }));
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
