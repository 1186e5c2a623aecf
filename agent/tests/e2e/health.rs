//! Failure is visible: `/healthz` stops saying 200 once the agent can no longer reconcile
//! (its HAProxy gone), and settings translation could fail on stop the agent at start-up
//! with exit code 64 rather than leave it running with nothing reconciled.

use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::{
    Agent, CONVERGE, Ep, Options, echo_group, eventually, ingress, route, service, signal, slice,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_not_200_while_nothing_reconciles() {
    let (port, _echoes) = echo_group(&[("v-1", Duration::ZERO)]).unwrap();
    let objects = [
        service("v", 80, port),
        ingress("v", &[], &[route("/v", "v", 80)]),
    ];
    let one = slice("v-1", "v", port, &[Ep::ready("127.0.0.1")]);
    let mut agent = Agent::start(
        &[("v.yaml", &objects.join("---\n")), ("v-slice.yaml", &one)],
        Options::default(),
    )
    .await
    .unwrap();
    // Attach to the HAProxy the first run spawned, then take that HAProxy away: nothing the
    // agent does can reach it any more.
    agent.kill().await.unwrap();
    agent.restart(false).await.unwrap();
    assert_eq!(agent.healthz().await.unwrap(), 200);
    let procs = agent.show_proc().await.unwrap();
    let pids = std::iter::once(procs.master.pid).chain(procs.workers.iter().map(|w| w.pid));
    for pid in pids {
        signal(pid, Signal::SIGKILL).unwrap();
    }
    // A change to reconcile: the sync that tries it fails, and `/healthz` says so.
    let two = slice(
        "v-1",
        "v",
        port,
        &[Ep::ready("127.0.0.1"), Ep::ready("127.0.0.2")],
    );
    agent.write_manifest("v-slice.yaml", &two).unwrap();
    eventually("/healthz is not 200", CONVERGE, async || {
        agent.healthz().await.is_ok_and(|code| code != 200)
    })
    .await
    .unwrap();
    assert_eq!(agent.healthz().await.unwrap(), 503);
    assert_eq!(agent.metric("haproxy_agent_haproxy_up").await.unwrap(), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_translation_could_fail_on_exit_64_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    // Every path under this config dir fits HAProxy's 1024 bytes (`certs/default.pem`
    // exactly) but the crt-list's, one byte longer, which only an Ingress with TLS needs.
    let mut config_dir = dir.path().to_string_lossy().into_owned();
    while config_dir.len() + "/certs/default.pem".len() < 1024 {
        config_dir.push(if config_dir.ends_with('/') { 'd' } else { '/' });
    }
    if config_dir.ends_with('/') {
        config_dir.pop();
        config_dir.push('d');
    }
    assert_eq!(config_dir.len() + "/certs/crt-list.txt".len(), 1025);
    let stderr_path = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_haproxy-agent"))
        .arg("run")
        .arg("--manifests")
        .arg(&manifests)
        .arg("--config-dir")
        .arg(&config_dir)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + CONVERGE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the agent kept running with a config dir it cannot use");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("--config-dir") && stderr.contains("crt-list"),
        "{stderr}"
    );
}
