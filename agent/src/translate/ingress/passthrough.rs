//! An `ssl-passthrough` Ingress: each rule host becomes a passthrough route (its SNI sent to
//! one Service port's pods, which terminate TLS); paths are not looked at, as in
//! ingress-nginx, beyond choosing that Service port. Its rules are also read as HTTP routes,
//! which serve plain HTTP as ingress-nginx's HTTP server for the host does: redirected to
//! HTTPS (`308`) when `spec.tls` lists the host (ssl-redirect) or force-ssl-redirect is set.

use haproxy::BackendName;
use haproxy::config::{PathKind, Route, RouteHost, RoutePath, RoutePolicy};
use k8s_openapi::api::networking::v1::{IngressBackend, IngressSpec};

use super::super::Origin;
use super::super::annotations::Redirect;
use super::super::resolutions::PortRef;
use super::{Reader, Recipe};

/// What the rule's connections go to: its `/` path's backend, else its first path's, else
/// the Ingress's defaultBackend; with the field that names it.
fn chosen<'s>(
    spec: &'s IngressSpec,
    i: usize,
    rule: &'s k8s_openapi::api::networking::v1::IngressRule,
) -> Option<(String, &'s IngressBackend)> {
    let paths = rule.http.as_ref().map(|h| &h.paths[..]).unwrap_or(&[]);
    let root = paths
        .iter()
        .position(|p| p.path.as_deref().unwrap_or("/") == "/");
    match root.or((!paths.is_empty()).then_some(0)) {
        Some(j) => Some((
            format!("spec.rules[{i}].http.paths[{j}].backend"),
            &paths[j].backend,
        )),
        None => spec
            .default_backend
            .as_ref()
            .map(|b| ("spec.defaultBackend".to_string(), b)),
    }
}

impl Reader<'_> {
    /// The passthrough routes of an Ingress with `ssl-passthrough` (honoured).
    pub(super) fn passthrough(&mut self, spec: &IngressSpec) {
        for (i, rule) in spec.rules.iter().flatten().enumerate() {
            let host_field = format!("spec.rules[{i}].host");
            let host = match RouteHost::parse(rule.host.as_deref().unwrap_or("")) {
                Ok(h @ RouteHost::Exact(_)) => h,
                Ok(_) => {
                    self.f.problem(
                        host_field,
                        "ssl-passthrough needs an exact host (connections are matched by their \
                         SNI); this rule is not passed through (its paths serve plain HTTP)",
                    );
                    continue;
                }
                // Named once, by the rule's HTTP routes.
                Err(_) => continue,
            };
            let Some((field, b)) = chosen(spec, i, rule) else {
                self.f.problem(
                    host_field,
                    "ssl-passthrough: the rule has no path and the Ingress no defaultBackend, \
                     so there are no pods to send its connections to",
                );
                continue;
            };
            let Some(backend) = self.passthrough_backend(&field, b) else {
                continue;
            };
            let route = Route {
                host,
                path: RoutePath::new("/").expect("/ is a valid path"),
                kind: PathKind::Passthrough,
                backend,
                https_redirect: false,
                policy: RoutePolicy::default().shared(),
                canary: None,
            };
            let origin = Origin {
                ingress: self.f.key.clone(),
                field: host_field,
                // A passthrough map value is the backend alone.
                redirect: Redirect {
                    ssl_redirect: false,
                    force: false,
                },
            };
            self.f.routes.push((route, origin));
        }
    }

    /// The `mode tcp` backend of an Ingress backend's Service port, or a problem at `field`.
    fn passthrough_backend(&mut self, field: &str, b: &IngressBackend) -> Option<BackendName> {
        let Some(svc) = &b.service else {
            self.f
                .problem(field, "only Service backends are supported, not resources");
            return None;
        };
        let port = svc.port.clone().unwrap_or_default();
        let at = PortRef::new(&self.f.key.namespace, &svc.name, &port);
        let resolved = self.resolve(field, &at)?;
        let name = haproxy::config::passthrough_backend_name(&resolved);
        self.f.uses.push((field.to_string(), name.clone()));
        self.f.add_recipe(&name, Recipe::Passthrough(at));
        Some(name)
    }
}
