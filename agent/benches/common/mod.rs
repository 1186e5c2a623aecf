//! Shared by the benchmarks: arguments, percentiles and JSON output; Kubernetes object
//! builders (typed, and as manifest YAML); an in-process agent ([`Harness`]: store ->
//! translate -> `Applier::sync` against a HAProxy supervised as `run --spawn-haproxy` does);
//! and a real `haproxy-agent run` process ([`AgentProcess`]) stopped by pid.

// Each benchmark binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use haproxy::config::{ConfigWriter, render};
use haproxy::proto::ProcList;
use haproxy::proto::parse::ServerState;
use haproxy::{BackendName, Endpoint, MasterClient, Reloader, RuntimeClient, RuntimeConfig};
use haproxy_agent::apply::{Applier, ApplySettings, SyncReport};
use haproxy_agent::http::Status;
use haproxy_agent::reconcile::{Desired, Scope};
use haproxy_agent::spawn::{SpawnConfig, Supervisor};
use haproxy_agent::store::{Object, Store, with_type_meta};
use haproxy_agent::translate::{Incremental, Settings, translate};
use k8s_openapi::api::core::v1::{Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{
    Endpoint as SliceEndpoint, EndpointConditions, EndpointPort, EndpointSlice,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;

// ---- arguments and output ----

/// The command line of a benchmark: positional numbers, `--name value` options, and the
/// `--bench` flag cargo adds (ignored).
#[derive(Debug, Default)]
pub struct Args {
    positional: Vec<String>,
    named: BTreeMap<String, String>,
}

impl Args {
    /// Parses `std::env::args()`.
    pub fn parse() -> anyhow::Result<Args> {
        let mut out = Args::default();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if a == "--bench" {
                continue;
            }
            if let Some(name) = a.strip_prefix("--") {
                let value = it
                    .next()
                    .with_context(|| format!("option --{name} needs a value"))?;
                out.named.insert(name.to_string(), value);
            } else {
                out.positional.push(a);
            }
        }
        Ok(out)
    }

    /// Positional argument `n` as a number, or `default`.
    pub fn number(&self, n: usize, default: usize) -> anyhow::Result<usize> {
        match self.positional.get(n) {
            Some(s) => s
                .parse()
                .with_context(|| format!("argument {s:?} is not a number")),
            None => Ok(default),
        }
    }

    /// Positional argument `n` as given.
    pub fn positional(&self, n: usize) -> Option<String> {
        self.positional.get(n).cloned()
    }

    /// The value of `--name`.
    pub fn named(&self, name: &str) -> Option<&str> {
        self.named.get(name).map(String::as_str)
    }

    /// `--name`'s path, else `default_name` beside the benchmark's own target directory
    /// (`target/release/deps/<bench>` -> `target/release/<default_name>`).
    pub fn binary(&self, name: &str, default_name: &str) -> anyhow::Result<PathBuf> {
        if let Some(p) = self.named(name) {
            return Ok(PathBuf::from(p));
        }
        integration::agent_proc::built_binary(default_name)
            .with_context(|| format!("cargo build --release, or pass --{name} PATH"))
    }

    /// Writes `value` to `--json PATH`, or prints it on stdout without the option.
    pub fn write_json(&self, value: &Value) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        match self.named("json") {
            Some(path) => {
                std::fs::write(path, text + "\n").with_context(|| format!("write {path}"))
            }
            None => {
                println!("{text}");
                Ok(())
            }
        }
    }
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Rounds to three decimals (for JSON).
pub fn r3(x: f64) -> f64 {
    round(x, 3)
}

/// Rounds to `decimals` decimals (for JSON: the result prints as its shortest form).
pub fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// Nearest-rank percentiles of samples in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Summary {
    /// Summarizes `samples` (milliseconds); all zero when empty.
    pub fn of(samples: &[f64]) -> Summary {
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Summary {
                n: 0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                max: 0.0,
            };
        }
        let q = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
        Summary {
            n: v.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: v[v.len() - 1],
        }
    }

    /// One line for people.
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<34} n={:<5} p50={:>9.2} ms  p90={:>9.2} ms  p99={:>9.2} ms  max={:>9.2} ms",
            self.n, self.p50, self.p90, self.p99, self.max
        )
    }

    /// `{"n", "p50_ms", "p90_ms", "p99_ms", "max_ms"}`.
    pub fn json(&self) -> Value {
        json!({
            "n": self.n,
            "p50_ms": r3(self.p50),
            "p90_ms": r3(self.p90),
            "p99_ms": r3(self.p99),
            "max_ms": r3(self.max),
        })
    }
}

/// The summary's JSON plus the samples themselves (rounded to microseconds).
pub fn summary_with_samples(samples: &[f64]) -> Value {
    let mut v = Summary::of(samples).json();
    v["samples_ms"] = samples.iter().map(|s| r3(*s)).collect();
    v
}

/// The median of `v` (0 when empty).
pub fn median(v: &[f64]) -> f64 {
    Summary::of(v).p50
}

// ---- objects ----

/// The namespace of every benchmark object.
pub const NS: &str = "bench";

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(NS.to_string()),
        ..Default::default()
    }
}

/// Service `name` with one unnamed port `port` -> `target`.
pub fn service(name: &str, port: i32, target: i32) -> Object {
    Object::Service(Service {
        metadata: meta(name),
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                port,
                target_port: Some(IntOrString::Int(target)),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// One Ingress path: `path` (Prefix) -> Service `service` port `port`.
pub struct Rule<'a> {
    /// The path.
    pub path: &'a str,
    /// The Service.
    pub service: &'a str,
    /// Its port number.
    pub port: i32,
}

/// Ingress `name` of class `haproxy`: one rule for `host` (any host when `None`) with
/// `paths`, all `Prefix`.
pub fn ingress(name: &str, host: Option<&str>, paths: &[Rule<'_>]) -> Object {
    let paths = paths
        .iter()
        .map(|p| HTTPIngressPath {
            path: Some(p.path.to_string()),
            path_type: "Prefix".to_string(),
            backend: IngressBackend {
                service: Some(IngressServiceBackend {
                    name: p.service.to_string(),
                    port: Some(ServiceBackendPort {
                        number: Some(p.port),
                        name: None,
                    }),
                }),
                resource: None,
            },
        })
        .collect();
    Object::Ingress(Ingress {
        metadata: meta(name),
        spec: Some(IngressSpec {
            ingress_class_name: Some("haproxy".to_string()),
            rules: Some(vec![IngressRule {
                host: host.map(str::to_string),
                http: Some(HTTPIngressRuleValue { paths }),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// A `kubernetes.io/tls` Secret `name` holding `cert`'s certificate and key.
pub fn tls_secret(name: &str, cert: &integration::tls::TestCert) -> Object {
    let bytes = |s: String| k8s_openapi::ByteString(s.into_bytes());
    Object::Secret(Secret {
        metadata: meta(name),
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(
            [
                ("tls.crt".to_string(), bytes(cert.cert_pem())),
                ("tls.key".to_string(), bytes(cert.key_pem())),
            ]
            .into(),
        ),
        ..Default::default()
    })
}

/// `ingress` with `spec.tls` for `hosts` from Secret `secret`.
pub fn with_tls(mut ingress: Object, hosts: &[&str], secret: &str) -> Object {
    if let Object::Ingress(i) = &mut ingress
        && let Some(spec) = i.spec.as_mut()
    {
        spec.tls = Some(vec![k8s_openapi::api::networking::v1::IngressTLS {
            hosts: Some(hosts.iter().map(|h| h.to_string()).collect()),
            secret_name: Some(secret.to_string()),
        }]);
    }
    ingress
}

/// An endpoint's conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpState {
    /// Ready.
    Ready,
    /// Terminating but still serving (ready: false, serving: true, terminating: true).
    Terminating,
}

/// EndpointSlice `name` of Service `service`, port `port`, with `endpoints`.
pub fn slice(name: &str, service: &str, port: i32, endpoints: &[(IpAddr, EpState)]) -> Object {
    let endpoints = endpoints
        .iter()
        .map(|(ip, state)| SliceEndpoint {
            addresses: vec![ip.to_string()],
            conditions: Some(match state {
                EpState::Ready => EndpointConditions {
                    ready: Some(true),
                    serving: Some(true),
                    terminating: Some(false),
                },
                EpState::Terminating => EndpointConditions {
                    ready: Some(false),
                    serving: Some(true),
                    terminating: Some(true),
                },
            }),
            ..Default::default()
        })
        .collect();
    let mut m = meta(name);
    m.labels = Some(
        [(
            "kubernetes.io/service-name".to_string(),
            service.to_string(),
        )]
        .into(),
    );
    Object::EndpointSlice(EndpointSlice {
        metadata: m,
        address_type: "IPv4".to_string(),
        ports: Some(vec![EndpointPort {
            port: Some(port),
            ..Default::default()
        }]),
        endpoints,
    })
}

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

/// The objects as one multi-document manifest file.
pub fn to_yaml(objects: &[Object]) -> anyhow::Result<String> {
    let mut docs = Vec::with_capacity(objects.len());
    for o in objects {
        docs.push(match o {
            Object::Ingress(x) => serde_yaml_ng::to_string(x)?,
            Object::IngressClass(x) => serde_yaml_ng::to_string(x)?,
            Object::Service(x) => serde_yaml_ng::to_string(x)?,
            Object::EndpointSlice(x) => serde_yaml_ng::to_string(x)?,
            Object::Secret(x) => serde_yaml_ng::to_string(x)?,
            Object::ConfigMap(x) => serde_yaml_ng::to_string(x)?,
            Object::GatewayClass(x) => serde_yaml_ng::to_string(&with_type_meta(x))?,
            Object::Gateway(x) => serde_yaml_ng::to_string(&with_type_meta(x))?,
            Object::HttpRoute(x) => serde_yaml_ng::to_string(&with_type_meta(x))?,
            Object::ReferenceGrant(x) => serde_yaml_ng::to_string(&with_type_meta(x))?,
            Object::Namespace(x) => serde_yaml_ng::to_string(x)?,
        });
    }
    Ok(docs.join("---\n"))
}

/// Writes a file atomically (a temp name the manifests source ignores, then a rename).
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

// ---- the in-process agent ----

/// Settings like `run`'s, on a free loopback port, with everything under `dir`.
pub fn settings(dir: &Path) -> Settings {
    Settings {
        ingress_class: "haproxy".into(),
        default_backend_service: None,
        watch_namespace: None,
        http_bind: SocketAddr::from(([127, 0, 0, 1], integration::free_port())),
        config_dir: dir.join("etc"),
        runtime_socket: dir.join("run/admin.sock"),
        hard_stop_after: Duration::from_secs(5),
        https_bind: SocketAddr::from(([127, 0, 0, 1], 1)),
        default_cert: haproxy_agent::certs::self_signed("default").unwrap().into(),
        default_ssl_certificate: None,
        trusted_proxies: Vec::new(),
        configmap: None,
        use_proxy_protocol: false,
        // No access log: the figures stay comparable with earlier runs.
        access_log: None,
        tcp_services: None,
        tcp_bind: None,
        gateway_controller_name: haproxy_agent::translate::gateway::DEFAULT_CONTROLLER.to_string(),
        gateway_address_pool: Vec::new(),
        udp_services: None,
        ssl_passthrough: false,
        agent_listen: Vec::new(),
    }
}

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
