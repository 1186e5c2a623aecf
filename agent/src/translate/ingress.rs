//! Ingress rules -> routes and backends. Each bad rule, path or reference becomes a problem
//! naming the Ingress and the field; the rest of the Ingress, and every other one, is kept.

use std::collections::BTreeMap;

use haproxy::BackendName;
use haproxy::config::{
    Backend, Balance, PathKind, Route, RouteHost, RoutePath, Server, ServerAddr, ServerMode,
};
use haproxy::proto::Weight;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressServiceBackend};

use super::annotations::{self, BackendOptions, Canary};
use super::endpoints::{self, EndpointState, ResolvedService};
use super::{Built, Origin, Settings, canary, class};
use crate::problem::{Problem, ProblemKind};
use crate::store::{ObjectKey, Snapshot};

/// The Ingresses of our class (and watched namespace), oldest first.
pub(super) fn ours_oldest_first<'a>(
    snapshot: &'a Snapshot,
    settings: &Settings,
) -> Vec<(&'a ObjectKey, &'a Ingress)> {
    let mut v: Vec<(&ObjectKey, &Ingress)> = snapshot
        .ingresses
        .iter()
        .filter(|(k, _)| {
            settings
                .watch_namespace
                .as_ref()
                .is_none_or(|ns| *ns == k.namespace)
        })
        .filter(|(_, i)| class::is_ours(i, &snapshot.ingress_classes, &settings.ingress_class))
        .map(|(k, i)| (k, i.as_ref()))
        .collect();
    v.sort_by(|(ka, a), (kb, b)| {
        let ta = a.metadata.creation_timestamp.as_ref().map(|t| &t.0);
        let tb = b.metadata.creation_timestamp.as_ref().map(|t| &t.0);
        ta.cmp(&tb).then_with(|| ka.cmp(kb))
    });
    v
}

/// The backend for a resolved Service port, with one server per endpoint (weight 1).
pub(super) fn backend_of(resolved: &ResolvedService, opts: &BackendOptions) -> Backend {
    let mut backend = empty_backend(resolved.backend.clone(), opts);
    for ep in &resolved.endpoints {
        let server = server(ep, 1);
        backend.servers.insert(server.name.clone(), server);
    }
    backend
}

fn empty_backend(name: BackendName, opts: &BackendOptions) -> Backend {
    let mut backend = Backend::new(name);
    backend.balance = opts.balance;
    backend.timeout_server = opts.timeout_server;
    backend.timeout_connect = opts.timeout_connect;
    backend.health_check = opts.health_check.clone();
    backend.sticky = opts.sticky_for(&backend.name);
    backend
}

fn server(ep: &endpoints::ResolvedEndpoint, weight: u16) -> Server {
    Server {
        name: ep.server_name(),
        addr: ServerAddr::new(ep.addr).expect("resolved endpoints are unicast with a port"),
        weight: Weight::new(u32::from(weight)).expect("weights are at most 256"),
        state: match ep.state {
            EndpointState::Ready => ServerMode::Ready,
            EndpointState::Drain => ServerMode::Drain,
        },
    }
}

/// A DNS subdomain (RFC 1123) as Kubernetes names most objects: at most 253 bytes of
/// dot-separated parts, each lower-case letters, digits and `-`, not starting or ending
/// with `-`.
pub(super) fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// Collects routes and backends from Ingresses, oldest first.
pub(super) struct Builder<'a> {
    snapshot: &'a Snapshot,
    problems: &'a mut Vec<Problem>,
    built: Built,
    /// Which Ingress set each backend's options first.
    owners: BTreeMap<BackendName, (ObjectKey, BackendOptions)>,
    default_owner: Option<ObjectKey>,
}

impl<'a> Builder<'a> {
    pub(super) fn new(snapshot: &'a Snapshot, problems: &'a mut Vec<Problem>) -> Self {
        Self {
            snapshot,
            problems,
            built: Built::default(),
            owners: BTreeMap::new(),
            default_owner: None,
        }
    }

    pub(super) fn finish(self) -> Built {
        self.built
    }

    fn problem(&mut self, key: &ObjectKey, field: impl Into<String>, message: impl Into<String>) {
        self.problems
            .push(Problem::new(ProblemKind::Ingress, key.to_string(), message).at(field));
    }

    pub(super) fn add_ingress(&mut self, key: &ObjectKey, ing: &Ingress) {
        // The API server refuses other names; a manifest is not checked by one, and the
        // name goes into every problem and log line about the Ingress.
        if !annotations::is_dns_label(&key.namespace) {
            let msg = format!(
                "namespace {:?} is not a Kubernetes namespace name (at most 63 lower-case \
                 letters, digits and -); the Ingress is ignored",
                key.namespace
            );
            self.problem(key, "metadata.namespace", msg);
            return;
        }
        if !is_dns_subdomain(&key.name) {
            let msg = format!(
                "name {:?} is not a Kubernetes object name (at most 253 lower-case letters, \
                 digits, - and ., starting and ending with a letter or digit); the Ingress is \
                 ignored",
                key.name
            );
            self.problem(key, "metadata.name", msg);
            return;
        }
        let parsed = annotations::parse(ing.metadata.annotations.as_ref());
        for (name, message) in &parsed.problems {
            self.problem(
                key,
                format!("metadata.annotations[{name}]"),
                message.clone(),
            );
        }
        if parsed.canary.is_some() && parsed.options.balance != Balance::Roundrobin {
            let explicit = ing
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(annotations::LOAD_BALANCE))
                .is_some_and(|v| v == parsed.options.balance.as_str());
            if explicit {
                self.problem(
                    key,
                    format!("metadata.annotations[{}]", annotations::LOAD_BALANCE),
                    format!(
                        "ignored: a canary backend balances roundrobin, the only algorithm that \
                         holds the canary percentage at every load (not {})",
                        parsed.options.balance.as_str()
                    ),
                );
            }
        }
        let Some(spec) = ing.spec.as_ref() else {
            self.problem(key, "spec", "the Ingress has no spec");
            return;
        };
        if let Some(b) = &spec.default_backend {
            let field = "spec.defaultBackend";
            if let Some(name) = self.backend(key, field, b, &parsed.options, None) {
                match &self.default_owner {
                    None => {
                        self.built.default_backend = Some(name);
                        self.default_owner = Some(key.clone());
                    }
                    Some(owner) => {
                        let msg = format!(
                            "ignored: the default backend of the older ingress {owner} is used"
                        );
                        self.problem(key, field, msg);
                    }
                }
            }
        }
        for (i, rule) in spec.rules.iter().flatten().enumerate() {
            let host_field = format!("spec.rules[{i}].host");
            let host = match RouteHost::parse(rule.host.as_deref().unwrap_or("")) {
                Ok(h) => h,
                Err(e) => {
                    self.problem(key, host_field, e.to_string());
                    continue;
                }
            };
            let Some(http) = &rule.http else { continue };
            for (j, p) in http.paths.iter().enumerate() {
                let field = format!("spec.rules[{i}].http.paths[{j}]");
                let kind = match p.path_type.as_str() {
                    "Exact" => PathKind::Exact,
                    "Prefix" => PathKind::Prefix,
                    "ImplementationSpecific" => PathKind::ImplementationSpecific,
                    other => {
                        let msg = format!(
                            "pathType {other:?} is not one of Exact, Prefix, ImplementationSpecific"
                        );
                        self.problem(key, format!("{field}.pathType"), msg);
                        continue;
                    }
                };
                let raw_path = match (&p.path, kind) {
                    (Some(path), _) => path.as_str(),
                    (None, PathKind::ImplementationSpecific) => "/",
                    (None, _) => {
                        self.problem(
                            key,
                            format!("{field}.path"),
                            "a path is required for this pathType",
                        );
                        continue;
                    }
                };
                // `;` passes HAProxy's path rules, but it is the runtime API's command
                // separator (escaped there) and a classic config-injection attempt
                // (ingress-nginx refuses it too): no real route needs it, so it is refused.
                if raw_path.contains(';') {
                    let msg = format!("invalid path {raw_path:?}: `;` is not allowed in a path");
                    self.problem(key, format!("{field}.path"), msg);
                    continue;
                }
                let path = match RoutePath::new(raw_path) {
                    Ok(p) => p,
                    Err(e) => {
                        self.problem(key, format!("{field}.path"), e.to_string());
                        continue;
                    }
                };
                let backend_field = format!("{field}.backend");
                let Some(backend) = self.backend(
                    key,
                    &backend_field,
                    &p.backend,
                    &parsed.options,
                    parsed.canary.as_ref(),
                ) else {
                    continue;
                };
                self.built.routes.push(Route {
                    host: host.clone(),
                    path,
                    kind,
                    backend,
                    https_redirect: false,
                });
                self.built.origins.push(Origin {
                    ingress: key.clone(),
                    field,
                    redirect: parsed.redirect,
                });
            }
        }
    }

    /// Resolves an Ingress backend to a config backend (registered once), or reports why not.
    fn backend(
        &mut self,
        key: &ObjectKey,
        field: &str,
        b: &IngressBackend,
        opts: &BackendOptions,
        canary: Option<&Canary>,
    ) -> Option<BackendName> {
        let Some(svc) = &b.service else {
            self.problem(
                key,
                field,
                "only Service backends are supported, not resources",
            );
            return None;
        };
        let resolved = self.resolve(key, field, svc)?;
        let backend = match canary {
            None => backend_of(&resolved, opts),
            Some(c) => {
                let canary_ref = IngressServiceBackend {
                    name: c.service.clone(),
                    port: svc.port.clone(),
                };
                let canary_resolved = self.resolve(key, field, &canary_ref)?;
                canary_backend(&resolved, &canary_resolved, c, opts)
            }
        };
        Some(self.register(key, field, backend, opts))
    }

    fn resolve(
        &mut self,
        key: &ObjectKey,
        field: &str,
        svc: &IngressServiceBackend,
    ) -> Option<ResolvedService> {
        let port = svc.port.clone().unwrap_or_default();
        match endpoints::resolve(self.snapshot, &key.namespace, &svc.name, &port) {
            Ok(r) => {
                for s in &r.skipped {
                    self.problems.push(
                        Problem::new(
                            ProblemKind::EndpointSlice,
                            s.slice.to_string(),
                            s.message.clone(),
                        )
                        .at(s.field.clone()),
                    );
                }
                Some(r)
            }
            Err(message) => {
                self.problem(key, format!("{field}.service"), message);
                None
            }
        }
    }

    fn register(
        &mut self,
        key: &ObjectKey,
        field: &str,
        backend: Backend,
        opts: &BackendOptions,
    ) -> BackendName {
        let name = backend.name.clone();
        match self.owners.get(&name) {
            None => {
                self.owners
                    .insert(name.clone(), (key.clone(), opts.clone()));
                self.built.backends.insert(name.clone(), backend);
            }
            Some((owner, first)) if first != opts => {
                let msg = format!(
                    "backend {name} is also used by the older ingress {owner} with other annotations; its settings are kept"
                );
                self.problem(key, field, msg);
            }
            Some(_) => {}
        }
        name
    }
}

/// A backend holding both Services' endpoints, weighted so that the canary side gets its
/// percentage whatever the pod counts. Changing the percentage changes weights only.
fn canary_backend(
    primary: &ResolvedService,
    canary: &ResolvedService,
    c: &Canary,
    opts: &BackendOptions,
) -> Backend {
    let name = BackendName::new(format!("{}_canary_{}", primary.backend.as_str(), c.service))
        .expect("backend and service names make a valid name");
    let ready = |r: &ResolvedService| {
        r.endpoints
            .iter()
            .filter(|e| e.state == EndpointState::Ready)
            .count()
    };
    let (wp, wc) = canary::weights(c.percent, ready(primary), ready(canary));
    let mut backend = empty_backend(name, opts);
    // Weights split the traffic only under roundrobin: leastconn (the default) and random
    // pick among idle servers regardless of weight, so at low load a 20 % canary got half.
    backend.balance = Balance::Roundrobin;
    for (resolved, weight) in [(canary, wc), (primary, wp)] {
        for ep in &resolved.endpoints {
            let s = server(ep, weight);
            backend.servers.insert(s.name.clone(), s);
        }
    }
    backend
}
