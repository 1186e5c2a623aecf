//! Reading an Ingress's backends: Service ports resolved, fallback and canary backends,
//! custom error targets.

use std::sync::Arc;

use haproxy::BackendName;
use haproxy::config::{CustomErrors, ErrorCodes, ErrorFiles, ErrorLabel, RoutePolicy};
use k8s_openapi::api::networking::v1::IngressBackend;

use crate::problem::{Problem, ProblemKind};
use crate::store::ObjectKey;
use crate::translate::annotations::Canary;
use crate::translate::resolutions::PortRef;

use super::Reader;
use super::fragment::{Recipe, canary_name};

impl Reader<'_> {
    /// Resolves an Ingress backend to a config backend (used at `field`), or reports why not.
    pub(super) fn backend(
        &mut self,
        field: &str,
        b: &IngressBackend,
        canary: Option<&Canary>,
    ) -> Option<BackendName> {
        let Some(svc) = &b.service else {
            self.f
                .problem(field, "only Service backends are supported, not resources");
            return None;
        };
        let port = svc.port.clone().unwrap_or_default();
        let primary = PortRef::new(&self.f.key.namespace, &svc.name, &port);
        let resolved = self.resolve(field, &primary)?;
        let (name, recipe) = match (canary, &self.fallback) {
            (None, Some((fallback_field, service))) => {
                let fallback_field = fallback_field.clone();
                let service = service.clone();
                let Some(fallback) = self.first_port(&fallback_field, &service) else {
                    return self.plain(field, resolved, primary);
                };
                self.resolve(&fallback_field, &fallback)?;
                let name = BackendName::new(format!("{}_fallback_{service}", resolved.as_str()))
                    .expect("backend and service names make a valid name");
                (
                    name.clone(),
                    Recipe::Fallback {
                        primary,
                        fallback,
                        name,
                    },
                )
            }
            (None, None) => (resolved, Recipe::Plain(primary)),
            (Some(c), _) => {
                let canary_ref = PortRef::new(&self.f.key.namespace, &c.service, &port);
                self.resolve(field, &canary_ref)?;
                (
                    canary_name(&resolved, c),
                    Recipe::Canary {
                        primary,
                        canary: canary_ref,
                        canary_service: c.clone(),
                    },
                )
            }
        };
        self.f.uses.push((field.to_string(), name.clone()));
        self.f.add_recipe(&name, recipe);
        Some(name)
    }

    /// A plain backend (when the fallback cannot be had).
    pub(super) fn plain(
        &mut self,
        field: &str,
        name: BackendName,
        at: PortRef,
    ) -> Option<BackendName> {
        self.f.uses.push((field.to_string(), name.clone()));
        self.f.add_recipe(&name, Recipe::Plain(at));
        Some(name)
    }

    /// The first port of Service `service` in the Ingress's namespace (ingress-nginx's
    /// default-backend takes that one), or a problem at `field`.
    pub(super) fn first_port(&mut self, field: &str, service: &str) -> Option<PortRef> {
        let key = ObjectKey::new(self.f.key.namespace.clone(), service);
        self.first_port_of(field, &key, "no fallback")
    }

    /// The first port of Service `key`, or a problem at `field` ending with `otherwise`.
    pub(super) fn first_port_of(
        &mut self,
        field: &str,
        key: &ObjectKey,
        otherwise: &str,
    ) -> Option<PortRef> {
        self.f.add_service(key);
        let number = self
            .snapshot
            .services
            .get(key)
            .and_then(|s| s.spec.as_ref())
            .and_then(|s| s.ports.as_ref())
            .and_then(|p| p.first())
            .map(|p| p.port);
        match number {
            Some(n) => Some(PortRef::new(
                &key.namespace,
                &key.name,
                &k8s_openapi::api::networking::v1::ServiceBackendPort {
                    number: Some(n),
                    name: None,
                },
            )),
            None => {
                let msg = format!("service {key} does not exist or has no port; {otherwise}");
                self.f.problem(field, msg);
                None
            }
        }
    }

    /// custom-http-errors: the error backend (the default-backend annotation's Service,
    /// else `--default-backend-service`, at its first port), or a problem at `field`. The
    /// caller records the use once the routes' own backends are in (their recipes first).
    pub(super) fn error_target(
        &mut self,
        field: &str,
        fallback: Option<&(String, String)>,
    ) -> Option<(BackendName, PortRef)> {
        const NONE: &str = "no custom error pages: the upstream's answers pass untouched";
        if let Err(e) = ErrorFiles::in_dir(&self.settings.config_dir) {
            self.f.problem(field, format!("--config-dir: {e}; {NONE}"));
            return None;
        }
        let service = match (fallback, &self.settings.default_backend_service) {
            (Some((_, svc)), _) => ObjectKey::new(self.f.key.namespace.clone(), svc),
            (None, Some(key)) => key.clone(),
            (None, None) => {
                let msg = format!(
                    "custom-http-errors needs a default backend (the default-backend \
                     annotation or --default-backend-service) to ask for error pages; {NONE}"
                );
                self.f.problem(field, msg);
                return None;
            }
        };
        let at = self.first_port_of(field, &service, NONE)?;
        let backend = self.resolve(field, &at)?;
        Some((backend, at))
    }

    /// The route policy `policy` with the custom error pages of `target`, told about the
    /// route's Service `b`; `policy` alone (and a problem) when a name cannot be sent.
    pub(super) fn with_errors(
        &mut self,
        field: &str,
        policy: &Arc<RoutePolicy>,
        target: &(ErrorCodes, BackendName),
        b: &IngressBackend,
    ) -> Arc<RoutePolicy> {
        let Some(svc) = &b.service else {
            return policy.clone();
        };
        let port = svc.port.as_ref().and_then(|p| {
            p.name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| p.number.map(|n| n.to_string()))
        });
        let labels = (|| {
            Ok::<_, haproxy::config::InvalidValue>(CustomErrors {
                codes: target.0.clone(),
                backend: target.1.clone(),
                namespace: ErrorLabel::new("namespace", &self.f.key.namespace)?,
                ingress: ErrorLabel::new("ingress", &self.f.key.name)?,
                service: ErrorLabel::new("service", &svc.name)?,
                port: ErrorLabel::new("port", port.as_deref().unwrap_or_default())?,
            })
        })();
        match labels {
            Ok(errors) => {
                let mut p = (**policy).clone();
                p.custom_errors = Some(errors);
                Arc::new(p)
            }
            Err(e) => {
                self.f
                    .problem(field, format!("{e}; no custom error pages for this path"));
                policy.clone()
            }
        }
    }

    /// The backend name of a Service port, or a problem about it.
    pub(super) fn resolve(&mut self, field: &str, at: &PortRef) -> Option<BackendName> {
        self.f.add_service(&at.service);
        match self.resolutions.get(self.snapshot, at) {
            Ok(r) => {
                for s in &r.skipped {
                    self.f.problems.push(
                        Problem::new(
                            ProblemKind::EndpointSlice,
                            s.slice.to_string(),
                            s.message.clone(),
                        )
                        .at(s.field.clone()),
                    );
                }
                if let (Some((f, why)), None) =
                    (&r.app_protocol_problem, self.f.options.upstream.protocol)
                {
                    let p = Problem::new(ProblemKind::Service, at.service.to_string(), why.clone());
                    self.f.problems.push(p.at(f.clone()));
                }
                Some(r.backend.clone())
            }
            Err(why) => {
                let message = why.to_string();
                self.f.problem(format!("{field}.service"), message);
                None
            }
        }
    }
}
