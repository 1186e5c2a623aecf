//! The runtime commands that move live route maps from one set of entries to another.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::route_maps::RouteMaps;
use crate::names::{FilePath, MapKey, MapValue};
use crate::proto::command::{Command, MapTarget};

use super::entries::{MapEntries, RouteMapSet};
use super::{MapKind, RouteTarget};

/// Adds the commands for the keys `keys` (sorted) of one map, from `old` to `new`.
fn diff<'k>(
    file: &FilePath,
    old: &BTreeMap<MapKey, RouteTarget>,
    new: &BTreeMap<MapKey, RouteTarget>,
    keys: impl IntoIterator<Item = &'k MapKey>,
    adds: &mut Vec<Command>,
    sets: &mut Vec<Command>,
    dels: &mut Vec<Command>,
) {
    for k in keys {
        match (old.get(k), new.get(k)) {
            (None, Some(v)) => adds.push(Command::AddMap(
                MapTarget::live(file.clone()),
                k.clone(),
                v.map_value(),
            )),
            (Some(was), Some(v)) if was != v => {
                sets.push(Command::SetMap(file.clone(), k.clone(), v.map_value()));
            }
            (Some(_), None) => dels.push(Command::DelMap(file.clone(), k.clone())),
            _ => {}
        }
    }
}

/// The keys of either map, sorted, each once.
fn union<'a>(
    a: &'a BTreeMap<MapKey, RouteTarget>,
    b: &'a BTreeMap<MapKey, RouteTarget>,
) -> BTreeSet<&'a MapKey> {
    a.keys().chain(b.keys()).collect()
}

/// The runtime commands that turn the live maps of a frontend from `old` into `new`:
/// `add map` for new keys, then `set map` for changed values, then `del map` for removed
/// keys (each group exact map first, keys sorted). `add map` appends, so a regex map with
/// a new key is only in [`crate::config::regex_order`] after a swap ([`map_swap_commands`]). Adding before deleting means a route that
/// moves from one key to another never leaves a moment where neither matches. The steps are
/// not atomic as a whole; use [`map_swap_commands`] for that. Every backend named in `new`
/// must exist in the running config: a route to a new backend is a structural change that
/// needs a reload first.
pub fn map_commands(maps: &RouteMaps, old: &RouteMapSet, new: &RouteMapSet) -> Vec<Command> {
    let (mut adds, mut sets, mut dels) = (Vec::new(), Vec::new(), Vec::new());
    for kind in MapKind::ALL {
        let file = kind.file(maps);
        let (old, new) = (old.entries(kind), new.entries(kind));
        let file = file.to_file_path();
        diff(
            &file,
            old,
            new,
            union(old, new),
            &mut adds,
            &mut sets,
            &mut dels,
        );
    }
    adds.append(&mut sets);
    adds.append(&mut dels);
    adds
}

/// [`map_commands`] between two [`MapEntries`], looking only at `keys` (`None`: every key
/// of either): a change that knows which keys it touched costs those keys, not the maps.
pub fn map_entry_commands(
    maps: &RouteMaps,
    old: &MapEntries,
    new: &MapEntries,
    keys: Option<&BTreeSet<(MapKind, MapKey)>>,
) -> Vec<Command> {
    let (mut adds, mut sets, mut dels) = (Vec::new(), Vec::new(), Vec::new());
    for kind in MapKind::ALL {
        let file = kind.file(maps);
        let (old, new) = (old.entries(kind), new.entries(kind));
        let file = file.to_file_path();
        let (a, s, d) = (&mut adds, &mut sets, &mut dels);
        match keys {
            None => diff(&file, old, new, union(old, new), a, s, d),
            Some(keys) => {
                let of_kind = keys.iter().filter(|(m, _)| *m == kind).map(|(_, k)| k);
                diff(&file, old, new, of_kind, a, s, d);
            }
        }
    }
    adds.append(&mut sets);
    adds.append(&mut dels);
    adds
}

/// The commands of an atomic swap of `file` to exactly `entries`, after `prepare map` gave
/// `version`: `add map @<version> <file> <<` with the entries (split so that each command
/// fits `bufsize`, as [`Command::encode`] checks), then `commit map @<version> <file>`.
/// Without entries only the commit remains, which empties the map.
pub fn map_swap_commands(
    file: &FilePath,
    version: u32,
    entries: &BTreeMap<MapKey, RouteTarget>,
    bufsize: usize,
) -> Vec<Command> {
    swap_in_order(file, version, entries, bufsize)
}

/// [`map_swap_commands`] for the route map `kind`: the regex map's entries go in
/// [`crate::config::regex_order`] (the payload of `add map @<ver>` is appended in order, and
/// `map_regm` returns the first match), the others by key.
pub fn map_kind_swap_commands(
    kind: MapKind,
    file: &FilePath,
    version: u32,
    entries: &BTreeMap<MapKey, RouteTarget>,
    bufsize: usize,
) -> Vec<Command> {
    match kind {
        MapKind::Regex => swap_in_order(
            file,
            version,
            crate::config::regex_routes::regex_order(entries),
            bufsize,
        ),
        _ => swap_in_order(file, version, entries, bufsize),
    }
}

fn swap_in_order<'a>(
    file: &FilePath,
    version: u32,
    entries: impl IntoIterator<Item = (&'a MapKey, &'a RouteTarget)>,
    bufsize: usize,
) -> Vec<Command> {
    let target = MapTarget {
        file: file.clone(),
        version: Some(version),
    };
    // `add map @<ver> <file> k v` is one byte longer than `add map @<ver> <file> <<`; the
    // payload's final empty line and the LF `Command::encode` adds take two more, and
    // `encode` keeps a 64-byte margin.
    let head = Command::AddMap(
        target.clone(),
        MapKey::new("k").expect("a valid key"),
        MapValue::new("v").expect("a valid value"),
    )
    .to_text()
    .map_or(0, |t| t.len());
    let budget = bufsize.saturating_sub(64 + head + 1);
    let mut out = Vec::new();
    let mut chunk: Vec<(MapKey, MapValue)> = Vec::new();
    let mut used = 0;
    for (k, v) in entries {
        let value = v.map_value();
        let line = k.as_str().len() + value.as_str().len() + 2;
        if !chunk.is_empty() && used + line > budget {
            out.push(Command::AddMapBulk(
                target.clone(),
                std::mem::take(&mut chunk),
            ));
            used = 0;
        }
        used += line;
        chunk.push((k.clone(), value));
    }
    if !chunk.is_empty() {
        out.push(Command::AddMapBulk(target, chunk));
    }
    out.push(Command::CommitMap(file.clone(), version));
    out
}
