//! Real HAProxy processes in master-worker mode, each in its own temp dir, stopped by pid.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use haproxy::proto::ProcList;
use haproxy::{Endpoint, MasterClient, Reloaded, RuntimeClient, RuntimeConfig};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

/// Time allowed for HAProxy to start answering on both sockets.
pub const START_DEADLINE: Duration = Duration::from_secs(10);
/// Time allowed for HAProxy to exit after SIGTERM before it gets SIGKILL.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);
/// Timeout of the clients returned by [`HaproxyProcess::runtime_client`] and
/// [`HaproxyProcess::master_client`].
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

const POLL: Duration = Duration::from_millis(20);
const NOT_INSTALLED: &str = "HAProxy is not installed (no `haproxy` on PATH and HAPROXY_BIN unset): run scripts/test, which installs it with apt-get install haproxy";

/// The HAProxy binary: `HAPROXY_BIN` if set, else `haproxy` on `PATH`, `/usr/sbin` or
/// `/usr/local/sbin`.
///
/// # Panics
/// When there is none: tests that need HAProxy fail, they never skip.
pub fn haproxy_binary() -> PathBuf {
    system_binary(
        "HAPROXY_BIN",
        "haproxy",
        &["/usr/sbin", "/usr/local/sbin"],
        NOT_INSTALLED,
    )
}

/// A system tool the tests need: the file named by the environment variable `env` if set,
/// else `name` on `PATH` or in one of `dirs`.
///
/// # Panics
/// When there is none, with `not_installed` (or when `env` names no file).
pub fn system_binary(env: &str, name: &str, dirs: &[&str], not_installed: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(env).filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "{env}={} does not exist; unset it. {not_installed}",
            bin.display()
        );
        return bin;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(dirs.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{not_installed}"))
}

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Whether the config file is generated around a body or written verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigKind {
    Body,
    Full,
}

/// A running HAProxy master (`haproxy -W -S <dir>/master.sock -f <dir>/haproxy.cfg`) with
/// its worker, in a temp dir that also holds its sockets and its log.
///
/// Dropping it sends SIGTERM to the master's pid, waits up to [`STOP_DEADLINE`], then
/// SIGKILLs it, and reaps it in every case.
#[derive(Debug)]
pub struct HaproxyProcess {
    /// The temp dir; removed on drop, after the process has stopped.
    pub dir: TempDir,
    /// The admin stats socket (`<dir>/admin.sock`).
    pub admin_socket: PathBuf,
    /// The master CLI socket (`<dir>/master.sock`).
    pub master_socket: PathBuf,
    /// The config file (`<dir>/haproxy.cfg`).
    pub config_path: PathBuf,
    /// HAProxy's stdout and stderr (`<dir>/haproxy.log`).
    pub log_path: PathBuf,
    kind: ConfigKind,
    child: Child,
}

impl HaproxyProcess {
    /// Starts HAProxy with a generated `global` section (admin stats socket at
    /// `<dir>/admin.sock`, `stats timeout 10m`, `hard-stop-after 5s`), a `defaults` section
    /// (`mode http`, timeouts connect 2s, client 30s, server 30s), then `body`, in which
    /// every `{dir}` becomes the temp dir's path. Returns once both the admin socket and the
    /// master socket answer; on failure the process is stopped and the error holds its log.
    pub async fn start(body: &str) -> anyhow::Result<Self> {
        Self::spawn(body, ConfigKind::Body, &[]).await
    }

    /// Starts HAProxy with `full` as its config, verbatim except that every `{dir}` becomes
    /// the temp dir's path. The config must declare `stats socket {dir}/admin.sock ... level
    /// admin` itself. Waits as [`HaproxyProcess::start`] does.
    pub async fn start_with_config(full: &str) -> anyhow::Result<Self> {
        Self::spawn(full, ConfigKind::Full, &[]).await
    }

    /// Like [`HaproxyProcess::start`], after writing `files` (name, content) into the temp
    /// dir: map files and certificates the config refers to as `{dir}/<name>`.
    pub async fn start_with_files(body: &str, files: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::spawn(body, ConfigKind::Body, files).await
    }

    async fn spawn(text: &str, kind: ConfigKind, files: &[(&str, &str)]) -> anyhow::Result<Self> {
        let bin = haproxy_binary();
        let dir = tempfile::Builder::new()
            .prefix("hap")
            .tempdir()
            .context("create temp dir")?;
        let admin_socket = dir.path().join("admin.sock");
        let master_socket = dir.path().join("master.sock");
        let config_path = dir.path().join("haproxy.cfg");
        let log_path = dir.path().join("haproxy.log");
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, content).with_context(|| format!("write {}", path.display()))?;
        }
        std::fs::write(&config_path, render(dir.path(), text, kind))
            .with_context(|| format!("write {}", config_path.display()))?;
        let log =
            File::create(&log_path).with_context(|| format!("create {}", log_path.display()))?;
        let child = Command::new(&bin)
            .arg("-W")
            .arg("-S")
            .arg(&master_socket)
            .arg("-f")
            .arg(&config_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("clone log file")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let mut process = HaproxyProcess {
            dir,
            admin_socket,
            master_socket,
            config_path,
            log_path,
            kind,
            child,
        };
        match process.wait_ready().await {
            Ok(()) => Ok(process),
            Err(e) => {
                process.stop();
                let log = process.log();
                Err(anyhow!(
                    "haproxy (pid {}, config {}) did not start: {e:#}; its log:\n{log}",
                    process.pid(),
                    process.config_path.display()
                ))
            }
        }
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        let admin = Endpoint::Unix(self.admin_socket.clone());
        let master = Endpoint::Unix(self.master_socket.clone());
        loop {
            if let Some(status) = self.child.try_wait().context("try_wait haproxy")? {
                return Err(anyhow!("haproxy exited with {status}"));
            }
            let Err(e) = ready(&admin, &master).await else {
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

    /// The temp dir's path.
    pub fn dir_path(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/<name>`: where to put map files, certificates and such.
    pub fn config_dir_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// HAProxy's output so far (lossy UTF-8; empty if unreadable).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// A runtime API client on the admin socket, with [`CLIENT_TIMEOUT`].
    pub fn runtime_client(&self) -> RuntimeClient {
        runtime_client_for(&self.admin_socket)
    }

    /// A master CLI client on the master socket, with [`CLIENT_TIMEOUT`].
    pub fn master_client(&self) -> MasterClient {
        master_client_for(&self.master_socket)
    }

    /// The master's `show proc`.
    pub async fn show_proc(&self) -> anyhow::Result<ProcList> {
        Ok(self.master_client().show_proc().await?)
    }

    /// Reloads so far, as the master counts them (`show proc`).
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

    /// Rewrites the config file the way it was first written (around a body for
    /// [`HaproxyProcess::start`], verbatim for [`HaproxyProcess::start_with_config`]), with
    /// `{dir}` substituted. Does not reload.
    pub fn write_config(&self, text: &str) -> anyhow::Result<()> {
        std::fs::write(&self.config_path, render(self.dir.path(), text, self.kind))
            .with_context(|| format!("write {}", self.config_path.display()))
    }

    /// Reloads through the master CLI and waits (up to 10 s) for the new worker.
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
                return Err(anyhow!(
                    "haproxy master {} still running after {deadline:?}",
                    self.pid()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the master by pid: SIGTERM, wait up to [`STOP_DEADLINE`], SIGKILL, reap.
    fn stop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// A runtime API client for tests on the admin socket at `path`, with [`CLIENT_TIMEOUT`];
/// each call gives a client with its own session.
pub fn runtime_client_for(path: &Path) -> RuntimeClient {
    RuntimeClient::new(
        Endpoint::Unix(path.to_path_buf()),
        RuntimeConfig {
            timeout: CLIENT_TIMEOUT,
            connect_timeout: CLIENT_TIMEOUT,
            ..RuntimeConfig::default()
        },
    )
}

/// A master CLI client for tests on the socket at `path`, with [`CLIENT_TIMEOUT`].
pub fn master_client_for(path: &Path) -> MasterClient {
    MasterClient::new(Endpoint::Unix(path.to_path_buf()), CLIENT_TIMEOUT)
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

impl Drop for HaproxyProcess {
    fn drop(&mut self) {
        self.stop();
    }
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

fn render(dir: &Path, text: &str, kind: ConfigKind) -> String {
    let dir = dir.display().to_string();
    let text = text.replace("{dir}", &dir);
    match kind {
        ConfigKind::Full => text,
        ConfigKind::Body => format!(
            "global\n\
             \x20   stats socket {dir}/admin.sock mode 600 level admin\n\
             \x20   stats timeout 10m\n\
             \x20   hard-stop-after 5s\n\
             \n\
             defaults\n\
             \x20   mode http\n\
             \x20   timeout connect 2s\n\
             \x20   timeout client 30s\n\
             \x20   timeout server 30s\n\
             \n\
             {text}\n"
        ),
    }
}

async fn ready(admin: &Endpoint, master: &Endpoint) -> anyhow::Result<()> {
    let version = admin
        .oneshot("show version", Duration::from_secs(1), 4096)
        .await
        .with_context(|| format!("admin socket {admin}"))?;
    if version.is_empty() {
        return Err(anyhow!(
            "admin socket {admin}: empty reply to `show version`"
        ));
    }
    let procs = master
        .oneshot("show proc", Duration::from_secs(1), 1 << 16)
        .await
        .with_context(|| format!("master socket {master}"))?;
    if !String::from_utf8_lossy(&procs).starts_with("#<PID>") {
        return Err(anyhow!(
            "master socket {master}: unexpected reply to `show proc`: {:?}",
            String::from_utf8_lossy(&procs)
        ));
    }
    Ok(())
}
