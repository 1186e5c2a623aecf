//! Support for the end-to-end tests: [`Agent`], one `haproxy-agent run` process (with the
//! HAProxy it spawns or attaches to) in its own temp dir, on loopback ports, stopped by pid;
//! echo backends sharing a port on several loopback addresses; and manifest builders.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use haproxy::proto::ProcList;
use haproxy::proto::parse::ServerState;
use haproxy::{BackendName, FilePath, MasterClient, RuntimeClient};
use integration::{EchoServer, HttpReply, free_port, haproxy_binary};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

/// Time allowed for the agent to answer 200 on `/healthz` after it starts.
pub const START_DEADLINE: Duration = Duration::from_secs(20);
/// Time allowed for the agent to exit after SIGTERM (it soft-stops the HAProxy it spawned,
/// bounded by `--hard-stop-after` + 5 s) before it gets SIGKILL.
pub const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// Time allowed for a HAProxy left behind to exit after SIGTERM before it gets SIGKILL.
pub const HAPROXY_STOP_DEADLINE: Duration = Duration::from_secs(5);
/// Time allowed for a change (a manifest edit, a restart) to show in HAProxy.
pub const CONVERGE: Duration = Duration::from_secs(10);
/// Timeout of the socket clients handed out.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// `--hard-stop-after`: keeps soft stops (and so [`Agent::stop`]) short.
const HARD_STOP_AFTER: &str = "3s";
/// The namespace every test object lives in.
pub const NS: &str = "default";

/// How to run the agent.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--spawn-haproxy=<bin>` (else the agent attaches to a HAProxy already running on the
    /// sockets).
    pub spawn_haproxy: bool,
    /// `--drain-timeout`.
    pub drain_timeout: Duration,
    /// More flags.
    pub extra: Vec<String>,
    /// Watch a (test) Kubernetes API server through this kubeconfig instead of reading the
    /// manifests directory.
    pub kubeconfig: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            spawn_haproxy: true,
            drain_timeout: Duration::from_secs(5),
            extra: Vec::new(),
            kubeconfig: None,
        }
    }
}

/// One `haproxy-agent run` process with `--manifests <tmp>/manifests --config-dir <tmp>/etc
/// --runtime-socket <tmp>/run/admin.sock --master-socket <tmp>/run/master.sock`, HAProxy's
/// frontend and the agent's HTTP on free loopback ports, and its output in `<tmp>/agent.log`.
///
/// Dropping it stops the agent by pid (SIGTERM, SIGKILL after [`STOP_DEADLINE`]), then every
/// HAProxy process it was seen with that is still alive (the master an agent killed with
/// SIGKILL leaves orphaned, or the one an agent without `--spawn-haproxy` attached to): by pid,
/// SIGTERM then SIGKILL. Never by name.
#[derive(Debug)]
pub struct Agent {
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
    log_path: PathBuf,
    options: Options,
    child: Option<Child>,
    launches: u32,
    /// HAProxy processes (masters and workers) seen while this agent ran.
    haproxy_pids: BTreeSet<u32>,
}

impl Agent {
    /// Writes `files` (name, YAML) into the manifests directory, starts the agent and waits
    /// until `/healthz` answers 200. Retries on fresh ports when one was taken meanwhile.
    pub async fn start(files: &[(&str, &str)], options: Options) -> anyhow::Result<Agent> {
        let mut last = None;
        for _ in 0..3 {
            let dir = tempfile::Builder::new().prefix("e2e-agent").tempdir()?;
            let manifests = dir.path().join("manifests");
            std::fs::create_dir_all(&manifests)?;
            for (name, text) in files {
                std::fs::write(manifests.join(name), text)?;
            }
            let mut agent = Agent {
                manifests,
                config_dir: dir.path().join("etc"),
                runtime_socket: dir.path().join("run/admin.sock"),
                master_socket: dir.path().join("run/master.sock"),
                http: SocketAddr::from(([127, 0, 0, 1], free_port())),
                https: SocketAddr::from(([127, 0, 0, 1], free_port())),
                listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
                log_path: dir.path().join("agent.log"),
                dir,
                options: options.clone(),
                child: None,
                launches: 0,
                haproxy_pids: BTreeSet::new(),
            };
            match agent.launch().await {
                Ok(()) => return Ok(agent),
                Err(e) if agent.log().contains("in use") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last
            .expect("three attempts")
            .context("ports kept being taken"))
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        self.launches += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("open {}", self.log_path.display()))?;
        writeln!(
            log,
            "==== e2e: haproxy-agent run, launch {} (spawn-haproxy: {}) ====",
            self.launches, self.options.spawn_haproxy
        )?;
        let haproxy = haproxy_binary();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_haproxy-agent"));
        cmd.arg("run");
        match &self.options.kubeconfig {
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
            .arg(format!("{}ms", self.options.drain_timeout.as_millis()))
            .arg("--hard-stop-after")
            .arg(HARD_STOP_AFTER)
            .arg("--haproxy-bin")
            .arg(&haproxy);
        if self.options.spawn_haproxy {
            cmd.arg(format!("--spawn-haproxy={}", haproxy.display()));
        }
        cmd.args(&self.options.extra);
        // The environment must not add flags behind the test's back.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HAPROXY_AGENT_") {
                cmd.env_remove(key);
            }
        }
        cmd.env_remove("RUST_LOG")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().context("spawn haproxy-agent")?;
        self.child = Some(child);
        if let Err(e) = self.wait_healthy(START_DEADLINE).await {
            return Err(e.context(format!("the agent did not start; {}", self.log_tail())));
        }
        self.remember_haproxy().await;
        Ok(())
    }

    /// Waits until `/healthz` answers 200; fails early if the agent exits.
    pub async fn wait_healthy(&mut self, within: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + within;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                bail!("haproxy-agent exited with {status}");
            }
            let last = match self.healthz().await {
                Ok(200) => return Ok(()),
                Ok(code) => format!("status {code}"),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= until {
                bail!("/healthz not 200 within {within:?} (last: {last})");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILLs the agent (by pid) and reaps it. The HAProxy it runs stays up.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.remember_haproxy().await;
        let mut child = self.child.take().context("the agent is not running")?;
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

    /// Starts the agent again after [`Agent::kill`] or [`Agent::stop`], with the same
    /// directories and ports, spawning HAProxy or attaching to the running one.
    pub async fn restart(&mut self, spawn_haproxy: bool) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("the agent is still running");
        }
        self.options.spawn_haproxy = spawn_haproxy;
        self.launch().await
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

    // ---- manifests ----

    /// Writes (or replaces) a manifest file atomically: a temp file the agent ignores (not
    /// `.yaml`), renamed over the target.
    pub fn write_manifest(&self, name: &str, text: &str) -> anyhow::Result<()> {
        let tmp = self.dir.path().join(format!("{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.manifests.join(name))?;
        Ok(())
    }

    /// Appends to a manifest file, the way `cat >>` does.
    pub fn append_manifest(&self, name: &str, text: &str) -> anyhow::Result<()> {
        let mut f = OpenOptions::new()
            .append(true)
            .open(self.manifests.join(name))?;
        f.write_all(text.as_bytes())?;
        Ok(())
    }

    /// Deletes a manifest file.
    pub fn remove_manifest(&self, name: &str) -> anyhow::Result<()> {
        std::fs::remove_file(self.manifests.join(name))?;
        Ok(())
    }

    /// The path of a manifest file.
    pub fn manifest_path(&self, name: &str) -> PathBuf {
        self.manifests.join(name)
    }

    // ---- HAProxy ----

    /// `GET path` with `Host: host` through HAProxy's frontend.
    pub async fn get(&self, host: &str, path: &str) -> anyhow::Result<HttpReply> {
        integration::get(self.http, host, path).await
    }

    /// A runtime API client on HAProxy's admin socket.
    pub fn runtime_client(&self) -> RuntimeClient {
        integration::haproxy_proc::runtime_client_for(&self.runtime_socket)
    }

    /// A master CLI client on HAProxy's master socket.
    pub fn master_client(&self) -> MasterClient {
        integration::haproxy_proc::master_client_for(&self.master_socket)
    }

    /// The master's `show proc`. Retried for up to [`CLIENT_TIMEOUT`]: while the master
    /// re-executes itself for a reload, its socket refuses connections.
    pub async fn show_proc(&self) -> anyhow::Result<ProcList> {
        let master = self.master_client();
        integration::wait_for(
            "show proc on the master socket",
            CLIENT_TIMEOUT,
            async || Ok(master.show_proc().await?),
        )
        .await
    }

    /// Reloads so far, as the HAProxy master counts them (its `show proc` line).
    pub async fn reloads(&self) -> anyhow::Result<u32> {
        Ok(self.show_proc().await?.master.reloads)
    }

    /// The HAProxy master's pid (and remembers it, so drop stops it).
    pub async fn haproxy_master_pid(&mut self) -> anyhow::Result<u32> {
        let procs = self.show_proc().await?;
        self.note_procs(&procs);
        Ok(procs.master.pid)
    }

    /// Records the HAProxy processes on the master socket, for drop.
    async fn remember_haproxy(&mut self) {
        if let Ok(procs) = self.show_proc().await {
            self.note_procs(&procs);
        }
    }

    fn note_procs(&mut self, procs: &ProcList) {
        self.haproxy_pids.insert(procs.master.pid);
        for w in procs.workers.iter().chain(&procs.old_workers) {
            self.haproxy_pids.insert(w.pid);
        }
    }

    /// `show servers state` of one backend, by server name.
    pub async fn servers(&self, backend: &str) -> anyhow::Result<BTreeMap<String, ServerState>> {
        let be = BackendName::new(backend)?;
        let rows = self.runtime_client().servers_state(Some(be)).await?;
        Ok(rows.into_iter().map(|r| (r.server.clone(), r)).collect())
    }

    /// `show servers state` of every backend: backend -> server names.
    pub async fn all_servers(&self) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
        let rows = self.runtime_client().servers_state(None).await?;
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in rows {
            out.entry(r.backend).or_default().insert(r.server);
        }
        Ok(out)
    }

    /// The live entries of a map file of the config dir (`maps/exact.map`,
    /// `maps/prefix.map`): key -> value.
    pub async fn map(&self, name: &str) -> anyhow::Result<BTreeMap<String, String>> {
        let path = self.config_dir.join("maps").join(name);
        let file = FilePath::new(path.to_string_lossy().into_owned())?;
        let entries = self.runtime_client().map_entries(file).await?;
        Ok(entries.into_iter().map(|e| (e.key, e.value)).collect())
    }

    /// Every regular file under the config dir (not the error pages' socket), with its
    /// content (lossy UTF-8). A file renamed away while listing (an atomic write's temp
    /// file) is left out.
    pub fn config_files(&self) -> anyhow::Result<Vec<(PathBuf, String)>> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) -> anyhow::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    walk(&path, out)?;
                } else if path.is_file() {
                    match std::fs::read(&path) {
                        Ok(bytes) => out.push((path, String::from_utf8_lossy(&bytes).into_owned())),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk(&self.config_dir, &mut out)?;
        Ok(out)
    }

    // ---- the agent's HTTP ----

    async fn agent_get(&self, path: &str) -> anyhow::Result<HttpReply> {
        integration::get(self.listen, "localhost", path).await
    }

    /// `/healthz`'s status code.
    pub async fn healthz(&self) -> anyhow::Result<u16> {
        Ok(self.agent_get("/healthz").await?.status)
    }

    /// `/healthz`'s status code and body.
    pub async fn healthz_reply(&self) -> anyhow::Result<HttpReply> {
        self.agent_get("/healthz").await
    }

    /// `/debug/state`, parsed.
    pub async fn debug_state(&self) -> anyhow::Result<serde_json::Value> {
        let reply = self.agent_get("/debug/state").await?;
        if reply.status != 200 {
            bail!("/debug/state: status {}", reply.status);
        }
        serde_json::from_str(&reply.body).context("/debug/state is not JSON")
    }

    /// The value of one sample of `/metrics` (`name` with its labels, as exposed, e.g.
    /// `haproxy_agent_observations_total{scope="full"}`); 0 when absent.
    pub async fn metric(&self, sample: &str) -> anyhow::Result<f64> {
        let text = self.metrics().await?;
        Ok(text
            .lines()
            .filter_map(|l| {
                l.strip_prefix(sample)?
                    .strip_prefix(' ')?
                    .parse::<f64>()
                    .ok()
            })
            .sum())
    }

    /// `/metrics`, as text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let reply = self.agent_get("/metrics").await?;
        if reply.status != 200 {
            bail!("/metrics: status {}", reply.status);
        }
        Ok(reply.body)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
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
        stop_haproxy(&self.haproxy_pids);
        if stuck || std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// SIGTERM, wait up to [`STOP_DEADLINE`], SIGKILL; reaps in every case. False when it
/// took SIGKILL.
fn terminate(child: &mut Child) -> bool {
    if !matches!(child.try_wait(), Ok(None)) {
        return true;
    }
    if signal(child.id(), Signal::SIGTERM).is_ok() {
        let until = Instant::now() + STOP_DEADLINE;
        while Instant::now() < until {
            match child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                _ => return true,
            }
        }
        eprintln!(
            "haproxy-agent {} did not exit within {STOP_DEADLINE:?} of SIGTERM; sending SIGKILL",
            child.id()
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// Stops the HAProxy processes among `pids` that still run: SIGTERM (masters stop their
/// workers), then SIGKILL after [`HAPROXY_STOP_DEADLINE`]. A pid is signalled only while it
/// names a live `haproxy` process, so a pid reused by something else is left alone.
fn stop_haproxy(pids: &BTreeSet<u32>) {
    let alive = || -> Vec<u32> {
        pids.iter()
            .copied()
            .filter(|p| is_live_haproxy(*p))
            .collect()
    };
    let running = alive();
    if running.is_empty() {
        return;
    }
    for pid in &running {
        let _ = signal(*pid, Signal::SIGTERM);
    }
    let until = Instant::now() + HAPROXY_STOP_DEADLINE;
    while Instant::now() < until {
        if alive().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for pid in alive() {
        eprintln!("haproxy {pid} did not exit within {HAPROXY_STOP_DEADLINE:?}; sending SIGKILL");
        let _ = signal(pid, Signal::SIGKILL);
    }
}

/// True while `pid` is a running (not zombie) process named `haproxy`.
pub fn is_live_haproxy(pid: u32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    comm.trim_end() == "haproxy" && process_state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, …), if the process exists.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: Signal) -> anyhow::Result<()> {
    let raw = i32::try_from(pid).map_err(|_| anyhow!("pid {pid} out of range"))?;
    kill(Pid::from_raw(raw), sig).with_context(|| format!("{sig} to pid {pid}"))
}

/// `show proc` over a blocking connection (for drop, outside async code).
fn show_proc_blocking(socket: &Path) -> Option<ProcList> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .ok()?;
    stream.write_all(b"show proc\n").ok()?;
    // The master CLI answers once the request side is closed.
    stream.shutdown(std::net::Shutdown::Write).ok()?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).ok()?;
    let text = String::from_utf8(haproxy::proto::normalize(&out).to_vec()).ok()?;
    haproxy::proto::proc::show_proc(&text)
}

/// Polls `f` until it returns true, failing with `what` after `within` (a condition with a
/// deadline, no sleeping and hoping).
pub async fn eventually<F>(what: &str, within: Duration, f: F) -> anyhow::Result<()>
where
    F: AsyncFnMut() -> bool,
{
    integration::wait_until(what, within, f).await
}

// ---- echo backends ----

/// Echo servers named `names[i]` on `127.0.0.<i+1>`, all on one port (an EndpointSlice port
/// applies to all its endpoints), each with its response delay. The port is found free on
/// 127.0.0.1 and reused on the other addresses; another is tried if one is taken.
pub fn echo_group(servers: &[(&str, Duration)]) -> anyhow::Result<(u16, Vec<EchoServer>)> {
    let mut last = None;
    for _ in 0..20 {
        let port = free_port();
        let started: anyhow::Result<Vec<EchoServer>> = servers
            .iter()
            .enumerate()
            .map(|(i, (name, delay))| EchoServer::start_on(name, loopback(i, port), *delay))
            .collect();
        match started {
            Ok(group) => return Ok((port, group)),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .expect("twenty attempts")
        .context("no port free on every address"))
}

/// `127.0.0.<i+1>:port`.
pub fn loopback(i: usize, port: u16) -> SocketAddr {
    let last = u8::try_from(i + 1).expect("fewer than 255 servers");
    SocketAddr::new(IpAddr::from([127, 0, 0, last]), port)
}

// ---- manifests ----

/// A YAML scalar: JSON string syntax, which YAML reads the same (escapes included).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// A Service `name` in [`NS`] with one unnamed port `port` -> `target`.
pub fn service(name: &str, port: u16, target: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {NS}\n\
         spec:\n  ports:\n    - port: {port}\n      targetPort: {target}\n"
    )
}

/// One endpoint of an EndpointSlice and its conditions.
#[derive(Debug, Clone, Copy)]
pub struct Ep<'a> {
    /// Its IP address.
    pub ip: &'a str,
    /// `conditions.ready`.
    pub ready: bool,
    /// `conditions.serving`.
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
}

impl<'a> Ep<'a> {
    /// A ready endpoint.
    pub fn ready(ip: &'a str) -> Self {
        Self {
            ip,
            ready: true,
            serving: true,
            terminating: false,
        }
    }

    /// A terminating endpoint that still serves.
    pub fn terminating(ip: &'a str) -> Self {
        Self {
            ip,
            ready: false,
            serving: true,
            terminating: true,
        }
    }

    /// The endpoint as an item of `endpoints:` (also what gets appended to a slice file).
    pub fn yaml(&self) -> String {
        format!(
            "  - addresses: [{}]\n    conditions:\n      ready: {}\n      serving: {}\n      terminating: {}\n",
            quote(self.ip),
            self.ready,
            self.serving,
            self.terminating
        )
    }
}

/// An EndpointSlice `name` of Service `service` with one unnamed port; its `endpoints:`
/// list comes last, so endpoints can be appended to the file.
pub fn slice(name: &str, service: &str, port: u16, endpoints: &[Ep<'_>]) -> String {
    let mut out = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}\n  \
         namespace: {NS}\n  labels:\n    kubernetes.io/service-name: {service}\n\
         addressType: IPv4\nports:\n  - port: {port}\n    protocol: TCP\nendpoints:\n"
    );
    if endpoints.is_empty() {
        out.push_str("  []\n");
    }
    for ep in endpoints {
        out.push_str(&ep.yaml());
    }
    out
}

/// One path of an Ingress rule: `path` (`Prefix`) to `service`:`port`.
#[derive(Debug, Clone, Copy)]
pub struct IngressPath<'a> {
    /// The rule's host (`None`: any host).
    pub host: Option<&'a str>,
    /// The path, any bytes (quoted into the YAML).
    pub path: &'a str,
    /// The Service.
    pub service: &'a str,
    /// The Service port number, any integer.
    pub port: i64,
}

/// `path` to `service`:`port`, on any host.
pub fn route<'a>(path: &'a str, service: &'a str, port: i64) -> IngressPath<'a> {
    IngressPath {
        host: None,
        path,
        service,
        port,
    }
}

/// An Ingress `name` of class `haproxy`, one rule per path (in order), each path `Prefix`.
pub fn ingress(name: &str, annotations: &[(&str, &str)], paths: &[IngressPath<'_>]) -> String {
    let mut out = format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  \
         namespace: {NS}\n"
    );
    if !annotations.is_empty() {
        out.push_str("  annotations:\n");
        for (k, v) in annotations {
            out.push_str(&format!("    {}: {}\n", quote(k), quote(v)));
        }
    }
    out.push_str("spec:\n  ingressClassName: haproxy\n  rules:\n");
    for p in paths {
        match p.host {
            Some(h) => out.push_str(&format!("    - host: {}\n      http:\n", quote(h))),
            None => out.push_str("    - http:\n"),
        }
        out.push_str(&format!(
            "        paths:\n          - path: {}\n            pathType: Prefix\n            \
             backend:\n              service:\n                name: {}\n                \
             port:\n                  number: {}\n",
            quote(p.path),
            quote(p.service),
            p.port
        ));
    }
    out
}

/// The backend name the agent gives `service` port `port` in [`NS`].
pub fn backend(service: &str, port: u16) -> String {
    format!("{NS}_{service}_{port}")
}

/// The server name the agent gives an endpoint: `ip:port`.
pub fn server(addr: SocketAddr) -> String {
    addr.to_string()
}
