//! R1: HAProxy SIGKILLed during endpoint churn, under `run --spawn-haproxy`.
//!
//! 20 Services of 5 endpoints (growing to at most 10), an Ingress to each, a canary Ingress
//! and a TLS Ingress with its Secret, as manifest files; a churn task makes one random
//! change every 25 ms (an endpoint added, removed, turned terminating or back, a slice
//! deleted or created again, the canary weight changed, the certificate renewed). Each round: churn for 0.8-1.5 s, SIGKILL HAProxy's worker
//! (even rounds) or master (odd rounds), pids from the master's `show proc`; churn goes on
//! for 300 ms while HAProxy is down and restarting, then stops; measured: the time from the
//! kill until a new worker answers the master CLI ("back") and until HAProxy holds exactly
//! the desired servers ("converged", deadline 10 s), then a recheck 250 ms later.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use integration::agent_proc::{AgentOptions, AgentProcess, signal};
use integration::figures::{self, r3};

use crate::churn::Churn;
use crate::observe::Probe;
use crate::scenario::{Opened, Scenario, Source, agent_counters};
use crate::tally::{DEADLINE, RECHECK, Tally};
use crate::world::{Rng, World};

const SERVICES: usize = 20;
const ENDPOINTS: usize = 5;
const MAX_ENDPOINTS: usize = 10;
const POOL: usize = 40;
/// One change every this often while churning.
const CHURN_INTERVAL: Duration = Duration::from_millis(25);
/// Churn goes on this long after each kill.
const CHURN_AFTER_KILL: Duration = Duration::from_millis(300);
const DRAIN: Duration = Duration::from_secs(1);

/// What was killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Worker,
    Master,
}

/// Waits until a worker other than `killed_worker` answers through a master other than
/// `killed_master`; the time since `since`.
async fn back(
    agent: &mut AgentProcess,
    killed_master: Option<u32>,
    killed_worker: Option<u32>,
    since: Instant,
) -> Option<f64> {
    loop {
        let master = agent.master_client();
        if let Ok(p) = master.show_proc().await
            && Some(p.master.pid) != killed_master
            && let Some(w) = p.current_worker()
            && Some(w) != killed_worker
        {
            // Remember its pids, to stop them at the end whatever happens.
            let _ = agent.show_proc().await;
            return Some(r3(figures::ms(since.elapsed())));
        }
        if since.elapsed() >= DEADLINE {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `count` kills; returns the figures.
pub async fn run(agent_bin: &Path, count: usize, seed: u64) -> anyhow::Result<Value> {
    let world = World::new(SERVICES, ENDPOINTS, POOL, MAX_ENDPOINTS);
    let scenario = Scenario::prepare(&world, Source::Files, seed).await?;
    let first = world.desired();
    let options = AgentOptions::bench(DRAIN);
    scenario
        .run(agent_bin, options, &first, async move |s, opened| {
            kills(s, opened, world, count, seed).await
        })
        .await
}

async fn kills(
    s: &mut Scenario,
    opened: Opened,
    world: World,
    count: usize,
    seed: u64,
) -> anyhow::Result<Value> {
    let Opened { probe, version } = opened;
    let agent = &mut s.agent;
    let endpoints_start = world.endpoint_count();
    let churn = Churn::start(world, s.sink.clone(), CHURN_INTERVAL, seed);
    let mut rng = Rng::new(seed ^ 0x5eed_0001);
    let mut k = Kills::default();
    for round in 0..count {
        if !kill(agent, &probe, &churn, &mut rng, round, &mut k).await? {
            eprintln!("too many failures; stopping");
            break;
        }
    }
    churn.pause()?;
    let written = churn.written();
    churn.stop().await?;
    // The agent itself came through: still running and healthy.
    agent.wait_healthy(Duration::from_secs(5)).await?;
    let counters = agent_counters(agent).await;
    let [worker, master] = &k.tallies;
    eprintln!("{}", worker.line("worker killed"));
    eprintln!("{}", master.line("master killed"));
    let by_target = |tally: &Tally, back: &[f64]| {
        let mut v = tally.json();
        v["back_ms"] = figures::summary_with_samples(back);
        v
    };
    Ok(json!({
        "haproxy_version": version,
        "seed": seed,
        "services": SERVICES,
        "endpoints_per_service": ENDPOINTS,
        "endpoints_start": endpoints_start,
        "max_endpoints": MAX_ENDPOINTS,
        "churn_interval_ms": CHURN_INTERVAL.as_millis() as u64,
        "churn_after_kill_ms": CHURN_AFTER_KILL.as_millis() as u64,
        "deadline_ms": DEADLINE.as_millis() as u64,
        "recheck_ms": RECHECK.as_millis() as u64,
        "kills": worker.faults + master.faults,
        "changes_written": written,
        "changes_after_kill": {
            "median": figures::median(&k.changes_after_kill),
            "max": figures::Summary::of(&k.changes_after_kill).max,
        },
        "worker": by_target(worker, &k.back_ms[0]),
        "master": by_target(master, &k.back_ms[1]),
        "agent": counters,
        "passed": worker.passed() && master.passed(),
    }))
}

/// The kills' figures, by target (worker, master).
#[derive(Debug, Default)]
struct Kills {
    tallies: [Tally; 2],
    /// Kill -> a new worker, ms.
    back_ms: [Vec<f64>; 2],
    /// Changes written between each kill and the end of its churn.
    changes_after_kill: Vec<f64>,
}

/// Round `round`: after some churn, HAProxy's worker (even rounds) or master (odd ones) is
/// killed; a new worker must come, and HAProxy converge. Returns false when that target
/// failed too often to go on.
async fn kill(
    agent: &mut AgentProcess,
    probe: &Probe,
    churn: &Churn,
    rng: &mut Rng,
    round: usize,
    k: &mut Kills,
) -> anyhow::Result<bool> {
    let target = if round.is_multiple_of(2) {
        Target::Worker
    } else {
        Target::Master
    };
    let t = target as usize;
    churn.resume();
    // Deliberate pacing: the churn runs for a while between faults.
    tokio::time::sleep(rng.between(Duration::from_millis(800), Duration::from_millis(1500))).await;
    let procs = agent.show_proc().await?;
    let master_pid = procs.master.pid;
    let worker_pid = procs.current_worker().context("haproxy has no worker")?;
    let pid = match target {
        Target::Worker => worker_pid,
        Target::Master => master_pid,
    };
    let written = churn.written();
    let killed = Instant::now();
    signal(pid, Signal::SIGKILL)?;
    let killed_master = (target == Target::Master).then_some(master_pid);
    match back(agent, killed_master, Some(worker_pid), killed).await {
        Some(ms) => k.back_ms[t].push(ms),
        None => eprintln!("round {round}: no new haproxy worker within {DEADLINE:?}"),
    }
    sleep_until(killed + CHURN_AFTER_KILL).await;
    let world = churn.pause()?;
    let last_change = killed.elapsed();
    k.changes_after_kill
        .push((churn.written() - written) as f64);
    let desired = world.desired();
    let outcome = probe.converge(&desired, killed, DEADLINE).await;
    let recheck = match outcome.after {
        Some(_) => Some(probe.recheck(&desired, RECHECK).await),
        None => None,
    };
    k.tallies[t].record(
        &format!("round {round} ({target:?} {pid} killed)"),
        &outcome,
        last_change,
        recheck.as_ref(),
    );
    Ok(!k.tallies[t].too_many_failures())
}
