//! The Gateway API maps at runtime: what HAProxy holds (observed with `show map`, kept
//! current from acknowledged commands) against the entries of `Config.gateway`, planned as
//! `add map`/`set map`/`del map` commands by key (see [`gateway_commands`]).

use std::collections::BTreeSet;

use haproxy::config::Config;
use haproxy::config::gateway::{
    GatewayFiles, GatewayMap, GatewayMaps, gateway_commands, gateway_files,
};
use haproxy::proto::Command;
use haproxy::{FilePath, MapKey, MapValue};

/// The live Gateway API maps; `twice` names keys listed more than once (deleted and added
/// again by the next plan).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveGateway {
    /// The entries (for a key listed twice, the last listed).
    pub maps: GatewayMaps,
    /// Keys listed more than once.
    pub twice: BTreeSet<(GatewayMap, MapKey)>,
}

impl LiveGateway {
    /// Map `m` holds the `(key, value)` pairs `show map` listed. Pairs this agent cannot
    /// name in a command are left alone: no lookup of the Lua action can reach them.
    pub fn set_listed(
        &mut self,
        m: GatewayMap,
        listed: impl IntoIterator<Item = (String, String)>,
    ) {
        let entries = self.maps.entries_mut(m);
        entries.clear();
        self.twice.retain(|(map, _)| *map != m);
        for (k, v) in listed {
            let (Ok(k), Ok(v)) = (MapKey::new(k), MapValue::new(v)) else {
                continue;
            };
            if entries.insert(k.clone(), v).is_some() {
                self.twice.insert((m, k));
            }
        }
    }

    /// A command on map `m` was acknowledged.
    pub fn record(&mut self, m: GatewayMap, command: &Command) {
        match command {
            Command::AddMap(t, k, v) if t.version.is_none() => {
                let before = self.maps.entries_mut(m).insert(k.clone(), v.clone());
                if before.is_some() {
                    self.twice.insert((m, k.clone()));
                }
            }
            Command::SetMap(_, k, v) => {
                if let Some(e) = self.maps.entries_mut(m).get_mut(k) {
                    *e = v.clone();
                }
            }
            Command::DelMap(_, k) => {
                self.maps.entries_mut(m).remove(k);
                self.twice.remove(&(m, k.clone()));
            }
            _ => {}
        }
    }

    /// Records every acknowledged command of `commands` on a Gateway API map of `files`;
    /// returns the others.
    pub fn record_all<'a>(
        &mut self,
        files: &GatewayFiles,
        commands: impl IntoIterator<Item = &'a Command>,
    ) -> Vec<&'a Command> {
        let mut rest = Vec::new();
        for c in commands {
            match map_of(files, c) {
                Some(m) => self.record(m, c),
                None => rest.push(c),
            }
        }
        rest
    }
}

/// Which Gateway API map a command changes, if any.
fn map_of(files: &GatewayFiles, c: &Command) -> Option<GatewayMap> {
    let file: &FilePath = match c {
        Command::AddMap(t, ..) => &t.file,
        Command::SetMap(f, ..) | Command::DelMap(f, _) => f,
        _ => return None,
    };
    GatewayMap::ALL
        .into_iter()
        .find(|m| files.map(*m).to_file_path() == *file)
}

/// The commands that bring the live Gateway API maps to the desired ones; none while the
/// config serves no Gateway API route (then the maps are not loaded at all).
pub fn plan_gateway(desired: &Config, live: &LiveGateway) -> Vec<Command> {
    let Some(files) = gateway_files(desired) else {
        return Vec::new();
    };
    let want = GatewayMaps::of_routes(&desired.gateway.servable());
    gateway_commands(&files, &live.maps, &want, &live.twice)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use haproxy::config::gateway::{
        Candidate, CandidateId, GatewayRoutes, HostKey, HostPattern, Listen, WeightedBackend,
    };
    use haproxy::config::{
        Backend, ConfigPath, DefaultBackend, Frontend, Global, MapEntries, RouteMaps, Sections,
    };
    use haproxy::{BackendName, FrontendName};

    use super::*;
    use crate::reconcile::{
        Desired, Observed, Plan, PlanSettings, ReloadReason, Scope, StructureView, plan_scoped,
    };

    fn config(weight: Option<u32>) -> Config {
        let mut c = Config::new(Global::new(ConfigPath::new("/run/admin.sock").unwrap()));
        c.frontends.push(Frontend {
            canary_names: Default::default(),
            name: FrontendName::new("http").unwrap(),
            binds: vec!["127.0.0.1:80".parse().unwrap()],
            maps: RouteMaps::in_dir(std::path::Path::new("/etc/haproxy")).unwrap(),
            default_backend: DefaultBackend::Builtin404,
            tls: None,
            trusted_proxies: Vec::new(),
        });
        let be = BackendName::new("ns_web_80").unwrap();
        c.insert_backend(Backend::new(be.clone()));
        let Some(weight) = weight else { return c };
        let id = CandidateId::new("ns", "r", 0, 0).unwrap();
        let backends = vec![WeightedBackend {
            backend: Some(be),
            weight,
        }];
        let mut routes = GatewayRoutes::default();
        let key = HostKey {
            listen: Listen::Http,
            host: HostPattern::Exact("a.test".into()),
        };
        routes.insert_host(key, 80, vec![(id, Candidate::forward_all(backends))]);
        c.gateway = routes;
        c
    }

    fn plan(c: &Config, loaded: &Sections, o: &Observed) -> Plan {
        let maps = MapEntries::of_routes(&c.routes);
        plan_scoped(
            Desired {
                config: c,
                maps: &maps,
            },
            StructureView {
                loaded: Some(loaded),
                desired: &Sections::of_config(c),
            },
            o,
            &Scope {
                gateway: true,
                ..Scope::default()
            },
            &BTreeMap::new(),
            Instant::now(),
            PlanSettings {
                drain_timeout: Duration::from_secs(1),
            },
        )
    }

    #[test]
    fn routes_appearing_reload_once_and_entries_change_at_runtime() {
        let none = config(None);
        let mut o = Observed {
            backends: none.backends.keys().cloned().collect(),
            ..Default::default()
        };
        let some = config(Some(1));
        let reason = plan(&some, &Sections::of_config(&none), &o);
        assert_eq!(reason, Plan::Reload(ReloadReason::GatewayApi));
        assert_eq!(ReloadReason::GatewayApi.label(), "gateway_api");
        // After the reload the files held the entries; a worker with empty maps gets them.
        let loaded = Sections::of_config(&some);
        let Plan::Runtime(p) = plan(&some, &loaded, &o) else {
            panic!("a reload")
        };
        let names: Vec<&str> = p.commands.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["add map", "add map"]);
        assert!(
            matches!(&p.commands[0], Command::AddMap(t, ..) if t.file.as_str().ends_with("gateway_rules.map"))
        );
        let files = gateway_files(&some).unwrap();
        assert!(o.gateway.record_all(&files, &p.commands).is_empty());
        let Plan::Runtime(p) = plan(&some, &loaded, &o) else {
            panic!("a reload")
        };
        assert!(p.is_converged(), "{p:?}");
        // A weight change: one `set map`, no reload.
        let heavier = config(Some(7));
        let Plan::Runtime(p) = plan(&heavier, &loaded, &o) else {
            panic!("a reload")
        };
        assert_eq!(p.commands.len(), 1);
        assert!(
            matches!(&p.commands[0], Command::SetMap(_, k, v) if k.as_str() == "ns/r/0/0" && v.as_str() == "p=P:/&b=7:ns_web_80")
        );
    }

    #[test]
    fn a_gateway_bind_added_reloads_with_its_reason_and_its_routes_are_map_entries() {
        let one = config(Some(1));
        let o = Observed {
            backends: one.backends.keys().cloned().collect(),
            ..Default::default()
        };
        let mut with_bind = one.clone();
        let bind = haproxy::config::gateway::GatewayBind {
            addr: "127.0.1.1:8080".parse().unwrap(),
            tls: false,
        };
        with_bind.gateway.binds.insert(bind);
        let reason = plan(&with_bind, &Sections::of_config(&one), &o);
        assert_eq!(reason, Plan::Reload(ReloadReason::GatewayListeners));
        assert_eq!(ReloadReason::GatewayListeners.label(), "gateway_listeners");
        // A route on the bind, once it exists: map commands only.
        let mut routed = with_bind.clone();
        let id = CandidateId::new("ns", "own", 0, 0).unwrap();
        let key = HostKey {
            listen: Listen::Bind(bind),
            host: HostPattern::Any,
        };
        let c = routed.gateway.candidates.values().next().unwrap().clone();
        routed.gateway.insert_host(key, 80, vec![(id, c)]);
        let Plan::Runtime(p) = plan(&routed, &Sections::of_config(&with_bind), &o) else {
            panic!("a route on an existing bind needs no reload")
        };
        assert!(
            p.commands.iter().any(
                |c| matches!(c, Command::AddMap(_, k, _) if k.as_str() == "http@127.0.1.1:8080|*")
            ),
            "{p:?}"
        );
    }

    fn entry(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn listed_entries_are_kept_and_twice_listed_keys_named() {
        let mut live = LiveGateway::default();
        live.set_listed(
            GatewayMap::Hosts,
            [
                entry("http|a.test", "80|ns/r/0/0"),
                entry("http|a.test", "80|ns/r/1/0"),
                entry("bad key", "v"),
            ],
        );
        assert_eq!(live.maps.hosts.len(), 1);
        let key = MapKey::new("http|a.test").unwrap();
        assert!(live.twice.contains(&(GatewayMap::Hosts, key.clone())));
        live.record(
            GatewayMap::Hosts,
            &Command::DelMap(FilePath::new("/x").unwrap(), key),
        );
        assert!(live.maps.is_empty() && live.twice.is_empty());
    }
}
