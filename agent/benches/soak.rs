//! The fault suite (`scripts/soak`): a real `haproxy-agent run` process keeping a real
//! HAProxy in step with objects that keep changing, while faults hit it; after each fault,
//! the time until HAProxy holds exactly the servers the objects ask for, and what differed
//! when it did not.
//!
//! - `r1 COUNT`: HAProxy SIGKILLed COUNT times under `--spawn-haproxy` during endpoint
//!   churn, the worker and the master in turn (see `soak/r1.rs`);
//! - `r2 COUNT`: the agent SIGKILLed COUNT times while it applies a batch of hundreds of
//!   endpoint changes, and restarted, attached to the running HAProxy and with
//!   `--spawn-haproxy` in turn (see `soak/r2.rs`);
//! - `r3 DROPS COMPACTIONS PAUSE_S`: watch faults through the test Kubernetes API server:
//!   dropped watches, 410 Expired after a compaction, the server silent for PAUSE_S seconds
//!   (see `soak/r3.rs`);
//! - `r4 SECONDS`: a long run, churn and a reload every 20 s for SECONDS, with the agent's
//!   memory, its open descriptors and HAProxy's workers sampled (see `soak/r4.rs`);
//! - `r6`: disk faults in the config directory (a tmpfs the soak mounts): full,
//!   read-only, a map file deleted, haproxy.cfg edited by hand (see `soak/r6.rs`);
//! - `r5 KILLS`: two replicas on the test Kubernetes API server electing the status writer
//!   with a Lease; the leader SIGKILLed KILLS times (see `soak/r5.rs`);
//! - `r7 ROUNDS`: API server faults (500s, slow answers, objects that do not decode in a
//!   watch and in a list) through the test Kubernetes API server (see `soak/r7.rs`);
//! - `report DIR OUT_DIR`: reliability.md and reliability.json in OUT_DIR from the figures
//!   in DIR (`r1.json`, `r2.json`, `r3.json`, `meta.json`).
//!
//! "Converged" means: every backend holds exactly the desired servers (no stale one, none
//! missing, each with the desired address, state and weight, no address twice); the canary
//! backend's weights give the canary its share as closely as HAProxy's weights allow; the
//! three route maps hold exactly the entries the routes ask for; the backends in the
//! haproxy.cfg the agent wrote and in the running HAProxy are the ones the objects ask for
//! (with the HTTP and HTTPS binds); `tls.soak` is served its Secret's certificate (a TLS
//! handshake); and every live HAProxy process started on the
//! agent's master socket is one the answering master lists. All of it is computed from
//! the objects as written (`soak/world.rs`, `integration::soak_oracle`), not by the agent.
//!
//! Run: `cargo bench -p haproxy-agent --bench soak -- r1 100 [--seed N] [--json PATH]
//!      [--agent target/release/haproxy-agent]`. A scenario with any loss (a fault after
//! which HAProxy did not converge within its deadline, or changed again after it had) writes
//! its figures and exits with status 2.

#[path = "soak/churn.rs"]
mod churn;
#[path = "common/mod.rs"]
mod common;
#[path = "soak/observe.rs"]
mod observe;
#[path = "soak/r1.rs"]
mod r1;
#[path = "soak/r2.rs"]
mod r2;
#[path = "soak/r3.rs"]
mod r3;
#[path = "soak/r4.rs"]
mod r4;
#[path = "soak/r5.rs"]
mod r5;
#[path = "soak/r6.rs"]
mod r6;
#[path = "soak/r6_setup.rs"]
mod r6_setup;
#[path = "soak/r7.rs"]
mod r7;
#[path = "soak/world.rs"]
mod world;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use common::{AgentProcess, Args, Summary};
use observe::{Diff, Outcome};

/// How long HAProxy may take to converge after one fault.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// After converging, HAProxy is looked at again this much later: nothing may have changed.
pub const RECHECK: Duration = Duration::from_millis(250);
/// A scenario stops after this many faults that did not converge (each costs a deadline).
pub const MAX_FAILURES: usize = 3;

/// The figures of one kind of fault.
#[derive(Debug, Default)]
pub struct Tally {
    /// Faults injected.
    pub faults: usize,
    /// Time to converge after each fault that converged, ms.
    pub converged_ms: Vec<f64>,
    /// The same, counted from the last change written after the fault, ms.
    pub after_last_change_ms: Vec<f64>,
    /// Faults after which HAProxy did not converge within [`DEADLINE`].
    pub not_converged: usize,
    /// Rechecks that found HAProxy changed after converging.
    pub regressed: usize,
    /// Differences at the deadline of the faults that did not converge, and at rechecks.
    pub losses: Diff,
    /// What went wrong, for people.
    pub failures: Vec<String>,
}

impl Tally {
    /// Records one fault's outcome (and its recheck, when it converged); `last_change` is
    /// when the last change was written, counted like the outcome's time.
    pub fn record(
        &mut self,
        what: &str,
        outcome: &Outcome,
        last_change: Duration,
        recheck: Option<&Diff>,
    ) {
        self.faults += 1;
        match outcome.ms() {
            Some(ms) => {
                self.converged_ms.push(ms);
                self.after_last_change_ms
                    .push(common::r3(ms - common::ms(last_change)).max(0.0));
            }
            None => {
                self.not_converged += 1;
                self.losses.add(&outcome.last);
                let why = match &outcome.error {
                    Some(e) => format!("haproxy did not answer: {e}"),
                    None => format!("{:?}", outcome.last),
                };
                let line = format!("{what}: not converged within {DEADLINE:?}: {why}");
                eprintln!("{line}");
                self.failures.push(line);
            }
        }
        if let Some(r) = recheck
            && !r.is_clean()
        {
            self.regressed += 1;
            self.losses.add(r);
            let line = format!("{what}: changed after converging: {r:?}");
            eprintln!("{line}");
            self.failures.push(line);
        }
    }

    /// Whether to stop early.
    pub fn too_many_failures(&self) -> bool {
        self.failures.len() >= MAX_FAILURES
    }

    /// No loss.
    pub fn passed(&self) -> bool {
        self.faults > 0 && self.not_converged == 0 && self.regressed == 0 && self.losses.is_clean()
    }

    /// `{"faults", "converged_ms": {summary, samples}, "not_converged", "regressed",
    /// "losses", "failures", "passed"}`.
    pub fn json(&self) -> Value {
        json!({
            "faults": self.faults,
            "converged_ms": common::summary_with_samples(&self.converged_ms),
            "after_last_change_ms": common::summary_with_samples(&self.after_last_change_ms),
            "not_converged": self.not_converged,
            "regressed": self.regressed,
            "losses": self.losses.json(),
            "failures": self.failures,
            "passed": self.passed(),
        })
    }

    /// One line for people.
    pub fn line(&self, name: &str) -> String {
        let s = Summary::of(&self.converged_ms);
        format!(
            "{name:<24} faults {:>4}  converged p50 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms  not converged {}  regressed {}  stale {} missing {} wrong {} duplicate {} orphan haproxy {} routes {} structure {} canary {} certs {}",
            self.faults,
            s.p50,
            s.p99,
            s.max,
            self.not_converged,
            self.regressed,
            self.losses.stale,
            self.losses.missing,
            self.losses.wrong,
            self.losses.duplicate,
            self.losses.orphan_processes,
            self.losses.routes,
            self.losses.structure,
            self.losses.canary,
            self.losses.certs,
        )
    }
}

/// Waits until `probe`'s HAProxy holds `desired` (deadline [`DEADLINE`] from `since`),
/// rechecks it [`RECHECK`] later, and records the outcome in `tally` as `what`.
pub async fn converge_and_record(
    probe: &observe::Probe,
    desired: &world::Desired,
    since: tokio::time::Instant,
    what: &str,
    tally: &mut Tally,
) {
    let outcome = probe.converge(desired, since, DEADLINE).await;
    let recheck = match outcome.after {
        Some(_) => Some(probe.recheck(desired, RECHECK).await),
        None => None,
    };
    tally.record(what, &outcome, Duration::ZERO, recheck.as_ref());
}

/// The agent's counters worth reporting, from `/metrics`: reloads by reason, desyncs.
pub async fn agent_counters(agent: &AgentProcess) -> Value {
    let Ok(text) = agent.metrics().await else {
        return Value::Null;
    };
    let mut reloads = BTreeMap::new();
    let mut desync = 0.0;
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        if let Some(labels) = name.strip_prefix("haproxy_agent_reloads_total{") {
            let reason = labels
                .split("reason=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("?");
            reloads.insert(reason.to_string(), value);
        } else if name == "haproxy_agent_desync_total" {
            desync = value;
        }
    }
    json!({"reloads_by_reason": reloads, "desync_total": desync})
}

async fn run() -> anyhow::Result<bool> {
    let args = Args::parse()?;
    let Some(cmd) = args.positional(0) else {
        bail!(
            "usage: soak r1 COUNT | r2 COUNT | r3 DROPS COMPACTIONS PAUSE_S | r4 SECONDS | r5 KILLS | r6 | r7 ROUNDS | report DIR OUT_DIR"
        );
    };
    let seed = match args.named("seed") {
        Some(s) => s.parse()?,
        None => 1,
    };
    let agent = || args.binary("agent", "haproxy-agent");
    let figures = match cmd.as_str() {
        "r1" => r1::run(&agent()?, args.number(1, 100)?, seed).await?,
        "r2" => r2::run(&agent()?, args.number(1, 50)?, seed).await?,
        "r3" => {
            let pause = Duration::from_secs(args.number(3, 30)? as u64);
            r3::run(
                &agent()?,
                args.number(1, 20)?,
                args.number(2, 20)?,
                pause,
                seed,
            )
            .await?
        }
        "r4" => {
            let seconds = args.number(1, 1800)? as u64;
            r4::run(&agent()?, Duration::from_secs(seconds), seed).await?
        }
        "r5" => r5::run(&agent()?, args.number(1, 10)?, seed).await?,
        "r7" => r7::run(&agent()?, args.number(1, 5)?, seed).await?,
        "r6" => r6::run(&agent()?, seed).await?,
        "report" => {
            let (Some(dir), Some(out)) = (args.positional(1), args.positional(2)) else {
                bail!("usage: soak report DIR OUT_DIR");
            };
            return integration::soak_report::write(dir.as_ref(), out.as_ref());
        }
        other => bail!("unknown scenario {other:?}"),
    };
    let passed = figures["passed"].as_bool().unwrap_or(false);
    args.write_json(&figures)?;
    Ok(passed)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("LOSS: see the failures above");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
