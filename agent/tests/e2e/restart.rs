//! Crashes: the agent killed mid-way and restarted against the HAProxy still running
//! converges to exactly the desired servers; HAProxy killed under `--spawn-haproxy` is
//! started again by the agent and resynced.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use integration::EchoServer;
use nix::sys::signal::Signal;

use crate::support::{
    Agent, CONVERGE, Ep, Options, backend, echo_group, eventually, ingress, is_live_haproxy,
    loopback, route, server, service, signal, slice,
};

const HOST: &str = "crash.example";

/// The backend's live servers, each with whether it is ready.
async fn live(agent: &Agent, be: &str) -> anyhow::Result<BTreeMap<String, bool>> {
    Ok(agent
        .servers(be)
        .await?
        .into_iter()
        .map(|(name, row)| (name, row.admin.is_ready()))
        .collect())
}

fn ready(names: &[&String]) -> BTreeMap<String, bool> {
    names.iter().map(|n| ((*n).clone(), true)).collect()
}

/// Waits until backend `be` holds exactly `want`; else panics with the servers last seen
/// and the agent's log.
async fn converges_to(agent: &Agent, be: &str, want: BTreeMap<String, bool>) {
    let mut last = BTreeMap::new();
    let converged = eventually(
        "exactly the desired servers",
        CONVERGE,
        async || match live(agent, be).await {
            Ok(l) => {
                last = l;
                last == want
            }
            Err(_) => false,
        },
    )
    .await;
    if let Err(e) = converged {
        panic!("{e}; live: {last:?}; {}", agent.log_tail());
    }
}

/// Three echo pods of a Service `n` behind an Ingress for `/<n>`, the agent started with the
/// slice listing the first two (`<n>-slice.yaml`): the pods, the servers' names, the agent,
/// the backend and the pods' port.
async fn three_pods(n: &str) -> (Vec<EchoServer>, Vec<String>, Agent, String, u16) {
    let zero = Duration::ZERO;
    let pods = [format!("{n}-1"), format!("{n}-2"), format!("{n}-3")];
    let (port, echoes) =
        echo_group(&[(&pods[0], zero), (&pods[1], zero), (&pods[2], zero)]).unwrap();
    let names: Vec<String> = (0..3).map(|i| server(loopback(i, port))).collect();
    let objects = [
        service(n, 80, port),
        ingress(n, &[], &[route(&format!("/{n}"), n, 80)]),
    ];
    let slice_12 = slice(
        &pods[0],
        n,
        port,
        &[Ep::ready("127.0.0.1"), Ep::ready("127.0.0.2")],
    );
    let agent = Agent::start(
        &[
            (&format!("{n}.yaml"), &objects.join("---\n")),
            (&format!("{n}-slice.yaml"), &slice_12),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    (echoes, names, agent, backend(n, 80), port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_and_restarted_converges_without_duplicate_or_orphan_servers() {
    let (echoes, names, mut agent, be, port) = three_pods("k").await;
    assert_eq!(
        live(&agent, &be).await.unwrap(),
        ready(&[&names[0], &names[1]])
    );
    let master = agent.haproxy_master_pid().await.unwrap();

    agent.kill().await.unwrap();
    assert!(is_live_haproxy(master), "HAProxy went down with the agent");
    assert_eq!(
        agent.get(HOST, "/k").await.unwrap().status,
        200,
        "HAProxy stopped serving"
    );

    // While the agent is down: 127.0.0.1 goes, 127.0.0.3 comes.
    let slice_23 = slice(
        "k-1",
        "k",
        port,
        &[Ep::ready("127.0.0.2"), Ep::ready("127.0.0.3")],
    );
    agent.write_manifest("k-slice.yaml", &slice_23).unwrap();

    // Restarted without --spawn-haproxy: it attaches to the running HAProxy by its sockets.
    agent.restart(false).await.unwrap();
    converges_to(&agent, &be, ready(&[&names[1], &names[2]])).await;
    // No duplicate, no orphan anywhere: every backend holds exactly its desired servers.
    let all = agent.all_servers().await.unwrap();
    let want_all: BTreeMap<String, BTreeSet<String>> =
        [(be.clone(), [names[1].clone(), names[2].clone()].into())].into();
    assert_eq!(all, want_all);
    assert_eq!(
        agent.haproxy_master_pid().await.unwrap(),
        master,
        "HAProxy was replaced"
    );
    // No reload: the restarted agent knows the running worker loaded the last good config
    // (the worker's pid is recorded beside it), so it converges at runtime.
    let reloads = agent.reloads().await.unwrap();
    assert_eq!(reloads, 0, "the restarted agent reloaded");
    let before_k1 = echoes[0].requests();
    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        let r = agent.get(HOST, "/k").await.unwrap();
        seen.insert(r.echo_name.unwrap_or_default());
    }
    assert_eq!(seen, ["k-2".to_string(), "k-3".to_string()].into());
    assert_eq!(
        echoes[0].requests(),
        before_k1,
        "the removed endpoint got traffic"
    );
    assert_eq!(agent.healthz().await.unwrap(), 200);

    // The HAProxy the restarted agent attached to does not outlive the handle.
    drop(agent);
    assert!(
        !is_live_haproxy(master),
        "HAProxy {master} outlived the agent handle"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_agent_adopts_a_haproxy_running_its_config_and_converges_at_runtime() {
    let (echoes, names, mut agent, be, port) = three_pods("a").await;
    let master = agent.haproxy_master_pid().await.unwrap();
    agent.kill().await.unwrap();
    let slice_23 = slice(
        "a-1",
        "a",
        port,
        &[Ep::ready("127.0.0.2"), Ep::ready("127.0.0.3")],
    );
    agent.write_manifest("a-slice.yaml", &slice_23).unwrap();

    // Someone else reloads HAProxy from the haproxy.cfg on disk, well after it was written:
    // the restarted agent can then tell that the running worker loaded that very file (its
    // uptime is shorter than the file's age), adopts it without a reload, and converges
    // over the runtime API. The agent adopts only when the file is 2 s older than the
    // worker's uptime, which `show proc` counts in whole seconds and may overstate by up to
    // one: 3.5 s clears both.
    let cfg = agent.config_dir.join("haproxy.cfg");
    eventually("haproxy.cfg is 3.5 s old", CONVERGE, async || {
        std::fs::metadata(&cfg)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_millis(3500))
    })
    .await
    .unwrap();
    agent.master_client().reload(CONVERGE).await.unwrap();
    assert_eq!(agent.reloads().await.unwrap(), 1);
    let on_disk = ready(&[&names[0], &names[1]]);
    assert_eq!(live(&agent, &be).await.unwrap(), on_disk);

    agent.restart(false).await.unwrap();
    converges_to(&agent, &be, ready(&[&names[1], &names[2]])).await;
    assert!(
        agent.log().contains("adopting the running haproxy"),
        "{}",
        agent.log_tail()
    );
    assert_eq!(
        agent.reloads().await.unwrap(),
        1,
        "the restarted agent reloaded"
    );
    let all = agent.all_servers().await.unwrap();
    let want_all: BTreeMap<String, BTreeSet<String>> =
        [(be.clone(), [names[1].clone(), names[2].clone()].into())].into();
    assert_eq!(all, want_all);
    let before_a1 = echoes[0].requests();
    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        let r = agent.get(HOST, "/a").await.unwrap();
        seen.insert(r.echo_name.unwrap_or_default());
    }
    assert_eq!(seen, ["a-2".to_string(), "a-3".to_string()].into());
    assert_eq!(
        echoes[0].requests(),
        before_a1,
        "the removed endpoint got traffic"
    );
    assert_eq!(agent.haproxy_master_pid().await.unwrap(), master);
    // And from here on, the adopted HAProxy is kept in step at runtime.
    let slice_12 = slice(
        "a-1",
        "a",
        port,
        &[Ep::ready("127.0.0.1"), Ep::ready("127.0.0.2")],
    );
    agent.write_manifest("a-slice.yaml", &slice_12).unwrap();
    eventually("back to 127.0.0.1 and .2", CONVERGE, async || {
        live(&agent, &be)
            .await
            .is_ok_and(|l| l == ready(&[&names[0], &names[1]]))
    })
    .await
    .unwrap();
    assert_eq!(agent.reloads().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_killed_is_restarted_by_the_agent_and_resynced() {
    let zero = Duration::ZERO;
    let (port, _echoes) = echo_group(&[("h-1", zero), ("h-2", zero), ("h-3", zero)]).unwrap();
    let names: Vec<String> = (0..3).map(|i| server(loopback(i, port))).collect();
    let objects = [
        service("h", 80, port),
        ingress("h", &[], &[route("/h", "h", 80)]),
    ];
    let mut agent = Agent::start(
        &[
            ("h.yaml", &objects.join("---\n")),
            (
                "h-slice.yaml",
                &slice("h-1", "h", port, &[Ep::ready("127.0.0.1")]),
            ),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let be = backend("h", 80);
    // A server added at runtime, so HAProxy's restart has to come back with it too.
    agent
        .append_manifest("h-slice.yaml", &Ep::ready("127.0.0.2").yaml())
        .unwrap();
    eventually("127.0.0.2 is added", CONVERGE, async || {
        live(&agent, &be).await.is_ok_and(|l| l.len() == 2)
    })
    .await
    .unwrap();

    let old_master = agent.haproxy_master_pid().await.unwrap();
    signal(old_master, Signal::SIGKILL).unwrap();
    let mut new_master = 0;
    eventually(
        "a new HAProxy master answers",
        CONVERGE,
        async || match agent.haproxy_master_pid().await {
            Ok(pid) if pid != old_master => {
                new_master = pid;
                true
            }
            _ => false,
        },
    )
    .await
    .unwrap();
    assert!(is_live_haproxy(new_master));

    eventually("traffic is served again", CONVERGE, async || {
        agent.get(HOST, "/h").await.is_ok_and(|r| r.status == 200)
    })
    .await
    .unwrap();
    let want = ready(&[&names[0], &names[1]]);
    eventually("the servers are as desired", CONVERGE, async || {
        live(&agent, &be).await.is_ok_and(|l| l == want)
    })
    .await
    .unwrap();
    agent.wait_healthy(CONVERGE).await.unwrap();
    // The agent resynced on its own, with no manifest change to wake it (its periodic resync
    // is 30 s away): it found the new worker (a desync), which the supervisor started from
    // the config on disk, so it needed no reload of its own.
    eventually(
        "the agent resyncs with the new HAProxy",
        CONVERGE,
        async || {
            agent.metrics().await.is_ok_and(|m| {
                m.lines()
                    .any(|l| l.starts_with("haproxy_agent_desync_total ") && !l.ends_with(" 0"))
            })
        },
    )
    .await
    .unwrap();
    assert_eq!(
        agent.reloads().await.unwrap(),
        0,
        "the restarted HAProxy runs the config on disk: no reload; {}",
        agent.log_tail()
    );

    // The agent talks to the new HAProxy: an endpoint change is applied there, at runtime.
    let reloads = agent.reloads().await.unwrap();
    agent
        .append_manifest("h-slice.yaml", &Ep::ready("127.0.0.3").yaml())
        .unwrap();
    let want = ready(&[&names[0], &names[1], &names[2]]);
    eventually(
        "127.0.0.3 is added to the new HAProxy",
        CONVERGE,
        async || live(&agent, &be).await.is_ok_and(|l| l == want),
    )
    .await
    .unwrap();
    eventually("h-3 serves", CONVERGE, async || {
        agent
            .get(HOST, "/h")
            .await
            .is_ok_and(|r| r.echo_name.as_deref() == Some("h-3"))
    })
    .await
    .unwrap();
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "the endpoint change reloaded"
    );
    assert_eq!(agent.haproxy_master_pid().await.unwrap(), new_master);
    assert_eq!(agent.healthz().await.unwrap(), 200);
    let metrics = agent.metrics().await.unwrap();
    assert!(metrics.contains("haproxy_agent_haproxy_up 1"), "{metrics}");

    // A clean stop takes the HAProxy it spawned down with it.
    let status = agent.stop().await.unwrap();
    assert!(status.success(), "{status}");
    assert!(
        !is_live_haproxy(new_master),
        "HAProxy {new_master} outlived the agent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_reload_stops_the_agent_and_its_haproxy_promptly() {
    let web = integration::EchoServer::start("web").unwrap();
    let port = web.addr().port();
    let objects = [
        service("web", 80, port),
        slice("web-1", "web", port, &[Ep::ready("127.0.0.1")]),
        ingress("web", &[], &[route("/web", "web", 80)]),
    ];
    let mut agent = Agent::start(&[("web.yaml", &objects.join("---\n"))], Options::default())
        .await
        .unwrap();
    let master = agent.haproxy_master_pid().await.unwrap();
    // A new backend: the agent installs a new haproxy.cfg, then reloads and waits for the
    // new worker. SIGTERM as soon as the new file is in place, i.e. during the reload.
    let other = [
        service("other", 80, port),
        slice("other-1", "other", port, &[Ep::ready("127.0.0.1")]),
        ingress("other", &[], &[route("/other", "other", 80)]),
    ];
    agent
        .write_manifest("other.yaml", &other.join("---\n"))
        .unwrap();
    let cfg = agent.config_dir.join("haproxy.cfg");
    let new_backend = format!("backend {}", backend("other", 80));
    eventually("the new haproxy.cfg is installed", CONVERGE, async || {
        std::fs::read_to_string(&cfg).is_ok_and(|t| t.contains(&new_backend))
    })
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let status = agent.stop().await.unwrap();
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        !is_live_haproxy(master),
        "HAProxy {master} outlived the agent"
    );
    // HAProxy's soft stop is bounded by hard-stop-after (3 s here) + 5 s.
    assert!(
        took < Duration::from_secs(9),
        "the agent took {took:?} to stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_and_restarted_with_spawn_haproxy_retires_the_haproxy_left_running() {
    let (port, _echoes) = echo_group(&[("r-1", Duration::ZERO)]).unwrap();
    let objects = [
        service("r", 80, port),
        ingress("r", &[], &[route("/r", "r", 80)]),
        slice("r-1", "r", port, &[Ep::ready("127.0.0.1")]),
    ];
    let mut agent = Agent::start(&[("r.yaml", &objects.join("---\n"))], Options::default())
        .await
        .unwrap();
    let old = agent.haproxy_master_pid().await.unwrap();
    agent.kill().await.unwrap();
    assert!(is_live_haproxy(old), "HAProxy went down with the agent");

    // The new agent starts its own HAProxy on the same sockets and ports; the one the killed
    // agent left must not run on beside it, out of step and still listening.
    agent.restart(true).await.unwrap();
    let new = agent.haproxy_master_pid().await.unwrap();
    assert_ne!(new, old, "the new agent did not start its own HAProxy");
    eventually("the HAProxy left running is gone", CONVERGE, async || {
        !is_live_haproxy(old)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}; {}", agent.log_tail()));
    assert!(
        agent
            .log()
            .contains("a haproxy left running by an earlier agent")
    );
    let be = backend("r", 80);
    assert_eq!(
        live(&agent, &be).await.unwrap(),
        ready(&[&server(loopback(0, port))])
    );
    assert_eq!(agent.get(HOST, "/r").await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_endpoint_loaded_from_the_config_is_seen_draining() {
    // A terminating endpoint is written `disabled` into haproxy.cfg, so a HAProxy started
    // from it (here: restarted after a kill) has it in maintenance with the config bit (0x04)
    // set; `state drain` leaves that bit set (admin state 12, which HAProxy shows as DRAIN).
    // The agent must read that as draining: not send `state drain` again on every sync, and
    // not take it for a server in maintenance (whose sessions it would cut on removal).
    let (port, _echoes) = echo_group(&[("t-1", Duration::ZERO), ("t-2", Duration::ZERO)]).unwrap();
    let objects = [
        service("t", 80, port),
        ingress("t", &[], &[route("/t", "t", 80)]),
    ];
    let mut agent = Agent::start(
        &[
            ("t.yaml", &objects.join("---\n")),
            (
                "t-slice.yaml",
                &slice(
                    "t-1",
                    "t",
                    port,
                    &[Ep::ready("127.0.0.1"), Ep::terminating("127.0.0.2")],
                ),
            ),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let be = backend("t", 80);
    let old = agent.haproxy_master_pid().await.unwrap();
    signal(old, Signal::SIGKILL).unwrap();
    let draining = server(loopback(1, port));
    eventually(
        "the restarted HAProxy has the endpoint draining",
        CONVERGE,
        async || {
            agent
                .servers(&be)
                .await
                .is_ok_and(|s| s.get(&draining).is_some_and(|r| r.admin.0 == 12))
                && agent.haproxy_master_pid().await.is_ok_and(|p| p != old)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}; {}", agent.log_tail()));
    agent.wait_healthy(CONVERGE).await.unwrap();

    // One endpoint added: that sync sends its two commands and nothing for the draining one.
    let slice_3 = slice(
        "t-1",
        "t",
        port,
        &[
            Ep::ready("127.0.0.1"),
            Ep::terminating("127.0.0.2"),
            Ep::ready("127.0.0.3"),
        ],
    );
    agent.write_manifest("t-slice.yaml", &slice_3).unwrap();
    eventually("127.0.0.3 is added", CONVERGE, async || {
        live(&agent, &be).await.is_ok_and(|l| l.len() == 3)
    })
    .await
    .unwrap();
    // The sync's report is recorded just after its commands ran: wait for the one that
    // added the endpoint (the restart's resync before it put the draining one back in
    // drain, one command). A sync that also re-sent `state drain` would record 3.
    let mut state = serde_json::Value::Null;
    let added = eventually(
        "the sync adding 127.0.0.3 is recorded",
        CONVERGE,
        async || {
            state = agent.debug_state().await.unwrap_or_default();
            state["last_sync"]["commands"] == 2
        },
    )
    .await;
    assert!(
        added.is_ok(),
        "the last sync: {}; {}",
        state["last_sync"],
        agent.log_tail()
    );
    assert_eq!(state["last_sync"]["reloads"], serde_json::json!([]));
    assert!(
        agent.servers(&be).await.unwrap()[&draining]
            .admin
            .is_drain(),
        "the agent does not read admin state 12 as draining"
    );
}
