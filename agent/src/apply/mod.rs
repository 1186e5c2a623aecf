//! Apply, the IO edge: observe HAProxy (only what a change touched, from a cache otherwise),
//! plan with [`crate::reconcile`], run the plan (pipelined runtime commands, or a verified
//! reload), check every reply. An unexpected reply means HAProxy is not what we think:
//! observe everything again and re-plan; still wrong, reload from a full config. Never
//! guesses.
//!
//! Each job has its own owner: [`worker`] knows the live worker and what it loaded,
//! [`observe`] reads and caches HAProxy's state, [`disk`] writes the config directory after
//! runtime changes; the [`Applier`] runs the plans.

mod disk;
#[cfg(test)]
mod gateway_tests;
mod observe;
mod observe_tls;
mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use haproxy::config::gateway::GatewayRoutes;
use haproxy::config::{
    Config, Rendered, Sections, backend_print, head_prints, map_kind_swap_commands, render,
};
use haproxy::proto::{Command, Reply, ReplyError};
use haproxy::{BackendName, MasterClient, ReloadFailure, Reloader, RuntimeClient, ServerRef};
use thiserror::Error;

use crate::history::Journal;
use crate::http::Status;
use crate::metrics::CommandResult;
use crate::reconcile::{
    self, Attempts, Budget, Desired, Next, Outcome, Plan, PlanSettings, ReloadReason, RuntimePlan,
    Scope, StructureView,
};

pub use observe::observe;

/// Why a sync did not converge.
#[derive(Debug, Error)]
pub enum ApplyError {
    /// HAProxy could not be reached or misbehaved on the wire.
    #[error("haproxy runtime API: {0}")]
    Runtime(#[from] haproxy::Error),
    /// HAProxy's master CLI failed.
    #[error("haproxy master CLI: {0}")]
    Master(#[from] haproxy::MasterError),
    /// A reload was needed and did not happen; HAProxy keeps its last good config.
    #[error("{0}")]
    Reload(#[from] ReloadFailure),
    /// The desired config was already refused by `haproxy -c`; not retried until it changes.
    #[error("the desired config was refused by haproxy -c earlier; waiting for a change")]
    KnownBad,
    /// Plans kept failing after re-observing and a reload.
    #[error("haproxy did not converge: {0}")]
    Diverged(String),
}

/// The result of a successful sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Runtime commands sent.
    pub commands: usize,
    /// Reloads done (with their reasons).
    pub reloads: Vec<ReloadReason>,
    /// Servers still draining before removal: sync again soon.
    pub draining: usize,
}

/// Settings of the applier.
#[derive(Debug, Clone)]
pub struct ApplySettings {
    /// Drain bound for removed servers.
    pub drain_timeout: Duration,
    /// How long an observation of everything is trusted: after it, the next sync reads
    /// all of HAProxy's state again (the resync period).
    pub full_observe_every: Duration,
}

/// Runs plans against one HAProxy, through the owners of its state.
#[derive(Debug)]
pub struct Applier {
    runtime: RuntimeClient,
    master: MasterClient,
    reloader: Reloader,
    status: Arc<Status>,
    settings: ApplySettings,
    worker: worker::Worker,
    cache: observe::ObservedCache,
    disk: disk::DiskState,
    /// The desired config's sections, kept current for the backends each sync names.
    desired: Sections,
    /// Desired sections `haproxy -c` refused (not retried until the desired ones change).
    refused: Option<Sections>,
    drains: BTreeMap<ServerRef, Instant>,
    /// What the syncs since the last [`Applier::take_journal`] sent and reloaded.
    journal: Journal,
    /// The Gateway API routes of the last successful sync: a sync whose routes differ has
    /// the Gateway API maps (and the head) in scope.
    gateway: GatewayRoutes,
}

impl Applier {
    /// An applier; it learns HAProxy's state on the first sync.
    pub fn new(
        runtime: RuntimeClient,
        master: MasterClient,
        reloader: Reloader,
        status: Arc<Status>,
        settings: ApplySettings,
    ) -> Self {
        Self {
            worker: worker::Worker::new(reloader.writer()),
            cache: observe::ObservedCache::new(settings.full_observe_every),
            disk: disk::DiskState::default(),
            desired: Sections::default(),
            refused: None,
            drains: BTreeMap::new(),
            journal: Journal::default(),
            gateway: GatewayRoutes::default(),
            runtime,
            master,
            reloader,
            status,
            settings,
        }
    }

    /// Declares that the running worker loaded exactly `config` (e.g. HAProxy was just
    /// started from the file rendered from it), so no start-up reload is needed.
    pub async fn assume_loaded(
        &mut self,
        config: &Config,
        rendered: &Rendered,
    ) -> Result<(), ApplyError> {
        let procs = self.master.show_proc().await?;
        self.worker
            .loaded_by(procs.current_worker(), Sections::of_config(config))
            .await;
        // The files HAProxy started from are the agent's own: known, so not written again.
        self.disk.installed(self.reloader.writer(), rendered);
        Ok(())
    }

    /// On start-up: if the running worker started after haproxy.cfg was last written, it
    /// runs that file's structure, and no reload is needed for it.
    pub async fn adopt_running(&mut self) -> Result<(), ApplyError> {
        self.worker
            .adopt(&self.master, self.reloader.writer())
            .await
    }

    /// The commands sent and reloads done since the last call (for the history).
    pub fn take_journal(&mut self) -> Journal {
        std::mem::take(&mut self.journal)
    }

    /// Forgets what was observed: the next sync reads all of HAProxy's state and plans
    /// everything (for when something else changed HAProxy, e.g. commands sent by hand).
    pub fn observe_everything_next(&mut self) {
        self.cache.invalidate();
    }

    /// When to write the config directory ([`Applier::flush_files`]), if it is behind: `idle`
    /// from `now` but at most `max` after it fell behind, and not before the retry time
    /// after a failed write.
    pub fn files_due(&self, now: Instant, idle: Duration, max: Duration) -> Option<Instant> {
        self.disk.due(now, idle, max)
    }

    /// Checks that the files last written are still on disk as written; one deleted or
    /// changed behind the agent's back is named (log, metric, `/healthz`) and written again
    /// at the next flush. Returns how many were found.
    pub async fn check_files(&mut self) -> usize {
        let n = self.disk.verify(&self.status.metrics).await;
        self.publish_disk();
        n
    }

    /// Shows the config directory's fault on `/healthz`.
    fn publish_disk(&self) {
        self.status
            .set_disk_fault(self.disk.fault().map(ToString::to_string));
    }

    /// Writes the config directory's files that runtime changes left behind (only those
    /// whose contents changed). `desired` is the config of the last successful sync.
    pub async fn flush_files(&mut self, desired: &Config) {
        if !self.structure_current(desired) {
            // Only a config whose structure HAProxy validated and runs is written unchecked.
            return;
        }
        self.disk
            .flush(self.reloader.writer(), desired, &self.status.metrics)
            .await;
        self.publish_disk();
    }

    /// True when the loaded structure has every section `desired` needs.
    fn structure_current(&self, desired: &Config) -> bool {
        let Some(loaded) = &self.worker.loaded else {
            return false;
        };
        loaded.head == self.desired.head
            && desired
                .backends
                .keys()
                .all(|b| loaded.backends.get(b) == self.desired.backends.get(b))
    }

    /// Brings HAProxy to `desired`, looking only at what `scope` names (and at backends with
    /// servers draining) unless everything must be read again.
    pub async fn sync(
        &mut self,
        desired: Desired<'_>,
        scope: &Scope,
    ) -> Result<SyncReport, ApplyError> {
        let mut scope = scope.clone();
        scope.gateway |= desired.config.gateway != self.gateway;
        let result = self.sync_scoped(desired, &scope).await;
        match &result {
            Err(_) => self.cache.invalidate(),
            Ok(_) if scope.gateway => self.gateway = desired.config.gateway.clone(),
            Ok(_) => {}
        }
        result
    }

    /// Keeps the desired sections current for `scope`.
    fn update_desired(&mut self, desired: &Config, scope: &Scope) {
        self.desired.set_head(head_prints(desired));
        if scope.all {
            self.desired.backends = desired
                .backends
                .values()
                .map(|b| (b.name.clone(), backend_print(b)))
                .collect();
            return;
        }
        for name in &scope.backends {
            match desired.backends.get(name) {
                Some(b) => {
                    self.desired.backends.insert(name.clone(), backend_print(b));
                }
                None => {
                    self.desired.backends.remove(name);
                }
            }
        }
    }

    async fn sync_scoped(
        &mut self,
        want: Desired<'_>,
        scope: &Scope,
    ) -> Result<SyncReport, ApplyError> {
        let desired = want.config;
        let mut scope = scope.clone();
        let changed = self
            .worker
            .notice_restart(&self.master, self.reloader.writer())
            .await?;
        if changed == worker::WorkerChange::Restarted {
            self.status.metrics.desync.inc();
            self.runtime.disconnect().await;
            self.cache.invalidate();
            self.disk.forget();
        }
        if self.cache.needs_full() {
            scope = Scope::all();
        }
        // After widening: a full plan compares every backend's section.
        self.update_desired(desired, &scope);
        // Servers being removed are watched until they are gone.
        let draining: BTreeSet<BackendName> =
            self.drains.keys().map(|r| r.backend.clone()).collect();
        scope.backends.extend(draining);
        let mut report = SyncReport::default();
        if scope.is_empty() {
            return Ok(report);
        }
        // How many times to try, and what to do after each outcome: the planner's policy.
        let mut attempts = Attempts::new(Budget::default());
        while attempts.may_try() {
            let observed = self
                .cache
                .observe(&self.runtime, desired, &scope, &self.status.metrics)
                .await?;
            let now = crate::clock::now();
            let plan = reconcile::plan_scoped(
                want,
                StructureView {
                    loaded: self.worker.loaded.as_ref(),
                    desired: &self.desired,
                },
                observed,
                &scope,
                &self.drains,
                now,
                PlanSettings {
                    drain_timeout: self.settings.drain_timeout,
                },
            );
            let outcome = match plan {
                Plan::Reload(reason) => Outcome::WantsReload(reason),
                Plan::Runtime(p) if p.is_converged() => {
                    self.update_drains(&p, &scope, now);
                    report.draining = self.drains.len();
                    Outcome::Done
                }
                Plan::Runtime(p) => {
                    tracing::debug!(
                        commands = p.commands.len(),
                        swaps = p.swaps.len(),
                        "running a plan"
                    );
                    let (errors, swapped) = self.run(want, &p).await?;
                    report.commands += p.commands.len() + swapped;
                    self.update_drains(&p, &scope, now);
                    report.draining = self.drains.len();
                    if errors.is_empty() {
                        self.cache
                            .record_maps(desired, want.maps, &p.commands, &p.swaps);
                        self.disk.mark_dirty();
                        Outcome::Done
                    } else {
                        self.status.metrics.desync.inc();
                        tracing::warn!(errors = ?errors, "haproxy refused part of a plan; observing again");
                        Outcome::Refused(errors)
                    }
                }
            };
            match attempts.after(outcome) {
                Next::Stop => return Ok(report),
                Next::Reload(reason) => {
                    self.reload(desired, &reason).await?;
                    report.reloads.push(reason);
                    scope = Scope::all();
                }
                next @ (Next::ObserveAll | Next::Rebuild) => {
                    self.cache.invalidate();
                    scope = Scope::all();
                    self.update_desired(desired, &scope);
                    if next == Next::Rebuild {
                        // Re-observing did not help: rebuild HAProxy from a full config.
                        self.worker.forget_loaded();
                    }
                }
                Next::GiveUp(why) => return Err(ApplyError::Diverged(why)),
            }
        }
        Err(ApplyError::Diverged(attempts.exhausted()))
    }

    /// Keeps the drain timers of the backends in `scope` in step with a plan.
    fn update_drains(&mut self, plan: &RuntimePlan, scope: &Scope, now: Instant) {
        if scope.all {
            reconcile::update_drains(&mut self.drains, plan, now);
            return;
        }
        self.drains
            .retain(|r, _| !scope.backends.contains(&r.backend) || plan.draining.contains(r));
        for r in &plan.draining {
            self.drains.entry(r.clone()).or_insert(now);
        }
    }

    async fn reload(&mut self, desired: &Config, reason: &ReloadReason) -> Result<(), ApplyError> {
        let want = Sections::of_config(desired);
        if self.refused.as_ref() == Some(&want) {
            return Err(ApplyError::KnownBad);
        }
        let started = Instant::now();
        let rendered = render(desired);
        let result = self.reloader.reload(&rendered).await;
        self.journal
            .reload(reason, started.elapsed(), result.is_ok());
        match result {
            Ok(done) => {
                tracing::info!(
                    reason = reason.label(),
                    detail = %reason,
                    worker = done.new_worker,
                    took_ms = started.elapsed().as_millis() as u64,
                    "haproxy reloaded"
                );
                self.status.metrics.reload(reason);
                self.desired = want.clone();
                self.worker.loaded_by(Some(done.new_worker), want).await;
                self.disk.installed(self.reloader.writer(), &rendered);
                self.publish_disk();
                self.cache.invalidate();
                self.refused = None;
                self.drains.clear();
                Ok(())
            }
            Err(e) => {
                self.status.metrics.reload_failures.inc();
                if e.is_invalid_config() {
                    self.refused = Some(want);
                }
                if let ReloadFailure::NotInstalled(w) = &e
                    && !w.is_invalid()
                {
                    self.disk.failed(w.to_string(), &self.status.metrics);
                    self.publish_disk();
                }
                tracing::error!(reason = %reason, error = %e, "reload failed; haproxy keeps its last good config");
                Err(e.into())
            }
        }
    }

    /// Runs a runtime plan; returns the refusals (empty when every reply was as expected) and
    /// how many commands the map swaps took (besides the plan's commands).
    async fn run(
        &mut self,
        want: Desired<'_>,
        plan: &RuntimePlan,
    ) -> Result<(Vec<String>, usize), ApplyError> {
        let mut errors = Vec::new();
        let mut swapped = 0;
        if !plan.swaps.is_empty() {
            let maps = &want.config.frontends[0].maps;
            for kind in &plan.swaps {
                let file = kind.file(maps).to_file_path();
                let prepare = Command::PrepareMap(file.clone());
                let reply = self.runtime.send(prepare.clone()).await;
                let noted: Result<(), ReplyError> = Ok(());
                self.journal
                    .command(&prepare, reply.is_ok().then_some(&noted));
                let version = match reply? {
                    Reply::MapVersion(v) => v,
                    other => {
                        return Err(ApplyError::Diverged(format!("prepare map gave {other:?}")));
                    }
                };
                let cmds = map_kind_swap_commands(
                    *kind,
                    &file,
                    version,
                    want.maps.entries(*kind),
                    reconcile::BUFSIZE,
                );
                swapped += 1 + cmds.len();
                errors.extend(self.send_checked(&cmds).await?);
            }
        }
        // A certificate transaction (`set ssl cert` + `commit ssl cert`) goes alone: 2.6
        // keeps a refused one open, and the next `set ssl cert` of another file would land
        // in it. A refused transaction is aborted before anything else is sent.
        let mut rest = plan.commands.as_slice();
        while !rest.is_empty() {
            let at = rest
                .iter()
                .position(|c| matches!(c, Command::SetSslCert(..)))
                .unwrap_or(rest.len());
            let (before, from) = rest.split_at(at);
            if !before.is_empty() {
                errors.extend(self.send_checked(before).await?);
            }
            let Some(Command::SetSslCert(file, _)) = from.first() else {
                break;
            };
            let ends = from
                .iter()
                .position(|c| matches!(c, Command::CommitSslCert(f) if f == file))
                .map_or(1, |i| i + 1);
            let refused = self.send_checked(&from[..ends]).await?;
            if !refused.is_empty() {
                tracing::warn!(file = %file, errors = ?refused, "certificate update refused; aborting its transaction");
                errors.extend(refused);
                errors.extend(
                    self.send_checked(&[Command::AbortSslCert(file.clone())])
                        .await?,
                );
            }
            rest = &from[ends..];
        }
        Ok((errors, swapped))
    }

    async fn send_checked(&mut self, cmds: &[Command]) -> Result<Vec<String>, ApplyError> {
        let replies = match self.runtime.batch(cmds).await {
            Ok(r) => r,
            Err(e) => {
                for c in cmds {
                    self.status.metrics.command(c.name(), CommandResult::Error);
                    self.journal.command::<Reply>(c, None);
                }
                return Err(haproxy::Error::from(e).into());
            }
        };
        let mut errors = Vec::new();
        for (c, r) in cmds.iter().zip(replies) {
            let result = match &r {
                Ok(_) => CommandResult::Ok,
                Err(ReplyError::Refused { .. }) => CommandResult::Refused,
                Err(ReplyError::Unexpected { .. }) => CommandResult::Error,
            };
            self.status.metrics.command(c.name(), result);
            self.journal.command(c, Some(&r));
            if let Err(e) = r {
                errors.push(e.to_string());
            }
        }
        Ok(errors)
    }
}
