//! R4: a long run. The objects of R1 (20 Services, the Ingress, the canary Ingress, the TLS
//! Ingress and its Secret) as manifest files under `run --spawn-haproxy`, with R1's churn (one
//! change every 25 ms) for the whole run, and a reload every 20 s (the Ingress's
//! `proxy-connect-timeout` annotation toggled between 5 and 6 s, a backend option). Before
//! each reload two client connections are opened on HAProxy's HTTP bind with an unfinished
//! request, so the worker the reload retires has streams to wait for and stays until
//! `hard-stop-after` ends it (`timeout http-request` is longer).
//!
//! Every second HAProxy's processes (the children of the master, and the old workers its
//! `show proc` lists); every few seconds the agent's resident memory (`VmRSS` of
//! `/proc/PID/status`) and its open file descriptors (`/proc/PID/fd`). Pass: after a warm-up
//! (the first sixth of the run, at least 120 s), the median of the last sixth exceeds the
//! median of the sixth after the warm-up by at most 5 %, for memory and for descriptors; no
//! old worker is seen alive longer than the `hard-stop-after` of the haproxy.cfg the agent
//! wrote (plus 3 s: see [`STOP_SLACK`]), counted
//! from the start of the worker that replaced it (its `show proc` uptime); and at the end,
//! churn stopped, HAProxy converges to the objects (the R1 oracle) within the deadline.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use haproxy_agent::store::Object;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};

use integration::agent_proc::{self, AgentOptions, AgentProcess};
use integration::figures::{self, r3};

use crate::churn::Churn;
use crate::objects::{to_yaml, write_atomic};
use crate::scenario::{Opened, Scenario, Source, agent_counters};
use crate::tally::{DEADLINE, RECHECK, Tally};
use crate::world::World;

const SERVICES: usize = 20;
const ENDPOINTS: usize = 5;
const MAX_ENDPOINTS: usize = 10;
const POOL: usize = 40;
const CHURN_INTERVAL: Duration = Duration::from_millis(25);
const RELOAD_EVERY: Duration = Duration::from_secs(20);
/// HAProxy's workers are looked at this often (memory and descriptors every few polls).
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Connections held open across each reload.
const HELD: usize = 2;
/// The shortest warm-up (see [`judge`]): the agent's bounded records fill first. The store's
/// change log keeps 4,096 changes, ~102 s of R4's churn (one change every 25 ms), and the
/// sync history 256 syncs; until then the live heap grows by design (heaptrack on a 1,200 s
/// run: flat after that, peak ~3 MB).
const WARM_UP_MIN: Duration = Duration::from_secs(120);
/// Growth allowed after the warm-up, percent.
pub const MAX_GROWTH_PERCENT: f64 = 5.0;
/// An old worker may outlive `hard-stop-after` by this much: `show proc`'s one-second uptime
/// resolution, the one-second polling, and the time from the new worker's start to the old
/// one's soft stop (which starts its `hard-stop-after`). Without a hard stop, an old worker
/// would live until `timeout http-request` (longer) closes the held connections.
const STOP_SLACK: Duration = Duration::from_secs(3);
const DRAIN: Duration = Duration::from_secs(1);
const TIMEOUT_ANNOTATION: &str = "nginx.ingress.kubernetes.io/proxy-connect-timeout";

/// One look at the processes.
#[derive(Debug, Clone, Copy)]
struct Sample {
    t: Duration,
    rss_kib: u64,
    fds: usize,
    /// Children of HAProxy's master (its workers, current and old).
    workers: usize,
    /// Old workers the master lists.
    old_workers: usize,
}

impl Sample {
    fn json(&self) -> Value {
        json!({
            "t_s": r3(self.t.as_secs_f64()),
            "rss_kib": self.rss_kib,
            "fds": self.fds,
            "workers": self.workers,
            "old_workers": self.old_workers,
        })
    }
}

fn fd_count(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("list /proc/{pid}/fd"))?
        .count())
}

/// Live HAProxy processes whose parent is `parent`.
fn haproxy_children(parent: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) state ppid ...`
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            ppid == Some(parent) && agent_proc::is_live_haproxy(*pid)
        })
        .count()
}

/// `hard-stop-after` in the haproxy.cfg at `path` (`5s`, `1m`, `500ms`).
fn hard_stop_after(path: &Path) -> anyhow::Result<Duration> {
    let cfg = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let value = cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("hard-stop-after "))
        .context("no hard-stop-after in haproxy.cfg")?
        .trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (n, unit) = value.split_at(split);
    let n: u64 = n
        .parse()
        .with_context(|| format!("hard-stop-after {value}"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => anyhow::bail!("hard-stop-after unit {other:?}"),
    })
}

/// The static objects with the Ingress's connect timeout set to `seconds`.
pub(crate) fn static_objects(world: &World, seconds: u32) -> Vec<Object> {
    let mut out = world.static_objects();
    for o in &mut out {
        if let Object::Ingress(i) = o
            && i.metadata.name.as_deref() == Some("soak")
        {
            i.metadata
                .annotations
                .get_or_insert_default()
                .insert(TIMEOUT_ANNOTATION.into(), seconds.to_string());
        }
    }
    out
}

/// Opens connections on HAProxy's HTTP bind with a request whose headers never end.
async fn hold(addr: std::net::SocketAddr) -> Vec<TcpStream> {
    let mut out = Vec::new();
    for _ in 0..HELD {
        if let Ok(mut s) = TcpStream::connect(addr).await
            && s.write_all(b"GET /svc-00 HTTP/1.1\r\nHost: hold.soak\r\n")
                .await
                .is_ok()
        {
            out.push(s);
        }
    }
    out
}

/// Runs the churn for `duration`; returns the figures.
pub async fn run(agent_bin: &Path, duration: Duration, seed: u64) -> anyhow::Result<Value> {
    let world = World::new(SERVICES, ENDPOINTS, POOL, MAX_ENDPOINTS);
    let scenario = Scenario::prepare(&world, Source::Files, seed).await?;
    scenario.write_manifest("services.yaml", &static_objects(&world, 5))?;
    let first = world.desired();
    let options = AgentOptions::bench(DRAIN);
    scenario
        .run(agent_bin, options, &first, async move |s, opened| {
            long_run(s, opened, world, duration, seed).await
        })
        .await
}

/// Old workers: pid -> (when it was retired, last seen alive).
type OldWorkers = BTreeMap<u32, (Instant, Instant)>;

/// HAProxy's workers, polled every [`POLL_EVERY`].
#[derive(Debug, Default)]
struct Workers {
    old: OldWorkers,
    /// Most HAProxy processes under the master at one poll.
    max: usize,
}

impl Workers {
    /// Looks at the master's children and its `show proc`; returns how many children and
    /// old workers there are. An old worker seen for the first time was retired when the
    /// current worker started: its uptime ago, less a second (uptime has one-second
    /// resolution), so an age is never under-counted.
    async fn poll(&mut self, agent: &mut AgentProcess, now: Instant) -> (usize, usize) {
        let Ok(procs) = agent.show_proc().await else {
            return (0, 0);
        };
        let current_uptime = procs.workers.first().map_or(Duration::ZERO, |w| w.uptime);
        let retired = now
            .checked_sub(current_uptime + Duration::from_secs(1))
            .unwrap_or(now);
        for w in &procs.old_workers {
            self.old.entry(w.pid).or_insert((retired, now)).1 = now;
        }
        let children = haproxy_children(procs.master.pid);
        self.max = self.max.max(children);
        (children, procs.old_workers.len())
    }
}

async fn long_run(
    s: &mut Scenario,
    opened: Opened,
    world: World,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<Value> {
    let Opened { probe, version } = opened;
    let (agent, sink) = (&mut s.agent, s.sink.clone());
    let hard_stop = hard_stop_after(&agent.config_dir.clone().join("haproxy.cfg"))?;
    let services = agent.manifests.join("services.yaml");
    let statics = (
        to_yaml(&static_objects(&world, 5))?,
        to_yaml(&static_objects(&world, 6))?,
    );
    let sample_every = (duration / 360).clamp(POLL_EVERY, Duration::from_secs(5));
    let churn = Churn::start(world, sink, CHURN_INTERVAL, seed);
    churn.resume();
    let (samples, workers, toggles) =
        churn_and_sample(agent, &services, &statics, duration, sample_every).await?;
    let desired = churn.pause()?.desired();
    let stopped = Instant::now();
    let outcome = probe.converge(&desired, stopped, DEADLINE).await;
    let recheck = match outcome.after {
        Some(_) => Some(probe.recheck(&desired, RECHECK).await),
        None => None,
    };
    let mut tally = Tally::default();
    tally.record("end of the run", &outcome, Duration::ZERO, recheck.as_ref());
    let written = churn.written();
    churn.stop().await?;
    agent.wait_healthy(Duration::from_secs(5)).await?;
    let counters = agent_counters(agent).await;
    let verdict = judge(&samples, &workers.old, hard_stop, duration);
    print_line(duration, &verdict, workers.old.len(), hard_stop);
    eprintln!("{}", tally.line("converged at the end"));
    let growth = |(base, end, pct): (f64, f64, f64)| {
        json!({"baseline_median": base, "end_median": end, "growth_percent": figures::round(pct, 2),
               "passed": pct <= MAX_GROWTH_PERCENT})
    };
    let passed = tally.passed()
        && verdict.rss.2 <= MAX_GROWTH_PERCENT
        && verdict.fds.2 <= MAX_GROWTH_PERCENT
        && verdict.lingering.is_empty()
        && !samples.is_empty();
    Ok(json!({
        "haproxy_version": version,
        "seed": seed,
        "services": SERVICES,
        "duration_s": duration.as_secs(),
        "warm_up_s": r3(verdict.warm_up.as_secs_f64()),
        "window_s": r3(verdict.window.as_secs_f64()),
        "sample_every_s": r3(sample_every.as_secs_f64()),
        "churn_interval_ms": CHURN_INTERVAL.as_millis() as u64,
        "reload_every_s": RELOAD_EVERY.as_secs(),
        "held_connections_per_reload": HELD,
        "max_growth_percent": MAX_GROWTH_PERCENT,
        "hard_stop_after_s": r3(hard_stop.as_secs_f64()),
        "stop_slack_s": STOP_SLACK.as_secs(),
        "changes_written": written,
        "reloads_triggered": toggles,
        "rss": growth(verdict.rss),
        "fds": growth(verdict.fds),
        "old_workers_seen": workers.old.len(),
        "longest_old_worker_s": r3(verdict.longest_old.as_secs_f64()),
        "lingering_old_workers": verdict.lingering,
        "max_workers": workers.max,
        "poll_every_s": r3(POLL_EVERY.as_secs_f64()),
        "end": tally.json(),
        "agent": counters,
        "samples": samples.iter().map(Sample::json).collect::<Vec<_>>(),
        "passed": passed,
    }))
}

/// Churns for `duration` with a reload every [`RELOAD_EVERY`] (`services` rewritten with each
/// of `statics` in turn), polling HAProxy's workers every [`POLL_EVERY`] and sampling the
/// agent every `sample_every`; returns the samples, the workers seen and the reloads asked.
async fn churn_and_sample(
    agent: &mut AgentProcess,
    services: &Path,
    statics: &(String, String),
    duration: Duration,
    sample_every: Duration,
) -> anyhow::Result<(Vec<Sample>, Workers, usize)> {
    let pid = agent.pid().context("the agent is not running")?;
    let start = Instant::now();
    let (mut next_poll, mut next_sample, mut next_reload) = (start, start, start + RELOAD_EVERY);
    let mut samples = Vec::new();
    let mut workers = Workers::default();
    let mut toggles = 0usize;
    let mut held = Vec::new();
    while start.elapsed() < duration {
        sleep_until(next_poll.min(next_reload)).await;
        let now = Instant::now();
        if now >= next_reload {
            held = hold(agent.http).await;
            toggles += 1;
            write_atomic(
                services,
                if toggles % 2 == 1 {
                    &statics.1
                } else {
                    &statics.0
                },
            )?;
            next_reload += RELOAD_EVERY;
        }
        if now >= next_poll {
            let (children, old_now) = workers.poll(agent, now).await;
            if now >= next_sample {
                let status = agent_proc::proc_status_kib(pid)?;
                samples.push(Sample {
                    t: now - start,
                    rss_kib: status.get("VmRSS").copied().unwrap_or(0),
                    fds: fd_count(pid)?,
                    workers: children,
                    old_workers: old_now,
                });
                next_sample += sample_every;
            }
            next_poll += POLL_EVERY;
        }
    }
    drop(held);
    Ok((samples, workers, toggles))
}

/// The run in one line, for people.
fn print_line(duration: Duration, verdict: &Verdict, old_seen: usize, hard_stop: Duration) {
    eprintln!(
        "long run {} s: rss {} -> {} KiB ({:+.2} %), fds {} -> {} ({:+.2} %), old workers seen {}, longest {:.1} s (hard-stop-after {:?}), lingering {}",
        duration.as_secs(),
        verdict.rss.0,
        verdict.rss.1,
        verdict.rss.2,
        verdict.fds.0,
        verdict.fds.1,
        verdict.fds.2,
        old_seen,
        verdict.longest_old.as_secs_f64(),
        hard_stop,
        verdict.lingering.len(),
    );
}

/// The verdict on the samples.
struct Verdict {
    warm_up: Duration,
    window: Duration,
    /// Baseline median, end median, growth percent.
    rss: (f64, f64, f64),
    fds: (f64, f64, f64),
    longest_old: Duration,
    /// Old workers seen alive beyond `hard-stop-after` + slack: pid, seconds.
    lingering: Vec<(u32, f64)>,
}

fn judge(samples: &[Sample], old: &OldWorkers, hard_stop: Duration, duration: Duration) -> Verdict {
    // A sixth of the run, but at least WARM_UP_MIN (the bounded records fill), and at most
    // half of a short run.
    let warm_up = (duration / 6).max(WARM_UP_MIN.min(duration / 2));
    let window = duration / 6;
    let growth = |f: fn(&Sample) -> f64| {
        let within = |lo: Duration, hi: Duration| -> Vec<f64> {
            samples
                .iter()
                .filter(|s| s.t >= lo && s.t <= hi)
                .map(f)
                .collect()
        };
        let base = figures::median(&within(warm_up, warm_up + window));
        let end = figures::median(&within(duration.saturating_sub(window), duration));
        let pct = if base > 0.0 {
            (end - base) / base * 100.0
        } else {
            f64::INFINITY
        };
        (base, end, pct)
    };
    let ages = old
        .iter()
        .map(|(pid, (retired, seen))| (*pid, *seen - *retired));
    let longest_old = ages.clone().map(|(_, a)| a).max().unwrap_or_default();
    let lingering = ages
        .filter(|(_, a)| *a > hard_stop + STOP_SLACK)
        .map(|(p, a)| (p, r3(a.as_secs_f64())))
        .collect();
    Verdict {
        warm_up,
        window,
        rss: growth(|s| s.rss_kib as f64),
        fds: growth(|s| s.fds as f64),
        longest_old,
        lingering,
    }
}
