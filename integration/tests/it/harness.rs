//! Smoke tests of the test support itself: HAProxy starts and stops by pid, echo backends are
//! reachable through it, and a broken config fails with HAProxy's own alert.

use std::time::Duration;

use integration::{
    EchoServer, HaproxyProcess, LoadLoop, free_port, get, get_many, pid_exists, wait_for,
    wait_until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_starts_answers_and_stops_by_pid() {
    let haproxy = HaproxyProcess::start("").await.expect("haproxy starts");
    let version = haproxy
        .runtime_client()
        .version()
        .await
        .expect("show version");
    assert_eq!(version.major, 2, "{version:?}");
    assert!(version.minor >= 6, "{version:?}");
    assert_eq!(haproxy.reload_count().await.expect("show proc"), 0);
    let master = haproxy.pid();
    let worker = haproxy.worker_pid().await.expect("worker pid");
    assert_ne!(master, worker);
    assert!(pid_exists(master) && pid_exists(worker));
    drop(haproxy);
    assert!(
        !pid_exists(master),
        "master {master} still exists after drop"
    );
    wait_until(
        "the worker is gone",
        Duration::from_secs(5),
        || async move { !pid_exists(worker) },
    )
    .await
    .expect("worker exits with its master");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_backend_is_reachable_through_haproxy() {
    let echo = EchoServer::start("alpha").expect("echo starts");
    let port = free_port();
    let _haproxy = HaproxyProcess::start(&format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\n\
         backend be\n    server s1 {}\n",
        echo.addr()
    ))
    .await
    .expect("haproxy starts");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();

    let reply = get(addr, "Example.COM:8080", "/some/path?q=1")
        .await
        .expect("GET through haproxy");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.echo_name.as_deref(), Some("alpha"));
    assert_eq!(reply.body, "alpha");
    assert_eq!(reply.header("x-echo-host"), Some("Example.COM:8080"));
    assert_eq!(reply.header("x-echo-path"), Some("/some/path?q=1"));

    for r in get_many(addr, "example.com", "/", 3).await {
        assert_eq!(r.expect("GET").echo_name.as_deref(), Some("alpha"));
    }
    assert_eq!(echo.requests(), 4);

    let load = LoadLoop::start(addr, "example.com", "/", Duration::from_secs(10), 1_000_000);
    wait_until(
        "the load loop has 20 successes",
        Duration::from_secs(10),
        || {
            let ok = load.ok_so_far();
            async move { ok >= 20 }
        },
    )
    .await
    .expect("load flows");
    let stats = load.stop().await;
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert!(stats.ok >= 20, "{stats:?}");
    assert_eq!(stats.by_name.get("alpha"), Some(&stats.ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_config_fails_with_the_haproxy_alert() {
    let port = free_port();
    let err = HaproxyProcess::start(&format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n    no_such_keyword here\n"
    ))
    .await
    .expect_err("a broken config must not start");
    let text = format!("{err:#}");
    assert!(text.contains("[ALERT]"), "{text}");
    assert!(text.contains("no_such_keyword"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_loop_counts_failures_and_stops_at_its_limit() {
    let nothing = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let load = LoadLoop::start(nothing, "example.com", "/", Duration::from_secs(10), 3);
    let stats = load.stop_when_done().await;
    assert_eq!((stats.ok, stats.failed), (0, 3), "{stats:?}");
    assert_eq!(stats.errors.len(), 3, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_and_kill() {
    let echo = EchoServer::start("alpha").expect("echo starts");
    let port = free_port();
    let body = |name: &str| {
        format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend {name}\n\n\
             backend {name}\n    server s1 {}\n",
            echo.addr()
        )
    };
    let mut haproxy = HaproxyProcess::start(&body("be"))
        .await
        .expect("haproxy starts");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let first = haproxy.worker_pid().await.expect("worker");

    haproxy.write_config(&body("other")).expect("write config");
    let reloaded = haproxy.reload().await.expect("reload");
    assert_eq!(reloaded.old_worker, Some(first));
    assert_eq!(haproxy.reload_count().await.expect("show proc"), 1);
    let second = haproxy.worker_pid().await.expect("worker");
    assert_eq!(second, reloaded.new_worker);
    let backends = haproxy
        .runtime_client()
        .servers_state(None)
        .await
        .expect("servers state");
    assert!(format!("{backends:?}").contains("other"), "{backends:?}");
    assert_eq!(get(addr, "x", "/").await.expect("GET").status, 200);

    haproxy.kill_master().expect("kill master");
    assert!(haproxy.try_wait().expect("try_wait").is_some());
    wait_until(
        "the orphaned worker exits",
        Duration::from_secs(5),
        || async move { !pid_exists(second) },
    )
    .await
    .expect("the worker follows its master");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_worker_takes_the_master_down() {
    let mut haproxy = HaproxyProcess::start("").await.expect("haproxy starts");
    let worker = haproxy.kill_worker().await.expect("kill worker");
    let status = haproxy
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("the master exits");
    assert!(!status.success(), "{status}");
    assert!(!pid_exists(worker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_polls_until_true_and_names_what_timed_out() {
    let mut polls = 0;
    wait_until("three polls", Duration::from_secs(5), async || {
        polls += 1;
        polls >= 3
    })
    .await
    .expect("three polls");
    assert_eq!(polls, 3);
    let value = wait_for("a value", Duration::from_secs(5), async || {
        polls += 1;
        if polls >= 5 {
            Ok(polls)
        } else {
            Err(anyhow::anyhow!("not yet"))
        }
    })
    .await
    .expect("a value");
    assert_eq!(value, 5);

    let err = wait_until("pigs fly", Duration::from_millis(50), || async { false })
        .await
        .expect_err("times out");
    assert!(err.to_string().contains("pigs fly"), "{err}");
    let err = wait_for("a unicorn", Duration::from_millis(50), || async {
        Err::<(), _>(anyhow::anyhow!("none seen"))
    })
    .await
    .expect_err("times out");
    assert!(
        format!("{err:#}").contains("a unicorn") && format!("{err:#}").contains("none seen"),
        "{err:#}"
    );
}
