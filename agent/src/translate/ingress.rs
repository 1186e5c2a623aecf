//! One Ingress -> its fragment: routes and backend recipes. Each bad rule, path or reference
//! becomes a problem naming the Ingress and the field; the rest of the Ingress, and every
//! other one, is kept.

use std::sync::Arc;

use haproxy::BackendName;
use haproxy::config::{
    AUTH_DENIED, AuthId, Backend, Balance, BasicAuth, ClientCertPolicy, CustomErrors, ErrorCodes,
    ErrorFiles, ErrorLabel, PathKind, PolicyText, Route, RouteHost, RoutePath, RoutePolicy,
    SourceLists,
};
use haproxy::proto::ClientVerify;
use k8s_openapi::api::networking::v1::IngressBackend;

use super::annotations::auth::{self, AuthRequest};
use super::annotations::client_cert::ClientCertRequest;
use super::annotations::{self, BackendOptions, Canary};
use super::backend::{backend_of, empty_backend, server};
use super::endpoints::{EndpointState, ResolvedService};
use super::names::is_dns_subdomain;
use super::resolutions::{PortRef, Resolutions};
use super::{Origin, Settings, canary, class};
use crate::problem::{Problem, ProblemKind};
use crate::store::{ObjectKey, Snapshot, StoredIngress};

mod passthrough;

/// The Ingresses of our class (and watched namespace), oldest first.
pub(super) fn ours_oldest_first<'a>(
    snapshot: &'a Snapshot,
    settings: &Settings,
) -> Vec<(&'a ObjectKey, &'a StoredIngress)> {
    let mut v: Vec<(&ObjectKey, &StoredIngress)> = snapshot
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

/// The id of Ingress `key`'s address lists in [`haproxy::config::Config::source_lists`]
/// (what its routes' policies name).
pub(super) fn list_id(key: &ObjectKey) -> PolicyText {
    PolicyText::new("ingress", &key.to_string())
        .expect("namespace/name is printable ASCII without | # ; or space")
}

/// How a backend is built from resolutions: what an Ingress asked for, not its servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Recipe {
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
    pub(super) fn build(
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
                Some(super::tcp_services::pod_backend(resolved, name, None))
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
pub(super) struct Fragment {
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
    pub(super) fn same_shape(&self, other: &Fragment) -> bool {
        self.key == other.key
            && self.options == other.options
            && self.default_backend == other.default_backend
            && self.uses == other.uses
            && self.recipes == other.recipes
            && self.routes == other.routes
    }

    /// Backend `name` as this Ingress builds it.
    pub(super) fn backend(
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
    pub(super) fn options_for(&self, name: &BackendName) -> &BackendOptions {
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
    pub(super) fn errors_only(&self, name: &BackendName) -> bool {
        matches!(
            self.recipes.iter().find(|(n, _)| n == name),
            Some((_, Recipe::Errors(_)))
        )
    }

    /// Records how backend `name` is built (the first recipe for a name stays). A few per
    /// Ingress: a vector, not a map (a B-tree's smallest node holds eleven).
    fn add_recipe(&mut self, name: &BackendName, recipe: Recipe) {
        if !self.recipes.iter().any(|(n, _)| n == name) {
            self.recipes.push((name.clone(), recipe));
        }
    }

    /// Gives back the room its vectors grew into: a fragment is kept for as long as its
    /// Ingress is, and most hold one route, one backend and one Service, where `Vec`'s first
    /// growth makes room for four (at 10,000 Ingresses that was ~12 MB of empty slots).
    fn shrink(&mut self) {
        self.problems.shrink_to_fit();
        self.uses.shrink_to_fit();
        self.recipes.shrink_to_fit();
        self.routes.shrink_to_fit();
        self.services.shrink_to_fit();
        self.read_secrets.shrink_to_fit();
    }

    /// Records that the Ingress reads Service `key`.
    fn add_service(&mut self, key: &ObjectKey) {
        if !self.services.contains(key) {
            self.services.push(key.clone());
        }
    }

    fn problem(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems
            .push(Problem::new(ProblemKind::Ingress, self.key.to_string(), message).at(field));
    }
}

/// The fragment of Ingress `key`, resolving its Services through `resolutions`.
pub(super) fn fragment(
    key: &ObjectKey,
    ing: &StoredIngress,
    snapshot: &Snapshot,
    settings: &Settings,
    resolutions: &mut Resolutions,
    global: &super::configmap::MapSettings,
) -> Fragment {
    let mut f = Fragment {
        key: key.clone(),
        problems: Vec::new(),
        options: BackendOptions::default(),
        default_backend: None,
        uses: Vec::new(),
        recipes: Vec::new(),
        routes: Vec::new(),
        services: Vec::new(),
        source_lists: None,
        auth: None,
        read_secrets: Vec::new(),
    };
    Reader {
        snapshot,
        settings,
        resolutions,
        f: &mut f,
        fallback: None,
        global,
    }
    .read(ing);
    f.shrink();
    f
}

/// Reads one Ingress into its fragment.
struct Reader<'a> {
    snapshot: &'a Snapshot,
    settings: &'a Settings,
    resolutions: &'a mut Resolutions,
    f: &'a mut Fragment,
    /// default-backend: (field, Service).
    fallback: Option<(String, String)>,
    /// The global ConfigMap's settings (annotation defaults, HSTS).
    global: &'a super::configmap::MapSettings,
}

impl Reader<'_> {
    /// Reads the auth-tls-secret for the routes: they send the client-certificate headers,
    /// or answer `503` when the CA cannot be had (the hosts then ask for no certificate, so
    /// the routes fail closed).
    fn client_cert(&mut self, req: &ClientCertRequest, policy: &mut RoutePolicy) {
        let Some((sref, verify)) = req.active() else {
            return;
        };
        let key = super::client_ca::secret_key(sref, &self.f.key.namespace);
        if !self.f.read_secrets.contains(&key) {
            self.f.read_secrets.push(key.clone());
        }
        match super::client_ca::read(self.snapshot, &key, &self.settings.config_dir) {
            Ok(_) if req.refused => {
                policy.auth = Some(PolicyText::new("auth", AUTH_DENIED).expect("a fixed word"));
            }
            Ok(_) => {
                policy.client_cert = Some(ClientCertPolicy {
                    required: verify == ClientVerify::Required,
                    certificate: req.pass,
                });
                policy.client_dn = req.match_cn.as_ref().map(|p| p.id().clone());
                policy.client_error_page = req.error_page.clone();
            }
            Err(e) => {
                self.f.problem(
                    sref.field.clone(),
                    format!("{e}; the Ingress's routes answer 503 until it is fixed"),
                );
                policy.auth = Some(PolicyText::new("auth", AUTH_DENIED).expect("a fixed word"));
            }
        }
    }

    /// Reads the auth Secret: the route policy's `auth` field (a user list, or
    /// [`AUTH_DENIED`] when authentication was asked for and cannot be done).
    fn auth(&mut self, request: &AuthRequest) -> Option<PolicyText> {
        let denied = || Some(PolicyText::new("auth", AUTH_DENIED).expect("a fixed word"));
        let AuthRequest::Basic {
            field,
            namespace,
            name,
            secret_type,
            realm,
        } = request
        else {
            return match request {
                AuthRequest::Denied => denied(),
                _ => None,
            };
        };
        let ns = namespace
            .clone()
            .unwrap_or_else(|| self.f.key.namespace.clone());
        let ns = ns.as_str();
        let key = ObjectKey::new(ns, name);
        self.f.read_secrets.push(key.clone());
        let fail = "the Ingress's routes answer 503 until it is fixed (ingress-nginx denies \
                    such locations too)";
        let Some(secret) = self.snapshot.secrets.get(&key) else {
            self.f.problem(
                field.clone(),
                format!("auth Secret {key} not found (an Opaque Secret); {fail}"),
            );
            return denied();
        };
        let (users, bad) = match auth::users(secret, *secret_type) {
            Ok(u) => u,
            Err(e) => {
                self.f
                    .problem(field.clone(), format!("auth Secret {key}: {e}; {fail}"));
                return denied();
            }
        };
        for b in bad {
            self.f.problem(
                field.clone(),
                format!(
                    "auth Secret {key} {}: {}; that user cannot log in",
                    b.at, b.why
                ),
            );
        }
        if users.is_empty() {
            self.f.problem(
                field.clone(),
                format!("auth Secret {key} has no usable user: every request gets 401"),
            );
        }
        let id = auth::auth_id(ns, name, *secret_type, realm.as_ref());
        let text = PolicyText::new("auth", id.as_str()).expect("auth ids are policy text");
        self.f.auth = Some((id, auth::basic_auth(users, realm.clone())));
        Some(text)
    }

    /// Reads the proxy-ssl Secret into the backend options.
    fn upstream(&mut self, req: &annotations::upstream::UpstreamRequest) {
        let ns = self.f.key.namespace.clone();
        let r = super::upstream::resolve(req, &ns, self.snapshot, &self.settings.config_dir);
        if let Some(s) = r.secret
            && !self.f.read_secrets.contains(&s)
        {
            self.f.read_secrets.push(s);
        }
        for (field, message) in r.problems {
            self.f.problem(field, message);
        }
        self.f.options.upstream = r.upstream;
    }

    fn read(&mut self, ing: &StoredIngress) {
        let key = self.f.key.clone();
        // The API server refuses other names; a manifest is not checked by one, and the
        // name goes into every problem and log line about the Ingress.
        if !annotations::is_dns_label(&key.namespace) {
            let msg = format!(
                "namespace {:?} is not a Kubernetes namespace name (at most 63 lower-case \
                 letters, digits and -); the Ingress is ignored",
                key.namespace
            );
            self.f.problem("metadata.namespace", msg);
            return;
        }
        if !is_dns_subdomain(&key.name) {
            let msg = format!(
                "name {:?} is not a Kubernetes object name (at most 253 lower-case letters, \
                 digits, - and ., starting and ending with a letter or digit); the Ingress is \
                 ignored",
                key.name
            );
            self.f.problem("metadata.name", msg);
            return;
        }
        let mut parsed = annotations::parse_with_defaults(
            ing.metadata.annotations.as_ref(),
            &self.global.annotation_defaults,
        );
        parsed.policy.hsts = self.global.hsts;
        for v in parsed.problems() {
            let reason = v.status.reason().expect("problems have a reason");
            let message = v.status.detail().unwrap_or_default().to_string();
            self.f.problems.push(
                Problem::new(ProblemKind::Ingress, self.f.key.to_string(), message)
                    .because(reason)
                    .at(format!("metadata.annotations[{}]", v.key)),
            );
        }
        // A canary Ingress's routes join the main Ingress's (whose policies apply).
        let canary_rule = match (parsed.nginx_canary, &parsed.nginx_rule) {
            (false, _) => None,
            (true, Some(rule)) => Some(Arc::new(rule.clone())),
            // An invalid rule is named: the canary takes no requests.
            (true, None) => return,
        };
        let policy = match canary_rule {
            None => {
                let mut policy = parsed.policy_for(&self.f.key.to_string());
                policy.auth = self.auth(&parsed.auth);
                self.client_cert(&parsed.client_cert, &mut policy);
                policy.shared()
            }
            Some(_) => RoutePolicy::default().shared(),
        };
        if canary_rule.is_none() {
            self.f.source_lists = parsed.source.lists();
            // The subject DN pattern, in the pattern ACL file under this Ingress.
            if let (Some(_), Some(p)) = (&policy.client_dn, &parsed.client_cert.match_cn) {
                let lists = self.f.source_lists.get_or_insert_default();
                lists.canary_patterns.insert(p.clone());
            }
        } else if let Some(p) = &parsed.nginx_pattern {
            // The canary's header pattern, in the canary ACL file under this Ingress.
            let lists = self.f.source_lists.get_or_insert_default();
            lists.canary_patterns.insert(p.clone());
        }
        if parsed.canary.is_some()
            && parsed.options.balance != Balance::Roundrobin
            && parsed.explicit_balance
        {
            self.f.problem(
                "metadata.annotations[load-balance]",
                format!(
                    "ignored: a canary backend balances roundrobin, the only algorithm that \
                     holds the canary percentage at every load (not {})",
                    parsed.options.balance.keyword()
                ),
            );
        }
        self.f.options = parsed.options.clone();
        self.upstream(&parsed.upstream);
        if canary_rule.is_none() {
            self.fallback = parsed.fallback.clone();
        }
        let Some(spec) = ing.spec.as_ref() else {
            self.f.problem("spec", "the Ingress has no spec");
            return;
        };
        if let Some(field) = &parsed.ssl_passthrough {
            // Honoured: the hosts' TLS connections go to the pods; their plain HTTP is
            // served by the routes below, as ingress-nginx's HTTP server for the host.
            let why = match (&canary_rule, self.settings.ssl_passthrough) {
                (None, true) => None,
                (Some(_), _) => Some("ignored on a canary Ingress (its main Ingress decides)"),
                (None, false) => Some(
                    "ignored: --enable-ssl-passthrough is off, so TLS is terminated here as \
                     without the annotation (as ingress-nginx without the flag)",
                ),
            };
            match why {
                None => self.passthrough(spec),
                Some(why) => self.f.problem(field.clone(), why),
            }
        }
        match (&spec.default_backend, &canary_rule) {
            (None, _) => {}
            (Some(b), None) => {
                self.f.default_backend = self.backend("spec.defaultBackend", b, None)
            }
            (Some(_), Some(_)) => self.f.problem(
                "spec.defaultBackend",
                "ignored on a canary Ingress (as in ingress-nginx): the main Ingress's applies",
            ),
        }
        let errors = match (&parsed.custom_errors, &canary_rule) {
            (Some((field, codes)), None) => self
                .error_target(field, parsed.fallback.as_ref())
                .map(|(backend, at)| (field.clone(), codes.clone(), backend, at)),
            _ => None,
        };
        for (i, rule) in spec.rules.iter().flatten().enumerate() {
            let host_field = format!("spec.rules[{i}].host");
            let host = match RouteHost::parse(rule.host.as_deref().unwrap_or("")) {
                Ok(h) => h,
                Err(e) => {
                    self.f.problem(host_field, e.to_string());
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
                        self.f.problem(format!("{field}.pathType"), msg);
                        continue;
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
                        continue;
                    }
                };
                // `;` passes HAProxy's path rules, but it is the runtime API's command
                // separator (escaped there) and a classic config-injection attempt
                // (ingress-nginx refuses it too): no real route needs it, so it is refused.
                if raw_path.contains(';') {
                    let msg = format!("invalid path {raw_path:?}: `;` is not allowed in a path");
                    self.f.problem(format!("{field}.path"), msg);
                    continue;
                }
                // use-regex or rewrite-target: the path is a regex, whatever its pathType
                // (ingress-nginx writes `location ~* "^<path>"` for every pathType).
                let (path, kind) = match parsed.regex {
                    Some(groups) => {
                        match super::annotations::regex_paths::regex_path(raw_path, groups) {
                            Ok(rx) => (RoutePath::regex(&rx), PathKind::Regex),
                            Err(e) => {
                                self.f.problem(format!("{field}.path"), e);
                                continue;
                            }
                        }
                    }
                    None => match RoutePath::new(raw_path) {
                        Ok(p) => (p, kind),
                        Err(e) => {
                            self.f.problem(format!("{field}.path"), e.to_string());
                            continue;
                        }
                    },
                };
                let backend_field = format!("{field}.backend");
                let Some(backend) =
                    self.backend(&backend_field, &p.backend, parsed.canary.as_ref())
                else {
                    continue;
                };
                let policy = match &errors {
                    Some((_, codes, be, _)) => {
                        self.with_errors(&field, &policy, &(codes.clone(), be.clone()), &p.backend)
                    }
                    None => policy.clone(),
                };
                let route = Route {
                    host: host.clone(),
                    path,
                    kind,
                    backend,
                    https_redirect: false,
                    policy,
                    canary: canary_rule.clone(),
                };
                if let (Some(field), RouteHost::Exact(h), None) =
                    (&parsed.www_redirect, &host, &canary_rule)
                {
                    // from-to-www-redirect: the twin host answers 308 to this one, unless
                    // another route has the twin's keys (a weak route yields).
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
                            let origin = Origin {
                                ingress: key.clone(),
                                field: field.clone(),
                                redirect: parsed.redirect,
                            };
                            self.f.routes.push((redirect, origin));
                        }
                        Err(e) => self
                            .f
                            .problem(field.clone(), format!("no redirect from {twin:?}: {e}")),
                    }
                }
                if host != RouteHost::Any && canary_rule.is_none() {
                    // server-alias: the same routes under each alias host.
                    for (alias_field, alias) in &parsed.aliases {
                        let mut aliased = route.clone();
                        aliased.host = alias.clone();
                        let origin = Origin {
                            ingress: key.clone(),
                            field: alias_field.clone(),
                            redirect: parsed.redirect,
                        };
                        self.f.routes.push((aliased, origin));
                    }
                }
                let origin = Origin {
                    ingress: key.clone(),
                    field,
                    redirect: parsed.redirect,
                };
                self.f.routes.push((route, origin));
            }
        }
        if let Some((field, _, backend, at)) = errors {
            // After the routes' backends: a route to the same Service keeps its recipe.
            self.f.uses.push((field, backend.clone()));
            self.f.add_recipe(&backend, Recipe::Errors(at));
        }
    }

    /// Resolves an Ingress backend to a config backend (used at `field`), or reports why not.
    fn backend(
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
    fn plain(&mut self, field: &str, name: BackendName, at: PortRef) -> Option<BackendName> {
        self.f.uses.push((field.to_string(), name.clone()));
        self.f.add_recipe(&name, Recipe::Plain(at));
        Some(name)
    }

    /// The first port of Service `service` in the Ingress's namespace (ingress-nginx's
    /// default-backend takes that one), or a problem at `field`.
    fn first_port(&mut self, field: &str, service: &str) -> Option<PortRef> {
        let key = ObjectKey::new(&self.f.key.namespace, service);
        self.first_port_of(field, &key, "no fallback")
    }

    /// The first port of Service `key`, or a problem at `field` ending with `otherwise`.
    fn first_port_of(&mut self, field: &str, key: &ObjectKey, otherwise: &str) -> Option<PortRef> {
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
    fn error_target(
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
            (Some((_, svc)), _) => ObjectKey::new(&self.f.key.namespace, svc),
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
    fn with_errors(
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
    fn resolve(&mut self, field: &str, at: &PortRef) -> Option<BackendName> {
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
            Err(message) => {
                let message = message.clone();
                self.f.problem(format!("{field}.service"), message);
                None
            }
        }
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

fn canary_name(primary: &BackendName, c: &Canary) -> BackendName {
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
