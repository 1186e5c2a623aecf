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
//! Every change adds or removes exactly one endpoint: the slice grows from 2 to 101
//! endpoints and shrinks back, again and again (a removal is drained and deleted in the
//! same sync, as it has no connections). Reloads are counted by HAProxy's master, before
//! and after the agent's changes and after the baseline's.
//!
//! With `--policies true` the Ingress carries the policy-heavy ingress-nginx annotation set
//! (`common::POLICIES`).
//!
//! Run: `cargo bench -p haproxy-agent --bench sync -- [CHANGES] [BASELINE_CHANGES] [--policies true] [--json PATH]`

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use haproxy::config::render;
use haproxy_agent::source::manifests::ManifestsSource;
use haproxy_agent::store::{Object, Store};
use haproxy_agent::translate::translate;
use serde_json::json;
use tokio::sync::watch;

use common::{Args, EpState, Harness, Rule, Summary, ingress, ms, service, slice, to_yaml};

/// The most endpoints the slice reaches.
const TOP: usize = 101;

/// The Service and its Ingress (with the policy-heavy annotation set when `policies`).
fn web(policies: bool) -> Vec<Object> {
    let objects = vec![
        service("web", 80, 8080),
        ingress(
            "web",
            None,
            &[Rule {
                path: "/",
                service: "web",
                port: 80,
            }],
        ),
    ];
    common::with_policies(objects, policies)
}

/// The slice with `n` ready endpoints 127.0.x.y:8080 (nothing needs to listen: the
/// benchmark measures HAProxy's acknowledgement, not traffic).
fn web_slice(n: usize) -> Object {
    let eps: Vec<(IpAddr, EpState)> = (0..n)
        .map(|i| {
            let ip = IpAddr::from([127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8]);
            (ip, EpState::Ready)
        })
        .collect();
    slice("web-1", "web", 8080, &eps)
}

/// Endpoint count after change `i`: 2, 3, …, 101, 100, …, 3, 2, 3, … (the slice starts
/// with 1), so every change adds or removes exactly one.
fn count_after(i: usize) -> usize {
    let period = 2 * (TOP - 2);
    let k = i % period;
    if k < TOP - 2 { 2 + k } else { 2 + period - k }
}

/// P1 store: `changes` store updates of one endpoint each, each timed until HAProxy
/// acknowledged it (ms).
async fn store_changes(
    h: &mut Harness,
    states: &[Vec<Object>],
    changes: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut store_ms = Vec::with_capacity(changes);
    for i in 0..changes {
        let objects = states[count_after(i)].clone();
        let t0 = Instant::now();
        h.store.replace_all(objects);
        let report = h.sync().await?;
        store_ms.push(ms(t0.elapsed()));
        anyhow::ensure!(
            report.reloads.is_empty(),
            "an endpoint change reloaded: {:?}",
            report.reloads
        );
    }

    Ok(store_ms)
}

/// P1 file: the same through the manifests directory and notify, the slice's file
/// rewritten with `slice_files`.
async fn file_changes(
    h: &mut Harness,
    policies: bool,
    slice_files: &[String],
    changes: usize,
) -> anyhow::Result<Vec<f64>> {
    let manifests_dir = tempfile::Builder::new().prefix("bench-p1").tempdir()?;
    let manifests = manifests_dir.path();
    std::fs::write(manifests.join("web.yaml"), to_yaml(&web(policies))?)?;
    std::fs::write(manifests.join("slice.yaml"), &slice_files[1])?;
    let file_store = Store::new();
    let mut source = ManifestsSource::new(manifests.to_path_buf(), file_store.clone());
    source.scan();
    let (src_stop, src_rx) = watch::channel(false);
    let src_task = tokio::spawn(source.run(async move {
        let mut rx = src_rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    let mut rx = file_store.subscribe();
    h.follow(file_store.clone());
    h.sync().await?;
    let mut file_ms = Vec::with_capacity(changes);
    for i in 0..changes {
        let n = count_after(i);
        rx.borrow_and_update();
        let t0 = Instant::now();
        std::fs::write(manifests.join("slice.yaml"), &slice_files[n])?;
        loop {
            tokio::time::timeout(Duration::from_secs(5), rx.changed()).await??;
            let snap = rx.borrow_and_update().clone();
            let count = snap
                .endpoint_slices
                .values()
                .map(|s| s.endpoints.len())
                .sum::<usize>();
            if count == n {
                let report = h.sync().await?;
                anyhow::ensure!(
                    report.reloads.is_empty(),
                    "an endpoint change reloaded: {:?}",
                    report.reloads
                );
                break;
            }
        }
        file_ms.push(ms(t0.elapsed()));
    }
    let _ = src_stop.send(true);
    let _ = src_task.await;
    Ok(file_ms)
}

/// Baseline: `changes` changes, each rendered and loaded by a reload (ms).
async fn reload_changes(
    h: &mut Harness,
    states: &[Vec<Object>],
    changes: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut reload_ms = Vec::with_capacity(changes);
    for i in 0..changes {
        let objects = states[count_after(i)].clone();
        let t0 = Instant::now();
        h.store.replace_all(objects);
        let t = translate(&h.store.snapshot(), &h.settings).map_err(anyhow::Error::msg)?;
        h.reloader.reload(&render(&t.config)).await?;
        reload_ms.push(ms(t0.elapsed()));
    }
    Ok(reload_ms)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let changes = args.number(0, 1000)?;
    let baseline_changes = args.number(1, 20)?;
    let policies = args.named("policies") == Some("true");

    // Every state's objects, built before anything is timed.
    let states: Vec<Vec<Object>> = (0..=TOP)
        .map(|n| {
            let mut o = web(policies);
            o.push(web_slice(n));
            o
        })
        .collect();
    let slice_files: Vec<String> = (0..=TOP)
        .map(|n| to_yaml(&[web_slice(n)]))
        .collect::<anyhow::Result<_>>()?;

    let mut h = Harness::start(states[1].clone()).await?;
    let procs = h.show_proc().await?;
    let version = procs.master.version.clone();
    let reloads_start = procs.master.reloads;

    let store_ms = store_changes(&mut h, &states, changes).await?;
    let file_ms = file_changes(&mut h, policies, &slice_files, changes).await?;
    let reloads_agent = h.reloads().await? - reloads_start;

    let reload_ms = reload_changes(&mut h, &states, baseline_changes).await?;
    let reloads_baseline = h.reloads().await? - reloads_start - reloads_agent;
    h.stop().await?;

    let (s, f, b) = (
        Summary::of(&store_ms),
        Summary::of(&file_ms),
        Summary::of(&reload_ms),
    );
    eprintln!("HAProxy {version}; one endpoint change at a time");
    eprintln!("{}", s.line("store -> haproxy ack"));
    eprintln!("{}", f.line("file -> haproxy ack"));
    eprintln!("{}", b.line("baseline: reload per change"));
    eprintln!(
        "reloads counted by the master: {reloads_agent} over the agent's {} changes, \
         {reloads_baseline} over the baseline's {baseline_changes}",
        2 * changes
    );
    args.write_json(&json!({
        "haproxy_version": version,
        "changes": changes,
        "policies": policies,
        "store": common::summary_with_samples(&store_ms),
        "file": common::summary_with_samples(&file_ms),
        "baseline": common::summary_with_samples(&reload_ms),
        "reloads_agent": reloads_agent,
        "reloads_baseline": reloads_baseline,
    }))?;
    Ok(())
}
