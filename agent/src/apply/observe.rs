//! Reading HAProxy's state: everything (after a reload, a new worker, a desync, an error and
//! once per resync period), or only what a change touched (the servers of some backends,
//! the certificates), into a cache that the agent's own acknowledged map and ACL commands
//! keep current in between. The route maps and the address lists' ACL files are read whole
//! only with everything: a change trusts the cached ones, so that it costs its own keys, not
//! a listing of every route or list.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use haproxy::config::gateway::GatewayMap;
use haproxy::config::{AclKind, Config, MapEntries, MapKind, Structure};
use haproxy::proto::{Command, MapTarget, Reply, ReplyError};
use haproxy::{BackendName, FilePath, RuntimeClient, ServerName, SortedMap};

use super::ApplyError;
use super::observe_tls::observe_tls;
use crate::metrics::Metrics;
use crate::reconcile::{LiveServer, Observed, Scope};

/// The last observation, and when it was last read whole.
#[derive(Debug)]
pub(super) struct ObservedCache {
    observed: Option<Observed>,
    full_at: Instant,
    /// How long a full observation stays trusted.
    full_every: Duration,
}

impl ObservedCache {
    pub(super) fn new(full_every: Duration) -> Self {
        Self {
            observed: None,
            full_at: crate::clock::now(),
            full_every,
        }
    }

    /// Forgets everything: the next observation reads all of HAProxy's state.
    pub(super) fn invalidate(&mut self) {
        self.observed = None;
    }

    /// True when the next observation must be full (nothing cached, or the cache is older
    /// than the resync period).
    pub(super) fn needs_full(&self) -> bool {
        self.observed.is_none()
            || crate::clock::now().saturating_duration_since(self.full_at) >= self.full_every
    }

    /// The observation current for `scope`: all of it when `scope.all` (or
    /// [`Self::needs_full`]), else the cached one with the backends in scope, and the
    /// certificates when in scope, read again (the cached maps are current: see the module
    /// docs). Counts what it read.
    pub(super) async fn observe(
        &mut self,
        runtime: &RuntimeClient,
        desired: &Config,
        scope: &Scope,
        metrics: &Metrics,
    ) -> Result<&Observed, ApplyError> {
        if !scope.all
            && !self.needs_full()
            && let Some(mut cached) = self.observed.take()
        {
            match refresh(runtime, desired, scope, &mut cached, metrics).await {
                Ok(true) => return Ok(self.observed.insert(cached)),
                // A backend in scope could not be read: read everything instead.
                Ok(false) => {}
                Err(e) => return Err(e),
            }
        }
        self.observed = None;
        let o = observe(runtime, desired, None).await?;
        metrics.observed("full", 1);
        self.full_at = crate::clock::now();
        Ok(self.observed.insert(o))
    }

    /// Applies the map and ACL commands of a plan that HAProxy acknowledged in full, so that
    /// the cached maps and ACL files stay current without reading them back (a swapped map
    /// holds `maps`).
    pub(super) fn record_maps(
        &mut self,
        desired: &Config,
        maps: &MapEntries,
        commands: &[Command],
        swaps: &[MapKind],
    ) {
        let (Some(o), Some(fe)) = (self.observed.as_mut(), desired.frontends.first()) else {
            return;
        };
        o.maps_swapped(maps, swaps);
        let settings = fe.maps.settings.to_file_path();
        let (on_settings, commands): (Vec<&Command>, Vec<&Command>) = commands
            .iter()
            .partition(|c| map_file(c) == Some(&settings));
        on_settings.into_iter().for_each(|c| o.settings.record(c));
        let commands = match haproxy::config::gateway::gateway_files(desired) {
            Some(files) => o.gateway.record_all(&files, commands),
            None => commands,
        };
        let kind = |file: &FilePath| {
            MapKind::ALL
                .into_iter()
                .find(|k| k.file(&fe.maps).to_file_path() == *file)
                .unwrap_or(MapKind::Prefix)
        };
        // Removals first: the order of what stays is unchanged, and an appended regex key
        // is then checked against the keys that remain.
        let (dels, rest): (Vec<&Command>, Vec<&Command>) = commands
            .into_iter()
            .partition(|c| matches!(c, Command::DelMap(..)));
        for c in dels.into_iter().chain(rest) {
            match c {
                Command::AddAcl(file, _) | Command::DelAcl(file, _) | Command::ClearAcl(file) => {
                    if let Some(kind) = AclKind::of_file(&fe.maps, file) {
                        o.acls.record(kind, c);
                    }
                }
                Command::AddMap(t, k, v) if t.version.is_none() => {
                    o.maps.added(kind(&t.file), k, v.as_str());
                }
                Command::SetMap(file, k, v) => o.maps.set(kind(file), k, v.as_str()),
                Command::DelMap(file, k) => o.maps.deleted(kind(file), k),
                _ => {}
            }
        }
    }
}

/// The map file a map command names.
fn map_file(command: &Command) -> Option<&FilePath> {
    match command {
        Command::AddMap(t, ..) => Some(&t.file),
        Command::SetMap(f, ..) | Command::DelMap(f, _) => Some(f),
        _ => None,
    }
}

/// Reads the servers of the backends in `scope` (and their sessions where servers are
/// being removed) and the certificates when in scope, into `cached`.
/// Returns false when a backend in scope could not be read (it may not exist): the caller
/// then observes everything.
async fn refresh(
    runtime: &RuntimeClient,
    desired: &Config,
    scope: &Scope,
    cached: &mut Observed,
    metrics: &Metrics,
) -> Result<bool, ApplyError> {
    // Backends HAProxy has; one not yet there needs a reload, which reads everything after.
    let backends: Vec<BackendName> = scope
        .backends
        .iter()
        .filter(|b| desired.backends.contains_key(*b) && cached.backends.contains(*b))
        .cloned()
        .collect();
    let cmds: Vec<Command> = backends
        .iter()
        .map(|b| Command::ShowServersState(Some(b.clone())))
        .collect();
    if !cmds.is_empty() {
        let mut replies = runtime
            .batch(&cmds)
            .await
            .map_err(haproxy::Error::from)?
            .into_iter();
        for be in &backends {
            match replies.next() {
                Some(Ok(Reply::ServersState(rows))) => {
                    let servers = rows
                        .iter()
                        .filter_map(|row| server_row(&row).map(|(_, srv, live)| (srv, live)))
                        .collect();
                    cached.servers.insert(be.clone(), servers);
                }
                _ => return Ok(false),
            }
        }
        metrics.observed("backend", backends.len() as u64);
    }
    observe_sessions(runtime, desired, Some(scope), cached).await?;
    if scope.tls {
        cached.tls = observe_tls(runtime, desired).await?;
    }
    Ok(true)
}

/// One row of `show servers state` as a live server, when its names are valid.
fn server_row(
    row: &haproxy::proto::parse::ServerState,
) -> Option<(BackendName, ServerName, LiveServer)> {
    let be = BackendName::new(row.backend.as_str()).ok()?;
    let srv = ServerName::new(row.server.as_str()).ok()?;
    Some((
        be,
        srv,
        LiveServer {
            addr: row.addr.map(|ip| SocketAddr::new(ip, row.port)),
            weight: row.weight,
            admin: row.admin,
            sessions: None,
        },
    ))
}

/// Observes everything HAProxy runs (the structure it loaded is the agent's knowledge,
/// passed in): backends, servers, route maps, certificates, and the sessions of servers
/// that are being removed.
pub async fn observe(
    runtime: &RuntimeClient,
    desired: &Config,
    loaded: Option<&Structure>,
) -> Result<Observed, ApplyError> {
    let mut observed = Observed {
        loaded_structure: loaded.map(|s| s.as_str().to_string()),
        ..Default::default()
    };
    let mut cmds = vec![Command::ShowBackend, Command::ShowServersState(None)];
    let maps = desired.frontends.first().map(|f| f.maps.clone());
    // The passthrough map is loaded only with passthrough on.
    let kinds: Vec<MapKind> = MapKind::ALL
        .into_iter()
        .filter(|k| *k != MapKind::Passthrough || desired.passthrough.is_some())
        .collect();
    if let Some(m) = &maps {
        for kind in &kinds {
            cmds.push(Command::ShowMap(MapTarget::live(
                kind.file(m).to_file_path(),
            )));
        }
        for kind in AclKind::ALL {
            cmds.push(Command::ShowAcl(kind.file(m)));
        }
        cmds.push(Command::ShowMap(MapTarget::live(m.settings.to_file_path())));
    }
    let gateway = haproxy::config::gateway::gateway_files(desired);
    for m in gateway
        .iter()
        .flat_map(|f| GatewayMap::ALL.map(|m| f.map(m).to_file_path()))
    {
        cmds.push(Command::ShowMap(MapTarget::live(m)));
    }
    let mut replies = runtime
        .batch(&cmds)
        .await
        .map_err(haproxy::Error::from)?
        .into_iter();
    if let Some(Ok(Reply::Backends(names))) = replies.next() {
        observed.backends = names
            .iter()
            .filter_map(|n| BackendName::new(n.as_str()).ok())
            .collect();
    }
    observed.servers = servers_listed(replies.next())?;
    // A map or ACL file the running config does not load (before an upgrade, no Lua yet)
    // reads as `None`: the structure differs anyway.
    for kind in kinds.into_iter().filter(|_| maps.is_some()) {
        if let Some(listed) = map_listed(replies.next())? {
            observed.maps.set_listed(kind, listed);
        }
    }
    for kind in AclKind::ALL.into_iter().filter(|_| maps.is_some()) {
        if let Some(listed) = acl_listed(replies.next())? {
            observed.acls.set_listed(kind, listed);
        }
    }
    if maps.is_some()
        && let Some(listed) = map_listed(replies.next())?
    {
        observed.settings.set_listed(listed);
    }
    for m in GatewayMap::ALL.into_iter().filter(|_| gateway.is_some()) {
        if let Some(listed) = map_listed(replies.next())? {
            observed.gateway.set_listed(m, listed);
        }
    }
    observe_sessions(runtime, desired, None, &mut observed).await?;
    observed.tls = observe_tls(runtime, desired).await?;
    Ok(observed)
}

/// The servers of a `show servers state` reply, by backend.
fn servers_listed(
    reply: Option<Result<Reply, ReplyError>>,
) -> Result<BTreeMap<BackendName, SortedMap<ServerName, LiveServer>>, ApplyError> {
    match reply {
        Some(Ok(Reply::ServersState(rows))) => {
            // HAProxy lists them backend by backend: each backend's vector in one exact
            // allocation (growing them by doubling left a megabyte of holes at 10,000).
            let rows = rows.iter().filter_map(|row| server_row(&row));
            Ok(SortedMap::grouped(rows))
        }
        Some(Err(e)) => Err(haproxy::Error::Reply(e).into()),
        other => Err(ApplyError::Diverged(format!(
            "show servers state gave {other:?}"
        ))),
    }
}

/// The patterns of a `show acl` reply; `None` for an ACL file the running config does not
/// load (refused, or no reply).
fn acl_listed(
    reply: Option<Result<Reply, ReplyError>>,
) -> Result<Option<impl Iterator<Item = String>>, ApplyError> {
    match reply {
        Some(Ok(Reply::AclEntries(entries))) => Ok(Some(entries.into_iter().map(|e| e.pattern))),
        Some(Err(ReplyError::Refused { .. })) | None => Ok(None),
        Some(other) => Err(ApplyError::Diverged(format!("show acl gave {other:?}"))),
    }
}

/// The (key, value) entries of a `show map` reply; `None` for a map the running config
/// does not load (refused, or no reply).
fn map_listed(
    reply: Option<Result<Reply, ReplyError>>,
) -> Result<Option<impl Iterator<Item = (String, String)>>, ApplyError> {
    match reply {
        Some(Ok(Reply::MapEntries(entries))) => {
            Ok(Some(entries.into_iter().map(|e| (e.key, e.value))))
        }
        Some(Err(ReplyError::Refused { .. })) | None => Ok(None),
        Some(other) => Err(ApplyError::Diverged(format!("show map gave {other:?}"))),
    }
}

/// Current sessions of servers that are about to be removed (present in HAProxy, absent
/// from the desired config, not yet in maintenance), in the backends of `scope` (all when
/// `None`).
async fn observe_sessions(
    runtime: &RuntimeClient,
    desired: &Config,
    scope: Option<&Scope>,
    observed: &mut Observed,
) -> Result<(), ApplyError> {
    let candidates: Box<dyn Iterator<Item = (&BackendName, &haproxy::config::Backend)>> =
        match scope {
            Some(s) if !s.all => Box::new(
                s.backends
                    .iter()
                    .filter_map(|b| desired.backends.get_key_value(b)),
            ),
            _ => Box::new(desired.backends.iter()),
        };
    let busy: Vec<BackendName> = candidates
        .filter(|(name, be)| {
            observed.servers.get(*name).is_some_and(|live| {
                live.iter()
                    .any(|(s, l)| !be.servers.contains_key(s) && !l.admin.is_maint())
            })
        })
        .map(|(name, _)| name.clone())
        .collect();
    if busy.is_empty() {
        return Ok(());
    }
    let cmds: Vec<Command> = busy.iter().cloned().map(Command::ShowStatServers).collect();
    let replies = runtime.batch(&cmds).await.map_err(haproxy::Error::from)?;
    for (be, reply) in busy.iter().zip(replies) {
        let Ok(Reply::Stat(rows)) = reply else {
            continue;
        };
        let Some(live) = observed.servers.get_mut(be) else {
            continue;
        };
        for row in rows {
            let Ok(name) = ServerName::new(row.service()) else {
                continue;
            };
            if let (Some(l), Some(scur)) = (live.get_mut(&name), row.number("scur")) {
                l.sessions = Some(scur.max(0) as u64);
            }
        }
    }
    Ok(())
}
