//! What one Ingress gives: its fragment (routes, backend recipes, problems) and the recipes
//! backends are built from.

use haproxy::BackendName;
use haproxy::config::{AuthId, Backend, Balance, BasicAuth, Route, SourceLists};

use crate::problem::{Problem, ProblemKind};
use crate::store::{ObjectKey, Snapshot};
use crate::translate::annotations::{BackendOptions, Canary};
use crate::translate::backend::{backend_of, empty_backend, server};
use crate::translate::endpoints::{EndpointState, ResolvedService};
use crate::translate::resolutions::{PortRef, Resolutions};
use crate::translate::{Origin, canary};

/// How a backend is built from resolutions: what an Ingress asked for, not its servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::translate) enum Recipe {
    /// One Service port.
    Plain(PortRef),
    /// A Service port, and another Service's first port as backup servers.
    Fallback {
        /// The route's Service port.
        primary: PortRef,
        /// The fallback Service's port.
        fallback: PortRef,
        /// The backend's name.
        name: BackendName,
    },
    /// The error pages' Service port (custom-http-errors): built with no annotation's
    /// options (the Ingress's health check or stickiness are its routes').
    Errors(PortRef),
    /// A Service port's pods, spoken to in TCP (ssl-passthrough): built with no
    /// annotation's options.
    Passthrough(PortRef),
    /// A Service port and its canary (same port of another Service).
    Canary {
        /// The primary Service port.
        primary: PortRef,
        /// The canary Service port.
        canary: PortRef,
        /// The canary's share.
        canary_service: Canary,
    },
}

impl Recipe {
    /// The backend, from the current resolutions; `None` if one of them fails (it did not
    /// when the recipe was made, unless the caller forgot to refresh the Ingress).
    pub(in crate::translate) fn build(
        &self,
        snapshot: &Snapshot,
        resolutions: &mut Resolutions,
        opts: &BackendOptions,
    ) -> Option<Backend> {
        match self {
            Recipe::Plain(at) => {
                let resolved = resolutions.get(snapshot, at).as_ref().ok()?;
                Some(backend_of(resolved, opts))
            }
            Recipe::Errors(at) => {
                let resolved = resolutions.get(snapshot, at).as_ref().ok()?;
                Some(backend_of(resolved, &BackendOptions::default()))
            }
            Recipe::Passthrough(at) => {
                let resolved = resolutions.get(snapshot, at).as_ref().ok()?;
                let name = haproxy::config::passthrough_backend_name(&resolved.backend);
                Some(crate::translate::tcp_services::pod_backend(
                    resolved, name, None,
                ))
            }
            Recipe::Fallback {
                primary,
                fallback,
                name,
            } => {
                let fallback = resolutions.get(snapshot, fallback).as_ref().ok()?.clone();
                let resolved = resolutions.get(snapshot, primary).as_ref().ok()?;
                Some(fallback_backend(name, resolved, &fallback, opts))
            }
            Recipe::Canary {
                primary,
                canary,
                canary_service,
            } => {
                let canary_resolved = resolutions.get(snapshot, canary).as_ref().ok()?.clone();
                let resolved = resolutions.get(snapshot, primary).as_ref().ok()?;
                Some(canary_backend(
                    resolved,
                    &canary_resolved,
                    canary_service,
                    opts,
                ))
            }
        }
    }
}

/// What one Ingress gives on its own, before precedence between Ingresses is applied: a
/// pure function of the Ingress and the resolutions of the Services it names.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::translate) struct Fragment {
    /// The Ingress.
    pub key: ObjectKey,
    /// Problems found in it alone (fields, annotations, references, skipped endpoints).
    pub problems: Vec<Problem>,
    /// The backend options of its annotations.
    pub options: BackendOptions,
    /// Its `spec.defaultBackend`, resolved.
    pub default_backend: Option<BackendName>,
    /// Every backend it uses, in order, with the field that names it.
    pub uses: Vec<(String, BackendName)>,
    /// How each backend it uses is built.
    pub recipes: Vec<(BackendName, Recipe)>,
    /// Its routes, in rule order.
    pub routes: Vec<(Route, Origin)>,
    /// The Services it reads.
    pub services: Vec<ObjectKey>,
    /// Its client address lists (entries for the ACL files; its routes name them).
    pub source_lists: Option<SourceLists>,
    /// Its basic-authentication user list (its routes name it).
    pub auth: Option<(AuthId, BasicAuth)>,
    /// The Secrets its auth-secret and proxy-ssl-secret name (read, or missing).
    pub read_secrets: Vec<ObjectKey>,
}

impl Fragment {
    /// True when both give the same routes, backends and defaults (problems aside).
    pub(in crate::translate) fn same_shape(&self, other: &Fragment) -> bool {
        self.key == other.key
            && self.options == other.options
            && self.default_backend == other.default_backend
            && self.uses == other.uses
            && self.recipes == other.recipes
            && self.routes == other.routes
    }

    /// Backend `name` as this Ingress builds it.
    pub(in crate::translate) fn backend(
        &self,
        name: &BackendName,
        snapshot: &Snapshot,
        resolutions: &mut Resolutions,
    ) -> Option<Backend> {
        self.recipes
            .iter()
            .find(|(n, _)| n == name)?
            .1
            .build(snapshot, resolutions, &self.options)
    }

    /// The options backend `name` is built with, when this Ingress owns it: the Ingress's,
    /// or none for the error pages' backend.
    pub(in crate::translate) fn options_for(&self, name: &BackendName) -> &BackendOptions {
        static NONE: std::sync::LazyLock<BackendOptions> =
            std::sync::LazyLock::new(BackendOptions::default);
        let passthrough = matches!(
            self.recipes.iter().find(|(n, _)| n == name),
            Some((_, Recipe::Passthrough(_)))
        );
        if self.errors_only(name) || passthrough {
            &NONE
        } else {
            &self.options
        }
    }

    /// Whether this Ingress uses backend `name` for error pages only: it takes the backend
    /// with whatever options its owner gives it (no conflict).
    pub(in crate::translate) fn errors_only(&self, name: &BackendName) -> bool {
        matches!(
            self.recipes.iter().find(|(n, _)| n == name),
            Some((_, Recipe::Errors(_)))
        )
    }

    /// Records how backend `name` is built (the first recipe for a name stays). A few per
    /// Ingress: a vector, not a map (a B-tree's smallest node holds eleven).
    pub(in crate::translate) fn add_recipe(&mut self, name: &BackendName, recipe: Recipe) {
        if !self.recipes.iter().any(|(n, _)| n == name) {
            self.recipes.push((name.clone(), recipe));
        }
    }

    /// Gives back the room its vectors grew into: a fragment is kept for as long as its
    /// Ingress is, and most hold one route, one backend and one Service, where `Vec`'s first
    /// growth makes room for four (at 10,000 Ingresses that was ~12 MB of empty slots).
    pub(in crate::translate) fn shrink(&mut self) {
        self.problems.shrink_to_fit();
        self.uses.shrink_to_fit();
        self.recipes.shrink_to_fit();
        self.routes.shrink_to_fit();
        self.services.shrink_to_fit();
        self.read_secrets.shrink_to_fit();
    }

    /// Records that the Ingress reads Service `key`.
    pub(in crate::translate) fn add_service(&mut self, key: &ObjectKey) {
        if !self.services.contains(key) {
            self.services.push(key.clone());
        }
    }

    pub(in crate::translate) fn problem(
        &mut self,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems
            .push(Problem::new(ProblemKind::Ingress, self.key.to_string(), message).at(field));
    }
}

/// A backend holding the route's endpoints, and the fallback Service's as backup servers
/// (named `backup-<ip:port>`, so a server never changes role under one name).
fn fallback_backend(
    name: &BackendName,
    primary: &ResolvedService,
    fallback: &ResolvedService,
    opts: &BackendOptions,
) -> Backend {
    let mut backend = backend_of(primary, opts);
    backend.name = name.clone();
    backend.sticky = opts.sticky_for(name);
    for ep in &fallback.endpoints {
        let mut s = server(ep, 1);
        s.name = haproxy::ServerName::new(format!("backup-{}", s.name))
            .expect("a prefix and a server name make a valid name");
        s.backup = true;
        backend.servers.insert(s.name.clone(), s);
    }
    opts.upstream.apply(&mut backend, primary.app_protocol);
    backend
}

pub(super) fn canary_name(primary: &BackendName, c: &Canary) -> BackendName {
    BackendName::new(format!("{}_canary_{}", primary.as_str(), c.service))
        .expect("backend and service names make a valid name")
}

/// A backend holding both Services' endpoints, weighted so that the canary side gets its
/// percentage whatever the pod counts. Changing the percentage changes weights only.
fn canary_backend(
    primary: &ResolvedService,
    canary: &ResolvedService,
    c: &Canary,
    opts: &BackendOptions,
) -> Backend {
    let name = canary_name(&primary.backend, c);
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
    opts.upstream.apply(&mut backend, primary.app_protocol);
    backend
}
