//! How every scenario opens: the objects of a [`World`] checked against the agent's own
//! translation and written where the agent reads them (manifest files, or a test
//! Kubernetes API server started here), the agent started on them, and HAProxy holding
//! them before any fault; the agent stopped by pid when the scenario ends, its log's tail
//! added to an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use haproxy_agent::store::Object;
use integration::KubeApi;
use integration::agent_proc::{AgentOptions, AgentProcess};
use serde_json::{Value, json};

use crate::churn::Sink;
use crate::objects::{to_yaml, write_atomic};
use crate::observe::Probe;
use crate::world::{self, Desired, Rng, World};

/// Where the agent reads the objects from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Manifest files (`run --manifests DIR`).
    Files,
    /// The test Kubernetes API server (`run --kubeconfig FILE`).
    Api,
}

/// The time the agent has to answer `/healthz` and HAProxy to hold the first objects.
const FIRST: Duration = Duration::from_secs(30);
/// The prefix of every agent's temp dir.
const PREFIX: &str = "bench-agent";

/// A scenario's objects, where they are written, and its agent.
pub struct Scenario {
    /// The agent (started by [`Scenario::run`]).
    pub agent: AgentProcess,
    /// Where the objects are written.
    pub sink: Sink,
    /// The test API server, with [`Source::Api`].
    pub api: Option<Arc<KubeApi>>,
    /// The agent's kubeconfig, with [`Source::Api`].
    pub kubeconfig: Option<PathBuf>,
}

/// What the opening saw, for the scenario's body.
pub struct Opened {
    /// Looks at the agent's HAProxy.
    pub probe: Probe,
    /// HAProxy's version, from the master's `show proc`.
    pub version: String,
}

impl Scenario {
    /// Checks `world`'s objects against the agent's translation (from `seed`), writes them
    /// to `source` and prepares an agent that reads them (not started yet).
    pub async fn prepare(world: &World, source: Source, seed: u64) -> anyhow::Result<Scenario> {
        let api = match source {
            Source::Files => None,
            Source::Api => Some(Arc::new(KubeApi::start().await?)),
        };
        world::cross_check(world, &mut Rng::new(seed))?;
        let (agent, kubeconfig) = match &api {
            Some(api) => {
                let (agent, config) = kube_agent(api)?;
                (agent, Some(config))
            }
            None => (AgentProcess::prepare(PREFIX)?, None),
        };
        let sink = match &api {
            Some(api) => Sink::Api(api.clone()),
            None => Sink::Files(agent.manifests.clone()),
        };
        sink.write_all(world)?;
        Ok(Scenario {
            agent,
            sink,
            api,
            kubeconfig,
        })
    }

    /// The test API server; fails with [`Source::Files`].
    pub fn api(&self) -> anyhow::Result<Arc<KubeApi>> {
        self.api.clone().context("this scenario has no API server")
    }

    /// Writes `objects` to the manifest file `name` (atomically), replacing what was there.
    pub fn write_manifest(&self, name: &str, objects: &[Object]) -> anyhow::Result<()> {
        write_atomic(&self.agent.manifests.join(name), &to_yaml(objects)?)
    }

    /// Starts the agent with `options` (and the kubeconfig, with [`Source::Api`]), waits
    /// until it is healthy and HAProxy holds `first`, runs `body`, then stops the agent and
    /// every HAProxy it was seen with (its log's tail added to an error).
    pub async fn run<F>(
        mut self,
        agent_bin: &Path,
        mut options: AgentOptions,
        first: &Desired,
        body: F,
    ) -> anyhow::Result<Value>
    where
        F: AsyncFnOnce(&mut Scenario, Opened) -> anyhow::Result<Value>,
    {
        if let Some(config) = &self.kubeconfig {
            options.kubeconfig = Some(config.clone());
        }
        self.agent.spawn(agent_bin, &options)?;
        let result = match first_look(&mut self.agent, first).await {
            Ok(opened) => body(&mut self, opened).await,
            Err(e) => Err(e),
        };
        self.agent.finish(result)
    }
}

/// An opened scenario that follows the test API server: what its faults work with.
pub struct OnApi<'a> {
    /// The agent.
    pub agent: &'a mut AgentProcess,
    /// The test API server.
    pub api: Arc<KubeApi>,
    /// Where the objects are written (the API server).
    pub sink: Sink,
    /// The scenario's seed.
    pub seed: u64,
    /// What the opening saw.
    pub opened: Opened,
}

impl<'a> OnApi<'a> {
    /// `s`'s pieces; fails unless `s` follows the test API server.
    pub fn new(s: &'a mut Scenario, opened: Opened, seed: u64) -> anyhow::Result<OnApi<'a>> {
        Ok(OnApi {
            api: s.api()?,
            sink: s.sink.clone(),
            agent: &mut s.agent,
            seed,
            opened,
        })
    }
}

/// An agent prepared to follow `api` (its kubeconfig written in its temp dir), and the
/// kubeconfig's path.
pub fn kube_agent(api: &KubeApi) -> anyhow::Result<(AgentProcess, PathBuf)> {
    let agent = AgentProcess::prepare(PREFIX)?;
    let config = agent.dir().join("kubeconfig");
    api.write_kubeconfig(&config)?;
    Ok((agent, config))
}

/// Waits until the started `agent` is healthy and its HAProxy holds `first`.
pub async fn first_look(agent: &mut AgentProcess, first: &Desired) -> anyhow::Result<Opened> {
    agent.wait_healthy(FIRST).await?;
    let probe = Probe::of(agent);
    probe.first_converged(first).await?;
    let version = agent.show_proc().await?.master.version;
    Ok(Opened { probe, version })
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
