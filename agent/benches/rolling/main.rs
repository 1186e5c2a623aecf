//! Benchmark P3: a rolling replacement of all 10 pods of a backend under a constant request
//! load from a second process, for the agent and for a reload-per-change baseline in the same
//! run; and P4's structural change: one Service added to the agent's objects.
//!
//! The pods are echo servers on `127.0.0.1-10` (old) and `127.0.0.11-20` (new), one port,
//! each answering after 10 ms. `load-loop --mixed` (a separate process) sends a constant
//! rate of requests through HAProxy's frontend during the whole replacement, alternately on
//! a new connection and on a pooled keep-alive connection (see its documentation). Every pod is replaced
//! in a one-second slot of four steps, 250 ms apart (a step that takes longer delays the
//! next):
//! 1. **new ready**: the new pod's endpoint is added, ready; wait until HAProxy has it ready;
//! 2. **old terminating**: the old pod's endpoint turns `ready: false, serving: true,
//!    terminating: true`; wait until HAProxy stopped giving it new requests (drain);
//! 3. **drained**: wait until the old pod has no sessions in HAProxy (and no older HAProxy
//!    worker is left that could hold some), then stop the old pod's server (the pod exits);
//! 4. **old gone**: the endpoint is removed from the slice; wait until HAProxy deleted it.
//!
//! - **agent**: a real `haproxy-agent run --manifests DIR --spawn-haproxy` process; each change
//!   rewrites the EndpointSlice manifest (atomically), the agent does the rest.
//! - **baseline**: the same objects translated by the same code, but every change rendered,
//!   checked with `haproxy -c` and loaded by a reload through the master CLI (waiting for the
//!   new worker), on a HAProxy supervised the same way.
//!
//! Then, on the agent, one file adds a Service with its EndpointSlice and an Ingress for it:
//! reloads are counted by HAProxy's master from before the write until a second after the
//! new backend serves.
//!
//! With `--policies true` the Ingress carries the policy-heavy ingress-nginx annotation set
//! (`common::POLICIES`: rewrite, forwarded prefix, vhost, body size, rate and connection
//! limits, CORS, timeouts) plus `limit-whitelist: 127.0.0.0/8`: the load generator's one
//! address would otherwise hit `limit-rps: 100` by design, so the limit rules run but exempt
//! it, while every other policy applies to every request.
//!
//! Run: `cargo bench -p haproxy-agent --bench rolling -- [RATE] [--policies true]
//!      [--json PATH] [--agent target/release/haproxy-agent] [--load-loop target/release/load-loop]`

mod applied;
#[path = "../common/mod.rs"]
mod common;
mod load;
mod pods;

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use haproxy::proto::{Command, Reply};
use haproxy::{BackendName, RuntimeClient};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use applied::Applied;
use common::{
    AgentOptions, AgentProcess, Args, EpState, Harness, Rule, ingress, ms, servers_of, service,
    slice, to_yaml, write_atomic,
};
use load::Load;
use pods::{
    ECHO_DELAY, PODS, Pods, Progress, new_ip, old_ip, pod_port, server_name, web, web_slice,
};

const SLOT: Duration = Duration::from_millis(1000);
const STEP: Duration = Duration::from_millis(250);
const WARM_UP: Duration = Duration::from_secs(1);
const COOL_DOWN: Duration = Duration::from_millis(500);
/// Longest wait for one step to show in HAProxy.
const STEP_DEADLINE: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(5);
const BACKEND: &str = "bench_web_80";
const NEW_BACKEND: &str = "bench_web2_80";

/// Polls `check` every 5 ms until it holds; returns the time waited.
async fn wait<F>(what: &str, mut check: F) -> anyhow::Result<Duration>
where
    F: AsyncFnMut() -> anyhow::Result<bool>,
{
    let t0 = Instant::now();
    loop {
        if let Ok(true) = check().await {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > STEP_DEADLINE {
            bail!("timed out after {STEP_DEADLINE:?} waiting until {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Current sessions of `server` in `backend` (`show stat`), 0 when it is not listed.
async fn sessions(
    runtime: &RuntimeClient,
    backend: &BackendName,
    server: &str,
) -> anyhow::Result<i64> {
    match runtime
        .send(Command::ShowStatServers(backend.clone()))
        .await?
    {
        Reply::Stat(rows) => Ok(rows
            .iter()
            .find(|r| r.service() == server)
            .and_then(|r| r.number("scur"))
            .unwrap_or(0)),
        other => bail!("show stat gave {other:?}"),
    }
}

/// Runs the rolling replacement on `applied` under load; returns the load's report, the
/// step times and the reloads the master counted. It stays long: the four steps of a slot
/// follow one another as the module doc numbers them.
async fn rolling(
    applied: &mut Applied,
    pods: &mut Pods,
    load_bin: &Path,
    rate: usize,
) -> anyhow::Result<Value> {
    let port = pods.port;
    let be = BackendName::new(BACKEND)?;
    let master = applied.master();
    let poll = integration::haproxy_proc::runtime_client_for(&applied.runtime_socket());
    let reloads_before = common::show_proc(&master).await?.master.reloads;
    let load = Load::start(load_bin, applied.http(), rate)?;
    let mut progress = [Progress::Before; PODS];
    let mut times: [Vec<f64>; 4] = Default::default();
    let start = Instant::now() + WARM_UP;
    for i in 0..PODS {
        let (old, new) = (server_name(old_ip(i), port), server_name(new_ip(i), port));
        let slot = start + SLOT * i as u32;

        // 1. The new pod is ready.
        sleep_until(slot).await;
        let t0 = Instant::now();
        progress[i] = Progress::NewReady;
        applied.change(port, &progress).await?;
        wait("the new pod is ready in haproxy", async || {
            Ok(servers_of(&poll, &be)
                .await?
                .get(&new)
                .is_some_and(|s| s.admin.is_ready()))
        })
        .await?;
        times[0].push(ms(t0.elapsed()));
        poll.disconnect().await;

        // 2. The old pod is terminating: no new requests for it.
        sleep_until(slot + STEP).await;
        let t0 = Instant::now();
        progress[i] = Progress::OldTerminating;
        applied.change(port, &progress).await?;
        wait("the old pod takes no new requests", async || {
            Ok(servers_of(&poll, &be)
                .await?
                .get(&old)
                .is_some_and(|s| !s.admin.is_ready()))
        })
        .await?;
        times[1].push(ms(t0.elapsed()));
        poll.disconnect().await;

        // 3. Drained: nothing in flight to it in any worker; then the pod exits.
        sleep_until(slot + STEP * 2).await;
        let t0 = Instant::now();
        wait("the old pod is drained", async || {
            let procs = master.show_proc().await?;
            Ok(procs.old_workers.is_empty() && sessions(&poll, &be, &old).await? == 0)
        })
        .await?;
        times[2].push(ms(t0.elapsed()));
        poll.disconnect().await;
        pods.old[i] = None;

        // 4. The old endpoint is gone.
        sleep_until(slot + STEP * 3).await;
        let t0 = Instant::now();
        progress[i] = Progress::OldGone;
        applied.change(port, &progress).await?;
        wait("the old pod is deleted from haproxy", async || {
            Ok(!servers_of(&poll, &be).await?.contains_key(&old))
        })
        .await?;
        times[3].push(ms(t0.elapsed()));
        poll.disconnect().await;
    }
    sleep_until(start + SLOT * PODS as u32 + COOL_DOWN).await;
    let load = load.stop().await?;
    let reloads = common::show_proc(&master).await?.master.reloads - reloads_before;
    let names = ["new_ready", "old_terminating", "drained", "old_gone"];
    let steps: serde_json::Map<String, Value> = names
        .iter()
        .zip(&times)
        .map(|(n, t)| (n.to_string(), common::summary_with_samples(t)))
        .collect();
    Ok(json!({"load": load, "steps": steps, "reloads": reloads}))
}

/// P4: one file adds Service `web2`, its EndpointSlice (one endpoint, the first new pod)
/// and an Ingress for host `web2.bench`; returns the reloads the master counted and the
/// time until the new backend served.
async fn add_service(agent: &mut AgentProcess, port: u16) -> anyhow::Result<Value> {
    let master = agent.master_client();
    let socket = agent.runtime_socket.clone();
    let be = BackendName::new(NEW_BACKEND)?;
    let server = server_name(new_ip(0), port);
    let reloads_before = common::show_proc(&master).await?.master.reloads;
    let objects = [
        service("web2", 80, i32::from(port)),
        slice(
            "web2-1",
            "web2",
            i32::from(port),
            &[(new_ip(0), EpState::Ready)],
        ),
        ingress(
            "web2",
            Some("web2.bench"),
            &[Rule {
                path: "/",
                service: "web2",
                port: 80,
            }],
        ),
    ];
    let t0 = Instant::now();
    write_atomic(&agent.manifests.join("web2.yaml"), &to_yaml(&objects)?)?;
    let http = agent.http;
    wait("the new service serves", async || {
        // A fresh session each time: one opened before the reload would keep talking to
        // the old worker (and keep it alive until hard-stop-after).
        let poll = integration::haproxy_proc::runtime_client_for(&socket);
        let ready = servers_of(&poll, &be)
            .await?
            .get(&server)
            .is_some_and(|s| s.admin.is_ready());
        Ok(ready
            && integration::get(http, "web2.bench", "/")
                .await?
                .echo_name
                .as_deref()
                == Some("new-0"))
    })
    .await?;
    let took = t0.elapsed();
    // Later reloads would count too: give them a second to happen.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reloads = common::show_proc(&master).await?.master.reloads - reloads_before;
    let metrics = agent.metrics().await?;
    let agent_reloads: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("haproxy_agent_reloads_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Ok(json!({
        "reloads": reloads,
        "serving_after_ms": common::r3(ms(took)),
        "agent_reloads_total": agent_reloads,
    }))
}

fn describe(name: &str, v: &Value) {
    eprintln!("{name}: reloads {}", v["reloads"]);
    for (client, l) in [
        ("all requests", &v["load"]),
        ("new connection", &v["load"]["by_client"]["new_connection"]),
        ("keep-alive", &v["load"]["by_client"]["keep_alive"]),
    ] {
        eprintln!(
            "  {client:<16} requests {:>6}  failed {:>4}  latency p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
            l["sent"],
            l["failed"],
            l["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
            l["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
            l["latency_ms"]["max"].as_f64().unwrap_or(0.0),
        );
    }
    for step in ["new_ready", "old_terminating", "drained", "old_gone"] {
        let s = &v["steps"][step];
        eprintln!(
            "  step {step:<16} p50 {:>8.2} ms  max {:>8.2} ms",
            s["p50_ms"].as_f64().unwrap_or(0.0),
            s["max_ms"].as_f64().unwrap_or(0.0)
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let rate = args.number(0, 1000)?;
    let policies = args.named("policies") == Some("true");
    let agent_bin = args.binary("agent", "haproxy-agent")?;
    let load_bin = args.binary("load-loop", "load-loop")?;
    let port = pod_port()?;
    let initial = [Progress::Before; PODS];

    // The agent.
    let mut pods = Pods::start(port).await?;
    let mut agent = AgentProcess::prepare("bench-agent")?;
    std::fs::write(
        agent.manifests.join("web.yaml"),
        to_yaml(&web(port, policies))?,
    )?;
    std::fs::write(
        agent.manifests.join("slice.yaml"),
        to_yaml(&[web_slice(port, &initial)])?,
    )?;
    agent.spawn(&agent_bin, &AgentOptions::bench(Duration::from_secs(5)))?;
    agent.wait_healthy(Duration::from_secs(30)).await?;
    let version = agent.show_proc().await?.master.version;
    let mut applied = Applied::Agent(Box::new(agent));
    let agent_result = rolling(&mut applied, &mut pods, &load_bin, rate).await;
    let Applied::Agent(mut agent) = applied else {
        unreachable!("the agent stays the agent")
    };
    let agent_result = match agent_result {
        Ok(r) => r,
        Err(e) => {
            let tail = agent.log_tail();
            agent.shut_down();
            return Err(e.context(tail));
        }
    };
    let new_service = add_service(&mut agent, port).await;
    agent.show_proc().await.ok();
    agent.shut_down();
    let new_service = new_service?;
    drop(pods);
    describe("agent", &agent_result);

    // The baseline, on fresh pods.
    let mut pods = Pods::start(port).await?;
    let mut objects = web(port, policies);
    objects.push(web_slice(port, &initial));
    let mut applied = Applied::Baseline(Box::new(Harness::start(objects).await?), policies);
    let baseline_result = rolling(&mut applied, &mut pods, &load_bin, rate).await;
    if let Applied::Baseline(h, _) = applied {
        h.stop().await?;
    }
    let baseline_result = baseline_result?;
    drop(pods);
    describe("baseline", &baseline_result);
    eprintln!(
        "new service: {} reload(s) counted by the master, serving after {} ms",
        new_service["reloads"], new_service["serving_after_ms"]
    );

    args.write_json(&json!({
        "haproxy_version": version,
        "pods": PODS,
        "rate": rate,
        "policies": policies,
        "echo_delay_ms": ECHO_DELAY.as_millis() as u64,
        "slot_ms": SLOT.as_millis() as u64,
        "agent": agent_result,
        "baseline": baseline_result,
        "new_service": new_service,
    }))?;
    Ok(())
}
