//! Apply, the IO edge: observe HAProxy, plan with [`crate::reconcile`], run the plan
//! (pipelined runtime commands, or a verified reload), check every reply. An unexpected
//! reply means HAProxy is not what we think: observe again and re-plan; still wrong, reload
//! from a full config. Never guesses.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haproxy::config::{
    CertFingerprint, Config, LiveCrtLine, LiveTls, MapKind, Structure, map_swap_commands, render,
    route_maps, structure,
};
use haproxy::proto::{Command, Reply, ReplyError};
use haproxy::{
    BackendName, FilePath, MasterClient, ReloadFailure, Reloader, RuntimeClient, ServerRef,
};
use thiserror::Error;

use crate::http::Status;
use crate::metrics::CommandResult;
use crate::reconcile::{self, LiveServer, Observed, Plan, PlanSettings, RuntimePlan};

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
    pub reloads: Vec<String>,
    /// Servers still draining before removal: sync again soon.
    pub draining: usize,
}

/// Settings of the applier.
#[derive(Debug, Clone)]
pub struct ApplySettings {
    /// Drain bound for removed servers.
    pub drain_timeout: Duration,
    /// How long a reload may take to show a new worker.
    pub reload_timeout: Duration,
}

/// Owns the connection to one HAProxy and what the agent knows about it.
#[derive(Debug)]
pub struct Applier {
    runtime: RuntimeClient,
    master: MasterClient,
    reloader: Reloader,
    status: Arc<Status>,
    settings: ApplySettings,
    /// Structure of the config the current worker loaded, when known.
    loaded: Option<Structure>,
    /// The worker that loaded it.
    worker: Option<u32>,
    /// The master stopped answering while a worker was known (HAProxy died): the next
    /// worker seen was started from the config on disk.
    lost_worker: bool,
    /// A structure `haproxy -c` refused (not retried until the desired one changes).
    refused: Option<Structure>,
    drains: BTreeMap<ServerRef, Instant>,
    /// The config of the last successful sync (for backends no longer routed to, which
    /// stay until the next reload rather than causing one).
    last_applied: Option<Config>,
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
            runtime,
            master,
            reloader,
            status,
            settings,
            loaded: None,
            worker: None,
            lost_worker: false,
            refused: None,
            drains: BTreeMap::new(),
            last_applied: None,
        }
    }

    /// Where the pid of the worker that loaded the last good config is kept, so a restarted
    /// agent knows what the running worker loaded.
    fn loaded_by_path(&self) -> std::path::PathBuf {
        self.reloader.writer().dir().join("haproxy.cfg.loaded-by")
    }

    async fn record_loaded_by(&self, worker: u32) {
        if let Err(e) = tokio::fs::write(self.loaded_by_path(), format!("{worker}\n")).await {
            tracing::warn!(error = %e, "cannot record which worker loaded the config");
        }
    }

    /// `desired` plus the backends of the last applied config that nothing routes to any
    /// more, when keeping them avoids a reload: an unrouted backend costs nothing and goes
    /// with the next reload (DESIGN.md, "Routing with maps").
    fn retain_unrouted<'a>(&self, desired: &'a Config) -> std::borrow::Cow<'a, Config> {
        use std::borrow::Cow;
        let (Some(last), Some(loaded)) = (&self.last_applied, &self.loaded) else {
            return Cow::Borrowed(desired);
        };
        let extra: Vec<_> = last
            .backends
            .values()
            .filter(|b| !desired.backends.contains_key(&b.name))
            .cloned()
            .collect();
        if extra.is_empty() {
            return Cow::Borrowed(desired);
        }
        let mut kept = desired.clone();
        for b in extra {
            kept.insert_backend(b);
        }
        if structure(&kept) == *loaded {
            Cow::Owned(kept)
        } else {
            Cow::Borrowed(desired)
        }
    }

    /// Declares that the running worker loaded exactly `config` (e.g. HAProxy was just
    /// started from the file rendered from it), so no start-up reload is needed.
    pub async fn assume_loaded(&mut self, config: &Config) -> Result<(), ApplyError> {
        let procs = self.master.show_proc().await?;
        self.worker = procs.current_worker();
        self.loaded = Some(structure(config));
        if let Some(w) = self.worker {
            self.record_loaded_by(w).await;
        }
        Ok(())
    }

    /// On start-up: if the running worker started after haproxy.cfg was last written, it
    /// runs that file's structure, and no reload is needed for it.
    pub async fn adopt_running(&mut self) -> Result<(), ApplyError> {
        let procs = self.master.show_proc().await?;
        let Some(worker) = procs.workers.first() else {
            return Ok(());
        };
        let writer = self.reloader.writer();
        // The worker the agent saw load the last good config is still the current one.
        let marker = tokio::fs::read_to_string(self.loaded_by_path()).await.ok();
        if marker.as_deref().map(str::trim) == Some(worker.pid.to_string().as_str())
            && let Ok(text) = tokio::fs::read_to_string(writer.last_good_path()).await
        {
            self.loaded = Some(Structure::of_rendered(&text));
            self.worker = Some(worker.pid);
            tracing::info!(
                worker = worker.pid,
                "adopting the running haproxy: it loaded the last good config"
            );
            return Ok(());
        }
        let Ok(meta) = tokio::fs::metadata(writer.config_path()).await else {
            return Ok(());
        };
        let Ok(Some(text)) = writer.current().await else {
            return Ok(());
        };
        let (Ok(modified), Some(uptime)) = (meta.modified(), parse_uptime(&worker.uptime)) else {
            return Ok(());
        };
        let age = modified.elapsed().unwrap_or_default();
        // The uptime has a resolution of one second: demand a clear margin.
        if age > uptime + Duration::from_secs(2) {
            self.loaded = Some(Structure::of_rendered(&text));
            self.worker = Some(worker.pid);
            tracing::info!(
                worker = worker.pid,
                "adopting the running haproxy: it loaded the current haproxy.cfg"
            );
        }
        Ok(())
    }

    /// Brings HAProxy to `desired`.
    pub async fn sync(&mut self, desired: &Config) -> Result<SyncReport, ApplyError> {
        let result = self.sync_effective(desired).await;
        if result.is_err() {
            self.last_applied = None;
        }
        result
    }

    async fn sync_effective(&mut self, desired: &Config) -> Result<SyncReport, ApplyError> {
        let effective = self.retain_unrouted(desired);
        let desired: &Config = &effective;
        let want = structure(desired);
        let mut report = SyncReport::default();
        self.notice_restart().await?;
        let mut failures: Vec<String> = Vec::new();
        for attempt in 0..4 {
            let observed = self.observe(desired).await?;
            let now = Instant::now();
            let plan = reconcile::plan(
                desired,
                want.as_str(),
                &observed,
                &self.drains,
                now,
                PlanSettings {
                    drain_timeout: self.settings.drain_timeout,
                },
            );
            match plan {
                Plan::Reload(reason) => {
                    if report.reloads.len() >= 2 {
                        return Err(ApplyError::Diverged(format!(
                            "still wants a reload ({reason}) after {} reloads",
                            report.reloads.len()
                        )));
                    }
                    self.reload(desired, &want, &reason).await?;
                    report.reloads.push(reason);
                }
                Plan::Runtime(p) if p.is_converged() => {
                    reconcile::update_drains(&mut self.drains, &p, now);
                    report.draining = self.drains.len();
                    self.last_applied = Some(desired.clone());
                    return Ok(report);
                }
                Plan::Runtime(p) => {
                    let errors = self.run(desired, &p).await?;
                    report.commands += p.commands.len();
                    reconcile::update_drains(&mut self.drains, &p, now);
                    report.draining = self.drains.len();
                    if errors.is_empty() {
                        self.write_state(desired).await;
                        self.last_applied = Some(desired.clone());
                        return Ok(report);
                    }
                    self.status.metrics.desync.inc();
                    tracing::warn!(attempt, errors = ?errors, "haproxy refused part of a plan; observing again");
                    failures = errors;
                    if attempt == 2 {
                        // Re-observing did not help: rebuild HAProxy from a full config.
                        self.loaded = None;
                    }
                }
            }
        }
        Err(ApplyError::Diverged(failures.join("; ")))
    }

    /// A worker the agent did not start (someone reloaded or restarted HAProxy) runs the
    /// config on disk, which the agent keeps current; servers added at runtime since are gone
    /// from it, which the next observation shows.
    async fn notice_restart(&mut self) -> Result<(), ApplyError> {
        let procs = match self.master.show_proc().await {
            Ok(p) => p,
            Err(e) => {
                self.lost_worker |= self.worker.is_some();
                self.loaded = None;
                self.worker = None;
                return Err(e.into());
            }
        };
        let now = procs.current_worker();
        // A worker other than the one known, or the first one after HAProxy was lost (the
        // supervisor or the container restarted it from the config on disk).
        let restarted = now.is_some() && (self.lost_worker || self.worker.is_some());
        if restarted && now != self.worker {
            self.lost_worker = false;
            tracing::warn!(was = ?self.worker, now = ?now, "haproxy worker changed without the agent; resyncing");
            self.status.metrics.desync.inc();
            self.runtime.disconnect().await;
            let text = self.reloader.writer().current().await.ok().flatten();
            self.loaded = text.as_deref().map(Structure::of_rendered);
            self.worker = now;
        }
        Ok(())
    }

    async fn reload(
        &mut self,
        desired: &Config,
        want: &Structure,
        reason: &str,
    ) -> Result<(), ApplyError> {
        if self.refused.as_ref() == Some(want) {
            return Err(ApplyError::KnownBad);
        }
        let started = Instant::now();
        let rendered = render(desired);
        match self.reloader.reload(&rendered).await {
            Ok(done) => {
                tracing::info!(
                    reason,
                    worker = done.new_worker,
                    took_ms = started.elapsed().as_millis() as u64,
                    "haproxy reloaded"
                );
                self.status.metrics.reload(reason);
                self.loaded = Some(want.clone());
                self.record_loaded_by(done.new_worker).await;
                self.worker = Some(done.new_worker);
                self.refused = None;
                self.drains.clear();
                Ok(())
            }
            Err(e) => {
                self.status.metrics.reload_failures.inc();
                if e.is_invalid_config() {
                    self.refused = Some(want.clone());
                }
                tracing::error!(reason, error = %e, "reload failed; haproxy keeps its last good config");
                Err(e.into())
            }
        }
    }

    async fn observe(&self, desired: &Config) -> Result<Observed, ApplyError> {
        observe(&self.runtime, desired, self.loaded.as_ref()).await
    }

    /// Runs a runtime plan; returns the refusals (empty when every reply was as expected).
    async fn run(&self, desired: &Config, plan: &RuntimePlan) -> Result<Vec<String>, ApplyError> {
        let mut errors = Vec::new();
        if !plan.swaps.is_empty() {
            let want = route_maps(&desired.routes);
            let maps = &desired.frontends[0].maps;
            for kind in &plan.swaps {
                let file = match kind {
                    MapKind::Exact => maps.exact.to_file_path(),
                    MapKind::Prefix => maps.prefix.to_file_path(),
                };
                let version = match self.runtime.send(Command::PrepareMap(file.clone())).await? {
                    Reply::MapVersion(v) => v,
                    other => {
                        return Err(ApplyError::Diverged(format!("prepare map gave {other:?}")));
                    }
                };
                let cmds =
                    map_swap_commands(&file, version, want.entries(*kind), reconcile::BUFSIZE);
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
        Ok(errors)
    }

    async fn send_checked(&self, cmds: &[Command]) -> Result<Vec<String>, ApplyError> {
        let replies = match self.runtime.batch(cmds).await {
            Ok(r) => r,
            Err(e) => {
                for c in cmds {
                    self.status.metrics.command(c.name(), CommandResult::Error);
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
            if let Err(e) = r {
                errors.push(e.to_string());
            }
        }
        Ok(errors)
    }

    /// Brings haproxy.cfg and the maps on disk up to date after runtime changes.
    async fn write_state(&self, desired: &Config) {
        let rendered = render(desired);
        if let Err(e) = self.reloader.writer().write_runtime_state(&rendered).await {
            tracing::warn!(error = %e, "cannot write the current config to disk");
        }
    }
}

/// Observes what HAProxy runs (the structure it loaded is the agent's knowledge, passed in): backends, servers, route maps, and the sessions of servers
/// that are being removed.
pub async fn observe(
    runtime: &RuntimeClient,
    desired: &Config,
    loaded: Option<&Structure>,
) -> Result<Observed, ApplyError> {
    let mut observed = Observed {
        loaded_structure: loaded.map(|s| s.as_str().to_string()),
        ..Default::default()
    };
    let mut cmds = vec![Command::ShowBackend, Command::ShowServersState(None)];
    let maps = desired.frontends.first().map(|f| f.maps.clone());
    if let Some(m) = &maps {
        cmds.push(Command::ShowMap(haproxy::proto::MapTarget::live(
            m.exact.to_file_path(),
        )));
        cmds.push(Command::ShowMap(haproxy::proto::MapTarget::live(
            m.prefix.to_file_path(),
        )));
    }
    let mut replies = runtime
        .batch(&cmds)
        .await
        .map_err(haproxy::Error::from)?
        .into_iter();
    if let Some(Ok(Reply::Backends(names))) = replies.next() {
        observed.backends = names
            .iter()
            .filter_map(|n| BackendName::new(n.as_str()).ok())
            .collect();
    }
    match replies.next() {
        Some(Ok(Reply::ServersState(rows))) => {
            for row in rows {
                let (Ok(be), Ok(srv)) = (
                    BackendName::new(row.backend.as_str()),
                    haproxy::ServerName::new(row.server.as_str()),
                ) else {
                    continue;
                };
                observed.servers.entry(be).or_default().insert(
                    srv,
                    LiveServer {
                        addr: row.addr.map(|ip| SocketAddr::new(ip, row.port)),
                        weight: row.weight,
                        admin: row.admin,
                        sessions: None,
                    },
                );
            }
        }
        Some(Err(e)) => return Err(haproxy::Error::Reply(e).into()),
        other => {
            return Err(ApplyError::Diverged(format!(
                "show servers state gave {other:?}"
            )));
        }
    }
    for target in [&mut observed.exact_map, &mut observed.prefix_map] {
        match replies.next() {
            Some(Ok(Reply::MapEntries(entries))) => {
                *target = entries.into_iter().map(|e| (e.key, e.value)).collect();
            }
            // A map the running config does not load: the structure differs anyway.
            Some(Err(ReplyError::Refused { .. })) | None => {}
            Some(other) => {
                return Err(ApplyError::Diverged(format!("show map gave {other:?}")));
            }
        }
    }
    observe_sessions(runtime, desired, &mut observed).await?;
    observed.tls = observe_tls(runtime, desired).await?;
    Ok(observed)
}

/// The certificates HAProxy has loaded (with the fingerprint of each one the agent manages)
/// and the lines of the crt-list, when the desired config serves TLS; `None` otherwise. A
/// crt-list the running worker does not know (TLS not loaded yet) reads as empty.
async fn observe_tls(
    runtime: &RuntimeClient,
    desired: &Config,
) -> Result<Option<LiveTls>, ApplyError> {
    let Some(bind) = desired.frontends.first().and_then(|f| f.tls.as_ref()) else {
        return Ok(None);
    };
    let crt_list = bind.crt_list.to_file_path();
    let certs_dir = bind.certs_dir();
    let cmds = [
        Command::ShowSslCert(None),
        Command::ShowSslCrtList(crt_list.clone()),
    ];
    let mut replies = runtime
        .batch(&cmds)
        .await
        .map_err(haproxy::Error::from)?
        .into_iter();
    let mut live = LiveTls::default();
    let files = match replies.next() {
        Some(Ok(Reply::SslCerts(list))) => {
            live.transactions = list
                .transactions
                .iter()
                .filter_map(|f| FilePath::new(f.as_str()).ok())
                .collect();
            list.files
        }
        other => {
            return Err(ApplyError::Diverged(format!(
                "show ssl cert gave {other:?}"
            )));
        }
    };
    match replies.next() {
        Some(Ok(Reply::CrtList(lines))) => {
            live.crt_list = lines
                .iter()
                .filter_map(|l| {
                    Some(LiveCrtLine {
                        cert: FilePath::new(l.cert.as_str()).ok()?,
                        line: l.line,
                        entry: l.to_entry(),
                    })
                })
                .collect();
        }
        Some(Err(ReplyError::Refused { .. })) | None => {}
        other => {
            return Err(ApplyError::Diverged(format!(
                "show ssl crt-list gave {other:?}"
            )));
        }
    }
    // Details only for the files the agent manages: those under the certificates directory.
    let ours: Vec<FilePath> = files
        .iter()
        .filter(|f| std::path::Path::new(f.as_str()).starts_with(certs_dir))
        .filter_map(|f| FilePath::new(f.as_str()).ok())
        .collect();
    let details: Vec<Command> = ours
        .iter()
        .map(|f| Command::ShowSslCert(Some(f.clone())))
        .collect();
    let replies = runtime
        .batch(&details)
        .await
        .map_err(haproxy::Error::from)?;
    for (file, reply) in ours.into_iter().zip(replies) {
        let sha1 = match reply {
            Ok(Reply::SslCert(info)) => info
                .sha1
                .as_deref()
                .and_then(|h| CertFingerprint::new(h).ok()),
            _ => None,
        };
        live.certs.insert(file, sha1);
    }
    Ok(Some(live))
}

/// Current sessions of servers that are about to be removed (present in HAProxy, absent
/// from the desired config, not yet in maintenance).
async fn observe_sessions(
    runtime: &RuntimeClient,
    desired: &Config,
    observed: &mut Observed,
) -> Result<(), ApplyError> {
    let busy: Vec<BackendName> = desired
        .backends
        .iter()
        .filter(|(name, be)| {
            observed.servers.get(*name).is_some_and(|live| {
                live.iter()
                    .any(|(s, l)| !be.servers.contains_key(s) && !l.admin.is_maint())
            })
        })
        .map(|(name, _)| name.clone())
        .collect();
    if busy.is_empty() {
        return Ok(());
    }
    let cmds: Vec<Command> = busy.iter().cloned().map(Command::ShowStatServers).collect();
    let replies = runtime.batch(&cmds).await.map_err(haproxy::Error::from)?;
    for (be, reply) in busy.iter().zip(replies) {
        let Ok(Reply::Stat(rows)) = reply else {
            continue;
        };
        let Some(live) = observed.servers.get_mut(be) else {
            continue;
        };
        for row in rows {
            let Ok(name) = haproxy::ServerName::new(row.service()) else {
                continue;
            };
            if let (Some(l), Some(scur)) = (live.get_mut(&name), row.number("scur")) {
                l.sessions = Some(scur.max(0) as u64);
            }
        }
    }
    Ok(())
}

/// Parses `show proc`'s uptime, `0d00h02m18s`.
fn parse_uptime(s: &str) -> Option<Duration> {
    let (d, rest) = s.split_once('d')?;
    let (h, rest) = rest.split_once('h')?;
    let (m, rest) = rest.split_once('m')?;
    let sec = rest.strip_suffix('s')?;
    let total = d.parse::<u64>().ok()? * 86_400
        + h.parse::<u64>().ok()? * 3_600
        + m.parse::<u64>().ok()? * 60
        + sec.parse::<u64>().ok()?;
    Some(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes() {
        assert_eq!(parse_uptime("0d00h02m18s"), Some(Duration::from_secs(138)));
        assert_eq!(
            parse_uptime("1d01h00m00s"),
            Some(Duration::from_secs(90_000))
        );
        assert_eq!(parse_uptime("garbage"), None);
    }
}
