//! The soak's objects and what HAProxy must hold for them: Services `svc-NN` with one
//! EndpointSlice each, an Ingress routing `/svc-NN` to each, and a canary Ingress splitting
//! `canary.soak` between `svc-00` and `svc-01` by weight; random churn over them; and where
//! they are written (manifest files, or the test API server). The desired servers are
//! computed here from the objects as written, not by the agent's translation.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use haproxy_agent::store::{Object, with_type_meta};
use haproxy_agent::translate::canary;
use integration::KubeApi;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::common::{EpState, NS, Rule, ingress, service, slice, to_yaml, write_atomic};

/// The Services' target port: every server is `<pod ip>:8080`.
pub const TARGET_PORT: u16 = 8080;
/// The canary Ingress's host.
pub const CANARY_HOST: &str = "canary.soak";

/// splitmix64: small, seeded, good enough to pick churn steps and delays.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[lo, hi]`.
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_micros() as u64;
        lo + Duration::from_micros(self.next_u64() % (span + 1))
    }
}

/// What one server in HAProxy must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// Address and port.
    pub addr: SocketAddr,
    /// Ready (else draining: a terminating endpoint).
    pub ready: bool,
    /// Weight.
    pub weight: u32,
}

/// Backend name -> server name -> what it must be.
pub type Desired = BTreeMap<String, BTreeMap<String, Want>>;

/// What a churn step changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The EndpointSlice of Service `i` (changed, created or deleted).
    Slice(usize),
    /// The canary Ingress's weight.
    Canary,
}

/// The objects' current state.
#[derive(Debug, Clone)]
pub struct World {
    /// Number of Services.
    pub services: usize,
    /// Addresses each Service's endpoints are drawn from.
    pub pool: usize,
    /// Most endpoints a slice grows to.
    pub max_endpoints: usize,
    /// Each Service's slice: `None` when deleted.
    pub slices: Vec<Option<Vec<(IpAddr, EpState)>>>,
    /// The canary's share, percent.
    pub canary_weight: u8,
}

/// Pod address `k` of Service `svc`: `10.<1 + svc / 256>.<svc % 256>.<1 + k>`.
pub fn pod_ip(svc: usize, k: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        10,
        1 + (svc / 256) as u8,
        (svc % 256) as u8,
        1 + k as u8,
    ))
}

fn svc_name(i: usize) -> String {
    format!("svc-{i:02}")
}

fn backend_of(i: usize) -> String {
    format!("{NS}_{}_80", svc_name(i))
}

/// The canary backend: `<primary backend>_canary_<canary service>`.
pub fn canary_backend() -> String {
    format!("{}_canary_{}", backend_of(0), svc_name(1))
}

fn server_of(ip: IpAddr) -> (String, SocketAddr) {
    let addr = SocketAddr::new(ip, TARGET_PORT);
    (addr.to_string(), addr)
}

impl World {
    /// `services` Services (at least 2) with `endpoints` ready endpoints each, drawn from
    /// `pool` addresses per Service (at most 250), growing to at most `max_endpoints`.
    pub fn new(services: usize, endpoints: usize, pool: usize, max_endpoints: usize) -> World {
        assert!(services >= 2 && pool <= 250 && endpoints <= max_endpoints);
        let slices = (0..services)
            .map(|i| {
                Some(
                    (0..endpoints)
                        .map(|k| (pod_ip(i, k), EpState::Ready))
                        .collect(),
                )
            })
            .collect();
        World {
            services,
            pool,
            max_endpoints,
            slices,
            canary_weight: 20,
        }
    }

    /// Endpoints in every slice, together.
    pub fn endpoint_count(&self) -> usize {
        self.slices.iter().flatten().map(Vec::len).sum()
    }

    fn static_objects(&self) -> Vec<Object> {
        let names: Vec<String> = (0..self.services).map(svc_name).collect();
        let paths: Vec<String> = names.iter().map(|n| format!("/{n}")).collect();
        let rules: Vec<Rule<'_>> = names
            .iter()
            .zip(&paths)
            .map(|(n, p)| Rule {
                path: p,
                service: n,
                port: 80,
            })
            .collect();
        let mut out: Vec<Object> = names
            .iter()
            .map(|n| service(n, 80, i32::from(TARGET_PORT)))
            .collect();
        out.push(ingress("soak", None, &rules));
        out
    }

    fn canary_object(&self) -> Object {
        let mut obj = ingress(
            "soak-canary",
            Some(CANARY_HOST),
            &[Rule {
                path: "/",
                service: &svc_name(0),
                port: 80,
            }],
        );
        if let Object::Ingress(i) = &mut obj {
            i.metadata.annotations = Some(
                [
                    ("haproxy-agent.io/canary-service".to_string(), svc_name(1)),
                    (
                        "haproxy-agent.io/canary-weight".to_string(),
                        self.canary_weight.to_string(),
                    ),
                ]
                .into(),
            );
        }
        obj
    }

    fn slice_object(&self, i: usize) -> Option<Object> {
        let eps = self.slices[i].as_ref()?;
        let name = svc_name(i);
        Some(slice(
            &format!("{name}-1"),
            &name,
            i32::from(TARGET_PORT),
            eps,
        ))
    }

    /// Every object, as they are now.
    pub fn objects(&self) -> Vec<Object> {
        let mut out = self.static_objects();
        out.push(self.canary_object());
        out.extend((0..self.services).filter_map(|i| self.slice_object(i)));
        out
    }

    /// One random change: an endpoint added, removed, or turned terminating or back ready;
    /// a slice deleted or created again; or the canary weight changed.
    pub fn step(&mut self, rng: &mut Rng) -> Change {
        let roll = rng.below(100);
        if roll < 8 {
            self.canary_weight = (rng.below(21) * 5) as u8;
            return Change::Canary;
        }
        let i = rng.below(self.services);
        let pool = self.pool;
        let max = self.max_endpoints;
        let Some(eps) = self.slices[i].as_mut() else {
            // Deleted: created again with one to three endpoints.
            let n = 1 + rng.below(3);
            let start = rng.below(pool);
            self.slices[i] = Some(
                (0..n)
                    .map(|j| (pod_ip(i, (start + j) % pool), EpState::Ready))
                    .collect(),
            );
            return Change::Slice(i);
        };
        match roll {
            8..=12 => self.slices[i] = None,
            13..=52 if eps.len() < max => {
                let used: Vec<IpAddr> = eps.iter().map(|e| e.0).collect();
                let free: Vec<usize> = (0..pool)
                    .filter(|k| !used.contains(&pod_ip(i, *k)))
                    .collect();
                if !free.is_empty() {
                    eps.push((pod_ip(i, free[rng.below(free.len())]), EpState::Ready));
                }
            }
            _ if roll < 85 && !eps.is_empty() => {
                eps.remove(rng.below(eps.len()));
            }
            _ if !eps.is_empty() => {
                let e = rng.below(eps.len());
                eps[e].1 = match eps[e].1 {
                    EpState::Ready => EpState::Terminating,
                    EpState::Terminating => EpState::Ready,
                };
            }
            _ => eps.push((pod_ip(i, rng.below(pool)), EpState::Ready)),
        }
        Change::Slice(i)
    }

    /// A big change at once (a rollout of every Service): in every slice, each endpoint is
    /// replaced by an unused address with probability 1/2. Deleted slices come back.
    pub fn replace_half(&mut self, rng: &mut Rng) -> Vec<Change> {
        let pool = self.pool;
        for (i, s) in self.slices.iter_mut().enumerate() {
            let eps = s.get_or_insert_with(Vec::new);
            let mut used: Vec<IpAddr> = eps.iter().map(|e| e.0).collect();
            for e in eps.iter_mut() {
                if rng.below(2) == 0 {
                    let free: Vec<usize> = (0..pool)
                        .filter(|k| !used.contains(&pod_ip(i, *k)))
                        .collect();
                    if !free.is_empty() {
                        let ip = pod_ip(i, free[rng.below(free.len())]);
                        used.push(ip);
                        *e = (ip, EpState::Ready);
                    }
                }
            }
        }
        (0..self.services).map(Change::Slice).collect()
    }

    /// The servers HAProxy must hold: one backend per Service with a server per endpoint
    /// (weight 1, draining when terminating), and the canary backend with both Services'
    /// endpoints weighted so the canary side gets its share (`canary::weights`).
    pub fn desired(&self) -> Desired {
        let eps = |i: usize| self.slices[i].as_deref().unwrap_or_default();
        let servers = |i: usize, weight: u32| -> BTreeMap<String, Want> {
            eps(i)
                .iter()
                .map(|(ip, state)| {
                    let (name, addr) = server_of(*ip);
                    let ready = *state == EpState::Ready;
                    (
                        name,
                        Want {
                            addr,
                            ready,
                            weight,
                        },
                    )
                })
                .collect()
        };
        let mut out: Desired = (0..self.services)
            .map(|i| (backend_of(i), servers(i, 1)))
            .collect();
        let ready = |i: usize| eps(i).iter().filter(|e| e.1 == EpState::Ready).count();
        let (wp, wc) = canary::weights(self.canary_weight, ready(0), ready(1));
        let mut both = servers(1, u32::from(wc));
        both.extend(servers(0, u32::from(wp)));
        out.insert(canary_backend(), both);
        out
    }
}

/// Fails unless the agent's own translation of `world`'s objects asks for exactly
/// [`World::desired`]: a guard against the soak's computation being wrong (or the objects
/// having a problem), checked on a few worlds before the faults start.
pub fn cross_check(world: &World, rng: &mut Rng) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let settings = crate::common::settings(dir.path());
    let mut w = world.clone();
    for round in 0..50 {
        let store = haproxy_agent::store::Store::new();
        store.replace_all(w.objects());
        let t = haproxy_agent::translate::translate(&store.snapshot(), &settings)
            .map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            t.problems.is_empty(),
            "the soak's objects have problems: {:?}",
            t.problems
        );
        let theirs: Desired = t
            .config
            .backends
            .values()
            .filter(|b| !b.servers.is_empty() || w.desired().contains_key(b.name.as_str()))
            .map(|b| {
                let servers = b
                    .servers
                    .values()
                    .map(|s| {
                        (
                            s.name.as_str().to_string(),
                            Want {
                                addr: s.addr.get(),
                                ready: s.state == haproxy::config::ServerMode::Ready,
                                weight: u32::from(s.weight.get()),
                            },
                        )
                    })
                    .collect();
                (b.name.as_str().to_string(), servers)
            })
            .collect();
        anyhow::ensure!(
            theirs == w.desired(),
            "after {round} churn steps the agent's translation asks for other servers than \
             the soak computes:\n  agent: {theirs:?}\n  soak:  {:?}",
            w.desired()
        );
        w.step(rng);
    }
    Ok(())
}

/// Where objects are written.
#[derive(Debug, Clone)]
pub enum Sink {
    /// A manifests directory: `services.yaml` (Services and the Ingress), `canary.yaml`,
    /// `slice-NN.yaml` (removed when the slice is deleted). Written atomically.
    Files(PathBuf),
    /// The test API server.
    Api(Arc<KubeApi>),
}

impl Sink {
    /// Writes every object.
    pub fn write_all(&self, world: &World) -> anyhow::Result<()> {
        match self {
            Sink::Files(dir) => {
                write_atomic(
                    &dir.join("services.yaml"),
                    &to_yaml(&world.static_objects())?,
                )?;
            }
            Sink::Api(api) => {
                for o in world.static_objects() {
                    apply(api, o)?;
                }
            }
        }
        self.write(world, Change::Canary)?;
        for i in 0..world.services {
            self.write(world, Change::Slice(i))?;
        }
        Ok(())
    }

    /// Writes what `change` changed.
    pub fn write(&self, world: &World, change: Change) -> anyhow::Result<()> {
        match (self, change) {
            (Sink::Files(dir), Change::Canary) => write_atomic(
                &dir.join("canary.yaml"),
                &to_yaml(&[world.canary_object()])?,
            ),
            (Sink::Files(dir), Change::Slice(i)) => {
                let path = dir.join(format!("slice-{i:02}.yaml"));
                match world.slice_object(i) {
                    Some(o) => write_atomic(&path, &to_yaml(&[o])?),
                    None => match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            Err(e).with_context(|| format!("remove {}", path.display()))
                        }
                        _ => Ok(()),
                    },
                }
            }
            (Sink::Api(api), Change::Canary) => apply(api, world.canary_object()),
            (Sink::Api(api), Change::Slice(i)) => match world.slice_object(i) {
                Some(o) => apply(api, o),
                None => {
                    api.delete("EndpointSlice", NS, &format!("{}-1", svc_name(i)))?;
                    Ok(())
                }
            },
        }
    }
}

fn apply(api: &KubeApi, o: Object) -> anyhow::Result<()> {
    match o {
        Object::Service(x) => api.apply_typed(&x),
        Object::EndpointSlice(x) => api.apply_typed(&x),
        Object::Ingress(x) => api.apply_typed(&x),
        Object::IngressClass(x) => api.apply_typed(&x),
        Object::Secret(x) => api.apply_typed(&x),
        Object::ConfigMap(x) => api.apply_typed(&x),
        Object::GatewayClass(x) => api.apply(with_type_meta(&x)),
        Object::Gateway(x) => api.apply(with_type_meta(&x)),
        Object::HttpRoute(x) => api.apply(with_type_meta(&x)),
        Object::ReferenceGrant(x) => api.apply(with_type_meta(&x)),
    }?;
    Ok(())
}

/// A background task that makes one random change every `interval` while running.
pub struct Churn {
    world: Arc<Mutex<World>>,
    running: watch::Sender<bool>,
    /// Changes written so far.
    written: Arc<Mutex<u64>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Churn {
    /// Starts it paused.
    pub fn start(world: World, sink: Sink, interval: Duration, seed: u64) -> Churn {
        let world = Arc::new(Mutex::new(world));
        let written = Arc::new(Mutex::new(0));
        let (running, mut rx) = watch::channel(false);
        let (w, n) = (world.clone(), written.clone());
        let task = tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            loop {
                if rx.wait_for(|r| *r).await.is_err() {
                    return Ok(());
                }
                {
                    // Under the lock, and only if still running: a pause returns only once
                    // the write it races is done, and no write follows it.
                    let mut world = w.lock().unwrap_or_else(|e| e.into_inner());
                    if !*rx.borrow() {
                        continue;
                    }
                    let change = world.step(&mut rng);
                    sink.write(&world, change)?;
                    *n.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                }
                tokio::time::sleep(interval).await;
            }
        });
        Churn {
            world,
            running,
            written,
            task,
        }
    }

    /// Lets it run.
    pub fn resume(&self) {
        self.running.send_replace(true);
    }

    /// Stops it and returns the objects as last written; fails if the task failed.
    pub fn pause(&self) -> anyhow::Result<World> {
        self.running.send_replace(false);
        if self.task.is_finished() {
            anyhow::bail!("the churn task stopped");
        }
        Ok(self.world.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Changes the world while paused (and writes them with `sink`).
    pub fn with_world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Changes written so far.
    pub fn written(&self) -> u64 {
        *self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the task, returning its error if it failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        drop(self.running);
        self.task.await?
    }
}
