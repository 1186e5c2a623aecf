//! The applier against a real HAProxy with Gateway API routes: the first routes reload once
//! (`gateway_api`) with their map entries in the files, entry changes are map commands with
//! no reload (observed after the reload, kept current from acknowledged commands), and the
//! last routes gone reload once more.

use std::sync::Arc;
use std::time::Duration;

use haproxy::config::gateway::{
    Candidate, CandidateId, GatewayRoutes, HostKey, HostPattern, Listen, WeightedBackend,
};
use haproxy::config::{Backend, Config, DefaultBackend, Frontend, MapEntries, Server, ServerAddr};
use haproxy::proto::Weight;
use haproxy::{BackendName, FrontendName, ServerName};
use integration::{ConfigDir, EchoServer, RenderedHaproxy, Req, free_port};

use super::{Applier, ApplySettings};
use crate::http::Status;
use crate::reconcile::{Desired, ReloadReason, Scope};

fn backend(name: &str, echo: &EchoServer) -> Backend {
    let addr = echo.addr();
    Backend::new(BackendName::new(name).unwrap()).with_server(Server {
        name: ServerName::new(format!("{}:{}", addr.ip(), addr.port())).unwrap(),
        addr: ServerAddr::new(addr).unwrap(),
        weight: Weight::new(1).unwrap(),
        state: haproxy::config::ServerMode::Ready,
        backup: false,
    })
}

/// `a.test` (any path) to these backends and weights.
fn routes(weights: &[(&str, u32)]) -> GatewayRoutes {
    let id = CandidateId::new("ns", "r", 0, 0).unwrap();
    let backends = weights
        .iter()
        .map(|(b, weight)| WeightedBackend {
            backend: Some(BackendName::new(*b).unwrap()),
            weight: *weight,
        })
        .collect();
    let mut r = GatewayRoutes::default();
    let key = HostKey {
        listen: Listen::Http,
        host: HostPattern::Exact("a.test".into()),
    };
    r.insert_host(key, 80, vec![(id, Candidate::forward_all(backends))]);
    r
}

async fn sync(applier: &mut Applier, cfg: &Config, scope: &Scope) -> Vec<ReloadReason> {
    let maps = MapEntries::of_routes(&cfg.routes);
    let desired = Desired {
        config: cfg,
        maps: &maps,
    };
    applier.sync(desired, scope).await.expect("sync").reloads
}

async fn who(port: u16) -> String {
    let r = integration::request(
        ([127, 0, 0, 1], port).into(),
        Req::new("GET", "a.test", "/"),
    )
    .await
    .expect("request");
    r.echo_name.unwrap_or_else(|| r.status.to_string())
}

#[tokio::test]
async fn gateway_routes_reload_once_then_change_at_runtime() {
    let (one, two) = (
        EchoServer::start("one").unwrap(),
        EchoServer::start("two").unwrap(),
    );
    let dir = ConfigDir::new().unwrap();
    let port = free_port();
    let mut cfg = Config::new(dir.global());
    cfg.insert_backend(backend("ns_one_80", &one));
    cfg.insert_backend(backend("ns_two_80", &two));
    cfg.frontends.push(Frontend {
        canary_names: Default::default(),
        name: FrontendName::new("http").unwrap(),
        binds: vec![([127, 0, 0, 1], port).into()],
        maps: dir.route_maps(),
        default_backend: DefaultBackend::Builtin404,
        tls: None,
        trusted_proxies: Vec::new(),
    });
    let hp = RenderedHaproxy::start(dir, &cfg).await.expect("haproxy");
    let runtime = hp.runtime_client();
    let settings = ApplySettings {
        drain_timeout: Duration::from_secs(1),
        full_observe_every: Duration::from_secs(300),
    };
    let status: Arc<Status> = Status::new();
    let mut applier = Applier::new(
        runtime.clone(),
        hp.master_client(),
        hp.reloader(&runtime),
        status,
        settings,
    );
    applier
        .assume_loaded(&cfg, hp.started_with())
        .await
        .unwrap();
    assert_eq!(who(port).await, "404");

    cfg.gateway = routes(&[("ns_one_80", 1)]);
    let reasons = sync(&mut applier, &cfg, &Scope::default()).await;
    assert_eq!(reasons, [ReloadReason::GatewayApi]);
    assert_eq!(who(port).await, "one");
    let reloads = hp.reload_count().await.unwrap();

    // A weight change and a new backendRef among existing backends: map commands only.
    cfg.gateway = routes(&[("ns_one_80", 0), ("ns_two_80", 3)]);
    assert_eq!(sync(&mut applier, &cfg, &Scope::default()).await, []);
    assert_eq!(who(port).await, "two");
    // Converged: the cached live maps were kept current.
    assert_eq!(sync(&mut applier, &cfg, &Scope::default()).await, []);
    // A full observation reads the same entries back.
    assert_eq!(sync(&mut applier, &cfg, &Scope::all()).await, []);
    assert_eq!(
        hp.reload_count().await.unwrap(),
        reloads,
        "no reload for entries"
    );

    cfg.gateway = GatewayRoutes::default();
    let reasons = sync(&mut applier, &cfg, &Scope::default()).await;
    assert_eq!(reasons, [ReloadReason::GatewayApi]);
    assert_eq!(who(port).await, "404");
}

#[tokio::test]
async fn the_files_haproxy_started_from_are_known_and_not_written_again() {
    let dir = ConfigDir::new().unwrap();
    let cfg = Config::new(dir.global());
    let hp = RenderedHaproxy::start(dir, &cfg).await.expect("haproxy");
    let runtime = hp.runtime_client();
    let settings = ApplySettings {
        drain_timeout: Duration::from_secs(1),
        full_observe_every: Duration::from_secs(300),
    };
    let mut applier = Applier::new(
        runtime.clone(),
        hp.master_client(),
        hp.reloader(&runtime),
        Status::new(),
        settings,
    );
    applier
        .assume_loaded(&cfg, hp.started_with())
        .await
        .unwrap();
    // Checked against the disk, every file is as HAProxy started from it: none drifted and
    // none is due to be written (before, a cold start rewrote every file once).
    assert_eq!(applier.check_files().await, 0);
    let now = std::time::Instant::now();
    assert_eq!(applier.files_due(now, Duration::ZERO, Duration::ZERO), None);
}
