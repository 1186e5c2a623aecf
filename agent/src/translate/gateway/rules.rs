//! An HTTPRoute's rules -> rule-map candidates (one per match) with their actions, the
//! backends they forward to (Service ports, resolved as Ingress backends are) and the
//! route's `ResolvedRefs`. A bad match is left out; a bad rule is left out whole.

use std::cmp::Reverse;

use haproxy::BackendName;
use haproxy::config::gateway::{
    Action, ActionKind, Candidate, CandidateId, Forward, Match, PathMatch, PathRewrite, ValueMatch,
    WeightedBackend,
};
use k8s_openapi::api::networking::v1::ServiceBackendPort;

use super::filters::{self, Filters};
use super::grants::{self, permitted};
use super::status::FirstFailure;
use super::{Context, hostnames, validate};
use crate::gateway_api::{
    HttpBackendRef, HttpRoute, HttpRouteMatch, HttpRouteRule, HttpValueMatch,
};
use crate::problem::{Problem, ProblemKind};
use crate::store::ObjectKey;
use crate::translate::resolutions::PortRef;

/// How a match ranks within a route's precedence, smallest first: Exact path, then regex,
/// then the longest prefix; a method; more header matches; more query matches.
pub(in crate::translate) type MatchRank = (
    Reverse<(u8, usize)>,
    Reverse<bool>,
    Reverse<usize>,
    Reverse<usize>,
);

/// One candidate of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::translate) struct Ranked {
    /// Its id (`<namespace>/<route>/<rule>/<match>`).
    pub id: CandidateId,
    /// Match and action.
    pub candidate: Candidate,
    /// Its rank by its match, then rule and match index.
    pub rank: (MatchRank, usize, usize),
}

/// What a route's rules give.
#[derive(Debug, Clone, Default, PartialEq)]
pub(in crate::translate) struct RouteRules {
    /// The candidates, in rule and match order.
    pub candidates: Vec<Ranked>,
    /// The backends they forward to, and the Service port of each.
    pub recipes: Vec<(BackendName, PortRef)>,
    /// The Services read.
    pub services: Vec<ObjectKey>,
    /// `ResolvedRefs`.
    pub resolved: FirstFailure,
    /// How many rules are left out or answer 500 for a filter that is not implemented.
    pub bad_rules: usize,
}

/// Reads the rules of route `key`.
pub(in crate::translate) fn read(
    ctx: &mut Context<'_>,
    key: &ObjectKey,
    route: &HttpRoute,
) -> RouteRules {
    let mut out = RouteRules::default();
    let default_rule = [HttpRouteRule::default()];
    let rules: &[HttpRouteRule] = if route.spec.rules.is_empty() {
        &default_rule
    } else {
        &route.spec.rules
    };
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("spec.rules[{i}]");
        let filters = match filters::read(&field, &rule.filters) {
            Ok(f) => f,
            Err((at, why)) => {
                ctx.problem(key, at, format!("{why}; the rule is left out"));
                out.bad_rules += 1;
                continue;
            }
        };
        if let Some((at, why)) = &filters.unsupported {
            ctx.problem(key, at.clone(), why.clone());
            out.bad_rules += 1;
        }
        for (name, value) in [
            ("sessionPersistence", &rule.session_persistence),
            ("retry", &rule.retry),
        ] {
            if value.is_some() {
                ctx.problem(
                    key,
                    format!("{field}.{name}"),
                    format!("{name} is not supported; ignored"),
                );
            }
        }
        let action = action(ctx, key, &field, rule, &filters, &mut out);
        let default_match = [HttpRouteMatch::default()];
        let matches: &[HttpRouteMatch] = if rule.matches.is_empty() {
            &default_match
        } else {
            &rule.matches
        };
        for (j, m) in matches.iter().enumerate() {
            let at = format!("{field}.matches[{j}]");
            let parsed = match route_match(&at, m) {
                Ok(p) => p,
                Err((f, why)) => {
                    ctx.problem(key, f, format!("{why}; the match is left out"));
                    continue;
                }
            };
            if uses_prefix_rewrite(&action) && !matches!(parsed.path, PathMatch::Prefix(_)) {
                let why = "ReplacePrefixMatch needs a PathPrefix match; the match is left out";
                ctx.problem(key, format!("{at}.path"), why);
                continue;
            }
            out.candidates.push(Ranked {
                id: CandidateId(format!("{}/{}/{i}/{j}", key.namespace, key.name)),
                rank: (rank(&parsed), i, j),
                candidate: Candidate {
                    matches: parsed,
                    action: action.clone(),
                },
            });
        }
    }
    out
}

fn uses_prefix_rewrite(a: &Action) -> bool {
    let path = match &a.kind {
        ActionKind::Redirect(r) => r.path.as_ref(),
        ActionKind::Forward(f) => f.rewrite_path.as_ref(),
    };
    matches!(path, Some(PathRewrite::Prefix(_)))
}

fn rank(m: &Match) -> MatchRank {
    let path = match &m.path {
        PathMatch::Exact(p) => (3, p.len()),
        PathMatch::Regex(p) => (2, p.len()),
        PathMatch::Prefix(p) => (1, p.len()),
    };
    (
        Reverse(path),
        Reverse(m.method.is_some()),
        Reverse(m.headers.len()),
        Reverse(m.query.len()),
    )
}

/// The action of a rule: its redirect, or forwarding to its backends (500 when a filter is
/// not implemented).
fn action(
    ctx: &mut Context<'_>,
    key: &ObjectKey,
    field: &str,
    rule: &HttpRouteRule,
    filters: &Filters,
    out: &mut RouteRules,
) -> Action {
    let mut action = Action {
        request_headers: filters.request_headers.clone(),
        response_headers: filters.response_headers.clone(),
        kind: ActionKind::Forward(Forward {
            backends: Vec::new(),
            rewrite_host: None,
            rewrite_path: None,
            timeout: None,
        }),
    };
    if filters.unsupported.is_some() {
        action.request_headers = Default::default();
        action.response_headers = Default::default();
        return action;
    }
    if let Some(r) = &filters.redirect {
        action.kind = ActionKind::Redirect(r.clone());
        return action;
    }
    let timeout = rule.timeouts.as_ref().and_then(|t| {
        let (name, value) = match (&t.backend_request, &t.request) {
            (Some(b), _) => ("backendRequest", b),
            (None, Some(r)) => ("request", r),
            (None, None) => return None,
        };
        match validate::duration(value) {
            Ok(d) => d,
            Err(why) => {
                ctx.problem(
                    key,
                    format!("{field}.timeouts.{name}"),
                    format!("{why}; no timeout"),
                );
                None
            }
        }
    });
    let backends = rule
        .backend_refs
        .iter()
        .enumerate()
        .filter_map(|(j, b)| backend(ctx, key, &format!("{field}.backendRefs[{j}]"), b, out))
        .collect();
    action.kind = ActionKind::Forward(Forward {
        backends,
        rewrite_host: filters.rewrite_host.clone(),
        rewrite_path: filters.rewrite_path.clone(),
        timeout,
    });
    action
}

/// One backendRef: its weight and, when it resolves and is permitted, its backend.
fn backend(
    ctx: &mut Context<'_>,
    key: &ObjectKey,
    field: &str,
    b: &HttpBackendRef,
    out: &mut RouteRules,
) -> Option<WeightedBackend> {
    let weight = match b.weight {
        None => 1,
        Some(w) if (0..=1_000_000).contains(&w) => w as u32,
        Some(w) => {
            ctx.problem(
                key,
                format!("{field}.weight"),
                format!("weight {w} is out of range 0-1000000; the backendRef is left out"),
            );
            return None;
        }
    };
    let backend = match service_port(ctx, key, b) {
        Ok(at) => resolve(ctx, key, field, &at, out),
        Err(e) => {
            let why = format!("{e}; its share answers 500");
            ctx.problem(key, format!("{field}{}", e.field()), why.clone());
            out.resolved.fail(e.reason(), why);
            None
        }
    };
    Some(WeightedBackend { backend, weight })
}

/// Why a backendRef cannot be used (names quoted at most 64 characters long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum BackendRefError {
    /// Another kind than a core Service.
    #[error("only Services are supported as backends, not {0:?}")]
    NotService(String),
    /// Another namespace's Service without a ReferenceGrant.
    #[error("service {name:?} is in namespace {namespace:?} and no ReferenceGrant permits it")]
    NotPermitted {
        /// The Service.
        name: String,
        /// Its namespace.
        namespace: String,
    },
    /// backendRef filters.
    #[error("backendRef filters are not supported")]
    Filters,
    /// No port.
    #[error("a Service backendRef needs a port")]
    NoPort,
}

impl BackendRefError {
    /// The field to blame, after the backendRef's.
    fn field(&self) -> &'static str {
        match self {
            BackendRefError::Filters => ".filters",
            BackendRefError::NoPort => ".port",
            _ => "",
        }
    }

    /// The `ResolvedRefs` reason.
    fn reason(&self) -> &'static str {
        match self {
            BackendRefError::NotService(_) => "InvalidKind",
            BackendRefError::NotPermitted { .. } => "RefNotPermitted",
            BackendRefError::Filters | BackendRefError::NoPort => "BackendNotFound",
        }
    }
}

/// The Service port a backendRef names, or why it cannot be used.
fn service_port(
    ctx: &Context<'_>,
    key: &ObjectKey,
    b: &HttpBackendRef,
) -> Result<PortRef, BackendRefError> {
    let group_ok = b.group.as_deref().is_none_or(str::is_empty);
    let kind_ok = b.kind.as_deref().is_none_or(|k| k == "Service");
    if !group_ok || !kind_ok {
        let kind = hostnames::truncate(b.kind.as_deref().unwrap_or_default());
        return Err(BackendRefError::NotService(kind));
    }
    let ns = b
        .namespace
        .clone()
        .unwrap_or_else(|| key.namespace.to_string());
    let from = grants::From {
        kind: "HTTPRoute",
        namespace: &key.namespace,
    };
    let to = grants::To {
        kind: "Service",
        namespace: &ns,
        name: &b.name,
    };
    if !permitted(ctx.snapshot, from, to) {
        return Err(BackendRefError::NotPermitted {
            name: hostnames::truncate(&b.name),
            namespace: hostnames::truncate(&ns),
        });
    }
    if !b.filters.is_empty() {
        return Err(BackendRefError::Filters);
    }
    let Some(port) = b.port else {
        return Err(BackendRefError::NoPort);
    };
    let number = Some(port);
    let port = ServiceBackendPort { number, name: None };
    Ok(PortRef::new(&ns, &b.name, &port))
}

/// The backend of Service port `at`, resolved as an Ingress's (its skipped endpoints and
/// appProtocol named), or a problem.
fn resolve(
    ctx: &mut Context<'_>,
    key: &ObjectKey,
    field: &str,
    at: &PortRef,
    out: &mut RouteRules,
) -> Option<BackendName> {
    if !out.services.contains(&at.service) {
        out.services.push(at.service.clone());
    }
    match ctx.resolutions.get(ctx.snapshot, at) {
        Ok(r) => {
            for s in &r.skipped {
                let p = Problem::new(
                    ProblemKind::EndpointSlice,
                    s.slice.to_string(),
                    s.message.clone(),
                );
                ctx.problems.0.push(p.at(s.field.clone()));
            }
            if let Some((f, why)) = &r.app_protocol_problem {
                let p = Problem::new(ProblemKind::Service, at.service.to_string(), why.clone());
                ctx.problems.0.push(p.at(f.clone()));
            }
            let name = r.backend.clone();
            if !out.recipes.iter().any(|(n, _)| *n == name) {
                out.recipes.push((name.clone(), at.clone()));
            }
            Some(name)
        }
        Err(why) => {
            let why = format!("{why}; its share answers 500");
            ctx.problem(key, field, why.clone());
            out.resolved.fail("BackendNotFound", why);
            None
        }
    }
}

/// One match, checked.
fn route_match(at: &str, m: &HttpRouteMatch) -> Result<Match, (String, String)> {
    let path = m.path.as_ref();
    let value = path
        .and_then(|p| p.value.clone())
        .unwrap_or_else(|| "/".into());
    let pf = format!("{at}.path.value");
    let path = match path.and_then(|p| p.type_.as_deref()) {
        None | Some("PathPrefix") => {
            validate::path(&value).map_err(|w| (pf, w.to_string()))?;
            let trimmed = value.trim_end_matches('/');
            PathMatch::Prefix(if trimmed.is_empty() {
                "/".into()
            } else {
                trimmed.into()
            })
        }
        Some("Exact") => {
            validate::path(&value).map_err(|w| (pf, w.to_string()))?;
            PathMatch::Exact(value)
        }
        Some("RegularExpression") => {
            validate::path_regex(&value).map_err(|w| (pf, w.to_string()))?;
            PathMatch::Regex(value)
        }
        Some(other) => {
            let why = format!(
                "path type {:?} is not Exact, PathPrefix or RegularExpression",
                hostnames::truncate(other)
            );
            return Err((format!("{at}.path.type"), why));
        }
    };
    let method = match &m.method {
        None => None,
        Some(v) => {
            validate::method(v).map_err(|w| (format!("{at}.method"), w.to_string()))?;
            Some(v.clone())
        }
    };
    let headers = values(&format!("{at}.headers"), &m.headers, true)?;
    let query = values(&format!("{at}.queryParams"), &m.query_params, false)?;
    Ok(Match {
        path,
        method,
        headers,
        query,
    })
}

/// Header (names lower-cased) or query parameter matches; a name given twice is refused.
fn values(
    at: &str,
    list: &[HttpValueMatch],
    header: bool,
) -> Result<Vec<ValueMatch>, (String, String)> {
    let mut out: Vec<ValueMatch> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let f = format!("{at}[{i}]");
        let named = if header {
            validate::header_name(&v.name)
        } else {
            validate::query_name(&v.name)
        };
        named.map_err(|w| (format!("{f}.name"), w.to_string()))?;
        let name = if header {
            v.name.to_ascii_lowercase()
        } else {
            v.name.clone()
        };
        if out.iter().any(|o| o.name == name) {
            return Err((
                format!("{f}.name"),
                format!("{} is matched twice", hostnames::truncate(&v.name)),
            ));
        }
        let regex = match v.type_.as_deref() {
            None | Some("Exact") => {
                validate::header_value(&v.value)
                    .map_err(|w| (format!("{f}.value"), w.to_string()))?;
                false
            }
            Some("RegularExpression") => {
                validate::value_regex(&v.value)
                    .map_err(|w| (format!("{f}.value"), w.to_string()))?;
                true
            }
            Some(other) => {
                let why = format!(
                    "type {:?} is not Exact or RegularExpression",
                    hostnames::truncate(other)
                );
                return Err((format!("{f}.type"), why));
            }
        };
        out.push(ValueMatch {
            name,
            value: v.value.clone(),
            regex,
        });
    }
    Ok(out)
}
