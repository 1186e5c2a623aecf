//! R6: disk faults in the agent's config directory, under `run --spawn-haproxy` with R1's
//! churn (10 Services) and one Service served by a real HTTP backend on loopback
//! (`web.soak`), asked for every 50 ms through HAProxy for the whole scenario.
//!
//! The config directory is a tmpfs of its own (mounted by the soak: it needs root, or
//! CAP_SYS_ADMIN, and fails saying so otherwise), so the faults are real:
//! - **full**: a file fills the tmpfs; writes fail with `ENOSPC`; a change that needs a
//!   reload (the Ingress's `proxy-connect-timeout`) is made too, which cannot be installed;
//! - **read-only**: the tmpfs is remounted read-only; writes fail with `EROFS`;
//! - **map deleted**: `maps/prefix.map` is removed;
//! - **haproxy.cfg edited by hand**: a backend is appended to it.
//!
//! Each fault must be named (`/healthz` 503 naming the directory for the first two, the
//! agent's `config_drift_total` rising for the others; a log line in each case); HAProxy must
//! keep serving (no failed request) and, but during the full fault (whose pending reload
//! holds the runtime changes behind it: counted, not required), hold the desired servers
//! from the runtime API while the fault lasts; once the fault clears (the file removed, the
//! tmpfs writable again; at once for the last two), HAProxy must converge (the R1 oracle),
//! the reload asked for must happen, and the files on disk must be current: the route maps'
//! entries and haproxy.cfg's servers those the objects ask for.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration::EchoServer;
use serde_json::{Value, json};
use tokio::time::Instant;

use integration::agent_proc::{AgentOptions, AgentProcess};
use integration::figures::{self, r3};

use crate::churn::Churn;
use crate::objects::{to_yaml, write_atomic};
use crate::observe::{Probe, diff};
use crate::r6_setup::{
    TMPFS_SIZE, TRAFFIC_EVERY, Tmpfs, Traffic, disk_problems, fill, web_objects, with_web,
};
use crate::scenario::{Opened, Scenario, Source, agent_counters};
use crate::tally::{DEADLINE, RECHECK, Tally};
use crate::world::{Desired, World};

const SERVICES: usize = 10;
const ENDPOINTS: usize = 5;
const MAX_ENDPOINTS: usize = 10;
const POOL: usize = 40;
const CHURN_INTERVAL: Duration = Duration::from_millis(25);
/// The churn goes on this long with the fault in place.
const DURING: Duration = Duration::from_secs(3);
const DRAIN: Duration = Duration::from_secs(1);

/// The disk faults, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Full,
    ReadOnly,
    MapDeleted,
    ConfigEdited,
}

impl Fault {
    const ALL: [Fault; 4] = [
        Fault::Full,
        Fault::ReadOnly,
        Fault::MapDeleted,
        Fault::ConfigEdited,
    ];

    fn key(self) -> &'static str {
        match self {
            Fault::Full => "full",
            Fault::ReadOnly => "read_only",
            Fault::MapDeleted => "map_deleted",
            Fault::ConfigEdited => "config_edited",
        }
    }

    /// Whether the agent cannot write while it lasts (else it repairs the file itself).
    fn blocks_writes(self) -> bool {
        matches!(self, Fault::Full | Fault::ReadOnly)
    }

    /// Whether a change that needs a reload is made while it lasts. Such a change holds
    /// back the runtime changes made after it until it is installed, so HAProxy's servers
    /// are not required to follow the churn during this fault (they are counted).
    fn asks_reload(self) -> bool {
        self == Fault::Full
    }
}

/// Runs the four faults; returns the figures.
pub async fn run(agent_bin: &Path, seed: u64) -> anyhow::Result<Value> {
    let echo = EchoServer::start("web")?;
    let world = World::new(SERVICES, ENDPOINTS, POOL, MAX_ENDPOINTS);
    let scenario = Scenario::prepare(&world, Source::Files, seed).await?;
    let tmpfs = Tmpfs::mount(&scenario.agent.config_dir.clone())?;
    scenario.write_manifest("services.yaml", &crate::r4::static_objects(&world, 5))?;
    scenario.write_manifest("web.yaml", &web_objects(echo.addr()))?;
    let first = with_web(world.desired(), echo.addr());
    let options = AgentOptions::bench(DRAIN);
    let result = scenario
        .run(agent_bin, options, &first, async |s, opened| {
            faults(s, opened, &tmpfs, world, echo.addr(), seed).await
        })
        .await;
    // Unmounted once the agent and its HAProxy are stopped.
    drop(tmpfs);
    result
}

async fn metric(agent: &AgentProcess, name: &str) -> f64 {
    let text = agent.metrics().await.unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
        .sum()
}

/// Reloads the agent counted, whatever their reason.
async fn reloads(agent: &AgentProcess) -> f64 {
    let counters = agent_counters(agent).await;
    counters["reloads_by_reason"]
        .as_object()
        .map_or(0.0, |m| m.values().filter_map(Value::as_f64).sum())
}

/// Servers stale, missing, wrong or duplicate in HAProxy once it had `DEADLINE` to follow
/// `desired` (0 as soon as none is).
async fn servers_differing(probe: &Probe, desired: &Desired) -> usize {
    let until = Instant::now() + DEADLINE;
    loop {
        let n = match probe.servers().await {
            Ok(live) => {
                let d = diff(desired, &live);
                d.stale + d.missing + d.wrong + d.duplicate
            }
            Err(_) => usize::MAX,
        };
        if n == 0 || Instant::now() >= until {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the fault is named: `/healthz` 503 naming the directory, or the drift counter
/// above `drift_before`.
async fn named(agent: &AgentProcess, fault: Fault, drift_before: f64) -> bool {
    if fault.blocks_writes() {
        matches!(integration::get(agent.listen, "localhost", "/healthz").await,
            Ok(r) if r.status == 503 && r.body.contains("config directory not writable"))
    } else {
        metric(agent, "haproxy_agent_config_drift_total").await > drift_before
    }
}

/// What was seen of one fault.
#[derive(Debug, Default)]
struct Seen {
    named_ms: Option<f64>,
    still_named: bool,
    logged: bool,
    servers_during: usize,
    requests_ok: u64,
    requests_failed: u64,
    disk_current: bool,
    disk_left: Vec<String>,
    reloaded: bool,
    filled: u64,
}

impl Seen {
    /// What went wrong (nothing, when it passed).
    fn problems(&self, fault: Fault) -> Vec<String> {
        let k = fault.key();
        let checks = [
            (
                self.named_ms.is_none(),
                format!("{k}: not named within {DEADLINE:?}"),
            ),
            (
                !self.still_named,
                format!("{k}: /healthz stopped naming the fault before it cleared"),
            ),
            (!self.logged, format!("{k}: no log line names it")),
            (
                self.servers_during != 0 && !fault.asks_reload(),
                format!(
                    "{k}: haproxy's servers differed during the fault ({})",
                    self.servers_during
                ),
            ),
            (
                self.requests_failed != 0,
                format!(
                    "{k}: {} requests failed through haproxy",
                    self.requests_failed
                ),
            ),
            (
                !self.disk_current,
                format!("{k}: files on disk not current: {:?}", self.disk_left),
            ),
            (
                !self.reloaded,
                format!("{k}: the reload asked for during the fault did not happen after it"),
            ),
        ];
        checks
            .into_iter()
            .filter(|(bad, _)| *bad)
            .map(|(_, p)| p)
            .collect()
    }

    /// Its figures, into `v` (a [`Tally::json`]).
    fn fill_json(&self, fault: Fault, v: &mut Value) {
        v["named_ms"] = json!(self.named_ms);
        v["named_until_cleared"] = json!(self.still_named);
        v["logged"] = json!(self.logged);
        v["servers_differing_during_fault"] = json!(self.servers_during);
        v["requests_ok"] = json!(self.requests_ok);
        v["requests_failed"] = json!(self.requests_failed);
        v["disk_current_after"] = json!(self.disk_current);
        v["reload_after_clear"] = json!(fault.asks_reload().then_some(self.reloaded));
        v["filler_bytes"] = json!(self.filled);
    }
}

/// Everything a fault is made, watched and cleared with.
struct Scene<'a> {
    agent: &'a AgentProcess,
    tmpfs: &'a Tmpfs,
    probe: Probe,
    dir: PathBuf,
    churn: Churn,
    traffic: Traffic,
    echo: SocketAddr,
    /// The Ingresses' manifest, and its two versions (connect timeout 5 s and 6 s).
    services: PathBuf,
    statics: [String; 2],
    toggles: usize,
}

impl Scene<'_> {
    /// Makes the fault; returns the bytes of the filler, if one was written.
    fn inject(&mut self, fault: Fault) -> anyhow::Result<u64> {
        let mut filled = 0;
        match fault {
            Fault::Full => filled = fill(&self.dir)?,
            Fault::ReadOnly => self.tmpfs.remount("ro")?,
            Fault::MapDeleted => std::fs::remove_file(self.dir.join("maps/prefix.map"))?,
            Fault::ConfigEdited => {
                let cfg = self.dir.join("haproxy.cfg");
                let text = std::fs::read_to_string(&cfg)?;
                let edited = format!("{text}\nbackend edited_by_hand\n    server x 127.0.0.1:1\n");
                std::fs::write(&cfg, edited)?;
            }
        }
        if fault.asks_reload() {
            // A structural change that needs a reload, which needs the disk.
            self.toggles += 1;
            write_atomic(&self.services, &self.statics[self.toggles % 2])?;
        }
        Ok(filled)
    }

    fn clear(&self, fault: Fault) -> anyhow::Result<()> {
        match fault {
            Fault::Full => std::fs::remove_file(self.dir.join("filler"))?,
            Fault::ReadOnly => self.tmpfs.remount("rw")?,
            Fault::MapDeleted | Fault::ConfigEdited => {}
        }
        Ok(())
    }

    /// Waits up to the deadline from `since` for more reloads than `before`.
    async fn reloaded_since(&self, before: f64, since: Instant) -> bool {
        integration::wait_until(
            "a reload",
            DEADLINE.saturating_sub(since.elapsed()),
            async || reloads(self.agent).await > before,
        )
        .await
        .is_ok()
    }

    /// Log lines since byte `from` of the agent's log.
    fn log_since(&self, from: u64) -> String {
        let log = std::fs::read(&self.agent.log_path).unwrap_or_default();
        String::from_utf8_lossy(&log[(from as usize).min(log.len())..]).into_owned()
    }

    /// One fault, from the churn before it to the recheck after it cleared.
    async fn one(&mut self, fault: Fault) -> anyhow::Result<Value> {
        let agent = self.agent;
        self.churn.resume();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let drift_before = metric(agent, "haproxy_agent_config_drift_total").await;
        let reloads_before = reloads(agent).await;
        let (ok_before, failed_before) = self.traffic.counts();
        let log_before = std::fs::metadata(&agent.log_path).map_or(0, |m| m.len());
        let injected = Instant::now();
        let mut seen = Seen {
            filled: self.inject(fault)?,
            ..Seen::default()
        };
        seen.named_ms = integration::wait_until("the fault is named", DEADLINE, async || {
            named(agent, fault, drift_before).await
        })
        .await
        .ok()
        .map(|()| r3(figures::ms(injected.elapsed())));
        tokio::time::sleep(DURING.saturating_sub(injected.elapsed())).await;
        let desired = with_web(self.churn.pause()?.desired(), self.echo);
        // While the fault lasts, HAProxy follows the objects anyway (runtime API).
        seen.servers_during = servers_differing(&self.probe, &desired).await;
        seen.still_named = !fault.blocks_writes() || named(agent, fault, drift_before).await;
        let cleared = Instant::now();
        self.clear(fault)?;
        let outcome = self.probe.converge(&desired, cleared, DEADLINE).await;
        seen.disk_current =
            integration::wait_until("the files are current", DEADLINE, async || {
                disk_problems(&self.dir, &desired).is_empty()
            })
            .await
            .is_ok();
        seen.disk_left = disk_problems(&self.dir, &desired);
        seen.reloaded = !fault.asks_reload() || self.reloaded_since(reloads_before, cleared).await;
        let recheck = match outcome.after {
            Some(_) => Some(self.probe.recheck(&desired, RECHECK).await),
            None => None,
        };
        let mut tally = Tally::default();
        tally.record(fault.key(), &outcome, Duration::ZERO, recheck.as_ref());
        let log = self.log_since(log_before);
        seen.logged = if fault.blocks_writes() {
            log.contains("config directory fault") && log.contains("fault cleared")
        } else {
            log.contains("behind the agent's back")
        };
        let (ok_after, failed_after) = self.traffic.counts();
        seen.requests_ok = ok_after - ok_before;
        seen.requests_failed = failed_after - failed_before;
        let problems = seen.problems(fault);
        for p in &problems {
            eprintln!("{p}");
        }
        if !problems.is_empty() {
            eprintln!("{}", agent.log_tail());
        }
        eprintln!("{}", tally.line(fault.key()));
        let mut v = tally.json();
        seen.fill_json(fault, &mut v);
        v["passed"] = json!(tally.passed() && problems.is_empty());
        v["problems"] = json!(problems);
        Ok(v)
    }
}

async fn faults(
    s: &mut Scenario,
    opened: Opened,
    tmpfs: &Tmpfs,
    world: World,
    echo: SocketAddr,
    seed: u64,
) -> anyhow::Result<Value> {
    let Opened { probe, version } = opened;
    let (agent, sink) = (&s.agent, s.sink.clone());
    let statics = [
        to_yaml(&crate::r4::static_objects(&world, 5))?,
        to_yaml(&crate::r4::static_objects(&world, 6))?,
    ];
    let mut scene = Scene {
        agent,
        tmpfs,
        probe,
        dir: agent.config_dir.clone(),
        churn: Churn::start(world, sink, CHURN_INTERVAL, seed),
        traffic: Traffic::start(agent.http),
        echo,
        services: agent.manifests.join("services.yaml"),
        statics,
        toggles: 0,
    };
    let mut out = serde_json::Map::new();
    for fault in Fault::ALL {
        out.insert(fault.key().into(), scene.one(fault).await?);
    }
    let all_passed = out.values().all(|v| v["passed"] == json!(true));
    let Scene { churn, traffic, .. } = scene;
    let examples = traffic.stop().await;
    let written = churn.written();
    churn.stop().await?;
    let counters = agent_counters(agent).await;
    Ok(json!({
        "haproxy_version": version,
        "seed": seed,
        "services": SERVICES,
        "churn_interval_ms": CHURN_INTERVAL.as_millis() as u64,
        "during_ms": DURING.as_millis() as u64,
        "traffic_every_ms": TRAFFIC_EVERY.as_millis() as u64,
        "tmpfs_size": TMPFS_SIZE,
        "deadline_ms": DEADLINE.as_millis() as u64,
        "changes_written": written,
        "failed_request_examples": examples,
        "faults": out,
        "agent": counters,
        "config_drift_total": metric(agent, "haproxy_agent_config_drift_total").await,
        "config_write_failures_total": metric(agent, "haproxy_agent_config_write_failures_total").await,
        "passed": all_passed,
    }))
}
