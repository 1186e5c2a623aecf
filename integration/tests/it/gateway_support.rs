//! Builders shared by the Gateway API tests on a real HAProxy: candidates, host entries,
//! and a running HAProxy serving them beside one Ingress route, with echo backends.

use std::collections::BTreeMap;

use haproxy::config::gateway::{
    Action, ActionKind, Candidate, CandidateId, Forward, GatewayRoutes, HeaderOps, HostEntry,
    HostKey, HostPattern, Listen, Match, PathMatch, ValueMatch, WeightedBackend,
};
use haproxy::config::{Config, DefaultBackend, PathKind};
use integration::http::{self, HttpReply, Req};
use integration::{ConfigDir, RenderedHaproxy, free_port};

use crate::reload::{Echoes, be, frontend, loopback, route};

/// Echo backends every Gateway test config has (`default` is the frontend's default).
pub(crate) const SERVICES: &[&str] = &["a", "b", "c", "d", "ingress", "default"];

/// A candidate on `path` forwarding to service `svc`.
pub(crate) fn to(path: PathMatch, svc: &str) -> Candidate {
    weighted(path, &[(svc, 1)])
}

/// A candidate on `path` forwarding to weighted services (`""`: an unresolved reference).
pub(crate) fn weighted(path: PathMatch, backends: &[(&str, u32)]) -> Candidate {
    let backends = backends
        .iter()
        .map(|(svc, weight)| WeightedBackend {
            backend: (!svc.is_empty()).then(|| be(svc)),
            weight: *weight,
        })
        .collect();
    Candidate {
        matches: Match {
            path,
            method: None,
            headers: Vec::new(),
            query: Vec::new(),
        },
        action: Action {
            request_headers: HeaderOps::default(),
            response_headers: HeaderOps::default(),
            kind: ActionKind::Forward(Forward {
                backends,
                rewrite_host: None,
                rewrite_path: None,
                timeout: None,
            }),
        },
    }
}

pub(crate) fn prefix(p: &str) -> PathMatch {
    PathMatch::Prefix(p.into())
}

pub(crate) fn exact(p: &str) -> PathMatch {
    PathMatch::Exact(p.into())
}

pub(crate) fn value(name: &str, v: &str, regex: bool) -> ValueMatch {
    ValueMatch {
        name: name.into(),
        value: v.into(),
        regex,
    }
}

/// Routes built host by host: each host's candidates in precedence order.
#[derive(Default)]
pub(crate) struct Routes(pub(crate) GatewayRoutes);

impl Routes {
    /// Host `host` (`*.x` a wildcard, `*` any) on the HTTP listener (declared port `port`),
    /// with these candidates, named `<host>/<i>`.
    pub(crate) fn host(mut self, host: &str, port: u16, candidates: Vec<Candidate>) -> Self {
        let label = host.replace('*', "any");
        let mut ids = Vec::new();
        for (i, c) in candidates.into_iter().enumerate() {
            let id = CandidateId::new("gw", &label, i, 0).unwrap();
            self.0.candidates.insert(id.clone(), c);
            ids.push(id);
        }
        self.0.hosts.insert(
            key(host),
            HostEntry::Rules {
                listener_port: port,
                candidates: ids,
            },
        );
        self
    }

    /// Host `host` left to the Ingress routes.
    pub(crate) fn ingress(mut self, host: &str) -> Self {
        self.0.hosts.insert(key(host), HostEntry::Ingress);
        self
    }
}

pub(crate) fn key(host: &str) -> HostKey {
    let host = match host {
        "*" => HostPattern::Any,
        h => match h.strip_prefix("*.") {
            Some(s) => HostPattern::Wildcard(s.into()),
            None => HostPattern::Exact(h.into()),
        },
    };
    HostKey {
        listen: Listen::Http,
        host,
    }
}

/// A running HAProxy serving `routes` (and two Ingress routes: `in.wild.test/` and
/// `*.iw.wild.test/` to `ingress`), with the echo backends of [`SERVICES`] (plus `extra` backends).
pub(crate) struct Served {
    pub(crate) hp: RenderedHaproxy,
    pub(crate) cfg: Config,
    pub(crate) port: u16,
    _echoes: Echoes,
}

impl Served {
    pub(crate) async fn start(routes: Routes, extra: Vec<haproxy::config::Backend>) -> Self {
        let echoes = Echoes::start(SERVICES);
        let port = free_port();
        let dir = ConfigDir::new().unwrap();
        let mut cfg = Config::new(dir.global());
        echoes.add_backends(&mut cfg);
        for b in extra {
            cfg.insert_backend(b);
        }
        cfg.routes = vec![
            route("in.wild.test", "/", PathKind::Prefix, "ingress"),
            route("*.iw.wild.test", "/", PathKind::Prefix, "ingress"),
        ];
        cfg.frontends.push(frontend(
            "http",
            port,
            dir.route_maps(),
            DefaultBackend::Backend(be("default")),
        ));
        cfg.gateway = routes.0;
        let hp = RenderedHaproxy::start(dir, &cfg).await.expect("haproxy");
        Self {
            hp,
            cfg,
            port,
            _echoes: echoes,
        }
    }

    pub(crate) async fn send(&self, req: Req<'_>) -> HttpReply {
        http::request(loopback(self.port), req)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Who answered `GET path` on `host`: the echo name, or the status when no echo did.
    pub(crate) async fn who(&self, req: Req<'_>) -> String {
        let r = self.send(req).await;
        match (r.status, r.echo_name) {
            (200, Some(n)) => n,
            (s, _) => s.to_string(),
        }
    }
}

/// How many of `n` requests each answer (echo name or status) got.
pub(crate) async fn shares(
    s: &Served,
    host: &str,
    path: &str,
    n: usize,
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for _ in 0..n {
        *out.entry(s.who(Req::new("GET", host, path)).await)
            .or_default() += 1;
    }
    out
}
