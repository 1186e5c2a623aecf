//! Disk faults in the config directory: a directory the agent cannot write, a map file
//! deleted and haproxy.cfg edited behind its back. Each is named (`/healthz`, a log line, a
//! metric) while HAProxy keeps serving, and the directory is current again once the fault
//! clears (or at once, for a file the agent owns and can write again).

use std::time::Duration;

use crate::support::{
    Agent, CONVERGE, Ep, Options, echo_group, eventually, ingress, route, service, slice,
};

async fn start() -> (Agent, u16, Vec<integration::EchoServer>) {
    let (port, echoes) = echo_group(&[("v-1", Duration::ZERO)]).unwrap();
    let objects = [
        service("v", 80, port),
        ingress("v", &[], &[route("/v", "v", 80)]),
    ];
    let one = slice("v-1", "v", port, &[Ep::ready("127.0.0.1")]);
    let agent = Agent::start(
        &[("v.yaml", &objects.join("---\n")), ("v-slice.yaml", &one)],
        Options::default(),
    )
    .await
    .unwrap();
    (agent, port, echoes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_config_dir_is_named_on_healthz_and_recovers() {
    let (agent, port, _echoes) = start().await;
    // The directory taken away and a regular file put in its place: every write into it
    // fails, as in a full or read-only directory, for any user (root included).
    let dir = agent.config_dir.clone();
    let aside = dir.with_extension("aside");
    std::fs::rename(&dir, &aside).unwrap();
    std::fs::write(&dir, "not a directory").unwrap();
    let two = slice(
        "v-1",
        "v",
        port,
        &[Ep::ready("127.0.0.1"), Ep::ready("127.0.0.2")],
    );
    agent.write_manifest("v-slice.yaml", &two).unwrap();
    eventually(
        "/healthz names the unwritable directory",
        CONVERGE,
        async || {
            agent
                .healthz_reply()
                .await
                .is_ok_and(|r| r.status == 503 && r.body.contains("config directory not writable"))
        },
    )
    .await
    .unwrap();
    assert!(
        agent
            .metric("haproxy_agent_config_write_failures_total")
            .await
            .unwrap()
            >= 1.0
    );
    assert!(
        agent.log().contains("config directory fault"),
        "{}",
        agent.log_tail()
    );
    // HAProxy serves on, with the change (it went over the runtime API).
    assert_eq!(agent.get("", "/v").await.unwrap().status, 200);
    assert_eq!(agent.servers("default_v_80").await.unwrap().len(), 2);
    // The fault clears: the files are written, `/healthz` is 200 again.
    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(&aside, &dir).unwrap();
    eventually("/healthz is 200 again", CONVERGE, async || {
        agent.healthz().await.is_ok_and(|c| c == 200)
    })
    .await
    .unwrap();
    let cfg = std::fs::read_to_string(dir.join("haproxy.cfg")).unwrap();
    assert!(cfg.contains("127.0.0.2"), "{cfg}");
    assert!(
        agent.log().contains("config directory fault cleared"),
        "{}",
        agent.log_tail()
    );
    assert_eq!(agent.get("", "/v").await.unwrap().status, 200);
}

/// Waits until `path` holds `text` again; the drift counter must then be `drifts` and a log
/// line must name the file as `how` (deleted or changed).
async fn written_again(agent: &Agent, path: &std::path::Path, text: &str, how: &str, drifts: f64) {
    eventually("the file is the agent's again", CONVERGE, async || {
        std::fs::read_to_string(path).is_ok_and(|now| now == text)
    })
    .await
    .unwrap();
    let counted = agent.metric("haproxy_agent_config_drift_total").await;
    assert_eq!(counted.unwrap(), drifts);
    let line = format!("config file {how} behind the agent's back");
    assert!(agent.log().contains(&line), "{}", agent.log_tail());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_changed_behind_the_agents_back_are_named_and_written_again() {
    let (agent, _port, _echoes) = start().await;
    // The agent knows the files it started HAProxy from: nothing changed, nothing rewritten.
    assert_eq!(
        agent
            .metric("haproxy_agent_file_writes_total")
            .await
            .unwrap(),
        0.0
    );
    let map = agent.config_dir.join("maps/exact.map");
    let before = std::fs::read_to_string(&map).unwrap();
    assert!(before.contains("/v"), "{before}");
    std::fs::remove_file(&map).unwrap();
    written_again(&agent, &map, &before, "deleted", 1.0).await;
    // haproxy.cfg edited by hand: the agent's own file comes back.
    let cfg_path = agent.config_dir.join("haproxy.cfg");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(&cfg_path, format!("{cfg}\nbackend edited_by_hand\n")).unwrap();
    written_again(&agent, &cfg_path, &cfg, "changed", 2.0).await;
    eventually("/healthz is 200", CONVERGE, async || {
        agent.healthz().await.is_ok_and(|c| c == 200)
    })
    .await
    .unwrap();
    assert_eq!(agent.get("", "/v").await.unwrap().status, 200);
}
