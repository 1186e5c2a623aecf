//! R3: watch faults, with the agent following the test Kubernetes API server
//! (`run --kubeconfig FILE --spawn-haproxy`; the server runs in this process, so the faults
//! are its test controls).
//!
//! The objects of R1 (20 Services of 5 endpoints, the Ingress, the canary Ingress, the TLS
//! Ingress and its Secret) are written to the API server, and the same churn writes there.
//! Three faults:
//! - **drop**: after 0.3-0.8 s of churn, every open watch stream is cut (the connection
//!   closes mid-body); churn goes on for 300 ms, then stops. kube's watcher resumes each
//!   watch from the last resourceVersion it saw; the watch requests after the drop are
//!   counted.
//! - **compaction**: with the server paused, five changes are written (the watches cannot
//!   deliver them), the history is compacted and the watches cut; on resume every watch
//!   resumes from a resourceVersion older than the compaction and gets `410 Expired`, so
//!   the watcher lists again: the list requests after the fault are counted (one per kind
//!   shows every watch went through the relist), and the changes must arrive through them.
//! - **pause**: the server stops answering for PAUSE_S seconds (requests wait, watches
//!   hold their events) while one change is written every 500 ms; HAProxy must keep the
//!   servers it had all that time (checked every 500 ms), then converge after the resume.
//!
//! Each fault is followed by a wait until HAProxy holds exactly the servers the API server's
//! objects ask for (deadline 10 s from the fault, or from the resume), and a recheck.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::ensure;
use integration::agent_proc::AgentOptions;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use crate::churn::Churn;
use crate::scenario::{OnApi, Scenario, Source, agent_counters};
use crate::tally::{DEADLINE, RECHECK, Tally};
use crate::world::{Rng, World};

const SERVICES: usize = 20;
const ENDPOINTS: usize = 5;
const MAX_ENDPOINTS: usize = 10;
const POOL: usize = 40;
const CHURN_INTERVAL: Duration = Duration::from_millis(25);
const CHURN_AFTER_FAULT: Duration = Duration::from_millis(300);
const CHANGES_BEHIND_COMPACTION: usize = 5;
const PAUSE_STEP: Duration = Duration::from_millis(500);
const DRAIN: Duration = Duration::from_secs(1);
/// The kinds the agent watches (`source::kube::KINDS`).
const KINDS: usize = haproxy_agent::source::kube::KINDS.len();

/// Runs the three faults; returns the figures.
pub async fn run(
    agent_bin: &Path,
    drops: usize,
    compactions: usize,
    pause: Duration,
    seed: u64,
) -> anyhow::Result<Value> {
    let world = World::new(SERVICES, ENDPOINTS, POOL, MAX_ENDPOINTS);
    let scenario = Scenario::prepare(&world, Source::Api, seed).await?;
    let (first, options) = (world.desired(), AgentOptions::bench(DRAIN));
    scenario
        .run(agent_bin, options, &first, async move |s, opened| {
            Faults(OnApi::new(s, opened, seed)?)
                .run(world, drops, compactions, pause)
                .await
        })
        .await
}

/// The faults, on the opened scenario.
struct Faults<'a>(OnApi<'a>);

impl Faults<'_> {
    /// Requests the server received from `from` (an index into its log) on.
    fn requests_since(&self, from: usize) -> Vec<integration::RequestLogEntry> {
        self.0.api.requests().into_iter().skip(from).collect()
    }

    async fn run(
        self,
        world: World,
        drops: usize,
        compactions: usize,
        pause: Duration,
    ) -> anyhow::Result<Value> {
        let churn = Churn::start(world, self.0.sink.clone(), CHURN_INTERVAL, self.0.seed);
        let mut rng = Rng::new(self.0.seed ^ 0x5eed_0003);
        let drop = self.drops(&churn, &mut rng, drops).await?;
        let compaction = self.compactions(&churn, &mut rng, compactions).await?;
        let (paused, queued) = self.pause(&churn, &mut rng, pause).await?;

        let written = churn.written();
        churn.stop().await?;
        self.0.agent.wait_healthy(Duration::from_secs(5)).await?;
        let counters = agent_counters(self.0.agent).await;
        eprintln!("{}", drop.tally.line("watches dropped"));
        eprintln!("{}", compaction.tally.line("410 after compaction"));
        eprintln!("{}", paused.tally.line("api server paused"));
        Ok(json!({
            "haproxy_version": &self.0.opened.version,
            "seed": self.0.seed,
            "services": SERVICES,
            "churn_interval_ms": CHURN_INTERVAL.as_millis() as u64,
            "churn_after_fault_ms": CHURN_AFTER_FAULT.as_millis() as u64,
            "deadline_ms": DEADLINE.as_millis() as u64,
            "recheck_ms": RECHECK.as_millis() as u64,
            "changes_written": written + (queued + compactions * CHANGES_BEHIND_COMPACTION) as u64,
            "drop": drop.json,
            "compaction": compaction.json,
            "pause": paused.json,
            "agent": counters,
            "kinds_watched": KINDS,
            "passed": drop.passed() && compaction.passed() && paused.passed(),
            "api_writes": self.0.api.writes().len(),
        }))
    }

    /// Dropped watches: `drops` times, every watch stream cut after some churn; the watch
    /// requests after each are counted.
    async fn drops(&self, churn: &Churn, rng: &mut Rng, drops: usize) -> anyhow::Result<Figures> {
        let probe = &self.0.opened.probe;
        let mut drop_tally = Tally::default();
        let mut rewatches = Vec::new();
        for round in 0..drops {
            churn.resume();
            tokio::time::sleep(rng.between(Duration::from_millis(300), Duration::from_millis(800)))
                .await;
            let from = self.0.api.requests().len();
            let fault = Instant::now();
            self.0.api.drop_watches();
            sleep_until(fault + CHURN_AFTER_FAULT).await;
            let desired = churn.pause()?.desired();
            let last_change = fault.elapsed();
            let outcome = probe.converge(&desired, fault, DEADLINE).await;
            let recheck = match outcome.after {
                Some(_) => Some(probe.recheck(&desired, RECHECK).await),
                None => None,
            };
            // Every kind watches again (those whose objects did not change may do so after
            // HAProxy converged): waited for, then counted.
            let watches = || {
                self.requests_since(from)
                    .iter()
                    .filter(|r| r.is_watch())
                    .count()
            };
            let _ = integration::wait_until("every kind watches again", DEADLINE, async || {
                watches() >= KINDS
            })
            .await;
            rewatches.push(watches());
            drop_tally.record(
                &format!("drop {round}"),
                &outcome,
                last_change,
                recheck.as_ref(),
            );
            if drop_tally.too_many_failures() {
                break;
            }
        }

        let effective = rewatches.iter().all(|n| *n >= KINDS);
        let mut json = drop_tally.json();
        json["watch_requests_after_each"] = json!(rewatches);
        json["every_drop_rewatched_all_kinds"] = json!(effective);
        Ok(Figures {
            tally: drop_tally,
            json,
            effective,
        })
    }

    /// 410 Expired after a compaction, `compactions` times; the kinds listed again after
    /// each are counted.
    async fn compactions(
        &self,
        churn: &Churn,
        rng: &mut Rng,
        compactions: usize,
    ) -> anyhow::Result<Figures> {
        let probe = &self.0.opened.probe;
        let mut compact_tally = Tally::default();
        let mut relisted = Vec::new();
        for round in 0..compactions {
            churn.resume();
            tokio::time::sleep(rng.between(Duration::from_millis(300), Duration::from_millis(800)))
                .await;
            churn.pause()?;
            self.0.api.pause();
            churn.write_changes(CHANGES_BEHIND_COMPACTION, &self.0.sink, rng)?;
            self.0.api.compact();
            let from = self.0.api.requests().len();
            self.0.api.drop_watches();
            let fault = Instant::now();
            self.0.api.resume();
            let desired = churn.pause()?.desired();
            let outcome = probe.converge(&desired, fault, DEADLINE).await;
            let recheck = match outcome.after {
                Some(_) => Some(probe.recheck(&desired, RECHECK).await),
                None => None,
            };
            // Every kind lists again (each after kube's backoff, so those whose objects
            // did not change may do so after HAProxy converged): waited for, then counted.
            let lists = || {
                self.requests_since(from)
                    .into_iter()
                    .filter(|r| r.method == "GET" && !r.is_watch())
                    .map(|r| r.path)
                    .collect::<BTreeSet<String>>()
                    .len()
            };
            let _ = integration::wait_until("every kind lists again", DEADLINE, async || {
                lists() >= KINDS
            })
            .await;
            relisted.push(lists());
            compact_tally.record(
                &format!("compaction {round}"),
                &outcome,
                Duration::ZERO,
                recheck.as_ref(),
            );
            if compact_tally.too_many_failures() {
                break;
            }
        }

        let effective = relisted.iter().all(|n| *n >= KINDS);
        let mut json = compact_tally.json();
        json["kinds_relisted_after_each"] = json!(relisted);
        json["every_compaction_relisted_all_kinds"] = json!(effective);
        json["changes_behind_each"] = json!(CHANGES_BEHIND_COMPACTION);
        Ok(Figures {
            tally: compact_tally,
            json,
            effective,
        })
    }

    /// The server silent for `pause` while changes queue: HAProxy must keep what it had,
    /// then converge after the resume. Also returns the changes queued.
    async fn pause(
        &self,
        churn: &Churn,
        rng: &mut Rng,
        pause: Duration,
    ) -> anyhow::Result<(Figures, usize)> {
        let probe = &self.0.opened.probe;
        let mut pause_tally = Tally::default();
        let before = churn.pause()?.desired();
        let settled = probe.converge(&before, Instant::now(), DEADLINE).await;
        ensure!(
            settled.after.is_some(),
            "haproxy did not settle before the pause: {:?}",
            settled.last
        );
        self.0.api.pause();
        let paused = Instant::now();
        let (mut queued, mut looks, mut moved) = (0, 0, 0);
        let mut healthy_during = true;
        while paused.elapsed() + PAUSE_STEP <= pause {
            tokio::time::sleep(PAUSE_STEP).await;
            churn.with_world(|w| -> anyhow::Result<()> {
                let c = w.step(rng);
                self.0.sink.write(w, c)
            })?;
            queued += 1;
            looks += 1;
            match probe.check(&before).await {
                Ok(d) if d.is_clean() => {}
                Ok(d) => {
                    moved += 1;
                    pause_tally.losses.add(&d);
                    pause_tally
                        .failures
                        .push(format!("haproxy changed during the pause: {d:?}"));
                }
                Err(e) => {
                    moved += 1;
                    pause_tally
                        .failures
                        .push(format!("haproxy did not answer during the pause: {e:#}"));
                }
            }
        }
        sleep_until(paused + pause).await;
        healthy_during &= matches!(
            integration::get(self.0.agent.listen, "localhost", "/healthz").await,
            Ok(r) if r.status == 200
        );
        let resumed = Instant::now();
        self.0.api.resume();
        let desired = churn.pause()?.desired();
        let outcome = probe.converge(&desired, resumed, DEADLINE).await;
        let recheck = match outcome.after {
            Some(_) => Some(probe.recheck(&desired, RECHECK).await),
            None => None,
        };
        pause_tally.record("pause", &outcome, Duration::ZERO, recheck.as_ref());
        if moved > 0 {
            pause_tally.regressed += moved;
        }

        let mut json = pause_tally.json();
        json["pause_ms"] = json!(pause.as_millis() as u64);
        json["changes_queued"] = json!(queued);
        json["looks_during_pause"] = json!(looks);
        json["haproxy_changed_during_pause"] = json!(moved);
        json["healthz_200_at_end_of_pause"] = json!(healthy_during);
        json["converged_after_resume_ms"] = json!(outcome.ms());
        let figures = Figures {
            tally: pause_tally,
            json,
            effective: true,
        };
        Ok((figures, queued))
    }
}

/// One fault's figures: its tally, its JSON (the tally's and the fault's own figures), and
/// whether the fault took effect every time.
struct Figures {
    tally: Tally,
    json: Value,
    effective: bool,
}

impl Figures {
    /// No loss, and the fault took effect every time.
    fn passed(&self) -> bool {
        self.tally.passed() && self.effective
    }
}
