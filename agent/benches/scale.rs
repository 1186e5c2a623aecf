//! Benchmark P6: 5,000 Ingresses. Full translate + render time, and one incremental change.
//!
//! The objects: 5,000 Ingresses, each routing a host of its own (`h<i>.bench.example`, path
//! `/`, Prefix) to one of 1,000 Services (`svc-<i % 1000>`), each Service with an
//! EndpointSlice of 2 ready endpoints: 5,000 routes, 1,000 backends, 2,000 servers.
//!
//! - **full**: `translate` of the whole store snapshot, then `render` of haproxy.cfg and the
//!   maps (what a start-up or a reload costs in the agent before HAProxy is involved);
//!   repeated, median reported, with translate and render also timed apart.
//! - **incremental**: one Ingress's path changes (`/` <-> `/v2`) in the store; the time from
//!   the store update through translate, observe, plan, the map commands (`del map`, `add
//!   map`) acknowledged by HAProxy and the config and maps written back, on a HAProxy
//!   supervised as `run --spawn-haproxy` does and loaded with all of the above. Repeated,
//!   median reported; none may reload.
//!
//! With `--policies true` every Ingress also carries a policy-heavy set of ingress-nginx
//! annotations (rewrite, headers, body size, limits, CORS, timeouts): the same figures with
//! those features in use.
//!
//! Run: `cargo bench -p haproxy-agent --bench scale -- [INGRESSES] [SERVICES] [REPEATS] [--policies true] [--json PATH]`

mod common;

use std::net::IpAddr;
use std::time::Instant;

use anyhow::ensure;
use haproxy::config::render;
use haproxy_agent::store::{Object, Store};
use haproxy_agent::translate::translate;
use serde_json::json;

use common::{Args, EpState, Harness, POLICIES, Rule, Summary, ingress, ms, service, slice};

fn one_ingress(i: usize, services: usize, path: &str, policies: bool) -> Object {
    let host = format!("h{i}.bench.example");
    let svc = format!("svc-{}", i % services);
    let mut o = ingress(
        &format!("ing-{i}"),
        Some(&host),
        &[Rule {
            path,
            service: &svc,
            port: 80,
        }],
    );
    if let (true, Object::Ingress(ing)) = (policies, &mut o) {
        ing.metadata.annotations = Some(
            POLICIES
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
    }
    o
}

fn objects(ingresses: usize, services: usize, policies: bool) -> Vec<Object> {
    let mut out = Vec::with_capacity(ingresses + 2 * services);
    for s in 0..services {
        let name = format!("svc-{s}");
        out.push(service(&name, 80, 8080));
        let eps: Vec<(IpAddr, EpState)> = (0..2)
            .map(|e| {
                let ip = IpAddr::from([10, (s / 256) as u8, (s % 256) as u8, e + 1]);
                (ip, EpState::Ready)
            })
            .collect();
        out.push(slice(&format!("{name}-1"), &name, 8080, &eps));
    }
    for i in 0..ingresses {
        out.push(one_ingress(i, services, "/", policies));
    }
    out
}

/// The full translate + render runs' times (ms), and the sizes of the last one.
struct Full {
    full: Vec<f64>,
    translate_ms: Vec<f64>,
    render_ms: Vec<f64>,
    /// Routes, backends, haproxy.cfg bytes, map bytes.
    size: (usize, usize, usize, usize),
}

/// Full translate + render of `all`, in-process, at most 11 times.
fn full_runs(all: Vec<Object>, repeats: usize) -> anyhow::Result<Full> {
    let store = Store::new();
    store.replace_all(all);
    let snapshot = store.snapshot();
    let dir = tempfile::Builder::new().prefix("bench-p6").tempdir()?;
    let settings = common::settings(dir.path());
    let (mut full, mut translate_ms, mut render_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut size = (0, 0, 0, 0);
    for _ in 0..repeats.min(11) {
        let t0 = Instant::now();
        let t = translate(&snapshot, &settings).map_err(anyhow::Error::msg)?;
        let t1 = Instant::now();
        let rendered = render(&t.config);
        let t2 = Instant::now();
        full.push(ms(t2 - t0));
        translate_ms.push(ms(t1 - t0));
        render_ms.push(ms(t2 - t1));
        ensure!(t.problems.is_empty(), "problems: {:?}", t.problems);
        size = (
            t.config.routes.len(),
            t.config.backends.len(),
            rendered.haproxy_cfg.len(),
            rendered.maps.values().map(String::len).sum::<usize>(),
        );
    }
    Ok(Full {
        full,
        translate_ms,
        render_ms,
        size,
    })
}

/// One incremental change against a real HAProxy, `repeats` times: the Ingress `changed`
/// gives, its path alternating between `/v2` and `/`. Returns the times (ms), the runtime
/// commands of the last change and the reloads counted.
async fn incremental_runs(
    all: Vec<Object>,
    repeats: usize,
    changed: impl Fn(&str) -> Object,
) -> anyhow::Result<(Vec<f64>, usize, u32)> {
    let mut h = Harness::start(all).await?;
    let reloads_start = h.reloads().await?;
    let mut incremental = Vec::with_capacity(repeats);
    let mut commands = 0;
    for k in 0..repeats {
        let path = if k % 2 == 0 { "/v2" } else { "/" };
        let changed = changed(path);
        let t0 = Instant::now();
        h.store.upsert(changed);
        let report = h.sync().await?;
        incremental.push(ms(t0.elapsed()));
        ensure!(
            report.reloads.is_empty(),
            "a route change reloaded: {report:?}"
        );
        ensure!(report.commands > 0, "a route change sent no command");
        commands = report.commands;
    }
    let reloads = h.reloads().await? - reloads_start;
    h.stop().await?;
    Ok((incremental, commands, reloads))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let ingresses = args.number(0, 5000)?;
    let services = args.number(1, 1000)?.clamp(1, 65_536);
    let repeats = args.number(2, 21)?.max(1);
    let policies = args.named("policies") == Some("true");
    let all = objects(ingresses, services, policies);

    let Full {
        full,
        translate_ms,
        render_ms,
        size,
    } = full_runs(all.clone(), repeats)?;
    let (routes, backends, cfg_bytes, map_bytes) = size;
    ensure!(
        routes == ingresses,
        "{routes} routes for {ingresses} ingresses"
    );

    let target = ingresses / 2;
    let changed = |path: &str| one_ingress(target, services, path, policies);
    let (incremental, commands, reloads) = incremental_runs(all, repeats, changed).await?;

    let (f, tr, re, inc) = (
        Summary::of(&full),
        Summary::of(&translate_ms),
        Summary::of(&render_ms),
        Summary::of(&incremental),
    );
    eprintln!(
        "{ingresses} Ingresses{} -> {routes} routes, {backends} backends; haproxy.cfg {cfg_bytes} bytes, maps {map_bytes} bytes",
        if policies { " with policies" } else { "" }
    );
    eprintln!("{}", f.line("full translate + render"));
    eprintln!("{}", tr.line("  of which translate"));
    eprintln!("{}", re.line("  of which render"));
    eprintln!("{}", inc.line("incremental: store -> haproxy ack"));
    eprintln!("runtime commands per incremental change: {commands}; reloads: {reloads}");
    args.write_json(&json!({
        "ingresses": ingresses,
        "services": services,
        "policies": policies,
        "routes": routes,
        "backends": backends,
        "haproxy_cfg_bytes": cfg_bytes,
        "map_bytes": map_bytes,
        "full": common::summary_with_samples(&full),
        "translate": common::summary_with_samples(&translate_ms),
        "render": common::summary_with_samples(&render_ms),
        "incremental": common::summary_with_samples(&incremental),
        "incremental_commands": commands,
        "reloads": reloads,
    }))?;
    Ok(())
}
