//! Benchmark P2: 10,000 endpoint changes applied at once, against the raw socket rate
//! measured in the same run on the same HAProxy.
//!
//! HAProxy starts with 100 backends (one Service each, routed by one Ingress) and no
//! servers. One store update then brings 100 new ready endpoints to every Service's
//! EndpointSlice: 10,000 endpoint changes. **agent** is the time from that store update
//! through translate, observe (`show backend`, `show servers state`, `show map`), plan, the
//! pipelined `add server` + `set server … state ready` batch and its checked replies, to the
//! config and maps written back to disk. **raw** sends the very same command bytes (the
//! plan the agent makes for that change, encoded) on a prompt-mode connection of its own
//! and only counts the prompts: the physical limit of the socket. Both sides start with no
//! connection open and pay the same set-up inside their timer (connect, `prompt`, its
//! prompt back): the agent's runtime session is closed before its trial.
//!
//! Trials are pairs: in each, both sides run back to back, the agent first in even trials
//! and raw first in odd ones. Each pair gives one ratio (agent rate / raw rate = raw time /
//! agent time); the ratios' median, smallest and largest are reported, and every sample
//! is kept. After each side the agent removes the 10,000 servers again (drain, `del
//! server`), which is timed too.
//!
//! With `--policies true` the Ingress carries the policy-heavy ingress-nginx annotation set
//! (`common::POLICIES`).
//!
//! Run: `cargo bench -p haproxy-agent --bench bulk -- [BACKENDS] [ENDPOINTS_PER_BACKEND] [TRIALS] [--policies true] [--json PATH]`

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use haproxy::config::structure;
use haproxy_agent::apply::observe;
use haproxy_agent::reconcile::{self, Plan, PlanSettings};
use haproxy_agent::store::{Object, Store};
use haproxy_agent::translate::{Settings, translate};
use integration::bench_stats;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use common::{Args, EpState, Harness, Rule, ingress, median, ms, r3, round, service, slice};

/// `backends` Services `svc-<b>`, one Ingress routing `/svc-<b>` to each, and their slices
/// with `per` ready endpoints `10.<b/256>.<b%256>.<e+1>:8080` each.
fn objects(backends: usize, per: usize, policies: bool) -> Vec<Object> {
    let names: Vec<String> = (0..backends).map(|b| format!("svc-{b}")).collect();
    let paths: Vec<String> = names.iter().map(|n| format!("/{n}")).collect();
    let mut out = Vec::with_capacity(2 * backends + 1);
    let rules: Vec<Rule<'_>> = names
        .iter()
        .zip(&paths)
        .map(|(n, p)| Rule {
            path: p,
            service: n,
            port: 80,
        })
        .collect();
    out.extend(common::with_policies(
        vec![ingress("bulk", None, &rules)],
        policies,
    ));
    for (b, name) in names.iter().enumerate() {
        out.push(service(name, 80, 8080));
        let eps: Vec<(IpAddr, EpState)> = (0..per)
            .map(|e| {
                let ip = IpAddr::from([10, (b / 256) as u8, (b % 256) as u8, (e + 1) as u8]);
                (ip, EpState::Ready)
            })
            .collect();
        out.push(slice(&format!("{name}-1"), name, 8080, &eps));
    }
    out
}

/// Connects, enters prompt mode and writes `bytes` while counting `\n> ` prompts, until
/// `replies` prompts came back; returns the time from before the connect (the agent's
/// timer also covers its connection set-up).
async fn raw_exchange(socket: &Path, bytes: &[u8], replies: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let stream = UnixStream::connect(socket).await?;
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(b"prompt\n").await?;
    let mut buf = vec![0u8; 1 << 16];
    let mut seen = Vec::new();
    while !seen.ends_with(b"\n> ") {
        let n = rd.read(&mut buf).await?;
        if n == 0 {
            bail!("socket closed during prompt");
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let write = async { wr.write_all(bytes).await };
    let read = async {
        let mut prompts = 0usize;
        let mut tail = [0u8; 2];
        let mut window = Vec::with_capacity(buf.len() + 2);
        while prompts < replies {
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                bail!("socket closed after {prompts} replies");
            }
            window.clear();
            window.extend_from_slice(&tail);
            window.extend_from_slice(&buf[..n]);
            prompts += window.windows(3).filter(|w| w == b"\n> ").count();
            tail.copy_from_slice(&window[window.len() - 2..]);
        }
        Ok(())
    };
    let (w, r) = tokio::join!(write, read);
    w?;
    r?;
    Ok(started.elapsed())
}

/// Syncs until nothing drains any more; returns the time taken.
async fn remove_all(h: &mut Harness, empty: &[Object]) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    h.store.replace_all(empty.to_vec());
    loop {
        let report = h.sync().await?;
        ensure!(report.reloads.is_empty(), "removal reloaded: {report:?}");
        if report.draining == 0 {
            break;
        }
    }
    let took = t0.elapsed();
    ensure!(h.server_count().await? == 0, "servers left after removal");
    Ok(took)
}

/// What both sides of a trial start from and must reach.
struct Sides<'a> {
    full: &'a [Object],
    total: usize,
    desired: &'a haproxy::config::Config,
    want: &'a haproxy::config::Structure,
}

impl Sides<'_> {
    /// The agent's side: from the store update to the synced HAProxy, its runtime session
    /// closed first. Returns the seconds taken and the runtime commands sent.
    async fn agent(&self, h: &mut Harness) -> anyhow::Result<(f64, usize)> {
        h.runtime.disconnect().await;
        let t0 = Instant::now();
        h.store.replace_all(self.full.to_vec());
        let report = h.sync().await?;
        let took = t0.elapsed();
        ensure!(
            report.reloads.is_empty(),
            "endpoint changes reloaded: {report:?}"
        );
        let live = h.server_count().await?;
        ensure!(
            live == self.total,
            "the agent left {live} servers, not {}",
            self.total
        );
        Ok((took.as_secs_f64(), report.commands))
    }

    /// The raw side: the commands the agent plans for the same change, on a connection of
    /// its own. Returns the seconds taken and the commands sent.
    async fn raw(&self, h: &mut Harness) -> anyhow::Result<(f64, usize)> {
        let observed = observe(&h.runtime, self.desired, Some(self.want)).await?;
        let plan = reconcile::plan(
            self.desired,
            self.want.as_str(),
            &observed,
            &BTreeMap::new(),
            std::time::Instant::now(),
            PlanSettings {
                drain_timeout: Duration::from_secs(5),
            },
        );
        let Plan::Runtime(plan) = plan else {
            bail!("the raw side's plan is a reload: {plan:?}");
        };
        ensure!(plan.swaps.is_empty(), "the raw side's plan swaps maps");
        // What `Command::encode` writes: each command's text and its LF.
        let mut bytes = Vec::new();
        for c in &plan.commands {
            bytes.extend_from_slice(c.to_text()?.as_bytes());
            bytes.push(b'\n');
        }
        h.runtime.disconnect().await;
        let took = raw_exchange(&h.settings.runtime_socket, &bytes, plan.commands.len()).await?;
        let live = h.server_count().await?;
        ensure!(
            live == self.total,
            "the raw commands left {live} servers, not {}",
            self.total
        );
        // The raw commands changed HAProxy behind the agent: it reads everything again.
        h.observe_everything_next();
        Ok((took.as_secs_f64(), plan.commands.len()))
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let backends = args.number(0, 100)?;
    let per = args.number(1, 100)?;
    let trials = args.number(2, 3)?;
    ensure!(
        backends <= 65_536 && per <= 254,
        "at most 65536 backends of 254 endpoints"
    );
    let total = backends * per;
    let policies = args.named("policies") == Some("true");
    let empty = objects(backends, 0, policies);
    let full = objects(backends, per, policies);

    let mut h = Harness::start(empty.clone()).await?;
    let procs = h.show_proc().await?;
    let version = procs.master.version.clone();
    let reloads_start = procs.master.reloads;

    let (desired, translate_ms) = translate_alone(&full, &h.settings)?;
    let want = structure(&desired);
    let side = Sides {
        full: &full,
        total,
        desired: &desired,
        want: &want,
    };
    let t = side.trials(&mut h, &empty, trials).await?;
    let reloads = h.reloads().await? - reloads_start;
    h.stop().await?;
    let run = Run {
        version,
        total,
        backends,
        per,
        trials,
        policies,
    };
    args.write_json(&report(&run, &t, &translate_ms, reloads)?)?;
    Ok(())
}

/// The desired config with every endpoint, for the raw side's plan, and the time
/// translation alone takes (five times, ms).
fn translate_alone(
    full: &[Object],
    settings: &Settings,
) -> anyhow::Result<(std::sync::Arc<haproxy::config::Config>, Vec<f64>)> {
    let side = Store::new();
    side.replace_all(full.to_vec());
    let mut translate_ms = Vec::new();
    let mut desired = None;
    for _ in 0..5 {
        let t0 = Instant::now();
        let t = translate(&side.snapshot(), settings).map_err(anyhow::Error::msg)?;
        translate_ms.push(ms(t0.elapsed()));
        desired = Some(t.config);
    }
    Ok((desired.expect("translated at least once"), translate_ms))
}

/// The trials' times, s, and the runtime commands each side sent.
#[derive(Default)]
struct Trials {
    agent_s: Vec<f64>,
    raw_s: Vec<f64>,
    removal_s: Vec<f64>,
    commands: usize,
}

impl Sides<'_> {
    /// `trials` pairs of the two sides, alternating which goes first, each followed by the
    /// removal of every server (back to the `empty` objects).
    async fn trials(
        &self,
        h: &mut Harness,
        empty: &[Object],
        trials: usize,
    ) -> anyhow::Result<Trials> {
        let mut t = Trials::default();
        for trial in 0..trials {
            let first = bench_stats::measured_first(trial);
            for agent_turn in [first, !first] {
                if agent_turn {
                    let (took, n) = self.agent(h).await?;
                    t.agent_s.push(took);
                    t.commands = n;
                } else {
                    let (took, n) = self.raw(h).await?;
                    ensure!(
                        t.commands == 0 || n == t.commands,
                        "raw sends {n} commands, the agent sent {}",
                        t.commands
                    );
                    t.commands = n;
                    t.raw_s.push(took);
                }
                t.removal_s.push(remove_all(h, empty).await?.as_secs_f64());
            }
            eprintln!(
                "trial {} ({} first): agent {:.3} s, raw {:.3} s",
                trial + 1,
                if first { "agent" } else { "raw" },
                t.agent_s[trial],
                t.raw_s[trial]
            );
        }
        Ok(t)
    }
}

/// The run's settings, beside its times.
struct Run {
    /// HAProxy's version.
    version: String,
    total: usize,
    backends: usize,
    per: usize,
    trials: usize,
    policies: bool,
}

/// Prints the figures and returns them as JSON.
fn report(run: &Run, t: &Trials, translate_ms: &[f64], reloads: u32) -> anyhow::Result<Value> {
    let Run {
        version,
        total,
        backends,
        per,
        trials,
        policies,
    } = run;
    let (total, trials) = (*total, *trials);
    let (agent, raw, removal) = (median(&t.agent_s), median(&t.raw_s), median(&t.removal_s));
    let ratios = bench_stats::pair_ratios(&t.agent_s, &t.raw_s);
    let spread = bench_stats::Spread::of(&ratios).context("no trial")?;
    eprintln!(
        "HAProxy {version}; {total} endpoint changes ({backends} backends x {per}), {} runtime commands, median of {trials}",
        t.commands
    );
    eprintln!(
        "agent     : {agent:>8.3} s  {:>9.0} endpoints/s",
        total as f64 / agent
    );
    eprintln!(
        "raw socket: {raw:>8.3} s  {:>9.0} endpoints/s",
        total as f64 / raw
    );
    eprintln!(
        "agent / raw rate per pair: {}",
        ratios
            .iter()
            .map(|r| format!("{:.1} %", 100.0 * r))
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!("{}", spread.verdict("agent", "raw"));
    eprintln!("removal of all {total} by the agent: {removal:.3} s");
    eprintln!(
        "translate alone: {:.1} ms (median of 5)",
        median(translate_ms)
    );
    eprintln!("reloads counted by the master: {reloads}");
    Ok(json!({
        "haproxy_version": version,
        "endpoints": total,
        "backends": backends,
        "policies": policies,
        "commands": t.commands,
        "trials": trials,
        "agent_s": t.agent_s.iter().map(|s| round(*s, 6)).collect::<Vec<_>>(),
        "raw_s": t.raw_s.iter().map(|s| round(*s, 6)).collect::<Vec<_>>(),
        "removal_s": t.removal_s.iter().map(|s| round(*s, 6)).collect::<Vec<_>>(),
        "agent_wall_s": round(agent, 6),
        "raw_wall_s": round(raw, 6),
        "removal_wall_s": round(removal, 6),
        "agent_rate": (total as f64 / agent).round(),
        "raw_rate": (total as f64 / raw).round(),
        // The median of the per-pair ratios (agent rate / raw rate).
        "ratio": round(spread.median, 4),
        "ratio_of_medians": round(raw / agent, 4),
        "pair_ratios": ratios.iter().map(|r| round(*r, 4)).collect::<Vec<_>>(),
        "pair_ratio_spread": spread.json(),
        "verdict": spread.verdict("agent", "raw"),
        "first_in_pair": (0..trials)
            .map(|t| if bench_stats::measured_first(t) { "agent" } else { "raw" })
            .collect::<Vec<_>>(),
        "translate_ms": r3(median(translate_ms)),
        "reloads": reloads,
    }))
}
