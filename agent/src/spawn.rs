//! `--spawn-haproxy`: starts HAProxy in master-worker mode with the rendered config and the
//! given sockets, restarts it when it dies, and stops it cleanly (soft stop) on shutdown;
//! retires a HAProxy that an agent killed earlier left running on the same sockets;
//! forwards HAProxy's stdout (the access log) to the agent's, line by line.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// The wait before starting HAProxy again after it exited.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// A HAProxy that exits sooner than this after its start failed to start (a config it
/// refuses, a port taken): the wait before the next start doubles, up to 5 s. One that ran
/// longer was running and died (killed, crashed): it is started again after
/// [`FIRST_BACKOFF`], however often that happens, since every moment without it is an
/// outage.
const FAILED_START: Duration = Duration::from_secs(1);

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
        // The master CLI can stop HAProxy and run any runtime command: owner only.
        let mut master = self.config.master_socket.clone().into_os_string();
        master.push(",mode,600");
        cmd.arg("-W")
            .arg("-S")
            .arg(master)
            .arg("-f")
            .arg(&self.config.config)
            .stdin(Stdio::null())
            // HAProxy's stdout (the access log) comes through a pipe the agent forwards: HAProxy
            // makes its stdout non-blocking and drops O_APPEND on it (measured on 2.6.12),
            // which must not happen to an output the agent shares.
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward_lines(out));
        }
        Ok(child)
    }

    /// Starts HAProxy and keeps it running until `shutdown` turns true; then soft-stops it
    /// (SIGUSR1 to the master, which lets connections finish), and kills it by pid if it is
    /// still there after the stop timeout.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
        let mut backoff = crate::backoff::Backoff::new(FIRST_BACKOFF, Duration::from_secs(5));
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
            if started.elapsed() >= FAILED_START {
                backoff.reset();
            }
            let stopping = tokio::select! {
                _ = tokio::time::sleep(backoff.failed()) => false,
                _ = shutdown.wait_for(|s| *s) => true,
            };
            if stopping {
                return Ok(());
            }
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

/// Copies HAProxy's output to the agent's stdout a whole line at a time (so lines never
/// interleave with the agent's own), until every HAProxy process has closed it.
async fn forward_lines(out: tokio::process::ChildStdout) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut reader = tokio::io::BufReader::new(out);
    let mut stdout = tokio::io::stdout();
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if stdout.write_all(&line).await.is_err() || stdout.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Soft-stops a HAProxy master that was already answering on `master_socket` when the
/// agent started its own (left by an agent that was killed, so nothing stops it or keeps it
/// in step, while it may still take connections): SIGUSR1, then SIGKILL if it is still
/// there after `timeout`. Called once the new HAProxy answers, so the listening sockets are
/// handed over without a gap. Only a process whose command line names `master_socket` is
/// signalled, so a pid reused meanwhile is left alone.
pub async fn retire_leftover(pid: u32, master_socket: &Path, timeout: Duration) {
    if !started_on(pid, master_socket) {
        tracing::warn!(
            pid,
            "the haproxy left running is not what it was; leaving it alone"
        );
        return;
    }
    let target = Pid::from_raw(pid as i32);
    tracing::warn!(
        pid,
        "a haproxy left running by an earlier agent answered on the master socket; soft-stopping it"
    );
    let _ = kill(target, Signal::SIGUSR1);
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if !running(pid) {
            tracing::info!(pid, "the haproxy left running has stopped");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if started_on(pid, master_socket) && running(pid) {
        tracing::warn!(
            pid,
            "the haproxy left running did not stop in time; killing it"
        );
        let _ = kill(target, Signal::SIGKILL);
    }
}

/// Whether `pid`'s command line has an argument starting with `master_socket` (`-S PATH`
/// or `-S PATH,mode,600`).
fn started_on(pid: u32, master_socket: &Path) -> bool {
    let want = master_socket.as_os_str().as_encoded_bytes();
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg.starts_with(want)))
}

/// Whether `pid` is a process that has not exited (a zombie has).
fn running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}
