//! `haproxy-agent run` and `render`: wires a source, the store, translation and the applier
//! together, serves health and metrics, and (with `--spawn-haproxy`) supervises HAProxy.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use haproxy::config::{ConfigWriter, render};
use tokio::sync::watch;

use crate::cli::{RenderArgs, RunArgs, SourceArgs};
use crate::http::Status;
use crate::problem::Problem;
use crate::source::kube as kube_source;
use crate::source::manifests::ManifestsSource;
use crate::store::{Snapshot, Store};
use crate::translate::{Settings, Translation, translate};

mod flags;
mod haproxy_setup;
mod sync_loop;
mod syncer;

use flags::{absolute, settings, settings_or_usage};
use haproxy_setup::{connect_haproxy, start_or_adopt};
use sync_loop::{LoopTiming, Wakers, invocation, reconcile_loop, unless_source_ends};

/// Exit code for a configuration the agent cannot start with (EX_USAGE).
pub const EXIT_BAD_CONFIG: u8 = 64;

/// A running source: its task, the problems it reports (files that do not parse), and the
/// Kubernetes client when it watches a cluster.
struct RunningSource {
    problems: watch::Receiver<Vec<Problem>>,
    task: tokio::task::JoinHandle<()>,
    client: Option<kube::Client>,
}

/// Starts the source the flags name, filling `store` until `shutdown` turns true.
async fn start_source(
    args: &SourceArgs,
    settings: &Settings,
    store: &Store,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<RunningSource> {
    match &args.manifests {
        Some(dir) => {
            let mut source = ManifestsSource::new(absolute(dir)?, store.clone());
            source.scan();
            let problems = source.problems();
            let task = tokio::spawn(source.run(until(shutdown)));
            Ok(RunningSource {
                problems,
                task,
                client: None,
            })
        }
        None => {
            let cluster = kube_source::ClusterArgs {
                kubeconfig: args.kubeconfig.clone(),
                namespace: settings.watch_namespace.clone(),
            };
            let client = kube_source::client(&cluster).await.context(
                "cannot build a Kubernetes client (use --kubeconfig, or --manifests DIR)",
            )?;
            // The source's problems: a cluster that does not serve the Gateway API.
            let (problems_tx, problems) = watch::channel(Vec::new());
            let task = tokio::spawn(kube_source::run(
                client.clone(),
                cluster.namespace,
                settings
                    .configmap
                    .iter()
                    .chain(&settings.tcp_services)
                    .chain(&settings.udp_services)
                    .cloned()
                    .collect(),
                store.clone(),
                problems_tx,
                until(shutdown),
            ));
            Ok(RunningSource {
                problems,
                task,
                client: Some(client),
            })
        }
    }
}

/// Waits until every source has delivered its initial state.
async fn wait_synced(store: &Store, within: Duration) -> anyhow::Result<()> {
    let mut rx = store.subscribe();
    tokio::time::timeout(within, rx.wait_for(|s| s.synced))
        .await
        .with_context(|| format!("the objects were not all listed within {within:?}"))?
        .context("the store closed")?;
    Ok(())
}

/// Lists the objects once (a manifests scan, or every watch's first list) and translates them.
async fn translate_once(
    args: &RenderArgs,
    settings: &Settings,
) -> anyhow::Result<(Translation, Vec<Problem>)> {
    let (snapshot, problems) = load(args, settings).await?;
    let t = translate(&snapshot, settings).map_err(anyhow::Error::msg)?;
    Ok((t, problems))
}

/// Lists the objects once (the source's problems with them).
async fn load(
    args: &RenderArgs,
    settings: &Settings,
) -> anyhow::Result<(Arc<Snapshot>, Vec<Problem>)> {
    let store = Store::new();
    let (stop, shutdown) = watch::channel(false);
    let source = start_source(&args.source, settings, &store, shutdown).await?;
    wait_synced(&store, Duration::from_secs(60)).await?;
    let problems = source.problems.borrow().clone();
    let _ = stop.send(true);
    let _ = source.task.await;
    Ok((store.snapshot(), problems))
}

/// Lists the objects once with the flags' settings (for `check`).
pub async fn load_once(args: &RenderArgs) -> anyhow::Result<(Arc<Snapshot>, Vec<Problem>)> {
    let settings = settings(&args.model)?;
    load(args, &settings).await
}

/// Lists the objects once and translates them with the flags' settings (for `ctl plan`).
pub async fn translate_for(args: &RenderArgs) -> anyhow::Result<(Translation, Vec<Problem>)> {
    let settings = settings(&args.model)?;
    translate_once(args, &settings).await
}

/// `haproxy-agent render`: prints haproxy.cfg and the maps, and the problems on stderr.
pub async fn render_command(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let Some(settings) = settings_or_usage(&args.model) else {
        return Ok(ExitCode::from(EXIT_BAD_CONFIG));
    };
    let (t, source_problems) = translate_once(&args, &settings).await?;
    let rendered = render(&t.config);
    println!("{}", rendered.haproxy_cfg);
    for (path, text) in &rendered.maps {
        println!("# {path}");
        print!("{text}");
    }
    for p in source_problems.iter().chain(&t.problems) {
        eprintln!("problem: {p}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `haproxy-agent init`: writes the first haproxy.cfg and maps into --config-dir. Validated
/// with `haproxy -c` when the binary is there; an initContainer without HAProxy writes it
/// unchecked (it is built from validated values only, and HAProxy checks it on start).
pub async fn init_command(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let Some(settings) = settings_or_usage(&args.model) else {
        return Ok(ExitCode::from(EXIT_BAD_CONFIG));
    };
    let (t, source_problems) = translate_once(&args, &settings).await?;
    for p in source_problems.iter().chain(&t.problems) {
        tracing::warn!(problem = %p, "problem");
    }
    let rendered = render(&t.config);
    let writer = ConfigWriter::new(settings.config_dir.clone(), args.haproxy_bin.clone());
    if which(&args.haproxy_bin) {
        writer
            .install(&rendered)
            .await
            .context("the rendered config was refused")?;
        let _ = writer.mark_good().await;
    } else {
        tracing::warn!(bin = %args.haproxy_bin.display(), "no haproxy binary here: writing the config unchecked");
        writer.write_runtime_state(&rendered).await?;
    }
    tracing::info!(dir = %settings.config_dir.display(), backends = t.config.backends.len(), "config written");
    Ok(ExitCode::SUCCESS)
}

fn which(bin: &Path) -> bool {
    if bin.components().count() > 1 {
        return bin.is_file();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

/// `haproxy-agent run`.
pub async fn run_command(args: RunArgs) -> anyhow::Result<ExitCode> {
    let Some(mut settings) = settings_or_usage(&args.model) else {
        return Ok(ExitCode::from(EXIT_BAD_CONFIG));
    };
    settings.agent_listen.push((args.listen, "--listen"));
    if let Some(crate::cli::DebugListen::Addr(a)) = args.debug_listen {
        settings.agent_listen.push((a, "--debug-listen"));
    }
    let (shutdown_tx, shutdown) = watch::channel(false);
    let shutdown_tx = Arc::new(shutdown_tx);
    tokio::spawn(wait_for_signal(shutdown_tx.clone()));

    let status = Status::new();
    status.set_invocation(invocation());
    let (addr, http_task) = serve_http(&args, &status, &shutdown).await?;
    tracing::info!(%addr, "health and metrics listening");

    let store = Store::new();
    let source = start_source(&args.source, &settings, &store, shutdown.clone()).await?;
    let source_problems = source.problems.clone();
    let source_task = source.task;
    let status_task = start_status(&args, &status, source.client, &store, shutdown.clone());

    let mut hp = connect_haproxy(&args, &settings, &status)?;

    // Nothing is rendered before every source has listed (a Kubernetes API server that does
    // not answer keeps the agent waiting here, HAProxy untouched).
    let mut ready = store.subscribe();
    let synced = tokio::select! {
        r = ready.wait_for(|s| s.synced) => r.is_ok(),
        _ = until(shutdown.clone()) => false,
    };
    drop(ready);
    if !synced {
        return Ok(ExitCode::SUCCESS);
    }

    let (supervisor_task, haproxy_starts) =
        start_or_adopt(&args, &store, &settings, &mut hp, &shutdown).await?;

    let wakers = Wakers {
        source_problems,
        haproxy_starts,
        shutdown: shutdown.clone(),
    };
    let timing = LoopTiming {
        resync_period: args.resync_period,
        holdoff: args.sync_holdoff,
        max_delay: args.sync_max_delay.max(args.sync_holdoff),
    };
    let mut source_task = Some(source_task);
    let ended = unless_source_ends(
        reconcile_loop(&store, &settings, &mut hp.applier, &status, timing, wakers),
        &mut source_task,
        &shutdown,
        &status,
    )
    .await;
    if ended.is_err() {
        // Nothing reconciles any more (the loop said so on `/healthz`): stop like on
        // SIGTERM, exiting non-zero so that a supervisor (the kubelet) restarts the agent.
        let _ = shutdown_tx.send(true);
    }
    // Close the runtime session: a soft-stopping worker waits for its CLI sessions too.
    drop(hp.applier);

    finish(supervisor_task).await;
    // Stops writing and releases the Lease, so another replica takes over at once.
    finish(status_task).await;
    finish(source_task).await;
    let _ = http_task.await;
    Ok(if ended.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Waits for `task`, if any, to end.
async fn finish<T>(task: Option<tokio::task::JoinHandle<T>>) {
    if let Some(task) = task {
        let _ = task.await;
    }
}

/// Serves `/healthz` on `--listen`, and the debug routes there too or on `--debug-listen`
/// (or nowhere with `off`). Returns `--listen`'s address and a task ending with both servers.
async fn serve_http(
    args: &RunArgs,
    status: &Arc<Status>,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<(
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    use crate::cli::DebugListen;
    use crate::http::{debug_router, health_router, router, serve_router};
    let main = match args.debug_listen {
        None => router(status.clone()),
        Some(_) => health_router(status.clone()),
    };
    let (addr, main_task) = serve_router(args.listen, main, until(shutdown.clone()))
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let Some(DebugListen::Addr(debug)) = args.debug_listen else {
        return Ok((addr, main_task));
    };
    let (debug_addr, debug_task) =
        serve_router(debug, debug_router(status.clone()), until(shutdown.clone()))
            .await
            .with_context(|| format!("cannot listen on --debug-listen {debug}"))?;
    tracing::info!(addr = %debug_addr, "metrics and debug state listening");
    let both = tokio::spawn(async move {
        let debug = debug_task.await.unwrap_or(Ok(()));
        main_task.await.unwrap_or(Ok(())).and(debug)
    });
    Ok((addr, both))
}

/// Starts the status writers (cluster mode only): Ingress status when
/// `--publish-service`/`--publish-address` asks for it, Gateway API status once translation
/// has some.
fn start_status(
    args: &RunArgs,
    status: &Status,
    client: Option<kube::Client>,
    store: &Store,
    shutdown: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let publish = args.status.publish();
    let client = client?;
    let namespace = args
        .status
        .election_namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let config = crate::status::StatusConfig {
        publish,
        lease: crate::status::LeaseConfig {
            duration: args.status.election_lease_duration,
            renew_every: args.status.election_renew_period,
            ..crate::status::LeaseConfig::new(
                namespace,
                args.status.election_id.clone(),
                args.status
                    .election_identity
                    .clone()
                    .unwrap_or_else(crate::status::default_identity),
            )
        },
        ingress_class: args.model.ingress_class.clone(),
        gateway_controller_name: args.model.gateway_controller_name.clone(),
    };
    Some(tokio::spawn(crate::status::run(
        client,
        store.clone(),
        config,
        status.gateway_status(),
        until(shutdown),
    )))
}

async fn until(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

async fn wait_for_signal(tx: Arc<watch::Sender<bool>>) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    let _ = tx.send(true);
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
