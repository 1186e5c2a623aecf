//! Incremental translation: the same result as [`super::translate_with`], redoing only what
//! the store's changes touch.
//!
//! Each Ingress of ours has a fragment (see `ingress.rs`) memoised on what it reads: the
//! Ingress, the Services it names and their EndpointSlices (through per-(namespace,
//! Service, port) resolutions), while Secrets are read by the TLS fold (each certificate
//! parsed once per Secret content). Reverse indexes (Service -> Ingresses, slice ->
//! Services, Secret -> Ingresses) say which fragments a change recomputes; an IngressClass
//! change recomputes everything (it may change which Ingresses are ours), and so does a
//! change log that does not reach back to the last translation. The route fold (routes and
//! their map entries, backend owners, the default backend) is kept current: only the
//! Ingresses whose fragment's shape (its routes, uses and recipes, not its servers) or age
//! changed are taken out and put back in (see `refold.rs`), and it is rebuilt whole only when
//! the hosts with TLS change. The TLS fold runs again when a Secret or an Ingress's
//! `spec.tls` changes. The changed backends are rebuilt from their owner's recipe and patched
//! into the kept config.
//!
//! The config is kept as an `Arc<Config>` and handed out as [`Translation::config`]. The
//! next call patches it in place with `Arc::make_mut`, which copies it only if the caller
//! still holds that `Arc`: drop the previous [`Translation`] (or at least its config) before
//! calling [`Incremental::translate`] again, and an endpoint change costs its backends, not
//! a clone of 10,000. A translation where nothing changed hands out the same `Arc`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use haproxy::BackendName;
use haproxy::config::{Backend, Config, TlsCert};
use haproxy::names::SniFilter;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::IngressTLS;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::annotations::client_cert::{self, ClientCertRequest};
use super::ingress::{self, Fragment};
use super::refold::{Rank, Refold, Work};
use super::resolutions::Resolutions;
use super::tls::{self, CertMemory};
use super::{
    Changed, Settings, Translation, base_config, class, default_backend, gateway, tls_files,
};
use crate::problem::Problem;
use crate::store::{Changes, Kind, ObjectKey, Snapshot, StoredIngress};
use crate::translate::gateway::Statuses;
use haproxy::config::gateway::HostPattern;

/// Translates snapshot after snapshot of one store, redoing only what changed.
#[derive(Debug)]
pub struct Incremental {
    settings: Settings,
    /// The certificates in use (those of the last translation).
    certs: CertMemory,
    /// The generation last translated; `None` before the first translation (or after one
    /// that failed): the next one redoes everything.
    seen: Option<(u64, u64)>,
    /// The config last handed out.
    config: Option<Arc<Config>>,
    /// Our Ingresses.
    /// Boxed: an entry is ~750 bytes, and a map's node holds room for eleven, most of it
    /// empty (at 10,000 Ingresses that was ~6 MB of empty slots).
    entries: BTreeMap<ObjectKey, Box<Entry>>,
    /// Their precedence: oldest first, then by key.
    order: BTreeSet<(Option<Time>, ObjectKey)>,
    resolutions: Resolutions,
    /// Service -> the Ingresses whose fragments read it.
    service_readers: Readers,
    /// Secret -> the Ingresses naming it in `spec.tls`.
    secret_readers: Readers,
    /// Secret -> the Ingresses whose auth-secret or proxy-ssl-secret names it (their
    /// fragments read it).
    fragment_secret_readers: Readers,
    /// The fragments' problems, counted (two Ingresses may report the same slice).
    fragment_problems: BTreeMap<Problem, usize>,
    /// The route fold: backend owners, default backend, routes and their map entries.
    refold: Refold,
    /// The last TLS fold's hosts and problems.
    tls_hosts: BTreeSet<SniFilter>,
    tls_problems: Vec<Problem>,
    /// The backend `--default-backend-service` added last time.
    service_backend: Option<BackendName>,
    certs_parsed: CertCache,
    /// The global ConfigMap's settings, read again when it changes (everything is redone).
    global: super::configmap::MapSettings,
    /// The TCP services' problems (read again at every step).
    tcp_problems: Vec<Problem>,
    /// The Gateway API part, read again whole when a Gateway API object, or a Service,
    /// slice or Secret it reads, changes.
    gateway: gateway::Draft,
    /// The Ingress hosts it last met, and the problems of that meeting.
    gateway_met: (BTreeSet<HostPattern>, Vec<Problem>),
    /// The statuses last handed out.
    gateway_status: Arc<Statuses>,
    /// How many times the Gateway part was read (tests check what a change redoes).
    #[cfg(test)]
    gateway_builds: usize,
}

/// One Ingress of ours.
#[derive(Debug)]
struct Entry {
    ingress: Arc<StoredIngress>,
    created: Option<Time>,
    fragment: Fragment,
    /// The Secrets its `spec.tls` names.
    secrets: BTreeSet<ObjectKey>,
}

/// An Ingress whose fragment's shape or age changed: its old fragment and rank, and its new
/// rank (the new fragment is in the entries).
#[derive(Debug)]
struct Moved {
    /// Boxed: a fragment is large, and a first translation moves every Ingress (with no
    /// old fragment: an unboxed one took ~14 MB of vector at 10,000 Ingresses).
    old: Option<Box<(Rank, Fragment)>>,
    new: Option<Rank>,
}

/// What one translation has to redo.
#[derive(Debug, Default)]
struct Step {
    /// Ingresses whose fragments are recomputed.
    dirty: BTreeSet<ObjectKey>,
    /// Services that may have lost their last reader.
    unread: BTreeSet<ObjectKey>,
    /// Backends to rebuild and compare.
    backends: BTreeSet<BackendName>,
    /// Ingresses to take out of the route fold and put back in.
    moved: Vec<Moved>,
    /// The route fold is rebuilt whole.
    routes: bool,
    /// The TLS fold runs again.
    tls: bool,
    /// Ingresses whose address lists changed.
    lists: BTreeSet<ObjectKey>,
    /// Some Ingress's basic-authentication user list changed.
    auth: bool,
    /// The Gateway API part is read again.
    gateway: bool,
}

impl Incremental {
    /// A translator for `settings`, starting from the certificates `certs` (those a previous
    /// run left, see [`crate::certs::remembered_on_disk`]). Settings are fixed: when they
    /// change, make a new one.
    pub fn new(settings: Settings, certs: CertMemory) -> Self {
        Self {
            settings,
            certs,
            seen: None,
            config: None,
            entries: BTreeMap::new(),
            order: BTreeSet::new(),
            resolutions: Resolutions::default(),
            service_readers: BTreeMap::new(),
            secret_readers: BTreeMap::new(),
            fragment_secret_readers: BTreeMap::new(),
            fragment_problems: BTreeMap::new(),
            refold: Refold::default(),
            tls_hosts: BTreeSet::new(),
            tls_problems: Vec::new(),
            service_backend: None,
            global: Default::default(),
            tcp_problems: Vec::new(),
            certs_parsed: CertCache::default(),
            gateway: gateway::Draft::default(),
            gateway_met: Default::default(),
            gateway_status: Default::default(),
            #[cfg(test)]
            gateway_builds: 0,
        }
    }

    /// The config of the last successful translation, if any. Borrow it; do not keep a
    /// clone of the `Arc` across translations (see the module docs).
    pub fn config(&self) -> Option<&Config> {
        self.config.as_deref()
    }

    /// Translates `snapshot`, a later snapshot of the same store as the previous call's (an
    /// earlier or foreign one is translated in full). Equal to
    /// [`super::translate_with`]`(snapshot, settings, previous certs)`, with
    /// [`Translation::changed`] relative to the previous call's result.
    pub fn translate(&mut self, snapshot: &Snapshot) -> Result<Translation, super::BadSetting> {
        let mut step = Step::default();
        let changes = match self.seen.take() {
            Some((store, g)) if store == snapshot.store_id() => Some(snapshot.changes_since(g)),
            Some(_) => Some(Changes::Everything),
            None => None,
        };
        let (mut config, incremental) = match (self.config.take(), changes) {
            (Some(config), Some(Changes::Some(changed)))
                if self.invalidate(snapshot, &changed, &mut step) =>
            {
                (config, true)
            }
            _ => {
                self.global = super::configmap::read(snapshot, &self.settings);
                let config = Arc::new(base_config(&self.settings, &self.global)?);
                self.reset(snapshot, &mut step);
                (config, false)
            }
        };
        let config = &mut config;
        let mut changed = Changed {
            map_keys: Some(BTreeSet::new()),
            ..Changed::default()
        };
        for key in std::mem::take(&mut step.dirty) {
            self.refresh(snapshot, &key, &mut step);
        }
        for key in std::mem::take(&mut step.lists) {
            let lists = self
                .entries
                .get(&key)
                .and_then(|e| e.fragment.source_lists.clone());
            let id = ingress::list_id(&key);
            if config.source_lists.get(&id) != lists.as_ref() {
                let all = &mut Arc::make_mut(config).source_lists;
                match lists {
                    Some(l) => all.insert(id, l),
                    None => all.remove(&id),
                };
                changed.acls = true;
            }
        }
        if step.auth {
            let mut auth = BTreeMap::new();
            for (_, e) in self.ordered() {
                if let Some((id, a)) = &e.fragment.auth {
                    auth.entry(id.clone()).or_insert_with(|| a.clone());
                }
            }
            if config.auth != auth {
                Arc::make_mut(config).auth = auth;
                // A frontend change, as a new default backend is: the plan compares the
                // head and reloads (reason `userlists`).
                changed.routes = true;
            }
        }
        if step.gateway {
            self.rebuild_gateway(snapshot, &mut step);
        }
        for service in std::mem::take(&mut step.unread) {
            let read = self.service_readers.contains_key(&service)
                || self.gateway.services.contains(&service)
                || self.settings.default_backend_service.as_ref() == Some(&service);
            if !read {
                self.resolutions.forget(&service);
            }
        }
        if step.tls {
            self.fold_tls(snapshot, config, &mut step, &mut changed)?;
        }
        if step.routes {
            self.rebuild_routes(config, &mut changed);
        } else {
            self.update_routes(config, std::mem::take(&mut step.moved), &mut changed);
        }
        self.meet_gateway(config, step.gateway, &mut changed);
        let built_default = self
            .refold
            .default_owner()
            .and_then(|k| self.entries.get(k))
            .and_then(|e| e.fragment.default_backend.clone());
        let mut default_problems = Vec::new();
        let (default, service_backend) = default_backend(
            built_default,
            snapshot,
            &self.settings,
            &mut self.resolutions,
            &mut default_problems,
        );
        if config.frontends[0].default_backend != default {
            Arc::make_mut(config).frontends[0].default_backend = default;
            changed.routes = true;
        }
        // The backend it added last time, and the one it adds now.
        step.backends.extend(self.service_backend.take());
        self.service_backend = service_backend.as_ref().map(|b| b.name.clone());
        step.backends.extend(self.service_backend.clone());
        self.patch_backends(
            snapshot,
            config,
            &step.backends,
            service_backend,
            &mut changed,
        );
        if let Some(key) = &self.settings.tcp_services {
            // Few entries: read again at every step, so a Service, slice or ConfigMap
            // change of theirs is never missed; after the Gateway part, whose older
            // Gateways' binds they give way to.
            let mut tcp = super::tcp_services::read(snapshot, &self.settings);
            gateway::yield_to_gateways(&mut tcp, key, &config.gateway.binds);
            self.tcp_problems = super::tcp_services::patch(config, tcp, &mut changed);
        }
        if !changed.routes {
            changed.map_keys = None;
        }
        let mut problems: Vec<Problem> = self.fragment_problems.keys().cloned().collect();
        problems.extend(self.refold.problems().cloned());
        problems.extend(self.tls_problems.iter().cloned());
        problems.extend(default_problems);
        problems.extend(self.global.problems.iter().cloned());
        problems.extend(self.tcp_problems.iter().cloned());
        problems.extend(self.gateway.problems.iter().cloned());
        problems.extend(self.gateway_met.1.iter().cloned());
        problems.extend(super::udp_services::read(snapshot, &self.settings));
        problems.extend(super::passthrough::conflicts(
            self.ordered().map(|(k, e)| (k, &e.fragment.routes)),
            &self.settings,
        ));
        problems.sort();
        problems.dedup();
        self.seen = Some((snapshot.store_id(), snapshot.generation));
        self.config = Some(config.clone());
        Ok(Translation {
            config: config.clone(),
            maps: self.refold.entries().clone(),
            problems,
            gateway_status: self.gateway_status.clone(),
            certs: self.certs.clone(),
            changed: if incremental {
                changed
            } else {
                Changed::everything()
            },
        })
    }

    /// Marks what `changed` touches; false when everything must be redone.
    fn invalidate(
        &mut self,
        snapshot: &Snapshot,
        changed: &BTreeSet<(Kind, ObjectKey)>,
        step: &mut Step,
    ) -> bool {
        for (kind, key) in changed {
            match kind {
                // Which Ingresses are ours may change.
                Kind::IngressClass => return false,
                // Every fragment and the global settings may change.
                Kind::ConfigMap if self.settings.configmap.as_ref() == Some(key) => return false,
                // Its ports may refuse a Gateway listener's own bind.
                Kind::ConfigMap if self.settings.tcp_services.as_ref() == Some(key) => {
                    step.gateway = true;
                }
                Kind::ConfigMap => {}
                Kind::Ingress => {
                    step.dirty.insert(key.clone());
                }
                // A Namespace's labels decide which listeners admit its routes.
                Kind::GatewayClass
                | Kind::Gateway
                | Kind::HttpRoute
                | Kind::ReferenceGrant
                | Kind::Namespace => {
                    step.gateway = true;
                }
                Kind::Service => {
                    self.forget_service(key, step);
                    step.gateway |= self.gateway.services.contains(key);
                }
                Kind::EndpointSlice => {
                    // The Services whose resolutions read it, and the one it is labelled
                    // with now (it may have moved).
                    let services: BTreeSet<ObjectKey> = self
                        .resolutions
                        .readers_of_slice(key)
                        .cloned()
                        .chain(snapshot.service_of_slice(key))
                        .collect();
                    for s in &services {
                        self.forget_service(s, step);
                        step.gateway |= self.gateway.services.contains(s);
                    }
                }
                Kind::Secret => {
                    step.gateway |= self.gateway.secrets.contains(key);
                    if let Some(readers) = self.fragment_secret_readers.get(key) {
                        step.dirty.extend(readers.iter().cloned());
                    }
                    if self.secret_readers.contains_key(key)
                        || self.settings.default_ssl_certificate.as_ref() == Some(key)
                    {
                        step.tls = true;
                    }
                }
            }
        }
        true
    }

    fn forget_service(&mut self, service: &ObjectKey, step: &mut Step) {
        self.resolutions.forget(service);
        if let Some(readers) = self.service_readers.get(service) {
            step.dirty.extend(readers.iter().cloned());
        }
    }

    /// Forgets everything: every Ingress is read again and both folds run.
    fn reset(&mut self, snapshot: &Snapshot, step: &mut Step) {
        self.entries.clear();
        self.order.clear();
        self.resolutions = Resolutions::default();
        self.service_readers.clear();
        self.secret_readers.clear();
        self.fragment_secret_readers.clear();
        self.fragment_problems.clear();
        self.service_backend = None;
        step.dirty = snapshot.ingresses.keys().cloned().collect();
        step.routes = true;
        step.tls = true;
        step.gateway = true;
    }

    /// Reads Ingress `key` again (dropping it when it is gone or not ours).
    fn refresh(&mut self, snapshot: &Snapshot, key: &ObjectKey, step: &mut Step) {
        let old = self.entries.remove(key);
        if let Some(e) = &old {
            self.unindex(key, e, step);
        }
        let new = snapshot
            .ingresses
            .get(key)
            .filter(|ing| self.is_ours(snapshot, key, ing))
            .map(|ing| {
                Box::new(Entry {
                    ingress: ing.clone(),
                    created: ing.metadata.creation_timestamp.clone(),
                    fragment: ingress::fragment(
                        key,
                        ing,
                        snapshot,
                        &self.settings,
                        &mut self.resolutions,
                        &self.global,
                    ),
                    secrets: tls_secrets(key, ing),
                })
            });
        let reshaped = match (&old, &new) {
            (None, None) => false,
            (Some(o), Some(n)) => o.created != n.created || !o.fragment.same_shape(&n.fragment),
            _ => true,
        };
        let (old_tls, new_tls) = (tls_spec(old.as_deref()), tls_spec(new.as_deref()));
        let moved = old.as_ref().map(|e| &e.created) != new.as_ref().map(|e| &e.created);
        step.tls |= old_tls != new_tls || (moved && (old_tls.is_some() || new_tls.is_some()));
        step.tls |= new_tls.is_some()
            && (client_cert_of(old.as_deref()) != client_cert_of(new.as_deref())
                || passes_through(old.as_deref()) != passes_through(new.as_deref()));
        for e in old.iter().chain(&new) {
            step.backends
                .extend(e.fragment.recipes.iter().map(|(n, _)| n.clone()));
        }
        let lists =
            |e: &Option<Box<Entry>>| e.as_ref().and_then(|e| e.fragment.source_lists.clone());
        if lists(&old) != lists(&new) {
            step.lists.insert(key.clone());
        }
        let auth = |e: &Option<Box<Entry>>| e.as_ref().and_then(|e| e.fragment.auth.clone());
        step.auth |= auth(&old) != auth(&new);
        let rank = |e: &Entry| (e.created.clone(), key.clone());
        if reshaped {
            step.moved.push(Moved {
                new: new.as_deref().map(rank),
                old: old.map(|e| Box::new((rank(&e), e.fragment))),
            });
        }
        if let Some(e) = new {
            self.index(key, &e);
            self.entries.insert(key.clone(), e);
        }
    }

    fn is_ours(&self, snapshot: &Snapshot, key: &ObjectKey, ing: &StoredIngress) -> bool {
        self.settings
            .watch_namespace
            .as_ref()
            .is_none_or(|ns| *ns == key.namespace)
            && class::is_ours(ing, &snapshot.ingress_classes, &self.settings.ingress_class)
    }

    fn index(&mut self, key: &ObjectKey, e: &Entry) {
        self.order.insert((e.created.clone(), key.clone()));
        for s in &e.fragment.services {
            link(&mut self.service_readers, s, key);
        }
        for s in &e.secrets {
            link(&mut self.secret_readers, s, key);
        }
        for s in &e.fragment.read_secrets {
            link(&mut self.fragment_secret_readers, s, key);
        }
        for p in &e.fragment.problems {
            *self.fragment_problems.entry(p.clone()).or_default() += 1;
        }
    }

    fn unindex(&mut self, key: &ObjectKey, e: &Entry, step: &mut Step) {
        self.order.remove(&(e.created.clone(), key.clone()));
        for s in &e.fragment.services {
            if unlink(&mut self.service_readers, s, key) {
                step.unread.insert(s.clone());
            }
        }
        for s in &e.secrets {
            unlink(&mut self.secret_readers, s, key);
        }
        for s in &e.fragment.read_secrets {
            unlink(&mut self.fragment_secret_readers, s, key);
        }
        for p in &e.fragment.problems {
            if let Some(n) = self.fragment_problems.get_mut(p) {
                *n -= 1;
                if *n == 0 {
                    self.fragment_problems.remove(p);
                }
            }
        }
    }

    /// Our Ingresses, oldest first.
    fn ordered(&self) -> impl Iterator<Item = (&ObjectKey, &Entry)> {
        self.order
            .iter()
            .filter_map(|(_, k)| self.entries.get_key_value(k))
            .map(|(k, e)| (k, &**e))
    }

    /// Runs the TLS fold again: certificates, crt-list, HTTPS bind, hosts with TLS.
    fn fold_tls(
        &mut self,
        snapshot: &Snapshot,
        config: &mut Arc<Config>,
        step: &mut Step,
        changed: &mut Changed,
    ) -> Result<(), super::BadSetting> {
        let mut problems = Vec::new();
        let mut cache = std::mem::take(&mut self.certs_parsed);
        let mut read = |s: &ObjectKey| cache.read(snapshot, s);
        let ingresses = self.ordered().map(|(k, e)| (k, e.ingress.as_ref()));
        let mut built = tls::collect(
            ingresses,
            &self.settings,
            &self.certs,
            &mut read,
            snapshot,
            &mut problems,
        );
        gateway::add_certs(
            &self.gateway,
            &built.hosts,
            &self.settings.config_dir,
            &mut built.files,
            &mut problems,
        );
        let (bind, files) = tls_files(
            built.wanted || self.gateway.https,
            built.files,
            &self.settings,
            &mut read,
            &mut problems,
        )?;
        cache.retain(|s| {
            self.secret_readers.contains_key(s)
                || self.gateway.secrets.contains(s)
                || self.settings.default_ssl_certificate.as_ref() == Some(s)
        });
        self.certs_parsed = cache;
        self.certs = built.memory;
        self.tls_problems = problems;
        if built.hosts != self.tls_hosts {
            self.tls_hosts = built.hosts;
            step.routes = true;
        }
        if config.frontends[0].tls != bind || config.tls != files {
            let config = Arc::make_mut(config);
            config.frontends[0].tls = bind;
            config.tls = files;
            changed.tls = true;
        }
        Ok(())
    }

    /// Rebuilds the route fold from every Ingress: routes, their map entries, backend
    /// owners, the default backend.
    fn rebuild_routes(&mut self, config: &mut Arc<Config>, changed: &mut Changed) {
        let mut refold = Refold::default();
        let mut routes = Vec::new();
        let mut work = Work::default();
        for (key, e) in self.ordered() {
            let rank = (e.created.clone(), key.clone());
            refold.claim(&rank, &e.fragment, &mut work);
            refold.place_routes(&rank, &e.fragment, &self.tls_hosts, &mut routes, &mut work);
        }
        let entries = &self.entries;
        refold.settle(work, |k| entries.get(k).map(|e| &e.fragment));
        set_canary_names(config, &refold);
        self.refold = refold;
        changed.map_keys = None;
        if config.routes != routes {
            Arc::make_mut(config).routes = routes;
            changed.routes = true;
        }
    }

    /// Takes the Ingresses `moved` out of the route fold and puts them back in at their new
    /// rank; a route change costs its own map keys (and the conflicts at them).
    fn update_routes(
        &mut self,
        config: &mut Arc<Config>,
        moved: Vec<Moved>,
        changed: &mut Changed,
    ) {
        if moved.is_empty() {
            return;
        }
        let mut work = Work::default();
        let (refold, entries) = (&mut self.refold, &self.entries);
        for m in &moved {
            let new = m
                .new
                .as_ref()
                .and_then(|r| Some((r, &entries.get(&r.1)?.fragment)));
            let same_routes = match (m.old.as_deref(), new) {
                (Some((old_rank, old)), Some((new_rank, new))) => {
                    old_rank == new_rank && old.routes == new.routes
                }
                _ => false,
            };
            if let Some((rank, f)) = m.old.as_deref() {
                refold.unclaim(rank, f, &mut work);
                if !same_routes && !f.routes.is_empty() {
                    refold.take_routes(rank, &mut Arc::make_mut(config).routes, &mut work);
                    changed.routes = true;
                }
            }
            if let Some((rank, f)) = new {
                refold.claim(rank, f, &mut work);
                if !same_routes && !f.routes.is_empty() {
                    let routes = &mut Arc::make_mut(config).routes;
                    refold.place_routes(rank, f, &self.tls_hosts, routes, &mut work);
                    changed.routes = true;
                }
            }
        }
        let keys = refold.settle(work, |k| entries.get(k).map(|e| &e.fragment));
        set_canary_names(config, refold);
        if let Some(all) = &mut changed.map_keys {
            all.extend(keys);
        }
    }

    /// Reads the Gateway API part again: its backends are rebuilt, the Services it no
    /// longer reads may be forgotten, and its certificates folded again when they changed.
    fn rebuild_gateway(&mut self, snapshot: &Snapshot, step: &mut Step) {
        let mut cache = std::mem::take(&mut self.certs_parsed);
        let mut read = |s: &ObjectKey| cache.read(snapshot, s);
        let new = gateway::build(snapshot, &self.settings, &mut self.resolutions, &mut read);
        self.certs_parsed = cache;
        let old = std::mem::replace(&mut self.gateway, new);
        #[cfg(test)]
        {
            self.gateway_builds += 1;
        }
        step.backends.extend(old.recipes.keys().cloned());
        step.backends.extend(self.gateway.recipes.keys().cloned());
        step.unread
            .extend(old.services.difference(&self.gateway.services).cloned());
        if old.tls_part() != self.gateway.tls_part() {
            step.tls = true;
        }
        if *self.gateway_status != self.gateway.statuses {
            self.gateway_status = Arc::new(self.gateway.statuses.clone());
        }
    }

    /// Meets the Gateway part with the Ingress hosts when either changed: `config.gateway`.
    fn meet_gateway(&mut self, config: &mut Arc<Config>, rebuilt: bool, changed: &mut Changed) {
        if !rebuilt && !changed.routes {
            return;
        }
        let hosts = if self.gateway.is_empty() {
            BTreeSet::new()
        } else {
            gateway::ingress_hosts(&config.routes)
        };
        if !rebuilt && hosts == self.gateway_met.0 {
            return;
        }
        let (routes, problems) = self.gateway.finish_with(&hosts);
        self.gateway_met = (hosts, problems);
        if config.gateway != routes {
            Arc::make_mut(config).gateway = routes;
            changed.gateway = true;
        }
    }

    /// Rebuilds `names` from their owners' recipes (or `--default-backend-service`) and
    /// puts those that differ into the config.
    fn patch_backends(
        &mut self,
        snapshot: &Snapshot,
        config: &mut Arc<Config>,
        names: &BTreeSet<BackendName>,
        service_backend: Option<Backend>,
        changed: &mut Changed,
    ) {
        let mut service_backend = service_backend;
        for name in names {
            // As the full translation: the owning Ingress's, else the default Service's,
            // else the Gateway routes'.
            let desired = self
                .refold
                .owner(name)
                .and_then(|owner| self.entries.get(owner))
                .and_then(|e| e.fragment.backend(name, snapshot, &mut self.resolutions))
                .or_else(|| service_backend.take_if(|b| b.name == *name))
                .or_else(|| self.gateway.backend(name, snapshot, &mut self.resolutions));
            if config.backends.get(name) == desired.as_ref() {
                continue;
            }
            let config = Arc::make_mut(config);
            match desired {
                Some(b) => config.insert_backend(b),
                None => drop(config.backends.remove(name)),
            }
            changed.backends.insert(name.clone());
        }
    }
}

/// Removes `key` from the readers of `of`; true when `of` has no reader left.
/// Object -> the Ingresses that read it, sorted, each once. Vectors: almost always one
/// reader, where a set's smallest node holds eleven (at 10,000 Services that was ~5 MB of
/// empty slots).
type Readers = BTreeMap<ObjectKey, Vec<ObjectKey>>;

/// Records that Ingress `key` reads `of`.
fn link(readers: &mut Readers, of: &ObjectKey, key: &ObjectKey) {
    let set = readers
        .entry(of.clone())
        .or_insert_with(|| Vec::with_capacity(1));
    if let Err(i) = set.binary_search(key) {
        set.reserve_exact(1);
        set.insert(i, key.clone());
    }
}

/// Forgets that Ingress `key` reads `of`; true when `of` has no reader left.
fn unlink(readers: &mut Readers, of: &ObjectKey, key: &ObjectKey) -> bool {
    let Some(set) = readers.get_mut(of) else {
        return false;
    };
    if let Ok(i) = set.binary_search(key) {
        set.remove(i);
    }
    if set.is_empty() {
        readers.remove(of);
        return true;
    }
    false
}

/// An Ingress's `spec.tls`, when it has entries.
fn tls_spec(e: Option<&Entry>) -> Option<&Vec<IngressTLS>> {
    e?.ingress
        .spec
        .as_ref()?
        .tls
        .as_ref()
        .filter(|t| !t.is_empty())
}

/// What an Ingress's auth-tls annotations ask of its hosts.
fn client_cert_of(e: Option<&Entry>) -> Option<ClientCertRequest> {
    e.map(|e| client_cert::request(e.ingress.metadata.annotations.as_ref()))
}

/// Whether an Ingress asks for ssl-passthrough (its `spec.tls` then adds no certificate).
fn passes_through(e: Option<&Entry>) -> bool {
    e.is_some_and(|e| super::annotations::passes_through(e.ingress.metadata.annotations.as_ref()))
}

/// The Secrets an Ingress's `spec.tls` and auth-tls-secret name (valid names or not:
/// over-reading is safe).
fn tls_secrets(key: &ObjectKey, ing: &StoredIngress) -> BTreeSet<ObjectKey> {
    let tls = ing.spec.as_ref().and_then(|s| s.tls.as_ref());
    let auth = client_cert::request(ing.metadata.annotations.as_ref())
        .secret
        .map(|r| super::client_ca::secret_key(&r, &key.namespace));
    tls.into_iter()
        .flatten()
        .filter_map(|t| t.secret_name.as_deref())
        .filter(|n| !n.is_empty())
        .map(|n| ObjectKey::new(&key.namespace, n))
        .chain(auth)
        .collect()
}

/// Certificates of Secrets, each parsed once per Secret content.
#[derive(Debug, Default)]
struct CertCache {
    parsed: BTreeMap<ObjectKey, (Arc<Secret>, Result<TlsCert, String>)>,
}

impl CertCache {
    fn read(&mut self, snapshot: &Snapshot, key: &ObjectKey) -> Result<TlsCert, String> {
        let Some(secret) = snapshot.secrets.get(key) else {
            self.parsed.remove(key);
            return tls::read_secret(snapshot, key);
        };
        if let Some((seen, result)) = self.parsed.get(key)
            && (Arc::ptr_eq(seen, secret) || **seen == **secret)
        {
            return result.clone();
        }
        let result = tls::read_secret(snapshot, key);
        self.parsed
            .insert(key.clone(), (secret.clone(), result.clone()));
        result
    }

    fn retain(&mut self, mut keep: impl FnMut(&ObjectKey) -> bool) {
        self.parsed.retain(|k, _| keep(k));
    }
}

/// The frontend reads the header and cookie names of the canary routes: a name new to it
/// is a rule of its own (a reload; the frontend's section changes).
fn set_canary_names(config: &mut Arc<Config>, refold: &Refold) {
    let names = refold.canary_names();
    if config.frontends[0].canary_names != names {
        Arc::make_mut(config).frontends[0].canary_names = names;
    }
}

#[cfg(test)]
mod tests;
