//! Benchmark P5: the agent's peak memory with 10,000 endpoints in 1,000 backends.
//!
//! Writes 1,000 manifest files, each a Service, its EndpointSlice with 10 ready endpoints
//! and an Ingress routing a host of its own to it; starts the real `haproxy-agent run
//! --manifests DIR --spawn-haproxy`; waits until `/healthz` answers 200 and HAProxy's `show
//! servers state` lists all 10,000 servers; then reads the agent's peak resident set size
//! (`VmHWM` in `/proc/<pid>/status`), and the HAProxy worker's for comparison; then, after
//! 1.5 s, counts the agent's full observations of HAProxy and file writes over 10 idle
//! seconds (from its metrics). The agent and
//! HAProxy are then stopped by pid. This is done RUNS times (the peak moves from run to run
//! with how allocations spread over the allocator's per-thread arenas); the largest peak is
//! the figure.
//!
//! Run: `cargo bench -p haproxy-agent --bench footprint -- [SERVICES] [ENDPOINTS_PER_SERVICE]
//!      [RUNS] [--json PATH] [--agent target/release/haproxy-agent]`

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::ensure;
use serde_json::{Value, json};

use common::{AgentOptions, AgentProcess, Args, proc_status_kib, to_yaml};

fn mib(kib: u64) -> f64 {
    common::r3(kib as f64 / 1024.0)
}

/// One manifest file per Service: the Service, its slice with `per` ready endpoints
/// `10.<s/256>.<s%256>.<e+1>:8080`, and an Ingress for host `svc-<s>.bench.example`.
fn write_manifests(dir: &Path, services: usize, per: usize) -> anyhow::Result<()> {
    for s in 0..services {
        let objects = common::service_set(s, per);
        std::fs::write(dir.join(format!("svc-{s}.yaml")), to_yaml(&objects)?)?;
    }
    Ok(())
}

/// Starts the agent on the manifests, waits for convergence, reads the memory figures.
async fn run_once(agent_bin: &Path, source: &Path, total: usize) -> anyhow::Result<Value> {
    let mut agent = AgentProcess::prepare("bench-agent")?;
    for entry in std::fs::read_dir(source)? {
        let path = entry?.path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, agent.manifests.join(name))?;
        }
    }
    let t0 = Instant::now();
    agent.spawn(agent_bin, &AgentOptions::bench(Duration::from_secs(5)))?;
    let pid = agent.pid().expect("just spawned");
    let result = async {
        agent.wait_healthy(Duration::from_secs(120)).await?;
        let healthy = t0.elapsed();
        let runtime = agent.runtime_client();
        integration::wait_until(
            "haproxy lists every server",
            Duration::from_secs(120),
            async || {
                runtime
                    .servers_state(None)
                    .await
                    .is_ok_and(|rows| rows.len() == total)
            },
        )
        .await?;
        let converged = t0.elapsed();
        runtime.disconnect().await;
        // Idle: ten seconds with no change (and nothing draining, the resync period 30 s):
        // what the agent reads of HAProxy and writes to disk meanwhile.
        let sample = |text: &str, name: &str| -> f64 {
            text.lines()
                .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
                .sum()
        };
        let full = "haproxy_agent_observations_total{scope=\"full\"}";
        let writes = "haproxy_agent_file_writes_total";
        // The first sync's files are written within a second of it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before = agent.metrics().await?;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let after = agent.metrics().await?;
        let idle_full = sample(&after, full) - sample(&before, full);
        let idle_writes = sample(&after, writes) - sample(&before, writes);
        let procs = agent.show_proc().await?;
        let worker = procs
            .current_worker()
            .expect("a running haproxy has a worker");
        let status = proc_status_kib(pid)?;
        let worker_status = proc_status_kib(worker)?;
        let field = |m: &std::collections::BTreeMap<String, u64>, f: &str| {
            m.get(f)
                .copied()
                .ok_or_else(|| anyhow::anyhow!("no {f} in /proc/<pid>/status"))
        };
        anyhow::Ok(json!({
            "agent_vmhwm_mib": mib(field(&status, "VmHWM")?),
            "agent_vmrss_mib": mib(field(&status, "VmRSS")?),
            "haproxy_worker_vmhwm_mib": mib(field(&worker_status, "VmHWM")?),
            "healthy_after_s": common::r3(healthy.as_secs_f64()),
            "converged_after_s": common::r3(converged.as_secs_f64()),
            "idle_10s_full_observations": idle_full,
            "idle_10s_file_writes": idle_writes,
            "reloads": procs.master.reloads,
        }))
    }
    .await;
    if result.is_err() {
        eprintln!("{}", agent.log_tail());
    }
    agent.shut_down();
    result
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let services = args.number(0, 1000)?;
    let per = args.number(1, 10)?;
    let runs = args.number(2, 3)?.max(1);
    ensure!(
        services <= 65_536 && per <= 254,
        "at most 65536 services of 254 endpoints"
    );
    let agent_bin = args.binary("agent", "haproxy-agent")?;
    let total = services * per;
    let source = tempfile::Builder::new().prefix("bench-p5").tempdir()?;
    write_manifests(source.path(), services, per)?;

    let mut results = Vec::new();
    for run in 0..runs {
        let r = run_once(&agent_bin, source.path(), total).await?;
        eprintln!(
            "run {}: {total} endpoints in {services} backends: agent peak RSS {} MiB (now {} MiB), \
             haproxy worker peak RSS {} MiB; healthy after {} s, all servers in haproxy after {} s; \
             reloads {}; idle 10 s: {} full observations, {} file writes",
            run + 1,
            r["agent_vmhwm_mib"],
            r["agent_vmrss_mib"],
            r["haproxy_worker_vmhwm_mib"],
            r["healthy_after_s"],
            r["converged_after_s"],
            r["reloads"],
            r["idle_10s_full_observations"],
            r["idle_10s_file_writes"]
        );
        results.push(r);
    }
    let peak = results
        .iter()
        .filter_map(|r| r["agent_vmhwm_mib"].as_f64())
        .fold(0.0, f64::max);
    let reloads: u64 = results.iter().filter_map(|r| r["reloads"].as_u64()).sum();
    args.write_json(&json!({
        "services": services,
        "endpoints": total,
        "agent_peak_mib": peak,
        "reloads": reloads,
        "runs": results,
    }))?;
    Ok(())
}
