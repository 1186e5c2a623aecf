//! Shared by the benchmarks: the figures (`integration::figures`: arguments, percentiles,
//! JSON out); the agent's objects ([`objects`], shared with the soak) and the benchmarks'
//! object sets; an in-process agent ([`Harness`]: store -> translate -> `Applier::sync`
//! against a HAProxy supervised as `run --spawn-haproxy` does); and a real
//! `haproxy-agent run` process ([`AgentProcess`]) stopped by pid.

// Each benchmark binary compiles this module and uses a different part of it.
#![allow(dead_code)]

mod objects;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use haproxy::config::{ConfigWriter, render};
use haproxy::proto::ProcList;
use haproxy::proto::parse::ServerState;
use haproxy::{BackendName, Endpoint, MasterClient, Reloader, RuntimeClient, RuntimeConfig};
use haproxy_agent::apply::{Applier, ApplySettings, SyncReport};
use haproxy_agent::http::Status;
use haproxy_agent::reconcile::{Desired, Scope};
use haproxy_agent::spawn::{SpawnConfig, Supervisor};
use haproxy_agent::store::{Object, Store};
use haproxy_agent::translate::{Incremental, Settings, translate};
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;

// Each benchmark binary uses a different part of them.
#[allow(unused_imports)]
pub use integration::figures::{Args, Summary, median, ms, r3, round, summary_with_samples};
#[allow(unused_imports)]
pub use objects::{
    EpState, NS, Rule, ingress, service, settings, slice, tls_secret, to_yaml, with_tls,
    write_atomic,
};

// ---- the benchmarks' object sets ----

/// Service `svc-<s>` (port 80 -> 8080), its EndpointSlice `svc-<s>-1` with `endpoints`
/// ready endpoints `10.<s/256>.<s%256>.<e+1>:8080`, and an Ingress `svc-<s>` routing host
/// `svc-<s>.bench.example`, path `/`, to it.
pub fn service_set(s: usize, endpoints: usize) -> Vec<Object> {
    let name = format!("svc-{s}");
    let host = format!("svc-{s}.bench.example");
    let eps: Vec<(IpAddr, EpState)> = (0..endpoints)
        .map(|e| {
            let ip = IpAddr::from([10, (s / 256) as u8, (s % 256) as u8, (e + 1) as u8]);
            (ip, EpState::Ready)
        })
        .collect();
    vec![
        service(&name, 80, 8080),
        slice(&format!("{name}-1"), &name, 8080, &eps),
        ingress(
            &name,
            Some(&host),
            &[Rule {
                path: "/",
                service: &name,
                port: 80,
            }],
        ),
    ]
}

/// The policy-heavy ingress-nginx annotation set of the `--policies true` runs.
pub const POLICIES: &[(&str, &str)] = &[
    ("nginx.ingress.kubernetes.io/rewrite-target", "/"),
    ("nginx.ingress.kubernetes.io/x-forwarded-prefix", "/app"),
    (
        "nginx.ingress.kubernetes.io/upstream-vhost",
        "internal.example",
    ),
    ("nginx.ingress.kubernetes.io/proxy-body-size", "8m"),
    ("nginx.ingress.kubernetes.io/limit-rps", "100"),
    ("nginx.ingress.kubernetes.io/limit-connections", "20"),
    ("nginx.ingress.kubernetes.io/enable-cors", "true"),
    (
        "nginx.ingress.kubernetes.io/cors-allow-origin",
        "https://app.example",
    ),
    ("nginx.ingress.kubernetes.io/proxy-read-timeout", "120"),
    ("nginx.ingress.kubernetes.io/ssl-redirect", "false"),
];

/// The objects with [`POLICIES`] on every Ingress, when `policies`.
pub fn with_policies(mut objects: Vec<Object>, policies: bool) -> Vec<Object> {
    if policies {
        for o in &mut objects {
            if let Object::Ingress(ing) = o {
                ing.metadata.annotations = Some(
                    POLICIES
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                );
            }
        }
    }
    objects
}

// ---- the in-process agent ----

/// The agent's pipeline in-process: a store, translation and an [`Applier`] against a
/// HAProxy started and supervised the way `run --spawn-haproxy` does it, from the config
/// rendered from the initial objects.
pub struct Harness {
    _dir: TempDir,
    /// Translation settings.
    pub settings: Settings,
    /// The object store.
    pub store: Store,
    /// The applier.
    pub applier: Applier,
    /// The master CLI.
    pub master: MasterClient,
    /// The applier's runtime client (clones share its session).
    pub runtime: RuntimeClient,
    /// Verified reloads (for reload-per-change baselines).
    pub reloader: Reloader,
    stop: watch::Sender<bool>,
    supervised: JoinHandle<std::io::Result<()>>,
    /// Translates the store's snapshots incrementally, as the reconcile loop does.
    translator: Incremental,
}

impl Harness {
    /// Starts HAProxy with `objects` rendered, and an applier that knows it loaded them.
    pub async fn start(objects: Vec<Object>) -> anyhow::Result<Harness> {
        let dir = tempfile::Builder::new().prefix("bench").tempdir()?;
        std::fs::create_dir_all(dir.path().join("run"))?;
        let settings = settings(dir.path());
        let master_socket = dir.path().join("run/master.sock");
        let store = Store::new();
        store.replace_all(objects);
        let haproxy_bin = integration::haproxy_binary();
        let writer = ConfigWriter::new(settings.config_dir.clone(), haproxy_bin.clone());
        let first = translate(&store.snapshot(), &settings).map_err(anyhow::Error::msg)?;
        let rendered = render(&first.config);
        writer.install(&rendered).await?;
        let (stop, stop_rx) = watch::channel(false);
        let supervisor = Supervisor::new(SpawnConfig {
            binary: haproxy_bin,
            config: writer.config_path(),
            master_socket: master_socket.clone(),
            stop_timeout: Duration::from_secs(10),
        });
        let supervised = tokio::spawn(supervisor.run(stop_rx));
        let master = MasterClient::new(Endpoint::Unix(master_socket), Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(20);
        while master
            .show_proc()
            .await
            .map(|p| p.current_worker().is_none())
            .unwrap_or(true)
        {
            anyhow::ensure!(Instant::now() < deadline, "haproxy did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let runtime = RuntimeClient::new(
            Endpoint::Unix(settings.runtime_socket.clone()),
            RuntimeConfig::default(),
        );
        let reloader = Reloader::new(
            writer,
            master.clone(),
            runtime.clone(),
            Duration::from_secs(30),
        );
        let mut applier = Applier::new(
            runtime.clone(),
            master.clone(),
            reloader.clone(),
            Status::new(),
            ApplySettings {
                drain_timeout: Duration::from_secs(5),
                // The agent reads everything once per resync period on a wake-up of its own;
                // here no such wake-up exists, so it would land on a timed change instead.
                full_observe_every: Duration::from_secs(3600),
            },
        );
        applier.assume_loaded(&first.config, &rendered).await?;
        let translator = Incremental::new(settings.clone(), Default::default());
        let mut h = Harness {
            translator,
            _dir: dir,
            settings,
            store,
            applier,
            master,
            runtime,
            reloader,
            stop,
            supervised,
        };
        // The first sync reads all of HAProxy's state, as the agent's does at start-up; what
        // the benchmarks time comes after it.
        h.sync().await?;
        Ok(h)
    }

    /// Translates the store's snapshot (incrementally) and syncs HAProxy to what changed
    /// (what the reconcile loop does on every wake-up).
    pub async fn sync(&mut self) -> anyhow::Result<SyncReport> {
        let t = self
            .translator
            .translate(&self.store.snapshot())
            .map_err(anyhow::Error::msg)?;
        let scope = Scope::from(&t.changed);
        let t1 = Instant::now();
        let r = self.applier.sync(Desired::from(&t), &scope).await?;
        if std::env::var_os("BENCH_DEBUG").is_some() {
            eprintln!("apply {:.2} ms", t1.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(r)
    }

    /// Something other than the applier changed HAProxy: the next sync reads everything.
    pub fn observe_everything_next(&mut self) {
        self.applier.observe_everything_next();
    }

    /// Translates `store`'s objects from now on (a manifests source's store): the next
    /// sync translates everything once.
    pub fn follow(&mut self, store: Store) {
        self.store = store;
    }

    /// Writes the config directory's files that runtime changes left behind, as the
    /// reconcile loop does once a burst is over.
    pub async fn flush_files(&mut self) {
        if let Some(config) = self.translator.config() {
            self.applier.flush_files(config).await;
        }
    }

    /// The master's `show proc`, retried while the master re-executes itself.
    pub async fn show_proc(&self) -> anyhow::Result<ProcList> {
        show_proc(&self.master).await
    }

    /// Reloads so far, as the master counts them.
    pub async fn reloads(&self) -> anyhow::Result<u32> {
        Ok(self.show_proc().await?.master.reloads)
    }

    /// Servers HAProxy has, over every backend.
    pub async fn server_count(&self) -> anyhow::Result<usize> {
        Ok(self.runtime.servers_state(None).await?.len())
    }

    /// Closes the runtime session (a soft-stopping worker waits for it) and soft-stops
    /// HAProxy through the supervisor.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.runtime.disconnect().await;
        drop(self.applier);
        let _ = self.stop.send(true);
        self.supervised.await??;
        Ok(())
    }
}

/// `show proc`, retried for up to 5 s (the master refuses connections while it re-executes
/// itself for a reload).
pub async fn show_proc(master: &MasterClient) -> anyhow::Result<ProcList> {
    integration::wait_for("show proc", Duration::from_secs(5), async || {
        Ok(master.show_proc().await?)
    })
    .await
}

/// `show servers state <backend>` by server name.
pub async fn servers_of(
    runtime: &RuntimeClient,
    backend: &BackendName,
) -> anyhow::Result<BTreeMap<String, ServerState>> {
    let rows = runtime.servers_state(Some(backend.clone())).await?;
    Ok(rows.into_iter().map(|r| (r.server.clone(), r)).collect())
}

// ---- a real agent process ----

// Each benchmark binary uses a different part of it.
#[allow(unused_imports)]
pub use integration::agent_proc::{
    AgentOptions, AgentProcess, haproxy_processes_with, is_live_haproxy, proc_status_kib, signal,
};
