//! `haproxy-agent run` and `render`: wires a source, the store, translation and the applier
//! together, serves health and metrics, and (with `--spawn-haproxy`) supervises HAProxy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use haproxy::config::{Config, ConfigWriter, render};
use haproxy::{Endpoint, MasterClient, Reloader, RuntimeClient, RuntimeConfig};
use tokio::sync::watch;
use tracing::Instrument;

use crate::apply::{Applier, ApplyError, ApplySettings, SyncReport};
use crate::cli::{ModelArgs, RenderArgs, RunArgs, SourceArgs};
use crate::history::{MAX_PROBLEMS, SyncRecord, capped};
use crate::http::{Health, Status};
use crate::problem::Problem;
use crate::reconcile::{Desired, Scope};
use crate::source::kube as kube_source;
use crate::source::manifests::ManifestsSource;
use crate::spawn::{SpawnConfig, Supervisor};
use crate::store::{Snapshot, Store};
use crate::translate::{Incremental, Settings, Translation, translate};

/// Exit code for a configuration the agent cannot start with (EX_USAGE).
pub const EXIT_BAD_CONFIG: u8 = 64;

fn settings(model: &ModelArgs) -> anyhow::Result<Settings> {
    let config_dir = absolute(&model.config_dir)?;
    let runtime_socket = absolute(&model.runtime_socket)?;
    // The default certificate the config directory already has (so that a restart serves
    // the same one), else a new self-signed one; written there once TLS is in use.
    let default_path = haproxy::config::default_cert_path(&config_dir)
        .map_err(|e| anyhow::anyhow!("--config-dir: {e}"))?;
    let (default_cert, generated) =
        crate::certs::load_or_generate_default(std::path::Path::new(default_path.as_str()))
            .context("cannot make the default certificate")?;
    if generated {
        tracing::debug!("generated a self-signed default certificate");
    }
    let s = Settings {
        ingress_class: model.ingress_class.clone(),
        default_backend_service: model.default_backend_service.clone(),
        watch_namespace: model.watch_namespace.clone(),
        http_bind: model.http_bind,
        config_dir,
        runtime_socket,
        hard_stop_after: model.hard_stop_after,
        https_bind: model.https_bind,
        default_cert,
        default_ssl_certificate: model.default_ssl_certificate.clone(),
        trusted_proxies: model.trusted_proxies.clone(),
        configmap: model.configmap.clone(),
        use_proxy_protocol: model.use_proxy_protocol,
        access_log: access_log(model)?,
        tcp_services: model.tcp_services_configmap.clone(),
        tcp_bind: model.tcp_bind_address,
        gateway_controller_name: model.gateway_controller_name.clone(),
        gateway_address_pool: model.gateway_address_pool.clone(),
        udp_services: model.udp_services_configmap.clone(),
        ssl_passthrough: model.enable_ssl_passthrough,
        agent_listen: Vec::new(),
    };
    check_settings(&s).map_err(anyhow::Error::msg)?;
    Ok(s)
}

/// Where the access log goes (`None`: off).
fn access_log(model: &ModelArgs) -> anyhow::Result<Option<haproxy::config::LogTarget>> {
    use haproxy::config::{ConfigPath, LogTarget};
    if !model.access_log {
        return Ok(None);
    }
    Ok(Some(match &model.access_log_socket {
        None => LogTarget::Stdout,
        Some(p) => LogTarget::Socket(
            ConfigPath::from_path(&absolute(p)?)
                .map_err(|e| anyhow::anyhow!("--access-log-socket: {e}"))?,
        ),
    }))
}

/// Refuses, at start-up, every setting translation could fail on later: paths and durations
/// HAProxy cannot take, the HTTPS bind's files included (used only once an Ingress asks for
/// TLS). With them checked, [`translate`] has no error left to return while running.
fn check_settings(s: &Settings) -> Result<(), String> {
    translate(&Default::default(), s).map_err(|e| e.to_string())?;
    haproxy::config::TlsBind::in_dir(&s.config_dir, vec![s.https_bind])
        .map_err(|e| format!("--config-dir: {e}"))?;
    Ok(())
}

/// The settings, or `None` after saying on stderr why the flags cannot work.
fn settings_or_usage(model: &ModelArgs) -> Option<Settings> {
    match settings(model) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("error: {e:#}");
            None
        }
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

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
    let mut applier = Applier::new(
        runtime,
        master.clone(),
        reloader,
        status.clone(),
        ApplySettings {
            drain_timeout: args.drain_timeout,
            full_observe_every: args.resync_period,
        },
    );

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

    let mut supervisor_task = None;
    // HAProxy (re)starts by the supervisor: each one wakes the reconcile loop, which then
    // notices the new worker and resyncs at once rather than at the next periodic resync.
    let mut haproxy_starts = None;
    if args.spawn_haproxy.is_some() {
        let first = translate(&store.snapshot(), &settings).map_err(anyhow::Error::msg)?;
        let rendered = render(&first.config);
        writer
            .install(&rendered)
            .await
            .context("the first config was refused")?;
        if let Some(parent) = settings.runtime_socket.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        if let Some(parent) = master_socket.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        // A HAProxy that answers on the master socket already was left by an agent that
        // did not stop it (killed): the one started here takes its sockets over, then it is
        // soft-stopped, rather than left running out of step.
        let leftover = master.show_proc().await.ok().map(|p| p.master.pid);
        let supervisor = Supervisor::new(SpawnConfig {
            binary: haproxy_bin.clone(),
            config: writer.config_path(),
            master_socket: master_socket.clone(),
            stop_timeout: settings.hard_stop_after + Duration::from_secs(5),
        });
        haproxy_starts = Some(supervisor.starts());
        supervisor_task = Some(tokio::spawn(supervisor.run(shutdown.clone())));
        wait_for_master(&master, Duration::from_secs(10), leftover).await?;
        if let Some(pid) = leftover {
            let socket = master_socket.clone();
            let timeout = settings.hard_stop_after + Duration::from_secs(5);
            tokio::spawn(async move {
                crate::spawn::retire_leftover(pid, &socket, timeout).await;
            });
        }
        applier.assume_loaded(&first.config, &rendered).await?;
        let _ = writer.mark_good().await;
    } else if let Err(e) = applier.adopt_running().await {
        tracing::warn!(error = %e, "haproxy not reachable yet");
    }

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
        reconcile_loop(&store, &settings, &mut applier, &status, timing, wakers),
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
    drop(applier);

    if let Some(task) = supervisor_task {
        let _ = task.await;
    }
    if let Some(task) = status_task {
        // Stops writing and releases the Lease, so another replica takes over at once.
        let _ = task.await;
    }
    if let Some(task) = source_task {
        let _ = task.await;
    }
    let _ = http_task.await;
    Ok(if ended.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
                return Err(e).context("haproxy did not start");
            }
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            bail!("haproxy started no worker within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What wakes the reconcile loop besides the store.
struct Wakers {
    /// The source's problems (a file that stops or starts parsing).
    source_problems: watch::Receiver<Vec<Problem>>,
    /// HAProxy starts by the supervisor (with `--spawn-haproxy`).
    haproxy_starts: Option<watch::Receiver<u64>>,
    /// Shutdown.
    shutdown: watch::Receiver<bool>,
}

/// When the reconcile loop syncs.
#[derive(Debug, Clone, Copy)]
struct LoopTiming {
    /// Sync at least this often (and observe everything at least this often).
    resync_period: Duration,
    /// A change waits until no further change came for this long...
    holdoff: Duration,
    /// ...but no longer than this since the first one.
    max_delay: Duration,
}

/// Runtime changes are written to the config directory once no sync came for this long...
const FLUSH_IDLE: Duration = Duration::from_millis(100);
/// ...and at the latest this long after the first one not yet written.
const FLUSH_MAX: Duration = Duration::from_secs(1);
/// The files last written are compared with the disk this often (a stat each), so one
/// deleted or edited behind the agent's back is named and written again.
const DISK_CHECK: Duration = Duration::from_secs(2);

/// Keeps HAProxy in step with the store until shutdown (`Ok`), or until translation fails
/// (`Err`, which [`check_settings`] makes unreachable; should it happen, `/healthz` stops
/// saying 200 before this returns: the agent must not look healthy while nothing reconciles).
async fn reconcile_loop(
    store: &Store,
    settings: &Settings,
    applier: &mut Applier,
    status: &Arc<Status>,
    timing: LoopTiming,
    wakers: Wakers,
) -> Result<(), String> {
    let Wakers {
        mut source_problems,
        mut haproxy_starts,
        mut shutdown,
    } = wakers;
    let mut rx = store.subscribe();
    let mut backoff =
        crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut synced_once = false;
    let mut logged = std::collections::BTreeSet::new();
    // The certificates in use: a host whose Secret turns bad keeps its certificate, from
    // the start on (the files a previous run left, which HAProxy is likely serving).
    let mut translator = Incremental::new(
        settings.clone(),
        crate::certs::remembered_on_disk(&settings.config_dir),
    );
    // The `/debug/state` model is built here, from the translator's config, when asked.
    let mut desired_requests = status.desired_requests();
    // What changed since the last successful sync (all of it after a failure).
    let mut pending = Scope::all();
    // The translation and source problems last published.
    let mut published: (Vec<Problem>, Vec<Problem>) = (Vec::new(), Vec::new());
    let mut certs = crate::cert_expiry::CertWatch::default();
    let mut woke = Instant::now();
    let mut sync_now = true;
    let mut next_sync = Instant::now() + timing.resync_period;
    let mut next_disk_check = Instant::now() + DISK_CHECK;
    // The store and generation of the last sync, for the history's list of changes.
    let mut last_seen: Option<(u64, u64)> = None;
    loop {
        if sync_now {
            next_sync = Instant::now() + timing.resync_period;
            let snapshot = rx.borrow_and_update().clone();
            let extra = source_problems.borrow_and_update().clone();
            if snapshot.synced {
                let mut record = SyncRecord::starting(snapshot.generation);
                record.note_changes(&snapshot, last_seen);
                last_seen = Some((snapshot.store_id(), snapshot.generation));
                let t = match translator.translate(&snapshot) {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::error!(error = %e, "translation failed");
                        status.set_health(Health {
                            synced: false,
                            haproxy_up: false,
                            detail: Some(format!("translation failed, the agent stops: {e}")),
                        });
                        return Err(e.to_string());
                    }
                };
                pending.extend(&Scope::from(&t.changed));
                status.set_gateway_status(&t.gateway_status);
                let span = tracing::info_span!(
                    "sync",
                    generation = snapshot.generation,
                    all = pending.all,
                    backends = pending.backends.len(),
                    routes = pending.routes,
                    tls = pending.tls,
                );
                drop(snapshot);
                // Problems can change while the config does not (a bad annotation added).
                let mut problems = t.problems.clone();
                problems.extend(certs.update(&t, settings, &status.metrics));
                let problems_now = (problems, extra);
                if !t.changed.is_empty() || problems_now != published {
                    publish(status, &t.config, &problems_now.0, &problems_now.1);
                    let (appeared, resolved) = log_problem_changes(&mut logged, &problems_now.0);
                    record.problems_appeared = appeared;
                    record.problems_resolved = resolved;
                    published = problems_now;
                }
                // A sync may wait on HAProxy for long (a reload is verified for up to 30 s); a
                // shutdown must not wait for it, least of all with --spawn-haproxy, where
                // HAProxy is being stopped meanwhile and such a reload can never be verified.
                let synced = tokio::select! {
                    r = applier.sync(Desired::from(&t), &pending).instrument(span) => r,
                    _ = shutdown.wait_for(|s| *s) => return Ok(()),
                };
                // The translator patches its config in place: nobody keeps a clone of it.
                drop(t);
                record.everything |= pending.all;
                record.error = synced.as_ref().err().map(ToString::to_string);
                match synced {
                    Ok(report) => {
                        synced_once = true;
                        backoff.reset();
                        pending = Scope::default();
                        if report.commands > 0 || !report.reloads.is_empty() {
                            status
                                .metrics
                                .sync_duration
                                .observe(woke.elapsed().as_secs_f64());
                            tracing::debug!(commands = report.commands, reloads = ?report.reloads, "synced");
                        }
                        status.set_health(Health {
                            synced: true,
                            haproxy_up: true,
                            detail: None,
                        });
                        if report.draining > 0 {
                            next_sync = Instant::now() + Duration::from_millis(250);
                        }
                        set_sync_debug(status, &report);
                    }
                    Err(e) => {
                        pending = Scope::all();
                        let up = !matches!(e, ApplyError::Runtime(_) | ApplyError::Master(_));
                        tracing::warn!(error = %e, "sync failed");
                        status.set_health(Health {
                            synced: synced_once,
                            haproxy_up: up,
                            detail: Some(e.to_string()),
                        });
                        if !matches!(e, ApplyError::KnownBad) {
                            next_sync = Instant::now() + backoff.failed();
                        }
                    }
                }
                // Recorded after the sync is measured and reported: off the ack path.
                let record = record.with_journal(applier.take_journal());
                if record.is_eventful() {
                    status.record_sync(record);
                }
            }
        }
        // Runtime changes reach the config directory off the path to HAProxy's ack.
        let flush_at = applier.files_due(Instant::now(), FLUSH_IDLE, FLUSH_MAX);
        sync_now = true;
        tokio::select! {
            _ = rx.changed() => {
                woke = Instant::now();
                settle(&mut rx, timing).await;
                continue;
            }
            _ = source_problems.changed() => {}
            Ok(()) = started(&mut haproxy_starts) => {}
            _ = tokio::time::sleep_until(next_sync.into()) => {}
            _ = sleep_until_some(flush_at) => {
                if let Some(desired) = translator.config() {
                    applier.flush_files(desired).await;
                }
                sync_now = false;
            }
            _ = tokio::time::sleep_until(next_disk_check.into()) => {
                next_disk_check = Instant::now() + DISK_CHECK;
                if synced_once {
                    applier.check_files().await;
                }
                sync_now = false;
            }
            Some(request) = recv_some(&mut desired_requests) => {
                let doc = translator
                    .config()
                    .map_or_else(|| serde_json::json!({}), crate::debug::desired);
                let _ = request.send(doc);
                sync_now = false;
            }
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
        }
        woke = Instant::now();
    }
}

/// Runs `reconciling` until it ends, or until the source feeding the store ends without a
/// shutdown (it panicked, or gave up): then nothing new would ever be reconciled, so
/// `/healthz` stops saying 200 and this returns an error, for the agent to exit non-zero.
async fn unless_source_ends(
    reconciling: impl std::future::Future<Output = Result<(), String>>,
    source: &mut Option<tokio::task::JoinHandle<()>>,
    shutdown: &watch::Receiver<bool>,
    status: &Status,
) -> Result<(), String> {
    tokio::select! {
        r = reconciling => r,
        Some(_) = until_done(source) => {
            *source = None;
            if *shutdown.borrow() {
                return Ok(());
            }
            let e = "the source of objects stopped".to_string();
            tracing::error!(error = %e, "nothing reconciles any more");
            status.set_health(Health {
                synced: false,
                haproxy_up: false,
                detail: Some(format!("{e}, the agent stops")),
            });
            Err(e)
        }
    }
}

/// The task's end; never when there is none.
async fn until_done(
    task: &mut Option<tokio::task::JoinHandle<()>>,
) -> Option<Result<(), tokio::task::JoinError>> {
    match task {
        Some(t) => Some(t.await),
        None => std::future::pending().await,
    }
}

/// The next item of `rx`; never when there is none.
async fn recv_some<T>(rx: &mut Option<tokio::sync::mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// After a change: waits until no further change came for the holdoff, or the maximum
/// delay since the first one passed.
async fn settle(rx: &mut watch::Receiver<Arc<crate::store::Snapshot>>, timing: LoopTiming) {
    let limit = tokio::time::Instant::now() + timing.max_delay;
    loop {
        let quiet = (tokio::time::Instant::now() + timing.holdoff).min(limit);
        tokio::select! {
            r = rx.changed() => {
                if r.is_err() || tokio::time::Instant::now() >= limit {
                    return;
                }
            }
            _ = tokio::time::sleep_until(quiet) => return,
        }
    }
}

/// Sleeps until `at`; never when `None`.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn publish(status: &Status, desired: &Config, problems: &[Problem], extra: &[Problem]) {
    let mut counts = std::collections::BTreeMap::new();
    for p in problems.iter().chain(extra) {
        *counts
            .entry((p.kind.label(), p.reason.label()))
            .or_insert(0i64) += 1;
    }
    status.metrics.set_problems(counts);
    let servers: usize = desired.backends.values().map(|b| b.servers.len()).sum();
    status.metrics.endpoints.set(servers as i64);
    status.metrics.backends.set(desired.backends.len() as i64);
    status.metrics.routes.set(desired.routes.len() as i64);
    status.set_problems(Arc::new(problems.iter().chain(extra).cloned().collect()));
}

/// Logs each translation problem once when it appears, naming its object, and once when it
/// is gone (manifest file problems are logged by the manifests source). Returns the first
/// of those that appeared and were resolved, for the history.
fn log_problem_changes(
    logged: &mut std::collections::BTreeSet<Problem>,
    now: &[Problem],
) -> (Vec<String>, Vec<String>) {
    let current: std::collections::BTreeSet<Problem> = now.iter().cloned().collect();
    for p in current.difference(logged) {
        tracing::warn!(kind = p.kind.label(), object = %p.object, field = p.field.as_deref().unwrap_or(""), "{}", p.message);
    }
    for p in logged.difference(&current) {
        tracing::info!(kind = p.kind.label(), object = %p.object, "problem resolved");
    }
    let appeared = capped(current.difference(logged), MAX_PROBLEMS).0;
    let resolved = capped(logged.difference(&current), MAX_PROBLEMS).0;
    *logged = current;
    (appeared, resolved)
}

fn set_sync_debug(status: &Status, report: &SyncReport) {
    status.set_last_sync(serde_json::json!({
        "commands": report.commands,
        "reloads": report.reloads,
        "draining": report.draining,
    }));
}

/// How this agent was started, for `/debug/config`: its arguments, its `HAPROXY_AGENT_*`
/// environment (what clap read) and its working directory.
fn invocation() -> serde_json::Value {
    let env: serde_json::Map<String, serde_json::Value> = std::env::vars()
        .filter(|(k, _)| k.starts_with("HAPROXY_AGENT_"))
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::json!({
        "args": std::env::args().skip(1).collect::<Vec<_>>(),
        "env": env,
        "cwd": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
    })
}

/// Resolves when the supervisor started HAProxy again; never without a supervisor.
async fn started(starts: &mut Option<watch::Receiver<u64>>) -> Result<(), watch::error::RecvError> {
    match starts {
        Some(rx) => rx.changed().await,
        None => std::future::pending().await,
    }
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
