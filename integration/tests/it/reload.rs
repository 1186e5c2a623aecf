//! Verified reloads of rendered configs against a real HAProxy: no request lost across 20
//! reloads under load, an invalid config refused with everything left as it was, a config
//! that passes `haproxy -c` but cannot load rolled back to last-good, and runtime changes
//! after a reload reaching the new worker and not the old one.
//!
//! Also holds the helpers the routing tests share (backend names, echo fleets, routes).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use haproxy::config::{
    Backend, Balance, Config, DefaultBackend, Frontend, PathKind, Route, RouteHost, RouteMaps,
    RoutePath, Server, ServerAddr, ServerMode, map_commands, render, route_maps, structure,
};
use haproxy::proto::{AdminState, Command, MapTarget, Reply, Weight};
use haproxy::{
    BackendName, FrontendName, MasterClient, ReloadError, ReloadFailure, RuntimeClient, ServerName,
    ServerRef, Worker,
};
use integration::{ConfigDir, EchoServer, LoadLoop, RenderedHaproxy, free_port, http, wait_until};

// ---- helpers shared with the routing tests ----

/// The backend of service `svc`: `t_<svc>_80`, as `<namespace>_<service>_<port>`.
pub(crate) fn be(svc: &str) -> BackendName {
    BackendName::new(format!("t_{svc}_80")).unwrap()
}

/// A ready server of weight 1 named from its address, as the agent names endpoints.
pub(crate) fn server_for(addr: SocketAddr) -> Server {
    Server {
        name: ServerName::new(format!("{}:{}", addr.ip(), addr.port())).unwrap(),
        addr: ServerAddr::new(addr).unwrap(),
        weight: Weight::new(1).unwrap(),
        state: ServerMode::Ready,
        backup: false,
    }
}

/// `127.0.0.1:<port>`.
pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A route to service `svc`.
pub(crate) fn route(host: &str, path: &str, kind: PathKind, svc: &str) -> Route {
    Route {
        canary: None,
        host: RouteHost::parse(host).unwrap(),
        path: RoutePath::new(path).unwrap(),
        kind,
        backend: be(svc),
        https_redirect: false,
        policy: Default::default(),
    }
}

/// A frontend on `127.0.0.1:<port>`.
pub(crate) fn frontend(
    name: &str,
    port: u16,
    maps: RouteMaps,
    default: DefaultBackend,
) -> Frontend {
    Frontend {
        canary_names: Default::default(),
        name: FrontendName::new(name).unwrap(),
        binds: vec![loopback(port)],
        maps,
        default_backend: default,
        tls: None,
        trusted_proxies: Vec::new(),
    }
}

/// Echo servers by name; service `name` is backed by the echo server `name`.
pub(crate) struct Echoes(BTreeMap<String, EchoServer>);

impl Echoes {
    /// One instant echo server per name.
    pub(crate) fn start(names: &[&str]) -> Self {
        Self(
            names
                .iter()
                .map(|n| (n.to_string(), EchoServer::start(n).unwrap()))
                .collect(),
        )
    }

    /// The backend of service `name` with its echo server as the only server.
    pub(crate) fn backend(&self, name: &str) -> Backend {
        let echo = self.0.get(name).unwrap_or_else(|| panic!("no echo {name}"));
        Backend::new(be(name)).with_server(server_for(echo.addr()))
    }

    /// Adds every echo server's backend to `cfg`.
    pub(crate) fn add_backends(&self, cfg: &mut Config) {
        for name in self.0.keys() {
            cfg.insert_backend(self.backend(name));
        }
    }
}

/// Which backend answered `GET path` with `Host: host`: the echo name, or `"404"` for the
/// built-in 404 (whose exact body is checked). Anything else fails.
pub(crate) async fn answered_by(addr: SocketAddr, host: &str, path: &str) -> String {
    let reply = http::get(addr, host, path)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    match (reply.status, &reply.echo_name) {
        (200, Some(name)) => name.clone(),
        (404, None) if reply.body == "default backend - 404" => "404".to_string(),
        _ => panic!("Host: {host}, path {path}: unexpected reply {reply:?}"),
    }
}

/// Sends a batch and asserts every reply is a success: `Done` (map and `set server`
/// commands) or `ServerAdded`.
pub(crate) async fn run_batch(client: &RuntimeClient, commands: &[Command]) {
    let replies = client.batch(commands).await.expect("runtime batch");
    for (cmd, reply) in commands.iter().zip(replies) {
        let reply = reply.unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(
            matches!(reply, Reply::Done | Reply::ServerAdded),
            "{cmd:?}: {reply:?}"
        );
    }
}

/// The `Pid` the runtime API's `show info` reports: which worker a session talks to.
async fn session_pid(client: &RuntimeClient) -> u32 {
    let Reply::Info(info) = client.send(Command::ShowInfo).await.expect("show info") else {
        panic!("show info gave another reply")
    };
    let pid = info.iter().find(|f| f.key == "Pid").expect("a Pid field");
    pid.value.parse().unwrap()
}

/// `command` sent through the master CLI to `worker` with
/// [`MasterClient::worker_command`], its reply parsed.
///
/// A one-shot CLI reply with data ends with an empty line (`…\n\n`, as on 2.6.12), and
/// `worker_command` strips only one of the two newlines, so the multi-line parsers refuse it
/// as unexpected. Such a refusal is parsed again here without that one extra newline, by the
/// same parser; any other error fails the test.
async fn worker_command(master: &MasterClient, worker: Worker, command: &Command) -> Reply {
    master
        .worker_command(worker, command)
        .await
        .unwrap_or_else(|e| panic!("{worker:?} {command:?}: {e}"))
}

/// One echo backend `web` routed from `Host: web.test`, built-in 404 otherwise.
fn web_config(dir: &ConfigDir, echoes: &Echoes, port: u16) -> Config {
    let mut cfg = Config::new(dir.global());
    echoes.add_backends(&mut cfg);
    cfg.routes = vec![route("web.test", "/", PathKind::Prefix, "web")];
    cfg.frontends.push(frontend(
        "http",
        port,
        dir.route_maps(),
        DefaultBackend::Builtin404,
    ));
    cfg
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---- tests ----

const RELOADS: u32 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_verified_reloads_under_load_lose_no_request() {
    let echoes = Echoes::start(&["web", "extra"]);
    let port = free_port();
    let dir = ConfigDir::new().unwrap();
    let mut cfg = web_config(&dir, &echoes, port);
    cfg.backends.remove(&be("extra"));
    let hp = RenderedHaproxy::start(dir, &cfg).await.expect("haproxy");
    let runtime = hp.runtime_client();
    let reloader = hp.reloader(&runtime);
    let addr = loopback(port);

    let load = LoadLoop::start(addr, "web.test", "/", Duration::from_secs(120), u64::MAX);
    wait_until("the load flows", Duration::from_secs(10), || {
        let ok = load.ok_so_far();
        async move { ok >= 20 }
    })
    .await
    .expect("load before the reloads");
    let sent_before = load.ok_so_far() + load.failed_so_far();

    let mut worker = hp.worker_pid().await.unwrap();
    let mut took = Vec::new();
    for i in 0..RELOADS {
        // Alternate two structural changes: a backend added with roundrobin on `web`, then
        // removed with leastconn back.
        let before = structure(&cfg);
        if i % 2 == 0 {
            cfg.insert_backend(echoes.backend("extra"));
            cfg.backends.get_mut(&be("web")).unwrap().balance = Balance::Roundrobin;
        } else {
            cfg.backends.remove(&be("extra"));
            cfg.backends.get_mut(&be("web")).unwrap().balance = Balance::Leastconn;
        }
        assert_ne!(structure(&cfg), before, "reload {i} is structural");
        let done = reloader
            .reload(&render(&cfg))
            .await
            .unwrap_or_else(|e| panic!("reload {i}: {e}; log:\n{}", hp.log()));
        assert_eq!(done.old_worker, Some(worker), "reload {i}");
        assert_ne!(done.new_worker, worker, "reload {i}");
        worker = done.new_worker;
        took.push(done.took);
        // The reloader dropped its session: the next one reaches the new worker.
        assert_eq!(session_pid(&runtime).await, worker, "reload {i}");
        // Traffic flows through the new worker before the next reload.
        let seen = load.ok_so_far();
        wait_until("requests after the reload", Duration::from_secs(10), || {
            let ok = load.ok_so_far();
            async move { ok >= seen + 5 }
        })
        .await
        .unwrap_or_else(|e| panic!("reload {i}: {e}"));
    }
    let stats = load.stop().await;
    let sent = stats.ok + stats.failed;
    eprintln!(
        "{RELOADS} reloads under load: {sent} requests ({} during the reloads), {} failed; \
         reloads took {took:?}",
        sent - sent_before,
        stats.failed
    );
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(
        stats.by_name.keys().collect::<Vec<_>>(),
        ["web"],
        "{stats:?}"
    );
    let procs = hp.show_proc().await.unwrap();
    assert_eq!(procs.master.reloads, RELOADS, "{procs:?}");
    assert_eq!(procs.failed_reloads, 0, "{procs:?}");
    assert_eq!(procs.current_worker(), Some(worker));
    assert_eq!(
        std::fs::read_to_string(hp.writer().last_good_path()).unwrap(),
        render(&cfg).haproxy_cfg
    );
    // Old workers finish their last connections and exit: none is left behind.
    wait_until(
        "the old workers exit",
        Duration::from_secs(15),
        async || hp.show_proc().await.is_ok_and(|p| p.old_workers.is_empty()),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_config_is_refused_and_the_old_one_keeps_serving() {
    let echoes = Echoes::start(&["web", "extra"]);
    let port = free_port();
    let dir = ConfigDir::new().unwrap();
    let mut cfg = web_config(&dir, &echoes, port);
    cfg.backends.remove(&be("extra"));
    let hp = RenderedHaproxy::start(dir, &cfg).await.expect("haproxy");
    let runtime = hp.runtime_client();
    let reloader = hp.reloader(&runtime);
    let writer = hp.writer();
    let maps = writer.route_maps().unwrap();
    let worker = hp.worker_pid().await.unwrap();
    let live_before = read(&writer.config_path());
    let last_good_before = read(&writer.last_good_path());
    let exact_before = read(Path::new(maps.exact.as_str()));
    let prefix_before = read(Path::new(maps.prefix.as_str()));
    assert_eq!(live_before, last_good_before);

    // A structural change with a new route, whose rendered text HAProxy refuses.
    let mut next = cfg.clone();
    next.insert_backend(echoes.backend("extra"));
    next.routes
        .push(route("extra.test", "/", PathKind::Prefix, "extra"));
    let mut bad = render(&next);
    bad.haproxy_cfg =
        bad.haproxy_cfg
            .replacen("defaults\n", "defaults\n    no-such-keyword 1\n", 1);
    let err = reloader.reload(&bad).await.expect_err("refused");
    assert!(matches!(err, ReloadFailure::NotInstalled(_)), "{err}");
    assert!(err.is_invalid_config(), "{err}");
    assert!(err.to_string().contains("no-such-keyword"), "{err}");

    // Nothing on disk moved but the candidate, left for inspection.
    assert_eq!(read(&writer.config_path()), live_before);
    assert_eq!(read(&writer.last_good_path()), last_good_before);
    assert_eq!(read(Path::new(maps.exact.as_str())), exact_before);
    assert_eq!(read(Path::new(maps.prefix.as_str())), prefix_before);
    assert_eq!(read(&writer.candidate_path()), bad.haproxy_cfg.as_bytes());
    // No reload was attempted, and the old config serves.
    let procs = hp.show_proc().await.unwrap();
    assert_eq!(
        (procs.master.reloads, procs.failed_reloads),
        (0, 0),
        "{procs:?}"
    );
    assert_eq!(procs.current_worker(), Some(worker));
    let addr = loopback(port);
    assert_eq!(answered_by(addr, "web.test", "/").await, "web");
    assert_eq!(answered_by(addr, "extra.test", "/").await, "404");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_that_cannot_load_is_rolled_back_to_last_good() {
    let echoes = Echoes::start(&["web", "extra"]);
    let port = free_port();
    let dir = ConfigDir::new().unwrap();
    let mut cfg = web_config(&dir, &echoes, port);
    cfg.backends.remove(&be("extra"));
    let hp = RenderedHaproxy::start(dir, &cfg).await.expect("haproxy");
    let runtime = hp.runtime_client();
    let reloader = hp.reloader(&runtime);
    let writer = hp.writer();
    let worker = hp.worker_pid().await.unwrap();
    let good = render(&cfg).haproxy_cfg;
    assert_eq!(read(&writer.last_good_path()), good.as_bytes());

    // A second frontend on a port another process holds: `haproxy -c` does not bind, so it
    // passes; the reloading master cannot bind it (no SO_REUSEPORT on the holder).
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = holder.local_addr().unwrap().port();
    let mut next = cfg.clone();
    next.insert_backend(echoes.backend("extra"));
    next.frontends.push(frontend(
        "held",
        held,
        hp.writer().route_maps().unwrap(),
        DefaultBackend::Backend(be("extra")),
    ));
    assert_eq!(next.problems(), vec![]);
    let err = reloader.reload(&render(&next)).await.expect_err("fails");
    let ReloadFailure::Failed(ReloadError::Failed {
        worker: kept,
        failed,
    }) = &err
    else {
        panic!("expected a failed load, got {err}")
    };
    assert_eq!((*kept, *failed), (Some(worker), 1), "{err}");
    assert!(err.is_invalid_config(), "{err}");
    assert!(hp.log().contains("cannot bind socket"), "{}", hp.log());

    // On disk: last-good is back as haproxy.cfg; the master counts one failed reload and
    // keeps the old worker, which still serves.
    assert_eq!(read(&writer.config_path()), good.as_bytes());
    assert_eq!(read(&writer.last_good_path()), good.as_bytes());
    let procs = hp.show_proc().await.unwrap();
    assert_eq!(
        (procs.master.reloads, procs.failed_reloads),
        (1, 1),
        "{procs:?}"
    );
    assert_eq!(procs.current_worker(), Some(worker), "{procs:?}");
    assert_eq!(answered_by(loopback(port), "web.test", "/").await, "web");

    // Once the port is free the same config loads, and becomes last-good.
    drop(holder);
    let done = reloader
        .reload(&render(&next))
        .await
        .unwrap_or_else(|e| panic!("{e}; log:\n{}", hp.log()));
    assert_eq!(done.old_worker, Some(worker));
    let procs = hp.show_proc().await.unwrap();
    assert_eq!(
        (procs.master.reloads, procs.failed_reloads),
        (2, 0),
        "{procs:?}"
    );
    let next_text = render(&next).haproxy_cfg;
    assert_eq!(read(&writer.config_path()), next_text.as_bytes());
    assert_eq!(read(&writer.last_good_path()), next_text.as_bytes());
    assert_eq!(answered_by(loopback(held), "any.test", "/").await, "extra");
    assert_eq!(answered_by(loopback(port), "web.test", "/").await, "web");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_changes_after_a_reload_reach_the_new_worker_only() {
    // `slow` keeps a request in flight through the old worker across the reload; `dyn`
    // starts without servers and gets one at runtime after the reload.
    let slow = EchoServer::start_with_delay("slow", Duration::from_secs(4)).unwrap();
    let dyn_echo = EchoServer::start("dyn-a").unwrap();
    let echoes = Echoes::start(&["extra"]);
    let port = free_port();
    let addr = loopback(port);
    let dir = ConfigDir::new().unwrap();
    let maps = dir.route_maps();
    let mut cfg = Config::new(dir.global());
    cfg.insert_backend(Backend::new(be("slow")).with_server(server_for(slow.addr())));
    cfg.insert_backend(Backend::new(be("dyn")));
    cfg.routes = vec![
        route("slow.test", "/", PathKind::Prefix, "slow"),
        route("dyn.test", "/", PathKind::Prefix, "dyn"),
    ];
    cfg.frontends.push(frontend(
        "http",
        port,
        maps.clone(),
        DefaultBackend::Builtin404,
    ));
    let hp = RenderedHaproxy::start(dir, &cfg).await.expect("haproxy");
    let master = hp.master_client();
    let runtime = hp.runtime_client();
    let reloader = hp.reloader(&runtime);
    let old = hp.worker_pid().await.unwrap();
    // Two sessions opened before the reload: the reloader's own, and one nobody closes.
    assert_eq!(session_pid(&runtime).await, old);
    let stale = hp.runtime_client();
    assert_eq!(session_pid(&stale).await, old);

    let in_flight = tokio::spawn(http::get(addr, "slow.test", "/"));
    wait_until(
        "the slow request reaches its backend",
        Duration::from_secs(5),
        || {
            let n = slow.requests();
            async move { n == 1 }
        },
    )
    .await
    .unwrap();

    let mut next = cfg.clone();
    next.insert_backend(echoes.backend("extra"));
    let done = reloader
        .reload(&render(&next))
        .await
        .unwrap_or_else(|e| panic!("{e}; log:\n{}", hp.log()));
    let new = done.new_worker;
    assert_eq!(done.old_worker, Some(old));
    assert_ne!(new, old);
    let procs = hp.show_proc().await.unwrap();
    assert!(
        procs.old_workers.iter().any(|w| w.pid == old),
        "the old worker lives on for its request: {procs:?}"
    );

    // Runtime changes, through the reloader's client: a server for `dyn` and a route to it.
    let dyn_backend = Backend::new(be("dyn"));
    let dyn_server = server_for(dyn_echo.addr());
    let server_ref = ServerRef::new(be("dyn"), dyn_server.name.clone());
    let mut routed = next.clone();
    routed
        .routes
        .push(route("new.test", "/", PathKind::Prefix, "dyn"));
    let mut commands = vec![
        Command::AddServer(dyn_backend.add_server(&dyn_server)),
        Command::SetServerState(server_ref, AdminState::Ready),
    ];
    commands.extend(map_commands(
        &maps,
        &route_maps(&next.routes),
        &route_maps(&routed.routes),
    ));
    run_batch(&runtime, &commands).await;
    assert_eq!(session_pid(&runtime).await, new);

    // The new worker has both changes, asked through the master by pid, and serves them.
    let servers_of = async |worker| {
        let cmd = Command::ShowServersState(Some(be("dyn")));
        match worker_command(&master, worker, &cmd).await {
            Reply::ServersState(s) => s.iter().map(|s| s.server).collect::<Vec<_>>(),
            other => panic!("show servers state: {other:?}"),
        }
    };
    let prefix_keys = async |worker| {
        let cmd = Command::ShowMap(MapTarget::live(maps.prefix.to_file_path()));
        match worker_command(&master, worker, &cmd).await {
            Reply::MapEntries(e) => e.into_iter().map(|e| e.key).collect::<Vec<_>>(),
            other => panic!("show map: {other:?}"),
        }
    };
    assert_eq!(
        servers_of(Worker::Pid(new)).await,
        [dyn_server.name.to_string()]
    );
    assert!(
        prefix_keys(Worker::Pid(new))
            .await
            .contains(&"new.test/".to_string())
    );
    assert_eq!(answered_by(addr, "new.test", "/x").await, "dyn-a");
    assert_eq!(answered_by(addr, "dyn.test", "/").await, "dyn-a");

    // The old worker, still alive, got neither: no update went to it.
    assert!(integration::pid_exists(old));
    assert!(servers_of(Worker::Pid(old)).await.is_empty());
    let old_keys = prefix_keys(Worker::Pid(old)).await;
    assert!(!old_keys.contains(&"new.test/".to_string()), "{old_keys:?}");
    assert!(old_keys.contains(&"dyn.test/".to_string()), "{old_keys:?}");
    // The race the reloader closes: a session opened before the reload still talks to the
    // old worker.
    assert_eq!(session_pid(&stale).await, old);
    stale.disconnect().await;

    // The in-flight request finished on the old worker, which then exits.
    let reply = in_flight.await.unwrap().expect("the slow request");
    assert_eq!(
        (reply.status, reply.echo_name.as_deref()),
        (200, Some("slow"))
    );
    wait_until(
        "the old worker exits",
        Duration::from_secs(15),
        async || hp.show_proc().await.is_ok_and(|p| p.old_workers.is_empty()),
    )
    .await
    .unwrap();
    assert_eq!(hp.reload_count().await.unwrap(), 1);
}
