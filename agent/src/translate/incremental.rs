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
use haproxy::config::Config;
use haproxy::names::SniFilter;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::ingress::{self, Fragment};
use super::refold::{Rank, Refold};
use super::resolutions::Resolutions;
use super::tls::CertMemory;
use super::{Changed, Settings, Translation, base_config, default_backend, gateway};
use crate::problem::Problem;
use crate::store::{Changes, ObjectKey, Snapshot, StoredIngress};
use crate::translate::gateway::Statuses;
use haproxy::config::gateway::HostPattern;

mod folds;
mod index;

use folds::CertCache;
use index::Readers;
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
        self.fold_lists(config, std::mem::take(&mut step.lists), &mut changed);
        if step.auth {
            self.fold_auth(config, &mut changed);
        }
        if step.gateway {
            self.rebuild_gateway(snapshot, &mut step);
        }
        self.forget_unread(std::mem::take(&mut step.unread));
        if step.tls {
            self.fold_tls(snapshot, config, &mut step, &mut changed)?;
        }
        if step.routes {
            self.rebuild_routes(config, &mut changed);
        } else {
            self.update_routes(config, std::mem::take(&mut step.moved), &mut changed);
        }
        self.meet_gateway(config, step.gateway, &mut changed);
        let default_problems = self.patch_default(snapshot, config, &mut step, &mut changed);
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
        let problems = self.problems(snapshot, default_problems);
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
}

/// The steps of [`Incremental::translate`] after the dirty Ingresses are read again.
impl Incremental {
    /// The client address lists of the Ingresses in `lists`, into `config`.
    fn fold_lists(
        &self,
        config: &mut Arc<Config>,
        lists: BTreeSet<ObjectKey>,
        changed: &mut Changed,
    ) {
        for key in lists {
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
    }

    /// The user lists of basic authentication, the oldest Ingress's first for each id.
    fn fold_auth(&self, config: &mut Arc<Config>, changed: &mut Changed) {
        let mut auth = BTreeMap::new();
        for (_, e) in self.ordered() {
            if let Some((id, a)) = &e.fragment.auth {
                auth.entry(id.clone()).or_insert_with(|| a.clone());
            }
        }
        if config.auth != auth {
            Arc::make_mut(config).auth = auth;
            // A frontend change, as a new default backend is: the plan compares the head
            // and reloads (reason `userlists`).
            changed.routes = true;
        }
    }

    /// Forgets the resolutions of the Services in `unread` that nothing reads any more.
    fn forget_unread(&mut self, unread: BTreeSet<ObjectKey>) {
        for service in unread {
            let read = self.service_readers.contains_key(&service)
                || self.gateway.services.contains(&service)
                || self.settings.default_backend_service.as_ref() == Some(&service);
            if !read {
                self.resolutions.forget(&service);
            }
        }
    }

    /// The frontend's default backend (an Ingress's, or the flag's Service), and every
    /// backend of `step` patched into `config`. Returns the default backend's problems.
    fn patch_default(
        &mut self,
        snapshot: &Snapshot,
        config: &mut Arc<Config>,
        step: &mut Step,
        changed: &mut Changed,
    ) -> Vec<Problem> {
        let built_default = self
            .refold
            .default_owner()
            .and_then(|k| self.entries.get(k))
            .and_then(|e| e.fragment.default_backend.clone());
        let mut problems = Vec::new();
        let (default, service_backend) = default_backend(
            built_default,
            snapshot,
            &self.settings,
            &mut self.resolutions,
            &mut problems,
        );
        if config.frontends[0].default_backend != default {
            Arc::make_mut(config).frontends[0].default_backend = default;
            changed.routes = true;
        }
        // The backend it added last time, and the one it adds now.
        step.backends.extend(self.service_backend.take());
        self.service_backend = service_backend.as_ref().map(|b| b.name.clone());
        step.backends.extend(self.service_backend.clone());
        self.patch_backends(snapshot, config, &step.backends, service_backend, changed);
        problems
    }

    /// Every problem of this translation, sorted and without duplicates.
    fn problems(&self, snapshot: &Snapshot, default_problems: Vec<Problem>) -> Vec<Problem> {
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
        problems
    }
}

#[cfg(test)]
mod tests;
