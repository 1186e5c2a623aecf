//! The runtime commands of one part: a backend's servers, a route map, an ACL file.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use haproxy::config::{
    AclEntries, Backend, Config, MapEntries, MapKind, RouteMaps, ServerMode, acl_commands,
    map_entry_commands,
};
use haproxy::proto::{AdminState, Command};
use haproxy::{MapKey, ServerName, ServerRef, SortedMap};

use super::{LiveAcls, LiveMaps, LiveServer, PlanSettings, RuntimePlan};

/// The commands that bring one backend's live servers to the desired ones.
pub(super) fn plan_servers(
    backend: &Backend,
    live: &SortedMap<ServerName, LiveServer>,
    drain_started: &BTreeMap<ServerRef, Instant>,
    now: Instant,
    settings: PlanSettings,
    out: &mut RuntimePlan,
) {
    let name = &backend.name;
    for (sname, want) in &backend.servers {
        let r = ServerRef::new(name.clone(), sname.clone());
        let state = match want.state {
            ServerMode::Ready => AdminState::Ready,
            ServerMode::Drain => AdminState::Drain,
        };
        match live.get(sname) {
            None => {
                out.commands
                    .push(Command::AddServer(backend.add_server(want)));
                if backend.health_check.is_some() {
                    out.commands.push(Command::EnableHealth(r.clone()));
                }
                out.commands.push(Command::SetServerState(r, state));
            }
            Some(have) => {
                if have.addr != Some(want.addr.get()) {
                    out.commands
                        .push(Command::SetServerAddr(r.clone(), want.addr.get()));
                }
                if have.weight != u32::from(want.weight.get()) {
                    out.commands
                        .push(Command::SetServerWeight(r.clone(), want.weight));
                }
                let right = match state {
                    AdminState::Ready => have.admin.is_ready(),
                    AdminState::Drain => have.admin.is_drain(),
                    AdminState::Maint => have.admin.is_maint(),
                };
                if !right {
                    out.commands.push(Command::SetServerState(r, state));
                }
            }
        }
    }
    for (sname, have) in live
        .iter()
        .filter(|(s, _)| !backend.servers.contains_key(*s))
    {
        let r = ServerRef::new(name.clone(), sname.clone());
        let idle = have.sessions == Some(0) || have.admin.is_maint();
        let expired = drain_started
            .get(&r)
            .is_some_and(|t| now.saturating_duration_since(*t) >= settings.drain_timeout);
        if idle || expired {
            if !have.admin.is_maint() {
                out.commands
                    .push(Command::SetServerState(r.clone(), AdminState::Maint));
            }
            out.commands
                .push(Command::ShutdownSessionsServer(r.clone()));
            out.commands.push(Command::DelServer(r));
        } else {
            if !have.admin.is_drain() {
                out.commands
                    .push(Command::SetServerState(r.clone(), AdminState::Drain));
            }
            out.draining.insert(r);
        }
    }
}

/// The commands for the map keys `keys` (all when `None`); a dirty map is swapped whole.
pub(super) fn plan_maps(
    maps: &RouteMaps,
    want: &MapEntries,
    live: &LiveMaps,
    keys: Option<&BTreeSet<(MapKind, MapKey)>>,
    out: &mut RuntimePlan,
) {
    let mut dirty = live.dirty.clone();
    // A new regex key appended out of its host's order: swap the regex map whole instead
    // (changed values and removed keys keep the order and go by key). A host's only new
    // key that comes after its other keys is appended (`add map`): the usual case, one
    // regex path per host, costs its own keys.
    if !dirty.contains(&MapKind::Regex) {
        let (have, want) = (&live.entries.regex, &want.regex);
        let added: Vec<&MapKey> = match keys {
            None => want.keys().filter(|k| !have.contains_key(*k)).collect(),
            Some(keys) => keys
                .iter()
                .filter(|(m, k)| {
                    *m == MapKind::Regex && want.contains_key(k) && !have.contains_key(k)
                })
                .map(|(_, k)| k)
                .collect(),
        };
        if !added.is_empty() && !haproxy::config::appends_in_order(want, added) {
            dirty.insert(MapKind::Regex);
        }
    }
    out.swaps.extend(dirty.iter().copied());
    let have = if dirty.is_empty() {
        std::borrow::Cow::Borrowed(&live.entries)
    } else {
        let mut have = live.entries.clone();
        for kind in &dirty {
            *have.entries_mut(*kind) = want.entries(*kind).clone();
        }
        std::borrow::Cow::Owned(have)
    };
    out.commands
        .extend(map_entry_commands(maps, &have, want, keys));
}

/// The commands for the address lists' ACL files: the additions (and the clearing of a
/// file holding foreign patterns) go into `out`; the removals are returned, to follow the
/// route map changes.
pub(super) fn plan_acls(
    maps: &RouteMaps,
    desired: &Config,
    live: &LiveAcls,
    out: &mut RuntimePlan,
) -> Vec<Command> {
    let want = AclEntries::of_lists(&desired.source_lists);
    let mut have = live.entries.clone();
    for kind in &live.foreign {
        out.commands.push(Command::ClearAcl(kind.file(maps)));
        have.get_mut(*kind).clear();
    }
    let (adds, dels) = acl_commands(maps, &have, &want);
    out.commands.extend(adds);
    dels
}
