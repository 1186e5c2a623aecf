//! What HAProxy was observed to run: its servers, route maps and ACL files, as the planner
//! compares them with the desired config.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use haproxy::config::{
    AclEntries, AclKind, LiveSettings, LiveTls, MapEntries, MapKind, RouteTarget,
};
use haproxy::proto::Command;
use haproxy::proto::parse::ServerAdmin;
use haproxy::{AclPattern, BackendName, MapKey, ServerName, SortedMap};

use super::LiveGateway;

/// One server as HAProxy reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveServer {
    /// Its address (`None` when HAProxy has none).
    pub addr: Option<SocketAddr>,
    /// Current weight.
    pub weight: u32,
    /// Administrative state bits.
    pub admin: ServerAdmin,
    /// Current sessions, when observed (only for servers being removed).
    pub sessions: Option<u64>,
}

/// What HAProxy runs, as observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The structural fingerprint of the config the running worker loaded (tracked by the
    /// agent: HAProxy cannot report it). `None` when unknown (start-up, after a restart).
    pub loaded_structure: Option<String>,
    /// Backends that exist (`show backend`).
    pub backends: BTreeSet<BackendName>,
    /// Servers by backend (`show servers state`), each backend's in one sorted vector (a
    /// B-tree node per backend held room for eleven).
    pub servers: BTreeMap<BackendName, SortedMap<ServerName, LiveServer>>,
    /// The live route maps.
    pub maps: LiveMaps,
    /// Certificates and crt-list lines, observed when the desired config serves TLS.
    pub tls: Option<LiveTls>,
    /// The live ACL files of the address lists.
    pub acls: LiveAcls,
    /// The live Gateway API maps.
    pub gateway: LiveGateway,
    /// The live settings map (global values read with a fixed key: HSTS).
    pub settings: LiveSettings,
}

/// The live ACL files as observed, kept current from the agent's acknowledged commands;
/// `foreign` names the files holding a pattern this agent cannot name in a command (they
/// are cleared and filled again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveAcls {
    /// The patterns.
    pub entries: AclEntries,
    /// Files to clear first.
    pub foreign: BTreeSet<AclKind>,
}

impl LiveAcls {
    /// File `kind` holds the patterns `show acl` listed.
    pub fn set_listed(&mut self, kind: AclKind, listed: impl IntoIterator<Item = String>) {
        let set = self.entries.get_mut(kind);
        set.clear();
        let mut foreign = false;
        for p in listed {
            match AclPattern::new(p) {
                Ok(p) => {
                    set.insert(p);
                }
                Err(_) => foreign = true,
            }
        }
        if foreign {
            self.foreign.insert(kind);
        } else {
            self.foreign.remove(&kind);
        }
    }

    /// An ACL command was acknowledged.
    pub fn record(&mut self, kind: AclKind, command: &Command) {
        match command {
            Command::AddAcl(_, p) => {
                self.entries.get_mut(kind).insert(p.clone());
            }
            Command::DelAcl(_, p) => {
                self.entries.get_mut(kind).remove(p);
            }
            Command::ClearAcl(_) => {
                self.entries.get_mut(kind).clear();
                self.foreign.remove(&kind);
            }
            _ => {}
        }
    }
}

/// The live route maps as observed, by key, kept current from the agent's acknowledged
/// commands between observations; `dirty` names the maps that hold what only a whole swap
/// removes (a key listed twice, a key or a value this agent does not write).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveMaps {
    /// The entries (for a key listed twice, the last listed).
    pub entries: MapEntries,
    /// Maps to swap whole.
    pub dirty: BTreeSet<MapKind>,
}

impl LiveMaps {
    /// Map `kind` holds the `(key, value)` pairs `show map` listed.
    pub fn set_listed(
        &mut self,
        kind: MapKind,
        listed: impl IntoIterator<Item = (String, String)>,
    ) {
        let mut entries = BTreeMap::new();
        let mut dirty = false;
        let mut order = Vec::new();
        for (k, v) in listed {
            match (MapKey::new(k), RouteTarget::parse(&v)) {
                (Ok(k), Some(t)) => {
                    order.push(k.clone());
                    dirty |= entries.insert(k, t).is_some();
                }
                _ => dirty = true,
            }
        }
        // `map_regm` takes the first match: a regex map out of order is swapped whole.
        dirty |= kind == MapKind::Regex && !haproxy::config::in_regex_order(&order);
        *self.entries.entries_mut(kind) = entries;
        self.mark(kind, dirty);
    }

    /// Map `kind` was swapped whole to `entries`.
    pub fn swapped(&mut self, kind: MapKind, entries: &BTreeMap<MapKey, RouteTarget>) {
        *self.entries.entries_mut(kind) = entries.clone();
        self.dirty.remove(&kind);
    }

    /// `add map` was acknowledged (a key already there is now listed twice; a regex map
    /// key is appended, out of order when another key of its host should follow it). Record
    /// a plan's `del map`s first: they leave the order as it was.
    pub fn added(&mut self, kind: MapKind, key: &MapKey, value: &str) {
        let twice = match RouteTarget::parse(value) {
            Some(t) => self
                .entries
                .entries_mut(kind)
                .insert(key.clone(), t)
                .is_some(),
            None => true,
        };
        let out_of_order = kind == MapKind::Regex
            && !haproxy::config::appends_in_order(self.entries.entries(kind), [key]);
        if twice || out_of_order {
            self.dirty.insert(kind);
        }
    }

    /// `set map` was acknowledged.
    pub fn set(&mut self, kind: MapKind, key: &MapKey, value: &str) {
        match RouteTarget::parse(value) {
            Some(t) => {
                if let Some(e) = self.entries.entries_mut(kind).get_mut(key) {
                    *e = t;
                }
            }
            None => self.mark(kind, true),
        }
    }

    /// `del map` was acknowledged.
    pub fn deleted(&mut self, kind: MapKind, key: &MapKey) {
        self.entries.entries_mut(kind).remove(key);
    }

    fn mark(&mut self, kind: MapKind, dirty: bool) {
        if dirty {
            self.dirty.insert(kind);
        } else {
            self.dirty.remove(&kind);
        }
    }
}

impl Observed {
    /// Records that the maps `kinds` were swapped whole to `desired`.
    pub fn maps_swapped(&mut self, desired: &MapEntries, kinds: &[MapKind]) {
        for kind in kinds {
            self.maps.swapped(*kind, desired.entries(*kind));
        }
    }
}
