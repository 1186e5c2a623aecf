//! One real `haproxy-agent run` process ([`AgentProcess`]) with the HAProxy it spawns or
//! attaches to, in its own temp dir on loopback ports, stopped by pid: shared by the
//! end-to-end tests, the benchmarks and the soak.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::{free_port, haproxy_binary};

mod procs;
mod query;

pub use procs::{
    HAPROXY_STOP_DEADLINE, STOP_DEADLINE, built_binary, haproxy_processes_with, is_live_haproxy,
    proc_status_kib, signal,
};
use procs::{duration_flag, show_proc_blocking, stop_haproxy, terminate};

/// Time allowed for the agent to answer 200 on `/healthz` after it starts.
pub const START_DEADLINE: Duration = Duration::from_secs(20);
/// Timeout of the socket clients handed out (and of `show proc`'s retries).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to run the agent.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// `--spawn-haproxy=<bin>` (else the agent attaches to a HAProxy already running on the
    /// sockets).
    pub spawn_haproxy: bool,
    /// `--drain-timeout`.
    pub drain_timeout: Duration,
    /// `--hard-stop-after`: keeps soft stops (and so [`AgentProcess::stop`]) short.
    pub hard_stop_after: Duration,
    /// More flags, after the others.
    pub extra: Vec<String>,
    /// Environment variables set (`HAPROXY_AGENT_*` ones are not inherited).
    pub env: Vec<(String, String)>,
    /// Watch a (test) Kubernetes API server through this kubeconfig instead of reading the
    /// manifests directory.
    pub kubeconfig: Option<PathBuf>,
}

impl Default for AgentOptions {
    /// The end-to-end tests': `--spawn-haproxy`, the manifests directory, a 5 s drain
    /// timeout, `--hard-stop-after 3s`.
    fn default() -> Self {
        Self {
            spawn_haproxy: true,
            drain_timeout: Duration::from_secs(5),
            hard_stop_after: Duration::from_secs(3),
            extra: Vec::new(),
            env: Vec::new(),
            kubeconfig: None,
        }
    }
}

impl AgentOptions {
    /// The benchmarks' and the soak's: `--hard-stop-after 5s` and `drain_timeout`.
    pub fn bench(drain_timeout: Duration) -> Self {
        Self {
            drain_timeout,
            hard_stop_after: Duration::from_secs(5),
            ..Self::default()
        }
    }
}

/// One `haproxy-agent run` process with `--manifests <tmp>/manifests --config-dir <tmp>/etc
/// --runtime-socket <tmp>/run/admin.sock --master-socket <tmp>/run/master.sock`, HAProxy's
/// frontends and the agent's HTTP on free loopback ports, and its output appended to
/// `<tmp>/agent.log` (a restarted agent's lines follow its predecessor's).
///
/// Dropping it (or [`AgentProcess::shut_down`]) stops the agent by pid (SIGTERM, SIGKILL
/// after [`STOP_DEADLINE`]), then every HAProxy process it was seen with, or started on its
/// master socket, that is still alive (the master an agent killed with SIGKILL leaves
/// orphaned, or the one an agent without `--spawn-haproxy` attached to): by pid, SIGTERM
/// then SIGKILL. Never by name.
#[derive(Debug)]
pub struct AgentProcess {
    dir: TempDir,
    /// The manifests directory.
    pub manifests: PathBuf,
    /// The config directory (haproxy.cfg, maps).
    pub config_dir: PathBuf,
    /// HAProxy's runtime API socket.
    pub runtime_socket: PathBuf,
    /// HAProxy's master CLI socket.
    pub master_socket: PathBuf,
    /// HAProxy's HTTP frontend.
    pub http: SocketAddr,
    /// HAProxy's HTTPS bind (`--https-bind`; bound only while some Ingress has TLS).
    pub https: SocketAddr,
    /// The agent's health, metrics and debug address.
    pub listen: SocketAddr,
    /// The agent's output.
    pub log_path: PathBuf,
    bin: PathBuf,
    options: AgentOptions,
    child: Option<Child>,
    launches: u32,
    /// HAProxy processes (masters and workers) seen while this agent ran.
    haproxy_pids: BTreeSet<u32>,
}

impl AgentProcess {
    /// A temp dir (named `prefix…`) with an empty manifests directory and free ports, for
    /// the caller to fill before [`AgentProcess::spawn`].
    pub fn prepare(prefix: &str) -> anyhow::Result<AgentProcess> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let manifests = dir.path().join("manifests");
        std::fs::create_dir_all(&manifests)?;
        Ok(AgentProcess {
            manifests,
            config_dir: dir.path().join("etc"),
            runtime_socket: dir.path().join("run/admin.sock"),
            master_socket: dir.path().join("run/master.sock"),
            http: SocketAddr::from(([127, 0, 0, 1], free_port())),
            https: SocketAddr::from(([127, 0, 0, 1], free_port())),
            listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
            log_path: dir.path().join("agent.log"),
            dir,
            bin: PathBuf::new(),
            options: AgentOptions::default(),
            child: None,
            launches: 0,
            haproxy_pids: BTreeSet::new(),
        })
    }

    /// Writes `files` (name, YAML) into the manifests directory, starts the `haproxy-agent`
    /// of this build ([`built_binary`]) and waits until `/healthz` answers 200. Retries on
    /// fresh ports when one was taken meanwhile.
    pub async fn start(
        files: &[(&str, &str)],
        options: AgentOptions,
    ) -> anyhow::Result<AgentProcess> {
        let bin = &built_binary("haproxy-agent")?;
        let mut last = None;
        for _ in 0..3 {
            let mut agent = AgentProcess::prepare("e2e-agent")?;
            for (name, text) in files {
                std::fs::write(agent.manifests.join(name), text)?;
            }
            agent.spawn(bin, &options)?;
            match agent.wait_healthy(START_DEADLINE).await {
                Ok(()) => return Ok(agent),
                Err(e) if agent.log().contains("in use") => last = Some(e),
                Err(e) => return Err(e.context("the agent did not start")),
            }
        }
        Err(last
            .expect("three attempts")
            .context("ports kept being taken"))
    }

    /// Starts `bin run` as `options` say, without waiting for it.
    pub fn spawn(&mut self, bin: &Path, options: &AgentOptions) -> anyhow::Result<()> {
        self.bin = bin.to_path_buf();
        self.options = options.clone();
        self.launches += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("open {}", self.log_path.display()))?;
        writeln!(
            log,
            "==== haproxy-agent run, launch {} (spawn-haproxy: {}) ====",
            self.launches, options.spawn_haproxy
        )?;
        let mut cmd = self.command();
        cmd.env_remove("RUST_LOG")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.child = Some(cmd.spawn().context("spawn haproxy-agent")?);
        Ok(())
    }

    /// `bin run` with its flags and environment, as the options say.
    fn command(&self) -> Command {
        let options = &self.options;
        let haproxy = haproxy_binary();
        let mut cmd = Command::new(&self.bin);
        cmd.arg("run");
        match &options.kubeconfig {
            Some(k) => cmd.arg("--kubeconfig").arg(k),
            None => cmd.arg("--manifests").arg(&self.manifests),
        };
        cmd.arg("--config-dir")
            .arg(&self.config_dir)
            .arg("--runtime-socket")
            .arg(&self.runtime_socket)
            .arg("--master-socket")
            .arg(&self.master_socket)
            .arg("--http-bind")
            .arg(self.http.to_string())
            .arg("--https-bind")
            .arg(self.https.to_string())
            .arg("--listen")
            .arg(self.listen.to_string())
            .arg("--drain-timeout")
            .arg(format!("{}ms", options.drain_timeout.as_millis()))
            .arg("--hard-stop-after")
            .arg(duration_flag(options.hard_stop_after))
            .arg("--haproxy-bin")
            .arg(&haproxy);
        if options.spawn_haproxy {
            cmd.arg(format!("--spawn-haproxy={}", haproxy.display()));
        }
        cmd.args(&options.extra);
        // The environment must not add flags behind the caller's back.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HAPROXY_AGENT_") {
                cmd.env_remove(key);
            }
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the agent again after [`AgentProcess::kill`] or [`AgentProcess::stop`], with
    /// the same binary, directories, ports and options, spawning HAProxy or attaching to
    /// the running one; waits until it is healthy.
    pub async fn restart(&mut self, spawn_haproxy: bool) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("the agent is still running");
        }
        let options = AgentOptions {
            spawn_haproxy,
            ..self.options.clone()
        };
        let bin = self.bin.clone();
        self.spawn(&bin, &options)?;
        self.wait_healthy(START_DEADLINE)
            .await
            .context("the agent did not start")
    }

    /// Waits until `/healthz` answers 200 (and remembers the HAProxy processes); fails
    /// early, with the log's last lines, if the agent exits.
    pub async fn wait_healthy(&mut self, within: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + within;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                bail!("haproxy-agent exited with {status}; {}", self.log_tail());
            }
            let last = match self.healthz().await {
                Ok(200) => {
                    self.remember_haproxy().await;
                    return Ok(());
                }
                Ok(code) => format!("status {code}"),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= until {
                bail!(
                    "/healthz not 200 within {within:?} (last: {last}); {}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILLs the agent (by pid) and reaps it. The HAProxy it runs stays up.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.remember_haproxy().await;
        let mut child = self.child.take().context("the agent is not running")?;
        if let Some(status) = child.try_wait()? {
            bail!(
                "haproxy-agent had already exited with {status}; {}",
                self.log_tail()
            );
        }
        signal(child.id(), Signal::SIGKILL)?;
        child.wait().context("reap the agent")?;
        Ok(())
    }

    /// SIGTERMs the agent (by pid) and waits for it to exit (SIGKILL after
    /// [`STOP_DEADLINE`], which is an error).
    pub async fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        self.remember_haproxy().await;
        let mut child = self.child.take().context("the agent is not running")?;
        signal(child.id(), Signal::SIGTERM)?;
        let until = Instant::now() + STOP_DEADLINE;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= until {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the agent did not exit within {STOP_DEADLINE:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What drop does, now: stops the agent and every HAProxy process of its still alive.
    pub fn shut_down(&mut self) {
        // While the master re-executes itself for a reload its socket refuses connections:
        // try for a moment, as long as a HAProxy of ours may still be there to answer.
        let until = Instant::now() + Duration::from_secs(2);
        let ours_alive = |pids: &BTreeSet<u32>| pids.iter().any(|p| is_live_haproxy(*p));
        while self.master_socket.exists()
            && (self.child.is_some() || ours_alive(&self.haproxy_pids))
        {
            if let Some(procs) = show_proc_blocking(&self.master_socket) {
                self.note_procs(&procs);
                break;
            }
            if Instant::now() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut stuck = false;
        if let Some(mut child) = self.child.take() {
            stuck = !terminate(&mut child);
        }
        // Also those found by their command line: a HAProxy left by an agent killed
        // earlier was perhaps never seen through the master socket.
        self.haproxy_pids
            .extend(haproxy_processes_with(&self.master_socket));
        stop_haproxy(&self.haproxy_pids);
        if stuck || std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }

    /// How a run with this agent ends: `result`, an error with the agent's last log lines
    /// added, once the agent and its HAProxy are stopped (drop).
    pub fn finish<T>(self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        result.map_err(|e| e.context(self.log_tail()))
    }

    /// The agent's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The temp dir everything lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The agent's output so far (lossy UTF-8).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last lines of the agent's output, for error messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!(
            "agent log ({}), last lines:\n{}",
            self.log_path.display(),
            lines[from..].join("\n")
        )
    }

    /// Live (not zombie) HAProxy processes started on this agent's master socket, whoever
    /// started them and whether or not a master still answers for them.
    pub fn haproxy_processes(&self) -> Vec<u32> {
        haproxy_processes_with(&self.master_socket)
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.shut_down();
    }
}
