//! Benchmark P1: time from a change to HAProxy's acknowledgement, one endpoint at a time,
//! side by side with the reload-per-change baseline in the same run.
//!
//! - store: an EndpointSlice updated in the object store -> translate -> plan -> runtime
//!   commands acknowledged by HAProxy (what the reconcile loop does on every wake-up);
//! - file: the EndpointSlice manifest rewritten on disk -> notify -> rescan -> store ->
//!   translate -> plan -> acknowledged (includes the manifests source's 30 ms holdoff);
//! - baseline: the same change applied the classic way: render, `haproxy -c`, reload, wait
//!   for the new worker.
//!
//! Run: `cargo bench -p haproxy-agent --bench sync -- [CHANGES] [BASELINE_CHANGES]`

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use haproxy::config::{ConfigWriter, render};
use haproxy::{Endpoint, MasterClient, Reloader, RuntimeClient, RuntimeConfig};
use haproxy_agent::apply::{Applier, ApplySettings};
use haproxy_agent::http::Status;
use haproxy_agent::source::manifests::{ManifestsSource, parse_manifests};
use haproxy_agent::spawn::{SpawnConfig, Supervisor};
use haproxy_agent::store::Store;
use haproxy_agent::translate::{Settings, translate};
use tokio::sync::watch;

const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: bench}
spec:
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: bench}
spec:
  ingressClassName: haproxy
  rules:
    - http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"#;

/// An EndpointSlice with `n` ready endpoints 127.0.x.y:8080 (nothing needs to listen: the
/// benchmark measures HAProxy's acknowledgement, not traffic).
fn slice(n: usize) -> String {
    let mut s = String::from(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n  namespace: bench\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nports: [{port: 8080}]\nendpoints:\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "  - addresses: [\"127.0.{}.{}\"]\n    conditions: {{ready: true}}\n",
            1 + i / 250,
            1 + i % 250
        ));
    }
    s
}

fn arg(n: usize, default: usize) -> anyhow::Result<usize> {
    match std::env::args().skip(1).filter(|a| a != "--bench").nth(n) {
        Some(s) => s
            .parse()
            .with_context(|| format!("argument {s:?} is not a number")),
        None => Ok(default),
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn summary(name: &str, mut v: Vec<Duration>) -> String {
    v.sort();
    let q = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{name:<28} n={:<5} p50={:>8.2} ms  p90={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        v.len(),
        ms(q(0.5)),
        ms(q(0.9)),
        ms(q(0.99)),
        ms(*v.last().unwrap())
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let changes = arg(0, 1000)?;
    let baseline_changes = arg(1, 20)?;
    let dir = tempfile::tempdir()?;
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests)?;
    std::fs::create_dir_all(dir.path().join("run"))?;
    let haproxy_bin = integration::haproxy_binary();
    let settings = Settings {
        ingress_class: "haproxy".into(),
        default_backend_service: None,
        watch_namespace: None,
        http_bind: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
        config_dir: dir.path().join("etc"),
        runtime_socket: dir.path().join("run/admin.sock"),
        hard_stop_after: Duration::from_secs(5),
    };
    let master_socket = dir.path().join("run/master.sock");
    let store = Store::new();
    let base = |n: usize| -> anyhow::Result<Vec<haproxy_agent::store::Object>> {
        let mut objects = parse_manifests(Path::new("service.yaml"), SERVICE)
            .map_err(|p| anyhow::anyhow!("{p}"))?;
        objects.extend(
            parse_manifests(Path::new("slice.yaml"), &slice(n))
                .map_err(|p| anyhow::anyhow!("{p}"))?,
        );
        Ok(objects)
    };
    store.replace_all(base(1)?);

    // HAProxy, supervised as `run --spawn-haproxy` does.
    let writer = ConfigWriter::new(settings.config_dir.clone(), haproxy_bin.clone());
    let first = translate(&store.snapshot(), &settings).map_err(anyhow::Error::msg)?;
    writer.install(&render(&first.config)).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let supervisor = Supervisor::new(SpawnConfig {
        binary: haproxy_bin.clone(),
        config: writer.config_path(),
        master_socket: master_socket.clone(),
        stop_timeout: Duration::from_secs(5),
    });
    let supervised = tokio::spawn(supervisor.run(stop_rx));
    let master = MasterClient::new(Endpoint::Unix(master_socket), Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(10);
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
        writer.clone(),
        master.clone(),
        runtime.clone(),
        Duration::from_secs(30),
    );
    let status = Status::new();
    let mut applier = Applier::new(
        runtime,
        master.clone(),
        reloader.clone(),
        Arc::clone(&status),
        ApplySettings {
            drain_timeout: Duration::from_secs(1),
            reload_timeout: Duration::from_secs(30),
        },
    );
    applier.assume_loaded(&first.config).await?;
    let version = master.show_proc().await?.master.version;

    // P1 store: add one endpoint per change (1 -> 2 -> … servers), then measure.
    let mut store_times = Vec::with_capacity(changes);
    for i in 0..changes {
        let n = 2 + (i % 200);
        store.replace_all(base(n)?);
        let t0 = Instant::now();
        let t = translate(&store.snapshot(), &settings).map_err(anyhow::Error::msg)?;
        let report = applier.sync(&t.config).await?;
        store_times.push(t0.elapsed());
        anyhow::ensure!(
            report.reloads.is_empty(),
            "an endpoint change reloaded: {:?}",
            report.reloads
        );
    }

    // P1 file: the same through the manifests directory and notify.
    std::fs::write(manifests.join("service.yaml"), SERVICE)?;
    std::fs::write(manifests.join("slice.yaml"), slice(1))?;
    let file_store = Store::new();
    let mut source = ManifestsSource::new(manifests.clone(), file_store.clone());
    source.scan();
    let (src_stop, src_rx) = watch::channel(false);
    let src_task = tokio::spawn(source.run(async move {
        let mut rx = src_rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    let mut rx = file_store.subscribe();
    let t = translate(&file_store.snapshot(), &settings).map_err(anyhow::Error::msg)?;
    applier.sync(&t.config).await?;
    let file_changes = changes.min(200);
    let mut file_times = Vec::with_capacity(file_changes);
    for i in 0..file_changes {
        let n = 2 + (i % 100);
        rx.borrow_and_update();
        let t0 = Instant::now();
        std::fs::write(manifests.join("slice.yaml"), slice(n))?;
        loop {
            tokio::time::timeout(Duration::from_secs(5), rx.changed()).await??;
            let snap = rx.borrow_and_update().clone();
            let count = snap
                .endpoint_slices
                .values()
                .map(|s| s.endpoints.len())
                .sum::<usize>();
            if count == n {
                let t = translate(&snap, &settings).map_err(anyhow::Error::msg)?;
                applier.sync(&t.config).await?;
                break;
            }
        }
        file_times.push(t0.elapsed());
    }
    let _ = src_stop.send(true);
    let _ = src_task.await;

    // Baseline: reload per change.
    let mut reload_times = Vec::with_capacity(baseline_changes);
    for i in 0..baseline_changes {
        store.replace_all(base(2 + i % 50)?);
        let t0 = Instant::now();
        let t = translate(&store.snapshot(), &settings).map_err(anyhow::Error::msg)?;
        reloader.reload(&render(&t.config)).await?;
        reload_times.push(t0.elapsed());
    }
    let reloads = master.show_proc().await?.master.reloads;

    println!("HAProxy {version}; one endpoint change at a time; 2-core machine");
    println!("{}", summary("store -> haproxy ack", store_times));
    println!("{}", summary("file -> haproxy ack", file_times));
    println!("{}", summary("baseline: reload per change", reload_times));
    println!(
        "reloads counted by the master: {reloads} (all from the baseline's {baseline_changes})"
    );

    let _ = stop_tx.send(true);
    let _ = supervised.await;
    Ok(())
}
