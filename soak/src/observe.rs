//! What HAProxy holds, against what it must hold: every server of every backend (`show
//! servers state`), the canary backend's weights, every entry of the three route maps (`show
//! map`), the backends HAProxy runs (`show backend`) and the structure of the haproxy.cfg
//! the agent wrote, all read on a session of its own, closed after each look (so no look is
//! answered by a worker that a reload or a restart left behind); and the HAProxy processes
//! started on the agent's master socket that its current master does not list.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use haproxy::proto::{Command, Reply};
use integration::soak_oracle::{self, MAPS, StructureWant};

use crate::world::Desired;
use integration::agent_proc::{AgentProcess, haproxy_processes_with};
use integration::figures::{ms, r3};

/// How often convergence is checked.
pub const POLL: Duration = Duration::from_millis(10);

/// One server as HAProxy has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Have {
    /// Address and port (`None` when HAProxy shows none).
    pub addr: Option<SocketAddr>,
    /// Neither drain nor maintenance.
    pub ready: bool,
    /// Draining (not in maintenance).
    pub drain: bool,
    /// Weight.
    pub weight: u32,
}

/// Backend -> server -> state.
pub type Live = BTreeMap<String, BTreeMap<String, Have>>;

/// The difference between HAProxy and the objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Servers HAProxy has that the objects do not ask for (orphans).
    pub stale: usize,
    /// Servers the objects ask for that HAProxy lacks.
    pub missing: usize,
    /// Servers on both sides whose address, state or weight differ.
    pub wrong: usize,
    /// Servers sharing one address and port with another server of their backend.
    pub duplicate: usize,
    /// Live HAProxy processes on the agent's master socket that its master does not list
    /// (a HAProxy nobody keeps in step any more, perhaps still listening).
    pub orphan_processes: usize,
    /// Route map entries missing, stale or pointing at another backend.
    pub routes: usize,
    /// Structural differences: backends in haproxy.cfg or the running HAProxy that no
    /// object asks for or that are missing, the HTTP bind missing, an HTTPS bind.
    pub structure: usize,
    /// The canary backend's weights do not give the canary its share (0 or 1).
    pub canary: usize,
    /// SNI hosts served another certificate than their Secret's, or none.
    pub certs: usize,
    /// A few of the differences, for people.
    pub examples: Vec<String>,
}

impl Diff {
    /// No difference.
    pub fn is_clean(&self) -> bool {
        self.stale
            + self.missing
            + self.wrong
            + self.duplicate
            + self.orphan_processes
            + self.routes
            + self.structure
            + self.canary
            + self.certs
            == 0
    }

    /// Adds another's counts.
    pub fn add(&mut self, other: &Diff) {
        self.stale += other.stale;
        self.missing += other.missing;
        self.wrong += other.wrong;
        self.duplicate += other.duplicate;
        self.orphan_processes += other.orphan_processes;
        self.routes += other.routes;
        self.structure += other.structure;
        self.canary += other.canary;
        self.certs += other.certs;
        for e in &other.examples {
            if self.examples.len() < 10 {
                self.examples.push(e.clone());
            }
        }
    }

    /// The counts as JSON.
    pub fn json(&self) -> Value {
        json!({
            "stale": self.stale,
            "missing": self.missing,
            "wrong": self.wrong,
            "duplicate": self.duplicate,
            "orphan_processes": self.orphan_processes,
            "routes": self.routes,
            "structure": self.structure,
            "canary": self.canary,
            "certs": self.certs,
            "examples": self.examples,
        })
    }

    fn note(&mut self, what: String) {
        if self.examples.len() < 5 {
            self.examples.push(what);
        }
    }
}

/// Compares HAProxy's servers with the desired ones, and the canary backend's weights
/// with the canary's share.
pub fn diff(desired: &Desired, live: &Live) -> Diff {
    let mut d = Diff::default();
    let canary = &desired.canary;
    let weights = live
        .get(&canary.backend)
        .map(|s| s.iter().map(|(n, h)| (n.clone(), h.weight)).collect())
        .unwrap_or_default();
    if let Some(p) = soak_oracle::canary_problem(canary, &weights) {
        d.canary = 1;
        d.note(p);
    }
    let desired = &desired.servers;
    let (no_want, no_have) = (BTreeMap::new(), BTreeMap::new());
    for (be, servers) in live {
        let want = desired.get(be).unwrap_or(&no_want);
        for name in servers.keys().filter(|n| !want.contains_key(*n)) {
            d.stale += 1;
            d.note(format!("stale {be}/{name}"));
        }
        let mut seen = BTreeSet::new();
        for (name, have) in servers {
            if let Some(addr) = have.addr
                && !seen.insert(addr)
            {
                d.duplicate += 1;
                d.note(format!("duplicate {be}/{name} ({addr})"));
            }
        }
    }
    for (be, servers) in desired {
        let have = live.get(be).unwrap_or(&no_have);
        for (name, want) in servers {
            match have.get(name) {
                None => {
                    d.missing += 1;
                    d.note(format!("missing {be}/{name}"));
                }
                Some(h) => {
                    let state_ok = if want.ready { h.ready } else { h.drain };
                    let weight_ok = want.weight.is_none_or(|w| w == h.weight);
                    if h.addr != Some(want.addr) || !state_ok || !weight_ok {
                        d.wrong += 1;
                        d.note(format!("wrong {be}/{name}: have {h:?}, want {want:?}"));
                    }
                }
            }
        }
    }
    d
}

/// Where to look.
#[derive(Debug, Clone)]
pub struct Probe {
    /// HAProxy's runtime socket.
    pub runtime_socket: PathBuf,
    /// HAProxy's master socket.
    pub master_socket: PathBuf,
    /// The agent's health address: converged also means `/healthz` answers 200 (the agent
    /// has synced HAProxy and sees it up).
    pub agent: SocketAddr,
    /// The haproxy.cfg the agent writes.
    pub config_file: PathBuf,
    /// HAProxy's HTTP bind, as the agent was told it.
    pub http_bind: String,
    /// HAProxy's HTTPS bind, as the agent was told it.
    pub https: SocketAddr,
}

impl Probe {
    /// The sockets and health address of `agent`.
    pub fn of(agent: &AgentProcess) -> Probe {
        Probe {
            runtime_socket: agent.runtime_socket.clone(),
            master_socket: agent.master_socket.clone(),
            agent: agent.listen,
            config_file: agent.config_dir.clone().join("haproxy.cfg"),
            http_bind: agent.http.to_string(),
            https: agent.https,
        }
    }

    /// Waits (up to 30 s) until HAProxy holds what `desired` asks for, before any fault.
    pub async fn first_converged(&self, desired: &Desired) -> anyhow::Result<()> {
        let first = self
            .converge(desired, Instant::now(), Duration::from_secs(30))
            .await;
        anyhow::ensure!(
            first.after.is_some(),
            "haproxy never held the first objects: {:?} {:?}",
            first.last,
            first.error
        );
        Ok(())
    }

    /// The servers of every backend, on a session of its own.
    pub async fn servers(&self) -> anyhow::Result<Live> {
        let client = integration::haproxy_proc::runtime_client_for(&self.runtime_socket);
        let rows = client.servers_state(None).await;
        client.disconnect().await;
        let mut out = Live::new();
        for r in rows? {
            // The admin bits read here as HAProxy reads them (`SRV_ADMF_MAINT` = 0x23,
            // `SRV_ADMF_DRAIN` = 0x18; 0x04, `disabled` in the config, stays set after the
            // server leaves maintenance), not through the agent's library.
            let maint = r.admin.0 & 0x23 != 0;
            let drain = !maint && r.admin.0 & 0x18 != 0;
            out.entry(r.backend.clone()).or_default().insert(
                r.server.clone(),
                Have {
                    addr: r.addr.map(|ip| SocketAddr::new(ip, r.port)),
                    ready: !maint && !drain,
                    drain,
                    weight: r.weight,
                },
            );
        }
        Ok(out)
    }

    /// Route maps and structure against `desired`, into `d`.
    async fn check_routes_and_structure(
        &self,
        desired: &Desired,
        d: &mut Diff,
    ) -> anyhow::Result<()> {
        let client = integration::haproxy_proc::runtime_client_for(&self.runtime_socket);
        let looked = async {
            let mut maps = BTreeMap::new();
            for info in client.maps().await? {
                let Some(name) = MAPS.iter().find(|m| info.file.ends_with(&format!("/{m}"))) else {
                    continue;
                };
                let file = haproxy::FilePath::new(info.file.clone())?;
                let entries: BTreeMap<String, String> = client
                    .map_entries(file)
                    .await?
                    .into_iter()
                    .map(|e| (e.key, e.value))
                    .collect();
                maps.insert(name.to_string(), entries);
            }
            let running = match client.send(Command::ShowBackend).await? {
                Reply::Backends(b) => b.into_iter().collect::<BTreeSet<String>>(),
                other => anyhow::bail!("show backend answered {other:?}"),
            };
            anyhow::Ok((maps, running))
        }
        .await;
        client.disconnect().await;
        let (maps, running) = looked?;
        let routes = soak_oracle::route_problems(&desired.routes, &maps);
        let cfg = std::fs::read_to_string(&self.config_file).unwrap_or_default();
        let mut binds: BTreeSet<String> = [self.http_bind.clone()].into();
        if !desired.certs.is_empty() {
            binds.insert(self.https.to_string());
        }
        let want = StructureWant {
            backends: desired.backends.clone(),
            binds,
        };
        let structure = soak_oracle::structure_problems(&want, &cfg, &running);
        d.routes = routes.len();
        d.structure = structure.len();
        for p in routes.into_iter().chain(structure) {
            d.note(p);
        }
        Ok(())
    }

    /// Each SNI host's served certificate against its Secret's, by a TLS handshake (SHA-1
    /// fingerprint of the leaf), into `d`.
    async fn check_certs(&self, desired: &Desired, d: &mut Diff) {
        for (host, want) in &desired.certs {
            match integration::tls::tls_peer_cert(self.https, Some(host)).await {
                Ok(got) if got.sha1_hex == *want => {}
                Ok(got) => {
                    d.certs += 1;
                    d.note(format!("{host} served {}, want {want}", got.sha1_hex));
                }
                Err(e) => {
                    d.certs += 1;
                    d.note(format!("{host}: no TLS handshake: {e:#}"));
                }
            }
        }
    }

    /// HAProxy processes on the master socket that the answering master does not list.
    pub async fn orphan_processes(&self) -> anyhow::Result<Vec<u32>> {
        let master = integration::haproxy_proc::master_client_for(&self.master_socket);
        let procs = master.show_proc().await?;
        let listed: BTreeSet<u32> = std::iter::once(procs.master.pid)
            .chain(procs.workers.iter().map(|w| w.pid))
            .chain(procs.old_workers.iter().map(|w| w.pid))
            .collect();
        Ok(haproxy_processes_with(&self.master_socket)
            .into_iter()
            .filter(|p| !listed.contains(p))
            .collect())
    }

    /// The difference now; an error when HAProxy does not answer or the agent is not
    /// healthy.
    pub async fn check(&self, desired: &Desired) -> anyhow::Result<Diff> {
        let health = integration::get(self.agent, "localhost", "/healthz").await?;
        anyhow::ensure!(
            health.status == 200,
            "the agent's /healthz answers {}",
            health.status
        );
        let live = self.servers().await?;
        let mut d = diff(desired, &live);
        self.check_routes_and_structure(desired, &mut d).await?;
        self.check_certs(desired, &mut d).await;
        let orphans = self.orphan_processes().await?;
        d.orphan_processes = orphans.len();
        if !orphans.is_empty() {
            d.note(format!("haproxy processes no master lists: {orphans:?}"));
        }
        Ok(d)
    }

    /// Polls until HAProxy holds exactly `desired` or `deadline` (counted from `since`)
    /// passes.
    pub async fn converge(&self, desired: &Desired, since: Instant, deadline: Duration) -> Outcome {
        loop {
            let last = match self.check(desired).await {
                Ok(d) if d.is_clean() => {
                    return Outcome {
                        after: Some(since.elapsed()),
                        last: d,
                        error: None,
                    };
                }
                Ok(d) => Ok(d),
                Err(e) => Err(format!("{e:#}")),
            };
            if since.elapsed() >= deadline {
                return match last {
                    Ok(d) => Outcome {
                        after: None,
                        last: d,
                        error: None,
                    },
                    Err(e) => Outcome {
                        after: None,
                        last: Diff::default(),
                        error: Some(e),
                    },
                };
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// After convergence: looks again `after` later and reports what changed although no
    /// object did (expected: nothing).
    pub async fn recheck(&self, desired: &Desired, after: Duration) -> Diff {
        tokio::time::sleep(after).await;
        match self.check(desired).await {
            Ok(d) => d,
            Err(e) => {
                let mut d = Diff {
                    missing: desired.servers.values().map(BTreeMap::len).sum(),
                    ..Diff::default()
                };
                d.note(format!("haproxy did not answer on the recheck: {e:#}"));
                d
            }
        }
    }
}

/// How a wait for convergence ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Time to converge, `None` when the deadline passed first.
    pub after: Option<Duration>,
    /// The difference at the end (clean when converged).
    pub last: Diff,
    /// HAProxy's last error when it did not answer at the deadline.
    pub error: Option<String>,
}

impl Outcome {
    /// Milliseconds to converge, if it did.
    pub fn ms(&self) -> Option<f64> {
        self.after.map(|d| r3(ms(d)))
    }
}
