//! The soak's objects and what HAProxy must hold for them: Services `svc-NN` with one
//! EndpointSlice each, an Ingress routing `/svc-NN` to each, and a canary Ingress splitting
//! `canary.soak` between `svc-00` and `svc-01` by weight, a TLS Ingress for `tls.soak` and
//! its Secret; and random changes to them (written by `churn.rs`). What HAProxy must
//! hold (servers, route map entries, backends, the canary's share, the served certificate)
//! is computed here from the objects as written, not by the agent's translation.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use haproxy_agent::store::Object;
use integration::soak_oracle::{CanaryWant, Routes};
use integration::tls::TestCert;

use crate::objects::{EpState, NS, Rule, ingress, service, slice, tls_secret, with_tls};

/// The Services' target port: every server is `<pod ip>:8080`.
pub const TARGET_PORT: u16 = 8080;
/// The canary Ingress's host.
pub const CANARY_HOST: &str = "canary.soak";
/// The TLS Ingress's host (routed to `svc-00`), served the certificate of [`TLS_SECRET`].
pub const TLS_HOST: &str = "tls.soak";
/// The TLS Ingress's Secret, renewed now and then by the churn.
pub const TLS_SECRET: &str = "soak-tls";

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
    /// Weight; `None` in the canary backend, whose weights the canary rule checks
    /// (`integration::soak_oracle::canary_problem`).
    pub weight: Option<u32>,
}

/// Backend name -> server name -> what it must be.
pub type Servers = BTreeMap<String, BTreeMap<String, Want>>;

/// What HAProxy must hold for the objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Every backend's servers.
    pub servers: Servers,
    /// Every route map entry: `(map, key)` -> backend.
    pub routes: Routes,
    /// The backends the objects ask for.
    pub backends: BTreeSet<String>,
    /// The canary backend's share.
    pub canary: CanaryWant,
    /// SNI host -> SHA-1 fingerprint of the certificate it must be served.
    pub certs: BTreeMap<String, String>,
}

/// What a churn step changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The EndpointSlice of Service `i` (changed, created or deleted).
    Slice(usize),
    /// The canary Ingress's weight.
    Canary,
    /// The TLS Secret (a renewed certificate).
    Cert,
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
    /// The certificate in the TLS Secret.
    pub cert: TestCert,
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

pub(crate) fn svc_name(i: usize) -> String {
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
            cert: TestCert::self_signed(TLS_HOST, &[TLS_HOST]),
        }
    }

    /// Endpoints in every slice, together.
    pub fn endpoint_count(&self) -> usize {
        self.slices.iter().flatten().map(Vec::len).sum()
    }

    pub(crate) fn static_objects(&self) -> Vec<Object> {
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
        let tls = ingress(
            "soak-tls",
            Some(TLS_HOST),
            &[Rule {
                path: "/",
                service: &names[0],
                port: 80,
            }],
        );
        out.push(with_tls(tls, &[TLS_HOST], TLS_SECRET));
        out
    }

    pub(crate) fn secret_object(&self) -> Object {
        tls_secret(TLS_SECRET, &self.cert)
    }

    pub(crate) fn canary_object(&self) -> Object {
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

    pub(crate) fn slice_object(&self, i: usize) -> Option<Object> {
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
        out.push(self.secret_object());
        out.extend((0..self.services).filter_map(|i| self.slice_object(i)));
        out
    }

    /// One random change: an endpoint added, removed, or turned terminating or back ready;
    /// a slice deleted or created again; the canary weight changed; or (one step in 50)
    /// the TLS Secret's certificate renewed.
    pub fn step(&mut self, rng: &mut Rng) -> Change {
        if rng.below(50) == 0 {
            self.cert = TestCert::self_signed(TLS_HOST, &[TLS_HOST]);
            return Change::Cert;
        }
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

    /// What HAProxy must hold: one backend per Service with a server per endpoint (weight
    /// 1, draining when terminating); the canary backend with both Services' endpoints,
    /// whose weights must give the canary its share; in the route maps, as
    /// docs/architecture.md lays keys out, `/svc-NN` (exact) and `/svc-NN/` (prefix) for the
    /// host-less Prefix rules and `canary.soak/` (prefix, `Prefix /`) for the canary
    /// Ingress, whose route goes to the canary backend, and `tls.soak/` (prefix) to
    /// `svc-00`; no regex entry; and `tls.soak` served the Secret's certificate.
    pub fn desired(&self) -> Desired {
        let eps = |i: usize| self.slices[i].as_deref().unwrap_or_default();
        let servers = |i: usize, weight: Option<u32>| -> BTreeMap<String, Want> {
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
        let mut out: Servers = (0..self.services)
            .map(|i| (backend_of(i), servers(i, Some(1))))
            .collect();
        let mut both = servers(1, None);
        both.extend(servers(0, None));
        out.insert(canary_backend(), both);
        let ready = |i: usize| -> BTreeMap<String, bool> {
            eps(i)
                .iter()
                .map(|(ip, state)| (server_of(*ip).0, *state == EpState::Ready))
                .collect()
        };
        let mut routes = Routes::new();
        for i in 0..self.services {
            let path = format!("/{}", svc_name(i));
            routes.insert(("exact.map".into(), path.clone()), backend_of(i));
            routes.insert(("prefix.map".into(), format!("{path}/")), backend_of(i));
        }
        routes.insert(
            ("prefix.map".into(), format!("{CANARY_HOST}/")),
            canary_backend(),
        );
        routes.insert(("prefix.map".into(), format!("{TLS_HOST}/")), backend_of(0));
        Desired {
            backends: out.keys().cloned().collect(),
            servers: out,
            routes,
            certs: [(TLS_HOST.to_string(), self.cert.sha1_hex())].into(),
            canary: CanaryWant {
                backend: canary_backend(),
                percent: self.canary_weight,
                primary: ready(0),
                canary: ready(1),
            },
        }
    }
}

/// Fails unless the agent's own translation of `world`'s objects asks for exactly
/// [`World::desired`]: a guard against the soak's computation being wrong (or the objects
/// having a problem), checked on a few worlds before the faults start.
pub fn cross_check(world: &World, rng: &mut Rng) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let settings = crate::objects::settings(dir.path());
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
        let mut theirs: Servers = t
            .config
            .backends
            .values()
            .filter(|b| !b.servers.is_empty() || w.desired().servers.contains_key(b.name.as_str()))
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
                                weight: Some(u32::from(s.weight.get())),
                            },
                        )
                    })
                    .collect();
                (b.name.as_str().to_string(), servers)
            })
            .collect();
        // The canary rule, not a copy of the agent's arithmetic, judges its weights.
        let want = w.desired();
        if let Some(servers) = theirs.get_mut(&want.canary.backend) {
            let weights = servers
                .iter()
                .map(|(n, s)| (n.clone(), s.weight.unwrap_or(0)))
                .collect();
            if let Some(p) = integration::soak_oracle::canary_problem(&want.canary, &weights) {
                anyhow::bail!("after {round} churn steps the agent's canary weights: {p}");
            }
            servers.values_mut().for_each(|s| s.weight = None);
        }
        anyhow::ensure!(
            theirs == want.servers,
            "after {round} churn steps the agent's translation asks for other servers than \
             the soak computes:\n  agent: {theirs:?}\n  soak:  {:?}",
            want.servers
        );
        w.step(rng);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worlds of R1-R5 and R7 (20 Services) and of R6 (10): what the soak computes is
    /// what the agent's translation asks for, through 50 churn steps each.
    #[test]
    fn the_soak_computes_what_the_agent_translates() {
        for (services, seed) in [(20, 1), (10, 7)] {
            let world = World::new(services, 5, 40, 10);
            cross_check(&world, &mut Rng::new(seed)).unwrap();
        }
    }

    #[test]
    fn churn_steps_follow_the_seed() {
        let steps = |seed| {
            let mut w = World::new(4, 2, 10, 4);
            let mut rng = Rng::new(seed);
            (0..40).map(|_| w.step(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(steps(3), steps(3));
        assert_ne!(steps(3), steps(4));
    }
}
