//! What HAProxy holds, against what it must hold: every server of every backend (`show
//! servers state` on a session of its own, closed after each look, so no look is answered
//! by a worker that a reload or a restart left behind), and the HAProxy processes started on
//! the agent's master socket that its current master does not list.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::common::{haproxy_processes_with, ms, r3};
use crate::world::Desired;

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
    /// A few of the differences, for people.
    pub examples: Vec<String>,
}

impl Diff {
    /// No difference.
    pub fn is_clean(&self) -> bool {
        self.stale + self.missing + self.wrong + self.duplicate + self.orphan_processes == 0
    }

    /// Adds another's counts.
    pub fn add(&mut self, other: &Diff) {
        self.stale += other.stale;
        self.missing += other.missing;
        self.wrong += other.wrong;
        self.duplicate += other.duplicate;
        self.orphan_processes += other.orphan_processes;
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
            "examples": self.examples,
        })
    }

    fn note(&mut self, what: String) {
        if self.examples.len() < 5 {
            self.examples.push(what);
        }
    }
}

/// Compares HAProxy's servers with the desired ones.
pub fn diff(desired: &Desired, live: &Live) -> Diff {
    let mut d = Diff::default();
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
                    if h.addr != Some(want.addr) || !state_ok || h.weight != want.weight {
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
}

impl Probe {
    /// The sockets and health address of `agent`.
    pub fn of(agent: &crate::common::AgentProcess) -> Probe {
        Probe {
            runtime_socket: agent.runtime_socket.clone(),
            master_socket: agent.master_socket.clone(),
            agent: agent.listen,
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
                    missing: desired.values().map(BTreeMap::len).sum(),
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
