//! One sync of the reconcile loop: translates the store's snapshot, publishes its problems,
//! applies it to HAProxy and records the outcome (health, retry backoff, history).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haproxy::config::Config;
use tokio::sync::watch;
use tracing::Instrument;

use crate::apply::{Applier, ApplyError, SyncReport};
use crate::backoff::Backoff;
use crate::cert_expiry::CertWatch;
use crate::clock;
use crate::history::{MAX_PROBLEMS, SyncRecord, capped};
use crate::http::{Health, Status};
use crate::problem::Problem;
use crate::reconcile::{Desired, Scope};
use crate::store::Snapshot;
use crate::translate::{BadSetting, Incremental, Settings, Translation};

/// While a server drains, the loop syncs this often, to finish the drain on time.
const DRAIN_TICK: Duration = Duration::from_millis(250);

/// How a sync ended, for the loop.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Synced {
    /// Sync again at this instant rather than after the resync period: a retry after a
    /// failure, or a server draining.
    Again(Option<Instant>),
    /// Shutdown came while the sync waited on HAProxy.
    Shutdown,
}

/// What the reconcile loop keeps from one sync to the next.
pub(super) struct Syncer<'a> {
    settings: &'a Settings,
    status: &'a Arc<Status>,
    translator: Incremental,
    backoff: Backoff,
    /// A sync succeeded once: `/healthz` says synced from then on while HAProxy answers.
    synced_once: bool,
    /// The translation problems logged, so that only their changes are logged.
    logged: BTreeSet<Problem>,
    /// What changed since the last successful sync (all of it after a failure).
    pending: Scope,
    /// The translation and source problems last published.
    published: (Vec<Problem>, Vec<Problem>),
    certs: CertWatch,
    /// The store and generation of the last sync, for the history's list of changes.
    last_seen: Option<(u64, u64)>,
}

impl<'a> Syncer<'a> {
    pub(super) fn new(settings: &'a Settings, status: &'a Arc<Status>) -> Self {
        Syncer {
            settings,
            status,
            // The certificates in use: a host whose Secret turns bad keeps its certificate,
            // from the start on (the files a previous run left, which HAProxy is likely
            // serving).
            translator: Incremental::new(
                settings.clone(),
                crate::certs::remembered_on_disk(&settings.config_dir),
            ),
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
            synced_once: false,
            logged: BTreeSet::new(),
            pending: Scope::all(),
            published: (Vec::new(), Vec::new()),
            certs: CertWatch::default(),
            last_seen: None,
        }
    }

    /// The translator, whose config is the one last desired (for flushing files and for
    /// `/debug/state`).
    pub(super) fn translator(&self) -> &Incremental {
        &self.translator
    }

    /// Whether a sync succeeded yet.
    pub(super) fn synced_once(&self) -> bool {
        self.synced_once
    }

    /// Syncs HAProxy with `snapshot`; `extra` are the source's problems, `woke` when the
    /// change that led here came (for the sync duration). `Err` only when translation
    /// fails, with `/healthz` already saying so.
    pub(super) async fn sync(
        &mut self,
        snapshot: Arc<Snapshot>,
        extra: Vec<Problem>,
        applier: &mut Applier,
        shutdown: &mut watch::Receiver<bool>,
        woke: Instant,
    ) -> Result<Synced, BadSetting> {
        let mut record = SyncRecord::starting(snapshot.generation);
        record.note_changes(&snapshot, self.last_seen);
        self.last_seen = Some((snapshot.store_id(), snapshot.generation));
        let t = self
            .translator
            .translate(&snapshot)
            .map_err(|e| self.translation_failed(e))?;
        self.pending.extend(&Scope::from(&t.changed));
        self.status.set_gateway_status(&t.gateway_status);
        let span = tracing::info_span!(
            "sync",
            generation = snapshot.generation,
            all = self.pending.all,
            backends = self.pending.backends.len(),
            routes = self.pending.routes,
            tls = self.pending.tls,
        );
        drop(snapshot);
        self.publish(&t, extra, &mut record);
        // A sync may wait on HAProxy for long (a reload is verified for up to 30 s); a
        // shutdown must not wait for it, least of all with --spawn-haproxy, where HAProxy
        // is being stopped meanwhile and such a reload can never be verified.
        let synced = tokio::select! {
            r = applier.sync(Desired::from(&t), &self.pending).instrument(span) => r,
            _ = shutdown.wait_for(|s| *s) => return Ok(Synced::Shutdown),
        };
        // The translator patches its config in place: nobody keeps a clone of it.
        drop(t);
        record.everything |= self.pending.all;
        record.error = synced.as_ref().err().map(ToString::to_string);
        let again = self.outcome(synced, woke);
        // Recorded after the sync is measured and reported: off the ack path.
        let record = record.with_journal(applier.take_journal());
        if record.is_eventful() {
            self.status.record_sync(record);
        }
        Ok(Synced::Again(again))
    }

    /// Says on `/healthz` that translation failed and the agent stops.
    fn translation_failed(&self, e: BadSetting) -> BadSetting {
        tracing::error!(error = %e, "translation failed");
        self.status.set_health(Health {
            synced: false,
            haproxy_up: false,
            detail: Some(format!("translation failed, the agent stops: {e}")),
        });
        e
    }

    /// Publishes the problems and metrics of `t` when they changed (problems can change
    /// while the config does not: a bad annotation added), and logs the problems'
    /// changes into `record`.
    fn publish(&mut self, t: &Translation, extra: Vec<Problem>, record: &mut SyncRecord) {
        let mut problems = t.problems.clone();
        problems.extend(self.certs.update(t, self.settings, &self.status.metrics));
        let now = (problems, extra);
        if !t.changed.is_empty() || now != self.published {
            publish(self.status, &t.config, &now.0, &now.1);
            let (appeared, resolved) = log_problem_changes(&mut self.logged, &now.0);
            record.problems_appeared = appeared;
            record.problems_resolved = resolved;
            self.published = now;
        }
    }

    /// Takes in a sync's result: health, metrics, what is pending, and when to sync again
    /// (`None`: after the resync period).
    fn outcome(
        &mut self,
        synced: Result<SyncReport, ApplyError>,
        woke: Instant,
    ) -> Option<Instant> {
        match synced {
            Ok(report) => {
                self.synced_once = true;
                self.backoff.reset();
                self.pending = Scope::default();
                if report.commands > 0 || !report.reloads.is_empty() {
                    self.status
                        .metrics
                        .sync_duration
                        .observe(clock::now().saturating_duration_since(woke).as_secs_f64());
                    tracing::debug!(commands = report.commands, reloads = ?report.reloads, "synced");
                }
                self.status.set_health(Health {
                    synced: true,
                    haproxy_up: true,
                    detail: None,
                });
                set_sync_debug(self.status, &report);
                (report.draining > 0).then(|| clock::now() + DRAIN_TICK)
            }
            Err(e) => {
                self.pending = Scope::all();
                let up = !matches!(e, ApplyError::Runtime(_) | ApplyError::Master(_));
                tracing::warn!(error = %e, "sync failed");
                self.status.set_health(Health {
                    synced: self.synced_once,
                    haproxy_up: up,
                    detail: Some(e.to_string()),
                });
                // A config HAProxy refused is not retried until the objects change.
                (!matches!(e, ApplyError::KnownBad)).then(|| clock::now() + self.backoff.failed())
            }
        }
    }
}

fn publish(status: &Status, desired: &Config, problems: &[Problem], extra: &[Problem]) {
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
fn log_problem_changes(
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

fn set_sync_debug(status: &Status, report: &SyncReport) {
    status.set_last_sync(serde_json::json!({
        "commands": report.commands,
        "reloads": report.reloads,
        "draining": report.draining,
    }));
}
