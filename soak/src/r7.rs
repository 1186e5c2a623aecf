//! R7: API server faults through the test Kubernetes API server's controls, with the agent
//! following it (`run --kubeconfig FILE --spawn-haproxy`) and R3's objects and churn.
//!
//! Each round starts from a converged HAProxy (churn paused), then one fault:
//! - **errors**: every EndpointSlice request answered 500 for [`FAULT`] and the open watches
//!   cut, while the churn writes; during it the agent must name it (an `api_server` /
//!   `unavailable` problem in `/debug/state`), stay healthy, and HAProxy must keep the
//!   servers it had (no EndpointSlice change can arrive); then the fault clears, the churn
//!   stops, and HAProxy must converge (deadline 10 s from the clear) and the problem go.
//! - **next**: the next [`NEXT`] EndpointSlice requests answered 500, the watches cut, 300
//!   ms of churn: the watcher gets through on its own (after kube's backoff: 0.8 s, then
//!   1.6 s, each with jitter); converge from the fault.
//! - **slow**: every request answered only [`SLOW`] late, the watches cut, churn for
//!   [`FAULT`]; converge from the end of the churn with the server still slow.
//! - **malformed in a watch**: three objects that do not decode written during churn (a new
//!   Ingress whose `spec` is a string, an update of the `soak` Ingress whose `paths` is a
//!   string, a new EndpointSlice whose `endpoints` is a string): each named (a `malformed`
//!   problem), the `soak` Ingress's last good version kept, everything else converging
//!   (from the end of the churn). They stay for the next fault.
//! - **malformed in a list**: with them in place, the server paused, five changes written,
//!   the history compacted and the watches cut: every watch lists again, and a list with an
//!   item that does not decode must still bring the rest (kube's typed list fails whole);
//!   converge from the resume. Then the objects are fixed and the problems must go.

use std::path::Path;
use std::time::Duration;

use integration::KubeApi;
use integration::agent_proc::{AgentOptions, AgentProcess};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use crate::churn::Churn;
use crate::objects::NS;
use crate::observe::diff;
use crate::scenario::{OnApi, Scenario, Source, agent_counters};
use crate::tally::{DEADLINE, RECHECK, Tally, converge_and_record};
use crate::world::{Desired, Rng, World};

const SERVICES: usize = 20;
const ENDPOINTS: usize = 5;
const MAX_ENDPOINTS: usize = 10;
const POOL: usize = 40;
const CHURN_INTERVAL: Duration = Duration::from_millis(25);
const DRAIN: Duration = Duration::from_secs(1);
/// How long the errors and the slow answers last.
const FAULT: Duration = Duration::from_millis(1500);
/// How late every answer comes while the server is slow.
const SLOW: Duration = Duration::from_secs(1);
/// How many requests fail in the "next" fault.
const NEXT: usize = 2;
const CHURN_AFTER_FAULT: Duration = Duration::from_millis(300);
const CHANGES_BEHIND_COMPACTION: usize = 5;

fn slices(r: &integration::RequestLogEntry) -> bool {
    r.path.ends_with("/endpointslices")
}

/// The agent's problems of `reason`, from `/debug/state`.
async fn problems(agent: &AgentProcess, reason: &str) -> Vec<Value> {
    let Ok(r) = integration::get(agent.listen, "localhost", "/debug/state").await else {
        return Vec::new();
    };
    let state: Value = serde_json::from_str(&r.body).unwrap_or_default();
    state["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["reason"] == reason)
        .cloned()
        .collect()
}

/// Runs `rounds` of each fault; returns the figures.
pub async fn run(agent_bin: &Path, rounds: usize, seed: u64) -> anyhow::Result<Value> {
    let world = World::new(SERVICES, ENDPOINTS, POOL, MAX_ENDPOINTS);
    let scenario = Scenario::prepare(&world, Source::Api, seed).await?;
    let (first, options) = (world.desired(), AgentOptions::bench(DRAIN));
    scenario
        .run(agent_bin, options, &first, async move |s, opened| {
            Faults(OnApi::new(s, opened, seed)?)
                .run(world, rounds)
                .await
        })
        .await
}

/// The faults, on the opened scenario.
struct Faults<'a>(OnApi<'a>);

/// One kind of fault's figures beyond its tally.
#[derive(Debug, Default)]
struct Named {
    /// Rounds in which the agent named the fault while it lasted.
    named: usize,
    /// Rounds after which the problem went once the fault cleared.
    resolved: usize,
    /// Rounds in which HAProxy's servers moved while no EndpointSlice change could arrive.
    moved: usize,
}

impl Faults<'_> {
    /// Waits until the agent lists a problem of `reason` (or not, `want` false).
    async fn wait_problem(&self, reason: &str, want: bool, at_least: usize) -> bool {
        integration::wait_until("the agent's problems", DEADLINE, async || {
            let n = problems(self.0.agent, reason).await.len();
            if want { n >= at_least } else { n == 0 }
        })
        .await
        .is_ok()
    }

    /// Pauses the churn and records, in `tally`, HAProxy converging from `since` to what
    /// the churn wrote; returns that.
    async fn settle(
        &self,
        churn: &Churn,
        since: Instant,
        what: &str,
        tally: &mut Tally,
    ) -> anyhow::Result<Desired> {
        let desired = churn.pause()?.desired();
        converge_and_record(&self.0.opened.probe, &desired, since, what, tally).await;
        Ok(desired)
    }

    async fn run(self, world: World, rounds: usize) -> anyhow::Result<Value> {
        let churn = Churn::start(world, self.0.sink.clone(), CHURN_INTERVAL, self.0.seed);
        let mut rng = Rng::new(self.0.seed ^ 0x5eed_0007);
        let mut f = Figures::default();
        for round in 0..rounds {
            self.errors(&churn, round, &mut f).await?;
            self.next(&churn, round, &mut f).await?;
            self.slow(&churn, round, &mut f).await?;
            churn.resume();
            tokio::time::sleep(rng.between(Duration::from_millis(300), Duration::from_millis(800)))
                .await;
        }
        self.malformed(&churn, &mut rng, &mut f).await?;

        let written = churn.written();
        churn.stop().await?;
        self.0.agent.wait_healthy(Duration::from_secs(5)).await?;
        let counters = agent_counters(self.0.agent).await;
        let run = Run {
            rounds,
            version: &self.0.opened.version,
            seed: self.0.seed,
            written,
            counters,
        };
        Ok(f.report(run))
    }

    /// Errors for FAULT: the agent names them, HAProxy keeps its servers, and after they
    /// clear the problem goes and HAProxy converges.
    async fn errors(&self, churn: &Churn, round: usize, f: &mut Figures) -> anyhow::Result<()> {
        let probe = &self.0.opened.probe;
        // Errors for FAULT.
        let before = self
            .settle(churn, Instant::now(), "before the errors", &mut f.baseline)
            .await?;
        self.0.api.fail_requests(500, slices);
        self.0.api.drop_watches();
        let fault = Instant::now();
        churn.resume();
        if self.wait_problem("unavailable", true, 1).await {
            f.errors.named += 1;
        }
        let mut moved = false;
        while fault.elapsed() < FAULT {
            // Servers change only with EndpointSlices (the canary's weights may move).
            if let Ok(live) = probe.servers().await {
                let d = diff(&before, &live);
                moved |= d.stale + d.missing + d.wrong + d.duplicate > 0;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        f.errors.moved += usize::from(moved);
        f.healthy_during_errors += usize::from(matches!(
            integration::get(self.0.agent.listen, "localhost", "/healthz").await,
            Ok(r) if r.status == 200
        ));
        self.0.api.stop_failing();
        let cleared = Instant::now();
        self.settle(
            churn,
            cleared,
            &format!("errors {round}"),
            &mut f.tallies[0],
        )
        .await?;
        if self.wait_problem("unavailable", false, 0).await {
            f.errors.resolved += 1;
        }
        Ok(())
    }

    /// The next NEXT requests fail; the EndpointSlice requests they took are counted.
    async fn next(&self, churn: &Churn, round: usize, f: &mut Figures) -> anyhow::Result<()> {
        let from = self.0.api.requests().len();
        self.0.api.fail_next(NEXT, 500, slices);
        self.0.api.drop_watches();
        let fault = Instant::now();
        churn.resume();
        sleep_until(fault + CHURN_AFTER_FAULT).await;
        self.settle(churn, fault, &format!("next {round}"), &mut f.tallies[1])
            .await?;
        f.requests_in_next.push(
            self.0.api.requests()[from..]
                .iter()
                .filter(|r| slices(r))
                .count(),
        );
        self.0.api.stop_failing();
        Ok(())
    }

    /// Slow answers for FAULT, then convergence.
    async fn slow(&self, churn: &Churn, round: usize, f: &mut Figures) -> anyhow::Result<()> {
        self.0.api.delay_requests(SLOW, |_| true);
        self.0.api.drop_watches();
        churn.resume();
        tokio::time::sleep(FAULT).await;
        let stopped = Instant::now();
        self.settle(churn, stopped, &format!("slow {round}"), &mut f.tallies[2])
            .await?;
        self.0.api.stop_delaying();
        Ok(())
    }

    /// Malformed objects in a watch, then in a list, then fixed: each named, and HAProxy
    /// converges around them.
    async fn malformed(&self, churn: &Churn, rng: &mut Rng, f: &mut Figures) -> anyhow::Result<()> {
        let probe = &self.0.opened.probe;
        let bad = Malformed::write(&self.0.api)?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stopped = Instant::now();
        self.settle(churn, stopped, "malformed in a watch", &mut f.tallies[3])
            .await?;
        f.named[0] = self.wait_problem("malformed", true, 3).await;
        self.0.api.pause();
        churn.write_changes(CHANGES_BEHIND_COMPACTION, &self.0.sink, rng)?;
        self.0.api.compact();
        self.0.api.drop_watches();
        let resumed = Instant::now();
        self.0.api.resume();
        let desired = self
            .settle(churn, resumed, "malformed in a list", &mut f.tallies[4])
            .await?;
        f.named[1] = self.wait_problem("malformed", true, 3).await;
        bad.fix(&self.0.api)?;
        f.named[2] = self.wait_problem("malformed", false, 0).await;
        converge_and_record(probe, &desired, Instant::now(), "fixed", &mut f.baseline).await;
        Ok(())
    }
}

/// What the faults found, round after round.
#[derive(Debug, Default)]
struct Figures {
    /// errors, next, slow, malformed in a watch, malformed in a list.
    tallies: [Tally; 5],
    /// Convergence before each fault and after the fix: not a fault, but no loss either.
    baseline: Tally,
    errors: Named,
    /// Rounds whose errors left `/healthz` answering 200.
    healthy_during_errors: usize,
    /// The EndpointSlice requests each `next` fault took.
    requests_in_next: Vec<usize>,
    /// Malformed objects named in a watch, after a relist, resolved when fixed.
    named: [bool; 3],
}

impl Figures {
    /// The lines for people, and the JSON with `run`'s own figures.
    fn report(&self, run: Run<'_>) -> Value {
        let Run {
            rounds,
            version,
            seed,
            written,
            counters,
        } = run;
        let Figures {
            tallies,
            baseline,
            errors,
            healthy_during_errors,
            requests_in_next,
            named,
        } = self;
        let healthy_during_errors = *healthy_during_errors;
        let names = [
            "errors",
            "next",
            "slow",
            "malformed_watch",
            "malformed_list",
        ];
        for (t, n) in tallies.iter().zip(names) {
            eprintln!("{}", t.line(n));
        }
        eprintln!(
            "errors named {}/{rounds}, resolved {}, haproxy moved {}; malformed named in watch {}, in list {}, resolved {}",
            errors.named, errors.resolved, errors.moved, named[0], named[1], named[2]
        );
        let mut out = json!({
            "haproxy_version": version,
            "seed": seed,
            "services": SERVICES,
            "rounds": rounds,
            "churn_interval_ms": CHURN_INTERVAL.as_millis() as u64,
            "fault_ms": FAULT.as_millis() as u64,
            "slow_ms": SLOW.as_millis() as u64,
            "next_failures": NEXT,
            "churn_after_fault_ms": CHURN_AFTER_FAULT.as_millis() as u64,
            "changes_behind_compaction": CHANGES_BEHIND_COMPACTION,
            "deadline_ms": DEADLINE.as_millis() as u64,
            "recheck_ms": RECHECK.as_millis() as u64,
            "errors_named": errors.named,
            "errors_resolved": errors.resolved,
            "errors_haproxy_moved": errors.moved,
            "errors_healthz_200": healthy_during_errors,
            "next_slice_requests_each": requests_in_next,
            "malformed_named_in_watch": named[0],
            "malformed_named_after_relist": named[1],
            "malformed_resolved_when_fixed": named[2],
            "changes_written": written + CHANGES_BEHIND_COMPACTION as u64,
            "agent": counters,
        });
        let mut passed = errors.named == rounds
            && errors.resolved == rounds
            && errors.moved == 0
            && healthy_during_errors == rounds
            && named.iter().all(|n| *n)
            && baseline.passed();
        out["baseline"] = baseline.json();
        for (t, n) in tallies.iter().zip(names) {
            passed &= t.passed();
            out[n] = t.json();
        }
        out["passed"] = json!(passed);
        out
    }
}

/// The run's own figures, beside the faults'.
struct Run<'a> {
    rounds: usize,
    /// HAProxy's version.
    version: &'a str,
    seed: u64,
    /// Changes the churn wrote.
    written: u64,
    /// The agent's counters at the end.
    counters: Value,
}

/// The malformed objects of R7, and the good versions to restore.
struct Malformed {
    soak: Value,
}

impl Malformed {
    /// Writes a new Ingress whose `spec` is a string, the `soak` Ingress with a string for
    /// its first rule's `paths`, and a new EndpointSlice of `svc-03` whose `endpoints` is a
    /// string.
    fn write(api: &KubeApi) -> anyhow::Result<Malformed> {
        let soak = api
            .get("Ingress", NS, "soak")?
            .ok_or_else(|| anyhow::anyhow!("no soak Ingress"))?;
        let mut broken = soak.clone();
        broken["metadata"] = json!({"name": "soak-broken", "namespace": NS});
        broken["spec"] = json!("not an object");
        broken.as_object_mut().map(|o| o.remove("status"));
        api.apply(broken)?;
        let mut bad_soak = soak.clone();
        bad_soak["spec"]["rules"][0]["http"]["paths"] = json!("not a list");
        api.apply(bad_soak)?;
        let mut slice = api
            .get("EndpointSlice", NS, "svc-03-1")?
            .ok_or_else(|| anyhow::anyhow!("no slice of svc-03"))?;
        slice["metadata"] = json!({"name": "svc-03-bad", "namespace": NS,
            "labels": {"kubernetes.io/service-name": "svc-03"}});
        slice["endpoints"] = json!("none");
        api.apply(slice)?;
        Ok(Malformed { soak })
    }

    /// Restores the `soak` Ingress and deletes the two new objects.
    fn fix(&self, api: &KubeApi) -> anyhow::Result<()> {
        let mut soak = self.soak.clone();
        soak["metadata"]
            .as_object_mut()
            .map(|m| m.remove("resourceVersion"));
        api.apply(soak)?;
        api.delete("Ingress", NS, "soak-broken")?;
        api.delete("EndpointSlice", NS, "svc-03-bad")?;
        Ok(())
    }
}
