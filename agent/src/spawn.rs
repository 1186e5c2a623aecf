//! `--spawn-haproxy`: starts HAProxy in master-worker mode with the rendered config and the
//! given sockets, restarts it when it dies, and stops it cleanly (soft stop) on shutdown.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How to start HAProxy.
#[derive(Debug, Clone)]
pub struct SpawnConfig {
    /// The haproxy binary.
    pub binary: PathBuf,
    /// The config file.
    pub config: PathBuf,
    /// The master CLI socket (`-S`).
    pub master_socket: PathBuf,
    /// How long a soft stop may take before the process is killed.
    pub stop_timeout: Duration,
}

/// Supervises one HAProxy master process.
#[derive(Debug)]
pub struct Supervisor {
    config: SpawnConfig,
    starts: watch::Sender<u64>,
}

impl Supervisor {
    /// A supervisor; nothing runs until [`Supervisor::run`].
    pub fn new(config: SpawnConfig) -> Self {
        let (starts, _) = watch::channel(0);
        Self { config, starts }
    }

    /// Counts HAProxy starts (1 after the first); the reconcile loop resyncs on a change.
    pub fn starts(&self) -> watch::Receiver<u64> {
        self.starts.subscribe()
    }

    fn spawn(&self) -> std::io::Result<Child> {
        let mut cmd = Command::new(&self.config.binary);
        cmd.arg("-W")
            .arg("-S")
            .arg(&self.config.master_socket)
            .arg("-f")
            .arg(&self.config.config)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd.spawn()
    }

    /// Starts HAProxy and keeps it running until `shutdown` turns true; then soft-stops it
    /// (SIGUSR1 to the master, which lets connections finish), and kills it by pid if it is
    /// still there after the stop timeout.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut child = match self.spawn() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, binary = %self.config.binary.display(), "cannot start haproxy");
                    return Err(e);
                }
            };
            let pid = child.id();
            self.starts.send_modify(|n| *n += 1);
            tracing::info!(pid, "haproxy started");
            let started = tokio::time::Instant::now();
            let exited = tokio::select! {
                status = child.wait() => Some(status?),
                _ = shutdown.wait_for(|s| *s) => None,
            };
            let Some(exited) = exited else {
                self.stop(&mut child).await;
                return Ok(());
            };
            tracing::warn!(status = %exited, "haproxy exited; restarting");
            if started.elapsed() > Duration::from_secs(10) {
                backoff = Duration::from_millis(100);
            }
            let stopping = tokio::select! {
                _ = tokio::time::sleep(backoff) => false,
                _ = shutdown.wait_for(|s| *s) => true,
            };
            if stopping {
                return Ok(());
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn stop(&self, child: &mut Child) {
        let Some(pid) = child.id() else { return };
        let pid = Pid::from_raw(pid as i32);
        tracing::info!(%pid, "stopping haproxy (soft stop)");
        let _ = kill(pid, Signal::SIGUSR1);
        match tokio::time::timeout(self.config.stop_timeout, child.wait()).await {
            Ok(_) => tracing::info!("haproxy stopped"),
            Err(_) => {
                tracing::warn!(%pid, "haproxy did not stop in time; killing it");
                let _ = kill(pid, Signal::SIGKILL);
                let _ = child.wait().await;
            }
        }
    }
}
