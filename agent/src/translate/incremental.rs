//! Incremental translation: the same result as [`super::translate_with`], redoing only what
//! the store's changes touch.
//!
//! Each Ingress of ours has a fragment (see `ingress.rs`) memoised on what it reads: the
//! Ingress, the Services it names and their EndpointSlices (through per-(namespace,
//! Service, port) resolutions), while Secrets are read by the TLS fold (each certificate
//! parsed once per Secret content). Reverse indexes (Service -> Ingresses, slice ->
//! Services, Secret -> Ingresses) say which fragments a change recomputes; an IngressClass
//! change recomputes everything (it may change which Ingresses are ours), and so does a
//! change log that does not reach back to the last translation. The precedence folds (routes
//! and backend owners, TLS claims) run again only when a recomputed fragment's shape (its
//! routes, uses and recipes, not its servers) changed; otherwise the changed backends are
//! rebuilt from their owner's recipe and patched into the kept config.
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
use k8s_openapi::api::networking::v1::{Ingress, IngressTLS};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::ingress::{self, Fragment};
use super::resolutions::Resolutions;
use super::tls::{self, CertMemory};
use super::{Changed, Settings, Translation, base_config, class, default_backend, fold, tls_files};
use crate::problem::Problem;
use crate::store::{Changes, Kind, ObjectKey, Snapshot};

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
    entries: BTreeMap<ObjectKey, Entry>,
    /// Their precedence: oldest first, then by key.
    order: BTreeSet<(Option<Time>, ObjectKey)>,
    resolutions: Resolutions,
    /// Service -> the Ingresses whose fragments read it.
    service_readers: BTreeMap<ObjectKey, BTreeSet<ObjectKey>>,
    /// Secret -> the Ingresses naming it in `spec.tls`.
    secret_readers: BTreeMap<ObjectKey, BTreeSet<ObjectKey>>,
    /// The fragments' problems, counted (two Ingresses may report the same slice).
    fragment_problems: BTreeMap<Problem, usize>,
    /// The last route fold's backend owners, default backend and problems.
    owners: BTreeMap<BackendName, ObjectKey>,
    built_default: Option<BackendName>,
    fold_problems: Vec<Problem>,
    /// The last TLS fold's hosts and problems.
    tls_hosts: BTreeSet<SniFilter>,
    tls_problems: Vec<Problem>,
    /// The backend `--default-backend-service` added last time.
    service_backend: Option<BackendName>,
    certs_parsed: CertCache,
}

/// One Ingress of ours.
#[derive(Debug)]
struct Entry {
    ingress: Arc<Ingress>,
    created: Option<Time>,
    fragment: Fragment,
    /// The Secrets its `spec.tls` names.
    secrets: BTreeSet<ObjectKey>,
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
    /// The route fold runs again.
    routes: bool,
    /// The TLS fold runs again.
    tls: bool,
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
            fragment_problems: BTreeMap::new(),
            owners: BTreeMap::new(),
            built_default: None,
            fold_problems: Vec::new(),
            tls_hosts: BTreeSet::new(),
            tls_problems: Vec::new(),
            service_backend: None,
            certs_parsed: CertCache::default(),
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
    pub fn translate(&mut self, snapshot: &Snapshot) -> Result<Translation, String> {
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
                let config = Arc::new(base_config(&self.settings)?);
                self.reset(snapshot, &mut step);
                (config, false)
            }
        };
        let config = &mut config;
        let mut changed = Changed::default();
        for key in std::mem::take(&mut step.dirty) {
            self.refresh(snapshot, &key, &mut step);
        }
        for service in std::mem::take(&mut step.unread) {
            let read = self.service_readers.contains_key(&service)
                || self.settings.default_backend_service.as_ref() == Some(&service);
            if !read {
                self.resolutions.forget(&service);
            }
        }
        if step.tls {
            self.fold_tls(snapshot, config, &mut step, &mut changed)?;
        }
        if step.routes {
            self.fold_routes(config, &mut changed);
        }
        let mut default_problems = Vec::new();
        let (default, service_backend) = default_backend(
            self.built_default.clone(),
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
        let mut problems: Vec<Problem> = self.fragment_problems.keys().cloned().collect();
        problems.extend(self.fold_problems.iter().cloned());
        problems.extend(self.tls_problems.iter().cloned());
        problems.extend(default_problems);
        problems.sort();
        problems.dedup();
        self.seen = Some((snapshot.store_id(), snapshot.generation));
        self.config = Some(config.clone());
        Ok(Translation {
            config: config.clone(),
            problems,
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
                Kind::Ingress => {
                    step.dirty.insert(key.clone());
                }
                Kind::Service => self.forget_service(key, step),
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
                    }
                }
                Kind::Secret => {
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
        self.fragment_problems.clear();
        self.service_backend = None;
        step.dirty = snapshot.ingresses.keys().cloned().collect();
        step.routes = true;
        step.tls = true;
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
            .map(|ing| Entry {
                ingress: ing.clone(),
                created: ing.metadata.creation_timestamp.clone(),
                fragment: ingress::fragment(key, ing, snapshot, &mut self.resolutions),
                secrets: tls_secrets(key, ing),
            });
        step.routes |= match (&old, &new) {
            (None, None) => false,
            (Some(o), Some(n)) => o.created != n.created || !o.fragment.same_shape(&n.fragment),
            _ => true,
        };
        let (old_tls, new_tls) = (tls_spec(old.as_ref()), tls_spec(new.as_ref()));
        let moved = old.as_ref().map(|e| &e.created) != new.as_ref().map(|e| &e.created);
        step.tls |= old_tls != new_tls || (moved && (old_tls.is_some() || new_tls.is_some()));
        for e in old.iter().chain(&new) {
            step.backends.extend(e.fragment.recipes.keys().cloned());
        }
        if let Some(e) = new {
            self.index(key, &e);
            self.entries.insert(key.clone(), e);
        }
    }

    fn is_ours(&self, snapshot: &Snapshot, key: &ObjectKey, ing: &Ingress) -> bool {
        self.settings
            .watch_namespace
            .as_ref()
            .is_none_or(|ns| *ns == key.namespace)
            && class::is_ours(ing, &snapshot.ingress_classes, &self.settings.ingress_class)
    }

    fn index(&mut self, key: &ObjectKey, e: &Entry) {
        self.order.insert((e.created.clone(), key.clone()));
        for s in &e.fragment.services {
            self.service_readers
                .entry(s.clone())
                .or_default()
                .insert(key.clone());
        }
        for s in &e.secrets {
            self.secret_readers
                .entry(s.clone())
                .or_default()
                .insert(key.clone());
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
    }

    /// Runs the TLS fold again: certificates, crt-list, HTTPS bind, hosts with TLS.
    fn fold_tls(
        &mut self,
        snapshot: &Snapshot,
        config: &mut Arc<Config>,
        step: &mut Step,
        changed: &mut Changed,
    ) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut cache = std::mem::take(&mut self.certs_parsed);
        let mut read = |s: &ObjectKey| cache.read(snapshot, s);
        let ingresses = self.ordered().map(|(k, e)| (k, e.ingress.as_ref()));
        let built = tls::collect(
            ingresses,
            &self.settings,
            &self.certs,
            &mut read,
            &mut problems,
        );
        let (bind, files) = tls_files(
            built.wanted,
            built.files,
            &self.settings,
            &mut read,
            &mut problems,
        )?;
        cache.retain(|s| {
            self.secret_readers.contains_key(s)
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

    /// Runs the route fold again: routes, backend owners, the Ingresses' default backend.
    fn fold_routes(&mut self, config: &mut Arc<Config>, changed: &mut Changed) {
        let folded = fold::fold(self.ordered().map(|(_, e)| &e.fragment), &self.tls_hosts);
        self.owners = folded.owners;
        self.built_default = folded.default_backend;
        self.fold_problems = folded.problems;
        if config.routes != folded.routes {
            Arc::make_mut(config).routes = folded.routes;
            changed.routes = true;
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
            let desired = match self.owners.get(name) {
                Some(owner) => self
                    .entries
                    .get(owner)
                    .and_then(|e| e.fragment.backend(name, snapshot, &mut self.resolutions)),
                None => service_backend.take_if(|b| b.name == *name),
            };
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
fn unlink(
    readers: &mut BTreeMap<ObjectKey, BTreeSet<ObjectKey>>,
    of: &ObjectKey,
    key: &ObjectKey,
) -> bool {
    let Some(set) = readers.get_mut(of) else {
        return false;
    };
    set.remove(key);
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

/// The Secrets an Ingress's `spec.tls` names (valid names or not: over-reading is safe).
fn tls_secrets(key: &ObjectKey, ing: &Ingress) -> BTreeSet<ObjectKey> {
    let tls = ing.spec.as_ref().and_then(|s| s.tls.as_ref());
    tls.into_iter()
        .flatten()
        .filter_map(|t| t.secret_name.as_deref())
        .filter(|n| !n.is_empty())
        .map(|n| ObjectKey::new(&key.namespace, n))
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

#[cfg(test)]
mod tests;
