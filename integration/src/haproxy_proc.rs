//! Real HAProxy processes in master-worker mode, each in its own temp dir, stopped by pid.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use haproxy::{Endpoint, MasterClient, RuntimeClient, RuntimeConfig};
use tempfile::TempDir;

pub use crate::master::{Master, pid_exists, stop_child};

/// Time allowed for HAProxy to start answering on both sockets.
pub const START_DEADLINE: Duration = Duration::from_secs(10);
/// Time allowed for HAProxy to exit after SIGTERM before it gets SIGKILL.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);
/// Timeout of the clients returned by [`HaproxyProcess::runtime_client`] and
/// [`HaproxyProcess::master_client`].
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

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

/// Whether the config file is generated around a body or written verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigKind {
    Body,
    Full,
}

/// A running HAProxy master (`haproxy -W -S <dir>/master.sock -f <dir>/haproxy.cfg`) with
/// its worker, in a temp dir that also holds its sockets and its log. The process itself is
/// a [`Master`] (which it dereferences to: pid, log, clients, reload, kills).
///
/// Dropping it stops the master by its pid (see [`Master`]), then removes the temp dir.
#[derive(Debug)]
pub struct HaproxyProcess {
    /// The process (first, so that it stops before the dir goes).
    master: Master,
    /// The temp dir; removed on drop, after the process has stopped.
    pub dir: TempDir,
    /// The admin stats socket (`<dir>/admin.sock`).
    pub admin_socket: PathBuf,
    /// The master CLI socket (`<dir>/master.sock`).
    pub master_socket: PathBuf,
    /// The config file (`<dir>/haproxy.cfg`).
    pub config_path: PathBuf,
    kind: ConfigKind,
}

impl std::ops::Deref for HaproxyProcess {
    type Target = Master;
    fn deref(&self) -> &Master {
        &self.master
    }
}

impl std::ops::DerefMut for HaproxyProcess {
    fn deref_mut(&mut self) -> &mut Master {
        &mut self.master
    }
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
        let dir = tempfile::Builder::new()
            .prefix("hap")
            .tempdir()
            .context("create temp dir")?;
        let admin_socket = dir.path().join("admin.sock");
        let master_socket = dir.path().join("master.sock");
        let config_path = dir.path().join("haproxy.cfg");
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, content).with_context(|| format!("write {}", path.display()))?;
        }
        std::fs::write(&config_path, render(dir.path(), text, kind))
            .with_context(|| format!("write {}", config_path.display()))?;
        let master = Master::launch(
            dir.path(),
            &config_path,
            admin_socket.clone(),
            master_socket.clone(),
        )
        .await?;
        Ok(HaproxyProcess {
            master,
            dir,
            admin_socket,
            master_socket,
            config_path,
            kind,
        })
    }

    /// The temp dir's path.
    pub fn dir_path(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/<name>`: where to put map files, certificates and such.
    pub fn config_dir_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Rewrites the config file the way it was first written (around a body for
    /// [`HaproxyProcess::start`], verbatim for [`HaproxyProcess::start_with_config`]), with
    /// `{dir}` substituted. Does not reload.
    pub fn write_config(&self, text: &str) -> anyhow::Result<()> {
        std::fs::write(&self.config_path, render(self.dir.path(), text, self.kind))
            .with_context(|| format!("write {}", self.config_path.display()))
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
