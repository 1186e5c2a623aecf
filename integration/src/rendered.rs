//! HAProxy started from a rendered [`haproxy::config::Config`]: the config's admin socket and
//! route maps live in a temp dir, a [`ConfigWriter`] installs the rendered files there
//! (`haproxy -c` first) and records them as last-good, and the master runs as
//! `haproxy -W -S <dir>/master.sock -f <dir>/haproxy.cfg`, so [`Reloader`] reloads re-read the
//! file the writer installs.
//!
//! Build the config around a [`ConfigDir`] (its paths are only known once the dir exists),
//! then hand both to [`RenderedHaproxy::start`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use haproxy::config::{Config, ConfigPath, ConfigWriter, Global, Rendered, RouteMaps, render};
use haproxy::proto::ProcList;
use haproxy::{Endpoint, MasterClient, Reloader, RuntimeClient};
use tempfile::TempDir;

use crate::haproxy_proc::{START_DEADLINE, haproxy_binary};

/// Time a [`Reloader`] from [`RenderedHaproxy::reloader`] allows for a new worker to show up.
pub const RELOAD_DEADLINE: Duration = Duration::from_secs(15);

const POLL: Duration = Duration::from_millis(20);

/// A temp config dir and the writer that owns it, before HAProxy runs.
#[derive(Debug)]
pub struct ConfigDir {
    dir: TempDir,
    writer: ConfigWriter,
}

impl ConfigDir {
    /// Creates an empty temp dir (named so that its path is a valid [`ConfigPath`]) with a
    /// writer that validates with [`haproxy_binary`].
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("hapcfg")
            .tempdir()
            .context("create temp dir")?;
        ConfigPath::from_path(dir.path())
            .with_context(|| format!("temp dir {} as a config path", dir.path().display()))?;
        let writer = ConfigWriter::new(dir.path(), haproxy_binary());
        Ok(Self { dir, writer })
    }

    /// The dir's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The writer for this dir.
    pub fn writer(&self) -> &ConfigWriter {
        &self.writer
    }

    /// `<dir>/admin.sock`, the runtime API socket the config must declare.
    pub fn admin_socket(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }

    /// `<dir>/master.sock`, the master CLI socket.
    pub fn master_socket(&self) -> PathBuf {
        self.dir.path().join("master.sock")
    }

    /// A `global` section with the admin socket in this dir, HAProxy's defaults otherwise
    /// (as [`Global::new`] sets them).
    pub fn global(&self) -> Global {
        Global::new(
            ConfigPath::from_path(&self.admin_socket()).expect("the temp dir is a config path"),
        )
    }

    /// The route maps in this dir (`<dir>/maps/exact.map`, `<dir>/maps/prefix.map`).
    pub fn route_maps(&self) -> RouteMaps {
        self.writer
            .route_maps()
            .expect("the temp dir is a config path")
    }
}

/// A running HAProxy master whose config was rendered from a [`Config`] and installed by a
/// [`ConfigWriter`]. Dropping it sends SIGTERM to the master's pid, waits up to
/// [`STOP_DEADLINE`], then SIGKILLs it, and reaps it in every case; the temp dir goes after.
#[derive(Debug)]
pub struct RenderedHaproxy {
    dir: ConfigDir,
    admin_socket: PathBuf,
    log_path: PathBuf,
    rendered: Rendered,
    child: Child,
}

impl RenderedHaproxy {
    /// Checks `config` ([`Config::problems`] must be empty; its admin socket must be
    /// [`ConfigDir::admin_socket`]), renders it, installs it with the dir's writer
    /// (`haproxy -c`), starts the master and waits until both sockets answer, then marks the
    /// config last-good. On failure the process is stopped and the error holds its log.
    pub async fn start(dir: ConfigDir, config: &Config) -> anyhow::Result<Self> {
        let problems = config.problems();
        if !problems.is_empty() {
            bail!("the config has problems: {problems:?}");
        }
        let admin_socket = PathBuf::from(config.global.admin_socket.as_str());
        if admin_socket != dir.admin_socket() {
            bail!(
                "the config's admin socket {} is not {}",
                admin_socket.display(),
                dir.admin_socket().display()
            );
        }
        let rendered = render(config);
        dir.writer
            .install(&rendered)
            .await
            .context("install the rendered config")?;
        let log_path = dir.path().join("haproxy.log");
        let log =
            File::create(&log_path).with_context(|| format!("create {}", log_path.display()))?;
        let bin = haproxy_binary();
        let child = Command::new(&bin)
            .arg("-W")
            .arg("-S")
            .arg(dir.master_socket())
            .arg("-f")
            .arg(dir.writer.config_path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("clone log file")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let mut process = Self {
            dir,
            admin_socket,
            log_path,
            rendered,
            child,
        };
        let started = match process.wait_ready().await {
            Ok(()) => process
                .dir
                .writer
                .mark_good()
                .await
                .context("mark the config last-good"),
            Err(e) => Err(e),
        };
        match started {
            Ok(()) => Ok(process),
            Err(e) => {
                process.stop();
                Err(anyhow!(
                    "haproxy (pid {}) did not start: {e:#}; its log:\n{}",
                    process.pid(),
                    process.log()
                ))
            }
        }
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
                self.master_client().show_proc().await?;
                Ok(())
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

    /// The config dir's path.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The writer of the config dir.
    pub fn writer(&self) -> &ConfigWriter {
        &self.dir.writer
    }

    /// The files the master was started with.
    pub fn started_with(&self) -> &Rendered {
        &self.rendered
    }

    /// HAProxy's output so far (lossy UTF-8; empty if unreadable).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// A new runtime API client on the admin socket, with [`crate::haproxy_proc::CLIENT_TIMEOUT`]. Each call
    /// gives a client with its own session.
    pub fn runtime_client(&self) -> RuntimeClient {
        crate::haproxy_proc::runtime_client_for(&self.admin_socket)
    }

    /// A master CLI client, with [`crate::haproxy_proc::CLIENT_TIMEOUT`].
    pub fn master_client(&self) -> MasterClient {
        crate::haproxy_proc::master_client_for(&self.dir.master_socket())
    }

    /// A [`Reloader`] for this HAProxy that disconnects `runtime` after each reload, with
    /// [`RELOAD_DEADLINE`].
    pub fn reloader(&self, runtime: &RuntimeClient) -> Reloader {
        Reloader::new(
            self.dir.writer.clone(),
            self.master_client(),
            runtime.clone(),
            RELOAD_DEADLINE,
        )
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

    /// Stops the master by pid: SIGTERM, wait up to the stop deadline, SIGKILL, reap.
    fn stop(&mut self) {
        crate::haproxy_proc::stop_child(&mut self.child);
    }
}

impl Drop for RenderedHaproxy {
    fn drop(&mut self) {
        self.stop();
    }
}
