//! The HAProxy `run` drives: its clients and applier, and with `--spawn-haproxy` the
//! supervised process started with the first config.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use haproxy::config::{ConfigWriter, render};
use haproxy::{Endpoint, MasterClient, Reloader, RuntimeClient, RuntimeConfig};
use tokio::sync::watch;

use super::flags::absolute;
use crate::apply::{Applier, ApplySettings};
use crate::cli::RunArgs;
use crate::http::Status;
use crate::spawn::{SpawnConfig, Supervisor};
use crate::store::Store;
use crate::translate::{Settings, translate};

/// The HAProxy the agent drives: its master socket and client, the binary, the config
/// writer, and the applier that owns the runtime session.
pub(super) struct Haproxy {
    master: MasterClient,
    master_socket: std::path::PathBuf,
    haproxy_bin: std::path::PathBuf,
    writer: ConfigWriter,
    pub(super) applier: Applier,
}

/// The clients, config writer and applier for the HAProxy `args` name.
pub(super) fn connect_haproxy(
    args: &RunArgs,
    settings: &Settings,
    status: &Arc<Status>,
) -> anyhow::Result<Haproxy> {
    let runtime = RuntimeClient::new(
        Endpoint::Unix(settings.runtime_socket.clone()),
        RuntimeConfig::default(),
    );
    let master_socket = absolute(&args.master_socket)?;
    let master = MasterClient::new(
        Endpoint::Unix(master_socket.clone()),
        Duration::from_secs(5),
    );
    let haproxy_bin = args
        .spawn_haproxy
        .clone()
        .unwrap_or_else(|| args.haproxy_bin.clone());
    let writer = ConfigWriter::new(settings.config_dir.clone(), haproxy_bin.clone());
    let reloader = Reloader::new(
        writer.clone(),
        master.clone(),
        runtime.clone(),
        Duration::from_secs(30),
    );
    let applier = Applier::new(
        runtime,
        master.clone(),
        reloader,
        status.clone(),
        ApplySettings {
            drain_timeout: args.drain_timeout,
            full_observe_every: args.resync_period,
        },
    );
    Ok(Haproxy {
        master,
        master_socket,
        haproxy_bin,
        writer,
        applier,
    })
}

/// Starts HAProxy under the supervisor with `--spawn-haproxy`, else adopts the running one
/// (a HAProxy not reachable yet is warned of; the loop keeps trying). Returns the
/// supervisor's task and the feed of its (re)starts: each one wakes the reconcile loop,
/// which then notices the new worker and resyncs at once rather than at the next periodic
/// resync.
pub(super) async fn start_or_adopt(
    args: &RunArgs,
    store: &Store,
    settings: &Settings,
    hp: &mut Haproxy,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<(
    Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    Option<watch::Receiver<u64>>,
)> {
    if args.spawn_haproxy.is_some() {
        let (task, starts) = spawn_haproxy(store, settings, hp, shutdown).await?;
        return Ok((Some(task), Some(starts)));
    }
    if let Err(e) = hp.applier.adopt_running().await {
        tracing::warn!(error = %e, "haproxy not reachable yet");
    }
    Ok((None, None))
}

/// With `--spawn-haproxy`: installs the first config, starts the supervisor (taking over
/// from a HAProxy an earlier agent left running) and has the applier assume what it
/// loaded. Returns the supervisor's task and the feed of its (re)starts.
async fn spawn_haproxy(
    store: &Store,
    settings: &Settings,
    hp: &mut Haproxy,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<(
    tokio::task::JoinHandle<std::io::Result<()>>,
    watch::Receiver<u64>,
)> {
    let first = translate(&store.snapshot(), settings).map_err(anyhow::Error::msg)?;
    let rendered = render(&first.config);
    // HAProxy checks it as it starts (`wait_for_master` reports one that starts no worker).
    hp.writer
        .install_for_start(&rendered)
        .await
        .context("cannot write the first config")?;
    if let Some(parent) = settings.runtime_socket.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    if let Some(parent) = hp.master_socket.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    // A HAProxy that answers on the master socket already was left by an agent that
    // did not stop it (killed): the one started here takes its sockets over, then it is
    // soft-stopped, rather than left running out of step.
    let leftover = hp.master.show_proc().await.ok().map(|p| p.master.pid);
    let supervisor = Supervisor::new(SpawnConfig {
        binary: hp.haproxy_bin.clone(),
        config: hp.writer.config_path(),
        master_socket: hp.master_socket.clone(),
        stop_timeout: settings.hard_stop_after + Duration::from_secs(5),
    });
    let starts = supervisor.starts();
    let task = tokio::spawn(supervisor.run(shutdown.clone()));
    wait_for_master(&hp.master, Duration::from_secs(10), leftover).await?;
    if let Some(pid) = leftover {
        let socket = hp.master_socket.clone();
        let timeout = settings.hard_stop_after + Duration::from_secs(5);
        tokio::spawn(async move {
            crate::spawn::retire_leftover(pid, &socket, timeout).await;
        });
    }
    hp.applier.assume_loaded(&first.config, &rendered).await?;
    let _ = hp.writer.mark_good().await;
    Ok((task, starts))
}

/// Waits until a master other than `not` answers with a worker.
async fn wait_for_master(
    master: &MasterClient,
    within: Duration,
    not: Option<u32>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        match master.show_proc().await {
            Ok(p) if p.current_worker().is_some() && Some(p.master.pid) != not => return Ok(()),
            Ok(_) => {}
            Err(e) if Instant::now() >= deadline => {
                return Err(e).context("haproxy did not start (its messages above say why)");
            }
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            bail!(
                "haproxy started no worker within {within:?} (its messages above say why, \
                 e.g. a config it refuses)"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
