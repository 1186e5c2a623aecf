//! R5: two replicas (two `haproxy-agent run --kubeconfig FILE --spawn-haproxy` processes, each
//! with its own HAProxy) on the test Kubernetes API server, electing the status writer with
//! a Lease (`--election-lease-duration 2s`, `--election-renew-period 250ms`); each publishes
//! its own address, so the API server's write log shows who wrote the Ingress status.
//!
//! The objects and churn are R3's. Each round: churn for 1-2 s, SIGKILL the Lease holder (it
//! cannot release the Lease); the churn goes on until the other replica holds the Lease
//! (measured from the kill to the Lease write naming it, and to its first Ingress status
//! write, both from the API server's write log), then stops; the survivor's HAProxy must
//! converge (deadline 10 s from the stop). The killed replica is restarted (with
//! `--spawn-haproxy`: it retires the HAProxy its predecessor left) and must converge too
//! (10 s from the restart) without taking the Lease back.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use integration::KubeApi;
use integration::agent_proc::{AgentOptions, AgentProcess};
use integration::figures::{self, Summary};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::churn::{Churn, Sink};
use crate::objects::NS;
use crate::observe::Probe;
use crate::scenario::{Scenario, Source, agent_counters, first_look, kube_agent};
use crate::tally::{DEADLINE, RECHECK, Tally, converge_and_record};
use crate::world::{Rng, World};

const SERVICES: usize = 20;
const ENDPOINTS: usize = 5;
const MAX_ENDPOINTS: usize = 10;
const POOL: usize = 40;
const CHURN_INTERVAL: Duration = Duration::from_millis(25);
const DRAIN: Duration = Duration::from_secs(1);
/// `--election-lease-duration`.
const LEASE: Duration = Duration::from_secs(2);
/// `--election-renew-period`.
const RENEW: Duration = Duration::from_millis(250);
const ELECTION_ID: &str = "soak-leader";
/// The Ingress whose status is watched for the new leader's first write.
const WATCHED_INGRESS: &str = "soak";
/// Each replica's identity (`POD_NAME`) and published address.
const REPLICAS: [(&str, &str); 2] = [("replica-a", "203.0.113.1"), ("replica-b", "203.0.113.2")];

/// The longest a takeover may take from the kill: the follower first sees the leader's last
/// renewal up to one renew period after it, waits a lease duration, and acquires at its
/// next attempt (one more period); plus the kill may come right after a renewal.
fn takeover_bound() -> Duration {
    LEASE + 2 * RENEW
}

fn options() -> AgentOptions {
    AgentOptions::bench(DRAIN)
}

struct Replica {
    identity: &'static str,
    address: &'static str,
    agent: AgentProcess,
    config: std::path::PathBuf,
}

impl Replica {
    fn spawn(&mut self, agent_bin: &Path) -> anyhow::Result<()> {
        let opts = AgentOptions {
            kubeconfig: Some(self.config.clone()),
            extra: vec![
                format!("--publish-address={}", self.address),
                format!("--election-namespace={NS}"),
                format!("--election-id={ELECTION_ID}"),
                format!("--election-lease-duration={}ms", LEASE.as_millis()),
                format!("--election-renew-period={}ms", RENEW.as_millis()),
            ],
            env: vec![("POD_NAME".to_string(), self.identity.to_string())],
            ..options()
        };
        self.agent.spawn(agent_bin, &opts)
    }
}

/// The Lease's holder now.
fn holder(api: &KubeApi) -> Option<String> {
    let lease = api.get("Lease", NS, ELECTION_ID).ok()??;
    lease["spec"]["holderIdentity"].as_str().map(str::to_string)
}

/// The first write from `from` on (an index into the write log) that `matches`, and when.
fn first_write(
    api: &KubeApi,
    from: usize,
    matches: impl Fn(&integration::WriteLogEntry) -> bool,
) -> Option<Instant> {
    api.writes()
        .into_iter()
        .skip(from)
        .find(|w| matches(w))
        .map(|w| Instant::from_std(w.at))
}

/// Runs `kills` leader kills; returns the figures.
pub async fn run(agent_bin: &Path, kills: usize, seed: u64) -> anyhow::Result<Value> {
    let world = World::new(SERVICES, ENDPOINTS, POOL, MAX_ENDPOINTS);
    let scenario = Scenario::prepare(&world, Source::Api, seed).await?;
    let api = scenario.api()?;
    let first = (
        scenario.agent,
        scenario.kubeconfig.context("no kubeconfig")?,
    );
    let sink = scenario.sink;
    let mut agents = vec![first, kube_agent(&api)?].into_iter();
    let mut replicas = Vec::new();
    for (identity, address) in REPLICAS {
        let (agent, config) = agents.next().context("one agent per replica")?;
        let mut r = Replica {
            identity,
            address,
            agent,
            config,
        };
        r.spawn(agent_bin)?;
        replicas.push(r);
    }
    let result = rounds(&api, &mut replicas, agent_bin, world, sink, kills, seed).await;
    let result = match result {
        Ok(v) => Ok(v),
        Err(e) => Err(e.context(format!(
            "{}\n{}",
            replicas[0].agent.log_tail(),
            replicas[1].agent.log_tail()
        ))),
    };
    for r in &mut replicas {
        r.agent.shut_down();
    }
    result
}

/// What one takeover measured.
#[derive(Debug, Default)]
struct Takeovers {
    /// Kill -> the Lease names the survivor, ms.
    lease_ms: Vec<f64>,
    /// Kill -> the survivor's first Ingress status write, ms.
    status_ms: Vec<f64>,
    /// Rounds in which no takeover was seen within the deadline, or the wrong one.
    failed: Vec<String>,
    /// Rounds in which the restarted replica took the Lease back.
    stolen: usize,
    /// The survivor's convergence after each kill.
    survivor: Tally,
    /// The restarted replica's convergence.
    restarted: Tally,
}

async fn rounds(
    api: &KubeApi,
    replicas: &mut [Replica],
    agent_bin: &Path,
    world: World,
    sink: Sink,
    kills: usize,
    seed: u64,
) -> anyhow::Result<Value> {
    let mut versions = Vec::new();
    for r in replicas.iter_mut() {
        versions.push(first_look(&mut r.agent, &world.desired()).await?.version);
    }
    let version = versions.swap_remove(0);
    integration::wait_until("a replica holds the Lease", DEADLINE, async || {
        holder(api).is_some_and(|h| !h.is_empty())
    })
    .await?;
    let churn = Churn::start(world, sink, CHURN_INTERVAL, seed);
    let mut rng = Rng::new(seed ^ 0x5eed_0005);
    let mut t = Takeovers::default();
    for round in 0..kills {
        round_of(api, replicas, agent_bin, &churn, &mut rng, round, &mut t).await?;
        if t.survivor.too_many_failures() || t.restarted.too_many_failures() {
            break;
        }
    }
    let written = churn.written();
    churn.stop().await?;
    let mut counters = Vec::new();
    for r in replicas.iter_mut() {
        r.agent.wait_healthy(Duration::from_secs(5)).await?;
        counters.push(json!({"identity": r.identity, "agent": agent_counters(&r.agent).await}));
    }
    report(&t, &version, seed, written, counters)
}

/// Round `round`: after some churn the Lease holder is killed; the other replica must take
/// the Lease, write the Ingress status and keep HAProxy converged, and the killed one,
/// restarted, converge without taking the Lease back.
async fn round_of(
    api: &KubeApi,
    replicas: &mut [Replica],
    agent_bin: &Path,
    churn: &Churn,
    rng: &mut Rng,
    round: usize,
    t: &mut Takeovers,
) -> anyhow::Result<()> {
    churn.resume();
    tokio::time::sleep(rng.between(Duration::from_secs(1), Duration::from_secs(2))).await;
    let leader_id = holder(api).context("no Lease holder")?;
    let leader = replicas
        .iter()
        .position(|r| r.identity == leader_id)
        .with_context(|| format!("the Lease names {leader_id:?}, no replica"))?;
    let follower = 1 - leader;
    let (fid, faddr) = (replicas[follower].identity, replicas[follower].address);
    let from = api.writes().len();
    let killed = Instant::now();
    replicas[leader].agent.kill().await?;
    let took = integration::wait_until(
        "the other replica holds the Lease",
        takeover_bound() + DEADLINE,
        async || holder(api).as_deref() == Some(fid),
    )
    .await;
    let desired = churn.pause()?.desired();
    let stopped = Instant::now();
    let lease_at = first_write(api, from, |w| {
        w.kind == "Lease" && w.object["spec"]["holderIdentity"] == fid
    });
    match (took, lease_at) {
        (Ok(()), Some(at)) => t.lease_ms.push(figures::r3(figures::ms(at - killed))),
        (r, _) => t
            .failed
            .push(format!("round {round}: no takeover by {fid}: {r:?}")),
    }
    // Its first status write (the status then names its address).
    let _ = integration::wait_until("the new leader's status write", DEADLINE, async || {
        first_write(api, from, |w| status_names(w, faddr)).is_some()
    })
    .await;
    match first_write(api, from, |w| status_names(w, faddr)) {
        Some(at) => t.status_ms.push(figures::r3(figures::ms(at - killed))),
        None => t
            .failed
            .push(format!("round {round}: {fid} wrote no Ingress status")),
    }
    let probe = Probe::of(&replicas[follower].agent);
    let what = format!("round {round}: survivor {fid}");
    converge_and_record(&probe, &desired, stopped, &what, &mut t.survivor).await;

    let restarted = Instant::now();
    replicas[leader].spawn(agent_bin)?;
    let probe = Probe::of(&replicas[leader].agent);
    let what = format!("round {round}: restarted {leader_id}");
    converge_and_record(&probe, &desired, restarted, &what, &mut t.restarted).await;
    let _ = replicas[leader].agent.show_proc().await;
    if holder(api).as_deref() != Some(fid) {
        t.stolen += 1;
        t.failed.push(format!(
            "round {round}: the restarted {leader_id} took the Lease back"
        ));
    }
    Ok(())
}

/// The lines for people and the figures.
fn report(
    t: &Takeovers,
    version: &str,
    seed: u64,
    written: u64,
    counters: Vec<Value>,
) -> anyhow::Result<Value> {
    for f in &t.failed {
        eprintln!("{f}");
    }
    eprintln!("{}", t.survivor.line("survivor"));
    eprintln!("{}", t.restarted.line("restarted replica"));
    let lease = Summary::of(&t.lease_ms);
    eprintln!(
        "takeover (kill -> Lease): p50 {:.0} ms max {:.0} ms; first status write p50 {:.0} ms",
        lease.p50,
        lease.max,
        Summary::of(&t.status_ms).p50
    );
    let bound_ms = figures::ms(takeover_bound());
    let within = |v: &[f64], ms: f64| v.iter().filter(|x| **x <= ms).count();
    ensure!(t.lease_ms.len() + t.failed.len() > 0, "no round ran");
    Ok(json!({
        "haproxy_version": version,
        "seed": seed,
        "services": SERVICES,
        "churn_interval_ms": CHURN_INTERVAL.as_millis() as u64,
        "deadline_ms": DEADLINE.as_millis() as u64,
        "recheck_ms": RECHECK.as_millis() as u64,
        "lease_duration_ms": LEASE.as_millis() as u64,
        "renew_period_ms": RENEW.as_millis() as u64,
        "takeover_bound_ms": bound_ms,
        "kills": t.survivor.faults,
        "takeover_lease_ms": figures::summary_with_samples(&t.lease_ms),
        "takeover_status_ms": figures::summary_with_samples(&t.status_ms),
        "takeovers_within_lease_duration": within(&t.lease_ms, figures::ms(LEASE)),
        "takeovers_within_bound": within(&t.lease_ms, bound_ms),
        "takeover_failures": t.failed,
        "lease_taken_back": t.stolen,
        "survivor": t.survivor.json(),
        "restarted": t.restarted.json(),
        "changes_written": written,
        "replicas": counters,
        "passed": t.survivor.passed()
            && t.restarted.passed()
            && t.failed.is_empty()
            && within(&t.lease_ms, bound_ms) == t.lease_ms.len(),
    }))
}

/// Whether `w` is a write of the watched Ingress's status naming `address`.
fn status_names(w: &integration::WriteLogEntry, address: &str) -> bool {
    w.kind == "Ingress"
        && w.name == WATCHED_INGRESS
        && w.object["status"]["loadBalancer"]["ingress"]
            .as_array()
            .is_some_and(|l| l.iter().any(|i| i["ip"] == address))
}
