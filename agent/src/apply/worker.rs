//! Which HAProxy worker is live and what structure it loaded: learnt at start-up (adopting a
//! running HAProxy), set after each verified reload, and lost when a worker appears that the
//! agent did not start.

use std::path::PathBuf;
use std::time::Duration;

use haproxy::config::Sections;
use haproxy::{ConfigWriter, MasterClient};

use super::ApplyError;

/// The live worker and the sections of the config it loaded.
#[derive(Debug)]
pub(super) struct Worker {
    /// The worker's pid, when known.
    pid: Option<u32>,
    /// The master stopped answering while a worker was known (HAProxy died): the next
    /// worker seen was started from the config on disk.
    lost: bool,
    /// What the worker loaded, when known.
    pub(super) loaded: Option<Sections>,
    /// Where the pid of the worker that loaded the last good config is kept, so a restarted
    /// agent knows what the running worker loaded.
    marker: PathBuf,
}

/// What [`Worker::notice_restart`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WorkerChange {
    /// The same worker as before (or none known yet).
    Same,
    /// A worker the agent did not start: everything must be observed again.
    Restarted,
}

impl Worker {
    pub(super) fn new(writer: &ConfigWriter) -> Self {
        Self {
            pid: None,
            lost: false,
            loaded: None,
            marker: writer.dir().join("haproxy.cfg.loaded-by"),
        }
    }

    async fn record_loaded_by(&self, worker: u32) {
        use tokio::io::AsyncWriteExt as _;
        // Owner only, like every file the agent writes.
        let written = async {
            let mut f = tokio::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&self.marker)
                .await?;
            f.write_all(format!("{worker}\n").as_bytes()).await
        };
        if let Err(e) = written.await {
            tracing::warn!(error = %e, "cannot record which worker loaded the config");
        }
    }

    /// Worker `pid` loaded `sections` (a verified reload, or HAProxy just started from them).
    pub(super) async fn loaded_by(&mut self, pid: Option<u32>, sections: Sections) {
        self.pid = pid;
        self.loaded = Some(sections);
        if let Some(w) = pid {
            self.record_loaded_by(w).await;
        }
    }

    /// Forgets what the worker loaded: the next plan reloads from a full config.
    pub(super) fn forget_loaded(&mut self) {
        self.loaded = None;
    }

    /// On start-up: if the running worker is the one the agent recorded loading the last
    /// good config, or started after haproxy.cfg was last written, it runs that file, and
    /// no reload is needed for it.
    pub(super) async fn adopt(
        &mut self,
        master: &MasterClient,
        writer: &ConfigWriter,
    ) -> Result<(), ApplyError> {
        let procs = master.show_proc().await?;
        let Some(worker) = procs.workers.first() else {
            return Ok(());
        };
        let marker = tokio::fs::read_to_string(&self.marker).await.ok();
        if marker.as_deref().map(str::trim) == Some(worker.pid.to_string().as_str())
            && let Ok(text) = tokio::fs::read_to_string(writer.last_good_path()).await
        {
            self.loaded = Some(Sections::of_rendered(&text));
            self.pid = Some(worker.pid);
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
        let Ok(modified) = meta.modified() else {
            return Ok(());
        };
        let uptime = worker.uptime;
        let age = modified.elapsed().unwrap_or_default();
        // The uptime has a resolution of one second: demand a clear margin.
        if age > uptime + Duration::from_secs(2) {
            self.loaded = Some(Sections::of_rendered(&text));
            self.pid = Some(worker.pid);
            tracing::info!(
                worker = worker.pid,
                "adopting the running haproxy: it loaded the current haproxy.cfg"
            );
        }
        Ok(())
    }

    /// Checks the master for a worker the agent did not start (someone reloaded or
    /// restarted HAProxy): it runs the config on disk, which the agent keeps current; servers
    /// added at runtime since are gone from it, which the next full observation shows.
    pub(super) async fn notice_restart(
        &mut self,
        master: &MasterClient,
        writer: &ConfigWriter,
    ) -> Result<WorkerChange, ApplyError> {
        let procs = match master.show_proc().await {
            Ok(p) => p,
            Err(e) => {
                self.lost |= self.pid.is_some();
                self.loaded = None;
                self.pid = None;
                return Err(e.into());
            }
        };
        let now = procs.current_worker();
        // A worker other than the one known, or the first one after HAProxy was lost (the
        // supervisor or the container restarted it from the config on disk).
        let restarted = now.is_some() && (self.lost || self.pid.is_some());
        if !restarted || now == self.pid {
            return Ok(WorkerChange::Same);
        }
        self.lost = false;
        tracing::warn!(was = ?self.pid, now = ?now, "haproxy worker changed without the agent; resyncing");
        let text = writer.current().await.ok().flatten();
        self.loaded = text.as_deref().map(Sections::of_rendered);
        self.pid = now;
        Ok(WorkerChange::Restarted)
    }
}
