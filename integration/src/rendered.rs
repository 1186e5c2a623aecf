//! HAProxy started from a rendered [`haproxy::config::Config`]: the config's admin socket and
//! route maps live in a temp dir, a [`ConfigWriter`] installs the rendered files there
//! (`haproxy -c` first) and records them as last-good, and the master runs as
//! `haproxy -W -S <dir>/master.sock -f <dir>/haproxy.cfg`, so [`Reloader`] reloads re-read the
//! file the writer installs.
//!
//! Build the config around a [`ConfigDir`] (its paths are only known once the dir exists),
//! then hand both to [`RenderedHaproxy::start`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use haproxy::config::{Config, ConfigPath, ConfigWriter, Global, Rendered, RouteMaps, render};
use haproxy::{Reloader, RuntimeClient};
use tempfile::TempDir;

use crate::haproxy_proc::haproxy_binary;
use crate::master::Master;

/// Time a [`Reloader`] from [`RenderedHaproxy::reloader`] allows for a new worker to show up.
pub const RELOAD_DEADLINE: Duration = Duration::from_secs(15);

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
/// [`ConfigWriter`]. The process is a [`Master`] (which it dereferences to); dropping it
/// stops the master by its pid, then removes the temp dir.
#[derive(Debug)]
pub struct RenderedHaproxy {
    /// The process (first, so that it stops before the dir goes).
    master: Master,
    dir: ConfigDir,
    rendered: Rendered,
}

impl std::ops::Deref for RenderedHaproxy {
    type Target = Master;
    fn deref(&self) -> &Master {
        &self.master
    }
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
        let config_path = dir.writer.config_path().to_path_buf();
        let master =
            Master::launch(dir.path(), &config_path, admin_socket, dir.master_socket()).await?;
        if let Err(e) = dir.writer.mark_good().await {
            return Err(master.failed(e.into(), &config_path));
        }
        Ok(Self {
            master,
            dir,
            rendered,
        })
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
}
