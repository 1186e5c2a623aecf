//! R2: the agent SIGKILLed while it applies a batch of hundreds of endpoint changes, then
//! restarted on the same manifests and config directories.
//!
//! 20 Services of 20 endpoints (400 servers, and the canary backend's 40), as manifest files.
//! A batch replaces about half of every Service's endpoints (about 200 removed and 200
//! added). Five batches without a fault first measure, looking every millisecond, when
//! HAProxy shows a batch's first change and when it holds all of it. Each round: write a
//! batch, SIGKILL the agent at a random moment from 5 ms before the earliest first change to
//! the earliest completion, look at what HAProxy holds then (the batch not started, part of
//! it, or all of it: commands already sent still run), restart the agent and measure the
//! time from the restart until HAProxy holds exactly the desired servers and the agent is
//! healthy (deadline 10 s), then recheck 250 ms later. Restarts alternate between the two
//! ways to run: **attach** (no `--spawn-haproxy`: the sidecar set-up, HAProxy runs on and
//! the new agent adopts it) and **spawn** (`--spawn-haproxy`: the new agent starts HAProxy
//! itself while the one the killed agent started still runs, and must retire that one).

use std::path::Path;
use std::time::Duration;

use anyhow::ensure;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use integration::agent_proc::{AgentOptions, AgentProcess};
use integration::figures::{self, Summary};

use crate::churn::Sink;
use crate::observe::{Have, Live, Probe, diff};
use crate::scenario::{Opened, Scenario, Source, agent_counters};
use crate::tally::{DEADLINE, RECHECK, Tally};
use crate::world::{Desired, Rng, World};

const SERVICES: usize = 20;
const ENDPOINTS: usize = 20;
const MAX_ENDPOINTS: usize = 20;
const POOL: usize = 60;
const DRAIN: Duration = Duration::from_secs(1);
const WARM_UP_BATCHES: usize = 5;
/// Kills start this long before the earliest first change seen in the warm-up.
const EARLY: Duration = Duration::from_millis(5);

fn options(spawn_haproxy: bool) -> AgentOptions {
    AgentOptions {
        spawn_haproxy,
        ..AgentOptions::bench(DRAIN)
    }
}

/// Where the batch stood when the agent died.
#[derive(Debug, Default)]
struct AtKill {
    not_started: usize,
    partial: usize,
    done: usize,
    unreadable: usize,
}

/// Runs `count` kills; returns the figures.
pub async fn run(agent_bin: &Path, count: usize, seed: u64) -> anyhow::Result<Value> {
    let world = World::new(SERVICES, ENDPOINTS, POOL, MAX_ENDPOINTS);
    let scenario = Scenario::prepare(&world, Source::Files, seed).await?;
    let first = world.desired();
    scenario
        .run(agent_bin, options(true), &first, async move |s, opened| {
            kills(s, opened, agent_bin, world, count, seed).await
        })
        .await
}

async fn kills(
    s: &mut Scenario,
    opened: Opened,
    agent_bin: &Path,
    mut world: World,
    count: usize,
    seed: u64,
) -> anyhow::Result<Value> {
    let Opened { probe, version } = opened;
    let mut b = Killer {
        agent: &mut s.agent,
        agent_bin,
        probe: &probe,
        sink: &s.sink,
        rng: Rng::new(seed ^ 0x5eed_0002),
    };
    let (first_ms, done_ms) = b.window(&mut world).await?;
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let lo = Duration::from_secs_f64(min(&first_ms) / 1000.0).saturating_sub(EARLY);
    let hi = Duration::from_secs_f64(min(&done_ms) / 1000.0);
    eprintln!(
        "a batch shows in haproxy from {first_ms:?} ms to {done_ms:?} ms after the write; kills at {lo:?}-{hi:?}"
    );
    let mut r = Rounds::default();
    for round in 0..count {
        if !b.round(&mut world, round, (lo, hi), &mut r).await? {
            eprintln!("too many failures; stopping");
            break;
        }
    }
    b.agent.wait_healthy(Duration::from_secs(5)).await?;
    let counters = agent_counters(b.agent).await;
    let [attach, spawn] = &r.tallies;
    eprintln!("{}", attach.line("restarted attached"));
    eprintln!("{}", spawn.line("restarted spawning"));
    eprintln!("batch state at the kills: {:?}", r.at_kill);
    Ok(json!({
        "haproxy_version": version,
        "seed": seed,
        "services": SERVICES,
        "endpoints": ENDPOINTS,
        "servers": world.endpoint_count(),
        "deadline_ms": DEADLINE.as_millis() as u64,
        "recheck_ms": RECHECK.as_millis() as u64,
        "warm_up_first_change_ms": first_ms.iter().map(|x| figures::r3(*x)).collect::<Vec<_>>(),
        "warm_up_done_ms": done_ms.iter().map(|x| figures::r3(*x)).collect::<Vec<_>>(),
        "kill_after_write_ms": [figures::r3(figures::ms(lo)), figures::r3(figures::ms(hi))],
        "kills": attach.faults + spawn.faults,
        "servers_changed_per_batch": {
            "median": figures::median(&r.changes),
            "max": Summary::of(&r.changes).max,
        },
        "batch_at_kill": {
            "not_started": r.at_kill.not_started,
            "partial": r.at_kill.partial,
            "done": r.at_kill.done,
            "haproxy_unreadable": r.at_kill.unreadable,
        },
        "attach": attach.json(),
        "spawn": spawn.json(),
        "agent_last": counters,
        "passed": attach.passed() && spawn.passed(),
    }))
}

/// What the kills work with.
struct Killer<'a> {
    agent: &'a mut AgentProcess,
    agent_bin: &'a Path,
    probe: &'a Probe,
    sink: &'a Sink,
    rng: Rng,
}

/// The kill rounds' figures: restarted attached, restarted spawning; where each batch stood
/// at the kill; the servers each batch changed.
#[derive(Debug, Default)]
struct Rounds {
    tallies: [Tally; 2],
    at_kill: AtKill,
    changes: Vec<f64>,
}

impl Killer<'_> {
    /// Replaces half of `world`'s endpoints, written to the sink.
    fn batch(&mut self, world: &mut World) -> anyhow::Result<()> {
        for c in world.replace_half(&mut self.rng) {
            self.sink.write(world, c)?;
        }
        Ok(())
    }

    /// The window: from when HAProxy shows the first change of a batch to when it holds
    /// all of it, when nothing goes wrong (looked at every millisecond), for each warm-up
    /// batch, in ms.
    async fn window(&mut self, world: &mut World) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
        let (mut first_ms, mut done_ms) = (Vec::new(), Vec::new());
        for _ in 0..WARM_UP_BATCHES {
            let before = world.desired();
            self.batch(world)?;
            let wrote = Instant::now();
            let desired = world.desired();
            let mut first = None;
            loop {
                let live = self.probe.servers().await?;
                if first.is_none() && !diff(&before, &live).is_clean() {
                    first = Some(wrote.elapsed());
                }
                if diff(&desired, &live).is_clean() {
                    first_ms.push(figures::ms(first.unwrap_or_default()));
                    done_ms.push(figures::ms(wrote.elapsed()));
                    break;
                }
                ensure!(wrote.elapsed() < DEADLINE, "a batch did not converge");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        Ok((first_ms, done_ms))
    }

    /// Round `round`: a batch, the agent killed a random time in `(lo, hi)` after the
    /// write, restarted (attached on even rounds, spawning on odd ones) and awaited.
    /// Returns false when its kind of restart failed too often to go on.
    async fn round(
        &mut self,
        world: &mut World,
        round: usize,
        (lo, hi): (Duration, Duration),
        r: &mut Rounds,
    ) -> anyhow::Result<bool> {
        let spawn = round % 2 == 1;
        let before = world.desired();
        self.batch(world)?;
        let wrote = Instant::now();
        let desired = world.desired();
        r.changes.push(changed_servers(&before, &desired) as f64);
        let delay = self.rng.between(lo, hi);
        sleep_until(wrote + delay).await;
        self.agent.kill().await?;
        match self.probe.servers().await {
            Ok(live) => {
                if diff(&before, &live).is_clean() {
                    r.at_kill.not_started += 1;
                } else if diff(&desired, &live).is_clean() {
                    r.at_kill.done += 1;
                } else {
                    r.at_kill.partial += 1;
                }
            }
            Err(_) => r.at_kill.unreadable += 1,
        }
        let restarted = Instant::now();
        self.agent.spawn(self.agent_bin, &options(spawn))?;
        let outcome = self.probe.converge(&desired, restarted, DEADLINE).await;
        let recheck = match outcome.after {
            Some(_) => Some(self.probe.recheck(&desired, RECHECK).await),
            None => None,
        };
        let t = spawn as usize;
        r.tallies[t].record(
            &format!(
                "round {round} (killed {delay:?} after the write, restarted {})",
                if spawn {
                    "with --spawn-haproxy"
                } else {
                    "attached"
                }
            ),
            &outcome,
            Duration::ZERO,
            recheck.as_ref(),
        );
        // Remember the HAProxy pids, to stop them at the end whatever happens.
        let _ = self.agent.show_proc().await;
        Ok(!r.tallies[t].too_many_failures())
    }
}

/// Servers added, removed or changed between two desired states.
fn changed_servers(a: &Desired, b: &Desired) -> usize {
    let d = diff(b, &live_of(a));
    d.stale + d.missing + d.wrong
}

/// A desired state as if HAProxy held it.
fn live_of(d: &Desired) -> Live {
    d.servers
        .iter()
        .map(|(be, servers)| {
            let s = servers
                .iter()
                .map(|(name, w)| {
                    (
                        name.clone(),
                        Have {
                            addr: Some(w.addr),
                            ready: w.ready,
                            drain: !w.ready,
                            weight: w.weight.unwrap_or(0),
                        },
                    )
                })
                .collect();
            (be.clone(), s)
        })
        .collect()
}
