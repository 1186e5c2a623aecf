//! Reconcile, pure: the desired config and what HAProxy was observed to run -> a plan, either
//! a reload (with its reason) or runtime commands. Never guesses: the plan is made from the
//! latest desired state and a fresh observation, so replaying it is never needed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use haproxy::config::{
    Backend, Config, MapEntries, MapKind, Sections, settings_entries, tls_commands,
};
use haproxy::proto::{Command, DEFAULT_BUFSIZE, Weight};
use haproxy::{BackendName, MapKey, ServerRef, SortedMap};

mod gateway;
mod retry;

pub use gateway::{LiveGateway, plan_gateway};
pub use retry::{Attempts, Budget, Next, Outcome};
mod observed;
mod reason;
mod runtime;

pub use observed::{LiveAcls, LiveMaps, LiveServer, Observed};
pub use reason::ReloadReason;
use runtime::{plan_acls, plan_maps, plan_servers};

/// What HAProxy should run: the config, and the route map entries of its routes (kept
/// current by the translator, so that a route change does not recompute them all).
#[derive(Debug, Clone, Copy)]
pub struct Desired<'a> {
    /// The config.
    pub config: &'a Config,
    /// The map entries of `config.routes` (as [`haproxy::config::route_maps`] gives them).
    pub maps: &'a MapEntries,
}

impl<'a> From<&'a crate::translate::Translation> for Desired<'a> {
    fn from(t: &'a crate::translate::Translation) -> Self {
        Self {
            config: &t.config,
            maps: &t.maps,
        }
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Render, validate and reload, for this reason.
    Reload(ReloadReason),
    /// Runtime commands (possibly none: converged).
    Runtime(RuntimePlan),
}

/// Runtime commands, and the servers whose removal started (draining) with this plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimePlan {
    /// Commands, in order.
    pub commands: Vec<Command>,
    /// Servers being removed that still have sessions: put in drain, deleted later.
    pub draining: BTreeSet<ServerRef>,
    /// Maps that must be swapped whole (duplicate or foreign entries): `prepare map` first.
    pub swaps: Vec<MapKind>,
}

impl RuntimePlan {
    /// True when nothing is left to do now.
    pub fn is_converged(&self) -> bool {
        self.commands.is_empty() && self.swaps.is_empty()
    }
}

/// Settings of the planner.
#[derive(Debug, Clone, Copy)]
pub struct PlanSettings {
    /// How long a removed server may drain before its sessions are cut.
    pub drain_timeout: Duration,
}

/// What a plan looks at: everything, or the backends, maps and certificates a change
/// touched (the rest is known to be converged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Everything.
    pub all: bool,
    /// These backends (added, removed or changed).
    pub backends: BTreeSet<BackendName>,
    /// The route maps.
    pub routes: bool,
    /// When `routes`: only these map keys may differ; `None`: any of them.
    pub map_keys: Option<BTreeSet<(MapKind, MapKey)>>,
    /// Certificates and the crt-list.
    pub tls: bool,
    /// The address lists' ACL files.
    pub acls: bool,
    /// The Gateway API maps (and the head, whose Gateway API part may change with them).
    pub gateway: bool,
}

impl Scope {
    /// Everything.
    pub fn all() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// True when a plan in this scope has nothing to look at.
    pub fn is_empty(&self) -> bool {
        !self.all
            && self.backends.is_empty()
            && !self.routes
            && !self.tls
            && !self.acls
            && !self.gateway
    }

    /// Widens this scope by `other`.
    pub fn extend(&mut self, other: &Scope) {
        self.all |= other.all;
        self.backends.extend(other.backends.iter().cloned());
        if other.routes {
            match (self.routes, &mut self.map_keys, &other.map_keys) {
                (false, _, _) => self.map_keys = other.map_keys.clone(),
                (true, Some(mine), Some(theirs)) => mine.extend(theirs.iter().cloned()),
                (true, _, _) => self.map_keys = None,
            }
        }
        self.routes |= other.routes;
        self.tls |= other.tls;
        self.acls |= other.acls;
        self.gateway |= other.gateway;
    }

    /// True when backend `b` is in scope.
    pub fn has_backend(&self, b: &BackendName) -> bool {
        self.all || self.backends.contains(b)
    }
}

impl From<&crate::translate::Changed> for Scope {
    /// What a plan must look at after a translation that changed `changed`.
    fn from(changed: &crate::translate::Changed) -> Self {
        if changed.all {
            return Scope::all();
        }
        Scope {
            all: false,
            backends: changed.backends.clone(),
            routes: changed.routes,
            map_keys: changed.map_keys.clone(),
            tls: changed.tls,
            acls: changed.acls,
            gateway: changed.gateway,
        }
    }
}

/// The structure HAProxy's worker loaded against the desired one, by section.
#[derive(Debug, Clone, Copy)]
pub struct StructureView<'a> {
    /// What the running worker loaded; `None` when unknown.
    pub loaded: Option<&'a Sections>,
    /// The desired config's sections (only those in scope need be current).
    pub desired: &'a Sections,
}

/// Plans the next step. `drain_started` holds when each server being removed began to
/// drain (kept by the caller across plans); `now` is the current time. Compares the whole
/// structure as text and plans everything; see [`plan_scoped`] for the applier's form.
pub fn plan(
    desired: &Config,
    desired_structure: &str,
    observed: &Observed,
    drain_started: &BTreeMap<ServerRef, Instant>,
    now: Instant,
    settings: PlanSettings,
) -> Plan {
    match &observed.loaded_structure {
        None => return Plan::Reload(ReloadReason::Startup),
        Some(s) if s != desired_structure => return Plan::Reload(ReloadReason::Structure),
        Some(_) => {}
    }
    let maps = MapEntries::of_routes(&desired.routes);
    plan_runtime(
        Desired {
            config: desired,
            maps: &maps,
        },
        observed,
        &Scope::all(),
        drain_started,
        now,
        settings,
    )
}

/// Plans the next step for what `scope` names: a reload when the head, or a backend in
/// scope, differs from what the worker loaded (`structure`), else the runtime commands for
/// the servers of the backends in scope (and the maps and certificates when in scope).
/// `observed` must be current for what is in scope.
pub fn plan_scoped(
    desired: Desired<'_>,
    structure: StructureView<'_>,
    observed: &Observed,
    scope: &Scope,
    drain_started: &BTreeMap<ServerRef, Instant>,
    now: Instant,
    settings: PlanSettings,
) -> Plan {
    if let Some(reason) = reload_reason(desired.config, structure, observed, scope) {
        return Plan::Reload(reason);
    }
    plan_runtime(desired, observed, scope, drain_started, now, settings)
}

/// Why the desired structure cannot be reached at runtime, if it cannot.
fn reload_reason(
    desired: &Config,
    structure: StructureView<'_>,
    observed: &Observed,
    scope: &Scope,
) -> Option<ReloadReason> {
    let Some(loaded) = structure.loaded else {
        return Some(ReloadReason::Startup);
    };
    if loaded.head.is_none() || loaded.head != structure.desired.head {
        if loaded.gateway.is_some() && loaded.gateway != structure.desired.gateway {
            return Some(ReloadReason::GatewayApi);
        }
        if loaded.gateway_binds.is_some() && loaded.gateway_binds != structure.desired.gateway_binds
        {
            return Some(ReloadReason::GatewayListeners);
        }
        if loaded.auth.is_some() && loaded.auth != structure.desired.auth {
            return Some(ReloadReason::Userlists);
        }
        if loaded.errors.is_some() && loaded.errors != structure.desired.errors {
            return Some(ReloadReason::CustomErrors);
        }
        if loaded.tcp.is_some() && loaded.tcp != structure.desired.tcp {
            return Some(ReloadReason::TcpServices);
        }
        if loaded.settings.is_some() && loaded.settings != structure.desired.settings {
            return Some(ReloadReason::GlobalSettings);
        }
        return Some(ReloadReason::Frontends);
    }
    let in_scope: Box<dyn Iterator<Item = &BackendName>> = if scope.all {
        Box::new(desired.backends.keys())
    } else {
        Box::new(
            scope
                .backends
                .iter()
                .filter(|b| desired.backends.contains_key(*b)),
        )
    };
    for name in in_scope {
        let Some(have) = loaded.backends.get(name) else {
            return Some(ReloadReason::NewBackend(name.clone()));
        };
        if !observed.backends.contains(name) {
            return Some(ReloadReason::NewBackend(name.clone()));
        }
        match structure.desired.backends.get(name) {
            Some(want) if want == have => {}
            Some(want) if want.protocol != have.protocol => {
                return Some(ReloadReason::BackendProtocol(name.clone()));
            }
            _ => return Some(ReloadReason::BackendOptions(name.clone())),
        }
    }
    None
}

fn plan_runtime(
    want: Desired<'_>,
    observed: &Observed,
    scope: &Scope,
    drain_started: &BTreeMap<ServerRef, Instant>,
    now: Instant,
    settings: PlanSettings,
) -> Plan {
    let desired = want.config;
    if scope.all
        && let Some(missing) = desired
            .backends
            .keys()
            .find(|b| !observed.backends.contains(*b))
    {
        return Plan::Reload(ReloadReason::NewBackend(missing.clone()));
    }
    let mut out = RuntimePlan::default();
    let empty = SortedMap::new();
    let backends: Vec<(&BackendName, &Backend)> = if scope.all {
        desired.backends.iter().collect()
    } else {
        scope
            .backends
            .iter()
            .filter_map(|b| desired.backends.get_key_value(b))
            .collect()
    };
    for (name, backend) in backends {
        let live = observed.servers.get(name).unwrap_or(&empty);
        plan_servers(backend, live, drain_started, now, settings, &mut out);
    }
    // Certificates before routes: a host that starts redirecting to HTTPS has its
    // certificate by then.
    if (scope.all || scope.tls)
        && let Some(bind) = desired.frontends.first().and_then(|f| f.tls.as_ref())
    {
        let live = observed.tls.clone().unwrap_or_default();
        out.commands.extend(tls_commands(
            &bind.crt_list.to_file_path(),
            bind.certs_dir(),
            &certificates_outside_the_list(bind, desired),
            &live,
            &desired.tls,
        ));
    }
    // List entries are added before the routes that name them, and removed after the
    // routes stop naming them.
    let mut acl_dels = Vec::new();
    if (scope.all || scope.acls)
        && let Some(frontend) = desired.frontends.first()
    {
        acl_dels = plan_acls(&frontend.maps, desired, &observed.acls, &mut out);
    }
    if (scope.all || scope.routes)
        && let Some(frontend) = desired.frontends.first()
    {
        let keys = if scope.all {
            None
        } else {
            scope.map_keys.as_ref()
        };
        plan_maps(&frontend.maps, want.maps, &observed.maps, keys, &mut out);
    }
    // Gateway API entries by key (a few per route: the diff of all of them is cheap).
    if scope.all || scope.gateway {
        out.commands
            .extend(plan_gateway(desired, &observed.gateway));
    }
    out.commands.extend(acl_dels);
    // The settings map, whatever the scope: HSTS and a key per client-certificate name,
    // diffed in one pass; a ConfigMap change is translated in full anyway.
    if let Some(frontend) = desired.frontends.first() {
        out.commands.extend(observed.settings.commands(
            &frontend.maps.settings.to_file_path(),
            &settings_entries(&desired.settings, &desired.tls),
        ));
    }
    Plan::Runtime(out)
}

/// The bufsize the planner assumes for map swaps.
pub const BUFSIZE: usize = DEFAULT_BUFSIZE;

/// Keeps `drain_started` in step with a plan: servers that started draining get `now`,
/// servers no longer draining are forgotten.
pub fn update_drains(
    drain_started: &mut BTreeMap<ServerRef, Instant>,
    plan: &RuntimePlan,
    now: Instant,
) {
    drain_started.retain(|r, _| plan.draining.contains(r));
    for r in &plan.draining {
        drain_started.entry(r.clone()).or_insert(now);
    }
}

/// A weight as HAProxy reports it.
pub fn weight_of(w: Weight) -> u32 {
    u32::from(w.get())
}

/// The loaded certificates the crt-list does not name that must stay: the bind's default
/// one, and the backends' client certificates (a server's `crt`, loaded with the config and
/// in use: HAProxy refuses to delete them).
fn certificates_outside_the_list(
    bind: &haproxy::config::TlsBind,
    desired: &Config,
) -> BTreeSet<haproxy::FilePath> {
    std::iter::once(bind.default_cert.to_file_path())
        .chain(
            desired
                .backends
                .values()
                .filter_map(|b| b.protocol.tls.as_ref().and_then(|t| t.client_cert.clone())),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use haproxy::config::{
        AclEntries, AclKind, Backend, ConfigPath, DefaultBackend, Frontend, Global, PathKind,
        Route, RouteHost, RouteMaps, RoutePath, Server, ServerAddr, ServerMode,
    };
    use haproxy::proto::AdminState;
    use haproxy::proto::parse::ServerAdmin;
    use haproxy::{FilePath, FrontendName, ServerName};
    use proptest::prelude::*;

    const STRUCTURE: &str = "structure";

    #[test]
    fn backends_client_certificates_are_kept_with_the_default_one() {
        let bind = haproxy::config::TlsBind::in_dir(
            std::path::Path::new("/etc/haproxy"),
            vec!["127.0.0.1:443".parse().unwrap()],
        )
        .unwrap();
        let client = FilePath::new("/etc/haproxy/certs/ns_up.0123.client.pem").unwrap();
        let mut with_client = Backend::new(be("ns_up_443"));
        with_client.protocol.tls = Some(haproxy::proto::ServerTls {
            client_cert: Some(client.clone()),
            ..Default::default()
        });
        let cases = [
            ("no backend", vec![], vec![bind.default_cert.to_file_path()]),
            (
                "a backend without TLS",
                vec![Backend::new(be("ns_web_80"))],
                vec![bind.default_cert.to_file_path()],
            ),
            (
                "a backend with a client certificate",
                vec![with_client, Backend::new(be("ns_web_80"))],
                vec![client, bind.default_cert.to_file_path()],
            ),
        ];
        for (name, backends, want) in cases {
            let got = certificates_outside_the_list(&bind, &config(backends, vec![]));
            assert_eq!(got, want.into_iter().collect(), "{name}");
        }
    }

    fn maps() -> RouteMaps {
        RouteMaps::in_dir(std::path::Path::new("/etc/haproxy")).unwrap()
    }

    fn config(backends: Vec<Backend>, routes: Vec<Route>) -> Config {
        let mut c = Config::new(Global::new(
            ConfigPath::new("/run/haproxy/admin.sock").unwrap(),
        ));
        c.frontends.push(Frontend {
            canary_names: Default::default(),
            name: FrontendName::new("http").unwrap(),
            binds: vec!["127.0.0.1:80".parse().unwrap()],
            maps: maps(),
            default_backend: DefaultBackend::Builtin404,
            tls: None,
            trusted_proxies: Vec::new(),
        });
        for b in backends {
            c.insert_backend(b);
        }
        c.routes = routes;
        c
    }

    fn be(name: &str) -> BackendName {
        BackendName::new(name).unwrap()
    }

    fn server(addr: &str, weight: u32, state: ServerMode) -> Server {
        let addr: SocketAddr = addr.parse().unwrap();
        Server {
            name: ServerName::new(addr.to_string()).unwrap(),
            addr: ServerAddr::new(addr).unwrap(),
            weight: Weight::new(weight).unwrap(),
            state,
            backup: false,
        }
    }

    /// A simulated HAProxy: applies commands to an observation the way HAProxy 2.6 does,
    /// refusing what HAProxy refuses.
    fn apply(o: &mut Observed, commands: &[Command], swaps: &[MapKind], want: &Config) {
        o.maps_swapped(&MapEntries::of_routes(&want.routes), swaps);
        for c in commands {
            match c {
                Command::AddServer(a) => {
                    let srvs = o.servers.entry(a.server.backend.clone()).or_default();
                    assert!(!srvs.contains_key(&a.server.server), "duplicate add {c:?}");
                    srvs.insert(
                        a.server.server.clone(),
                        LiveServer {
                            addr: Some(a.addr),
                            weight: a.weight.map_or(1, |w| u32::from(w.get())),
                            admin: ServerAdmin(ServerAdmin::FORCED_MAINT),
                            sessions: Some(0),
                        },
                    );
                }
                Command::SetServerState(r, st) => {
                    let s = o
                        .servers
                        .get_mut(&r.backend)
                        .unwrap()
                        .get_mut(&r.server)
                        .unwrap();
                    s.admin = ServerAdmin(match st {
                        AdminState::Ready => 0,
                        AdminState::Drain => ServerAdmin::FORCED_DRAIN,
                        AdminState::Maint => ServerAdmin::FORCED_MAINT,
                    });
                }
                Command::SetServerAddr(r, a) => {
                    o.servers
                        .get_mut(&r.backend)
                        .unwrap()
                        .get_mut(&r.server)
                        .unwrap()
                        .addr = Some(*a);
                }
                Command::SetServerWeight(r, w) => {
                    o.servers
                        .get_mut(&r.backend)
                        .unwrap()
                        .get_mut(&r.server)
                        .unwrap()
                        .weight = u32::from(w.get());
                }
                Command::ShutdownSessionsServer(r) => {
                    o.servers
                        .get_mut(&r.backend)
                        .unwrap()
                        .get_mut(&r.server)
                        .unwrap()
                        .sessions = Some(0);
                }
                Command::DelServer(r) => {
                    let srvs = o.servers.get_mut(&r.backend).unwrap();
                    let s = srvs.get(&r.server).unwrap();
                    assert!(s.admin.is_maint(), "del server not in maintenance: {c:?}");
                    assert_eq!(s.sessions, Some(0), "del server with sessions: {c:?}");
                    srvs.remove(&r.server);
                }
                Command::EnableHealth(_) => {}
                // A key added twice is listed twice: the map is dirty.
                Command::AddMap(t, k, v) => o.maps.added(kind_of(&t.file), k, v.as_str()),
                Command::SetMap(f, k, v) => {
                    let kind = kind_of(f);
                    assert!(
                        o.maps.entries.get(kind, k).is_some(),
                        "set map of a missing key"
                    );
                    o.maps.set(kind, k, v.as_str());
                }
                Command::DelMap(f, k) => {
                    let kind = kind_of(f);
                    assert!(
                        o.maps.entries.get(kind, k).is_some(),
                        "del map of a missing key"
                    );
                    o.maps.deleted(kind, k);
                }
                Command::AddAcl(f, _) | Command::DelAcl(f, _) | Command::ClearAcl(f) => {
                    let kind = AclKind::of_file(&maps(), f).expect("an ACL file of ours");
                    o.acls.record(kind, c);
                }
                other => panic!("unexpected command in a plan: {other:?}"),
            }
        }
    }

    prop_compose! {
        /// Address lists of up to three Ingresses, from a few overlapping networks.
        fn arb_lists()(lists in proptest::collection::btree_map(0u8..3,
            (proptest::collection::btree_set(0usize..6, 0..4), proptest::collection::btree_set(0usize..6, 0..4)), 0..3))
            -> BTreeMap<haproxy::config::PolicyText, haproxy::config::SourceLists> {
            const NETS: [&str; 6] = ["10.0.0.0/8", "10.1.0.0/9", "127.0.0.1", "::1", "2001:db8::/30", "192.168.0.0/23"];
            let cidrs = |v: &BTreeSet<usize>| v.iter().map(|i| haproxy::config::Cidr::parse(NETS[*i]).unwrap()).collect();
            lists.into_iter().map(|(i, (allow, deny))| {
                (haproxy::config::PolicyText::new("id", &format!("ns/i{i}")).unwrap(),
                 haproxy::config::SourceLists {
                     allow: cidrs(&allow),
                     deny: cidrs(&deny),
                     // Canary header patterns, in the third ACL file.
                     canary_patterns: allow.iter().map(|n| haproxy::config::CanaryPattern::new(&format!("^v{n} x$")).unwrap()).collect(),
                     ..Default::default()
                 })
            }).collect()
        }
    }

    #[test]
    fn list_entries_go_in_before_routes_name_them_and_out_after() {
        let id = haproxy::config::PolicyText::new("id", "ns/web").unwrap();
        let route = |allow: bool| Route {
            canary: None,
            host: RouteHost::parse("a.test").unwrap(),
            path: RoutePath::new("/").unwrap(),
            kind: PathKind::Exact,
            backend: be("b0"),
            https_redirect: false,
            policy: haproxy::config::RoutePolicy {
                allow_list: allow.then(|| id.clone()),
                ..Default::default()
            }
            .shared(),
        };
        let lists = |on: bool| {
            let mut m = BTreeMap::new();
            if on {
                let allow = [haproxy::config::Cidr::parse("127.0.0.1").unwrap()].into();
                m.insert(
                    id.clone(),
                    haproxy::config::SourceLists {
                        allow,
                        ..Default::default()
                    },
                );
            }
            m
        };
        let mut before = config(vec![Backend::new(be("b0"))], vec![route(false)]);
        let mut after = config(vec![Backend::new(be("b0"))], vec![route(true)]);
        after.source_lists = lists(true);
        let mut o = observed_for(&before);
        o.maps.entries = MapEntries::of_routes(&before.routes);
        let names = |p: RuntimePlan| p.commands.iter().map(Command::name).collect::<Vec<_>>();
        let p = runtime(plan(
            &after,
            STRUCTURE,
            &o,
            &BTreeMap::new(),
            Instant::now(),
            settings(),
        ));
        assert_eq!(names(p.clone()), ["add acl", "set map"]);
        apply(&mut o, &p.commands, &p.swaps, &after);
        before.source_lists = lists(false);
        let p = runtime(plan(
            &before,
            STRUCTURE,
            &o,
            &BTreeMap::new(),
            Instant::now(),
            settings(),
        ));
        assert_eq!(names(p), ["set map", "del acl"]);
        // A file holding what the agent cannot name is cleared and filled again.
        o.acls.set_listed(AclKind::Allow, ["two words".to_string()]);
        let p = runtime(plan(
            &after,
            STRUCTURE,
            &o,
            &BTreeMap::new(),
            Instant::now(),
            settings(),
        ));
        assert_eq!(names(p), ["clear acl", "add acl"]);
    }

    fn kind_of(f: &FilePath) -> MapKind {
        MapKind::ALL
            .into_iter()
            .find(|k| k.file(&maps()).to_file_path() == *f)
            .expect("a route map file")
    }

    fn settings() -> PlanSettings {
        PlanSettings {
            drain_timeout: Duration::from_secs(30),
        }
    }

    fn observed_for(c: &Config) -> Observed {
        Observed {
            loaded_structure: Some(STRUCTURE.to_string()),
            backends: c.backends.keys().cloned().collect(),
            ..Default::default()
        }
    }

    fn runtime(p: Plan) -> RuntimePlan {
        match p {
            Plan::Runtime(r) => r,
            Plan::Reload(why) => panic!("unexpected reload: {why}"),
        }
    }

    #[test]
    fn reloads_only_for_structure_or_missing_backends() {
        let c = config(vec![Backend::new(be("ns_web_80"))], vec![]);
        let now = Instant::now();
        let mut o = observed_for(&c);
        o.loaded_structure = None;
        assert_eq!(
            plan(&c, STRUCTURE, &o, &BTreeMap::new(), now, settings()),
            Plan::Reload(ReloadReason::Startup)
        );
        o.loaded_structure = Some("old".into());
        assert_eq!(
            plan(&c, STRUCTURE, &o, &BTreeMap::new(), now, settings()),
            Plan::Reload(ReloadReason::Structure)
        );
        o.loaded_structure = Some(STRUCTURE.into());
        o.backends.clear();
        assert!(
            matches!(plan(&c, STRUCTURE, &o, &BTreeMap::new(), now, settings()), Plan::Reload(r) if r.to_string().contains("ns_web_80"))
        );
    }

    #[test]
    fn new_endpoint_is_added_then_made_ready() {
        let b = Backend::new(be("b")).with_server(server("10.0.0.1:80", 1, ServerMode::Ready));
        let c = config(vec![b], vec![]);
        let p = runtime(plan(
            &c,
            STRUCTURE,
            &observed_for(&c),
            &BTreeMap::new(),
            Instant::now(),
            settings(),
        ));
        let names: Vec<&str> = p.commands.iter().map(Command::name).collect();
        assert_eq!(names, vec!["add server", "set server state"]);
        assert_eq!(
            p.commands[1],
            Command::SetServerState(
                ServerRef::new(be("b"), ServerName::new("10.0.0.1:80").unwrap()),
                AdminState::Ready
            )
        );
    }

    #[test]
    fn removed_endpoint_drains_while_it_has_sessions_then_goes() {
        let c = config(vec![Backend::new(be("b"))], vec![]);
        let mut o = observed_for(&c);
        let r = ServerRef::new(be("b"), ServerName::new("10.0.0.1:80").unwrap());
        o.servers.entry(be("b")).or_default().insert(
            r.server.clone(),
            LiveServer {
                addr: Some("10.0.0.1:80".parse().unwrap()),
                weight: 1,
                admin: ServerAdmin(0),
                sessions: Some(3),
            },
        );
        let t0 = Instant::now();
        let mut drains = BTreeMap::new();
        let p = runtime(plan(&c, STRUCTURE, &o, &drains, t0, settings()));
        assert_eq!(
            p.commands,
            vec![Command::SetServerState(r.clone(), AdminState::Drain)]
        );
        assert!(p.draining.contains(&r));
        update_drains(&mut drains, &p, t0);
        // Still busy and draining: nothing to do.
        o.servers
            .get_mut(&be("b"))
            .unwrap()
            .get_mut(&r.server)
            .unwrap()
            .admin = ServerAdmin(ServerAdmin::FORCED_DRAIN);
        let p = runtime(plan(
            &c,
            STRUCTURE,
            &o,
            &drains,
            t0 + Duration::from_secs(1),
            settings(),
        ));
        assert!(p.commands.is_empty());
        // The drain timeout passes: maint, cut sessions, delete.
        let p = runtime(plan(
            &c,
            STRUCTURE,
            &o,
            &drains,
            t0 + Duration::from_secs(31),
            settings(),
        ));
        let names: Vec<&str> = p.commands.iter().map(Command::name).collect();
        assert_eq!(
            names,
            vec!["set server state", "shutdown sessions server", "del server"]
        );
        // Or it goes idle earlier.
        o.servers
            .get_mut(&be("b"))
            .unwrap()
            .get_mut(&r.server)
            .unwrap()
            .sessions = Some(0);
        let p = runtime(plan(
            &c,
            STRUCTURE,
            &o,
            &drains,
            t0 + Duration::from_secs(2),
            settings(),
        ));
        assert_eq!(p.commands.last().map(Command::name), Some("del server"));
    }

    #[test]
    fn dirty_maps_are_swapped_whole() {
        let route = Route {
            canary: None,
            host: RouteHost::parse("a.test").unwrap(),
            path: RoutePath::new("/").unwrap(),
            kind: PathKind::Prefix,
            backend: be("b"),
            https_redirect: false,
            policy: Default::default(),
        };
        let c = config(vec![Backend::new(be("b"))], vec![route]);
        let mut o = observed_for(&c);
        o.maps.set_listed(
            MapKind::Prefix,
            vec![
                ("a.test/".into(), "b".into()),
                ("a.test/".into(), "b".into()),
            ],
        );
        let p = runtime(plan(
            &c,
            STRUCTURE,
            &o,
            &BTreeMap::new(),
            Instant::now(),
            settings(),
        ));
        assert_eq!(p.swaps, vec![MapKind::Prefix]);
        o.maps.set_listed(
            MapKind::Prefix,
            vec![("x".into(), "not a backend name".into())],
        );
        let p = runtime(plan(
            &c,
            STRUCTURE,
            &o,
            &BTreeMap::new(),
            Instant::now(),
            settings(),
        ));
        assert_eq!(p.swaps, vec![MapKind::Prefix]);
    }

    prop_compose! {
        fn arb_server()(a in 1u8..6, port in 80u16..83, w in 0u32..=256, drain in any::<bool>()) -> Server {
            server(&format!("10.0.0.{a}:{port}"), w, if drain { ServerMode::Drain } else { ServerMode::Ready })
        }
    }

    prop_compose! {
        fn arb_live()(a in 1u8..6, port in 80u16..83, w in 0u32..=256, admin in prop_oneof![Just(0u32), Just(1), Just(8), Just(5)],
                      other_addr in any::<bool>()) -> (ServerName, LiveServer) {
            let addr: SocketAddr = format!("10.0.0.{a}:{port}").parse().unwrap();
            let live_addr: SocketAddr = if other_addr { "10.9.9.9:9".parse().unwrap() } else { addr };
            (ServerName::new(addr.to_string()).unwrap(),
             LiveServer { addr: Some(live_addr), weight: w, admin: ServerAdmin(admin), sessions: Some(0) })
        }
    }

    prop_compose! {
        fn arb_route()(host in prop_oneof![Just(""), Just("a.test"), Just("*.b.test")], path in "/[a-c]{0,3}",
                       kind in 0u8..3, b in 0usize..3, https_redirect in any::<bool>()) -> Route {
            Route { canary: None,
                host: RouteHost::parse(host).unwrap(),
                path: RoutePath::new(&path).unwrap(),
                kind: [PathKind::Exact, PathKind::Prefix, PathKind::ImplementationSpecific][kind as usize],
                backend: be(&format!("b{b}")),
                https_redirect,
                policy: Default::default(),
            }
        }
    }

    /// What differs between two desired configs (the scope incremental translation
    /// reports), computed by comparing every backend.
    fn between(old: &Config, new: &Config) -> Scope {
        let mut backends: BTreeSet<BackendName> = new
            .backends
            .iter()
            .filter(|(name, b)| old.backends.get(*name) != Some(*b))
            .map(|(name, _)| name.clone())
            .collect();
        backends.extend(
            old.backends
                .keys()
                .filter(|name| !new.backends.contains_key(*name))
                .cloned(),
        );
        let default = |c: &Config| c.frontends.first().map(|f| f.default_backend.clone());
        let tls_bind = |c: &Config| c.frontends.first().and_then(|f| f.tls.clone());
        let (was, is) = (
            MapEntries::of_routes(&old.routes),
            MapEntries::of_routes(&new.routes),
        );
        let map_keys = [MapKind::Exact, MapKind::Prefix]
            .into_iter()
            .flat_map(|m| {
                let (a, b) = (was.entries(m), is.entries(m));
                a.keys()
                    .chain(b.keys())
                    .filter(|k| a.get(*k) != b.get(*k))
                    .map(|k| (m, k.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        Scope {
            all: false,
            backends,
            routes: old.routes != new.routes || default(old) != default(new),
            map_keys: Some(map_keys),
            tls: old.tls != new.tls || tls_bind(old) != tls_bind(new),
            acls: old.source_lists != new.source_lists,
            gateway: old.gateway != new.gateway,
        }
    }

    fn sections_of(c: &Config) -> Sections {
        Sections::of_config(c)
    }

    fn scoped(c: &Config, loaded: &Sections, o: &Observed, scope: &Scope) -> Plan {
        let desired = sections_of(c);
        let maps = MapEntries::of_routes(&c.routes);
        plan_scoped(
            Desired {
                config: c,
                maps: &maps,
            },
            StructureView {
                loaded: Some(loaded),
                desired: &desired,
            },
            o,
            scope,
            &BTreeMap::new(),
            Instant::now(),
            settings(),
        )
    }

    #[test]
    fn scoped_reloads_name_their_reason() {
        let web = Backend::new(be("ns_web_80"));
        let c = config(vec![web.clone()], vec![]);
        let o = observed_for(&c);
        let loaded = sections_of(&c);
        let none = Scope::default();
        let desired = sections_of(&c);
        let maps = MapEntries::of_routes(&c.routes);
        let unknown = plan_scoped(
            Desired {
                config: &c,
                maps: &maps,
            },
            StructureView {
                loaded: None,
                desired: &desired,
            },
            &o,
            &none,
            &BTreeMap::new(),
            Instant::now(),
            settings(),
        );
        assert_eq!(unknown, Plan::Reload(ReloadReason::Startup));
        // Nothing in scope, nothing differs: converged without looking.
        assert!(runtime(scoped(&c, &loaded, &o, &none)).is_converged());
        // A new backend in scope.
        let api = Backend::new(be("ns_api_80"));
        let more = config(vec![web.clone(), api], vec![]);
        let scope = between(&c, &more);
        assert_eq!(scope.backends, BTreeSet::from([be("ns_api_80")]));
        assert_eq!(
            scoped(&more, &loaded, &o, &scope),
            Plan::Reload(ReloadReason::NewBackend(be("ns_api_80")))
        );
        // A backend's options.
        let mut first = web.clone();
        first.balance = haproxy::config::Balance::First;
        let changed = config(vec![first], vec![]);
        let scope = between(&c, &changed);
        assert_eq!(
            scoped(&changed, &loaded, &o, &scope),
            Plan::Reload(ReloadReason::BackendOptions(be("ns_web_80")))
        );
        assert_eq!(
            ReloadReason::BackendOptions(be("x")).label(),
            "backend_options"
        );
        // Its protocol (a default-server line): a reason of its own.
        let mut h2 = web.clone();
        h2.protocol.h2 = true;
        let changed = config(vec![h2], vec![]);
        let scope = between(&c, &changed);
        assert_eq!(
            scoped(&changed, &loaded, &o, &scope),
            Plan::Reload(ReloadReason::BackendProtocol(be("ns_web_80")))
        );
        assert_eq!(
            ReloadReason::BackendProtocol(be("x")).label(),
            "backend_protocol"
        );
        // The head, whatever the scope.
        let mut moved = c.clone();
        moved.frontends[0].binds = vec!["127.0.0.1:81".parse().unwrap()];
        assert_eq!(
            scoped(&moved, &loaded, &o, &none),
            Plan::Reload(ReloadReason::Frontends)
        );
        // The first route with custom error pages (the Lua action and its frontend).
        let mut errors = c.clone();
        errors.global.custom_errors = Some(
            haproxy::config::ErrorFiles::in_dir(std::path::Path::new("/etc/haproxy")).unwrap(),
        );
        let policy = haproxy::config::RoutePolicy {
            custom_errors: haproxy::config::CustomErrors::parse("404/ns_web_80/ns/a/web/80"),
            ..Default::default()
        };
        errors.routes.push(Route {
            canary: None,
            host: RouteHost::Any,
            path: RoutePath::new("/").unwrap(),
            kind: PathKind::Prefix,
            backend: be("ns_web_80"),
            https_redirect: false,
            policy: policy.shared(),
        });
        assert_eq!(
            scoped(&errors, &loaded, &o, &none),
            Plan::Reload(ReloadReason::CustomErrors)
        );
        // A new TCP service port (its frontend and backend).
        let mut tcp = c.clone();
        let svc = haproxy::config::TcpService::new("127.0.0.1:5432".parse().unwrap(), false);
        let mut tcp_be = Backend::new(svc.backend.clone());
        tcp_be.tcp = true;
        tcp.insert_backend(tcp_be);
        tcp.tcp_services.insert(5432, svc);
        assert_eq!(
            scoped(&tcp, &loaded, &o, &between(&c, &tcp)),
            Plan::Reload(ReloadReason::TcpServices)
        );
        // A backend no longer wanted stays until the next reload: no reload for it.
        let fewer = config(vec![], vec![]);
        let scope = between(&c, &fewer);
        assert!(runtime(scoped(&fewer, &loaded, &o, &scope)).is_converged());
    }

    #[test]
    fn scoped_plans_touch_only_the_backends_in_scope() {
        let a = Backend::new(be("a")).with_server(server("10.0.0.1:80", 1, ServerMode::Ready));
        let b = Backend::new(be("b")).with_server(server("10.0.0.2:80", 1, ServerMode::Ready));
        let c = config(vec![a, b], vec![]);
        let loaded = sections_of(&c);
        // HAProxy has neither server; only `b` is in scope.
        let o = observed_for(&c);
        let scope = Scope {
            backends: BTreeSet::from([be("b")]),
            ..Scope::default()
        };
        let p = runtime(scoped(&c, &loaded, &o, &scope));
        let touched: BTreeSet<&str> = p
            .commands
            .iter()
            .filter_map(|cmd| match cmd {
                Command::AddServer(add) => Some(add.server.backend.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(touched, BTreeSet::from(["b"]));
        // Everything in scope: both.
        let p = runtime(scoped(&c, &loaded, &o, &Scope::all()));
        assert_eq!(
            p.commands
                .iter()
                .filter(|cmd| matches!(cmd, Command::AddServer(_)))
                .count(),
            2
        );
    }

    proptest! {
        #[test]
        fn plans_converge_on_a_simulated_haproxy(
            want in proptest::collection::vec(proptest::collection::vec(arb_server(), 0..6), 3),
            live in proptest::collection::vec(proptest::collection::vec(arb_live(), 0..6), 3),
            routes in proptest::collection::vec(arb_route(), 0..8),
            live_routes in proptest::collection::vec(arb_route(), 0..8),
            lists in arb_lists(),
            live_lists in arb_lists(),
        ) {
            let backends: Vec<Backend> = want.into_iter().enumerate().map(|(i, servers)| {
                servers.into_iter().fold(Backend::new(be(&format!("b{i}"))), Backend::with_server)
            }).collect();
            let mut c = config(backends, routes);
            c.source_lists = lists;
            let mut o = observed_for(&c);
            o.acls.entries = AclEntries::of_lists(&live_lists);
            for (i, servers) in live.into_iter().enumerate() {
                o.servers.insert(be(&format!("b{i}")), servers.into_iter().collect());
            }
            o.maps.entries = MapEntries::of_routes(&live_routes);

            let now = Instant::now();
            let p = runtime(plan(&c, STRUCTURE, &o, &BTreeMap::new(), now, settings()));
            apply(&mut o, &p.commands, &p.swaps, &c);
            let again = runtime(plan(&c, STRUCTURE, &o, &BTreeMap::new(), now, settings()));
            prop_assert!(again.is_converged(), "not converged after one plan: {:?}", again);
            // And the simulated HAProxy holds exactly the desired servers and routes.
            for (name, b) in &c.backends {
                let live = o.servers.get(name).cloned().unwrap_or_default();
                prop_assert_eq!(live.keys().collect::<Vec<_>>(), b.servers.keys().collect::<Vec<_>>());
            }
            prop_assert_eq!(&o.maps.entries, &MapEntries::of_routes(&c.routes));
            prop_assert!(o.maps.dirty.is_empty());
            prop_assert_eq!(&o.acls.entries, &AclEntries::of_lists(&c.source_lists));
        }

        #[test]
        fn scoped_plans_after_a_change_converge_like_full_ones(
            before in proptest::collection::vec(proptest::collection::vec(arb_server(), 0..6), 3),
            after in proptest::collection::vec(proptest::collection::vec(arb_server(), 0..6), 3),
            routes_before in proptest::collection::vec(arb_route(), 0..8),
            routes_after in proptest::collection::vec(arb_route(), 0..8),
        ) {
            let build = |servers: Vec<Vec<Server>>, routes: Vec<Route>| {
                let backends: Vec<Backend> = servers.into_iter().enumerate().map(|(i, s)| {
                    s.into_iter().fold(Backend::new(be(&format!("b{i}"))), Backend::with_server)
                }).collect();
                config(backends, routes)
            };
            let old = build(before, routes_before);
            let new = build(after, routes_after);
            let loaded = sections_of(&old);
            // HAProxy converged on `old`.
            let mut o = observed_for(&old);
            let now = Instant::now();
            let p = runtime(plan(&old, STRUCTURE, &o, &BTreeMap::new(), now, settings()));
            apply(&mut o, &p.commands, &p.swaps, &old);
            // Then only what differs is planned.
            let scope = between(&old, &new);
            let p = runtime(scoped(&new, &loaded, &o, &scope));
            apply(&mut o, &p.commands, &p.swaps, &new);
            let full = runtime(plan(&new, STRUCTURE, &o, &BTreeMap::new(), now, settings()));
            prop_assert!(full.is_converged(), "a full plan still finds work: {:?}", full);
        }
    }
}

#[cfg(test)]
mod live_map_tests {
    use super::*;

    fn key(host: &str, path: &str) -> MapKey {
        MapKey::new(format!("^{}(?i:{path})", host.replace('.', "\\."))).unwrap()
    }

    /// A regex key appended to the live map is out of order only when another key of its
    /// host should follow it; a removal in the same plan is recorded first.
    #[test]
    fn appended_regex_keys_are_checked_against_their_host() {
        let mut live = LiveMaps::default();
        live.added(MapKind::Regex, &key("a.test", "/long/path"), "b");
        live.added(MapKind::Regex, &key("b.test", "/x/y/z"), "b");
        // Shorter than a.test's key: it follows it, in order (b.test's does not matter).
        live.added(MapKind::Regex, &key("a.test", "/"), "b");
        assert!(live.dirty.is_empty());
        // Longer than a.test's keys but appended last: out of order, swap.
        live.added(MapKind::Regex, &key("a.test", "/longer/path/x"), "b");
        assert!(live.dirty.contains(&MapKind::Regex));

        // The bench's change: a host's only key replaced (del then add): in order.
        let mut live = LiveMaps::default();
        live.added(MapKind::Regex, &key("c.test", "/"), "b");
        live.deleted(MapKind::Regex, &key("c.test", "/"));
        live.added(MapKind::Regex, &key("c.test", "/v2"), "b");
        assert!(live.dirty.is_empty());
    }
}
