//! Reading an Ingress's rules: each host and path into routes (with their `www.` twins and
//! alias hosts), each bad one a problem naming its field.

use std::sync::Arc;

use haproxy::BackendName;
use haproxy::config::{
    CanaryRule, ErrorCodes, PathKind, PolicyText, Route, RouteHost, RoutePath, RoutePolicy,
};
use k8s_openapi::api::networking::v1::{HTTPIngressPath, IngressRule};

use super::Reader;
use crate::translate::Origin;
use crate::translate::annotations::{Parsed, regex_paths};

/// What every rule of one Ingress shares: its annotations, read once.
pub(super) struct RuleContext<'p> {
    /// The annotations.
    pub(super) parsed: &'p Parsed,
    /// Set on a canary Ingress: its routes join the main Ingress's.
    pub(super) canary_rule: Option<Arc<CanaryRule>>,
    /// The routes' policy.
    pub(super) policy: Arc<RoutePolicy>,
    /// Custom error pages: the codes and the backend that answers them.
    pub(super) errors: Option<(ErrorCodes, BackendName)>,
}

impl Reader<'_> {
    /// The routes of `spec.rules[i]`: one per path, with its twins.
    pub(super) fn rule(&mut self, ctx: &RuleContext<'_>, i: usize, rule: &IngressRule) {
        let host = match RouteHost::parse(rule.host.as_deref().unwrap_or("")) {
            Ok(h) => h,
            Err(e) => {
                self.f
                    .problem(format!("spec.rules[{i}].host"), e.to_string());
                return;
            }
        };
        let Some(http) = &rule.http else { return };
        for (j, p) in http.paths.iter().enumerate() {
            let field = format!("spec.rules[{i}].http.paths[{j}]");
            let Some((path, kind)) = self.path_of(ctx, &field, p) else {
                continue;
            };
            let backend_field = format!("{field}.backend");
            let Some(backend) =
                self.backend(&backend_field, &p.backend, ctx.parsed.canary.as_ref())
            else {
                continue;
            };
            let policy = match &ctx.errors {
                Some(target) => self.with_errors(&field, &ctx.policy, target, &p.backend),
                None => ctx.policy.clone(),
            };
            let route = Route {
                host: host.clone(),
                path,
                kind,
                backend,
                https_redirect: false,
                policy,
                canary: ctx.canary_rule.clone(),
            };
            self.push_route(ctx, route, field);
        }
    }

    /// The path and how it matches, or `None` after naming what is wrong with it.
    fn path_of(
        &mut self,
        ctx: &RuleContext<'_>,
        field: &str,
        p: &HTTPIngressPath,
    ) -> Option<(RoutePath, PathKind)> {
        let kind = match p.path_type.as_str() {
            "Exact" => PathKind::Exact,
            "Prefix" => PathKind::Prefix,
            "ImplementationSpecific" => PathKind::ImplementationSpecific,
            other => {
                let msg = format!(
                    "pathType {other:?} is not one of Exact, Prefix, ImplementationSpecific"
                );
                self.f.problem(format!("{field}.pathType"), msg);
                return None;
            }
        };
        let raw_path = match (&p.path, kind) {
            (Some(path), _) => path.as_str(),
            (None, PathKind::ImplementationSpecific) => "/",
            (None, _) => {
                self.f.problem(
                    format!("{field}.path"),
                    "a path is required for this pathType",
                );
                return None;
            }
        };
        // `;` passes HAProxy's path rules, but it is the runtime API's command separator
        // (escaped there) and a classic config-injection attempt (ingress-nginx refuses it
        // too): no real route needs it, so it is refused.
        if raw_path.contains(';') {
            let msg = format!("invalid path {raw_path:?}: `;` is not allowed in a path");
            self.f.problem(format!("{field}.path"), msg);
            return None;
        }
        // use-regex or rewrite-target: the path is a regex, whatever its pathType
        // (ingress-nginx writes `location ~* "^<path>"` for every pathType).
        let made = match ctx.parsed.regex {
            Some(groups) => regex_paths::regex_path(raw_path, groups)
                .map(|rx| (RoutePath::regex(&rx), PathKind::Regex))
                .map_err(|e| e.to_string()),
            None => RoutePath::new(raw_path)
                .map(|p| (p, kind))
                .map_err(|e| e.to_string()),
        };
        match made {
            Ok(made) => Some(made),
            Err(e) => {
                self.f.problem(format!("{field}.path"), e);
                None
            }
        }
    }

    /// Adds `route`, after its `www.` twin (from-to-www-redirect) and its copies under the
    /// alias hosts (server-alias), all from `field`.
    fn push_route(&mut self, ctx: &RuleContext<'_>, route: Route, field: String) {
        let parsed = ctx.parsed;
        let key = self.f.key.clone();
        let origin = |field: &String| Origin {
            ingress: key.clone(),
            field: field.clone(),
            redirect: parsed.redirect,
        };
        if let (Some(www_field), RouteHost::Exact(h), None) =
            (&parsed.www_redirect, &route.host, &ctx.canary_rule)
        {
            // from-to-www-redirect: the twin host answers 308 to this one, unless another
            // route has the twin's keys (a weak route yields).
            let twin = match h.as_str().strip_prefix("www.") {
                Some(bare) => bare.to_string(),
                None => format!("www.{h}"),
            };
            match RouteHost::parse(&twin) {
                Ok(twin) => {
                    let target = PolicyText::new("host", h.as_str())
                        .expect("a host is printable ASCII without | # ;");
                    let mut redirect = route.clone();
                    redirect.host = twin;
                    redirect.policy = RoutePolicy {
                        www_redirect: Some(target),
                        ..Default::default()
                    }
                    .shared();
                    let at = origin(www_field);
                    self.f.routes.push((redirect, at));
                }
                Err(e) => self
                    .f
                    .problem(www_field.clone(), format!("no redirect from {twin:?}: {e}")),
            }
        }
        if route.host != RouteHost::Any && ctx.canary_rule.is_none() {
            // server-alias: the same routes under each alias host.
            for (alias_field, alias) in &parsed.aliases {
                let mut aliased = route.clone();
                aliased.host = alias.clone();
                let at = origin(alias_field);
                self.f.routes.push((aliased, at));
            }
        }
        let at = origin(&field);
        self.f.routes.push((route, at));
    }
}
