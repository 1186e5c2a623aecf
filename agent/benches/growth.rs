//! Benchmark P7: what one endpoint change costs as the cluster grows.
//!
//! For each size N (default 100, 1,000, 5,000, 10,000 and 20,000): N Services, each with an
//! EndpointSlice of 2 ready endpoints and an Ingress routing a host of its own to it (N
//! backends, 2N servers, N routes), loaded into a HAProxy supervised as `run --spawn-haproxy`
//! does. Then one Service's slice gains or loses its third endpoint, again and again:
//!
//! - **store**: the slice updated in the object store -> translate -> observe -> plan -> the
//!   runtime commands acknowledged by HAProxy (the reconcile loop's work for one wake-up);
//! - **file**: the Service's manifest file rewritten -> notify -> the manifests source's
//!   scan (its 30 ms burst holdoff included) -> store -> the same as above.
//!
//! Each path starts after one untimed sync (the first sync from a store translates and
//! reads everything, as the agent's first sync does). No change may reload (checked by
//! HAProxy's master). The config directory's files are
//! brought up to date after each change, outside the timed path, as the reconcile loop does.
//!
//! Run: `cargo bench -p haproxy-agent --bench growth -- [CHANGES] [SIZES...] [--json PATH]`

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::ensure;
use haproxy_agent::source::manifests::ManifestsSource;
use haproxy_agent::store::{Object, ObjectKey, Store};
use serde_json::{Value, json};
use tokio::sync::watch;

use common::{Args, Harness, Summary, ms, to_yaml};

/// Service `s`'s objects (see [`common::service_set`]).
fn service_objects(s: usize, endpoints: usize) -> Vec<Object> {
    common::service_set(s, endpoints)
}

/// Endpoints of the changing Service after change `i`: 3, 2, 3, 2, ...
fn endpoints_after(i: usize) -> usize {
    if i.is_multiple_of(2) { 3 } else { 2 }
}

/// The store path at one size.
async fn store_path(h: &mut Harness, target: usize, changes: usize) -> anyhow::Result<Vec<f64>> {
    let states: Vec<Vec<Object>> = (0..=3).map(|n| service_objects(target, n)).collect();
    let mut samples = Vec::with_capacity(changes);
    for i in 0..changes {
        let changed = states[endpoints_after(i)][1].clone();
        let t0 = Instant::now();
        h.store.upsert(changed);
        let report = h.sync().await?;
        samples.push(ms(t0.elapsed()));
        ensure!(
            report.reloads.is_empty(),
            "an endpoint change reloaded: {report:?}"
        );
        ensure!(report.commands > 0, "an endpoint change sent no command");
        h.flush_files().await;
    }
    Ok(samples)
}

/// The file path at one size: the manifests source follows `dir` into its own store.
async fn file_path(
    h: &mut Harness,
    dir: &Path,
    target: usize,
    changes: usize,
) -> anyhow::Result<Vec<f64>> {
    let texts: Vec<String> = (0..=3)
        .map(|n| to_yaml(&service_objects(target, n)))
        .collect::<anyhow::Result<_>>()?;
    let file = dir.join(format!("svc-{target}.yaml"));
    let store = Store::new();
    let mut source = ManifestsSource::new(dir.to_path_buf(), store.clone());
    source.scan();
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(source.run(async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    h.follow(store.clone());
    // The first sync from the new store translates everything (untimed, as at start-up).
    h.sync().await?;
    let mut rx = store.subscribe();
    let slice_key = ObjectKey::new(common::NS, format!("svc-{target}-1"));
    let mut samples = Vec::with_capacity(changes);
    let result = async {
        for i in 0..changes {
            let want = endpoints_after(i);
            rx.borrow_and_update();
            let t0 = Instant::now();
            std::fs::write(&file, &texts[want])?;
            loop {
                tokio::time::timeout(Duration::from_secs(10), rx.changed()).await??;
                let snap = rx.borrow_and_update().clone();
                let count = snap
                    .endpoint_slices
                    .get(&slice_key)
                    .map_or(0, |s| s.endpoints.len());
                if count == want {
                    let report = h.sync().await?;
                    ensure!(
                        report.reloads.is_empty(),
                        "an endpoint change reloaded: {report:?}"
                    );
                    break;
                }
            }
            samples.push(ms(t0.elapsed()));
            h.flush_files().await;
        }
        anyhow::Ok(())
    }
    .await;
    let _ = stop.send(true);
    let _ = task.await;
    result.map(|()| samples)
}

async fn one_size(services: usize, changes: usize) -> anyhow::Result<Value> {
    let mut all = Vec::with_capacity(3 * services);
    let dir = tempfile::Builder::new().prefix("bench-p7").tempdir()?;
    for s in 0..services {
        let objects = service_objects(s, 2);
        std::fs::write(dir.path().join(format!("svc-{s}.yaml")), to_yaml(&objects)?)?;
        all.extend(objects);
    }
    let started = Instant::now();
    let mut h = Harness::start(all).await?;
    let loaded_s = started.elapsed().as_secs_f64();
    let reloads_start = h.reloads().await?;
    let servers = h.server_count().await?;
    ensure!(
        servers == 2 * services,
        "haproxy has {servers} servers, not {}",
        2 * services
    );
    let target = services / 2;
    let store = store_path(&mut h, target, changes).await?;
    let file = file_path(&mut h, dir.path(), target, changes).await?;
    let reloads = h.reloads().await? - reloads_start;
    h.stop().await?;
    ensure!(reloads == 0, "{reloads} reloads during endpoint changes");
    let (s, f) = (Summary::of(&store), Summary::of(&file));
    eprintln!(
        "{services} Services ({} servers), loaded in {loaded_s:.1} s",
        2 * services
    );
    eprintln!("{}", s.line("  store -> haproxy ack"));
    eprintln!("{}", f.line("  file -> haproxy ack"));
    Ok(json!({
        "services": services,
        "servers": 2 * services,
        "store": common::summary_with_samples(&store),
        "file": common::summary_with_samples(&file),
        "reloads": reloads,
    }))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let changes = args.number(0, 51)?.max(2);
    let mut sizes = Vec::new();
    let mut i = 1;
    while let Some(p) = args.positional(i) {
        sizes.push(p.parse::<usize>()?);
        i += 1;
    }
    if sizes.is_empty() {
        sizes = vec![100, 1_000, 5_000, 10_000, 20_000];
    }
    ensure!(
        sizes.iter().all(|n| (2..=65_536).contains(n)),
        "sizes from 2 to 65536 Services"
    );
    let mut results = Vec::new();
    for n in sizes {
        results.push(one_size(n, changes).await?);
    }
    args.write_json(&json!({ "changes": changes, "sizes": results }))?;
    Ok(())
}
