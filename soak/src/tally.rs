//! The figures of one kind of fault ([`Tally`]) and the deadlines every scenario keeps.

use std::time::Duration;

use serde_json::{Value, json};

use integration::figures::{self, Summary};

use crate::observe::{Diff, Outcome, Probe};
use crate::world::Desired;

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
                    .push(figures::r3(ms - figures::ms(last_change)).max(0.0));
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
            "converged_ms": figures::summary_with_samples(&self.converged_ms),
            "after_last_change_ms": figures::summary_with_samples(&self.after_last_change_ms),
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
    probe: &Probe,
    desired: &Desired,
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
