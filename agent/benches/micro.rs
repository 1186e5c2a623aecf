//! In-process micro-benchmarks of one sync's pure work at 5,000 Ingresses, without HAProxy:
//! a full translation, an incremental one after one endpoint change, planning against a
//! converged HAProxy (whole and scoped to one backend), rendering haproxy.cfg and the maps,
//! and the structural fingerprints. They guard the cost per sync where a change to
//! translation or planning would show first; the end-to-end figures are P6 and P7.
//!
//! Run: `cargo bench -p haproxy-agent --bench micro` (divan; `-- --sample-count N` etc.).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use divan::Bencher;
use haproxy::config::{AclEntries, Config, MapEntries, Sections, render, structure};
use haproxy::proto::parse::ServerAdmin;
use haproxy_agent::reconcile::{
    self, Desired, LiveServer, Observed, Plan, PlanSettings, Scope, StructureView,
};
use haproxy_agent::store::{Object, Store};
use haproxy_agent::translate::{Incremental, Settings, Translation, translate};

/// Ingresses (each with its Service and a slice of 2 endpoints).
const INGRESSES: usize = 5_000;

fn main() {
    divan::main();
}

/// The objects of [`INGRESSES`] Services (see [`common::service_set`]).
fn objects(endpoints_of_first: usize) -> Vec<Object> {
    (0..INGRESSES)
        .flat_map(|s| common::service_set(s, if s == 0 { endpoints_of_first } else { 2 }))
        .collect()
}

fn settings() -> Settings {
    // Nothing is written: the directory only names the files.
    common::settings(&PathBuf::from("/nonexistent/micro-bench"))
}

/// A store holding the world, and one translation of it.
fn world() -> (Store, Settings, Translation) {
    let store = Store::new();
    store.replace_all(objects(2));
    let settings = settings();
    let t = translate(&store.snapshot(), &settings).expect("a translation");
    (store, settings, t)
}

/// What HAProxy has once it runs `config` exactly.
fn converged(config: &Config) -> Observed {
    let servers = config
        .backends
        .iter()
        .map(|(name, b)| {
            let live = b.servers.iter().map(|(sn, s)| {
                let l = LiveServer {
                    addr: Some(s.addr.get()),
                    weight: u32::from(s.weight.get()),
                    admin: ServerAdmin(0),
                    sessions: None,
                };
                (sn.clone(), l)
            });
            (name.clone(), live.collect())
        })
        .collect();
    let mut o = Observed {
        loaded_structure: Some(structure(config).as_str().to_string()),
        backends: config.backends.keys().cloned().collect(),
        servers,
        ..Default::default()
    };
    o.maps.entries = MapEntries::of_routes(&config.routes);
    o.acls.entries = AclEntries::of_lists(&config.source_lists);
    o
}

/// Benchmarks `plan` after checking once that it plans nothing (a converged HAProxy).
fn bench_converged(b: Bencher, plan: impl Fn() -> Plan) {
    let converged = matches!(plan(), Plan::Runtime(r) if r.is_converged());
    assert!(converged, "the benchmark plans against a converged HAProxy");
    b.bench_local(plan);
}

const PLAN: PlanSettings = PlanSettings {
    drain_timeout: Duration::from_secs(30),
};

#[divan::bench(sample_count = 10)]
fn translate_full(b: Bencher) {
    let (store, settings, _) = world();
    let snapshot = store.snapshot();
    b.bench_local(|| translate(&snapshot, &settings).expect("a translation"));
}

/// One Service's slice gains or loses an endpoint, then the incremental translator runs.
#[divan::bench(sample_count = 50)]
fn translate_one_endpoint_change(b: Bencher) {
    let (store, settings, t) = world();
    let mut inc = Incremental::new(settings, t.certs.clone());
    drop(inc.translate(&store.snapshot()).expect("a translation"));
    let mut endpoints = 2;
    b.bench_local(|| {
        endpoints = if endpoints == 2 { 3 } else { 2 };
        let slice = common::service_set(0, endpoints).swap_remove(1);
        store.apply([slice], None);
        let t = inc.translate(&store.snapshot()).expect("a translation");
        assert_eq!(t.changed.backends.len(), 1, "one backend changed");
    });
}

#[divan::bench(sample_count = 20)]
fn plan_everything_converged(b: Bencher) {
    let (_, _, t) = world();
    let observed = converged(&t.config);
    let desired = structure(&t.config);
    let plan = || {
        reconcile::plan(
            &t.config,
            desired.as_str(),
            &observed,
            &BTreeMap::new(),
            Instant::now(),
            PLAN,
        )
    };
    bench_converged(b, plan);
}

/// The plan of one sync after one backend changed: scoped to that backend.
#[divan::bench(sample_count = 50)]
fn plan_one_backend(b: Bencher) {
    let (_, _, t) = world();
    let observed = converged(&t.config);
    let sections = Sections::of_config(&t.config);
    let backend = t.config.backends.keys().next().expect("a backend").clone();
    let scope = Scope {
        backends: [backend].into(),
        ..Default::default()
    };
    let plan = || {
        reconcile::plan_scoped(
            Desired::from(&t),
            StructureView {
                loaded: Some(&sections),
                desired: &sections,
            },
            &observed,
            &scope,
            &BTreeMap::new(),
            Instant::now(),
            PLAN,
        )
    };
    bench_converged(b, plan);
}

#[divan::bench(sample_count = 10)]
fn render_config_and_maps(b: Bencher) {
    let (_, _, t) = world();
    b.bench_local(|| render(&t.config));
}

#[divan::bench(sample_count = 20)]
fn structure_fingerprints(b: Bencher) {
    let (_, _, t) = world();
    b.bench_local(|| Sections::of_config(&t.config));
}
