//! The one way tests start HAProxy: `haproxy -W -S <master.sock> -f <config>` in a dir of
//! its own, ready once both its admin socket and its master CLI answer, stopped by its pid.
//! [`crate::haproxy_proc::HaproxyProcess`] (a config written as text) and
//! [`crate::rendered::RenderedHaproxy`] (a config rendered and installed by the agent's
//! writer) are this plus how their config is made.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use haproxy::proto::ProcList;
use haproxy::{Endpoint, MasterClient, Reloaded, RuntimeClient};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::haproxy_proc::{
    START_DEADLINE, STOP_DEADLINE, haproxy_binary, master_client_for, runtime_client_for,
};

const POLL: Duration = Duration::from_millis(20);

/// A running HAProxy master with its worker. Dropping it sends SIGTERM to the master's pid,
/// waits up to [`STOP_DEADLINE`], then SIGKILLs it, and reaps it in every case.
#[derive(Debug)]
pub struct Master {
    child: Child,
    admin_socket: PathBuf,
    master_socket: PathBuf,
    log_path: PathBuf,
}

impl Master {
    /// Starts the master on `config` with `dir` as its working directory and its output in
    /// `<dir>/haproxy.log`, and waits until both sockets answer. On failure the process is
    /// stopped and the error holds its log.
    pub async fn launch(
        dir: &Path,
        config: &Path,
        admin_socket: PathBuf,
        master_socket: PathBuf,
    ) -> anyhow::Result<Master> {
        let log_path = dir.join("haproxy.log");
        let log =
            File::create(&log_path).with_context(|| format!("create {}", log_path.display()))?;
        let bin = haproxy_binary();
        let child = Command::new(&bin)
            .arg("-W")
            .arg("-S")
            .arg(&master_socket)
            .arg("-f")
            .arg(config)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("clone log file")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let mut master = Master {
            child,
            admin_socket,
            master_socket,
            log_path,
        };
        match master.wait_ready().await {
            Ok(()) => Ok(master),
            Err(e) => Err(master.failed(e, config)),
        }
    }

    /// Stops the master and says why it is no good, with its log.
    pub fn failed(mut self, e: anyhow::Error, config: &Path) -> anyhow::Error {
        self.stop();
        anyhow!(
            "haproxy (pid {}, config {}) did not start: {e:#}; its log:\n{}",
            self.pid(),
            config.display(),
            self.log()
        )
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        let admin = Endpoint::Unix(self.admin_socket.clone());
        loop {
            if let Some(status) = self.child.try_wait().context("try_wait haproxy")? {
                bail!("haproxy exited with {status}");
            }
            let answered = async {
                let version = admin
                    .oneshot("show version", Duration::from_secs(1), 4096)
                    .await
                    .with_context(|| format!("admin socket {admin}"))?;
                if version.is_empty() {
                    bail!("admin socket {admin}: empty reply to `show version`");
                }
                self.show_proc().await.map(|_| ())
            };
            let Err(e) = answered.await else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(e.context(format!("haproxy not ready within {START_DEADLINE:?}")));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The master's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The admin stats socket.
    pub fn admin_socket(&self) -> &Path {
        &self.admin_socket
    }

    /// The master CLI socket.
    pub fn master_socket(&self) -> &Path {
        &self.master_socket
    }

    /// HAProxy's output so far (lossy UTF-8; empty if unreadable).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// A new runtime API client on the admin socket, with
    /// [`crate::haproxy_proc::CLIENT_TIMEOUT`]; each call gives a client with its own session.
    pub fn runtime_client(&self) -> RuntimeClient {
        runtime_client_for(&self.admin_socket)
    }

    /// A master CLI client, with [`crate::haproxy_proc::CLIENT_TIMEOUT`].
    pub fn master_client(&self) -> MasterClient {
        master_client_for(&self.master_socket)
    }

    /// The master's `show proc`.
    pub async fn show_proc(&self) -> anyhow::Result<ProcList> {
        Ok(self.master_client().show_proc().await?)
    }

    /// Reloads so far, failed ones included, as the master counts them (`show proc`).
    pub async fn reload_count(&self) -> anyhow::Result<u32> {
        Ok(self.show_proc().await?.master.reloads)
    }

    /// The current worker's pid (`show proc`).
    pub async fn worker_pid(&self) -> anyhow::Result<u32> {
        self.show_proc()
            .await?
            .current_worker()
            .ok_or_else(|| anyhow!("the master lists no current worker"))
    }

    /// Reloads through the master CLI and waits (up to [`START_DEADLINE`]) for the new worker.
    pub async fn reload(&self) -> anyhow::Result<Reloaded> {
        self.master_client()
            .reload(START_DEADLINE)
            .await
            .with_context(|| format!("reload; haproxy log:\n{}", self.log()))
    }

    /// SIGKILLs the current worker; returns its pid.
    pub async fn kill_worker(&self) -> anyhow::Result<u32> {
        let pid = self.worker_pid().await?;
        kill(to_pid(pid)?, Signal::SIGKILL).with_context(|| format!("SIGKILL worker {pid}"))?;
        Ok(pid)
    }

    /// SIGKILLs the master and reaps it. Its worker notices the master is gone and exits.
    pub fn kill_master(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_none() {
            let pid = self.pid();
            kill(to_pid(pid)?, Signal::SIGKILL).with_context(|| format!("SIGKILL master {pid}"))?;
            self.child.wait().context("wait for the master")?;
        }
        Ok(())
    }

    /// The master's exit status, if it has exited (reaping it).
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Waits up to `deadline` for the master to exit on its own (after its worker was killed,
    /// say) and reaps it.
    pub async fn wait_exit(&mut self, deadline: Duration) -> anyhow::Result<ExitStatus> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= until {
                bail!(
                    "haproxy master {} still running after {deadline:?}",
                    self.pid()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the master by pid: SIGTERM, wait up to [`STOP_DEADLINE`], SIGKILL, reap.
    pub fn stop(&mut self) {
        stop_child(&mut self.child);
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stops a HAProxy master we started, by its pid only: SIGTERM (which ends its workers
/// too), wait up to [`STOP_DEADLINE`], then SIGKILL, and reap it so no zombie is left.
pub fn stop_child(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    if let Ok(pid) = to_pid(child.id())
        && kill(pid, Signal::SIGTERM).is_ok()
    {
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                _ => return,
            }
        }
        eprintln!(
            "haproxy master {} did not exit within {STOP_DEADLINE:?} of SIGTERM; sending SIGKILL",
            child.id()
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether `pid` names a live process (or a zombie): `kill(pid, 0)` does not give ESRCH.
pub fn pid_exists(pid: u32) -> bool {
    match to_pid(pid) {
        Ok(pid) => !matches!(kill(pid, None), Err(Errno::ESRCH)),
        Err(_) => false,
    }
}

fn to_pid(pid: u32) -> anyhow::Result<Pid> {
    Ok(Pid::from_raw(
        i32::try_from(pid).map_err(|_| anyhow!("pid {pid} out of range"))?,
    ))
}
